//! Changing what others said (issue 27): mallory tries every way the protocol offers to edit or
//! delete someone else's message, to reach a room she is not in or a private conversation she
//! is not part of, and a crowd floods reactions.
//!
//! - another session, the author's name taken after a rename, a name that looks like the
//!   author's, a forged `user` (or `name`, `session`) field, a change's id, ids that are huge,
//!   negative, fractional or strings: `not_yours`, `not_found` or `bad_request`, and the message
//!   stays as it was;
//! - a room she is not in: `not_subscribed`; a `to` naming a third person addresses *her*
//!   conversation with them, never theirs: `not_found`, and no error carries their words;
//! - many connections reacting and taking reactions back as fast as they can: rate limited,
//!   a bystander's messages still arrive, and the history keeps at most 4 × `HISTORY_SIZE`
//!   entries, 20 emoji a message.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::Message;

use crate::pair::Pair;
use crate::support::wire::assert_no_panic;
use crate::support::{Client, READ_TIMEOUT, Server, own};

#[test]
fn nobody_edits_or_deletes_anothers_message_in_any_way() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "1000")]);
    let mut alice = server.joined("name=alice");
    let alice_user = alice.hello["user"].clone();
    let id = said(&mut alice, "original words");
    alice.request(json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": true}));
    let change = own(&mut alice, "react")["id"].as_u64().unwrap();

    // Another session; then the author's name once she renamed; then a name that looks like it.
    let mut bob = server.joined("name=bob");
    let mut mallory = server.joined("name=mallory");
    alice.request(json!({"type": "rename", "name": "alicia"}));
    assert_eq!(alice.next_of("renamed")["name"], "alicia");
    mallory.request(json!({"type": "rename", "name": "alice"}));
    assert_eq!(mallory.next_of("renamed")["name"], "alice", "the name is free after the rename");
    let mut lookalike = server.joined("name=%D0%B0licia"); // a Cyrillic а
    assert_ne!(lookalike.hello["user"], alice_user);
    for client in [&mut bob, &mut mallory, &mut lookalike] {
        for request in [
            json!({"type": "edit", "room": "general", "id": id, "text": "forged"}),
            json!({"type": "delete", "room": "general", "id": id}),
        ] {
            let error = refused(client, request, "not_yours");
            assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(id)));
            assert!(!error.to_string().contains("original"), "{error}");
        }
        // Taking back the author's reaction only touches one's own (none): nothing.
        client.request(
            json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": false}),
        );
    }

    // A forged sender: the requests take no such field.
    let forged = [
        ("user", alice_user.clone()),
        ("name", json!("alicia")),
        ("session", json!(alice.session())),
        ("target", json!(id)),
    ];
    for (field, value) in forged {
        for mut request in [
            json!({"type": "edit", "room": "general", "id": id, "text": "forged"}),
            json!({"type": "delete", "room": "general", "id": id}),
            json!({"type": "react", "room": "general", "id": id, "emoji": "👎", "on": true}),
        ] {
            request[field] = value.clone();
            refused(&mut mallory, request, "bad_request");
        }
    }
    // Ids: a change's, huge ones, and ids that are no whole number.
    for target in [change, u64::MAX, u64::MAX - 1, 0] {
        let request = json!({"type": "delete", "room": "general", "id": target});
        let error = refused(&mut mallory, request, "not_found");
        assert_eq!(error["id"], target);
    }
    let odd_ids = [
        r#"18446744073709551616"#,
        r#"-1"#,
        r#"-0.0"#,
        r#"1.0"#,
        r#"1e3"#,
        r#"1e400"#,
        r#""1""#,
        r#"null"#,
        r#"true"#,
        r#"[1]"#,
        r#"{"id":1}"#,
    ];
    for odd in odd_ids {
        for kind in ["edit", "delete"] {
            let frame =
                format!(r#"{{"type":"{kind}","room":"general","id":{odd},"text":"forged"}}"#);
            let frame =
                if kind == "delete" { frame.replace(r#","text":"forged""#, "") } else { frame };
            mallory.send(Message::text(frame.clone()));
            let error = next_event(&mut mallory);
            assert_eq!(
                (&error["type"], &error["code"]),
                (&json!("error"), &json!("bad_request")),
                "{frame}: {error}"
            );
        }
    }

    // Nothing happened: the next event anyone gets is alice's, and the message reads as before.
    let after = said(&mut alice, "still mine");
    for client in [&mut bob, &mut lookalike] {
        let event = next_event(client);
        assert_eq!(
            (&event["id"], &event["text"]),
            (&json!(after), &json!("still mine")),
            "{event}"
        );
    }
    let history = bob.subscribe("general");
    let first = &history["messages"][0];
    assert_eq!((&first["id"], &first["text"]), (&json!(id), &json!("original words")));
    assert!(first.get("edited").is_none(), "{first}");
    assert_eq!(first["reactions"], json!([{"emoji": "👍", "users": [alice_user]}]));
    assert_no_panic(&server);
}

#[test]
fn forged_targets_reach_no_room_one_is_not_in_and_no_conversation_of_others() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "1000")]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let mut mallory = server.joined("name=mallory");
    alice.subscribe("hideout");
    bob.subscribe("hideout");
    alice.request(json!({"type": "message", "room": "hideout", "text": "secret plan"}));
    let room_id = own(&mut alice, "message")["id"].as_u64().unwrap();
    let mut dm_ids = Vec::new();
    for text in ["secret one", "secret two", "secret three"] {
        alice.request(json!({"type": "message", "to": "bob", "text": text}));
        dm_ids.push(own(&mut alice, "message")["id"].as_u64().unwrap());
    }
    // mallory has a conversation of her own with bob: id 1 there is hers.
    mallory.request(json!({"type": "message", "to": "bob", "text": "hi bob"}));
    assert_eq!(own(&mut mallory, "message")["id"], 1);

    let mut frames = Vec::new();
    // A room she is not in.
    for request in [
        json!({"type": "edit", "room": "hideout", "id": room_id, "text": "x"}),
        json!({"type": "delete", "room": "hideout", "id": room_id}),
        json!({"type": "react", "room": "hideout", "id": room_id, "emoji": "👀", "on": true}),
        json!({"type": "message", "room": "hideout", "text": "x", "reply_to": room_id}),
        json!({"type": "read", "room": "hideout", "id": room_id}),
    ] {
        frames.push(refused(&mut mallory, request, "not_subscribed"));
    }
    // A room she is in, with the hideout's id: another room's message is not found.
    let request =
        json!({"type": "react", "room": "general", "id": room_id, "emoji": "👀", "on": true});
    frames.push(refused(&mut mallory, request, "not_found"));
    // alice and bob's conversation, by either name: hers with them, where their ids are not.
    for to in ["alice", "bob", "BOB", "аlice"] {
        for &id in &dm_ids[1..] {
            for request in [
                json!({"type": "edit", "to": to, "id": id, "text": "x"}),
                json!({"type": "delete", "to": to, "id": id}),
                json!({"type": "react", "to": to, "id": id, "emoji": "👀", "on": true}),
                json!({"type": "message", "to": to, "text": "x", "reply_to": id}),
            ] {
                let error = refused(&mut mallory, request, "not_found");
                assert_eq!(error["id"], id);
                frames.push(error);
            }
        }
        // A read marker there moves hers, if anything, and is told to no one else.
        mallory.request(json!({"type": "read", "dm": to, "id": dm_ids[2]}));
    }
    // Id 1 in "her conversation with alice" does not exist; with bob it is her own message.
    frames.push(refused(
        &mut mallory,
        json!({"type": "delete", "to": "alice", "id": 1}),
        "not_found",
    ));
    mallory.request(json!({"type": "edit", "to": "bob", "id": 1, "text": "hi bob!"}));
    let edit = own(&mut mallory, "edit");
    assert_eq!((&edit["to_user"], &edit["target"]), (&bob.hello["user"], &json!(1)));
    frames.push(edit);
    let leaked: Vec<&Value> = frames.iter().filter(|f| f.to_string().contains("secret")).collect();
    assert!(leaked.is_empty(), "mallory read: {leaked:?}");

    // alice's conversation with bob and the hideout are as they were.
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let dm = bob.next_of("history");
    let texts: Vec<&str> =
        dm["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["secret one", "secret two", "secret three"]);
    assert!(
        dm["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.get("edited").is_none() && m.get("reactions").is_none())
    );
    let hideout = bob.subscribe("hideout");
    assert_eq!(hideout["messages"][0]["text"], "secret plan");
    assert!(hideout["messages"][0].get("reactions").is_none(), "{hideout}");
    // alice heard nothing of it but bob's own conversation with mallory is not hers.
    alice.request(json!({"type": "message", "to": "bob", "text": "done"}));
    let next = next_event(&mut alice);
    assert_eq!(next["text"], "done", "{next}");
    assert_no_panic(&server);
}

#[test]
fn a_reactions_flood_is_rate_limited_and_the_history_stays_bounded() {
    let server = Arc::new(Server::start(&[("RATE_LIMIT_PER_SEC", "20"), ("HISTORY_SIZE", "10")]));
    let mut poster = server.joined("name=poster");
    let targets: Vec<u64> = (0..10).map(|n| said(&mut poster, &format!("react to {n}"))).collect();
    let mut pair = Pair::new(&server);

    let flooders: Vec<_> = (0..FLOODERS)
        .map(|f| {
            let (server, targets) = (server.clone(), targets.clone());
            thread::spawn(move || {
                let mut flooder = server.joined(&format!("name=flooder{f}"));
                flood(&mut flooder, &targets, f)
            })
        })
        .collect();
    // A bystander's conversation goes on during the flood.
    for _ in 0..3 {
        pair.still_chatting();
    }
    let mut limited = 0;
    for flooder in flooders {
        limited += flooder.join().unwrap();
    }
    assert!(limited >= FLOODERS, "each flooder was rate limited: {limited}");
    pair.still_chatting();

    // Bounded: at most 4 × HISTORY_SIZE entries kept, HISTORY_SIZE messages, 20 emoji each.
    let mut newcomer = server.connect("/ws?name=newcomer");
    let folded = newcomer.welcome();
    let messages = folded["messages"].as_array().unwrap();
    assert!(messages.len() <= 10, "{} messages", messages.len());
    for message in messages {
        assert!(message["reactions"].as_array().is_none_or(|r| r.len() <= 20), "{message}");
    }
    let epoch = folded["epoch"].clone();
    newcomer.request(json!({"type": "subscribe", "room": "general", "since": 0, "epoch": epoch}));
    let entries = newcomer.next_of("history");
    let kept = entries["messages"].as_array().unwrap().len();
    assert!(kept <= 40, "{kept} entries kept");
    assert_no_panic(&server);
}

/// Reacts and takes reactions back as fast as it can, without reading, then reads what came
/// back until the server closes it or goes quiet; returns how many `rate_limited` it got.
fn flood(flooder: &mut Client, targets: &[u64], seed: usize) -> usize {
    for n in 0..FLOOD {
        let target = targets[(n + seed) % targets.len()];
        let emoji = char::from_u32(0x1F600 + ((n * 7 + seed) % 40) as u32).unwrap();
        let request = json!({"type": "react", "room": "general", "id": target, "emoji": emoji.to_string(), "on": n % 3 != 2});
        if flooder.ws.send(Message::text(request.to_string())).is_err() {
            break;
        }
    }
    let _ = flooder.ws.flush();
    flooder.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut limited = 0;
    loop {
        match flooder.ws.read() {
            Ok(Message::Text(text)) => {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["code"] == "rate_limited" {
                    limited += 1;
                }
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    flooder.ws.get_ref().tcp().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    limited
}

/// The next event that is not about who is in a room.
fn next_event(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if !matches!(
            event["type"].as_str(),
            Some("users" | "join" | "leave" | "presence" | "rename")
        ) {
            return event;
        }
    }
}

/// `client` says `text` in the default room and reads it back: its id.
fn said(client: &mut Client, text: &str) -> u64 {
    client.say(text);
    let event = own(client, "message");
    assert_eq!(event["text"], text, "{event}");
    event["id"].as_u64().unwrap()
}

/// Sends `request` and returns the next event, which must be an error with `code`.
fn refused(client: &mut Client, request: Value, code: &str) -> Value {
    client.request(request.clone());
    let event = next_event(client);
    assert_eq!(
        (&event["type"], &event["code"]),
        (&json!("error"), &json!(code)),
        "{request}: {event}"
    );
    event
}

/// Connections flooding at once.
const FLOODERS: usize = 6;
/// Requests each sends.
const FLOOD: usize = 300;
