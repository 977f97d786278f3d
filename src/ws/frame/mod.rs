//! Frames, the unit of RFC 6455 on the wire (§5): a header, then a payload.
//!
//! A frame's header is read in one place, [`header`] (§5.2), by everyone here who reads one: the
//! decoder below, and the wire inspector's tap ([`crate::ws::tap`]) on the bytes a connection
//! reads and writes. The session's receiver (`ws/receive.rs`) parses headers with tungstenite's
//! `FrameHeader::parse` and applies the rules of §5 (masking, reserved bits and opcodes, control
//! frames, UTF-8) itself before the session sees a message, each broken rule a close code; the
//! decoder here applies the same rules, one error per rule with its byte offset, so that a
//! learner can see each one.
//!
//! The files, in the order a frame's bytes meet them:
//! - [`opcode`]: the typed [`Opcode`] and its reserved ranges (§5.2, §11.8);
//! - [`length`]: the payload length's three forms, [`LenForm`] (§5.2);
//! - [`header`]: the one header parser, [`Header`], and the rules on its fields (§5.2, §5.5);
//! - [`mask`]: who masks ([`Role`], §5.1) and [`unmask`] (§5.3);
//! - [`encode`]: the server's frames, encoded once ([`text`], [`data`], [`close`], [`ping`]).
//!
//! The decoder (`websocketchat decode`, for reading frames by hand):
//! - [`hex`](mod@hex): frames as a person pastes them ([`parse_hex`]), bytes as we show them
//!   ([`hex()`]);
//! - [`wire`]: one whole frame, header and payload, found and checked ([`WireFrame`]);
//! - [`extension`]: what the frames are read under: no extension, or permessage-deflate (RFC
//!   7692 §6: RSV1 on a message's first frame says it is compressed), `--inflate`;
//! - [`message`]: frames joined into messages (§5.4), a compressed one inflated (RFC 7692
//!   §7.2.2), UTF-8 (§8.1), a close body (§5.5.1);
//! - [`close_code`]: what a close status code means (§7.4);
//! - [`describe`](mod@describe): every frame field by field, then its messages ([`describe()`]);
//! - [`error`]: [`DecodeError`], each error at its byte offset, with its rule and § number.

pub mod close_code;
pub mod describe;
pub mod encode;
pub mod error;
#[cfg(test)]
mod examples;
pub mod extension;
pub mod header;
pub mod hex;
pub mod length;
pub mod mask;
mod message;
pub mod opcode;
pub mod wire;

pub use describe::describe;
pub use encode::{close, compressed, data, ping, pong, text};
pub use error::DecodeError;
pub use extension::Extension;
pub use header::Header;
pub use hex::{hex, parse_hex};
pub use length::LenForm;
pub use mask::{Role, unmask};
pub use opcode::Opcode;
pub use wire::WireFrame;
