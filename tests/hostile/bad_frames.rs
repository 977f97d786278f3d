//! Frames that break RFC 6455, sent by hand after a real upgrade. Each must end with a close frame
//! carrying 1002 (protocol error) and a log line saying why, never a panic; and the chat goes on
//! for everyone else. Random bytes may decode to anything, so they may end in any code the server
//! documents (or an echo of a close frame they happened to contain), or in a clean TCP close.

use std::io::Write;
use std::net::Shutdown;

use crate::pair::Pair;
use crate::support::Server;
use crate::support::wire::{
    CLOSE, CONTINUATION, FIN, MASK, Noise, PING, RSV1, RSV2, RSV3, TEXT, assert_no_panic,
    connection_log, frame, handshake, masked, parse_frames, read_to_close,
};

/// Each case: what it is, the bytes sent after the handshake, and the reason the log gives.
fn broken_frames() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    vec![
        // RFC 6455 §5.1: "The server MUST close the connection upon receiving a frame that is
        // not masked." This is the unmasked "Hello" of §5.7.
        ("an unmasked text frame", frame(FIN | TEXT, b"Hello", None), "unmasked frame"),
        // §5.2: opcodes 0x3-0x7 and 0xB-0xF "are reserved for further ... frames".
        ("reserved data opcode 0x3", masked(FIN | 0x3, b"x"), "reserved opcode"),
        ("reserved control opcode 0xB", masked(FIN | 0xb, b""), "reserved opcode"),
        // §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated"; this client offered
        // none (RSV1 with permessage-deflate is in deflate.rs).
        ("RSV1 set", masked(FIN | RSV1 | TEXT, b"hi"), "RSV1 without permessage-deflate"),
        ("RSV2 set", masked(FIN | RSV2 | TEXT, b"hi"), "reserved bit set"),
        ("RSV3 set", masked(FIN | RSV3 | TEXT, b"hi"), "reserved bit set"),
        // §5.5: "All control frames MUST have a payload length of 125 bytes or less".
        ("a ping of 126 bytes", masked(FIN | PING, &[b'p'; 126]), "control frame over 125 bytes"),
        // §5.5: "All control frames ... MUST NOT be fragmented."
        ("a fragmented ping (FIN=0)", masked(PING, b"ping"), "fragmented control frame"),
        // §5.4: a continuation frame continues a message; here none was started.
        (
            "a continuation without a start",
            masked(FIN | CONTINUATION, b"more"),
            "continuation without a message",
        ),
        // §5.4: a new message may not start before the last one's final frame.
        (
            "a text frame inside a fragmented message",
            [masked(TEXT, b"one"), masked(FIN | TEXT, b"two")].concat(),
            "a new message before the last one ended",
        ),
        // §5.2: a 64-bit length's most significant bit must be 0.
        (
            "a length of 2^64 - 1",
            [&[FIN | TEXT, 0x80 | 127][..], &[0xff; 8], &MASK].concat(),
            "length with its most significant bit set",
        ),
        // §5.5.1: a close body is empty or starts with a 2-byte code; §7.4.1: 1005 is never sent.
        ("a close frame of one byte", masked(FIN | CLOSE, &[0x03]), "close frame of one byte"),
        ("a close frame with 1005", masked(FIN | CLOSE, &[0x03, 0xed]), "invalid close code"),
    ]
}

#[test]
fn each_broken_frame_is_closed_with_1002_and_logged_over_ws() {
    each_broken_frame_is_closed_with_1002(&Server::start(&[]));
}

#[test]
fn each_broken_frame_is_closed_with_1002_and_logged_over_wss() {
    each_broken_frame_is_closed_with_1002(&Server::start_tls(&[]));
}

fn each_broken_frame_is_closed_with_1002(server: &Server) {
    let mut pair = Pair::new(server);
    for (case, bytes, reason) in broken_frames() {
        let mut stream = server.stream();
        let port = stream.tcp().local_addr().unwrap().port();
        let already = handshake(&mut stream, server, "/ws?name=hostile");
        stream.write_all(&bytes).unwrap();
        stream.flush().unwrap();
        let ending = read_to_close(&mut stream, already);
        // Our end of file lets the server finish at once.
        drop(stream);
        assert_eq!(ending.close_code(), Some(1002), "{case}: {:?}", ending.frames.last());
        // The rule that was broken, then the connection's end.
        connection_log(server, port, |log| {
            log.contains(&format!("closing with 1002: {reason}\n"))
                && log.contains("close 1002 from the server")
        });
        pair.still_chatting();
    }
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
    assert_no_panic(server);
}

#[test]
fn random_bytes_end_in_a_documented_close() {
    let server = Server::start(&[]);
    let mut pair = Pair::new(&server);
    for seed in 0..RANDOM_CASES {
        let mut noise = Noise::new(seed);
        let len = 1 + noise.below(MAX_RANDOM_BYTES) as usize;
        let bytes = noise.bytes(len);
        let ending = send_after_upgrade(&server, &bytes, Finish::HalfClose);
        assert_documented_ending(&ending, &bytes, &format!("seed {seed}"));
        pair.still_chatting();
    }
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
    assert_no_panic(&server);
}

/// How a hostile client ends its input.
#[derive(Debug, Clone, Copy)]
pub enum Finish {
    /// Shut down its sending side: the server sees end-of-file, perhaps inside a frame.
    HalfClose,
    /// Follow with zero bytes, which complete any frame the input left open and then read as
    /// unmasked frames: the server must answer 1002 if nothing ended the connection before.
    ZeroPadding,
}

/// Upgrades `/ws` over plain TCP, sends `bytes`, finishes as told, and reads the server's end.
/// Also waits for the server to log the connection's end.
pub fn send_after_upgrade(
    server: &Server,
    bytes: &[u8],
    finish: Finish,
) -> crate::support::wire::Ending {
    let mut tcp = server.tcp();
    let port = tcp.local_addr().unwrap().port();
    let already = handshake(&mut tcp, server, "/ws?name=noise");
    // The server may close before it read everything; a failed write is part of the game.
    let _ = tcp.write_all(bytes);
    match finish {
        Finish::HalfClose => {
            let _ = tcp.shutdown(Shutdown::Write);
        }
        Finish::ZeroPadding => {
            let _ = tcp.write_all(&[0u8; ZERO_PADDING]);
        }
    }
    let ending = read_to_close(&mut tcp, already);
    drop(tcp);
    connection_log(server, port, |log| log.contains(" disconnected after "));
    ending
}

/// The server's answer to arbitrary bytes is one it documents: a close frame with a code from
/// its table, or the echo of a close frame the client sent (RFC 6455 §5.5.1), or, when the input
/// simply stopped, a clean end of the TCP connection.
pub fn assert_documented_ending(ending: &crate::support::wire::Ending, sent: &[u8], case: &str) {
    assert_eq!(ending.error, None, "{case}: the TCP connection ends cleanly (no reset)");
    let Some(code) = ending.close_code() else {
        // No close frame: only the client's end-of-file ends a connection that way.
        return;
    };
    let echoed = client_close_codes(sent);
    assert!(
        DOCUMENTED.contains(&code) || echoed.contains(&code),
        "{case}: close {code} is not documented (client close codes: {echoed:?})"
    );
}

/// Close codes the server may send on bad input (docs/protocol.md, "Bad input and limits").
const DOCUMENTED: [u16; 6] = [1000, 1002, 1003, 1007, 1008, 1009];

/// The codes of the close frames found among the frames a client sent.
fn client_close_codes(sent: &[u8]) -> Vec<u16> {
    let (frames, _) = parse_frames(sent, true);
    frames.iter().filter(|f| f.opcode() == CLOSE).filter_map(|f| f.close_code()).collect()
}

/// Random inputs, each with its own connection.
const RANDOM_CASES: u64 = 24;
/// The longest random input.
const MAX_RANDOM_BYTES: u64 = 600;
/// More than the largest frame the chat accepts (4096) plus its header.
const ZERO_PADDING: usize = 4096 + 14 + 1;
