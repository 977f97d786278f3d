//! Compressed frames that lie (RFC 7692): a few bytes that inflate past `MAX_MESSAGE_BYTES`, bytes
//! that are not DEFLATE, text that is not UTF-8 once inflated, RSV1 where §6 forbids it. Each ends
//! in its documented close code with its reason in the log, the inflating stops at the limit
//! (the server's memory stays where it was), and the chat goes on for everyone else.

use crate::pair::Pair;
use crate::support::Server;
use crate::support::deflate::{BROWSER_OFFER, DeflateClient, deflate};
use crate::support::wire::{
    CONTINUATION, FIN, MASK, PING, RSV1, TEXT, assert_no_panic, connection_log, frame,
    read_to_close,
};

/// `MAX_MESSAGE_BYTES` of these servers: room on the wire for a bomb that would inflate a
/// thousand times over.
const LIMIT: (&str, &str) = ("MAX_MESSAGE_BYTES", "65536");
const MAX_MESSAGE: usize = 65536;

/// Each case: what it is, the bytes sent, the close code, and the reason the log gives.
fn lies() -> Vec<(&'static str, Vec<u8>, u16, &'static str)> {
    let zeros = vec![b'0'; 60 << 20];
    let bomb = deflate(&zeros);
    assert!(bomb.len() < MAX_MESSAGE, "within MAX_MESSAGE_BYTES on the wire: {}", bomb.len());
    let compressed = |first: u8, payload: &[u8]| frame(first, payload, Some(MASK));
    vec![
        // 60 MiB of zeros in 59 KiB, under a limit of 64 KiB.
        ("a bomb of 60 MiB", compressed(FIN | RSV1 | TEXT, &bomb), 1009, "message too big"),
        // BTYPE 11 is reserved (RFC 1951 §3.2.3): not DEFLATE at all.
        (
            "bytes that are not DEFLATE",
            compressed(FIN | RSV1 | TEXT, &[0xff; 8]),
            1007,
            "invalid compressed data",
        ),
        // RFC 6455 §8.1: text must be UTF-8, compressed or not.
        (
            "text not UTF-8 once inflated",
            compressed(FIN | RSV1 | TEXT, &deflate(b"\xff\xfe")),
            1007,
            "invalid UTF-8",
        ),
        // RFC 7692 §6: no RSV1 on a control frame, nor on a continuation.
        ("RSV1 on a ping", compressed(FIN | RSV1 | PING, b""), 1002, "RSV1 on a control frame"),
        (
            "RSV1 on a continuation",
            [
                compressed(RSV1 | TEXT, &deflate(b"hello ")),
                compressed(FIN | RSV1 | CONTINUATION, b""),
            ]
            .concat(),
            1002,
            "RSV1 on a continuation frame",
        ),
    ]
}

#[test]
fn compressed_lies_end_in_their_close_codes_over_ws() {
    compressed_lies_end_in_their_close_codes(&Server::start(&[LIMIT]));
}

#[test]
fn compressed_lies_end_in_their_close_codes_over_wss() {
    compressed_lies_end_in_their_close_codes(&Server::start_tls(&[LIMIT]));
}

fn compressed_lies_end_in_their_close_codes(server: &Server) {
    let mut pair = Pair::new(server);
    let peak_before = server.peak_rss_kib();
    for (case, bytes, code, reason) in lies() {
        let mut client = DeflateClient::connect(server, "/ws?name=liar", Some(BROWSER_OFFER));
        assert!(client.agreed().is_some());
        let port = client.stream.tcp().local_addr().unwrap().port();
        client.send_raw(&bytes);
        let ending = read_to_close(&mut client.stream, Vec::new());
        assert_eq!(ending.close_code(), Some(code), "{case}: {:?}", ending.frames.last());
        connection_log(server, port, |log| {
            log.contains(&format!("closing with {code}: {reason}\n"))
                && log.contains(&format!("close {code} from the server"))
        });
        pair.still_chatting();
    }
    // The bomb was stopped at the limit, not inflated to 60 MiB first (and freed after): the
    // server's peak stayed within a few MiB of where it was.
    let grown = server.peak_rss_kib().saturating_sub(peak_before);
    assert!(grown < 16 * 1024, "the server's peak grew by {grown} KiB");
    assert_no_panic(server);
}
