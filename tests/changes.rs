//! Changing messages (issue 27): edit, delete, reactions, replies and read markers against the
//! real server, every request and every error of docs/protocol.md, "Changing messages".
//!
//! "Nothing is sent" is shown the way a client would see it: after the request that should
//! change nothing, the same connection says something, and the next event every client gets
//! is that message (the broadcaster handles one connection's requests in order).

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Client, Server, next_event};

/// `clients[0]` says `text` in `room`; every one of `clients` gets it as its very next event,
/// so whatever came before produced nothing for them. Returns its id.
fn nothing_before(clients: &mut [&mut Client], room: &str, text: &str) -> u64 {
    clients[0].say_in(room, text);
    let mut id = 0;
    for client in clients.iter_mut() {
        let event = next_event(client);
        assert_eq!((&event["type"], &event["text"]), (&json!("message"), &json!(text)), "{event}");
        id = event["id"].as_u64().unwrap();
    }
    id
}

/// `client` says `text` in `room` and reads it back: its id.
fn said(client: &mut Client, room: &str, text: &str) -> u64 {
    client.say_in(room, text);
    let event = next_event(client);
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

/// The `messages` of a history page.
fn page(history: &Value) -> &Vec<Value> {
    history["messages"].as_array().expect("a history has messages")
}

/// The history `client` gets on subscribing to `room` again, with `since` when given.
fn history(client: &mut Client, room: &str, since: Option<u64>) -> Value {
    let mut request = json!({"type": "subscribe", "room": room});
    if let Some(since) = since {
        request["since"] = json!(since);
    }
    client.request(request);
    client.next_of("history")
}

#[test]
fn an_edit_reaches_the_room_as_documented_and_the_same_text_sends_nothing() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let id = said(&mut alice, "general", "helo");
    assert_eq!(next_event(&mut bob)["id"], id);

    alice.request(json!({"type": "edit", "room": "general", "id": id, "text": "hello"}));
    let author = alice.hello["user"].clone();
    for client in [&mut alice, &mut bob] {
        let edit = next_event(client);
        assert_eq!(
            edit,
            json!({"type": "edit", "room": "general", "id": id + 1, "target": id,
                "user": author, "name": "alice", "text": "hello", "ts": edit["ts"]})
        );
        assert!(edit["ts"].as_str().unwrap().ends_with('Z'), "{edit}");
    }
    // The same text again (also once trimmed) changes nothing and sends nothing.
    alice.request(json!({"type": "edit", "room": "general", "id": id, "text": "hello"}));
    alice.request(json!({"type": "edit", "room": "general", "id": id, "text": "  hello\n"}));
    nothing_before(&mut [&mut alice, &mut bob], "general", "after");
    // An empty edit is refused like an empty message.
    refused(&mut alice, json!({"type": "edit", "room": "general", "id": id, "text": " "}), "empty");
    // The folded page shows the latest text and when it was edited.
    let page_now = history(&mut bob, "general", None);
    let first = &page(&page_now)[0];
    assert_eq!((&first["id"], &first["text"]), (&json!(id), &json!("hello")));
    assert!(first["edited"].is_string(), "{first}");
}

#[test]
fn a_deletion_reaches_the_room_and_takes_the_text_from_every_page() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let kept = said(&mut alice, "general", "kept");
    let id = said(&mut alice, "general", "secret");
    alice.request(json!({"type": "edit", "room": "general", "id": id, "text": "secret two"}));
    let edit = next_event(&mut alice)["id"].as_u64().unwrap();
    alice.request(json!({"type": "delete", "room": "general", "id": id}));
    let delete = next_event(&mut alice);
    assert_eq!(
        delete,
        json!({"type": "delete", "room": "general", "id": edit + 1, "target": id,
            "user": alice.hello["user"], "name": "alice", "ts": delete["ts"]})
    );
    for _ in 0..3 {
        next_event(&mut bob);
    }
    assert_eq!(next_event(&mut bob), delete);

    // Folded: the message keeps its place, id and sender, without its text; no change listed.
    let folded = history(&mut bob, "general", None);
    assert_eq!(page(&folded).len(), 2, "{folded}");
    assert_eq!(page(&folded)[0]["id"], kept);
    let gone = &page(&folded)[1];
    assert_eq!(
        gone,
        &json!({"type": "message", "room": "general", "id": id, "user": alice.hello["user"],
            "name": "alice", "deleted": true, "ts": gone["ts"]})
    );
    // With since: every entry after it, in order; the message and its edit without text.
    let resumed = history(&mut bob, "general", Some(kept));
    let entries = page(&resumed);
    let kinds: Vec<(&str, u64)> =
        entries.iter().map(|e| (e["type"].as_str().unwrap(), e["id"].as_u64().unwrap())).collect();
    assert_eq!(kinds, [("message", id), ("edit", edit), ("delete", edit + 1)]);
    assert_eq!(entries[0]["deleted"], true);
    assert!(entries[1].get("text").is_none(), "{}", entries[1]);
    assert_eq!(entries[2], delete);
    assert!(!resumed.to_string().contains("secret") && !folded.to_string().contains("secret"));

    // A deleted message is no target any more.
    for request in [
        json!({"type": "delete", "room": "general", "id": id}),
        json!({"type": "edit", "room": "general", "id": id, "text": "back"}),
        json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": true}),
        json!({"type": "message", "room": "general", "text": "re", "reply_to": id}),
    ] {
        let error = refused(&mut alice, request, "not_found");
        assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(id)));
    }
}

#[test]
fn reactions_go_on_and_off_once_each_up_to_twenty_emoji() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let id = said(&mut alice, "general", "react to me");
    next_event(&mut bob);

    let react = |emoji: &str, on: bool| json!({"type": "react", "room": "general", "id": id, "emoji": emoji, "on": on});
    bob.request(react("👍", true));
    let bob_user = bob.hello["user"].clone();
    for client in [&mut alice, &mut bob] {
        let event = next_event(client);
        assert_eq!(
            event,
            json!({"type": "react", "room": "general", "id": id + 1, "target": id,
                "user": bob_user, "name": "bob", "emoji": "👍", "on": true,
                "ts": event["ts"]})
        );
    }
    // Twice on, or off what was not given: nothing.
    bob.request(react("👍", true));
    bob.request(react("🎉", false));
    nothing_before(&mut [&mut bob, &mut alice], "general", "marker");
    bob.request(react("👍", false));
    let off = next_event(&mut alice);
    assert_eq!(
        (&off["on"], &off["target"], &off["emoji"]),
        (&json!(false), &json!(id), &json!("👍"))
    );
    next_event(&mut bob);

    // Every shape of one emoji is taken; 20 distinct emoji, and the 21st is refused.
    let mut emoji: Vec<String> = ["👍🏽", "🏳️‍🌈", "1️⃣", "🇫🇷", "❤️", "👩‍💻"].map(String::from).into();
    emoji.extend((0..14).map(|i| char::from_u32(0x1F600 + i).unwrap().to_string()));
    for e in &emoji {
        alice.request(react(e, true));
        assert_eq!(next_event(&mut alice)["emoji"], e.as_str());
        assert_eq!(next_event(&mut bob)["emoji"], e.as_str());
    }
    let error = refused(&mut alice, react("🙏", true), "too_many_reactions");
    assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(id)));
    // Joining one already there is fine.
    bob.request(react("🇫🇷", true));
    assert_eq!(next_event(&mut bob)["user"], bob.hello["user"]);

    // The folded page: each emoji in the order first given, its users in order.
    let folded = history(&mut bob, "general", None);
    let reactions = page(&folded)[0]["reactions"].as_array().unwrap().clone();
    assert_eq!(reactions.len(), 20);
    assert_eq!(
        reactions[3],
        json!({"emoji": "🇫🇷", "users": [alice.hello["user"], bob.hello["user"]]})
    );
    assert_eq!(reactions[0], json!({"emoji": "👍🏽", "users": [alice.hello["user"]]}));
}

#[test]
fn an_emoji_that_is_not_one_emoji_is_a_bad_request() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let id = said(&mut alice, "general", "m");
    let long_zwj = ["👩"; 9].join("\u{200D}"); // 9 × 4 + 8 × 3 = 60 bytes
    let bad: Vec<Value> = vec![
        json!("a"),
        json!("👍👍"),
        json!("👍 "),
        json!(" 👍"),
        json!(""),
        json!(":+1:"),
        json!("🇫"),
        json!(long_zwj),
        json!("\u{200D}"),
        json!(1),
        json!(null),
        json!(["👍"]),
    ];
    for emoji in bad {
        let request =
            json!({"type": "react", "room": "general", "id": id, "emoji": emoji, "on": true});
        refused(&mut alice, request, "bad_request");
    }
    for request in [
        json!({"type": "react", "room": "general", "id": id, "on": true}),
        json!({"type": "react", "room": "general", "id": id, "emoji": "👍"}),
        json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": "yes"}),
        json!({"type": "react", "room": "general", "emoji": "👍", "on": true}),
        json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": true, "x": 1}),
    ] {
        refused(&mut alice, request, "bad_request");
    }
    nothing_before(&mut [&mut alice], "general", "nothing was posted");
}

#[test]
fn a_reply_carries_its_target_which_must_be_a_message_of_that_room() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.subscribe("rust");
    let other_room = said(&mut alice, "rust", "in rust");
    let id = said(&mut alice, "general", "question");
    next_event(&mut bob);

    bob.request(json!({"type": "message", "room": "general", "text": "answer", "reply_to": id}));
    let bob_user = bob.hello["user"].clone();
    for client in [&mut alice, &mut bob] {
        let reply = next_event(client);
        assert_eq!(
            reply,
            json!({"type": "message", "room": "general", "id": id + 1, "user": bob_user,
                "name": "bob", "text": "answer", "reply_to": id, "ts": reply["ts"]})
        );
    }
    bob.request(json!({"type": "edit", "room": "general", "id": id + 1, "text": "answer!"}));
    let edit = next_event(&mut bob)["id"].as_u64().unwrap();
    let folded = history(&mut alice, "general", None);
    assert_eq!(page(&folded)[1]["reply_to"], id);
    assert_eq!(page(&folded)[1]["text"], "answer!");

    // To an id never given, a change, a message of another room, one deleted: not_found.
    alice.request(json!({"type": "message", "room": "general", "text": "bye", "reply_to": 0}));
    alice.request(json!({"type": "delete", "room": "general", "id": id}));
    let deleted = next_event(&mut alice);
    let deleted = if deleted["type"] == "error" {
        assert_eq!((&deleted["code"], &deleted["id"]), (&json!("not_found"), &json!(0)));
        next_event(&mut alice)
    } else {
        let error = next_event(&mut alice);
        assert_eq!((&error["code"], &error["id"]), (&json!("not_found"), &json!(0)), "{error}");
        deleted
    };
    assert_eq!(deleted["type"], "delete", "{deleted}");
    assert_eq!(next_event(&mut bob), deleted);
    for target in [999, edit, other_room, id] {
        let request =
            json!({"type": "message", "room": "general", "text": "x", "reply_to": target});
        let error = refused(&mut bob, request, "not_found");
        assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(target)), "{error}");
    }
    // reply_to is a whole number.
    for reply_to in [json!(-1), json!(1.5), json!("1"), json!(null)] {
        let request =
            json!({"type": "message", "room": "general", "text": "x", "reply_to": reply_to});
        refused(&mut bob, request, "bad_request");
    }
    nothing_before(&mut [&mut bob, &mut alice], "general", "only this");
}

#[test]
fn only_the_author_edits_or_deletes_and_targets_must_be_kept_messages() {
    let server = Server::start(&[("HISTORY_SIZE", "3")]);
    let mut alice = server.joined("name=alice");
    let mut alice_tab = server.joined(&format!("session={}", alice.session()));
    let mut bob = server.joined("name=bob");
    let first = said(&mut alice, "general", "first");
    for client in [&mut alice_tab, &mut bob] {
        next_event(client);
    }
    // Another session: not_yours, with the room and the target.
    for request in [
        json!({"type": "edit", "room": "general", "id": first, "text": "mine now"}),
        json!({"type": "delete", "room": "general", "id": first}),
    ] {
        let error = refused(&mut bob, request, "not_yours");
        assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(first)));
    }
    // The author's other connection is the author.
    alice_tab.request(json!({"type": "edit", "room": "general", "id": first, "text": "first!"}));
    let edit = next_event(&mut alice_tab);
    assert_eq!(edit["target"], first);
    let edit = edit["id"].as_u64().unwrap();
    next_event(&mut alice);
    next_event(&mut bob);

    // A change's id, an id never given: not_found.
    for target in [edit, 0, 999, u64::MAX] {
        for request in [
            json!({"type": "edit", "room": "general", "id": target, "text": "x"}),
            json!({"type": "delete", "room": "general", "id": target}),
            json!({"type": "react", "room": "general", "id": target, "emoji": "👍", "on": true}),
        ] {
            let error = refused(&mut alice, request, "not_found");
            assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(target)));
        }
    }
    // A message dropped from HISTORY_SIZE: not_found.
    for n in 0..3 {
        said(&mut alice, "general", &format!("push {n}"));
        next_event(&mut bob);
    }
    let error =
        refused(&mut alice, json!({"type": "delete", "room": "general", "id": first}), "not_found");
    assert_eq!(error["id"], first);
    let error = refused(
        &mut bob,
        json!({"type": "react", "room": "general", "id": first, "emoji": "👍", "on": true}),
        "not_found",
    );
    assert_eq!(error["id"], first);
}

#[test]
fn an_edit_after_edit_window_secs_is_too_late_and_deleting_is_still_allowed() {
    let server = Server::start(&[("EDIT_WINDOW_SECS", "1")]);
    let mut alice = server.joined("name=alice");
    let id = said(&mut alice, "general", "quick");
    alice.request(json!({"type": "edit", "room": "general", "id": id, "text": "quick fix"}));
    assert_eq!(next_event(&mut alice)["type"], "edit");
    std::thread::sleep(Duration::from_millis(2100));
    let error = refused(
        &mut alice,
        json!({"type": "edit", "room": "general", "id": id, "text": "too late"}),
        "too_late",
    );
    assert_eq!((&error["room"], &error["id"]), (&json!("general"), &json!(id)));
    alice.request(json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": true}));
    assert_eq!(next_event(&mut alice)["type"], "react");
    alice.request(json!({"type": "delete", "room": "general", "id": id}));
    assert_eq!(next_event(&mut alice)["type"], "delete");
}

#[test]
fn a_change_in_a_room_this_connection_is_not_in_is_not_subscribed() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.subscribe("rust");
    let id = said(&mut alice, "rust", "in rust");
    for request in [
        json!({"type": "edit", "room": "rust", "id": id, "text": "x"}),
        json!({"type": "delete", "room": "rust", "id": id}),
        json!({"type": "react", "room": "rust", "id": id, "emoji": "👍", "on": true}),
        json!({"type": "message", "room": "rust", "text": "x", "reply_to": id}),
        json!({"type": "read", "room": "rust", "id": id}),
        json!({"type": "edit", "room": "nowhere", "id": 1, "text": "x"}),
    ] {
        let error = refused(&mut bob, request.clone(), "not_subscribed");
        assert_eq!(error["room"], request["room"], "{error}");
        let target = request.get("reply_to").unwrap_or(&request["id"]);
        assert_eq!(&error["id"], target, "the error names the message: {error}");
    }
    // After leaving, the author too.
    alice.request(json!({"type": "unsubscribe", "room": "rust"}));
    refused(&mut alice, json!({"type": "delete", "room": "rust", "id": id}), "not_subscribed");
    // A change names a room or a person, not both, and one of them.
    refused(
        &mut alice,
        json!({"type": "delete", "room": "general", "to": "bob", "id": 1}),
        "bad_request",
    );
    refused(&mut alice, json!({"type": "delete", "id": 1}), "bad_request");
    refused(
        &mut alice,
        json!({"type": "read", "room": "general", "dm": "bob", "id": 1}),
        "bad_request",
    );
    let error = refused(
        &mut alice,
        json!({"type": "edit", "room": "No Room!", "id": 1, "text": "x"}),
        "bad_room",
    );
    assert_eq!(error["room"], "No Room!");
}

#[test]
fn private_messages_take_the_same_changes_with_to() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let _carol = server.joined("name=carol");
    let (alice_user, bob_user) = (alice.hello["user"].clone(), bob.hello["user"].clone());
    alice.request(json!({"type": "message", "to": "bob", "text": "psst"}));
    let dm = next_event(&mut alice);
    let id = dm["id"].as_u64().unwrap();
    assert_eq!(next_event(&mut bob), dm);

    alice.request(json!({"type": "edit", "to": "bob", "id": id, "text": "psst!"}));
    for client in [&mut alice, &mut bob] {
        let edit = next_event(client);
        assert_eq!(
            edit,
            json!({"type": "edit", "dm": true, "id": id + 1, "target": id, "user": alice_user,
                "name": "alice", "to": "bob", "to_user": bob_user, "text": "psst!",
                "ts": edit["ts"]})
        );
    }
    bob.request(json!({"type": "react", "to": "alice", "id": id, "emoji": "👀", "on": true}));
    for client in [&mut alice, &mut bob] {
        let react = next_event(client);
        assert_eq!(
            (&react["type"], &react["dm"], &react["to_user"], &react["user"], &react["target"]),
            (&json!("react"), &json!(true), &alice_user, &bob_user, &json!(id))
        );
    }
    bob.request(json!({"type": "message", "to": "alice", "text": "what?", "reply_to": id}));
    let reply = next_event(&mut bob);
    assert_eq!((&reply["reply_to"], &reply["dm"]), (&json!(id), &json!(true)));
    next_event(&mut alice);
    // Not bob's to change; nothing there by a change's id or an unknown id; nobody by that name.
    let error = refused(
        &mut bob,
        json!({"type": "edit", "to": "alice", "id": id, "text": "x"}),
        "not_yours",
    );
    assert_eq!((&error["to"], &error["id"]), (&json!("alice"), &json!(id)));
    refused(&mut bob, json!({"type": "delete", "to": "alice", "id": id}), "not_yours");
    let error =
        refused(&mut alice, json!({"type": "delete", "to": "bob", "id": id + 1}), "not_found");
    assert_eq!((&error["to"], &error["id"]), (&json!("bob"), &json!(id + 1)));
    refused(&mut alice, json!({"type": "delete", "to": "bob", "id": 77}), "not_found");
    let error =
        refused(&mut alice, json!({"type": "delete", "to": "dave", "id": id}), "no_such_user");
    assert_eq!((&error["to"], &error["id"]), (&json!("dave"), &json!(id)));
    // The same id in another conversation (carol's with alice has none): not_found.
    refused(&mut alice, json!({"type": "delete", "to": "carol", "id": id}), "not_found");

    alice.request(json!({"type": "delete", "to": "bob", "id": id}));
    let delete = next_event(&mut alice);
    assert_eq!(
        (&delete["type"], &delete["target"], &delete["to"]),
        (&json!("delete"), &json!(id), &json!("bob"))
    );
    assert_eq!(next_event(&mut bob), delete);
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let folded = bob.next_of("history");
    assert_eq!(page(&folded).len(), 2, "{folded}");
    assert_eq!(page(&folded)[0]["deleted"], true);
    assert!(!folded.to_string().contains("psst"), "{folded}");
    assert_eq!(page(&folded)[1]["reply_to"], id);
}

#[test]
fn read_markers_reach_the_sessions_other_connections_only_and_never_go_back() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut alice_tab = server.joined(&format!("session={}", alice.session()));
    let mut bob = server.joined("name=bob");
    let mut last = 0;
    for text in ["one", "two", "three"] {
        last = said(&mut bob, "general", text);
        next_event(&mut alice);
        next_event(&mut alice_tab);
    }
    alice.request(json!({"type": "read", "room": "general", "id": last - 1}));
    assert_eq!(
        next_event(&mut alice_tab),
        json!({"type": "read", "room": "general", "id": last - 1})
    );
    // Not backwards, not the same again.
    alice.request(json!({"type": "read", "room": "general", "id": last - 2}));
    alice.request(json!({"type": "read", "room": "general", "id": last - 1}));
    // The sender and other sessions hear nothing of it.
    nothing_before(&mut [&mut bob, &mut alice, &mut alice_tab], "general", "four");
    last += 1;
    // Past the last id: stops at it.
    alice_tab.request(json!({"type": "read", "room": "general", "id": 1_000_000}));
    assert_eq!(next_event(&mut alice), json!({"type": "read", "room": "general", "id": last}));
    nothing_before(&mut [&mut bob, &mut alice, &mut alice_tab], "general", "five");

    // History carries the session's marker, on subscribe and on a new connection.
    assert_eq!(history(&mut alice, "general", None)["read"], last);
    let mut third = server.connect(&format!("/ws?session={}", alice.session()));
    assert_eq!(third.welcome()["read"], last);
    assert!(history(&mut bob, "general", None).get("read").is_none());

    // Private conversations: the same with dm.
    bob.request(json!({"type": "message", "to": "alice", "text": "dm"}));
    let dm = next_event(&mut bob)["id"].as_u64().unwrap();
    for client in [&mut alice, &mut alice_tab, &mut third] {
        assert_eq!(next_event(client)["id"], dm);
    }
    alice.request(json!({"type": "read", "dm": "bob", "id": dm}));
    for client in [&mut alice_tab, &mut third] {
        assert_eq!(
            next_event(client),
            json!({"type": "read", "dm": "bob", "user": bob.hello["user"], "id": dm})
        );
    }
    alice.request(json!({"type": "subscribe", "dm": "bob"}));
    assert_eq!(alice.next_of("history")["read"], dm);
    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    assert!(bob.next_of("history").get("read").is_none());
    refused(&mut alice, json!({"type": "read", "dm": "nobody", "id": 1}), "no_such_user");
    for id in [json!(-1), json!("3"), json!(null), json!(2.5)] {
        refused(&mut alice, json!({"type": "read", "room": "general", "id": id}), "bad_request");
    }
}

#[test]
fn edits_reactions_and_replies_count_against_the_message_rate_limit() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "2")]);
    let mut alice = server.joined("name=alice");
    let id = said(&mut alice, "general", "m");
    std::thread::sleep(Duration::from_millis(2100)); // the allowance fills up again
    // A burst of twice the rate passes, then `rate_limited`, with the room.
    for n in 0..6 {
        let request = match n % 3 {
            0 => json!({"type": "edit", "room": "general", "id": id, "text": format!("m{n}")}),
            1 => {
                json!({"type": "react", "room": "general", "id": id, "emoji": "👍", "on": n % 2 == 1})
            }
            _ => json!({"type": "message", "room": "general", "text": "re", "reply_to": id}),
        };
        alice.request(request);
    }
    let mut accepted = 0;
    loop {
        let event = next_event(&mut alice);
        if event["type"] == "error" {
            assert_eq!(
                (&event["code"], &event["room"], &event["id"]),
                (&json!("rate_limited"), &json!("general"), &json!(id))
            );
            break;
        }
        accepted += 1;
    }
    assert!(accepted <= 4, "the burst is twice the rate: {accepted}");
}

#[test]
fn a_folded_page_shows_each_message_as_it_is_and_a_resume_gets_every_entry() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let mut carol = server.joined("name=carol");
    let mut watcher = server.joined("name=watcher");
    let users = [&alice, &bob, &carol].map(|c| c.hello["user"].clone());
    let m1 = said(&mut alice, "general", "first");
    let m2 = said(&mut alice, "general", "second");
    for _ in 0..2 {
        next_event(&mut watcher);
    }
    // Each change once the one before was seen, so their order is known.
    let mut live = Vec::new();
    let mut turn = |client: &mut Client, request: Value| {
        client.request(request.clone());
        let event = next_event(&mut watcher);
        assert_eq!(event["user"], client.hello["user"], "{request}: {event}");
        live.push(event);
    };
    let react = |id: u64, emoji: &str, on: bool| json!({"type": "react", "room": "general", "id": id, "emoji": emoji, "on": on});
    turn(&mut bob, react(m1, "👍", true));
    turn(&mut alice, react(m1, "👍", true));
    turn(&mut carol, react(m1, "🎉", true));
    turn(&mut carol, react(m1, "👍", true));
    turn(&mut bob, react(m1, "👍", false));
    turn(&mut bob, react(m1, "👍", true));
    turn(&mut alice, json!({"type": "edit", "room": "general", "id": m1, "text": "first?"}));
    turn(&mut alice, json!({"type": "edit", "room": "general", "id": m1, "text": "first!"}));
    turn(&mut bob, react(m2, "😀", true));
    turn(&mut alice, json!({"type": "delete", "room": "general", "id": m2}));
    turn(&mut bob, json!({"type": "message", "room": "general", "text": "third", "reply_to": m1}));

    let mut newcomer = server.connect("/ws?name=dave");
    let folded = newcomer.welcome();
    assert_eq!(folded["complete"], true);
    let messages = page(&folded);
    assert_eq!(messages.len(), 3, "changes are not listed on their own: {folded}");
    let last_edit = &live[7];
    assert_eq!(
        messages[0],
        json!({"type": "message", "room": "general", "id": m1, "user": users[0], "name": "alice",
            "text": "first!", "edited": last_edit["ts"],
            "reactions": [
                {"emoji": "👍", "users": [users[0], users[2], users[1]]},
                {"emoji": "🎉", "users": [users[2]]},
            ],
            "ts": messages[0]["ts"]})
    );
    assert_eq!(
        messages[1],
        json!({"type": "message", "room": "general", "id": m2, "user": users[0], "name": "alice",
            "deleted": true, "ts": messages[1]["ts"]})
    );
    assert_eq!((&messages[2]["text"], &messages[2]["reply_to"]), (&json!("third"), &json!(m1)));

    // With since: every entry after it, as it was sent, in order.
    let epoch = folded["epoch"].clone();
    newcomer.request(json!({"type": "subscribe", "room": "general", "since": m2, "epoch": epoch}));
    let resumed = newcomer.next_of("history");
    assert_eq!(resumed["complete"], true);
    assert_eq!(page(&resumed), &live, "every entry after {m2}");
    newcomer.request(json!({"type": "subscribe", "room": "general", "since": 0, "epoch": epoch}));
    let all = newcomer.next_of("history");
    let ids: Vec<u64> = page(&all).iter().map(|e| e["id"].as_u64().unwrap()).collect();
    let expected: Vec<u64> =
        (m1..=m2).chain(live.iter().map(|e| e["id"].as_u64().unwrap())).collect();
    assert_eq!(ids, expected);
    assert_eq!(page(&all)[1]["deleted"], true, "the deleted message lost its text");
    assert_eq!(page(&all)[0]["text"], "first", "the first text, its edits after it");
}
