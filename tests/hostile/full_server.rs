//! A full server: past `MAX_CONNECTIONS` open WebSockets an upgrade is answered `503`, the server
//! still answers HTTP, and a slot freed by a closed connection can be taken again, cycle after
//! cycle.

use std::time::{Duration, Instant};

use crate::support::wire::assert_no_panic;
use crate::support::{Client, Server, loopback};

#[test]
fn max_connections_answers_503_and_freed_slots_are_reused_cycle_after_cycle() {
    let server = Server::start(&[("MAX_CONNECTIONS", &MAX.to_string())]);
    let mut open: Vec<Client> = (0..MAX).map(|i| join(&server, i)).collect();
    for cycle in 1..=CYCLES {
        assert_refused_with_503(&server);
        // Full, yet HTTP is served.
        assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
        // Half leave with a close handshake; their slots free once the server is done with them.
        for mut client in open.drain(..MAX / 2) {
            client.ws.close(None).unwrap();
            assert_eq!(client.close_code(), 1000);
        }
        wait_for_open(&server, MAX - MAX / 2);
        open.extend((0..MAX / 2).map(|i| join(&server, cycle * MAX + i)));
    }
    assert_refused_with_503(&server);
    let refused = "websocketchat_handshakes_refused_total{reason=\"server_full\"}";
    assert_eq!(server.metric(refused), CYCLES as u64 + 1);
    assert_no_panic(&server);
}

/// Each client from an address of its own: one address may hold only a quarter of the server.
fn join(server: &Server, n: usize) -> Client {
    let mut client = server.connect_from(loopback(n as u32), &format!("/ws?name=user{n}"));
    client.welcome();
    client
}

fn assert_refused_with_503(server: &Server) {
    match server.try_connect_from(loopback(1000), "/ws?name=one-too-many") {
        Err(tungstenite::Error::Http(answer)) => assert_eq!(answer.status(), 503),
        Err(e) => panic!("expected a 503 answer, got {e}"),
        Ok(_) => panic!("a WebSocket past MAX_CONNECTIONS was accepted"),
    }
}

/// Waits (bounded) until `/healthz` counts `n` open WebSockets.
fn wait_for_open(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let expected = format!(r#""connections":{n}}}"#);
    loop {
        let health = server.get("/healthz");
        if health.ends_with(&expected) {
            return;
        }
        assert!(Instant::now() < deadline, "expected {expected}, got {health}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `MAX_CONNECTIONS` for this test.
const MAX: usize = 4;
/// Times the server is filled, refuses, and frees slots.
const CYCLES: usize = 3;
