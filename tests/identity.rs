//! Sessions, nicknames that belong to one session, renames and private messages, against the
//! real server.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, Server, next_event};

/// Waits until `witness` hears that `name` left the default room; returns the `leave`.
fn left(witness: &mut Client, name: &str) -> Value {
    loop {
        let event = witness.next();
        if event["type"] == "leave" && event["name"] == name {
            return event;
        }
    }
}

fn user(client: &Client) -> &Value {
    &client.hello["user"]
}

#[test]
fn a_session_is_one_person_on_every_connection() {
    let server = Server::start(&[("LOG_LEVEL", "debug")]);
    let mut alice = server.joined("name=alice");
    let hello = alice.hello.clone();
    assert_eq!(hello["name"], "alice");
    assert_eq!(hello["session"].as_str().unwrap().len(), 22, "{hello}");
    assert_eq!(hello["user"].as_str().unwrap().len(), 16, "{hello}");
    assert_eq!(hello["unread_dms"], json!([]));
    assert!(hello.get("requested").is_none(), "{hello}");
    assert_ne!(hello["user"], hello["session"]);

    // The session again (in the query, then in a first message): the same person and name,
    // whatever name the query asks for.
    let mut again = server.joined(&format!("name=zed&session={}", alice.session()));
    assert_eq!((&again.hello["name"], user(&again)), (&json!("alice"), user(&alice)));
    assert_eq!(again.hello["session"], hello["session"]);
    let mut by_frame = server.connect("/ws?name=zed&session_in=frame");
    by_frame.request(json!({"type": "session", "session": alice.session()}));
    by_frame.welcome();
    assert_eq!(user(&by_frame), user(&alice));

    // Messages carry the sender's user id, so every tab can tell its own.
    again.say("from the second tab");
    for tab in [&mut alice, &mut again, &mut by_frame] {
        let message = tab.next_of("message");
        assert_eq!((&message["user"], &message["name"]), (&hello["user"], &json!("alice")));
    }

    // Another session asking for the name gets the first free suffix, case-insensitively.
    let other = server.joined("name=ALICE");
    assert_eq!(
        (&other.hello["name"], &other.hello["requested"]),
        (&json!("ALICE-2"), &json!("ALICE"))
    );
    assert_ne!(user(&other), user(&alice));
    let third = server.joined("name=Alice");
    assert_eq!(third.hello["name"], "Alice-3");

    // A cookie is never read; a session is never written to the log.
    let mut both = server.connect_with(
        &format!("/ws?session={}", other.session()),
        &[("Cookie", &format!("wschat_session={}", alice.session()))],
    );
    both.welcome();
    assert_eq!(user(&both), user(&other));
    drop((alice, again, by_frame, both));
    let log = server.log();
    for session in [hello["session"].as_str().unwrap(), other.session(), third.session()] {
        assert!(!log.contains(session), "the log carries a session:\n{log}");
    }
}

#[test]
fn a_wrong_or_unknown_session_gets_a_fresh_one_and_the_connection_goes_on() {
    let server = Server::start(&[]);
    for presented in ["short", "AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAA%2B", "%00%FF"] {
        let mut client = server.connect(&format!("/ws?name=pat&session={presented}"));
        let hello = client.next();
        assert_eq!(hello["type"], "hello");
        assert_ne!(hello["session"], presented);
        assert_eq!(hello["session"].as_str().unwrap().len(), 22);
        let expired = client.next();
        assert_eq!(expired["code"], "session_expired", "{presented}: {expired}");
        assert_eq!(client.next()["type"], "history");
        client.say("still here");
        assert_eq!(client.next_of("message")["text"], "still here");
    }
    // A bad session in the first message is expired just the same.
    let mut by_frame = server.connect("/ws?session_in=frame");
    by_frame.request(json!({"type": "session", "session": "nope"}));
    by_frame.next();
    assert_eq!(by_frame.next()["code"], "session_expired");
}

#[test]
fn a_name_is_held_while_reserved_then_freed_with_its_session() {
    let server = Server::start(&[("NAME_RESERVE_SECS", "2")]);
    let mut witness = server.joined("name=witness");
    let alice = server.joined("name=alice");
    let session = alice.session().to_string();
    let alice_user = user(&alice).clone();
    let join = witness.next_of("join");
    assert_eq!((&join["name"], &join["user"]), (&json!("alice"), &alice_user));
    drop(alice);
    assert_eq!(left(&mut witness, "alice")["user"], alice_user, "join and leave name the session");
    // Reserved: a newcomer gets another name; alice, back with her session, hers.
    let newcomer = server.joined("name=alice");
    assert_eq!(newcomer.hello["name"], "alice-2");
    drop(newcomer);
    let back = server.joined(&format!("name=alice&session={session}"));
    assert_eq!((&back.hello["name"], user(&back)), (&json!("alice"), &alice_user));
    drop(back);
    left(&mut witness, "alice");

    // Free after NAME_RESERVE_SECS: the name goes to whoever asks, and the old session is
    // forgotten.
    let deadline = Instant::now() + Duration::from_secs(15);
    let taker = loop {
        let taker = server.joined("name=alice");
        if taker.hello["name"] == "alice" {
            break taker;
        }
        assert!(Instant::now() < deadline, "alice was never released");
        drop(taker);
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_ne!(user(&taker), &alice_user);
    let mut old = server.connect(&format!("/ws?session={session}"));
    let hello = old.next();
    assert_ne!(hello["user"], alice_user);
    assert_ne!(hello["name"], "alice");
    assert_eq!(old.next()["code"], "session_expired");
}

#[test]
fn private_messages_reach_both_sessions_and_nobody_else() {
    let server = Server::start(&[("LOG_LEVEL", "trace")]);
    let mut alice = server.joined("name=alice");
    let mut alice_tab = server.joined(&format!("session={}", alice.session()));
    let mut bob = server.joined("name=bob");
    let mut carol = server.joined("name=carol");

    let (alice_user, bob_user) = (user(&alice).clone(), user(&bob).clone());
    // Each speaks once the one before was heard, so the order is known.
    let mut heard: [Vec<Value>; 3] = Default::default();
    let turns = [
        (0, json!({"type": "message", "to": "BOB", "text": "psst, secret one"})),
        (1, json!({"type": "message", "to": "bob", "text": "secret two"})),
        (2, json!({"type": "message", "to": "alice", "text": "secret three"})),
    ];
    for (turn, (speaker, request)) in turns.into_iter().enumerate() {
        let mut clients = [&mut alice, &mut alice_tab, &mut bob];
        clients[speaker].request(request);
        for (client, heard) in clients.iter_mut().zip(&mut heard) {
            while heard.len() <= turn {
                heard.push(next_event(client));
            }
        }
    }
    for got in heard {
        let ids: Vec<u64> = got.iter().map(|m| m["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, [1, 2, 3], "ids increase per conversation: {got:?}");
        assert_eq!(
            got[0],
            json!({"type": "message", "dm": true, "id": 1, "user": alice_user, "name": "alice",
                "to": "bob", "to_user": bob_user, "text": "psst, secret one",
                "ts": got[0]["ts"]})
        );
        assert_eq!((&got[2]["name"], &got[2]["to"]), (&json!("bob"), &json!("alice")));
        assert!(got.iter().all(|m| m.get("room").is_none()), "{got:?}");
    }
    // Another pair's conversation has its own ids; a note to self arrives once.
    alice.request(json!({"type": "message", "to": "carol", "text": "hi carol"}));
    assert_eq!(next_event(&mut alice)["id"], 1);
    alice.request(json!({"type": "message", "to": "alice", "text": "note to self"}));
    let note = next_event(&mut alice);
    assert_eq!((&note["to_user"], &note["text"]), (user(&alice), &json!("note to self")));
    assert_eq!(next_event(&mut alice_tab)["text"], "hi carol");
    assert_eq!(next_event(&mut alice_tab)["text"], "note to self");

    // carol got only her own message, then the room's.
    alice.say("in the room");
    assert_eq!(next_event(&mut carol)["text"], "hi carol");
    assert_eq!(next_event(&mut carol)["text"], "in the room");
    assert_eq!(next_event(&mut bob)["text"], "in the room");

    // The conversation's history, to each of its two sessions, resumable; to carol, her own.
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let history = next_event(&mut bob);
    assert_eq!(
        (&history["type"], &history["dm"], &history["user"]),
        (&json!("history"), &json!("alice"), user(&alice))
    );
    assert_eq!(history["messages"].as_array().unwrap().len(), 3);
    assert_eq!(history["complete"], true);
    let epoch = history["epoch"].clone();
    bob.request(json!({"type": "subscribe", "dm": "alice", "since": 2, "epoch": epoch}));
    let resumed = next_event(&mut bob);
    assert_eq!(resumed["messages"][0]["text"], "secret three");
    assert_eq!(resumed["messages"].as_array().unwrap().len(), 1);
    carol.request(json!({"type": "subscribe", "dm": "bob"}));
    assert_eq!(next_event(&mut carol)["messages"], json!([]));
    carol.request(json!({"type": "subscribe", "dm": "alice"}));
    let own = next_event(&mut carol);
    assert_eq!(own["messages"].as_array().unwrap().len(), 1, "{own}");

    // Nobody by that name.
    bob.request(json!({"type": "message", "to": "dave", "text": "hello?"}));
    let error = next_event(&mut bob);
    assert_eq!((&error["code"], &error["to"]), (&json!("no_such_user"), &json!("dave")));
    // Private texts appear in no log and no metric label.
    drop((alice, alice_tab, bob, carol));
    let log = server.log();
    assert!(!log.contains("secret"), "{log}");
    assert!(!server.get("/metrics").contains("secret"));
}

#[test]
fn private_messages_to_an_absent_holder_wait_as_unread() {
    let server = Server::start(&[]);
    let mut witness = server.joined("name=witness");
    let mut alice = server.joined("name=alice");
    let bob = server.joined("name=bob");
    let (bob_session, bob_user) = (bob.session().to_string(), user(&bob).clone());
    drop(bob);
    left(&mut witness, "bob");
    for text in ["are you there?", "call me"] {
        alice.request(json!({"type": "message", "to": "bob", "text": text}));
        assert_eq!(next_event(&mut alice)["to_user"], bob_user);
    }
    let mut bob = server.joined(&format!("session={bob_session}"));
    assert_eq!(
        bob.hello["unread_dms"],
        json!([{"name": "alice", "user": user(&alice), "count": 2}])
    );
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let history = next_event(&mut bob);
    assert_eq!(history["messages"][1]["text"], "call me");
    drop(bob);
    left(&mut witness, "bob");
    let bob = server.joined(&format!("session={bob_session}"));
    assert_eq!(bob.hello["unread_dms"], json!([]), "read once its history was asked for");
}

#[test]
fn a_rename_reaches_every_connection_and_every_room() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut alice_tab = server.joined(&format!("session={}", alice.session()));
    let mut bob = server.joined("name=bob");
    alice.subscribe("rust");
    bob.subscribe("rust");

    alice.request(json!({"type": "rename", "name": "Bob"}));
    let taken = next_event(&mut alice);
    assert_eq!((&taken["code"], &taken["name"]), (&json!("name_taken"), &json!("Bob")));
    // The name it has: nothing happens.
    alice.request(json!({"type": "rename", "name": " alice "}));
    alice.request(json!({"type": "rename", "name": "alicia"}));
    for tab in [&mut alice, &mut alice_tab] {
        assert_eq!(next_event(tab), json!({"type": "renamed", "name": "alicia"}));
    }
    // bob hears it in both rooms, with the new list.
    let mut rooms = Vec::new();
    while rooms.len() < 2 {
        let event = bob.next();
        if event["type"] == "rename" {
            assert_eq!(
                (&event["from"], &event["to"], &event["user"]),
                (&json!("alice"), &json!("alicia"), user(&alice))
            );
            let users = bob.next();
            assert_eq!(users["type"], "users");
            assert_eq!(users["users"], json!(["alicia", "bob"]));
            rooms.push(event["room"].as_str().unwrap().to_string());
        }
        assert_ne!(event["type"], "leave", "a rename is no leave: {event}");
    }
    rooms.sort();
    assert_eq!(rooms, ["general", "rust"]);

    // Messages are signed with the new name, and the old one is free.
    alice_tab.say("new me");
    assert_eq!(next_event(&mut bob)["name"], "alicia");
    let newcomer = server.joined("name=alice");
    assert_eq!(newcomer.hello["name"], "alice");
    bob.request(json!({"type": "message", "to": "alicia", "text": "hi"}));
    assert_eq!(alice.next_of("message")["text"], "new me", "after her own rooms' `rename`");
    let dm = next_event(&mut alice);
    assert_eq!((&dm["text"], &dm["to"]), (&json!("hi"), &json!("alicia")));
}

#[test]
fn private_messages_count_against_the_message_rate_limit() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "2")]);
    let mut alice = server.joined("name=alice");
    let _bob = server.joined("name=bob");
    // A burst of twice the rate passes; the next is refused with `rate_limited`, not delivered.
    for i in 0..5 {
        alice.request(json!({"type": "message", "to": "bob", "text": format!("dm {i}")}));
    }
    let mut delivered = 0;
    loop {
        let event = next_event(&mut alice);
        match event["type"].as_str() {
            Some("message") => delivered += 1,
            Some("error") => {
                assert_eq!(event["code"], "rate_limited", "{event}");
                break;
            }
            _ => panic!("{event}"),
        }
    }
    assert!(delivered <= 4, "the burst is twice the rate: {delivered}");
}
