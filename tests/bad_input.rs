//! Bad input gets its documented answer, and the chat goes on for everyone else.

use std::io::{Read, Write};

use tungstenite::Message;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};

use crate::support::wire::upgrade_request;
use crate::support::{Client, Server};

/// A second client checks the server still serves others after each bad one.
fn still_chatting(server: &Server, witness: &mut Client) {
    let mut other = server.connect("/ws?name=other");
    other.welcome();
    other.say("still here");
    assert_eq!(witness.next_of("message")["text"], "still here");
}

#[test]
fn each_bad_message_gets_its_close_code() {
    let server = Server::start(&[("MAX_MESSAGE_BYTES", "1024")]);
    let mut witness = server.connect("/ws?name=witness");
    witness.welcome();

    let cases: Vec<(Message, u16)> = vec![
        // 1009: over MAX_MESSAGE_BYTES.
        (Message::text("x".repeat(2000)), 1009),
        // 1003: binary data.
        (Message::binary(vec![1, 2, 3]), 1003),
        // 1007: a text frame that is not UTF-8.
        (Message::Frame(Frame::message(vec![0xc3, 0x28], OpCode::Data(Data::Text), true)), 1007),
        // 1002: a frame with a reserved opcode.
        (Message::Frame(Frame::message(vec![1], OpCode::Data(Data::Reserved(3)), true)), 1002),
        // 1002: a continuation frame that continues nothing.
        (Message::Frame(Frame::message(vec![1], OpCode::Data(Data::Continue), true)), 1002),
    ];
    for (message, code) in cases {
        let mut bad = server.connect("/ws?name=bad");
        bad.welcome();
        bad.ws.send(message).unwrap();
        assert_eq!(bad.close_code(), code);
        still_chatting(&server, &mut witness);
    }
    // Each close frame sent is counted under its code (two cases above close with 1002).
    for (code, sent) in [(1009, 1), (1003, 1), (1007, 1), (1002, 2)] {
        let sample = format!("websocketchat_close_frames_sent_total{{code=\"{code}\"}}");
        assert_eq!(server.metric(&sample), sent, "{sample}");
    }
}

#[test]
fn an_unmasked_client_frame_is_a_protocol_error() {
    let server = Server::start(&[]);
    let mut tcp = server.tcp();
    tcp.write_all(upgrade_request(&server, "/ws").as_bytes()).unwrap();
    // RFC 6455 §5.7: an unmasked "Hello", which a client must never send.
    tcp.write_all(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]).unwrap();
    let mut received = Vec::new();
    let _ = tcp.read_to_end(&mut received);
    // The answer ends with a close frame: 0x88, length, then the code 1002 (0x03 0xea).
    let close = received.windows(2).rposition(|w| w[0] == 0x88).expect("a close frame");
    assert_eq!(&received[close + 2..close + 4], &[0x03, 0xea]);
    assert!(server.get("/healthz").contains("200 OK"));
}

#[test]
fn refused_input_gets_an_error_event_and_the_connection_stays() {
    let server = Server::start(&[]);
    let mut client = server.connect("/ws?name=c");
    client.welcome();
    for (frame, code) in [
        ("   ", "empty"),
        (r#"{"type":"message","text":""}"#, "empty"),
        (r#"{"type":"message","text":42}"#, "bad_request"),
        (r#"{"type":"nick","name":"x"}"#, "bad_request"),
        (r#"{"type":"rename","name":" \u0007 "}"#, "bad_request"),
        (r#"{"type":"rename","name":7}"#, "bad_request"),
        (r#"{"type":"message","to":"nobody","text":"hi"}"#, "no_such_user"),
        (r#"{"type":"message","to":"  ","text":"hi"}"#, "no_such_user"),
        (r#"{"type":"message","to":"c","room":"general","text":"hi"}"#, "bad_request"),
        (r#"{"type":"subscribe","dm":"nobody"}"#, "no_such_user"),
        // A frame that starts with `{` is a request or refused, never text for the room.
        (r#"{"type":"message","text":"typo",}"#, "bad_request"),
        (r#" {"type":"subscribe","room":"general","since":1e400}"#, "bad_request"),
        ("{", "bad_request"),
        (r#"{"type":"message","room":"general","txt":"typo"}"#, "bad_request"),
    ] {
        client.send(Message::text(frame));
        let error = client.next_of("error");
        assert_eq!(error["code"], code, "{frame}");
        assert!(error["message"].as_str().unwrap().len() > 5);
    }
    client.say("fine");
    assert_eq!(client.next_of("message")["text"], "fine");
}

#[test]
fn a_flood_is_rate_limited_then_closed_with_1008() {
    let server = Server::start(&[("RATE_LIMIT_PER_SEC", "5")]);
    let mut witness = server.connect("/ws?name=witness");
    witness.welcome();
    let mut flooder = server.connect("/ws?name=flooder");
    flooder.welcome();
    for i in 0..40 {
        // The server may close before the last sends; that is the point.
        if flooder.ws.send(Message::text(format!("spam {i}"))).is_err() {
            break;
        }
    }
    let mut refused = 0;
    let code = loop {
        match flooder.ws.read().unwrap() {
            Message::Text(t) if t.contains(r#""code":"rate_limited""#) => refused += 1,
            Message::Close(Some(frame)) => break u16::from(frame.code),
            _ => {}
        }
    };
    assert!(refused >= 10, "error events before the close ({refused})");
    assert_eq!(code, 1008);
    // The others saw the burst of twice the rate, nothing more, and the chat goes on.
    let burst = witness.messages(10);
    assert_eq!(burst[9]["text"], "spam 9");
    still_chatting(&server, &mut witness);
}
