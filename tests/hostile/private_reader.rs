//! A reader of other people's private messages: mallory tries every way the protocol offers to
//! read what alice and bob write to each other, and must never see a word of it.
//!
//! - asking for their conversation by either name, fresh or resuming with guessed `since` and
//!   `epoch` (a conversation belongs to two sessions, so she only ever gets her own);
//! - presenting guessed sessions, a user id as a session, and sessions in every wrong shape
//!   (each is expired: a new person);
//! - naming the conversation as a room;
//! - taking bob's nickname, first while it is reserved (refused), then once it is released:
//!   she is the new bob, and finds none of the old bob's conversations, and no unread count.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, READ_TIMEOUT, Server};

/// Everything the server sends `client` until it has been quiet for a moment.
fn drain(client: &mut Client) -> Vec<String> {
    client.ws.get_ref().tcp().set_read_timeout(Some(QUIET)).unwrap();
    let mut frames = Vec::new();
    while let Ok(message) = client.ws.read() {
        if let tungstenite::Message::Text(text) = message {
            frames.push(text.to_string());
        }
    }
    client.ws.get_ref().tcp().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    frames
}

#[test]
fn nobody_reads_a_private_conversation_but_its_two_sessions() {
    let server = Server::start(&[("NAME_RESERVE_SECS", "1"), ("RATE_LIMIT_PER_SEC", "1000")]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let mut mallory = server.joined("name=mallory");
    let mallory_user = mallory.hello["user"].clone();
    for i in 0..5 {
        alice.request(json!({"type": "message", "to": "bob", "text": format!("secret {i}")}));
        bob.request(json!({"type": "message", "to": "alice", "text": format!("secret reply {i}")}));
    }
    for _ in 0..10 {
        assert_eq!(bob.next_of("message")["dm"], true);
    }
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let history = bob.next_of("history");
    assert_eq!(history["messages"].as_array().unwrap().len(), 10, "the two of them see it");
    let epoch = history["epoch"].as_str().unwrap().to_string();

    // Ask for it by both names, resuming from anywhere in it, with its real epoch.
    let mut asked = 0;
    for with in ["alice", "bob", "Bob", " bob "] {
        for since in [None, Some(0), Some(1), Some(5), Some(u64::MAX)] {
            let mut request = json!({"type": "subscribe", "dm": with});
            if let Some(since) = since {
                request["since"] = json!(since);
                request["epoch"] = json!(epoch);
            }
            mallory.request(request);
            asked += 1;
        }
    }
    // Name it as a room, and as a message's room.
    mallory.request(json!({"type": "subscribe", "room": format!("@{}", history["user"])}));
    mallory.request(json!({"type": "subscribe", "room": "alice", "dm": "bob"}));
    let mut frames = drain(&mut mallory);
    let histories: Vec<Value> = frames
        .iter()
        .map(|f| serde_json::from_str::<Value>(f).unwrap())
        .filter(|e| e["type"] == "history" && e.get("dm").is_some())
        .collect();
    assert_eq!(histories.len(), asked, "each asked got an answer: her own conversation");
    assert!(histories.iter().all(|h| h["messages"] == json!([])), "{histories:?}");

    // Guessed sessions, a user id for a session, broken ones: each is a stranger.
    let bob_user = bob.hello["user"].as_str().unwrap().to_string();
    let guesses = [
        "AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        format!("{bob_user}AAAAAA"),
        bob_user.clone(),
        "%20".to_string(),
        "x".repeat(4000),
    ];
    for guess in guesses {
        let mut stranger = server.connect(&format!("/ws?session={guess}&name=bob"));
        let hello = stranger.next();
        assert_ne!(hello["user"], bob_user);
        assert!(hello["name"].as_str().unwrap().starts_with("bob-"), "{hello}");
        assert_eq!(stranger.next()["code"], "session_expired");
        stranger.request(json!({"type": "subscribe", "dm": "alice"}));
        let mut seen = drain(&mut stranger);
        seen.retain(|f| f.contains("secret"));
        assert!(seen.is_empty(), "a guessed session read: {seen:?}");
    }

    // Take bob's name: refused while bob holds it, even after he left (reserved)...
    mallory.request(json!({"type": "rename", "name": "bob"}));
    frames.extend(drain(&mut mallory));
    assert!(frames.iter().any(|f| f.contains(r#""code":"name_taken""#)), "{frames:?}");
    drop(bob);
    mallory.request(json!({"type": "rename", "name": "BOB"}));
    frames.extend(drain(&mut mallory));
    // ...and, once the reservation is over, granted: she is the new bob, and still reads nothing.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        mallory.request(json!({"type": "rename", "name": "bob"}));
        let answer = drain(&mut mallory);
        frames.extend(answer.iter().cloned());
        if answer.iter().any(|f| f.contains(r#""type":"renamed""#)) {
            break;
        }
        assert!(Instant::now() < deadline, "bob was never released: {answer:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    mallory.request(json!({"type": "subscribe", "dm": "alice"}));
    mallory.request(json!({"type": "subscribe", "dm": "alice", "since": 0, "epoch": epoch}));
    frames.extend(drain(&mut mallory));
    // The old bob's session is forgotten: presenting it (had she stolen it later) gets nothing.
    let leaked: Vec<&String> = frames.iter().filter(|f| f.contains("secret")).collect();
    assert!(leaked.is_empty(), "mallory read: {leaked:?}");
    // What alice writes to "bob" now goes to the new bob, as a new conversation.
    alice.request(json!({"type": "message", "to": "bob", "text": "hello new bob"}));
    let dm = mallory.next_of("message");
    assert_eq!(
        (&dm["text"], &dm["to_user"], &dm["id"]),
        (&json!("hello new bob"), &mallory_user, &json!(1))
    );
}

/// How long a client must be sent nothing for its queue to count as drained.
const QUIET: Duration = Duration::from_millis(400);
