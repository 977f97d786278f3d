//! Edits, deletions, reactions and read markers on two instances (issue 27).
//!
//! A change is checked by the instance its request reaches, against the history it holds, then
//! published to the conversation's partition; every instance applies the numbered record as it
//! comes, unchecked. So the two instances must agree on everything: the entries and their ids,
//! the folded pages, and the refusals, whichever instance a request reaches. Read markers go
//! through the claims topic instead, to the session's connections on the other instance, and
//! come back from it when an instance restarts.
//!
//! "Does not get" is checked without waiting for a silence where an order allows it: after the
//! event someone must not see, something they must see is sent on a road that comes after it,
//! and it has to come first.

use std::net::SocketAddr;

use serde_json::{Value, json};

use super::Topology;
use super::identity::{dm_when_known, welcomed_when_known};
use crate::support::Client;

/// alice (on ws1) edits her messages while bob (on ws2) reacts to them, each without waiting
/// for the other: both instances deliver the same entries, with the same ids, in one order, and
/// fold them into the same page.
#[test]
fn changes_from_both_instances_take_one_order_everywhere() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = welcomed(&topology, ws1, "name=alice");
    let mut bob = welcomed(&topology, ws2, "name=bob");
    alice.say("typo one");
    alice.say("typo two");
    let sent = alice.messages(2);
    assert_eq!(bob.messages(2), sent, "both instances numbered the messages alike");
    let (m1, m2) = (id(&sent[0]), id(&sent[1]));

    let reactions = [(m1, "👍"), (m2, "🎉"), (m1, "❤️")];
    for (round, (target, emoji)) in reactions.into_iter().enumerate() {
        alice.request(
            json!({"type": "edit", "room": "general", "id": m1, "text": format!("fixed {round}")}),
        );
        bob.request(
            json!({"type": "react", "room": "general", "id": target, "emoji": emoji, "on": true}),
        );
    }
    alice.request(json!({"type": "edit", "room": "general", "id": m2, "text": "two fixed"}));
    bob.request(json!({"type": "react", "room": "general", "id": m1, "emoji": "👍", "on": false}));

    let count = 8;
    let seen_by_alice = changes(&mut alice, count);
    let seen_by_bob = changes(&mut bob, count);
    assert_eq!(seen_by_alice, seen_by_bob, "the instances delivered other entries or orders");
    let ids: Vec<u64> = seen_by_alice.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
    assert!(ids[0] > m2, "changes are numbered after the messages: {ids:?}");
    // Each one's own requests in the order it sent them, whatever the interleaving.
    let alices: Vec<(&str, u64, &str)> = seen_by_alice
        .iter()
        .filter(|e| e["type"] == "edit")
        .map(|e| ("edit", target(e), e["text"].as_str().unwrap()))
        .collect();
    let edits = [(m1, "fixed 0"), (m1, "fixed 1"), (m1, "fixed 2"), (m2, "two fixed")];
    assert_eq!(alices, edits.map(|(t, text)| ("edit", t, text)));
    let bobs: Vec<(u64, &str, bool)> = seen_by_alice
        .iter()
        .filter(|e| e["type"] == "react")
        .map(|e| (target(e), e["emoji"].as_str().unwrap(), e["on"].as_bool().unwrap()))
        .collect();
    assert_eq!(bobs, [(m1, "👍", true), (m2, "🎉", true), (m1, "❤️", true), (m1, "👍", false)]);
    let bob_user = &bob.hello["user"];
    assert!(
        seen_by_alice.iter().filter(|e| e["type"] == "react").all(|e| e["user"] == *bob_user),
        "{seen_by_alice:?}"
    );

    // A newcomer on each instance gets the same folded page: the latest texts, the reactions
    // that remain, and no change listed on its own.
    let pages = [ws1, ws2].map(|addr| welcomed_history(&topology, addr, "name=newcomer"));
    assert_eq!(pages[0]["messages"], pages[1]["messages"], "the instances folded otherwise");
    let page = pages[0]["messages"].as_array().unwrap();
    assert_eq!(page.len(), 2, "only the messages: {page:?}");
    let last_edit = |of: u64| {
        let edit = seen_by_alice.iter().rfind(|e| e["type"] == "edit" && target(e) == of);
        edit.unwrap()["ts"].clone()
    };
    assert_eq!(page[0]["text"], "fixed 2");
    assert_eq!(page[0]["edited"], last_edit(m1));
    assert_eq!(page[0]["reactions"], json!([{"emoji": "❤️", "users": [bob_user]}]));
    assert_eq!(page[1]["text"], "two fixed");
    assert_eq!(page[1]["edited"], last_edit(m2));
    assert_eq!(page[1]["reactions"], json!([{"emoji": "🎉", "users": [bob_user]}]));
}

/// A client that was on ws1 goes away; edits, a deletion and a reaction happen on ws2; it
/// resumes with `since` and `epoch` through ws2 and gets exactly what it missed, in order, with
/// the ids the others saw live: the edit of the deleted message without its text.
#[test]
fn a_resume_through_the_other_instance_gets_the_missed_changes_in_order() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut carol = topology.connect(ws1, "name=carol");
    let epoch = carol.welcome()["epoch"].as_str().unwrap().to_string();
    let mut alice = welcomed(&topology, ws2, "name=alice");
    for text in ["one", "two", "three"] {
        alice.say(text);
    }
    let sent = alice.messages(3);
    assert_eq!(carol.messages(3), sent);
    let [m1, m2, m3] = [0, 1, 2].map(|i| id(&sent[i]));
    let carol_session = carol.session().to_string();
    drop(carol);

    alice.request(json!({"type": "edit", "room": "general", "id": m1, "text": "one fixed"}));
    alice.request(json!({"type": "edit", "room": "general", "id": m2, "text": "two fixed"}));
    alice.request(json!({"type": "delete", "room": "general", "id": m2}));
    alice.request(json!({"type": "react", "room": "general", "id": m3, "emoji": "🎉", "on": true}));
    // A message right behind the changes, and a change right behind it, without waiting: a
    // connection's messages and changes take one road (its broadcaster), so they keep the order
    // they were sent in, with Kafka as without.
    alice.say("four");
    alice.request(json!({"type": "edit", "room": "general", "id": m1, "text": "one again"}));
    let live: Vec<Value> = (0..6).map(|_| next_entry(&mut alice)).collect();
    let kinds: Vec<(&str, Option<u64>)> =
        live.iter().map(|e| (e["type"].as_str().unwrap(), e["target"].as_u64())).collect();
    let expected = [
        ("edit", Some(m1)),
        ("edit", Some(m2)),
        ("delete", Some(m2)),
        ("react", Some(m3)),
        ("message", None),
        ("edit", Some(m1)),
    ];
    assert_eq!(kinds, expected, "{live:?}");
    assert_eq!(live[4]["text"], "four");
    assert_eq!(live[5]["text"], "one again");

    let query = format!("session={}&since={m3}&epoch={epoch}", carol_session);
    let mut carol = topology.connect(ws2, &query);
    let history = carol.welcome();
    assert_eq!(history["complete"], true, "{history}");
    let resumed = history["messages"].as_array().unwrap();
    let key = |e: &Value| (e["type"].clone(), e["id"].clone(), e.get("target").cloned());
    assert_eq!(
        resumed.iter().map(key).collect::<Vec<_>>(),
        live.iter().map(key).collect::<Vec<_>>()
    );
    assert_eq!(resumed[0], live[0], "the edit of a message still there, as it was sent");
    assert!(
        resumed[1].get("text").is_none(),
        "the edit of a deleted message keeps no text: {}",
        resumed[1]
    );
    assert_eq!(resumed[2], live[2]);
    assert_eq!((&resumed[3]["emoji"], &resumed[3]["on"]), (&json!("🎉"), &json!(true)));
    assert_eq!(resumed[4..], live[4..]);
}

/// The author's session edits its message from either instance; anyone else gets `not_yours`
/// from either; a target that is no message kept there is `not_found` on either; and a deletion
/// said on ws1 empties the message on ws2's pages.
#[test]
fn refusals_are_alike_on_both_instances_and_a_deletion_empties_the_other_ones_page() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = welcomed(&topology, ws1, "name=alice");
    let mut bob = welcomed(&topology, ws2, "name=bob");
    let mut dave = welcomed(&topology, ws1, "name=dave");
    let mut alice2 = welcomed_when_known(&topology, ws2, &format!("session={}", alice.session()));
    alice.say("mine");
    let m = id(&alice.next_of("message"));
    for client in [&mut bob, &mut dave, &mut alice2] {
        assert_eq!(id(&client.next_of("message")), m);
    }

    // Someone else's message, from either instance.
    bob.request(json!({"type": "edit", "room": "general", "id": m, "text": "bob's now"}));
    refused(&mut bob, "not_yours", m);
    dave.request(json!({"type": "delete", "room": "general", "id": m}));
    refused(&mut dave, "not_yours", m);
    // The author's session on the other instance may.
    alice2.request(json!({"type": "edit", "room": "general", "id": m, "text": "mine, fixed"}));
    let edit = alice2.next_of("edit");
    assert_eq!((target(&edit), &edit["text"]), (m, &json!("mine, fixed")));
    let e = id(&edit);
    assert_eq!(alice.next_of("edit"), edit, "ws1 delivers ws2's edit alike");
    assert_eq!(bob.next_of("edit"), edit);
    assert_eq!(dave.next_of("edit"), edit);

    // No message kept with that id: never given, or a change's.
    bob.request(json!({"type": "edit", "room": "general", "id": 999_999, "text": "x"}));
    refused(&mut bob, "not_found", 999_999);
    dave.request(json!({"type": "react", "room": "general", "id": e, "emoji": "👍", "on": true}));
    refused(&mut dave, "not_found", e);
    bob.request(json!({"type": "message", "room": "general", "text": "re", "reply_to": e}));
    refused(&mut bob, "not_found", e);

    alice.request(json!({"type": "delete", "room": "general", "id": m}));
    let delete = bob.next_of("delete");
    assert_eq!((target(&delete), &delete["user"]), (m, &alice.hello["user"]), "{delete}");
    assert!(delete.get("text").is_none(), "{delete}");
    // Gone on ws2 too: a change to it is refused there, and its page has no text of it.
    bob.request(json!({"type": "react", "room": "general", "id": m, "emoji": "👍", "on": true}));
    refused(&mut bob, "not_found", m);
    let page = welcomed_history(&topology, ws2, "name=later");
    let messages = page["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "the changes are folded in: {page}");
    assert_eq!((id(&messages[0]), &messages[0]["deleted"]), (m, &json!(true)), "{page}");
    assert_eq!(messages[0]["user"], alice.hello["user"], "it keeps its sender");
    let text = page.to_string();
    assert!(!text.contains("mine"), "a deleted text on ws2's page: {text}");
}

/// One session with a connection on each instance: a marker moved on one is told to the other
/// (and not back), every new connection's `history` carries it on either instance, and a
/// restarted instance still knows it, read back from the claims topic.
#[test]
fn a_read_marker_reaches_the_sessions_other_instance_and_survives_a_restart() {
    let mut topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut tab1 = welcomed(&topology, ws1, "name=alice");
    let session = format!("session={}", tab1.session());
    let mut tab2 = welcomed_when_known(&topology, ws2, &session);
    for text in ["one", "two", "three"] {
        tab1.say(text);
    }
    let sent = tab1.messages(3);
    assert_eq!(tab2.messages(3), sent);
    let [m1, m2, m3] = [0, 1, 2].map(|i| id(&sent[i]));
    let before = welcomed_history(&topology, ws2, &session);
    assert!(before.get("read").is_none(), "no marker yet: {before}");

    tab1.request(json!({"type": "read", "room": "general", "id": m2}));
    assert_eq!(tab2.next_of("read"), json!({"type": "read", "room": "general", "id": m2}));
    // Back the other way; it is on the claims topic after ws1's own record, so when tab1 has
    // it, ws1 has applied its own record too, which must not have told tab1.
    tab2.request(json!({"type": "read", "room": "general", "id": m3}));
    let first_read = tab1.next_of("read");
    assert_eq!(
        first_read,
        json!({"type": "read", "room": "general", "id": m3}),
        "tab1 was told its own marker"
    );
    // An older id moves nothing: the marker stays.
    tab2.request(json!({"type": "read", "room": "general", "id": m1}));
    for addr in [ws1, ws2] {
        let history = welcomed_history(&topology, addr, &session);
        assert_eq!(history["read"], m3, "{addr}: {history}");
    }

    // ws1 restarts: the marker comes back from the claims topic before anyone is served.
    drop(tab1);
    topology.kill_instance(0);
    topology.start_instance(0);
    let mut again = welcomed_when_known(&topology, ws1, &session);
    again.request(json!({"type": "subscribe", "room": "general"}));
    let history = again.next_of("history");
    assert_eq!(history["read"], m3, "the marker after a restart: {history}");
    // And it goes on moving from there: a marker moved on the restarted instance reaches ws2.
    tab2.say("four");
    let m4 = id(&tab2.next_of("message"));
    let until = |client: &mut Client| loop {
        let event = client.next();
        if event["type"] == "message" && id(&event) == m4 {
            break;
        }
    };
    until(&mut again);
    again.request(json!({"type": "read", "room": "general", "id": m4}));
    assert_eq!(tab2.next_of("read"), json!({"type": "read", "room": "general", "id": m4}));
}

/// A private conversation across instances: alice (ws1) edits her message to bob (ws2), both
/// of bob's connections get it, bob cannot edit it but reacts to it, his marker there reaches
/// his other connection, and both instances fold the conversation alike.
#[test]
fn a_private_edit_crosses_instances() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = welcomed(&topology, ws1, "name=alice");
    let mut bob2 = welcomed(&topology, ws2, "name=bob");
    let mut bob1 = welcomed_when_known(&topology, ws1, &format!("session={}", bob2.session()));
    let sent = dm_when_known(&mut alice, "bob", "helo");
    let k = id(&sent);
    for bob in [&mut bob1, &mut bob2] {
        assert_eq!(id(&bob.next_of("message")), k);
    }

    alice.request(json!({"type": "edit", "to": "bob", "id": k, "text": "hello"}));
    let edit = alice.next_of("edit");
    assert_eq!((&edit["dm"], target(&edit), &edit["text"]), (&json!(true), k, &json!("hello")));
    assert_eq!((&edit["to"], &edit["to_user"]), (&json!("bob"), &bob2.hello["user"]));
    for bob in [&mut bob1, &mut bob2] {
        assert_eq!(bob.next_of("edit"), edit);
    }

    bob2.request(json!({"type": "edit", "to": "alice", "id": k, "text": "bob's now"}));
    let error = bob2.next_of("error");
    assert_eq!(
        (&error["code"], &error["to"], &error["id"]),
        (&json!("not_yours"), &json!("alice"), &json!(k)),
        "{error}"
    );
    bob2.request(json!({"type": "react", "to": "alice", "id": k, "emoji": "👋", "on": true}));
    let react = bob2.next_of("react");
    assert_eq!((target(&react), &react["emoji"], &react["dm"]), (k, &json!("👋"), &json!(true)));
    assert!(id(&react) > id(&edit), "{react}");
    assert_eq!(alice.next_of("react"), react);
    assert_eq!(bob1.next_of("react"), react);

    let r = id(&react);
    bob2.request(json!({"type": "read", "dm": "alice", "id": r}));
    let alice_user = &alice.hello["user"];
    assert_eq!(
        bob1.next_of("read"),
        json!({"type": "read", "dm": "alice", "user": alice_user, "id": r})
    );

    let page = |client: &mut Client, with: &str| {
        client.request(json!({"type": "subscribe", "dm": with}));
        client.next_of("history")
    };
    let seen_by_alice = page(&mut alice, "bob");
    let seen_by_bob = page(&mut bob2, "alice");
    assert_eq!(
        seen_by_alice["messages"], seen_by_bob["messages"],
        "the instances folded otherwise"
    );
    let messages = seen_by_bob["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{seen_by_bob}");
    assert_eq!((&messages[0]["text"], &messages[0]["edited"]), (&json!("hello"), &edit["ts"]));
    let reactions = json!([{"emoji": "👋", "users": [bob2.hello["user"]]}]);
    assert_eq!(messages[0]["reactions"], reactions);
    assert_eq!(seen_by_bob["read"], r, "bob's marker: {seen_by_bob}");
    assert!(seen_by_alice.get("read").is_none(), "bob's marker is his own: {seen_by_alice}");
    assert_eq!(page(&mut bob1, "alice")["read"], r, "on ws1 too");
}

/// A client at `addr` with `query`, past its welcome.
fn welcomed(topology: &Topology, addr: SocketAddr, query: &str) -> Client {
    let mut client = topology.connect(addr, query);
    client.welcome();
    client
}

/// The history a new connection at `addr` with `query` gets of the default room.
fn welcomed_history(topology: &Topology, addr: SocketAddr, query: &str) -> Value {
    topology.connect(addr, query).welcome()
}

/// The next `count` changes (edits, deletions, reactions), skipping other events.
fn changes(client: &mut Client, count: usize) -> Vec<Value> {
    let mut changes = Vec::with_capacity(count);
    while changes.len() < count {
        let event = client.next();
        if matches!(event["type"].as_str(), Some("edit" | "delete" | "react")) {
            changes.push(event);
        }
    }
    changes
}

/// The next entry of a conversation's order (a message or a change), skipping other events.
fn next_entry(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if ENTRIES.contains(&event["type"].as_str().unwrap_or_default()) {
            return event;
        }
        assert_ne!(event["type"], "error", "{event}");
    }
}

/// Reads the error that refused the last request: `code`, naming general and `target`. No
/// entry may come before it: a refusal makes none.
fn refused(client: &mut Client, code: &str, target: u64) {
    let event = loop {
        let event = client.next();
        let kind = event["type"].as_str().unwrap_or_default();
        assert!(!ENTRIES.contains(&kind), "an entry before the refusal: {event}");
        if kind == "error" {
            break event;
        }
    };
    let got = (&event["code"], &event["room"], &event["id"]);
    assert_eq!(got, (&json!(code), &json!("general"), &json!(target)), "{event}");
}

fn id(event: &Value) -> u64 {
    event["id"].as_u64().unwrap_or_else(|| panic!("no id in {event}"))
}

fn target(event: &Value) -> u64 {
    event["target"].as_u64().unwrap_or_else(|| panic!("no target in {event}"))
}

/// The types of a conversation's entries: a message and the changes to one.
const ENTRIES: [&str; 4] = ["message", "edit", "delete", "react"];

/// An operator (`OPERATORS`, the same on both instances) on ws1 deletes a message said on ws2:
/// checked where it asks, published, and shown on both as a deletion `by` it; its kick closes
/// the session's connections on both instances.
#[test]
fn an_operator_on_one_instance_deletes_a_message_said_on_the_other() {
    let mut topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let carol = welcomed(&topology, ws1, "name=carol");
    let (carol_id, session) =
        (carol.hello["user"].as_str().unwrap().to_string(), carol.session().to_string());
    drop(carol);
    // Her claim is on the topic once ws2 knows her session (a kill right after her connection
    // could otherwise cut it off before it was produced).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while welcomed(&topology, ws2, &format!("session={session}")).hello["name"] != "carol" {
        assert!(std::time::Instant::now() < deadline, "ws2 never learnt carol's session");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Made an operator as a deployer does: the id in OPERATORS, every instance restarted.
    topology.operators = carol_id;
    for i in 0..2 {
        topology.kill_instance(i);
        topology.start_instance(i);
    }
    let mut carol = welcomed(&topology, ws1, &format!("session={session}"));
    assert_eq!(carol.hello["op"], true, "{}", carol.hello);
    let mut bob = welcomed(&topology, ws2, "name=bob");
    bob.say("spam, spam, spam");
    let spam = next_entry(&mut bob);
    assert_eq!(next_entry(&mut carol)["id"], spam["id"]);
    carol.request(json!({"type": "delete", "room": "general", "id": spam["id"]}));
    for client in [&mut carol, &mut bob] {
        let deleted = next_entry(client);
        let got = (&deleted["type"], &deleted["target"], &deleted["by"], &deleted["op"]);
        assert_eq!(
            got,
            (&json!("delete"), &spam["id"], &json!("carol"), &json!(true)),
            "{deleted}"
        );
    }
    // Bob, no operator, may not do the same to carol's.
    carol.say("stay on topic");
    let note = next_entry(&mut carol);
    next_entry(&mut bob);
    bob.request(json!({"type": "delete", "room": "general", "id": note["id"]}));
    refused(&mut bob, "not_yours", id(&note));
    // A kick from ws1 closes bob's connections on ws2 too (the claims topic carries it).
    let mut bob_on_ws1 = welcomed(&topology, ws1, &format!("session={}", bob.session()));
    carol.request(json!({"type": "kick", "name": "bob", "reason": "spam"}));
    for client in [&mut bob, &mut bob_on_ws1] {
        assert_eq!(client.close_frame(), (4001, "kicked: spam".to_string()));
    }
}

/// A reaction given and taken back at once, and an edit undone at once: the instance checks the
/// second of each before the first has come back from the broker, so it must not judge it
/// "nothing to do" from what it holds; both end where their last request put them.
#[test]
fn a_change_undone_at_once_is_undone_on_every_instance() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice = welcomed(&topology, ws1, "name=alice");
    let mut bob = welcomed(&topology, ws2, "name=bob");
    alice.say("original");
    let m = id(&alice.messages(1)[0]);
    bob.messages(1);
    bob.request(json!({"type": "react", "room": "general", "id": m, "emoji": "👍", "on": true}));
    bob.request(json!({"type": "react", "room": "general", "id": m, "emoji": "👍", "on": false}));
    alice.request(json!({"type": "edit", "room": "general", "id": m, "text": "changed"}));
    alice.request(json!({"type": "edit", "room": "general", "id": m, "text": "original"}));
    changes(&mut alice, 4);
    changes(&mut bob, 4);
    for addr in [ws1, ws2] {
        let page = welcomed_history(&topology, addr, "name=newcomer");
        let message = &page["messages"][0];
        assert_eq!(message["text"], "original", "{page}");
        assert!(message.get("reactions").is_none(), "the reaction was taken back: {page}");
    }
}
