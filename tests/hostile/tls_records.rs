//! TLS records of every size. A client's TLS library cuts what it writes into records of up to
//! 16 KiB of plaintext; one write of several frames makes a full record and a small one, and a
//! frame header written on its own makes a small record before a full one. The server reads
//! ciphertext a few KiB at a time, so one read often ends a full record and holds a small one
//! after it: every byte must still reach the decoder (Autobahn cases 9.3.5-9.3.8 and
//! 9.4.5-9.4.8 send messages in 16 KiB to 1 MiB fragments this way).

use std::io::Write;

use crate::support::wire::{
    BINARY, CLOSE, CONTINUATION, Ending, FIN, TEXT, connection_log, handshake, masked,
    read_to_close,
};
use crate::support::{Client, Server, Stream};

#[test]
fn chat_messages_written_several_at_a_time_over_tls_all_arrive() {
    let server = Server::start_tls(&[]);
    let mut witness = server.connect("/ws?name=witness");
    witness.welcome();
    let mut sender = server.stream();
    let port = sender.tcp().local_addr().unwrap().port();
    let already = handshake(&mut sender, &server, "/ws?name=burst");
    let text = "x".repeat(CHAT_TEXT_BYTES);
    let message = masked(FIN | TEXT, text.as_bytes());
    for _ in 0..WRITES {
        // Four frames in one write: one full 16 KiB record, then a small one. A failed write
        // means the server dropped us; the witness and the log tell more than the error.
        if sender.write_all(&message.repeat(FRAMES_PER_WRITE)).is_err() {
            break;
        }
    }
    let _ = sender.flush();
    let heard = messages_until_all_or_gone(&mut witness, "burst", WRITES * FRAMES_PER_WRITE);
    let ending = say_goodbye(&mut sender, already);
    drop(sender);
    let log = connection_log(&server, port, |log| log.contains(" disconnected after "));
    assert_eq!(heard, WRITES * FRAMES_PER_WRITE, "every message was delivered; log:\n{log}");
    assert_eq!(ending.close_code(), Some(1000), "ended by our close; log:\n{log}");
}

#[test]
fn a_message_in_16_kib_fragments_over_tls_is_echoed_whole() {
    let server = Server::start_tls(&[("ECHO_ENDPOINT", "true")]);
    let mut client = server.stream();
    let port = client.tcp().local_addr().unwrap().port();
    let already = handshake(&mut client, &server, "/echo");
    let fragment = vec![0x5a; FRAGMENT_BYTES];
    'messages: for _ in 0..MESSAGES {
        for i in 0..FRAGMENTS {
            let opcode = if i == 0 { BINARY } else { CONTINUATION };
            let fin = if i == FRAGMENTS - 1 { FIN } else { 0 };
            let frame = masked(fin | opcode, &fragment);
            let (header, payload) = frame.split_at(frame.len() - FRAGMENT_BYTES);
            // Two writes: a small record with the header, a full one with the payload.
            if client.write_all(header).and_then(|()| client.write_all(payload)).is_err() {
                break 'messages;
            }
        }
    }
    let ending = say_goodbye(&mut client, already);
    drop(client);
    let log = connection_log(&server, port, |log| log.contains(" disconnected after "));
    let echoes = ending.frames.iter().filter(|f| f.opcode() == BINARY);
    let lengths: Vec<usize> = echoes.map(|f| f.payload.len()).collect();
    let whole = vec![FRAGMENTS * FRAGMENT_BYTES; MESSAGES];
    assert_eq!(lengths, whole, "each message echoed whole; log:\n{log}");
    assert_eq!(ending.close_code(), Some(1000), "ended by our close; log:\n{log}");
}

/// Sends a close frame with 1000 and reads everything up to the server's end.
fn say_goodbye(stream: &mut Stream, already: Vec<u8>) -> Ending {
    // The server may be gone already: then the reading below tells how it ended.
    let _ = stream.write_all(&masked(FIN | CLOSE, &1000u16.to_be_bytes()));
    let _ = stream.flush();
    read_to_close(stream, already)
}

/// Counts the messages from `name` until `count` came, or until `name` left.
fn messages_until_all_or_gone(witness: &mut Client, name: &str, count: usize) -> usize {
    let mut heard = 0;
    while heard < count {
        let event = witness.next();
        if event["name"] != name {
            continue;
        }
        match event["type"].as_str() {
            Some("message") => heard += 1,
            Some("leave") => break,
            _ => {}
        }
    }
    heard
}

/// A chat message that fills its frame: four frames are just over one 16 KiB TLS record.
const CHAT_TEXT_BYTES: usize = 4090;
const FRAMES_PER_WRITE: usize = 4;
const WRITES: usize = 16;
/// The echo case: MESSAGES binary messages of FRAGMENTS fragments of 16 KiB.
const FRAGMENT_BYTES: usize = 16 * 1024;
const FRAGMENTS: usize = 4;
const MESSAGES: usize = 4;
