//! Frames joined into messages (RFC 6455 §5.4), and the message checks that need the whole
//! message: UTF-8 for text (§8.1), the body of a close frame (§5.5.1).
//!
//! §5.4: "A fragmented message consists of a single frame with the FIN bit clear and an opcode
//! other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0,
//! and terminated by a single frame with the FIN bit set and an opcode of 0." So a text or binary
//! frame starts a message, continuation frames add to it, the one with FIN 1 ends it; control
//! frames "MAY be injected in the middle of a fragmented message" and are messages of their own.
//! A text message is checked as UTF-8 only once whole, since a character may be split between two
//! frames. This is the decoder's; the session's messages are joined by its receiver
//! (`ws/receive.rs`), which checks UTF-8 as fragments arrive.
//!
//! Under permessage-deflate (`--inflate`, `extension.rs`), a message whose first frame has RSV1
//! set is compressed: its frames' payloads are joined first, as any message's, then inflated as
//! one DEFLATE stream (RFC 7692 §6, §7.2.2), and a text message is checked as UTF-8 after that.

use crate::ws::deflate::{InflateError, inflate};
use crate::ws::frame::close_code;
use crate::ws::frame::error::DecodeError;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::opcode::Opcode;
use crate::ws::frame::wire::WireFrame;

/// Frames joined into messages (§5.4): a text or binary frame starts a message, continuation
/// frames add to it, the one with FIN 1 ends it. Control frames stand alone and may come between.
pub(super) struct Messages {
    /// What RSV1 means on a message's first frame (RFC 7692 §6), if anything.
    extension: Extension,
    /// The message still waiting for its frame with FIN 1.
    open: Option<Partial>,
    /// The messages made whole, in the order their last frame came.
    done: Vec<Message>,
}

/// A message whose frames have not all come yet.
struct Partial {
    opcode: Opcode,
    /// RSV1 on its first frame, under permessage-deflate: its payload is to be inflated.
    compressed: bool,
    frames: usize,
    payload: Vec<u8>,
    /// Where each frame's payload starts: in the message, and in the input (to point at a byte).
    pieces: Vec<(usize, usize)>,
}

/// A message made whole and checked, ready to print.
pub(super) enum Message {
    /// Text, checked as UTF-8 (§8.1); `compressed` holds the bytes it was inflated from.
    Text {
        text: String,
        frames: usize,
        compressed: Option<Vec<u8>>,
    },
    Binary {
        payload: Vec<u8>,
        frames: usize,
        compressed: Option<Vec<u8>>,
    },
    /// A close frame's status code and reason (§5.5.1); both are optional.
    Close {
        code: Option<u16>,
        reason: String,
    },
    /// A ping or a pong, and its application data (§5.5.2, §5.5.3).
    Control {
        opcode: Opcode,
        payload: Vec<u8>,
    },
    /// A text or binary message whose frame with FIN 1 never came.
    Unfinished {
        opcode: Opcode,
        len: usize,
        frames: usize,
        compressed: bool,
    },
}

impl Messages {
    /// No message yet; first frames are read under `extension`.
    pub(super) fn new(extension: Extension) -> Messages {
        Messages { extension, open: None, done: Vec::new() }
    }

    /// Adds the frame that starts at byte `at` of the input.
    pub(super) fn push(&mut self, frame: &WireFrame, at: usize) -> Result<(), DecodeError> {
        let payload_at = at + frame.header_bytes.len();
        let payload = frame.payload(usize::MAX);
        if frame.header.opcode.is_control() {
            let message = match frame.header.opcode {
                Opcode::Close => close_message(&payload, payload_at)?,
                opcode => Message::Control { opcode, payload },
            };
            self.done.push(message);
            return Ok(());
        }
        let mut message = match (self.open.take(), frame.header.opcode) {
            (Some(message), Opcode::Continuation) => message,
            (None, Opcode::Continuation) => return Err(DecodeError::StrayContinuation { at }),
            (Some(_), opcode) => return Err(DecodeError::Interleaved { at, opcode }),
            (None, opcode) => {
                let compressed = self.extension.compresses(frame.header.rsv[0], opcode);
                Partial { opcode, compressed, frames: 0, payload: Vec::new(), pieces: vec![] }
            }
        };
        message.frames += 1;
        message.pieces.push((message.payload.len(), payload_at));
        message.payload.extend_from_slice(&payload);
        if frame.header.fin {
            self.done.push(message.whole()?);
        } else {
            self.open = Some(message);
        }
        Ok(())
    }

    /// Every message, the unfinished one last.
    pub(super) fn finish(mut self) -> Vec<Message> {
        if let Some(open) = self.open {
            let Partial { opcode, compressed, frames, payload, .. } = open;
            self.done.push(Message::Unfinished { opcode, len: payload.len(), frames, compressed });
        }
        self.done
    }
}

impl Partial {
    /// The message its last frame completed. A text message is checked as UTF-8 only now: a
    /// character may be split between two frames.
    fn whole(self) -> Result<Message, DecodeError> {
        if self.compressed {
            return self.inflated();
        }
        let frames = self.frames;
        if self.opcode == Opcode::Binary {
            return Ok(Message::Binary { payload: self.payload, frames, compressed: None });
        }
        let text = utf8(self.payload, &self.pieces, "the text message")?;
        Ok(Message::Text { text, frames, compressed: None })
    }

    /// A compressed message, inflated (RFC 7692 §7.2.2: `inflate` appends the 00 00 ff ff the
    /// sender removed), then, if text, checked as UTF-8: a character's bytes mean nothing
    /// before inflating. Errors point at the message's first payload byte, since the input holds
    /// no byte of the inflated text.
    fn inflated(self) -> Result<Message, DecodeError> {
        let at = self.pieces.first().map_or(0, |&(_, input)| input);
        let payload = inflate(&self.payload, MAX_INFLATED).map_err(|error| match error {
            InflateError::TooBig => DecodeError::InflatesTooBig { at, max: MAX_INFLATED },
            InflateError::Corrupt => DecodeError::NotDeflate { at },
        })?;
        let (frames, compressed) = (self.frames, Some(self.payload));
        if self.opcode == Opcode::Binary {
            return Ok(Message::Binary { payload, frames, compressed });
        }
        let text = String::from_utf8(payload).map_err(|error| {
            let (offset, bad) = bad_sequence(&error);
            DecodeError::InflatedNotUtf8 { at, offset, sequence: bad.to_vec() }
        })?;
        Ok(Message::Text { text, frames, compressed })
    }
}

/// A close frame's body, read as §5.5.1 says: empty, or a status code and a UTF-8 reason.
fn close_message(payload: &[u8], at: usize) -> Result<Message, DecodeError> {
    match payload {
        [] => Ok(Message::Close { code: None, reason: String::new() }),
        // §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
        // integer (in network byte order) representing a status code".
        [_] => Err(DecodeError::CloseBodyTooShort { at }),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if close_code::meaning(code).is_err() {
                return Err(DecodeError::BadCloseCode { at, code });
            }
            let reason = utf8(reason.to_vec(), &[(0, at + 2)], "the close reason")?;
            Ok(Message::Close { code: Some(code), reason })
        }
    }
}

/// `bytes` as a string, or the error pointing at the first byte in the input that is not part of
/// a character; `pieces` map offsets in `bytes` to the input, as in [`Partial`].
fn utf8(
    bytes: Vec<u8>,
    pieces: &[(usize, usize)],
    what: &'static str,
) -> Result<String, DecodeError> {
    String::from_utf8(bytes).map_err(|error| {
        let (bad, sequence) = bad_sequence(&error);
        // The last piece starting at or before the bad byte holds it (an empty piece cannot, but
        // the piece after it starts at the same offset and comes later).
        let at = pieces
            .iter()
            .rev()
            .find(|(start, _)| *start <= bad)
            .map_or(bad, |(start, input)| input + (bad - start));
        DecodeError::NotUtf8 { at, what, sequence: sequence.to_vec() }
    })
}

/// Where the bytes stop being UTF-8, and the bytes there that make no character.
fn bad_sequence(error: &std::string::FromUtf8Error) -> (usize, &[u8]) {
    let bytes = error.as_bytes();
    let bad = error.utf8_error().valid_up_to();
    let end = error.utf8_error().error_len().map_or(bytes.len(), |len| bad + len);
    (bad, &bytes[bad..end])
}

/// The most bytes a compressed message may inflate to here: the largest `MAX_MESSAGE_BYTES` the
/// server takes, 64 MiB, so that any message a server could accept is shown.
const MAX_INFLATED: usize = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::examples::{client_frame, describe_hex};

    use crate::ws::frame::hex::hex;
    use crate::ws::frame::mask::Role;

    #[test]
    fn a_control_frame_may_come_between_fragments() {
        // §5.4: "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented
        // message." The ping is a whole message before the text is.
        let out = describe_hex("01 03 48 65 6c 89 00 80 02 6c 6f", Role::Server).unwrap();
        assert!(out.contains("message 1: ping, 0 bytes\nmessage 2: text, 5 bytes, 2 frames"));
    }

    #[test]
    fn a_character_split_between_two_frames_is_still_utf_8() {
        // "é" is c3 a9: each frame alone is not UTF-8, the message is.
        let out = describe_hex("01 01 c3 80 01 a9", Role::Server).unwrap();
        assert!(out.ends_with("message 1: text, 2 bytes, 2 frames: \"é\"\n"), "{out}");
    }

    #[test]
    fn frames_out_of_order_break_the_rules_of_fragmentation() {
        let error = describe_hex("80 02 6c 6f", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::StrayContinuation { at: 0 });
        assert!(error.to_string().contains("no message waits for one (§5.4"));
        let error = describe_hex("01 03 48 65 6c 81 00", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::Interleaved { at: 5, opcode: Opcode::Text });
    }

    #[test]
    fn text_that_is_not_utf_8_is_an_error_at_its_byte() {
        // §8.1: a text message must be UTF-8; c3 28 is not (c3 starts a 2-byte character).
        let error = describe_hex("01 01 41 80 02 c3 28", Role::Server).unwrap_err();
        let sequence = vec![0xc3];
        assert_eq!(error, DecodeError::NotUtf8 { at: 5, what: "the text message", sequence });
        assert_eq!(
            error.to_string(),
            "byte 5: the text message is not UTF-8 here: c3 is not a character (§8.1)"
        );
        // A masked frame: the offset is the byte's on the wire, the bytes shown are unmasked.
        let input = client_frame(0x81, &[0x41, 0xff]);
        let error = describe_hex(&hex(&input), Role::Client).unwrap_err();
        let sequence = vec![0xff];
        assert_eq!(error, DecodeError::NotUtf8 { at: 7, what: "the text message", sequence });
    }

    #[test]
    fn a_close_body_must_be_empty_or_a_valid_code_and_a_utf_8_reason() {
        let error = describe_hex("88 01 03", Role::Server).unwrap_err();
        assert_eq!(error, DecodeError::CloseBodyTooShort { at: 2 });
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let [high, low] = code.to_be_bytes();
            let error = describe_hex(&hex(&[0x88, 0x02, high, low]), Role::Server).unwrap_err();
            assert_eq!(error, DecodeError::BadCloseCode { at: 2, code }, "{code}");
        }
        let error = describe_hex("88 02 03 ed", Role::Server).unwrap_err();
        assert!(error.to_string().contains("\"MUST NOT be set as a status code in a Close"));
        for code in [1000u16, 1001, 1003, 1011, 1013, 3000, 4999] {
            let [high, low] = code.to_be_bytes();
            assert!(describe_hex(&hex(&[0x88, 0x02, high, low]), Role::Server).is_ok(), "{code}");
        }
        let error = describe_hex("88 03 03 e8 ff", Role::Server).unwrap_err();
        assert!(matches!(error, DecodeError::NotUtf8 { at: 4, what: "the close reason", .. }));
    }
}
