//! One address against everyone else: however many connections, handshakes and rooms one client
//! address takes, it gets its share (`MAX_CONNECTIONS_PER_ADDRESS`, `MAX_HANDSHAKES_PER_ADDRESS`,
//! `MAX_ROOMS_PER_ADDRESS`, each at most a quarter of the server's total; past its handshakes a
//! connection waits in the handshake queue, of which it may have a quarter), a `429` with
//! `Retry-After` or an error event past it, and a second address still connects, chats, reads
//! `/healthz` and makes rooms. `/metrics` counts the refusals by reason.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::wire::{assert_no_panic, upgrade_head};
use crate::support::{Client, Server, loopback};

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

#[test]
fn one_address_gets_a_quarter_of_max_connections_and_a_429_past_it() {
    let server = Server::start(&[("MAX_CONNECTIONS", "50")]);
    let (attacker, other) = (loopback(1), loopback(2));
    let mut held: Vec<Client> = Vec::new();
    let answer = loop {
        match server.try_connect_from(attacker, "/ws?name=hog") {
            Ok(mut client) => {
                client.welcome();
                held.push(client);
            }
            Err(tungstenite::Error::Http(answer)) => break answer,
            Err(e) => panic!("expected a 429, got {e}"),
        }
        assert!(held.len() <= 50, "one address took every slot");
    };
    assert_eq!(held.len(), 12, "a quarter of MAX_CONNECTIONS=50");
    assert_eq!(answer.status(), 429);
    let retry: u64 = answer.headers()["Retry-After"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After: {retry}");
    // Everyone else still gets in.
    let mut bob = server.joined_from(other, "name=bob");
    bob.say("still here");
    assert_eq!(bob.next_of("message")["text"], "still here");
    // A closed connection gives its address its place back.
    let mut first = held.remove(0);
    first.ws.close(None).unwrap();
    assert_eq!(first.close_code(), 1000);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.try_connect_from(attacker, "/ws?name=again").is_err() {
        assert!(Instant::now() < deadline, "the freed place never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = "websocketchat_handshakes_refused_total{reason=\"connections_per_address\"}";
    assert!(server.metric(refused) >= 1);
    assert_no_panic(&server);
}

#[test]
fn idle_sockets_of_one_address_do_not_stop_healthz_or_the_page_for_others() {
    let server = Server::start(&[("MAX_CONNECTIONS", "50")]);
    let attacker = loopback(1);
    // 12 WebSockets (all this address may hold) and 256 sockets that never send a byte.
    let _held: Vec<Client> =
        (0..12).map(|i| server.joined_from(attacker, &format!("name=hog{i}"))).collect();
    let idle: Vec<TcpStream> = (0..256).map(|_| server.tcp_from(attacker)).collect();
    // Past its 16 handshakes and its 64 places in the handshake queue (a quarter of 256), the
    // address's sockets are closed at once; those in the queue when they have waited 5 s.
    let closed = idle.iter().filter(|tcp| is_closed_soon(tcp)).count();
    assert!(closed >= 256 - 16 - 64, "only {closed} of the idle sockets were closed");
    // Anyone else is served: /healthz, the page, a WebSocket.
    for n in 2..6 {
        let mut tcp = server.tcp_from(loopback(n));
        let path = if n % 2 == 0 { "/healthz" } else { "/" };
        write!(tcp, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr)
            .unwrap();
        let mut answer = String::new();
        tcp.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{path} from another address: {answer}");
    }
    server.joined_from(loopback(9), "name=bob");
    let refused = "websocketchat_handshakes_refused_total{reason=\"handshakes_per_address\"}";
    assert!(server.metric(refused) >= 170, "{}", server.metric(refused));
    drop(idle);
    assert_no_panic(&server);
}

#[test]
fn a_burst_past_the_handshakes_waits_for_one_instead_of_being_closed() {
    let server = Server::start(&[("MAX_HANDSHAKES_PER_ADDRESS", "2")]);
    let office = loopback(41);
    // Two connections in their handshake, silent: all the address may have.
    let silent: Vec<TcpStream> = (0..2).map(|_| server.tcp_from(office)).collect();
    std::thread::sleep(Duration::from_millis(200));
    // A third waits in the queue: not answered, not closed.
    let mut third = server.tcp_from(office);
    write!(third, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    assert!(!is_closed_soon(&third), "closed at once, or answered without a handshake");
    // One of the silent ones goes: the third has its handshake, and its answer.
    drop(silent);
    third.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    third.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let refused = "websocketchat_handshakes_refused_total{reason=\"handshakes_per_address\"}";
    assert_eq!(server.metric(refused), 0);
    assert_no_panic(&server);
}

/// True when the server closes `tcp` within half a second (the end of the stream, or a reset).
fn is_closed_soon(tcp: &TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let mut byte = [0u8; 1];
    match (&*tcp).read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => {
            !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
        }
    }
}

#[test]
fn one_address_makes_a_quarter_of_max_rooms_and_others_still_make_theirs() {
    let server = Server::start(&[("MAX_ROOMS", "20"), ("RATE_LIMIT_PER_SEC", "1000")]);
    let attacker = loopback(1);
    let mut hogs: Vec<Client> =
        (0..2).map(|i| server.joined_from(attacker, &format!("name=hog{i}"))).collect();
    let mut made = 0;
    let mut refused = 0;
    for (i, hog) in hogs.iter_mut().enumerate() {
        for r in 0..15 {
            hog.request(json!({"type": "subscribe", "room": format!("h{i}-{r}")}));
            let event = next_answer(hog);
            match event["type"].as_str() {
                Some("history") => made += 1,
                Some("error") => {
                    assert_eq!(event["code"], "too_many_rooms", "{event}");
                    let message = event["message"].as_str().unwrap();
                    assert!(message.contains("MAX_ROOMS_PER_ADDRESS"), "{message}");
                    refused += 1;
                }
                _ => panic!("{event}"),
            }
        }
    }
    assert_eq!(made, 5, "a quarter of MAX_ROOMS=20");
    assert_eq!(refused, 25);
    // Another address makes rooms of its own.
    let mut carol = server.joined_from(loopback(2), "name=carol");
    assert_eq!(carol.subscribe("book-club")["room"], "book-club");
    // The rooms an address made count while they have members: leaving gives them back.
    hogs[0].request(json!({"type": "unsubscribe", "room": "h0-0"}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        hogs[1].request(json!({"type": "subscribe", "room": "h1-late"}));
        if next_answer(&mut hogs[1])["type"] == "history" {
            break;
        }
        assert!(Instant::now() < deadline, "the room made by the address never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.metric("websocketchat_limited_total{reason=\"rooms_per_address\"}") >= 25);
}

/// The next `history` or `error` event (presence and room lists are skipped).
fn next_answer(client: &mut Client) -> serde_json::Value {
    loop {
        let event = client.next();
        if event["type"] == "history" || event["type"] == "error" {
            return event;
        }
    }
}

#[test]
fn new_sessions_are_limited_per_address_with_a_429_and_a_session_presented_still_gets_in() {
    let server = Server::start(&[("NEW_SESSIONS_PER_ADDRESS_PER_MIN", "5")]);
    let attacker = loopback(1);
    let mut alice = server.joined_from(attacker, "name=alice");
    let session = alice.session().to_string();
    alice.ws.close(None).unwrap();
    for i in 0..4 {
        server.joined_from(attacker, &format!("name=t{i}"));
    }
    // The sixth new session in the minute: 429 before the upgrade.
    let head = upgrade_head(&server, "/ws?name=t5", KEY);
    let mut tcp = server.tcp_from(attacker);
    tcp.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests"), "{answer}");
    assert!(answer.contains("Retry-After: "), "{answer}");
    // A session that is not one (well-formed, never given) is a new session too: refused with
    // an error event and close 1008 after the upgrade.
    let forged = "AAAAAAAAAAAAAAAAAAAAAA";
    let mut forger = server.connect_from(attacker, &format!("/ws?session={forged}"));
    let error = forger.next();
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str()),
        (Some("error"), Some("too_many_sessions"))
    );
    assert_eq!(forger.close_code(), 1008);
    // Alice's own session is no new one, and another address is not affected.
    let mut back = server.joined_from(attacker, &format!("session={session}"));
    assert_eq!(back.hello["name"], "alice");
    back.say("back");
    server.joined_from(loopback(2), "name=bob");
    let limited = "websocketchat_limited_total{reason=\"sessions_per_address\"}";
    assert_eq!(server.metric(limited), 1);
    assert_eq!(
        server.metric("websocketchat_handshakes_refused_total{reason=\"sessions_per_address\"}"),
        1
    );
}
