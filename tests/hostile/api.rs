//! The bots' HTTP API against hostile callers (issue 28): tokens guessed, missing, too long or
//! half right; a flood of posts from threads on kept-alive connections; a body promised and
//! never sent; sessions that try to pass for a bot. Meanwhile a WebSocket bystander must get
//! every message of a speaker, in order, and the server must stay responsive.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::api::{ALERTS, ApiConn, DEPLOY, MESSAGES, TOKENS, request};
use crate::support::wire::assert_no_panic;
use crate::support::{Server, loopback};

#[test]
fn guessed_missing_and_overlong_tokens_are_all_401_and_never_logged() {
    let server = Server::start(&[("API_TOKENS", TOKENS), ("LOG_LEVEL", "debug")]);
    let mut guesses: Vec<String> = vec![
        DEPLOY[..DEPLOY.len() - 1].to_string(), // one character short
        format!("{DEPLOY}x"),                   // one too many
        DEPLOY.to_ascii_uppercase(),            // another case
        DEPLOY.replace('d', "D"),               // one letter's case
        format!("{DEPLOY},{ALERTS}"),           // both
        format!("{DEPLOY} {ALERTS}"),           // both, spaced
        "deploy".to_string(),                   // the bot's name
        "x".repeat(300),                        // past the longest token
        "y".repeat(7000),                       // as long as a head allows
        format!("{}{}", &DEPLOY[..3], &ALERTS[3..]), // halves of two
    ];
    guesses.extend((0..50).map(|i| format!("{:0>40}", i)));
    let started = Instant::now();
    for guess in &guesses {
        let mut api = ApiConn::open(&server);
        let answer = api.post(Some(guess), r#"{"text":"let me in"}"#);
        assert_eq!(answer.status, 401, "{}", &guess[..guess.len().min(60)]);
        let answer = ApiConn::open(&server).get("/api/v1/rooms/general/messages", Some(guess));
        assert_eq!(answer.status, 401);
    }
    assert!(started.elapsed() < Duration::from_secs(20), "a refusal costs a hash, not a wait");
    // A second Authorization line does not help a wrong first one; other schemes are not tokens.
    for extra in [
        vec![
            "Authorization: Bearer wrong-wrong-wrong-wrong-wrong-wrong".to_string(),
            format!("Authorization: Bearer {DEPLOY}"),
        ],
        vec![format!("Authorization: Basic {DEPLOY}")],
        vec![format!("Authorization: {DEPLOY}")],
        vec![format!("X-Api-Token: {DEPLOY}")],
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut api = ApiConn::open(&server);
        api.send(&request("POST", MESSAGES, None, &extra, br#"{"text":"x"}"#));
        assert_eq!(api.answer().status, 401, "{extra:?}");
    }
    // Nothing was posted, and no token reached the log, even at debug.
    let page = ApiConn::open(&server).get("/api/v1/rooms/general/messages", Some(DEPLOY));
    assert_eq!(page.json()["messages"], json!([]));
    let log = server.log();
    assert!(!log.contains("token-0123") && !log.contains("0000000000000000001"), "{log}");
    assert_no_panic(&server);
}

#[test]
fn a_flood_of_posts_is_held_to_the_rate_while_a_bystander_chats_on() {
    let server = Arc::new(Server::start(&[("API_TOKENS", TOKENS), ("RATE_LIMIT_PER_SEC", RATE)]));
    let mut witness = server.joined("name=witness");
    let mut speaker = server.joined("name=speaker");
    let floods: Vec<_> = (0..FLOODERS)
        .map(|i| {
            let server = server.clone();
            thread::spawn(move || {
                let token = if i % 2 == 0 { DEPLOY } else { ALERTS };
                let mut api = ApiConn::open(&server);
                let (mut created, mut limited) = (0, 0);
                let end = Instant::now() + FLOOD_FOR;
                while Instant::now() < end {
                    let answer =
                        api.post(Some(token), &json!({"text": format!("flood {i}")}).to_string());
                    match answer.status {
                        201 => created += 1,
                        429 => {
                            assert_eq!(answer.header("Retry-After"), Some("1"));
                            limited += 1;
                        }
                        other => panic!("flooder {i}: {other} {}", answer.body),
                    }
                    // KEEP_ALIVE_REQUESTS served: the server closes, the flooder comes back.
                    if answer.header("Connection") == Some("close") {
                        api = ApiConn::open(&server);
                    }
                }
                (created, limited)
            })
        })
        .collect();
    // Within the rate limit: the speaker's messages, during the flood.
    for i in 0..SPOKEN {
        speaker.say(&format!("speaker {i}"));
        thread::sleep(SPEAKER_PAUSE);
    }
    let started = Instant::now();
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200"), "responsive during the flood");
    assert!(started.elapsed() < Duration::from_secs(2), "/healthz took {:?}", started.elapsed());
    let (mut created, mut limited) = (0, 0);
    for flood in floods {
        let (c, l) = flood.join().unwrap();
        (created, limited) = (created + c, limited + l);
    }
    // Two bots: each a burst of twice the rate, then the rate, over the flood's time.
    let rate: u32 = RATE.parse().unwrap();
    let most = 2 * (2 * rate + rate * (FLOOD_FOR.as_secs() as u32 + 1));
    assert!(created <= most, "{created} posts passed, at most {most}");
    assert!(
        limited > created,
        "most of the flood was refused: {limited} refused, {created} passed"
    );
    let expected: Vec<String> = (0..SPOKEN).map(|i| format!("speaker {i}")).collect();
    assert_eq!(witness.texts_from("speaker", SPOKEN), expected, "every message, in order");
    assert_no_panic(&server);
}

#[test]
fn a_body_promised_and_never_sent_is_dropped_at_the_handshake_timeout() {
    let server = Server::start(&[("API_TOKENS", TOKENS), ("HANDSHAKE_TIMEOUT_SECS", "1")]);
    let mut liars: Vec<ApiConn> = (0..8)
        .map(|_| {
            let mut api = ApiConn::open(&server);
            let head = format!(
                "POST {MESSAGES} HTTP/1.1\r\nAuthorization: Bearer {DEPLOY}\r\nContent-Length: 200\r\n\r\n{{\"text\":"
            );
            api.send(head.as_bytes());
            api
        })
        .collect();
    let started = Instant::now();
    for liar in &mut liars {
        assert!(liar.is_closed(), "closed without an answer");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    let answer = ApiConn::open(&server).post(Some(DEPLOY), r#"{"text":"honest"}"#);
    assert_eq!(answer.status, 201);
}

#[test]
fn no_session_passes_for_a_bot() {
    let server = Server::start(&[("API_TOKENS", TOKENS), ("RATE_LIMIT_PER_SEC", "1000")]);
    let mut bob = server.joined("name=bob");
    for spelling in
        ["deploy", "DEPLOY", "d\u{435}ploy", "deploy\u{200B}", "\u{202E}yolped", "alerts"]
    {
        let query = format!("name={}", urlencode(spelling));
        let mut impostor = server.joined(&query);
        let name = impostor.hello["name"].as_str().unwrap().to_string();
        let lower = name.to_ascii_lowercase();
        let base =
            lower.rsplit_once('-').map_or("", |(base, n)| n.parse::<u32>().map_or("", |_| base));
        assert!(base == "deploy" || base == "alerts", "{spelling:?} joined as {name:?}");
        impostor.request(json!({"type": "rename", "name": spelling}));
        assert_eq!(impostor.next_of("error")["code"], "name_taken", "{spelling:?}");
        impostor.request(json!({"type": "message", "to": "bob", "text": "I am the bot"}));
        let got = bob.next_of("message");
        assert_eq!(got["name"], name.as_str());
        assert!(got.get("bot").is_none(), "a session's message is never a bot's: {got}");
        // A session presenting a bot's name through another address gets no further.
        drop(impostor);
    }
    let other = server.joined_from(loopback(7), "name=Deploy");
    let name = other.hello["name"].as_str().unwrap().to_ascii_lowercase();
    assert!(name.starts_with("deploy-"), "{name}");
    // Private messages to a bot's name go to the bot's conversation, not to anybody else.
    bob.request(json!({"type": "message", "to": "deploy", "text": "hello bot"}));
    let echo = bob.next_of("message");
    assert_eq!((echo["to"].clone(), echo["name"].clone()), (json!("deploy"), json!("bob")));
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `RATE_LIMIT_PER_SEC` during the flood.
const RATE: &str = "20";
/// Threads posting as fast as they can, half as each bot.
const FLOODERS: usize = 4;
/// How long they post.
const FLOOD_FOR: Duration = Duration::from_secs(2);
/// The speaker's messages, and the pause between two (well within the rate).
const SPOKEN: usize = 20;
const SPEAKER_PAUSE: Duration = Duration::from_millis(60);
