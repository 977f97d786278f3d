//! A silent crowd: 2,000 connections complete the opening handshake and then never send or read
//! another byte. They must not stop a chat between two others, and each is pinged after
//! `PING_INTERVAL_SECS` and closed with 1000 after `IDLE_TIMEOUT_SECS`.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::pair::Pair;
use crate::support::wire::{PING, assert_no_panic, read_head, read_to_close, upgrade_request};
use crate::support::{Server, loopback};

#[test]
fn two_thousand_silent_connections_do_not_stop_a_chat_and_are_closed_when_idle() {
    // Each connection is a file descriptor here too.
    let needed = (CROWD * 2 + 1024) as u64;
    let limit = rlimit::increase_nofile_limit(needed).unwrap();
    assert!(limit >= needed, "the open file limit ({limit}) is below {needed}");

    let server = Server::start(&[("PING_INTERVAL_SECS", "1"), ("IDLE_TIMEOUT_SECS", "2")]);
    let crowd = open_crowd(&server);

    // While the crowd is connected, two others chat.
    let mut pair = Pair::new(&server);
    pair.still_chatting();
    pair.still_chatting();
    pair.leave();

    // Each silent connection was pinged, then closed as idle with 1000, then its TCP ended.
    for (mut tcp, already) in crowd {
        let ending = read_to_close(&mut tcp, already);
        assert_eq!(ending.error, None, "a clean end of the stream");
        assert!(ending.frames.iter().any(|f| f.opcode() == PING), "pinged before the close");
        let close = ending.frames.last().unwrap();
        assert_eq!(close.close_code(), Some(1000), "{close:?}");
        assert!(String::from_utf8_lossy(&close.payload[2..]).contains("idle"));
    }
    // And the server forgot them all.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health = server.get("/healthz");
        if health.ends_with(r#""connections":0}"#) {
            break;
        }
        assert!(Instant::now() < deadline, "connections stay counted: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_no_panic(&server);
}

/// Opens the crowd a batch at a time (a batch stays below the listen backlog): each connection
/// sends its upgrade request and reads the `101`, and then goes silent. Returns each socket with
/// the bytes read past the `101`.
fn open_crowd(server: &Server) -> Vec<(TcpStream, Vec<u8>)> {
    let request = upgrade_request(server, "/ws?name=crowd");
    let mut crowd = Vec::with_capacity(CROWD);
    while crowd.len() < CROWD {
        let batch: Vec<TcpStream> = (0..BATCH)
            .map(|i| {
                // 10 from each address: within its handshakes, sockets and new sessions.
                let mut tcp = server.tcp_from(loopback(((crowd.len() + i) / 10) as u32));
                std::io::Write::write_all(&mut tcp, request.as_bytes()).unwrap();
                tcp
            })
            .collect();
        for mut tcp in batch {
            let (head, rest) = read_head(&mut tcp);
            assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
            crowd.push((tcp, rest));
        }
    }
    crowd
}

/// Silent connections.
const CROWD: usize = 2000;
/// Connections opened before their answers are read.
const BATCH: usize = 100;
