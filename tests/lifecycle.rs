//! Start, keep-alive and stop: configuration errors, pings, idle clients, graceful shutdown and
//! the drain before it, the container's healthcheck.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
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
fn a_key_the_server_may_not_read_names_the_file_the_uid_and_the_fix() {
    let dir = std::env::temp_dir().join(format!("wschat-keyperm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new(env!("CARGO_BIN_EXE_websocketchat"))
        .arg("certs")
        .env_clear()
        .env("TLS_CERT", &cert)
        .env("TLS_KEY", &key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let mut server = Command::new(env!("CARGO_BIN_EXE_websocketchat"));
    server.env_clear().env("PORT", "0").env("TLS_CERT", &cert).env("TLS_KEY", &key);
    // Root reads any file: run the server as nobody, as a container runs it as 10001. Any other
    // user cannot read a key with no permissions at all.
    let expected_uid = match websocketchat::net::tls::current_uid().unwrap() {
        0 => {
            server.uid(65534).gid(65534);
            65534
        }
        me => {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o000)).unwrap();
            me
        }
    };
    let out = server.output().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    for part in [
        key.display().to_string(),
        format!("permission denied for uid {expected_uid}"),
        format!("chown {expected_uid}"),
        "--install".to_string(),
    ] {
        assert!(stderr.contains(&part), "{part:?} missing in {stderr}");
    }
}

#[test]
fn draining_refuses_newcomers_then_closes_everyone_with_1001() {
    let mut server = Server::start(&[("DRAIN_SECS", "2")]);
    let mut staying = server.connect("/ws?name=staying");
    staying.welcome();
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 "));

    let signalled = Instant::now();
    server.signal();
    let health = wait_for(|| Some(server.get("/healthz")).filter(|h| h.contains("draining")));
    assert!(health.starts_with("HTTP/1.1 503 "), "{health}");
    // A newcomer is refused with 503; the page is still served; the client already in chats on.
    match server.try_connect("/ws?name=late") {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected a 503 answer, got {:?}", other.map(|_| "a WebSocket")),
    }
    assert_eq!(server.metric(r#"websocketchat_handshakes_refused_total{reason="draining"}"#), 1);
    assert!(server.get("/").starts_with("HTTP/1.1 200 "));
    staying.say("still here");
    assert_eq!(staying.next_of("message")["text"], "still here");

    assert_eq!(staying.close_code(), 1001);
    assert!(signalled.elapsed() >= Duration::from_secs(2), "closed before DRAIN_SECS");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_second_signal_ends_the_drain() {
    let mut server = Server::start(&[("DRAIN_SECS", "600")]);
    let mut client = server.connect("/ws?name=c");
    client.welcome();
    server.signal();
    wait_for(|| Some(server.get("/healthz")).filter(|h| h.contains("draining")));
    let again = Instant::now();
    server.signal();
    assert_eq!(client.close_code(), 1001);
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    assert!(again.elapsed() < Duration::from_secs(5), "took {:?}", again.elapsed());
    assert!(server.log().contains("draining cut short"), "{}", server.log());
}

#[test]
fn the_healthcheck_dials_the_address_the_server_listens_on() {
    // 127.0.0.2 is loopback too, but a healthcheck that always dials 127.0.0.1 misses it.
    let server = Server::start(&[("HOST", "127.0.0.2")]);
    let healthcheck = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_websocketchat"))
            .arg("healthcheck")
            .env_clear()
            .env("HOST", "127.0.0.2")
            .env("PORT", port.to_string())
            .env("BACKEND_TLS", "false")
            .output()
            .unwrap()
    };
    let out = healthcheck(server.addr.port());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""status":"ok""#), "{out:?}");
    // And it fails when nothing answers there.
    drop(server);
    let unused = std::net::TcpListener::bind("127.0.0.2:0").unwrap().local_addr().unwrap().port();
    assert!(!healthcheck(unused).status.success());
}

#[test]
fn the_healthcheck_fails_while_the_server_drains() {
    let server = Server::start(&[("DRAIN_SECS", "600")]);
    let healthcheck = || {
        Command::new(env!("CARGO_BIN_EXE_websocketchat"))
            .arg("healthcheck")
            .env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", server.addr.port().to_string())
            .env("BACKEND_TLS", "false")
            .output()
            .unwrap()
    };
    assert!(healthcheck().status.success());
    server.signal();
    wait_for(|| Some(server.get("/healthz")).filter(|h| h.contains("draining")));
    let out = healthcheck();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("draining"), "{out:?}");
}

/// Polls `probe` every 20 ms until it gives a value; at most 5 s.
fn wait_for<T>(mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
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

#[test]
fn a_client_silent_for_longer_than_quiet_is_heard_at_once_over_ws_and_wss() {
    // After a second of silence the reader waits with a peek at the socket instead of inside
    // tungstenite (ws/reader.rs, "Waiting"): what the client sends then must be read as before.
    for server in [Server::start(&[]), Server::start_tls(&[])] {
        let mut quiet = server.connect("/ws?name=quiet");
        let mut other = server.connect("/ws?name=other");
        for round in 0..2 {
            std::thread::sleep(Duration::from_millis(1500));
            let sent = Instant::now();
            quiet.say(&format!("after silence {round}"));
            let message = other.next_of("message");
            assert_eq!(message["text"], format!("after silence {round}"), "tls: {}", server.tls);
            assert!(sent.elapsed() < Duration::from_millis(500), "{:?}", sent.elapsed());
        }
        // A ping after the silence is answered (tungstenite's pong, from the reader).
        std::thread::sleep(Duration::from_millis(1500));
        quiet.send(Message::Ping(b"still there?".to_vec().into()));
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            assert!(Instant::now() < until, "no pong after the silence (tls: {})", server.tls);
            if let Message::Pong(payload) = quiet.ws.read().unwrap() {
                assert_eq!(&payload[..], b"still there?");
                break;
            }
        }
    }
}

#[test]
fn the_server_starts_again_once_without_glibc_thread_caches_unless_told_otherwise() {
    // memory.rs: the server sets glibc's tunable for itself by starting again in place.
    let server = Server::start(&[]);
    let environ = server.environ();
    assert!(
        environ.lines().any(|l| l == "GLIBC_TUNABLES=glibc.malloc.tcache_count=0"),
        "{environ}"
    );
    let mut client = server.connect("/ws?name=after");
    client.say("served after starting again");
    assert_eq!(client.next_of("message")["text"], "served after starting again");
    // Whoever sets the tunable decides it; other tunables are kept beside ours.
    let told = Server::start(&[("GLIBC_TUNABLES", "glibc.malloc.tcache_count=3")]);
    assert!(told.environ().lines().any(|l| l == "GLIBC_TUNABLES=glibc.malloc.tcache_count=3"));
    // (glibc splits the variable at its colons in place as it reads it.)
    let other = Server::start(&[("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=131072")]);
    let environ = other.environ();
    assert!(environ.contains("GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072"), "{environ}");
    assert!(environ.contains("glibc.malloc.tcache_count=0"), "{environ}");
}
