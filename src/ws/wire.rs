//! The wire inspector: WebSocket frames read byte by byte, every field named (RFC 6455 §5).
//!
//! The server does not need this module to chat (tungstenite reads its frames). It is for reading
//! frames the way a server reads them: a frame built by hand (`websocketchat decode 81 85 37 fa 21
//! 3d 7f 9f 4d 51 58`), or the frames crossing a connection. [`WireFrame::parse`] borrows one frame
//! from the bytes, reading its fields in the order they come (the header is drawn in
//! [`crate::ws::frame`]), then checks them against the rules of §5.2 and §5.5:
//! 1. byte 0: FIN, RSV1-3 (0 without an extension, §5.2), the opcode (0x8 and up: a control
//!    frame, §5.5);
//! 2. byte 1: MASK (§5.1) and a 7-bit payload length; 126 or 127 there announce a 16- or 64-bit
//!    length in the next 2 or 8 bytes, which must be the shortest that fits (§5.2);
//! 3. the masking key, 4 bytes, only when MASK is 1 (§5.3); then the payload.
//!
//! [`describe`] prints each frame and joins the frames into messages (§5.4), checking text as
//! UTF-8 (§8.1) and naming a close frame's status code (§7.4.1).
//!
//! Glossary: a *frame* is a header and its payload; a *message* is one text or binary frame with
//! FIN 1, or one with FIN 0 followed by continuation frames up to one with FIN 1; a *control
//! frame* (close, ping, pong) stands alone, carries at most 125 bytes, and may come between the
//! fragments of a message (§5.4, §5.5).

use std::fmt::{self, Write as _};

/// One frame as it crossed the wire, borrowed from the bytes it was read from (RFC 6455 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireFrame<'a> {
    /// FIN: this is the last frame of its message (always set on a control frame).
    pub fin: bool,
    /// RSV1, RSV2, RSV3: 0 unless an extension gives them a meaning.
    pub rsv: [bool; 3],
    /// The opcode, 0x0 to 0xF: what the payload is (see [`WireFrame::opname`]).
    pub opcode: u8,
    /// The masking key, present when the MASK bit is 1 (§5.3).
    pub mask: Option<[u8; 4]>,
    /// The payload length, in bytes.
    pub len: u64,
    /// Which of the three encodings of §5.2 carried `len`.
    pub len_form: LenForm,
    /// Every byte before the payload: bytes 0 and 1, the extended length, the masking key.
    pub header: &'a [u8],
    /// The payload as it crossed the wire: still masked when `mask` is present.
    pub payload_wire: &'a [u8],
}

impl<'a> WireFrame<'a> {
    /// Reads and checks the frame at the start of `bytes`, which must hold all of it; bytes after
    /// it are left alone. [`WireFrame::cut`] finds the fields, [`WireFrame::check`] applies the
    /// rules of §5.2 and §5.5 to them. Error offsets count from the start of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<WireFrame<'a>, DecodeError> {
        let frame = WireFrame::cut(bytes)?;
        frame.check()?;
        Ok(frame)
    }

    /// Reads the fields of the frame at the start of `bytes` without judging them, checking only
    /// what finding the frame's end needs: a whole header, a well-formed length, the whole payload.
    ///
    /// The length is checked before the payload is looked for, so a header alone is enough to
    /// learn that its length is wrong.
    pub fn cut(bytes: &'a [u8]) -> Result<WireFrame<'a>, DecodeError> {
        let header_len = header_len(bytes);
        if bytes.len() < header_len {
            let have = bytes.len();
            return Err(DecodeError::TruncatedHeader { at: 0, needed: header_len, have });
        }
        let header = &bytes[..header_len];
        let (len, len_form) = checked_len(header)?;
        let mask = (header[1] & MASK != 0).then(|| {
            let key = &header[header_len - 4..];
            [key[0], key[1], key[2], key[3]]
        });
        let rest = &bytes[header_len..];
        let Some(payload_len) = usize::try_from(len).ok().filter(|&n| n <= rest.len()) else {
            return Err(DecodeError::TruncatedPayload { at: 0, len, have: rest.len() });
        };
        Ok(WireFrame {
            fin: header[0] & FIN != 0,
            rsv: [header[0] & RSV1 != 0, header[0] & RSV2 != 0, header[0] & RSV3 != 0],
            opcode: header[0] & OPCODE,
            mask,
            len,
            len_form,
            header,
            payload_wire: &rest[..payload_len],
        })
    }

    /// Applies the rules of §5.2 and §5.5 to the fields: no RSV bit without an extension, no
    /// reserved opcode, control frames unfragmented and at most 125 bytes.
    pub fn check(&self) -> Result<(), DecodeError> {
        // §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for
        // non-zero values". The decoder knows of no extension, and the server negotiates none.
        if self.rsv.contains(&true) {
            return Err(DecodeError::ReservedBits { at: 0, rsv: self.rsv });
        }
        // §5.2: "%x3-7 are reserved for further non-control frames", "%xB-F are reserved for
        // further control frames".
        if matches!(self.opcode, 0x3..=0x7 | 0xb..=0xf) {
            return Err(DecodeError::ReservedOpcode { at: 0, opcode: self.opcode });
        }
        if self.is_control() {
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

    /// Bytes the frame takes on the wire: header and payload.
    pub fn wire_len(&self) -> usize {
        self.header.len() + self.payload_wire.len()
    }

    /// Whether the MASK bit is set: by §5.1, a client's frame.
    pub fn masked(&self) -> bool {
        self.mask.is_some()
    }

    /// Close, ping or pong (opcodes 0x8 and up, §5.5).
    pub fn is_control(&self) -> bool {
        self.opcode & CONTROL != 0
    }

    /// The opcode's name (§5.2): "continuation", "text", "binary", "close", "ping", "pong" or
    /// "reserved".
    pub fn opname(&self) -> &'static str {
        opname(self.opcode)
    }

    /// The payload unmasked, its first `max` bytes at most. §5.3: "Octet i of the transformed data
    /// ("transformed-octet-i") is the XOR of octet i of the original data ("original-octet-i") with
    /// octet at index i modulo 4 of the masking key ("masking-key-octet-j")".
    pub fn payload(&self, max: usize) -> Vec<u8> {
        unmask(&self.payload_wire[..max.min(self.payload_wire.len())], self.mask)
    }
}

/// Payload bytes as they were before masking (§5.3), from the payload's first byte on; without
/// a key, as they are.
pub fn unmask(wire: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        None => wire.to_vec(),
        Some(key) => wire.iter().zip(key.iter().cycle()).map(|(byte, k)| byte ^ k).collect(),
    }
}

/// How the payload length is written (§5.2): in the 7 bits of byte 1 (0 to 125); or 126 there,
/// then 16 bits; or 127 there, then 64 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// In byte 1 itself: 0 to 125.
    Bits7,
    /// 126 in byte 1, then a 16-bit length: 126 to 65,535.
    Bits16,
    /// 127 in byte 1, then a 64-bit length: 65,536 and up.
    Bits64,
}

impl LenForm {
    /// "7-bit", "16-bit" or "64-bit".
    pub fn as_str(self) -> &'static str {
        match self {
            LenForm::Bits7 => "7-bit",
            LenForm::Bits16 => "16-bit",
            LenForm::Bits64 => "64-bit",
        }
    }

    /// The shortest form that holds `len`: the only one §5.2 allows.
    pub fn minimal(len: u64) -> LenForm {
        match len {
            0..=125 => LenForm::Bits7,
            126..=0xffff => LenForm::Bits16,
            _ => LenForm::Bits64,
        }
    }

    /// How many bytes after byte 1 hold the length: 0, 2 or 8.
    pub fn extended_bytes(self) -> usize {
        match self {
            LenForm::Bits7 => 0,
            LenForm::Bits16 => 2,
            LenForm::Bits64 => 8,
        }
    }
}

/// Which end of a connection sent the frames, as far as the decoder is told (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// A client's frames: each must be masked (`--client`).
    Client,
    /// A server's frames: none may be masked (`--server`).
    Server,
    /// Not said: each frame's MASK bit tells which end could have sent it.
    Either,
}

impl Side {
    /// Checks the frame's MASK bit against the side that sent it.
    pub fn check(self, frame: &WireFrame) -> Result<(), DecodeError> {
        match (self, frame.masked()) {
            (Side::Client, false) => Err(DecodeError::UnmaskedClientFrame { at: 1 }),
            (Side::Server, true) => Err(DecodeError::MaskedServerFrame { at: 1 }),
            _ => Ok(()),
        }
    }
}

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
        /// RSV1, RSV2, RSV3.
        rsv: [bool; 3],
    },
    /// The opcode is one of the reserved ones, 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode {
        /// The frame's first byte.
        at: usize,
        /// The opcode.
        opcode: u8,
    },
    /// A control frame with FIN 0 (§5.5).
    ControlFragmented {
        /// The frame's first byte.
        at: usize,
        /// Its opcode.
        opcode: u8,
    },
    /// A control frame with more than 125 bytes of payload (§5.5).
    ControlTooLong {
        /// The frame's byte 1, where its length starts.
        at: usize,
        /// Its opcode.
        opcode: u8,
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
        opcode: u8,
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
            | ReservedOpcode { at, .. }
            | ControlFragmented { at, .. }
            | ControlTooLong { at, .. }
            | UnmaskedClientFrame { at }
            | MaskedServerFrame { at }
            | StrayContinuation { at }
            | Interleaved { at, .. }
            | NotUtf8 { at, .. }
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
            ReservedBits { rsv, .. } => {
                let set: Vec<String> =
                    (0..3).filter(|&i| rsv[i]).map(|i| format!("RSV{}", i + 1)).collect();
                let is = if set.len() == 1 { "is" } else { "are" };
                write!(
                    f,
                    "{} {is} set, but no extension is negotiated (§5.2: RSV1-3 \"MUST be 0 \
                     unless an extension is negotiated that defines meanings for non-zero \
                     values\")",
                    set.join(" and ")
                )
            }
            ReservedOpcode { opcode, .. } => write!(
                f,
                "opcode 0x{opcode:x} is reserved (§5.2: 0x3-0x7 for further non-control frames, \
                 0xB-0xF for further control frames)"
            ),
            ControlFragmented { opcode, .. } => write!(
                f,
                "a {} frame with FIN 0 (§5.5: control frames \"MUST NOT be fragmented\")",
                opname(*opcode)
            ),
            ControlTooLong { opcode, len, .. } => write!(
                f,
                "a {} frame with a {len}-byte payload (§5.5: \"All control frames MUST have a \
                 payload length of 125 bytes or less\")",
                opname(*opcode)
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
                opname(*opcode)
            ),
            NotUtf8 { what, sequence, .. } => {
                write!(f, "{what} is not UTF-8 here: {} is not a character (§8.1)", hex(sequence))
            }
            CloseBodyTooShort { .. } => write!(
                f,
                "a close frame with a 1-byte body (§5.5.1: \"the first two bytes of the body \
                 MUST be a 2-byte unsigned integer\", the status code)"
            ),
            BadCloseCode { code, .. } => match close_code(*code) {
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

/// Bytes as lowercase hex, a space between them: `81 85 37 fa`.
pub fn hex(bytes: &[u8]) -> String {
    let digits: Vec<String> = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    digits.join(" ")
}

/// Reads bytes written in hex the ways people paste them: `81 85 37 fa`, `0x81, 0x85`, `818537fa`.
///
/// Spaces and commas separate groups, a group may start with `0x`, and each group must have an
/// even number of digits: `8 1` is an error rather than a silent 0x81.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, DecodeError> {
    let mut bytes = Vec::new();
    for (position, group) in groups(text) {
        let digits = group.strip_prefix("0x").or_else(|| group.strip_prefix("0X")).unwrap_or(group);
        let prefix = group.len() - digits.len();
        let mut nibbles = Vec::with_capacity(digits.len());
        for (i, c) in digits.chars().enumerate() {
            let Some(nibble) = c.to_digit(16) else {
                return Err(DecodeError::NotHex { position: position + prefix + i, found: c });
            };
            nibbles.push(nibble as u8);
        }
        if nibbles.len() % 2 == 1 {
            return Err(DecodeError::OddHex { position, group: group.to_string() });
        }
        bytes.extend(nibbles.chunks(2).map(|pair| (pair[0] << 4) | pair[1]));
    }
    Ok(bytes)
}

/// Prints every frame in `bytes` field by field, then the messages they make (§5.4), into `out`.
///
/// On an error, `out` holds the frames read before it, so that the reader sees what was right
/// before being told what is wrong.
pub fn describe(bytes: &[u8], side: Side, out: &mut String) -> Result<(), DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::NoBytes);
    }
    let mut messages = Messages::default();
    let (mut at, mut number) = (0, 0);
    while at < bytes.len() {
        number += 1;
        let frame = WireFrame::parse(&bytes[at..])
            .map_err(|error| leftover(error.offset_by(at), number, bytes.len() - at))?;
        side.check(&frame).map_err(|error| error.offset_by(at))?;
        write_frame(out, number, &frame).expect(WRITE_TO_STRING);
        messages.push(&frame, at)?;
        at += frame.wire_len();
    }
    for (i, message) in messages.finish().iter().enumerate() {
        write_message(out, i + 1, message).expect(WRITE_TO_STRING);
    }
    Ok(())
}

/// Bytes the header of the frame at the start of `bytes` takes: 2, plus 2 or 8 for an extended
/// length, plus 4 for a masking key; 2 while byte 1 is missing, since that is all we know. (The
/// live inspector's `ws::tap::Header` reads headers with this too.)
pub(crate) fn header_len(bytes: &[u8]) -> usize {
    let Some(&byte1) = bytes.get(1) else { return 2 };
    let mask = if byte1 & MASK != 0 { 4 } else { 0 };
    2 + form_of(byte1).extended_bytes() + mask
}

/// The form byte 1 announces: 126 is a 16-bit length next, 127 a 64-bit one.
fn form_of(byte1: u8) -> LenForm {
    match byte1 & LEN7 {
        LEN_16 => LenForm::Bits16,
        LEN_64 => LenForm::Bits64,
        _ => LenForm::Bits7,
    }
}

/// The payload length from a whole header, unchecked. §5.2: "Multibyte length quantities are
/// expressed in network byte order."
pub(crate) fn raw_len(header: &[u8]) -> (u64, LenForm) {
    let form = form_of(header[1]);
    let len = match form {
        LenForm::Bits7 => u64::from(header[1] & LEN7),
        LenForm::Bits16 => u64::from(u16::from_be_bytes([header[2], header[3]])),
        LenForm::Bits64 => {
            let mut be = [0; 8];
            be.copy_from_slice(&header[2..10]);
            u64::from_be_bytes(be)
        }
    };
    (len, form)
}

/// The payload length from a whole header, with the two rules of §5.2 about how it is written.
fn checked_len(header: &[u8]) -> Result<(u64, LenForm), DecodeError> {
    let (len, form) = raw_len(header);
    // §5.2: "If 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the most
    // significant bit MUST be 0) are the payload length."
    if len >> 63 != 0 {
        return Err(DecodeError::LengthMsb { at: 2 });
    }
    // §5.2: "in all cases, the minimal number of bytes MUST be used to encode the length, for
    // example, the length of a 124-byte-long string can't be encoded as the sequence 126, 0, 124."
    if form != LenForm::minimal(len) {
        return Err(DecodeError::NotMinimal { at: 2, len, form });
    }
    Ok((len, form))
}

/// The name of an opcode (§5.2, §11.8).
pub fn opname(opcode: u8) -> &'static str {
    match opcode {
        OP_CONTINUATION => "continuation",
        OP_TEXT => "text",
        OP_BINARY => "binary",
        OP_CLOSE => "close",
        OP_PING => "ping",
        OP_PONG => "pong",
        _ => "reserved",
    }
}

/// What a close status code means (§7.4.1, and the ranges of §7.4.2), or, as the error, why it
/// may not be sent in a close frame.
fn close_code(code: u16) -> Result<&'static str, &'static str> {
    match code {
        1000 => Ok("normal closure: the purpose for which the connection was established has \
                    been fulfilled (§7.4.1)"),
        1001 => Ok("going away: a server going down, or a browser that navigated away from a \
                    page (§7.4.1)"),
        1002 => Ok("protocol error (§7.4.1)"),
        1003 => Ok("unsupported data: a type of data the endpoint cannot accept, such as binary \
                    for one that understands only text (§7.4.1)"),
        1007 => Ok("invalid payload data: data not consistent with the type of the message, \
                    such as non-UTF-8 data in a text message (§7.4.1)"),
        1008 => Ok("policy violation (§7.4.1)"),
        1009 => Ok("message too big to process (§7.4.1)"),
        1010 => Ok("mandatory extension: the client expected the server to negotiate an \
                    extension (§7.4.1)"),
        1011 => Ok("internal error: an unexpected condition kept the server from fulfilling the \
                    request (§7.4.1)"),
        1012 => Ok("service restart (registered with IANA after the RFC, §11.7)"),
        1013 => Ok("try again later (registered with IANA after the RFC, §11.7)"),
        1014 => Ok("bad gateway (registered with IANA after the RFC, §11.7)"),
        3000..=3999 => Ok("registered with IANA by a library, framework or application (§7.4.2)"),
        4000..=4999 => Ok("private use, agreed between the two ends (§7.4.2)"),
        0..=999 => Err("is not used (§7.4.2)"),
        1004 => Err("is reserved: its meaning \"might be defined in the future\" (§7.4.1)"),
        1005 => Err("stands for \"no status code was present\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1006 => Err("stands for \"closed without a close frame\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1015 => Err("stands for \"the TLS handshake failed\" and \"MUST NOT be set as a \
                     status code in a Close control frame by an endpoint\" (§7.4.1)"),
        1016..=2999 => Err("is reserved for future revisions of the protocol (§7.4.2)"),
        _ => Err("is above the ranges of §7.4.2, which end at 4999"),
    }
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

/// The groups of `text` between spaces and commas, each with the position (from 1) of its first
/// character.
fn groups(text: &str) -> Vec<(usize, &str)> {
    let mut groups = Vec::new();
    let mut start = None;
    for (i, (index, c)) in text.char_indices().enumerate() {
        let separator = c.is_whitespace() || c == ',';
        match (separator, start) {
            (false, None) => start = Some((i + 1, index)),
            (true, Some((position, from))) => {
                groups.push((position, &text[from..index]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some((position, from)) = start {
        groups.push((position, &text[from..]));
    }
    groups
}

/// When frame `number` (from 1) is cut short and other frames came before it, the bytes left
/// are what is wrong: most often the frame before them said too small a length.
fn leftover(error: DecodeError, number: usize, count: usize) -> DecodeError {
    match error {
        DecodeError::TruncatedHeader { .. } | DecodeError::TruncatedPayload { .. }
            if number > 1 =>
        {
            DecodeError::Leftover { after: number - 1, count, cause: Box::new(error) }
        }
        error => error,
    }
}

/// Frames joined into messages (§5.4): a text or binary frame starts a message, continuation
/// frames add to it, the one with FIN 1 ends it. Control frames stand alone and may come between.
#[derive(Default)]
struct Messages {
    /// The message still waiting for its frame with FIN 1.
    open: Option<Partial>,
    /// The messages made whole, in the order their last frame came.
    done: Vec<Message>,
}

/// A message whose frames have not all come yet.
struct Partial {
    opcode: u8,
    frames: usize,
    payload: Vec<u8>,
    /// Where each frame's payload starts: in the message, and in the input (to point at a byte).
    pieces: Vec<(usize, usize)>,
}

/// A message made whole and checked, ready to print.
enum Message {
    /// Text, checked as UTF-8 (§8.1).
    Text {
        text: String,
        frames: usize,
    },
    Binary {
        payload: Vec<u8>,
        frames: usize,
    },
    /// A close frame's status code and reason (§5.5.1); both are optional.
    Close {
        code: Option<u16>,
        reason: String,
    },
    /// A ping or a pong, and its application data (§5.5.2, §5.5.3).
    Control {
        opcode: u8,
        payload: Vec<u8>,
    },
    /// A text or binary message whose frame with FIN 1 never came.
    Unfinished {
        opcode: u8,
        len: usize,
        frames: usize,
    },
}

impl Messages {
    /// Adds the frame that starts at byte `at` of the input.
    fn push(&mut self, frame: &WireFrame, at: usize) -> Result<(), DecodeError> {
        let payload_at = at + frame.header.len();
        let payload = frame.payload(usize::MAX);
        if frame.is_control() {
            let message = match frame.opcode {
                OP_CLOSE => close_message(&payload, payload_at)?,
                opcode => Message::Control { opcode, payload },
            };
            self.done.push(message);
            return Ok(());
        }
        let mut message = match (self.open.take(), frame.opcode) {
            (Some(message), OP_CONTINUATION) => message,
            (None, OP_CONTINUATION) => return Err(DecodeError::StrayContinuation { at }),
            (Some(_), opcode) => return Err(DecodeError::Interleaved { at, opcode }),
            (None, opcode) => Partial { opcode, frames: 0, payload: Vec::new(), pieces: vec![] },
        };
        message.frames += 1;
        message.pieces.push((message.payload.len(), payload_at));
        message.payload.extend_from_slice(&payload);
        if frame.fin {
            self.done.push(message.whole()?);
        } else {
            self.open = Some(message);
        }
        Ok(())
    }

    /// Every message, the unfinished one last.
    fn finish(mut self) -> Vec<Message> {
        if let Some(open) = self.open {
            let Partial { opcode, frames, payload, .. } = open;
            self.done.push(Message::Unfinished { opcode, len: payload.len(), frames });
        }
        self.done
    }
}

impl Partial {
    /// The message its last frame completed. A text message is checked as UTF-8 only now: a
    /// character may be split between two frames.
    fn whole(self) -> Result<Message, DecodeError> {
        let frames = self.frames;
        if self.opcode == OP_BINARY {
            return Ok(Message::Binary { payload: self.payload, frames });
        }
        let text = utf8(self.payload, &self.pieces, "the text message")?;
        Ok(Message::Text { text, frames })
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
            if close_code(code).is_err() {
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
        let bytes = error.as_bytes();
        let bad = error.utf8_error().valid_up_to();
        let end = error.utf8_error().error_len().map_or(bytes.len(), |len| bad + len);
        // The last piece starting at or before the bad byte holds it (an empty piece cannot, but
        // the piece after it starts at the same offset and comes later).
        let at = pieces
            .iter()
            .rev()
            .find(|(start, _)| *start <= bad)
            .map_or(bad, |(start, input)| input + (bad - start));
        DecodeError::NotUtf8 { at, what, sequence: bytes[bad..end].to_vec() }
    })
}

/// One frame, field by field, in the order of the §5.2 diagram.
fn write_frame(out: &mut String, number: usize, frame: &WireFrame) -> fmt::Result {
    let from = if frame.masked() { "a client (masked)" } else { "a server (unmasked)" };
    writeln!(out, "frame {number}: {} bytes, from {from}", frame.wire_len())?;
    write_hex(out, "header", frame.header, frame.header.len())?;
    let [rsv1, rsv2, rsv3] = frame.rsv.map(u8::from);
    writeln!(
        out,
        "  FIN {} · RSV1 {rsv1} · RSV2 {rsv2} · RSV3 {rsv3} · opcode 0x{:x} {}{}",
        u8::from(frame.fin),
        frame.opcode,
        frame.opname(),
        fragment_note(frame)
    )?;
    let form = match frame.len_form {
        LenForm::Bits7 => "7-bit form".to_string(),
        long => {
            let extended = &frame.header[2..2 + long.extended_bytes()];
            format!(
                "{} form: {} in byte 1, then {}",
                long.as_str(),
                frame.header[1] & LEN7,
                hex(extended)
            )
        }
    };
    writeln!(out, "  MASK {} · payload length {} ({form})", u8::from(frame.masked()), frame.len)?;
    let total = frame.payload_wire.len();
    if let Some(key) = frame.mask {
        write_hex(out, "masking key", &key, key.len())?;
        write_hex(out, "payload, wire", preview(frame.payload_wire), total)?;
    }
    write_hex(out, "payload", &frame.payload(PREVIEW_BYTES), total)
}

/// Where a data frame stands in its message (§5.4), or nothing for a frame that is a message.
fn fragment_note(frame: &WireFrame) -> &'static str {
    match (frame.opcode, frame.fin) {
        (OP_CONTINUATION, false) => " (a middle fragment: more follow, §5.4)",
        (OP_CONTINUATION, true) => " (the last fragment, §5.4)",
        (_, false) => " (the first fragment: more follow, §5.4)",
        (_, true) => "",
    }
}

/// One message, its kind and size, then its content.
fn write_message(out: &mut String, number: usize, message: &Message) -> fmt::Result {
    write!(out, "message {number}: ")?;
    match message {
        Message::Text { text, frames } => {
            writeln!(
                out,
                "text, {}, {}: {}",
                plural(text.len(), "byte"),
                plural(*frames, "frame"),
                quoted(text)
            )
        }
        Message::Binary { payload, frames } => {
            writeln!(
                out,
                "binary, {}, {}",
                plural(payload.len(), "byte"),
                plural(*frames, "frame")
            )?;
            write_payload(out, payload)
        }
        Message::Control { opcode, payload } => {
            writeln!(out, "{}, {}", opname(*opcode), plural(payload.len(), "byte"))?;
            write_payload(out, payload)
        }
        Message::Close { code: None, .. } => writeln!(
            out,
            "close, 0 bytes: no status code (§7.1.5: the close code is then taken to be 1005)"
        ),
        Message::Close { code: Some(code), reason } => {
            let size = plural(2 + reason.len(), "byte");
            writeln!(out, "close, {size}: code {code}, reason {}", quoted(reason))?;
            // close_message let through only the codes that have a meaning.
            let meaning = close_code(*code).unwrap_or_default();
            writeln!(out, "  code {code}: {meaning}")
        }
        Message::Unfinished { opcode, len, frames } => writeln!(
            out,
            "{}, unfinished: {} in {} so far, and no frame with FIN 1 (§5.4)",
            opname(*opcode),
            plural(*len, "byte"),
            plural(*frames, "frame")
        ),
    }
}

/// A message's payload in hex under its first line, if it has one.
fn write_payload(out: &mut String, payload: &[u8]) -> fmt::Result {
    if payload.is_empty() {
        return Ok(());
    }
    write_hex(out, "payload", preview(payload), payload.len())
}

/// A labelled field in hex, [`HEX_ROW`] bytes a row, the labels in a column; `shown` may be the
/// first bytes of `total`.
fn write_hex(out: &mut String, label: &str, shown: &[u8], total: usize) -> fmt::Result {
    if shown.is_empty() {
        return writeln!(out, "  {label:<15}(none)");
    }
    for (i, row) in shown.chunks(HEX_ROW).enumerate() {
        let label = if i == 0 { label } else { "" };
        writeln!(out, "  {label:<15}{}", hex(row))?;
    }
    if total > shown.len() {
        writeln!(out, "  {:<15}… {} more", "", plural(total - shown.len(), "byte"))?;
    }
    Ok(())
}

/// The first [`PREVIEW_BYTES`] of `bytes`.
fn preview(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(PREVIEW_BYTES)]
}

/// Text in quotes, escaped as Rust would, cut after [`TEXT_PREVIEW`] bytes.
fn quoted(text: &str) -> String {
    if text.len() <= TEXT_PREVIEW {
        return format!("{text:?}");
    }
    let mut end = TEXT_PREVIEW;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}… {} more", &text[..end], plural(text.len() - end, "byte"))
}

/// "1 byte", "5 bytes".
fn plural(n: usize, unit: &str) -> String {
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

const WRITE_TO_STRING: &str = "writing into a String cannot fail";

/// Byte 0 (§5.2): FIN, the three RSV bits, the opcode in the low four bits.
const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const RSV2: u8 = 0x20;
const RSV3: u8 = 0x10;
const OPCODE: u8 = 0x0f;
/// Byte 1 (§5.2): MASK, then the 7-bit payload length.
const MASK: u8 = 0x80;
const LEN7: u8 = 0x7f;
/// 7-bit lengths that announce an extended length: 16 bits next, or 64 bits next.
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

/// The opcodes (§5.2); 0x3-0x7 and 0xB-0xF are reserved.
const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xa;
/// The opcode bit that makes a frame a control frame (§5.5: "the most significant bit of the
/// opcode is 1").
const CONTROL: u8 = 0x08;
/// §5.5: control frames carry 125 bytes at most, so they fit in the 7-bit length.
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Bytes in one row of hex.
const HEX_ROW: usize = 16;
/// Bytes of a payload printed in hex at most (4 rows); the rest are counted.
const PREVIEW_BYTES: usize = 64;
/// Bytes of a text message printed at most.
const TEXT_PREVIEW: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// The RFC's masking key in its §5.7 examples.
    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn bytes(text: &str) -> Vec<u8> {
        parse_hex(text).unwrap()
    }

    /// `header` followed by `len` bytes of payload (0, 1, 2, … wrapping).
    fn with_payload(header: &str, len: usize) -> Vec<u8> {
        let mut frame = bytes(header);
        frame.extend((0..len).map(|i| i as u8));
        frame
    }

    /// A frame from a client: the first byte, the payload masked with [`KEY`] (at most 125 bytes).
    fn client_frame(byte0: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![byte0, 0x80 | payload.len() as u8];
        frame.extend(KEY);
        frame.extend(payload.iter().zip(KEY.iter().cycle()).map(|(b, k)| b ^ k));
        frame
    }

    fn describe_hex(text: &str, side: Side) -> Result<String, DecodeError> {
        let mut out = String::new();
        describe(&bytes(text), side, &mut out).map(|()| out)
    }

    fn parse_error(text: &str) -> DecodeError {
        WireFrame::parse(&bytes(text)).unwrap_err()
    }

    #[test]
    fn a_single_frame_unmasked_text_message_as_in_section_5_7() {
        // §5.7: "A single-frame unmasked text message: 0x81 0x05 0x48 0x65 0x6c 0x6c 0x6f
        // (contains "Hello")".
        let input = bytes("81 05 48 65 6c 6c 6f");
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin);
        assert_eq!(frame.rsv, [false; 3]);
        assert_eq!((frame.opcode, frame.opname()), (0x1, "text"));
        assert_eq!((frame.mask, frame.masked()), (None, false));
        assert_eq!(
            (frame.len, frame.len_form, frame.len_form.as_str()),
            (5, LenForm::Bits7, "7-bit")
        );
        assert_eq!(frame.header, [0x81, 0x05]);
        assert_eq!(frame.payload_wire, b"Hello");
        assert_eq!(frame.payload(usize::MAX), b"Hello");
        assert_eq!(frame.wire_len(), 7);
    }

    #[test]
    fn a_single_frame_masked_text_message_as_in_section_5_7() {
        // §5.7: "A single-frame masked text message: 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d
        // 0x51 0x58 (contains "Hello")".
        let input = bytes("81 85 37 fa 21 3d 7f 9f 4d 51 58");
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin);
        assert_eq!(frame.rsv, [false; 3]);
        assert_eq!((frame.opcode, frame.opname()), (0x1, "text"));
        assert_eq!((frame.mask, frame.masked()), (Some(KEY), true));
        assert_eq!((frame.len, frame.len_form), (5, LenForm::Bits7));
        assert_eq!(hex(frame.header), "81 85 37 fa 21 3d");
        assert_eq!(hex(frame.payload_wire), "7f 9f 4d 51 58");
        assert_eq!(frame.payload(usize::MAX), b"Hello");
        assert_eq!(frame.payload(2), b"He");
        assert_eq!(frame.wire_len(), 11);
    }

    #[test]
    fn a_fragmented_unmasked_text_message_as_in_section_5_7() {
        // §5.7: "A fragmented unmasked text message: 0x01 0x03 0x48 0x65 0x6c (contains "Hel")
        // 0x80 0x02 0x6c 0x6f (contains "lo")".
        let input = bytes("01 03 48 65 6c 80 02 6c 6f");
        let first = WireFrame::parse(&input).unwrap();
        assert!(!first.fin);
        assert_eq!((first.opcode, first.opname(), first.len), (0x1, "text", 3));
        assert_eq!(first.payload(usize::MAX), b"Hel");
        assert_eq!(first.wire_len(), 5);
        let second = WireFrame::parse(&input[5..]).unwrap();
        assert!(second.fin);
        assert_eq!((second.opcode, second.opname(), second.len), (0x0, "continuation", 2));
        assert_eq!(second.payload(usize::MAX), b"lo");

        let out = describe_hex("01 03 48 65 6c 80 02 6c 6f", Side::Server).unwrap();
        assert!(out.contains("opcode 0x1 text (the first fragment: more follow, §5.4)"), "{out}");
        assert!(out.contains("opcode 0x0 continuation (the last fragment, §5.4)"), "{out}");
        assert!(out.ends_with("message 1: text, 5 bytes, 2 frames: \"Hello\"\n"), "{out}");
    }

    #[test]
    fn an_unmasked_ping_as_in_section_5_7() {
        // §5.7: "Unmasked Ping request and masked Ping response": 0x89 0x05 0x48 0x65 0x6c 0x6c 0x6f.
        let input = bytes("89 05 48 65 6c 6c 6f");
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin && frame.is_control());
        assert_eq!((frame.opcode, frame.opname()), (0x9, "ping"));
        assert_eq!((frame.mask, frame.len, frame.len_form), (None, 5, LenForm::Bits7));
        assert_eq!(frame.payload(usize::MAX), b"Hello");
    }

    #[test]
    fn a_masked_pong_as_in_section_5_7() {
        // §5.7: 0x8a 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 (contains a body of "Hello",
        // matching the body of the ping).
        let input = bytes("8a 85 37 fa 21 3d 7f 9f 4d 51 58");
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin && frame.is_control());
        assert_eq!((frame.opcode, frame.opname()), (0xa, "pong"));
        assert_eq!((frame.mask, frame.len, frame.len_form), (Some(KEY), 5, LenForm::Bits7));
        assert_eq!(frame.payload(usize::MAX), b"Hello");
    }

    #[test]
    fn a_256_byte_binary_message_uses_the_16_bit_length_as_in_section_5_7() {
        // §5.7: "256 bytes binary message in a single unmasked frame: 0x82 0x7E 0x0100 [256 bytes
        // of binary data]".
        let input = with_payload("82 7e 01 00", 256);
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin);
        assert_eq!((frame.opcode, frame.opname(), frame.mask), (0x2, "binary", None));
        assert_eq!((frame.len, frame.len_form.as_str()), (256, "16-bit"));
        assert_eq!(frame.header, [0x82, 0x7e, 0x01, 0x00]);
        assert_eq!(frame.payload_wire, &input[4..]);
        assert_eq!(frame.wire_len(), 260);

        let out = describe_hex(&hex(&input), Side::Either).unwrap();
        assert!(out.contains("payload length 256 (16-bit form: 126 in byte 1, then 01 00)"));
        assert!(out.contains("… 192 bytes more"), "{out}");
        assert!(out.contains("message 1: binary, 256 bytes, 1 frame\n"), "{out}");
    }

    #[test]
    fn a_64_kib_binary_message_uses_the_64_bit_length_as_in_section_5_7() {
        // §5.7: "64KiB binary message in a single unmasked frame: 0x82 0x7F 0x0000000000010000
        // [65536 bytes of binary data]".
        let input = with_payload("82 7f 00 00 00 00 00 01 00 00", 65536);
        let frame = WireFrame::parse(&input).unwrap();
        assert!(frame.fin);
        assert_eq!((frame.opcode, frame.opname(), frame.mask), (0x2, "binary", None));
        assert_eq!((frame.len, frame.len_form.as_str()), (65536, "64-bit"));
        assert_eq!(frame.header.len(), 10);
        assert_eq!(frame.payload_wire.len(), 65536);
        assert_eq!(frame.wire_len(), 65546);
    }

    #[test]
    fn the_masked_hello_is_described_field_by_field() {
        let out = describe_hex("81 85 37 fa 21 3d 7f 9f 4d 51 58", Side::Client).unwrap();
        assert_eq!(
            out,
            "frame 1: 11 bytes, from a client (masked)\n\
             \x20 header         81 85 37 fa 21 3d\n\
             \x20 FIN 1 · RSV1 0 · RSV2 0 · RSV3 0 · opcode 0x1 text\n\
             \x20 MASK 1 · payload length 5 (7-bit form)\n\
             \x20 masking key    37 fa 21 3d\n\
             \x20 payload, wire  7f 9f 4d 51 58\n\
             \x20 payload        48 65 6c 6c 6f\n\
             message 1: text, 5 bytes, 1 frame: \"Hello\"\n"
        );
    }

    #[test]
    fn a_close_frame_gives_its_code_its_meaning_and_its_reason() {
        let input = client_frame(0x88, b"\x03\xe8bye");
        let out = describe_hex(&hex(&input), Side::Client).unwrap();
        assert!(out.contains("opcode 0x8 close"), "{out}");
        assert!(out.contains("message 1: close, 5 bytes: code 1000, reason \"bye\"\n"), "{out}");
        assert!(out.contains("  code 1000: normal closure: the purpose for which"), "{out}");

        let empty = describe_hex("88 00", Side::Server).unwrap();
        assert!(empty.contains("message 1: close, 0 bytes: no status code"), "{empty}");
    }

    #[test]
    fn a_control_frame_may_come_between_fragments() {
        // §5.4: "Control frames (see Section 5.5) MAY be injected in the middle of a fragmented
        // message." The ping is a whole message before the text is.
        let out = describe_hex("01 03 48 65 6c 89 00 80 02 6c 6f", Side::Server).unwrap();
        assert!(out.contains("message 1: ping, 0 bytes\nmessage 2: text, 5 bytes, 2 frames"));
    }

    #[test]
    fn a_character_split_between_two_frames_is_still_utf_8() {
        // "é" is c3 a9: each frame alone is not UTF-8, the message is.
        let out = describe_hex("01 01 c3 80 01 a9", Side::Server).unwrap();
        assert!(out.ends_with("message 1: text, 2 bytes, 2 frames: \"é\"\n"), "{out}");
    }

    #[test]
    fn a_message_without_its_last_frame_is_shown_unfinished() {
        let out = describe_hex("01 03 48 65 6c", Side::Server).unwrap();
        assert!(out.contains("message 1: text, unfinished: 3 bytes in 1 frame so far"), "{out}");
    }

    #[test]
    fn each_malformed_frame_gets_its_own_error() {
        use DecodeError::*;
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
            ("83 00", ReservedOpcode { at: 0, opcode: 0x3 }),
            ("8b 00", ReservedOpcode { at: 0, opcode: 0xb }),
            (&control_126, ControlTooLong { at: 1, opcode: 0x9, len: 126 }),
            ("09 00", ControlFragmented { at: 0, opcode: 0x9 }),
            ("c1 00", ReservedBits { at: 0, rsv: [true, false, false] }),
            ("b1 00", ReservedBits { at: 0, rsv: [false, true, true] }),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_error(text), expected, "{text}");
        }
    }

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

    #[test]
    fn the_side_decides_whether_frames_must_be_masked() {
        let unmasked = "81 05 48 65 6c 6c 6f";
        let masked = "81 85 37 fa 21 3d 7f 9f 4d 51 58";
        let error = describe_hex(unmasked, Side::Client).unwrap_err();
        assert_eq!(error, DecodeError::UnmaskedClientFrame { at: 1 });
        assert!(error.to_string().starts_with("byte 1: an unmasked client frame (MASK 0; §5.1"));
        let error = describe_hex(masked, Side::Server).unwrap_err();
        assert!(error.to_string().starts_with("byte 1: a masked server frame (MASK 1; §5.1"));
        // Without a side, each frame says who could have sent it.
        let either = describe_hex(&format!("{unmasked} {masked}"), Side::Either).unwrap();
        assert!(either.contains("frame 1: 7 bytes, from a server (unmasked)"), "{either}");
        assert!(either.contains("frame 2: 11 bytes, from a client (masked)"), "{either}");
        // The error in a later frame counts bytes from the start of the input.
        let error = describe_hex(&format!("{masked} {unmasked}"), Side::Client).unwrap_err();
        assert_eq!(error, DecodeError::UnmaskedClientFrame { at: 12 });
    }

    #[test]
    fn bytes_left_after_a_whole_frame_are_not_a_frame() {
        // Frame 1 says 3 bytes but 5 follow: "lo" is read as the start of a frame.
        let error = describe_hex("81 03 48 65 6c 6c 6f", Side::Either).unwrap_err();
        assert_eq!(
            error.to_string(),
            "byte 5: the 2 bytes after frame 1 are not a whole frame: the payload length is 111 \
             bytes, but none follow the header"
        );
        let error = describe_hex("81 05 48 65 6c 6c 6f 81", Side::Either).unwrap_err();
        assert!(matches!(error, DecodeError::Leftover { after: 1, count: 1, .. }));
        assert_eq!(error.at(), Some(7));
        // Any other error in a later frame is that frame's, at its own byte.
        let error = describe_hex("81 00 83 00", Side::Either).unwrap_err();
        assert_eq!(error, DecodeError::ReservedOpcode { at: 2, opcode: 3 });
    }

    #[test]
    fn frames_out_of_order_break_the_rules_of_fragmentation() {
        let error = describe_hex("80 02 6c 6f", Side::Server).unwrap_err();
        assert_eq!(error, DecodeError::StrayContinuation { at: 0 });
        assert!(error.to_string().contains("no message waits for one (§5.4"));
        let error = describe_hex("01 03 48 65 6c 81 00", Side::Server).unwrap_err();
        assert_eq!(error, DecodeError::Interleaved { at: 5, opcode: 1 });
    }

    #[test]
    fn text_that_is_not_utf_8_is_an_error_at_its_byte() {
        // §8.1: a text message must be UTF-8; c3 28 is not (c3 starts a 2-byte character).
        let error = describe_hex("01 01 41 80 02 c3 28", Side::Server).unwrap_err();
        let sequence = vec![0xc3];
        assert_eq!(error, DecodeError::NotUtf8 { at: 5, what: "the text message", sequence });
        assert_eq!(
            error.to_string(),
            "byte 5: the text message is not UTF-8 here: c3 is not a character (§8.1)"
        );
        // A masked frame: the offset is the byte's on the wire, the bytes shown are unmasked.
        let input = client_frame(0x81, &[0x41, 0xff]);
        let error = describe_hex(&hex(&input), Side::Client).unwrap_err();
        let sequence = vec![0xff];
        assert_eq!(error, DecodeError::NotUtf8 { at: 7, what: "the text message", sequence });
    }

    #[test]
    fn a_close_body_must_be_empty_or_a_valid_code_and_a_utf_8_reason() {
        let error = describe_hex("88 01 03", Side::Server).unwrap_err();
        assert_eq!(error, DecodeError::CloseBodyTooShort { at: 2 });
        for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            let [high, low] = code.to_be_bytes();
            let error = describe_hex(&hex(&[0x88, 0x02, high, low]), Side::Server).unwrap_err();
            assert_eq!(error, DecodeError::BadCloseCode { at: 2, code }, "{code}");
        }
        let error = describe_hex("88 02 03 ed", Side::Server).unwrap_err();
        assert!(error.to_string().contains("\"MUST NOT be set as a status code in a Close"));
        for code in [1000u16, 1001, 1003, 1011, 1013, 3000, 4999] {
            let [high, low] = code.to_be_bytes();
            assert!(describe_hex(&hex(&[0x88, 0x02, high, low]), Side::Server).is_ok(), "{code}");
        }
        let error = describe_hex("88 03 03 e8 ff", Side::Server).unwrap_err();
        assert!(matches!(error, DecodeError::NotUtf8 { at: 4, what: "the close reason", .. }));
    }

    #[test]
    fn hex_is_read_as_people_paste_it() {
        let hello = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(parse_hex("81 05 48 65 6c 6c 6f").unwrap(), hello);
        assert_eq!(parse_hex("0x81, 0x05,0x48\n656C 6c6f").unwrap(), hello);
        assert_eq!(parse_hex("8105 48656c6c6f").unwrap(), hello);
        assert_eq!(parse_hex("  ").unwrap(), Vec::<u8>::new());
        assert_eq!(hex(&hello), "81 05 48 65 6c 6c 6f");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn hex_errors_give_the_character_position() {
        let error = parse_hex("81 5 48").unwrap_err();
        assert_eq!(error, DecodeError::OddHex { position: 4, group: "5".into() });
        assert!(
            error.to_string().starts_with("character 4: \"5\" has an odd number of hex digits")
        );
        let error = parse_hex("81 0x0g").unwrap_err();
        assert_eq!(error, DecodeError::NotHex { position: 7, found: 'g' });
        assert_eq!(error.to_string(), "character 7 is 'g', not a hex digit");
        assert_eq!(parse_hex("é1").unwrap_err(), DecodeError::NotHex { position: 1, found: 'é' });
        let mut out = String::new();
        assert_eq!(describe(&[], Side::Either, &mut out).unwrap_err(), DecodeError::NoBytes);
    }

    #[test]
    fn frames_before_an_error_are_still_described() {
        let mut out = String::new();
        let error = describe(&bytes("81 00 83 00"), Side::Either, &mut out).unwrap_err();
        assert!(out.starts_with("frame 1: 2 bytes, from a server (unmasked)\n"), "{out}");
        assert!(!out.contains("frame 2"), "{out}");
        assert_eq!(error.at(), Some(2));
    }
}
