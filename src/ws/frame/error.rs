//! What can be wrong with frames written in hex, each error at its byte and with its rule.
//!
//! The decoder is for learning, so an error says where and why: `byte 2: payload length 5 is
//! written in the 16-bit form, but fits in the 7-bit form (§5.2: "the minimal number of bytes
//! MUST be used to encode the length")`. Every variant keeps the byte offset it is about (`at`,
//! from 0, counted from the start of the input once [`DecodeError::offset_by`] has moved it
//! from the frame's own first byte) and its text quotes the rule and its section: §5.1
//! (masking), §5.2 (the header), §5.4 (fragments), §5.5 (control frames), §7.4 (close codes),
//! §8.1 (UTF-8), and RFC 7692 §6 and §7.2.2 for compressed messages (`--inflate`). Errors in the
//! hex itself count characters instead, from 1.
//!
//! Which check finds which error: the header's ([`Header::parse`](super::header::Header::parse)
//! and [`Header::check`](super::header::Header::check)), the sender's masking
//! ([`Role::check`](super::mask::Role::check)), the joining of frames into messages and the
//! inflating of compressed ones (`message.rs`), the hex reader
//! ([`parse_hex`](super::hex::parse_hex)).

use std::fmt;

use crate::ws::frame::close_code;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::length::LenForm;
use crate::ws::frame::opcode::Opcode;

/// What is wrong with the frames, or with the hex they were written in. `at` is a byte offset,
/// from 0; a position in the hex is a character, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A character in the hex is none of a hex digit, a space, a comma, or an `0x`.
    NotHex {
        /// Where, counting characters from 1.
        position: usize,
        /// The character.
        found: char,
    },
    /// A group of hex digits between spaces or commas has an odd number of them.
    OddHex {
        /// Where the group starts, counting characters from 1.
        position: usize,
        /// The group.
        group: String,
    },
    /// There is not a single byte to decode.
    NoBytes,
    /// The bytes end inside a frame's header.
    TruncatedHeader {
        /// The frame's first byte.
        at: usize,
        /// Bytes its header takes (at least 2 while byte 1 is missing).
        needed: usize,
        /// Bytes there are.
        have: usize,
    },
    /// The bytes end inside a frame's payload.
    TruncatedPayload {
        /// The frame's first byte.
        at: usize,
        /// The payload length the header gives.
        len: u64,
        /// Bytes there are after the header.
        have: usize,
    },
    /// Bytes after a whole frame that do not make a frame: a payload length too small in the
    /// frame before, or a frame cut short.
    Leftover {
        /// The number of the last whole frame, from 1.
        after: usize,
        /// How many bytes are left.
        count: usize,
        /// Why they are not a frame (a truncated header or payload); its `at` is theirs.
        cause: Box<DecodeError>,
    },
    /// The 64-bit payload length has its most significant bit set (§5.2).
    LengthMsb {
        /// The length's first byte.
        at: usize,
    },
    /// The payload length is written in a longer form than it needs (§5.2).
    NotMinimal {
        /// The extended length's first byte.
        at: usize,
        /// The length.
        len: u64,
        /// The form it was written in.
        form: LenForm,
    },
    /// An RSV bit is set, with no extension to give it a meaning (§5.2).
    ReservedBits {
        /// The frame's first byte.
        at: usize,
        /// RSV1, RSV2, RSV3: those set that `extension` gives no meaning to.
        rsv: [bool; 3],
        /// The extension the frames were read under.
        extension: Extension,
    },
    /// RSV1 on a control frame under permessage-deflate (RFC 7692 §6).
    CompressedControl {
        /// The frame's first byte.
        at: usize,
        /// Its opcode.
        opcode: Opcode,
    },
    /// RSV1 on a continuation frame under permessage-deflate (RFC 7692 §6).
    CompressedContinuation {
        /// The frame's first byte.
        at: usize,
    },
    /// The opcode is one of the reserved ones, 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode {
        /// The frame's first byte.
        at: usize,
        /// The opcode.
        opcode: Opcode,
    },
    /// A control frame with FIN 0 (§5.5).
    ControlFragmented {
        /// The frame's first byte.
        at: usize,
        /// Its opcode.
        opcode: Opcode,
    },
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlTooLong {
        /// The frame's byte 1, where its length starts.
        at: usize,
        /// Its opcode.
        opcode: Opcode,
        /// Its payload length.
        len: u64,
    },
    /// A client's frame without a mask (§5.1).
    UnmaskedClientFrame {
        /// The frame's byte 1, which holds the MASK bit.
        at: usize,
    },
    /// A server's frame with a mask (§5.1).
    MaskedServerFrame {
        /// The frame's byte 1, which holds the MASK bit.
        at: usize,
    },
    /// A continuation frame while no message waits for one (§5.4).
    StrayContinuation {
        /// The frame's first byte.
        at: usize,
    },
    /// A text or binary frame while the message before it still waits for its last frame (§5.4).
    Interleaved {
        /// The frame's first byte.
        at: usize,
        /// Its opcode.
        opcode: Opcode,
    },
    /// A text message or a close reason that is not UTF-8 (§8.1, §5.5.1).
    NotUtf8 {
        /// The first byte that is not part of a character.
        at: usize,
        /// "the text message" or "the close reason".
        what: &'static str,
        /// The bytes, unmasked, that do not make a character.
        sequence: Vec<u8>,
    },
    /// A compressed message whose payload is not a DEFLATE stream (RFC 7692 §7.2.2).
    NotDeflate {
        /// The first byte of the message's payload.
        at: usize,
    },
    /// A compressed message that inflates to more than the decoder keeps.
    InflatesTooBig {
        /// The first byte of the message's payload.
        at: usize,
        /// The most bytes it may inflate to.
        max: usize,
    },
    /// A compressed text message whose inflated bytes are not UTF-8 (§8.1).
    InflatedNotUtf8 {
        /// The first byte of the message's payload.
        at: usize,
        /// Where in the inflated text, from 0.
        offset: usize,
        /// The inflated bytes that do not make a character.
        sequence: Vec<u8>,
    },
    /// A close frame with a 1-byte body: too short for its status code (§5.5.1).
    CloseBodyTooShort {
        /// The body's byte.
        at: usize,
    },
    /// A close status code that may not be sent (§7.4).
    BadCloseCode {
        /// The code's first byte.
        at: usize,
        /// The code.
        code: u16,
    },
}

impl DecodeError {
    /// The byte offset the error is about, if it is about the bytes (not the hex).
    pub fn at(&self) -> Option<usize> {
        self.clone().offset_mut().map(|at| *at)
    }

    /// The same error with its byte offset moved by `base`: for a frame read from the middle of
    /// longer input, whose errors count from the frame's first byte.
    pub fn offset_by(mut self, base: usize) -> DecodeError {
        if let Some(at) = self.offset_mut() {
            *at += base;
        }
        self
    }

    /// Where the error's byte offset is kept, if it has one.
    fn offset_mut(&mut self) -> Option<&mut usize> {
        use DecodeError::*;
        match self {
            NotHex { .. } | OddHex { .. } | NoBytes => None,
            Leftover { cause, .. } => cause.offset_mut(),
            TruncatedHeader { at, .. }
            | TruncatedPayload { at, .. }
            | LengthMsb { at }
            | NotMinimal { at, .. }
            | ReservedBits { at, .. }
            | CompressedControl { at, .. }
            | CompressedContinuation { at }
            | ReservedOpcode { at, .. }
            | ControlFragmented { at, .. }
            | ControlTooLong { at, .. }
            | UnmaskedClientFrame { at }
            | MaskedServerFrame { at }
            | StrayContinuation { at }
            | Interleaved { at, .. }
            | NotUtf8 { at, .. }
            | NotDeflate { at }
            | InflatesTooBig { at, .. }
            | InflatedNotUtf8 { at, .. }
            | CloseBodyTooShort { at }
            | BadCloseCode { at, .. } => Some(at),
        }
    }

    /// The sentence after the "byte N: " of [`fmt::Display`].
    fn reason(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        match self {
            NotHex { position, found } => {
                write!(f, "character {position} is {found:?}, not a hex digit")
            }
            OddHex { position, group } => write!(
                f,
                "character {position}: {group:?} has an odd number of hex digits \
                 (a byte is two digits: 05, not 5)"
            ),
            NoBytes => write!(f, "no bytes to decode"),
            TruncatedHeader { needed, have, .. } => {
                let least = if *have < 2 { "at least " } else { "" };
                write!(f, "the frame header needs {least}{needed} bytes, {}", there(*have))
            }
            TruncatedPayload { len, have, .. } => {
                write!(f, "the payload length is {len} bytes, but {}", follow(*have))
            }
            Leftover { after, count, cause } => {
                let (bytes, are) = if *count == 1 { ("byte", "is") } else { ("bytes", "are") };
                write!(f, "the {count} {bytes} after frame {after} {are} not a whole frame: ")?;
                cause.reason(f)
            }
            LengthMsb { .. } => write!(
                f,
                "the 64-bit payload length has its most significant bit set \
                 (§5.2: \"the most significant bit MUST be 0\")"
            ),
            NotMinimal { len, form, .. } => write!(
                f,
                "payload length {len} is written in the {} form, but fits in the {} form \
                 (§5.2: \"the minimal number of bytes MUST be used to encode the length\")",
                form.as_str(),
                LenForm::minimal(*len).as_str()
            ),
            ReservedBits { rsv, extension, .. } => {
                let set: Vec<String> =
                    (0..3).filter(|&i| rsv[i]).map(|i| format!("RSV{}", i + 1)).collect();
                let is = if set.len() == 1 { "is" } else { "are" };
                let why = match extension {
                    Extension::None => "no extension is negotiated",
                    Extension::PermessageDeflate => "permessage-deflate gives RSV1 a meaning only",
                };
                write!(
                    f,
                    "{} {is} set, but {why} (§5.2: RSV1-3 \"MUST be 0 unless an extension is \
                     negotiated that defines meanings for non-zero values\")",
                    set.join(" and ")
                )?;
                if *extension == Extension::None && rsv[0] {
                    write!(
                        f,
                        "; permessage-deflate (RFC 7692 §6) makes RSV1 the mark of a compressed \
                         message: decode --inflate reads it so"
                    )?;
                }
                Ok(())
            }
            CompressedControl { opcode, .. } => write!(
                f,
                "RSV1 is set on a {} frame, but control frames are never compressed (RFC 7692 \
                 §6: \"An endpoint MUST NOT set the \"Per-Message Compressed\" bit of control \
                 frames and non-first fragments of a data message\")",
                opcode.name()
            ),
            CompressedContinuation { .. } => write!(
                f,
                "RSV1 is set on a continuation frame, but only the first frame of a message \
                 carries it (RFC 7692 §6: \"An endpoint MUST NOT set the \"Per-Message \
                 Compressed\" bit of control frames and non-first fragments of a data \
                 message\")"
            ),
            ReservedOpcode { opcode, .. } => write!(
                f,
                "opcode 0x{opcode:x} is reserved (§5.2: 0x3-0x7 for further non-control frames, \
                 0xB-0xF for further control frames)"
            ),
            ControlFragmented { opcode, .. } => write!(
                f,
                "a {} frame with FIN 0 (§5.5: control frames \"MUST NOT be fragmented\")",
                opcode.name()
            ),
            ControlTooLong { opcode, len, .. } => write!(
                f,
                "a {} frame with a {len}-byte payload (§5.5: \"All control frames MUST have a \
                 payload length of 125 bytes or less\")",
                opcode.name()
            ),
            UnmaskedClientFrame { .. } => write!(
                f,
                "an unmasked client frame (MASK 0; §5.1: \"a client MUST mask all frames that \
                 it sends to the server\")"
            ),
            MaskedServerFrame { .. } => write!(
                f,
                "a masked server frame (MASK 1; §5.1: \"A server MUST NOT mask any frames that \
                 it sends to the client\")"
            ),
            StrayContinuation { .. } => write!(
                f,
                "a continuation frame, but no message waits for one (§5.4: a fragmented \
                 message starts with a text or binary frame with FIN 0)"
            ),
            Interleaved { opcode, .. } => write!(
                f,
                "a new {} frame before the last frame of the message before it (§5.4: \"The \
                 fragments of one message MUST NOT be interleaved between the fragments of \
                 another message\")",
                opcode.name()
            ),
            NotUtf8 { what, sequence, .. } => {
                write!(f, "{what} is not UTF-8 here: ")?;
                write_bytes(f, sequence)?;
                write!(f, " is not a character (§8.1)")
            }
            NotDeflate { .. } => write!(
                f,
                "the compressed message does not inflate: its payload, joined over its frames \
                 and followed by 00 00 ff ff, is not a DEFLATE stream (RFC 7692 §7.2.2; DEFLATE \
                 is RFC 1951)"
            ),
            InflatesTooBig { max, .. } => write!(
                f,
                "the compressed message inflates to more than {max} bytes, the most the decoder \
                 keeps (a few kilobytes can inflate to gigabytes)"
            ),
            InflatedNotUtf8 { offset, sequence, .. } => {
                write!(f, "the text message, inflated, is not UTF-8 at its byte {offset}: ")?;
                write_bytes(f, sequence)?;
                write!(f, " is not a character (§8.1)")
            }
            CloseBodyTooShort { .. } => write!(
                f,
                "a close frame with a 1-byte body (§5.5.1: \"the first two bytes of the body \
                 MUST be a 2-byte unsigned integer\", the status code)"
            ),
            BadCloseCode { code, .. } => match close_code::meaning(*code) {
                Err(why) => write!(f, "close code {code} {why}"),
                Ok(meaning) => write!(f, "close code {code} ({meaning})"),
            },
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = self.at() {
            write!(f, "byte {at}: ")?;
        }
        self.reason(f)
    }
}

impl std::error::Error for DecodeError {}

/// Bytes in hex as `hex.rs` writes them (`c3 28`); that file reports its errors with this one.
fn write_bytes(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for (i, byte) in bytes.iter().enumerate() {
        write!(f, "{}{byte:02x}", if i == 0 { "" } else { " " })?;
    }
    Ok(())
}

/// "there is only 1", "there are only 3", "there are none".
fn there(have: usize) -> String {
    match have {
        0 => "there are none".to_string(),
        1 => "there is only 1".to_string(),
        n => format!("there are only {n}"),
    }
}

/// "only 1 follows the header", "only 3 follow the header", "none follow the header".
fn follow(have: usize) -> String {
    match have {
        0 => "none follow the header".to_string(),
        1 => "only 1 follows the header".to_string(),
        n => format!("only {n} follow the header"),
    }
}

#[cfg(test)]
mod tests {
    use crate::ws::frame::hex::hex;

    use crate::ws::frame::examples::{parse_error, with_payload};

    #[test]
    fn errors_name_the_byte_the_rule_and_its_section() {
        let cases = [
            ("82 7e 01", "byte 0: the frame header needs 4 bytes, there are only 3"),
            ("81", "byte 0: the frame header needs at least 2 bytes, there is only 1"),
            (
                "81 05 48 65 6c",
                "byte 0: the payload length is 5 bytes, but only 3 follow the header",
            ),
            (
                "82 7e 00 05",
                "byte 2: payload length 5 is written in the 16-bit form, but fits in the 7-bit \
                 form (§5.2: \"the minimal number of bytes MUST be used to encode the length\")",
            ),
            (
                "82 7f 80 00 00 00 00 00 00 00",
                "byte 2: the 64-bit payload length has its most significant bit set (§5.2: \"the \
                 most significant bit MUST be 0\")",
            ),
            ("83 00", "byte 0: opcode 0x3 is reserved (§5.2: 0x3-0x7 for further non-control"),
            ("c1 00", "byte 0: RSV1 is set, but no extension is negotiated (§5.2"),
            ("09 00", "byte 0: a ping frame with FIN 0 (§5.5: control frames \"MUST NOT be"),
        ];
        for (text, expected) in cases {
            let message = parse_error(text).to_string();
            assert!(message.starts_with(expected), "{text}: {message}");
        }
        let control = parse_error(&hex(&with_payload("8a 7e 00 c8", 200))).to_string();
        assert!(control.starts_with("byte 1: a pong frame with a 200-byte payload (§5.5"));
    }
}
