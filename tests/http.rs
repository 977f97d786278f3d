//! HTTP before the upgrade: pages, health, metrics, and every refusal with its status.

use std::io::{Read, Write};
use std::time::Duration;

use crate::support::wire::upgrade_head;
use crate::support::{Server, loopback};

fn status(answer: &str) -> &str {
    answer.lines().next().unwrap_or("")
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
const V13: &str = "Sec-WebSocket-Version: 13\r\n";

#[test]
fn the_page_and_its_assets_are_served_with_their_types() {
    let server = Server::start(&[]);
    let page = server.get("/");
    assert_eq!(status(&page), "HTTP/1.1 200 OK");
    assert_eq!(header(&page, "Content-Type"), Some("text/html; charset=utf-8"));
    assert!(body(&page).contains("/static/app.js"));
    assert_eq!(header(&page, "Content-Length").unwrap(), body(&page).len().to_string());
    for (file, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ] {
        let answer = server.get(&format!("/static/{file}"));
        assert_eq!(status(&answer), "HTTP/1.1 200 OK", "{file}");
        assert_eq!(header(&answer, "Content-Type"), Some(kind), "{file}");
    }
}

#[test]
fn healthz_and_metrics() {
    let server = Server::start(&[]);
    let health = server.get("/healthz");
    assert_eq!(status(&health), "HTTP/1.1 200 OK");
    assert_eq!(header(&health, "Content-Type"), Some("application/json"));
    assert_eq!(body(&health), r#"{"status":"ok","connections":0}"#);

    let mut client = server.connect("/ws?name=probe");
    client.welcome();
    assert_eq!(body(&server.get("/healthz")), r#"{"status":"ok","connections":1}"#);
    let _ = server.get("/nope");
    let metrics = server.get("/metrics");
    assert!(header(&metrics, "Content-Type").unwrap().starts_with("text/plain; version=0.0.4"));
    for line in [
        "websocketchat_connections_open 1",
        "websocketchat_connections_total 1",
        "websocketchat_handshakes_refused_total{reason=\"not_found\"} 1",
        "websocketchat_clients_evicted_slow_total 0",
    ] {
        assert!(body(&metrics).contains(line), "{line} missing from\n{metrics}");
    }
}

#[test]
fn head_answers_headers_only() {
    let server = Server::start(&[]);
    let head = format!("HEAD / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr);
    let answer = server.http(&head);
    assert_eq!(status(&answer), "HTTP/1.1 200 OK");
    assert!(header(&answer, "Content-Length").unwrap().parse::<usize>().unwrap() > 100);
    assert_eq!(body(&answer), "");
}

#[test]
fn refusals_have_their_documented_status() {
    let server = Server::start(&[]);
    let host = server.addr;
    let cases: Vec<(String, &str)> = vec![
        (format!("GET /nope HTTP/1.1\r\nHost: {host}\r\n\r\n"), "404 Not Found"),
        (format!("GET /static/../Cargo.toml HTTP/1.1\r\nHost: {host}\r\n\r\n"), "404 Not Found"),
        (
            format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n"),
            "405 Method Not Allowed",
        ),
        (format!("DELETE /ws HTTP/1.1\r\nHost: {host}\r\n\r\n"), "405 Method Not Allowed"),
        ("this is not http\r\n\r\n".to_string(), "400 Bad Request"),
        (
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nX: {}\r\n\r\n", "a".repeat(9000)),
            "431 Request Header Fields Too Large",
        ),
        (format!("GET /ws HTTP/1.1\r\nHost: {host}\r\n\r\n"), "400 Bad Request"),
        (upgrade_head(&server, "/ws", KEY), "426 Upgrade Required"),
        (
            upgrade_head(&server, "/ws", &format!("{KEY}Sec-WebSocket-Version: 8\r\n")),
            "426 Upgrade Required",
        ),
        (upgrade_head(&server, "/ws", V13), "400 Bad Request"),
        (
            upgrade_head(&server, "/ws", &format!("{V13}Sec-WebSocket-Key: c2hvcnQ=\r\n")),
            "400 Bad Request",
        ),
        (
            upgrade_head(&server, "/ws", &format!("{KEY}{V13}Origin: https://evil.example\r\n")),
            "403 Forbidden",
        ),
        (
            format!(
                "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{KEY}{V13}\r\n"
            ),
            "400 Bad Request",
        ),
    ];
    for (request, expected) in cases {
        let answer = server.http(&request);
        assert_eq!(
            status(&answer),
            format!("HTTP/1.1 {expected}"),
            "for {:?}",
            &request[..request.len().min(80)]
        );
        let length: usize = header(&answer, "Content-Length").unwrap().parse().unwrap();
        assert_eq!(length, body(&answer).len());
        assert_eq!(header(&answer, "Connection"), Some("close"));
    }
    let answer = server.http(&upgrade_head(&server, "/ws", KEY));
    assert_eq!(header(&answer, "Sec-WebSocket-Version"), Some("13"));
    let answer = server.http(&format!("PUT / HTTP/1.1\r\nHost: {host}\r\n\r\n"));
    assert_eq!(header(&answer, "Allow"), Some("GET, HEAD"));
    // The server is still fine.
    assert_eq!(status(&server.get("/healthz")), "HTTP/1.1 200 OK");
}

#[test]
fn the_101_answer_follows_rfc_6455() {
    let server = Server::start(&[]);
    let mut tcp = server.tcp();
    let origin = format!("Origin: http://{}\r\n", server.addr);
    tcp.write_all(upgrade_head(&server, "/ws", &format!("{KEY}{V13}{origin}")).as_bytes()).unwrap();
    let mut answer = vec![0u8; 1024];
    let n = tcp.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{answer}");
    // RFC 6455 §1.3's example key and its accept value.
    assert!(answer.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{answer}");
}

/// Sends a request and returns the status line of the answer, without waiting for the end.
fn status_of(server: &Server, request: &str) -> String {
    let mut stream = server.stream();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = vec![0u8; 512];
    let n = stream.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).lines().next().unwrap_or("").to_string()
}

#[test]
fn allowed_origins_can_list_other_sites_or_allow_any() {
    let server = Server::start(&[("ALLOWED_ORIGINS", "https://chat.example")]);
    let listed =
        upgrade_head(&server, "/ws", &format!("{KEY}{V13}Origin: https://chat.example\r\n"));
    assert_eq!(status_of(&server, &listed), "HTTP/1.1 101 Switching Protocols");
    let same = format!("Origin: http://{}\r\n", server.addr);
    let answer = server.http(&upgrade_head(&server, "/ws", &format!("{KEY}{V13}{same}")));
    assert_eq!(status(&answer), "HTTP/1.1 403 Forbidden");

    let any = Server::start(&[("ALLOWED_ORIGINS", "*")]);
    let other = upgrade_head(&any, "/ws", &format!("{KEY}{V13}Origin: https://x.example\r\n"));
    assert_eq!(status_of(&any, &other), "HTTP/1.1 101 Switching Protocols");
}

#[test]
fn max_connections_is_enforced_and_freed_slots_are_reused() {
    let server = Server::start(&[("MAX_CONNECTIONS", "2")]);
    // Each from its own address: one address may hold only a quarter of MAX_CONNECTIONS (one).
    let mut a = server.connect_from(loopback(1), "/ws?name=a");
    let mut b = server.connect_from(loopback(2), "/ws?name=b");
    a.welcome();
    b.welcome();
    let refused = server.http(&upgrade_head(&server, "/ws", &format!("{KEY}{V13}")));
    assert_eq!(status(&refused), "HTTP/1.1 503 Service Unavailable");
    // /healthz still answers while full.
    assert!(server.get("/healthz").ends_with(r#"{"status":"ok","connections":2}"#));
    a.ws.close(None).unwrap();
    assert_eq!(a.close_code(), 1000);
    // The slot frees once the server has finished with the closed connection.
    let mut c = None;
    for _ in 0..100 {
        match server.try_connect_from(loopback(3), "/ws?name=c") {
            Ok(client) => {
                c = Some(client);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    c.expect("a freed slot is reusable").welcome();
}

#[test]
fn a_client_that_does_not_finish_its_request_is_dropped() {
    let server = Server::start(&[("HANDSHAKE_TIMEOUT_SECS", "1")]);
    let mut slow = server.tcp();
    slow.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let mut trickle = server.tcp();
    // One byte every 300 ms keeps each read short, but the deadline covers the whole head.
    for byte in b"GET / HTTP/1.1\r\nHost: x" {
        if trickle.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        // A healthy client is served meanwhile.
        if *byte == b'/' {
            assert!(server.get("/healthz").contains("200 OK"));
        }
    }
    let mut buf = [0u8; 64];
    assert_eq!(slow.read(&mut buf).unwrap(), 0, "the server closes a silent client");
    assert_eq!(trickle.read(&mut buf).unwrap_or(0), 0, "and a slow one");
}

#[test]
fn logs_name_the_forwarded_client_only_behind_a_trusted_proxy() {
    use tungstenite::client::IntoClientRequest;
    for (trusted, believed) in [("127.0.0.1", true), ("10.0.0.0/8", false)] {
        let server = Server::start(&[("TRUSTED_PROXIES", trusted)]);
        let mut request = server.ws_url("/ws?name=fwd").into_client_request().unwrap();
        let forwarded = "198.51.100.7, 203.0.113.9".parse().unwrap();
        request.headers_mut().insert("X-Forwarded-For", forwarded);
        let (ws, _) = tungstenite::client::client(request, server.stream()).unwrap();
        let mut client = crate::support::Client { ws, hello: serde_json::Value::Null };
        client.welcome();
        // The reader logs the connection before it reads its first frame.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !server.log().contains("fwd connected") {
            assert!(std::time::Instant::now() < deadline, "{}", server.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(server.log().contains("203.0.113.9 (via 127.0.0.1:"), believed, "{trusted}");
    }
}

/// A masked client text frame (RFC 6455 §5.2), short enough for the 7-bit length.
fn masked_text(text: &str) -> Vec<u8> {
    let mask = [0x37, 0xfa, 0x21, 0x3d];
    assert!(text.len() < 126);
    let mut frame = vec![0x81, 0x80 | text.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[test]
fn a_long_head_arriving_in_pieces_with_a_frame_right_behind_it() {
    let server = Server::start(&[]);
    let mut tcp = server.tcp();
    // 3 KB of headers: more than the first read's buffer, so it grows twice on the way.
    let padding = format!("X-Padding: {}\r\n", "p".repeat(3000));
    let mut bytes = upgrade_head(&server, "/ws", &format!("{KEY}{V13}{padding}")).into_bytes();
    let text = "sent in the same write as the end of the head";
    bytes.extend(masked_text(&format!(r#"{{"type":"message","text":"{text}"}}"#)));
    for piece in bytes.chunks(1400) {
        tcp.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert_eq!(status(&head), "HTTP/1.1 101 Switching Protocols");
    let mut ws =
        tungstenite::WebSocket::from_raw_socket(tcp, tungstenite::protocol::Role::Client, None);
    loop {
        let message = ws.read().expect("the chat message the frame carried");
        let Ok(text_frame) = message.to_text() else { continue };
        let event: serde_json::Value = serde_json::from_str(text_frame).unwrap();
        if event["type"] == "message" {
            assert_eq!(event["text"], text);
            break;
        }
    }
}
