//! Compressed messages as the tap sees them (RFC 7692): which frames belong to one, and what
//! the whole message inflates to, so the wire inspector can show both the bytes that crossed
//! the wire and the text they carry.
//!
//! §6.1: "the "Per-Message Compressed" bit ... is set on the first frame of a compressed
//! message"; RFC 6455 §5.4: its continuation frames follow (control frames may come between
//! them), and the one with FIN ends it. So each direction keeps one [`Inflating`]: a data frame
//! with RSV1 set, on a connection that agreed to permessage-deflate, starts a compressed
//! message; its frames' payloads (unmasked) are gathered up to [`KEPT_COMPRESSED`] bytes, and
//! the final frame's [`Compressed::inflated`] is the message inflated with the server's own
//! [`crate::ws::deflate::inflate`], at most [`SHOWN_INFLATED`] bytes: a message longer
//! than either is counted and said to be so, never inflated past the bound.
//!
//! Like the rest of the tap, it shows and does not judge: a stream that does not inflate is
//! shown as such, and the session's receiver is the one that closes the connection over it.

use crate::ws::deflate::{InflateError, inflate};
use crate::ws::frame::extension::Extension;
use crate::ws::frame::{Header, Opcode};

/// What a frame of a compressed message adds to the frame the tap saw.
#[derive(Debug, Clone, Copy)]
pub struct Compressed<'a> {
    /// The message's first frame, the one whose RSV1 bit says "compressed" (§6.1).
    pub first: bool,
    /// The message's opcode, from its first frame: text or binary.
    pub opcode: Opcode,
    /// Compressed payload bytes of the message so far, this frame's included.
    pub len: u64,
    /// On the message's final frame: its payload inflated, or why it is not shown.
    pub inflated: Option<Result<&'a [u8], NotInflated>>,
}

/// Why the tap does not show a compressed message inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotInflated {
    /// Its compressed payload is longer than [`KEPT_COMPRESSED`]: only its start was kept.
    Long,
    /// It inflates to more than [`SHOWN_INFLATED`] bytes.
    Big,
    /// Its bytes are not a DEFLATE stream (§7.2.2).
    Corrupt,
}

impl NotInflated {
    /// In a few words, with the bound that applies.
    pub fn why(self) -> String {
        match self {
            NotInflated::Long => {
                format!("over {KEPT_COMPRESSED} compressed bytes: the inspector keeps no more")
            }
            NotInflated::Big => {
                format!("inflates to over {SHOWN_INFLATED} bytes: the inspector shows no more")
            }
            NotInflated::Corrupt => "not a DEFLATE stream (RFC 7692 §7.2.2)".to_string(),
        }
    }
}

/// One direction's compressed message in progress, if any.
#[derive(Debug)]
pub struct Inflating {
    /// permessage-deflate when the connection agreed to it: without it RSV1 means nothing here.
    extension: Extension,
    /// The compressed message in progress: its opcode.
    message: Option<Opcode>,
    /// Its compressed payload bytes so far.
    len: u64,
    /// Its compressed payload so far, unmasked, at most [`KEPT_COMPRESSED`] bytes.
    kept: Vec<u8>,
    /// The last message inflated, held for the [`Compressed`] that shows it.
    inflated: Result<Vec<u8>, NotInflated>,
}

impl Inflating {
    /// Nothing in progress; `agreed`: the connection agreed to permessage-deflate.
    pub fn new(agreed: bool) -> Inflating {
        let extension = if agreed { Extension::PermessageDeflate } else { Extension::None };
        Inflating { extension, message: None, len: 0, kept: Vec::new(), inflated: Ok(Vec::new()) }
    }

    /// How many payload bytes of a frame with this header to keep for its compressed message:
    /// what is left of [`KEPT_COMPRESSED`]; `None` for a frame of no compressed message.
    pub fn keep(&self, header: &Header) -> Option<usize> {
        let gathered = if self.starts(header) { 0 } else { self.kept.len() };
        self.belongs(header).then(|| KEPT_COMPRESSED.saturating_sub(gathered))
    }

    /// A frame seen, `wire` its payload's first bytes as they crossed the wire (masked, from a
    /// client; at least [`keep`](Self::keep) of them, if it had that many): what it is to a
    /// compressed message, or `None` when it is part of none.
    pub fn frame(&mut self, header: &Header, wire: &[u8]) -> Option<Compressed<'_>> {
        self.inflated = Ok(Vec::new()); // The last message's, shown already.
        if !self.belongs(header) {
            if matches!(header.opcode, Opcode::Text | Opcode::Binary) {
                // A new message where a continuation was due (§5.4): the session refuses it,
                // and the message in progress is over.
                (self.message, self.kept) = (None, Vec::new());
            }
            return None;
        }
        let first = self.starts(header);
        if first {
            (self.message, self.len) = (Some(header.opcode), 0);
            self.kept.clear();
        }
        let opcode = self.message.expect("a frame that belongs to a message");
        self.len = self.len.saturating_add(header.len);
        let room = KEPT_COMPRESSED.saturating_sub(self.kept.len()).min(wire.len());
        let key = header.mask.unwrap_or_default();
        // §5.3: octet i of the payload is octet i on the wire XOR octet i mod 4 of the key.
        self.kept.extend(wire[..room].iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        if !header.fin {
            return Some(Compressed { first, opcode, len: self.len, inflated: None });
        }
        self.message = None;
        let kept = std::mem::take(&mut self.kept);
        self.inflated = if self.len > kept.len() as u64 {
            Err(NotInflated::Long)
        } else {
            inflate(&kept, SHOWN_INFLATED).map_err(|error| match error {
                InflateError::TooBig => NotInflated::Big,
                InflateError::Corrupt => NotInflated::Corrupt,
            })
        };
        let inflated = Some(self.inflated.as_deref().map_err(|&why| why));
        Some(Compressed { first, opcode, len: self.len, inflated })
    }

    /// A data frame with RSV1 set starts a compressed message (§6.1), once agreed on: the
    /// decoder's rule (`ws/frame/extension.rs`).
    fn starts(&self, header: &Header) -> bool {
        self.extension.compresses(header.rsv[0], header.opcode)
    }

    /// The frame starts a compressed message or continues the one in progress.
    fn belongs(&self, header: &Header) -> bool {
        self.starts(header) || (self.message.is_some() && header.opcode == Opcode::Continuation)
    }
}

/// Compressed payload bytes of one message the tap keeps to inflate it; only while the message
/// is in progress, and only on a connection being inspected.
pub const KEPT_COMPRESSED: usize = 16 * 1024;
/// The most a compressed message is inflated to for the inspector.
pub const SHOWN_INFLATED: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::deflate::Compressor;

    /// RFC 7692 §7.2.3.1: "Hello", compressed, in one unmasked frame.
    const HELLO: [u8; 9] = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];

    fn seen<'a>(inflating: &'a mut Inflating, frame: &[u8]) -> Option<Compressed<'a>> {
        let header = Header::read(frame).unwrap();
        inflating.frame(&header, &frame[header.size..])
    }

    #[test]
    fn the_compressed_hello_of_rfc_7692_section_7_2_3_1_inflates() {
        let mut inflating = Inflating::new(true);
        let hello = seen(&mut inflating, &HELLO).unwrap();
        assert!(hello.first);
        assert_eq!((hello.opcode, hello.len), (Opcode::Text, 7));
        assert_eq!(hello.inflated, Some(Ok(&b"Hello"[..])));
        // Without the extension agreed, RSV1 is no compression of ours.
        assert!(seen(&mut Inflating::new(false), &HELLO).is_none());
    }

    #[test]
    fn lengths_a_client_lies_about_add_up_without_overflow() {
        // Two frame headers claiming 2^64 - 1 bytes each (the receiver refuses the first with
        // 1002; the tap sees the bytes before it does): counted, never inflated.
        let mut inflating = Inflating::new(true);
        let huge = |byte0: u8| [&[byte0, 127][..], &[0xff; 8]].concat();
        assert_eq!(seen(&mut inflating, &huge(0x41)).unwrap().len, u64::MAX);
        let last = seen(&mut inflating, &huge(0x80)).unwrap();
        assert_eq!((last.len, last.inflated), (u64::MAX, Some(Err(NotInflated::Long))));
    }

    #[test]
    fn a_fragmented_masked_message_inflates_on_its_final_frame() {
        // §7.2.3.1's second example: the compressed "Hello" in two fragments, here masked as a
        // client sends them, with a ping between them (§5.4 allows it).
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let masked = |bytes: &[u8]| -> Vec<u8> {
            bytes.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k).collect()
        };
        let mut first = vec![0x41, 0x83];
        first.extend(key);
        first.extend(masked(&[0xf2, 0x48, 0xcd]));
        let mut last = vec![0x80, 0x84];
        last.extend(key);
        last.extend(masked(&[0xc9, 0xc9, 0x07, 0x00]));
        let mut inflating = Inflating::new(true);
        let start = seen(&mut inflating, &first).unwrap();
        assert!(start.first && start.inflated.is_none());
        assert!(seen(&mut inflating, &[0x89, 0x80, 1, 2, 3, 4]).is_none(), "a ping between");
        let end = seen(&mut inflating, &last).unwrap();
        assert!(!end.first);
        assert_eq!((end.len, end.inflated), (7, Some(Ok(&b"Hello"[..]))));
    }

    #[test]
    fn what_is_too_long_too_big_or_not_deflate_is_said_so() {
        let zeros = Compressor::new(usize::MAX).compress(&[0; SHOWN_INFLATED + 1]);
        let mut big = vec![0xc2, zeros.len() as u8];
        big.extend(&zeros);
        let mut inflating = Inflating::new(true);
        assert_eq!(seen(&mut inflating, &big).unwrap().inflated, Some(Err(NotInflated::Big)));
        let corrupt = [0xc1, 0x03, 0xff, 0xff, 0xff];
        assert_eq!(
            seen(&mut inflating, &corrupt).unwrap().inflated,
            Some(Err(NotInflated::Corrupt))
        );
        // A frame longer than what is kept: its start alone, as the cutter hands it.
        let header = Header::read(&[0xc1, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!(inflating.keep(&header), Some(KEPT_COMPRESSED));
        let long = inflating.frame(&header, &[0; KEPT_COMPRESSED]).unwrap();
        assert_eq!((long.len, long.inflated), (65536, Some(Err(NotInflated::Long))));
    }
}
