//! Start, keep-alive and stop: configuration errors, pings, idle clients, graceful shutdown.

use std::process::Command;
use std::time::{Duration, Instant};

use tungstenite::Message;
use tungstenite::error::Error as WsError;

use crate::support::Server;

#[test]
fn bad_configuration_exits_2_naming_the_variable() {
    for (var, value) in [("PORT", "eighty"), ("BACKEND_TLS", "perhaps"), ("MAX_CONNECTIONS", "0")] {
        let out = Command::new(env!("CARGO_BIN_EXE_websocketchat"))
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(var) && stderr.contains(value), "{stderr}");
    }
}

#[test]
fn an_unreadable_certificate_exits_2() {
    let dir = std::env::temp_dir().join(format!("wschat-badcert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), "not a certificate").unwrap();
    std::fs::write(dir.join("key.pem"), "not a key").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_websocketchat"))
        .current_dir(&dir)
        .env_clear()
        .env("PORT", "0")
        .env("TLS_CERT", "cert.pem")
        .env("TLS_KEY", "key.pem")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cert.pem"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn shutdown_sends_1001_to_every_client_and_exits_0() {
    let mut server = Server::start(&[]);
    let mut clients: Vec<_> = (0..3).map(|i| server.connect(&format!("/ws?name=c{i}"))).collect();
    for c in &mut clients {
        c.welcome();
    }
    let started = Instant::now();
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "exit within 5 s");
    for c in &mut clients {
        assert_eq!(c.close_code(), 1001);
    }
    assert!(server.log().contains("shutting down"));
}

#[test]
fn a_client_that_answers_pings_stays_and_a_silent_one_is_closed() {
    let server = Server::start(&[("PING_INTERVAL_SECS", "1"), ("IDLE_TIMEOUT_SECS", "3")]);
    let mut silent = server.connect("/ws?name=silent");
    let mut alive = server.connect("/ws?name=alive");
    alive.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut pings = 0;
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        // Reading answers pings (tungstenite queues the pong and sends it on the next call).
        match alive.ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(Message::Close(frame)) => panic!("a client answering pings was closed: {frame:?}"),
            Ok(_) => {}
            Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert!(pings >= 2, "pings every PING_INTERVAL_SECS of silence ({pings})");
    // The silent client never read, so it never answered a ping: it was closed as idle.
    assert_eq!(silent.close_code(), 1000);
}
