//! The opcode: byte 0's low four bits, which say what a frame's payload is (RFC 6455 §5.2).
//!
//! §5.2 lists six opcodes and leaves the other ten to later extensions, in two ranges:
//!
//! ```text
//! %x0 continuation   %x1 text   %x2 binary   %x3-7 reserved for further non-control frames
//! %x8 close          %x9 ping   %xA pong     %xB-F reserved for further control frames
//! ```
//! The top bit of the four splits them: 0 for a data frame, which carries (part of) a message,
//! 1 for a control frame (§5.5), which stands alone. §11.8 opens an IANA registry for the
//! reserved ones; none has been registered, so a reserved opcode is an error for the decoder and
//! for the session's receiver alike.

use std::fmt;

/// What a frame carries (§5.2, §11.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: the next piece of a fragmented message (§5.4).
    Continuation,
    /// 0x1: a text message, or its first fragment; UTF-8 once whole (§5.6, §8.1).
    Text,
    /// 0x2: a binary message, or its first fragment (§5.6).
    Binary,
    /// 0x3 to 0x7: "reserved for further non-control frames".
    ReservedData(u8),
    /// 0x8: the close frame (§5.5.1).
    Close,
    /// 0x9: a ping, which the peer answers with a pong (§5.5.2).
    Ping,
    /// 0xA: a pong (§5.5.3).
    Pong,
    /// 0xB to 0xF: "reserved for further control frames".
    ReservedControl(u8),
}

impl Opcode {
    /// The opcode in the low four bits of `byte0`; the high four (FIN and RSV) are ignored.
    pub fn from_byte0(byte0: u8) -> Opcode {
        match byte0 & OPCODE_BITS {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            // §5.5: "Control frames are identified by opcodes where the most significant bit of
            // the opcode is 1."
            other if other & CONTROL_BIT != 0 => Opcode::ReservedControl(other),
            other => Opcode::ReservedData(other),
        }
    }

    /// The four bits as a number, 0x0 to 0xF.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
            Opcode::ReservedData(bits) | Opcode::ReservedControl(bits) => bits,
        }
    }

    /// Close, ping, pong, or a reserved control opcode: the top bit of the four is set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & CONTROL_BIT != 0
    }

    /// One of the ten opcodes §5.2 keeps for later (0x3-0x7, 0xB-0xF).
    pub fn is_reserved(self) -> bool {
        matches!(self, Opcode::ReservedData(_) | Opcode::ReservedControl(_))
    }

    /// Its name: "continuation", "text", "binary", "close", "ping", "pong" or "reserved".
    pub fn name(self) -> &'static str {
        match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
            Opcode::ReservedData(_) | Opcode::ReservedControl(_) => "reserved",
        }
    }
}

impl From<Opcode> for u8 {
    fn from(opcode: Opcode) -> u8 {
        opcode.as_u8()
    }
}

/// As the RFC writes it in hex, without the `%x`: `1`, `a`, `f`.
impl fmt::LowerHex for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.as_u8(), f)
    }
}

/// The opcode's four bits in byte 0.
const OPCODE_BITS: u8 = 0x0f;
/// The opcode bit that makes a frame a control frame (§5.5).
const CONTROL_BIT: u8 = 0x08;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_opcode_reads_back_as_its_bits() {
        for bits in 0..=0xf {
            let opcode = Opcode::from_byte0(0x80 | bits);
            assert_eq!(opcode.as_u8(), bits);
            assert_eq!(opcode.is_control(), bits >= 0x8, "{bits:x}");
            assert_eq!(opcode.is_reserved(), matches!(bits, 0x3..=0x7 | 0xb..=0xf), "{bits:x}");
        }
    }

    #[test]
    fn the_six_opcodes_of_section_5_2_have_names() {
        let named = [(0x0, "continuation"), (0x1, "text"), (0x2, "binary")];
        let control = [(0x8, "close"), (0x9, "ping"), (0xa, "pong")];
        for (bits, name) in named.into_iter().chain(control) {
            assert_eq!(Opcode::from_byte0(bits).name(), name);
        }
        assert_eq!(Opcode::from_byte0(0x3), Opcode::ReservedData(0x3));
        assert_eq!(Opcode::from_byte0(0xf), Opcode::ReservedControl(0xf));
        assert_eq!(format!("0x{:x}", Opcode::Pong), "0xa");
    }
}
