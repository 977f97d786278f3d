//! Frames for the tests of this folder, written as the RFC writes them (§5.7): hex, and the
//! masking key of its examples.

use crate::ws::frame::describe::describe;
use crate::ws::frame::error::DecodeError;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::hex::parse_hex;
use crate::ws::frame::mask::{Role, unmask};
use crate::ws::frame::wire::WireFrame;

/// The RFC's masking key in its §5.7 examples.
pub const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The bytes of `text`, written in hex.
pub fn bytes(text: &str) -> Vec<u8> {
    parse_hex(text).unwrap()
}

/// `header` followed by `len` bytes of payload (0, 1, 2, … wrapping).
pub fn with_payload(header: &str, len: usize) -> Vec<u8> {
    let mut frame = bytes(header);
    frame.extend((0..len).map(|i| i as u8));
    frame
}

/// A frame from a client: the first byte, the payload masked with [`KEY`] (at most 125 bytes).
pub fn client_frame(byte0: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![byte0, 0x80 | payload.len() as u8];
    frame.extend(KEY);
    frame.extend(unmask(payload, Some(KEY))); // masking is the same XOR (§5.3)
    frame
}

/// What `describe` prints for frames written in hex.
pub fn describe_hex(text: &str, role: Role) -> Result<String, DecodeError> {
    let mut out = String::new();
    describe(&bytes(text), role, Extension::None, &mut out).map(|()| out)
}

/// What `describe` prints for frames written in hex, read under permessage-deflate (`--inflate`).
pub fn inflate_hex(text: &str, role: Role) -> Result<String, DecodeError> {
    let mut out = String::new();
    describe(&bytes(text), role, Extension::PermessageDeflate, &mut out).map(|()| out)
}

/// Why the frame written in hex is refused (with no extension).
pub fn parse_error(text: &str) -> DecodeError {
    WireFrame::parse(&bytes(text), Extension::None).unwrap_err()
}
