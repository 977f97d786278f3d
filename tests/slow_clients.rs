//! A client that stops reading is closed with 1013 and costs the others nothing.

use std::time::Duration;

use socket2::{Domain, Socket, Type};
use tungstenite::Message;

use crate::support::{Client, READ_TIMEOUT, Server, Stream};

/// A client whose socket has a tiny receive buffer, so the server's queue fills quickly.
fn small_window_client(server: &Server, path: &str) -> Client {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr.into()).unwrap();
    let tcp: std::net::TcpStream = socket.into();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let (ws, _) = tungstenite::client::client(server.ws_url(path), Stream::Plain(tcp)).unwrap();
    Client { ws, hello: serde_json::Value::Null }
}

/// Enough 3 KB messages to fill the stalled client's window, the kernel's send buffer (it grows
/// to a few MiB on loopback) and then SEND_BUFFER_BYTES.
const MESSAGES: usize = 2000;

#[test]
fn stalled_client_is_closed_with_1013_and_others_get_everything() {
    let server = Server::start(&[("SEND_BUFFER_BYTES", "65536")]);
    let mut stalled = small_window_client(&server, "/ws?name=stalled");
    stalled.welcome();
    let mut healthy = server.connect("/ws?name=healthy");
    healthy.welcome();
    let reader = std::thread::spawn(move || {
        let got = healthy.messages(MESSAGES);
        (healthy, got)
    });
    let mut sender = server.connect("/ws?name=sender");
    sender.welcome();

    let text = "x".repeat(3000);
    for i in 0..MESSAGES {
        sender.say(&format!("{i} {text}"));
        // The sender reads its own copy, so only the stalled client falls behind.
        sender.next_of("message");
    }
    // The healthy client gets every message while the stalled one reads nothing.
    let (mut healthy, got) = reader.join().unwrap();
    for (i, m) in got.iter().enumerate() {
        assert!(m["text"].as_str().unwrap().starts_with(&format!("{i} ")));
    }
    assert_eq!(server.metric("websocketchat_clients_evicted_slow_total"), 1);

    // When it finally reads, it finds what was already on its way, then the close frame.
    assert_eq!(stalled.close_code(), 1013);
    // And the chat goes on.
    sender.say("after");
    assert_eq!(healthy.next_of("message")["text"], "after");
    assert!(
        server.get("/metrics").contains("websocketchat_close_frames_sent_total{code=\"1013\"} 1")
    );
}

#[test]
fn a_slow_but_alive_client_catches_up_without_loss() {
    let server = Server::start(&[]);
    let mut slow = small_window_client(&server, "/ws?name=slow");
    slow.welcome();
    let mut sender = server.connect("/ws?name=sender");
    sender.welcome();
    for i in 0..100 {
        sender.say(&format!("{i} {}", "y".repeat(1000)));
    }
    std::thread::sleep(Duration::from_millis(200));
    // 100 KB waited in the server's queue for a reader with a 4 KiB window: all arrive, in order.
    let got = slow.messages(100);
    for (i, m) in got.iter().enumerate() {
        assert!(m["text"].as_str().unwrap().starts_with(&format!("{i} ")));
    }
    // The sender had its own 100 copies too; after them comes what the slow client says.
    let own = sender.messages(100);
    assert!(own[99]["text"].as_str().unwrap().starts_with("99 "));
    slow.send(Message::text("caught up"));
    let next = sender.next_of("message");
    assert_eq!((next["name"].as_str(), next["text"].as_str()), (Some("slow"), Some("caught up")));
}
