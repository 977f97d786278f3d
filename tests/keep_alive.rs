//! Persistent connections (RFC 9112 §9.3) and revalidation (RFC 9110 §13.1.2): several requests
//! on one connection, over TCP and TLS; `Connection: close`, HTTP/1.0, the bound on requests per
//! connection and the idle timeout each end it; an upgrade may come as a later request; a module
//! the browser holds already is a `304`.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::wire::read_head;
use crate::support::{Server, Stream};

#[test]
fn two_requests_on_one_connection_are_both_answered() {
    for server in [Server::start(&[]), Server::start_tls(&[])] {
        let mut stream = server.stream();
        let first = ask(&mut stream, &server, "GET /healthz HTTP/1.1", "");
        assert!(first.head.starts_with("HTTP/1.1 200 OK"), "{}", first.head);
        assert_eq!(first.header("Connection"), Some("keep-alive"));
        assert_eq!(first.header("Keep-Alive"), Some("timeout=5"));
        let second = ask(&mut stream, &server, "GET /static/app.js HTTP/1.1", "");
        assert!(second.head.starts_with("HTTP/1.1 200 OK"), "{}", second.head);
        assert!(String::from_utf8_lossy(&second.body).contains("import"));
        let third = ask(&mut stream, &server, "HEAD / HTTP/1.1", "");
        assert!(third.head.starts_with("HTTP/1.1 200 OK") && third.body.is_empty());
        assert_eq!(third.header("Connection"), Some("keep-alive"));
    }
}

#[test]
fn connection_close_from_the_client_and_http_1_0_end_the_connection() {
    let server = Server::start(&[]);
    for (line, extra) in [
        ("GET / HTTP/1.1", "Connection: close\r\n"),
        ("GET / HTTP/1.0", ""),
        ("GET / HTTP/1.1", "Content-Length: 3\r\n"),
    ] {
        let mut stream = server.stream();
        let answer = ask(&mut stream, &server, line, extra);
        assert_eq!(answer.header("Connection"), Some("close"), "{line} {extra}");
        assert_closed(&mut stream, &format!("{line} {extra}"));
    }
    // HTTP/1.0 that asks for it is kept.
    let mut stream = server.stream();
    let answer = ask(&mut stream, &server, "GET / HTTP/1.0", "Connection: keep-alive\r\n");
    assert_eq!(answer.header("Connection"), Some("keep-alive"));
    assert!(ask(&mut stream, &server, "GET /healthz HTTP/1.0", "").head.contains(" 200 "));
}

#[test]
fn an_error_answer_closes_the_connection() {
    let server = Server::start(&[]);
    let mut stream = server.stream();
    ask(&mut stream, &server, "GET / HTTP/1.1", "");
    let refused = ask(&mut stream, &server, "GET /nope HTTP/1.1", "");
    assert!(refused.head.starts_with("HTTP/1.1 404"), "{}", refused.head);
    assert_eq!(refused.header("Connection"), Some("close"));
    assert_closed(&mut stream, "after a 404");
}

#[test]
fn a_connection_makes_at_most_keep_alive_requests_requests() {
    let server = Server::start(&[("KEEP_ALIVE_REQUESTS", "3")]);
    let mut stream = server.stream();
    for n in 1..=3 {
        let answer = ask(&mut stream, &server, "GET /healthz HTTP/1.1", "");
        assert!(answer.head.starts_with("HTTP/1.1 200 OK"), "request {n}: {}", answer.head);
        let expected = if n < 3 { "keep-alive" } else { "close" };
        assert_eq!(answer.header("Connection"), Some(expected), "request {n}");
    }
    assert_closed(&mut stream, "after the third request");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_its_timeout() {
    let server = Server::start_tls(&[("KEEP_ALIVE_TIMEOUT_SECS", "1")]);
    let mut stream = server.stream();
    let answer = ask(&mut stream, &server, "GET / HTTP/1.1", "");
    assert_eq!(answer.header("Keep-Alive"), Some("timeout=1"));
    let idle = Instant::now();
    assert_closed(&mut stream, "idle");
    let lasted = idle.elapsed();
    assert!(lasted >= Duration::from_millis(900), "closed early, after {lasted:?}");
    assert!(lasted < Duration::from_secs(4), "closed late, after {lasted:?}");
}

#[test]
fn a_websocket_upgrade_may_follow_other_requests_on_the_connection() {
    let server = Server::start(&[]);
    let mut stream = server.stream();
    ask(&mut stream, &server, "GET / HTTP/1.1", "");
    ask(&mut stream, &server, "GET /static/app.js HTTP/1.1", "");
    let url = server.ws_url("/ws?name=kept");
    let (ws, answer) = tungstenite::client::client(url.as_str(), stream).unwrap();
    assert_eq!(answer.status(), 101);
    let mut client = crate::support::Client { ws, hello: serde_json::Value::Null };
    client.welcome();
    client.say("after two requests");
    assert_eq!(client.next_of("message")["text"], "after two requests");
}

#[test]
fn a_module_the_browser_holds_is_a_304_without_its_bytes() {
    let server = Server::start_tls(&[]);
    let mut stream = server.stream();
    let first = ask(&mut stream, &server, "GET /static/app.js HTTP/1.1", "");
    let tag = first.header("ETag").expect("an ETag").to_string();
    assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 18, "{tag}");
    assert_eq!(first.header("Cache-Control"), Some("no-cache"));
    let again = ask(&mut stream, &server, "GET /static/app.js HTTP/1.1", &if_none_match(&tag));
    assert!(again.head.starts_with("HTTP/1.1 304 Not Modified"), "{}", again.head);
    assert_eq!((again.header("ETag"), again.header("Content-Length")), (Some(tag.as_str()), None));
    assert!(again.body.is_empty());
    assert_eq!(again.header("Connection"), Some("keep-alive"), "a 304 keeps the connection");
    // Another file's tag, or a stale one, gets the bytes.
    let other = ask(&mut stream, &server, "GET /static/dom.js HTTP/1.1", &if_none_match(&tag));
    assert!(other.head.starts_with("HTTP/1.1 200 OK"), "{}", other.head);
    assert_ne!(other.header("ETag"), Some(tag.as_str()));
    let page = ask(&mut stream, &server, "GET / HTTP/1.1", "");
    let weak = format!("W/{}", page.header("ETag").unwrap());
    let page_again = ask(&mut stream, &server, "GET / HTTP/1.1", &if_none_match(&weak));
    assert!(page_again.head.starts_with("HTTP/1.1 304"), "weak comparison: {}", page_again.head);
}

fn if_none_match(tag: &str) -> String {
    format!("If-None-Match: {tag}\r\n")
}

/// One HTTP answer: its head and its body (`Content-Length` bytes).
struct Answer {
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `line` (a request line) with `Host` and the header lines in `extra`, and reads one
/// answer, leaving the connection open.
fn ask(stream: &mut Stream, server: &Server, line: &str, extra: &str) -> Answer {
    write!(stream, "{line}\r\nHost: {}\r\n{extra}\r\n", server.addr).unwrap();
    stream.flush().unwrap();
    let (head, mut body) = read_head(stream);
    let len: usize = Answer { head: head.clone(), body: Vec::new() }
        .header("Content-Length")
        .map_or(0, |len| len.parse().unwrap());
    let len = if line.starts_with("HEAD ") { 0 } else { len };
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "closed in the middle of a body");
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body.len(), len, "bytes past the answer: {head}");
    Answer { head, body }
}

/// The server closes the connection: end of file (after `close_notify` over TLS).
fn assert_closed(stream: &mut Stream, what: &str) {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => {}
        other => panic!("{what}: the connection is still open: {other:?}"),
    }
}
