//! A client that speaks permessage-deflate (RFC 7692) by hand, frame by frame: tungstenite's
//! client has no compression, and a test must see each frame's RSV1 bit anyway. DEFLATE is
//! `flate2`'s own, called directly, not the server's codec.

use std::collections::VecDeque;
use std::io::{Read, Write};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use serde_json::Value;

use super::wire::{
    FIN, Frame, KEY, MASK, PING, RSV1, TEXT, frame, parse_frames, read_head, upgrade_head,
};
use super::{Server, Stream};

/// The offer every browser sends.
pub const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A connection after its `101`.
pub struct DeflateClient {
    pub stream: Stream,
    /// The `101`'s head.
    pub head: String,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
    /// Frames parsed and not yet taken.
    frames: VecDeque<Frame>,
}

/// A frame with its payload inflated when RSV1 was set.
#[derive(Debug)]
pub struct Received {
    pub compressed: bool,
    /// The payload's bytes on the wire.
    pub wire_len: usize,
    pub text: String,
}

impl DeflateClient {
    /// Upgrades `path` with `offer` in `Sec-WebSocket-Extensions` (none: no header).
    pub fn connect(server: &Server, path: &str, offer: Option<&str>) -> DeflateClient {
        let mut stream = server.stream();
        let mut extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n");
        if let Some(offer) = offer {
            extra.push_str(&format!("Sec-WebSocket-Extensions: {offer}\r\n"));
        }
        stream.write_all(upgrade_head(server, path, &extra).as_bytes()).unwrap();
        stream.flush().unwrap();
        let (head, buf) = read_head(&mut stream);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        DeflateClient { stream, head, buf, frames: VecDeque::new() }
    }

    /// The `Sec-WebSocket-Extensions` value of the `101`, if it has one.
    pub fn agreed(&self) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions").then(|| value.trim())
        })
    }

    /// Sends `bytes` as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
        self.stream.flush().unwrap();
    }

    /// Sends a text message, compressed (RSV1, §7.2.1) or not.
    pub fn send_text(&mut self, text: &str, compressed: bool) {
        let bytes = if compressed {
            frame(FIN | RSV1 | TEXT, &deflate(text.as_bytes()), Some(MASK))
        } else {
            frame(FIN | TEXT, text.as_bytes(), Some(MASK))
        };
        self.send_raw(&bytes);
    }

    /// Sends a chat message.
    pub fn say(&mut self, text: &str, compressed: bool) {
        let json = serde_json::json!({"type": "message", "text": text}).to_string();
        self.send_text(&json, compressed);
    }

    /// The next frame the server sent.
    pub fn next_frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.frames.pop_front() {
                return frame;
            }
            let (frames, rest) = parse_frames(&self.buf, false);
            self.frames.extend(frames);
            self.buf = rest;
            if !self.frames.is_empty() {
                continue;
            }
            let mut chunk = [0u8; 16 * 1024];
            let n = self.stream.read(&mut chunk).expect("a frame within the read timeout");
            assert!(n > 0, "closed while a frame was awaited");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next data frame (pings skipped), inflated if it was compressed.
    pub fn next_message(&mut self) -> Received {
        loop {
            let frame = self.next_frame();
            if frame.opcode() == PING {
                continue;
            }
            assert_eq!(frame.opcode(), TEXT, "{frame:?}");
            assert!(frame.first & FIN != 0, "the server sends every message in one frame");
            let compressed = frame.first & RSV1 != 0;
            let payload = if compressed { inflate(&frame.payload) } else { frame.payload.clone() };
            let text = String::from_utf8(payload).unwrap();
            return Received { compressed, wire_len: frame.payload.len(), text };
        }
    }

    /// The next event of type `kind`, and how it came.
    pub fn next_of(&mut self, kind: &str) -> (Received, Value) {
        loop {
            let message = self.next_message();
            let event: Value = serde_json::from_str(&message.text).unwrap();
            if event["type"] == kind {
                return (message, event);
            }
        }
    }
}

/// §7.2.1: raw DEFLATE, a sync flush, its `00 00 ff ff` removed.
pub fn deflate(payload: &[u8]) -> Vec<u8> {
    let mut compress = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(payload.len() + 1024);
    compress.compress_vec(payload, &mut out, FlushCompress::Sync).unwrap();
    assert_eq!(compress.total_in() as usize, payload.len());
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// §7.2.2: the tail put back, then inflated.
pub fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut decompress = Decompress::new(false);
    let mut out = Vec::with_capacity(64 * 1024 + payload.len() * 20);
    decompress.decompress_vec(&input, &mut out, FlushDecompress::Sync).unwrap();
    assert_eq!(decompress.total_in() as usize, input.len(), "room enough to inflate at once");
    out
}
