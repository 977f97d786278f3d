//! A flood of throwaway sessions against the people who use theirs: however many sessions come
//! and go, a session that was used keeps its name and its private messages for its whole
//! `NAME_RESERVE_SECS`, so nobody can take alice's name and with it what bob writes to "alice".
//!
//! - At the default settings, one address opens and closes 100,000 connections: its new sessions
//!   are refused past `NEW_SESSIONS_PER_ADDRESS_PER_MIN` (429), and a second address still gets in.
//! - From many addresses, throwaway sessions overflow a small `MAX_RESERVED_NAMES`: pressure
//!   forgets throwaway sessions only, never alice.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::wire::{assert_no_panic, upgrade_head};
use crate::support::{Client, Server, loopback};

/// alice (from one address) speaks in the room and writes privately with bob (another), then
/// leaves: her session is used, and offline.
fn alice_and_bob(server: &Server) -> (String, Client) {
    let mut alice = server.joined_from(loopback(1), "name=alice");
    let mut bob = server.joined_from(loopback(2), "name=bob");
    alice.say("hello all");
    alice.request(json!({"type": "message", "to": "bob", "text": "see you later"}));
    assert_eq!(bob.next_of("message")["text"], "hello all");
    assert_eq!(bob.next_of("message")["text"], "see you later");
    let session = alice.session().to_string();
    alice.ws.close(None).unwrap();
    assert_eq!(alice.close_code(), 1000);
    (session, bob)
}

/// alice comes back with her session: her name, her conversation with bob, and what bob writes
/// to "alice" now reaches her; a newcomer asking for "alice" gets another name.
fn alice_kept_everything(server: &Server, session: &str, bob: &mut Client) {
    let mut alice = server.joined_from(loopback(1), &format!("session={session}"));
    assert_eq!(alice.hello["name"], "alice", "{}", alice.hello);
    alice.request(json!({"type": "subscribe", "dm": "bob"}));
    let history = alice.next_of("history");
    let texts: Vec<&str> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["see you later"], "{history}");
    let impostor = server.joined_from(loopback(3), "name=alice");
    assert_ne!(impostor.hello["name"], "alice", "{}", impostor.hello);
    bob.request(json!({"type": "message", "to": "alice", "text": "for alice only"}));
    let message = alice.next_of("message");
    assert_eq!(
        (message["text"].as_str(), message["dm"].as_bool()),
        (Some("for alice only"), Some(true))
    );
}

#[test]
fn a_hundred_thousand_throwaway_connections_from_one_address_take_nobody_s_name() {
    // The defaults: NEW_SESSIONS_PER_ADDRESS_PER_MIN=60, MAX_RESERVED_NAMES=100000.
    let server = Arc::new(Server::start(&[]));
    let (session, mut bob) = alice_and_bob(&server);
    let rss_before = server.rss_kib();
    let counts = || Arc::new(AtomicU64::new(0));
    let (upgraded, refused, closed) = (counts(), counts(), counts());
    let started = Instant::now();
    let deadline = started + FLOOD_TIME;
    let flooders: Vec<_> = (0..FLOODERS)
        .map(|_| {
            let (server, upgraded) = (server.clone(), upgraded.clone());
            let (refused, closed) = (refused.clone(), closed.clone());
            thread::spawn(move || {
                let head = upgrade_head(&server, "/ws?name=alice", KEY);
                for _ in 0..FLOOD / FLOODERS {
                    if Instant::now() > deadline {
                        break;
                    }
                    match throwaway(&server, &head) {
                        Answer::Upgraded => upgraded.fetch_add(1, Ordering::Relaxed),
                        Answer::TooMany => refused.fetch_add(1, Ordering::Relaxed),
                        Answer::Closed => closed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for flooder in flooders {
        flooder.join().unwrap();
    }
    let [upgraded, refused, closed] =
        [upgraded, refused, closed].map(|n| n.load(Ordering::Relaxed));
    let elapsed = started.elapsed();
    assert_eq!(
        upgraded + refused + closed,
        FLOOD,
        "the flood ran to its end within {FLOOD_TIME:?}"
    );
    let rss_after = server.rss_kib();
    eprintln!(
        "flood: {FLOOD} connections from one address in {elapsed:.1?}: {upgraded} upgraded, \
         {refused} refused with 429, {closed} closed past its handshakes; memory {rss_before} -> \
         {rss_after} KiB"
    );
    // One minute's allowance, and one a second as it drains.
    let allowed = 60 + elapsed.as_secs() + 1;
    assert!(upgraded <= allowed, "{upgraded} new sessions for one address in {elapsed:?}");
    assert!(rss_after < rss_before + 16 * 1024, "memory grew {rss_before} -> {rss_after} KiB");
    alice_kept_everything(&server, &session, &mut bob);
    server.joined_from(loopback(4), "name=dave");
    let limited = "websocketchat_handshakes_refused_total{reason=\"sessions_per_address\"}";
    assert_eq!(server.metric(limited), refused);
    assert_no_panic(&server);
}

#[test]
fn throwaway_sessions_from_many_addresses_never_push_out_a_used_one() {
    let server = Server::start(&[("MAX_RESERVED_NAMES", "20")]);
    let (session, mut bob) = alice_and_bob(&server);
    // 50 addresses, 20 throwaway sessions each: 1,000 against a table of 20.
    let head = upgrade_head(&server, "/ws?name=alice", KEY);
    for n in 0..50 {
        for _ in 0..20 {
            let mut tcp = server.tcp_from(loopback(100 + n));
            tcp.write_all(head.as_bytes()).unwrap();
            let mut answer = [0u8; 12];
            tcp.read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"HTTP/1.1 101", "{}", String::from_utf8_lossy(&answer));
        }
    }
    // The sweep runs once a second.
    thread::sleep(Duration::from_millis(2500));
    alice_kept_everything(&server, &session, &mut bob);
    assert_no_panic(&server);
}

enum Answer {
    Upgraded,
    TooMany,
    /// Closed unanswered: the address had `MAX_HANDSHAKES_PER_ADDRESS` connections in their
    /// handshake already, and its share of the handshake queue (the flood outran the server).
    Closed,
}

/// One throwaway connection: the upgrade request, the answer's status, and gone.
fn throwaway(server: &Server, head: &str) -> Answer {
    let mut tcp = server.tcp_from(FLOODER);
    let mut status = [0u8; 12];
    let answered = tcp.write_all(head.as_bytes()).and_then(|()| tcp.read_exact(&mut status));
    match (answered, &status) {
        (Err(e), _) if is_closed(&e) => Answer::Closed,
        (Err(e), _) => panic!("the flood's connection failed: {e}"),
        (Ok(()), b"HTTP/1.1 101") => Answer::Upgraded,
        (Ok(()), b"HTTP/1.1 429") => Answer::TooMany,
        (Ok(()), other) => panic!("unexpected answer {:?}", String::from_utf8_lossy(other)),
    }
}

fn is_closed(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
    matches!(e.kind(), ConnectionReset | UnexpectedEof | BrokenPipe)
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
/// The flooding address.
const FLOODER: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 66));
/// Connections in the flood, and the threads that open them.
const FLOOD: u64 = 100_000;
const FLOODERS: u64 = 4;
/// The flood ends by then, however far it got (the test then fails).
const FLOOD_TIME: Duration = Duration::from_secs(240);
