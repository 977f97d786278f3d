//! Durable history (issue 15): what a server run alone keeps in `HISTORY_DIR` survives SIGTERM
//! and SIGKILL; a torn or damaged log is repaired at start; a folder that another server holds
//! or that cannot be made stops the start; a message that cannot be written is refused rather
//! than delivered and then forgotten.
//!
//! The rule every test comes back to: nothing any client has received is ever lost.
//!
//! The tests that mount a filesystem need root, as CI has; elsewhere they fail and say so.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;

use crate::support::{Client, READ_TIMEOUT, Server, fresh_dir, history_texts, ids_and_texts};

#[test]
fn history_sessions_and_private_messages_survive_a_graceful_restart() {
    survives_a_restart(|server| assert!(server.terminate().success()));
}

#[test]
fn history_sessions_and_private_messages_survive_sigkill() {
    survives_a_restart(Server::kill);
}

/// Chats, stops the server with `stop`, starts it again in the same folder, and checks that
/// history, epoch, ids, sessions and a private conversation are all still there.
fn survives_a_restart(stop: impl FnOnce(&mut Server)) {
    let mut server = Server::start(&[]);
    let mut alice = server.connect("/ws?name=alice");
    let epoch = alice.welcome()["epoch"].as_str().unwrap().to_string();
    let mut bob = server.joined("name=bob");
    for text in ["one", "two", "three"] {
        alice.say(text);
    }
    assert_eq!(ids_and_texts(&bob.messages(3)).last(), Some(&(3, "three".to_string())));
    alice.messages(3);
    alice.request(json!({"type": "message", "to": "bob", "text": "private one"}));
    assert_eq!(bob.next_of("message")["text"], "private one");
    bob.request(json!({"type": "message", "to": "alice", "text": "private two"}));
    assert_eq!(bob.next_of("message")["text"], "private two");
    for _ in 0..2 {
        alice.next_of("message");
    }
    let (alice_session, alice_user) = (alice.session().to_string(), alice.hello["user"].clone());
    let (bob_session, bob_user) = (bob.session().to_string(), bob.hello["user"].clone());
    // bob leaves after message 3; what follows he will have to resume.
    drop(bob);
    alice.say("four");
    alice.say("five");
    assert_eq!(ids_and_texts(&alice.messages(2)), [(4, "four".into()), (5, "five".into())]);

    stop(&mut server);
    drop(alice);
    server.restart();

    let mut carol = server.connect("/ws?name=carol");
    let history = carol.welcome();
    assert_eq!(history["epoch"], epoch.as_str(), "the epoch stays: {history}");
    assert_eq!(history["complete"], true);
    assert_eq!(
        ids_and_texts(history["messages"].as_array().unwrap()),
        [(1, "one"), (2, "two"), (3, "three"), (4, "four"), (5, "five")]
            .map(|(id, text)| (id, text.to_string())),
    );

    let (alice, _) = back_with(&server, &format!("session={alice_session}"));
    assert_eq!((&alice.hello["name"], &alice.hello["user"]), (&json!("alice"), &alice_user));
    let (mut bob, missed) =
        back_with(&server, &format!("session={bob_session}&since=3&epoch={epoch}"));
    assert_eq!((&bob.hello["name"], &bob.hello["user"]), (&json!("bob"), &bob_user));
    assert_eq!(
        (history_texts(&missed), &missed["complete"]),
        (vec!["four", "five"], &json!(true)),
        "exactly what bob missed: {missed}"
    );

    bob.request(json!({"type": "subscribe", "dm": "alice"}));
    let private = bob.next_of("history");
    assert_eq!(history_texts(&private), ["private one", "private two"], "{private}");
    assert_eq!(private["complete"], true);

    // Ids go on from where they were.
    carol.say("six");
    let six = bob.next_of("message");
    assert_eq!((&six["id"], &six["text"]), (&json!(6), &json!("six")));
}

/// Connects with a session from before a restart and checks it was known (no
/// `session_expired` between the hello and the history); returns the client and its history.
fn back_with(server: &Server, query: &str) -> (Client, Value) {
    let mut client = server.connect(&format!("/ws?{query}"));
    client.hello = client.next();
    assert_eq!(client.hello["type"], "hello", "{}", client.hello);
    let history = client.next();
    assert_eq!(history["type"], "history", "the session is still known: {history}");
    (client, history)
}

/// The crash test of issue 15: four clients send all the time and a fifth only reads; the
/// server is killed with SIGKILL at a random moment, twenty times in a row. After every
/// restart a newcomer's history must hold every message any client received, once, in order,
/// with its id and epoch.
#[test]
fn nothing_a_client_received_is_lost_when_the_server_is_killed_twenty_times() {
    const KILLS: usize = 20;
    const SENDERS: usize = 4;
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let mut server = Server::start(&[
        ("HISTORY_SIZE", "100000"),
        ("RATE_LIMIT_PER_SEC", "100000"),
        // A newcomer's history is one frame of several MiB by the end.
        ("SEND_BUFFER_BYTES", "268435456"),
        ("LOG_LEVEL", "info"),
    ]);
    let epoch = newcomers_history(&server)["epoch"].as_str().unwrap().to_string();
    let mut received: BTreeMap<u64, String> = BTreeMap::new();
    let (mut sent, mut checked) = (0, 0);
    for run in 0..KILLS {
        assert!(started.elapsed() < limit, "{run} kills took {:?}", started.elapsed());
        // Everyone resumes after the last message anybody got, so their histories stay short.
        let since = received.keys().last().copied().unwrap_or(0);
        let clients: Vec<_> = (0..=SENDERS)
            .map(|i| {
                let query = format!("/ws?name=c{i}&since={since}&epoch={epoch}");
                let mut client = server.connect(&query);
                let history = client.welcome();
                assert_eq!(history["epoch"], epoch.as_str(), "{history}");
                let resumed = ids_and_texts(history["messages"].as_array().unwrap());
                let prefix = (i < SENDERS).then(|| format!("s{i}-{run}-"));
                thread::spawn(move || take_part(client, prefix, resumed))
            })
            .collect();
        thread::sleep(Duration::from_millis(100 + random_below(501)));
        server.kill();
        for client in clients {
            let part = client.join().expect("a client of the crash test failed");
            sent += part.sent;
            for (id, text) in part.received {
                let known = received.entry(id).or_insert_with(|| text.clone());
                assert_eq!(*known, text, "two clients got different messages as id {id}");
            }
        }
        server.restart();
        let history = newcomers_history(&server);
        assert_eq!(history["epoch"], epoch.as_str(), "after kill {}: {history}", run + 1);
        assert_eq!(history["complete"], true, "HISTORY_SIZE keeps everything");
        let kept = ids_and_texts(history["messages"].as_array().unwrap());
        assert!(kept.windows(2).all(|w| w[0].0 < w[1].0), "ids strictly increase");
        let texts: HashSet<&String> = kept.iter().map(|(_, text)| text).collect();
        assert_eq!(texts.len(), kept.len(), "no message is kept twice");
        let kept: BTreeMap<u64, String> = kept.into_iter().collect();
        let lost: Vec<(&u64, &String)> =
            received.iter().filter(|&(id, text)| kept.get(id) != Some(text)).collect();
        assert!(lost.is_empty(), "after kill {}, received but not kept: {lost:?}", run + 1);
        checked += received.len();
    }
    assert!(received.len() > KILLS * SENDERS, "too little traffic to mean anything: {received:?}");
    eprintln!(
        "crash test: {KILLS} SIGKILLs in {:.1} s, {sent} messages sent, {} received by some \
         client, {checked} checks of a received message against the history after a restart, \
         lost: 0",
        started.elapsed().as_secs_f64(),
        received.len(),
    );
}

/// What one client did in a run of the crash test.
struct Part {
    sent: usize,
    /// Every chat message it received, as (id, text), its resumed history's included.
    received: Vec<(u64, String)>,
}

/// One client's part in a run: with a `prefix` it sends a numbered message, then reads what
/// has arrived, over and over; without, it only reads. It stops when the server dies.
fn take_part(mut client: Client, prefix: Option<String>, resumed: Vec<(u64, String)>) -> Part {
    let mut part = Part { sent: 0, received: resumed };
    client.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(2))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(Instant::now() < deadline, "the server was not killed");
        if let Some(prefix) = &prefix {
            let text = format!("{prefix}{}", part.sent);
            let request = json!({"type": "message", "text": text}).to_string();
            if client.ws.send(Message::text(request)).is_err() {
                return part;
            }
            part.sent += 1;
        }
        loop {
            match client.ws.read() {
                Ok(Message::Text(text)) => {
                    let event: Value = serde_json::from_str(&text).unwrap();
                    match event["type"].as_str() {
                        Some("message") => part.received.extend(ids_and_texts([&event])),
                        Some("error") => panic!("a message was refused: {event}"),
                        _ => {}
                    }
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break;
                }
                // The server was killed.
                Err(_) => return part,
            }
        }
    }
}

/// The default room's history as a newcomer gets it.
fn newcomers_history(server: &Server) -> Value {
    server.connect("/ws?name=newcomer").welcome()
}

/// A number below `n`, different on every call (std's hasher keys are random).
fn random_below(n: u64) -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now()) % n
}

#[test]
fn the_log_is_compacted_to_what_is_kept_and_reads_back_the_same() {
    // 1,200 messages of 4,000 bytes: about 4.9 MB, past the 4 MiB a log grows before compaction.
    let mut server = Server::start(&[("HISTORY_SIZE", "5"), ("HISTORY_FSYNC", "off")]);
    let mut alice = server.joined("name=alice");
    let text = |n: usize| format!("{n:04}{}", "x".repeat(3996));
    let mut last = 0;
    for n in 0..1200 {
        alice.say(&text(n));
        last = alice.next_of("message")["id"].as_u64().unwrap();
    }
    let data = server.dir.join("data");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.log().contains("history: compacted to") {
        assert!(Instant::now() < deadline, "no compaction: {}", server.log());
        thread::sleep(Duration::from_millis(50));
    }
    let on_disk: u64 = segments(&data).iter().map(|s| fs::metadata(s).unwrap().len()).sum();
    assert!(on_disk < 1 << 20, "{on_disk} bytes on disk after compaction");

    server.kill();
    server.restart();
    let history = newcomers_history(&server);
    let texts: Vec<String> = (1195..1200).map(text).collect();
    assert_eq!(history_texts(&history), texts);
    let epoch = history["epoch"].as_str().unwrap();
    let (_, resumed) = back_with(&server, &format!("since={}&epoch={epoch}", last - 2));
    assert_eq!(history_texts(&resumed), texts[3..]);
    assert_eq!(resumed["complete"], true, "nothing after {} was dropped", last - 2);
    let (_, too_old) = back_with(&server, &format!("since={}&epoch={epoch}", last - 10));
    assert_eq!(too_old["complete"], false, "what came after {} is gone", last - 10);
    let mut bob = server.joined("name=bob");
    bob.say("after");
    assert_eq!(bob.next_of("message")["id"].as_u64(), Some(last + 1), "ids go on");
}

#[test]
fn a_room_forgotten_and_made_again_never_gives_an_id_twice_across_a_restart() {
    // MAX_ROOMS=2: two empty rooms are kept with their history; a third forgets the oldest.
    let mut server = Server::start(&[("MAX_ROOMS", "2")]);
    let mut alice = server.joined("name=alice");
    alice.subscribe("old");
    for text in ["one", "two", "three"] {
        alice.say_in("old", text);
        alice.next_of("message");
    }
    let epoch = alice.subscribe("old")["epoch"].as_str().unwrap().to_string();
    for room in ["old", "b", "c"] {
        if room != "old" {
            alice.subscribe(room);
        }
        alice.request(json!({"type": "unsubscribe", "room": room}));
    }
    // `old` was forgotten; made again, it starts above every id it gave.
    assert_eq!(history_texts(&alice.subscribe("old")), Vec::<&str>::new());
    alice.say_in("old", "four");
    assert_eq!(alice.next_of("message")["id"], 4);
    server.kill();
    server.restart();
    let mut bob = server.joined("name=bob");
    bob.request(json!({"type": "subscribe", "room": "old", "since": 2, "epoch": epoch}));
    let resumed = bob.next_of("history");
    assert_eq!(history_texts(&resumed), ["four"]);
    assert_eq!(resumed["complete"], false, "message 3 of the old room is gone");
    bob.say_in("old", "five");
    assert_eq!(bob.next_of("message")["id"], 5);
}

#[test]
fn a_torn_last_record_is_cut_off_and_everything_before_it_kept() {
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    for i in 1..=5 {
        alice.say(&format!("m{i}"));
    }
    alice.messages(5);
    server.kill();
    let segment = last_segment(&server.dir.join("data"));
    let records = records(&segment);
    let (torn, _) = records.last().unwrap();
    // A crash halfway through writing the last record: its last 3 bytes never arrived.
    let file = OpenOptions::new().write(true).open(&segment).unwrap();
    file.set_len(torn.end as u64 - 3).unwrap();
    server.restart();

    let log = server.log();
    assert!(log.lines().any(|l| l.contains("WARN") && l.contains("torn")), "{log}");
    let before: Vec<&str> = records[..records.len() - 1].iter().filter_map(chat_text).collect();
    assert!(before.starts_with(&["m1", "m2", "m3", "m4"]), "{before:?}");
    assert_eq!(history_texts(&newcomers_history(&server)), before);
}

#[test]
fn a_damaged_record_in_the_middle_is_moved_aside_and_the_rest_kept() {
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    for i in 1..=6 {
        alice.say(&format!("m{i}"));
    }
    alice.messages(6);
    server.kill();
    let data = server.dir.join("data");
    let segment = last_segment(&data);
    let (range, _) = records(&segment).into_iter().find(|r| chat_text(r) == Some("m3")).unwrap();
    let mut bytes = fs::read(&segment).unwrap();
    bytes[(range.start + range.end) / 2] ^= 0x20;
    fs::write(&segment, &bytes).unwrap();
    server.restart();

    let log = server.log();
    let damaged: Vec<&str> = log.lines().filter(|l| l.contains("damaged")).collect();
    assert!(damaged.len() == 1 && damaged[0].contains("ERROR"), "one error: {log}");
    let name = segment.file_name().unwrap().to_str().unwrap();
    let aside: Vec<String> = fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|file| file.starts_with(&format!("{name}.damaged-")))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged bytes are kept aside: {aside:?}");
    let history = newcomers_history(&server);
    assert_eq!(
        ids_and_texts(history["messages"].as_array().unwrap()),
        [(1, "m1"), (2, "m2"), (4, "m4"), (5, "m5"), (6, "m6")]
            .map(|(id, text)| (id, text.to_string())),
        "the records after the damage are kept, with their ids"
    );
    let mut alice = server.joined(&format!("session={}", alice.session()));
    alice.say("m7");
    assert_eq!(alice.next_of("message")["id"], 7);
}

#[test]
fn a_second_server_on_the_same_history_dir_exits_2() {
    let mut server = Server::start(&[]);
    let (status, stderr) = Server::start_failing(&server.dir, &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("HISTORY_DIR")).count(), 1, "{stderr}");
    // The first one serves on; once it is gone, even killed, the folder is free again.
    let mut alice = server.joined("name=alice");
    alice.say("still here");
    assert_eq!(alice.next_of("message")["text"], "still here");
    server.restart();
    assert_eq!(history_texts(&newcomers_history(&server)), ["still here"]);
}

#[test]
fn a_history_dir_that_cannot_be_created_exits_2() {
    let dir = fresh_dir();
    fs::write(dir.join("a-file"), "not a folder").unwrap();
    let (status, stderr) = Server::start_failing(&dir, &[("HISTORY_DIR", "a-file/history")]);
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.contains("HISTORY_DIR")).count(), 1, "{stderr}");
}

#[test]
fn history_dir_off_keeps_history_in_memory_only() {
    let mut server = Server::start(&[("HISTORY_DIR", "off")]);
    let mut alice = server.joined("name=alice");
    alice.say("gone after a restart");
    alice.next_of("message");
    assert_eq!(fs::read_dir(&server.dir).unwrap().count(), 0, "nothing is written");
    assert!(server.terminate().success());
    server.restart();
    assert_eq!(newcomers_history(&server)["messages"], json!([]));
}

#[test]
fn history_fsync_is_round_or_off() {
    let mut server = Server::start(&[("HISTORY_FSYNC", "off")]);
    let mut alice = server.joined("name=alice");
    alice.say("kept without a sync");
    alice.next_of("message");
    // Without syncs a graceful stop still leaves everything in the files.
    assert!(server.terminate().success());
    server.restart();
    assert_eq!(history_texts(&newcomers_history(&server)), ["kept without a sync"]);

    let (status, stderr) = Server::start_failing(&server.dir, &[("HISTORY_FSYNC", "sometimes")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("HISTORY_FSYNC") && stderr.contains("sometimes"), "{stderr}");
}

#[test]
fn a_full_disk_refuses_messages_until_there_is_room_again() {
    let mount = Mount::tmpfs("256k");
    let history_dir = mount.path.to_str().unwrap();
    let server = Server::start(&[("HISTORY_DIR", history_dir), ("MAX_MESSAGE_BYTES", "65536")]);
    let filler = mount.path.join("filler");
    refused_while_broken(
        &server,
        &mount.path,
        || fill(&filler),
        || fs::remove_file(&filler).unwrap(),
    );
}

/// Linux refuses `mount -o remount,ro` while a file on the mount is open for writing (EBUSY),
/// and a running server holds its segment open. What it meets instead is files it may no longer
/// write: the immutable attribute, which ext4 enforces on open files too (EPERM). tmpfs does
/// not enforce it on open files, hence the small ext4 image.
#[test]
fn an_unwritable_history_dir_refuses_messages_until_it_is_writable_again() {
    let mount = Mount::ext4_image(8);
    let history = mount.path.join("history");
    let server = Server::start(&[
        ("HISTORY_DIR", history.to_str().unwrap()),
        ("MAX_MESSAGE_BYTES", "65536"),
    ]);
    let chattr = |flag: &str| run("chattr", &["-R", flag, history.to_str().unwrap()]);
    refused_while_broken(&server, &history, || chattr("+i"), || chattr("-i"));
}

/// Two clients chat; `break_it` makes the history unwritable. A room message and a private
/// message are then refused to their sender with `not_delivered` and reach nobody, and
/// /healthz says why; after `repair` the next messages go out and /healthz is 200 again by
/// itself. The segments hold whole records only, and none of the refused ones.
fn refused_while_broken(
    server: &Server,
    history_dir: &Path,
    break_it: impl FnOnce(),
    repair: impl FnOnce(),
) {
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.say("before");
    assert_eq!(next_not_presence(&mut bob)["text"], "before");
    assert_eq!(next_not_presence(&mut alice)["text"], "before");

    break_it();
    // Larger than a page, so no slack at the end of a segment's last page can take it.
    let refused = format!("refused {}", "x".repeat(8000));
    alice.say(&refused);
    let error = next_not_presence(&mut alice);
    assert_eq!(
        (&error["type"], &error["code"], &error["room"]),
        (&json!("error"), &json!("not_delivered"), &json!("general")),
        "{error}"
    );
    alice.request(json!({"type": "message", "to": "bob", "text": refused}));
    let error = next_not_presence(&mut alice);
    assert_eq!(
        (&error["type"], &error["code"], &error["to"]),
        (&json!("error"), &json!("not_delivered"), &json!("bob")),
        "{error}"
    );
    assert!(error.get("room").is_none(), "{error}");
    let heard = events_within(&mut bob, Duration::from_millis(500));
    assert!(heard.iter().all(|e| e["type"] != "message"), "a refused message went out: {heard:?}");
    let health = server.get("/healthz");
    assert!(health.starts_with("HTTP/1.1 503 "), "{health}");
    assert!(health.contains(r#""reason":"history: "#), "{health}");

    repair();
    alice.say("after");
    assert_eq!(next_not_presence(&mut bob)["text"], "after");
    assert_eq!(next_not_presence(&mut alice)["text"], "after");
    alice.request(json!({"type": "message", "to": "bob", "text": "after, privately"}));
    assert_eq!(next_not_presence(&mut bob)["text"], "after, privately");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.get("/healthz").starts_with("HTTP/1.1 200 ") {
        assert!(Instant::now() < deadline, "/healthz stays 503: {}", server.get("/healthz"));
        thread::sleep(Duration::from_millis(50));
    }
    let kept: Vec<Value> = segments(history_dir)
        .iter()
        .flat_map(|segment| records(segment))
        .map(|(_, record)| record)
        .collect();
    assert!(kept.iter().any(|r| r.to_string().contains("after")), "{kept:?}");
    assert!(!kept.iter().any(|r| r.to_string().contains("refused")), "a refused record stayed");
}

/// The next event that is not about who is in a room.
fn next_not_presence(client: &mut Client) -> Value {
    loop {
        let event = client.next();
        if !matches!(event["type"].as_str(), Some("users" | "join" | "leave" | "presence")) {
            return event;
        }
    }
}

/// Every event `client` receives within `wait` (at least `wait` passes).
fn events_within(client: &mut Client, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut events = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let timeout = left.max(Duration::from_millis(1));
        client.ws.get_ref().tcp().set_read_timeout(Some(timeout)).unwrap();
        match client.ws.read() {
            Ok(Message::Text(text)) => events.push(serde_json::from_str(&text).unwrap()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("{e}"),
        }
    }
    client.ws.get_ref().tcp().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    events
}

/// Writes zeros into `path` until its filesystem is full (ENOSPC).
fn fill(path: &Path) {
    let mut file = File::create(path).unwrap();
    let page = [0; 4096];
    // 64 MiB at most: far more than the small filesystems these tests mount.
    for _ in 0..16_384 {
        match file.write(&page) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    panic!("{} never filled its filesystem", path.display());
}

/// The text of a record that is a chat message in the default room.
fn chat_text((_, record): &(Range<usize>, Value)) -> Option<&str> {
    if record["kind"] == "chat" && record["room"] == "general" {
        record["text"].as_str()
    } else {
        None
    }
}

/// The segment files of a history folder, in order.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    segments
}

/// The segment written last.
fn last_segment(dir: &Path) -> PathBuf {
    segments(dir).pop().unwrap_or_else(|| panic!("no segment in {}", dir.display()))
}

/// A segment's records, read by the layout of `store/append_log.rs` (u32 LE length, u32 LE CRC-32,
/// JSON payload): where each one lies in the file, and its payload. The file must be nothing
/// but whole records whose checksums hold.
fn records(segment: &Path) -> Vec<(Range<usize>, Value)> {
    let bytes = fs::read(segment).unwrap();
    let mut records = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        assert!(at + 8 <= bytes.len(), "a torn header at {at} in {}", segment.display());
        let end = at + 8 + word(at) as usize;
        assert!(end <= bytes.len(), "a torn record at {at} in {}", segment.display());
        let payload = &bytes[at + 8..end];
        let crc = websocketchat::store::crc::crc32(payload);
        assert_eq!(crc, word(at + 4), "a bad checksum at {at} in {}", segment.display());
        records.push((at..end, serde_json::from_slice(payload).unwrap()));
        at = end;
    }
    records
}

/// A filesystem mounted on a fresh folder for one test; unmounted and removed on drop, after
/// the server (declare it first, so it is dropped last).
struct Mount {
    path: PathBuf,
    /// The image file behind a loop mount.
    image: Option<PathBuf>,
}

impl Mount {
    /// A tmpfs of `size` (`mount -o size=`), so it fills up quickly.
    fn tmpfs(size: &str) -> Mount {
        require_root();
        let mount = Mount { path: fresh_dir(), image: None };
        let size = format!("size={size}");
        run("mount", &["-t", "tmpfs", "-o", &size, "tmpfs", mount.path.to_str().unwrap()]);
        mount
    }

    /// An ext4 filesystem of `megabytes` in an image file, loop-mounted.
    fn ext4_image(megabytes: u64) -> Mount {
        require_root();
        let path = fresh_dir();
        let image = path.with_extension("img");
        File::create(&image).unwrap().set_len(megabytes << 20).unwrap();
        let mount = Mount { path, image: Some(image) };
        let image = mount.image.as_ref().unwrap().to_str().unwrap();
        run("mkfs.ext4", &["-q", "-F", image]);
        run("mount", &["-o", "loop", image, mount.path.to_str().unwrap()]);
        mount
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        let _ = fs::remove_dir(&self.path);
        if let Some(image) = &self.image {
            let _ = fs::remove_file(image);
        }
    }
}

/// Fails the test, saying why, unless it runs as root.
fn require_root() {
    let uid = websocketchat::net::tls::current_uid().unwrap();
    assert_eq!(uid, 0, "this test mounts a filesystem and needs root (CI runs it as root)");
}

/// Runs a command that must succeed.
fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}
