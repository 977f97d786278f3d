//! The extension the decoder reads frames under: none (RFC 6455 alone), or permessage-deflate
//! (RFC 7692), which gives RSV1 a meaning (`websocketchat decode --inflate`).
//!
//! RFC 6455 §5.2 keeps RSV1-3 at 0 "unless an extension is negotiated that defines meanings for
//! non-zero values". A frame does not say which extension its connection negotiated (the opening
//! handshake did, in `Sec-WebSocket-Extensions`), so the decoder is told: `--inflate` reads as if
//! permessage-deflate was. RFC 7692 §6 calls RSV1 the "Per-Message Compressed" bit:
//! 1. set on the first frame of a text or binary message, it makes the message *compressed*: the
//!    payloads of all its frames, joined (RFC 6455 §5.4), are one DEFLATE stream, inflated once
//!    the message is whole (RFC 7692 §7.2.2, [`inflate`](crate::ws::deflate::inflate)), and a
//!    text message is checked as UTF-8 only then (RFC 6455 §8.1);
//! 2. clear on a first frame, the message is as it would be without the extension: each message
//!    is compressed or not on its own;
//! 3. set on a control frame or on a continuation, it is an error (§6: "An endpoint MUST NOT set
//!    the "Per-Message Compressed" bit of control frames and non-first fragments of a data
//!    message"). RSV2 and RSV3 stay errors: permessage-deflate gives them no meaning.
//!
//! Where each step is: the RSV rules in [`Header::check`](super::header::Header::check), the
//! inflating in `message.rs`, the printout in `describe.rs`.

use crate::ws::frame::opcode::Opcode;

/// The extension frames are read under, as the opening handshake would have negotiated it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Extension {
    /// RFC 6455 alone: every RSV bit must be 0.
    #[default]
    None,
    /// permessage-deflate (RFC 7692): RSV1 on the first frame of a message says it is
    /// compressed (`--inflate`).
    PermessageDeflate,
}

impl Extension {
    /// The RSV bits of `rsv` that this extension gives no meaning to, the others cleared.
    pub fn meaningless(self, rsv: [bool; 3]) -> [bool; 3] {
        match self {
            Extension::None => rsv,
            Extension::PermessageDeflate => [false, rsv[1], rsv[2]],
        }
    }

    /// Whether a frame with `opcode` and RSV1 `rsv1` starts a compressed message (RFC 7692 §6);
    /// only a text or binary frame starts a message.
    pub fn compresses(self, rsv1: bool, opcode: Opcode) -> bool {
        self == Extension::PermessageDeflate && rsv1 && starts_message(opcode)
    }

    /// What RSV1 says about a frame, when the extension gives it a meaning there: on the first
    /// frame of a message under permessage-deflate.
    pub fn rsv1_meaning(self, rsv1: bool, opcode: Opcode) -> Option<&'static str> {
        if self != Extension::PermessageDeflate || !starts_message(opcode) {
            return None;
        }
        Some(if rsv1 {
            "RSV1 1: the message is compressed (RFC 7692 §6, permessage-deflate)"
        } else {
            "RSV1 0: the message is not compressed (RFC 7692 §6: each message chooses)"
        })
    }
}

/// A text or binary frame: the first frame of a data message (§5.4).
fn starts_message(opcode: Opcode) -> bool {
    matches!(opcode, Opcode::Text | Opcode::Binary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::describe::describe;
    use crate::ws::frame::error::DecodeError;
    use crate::ws::frame::examples::{bytes, client_frame, inflate_hex};
    use crate::ws::frame::hex::hex;
    use crate::ws::frame::mask::Role;

    /// RFC 7692 §7.2.3.1: "Hello" compressed in one DEFLATE block, the tail removed.
    const HELLO: &str = "f2 48 cd c9 c9 07 00";

    #[test]
    fn hello_compressed_as_in_section_7_2_3_1() {
        // §7.2.3.1: "0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00".
        let out = inflate_hex("c1 07 f2 48 cd c9 c9 07 00", Role::Server).unwrap();
        assert!(out.contains("\n  FIN 1 · RSV1 1 · RSV2 0 · RSV3 0 · opcode 0x1 text\n"), "{out}");
        assert!(out.contains("\n  RSV1 1: the message is compressed (RFC 7692 §6"), "{out}");
        assert!(
            out.ends_with(
                "message 1: text, 5 bytes, 1 frame, compressed: \"Hello\"\n\
                 \x20 compressed     f2 48 cd c9 c9 07 00\n\
                 \x20 ratio          7 bytes compressed for 5 inflated: 140 %\n"
            ),
            "{out}"
        );
    }

    #[test]
    fn a_stored_block_and_a_final_block_inflate_too() {
        // §7.2.3.3: a DEFLATE block with no compression, "Hello" as it is after its header.
        let stored = inflate_hex("c1 0b 00 05 00 fa ff 48 65 6c 6c 6f 00", Role::Server).unwrap();
        assert!(stored.contains("message 1: text, 5 bytes, 1 frame, compressed: \"Hello\""));
        assert!(stored.contains("ratio          11 bytes compressed for 5 inflated: 220 %"));
        // §7.2.3.4: BFINAL set, and a 00 after it that is not part of the stream.
        let last = inflate_hex("c1 08 f3 48 cd c9 c9 07 00 00", Role::Server).unwrap();
        assert!(last.contains("message 1: text, 5 bytes, 1 frame, compressed: \"Hello\""));
    }

    #[test]
    fn the_fragments_of_a_compressed_message_are_inflated_joined() {
        // RSV1 on the first frame only; the DEFLATE stream is cut between the two payloads.
        let out = inflate_hex("41 03 f2 48 cd 80 04 c9 c9 07 00", Role::Server).unwrap();
        assert!(out.contains("RSV1 1 · RSV2 0 · RSV3 0 · opcode 0x1 text (the first"), "{out}");
        assert!(out.contains("message 1: text, 5 bytes, 2 frames, compressed: \"Hello\""));
        assert!(out.contains("  compressed     f2 48 cd c9 c9 07 00\n"), "{out}");
    }

    #[test]
    fn a_masked_compressed_frame_from_a_client_is_unmasked_then_inflated() {
        let input = client_frame(0xc1, &bytes(HELLO));
        let out = inflate_hex(&hex(&input), Role::Client).unwrap();
        assert!(out.contains("  payload        f2 48 cd c9 c9 07 00\n"), "{out}");
        assert!(out.contains("message 1: text, 5 bytes, 1 frame, compressed: \"Hello\""));
    }

    #[test]
    fn a_message_without_rsv1_is_not_compressed() {
        let out = inflate_hex("81 05 48 65 6c 6c 6f", Role::Server).unwrap();
        assert!(out.contains("\n  RSV1 0: the message is not compressed (RFC 7692 §6"), "{out}");
        assert!(out.ends_with("message 1: text, 5 bytes, 1 frame: \"Hello\"\n"), "{out}");
        // A binary message compressed: inflated, shown in hex.
        let out = inflate_hex(&format!("c2 07 {HELLO}"), Role::Server).unwrap();
        assert!(out.contains("message 1: binary, 5 bytes, 1 frame, compressed\n"), "{out}");
        assert!(out.ends_with("  payload        48 65 6c 6c 6f\n"), "{out}");
    }

    #[test]
    fn rsv1_on_a_control_frame_or_a_continuation_is_an_error() {
        let error = inflate_hex("c9 00", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::CompressedControl { at: 0, opcode: Opcode::Ping });
        assert!(error.to_string().starts_with(
            "byte 0: RSV1 is set on a ping frame, but control frames are never compressed \
             (RFC 7692 §6: \"An endpoint MUST NOT set"
        ));
        let error = inflate_hex("41 03 f2 48 cd c0 04 c9 c9 07 00", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::CompressedContinuation { at: 5 });
        assert!(error.to_string().contains("only the first frame of a message carries it"));
        // RSV2 means nothing to permessage-deflate.
        let error = inflate_hex("e1 00", Role::Server).unwrap_err();
        assert!(error.to_string().contains("RSV2 is set, but permessage-deflate gives"));
    }

    #[test]
    fn without_inflate_rsv1_is_an_error_that_points_at_it() {
        let error =
            crate::ws::frame::examples::describe_hex("c1 07 f2 48 cd c9 c9 07 00", Role::Server)
                .unwrap_err();
        let text = error.to_string();
        assert!(text.starts_with("byte 0: RSV1 is set, but no extension is negotiated"), "{text}");
        assert!(text.ends_with("decode --inflate reads it so"), "{text}");
    }

    #[test]
    fn a_message_that_inflates_past_the_limit_stops_there() {
        // 65 MiB of zeros compress to some 65 KB: a frame with a 64-bit length.
        let bomb = crate::ws::deflate::Compressor::new(usize::MAX).compress(&vec![0; 65 << 20]);
        let mut input = vec![0xc2, 0x7f];
        input.extend((bomb.len() as u64).to_be_bytes());
        input.extend(&bomb);
        let mut out = String::new();
        let error = describe(&input, Role::Server, Extension::PermessageDeflate, &mut out);
        assert_eq!(error.unwrap_err(), DecodeError::InflatesTooBig { at: 10, max: 64 << 20 });
    }

    #[test]
    fn bytes_that_do_not_inflate_or_inflate_to_no_text_are_errors() {
        // BTYPE 11 is reserved (RFC 1951 §3.2.3): not a DEFLATE stream.
        let error = inflate_hex("81 00 c1 03 ff ff ff", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::NotDeflate { at: 4 });
        assert!(error.to_string().starts_with("byte 4: the compressed message does not inflate"));
        // A stored block holding c3 28, which is not UTF-8; the offset is in the inflated text.
        let error = inflate_hex("c1 08 00 03 00 fc ff 41 c3 28", Role::Server).unwrap_err();
        let sequence = vec![0xc3];
        assert_eq!(error, DecodeError::InflatedNotUtf8 { at: 2, offset: 1, sequence });
        assert_eq!(
            error.to_string(),
            "byte 2: the text message, inflated, is not UTF-8 at its byte 1: c3 is not a \
             character (§8.1)"
        );
    }
}
