//! Moderation (issue 28): an operator bans a session and its address (`403` with a JSON body at
//! the upgrade, 4003 for what is open), mutes a session in one room (`muted`), lifts both, and
//! lists them; each is a `moderation` entry of the rooms concerned, in their history too; the
//! bans and mutes survive a SIGKILL. Every client comes from an address of its own
//! (127.0.0.x), as distinct people do.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::support::{Client, Server, loopback, next_event, sayings};

/// Carol's address (the operator), bob's (the spammer), dave's (a bystander).
fn carol_at() -> IpAddr {
    loopback(20)
}
fn bob_at() -> IpAddr {
    loopback(21)
}
fn dave_at() -> IpAddr {
    loopback(22)
}

/// A server where carol is an operator, as a deployer makes one: her session first, then its
/// id in `OPERATORS` and a restart. Returns the server and carol's session.
fn with_an_operator(env: &[(&str, &str)]) -> (Server, String) {
    let mut server = Server::start(env);
    let carol = server.joined_from(carol_at(), "name=carol");
    let (id, session) =
        (carol.hello["user"].as_str().unwrap().to_string(), carol.session().to_string());
    drop(carol);
    server.restart_with(&[("OPERATORS", &id)]);
    (server, session)
}

/// The next `moderation` event of `client`, skipping anything else.
fn notice(client: &mut Client) -> Value {
    client.next_of("moderation")
}

/// The status and JSON body of a plain `GET path` from `source` (no upgrade).
fn get_from(server: &Server, source: IpAddr, path: &str) -> (u16, Value) {
    let mut tcp = server.tcp_from(source);
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The status and JSON body of a refused upgrade from `source` to `/ws?query`.
fn refused_upgrade(server: &Server, source: IpAddr, query: &str) -> (u16, Value) {
    match server.try_connect_from(source, &format!("/ws?{query}")) {
        Err(tungstenite::Error::Http(response)) => {
            let body = response.body().clone().unwrap_or_default();
            let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
            assert_eq!(response.headers()["content-type"], "application/json");
            (response.status().as_u16(), json)
        }
        Err(e) => panic!("{query}: {e}"),
        Ok(_) => panic!("{query}: upgraded, while banned"),
    }
}

/// Milliseconds from now to an RFC 3339 time.
fn millis_until(time: &Value) -> i64 {
    let at = humantime::parse_rfc3339(time.as_str().unwrap()).unwrap();
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(ahead) => ahead.as_millis() as i64,
        Err(behind) => -(behind.duration().as_millis() as i64),
    }
}

#[test]
fn an_operator_bans_a_session_and_its_address_until_it_is_lifted() {
    let (server, carol_session) = with_an_operator(&[]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let mut bob = server.joined_from(bob_at(), "name=bob");
    let bob_session = bob.session().to_string();
    let mut bob_tab = server.joined_from(bob_at(), &format!("session={bob_session}"));
    let mut dave = server.joined_from(dave_at(), "name=dave");

    // Nobody but an operator; nobody bans an operator; nobody bans nobody.
    for request in [
        json!({"type": "ban", "name": "bob"}),
        json!({"type": "unban", "name": "bob"}),
        json!({"type": "bans"}),
        json!({"type": "mute", "room": "general", "name": "bob"}),
        json!({"type": "unmute", "room": "general", "name": "bob"}),
    ] {
        dave.request(request.clone());
        assert_eq!(next_event(&mut dave)["code"], "not_allowed", "{request}");
    }
    carol.request(json!({"type": "ban", "name": "carol"}));
    assert_eq!(next_event(&mut carol)["code"], "not_allowed");
    carol.request(json!({"type": "ban", "name": "nobody"}));
    let unknown = next_event(&mut carol);
    assert_eq!((&unknown["code"], &unknown["name"]), (&json!("no_such_user"), &json!("nobody")));

    carol.request(json!({"type": "ban", "name": "bob", "secs": 3600, "reason": "spam"}));
    for client in [&mut bob, &mut bob_tab] {
        assert_eq!(client.close_frame(), (4003, "banned: spam".to_string()));
    }
    for client in [&mut carol, &mut dave] {
        let ban = notice(client);
        assert_eq!(
            (&ban["action"], &ban["name"], &ban["by"], &ban["reason"], &ban["room"]),
            (&json!("ban"), &json!("bob"), &json!("carol"), &json!("spam"), &json!("general")),
            "{ban}"
        );
        assert!(ban["id"].is_u64() && ban["user"] == json!(bob_tab.hello["user"]), "{ban}");
        let ahead = millis_until(&ban["until"]);
        assert!((3_590_000..=3_600_000).contains(&ahead), "{ban}");
    }

    // The old session from a new address; a new session from the old address; a plain GET
    // of /ws (how a page learns why): 403, with why and until when.
    let fresh_at = loopback(23);
    for (source, query) in
        [(fresh_at, format!("session={bob_session}")), (bob_at(), "name=bobby".to_string())]
    {
        let (status, body) = refused_upgrade(&server, source, &query);
        assert_eq!(
            (status, &body["error"], &body["reason"]),
            (403, &json!("banned"), &json!("spam"))
        );
        assert!(millis_until(&body["until"]) > 3_500_000, "{body}");
    }
    for path in ["/ws", "/banned"] {
        let (status, body) = get_from(&server, bob_at(), path);
        assert_eq!((status, &body["error"]), (403, &json!("banned")), "{path}: {body}");
    }
    let (status, body) = get_from(&server, dave_at(), "/banned");
    assert_eq!((status, body), (200, json!({"banned": false})), "dave is not banned");
    // Presented in the first frame instead: told why, then closed with 4003.
    let mut by_frame = server.connect_from(fresh_at, "/ws?session_in=frame");
    by_frame.request(json!({"type": "session", "session": bob_session}));
    let told = by_frame.next();
    assert_eq!((&told["code"], &told["reason"]), (&json!("banned"), &json!("spam")), "{told}");
    assert!(millis_until(&told["until"]) > 3_500_000, "{told}");
    assert_eq!(by_frame.close_code(), 4003);
    // Everyone else is unaffected, the operator's page included.
    let (status, _) = get_from(&server, dave_at(), "/ws");
    assert_ne!(status, 403);
    dave.say("still here");
    assert_eq!(dave.next_of("message")["text"], "still here");
    assert!(server.metric("websocketchat_handshakes_refused_total{reason=\"banned\"}") >= 3);

    carol.request(json!({"type": "bans"}));
    let listed = carol.next_of("bans");
    let bans = listed["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{listed}");
    assert_eq!(
        (&bans[0]["name"], &bans[0]["reason"], &bans[0]["by"]),
        (&json!("bob"), &json!("spam"), &json!("carol"))
    );
    assert!(!listed.to_string().contains("127.0.0"), "addresses are never listed: {listed}");

    // Lifted, by the session's id: bob is back, from either address, as himself.
    let bob_id = bans[0]["user"].clone();
    carol.request(json!({"type": "unban", "user": bob_id}));
    let lifted = notice(&mut carol);
    assert_eq!((&lifted["action"], &lifted["name"]), (&json!("unban"), &json!("bob")), "{lifted}");
    let again = server.joined_from(bob_at(), &format!("session={bob_session}"));
    assert_eq!(again.hello["name"], "bob");
    server.joined_from(bob_at(), "name=bobby");
    carol.request(json!({"type": "unban", "name": "bob"}));
    assert_eq!(next_event(&mut carol)["code"], "not_banned");
}

#[test]
fn a_ban_for_some_seconds_ends_by_itself() {
    let (server, carol_session) = with_an_operator(&[]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let bob = server.joined_from(bob_at(), "name=bob");
    let bob_session = bob.session().to_string();
    carol.request(json!({"type": "ban", "name": "bob", "secs": 1}));
    notice(&mut carol);
    let (status, body) = refused_upgrade(&server, bob_at(), &format!("session={bob_session}"));
    assert_eq!(status, 403, "{body}");
    std::thread::sleep(Duration::from_millis(1_300));
    let back = server.joined_from(bob_at(), &format!("session={bob_session}"));
    assert_eq!(back.hello["name"], "bob");
}

#[test]
fn a_muted_session_says_nothing_in_that_room_until_unmuted() {
    let (server, carol_session) = with_an_operator(&[]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let mut bob = server.joined_from(bob_at(), "name=bob");
    bob.say("before");
    let before = bob.next_of("message");
    carol.next_of("message");
    bob.subscribe("rust");

    carol.request(
        json!({"type": "mute", "room": "general", "name": "bob", "secs": 0, "reason": "cool off"}),
    );
    for client in [&mut carol, &mut bob] {
        let muted = notice(client);
        assert_eq!(
            (&muted["action"], &muted["name"], &muted["reason"], muted.get("until")),
            (&json!("mute"), &json!("bob"), &json!("cool off"), None),
            "{muted}"
        );
    }
    // A message, a reply, an edit, a reaction: `muted`, naming the room; nobody gets them.
    for request in sayings("general", &before["id"]) {
        bob.request(request.clone());
        let refused = next_event(&mut bob);
        assert_eq!(
            (&refused["code"], &refused["room"]),
            (&json!("muted"), &json!("general")),
            "{request}: {refused}"
        );
        assert!(refused["message"].as_str().unwrap().contains("cool off"), "{refused}");
    }
    // Elsewhere bob speaks; his own message he may still delete.
    bob.say_in("rust", "on topic");
    assert_eq!(bob.next_of("message")["text"], "on topic");
    bob.request(json!({"type": "delete", "room": "general", "id": before["id"]}));
    assert_eq!(bob.next_of("delete")["target"], before["id"]);
    carol.request(json!({"type": "bans"}));
    let listed = carol.next_of("bans");
    assert_eq!(listed["mutes"][0]["room"], "general", "{listed}");

    carol.request(json!({"type": "unmute", "room": "general", "name": "bob"}));
    assert_eq!(notice(&mut bob)["action"], "unmute");
    bob.say("back");
    let back = bob.next_of("message");
    assert_eq!(back["text"], "back");
    carol.request(json!({"type": "unmute", "room": "general", "name": "bob"}));
    let twice = carol.next_of("error");
    assert_eq!((&twice["code"], &twice["name"]), (&json!("not_muted"), &json!("bob")), "{twice}");
}

#[test]
fn moderation_is_in_the_history_and_users_lists_name_the_operators() {
    let (server, carol_session) = with_an_operator(&[]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let mut bob = server.joined_from(bob_at(), "name=bob");
    bob.say("spam");
    let spam = bob.next_of("message");
    carol.request(json!({"type": "delete", "room": "general", "id": spam["id"]}));
    let removed = notice(&mut bob);
    assert_eq!(
        (&removed["action"], &removed["name"], &removed["target"], &removed["by"]),
        (&json!("delete"), &json!("bob"), &spam["id"], &json!("carol")),
        "{removed}"
    );
    assert_eq!(notice(&mut carol)["action"], "delete");
    carol.request(json!({"type": "kick", "name": "bob", "reason": "enough"}));
    assert_eq!(bob.close_frame(), (4001, "kicked: enough".to_string()));
    let kick = notice(&mut carol);
    assert_eq!((&kick["action"], &kick["reason"]), (&json!("kick"), &json!("enough")));

    // A newcomer's page: the notices in their places, and the operator marked in the list.
    let mut dave = server.connect_from(dave_at(), "/ws?name=dave");
    let history = dave.welcome();
    let actions: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["type"] == "moderation")
        .map(|m| &m["action"])
        .collect();
    assert_eq!(actions, [&json!("delete"), &json!("kick")], "{history}");
    let users = dave.next_of("users");
    assert_eq!(users["ops"], json!(["carol"]), "{users}");
    // The operator's typing, leave and join are marked too; nobody else's.
    carol.request(json!({"type": "typing", "room": "general"}));
    let typing = dave.next_of("typing");
    assert_eq!((&typing["name"], &typing["op"]), (&json!("carol"), &json!(true)), "{typing}");
    drop(carol);
    let leave = dave.next_of("leave");
    assert_eq!((&leave["name"], &leave["op"]), (&json!("carol"), &json!(true)), "{leave}");
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let join = dave.next_of("join");
    assert_eq!((&join["name"], &join["op"]), (&json!("carol"), &json!(true)), "{join}");
    dave.request(json!({"type": "typing", "room": "general"}));
    let typing = carol.next_of("typing");
    assert!(typing.get("op").is_none(), "{typing}");
}

#[test]
fn bans_and_mutes_survive_a_sigkill() {
    let (mut server, carol_session) = with_an_operator(&[]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let bob = server.joined_from(bob_at(), "name=bob");
    let mut dave = server.joined_from(dave_at(), "name=dave");
    let (bob_session, dave_session) = (bob.session().to_string(), dave.session().to_string());
    carol.request(json!({"type": "ban", "name": "bob", "reason": "spam"}));
    notice(&mut carol);
    carol.request(json!({"type": "mute", "room": "general", "name": "dave", "secs": 3600}));
    assert_eq!(notice(&mut dave)["action"], "ban");
    assert_eq!(notice(&mut dave)["action"], "mute", "told once it is durable");
    drop((carol, bob, dave));

    server.kill();
    server.restart();
    let (status, body) = refused_upgrade(&server, loopback(24), &format!("session={bob_session}"));
    assert_eq!((status, &body["until"]), (403, &Value::Null), "{body}");
    let (status, _) = refused_upgrade(&server, bob_at(), "name=newcomer");
    assert_eq!(status, 403, "the address is still banned");
    let mut dave = server.joined_from(dave_at(), &format!("session={dave_session}"));
    dave.say("am I back?");
    let refused = next_event(&mut dave);
    assert_eq!(refused["code"], "muted", "{refused}");
}

#[test]
fn a_compaction_keeps_the_bans_and_mutes_in_force_and_no_others() {
    let (mut server, carol_session) = with_an_operator(&[("HISTORY_FSYNC", "off")]);
    let mut carol = server.joined_from(carol_at(), &format!("session={carol_session}"));
    let bob = server.joined_from(bob_at(), "name=bob");
    let dave = server.joined_from(dave_at(), "name=dave");
    let eve = server.joined_from(loopback(25), "name=eve");
    let sessions = [bob.session(), dave.session(), eve.session()].map(String::from);
    drop((bob, dave, eve));
    carol.request(json!({"type": "ban", "name": "bob"}));
    carol.request(json!({"type": "mute", "room": "general", "name": "dave"}));
    carol.request(json!({"type": "ban", "name": "eve"}));
    carol.request(json!({"type": "unban", "name": "eve"}));
    for action in ["ban", "mute", "ban", "unban"] {
        assert_eq!(notice(&mut carol)["action"], action);
    }
    // 1,200 messages of 4,000 bytes: past the 4 MiB a log grows before compaction.
    let text = |n: usize| format!("{n:04}{}", "x".repeat(3996));
    for n in 0..1200 {
        carol.say(&text(n));
        carol.next_of("message");
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !server.log().contains("history: compacted to") {
        assert!(std::time::Instant::now() < deadline, "no compaction: {}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    server.kill();
    server.restart();
    let (status, _) = refused_upgrade(&server, loopback(26), &format!("session={}", sessions[0]));
    assert_eq!(status, 403, "bob is still banned");
    let mut dave = server.joined_from(dave_at(), &format!("session={}", sessions[1]));
    dave.say("me again");
    assert_eq!(next_event(&mut dave)["code"], "muted", "dave is still muted");
    let eve = server.joined_from(loopback(25), &format!("session={}", sessions[2]));
    assert_eq!(eve.hello["name"], "eve", "eve's ban was lifted before the compaction");
}
