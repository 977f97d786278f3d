//! Slowloris: clients that hold a connection open in its handshake, sending a header byte a second,
//! or nothing at all after opening TCP, or half a TLS ClientHello. Each is dropped at
//! `HANDSHAKE_TIMEOUT_SECS` (the deadline covers the TLS handshake and the request head together),
//! and while they hang on, new clients connect and chat.

use std::io::{self, Read, Write};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;

use crate::pair::Pair;
use websocketchat::net::close::is_timeout;

use crate::support::wire::assert_no_panic;
use crate::support::{Server, Stream, loopback};

#[test]
fn slow_request_heads_are_dropped_at_the_handshake_timeout_while_others_chat() {
    let server = Server::start(&[("HANDSHAKE_TIMEOUT_SECS", TIMEOUT_SECS)]);
    let slow: Vec<_> = (0..PER_KIND).map(|_| trickle(&server)).collect();
    Pair::new(&server).still_chatting();
    for lasted in slow.into_iter().map(|h| h.join().unwrap()) {
        assert_dropped_at_the_timeout(lasted, "a header byte a second");
    }
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
    assert_no_panic(&server);
}

#[test]
fn silent_and_half_finished_tls_handshakes_are_dropped_while_others_chat() {
    let server = Server::start_tls(&[("HANDSHAKE_TIMEOUT_SECS", TIMEOUT_SECS)]);
    let mut hanging: Vec<(&str, JoinHandle<Duration>)> = Vec::new();
    for _ in 0..PER_KIND {
        hanging.push(("TCP open, TLS never started", silent(&server, &[])));
        hanging.push(("half a ClientHello", silent(&server, &half_a_client_hello())));
        // Inside TLS: the handshake completes, then the request head comes a byte a second.
        hanging.push(("a header byte a second inside TLS", trickle(&server)));
    }
    Pair::new(&server).still_chatting();
    for (kind, handle) in hanging {
        assert_dropped_at_the_timeout(handle.join().unwrap(), kind);
    }
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
    assert_no_panic(&server);
}

/// Each hanging client from an address of its own: one address may hold only
/// `MAX_HANDSHAKES_PER_ADDRESS` handshakes (tests/hostile/per_address.rs tests that limit).
fn next_address() -> std::net::IpAddr {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    loopback(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

/// A client that opens the connection, sends `bytes` and then nothing. Returns, from its thread,
/// how long the connection lasted.
fn silent(server: &Server, bytes: &[u8]) -> JoinHandle<Duration> {
    let start = Instant::now();
    let mut tcp = server.tcp_from(next_address());
    tcp.write_all(bytes).unwrap();
    thread::spawn(move || {
        let mut buf = [0u8; 64];
        match tcp.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => panic!("a silent client got an answer: {:?}", &buf[..n]),
            Err(e) => assert!(!is_timeout(&e), "not dropped within the read timeout"),
        }
        start.elapsed()
    })
}

/// A client that sends a request head one byte a second, and never finishes it (a TLS one when
/// the server has TLS). Returns, from its thread, how long the connection lasted.
fn trickle(server: &Server) -> JoinHandle<Duration> {
    let start = Instant::now();
    let mut stream = server.stream_from(next_address());
    stream.tcp().set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    thread::spawn(move || {
        let head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        let bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
        for byte in bytes.take(MAX_TRICKLE_SECS) {
            if stream.write_all(&[byte]).and_then(|()| stream.flush()).is_err() {
                return start.elapsed();
            }
            // The read timeout paces the bytes: one a second.
            match read_once(&mut stream) {
                Ok(()) => return start.elapsed(),
                Err(e) if is_timeout(&e) => {}
                Err(_) => return start.elapsed(),
            }
        }
        panic!("still connected after {MAX_TRICKLE_SECS} s of trickling")
    })
}

/// One read: `Ok` at end of file. Any byte is a failure: the head never ended, so there is
/// nothing to answer.
fn read_once(stream: &mut Stream) -> io::Result<()> {
    let mut buf = [0u8; 64];
    match stream.read(&mut buf)? {
        0 => Ok(()),
        n => panic!("a client that never finished its head got {:?}", &buf[..n]),
    }
}

/// The first half of the bytes a TLS client sends first (its ClientHello record).
fn half_a_client_hello() -> Vec<u8> {
    let config = websocketchat::net::tls::client_config(None).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut conn = rustls::ClientConnection::new(config, name).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    assert_eq!(hello[0], 0x16, "a handshake record");
    hello.truncate(hello.len() / 2);
    hello
}

fn assert_dropped_at_the_timeout(lasted: Duration, kind: &str) {
    let timeout = Duration::from_secs(TIMEOUT_SECS.parse().unwrap());
    // The server's deadline starts when it accepts, after the client started connecting.
    assert!(lasted + SLACK >= timeout, "{kind}: dropped early, after {lasted:?}");
    assert!(lasted <= timeout + LATE, "{kind}: dropped late, after {lasted:?}");
}

/// `HANDSHAKE_TIMEOUT_SECS` for these tests.
const TIMEOUT_SECS: &str = "2";
/// Hanging clients of each kind.
const PER_KIND: usize = 25;
/// Clock granularity.
const SLACK: Duration = Duration::from_millis(100);
/// Generous: only a hang, not a slow machine, should fail the test.
const LATE: Duration = Duration::from_secs(8);
/// How long a trickling client keeps going before it calls the server stuck.
const MAX_TRICKLE_SECS: usize = 15;
