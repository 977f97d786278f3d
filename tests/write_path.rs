//! The broadcaster's write path (`IO_URING`): one io_uring submission per round, or one `send`
//! per client; either way every client gets every message, in order, and the log and `/metrics`
//! say which path runs.

use std::time::{Duration, Instant};

use crate::support::{Client, Server};

/// Waits for the start-up line that names the write path.
fn write_path_line(server: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = server.log().lines().find(|l| l.contains("writes: ")) {
            return line.to_string();
        }
        assert!(Instant::now() < deadline, "no write path in the log: {}", server.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Five clients in `general`; the first says `count` messages, one round each (it waits until
/// everyone has one before it says the next), then as fast as it can: every client gets them
/// all, in order.
fn chat_reaches_everyone_in_order(server: &Server, count: usize) {
    let mut clients: Vec<Client> =
        (0..5).map(|i| server.joined(&format!("name=writer{i}"))).collect();
    // Every join reached everyone before the messages start.
    for (i, client) in clients.iter_mut().enumerate() {
        for _ in i + 1..5 {
            client.next_of("join");
        }
    }
    for i in 0..count {
        let text = format!("one by one {i}");
        clients[0].say(&text);
        for client in &mut clients {
            assert_eq!(client.texts_from("writer0", 1), std::slice::from_ref(&text));
        }
    }
    let said: Vec<String> = (0..count).map(|i| format!("all at once {i}")).collect();
    for text in &said {
        clients[0].say(text);
    }
    for client in &mut clients {
        assert_eq!(client.texts_from("writer0", count), said);
    }
}

#[test]
fn io_uring_on_writes_a_round_to_many_clients_in_one_submission() {
    let server = Server::start(&[("IO_URING", "on")]);
    assert!(write_path_line(&server).contains("writes: io_uring ("));
    assert_eq!(server.metric("websocketchat_write_path{path=\"io_uring\"}"), 1);
    assert_eq!(server.metric("websocketchat_write_path{path=\"send\"}"), 0);
    let submits = server.metric("websocketchat_io_uring_submits_total");
    let sends = server.metric("websocketchat_io_uring_sends_total");
    chat_reaches_everyone_in_order(&server, 30);
    let submits = server.metric("websocketchat_io_uring_submits_total") - submits;
    let sends = server.metric("websocketchat_io_uring_sends_total") - sends;
    // 30 rounds of one message to 5 clients, then rounds of several: 150 sends at least, and
    // one submission for the 5 sends of a round.
    assert!(sends >= 150, "{sends} sends through io_uring");
    assert!(submits * 3 <= sends, "{submits} submissions for {sends} sends");
}

#[test]
fn io_uring_off_writes_with_one_send_per_client() {
    let server = Server::start(&[("IO_URING", "off")]);
    assert!(write_path_line(&server).contains("writes: one send per client (IO_URING=off)"));
    assert_eq!(server.metric("websocketchat_write_path{path=\"send\"}"), 1);
    assert_eq!(server.metric("websocketchat_write_path{path=\"io_uring\"}"), 0);
    chat_reaches_everyone_in_order(&server, 30);
    assert_eq!(server.metric("websocketchat_io_uring_sends_total"), 0);
    assert_eq!(server.metric("websocketchat_io_uring_submits_total"), 0);
}

#[test]
fn an_unknown_io_uring_mode_stops_the_start() {
    let dir = crate::support::fresh_dir();
    let (status, log) = Server::start_failing(&dir, &[("IO_URING", "maybe")]);
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("IO_URING") && log.contains("auto, on or off"), "{log}");
    let _ = std::fs::remove_dir_all(dir);
}
