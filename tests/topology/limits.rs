//! Per-address limits behind nginx: the instances count each client by the `X-Forwarded-For`
//! entry nginx adds (`TRUSTED_PROXIES`), not by nginx's one address, on both instances. One
//! client address that makes new sessions through nginx as fast as it can is refused with `429`
//! and `Retry-After` on each instance once it had its `NEW_SESSIONS_PER_ADDRESS_PER_MIN`, while
//! another address behind the same nginx still gets in, and a forged `X-Forwarded-For` changes
//! nothing.

use std::io::{Read, Write};
use std::net::IpAddr;

use super::Topology;
use crate::support::{READ_TIMEOUT, loopback, tcp_from, tls_stream};

#[test]
fn each_client_behind_nginx_has_its_own_allowance_on_every_instance() {
    let topology = Topology::start();
    let (flooder, other) = (loopback(200), loopback(201));
    let mut upgraded = 0;
    let mut refused = 0;
    // Two instances, 60 new sessions a minute each: at most ~120 and a few seconds' refill, then
    // every answer is a 429 (nginx passes it on: it retries the next instance on errors, 502 and
    // 503 only). A forged X-Forwarded-For does not give the flooder another allowance.
    for n in 0..FLOOD {
        let forged = format!("X-Forwarded-For: 10.0.{}.{}\r\n", n / 250, n % 250);
        let answer = upgrade_from(&topology, flooder, &forged);
        match status(&answer) {
            101 => upgraded += 1,
            429 => {
                assert!(answer.contains("Retry-After: "), "{answer}");
                refused += 1;
            }
            other => panic!("answer {other}: {answer}"),
        }
    }
    assert!(upgraded <= 2 * 60 + 20, "{upgraded} new sessions for one client through nginx");
    assert!(refused >= FLOOD - 2 * 60 - 20, "only {refused} refusals");
    // Both instances refused it: each counts the same client.
    for i in 0..2 {
        let metrics = instance_metrics(&topology, i);
        let sample = "websocketchat_handshakes_refused_total{reason=\"sessions_per_address\"} ";
        let refused: u64 = metrics
            .lines()
            .find_map(|line| line.strip_prefix(sample))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {sample} in {metrics}"));
        assert!(refused > 0, "instance {i} never refused the flooder");
    }
    // Another client behind the same nginx: its own allowance, on both instances.
    for _ in 0..4 {
        let answer = upgrade_from(&topology, other, "");
        assert_eq!(status(&answer), 101, "{answer}");
    }
}

/// An upgrade to `/ws` through nginx from `source`, with `extra` headers; the answer's head.
fn upgrade_from(topology: &Topology, source: IpAddr, extra: &str) -> String {
    let tcp = tcp_from(source, topology.nginx_addr()).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut stream = tls_stream(tcp, &topology.cert());
    let request = format!(
        "GET /ws?name=flood HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// `/metrics` of instance `i`, asked directly (nginx does not serve it).
fn instance_metrics(topology: &Topology, i: usize) -> String {
    let tcp = std::net::TcpStream::connect(topology.instance_addr(i)).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut stream = tls_stream(tcp, &topology.cert());
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

fn status(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// Upgrades the flooder tries.
const FLOOD: usize = 200;
