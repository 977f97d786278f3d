//! Changes to messages are durable (issue 27): edits, deletions, reactions, replies and read
//! markers come back after SIGTERM and after SIGKILL, and a deleted text leaves the store's
//! files with the next compaction.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, Server, next_event, own};

#[test]
fn changes_and_read_markers_survive_a_graceful_restart() {
    survive(|server| assert!(server.terminate().success()));
}

#[test]
fn changes_and_read_markers_survive_sigkill() {
    survive(Server::kill);
}

/// Makes every kind of change and a read marker in a room and in a private conversation, stops
/// the server with `stop`, and checks that the folded pages, the `since` pages and the markers
/// after the restart are those from before it.
fn survive(stop: impl FnOnce(&mut Server)) {
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut alice_tab = server.joined(&format!("session={}", alice.session()));
    let mut bob = server.joined("name=bob");
    let alice_session = alice.session().to_string();
    let m1 = said(&mut alice, "general", "first");
    let m2 = said(&mut alice, "general", "second");
    let react = |id: u64, emoji: &str, on: bool| json!({"type": "react", "room": "general", "id": id, "emoji": emoji, "on": on});
    let steps = [
        (BOB, react(m1, "👍", true)),
        (ALICE, react(m1, "👍", true)),
        (BOB, react(m2, "🎉", true)),
        (ALICE, json!({"type": "edit", "room": "general", "id": m1, "text": "first!"})),
        (ALICE, json!({"type": "delete", "room": "general", "id": m2})),
        (BOB, json!({"type": "message", "room": "general", "text": "re", "reply_to": m1})),
        (BOB, json!({"type": "message", "to": "alice", "text": "private"})),
    ];
    let mut dm = 0;
    for (by, request) in steps {
        let client = if by == BOB { &mut bob } else { &mut alice };
        client.request(request.clone());
        dm = own(client, request["type"].as_str().unwrap())["id"].as_u64().unwrap();
    }
    bob.request(json!({"type": "edit", "to": "alice", "id": dm, "text": "private!"}));
    own(&mut bob, "edit");
    let last = said(&mut bob, "general", "last");
    alice.request(json!({"type": "read", "room": "general", "id": last}));
    alice.request(json!({"type": "read", "dm": "bob", "id": dm}));
    // Once the session's other tab heard of both markers, they are durable.
    let mut reads = Vec::new();
    while reads.len() < 2 {
        let event = next_event(&mut alice_tab);
        if event["type"] == "read" {
            reads.push(event);
        }
    }
    let before = pages(&server, &alice_session);
    assert_eq!(before.room_read, json!(last));
    assert_eq!(before.dm_read, json!(dm));

    stop(&mut server);
    drop((alice, alice_tab, bob));
    server.restart();
    let after = pages(&server, &alice_session);
    assert_eq!(after.folded, before.folded, "the folded page is the same");
    assert_eq!(after.entries, before.entries, "every entry is the same");
    assert_eq!(after.dm, before.dm, "the private conversation is the same");
    assert_eq!((after.room_read, after.dm_read), (json!(last), json!(dm)), "the markers stay");
    let folded = after.folded.as_array().unwrap();
    assert_eq!(folded[0]["text"], "first!");
    assert_eq!(folded[0]["reactions"][0]["users"].as_array().unwrap().len(), 2);
    assert_eq!((&folded[1]["deleted"], folded[1].get("text")), (&json!(true), None));
    assert_eq!(folded[2]["reply_to"], m1);
    assert_eq!(after.dm[0]["text"], "private!");
}

/// What alice's session sees after (re)connecting.
struct Pages {
    folded: Value,
    entries: Value,
    dm: Value,
    room_read: Value,
    dm_read: Value,
}

fn pages(server: &Server, session: &str) -> Pages {
    let mut alice = server.connect(&format!("/ws?session={session}"));
    let history = alice.welcome();
    assert_eq!(alice.hello["name"], "alice", "the session is known");
    let epoch = history["epoch"].clone();
    alice.request(json!({"type": "subscribe", "room": "general", "since": 0, "epoch": epoch}));
    let entries = alice.next_of("history");
    assert_eq!(entries["complete"], true);
    alice.request(json!({"type": "subscribe", "dm": "bob"}));
    let dm = alice.next_of("history");
    Pages {
        folded: history["messages"].clone(),
        entries: entries["messages"].clone(),
        dm: dm["messages"].clone(),
        room_read: history["read"].clone(),
        dm_read: dm["read"].clone(),
    }
}

#[test]
fn a_deleted_text_is_in_no_file_of_the_store_after_a_compaction() {
    let mut server = Server::start(&[("HISTORY_FSYNC", "off")]);
    let mut alice = server.joined("name=alice");
    alice.subscribe("secrets");
    let id = said(&mut alice, "secrets", "the secret text XYZZY");
    alice
        .request(json!({"type": "edit", "room": "secrets", "id": id, "text": "secret edit XYZZY"}));
    own(&mut alice, "edit");
    let react = json!({"type": "react", "room": "secrets", "id": id, "emoji": "👍", "on": true});
    alice.request(react);
    own(&mut alice, "react");
    let kept = said(&mut alice, "secrets", "not a secret");
    let data = server.dir.join("data");
    assert!(store_holds(&data, "XYZZY"), "the texts were written before the deletion");
    alice.request(json!({"type": "delete", "room": "secrets", "id": id}));
    let marker = own(&mut alice, "delete")["id"].clone();
    alice.request(json!({"type": "read", "room": "secrets", "id": marker}));

    // 1,200 messages of 4,000 bytes elsewhere: past the 4 MiB a log grows before compaction.
    let text = |n: usize| format!("{n:04}{}", "x".repeat(3996));
    for n in 0..1200 {
        alice.say(&text(n));
        alice.next_of("message");
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("history: compacted to") {
        assert!(Instant::now() < deadline, "no compaction: {}", server.log());
        thread::sleep(Duration::from_millis(50));
    }
    assert!(!store_holds(&data, "XYZZY"), "a deleted text is on disk after the compaction");
    assert!(store_holds(&data, "not a secret"), "what is kept is still there");

    server.kill();
    server.restart();
    let mut bob = server.joined("name=bob");
    let history = bob.subscribe("secrets");
    let messages = history["messages"].as_array().unwrap();
    assert_eq!(
        messages[0],
        json!({"type": "message", "room": "secrets", "id": id, "user": alice.hello["user"],
            "name": "alice", "deleted": true, "ts": messages[0]["ts"]})
    );
    assert_eq!((&messages[1]["id"], &messages[1]["text"]), (&json!(kept), &json!("not a secret")));
    // The read marker went through the compaction too.
    let mut again = server.joined(&format!("session={}", alice.session()));
    assert_eq!(again.subscribe("secrets")["read"], marker);
}

/// True when some file in the store's folder holds `needle`.
fn store_holds(dir: &Path, needle: &str) -> bool {
    fs::read_dir(dir).unwrap().any(|entry| {
        let bytes = fs::read(entry.unwrap().path()).unwrap_or_default();
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

/// `client` says `text` in `room` and reads it back: its id.
fn said(client: &mut Client, room: &str, text: &str) -> u64 {
    client.say_in(room, text);
    let event = own(client, "message");
    assert_eq!(event["text"], text, "{event}");
    event["id"].as_u64().unwrap()
}

/// Who makes a change, in a list of them.
const ALICE: usize = 0;
const BOB: usize = 1;
