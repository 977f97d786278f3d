//! The chat: hello, history, users, join and leave, one order for everyone, resume with `since`.

use std::collections::HashSet;
use std::thread;

use serde_json::Value;
use tungstenite::Message;

use crate::support::{Client, Server, loopback};

fn ids(messages: &[Value]) -> Vec<u64> {
    messages.iter().map(|m| m["id"].as_u64().unwrap()).collect()
}

#[test]
fn two_clients_chat_and_see_each_other() {
    let server = Server::start(&[]);
    let mut alice = server.connect("/ws?name=alice");
    let hello = alice.next();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["name"], "alice");
    assert_eq!(hello["max_message_bytes"], 4096);
    assert_eq!(
        (hello["default_room"].as_str(), hello["max_rooms_per_connection"].as_u64()),
        (Some("general"), Some(16))
    );
    let history = alice.next();
    assert_eq!(history["type"], "history");
    assert_eq!(history["room"], "general");
    assert_eq!(history["messages"], serde_json::json!([]));
    assert_eq!(history["complete"], true);
    let users = serde_json::json!({"type": "users", "room": "general", "users": ["alice"]});
    assert_eq!(alice.next(), users);

    // A newcomer's join goes to the others, not to the newcomer.
    let mut bob = server.connect("/ws?name=bob");
    bob.welcome();
    let users = serde_json::json!({"type": "users", "room": "general", "users": ["alice", "bob"]});
    assert_eq!(bob.next(), users);
    assert_eq!(alice.next(), users);
    let join = alice.next();
    assert_eq!(
        (join["type"].as_str(), join["room"].as_str(), join["name"].as_str()),
        (Some("join"), Some("general"), Some("bob"))
    );

    alice.say("hello bob");
    let at_bob = bob.next_of("message");
    let at_alice = alice.next_of("message");
    assert_eq!(at_bob, at_alice, "everyone gets the same message, the sender included");
    assert_eq!(at_bob["name"], "alice");
    assert_eq!(at_bob["text"], "hello bob");
    assert_eq!(at_bob["id"], 1);
    assert_eq!(at_bob["ts"].as_str().unwrap().len(), "2026-11-26T05:00:00.123Z".len());

    // Plain text frames work too (as typed into websocat).
    bob.send(Message::text("hi alice"));
    assert_eq!(alice.next_of("message")["text"], "hi alice");

    drop(bob);
    let users = serde_json::json!({"type": "users", "room": "general", "users": ["alice"]});
    assert_eq!(alice.next(), users);
    let leave = alice.next();
    assert_eq!((leave["type"].as_str(), leave["name"].as_str()), (Some("leave"), Some("bob")));
}

#[test]
fn nicknames_are_cleaned_or_given() {
    let server = Server::start(&[]);
    let mut guest = server.connect("/ws");
    let name = guest.next()["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("guest-") && name.len() == 10, "{name}");
    let mut spaced = server.connect("/ws?name=%20%20carol%07%20");
    assert_eq!(spaced.next()["name"], "carol");
    let long = "x".repeat(50);
    let mut long_named = server.connect(&format!("/ws?name={long}"));
    assert_eq!(long_named.next()["name"].as_str().unwrap().len(), 32);
    let mut empty = server.connect("/ws?name=%20");
    assert!(empty.next()["name"].as_str().unwrap().starts_with("guest-"));
}

#[test]
fn newcomers_get_the_history_and_reconnects_resume_with_since() {
    let server = Server::start(&[("HISTORY_SIZE", "5")]);
    let mut alice = server.connect("/ws?name=alice");
    alice.welcome();
    for i in 1..=8 {
        alice.say(&format!("m{i}"));
    }
    let seen = alice.messages(8);
    assert_eq!(ids(&seen), (1..=8).collect::<Vec<_>>());

    let mut late = server.connect("/ws?name=late");
    let history = late.welcome();
    let kept = history["messages"].as_array().unwrap();
    assert_eq!(ids(kept), vec![4, 5, 6, 7, 8], "the last HISTORY_SIZE messages");
    assert_eq!(kept[0]["type"], "message");
    assert_eq!(history["complete"], false, "messages 1 to 3 are gone");
    let epoch = history["epoch"].as_str().unwrap().to_string();

    let mut resumed = server.connect(&format!("/ws?name=r&since=6&epoch={epoch}"));
    let history = resumed.welcome();
    assert_eq!(ids(history["messages"].as_array().unwrap()), vec![7, 8]);
    assert_eq!(history["complete"], true);

    let mut up_to_date = server.connect("/ws?name=r2&since=8");
    let history = up_to_date.welcome();
    assert_eq!(history["messages"], serde_json::json!([]));
    assert_eq!(history["complete"], true);

    let mut too_old = server.connect(&format!("/ws?name=r3&since=1&epoch={epoch}"));
    assert_eq!(too_old.welcome()["complete"], false);

    let mut other_epoch = server.connect("/ws?name=r4&since=7&epoch=0123456789abcdef");
    let history = other_epoch.welcome();
    assert_eq!(ids(history["messages"].as_array().unwrap()), vec![4, 5, 6, 7, 8]);
    assert_eq!(history["complete"], false, "ids of another epoch cannot be resumed");

    // After the history, live messages continue without a gap or a repeat.
    alice.say("m9");
    assert_eq!(resumed.next_of("message")["id"], 9);
}

/// 200 clients send at once; every client receives every message, in one and the same order.
#[test]
fn two_hundred_clients_all_receive_everything_in_one_order() {
    const CLIENTS: usize = 200;
    const EACH: usize = 5;
    let server = Server::start(&[]);
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|i| {
            // 50 from each address: within its new sessions a minute.
            let mut c = server.connect_from(loopback(i as u32 / 50), &format!("/ws?name=c{i}"));
            c.welcome();
            c
        })
        .collect();
    // Skip the presence events caused by the clients that came after each one.
    let last = clients.last_mut().unwrap();
    last.say("start");
    let start = last.next_of("message")["id"].as_u64().unwrap();

    let handles: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            thread::spawn(move || {
                for n in 0..EACH {
                    c.say(&format!("{i}:{n}"));
                }
                let mut got = Vec::new();
                while got.len() < CLIENTS * EACH {
                    let m = c.next_of("message");
                    if m["id"].as_u64().unwrap() > start {
                        got.push((
                            m["id"].as_u64().unwrap(),
                            m["text"].as_str().unwrap().to_string(),
                        ));
                    }
                }
                got
            })
        })
        .collect();
    let received: Vec<Vec<(u64, String)>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();
    let first = &received[0];
    let texts: HashSet<&String> = first.iter().map(|(_, t)| t).collect();
    assert_eq!(texts.len(), CLIENTS * EACH, "no message lost or repeated");
    assert!(first.windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increase");
    for other in &received[1..] {
        assert_eq!(other, first, "every client sees the same order");
    }
    // Each sender's own messages keep their order.
    for i in 0..CLIENTS {
        let mine: Vec<&String> =
            first.iter().map(|(_, t)| t).filter(|t| t.starts_with(&format!("{i}:"))).collect();
        let expected: Vec<String> = (0..EACH).map(|n| format!("{i}:{n}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
}

/// Past 100 names a room's changes go out as one `presence` event a second, not as the whole
/// list and a `join` each time; newcomers still get the whole list.
#[test]
fn big_rooms_get_presence_batches_not_the_whole_list_each_time() {
    let server = Server::start(&[]);
    let mut first = server.connect("/ws?name=u000");
    first.welcome();
    let mut others: Vec<Client> = (1..=100)
        .map(|i| {
            // 50 from each address: within its new sessions a minute.
            let mut c = server.connect_from(loopback(i as u32 / 50), &format!("/ws?name=u{i:03}"));
            c.welcome();
            c
        })
        .collect();
    // 101 names now: the 101st arrival came as a presence event, without a users list.
    let mut last_users = 0;
    let presence = loop {
        let event = first.next();
        match event["type"].as_str() {
            Some("users") => last_users = event["users"].as_array().unwrap().len(),
            Some("join") => assert_ne!(event["name"], "u100", "u100 made the room big"),
            Some("presence") => break event,
            _ => {}
        }
    };
    assert_eq!(last_users, 100, "the list went out while it had at most 100 names");
    assert_eq!(
        (presence["room"].as_str(), presence["joined"].clone(), presence["left"].clone()),
        (Some("general"), serde_json::json!(["u100"]), serde_json::json!([]))
    );
    // Several arrivals within a second share one event.
    let mut newcomers: Vec<Client> = ["zed", "zoe"]
        .iter()
        .map(|name| {
            let mut c = server.connect(&format!("/ws?name={name}"));
            c.welcome();
            c
        })
        .collect();
    assert_eq!(newcomers[1].next_of("users")["users"].as_array().unwrap().len(), 103);
    let mut joined = Vec::new();
    while joined.len() < 2 {
        let presence = first.next_of("presence");
        joined.extend(presence["joined"].as_array().unwrap().iter().map(|n| n.to_string()));
    }
    assert_eq!(joined, [r#""zed""#, r#""zoe""#], "one event, sorted (or, rarely, two)");
    newcomers.clear();
    let mut left = Vec::new();
    while left.len() < 2 {
        let presence = first.next_of("presence");
        left.extend(presence["left"].as_array().unwrap().iter().map(|n| n.to_string()));
    }
    assert_eq!(left, [r#""zed""#, r#""zoe""#]);
    others.clear();
}
