//! The payload length and its three forms (RFC 6455 §5.2).
//!
//! Byte 1 keeps seven bits for the length, too few for most payloads, so two of its values
//! announce a longer field after it:
//!
//! ```text
//! byte 1, low 7 bits   then                       payload length
//! 0 to 125             nothing                    0 to 125            (the 7-bit form)
//! 126                  2 bytes, big-endian        126 to 65,535       (the 16-bit form)
//! 127                  8 bytes, big-endian        65,536 and up       (the 64-bit form)
//! ```
//! §5.2: "Multibyte length quantities are expressed in network byte order", and "the minimal
//! number of bytes MUST be used to encode the length": each length has exactly one form,
//! [`LenForm::minimal`]. This file reads the length as written; whether it keeps those rules is
//! decided by the header's check (`header.rs`), which names the byte that breaks one.

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
    /// The form byte 1 announces: 126 is a 16-bit length next, 127 a 64-bit one.
    pub fn of_byte1(byte1: u8) -> LenForm {
        match byte1 & LEN7 {
            LEN_16 => LenForm::Bits16,
            LEN_64 => LenForm::Bits64,
            _ => LenForm::Bits7,
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

    /// "7-bit", "16-bit" or "64-bit".
    pub fn as_str(self) -> &'static str {
        match self {
            LenForm::Bits7 => "7-bit",
            LenForm::Bits16 => "16-bit",
            LenForm::Bits64 => "64-bit",
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

    /// The length as written in `header` (bytes 0 and 1, then the extended length, which must
    /// all be there), not yet judged by the rules of §5.2.
    pub fn read(self, header: &[u8]) -> u64 {
        match self {
            LenForm::Bits7 => u64::from(header[1] & LEN7),
            LenForm::Bits16 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            LenForm::Bits64 => {
                let mut be = [0; 8];
                be.copy_from_slice(&header[2..10]);
                u64::from_be_bytes(be)
            }
        }
    }
}

/// Byte 1's low seven bits: the payload length, or one of the two values below.
pub(super) const LEN7: u8 = 0x7f;
/// 7-bit lengths that announce an extended length: 16 bits next, or 64 bits next.
const LEN_16: u8 = 126;
const LEN_64: u8 = 127;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_length_has_one_form() {
        let cases = [(0, "7-bit"), (125, "7-bit"), (126, "16-bit"), (65535, "16-bit")];
        for (len, form) in cases.into_iter().chain([(65536, "64-bit"), (u64::MAX >> 1, "64-bit")]) {
            assert_eq!(LenForm::minimal(len).as_str(), form, "{len}");
        }
    }

    #[test]
    fn the_lengths_of_section_5_7_are_read_in_network_byte_order() {
        // §5.7: 256 bytes in the 16-bit form, 64 KiB in the 64-bit form.
        let medium = [0x82, 0x7e, 0x01, 0x00];
        assert_eq!(LenForm::of_byte1(medium[1]), LenForm::Bits16);
        assert_eq!(LenForm::Bits16.read(&medium), 256);
        let long = [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0];
        assert_eq!(LenForm::of_byte1(long[1]), LenForm::Bits64);
        assert_eq!(LenForm::Bits64.read(&long), 65536);
        // The MASK bit is not part of the length.
        assert_eq!(LenForm::of_byte1(0x85), LenForm::Bits7);
        assert_eq!(LenForm::Bits7.read(&[0x81, 0x85]), 5);
    }
}
