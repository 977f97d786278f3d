//! Masking: which end masks its frames (RFC 6455 §5.1), and how a payload is unmasked (§5.3).
//!
//! §5.1: "a client MUST mask all frames that it sends to the server", and "A server MUST NOT
//! mask any frames that it sends to the client". The mask is not secrecy (its key travels in the
//! header, just before the payload): it keeps a client's bytes from being chosen by a script, so
//! that a proxy that does not understand WebSocket cannot be fooled into reading them as HTTP
//! (§10.3). So a frame's MASK bit says which end sent it, and [`Role`] checks it for the decoder.
//! The session's receiver (`ws/receive.rs`) unmasks client frames with [`unmask`]; our server
//! frames ([`encode`](super::encode)) are never masked.

use crate::ws::frame::error::DecodeError;
use crate::ws::frame::header::Header;

/// Which end of a connection sent the frames, as far as the decoder is told (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A client's frames: each must be masked (`--client`).
    Client,
    /// A server's frames: none may be masked (`--server`).
    Server,
    /// Not said: each frame's MASK bit tells which end could have sent it.
    Either,
}

impl Role {
    /// Checks the frame's MASK bit against the end that sent it.
    pub fn check(self, header: &Header) -> Result<(), DecodeError> {
        match (self, header.masked()) {
            (Role::Client, false) => Err(DecodeError::UnmaskedClientFrame { at: 1 }),
            (Role::Server, true) => Err(DecodeError::MaskedServerFrame { at: 1 }),
            _ => Ok(()),
        }
    }
}

/// Payload bytes as they were before masking, from the payload's first byte on; without a key,
/// as they are.
///
/// §5.3: "Octet i of the transformed data ("transformed-octet-i") is the XOR of octet i of the
/// original data ("original-octet-i") with octet at index i modulo 4 of the masking key
/// ("masking-key-octet-j")". XOR twice with the same key gives the bytes back, so masking and
/// unmasking are the same step.
pub fn unmask(wire: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    match mask {
        None => wire.to_vec(),
        Some(key) => wire.iter().zip(key.iter().cycle()).map(|(byte, k)| byte ^ k).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_masked_hello_of_section_5_7_unmasks_to_hello() {
        // §5.7: "0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58 (contains "Hello")".
        let key = Some([0x37, 0xfa, 0x21, 0x3d]);
        assert_eq!(unmask(&[0x7f, 0x9f, 0x4d, 0x51, 0x58], key), b"Hello");
        assert_eq!(unmask(b"Hello", key), [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        assert_eq!(unmask(b"Hello", None), b"Hello");
    }

    #[test]
    fn the_role_decides_whether_the_mask_bit_may_be_set() {
        let masked = Header::read(&[0x81, 0x80, 1, 2, 3, 4]).unwrap();
        let unmasked = Header::read(&[0x81, 0x00]).unwrap();
        assert_eq!(Role::Client.check(&unmasked), Err(DecodeError::UnmaskedClientFrame { at: 1 }));
        assert_eq!(Role::Server.check(&masked), Err(DecodeError::MaskedServerFrame { at: 1 }));
        for header in [masked, unmasked] {
            assert_eq!(Role::Either.check(&header), Ok(()));
        }
    }
}
