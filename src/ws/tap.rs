//! The tap under the wire inspector: every frame a connection reads or writes, as the bytes that
//! crossed the wire (for `wss://`, after decryption), handed to a [`Tap`] that the application
//! installs on the connection's [`Outbound`](crate::ws::outbound::Outbound).
//!
//! Frames written are whole when they reach the `Outbound` (the broadcaster's, the reader's pongs,
//! close frames), so each is looked at as it is queued. Bytes read arrive in whatever pieces TCP
//! and TLS make of them, so a [`Cutter`] finds the frames in them (§5.2): it keeps a frame's
//! header and the first [`PREFIX`] bytes of its payload and counts the rest away, so a 16 MiB
//! frame costs the tap 78 bytes. Both read headers with the one parser of `ws/frame/header.rs`,
//! [`Header::read`], which takes the fields as they are: the tap shows what crossed the wire, and
//! the receiver (`ws/receive.rs`), reading the same bytes for the session, is the one that refuses
//! a bad frame.
//!
//! On a connection that agreed to permessage-deflate (RFC 7692), a frame of a compressed message
//! is kept whole (up to a bound) instead, so that [`compressed`] can show the message inflated
//! on its final frame, both ways.
//!
//! Without a tap nothing here runs: the `Outbound` checks one flag per read and per send.

mod compressed;

use tungstenite::Bytes;

pub use self::compressed::{Compressed, Inflating, NotInflated};
use crate::ws::frame::header::{Header, MAX_HEADER};

/// Payload bytes of each frame kept for the tap; the rest is counted, not kept.
pub const PREFIX: usize = 64;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Read from the client.
    In,
    /// Written to the client.
    Out,
}

/// One frame seen: its header's bytes, the first [`PREFIX`] bytes of its payload as they crossed
/// the wire (masked, from a client), the header read from them, and, for a frame of a
/// compressed message, what it is to that message.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// Which way it went.
    pub dir: Dir,
    /// The header, read.
    pub header: Header,
    /// The header's bytes.
    pub header_bytes: &'a [u8],
    /// The payload's first bytes, as on the wire.
    pub payload: &'a [u8],
    /// Its compressed message (RFC 7692), if it is a frame of one.
    pub compressed: Option<Compressed<'a>>,
}

/// What the application does with the frames seen: it may answer with frames of its own (the
/// inspector's events), which are sent to the same connection and are not tapped themselves.
pub trait Tap: Send + std::fmt::Debug {
    /// A frame was read or written.
    fn seen(&mut self, frame: Seen<'_>, events: &mut Vec<Bytes>);

    /// Called about once a second whatever the traffic, for what is due (the inspector's count
    /// of frames it skipped).
    fn tick(&mut self, events: &mut Vec<Bytes>);
}

/// A tap with its cutter for the bytes read.
#[derive(Debug)]
pub struct Tapped {
    /// The application's side.
    pub tap: Box<dyn Tap>,
    /// Frames being read.
    pub cutter: Cutter,
    /// The compressed message being written, if any.
    written: Inflating,
}

impl Tapped {
    /// `tap`, with nothing read yet, on a connection that agreed to permessage-deflate or not
    /// (`deflate`).
    pub fn new(tap: Box<dyn Tap>, deflate: bool) -> Tapped {
        Tapped { tap, cutter: Cutter::new(deflate), written: Inflating::new(deflate) }
    }

    /// Bytes read from the client: the frames they end, to the tap.
    pub fn read(&mut self, bytes: &[u8], events: &mut Vec<Bytes>) {
        let tap = &mut self.tap;
        self.cutter.feed(bytes, |seen| tap.seen(seen, events));
    }

    /// A whole frame written to the client, to the tap.
    pub fn wrote(&mut self, frame: &[u8], events: &mut Vec<Bytes>) {
        let Some(header) = Header::read(frame) else { return };
        let (header_bytes, payload) = frame.split_at(header.size);
        let seen = Seen {
            dir: Dir::Out,
            header,
            header_bytes,
            payload: &payload[..payload.len().min(PREFIX)],
            compressed: self.written.frame(&header, payload),
        };
        self.tap.seen(seen, events);
    }
}

/// Finds frames in a stream of bytes read, keeping each one's header and payload prefix (the
/// whole payload, up to a bound, of a compressed message's frames).
#[derive(Debug)]
pub struct Cutter {
    /// The current frame's header bytes so far (at most 14) and then its payload's first bytes.
    kept: Vec<u8>,
    /// The current frame's header, once complete.
    header: Option<Header>,
    /// Payload bytes of the current frame still to come.
    remaining: u64,
    /// The compressed message being read, if any.
    inflating: Inflating,
}

impl Cutter {
    /// Nothing read yet, on a connection that agreed to permessage-deflate or not (`deflate`).
    pub fn new(deflate: bool) -> Cutter {
        Cutter { kept: Vec::new(), header: None, remaining: 0, inflating: Inflating::new(deflate) }
    }

    /// Takes bytes read; calls `each` for every frame they complete.
    pub fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(Seen<'_>)) {
        while !bytes.is_empty() {
            let Some(header) = self.header else {
                // Reading a header: at most 14 bytes, kept until it is whole.
                let take = bytes.len().min(MAX_HEADER - self.kept.len());
                self.kept.extend_from_slice(&bytes[..take]);
                match Header::read(&self.kept) {
                    Some(header) => {
                        // Bytes taken beyond the header belong to the payload: give them back.
                        let extra = self.kept.len() - header.size;
                        self.kept.truncate(header.size);
                        bytes = &bytes[take - extra..];
                        self.header = Some(header);
                        self.remaining = header.len;
                    }
                    None => bytes = &bytes[take..],
                }
                if self.header.is_some() && self.remaining == 0 {
                    self.complete(&mut each);
                }
                continue;
            };
            let take = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(bytes.len());
            let whole = self.inflating.keep(&header).unwrap_or(0);
            let keep = header.size + whole.max(PREFIX);
            let room = keep.saturating_sub(self.kept.len()).min(take);
            self.kept.extend_from_slice(&bytes[..room]);
            self.remaining -= take as u64;
            bytes = &bytes[take..];
            if self.remaining == 0 {
                self.complete(&mut each);
            }
        }
    }

    fn complete(&mut self, each: &mut impl FnMut(Seen<'_>)) {
        let header = self.header.take().expect("a frame in progress");
        let (header_bytes, payload) = self.kept.split_at(header.size);
        let compressed = self.inflating.frame(&header, payload);
        let payload = &payload[..payload.len().min(PREFIX)];
        each(Seen { dir: Dir::In, header, header_bytes, payload, compressed });
        self.kept.clear();
        if self.kept.capacity() > MAX_HEADER + PREFIX {
            self.kept = Vec::new(); // A compressed frame's room, given back.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame::Opcode;

    /// RFC 6455 §5.7: a single-frame masked text message, "Hello".
    const MASKED_HELLO: [u8; 11] =
        [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];

    fn cut(pieces: &[&[u8]]) -> Vec<(Header, Vec<u8>, Vec<u8>)> {
        let mut cutter = Cutter::new(false);
        let mut seen = Vec::new();
        for piece in pieces {
            cutter.feed(piece, |s| {
                seen.push((s.header, s.header_bytes.to_vec(), s.payload.to_vec()));
            });
        }
        seen
    }

    #[test]
    fn frames_are_found_however_the_bytes_are_cut() {
        let mut two = MASKED_HELLO.to_vec();
        two.extend_from_slice(&[0x89, 0x80, 1, 2, 3, 4]); // a masked, empty ping
        let whole = cut(&[&two]);
        for split in 1..two.len() {
            assert_eq!(cut(&[&two[..split], &two[split..]]), whole, "split at {split}");
        }
        let bytes: Vec<&[u8]> = two.chunks(1).collect();
        assert_eq!(cut(&bytes), whole, "byte by byte");
        assert_eq!(whole.len(), 2);
        assert_eq!(whole[0].1, &MASKED_HELLO[..6]);
        assert_eq!(whole[0].2, &MASKED_HELLO[6..]);
        assert_eq!((whole[1].0.opcode, whole[1].2.len()), (Opcode::Ping, 0));
    }

    #[test]
    fn a_long_payload_keeps_only_its_prefix() {
        let mut frame = vec![0x82, 0xfe, 0x01, 0x00, 0, 0, 0, 0];
        frame.extend((0..256).map(|i| i as u8));
        frame.extend_from_slice(&MASKED_HELLO);
        let seen = cut(&[&frame[..100], &frame[100..]]);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0.len, 256);
        assert_eq!(seen[0].2, (0..PREFIX).map(|i| i as u8).collect::<Vec<_>>());
        assert_eq!(seen[1].2, &MASKED_HELLO[6..]);
    }

    #[test]
    fn a_compressed_frame_is_kept_whole_and_inflated_however_the_bytes_are_cut() {
        // Text that compresses to more than PREFIX bytes, in one masked frame (RSV1, FIN, text).
        let mut seed = 7u32;
        let text: String = (0..400)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + (seed >> 16) as u8 % 26)
            })
            .collect();
        let deflated = crate::ws::deflate::Compressor::new(usize::MAX).compress(text.as_bytes());
        assert!(deflated.len() > PREFIX && deflated.len() < 65536, "{}", deflated.len());
        let key = [1, 2, 3, 4];
        let mut frame = vec![0xc1, 0xfe];
        frame.extend((deflated.len() as u16).to_be_bytes());
        frame.extend(key);
        frame.extend(deflated.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
        for piece in [1, 7, 100, frame.len()] {
            let mut cutter = Cutter::new(true);
            let mut shown = Vec::new();
            for bytes in frame.chunks(piece) {
                cutter.feed(bytes, |seen| {
                    let compressed = seen.compressed.unwrap();
                    let inflated = compressed.inflated.unwrap().unwrap().to_vec();
                    shown.push((seen.payload.len(), compressed.first, compressed.len, inflated));
                });
            }
            let whole = (PREFIX, true, deflated.len() as u64, text.clone().into_bytes());
            assert_eq!(shown, [whole], "in pieces of {piece}");
            assert!(cutter.kept.capacity() <= MAX_HEADER + PREFIX, "its room given back");
        }
    }
}
