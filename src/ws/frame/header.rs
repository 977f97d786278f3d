//! The frame header, read once for everyone who reads one here (RFC 6455 §5.2): the decoder
//! (`websocketchat decode`, through [`WireFrame`](super::wire::WireFrame)) and the wire
//! inspector's tap (`ws/tap.rs`), on the bytes a connection reads and writes.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Extended payload length continued, if payload len == 127  |
//! + - - - - - - - - - - - - - - - +-------------------------------+
//! |                               |Masking-key, if MASK set to 1  |
//! +-------------------------------+-------------------------------+
//! | Masking-key (continued)       |          Payload Data         |
//! +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//! The fields, in the order they come:
//! 1. byte 0: FIN, RSV1-3 (0 without an extension), the [`Opcode`] (0x8 and up: a control
//!    frame, §5.5);
//! 2. byte 1: MASK (§5.1) and a 7-bit payload length; 126 or 127 there announce a 16- or 64-bit
//!    length in the next 2 or 8 bytes ([`LenForm`]), which must be the shortest that fits;
//! 3. the masking key, 4 bytes, only when MASK is 1 (§5.3); then the payload.
//!
//! Reading and judging are apart. [`Header::read`] takes the fields as they are, which is all the
//! tap wants: it shows what crossed the wire, right or wrong. [`Header::parse`] adds the two
//! rules about how the length is written, which the decoder needs before it looks for the
//! payload, and [`Header::check`] the rules of §5.2 and §5.5 about the other fields, with the
//! RSV bits judged under the [`Extension`] the frames are read as (RFC 7692 §6 gives RSV1 a
//! meaning). The frames the session acts on are read by its receiver, with tungstenite's parser
//! (see [`super`]).

use crate::ws::frame::error::DecodeError;
use crate::ws::frame::extension::Extension;
use crate::ws::frame::length::LenForm;
use crate::ws::frame::opcode::Opcode;

/// The header of a frame (§5.2), as it was on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// FIN: the last frame of its message (always set on a control frame).
    pub fin: bool,
    /// RSV1, RSV2, RSV3: 0 unless an extension gives them a meaning (permessage-deflate: RSV1).
    pub rsv: [bool; 3],
    /// What the payload is.
    pub opcode: Opcode,
    /// The masking key, present when the MASK bit is 1: on every frame from a client (§5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length, in bytes.
    pub len: u64,
    /// Which of the three forms of §5.2 carried `len`.
    pub len_form: LenForm,
    /// Bytes of the header: 2, plus 2 or 8 for an extended length, plus 4 for a mask.
    pub size: usize,
}

impl Header {
    /// Bytes the header at the start of `bytes` takes: 2, plus 2 or 8 for an extended length,
    /// plus 4 for a masking key; 2 while byte 1 is missing, since that is all we know.
    pub fn size_of(bytes: &[u8]) -> usize {
        let Some(&byte1) = bytes.get(1) else { return 2 };
        let mask = if byte1 & MASK != 0 { 4 } else { 0 };
        2 + LenForm::of_byte1(byte1).extended_bytes() + mask
    }

    /// Reads the header at the start of `bytes`, its fields as they are; `None` while it is
    /// incomplete. Bytes after it are left alone.
    pub fn read(bytes: &[u8]) -> Option<Header> {
        let size = Header::size_of(bytes);
        let header = bytes.get(..size)?;
        let (byte0, byte1) = (header[0], header[1]);
        let len_form = LenForm::of_byte1(byte1);
        let mask = (byte1 & MASK != 0).then(|| {
            let key = &header[size - 4..];
            [key[0], key[1], key[2], key[3]]
        });
        Some(Header {
            fin: byte0 & FIN != 0,
            rsv: [byte0 & RSV1 != 0, byte0 & RSV2 != 0, byte0 & RSV3 != 0],
            opcode: Opcode::from_byte0(byte0),
            mask,
            len: len_form.read(header),
            len_form,
            size,
        })
    }

    /// Reads the header at the start of `bytes` as the decoder must before it can find the
    /// payload: whole, and with its length written as §5.2 says. Error offsets count from the
    /// header's first byte.
    pub fn parse(bytes: &[u8]) -> Result<Header, DecodeError> {
        let Some(header) = Header::read(bytes) else {
            let (needed, have) = (Header::size_of(bytes), bytes.len());
            return Err(DecodeError::TruncatedHeader { at: 0, needed, have });
        };
        let (len, form) = (header.len, header.len_form);
        // §5.2: "If 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the most
        // significant bit MUST be 0) are the payload length."
        if len >> 63 != 0 {
            return Err(DecodeError::LengthMsb { at: 2 });
        }
        // §5.2: "in all cases, the minimal number of bytes MUST be used to encode the length,
        // for example, the length of a 124-byte-long string can't be encoded as the sequence
        // 126, 0, 124."
        if form != LenForm::minimal(len) {
            return Err(DecodeError::NotMinimal { at: 2, len, form });
        }
        Ok(header)
    }

    /// Applies the rules of §5.2 and §5.5 to the other fields: no RSV bit that `extension`
    /// gives no meaning to, no reserved opcode, RSV1 of permessage-deflate on the first frame of
    /// a message only, control frames unfragmented and at most 125 bytes.
    pub fn check(&self, extension: Extension) -> Result<(), DecodeError> {
        // §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for
        // non-zero values". The decoder is told which extension (`--inflate`): a frame cannot say.
        let rsv = extension.meaningless(self.rsv);
        if rsv.contains(&true) {
            return Err(DecodeError::ReservedBits { at: 0, rsv, extension });
        }
        // §5.2: "%x3-7 are reserved for further non-control frames", "%xB-F are reserved for
        // further control frames".
        if self.opcode.is_reserved() {
            return Err(DecodeError::ReservedOpcode { at: 0, opcode: self.opcode });
        }
        // RFC 7692 §6: "An endpoint MUST NOT set the "Per-Message Compressed" bit of control
        // frames and non-first fragments of a data message." (With no extension, RSV1 was
        // refused above.)
        if self.rsv[0] && self.opcode.is_control() {
            return Err(DecodeError::CompressedControl { at: 0, opcode: self.opcode });
        }
        if self.rsv[0] && self.opcode == Opcode::Continuation {
            return Err(DecodeError::CompressedContinuation { at: 0 });
        }
        if self.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125 bytes or less and MUST
            // NOT be fragmented." A control frame can then be read whole, between two fragments.
            if !self.fin {
                return Err(DecodeError::ControlFragmented { at: 0, opcode: self.opcode });
            }
            if self.len > MAX_CONTROL_PAYLOAD {
                let (opcode, len) = (self.opcode, self.len);
                return Err(DecodeError::ControlTooLong { at: 1, opcode, len });
            }
        }
        Ok(())
    }

    /// Whether the MASK bit is set: by §5.1, a client's frame.
    pub fn masked(&self) -> bool {
        self.mask.is_some()
    }
}

/// The longest header: 2 bytes, an 8-byte length, a 4-byte mask.
pub const MAX_HEADER: usize = 14;

/// Byte 0 (§5.2): FIN, the three RSV bits; the opcode is in the low four bits ([`Opcode`]).
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
/// Byte 1 (§5.2): MASK, then the 7-bit payload length.
const MASK: u8 = 0x80;
/// §5.5: control frames carry 125 bytes at most, so they fit in the 7-bit length.
const MAX_CONTROL_PAYLOAD: u64 = 125;

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6455 §5.7: a single-frame masked text message, "Hello".
    const MASKED_HELLO: [u8; 11] =
        [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    #[test]
    fn headers_of_every_length_form_are_read() {
        let hello = Header::read(&MASKED_HELLO).unwrap();
        assert_eq!((hello.fin, hello.opcode, hello.len, hello.size), (true, Opcode::Text, 5, 6));
        assert_eq!(hello.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
        // §5.7: 256 bytes in a 16-bit length, 64 KiB in a 64-bit one, both unmasked.
        let medium = Header::read(&[0x82, 0x7e, 0x01, 0x00]).unwrap();
        assert_eq!((medium.len, medium.size, medium.mask), (256, 4, None));
        let long = Header::read(&[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!((long.len, long.size), (65536, 10));
        assert_eq!(Header::read(&[0x82, 0x7f, 0, 0]), None, "incomplete");
        assert_eq!(Header::read(&MASKED_HELLO[..5]), None, "the mask is cut short");
    }

    #[test]
    fn read_takes_what_parse_and_check_refuse() {
        // A 5 written in the 16-bit form, RSV1 and a reserved opcode: read, not judged.
        let header = Header::read(&[0xc3, 0x7e, 0x00, 0x05]).unwrap();
        assert_eq!((header.len, header.len_form), (5, LenForm::Bits16));
        assert_eq!((header.rsv[0], header.opcode), (true, Opcode::ReservedData(3)));
        let error = Header::parse(&[0xc3, 0x7e, 0x00, 0x05]).unwrap_err();
        assert_eq!(error, DecodeError::NotMinimal { at: 2, len: 5, form: LenForm::Bits16 });
        let error = Header::parse(&[0xc3, 0x05]).unwrap().check(Extension::None).unwrap_err();
        let rsv = [true, false, false];
        assert_eq!(error, DecodeError::ReservedBits { at: 0, rsv, extension: Extension::None });
    }

    #[test]
    fn the_header_size_is_known_from_byte_1() {
        assert_eq!(Header::size_of(&[]), 2);
        assert_eq!(Header::size_of(&[0x81]), 2);
        assert_eq!(Header::size_of(&MASKED_HELLO[..2]), 6);
        assert_eq!(Header::size_of(&[0x82, 0x7e]), 4);
        assert_eq!(Header::size_of(&[0x82, 0xff]), MAX_HEADER);
    }
}
