//! Moderation against clients that lie (issue 28): sessions that pass for the operator, operator
//! requests from everyone else (forged fields, a flood), a banned spammer trying every way back
//! in (a new session, a new address, the session in its first frame, a forged
//! `X-Forwarded-For`, a storm of reconnects), and an address ban next to the operator. The
//! operator's words go into a close frame and a notice, whatever they are.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, loopback, next_event};

/// A server where the session made from `at` as `carol` is an operator. Returns the server
/// and carol's session.
fn with_an_operator(at: IpAddr) -> (Server, String) {
    let mut server = Server::start(&[("RATE_LIMIT_PER_SEC", "5")]);
    let carol = server.joined_from(at, "name=carol");
    let id = carol.hello["user"].as_str().unwrap().to_string();
    let session = carol.session().to_string();
    drop(carol);
    server.restart_with(&[("OPERATORS", &id)]);
    (server, session)
}

/// The status of an upgrade from `source` to `/ws?query` with extra `headers`.
fn upgrade_status(server: &Server, source: IpAddr, query: &str, headers: &[(&str, &str)]) -> u16 {
    let mut tcp = server.tcp_from(source);
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let request = format!(
        "GET /ws?{query} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    tcp.write_all(request.as_bytes()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).unwrap();
    String::from_utf8_lossy(&head[9..12]).parse().unwrap()
}

#[test]
fn nobody_passes_for_the_operator_and_a_flood_of_operator_requests_harms_nobody() {
    let (server, session) = with_an_operator(loopback(30));
    let mut carol = server.joined_from(loopback(30), &format!("session={session}"));
    let mut bob = server.joined_from(loopback(31), "name=bob");
    // The operator's name in other spellings, and a session that takes it while she is
    // online: neither is an operator.
    let mut impostor = server.joined_from(loopback(32), "name=Carol");
    assert_ne!(impostor.hello["name"], "carol");
    assert!(impostor.hello.get("op").is_none());
    for request in [
        json!({"type": "ban", "name": "bob", "secs": 60}),
        json!({"type": "mute", "room": "general", "name": "bob"}),
        json!({"type": "kick", "name": "bob"}),
        json!({"type": "unban", "user": bob.hello["user"]}),
        json!({"type": "bans"}),
    ] {
        impostor.request(request.clone());
        assert_eq!(next_event(&mut impostor)["code"], "not_allowed", "{request}");
    }
    // Fields an operator's request does not take are refused, not trusted.
    for forged in [
        json!({"type": "ban", "name": "bob", "by": "carol"}),
        json!({"type": "ban", "name": "bob", "op": true}),
        json!({"type": "mute", "room": "general", "name": "bob", "user": carol.hello["user"]}),
    ] {
        impostor.request(forged.clone());
        assert_eq!(next_event(&mut impostor)["code"], "bad_request", "{forged}");
    }
    // A flood of bans: rate limited, then closed for flooding; bob is never touched.
    let started = Instant::now();
    let mut answers = Vec::new();
    for _ in 0..400 {
        impostor.request(json!({"type": "ban", "name": "bob"}));
    }
    while answers.len() < 400 && started.elapsed() < Duration::from_secs(10) {
        match impostor.ws.read() {
            Ok(tungstenite::Message::Text(text)) => answers.push(text.to_string()),
            Ok(tungstenite::Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(answers.iter().all(|a| a.contains("not_allowed") || a.contains("rate_limited")));
    assert!(answers.iter().any(|a| a.contains("rate_limited")), "{}", answers.len());
    bob.say("unharmed");
    assert_eq!(bob.next_of("message")["text"], "unharmed");
    assert_eq!(carol.next_of("message")["text"], "unharmed");
}

#[test]
fn a_banned_spammer_finds_no_way_back_in() {
    let (server, session) = with_an_operator(loopback(40));
    let mut carol = server.joined_from(loopback(40), &format!("session={session}"));
    let (spammer_at, elsewhere) = (loopback(41), loopback(42));
    let spammer = server.joined_from(spammer_at, "name=spammer");
    let spammer_session = spammer.session().to_string();
    let mut dave = server.joined_from(loopback(43), "name=dave");
    carol.request(json!({"type": "ban", "name": "spammer", "reason": "ads"}));
    carol.next_of("moderation");

    let old_session = format!("session={spammer_session}");
    // A new session from the same address; the old one from elsewhere; a forged
    // X-Forwarded-For (no proxy is trusted, so it names nobody).
    assert_eq!(upgrade_status(&server, spammer_at, "name=innocent", &[]), 403);
    assert_eq!(upgrade_status(&server, elsewhere, &old_session, &[]), 403);
    let forged = [("X-Forwarded-For", "127.0.0.99")];
    assert_eq!(upgrade_status(&server, spammer_at, "name=x", &forged), 403);
    // The session in the first frame, from elsewhere: told, then closed with 4003.
    let mut by_frame = server.connect_from(elsewhere, "/ws?session_in=frame");
    by_frame.request(json!({"type": "session", "session": spammer_session}));
    assert_eq!(by_frame.next()["code"], "banned");
    assert_eq!(by_frame.close_code(), 4003);

    // A storm of reconnects: each refused at once; it spends no session of the address's
    // allowance, and dave chats on.
    let started = Instant::now();
    for n in 0..200 {
        assert_eq!(upgrade_status(&server, spammer_at, &format!("name=s{n}"), &[]), 403);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    dave.say("quiet now");
    assert_eq!(dave.next_of("message")["text"], "quiet now");
    assert!(server.get("/healthz").contains("200"));
    // Once lifted, the address gets a new session at once: the storm spent none.
    carol.request(json!({"type": "unban", "name": "spammer"}));
    carol.next_of("moderation");
    assert_eq!(server.joined_from(spammer_at, "name=reformed").hello["name"], "reformed");
}

#[test]
fn an_address_ban_never_locks_out_the_operator_behind_the_same_address() {
    let shared = loopback(50);
    let (server, session) = with_an_operator(shared);
    let mut carol = server.joined_from(shared, &format!("session={session}"));
    let mut spammer = server.joined_from(shared, "name=spammer");
    let mut flatmate = server.joined_from(shared, "name=flatmate");
    carol.request(json!({"type": "ban", "name": "spammer", "secs": 60}));
    assert_eq!(spammer.close_code(), 4003);
    // Everyone else behind that address is banned with it (documented), but the operator.
    assert_eq!(flatmate.close_code(), 4003);
    carol.say("I am still here");
    assert_eq!(carol.next_of("message")["text"], "I am still here");
    let again = server.joined_from(shared, &format!("session={session}"));
    assert_eq!(again.hello["op"], true);
    assert_eq!(upgrade_status(&server, shared, "name=newcomer", &[]), 403);
    // As the page connects: the session in its first frame, so the upgrade cannot tell; it is
    // judged at that frame. The operator's page gets in; the flatmate's is told, then closed.
    let mut page = server.connect_from(shared, "/ws?session_in=frame");
    page.request(json!({"type": "session", "session": session}));
    page.welcome();
    assert_eq!(page.hello["op"], true);
    let mut flatmate_page = server.connect_from(shared, "/ws?session_in=frame");
    flatmate_page.request(json!({"type": "session", "session": flatmate.session()}));
    let told = flatmate_page.next();
    assert_eq!(told["code"], "banned", "{told}");
    assert_eq!(flatmate_page.close_code(), 4003);
}

#[test]
fn whatever_the_operator_writes_fits_a_close_frame_and_stays_text() {
    let (server, session) = with_an_operator(loopback(60));
    let mut carol = server.joined_from(loopback(60), &format!("session={session}"));
    let mut bob = server.joined_from(loopback(61), "name=bob");
    let mut dave = server.joined_from(loopback(62), "name=dave");
    // 100 characters of 4 bytes: far more than a close frame's 123 bytes.
    let reason = "<img src=x onerror=alert(1)>".to_string() + &"🦀".repeat(72);
    assert_eq!(reason.chars().count(), 100);
    carol.request(json!({"type": "kick", "name": "bob", "reason": reason}));
    let (code, said) = bob.close_frame();
    assert_eq!(code, 4001);
    assert!(said.len() <= 123 && said.starts_with("kicked: <img"), "{said}");
    let kick: Value = dave.next_of("moderation");
    assert_eq!(kick["reason"], reason.as_str(), "the notice carries it whole, as text");
}
