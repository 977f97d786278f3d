//! Server-to-client frames, encoded once and shared (RFC 6455 §5.2; the header is drawn in
//! `header.rs`).
//!
//! A server never masks (§5.1: "A server MUST NOT mask any frames that it sends to the
//! client"), so the bytes of a message are the same for every client: the broadcaster encodes a
//! message once with [`text`] and hands every client a cheap clone of the same [`Bytes`] (a
//! reference count, not a copy). A chat message is always one frame with FIN set and opcode 0x1
//! (text); a close frame has opcode 0x8 and carries a 2-byte status code and a UTF-8 reason
//! (§5.5.1). The bytes are written by tungstenite's `Frame::format`. A compressed message
//! (RFC 7692) is the same frame with RSV1 set and its payload compressed ([`compressed`]).

use tungstenite::Bytes;
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{CloseCode, Data as OpData, OpCode};

/// One complete, unmasked text frame carrying `json`.
pub fn text(json: String) -> Bytes {
    encode(Frame::message(json.into_bytes(), OpCode::Data(OpData::Text), true))
}

/// One complete, unmasked data frame (text or binary) carrying `payload` (used by `/echo`).
pub fn data(payload: impl Into<Bytes>, binary: bool) -> Bytes {
    let opcode = if binary { OpData::Binary } else { OpData::Text };
    encode(Frame::message(payload, OpCode::Data(opcode), true))
}

/// One complete data frame whose payload is compressed (RFC 7692 §6: RSV1 set on the first
/// frame of a compressed message; §7.2.3.1: `Hello` is `c1 07 f2 48 cd c9 c9 07 00`).
pub fn compressed(deflated: Vec<u8>, binary: bool) -> Bytes {
    let opcode = if binary { OpData::Binary } else { OpData::Text };
    let mut frame = Frame::message(deflated, OpCode::Data(opcode), true);
    frame.header_mut().rsv1 = true;
    encode(frame)
}

/// A pong frame (§5.5.3) carrying the ping's payload, as §5.5.2 asks ("the same Application
/// data as found in the message body of the Ping frame being replied to").
pub fn pong(payload: &[u8]) -> Bytes {
    assert!(payload.len() <= 125, "a control frame's payload is at most 125 bytes");
    encode(Frame::pong(payload.to_vec()))
}

/// A close frame with a status code and a short reason (at most 123 bytes, §5.5).
pub fn close(code: u16, reason: &str) -> Bytes {
    let reason = reason.to_string().into();
    encode(Frame::close(Some(CloseFrame { code: CloseCode::from(code), reason })))
}

/// A ping frame (§5.5.2) carrying `payload`, at most 125 bytes (§5.5); the peer must answer
/// with a pong carrying the same bytes.
pub fn ping(payload: &[u8]) -> Bytes {
    assert!(payload.len() <= 125, "a control frame's payload is at most 125 bytes");
    encode(Frame::ping(payload.to_vec()))
}

fn encode(frame: Frame) -> Bytes {
    let mut out = Vec::with_capacity(frame.len());
    frame.format(&mut out).expect("writing a frame into a Vec cannot fail");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmasked_text_frame_as_in_rfc_6455_section_5_7() {
        // §5.7: "A single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f".
        assert_eq!(&text("Hello".into())[..], &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn lengths_over_125_use_the_extended_field() {
        let frame = text("x".repeat(300));
        assert_eq!(&frame[..4], &[0x81, 126, 0x01, 0x2c]);
        assert_eq!(frame.len(), 4 + 300);
    }

    #[test]
    fn hello_compressed_as_in_rfc_7692_section_7_2_3_1() {
        let frame = compressed(vec![0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], false);
        assert_eq!(&frame[..], &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    }

    #[test]
    fn a_close_frame_carries_code_and_reason() {
        let frame = close(1013, "too slow");
        assert_eq!(&frame[..4], &[0x88, 10, 0x03, 0xf5]);
        assert_eq!(&frame[4..], b"too slow");
    }
}
