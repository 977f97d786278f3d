//! The store on disk (issue 22, findings 9 and 7). `HISTORY_DIR` holds private messages in
//! plain JSON, so it is `0700` and every file in it `0600` whatever the umask, and a folder that
//! is wider gets a warning at start. What belongs to a forgotten session leaves the disk with a
//! compaction that its forget makes due, and the store stays within its budget (docs/store.md,
//! "Budget": twice what the last compaction kept, or that plus 4 MiB, plus the copy a running
//! compaction writes).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Client, Server, fresh_dir};

#[test]
fn the_store_is_private_whatever_the_umask() {
    umask_022();
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.request(json!({"type": "message", "to": "bob", "text": "only for bob"}));
    assert_eq!(bob.next_of("message")["text"], "only for bob");
    alice.say("hello room");
    alice.next_of("message");
    let data = server.dir.join("data");
    assert_private(&data);

    // A repair at start rewrites the segment and moves the damaged bytes to a file of their own.
    server.kill();
    let segment = data.join("00000001.log");
    let mut bytes = fs::read(&segment).unwrap();
    bytes[10] ^= 0x20; // in the first record's payload, which is not the last
    fs::write(&segment, &bytes).unwrap();
    server.restart();
    assert!(server.log().contains("damaged"), "{}", server.log());
    let files = assert_private(&data);
    assert!(files.iter().any(|f| f.contains(".damaged-")), "{files:?}");
}

#[test]
fn a_store_folder_open_to_others_is_reported_at_start() {
    umask_022();
    let dir = fresh_dir();
    fs::create_dir(dir.join("data")).unwrap();
    fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_in(dir, &[]);
    let log = server.log();
    let warning = log.lines().find(|l| l.contains("WARN") && l.contains("chmod 700"));
    let warning = warning.unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(warning.contains("data") && warning.contains("755"), "{warning}");
    assert_eq!(mode(&server.dir.join("data")), 0o755, "the operator's folder is left as it is");
}

#[test]
fn private_messages_of_forgotten_sessions_leave_the_disk_and_the_store_keeps_its_budget() {
    umask_022();
    let env = [("NAME_RESERVE_SECS", "1"), ("HISTORY_SIZE", "5"), ("HISTORY_FSYNC", "off")];
    let server = Server::start(&env);
    let data = server.dir.join("data");
    let mut alice = server.joined("name=alice");
    let text = |n: usize| format!("{n:05}{}", "x".repeat(TEXT - 5));
    let mut largest = 0;
    let mut bobs = Vec::new();
    // 20 sessions, each written 60 private messages of 4 KB (4.9 MB in all), then gone.
    for i in 0..SESSIONS {
        let name = format!("bob{i}");
        let mut bob = server.joined(&format!("name={name}"));
        bob.request(json!({"type": "message", "to": "alice", "text": "hi"}));
        alice.next_of("message");
        for n in 0..60 {
            alice.request(json!({"type": "message", "to": name, "text": text(n)}));
            alice.next_of("message");
            bob.next_of("message");
            largest = largest.max(on_disk(&data));
        }
        bobs.push((name, bob.hello["user"].as_str().unwrap().to_string()));
    }
    for (name, _) in &bobs {
        forgotten(&mut alice, name);
    }
    // Room messages (HISTORY_SIZE of them kept) until a compaction that began after the
    // forgets has finished: the second to finish from now at the latest.
    let compactions = |server: &Server| server.log().matches("history: compacted to").count();
    let before = compactions(&server);
    for n in 0..5_000 {
        alice.say(&text(n));
        alice.next_of("message");
        largest = largest.max(on_disk(&data));
        let done = compactions(&server) - before;
        if done >= 2
            || done == 1 && !bobs.iter().any(|(_, user)| on_disk_text(&data).contains(user))
        {
            break;
        }
    }
    assert!(compactions(&server) > before, "no compaction: {}", server.log());

    let text_on_disk = on_disk_text(&data);
    for (name, user) in &bobs {
        assert!(!text_on_disk.contains(user), "{name}'s records are still on disk");
    }
    assert!(!text_on_disk.contains(r#""kind":"dm""#), "a private message is still on disk");
    // The compacted segment, the first, keeps alice's session and five room messages.
    let mut segments = segments(&data);
    segments.sort();
    let compacted = fs::metadata(&segments[0]).unwrap().len();
    assert!(compacted < 64 << 10, "{compacted} bytes compacted: {segments:?}");
    // At most, everything kept was alice's session, the room's five messages and the last five
    // of each conversation; the budget is twice that plus 4 MiB, plus a copy being written.
    let kept = (1 + SESSIONS) as u64 * 5 * (TEXT as u64 + 300);
    let budget = 3 * kept + (4 << 20);
    assert!(largest <= budget, "{largest} bytes on disk at most, against a budget of {budget}");
    assert_private(&data);
}

#[test]
fn a_forgotten_sessions_private_messages_leave_the_disk_however_little_it_grew() {
    let server = Server::start(&[("NAME_RESERVE_SECS", "1")]);
    let data = server.dir.join("data");
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.request(json!({"type": "message", "to": "bob", "text": "only for bob"}));
    assert_eq!(bob.next_of("message")["text"], "only for bob");
    let bob_user = bob.hello["user"].as_str().unwrap().to_string();
    assert!(on_disk_text(&data).contains("only for bob"));
    // bob leaves and is forgotten a second later; nobody writes anything after that.
    drop(bob);
    let deadline = Instant::now() + Duration::from_secs(10);
    while on_disk_text(&data).contains("only for bob") {
        assert!(Instant::now() < deadline, "still on disk: {}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!on_disk_text(&data).contains(&bob_user), "bob's session is gone from disk too");
    let alice_user = alice.hello["user"].as_str().unwrap();
    assert!(on_disk_text(&data).contains(alice_user), "alice's is kept");
}

/// Waits until `name` is forgotten: a private message to it is refused as `no_such_user`.
fn forgotten(alice: &mut Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        alice.request(json!({"type": "message", "to": name, "text": "still there?"}));
        let answer: Value = loop {
            let event = alice.next();
            if event["type"] == "error" || event["type"] == "message" {
                break event;
            }
        };
        if answer["code"] == "no_such_user" {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is never forgotten: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Bytes in the store's segments now (a compaction may be replacing them meanwhile).
fn on_disk(dir: &Path) -> u64 {
    let sizes = segments(dir).into_iter().filter_map(|path| fs::metadata(path).ok());
    sizes.map(|meta| meta.len()).sum()
}

/// The store's segments, as text (their records are JSON between binary headers).
fn on_disk_text(dir: &Path) -> String {
    let bytes = segments(dir).into_iter().filter_map(|path| fs::read(path).ok());
    bytes.map(|b| String::from_utf8_lossy(&b).into_owned()).collect()
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let entries = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path());
    entries.filter(|path| path.extension().is_some_and(|e| e == "log")).collect()
}

/// Sessions written to, then forgotten.
const SESSIONS: usize = 20;

/// Characters in each message written.
const TEXT: usize = 3900;

/// Checks that `dir` is `0700` and every file in it `0600`; returns their names.
pub fn assert_private(dir: &Path) -> Vec<String> {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|n| n == "LOCK"), "{names:?}");
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets the test process's umask, which the server inherits, to the usual `022`, under which a
/// file made without an explicit mode is readable by everyone. (The umask is the process's, but
/// every test here wants the same one.)
#[allow(unsafe_code)] // umask(2) has no safe wrapper in std; it cannot fail.
fn umask_022() {
    // SAFETY: umask only swaps the process's file mode creation mask.
    unsafe {
        libc::umask(0o022);
    }
}
