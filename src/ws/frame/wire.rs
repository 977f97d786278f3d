//! One whole frame as it crossed the wire: its header read by the one parser (`header.rs`),
//! then its payload, borrowed from the bytes it was read from (RFC 6455 §5.2).
//!
//! This is the decoder's unit (`websocketchat decode`): [`WireFrame::parse`] finds one frame at
//! the start of the bytes and judges it, and `describe.rs` walks the input frame by frame. The
//! order of the checks follows what reading needs: the header must be whole and its length well
//! written before the payload can be found, and only a frame that has been found is judged on the
//! rest (RSV, opcode, control frames), so that each error names the first thing a reader would
//! trip over.

use crate::ws::frame::error::DecodeError;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::header::Header;
use crate::ws::frame::mask::unmask;

/// One frame, borrowed from the bytes it was read from (§5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame<'a> {
    /// The header, read.
    pub header: Header,
    /// Every byte before the payload: bytes 0 and 1, the extended length, the masking key.
    pub header_bytes: &'a [u8],
    /// The payload as it crossed the wire: still masked when the header has a mask.
    pub payload_wire: &'a [u8],
}

impl<'a> WireFrame<'a> {
    /// Reads and checks the frame at the start of `bytes`, which must hold all of it; bytes after
    /// it are left alone. [`WireFrame::cut`] finds it, [`Header::check`] applies the rules of
    /// §5.2 and §5.5 to its header, its RSV bits judged under `extension` (RFC 7692 §6). Error
    /// offsets count from the start of `bytes`.
    pub fn parse(bytes: &'a [u8], extension: Extension) -> Result<WireFrame<'a>, DecodeError> {
        let frame = WireFrame::cut(bytes)?;
        frame.header.check(extension)?;
        Ok(frame)
    }

    /// Finds the frame at the start of `bytes` without judging its fields, checking only what
    /// finding its end needs: a whole header, a well-written length ([`Header::parse`]), the
    /// whole payload.
    ///
    /// The length is checked before the payload is looked for, so a header alone is enough to
    /// learn that its length is wrong.
    fn cut(bytes: &'a [u8]) -> Result<WireFrame<'a>, DecodeError> {
        let header = Header::parse(bytes)?;
        let (header_bytes, rest) = bytes.split_at(header.size);
        let len = header.len;
        let Some(payload_len) = usize::try_from(len).ok().filter(|&n| n <= rest.len()) else {
            return Err(DecodeError::TruncatedPayload { at: 0, len, have: rest.len() });
        };
        Ok(WireFrame { header, header_bytes, payload_wire: &rest[..payload_len] })
    }

    /// Bytes the frame takes on the wire: header and payload.
    pub fn wire_len(&self) -> usize {
        self.header_bytes.len() + self.payload_wire.len()
    }

    /// The payload unmasked (§5.3), its first `max` bytes at most.
    pub fn payload(&self, max: usize) -> Vec<u8> {
        unmask(&self.payload_wire[..max.min(self.payload_wire.len())], self.header.mask)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::examples::{KEY, bytes, parse_error, with_payload};
    use crate::ws::frame::hex::hex;
    use crate::ws::frame::length::LenForm;
    use crate::ws::frame::opcode::Opcode;

    #[test]
    fn a_single_frame_unmasked_text_message_as_in_section_5_7() {
        // §5.7: "A single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f
        // (contains "Hello")".
        let input = bytes("81 05 48 65 6c 6c 6f");
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin);
        assert_eq!(frame.header.rsv, [false; 3]);
        assert_eq!((frame.header.opcode, frame.header.opcode.name()), (Opcode::Text, "text"));
        assert_eq!((frame.header.mask, frame.header.masked()), (None, false));
        assert_eq!(
            (frame.header.len, frame.header.len_form, frame.header.len_form.as_str()),
            (5, LenForm::Bits7, "7-bit")
        );
        assert_eq!(frame.header_bytes, [0x81, 0x05]);
        assert_eq!(frame.payload_wire, b"Hello");
        assert_eq!(frame.payload(usize::MAX), b"Hello");
        assert_eq!(frame.wire_len(), 7);
    }

    #[test]
    fn a_single_frame_masked_text_message_as_in_section_5_7() {
        // §5.7: "A single-frame masked text message: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d
        // 0x51 0x58 (contains "Hello")".
        let input = bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58");
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin);
        assert_eq!(frame.header.rsv, [false; 3]);
        assert_eq!((frame.header.opcode, frame.header.opcode.name()), (Opcode::Text, "text"));
        assert_eq!((frame.header.mask, frame.header.masked()), (Some(KEY), true));
        assert_eq!((frame.header.len, frame.header.len_form), (5, LenForm::Bits7));
        assert_eq!(hex(frame.header_bytes), "81 85 37 fa 21 3d");
        assert_eq!(hex(frame.payload_wire), "7f 9f 4d 51 58");
        assert_eq!(frame.payload(usize::MAX), b"Hello");
        assert_eq!(frame.payload(2), b"He");
        assert_eq!(frame.wire_len(), 11);
    }

    #[test]
    fn an_unmasked_ping_as_in_section_5_7() {
        // §5.7: "Unmasked Ping request and masked Ping response": 0x89 0x05 0x48 0x65 0x6c 0x6c
        // 0x6f.
        let input = bytes("89 05 48 65 6c 6c 6f");
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin && frame.header.opcode.is_control());
        assert_eq!((frame.header.opcode, frame.header.opcode.name()), (Opcode::Ping, "ping"));
        assert_eq!(
            (frame.header.mask, frame.header.len, frame.header.len_form),
            (None, 5, LenForm::Bits7)
        );
        assert_eq!(frame.payload(usize::MAX), b"Hello");
    }

    #[test]
    fn a_masked_pong_as_in_section_5_7() {
        // §5.7: 0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 (contains a body of "Hello",
        // matching the body of the ping).
        let input = bytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58");
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin && frame.header.opcode.is_control());
        assert_eq!((frame.header.opcode, frame.header.opcode.name()), (Opcode::Pong, "pong"));
        assert_eq!(
            (frame.header.mask, frame.header.len, frame.header.len_form),
            (Some(KEY), 5, LenForm::Bits7)
        );
        assert_eq!(frame.payload(usize::MAX), b"Hello");
    }

    #[test]
    fn a_64_kib_binary_message_uses_the_64_bit_length_as_in_section_5_7() {
        // §5.7: "64KiB binary message in a single unmasked frame: 0x82 0x7F 0x0000000000010000
        // [65536 bytes of binary data]".
        let input = with_payload("82 7f 00 00 00 00 00 01 00 00", 65536);
        let frame = WireFrame::parse(&input, Extension::None).unwrap();
        assert!(frame.header.fin);
        assert_eq!(
            (frame.header.opcode, frame.header.opcode.name(), frame.header.mask),
            (Opcode::Binary, "binary", None)
        );
        assert_eq!((frame.header.len, frame.header.len_form.as_str()), (65536, "64-bit"));
        assert_eq!(frame.header_bytes.len(), 10);
        assert_eq!(frame.payload_wire.len(), 65536);
        assert_eq!(frame.wire_len(), 65546);
    }

    #[test]
    fn each_malformed_frame_gets_its_own_error() {
        use DecodeError::*;
        let none = Extension::None;
        let control_126 = hex(&with_payload("89 7e 00 7e", 126));
        let cases: Vec<(&str, DecodeError)> = vec![
            ("", TruncatedHeader { at: 0, needed: 2, have: 0 }),
            ("81", TruncatedHeader { at: 0, needed: 2, have: 1 }),
            ("82 7e 01", TruncatedHeader { at: 0, needed: 4, have: 3 }),
            ("81 85 37 fa", TruncatedHeader { at: 0, needed: 6, have: 4 }),
            ("82 7f 00 00 00 00", TruncatedHeader { at: 0, needed: 10, have: 6 }),
            ("81 05 48 65 6c", TruncatedPayload { at: 0, len: 5, have: 3 }),
            ("82 7e 00 05 01 02 03 04 05", NotMinimal { at: 2, len: 5, form: LenForm::Bits16 }),
            (
                "82 7f 00 00 00 00 00 00 01 00",
                NotMinimal { at: 2, len: 256, form: LenForm::Bits64 },
            ),
            ("82 7f 80 00 00 00 00 00 00 00", LengthMsb { at: 2 }),
            ("83 00", ReservedOpcode { at: 0, opcode: Opcode::ReservedData(0x3) }),
            ("8b 00", ReservedOpcode { at: 0, opcode: Opcode::ReservedControl(0xb) }),
            (&control_126, ControlTooLong { at: 1, opcode: Opcode::Ping, len: 126 }),
            ("09 00", ControlFragmented { at: 0, opcode: Opcode::Ping }),
            ("c1 00", ReservedBits { at: 0, rsv: [true, false, false], extension: none }),
            ("b1 00", ReservedBits { at: 0, rsv: [false, true, true], extension: none }),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_error(text), expected, "{text}");
        }
    }
}
