//! Kept-alive connections against the per-address limits and slowloris: a connection waiting
//! for its next request holds none of its address's handshakes (a browser's six idle connections
//! must not lock its household out), it is one of the address's connections
//! (`MAX_CONNECTIONS_PER_ADDRESS`) and of the server's (`MAX_CONNECTIONS`, with the WebSockets),
//! and a next request whose head trickles in is dropped `HANDSHAKE_TIMEOUT_SECS` after its first
//! byte, as a first request is.

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use websocketchat::net::close::is_timeout;

use crate::support::wire::{assert_no_panic, read_head};
use crate::support::{Server, Stream, loopback};

#[test]
fn idle_kept_alive_connections_do_not_hold_handshakes() {
    let server = Server::start_tls(&[("MAX_HANDSHAKES_PER_ADDRESS", "2")]);
    let household = loopback(31);
    // Two connections, answered and kept: as many as the address may have in their handshake.
    let mut idle: Vec<Stream> = (0..2).map(|_| server.stream_from(household)).collect();
    for stream in &mut idle {
        assert_eq!(connection_after(stream, "/"), "keep-alive");
    }
    // A third connection of the same address still gets through its handshake, twice over.
    for _ in 0..2 {
        let mut third = server.stream_from(household);
        assert_eq!(connection_after(&mut third, "/static/app.js"), "keep-alive");
    }
    // And the idle ones were kept, not closed: each answers its next request.
    for stream in &mut idle {
        assert_eq!(connection_after(stream, "/healthz"), "keep-alive");
    }
    assert_no_panic(&server);
}

#[test]
fn a_kept_alive_connection_is_one_of_its_addresss_connections() {
    // A quarter of MAX_CONNECTIONS=8: two connections per address, kept-alive or WebSockets.
    let server = Server::start(&[("MAX_CONNECTIONS", "8")]);
    let address = loopback(32);
    let mut kept: Vec<Stream> = (0..2).map(|_| server.stream_from(address)).collect();
    for stream in &mut kept {
        assert_eq!(connection_after(stream, "/"), "keep-alive");
    }
    // A third is answered, then closed: the address holds all its connections.
    let mut third = server.stream_from(address);
    assert_eq!(connection_after(&mut third, "/"), "close");
    // Nor may it open a WebSocket; another address may.
    match server.try_connect_from(address, "/ws?name=third") {
        Err(tungstenite::Error::Http(answer)) => assert_eq!(answer.status(), 429),
        other => panic!("expected a 429, got {:?}", other.map(|_| ())),
    }
    server.joined_from(loopback(33), "name=other");
    // A kept-alive connection that upgrades gives its place to its WebSocket.
    let url = server.ws_url("/ws?name=upgraded");
    let (ws, answer) = tungstenite::client::client(url.as_str(), kept.pop().unwrap()).unwrap();
    assert_eq!(answer.status(), 101);
    drop(ws);
    assert_no_panic(&server);
}

#[test]
fn kept_alive_connections_of_every_address_stay_within_max_connections() {
    // MAX_CONNECTIONS=4: one connection per address; one WebSocket leaves three to keep.
    let server = Server::start(&[("MAX_CONNECTIONS", "4")]);
    let _chat = server.joined_from(loopback(50), "name=chat");
    let mut kept: Vec<Stream> = (51..54).map(|n| server.stream_from(loopback(n))).collect();
    for stream in &mut kept {
        assert_eq!(connection_after(stream, "/"), "keep-alive");
    }
    let mut fifth = server.stream_from(loopback(54));
    assert_eq!(connection_after(&mut fifth, "/"), "close", "the server keeps no more");
    // One goes: its place is free again.
    drop(kept.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while connection_after(&mut server.stream_from(loopback(55)), "/") != "keep-alive" {
        assert!(Instant::now() < deadline, "the freed place never came back");
        thread::sleep(Duration::from_millis(50));
    }
    assert_no_panic(&server);
}

#[test]
fn a_trickled_second_head_is_dropped_at_the_handshake_timeout() {
    for server in [Server::start(&ENV), Server::start_tls(&ENV)] {
        let mut stream = server.stream_from(loopback(34));
        assert_eq!(connection_after(&mut stream, "/"), "keep-alive");
        // Idle for a while first: the head's deadline starts at its first byte.
        thread::sleep(Duration::from_secs(1));
        let started = Instant::now();
        stream.tcp().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let head = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
        let mut bytes = head.iter().copied().chain(std::iter::repeat(b'a'));
        let lasted = loop {
            let byte = bytes.next().unwrap();
            if stream.write_all(&[byte]).and_then(|()| stream.flush()).is_err() {
                break started.elapsed();
            }
            let mut buf = [0u8; 64];
            match stream.read(&mut buf) {
                Ok(0) => break started.elapsed(),
                Ok(n) => panic!("an unfinished head got {:?}", String::from_utf8_lossy(&buf[..n])),
                Err(e) if is_timeout(&e) => {}
                Err(_) => break started.elapsed(),
            }
            assert!(started.elapsed() < Duration::from_secs(12), "never dropped");
        };
        // HANDSHAKE_TIMEOUT_SECS=2 from the first byte, not KEEP_ALIVE_TIMEOUT_SECS=8.
        assert!(lasted >= Duration::from_millis(1900), "dropped early, after {lasted:?}");
        assert!(lasted < Duration::from_secs(5), "dropped late, after {lasted:?}");
        assert_no_panic(&server);
    }
}

/// The test servers' deadlines: 2 s for a head, 8 s of waiting for the next one.
const ENV: [(&str, &str); 2] = [("HANDSHAKE_TIMEOUT_SECS", "2"), ("KEEP_ALIVE_TIMEOUT_SECS", "8")];

/// Asks for `path` on `stream`, reads the whole answer (which must be a `200`) and returns its
/// `Connection` header.
fn connection_after(stream: &mut Stream, path: &str) -> String {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    stream.flush().unwrap();
    let (head, mut body) = read_head(stream);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{path}: {head}");
    let header = |name: &str| {
        head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let len: usize = header("Content-Length").unwrap().parse().unwrap();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "{path}: closed in the middle of the body");
        body.extend_from_slice(&chunk[..n]);
    }
    header("Connection").unwrap()
}
