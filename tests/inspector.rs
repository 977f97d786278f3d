//! The wire inspector (issue 16) against the real server, with a client that writes its frames
//! by hand, so every byte the inspector reports can be checked against the bytes that were sent
//! and received: the masks it chose, the length forms, pings and pongs, the close handshake.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::wire::{self, CLOSE, FIN, MASK, TEXT, handshake, masked, parse_frames};
use crate::support::{Server, Stream};

/// A hand-made client: its stream and the bytes read but not yet parsed.
struct Raw {
    stream: Stream,
    pending: Vec<u8>,
}

/// A frame from the server: its header byte, payload, and the exact bytes it took on the wire.
struct Received {
    frame: wire::Frame,
    bytes: Vec<u8>,
}

impl Raw {
    fn connect(server: &Server, path: &str) -> Raw {
        let mut stream = server.stream();
        let pending = handshake(&mut stream, server, path);
        let mut raw = Raw { stream, pending };
        // hello, history, users
        for kind in ["hello", "history", "users"] {
            raw.event_of(kind);
        }
        raw
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    fn say(&mut self, text: &str) {
        self.send(&masked(FIN | TEXT, text.as_bytes()));
    }

    /// The next frame, within the read timeout.
    fn frame(&mut self) -> Received {
        loop {
            let (frames, _) = parse_frames(&self.pending, false);
            if let Some(frame) = frames.into_iter().next() {
                // The server's frames use the shortest length form: the same bytes again.
                let bytes = wire::frame(frame.first, &frame.payload, None);
                self.pending.drain(..bytes.len());
                return Received { frame, bytes };
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("a frame within the read timeout");
            assert!(n > 0, "the server closed the connection");
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next text frame's JSON.
    fn event(&mut self) -> Value {
        loop {
            let received = self.frame();
            if received.frame.opcode() == TEXT {
                return serde_json::from_slice(&received.frame.payload).unwrap();
            }
        }
    }

    /// The next event of this type, skipping others (presence and the like).
    fn event_of(&mut self, kind: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let event = self.event();
            if event["type"] == kind {
                return event;
            }
            assert!(Instant::now() < deadline, "no {kind} event");
        }
    }

    fn inspect(&mut self, on: bool) {
        self.say(&format!(r#"{{"type":"inspect","on":{on}}}"#));
    }
}

/// Bytes as the inspector writes them: hex pairs separated by spaces.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// The header and payload of an unmasked server frame, as hex.
fn split(bytes: &[u8]) -> (String, String) {
    let size = match bytes[1] & 0x7f {
        126 => 4,
        127 => 10,
        _ => 2,
    };
    let payload = &bytes[size..];
    (hex(&bytes[..size]), hex(&payload[..payload.len().min(64)]))
}

#[test]
fn a_connection_sees_its_own_frames_byte_for_byte() {
    let server = Server::start(&[]);
    let mut ann = Raw::connect(&server, "/ws?name=ann&session=AAAAAAAAAAAAAAAAAAAAAA");
    ann.inspect(true);
    let shake = ann.event_of("handshake");
    let request = shake["request"].as_str().unwrap();
    assert!(request.starts_with("GET /ws?name=ann&session=… HTTP/1.1\r\n"), "{request}");
    assert!(!request.contains("AAAAAAAAAAAAAAAAAAAAAA"), "the session is hidden: {request}");
    // RFC 6455 §1.3: this key's accept value, and the SHA-1 it is the base64 of.
    assert_eq!(
        (shake["key"].as_str(), shake["accept"].as_str()),
        (Some(wire::KEY), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
    );
    assert_eq!(shake["sha1"], "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
    assert_eq!(shake["guid"], "258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    assert!(
        shake["response"].as_str().unwrap().starts_with("HTTP/1.1 101 Switching Protocols\r\n")
    );

    // §5.7's masked "Hello", with the RFC's mask: what we sent, field by field.
    ann.say("Hello");
    let sent = masked(FIN | TEXT, b"Hello");
    let seen = ann.event_of("frame");
    assert_eq!(seen["dir"], "in");
    assert_eq!(seen["header"], hex(&sent[..6]));
    assert_eq!(seen["mask"], hex(&MASK).replace(' ', ""));
    assert_eq!(seen["payload_wire"], hex(&sent[6..]));
    assert_eq!(seen["payload"], "48 65 6c 6c 6f");
    assert_eq!((seen["opcode"].as_u64(), seen["opname"].as_str()), (Some(1), Some("text")));
    assert_eq!((seen["len"].as_u64(), seen["len_form"].as_str()), (Some(5), Some("7-bit")));
    assert_eq!((seen["fin"].as_bool(), seen["masked"].as_bool()), (Some(true), Some(true)));
    assert_eq!(seen["truncated"], false);

    // The message goes out, then its frame event, which names exactly the bytes we got.
    let message = ann.frame();
    let body: Value = serde_json::from_slice(&message.frame.payload).unwrap();
    assert_eq!((body["type"].as_str(), body["text"].as_str()), (Some("message"), Some("Hello")));
    let out = ann.event_of("frame");
    let (header, payload) = split(&message.bytes);
    assert_eq!((out["dir"].as_str(), out["masked"].as_bool()), (Some("out"), Some(false)));
    assert_eq!(out["mask"], Value::Null);
    assert_eq!(
        (out["header"].as_str(), out["payload_wire"].as_str()),
        (Some(&*header), Some(&*payload))
    );
    assert_eq!(out["payload"], out["payload_wire"], "the server does not mask (§5.1)");

    // 200 bytes: the 16-bit length form, the payload cut at 64 bytes.
    ann.say(&"y".repeat(200));
    let long = ann.event_of("frame");
    assert_eq!((long["dir"].as_str(), long["len"].as_u64()), (Some("in"), Some(200)));
    assert_eq!(
        (long["len_form"].as_str(), long["truncated"].as_bool()),
        (Some("16-bit"), Some(true))
    );
    assert_eq!(long["payload"], vec!["79"; 64].join(" "));

    // Off: the next message comes without a frame event.
    ann.event_of("message");
    ann.event_of("frame");
    ann.inspect(false);
    ann.event_of("frame"); // the request that switched it off was read while it was on
    ann.say("quiet");
    assert_eq!(ann.event()["type"], "message");
    ann.say("and again");
    assert_eq!(ann.event()["type"], "message", "no frame event once switched off");
}

#[test]
fn frames_over_tls_are_shown_decrypted() {
    let server = Server::start_tls(&[]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    ann.inspect(true);
    ann.event_of("handshake");
    ann.say("Hello");
    let seen = ann.event_of("frame");
    assert_eq!(
        (seen["dir"].as_str(), seen["payload"].as_str()),
        (Some("in"), Some("48 65 6c 6c 6f"))
    );
    assert_eq!(seen["header"], hex(&masked(FIN | TEXT, b"Hello")[..6]));
}

#[test]
fn ping_me_sends_a_ping_and_the_pong_is_shown() {
    let server = Server::start(&[]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    ann.inspect(true);
    ann.event_of("handshake");
    ann.say(r#"{"type":"ping_me","payload":"hi"}"#);
    ann.event_of("frame"); // our request
    let ping = ann.frame();
    assert_eq!((ping.frame.opcode(), &ping.frame.payload[..]), (wire::PING, &b"hi"[..]));
    let out = ann.event_of("frame");
    assert_eq!((out["opname"].as_str(), out["payload"].as_str()), (Some("ping"), Some("68 69")));
    ann.send(&masked(FIN | 0xa, b"hi"));
    let pong = ann.event_of("frame");
    assert_eq!((pong["dir"].as_str(), pong["opname"].as_str()), (Some("in"), Some("pong")));
    assert_eq!(pong["payload"], "68 69");
    // At most one a second.
    ann.say(r#"{"type":"ping_me","payload":"again"}"#);
    let refused = ann.event_of("error");
    assert_eq!(refused["code"], "rate_limited");
    // A ping carries 125 bytes at most (§5.5).
    let long = format!(r#"{{"type":"ping_me","payload":"{}"}}"#, "z".repeat(126));
    ann.say(&long);
    assert_eq!(ann.event_of("error")["code"], "too_long");
}

#[test]
fn the_close_handshake_is_shown_before_the_close_frame() {
    let server = Server::start(&[]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    ann.inspect(true);
    ann.event_of("handshake");
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"done");
    ann.send(&masked(FIN | CLOSE, &close));
    let read = ann.event_of("frame");
    assert_eq!((read["dir"].as_str(), read["opname"].as_str()), (Some("in"), Some("close")));
    assert_eq!(
        (read["close_code"].as_u64(), read["close_reason"].as_str()),
        (Some(1000), Some("done"))
    );
    let echoed = ann.event_of("frame");
    assert_eq!((echoed["dir"].as_str(), echoed["close_code"].as_u64()), (Some("out"), Some(1000)));
    let reply = ann.frame();
    assert_eq!(reply.frame.close_code(), Some(1000), "the close frame comes last (§5.5.1)");
}

#[test]
fn nobody_sees_another_connections_frames() {
    let server = Server::start(&[]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    let mut bob = Raw::connect(&server, "/ws?name=bob");
    ann.event_of("users");
    ann.inspect(true);
    ann.event_of("handshake");
    bob.say("from bob");
    // Ann sees the message going out to her, not bob's frame coming in.
    ann.event_of("message");
    let out = ann.event_of("frame");
    assert_eq!(out["dir"], "out");
    ann.say("from ann");
    assert_eq!(ann.event_of("frame")["dir"], "in", "her own frame in");
    for _ in 0..3 {
        let event = bob.event();
        assert_ne!(event["type"], "frame", "bob never inspected: {event}");
        assert_ne!(event["type"], "handshake");
        if event["text"] == "from ann" {
            return;
        }
    }
    panic!("bob did not get ann's message");
}

#[test]
fn beyond_the_rate_frames_are_counted_in_frame_skipped() {
    let server = Server::start(&[("INSPECT_MAX_EVENTS_PER_SEC", "3")]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    ann.inspect(true);
    ann.event_of("handshake");
    for n in 0..5 {
        ann.say(&format!("burst {n}"));
    }
    // 5 frames in and 5 out: 3 shown, 7 counted.
    let mut shown = 0;
    for _ in 0..8 {
        match ann.event()["type"].as_str() {
            Some("frame") => shown += 1,
            Some("message") => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(shown, 3);
    // The count comes once the second is over, though no other frame comes.
    let skipped = ann.event_of("frame_skipped");
    assert_eq!(skipped["count"], 7);
    ann.say("after a second");
    assert_eq!(ann.event_of("frame")["dir"], "in");
}

#[test]
fn an_operator_can_switch_the_inspector_off() {
    let server = Server::start(&[("INSPECT_ENABLED", "false")]);
    let mut ann = Raw::connect(&server, "/ws?name=ann");
    ann.inspect(true);
    let refused = ann.event_of("error");
    assert_eq!(refused["code"], "disabled");
    ann.say("still chatting");
    assert_eq!(ann.event()["type"], "message");
}
