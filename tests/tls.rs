//! The same chat over TLS (wss://, https://), with the self-signed certificate the server makes.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use crate::support::Server;

#[test]
fn chat_over_wss_with_a_generated_certificate() {
    let server = Server::start_tls(&[("HISTORY_SIZE", "3")]);
    assert!(server.dir.join("certs/cert.pem").exists());
    assert!(server.log().contains("self-signed certificate"));
    let mut alice = server.connect("/ws?name=alice");
    alice.welcome();
    let mut bob = server.connect("/ws?name=bob");
    bob.welcome();
    for i in 0..5 {
        alice.say(&format!("secret {i}"));
    }
    let got = bob.messages(5);
    assert_eq!(got[4]["text"], "secret 4");
    let mut late = server.connect("/ws?name=late&since=3");
    let history = late.welcome();
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
    assert_eq!(history["complete"], true);
}

#[test]
fn https_serves_the_page_and_closes_with_close_notify() {
    let server = Server::start_tls(&[]);
    let page = server.get("/");
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    assert!(page.contains("</html>"));
}

#[test]
fn large_messages_and_many_of_them_cross_tls_intact() {
    let server = Server::start_tls(&[("MAX_MESSAGE_BYTES", "65536")]);
    let mut a = server.connect("/ws?name=a");
    a.welcome();
    let mut b = server.connect("/ws?name=b");
    b.welcome();
    let big = "z".repeat(60_000);
    // 10 x 60 KB stays under SEND_BUFFER_BYTES for the readers that wait until the end.
    for _ in 0..10 {
        a.say(&big);
    }
    for m in b.messages(10) {
        assert_eq!(m["text"].as_str().unwrap().len(), 60_000);
    }
}

#[test]
fn plain_http_on_the_tls_port_gets_a_readable_400() {
    let server = Server::start_tls(&[]);
    let mut tcp = server.tcp();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");
    assert!(answer.contains("https://"));
}

#[test]
fn a_tls_client_that_says_nothing_is_dropped() {
    let server = Server::start_tls(&[("HANDSHAKE_TIMEOUT_SECS", "2")]);
    let mut silent = server.tcp();
    // A TLS record header and no more: the handshake never completes.
    silent.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let hanging = Instant::now();
    // Meanwhile others are served: this one connects while the silent one still hangs.
    let mut client = server.connect("/ws?name=ok");
    client.welcome();
    assert!(hanging.elapsed() < Duration::from_secs(2), "served only after the timeout");
    let mut buf = [0u8; 16];
    let got = silent.read(&mut buf);
    assert!(matches!(got, Ok(0)) || got.is_err_and(|e| e.kind() != std::io::ErrorKind::WouldBlock));
    // The server's deadline started at its accept, a moment before `hanging`.
    assert!(hanging.elapsed() >= Duration::from_millis(1500), "dropped before the timeout");
}
