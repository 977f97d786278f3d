//! What nginx writes down and what it shows of the instances (issue 22, findings 4 and 13).
//!
//! nginx's error log writes a failed request's request line, query included, whenever an upstream
//! fails: exactly when an instance restarts and every client reconnects. So the page presents its
//! session in its first frame (`/ws?session_in=frame`), and nginx refuses a query that carries a
//! session before any upstream sees it. `/metrics` is not served to the internet, and `/healthz`
//! says healthy or not and nothing more.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use super::Topology;
use super::identity::welcomed_when_known;
use crate::support::{Client, https_status, tls_stream};

#[test]
fn nginx_logs_no_session_serves_no_counters_and_tells_only_the_health_status() {
    let mut topology = Topology::start();
    let nginx = topology.nginx_addr();
    let page = page_client(&topology, None);
    let session = page.session().to_string();
    let user = page.hello["user"].clone();
    // ws2 has learned the session (from the claims topic) before ws1 goes.
    let direct = format!("session={session}");
    drop(welcomed_when_known(&topology, topology.instance_addr(1), &direct));

    // ws1 dies. Clients reconnect through nginx, like the page (the session in the first
    // frame) and like websocat (the session in the query), until nginx has written down a
    // failed attempt on ws1 with its request line.
    topology.kill_instance(0);
    drop(page);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !topology.error_log().contains("while connecting to upstream") {
        assert!(Instant::now() < deadline, "no upstream failure logged: {}", topology.error_log());
        let again = page_client(&topology, Some(&session));
        assert_eq!(again.hello["user"], user, "the session in the first frame is the same person");
        let _ = upgrade(&topology, &format!("/ws?name=pat&session={session}"));
        thread::sleep(Duration::from_millis(200));
    }
    let log = topology.error_log();
    assert!(!log.contains(&session), "nginx's error log holds a session:\n{log}");
    assert!(log.contains("GET /ws?name=pat&session_in=frame"), "the request line is logged: {log}");
    assert!(!topology.access_log().contains(&session), "the access log holds a session");

    // A session in the query never reaches an instance, however its key is written.
    for query in [
        format!("session={session}"),
        format!("name=pat&%73ession={session}"),
        format!("name=pat&%73%65%73%73%69%6F%6E={session}&since=1"),
    ] {
        let answer = upgrade(&topology, &format!("/ws?{query}"));
        assert!(answer.starts_with("HTTP/1.1 400 "), "{query}: {answer}");
        assert!(answer.contains("session_in=frame"), "the refusal says what to do: {answer}");
    }
    let answer = upgrade(&topology, "/ws?name=pat&session_in=frame");
    assert!(answer.starts_with("HTTP/1.1 101 "), "{answer}");

    // The counters are the operators', and the health is a status alone.
    assert_eq!(https_status(nginx, "/metrics", &topology.cert()), Some(403));
    assert_eq!(https_status(topology.instance_addr(1), "/metrics", &topology.cert()), Some(200));
    let healthy = get(&topology, "/healthz");
    assert!(healthy.starts_with("HTTP/1.1 200 "), "{healthy}");
    assert_eq!(body(&healthy), "ok\n", "{healthy}");
    topology.kill_instance(1);
    let deadline = Instant::now() + Duration::from_secs(15);
    let unhealthy = loop {
        let answer = get(&topology, "/healthz");
        if answer.starts_with("HTTP/1.1 503 ") || Instant::now() > deadline {
            break answer;
        }
        thread::sleep(Duration::from_millis(200));
    };
    assert!(unhealthy.starts_with("HTTP/1.1 503 "), "{unhealthy}");
    assert_eq!(body(&unhealthy), "unavailable\n", "{unhealthy}");
}

/// A client through nginx as the page connects: `?session_in=frame`, then its session (or
/// `null`) in the first frame; welcomed.
fn page_client(topology: &Topology, session: Option<&str>) -> Client {
    let mut client = topology.connect(topology.nginx_addr(), "name=pat&session_in=frame");
    client.request(json!({"type": "session", "session": session}));
    client.welcome();
    client
}

/// Sends a WebSocket upgrade for `target` to nginx and returns the answer's head (and body, if
/// any).
fn upgrade(topology: &Topology, target: &str) -> String {
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    exchange(topology, &request)
}

/// `GET path` from nginx; the whole answer.
fn get(topology: &Topology, path: &str) -> String {
    exchange(
        topology,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"),
    )
}

/// Writes `request` and reads until the peer closes or goes quiet for a second (a `101` stays
/// open).
fn exchange(topology: &Topology, request: &str) -> String {
    let (addr, cert) = (topology.nginx_addr(), topology.cert());
    let tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut stream = tls_stream(tcp, &cert);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut buf) {
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// The body of an answer read whole.
fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}
