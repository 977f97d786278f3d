//! A segment crafted against recovery (issue 22, finding 11). Recovery looks for the next record
//! that reads well after damage; tried naively, offset by offset, each try checksums the
//! payload that offset's header claims. A region where every fourth byte starts a header whose
//! length reaches the end of the file makes that quadratic: 512 KiB took 40 s to start (release
//! build), 4 MiB would take 45 minutes. Recovery must read such a segment in one pass and keep
//! every record after the damage.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Server, history_texts};

/// A server that stored one message, `text`, then was killed: the server, the message as it
/// was sent, and the store's segment to damage before [`restarted`].
fn stopped_after(text: &str) -> (Server, Value, PathBuf) {
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    alice.say(text);
    let message = alice.next_of("message");
    server.kill();
    let segment = server.dir.join("data/00000001.log");
    (server, message, segment)
}

/// Starts `server` again; how long until it listened.
fn restarted(server: &mut Server) -> Duration {
    let started = Instant::now();
    server.restart();
    started.elapsed()
}

#[test]
fn a_crafted_segment_of_512_kib_starts_at_once_and_keeps_the_record_after_it() {
    let (mut server, before, segment) = stopped_after("before");
    let after = chat(&before, 2, "after");
    append(&segment, &[crafted(512 << 10, after.len()), after].concat());

    let took = restarted(&mut server);
    // Measured with the debug build: 0.1 to 0.4 s, against 12 minutes before (128 KiB took
    // 147 s, 256 KiB 215 s; the support's start gives up after 10 s).
    assert!(took < START_LIMIT, "took {took:?} to start");
    assert!(server.log().contains("524288 damaged bytes"), "{}", server.log());
    let history = server.joined("name=newcomer").subscribe("general");
    assert_eq!(history_texts(&history), ["before", "after"], "{history}");
}

#[test]
fn a_segment_of_512_kib_damaged_in_32_768_places_starts_at_once() {
    let (mut server, before, segment) = stopped_after("before");
    // Each place: a header claiming a record to the end of the segment, then a sound record
    // (an empty one), so the damage ends at once and starts again 8 bytes later.
    let after = chat(&before, 2, "after");
    let places = (512 << 10) / 16;
    let mut bytes = Vec::with_capacity(places * 16 + after.len());
    for i in 0..places {
        let to_end = (places - i) * 16 + after.len();
        bytes.extend_from_slice(&((to_end - 8) as u32).to_le_bytes());
        bytes.extend_from_slice(&[0xEE; 4]);
        bytes.extend_from_slice(&record(b""));
    }
    append(&segment, &[bytes, after].concat());

    let took = restarted(&mut server);
    // Measured with the debug build: 0.15 s, against 6.6 s before for 64 KiB of it (quadratic).
    assert!(took < START_LIMIT, "took {took:?} to start");
    let log = server.log();
    assert!(log.contains("262144 damaged bytes in 32768 place(s)"), "{log}");
    let history = server.joined("name=newcomer").subscribe("general");
    assert_eq!(history_texts(&history), ["before", "after"], "{history}");
}

#[test]
fn a_damaged_segment_of_64_mib_starts_in_seconds() {
    let (mut server, first, segment) = stopped_after("first");
    let mut bytes = fs::read(&segment).unwrap();
    let mut id = 1;
    while bytes.len() < 64 << 20 {
        id += 1;
        bytes.extend(chat(&first, id, &format!("{id:06}{}", "x".repeat(4000))));
    }
    // A flipped bit, a page of zeros (a lost write), and a crafted MiB.
    let n = bytes.len();
    bytes[n / 4] ^= 0x20;
    bytes[n / 2..n / 2 + 4096].fill(0);
    let last = chat(&first, id + 1, "last");
    let crafted = crafted(1 << 20, n - 3 * n / 4 - (1 << 20) + last.len());
    bytes[3 * n / 4..3 * n / 4 + crafted.len()].copy_from_slice(&crafted);
    bytes.extend(last);
    fs::write(&segment, &bytes).unwrap();

    let took = restarted(&mut server);
    // Measured with the debug build on a loaded machine: 4 s, against hours before.
    assert!(took < Duration::from_secs(9), "took {took:?} to start");
    assert!(server.log().contains("damaged bytes in 4 place(s)"), "{}", server.log());
    let history = server.joined("name=newcomer").subscribe("general");
    let texts = history_texts(&history);
    assert_eq!(texts.last(), Some(&"last"), "the records after the damage are kept");
    assert_eq!(history["messages"][0]["id"], id + 2 - texts.len() as u64, "in order, none lost");
}

/// `bytes` of damage that make a naive resync quadratic, for a segment that goes on for `tail`
/// more bytes after it: every 4-byte word is the length of a record that would end exactly at
/// the end of the segment, and the word after it, its checksum, is wrong.
fn crafted(bytes: usize, tail: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes);
    while out.len() < bytes {
        let to_end = bytes - out.len() + tail;
        let length = (to_end as u32).saturating_sub(8).min(MAX_RECORD);
        out.extend_from_slice(&length.to_le_bytes());
    }
    out
}

/// A chat record in the default room like `like` (a message event), with another id and text.
fn chat(like: &Value, id: u64, text: &str) -> Vec<u8> {
    let payload = json!({
        "kind": "chat", "room": "general", "id": id, "user": like["user"],
        "name": like["name"], "text": text, "ts": like["ts"],
    });
    record(payload.to_string().as_bytes())
}

/// A record as `store/append_log.rs` frames it: length, CRC-32, payload.
fn record(payload: &[u8]) -> Vec<u8> {
    let crc = websocketchat::store::crc::crc32(payload);
    [&(payload.len() as u32).to_le_bytes()[..], &crc.to_le_bytes(), payload].concat()
}

fn append(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
    assert!(fs::metadata(path).unwrap().len() > bytes.len() as u64);
}

/// The largest length a record may claim (`store/append_log.rs`).
const MAX_RECORD: u32 = 16 << 20;

/// How long a start may take, in the debug build the tests run.
const START_LIMIT: Duration = Duration::from_secs(5);
