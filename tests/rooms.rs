//! Rooms: several conversations on one connection, each with its own ids, history, users and
//! typing notices; the limits and the errors of docs/protocol.md's bad-input table.
//!
//! "Does not get" is checked without waiting for a silence: after the event someone must not
//! see, something they must see is sent, and it has to be the next thing they read.

use serde_json::{Value, json};
use tungstenite::Message;

use crate::support::{Client, Server, history_texts, loopback};

/// The next event that is not a presence notice (users, join, leave).
fn next_not_presence(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if !matches!(event["type"].as_str(), Some("users" | "join" | "leave")) {
            return event;
        }
    }
}

#[test]
fn each_room_is_its_own_conversation() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    let mut carol = server.joined("name=carol");

    let history = alice.subscribe("Rust");
    assert_eq!(
        (history["messages"].clone(), history["complete"].clone()),
        (json!([]), json!(true))
    );
    assert_eq!(alice.next(), json!({"type": "users", "room": "rust", "users": ["alice"]}));
    bob.subscribe("rust");
    assert_eq!(bob.next(), json!({"type": "users", "room": "rust", "users": ["alice", "bob"]}));
    assert_eq!(alice.next(), json!({"type": "users", "room": "rust", "users": ["alice", "bob"]}));
    let join = alice.next();
    assert_eq!(
        (join["type"].clone(), join["room"].clone(), join["name"].clone()),
        (json!("join"), json!("rust"), json!("bob"))
    );

    alice.say_in("rust", "about lifetimes");
    let at_bob = bob.next_of("message");
    assert_eq!((at_bob["room"].as_str(), at_bob["id"].as_u64()), (Some("rust"), Some(1)));
    assert_eq!(alice.next_of("message"), at_bob);
    // carol is only in general: the next message she reads is the general one, with its own id 1.
    alice.say("in general");
    let at_carol = next_not_presence(&mut carol);
    assert_eq!(
        (at_carol["room"].as_str(), at_carol["text"].as_str(), at_carol["id"].as_u64()),
        (Some("general"), Some("in general"), Some(1))
    );
    // Plain text goes to the default room too.
    bob.send(Message::text("plain"));
    assert_eq!(next_not_presence(&mut carol)["text"], "plain");

    // Leaving: the others get the new list and a leave; bob's messages to rust are refused.
    bob.request(json!({"type": "unsubscribe", "room": "rust"}));
    assert_eq!(
        alice.next_of("users"),
        json!({"type": "users", "room": "rust", "users": ["alice"]})
    );
    let leave = alice.next();
    assert_eq!(
        (leave["type"].as_str(), leave["room"].as_str(), leave["name"].as_str()),
        (Some("leave"), Some("rust"), Some("bob"))
    );
    bob.say_in("rust", "still here?");
    let error = bob.next_of("error");
    assert_eq!(
        (error["code"].as_str(), error["room"].as_str()),
        (Some("not_subscribed"), Some("rust")),
        "{error}"
    );
}

#[test]
fn a_room_resumes_where_the_client_left_off_and_keeps_its_history_when_empty() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    alice.subscribe("go");
    alice.say_in("go", "one");
    let one = alice.next_of("message");
    let epoch = alice.subscribe("go")["epoch"].as_str().unwrap().to_string();
    drop(alice);

    // bob says two more while alice is away, and leaves: the room is empty but keeps them.
    let mut bob = server.joined("name=bob");
    assert_eq!(bob.subscribe("go")["messages"].as_array().unwrap().len(), 1);
    bob.say_in("go", "two");
    bob.say_in("go", "three");
    bob.messages(2);
    bob.request(json!({"type": "unsubscribe", "room": "go"}));
    drop(bob);

    let mut alice = server.joined("name=alice");
    let since = one["id"].as_u64().unwrap();
    alice.request(json!({"type": "subscribe", "room": "go", "since": since, "epoch": epoch}));
    let history = alice.next_of("history");
    let texts = history_texts(&history);
    assert_eq!((texts, history["complete"].as_bool()), (vec!["two", "three"], Some(true)));
    // Another epoch cannot be matched: everything kept, marked incomplete.
    alice.request(json!({"type": "subscribe", "room": "go", "since": since, "epoch": "other"}));
    let history = alice.next_of("history");
    assert_eq!(
        (history["messages"].as_array().unwrap().len(), history["complete"].as_bool()),
        (3, Some(false))
    );
}

#[test]
fn typing_reaches_the_others_once_every_two_seconds() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.subscribe("rust");
    bob.subscribe("rust");
    alice.request(json!({"type": "typing", "room": "rust"}));
    alice.request(json!({"type": "typing", "room": "rust"}));
    alice.say_in("rust", "done typing");
    assert_eq!(
        next_not_presence(&mut bob),
        json!({"type": "typing", "room": "rust", "name": "alice", "user": alice.hello["user"]})
    );
    assert_eq!(next_not_presence(&mut bob)["text"], "done typing", "the second notice was dropped");
    assert_eq!(next_not_presence(&mut alice)["text"], "done typing", "no notice of one's own");
    // Typing where one is not is refused, the connection stays.
    alice.request(json!({"type": "typing", "room": "elsewhere"}));
    assert_eq!(next_not_presence(&mut alice)["code"], "not_subscribed");
}

#[test]
fn the_room_list_counts_nicknames_most_first() {
    let server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    // A second connection of one person (its session) counts once.
    let mut bob_again = server.connect(&format!("/ws?session={}", bob.session()));
    bob_again.welcome();
    assert_eq!(bob_again.hello["name"], "bob");
    alice.subscribe("rust");
    bob.subscribe("rust");
    bob_again.subscribe("rust");
    bob.subscribe("zig");
    alice.request(json!({"type": "rooms"}));
    let rooms = alice.next_of("rooms");
    assert_eq!(
        rooms["rooms"],
        json!([{"room": "general", "users": 2}, {"room": "rust", "users": 2}, {"room": "zig", "users": 1}])
    );
    bob.request(json!({"type": "unsubscribe", "room": "zig"}));
    bob.request(json!({"type": "rooms"}));
    assert_eq!(bob.next_of("rooms")["rooms"].as_array().unwrap().len(), 2);
}

#[test]
fn room_errors_never_close_the_connection() {
    let server = Server::start(&[("MAX_ROOMS_PER_CONNECTION", "2"), ("MAX_ROOMS", "3")]);
    // Two addresses: each may make a quarter of MAX_ROOMS (at least one) itself.
    let mut alice = server.joined_from(loopback(1), "name=alice");
    let code = |client: &mut Client| {
        let event = next_not_presence(client);
        assert_eq!(event["type"], "error", "{event}");
        (event["code"].as_str().unwrap().to_string(), event["room"].as_str().map(String::from))
    };
    alice.request(json!({"type": "subscribe", "room": "no spaces"}));
    assert_eq!(code(&mut alice), ("bad_room".into(), Some("no spaces".into())));
    alice.say_in("-dash", "x");
    assert_eq!(code(&mut alice), ("bad_room".into(), Some("-dash".into())));
    alice.request(json!({"type": "subscribe"}));
    assert_eq!(code(&mut alice).0, "bad_request");
    // general and a: two rooms on this connection; a third is refused.
    alice.subscribe("a");
    alice.request(json!({"type": "subscribe", "room": "b"}));
    assert_eq!(code(&mut alice), ("too_many_rooms".into(), Some("b".into())));
    // Subscribing twice is no error: the history again.
    assert_eq!(alice.subscribe("a")["room"], "a");
    // The instance has general, a and b: a fourth room with members is refused to anyone.
    let mut bob = server.joined_from(loopback(2), "name=bob");
    bob.subscribe("b");
    bob.request(json!({"type": "unsubscribe", "room": "general"}));
    bob.request(json!({"type": "subscribe", "room": "c"}));
    assert_eq!(code(&mut bob), ("too_many_rooms".into(), Some("c".into())));
    // Leaving the default room is allowed; then a message without a room has nowhere to go.
    bob.say("hello?");
    assert_eq!(code(&mut bob), ("not_subscribed".into(), Some("general".into())));
    // ... until b empties and c can be made.
    bob.request(json!({"type": "unsubscribe", "room": "b"}));
    assert_eq!(bob.subscribe("c")["complete"], true);
    bob.say_in("c", "still open");
    assert_eq!(bob.next_of("message")["text"], "still open");
}

#[test]
fn the_default_room_is_configurable() {
    let server = Server::start(&[("DEFAULT_ROOM", "Lobby")]);
    let mut alice = server.connect("/ws?name=alice");
    let hello = alice.next();
    assert_eq!(hello["default_room"], "lobby");
    assert_eq!(alice.next()["room"], "lobby");
    alice.say("hi");
    assert_eq!(alice.next_of("message")["room"], "lobby");
}

#[test]
fn requests_have_their_own_allowance_so_a_client_can_always_resubscribe() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "1"), ("MAX_ROOMS_PER_CONNECTION", "8")]);
    let mut alice = server.joined("name=alice");
    // Two messages use up the message burst of a 1-per-second limit...
    alice.say("one");
    alice.say("two");
    alice.say("three");
    assert_eq!(alice.next_of("error")["code"], "rate_limited");
    // ... and seven subscriptions at once still pass: rooms have an allowance of their own, of at
    // least one a second per room a connection may be in (a burst of twice that).
    for i in 0..7 {
        alice.request(json!({"type": "subscribe", "room": format!("r{i}")}));
    }
    for i in 0..7 {
        assert_eq!(alice.next_of("history")["room"], format!("r{i}"));
    }
    // A flood of requests is refused with the room it named, then closed like any flood.
    for _ in 0..60 {
        alice.request(json!({"type": "typing", "room": "r0"}));
    }
    let refused = alice.next_of("error");
    assert_eq!(
        (refused["code"].as_str(), refused["room"].as_str()),
        (Some("rate_limited"), Some("r0"))
    );
    assert_eq!(alice.close_code(), 1008);
}

#[test]
fn the_room_list_names_at_most_a_hundred_rooms() {
    let server = Server::start(&[]);
    // Seven clients in 15 rooms each besides general: 106 rooms with members.
    // From addresses of their own: one address makes at most MAX_ROOMS_PER_ADDRESS rooms.
    let mut clients: Vec<Client> =
        (0..7).map(|c| server.joined_from(loopback(c), &format!("name=u{c}"))).collect();
    for (c, client) in clients.iter_mut().enumerate() {
        for r in 0..15 {
            client.request(json!({"type": "subscribe", "room": format!("r{c}-{r}")}));
        }
        for _ in 0..15 {
            client.next_of("history");
        }
    }
    // The answer comes from the same broadcaster after every subscription above.
    clients[0].request(json!({"type": "rooms"}));
    let rooms = clients[0].next_of("rooms")["rooms"].clone();
    let rooms = rooms.as_array().unwrap();
    assert_eq!(rooms.len(), 100);
    assert_eq!(rooms[0], json!({"room": "general", "users": 7}), "most members first");
}
