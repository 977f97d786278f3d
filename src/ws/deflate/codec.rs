//! The DEFLATE step of RFC 7692 (§7.2): one message's payload in, its compressed bytes out, and
//! back, with the size checked while the bytes come out.
//!
//! §7.2.1, compressing: "Compress all the octets of the payload of the message using DEFLATE",
//! end with an empty stored block (a *sync flush*, which ends in `00 00 ff ff`), and "remove 4
//! octets (that are 0x00 0x00 0xff 0xff) from the tail end". §7.2.2, decompressing: put those 4
//! octets back and inflate. Neither side keeps anything between messages here: the server
//! answers every offer with `server_no_context_takeover` and `client_no_context_takeover`
//! (`offer.rs`), so every message is a stream of its own, and a connection keeps no 32 KiB
//! window while it waits.
//!
//! The DEFLATE itself (RFC 1951) is `flate2` over `miniz_oxide`, in Rust.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::ws::deflate::budget::Budget;

/// §7.2.1: the tail every sync flush ends with, which the sender removes and the receiver puts
/// back.
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// A compressor for whole messages, one after the other, each a stream of its own. Its state is
/// a few hundred kilobytes (the hash chains of a 32 KiB window), so there is one per writer (the
/// broadcaster, an echo connection), never one per client.
pub struct Compressor {
    deflate: Compress,
    budget: Budget,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Compressor")
    }
}

impl Compressor {
    /// A compressor at [`LEVEL`], raw DEFLATE (no zlib header: §7.2.1 sends the bare blocks),
    /// that takes at most `bytes_per_second` a second to compress (`budget.rs`).
    pub fn new(bytes_per_second: usize) -> Compressor {
        let deflate = Compress::new(Compression::new(LEVEL), false);
        Compressor { deflate, budget: Budget::new(bytes_per_second) }
    }

    /// True, and the budget spent, when a payload of `len` bytes may be compressed now.
    pub fn may_compress(&mut self, len: usize) -> bool {
        self.budget.spend(len)
    }

    /// A compressor on the heap, built on a thread with room for it: its state is assembled on
    /// the stack before it moves to the heap (in an unoptimised build all of it, some 300 KiB),
    /// more than a connection thread has (256 KiB, `net::accept::CONNECTION_STACK_BYTES`).
    pub fn boxed(bytes_per_second: usize) -> Box<Compressor> {
        let build = || Box::new(Compressor::new(bytes_per_second));
        let built = std::thread::scope(|scope| {
            let builder = std::thread::Builder::new().stack_size(BUILD_STACK_BYTES);
            builder.spawn_scoped(scope, build).ok().and_then(|thread| thread.join().ok())
        });
        built.unwrap_or_else(build)
    }

    /// The compressed payload of a message, its [`TAIL`] removed (§7.2.1).
    pub fn compress(&mut self, payload: &[u8]) -> Vec<u8> {
        // No context takeover: nothing of the last message may be referred to.
        self.deflate.reset();
        // Room for the worst case (stored blocks: 5 bytes per 64 KiB, and the flush's tail), so
        // that one call does it; the loop is for a compressor that wants more all the same.
        let mut out = Vec::with_capacity(payload.len() + payload.len() / 64 + 64);
        loop {
            let read = self.deflate.total_in() as usize;
            self.deflate
                .compress_vec(&payload[read..], &mut out, FlushCompress::Sync)
                .expect("DEFLATE into memory cannot fail");
            // All input taken, and the flush had room to end.
            if self.deflate.total_in() as usize == payload.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity());
        }
        debug_assert!(out.ends_with(&TAIL), "a sync flush ends with 00 00 ff ff");
        out.truncate(out.len() - TAIL.len());
        out
    }
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates to more than the limit (a "zip bomb" is stopped here, not after).
    TooBig,
    /// The bytes are not a DEFLATE stream.
    Corrupt,
}

/// The payload of a compressed message (§7.2.2), at most `max` bytes: inflating stops as soon as
/// the output passes `max`, so a few kilobytes that would inflate to gigabytes cost `max` + one
/// step of memory, not gigabytes.
pub fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, InflateError> {
    let mut inflater = Decompress::new(false);
    let mut out = Vec::new();
    // §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the payload".
    if !feed(&mut inflater, compressed, &mut out, max)? {
        feed(&mut inflater, &TAIL, &mut out, max)?;
    }
    Ok(out)
}

/// Inflates all of `input` into `out`; true when the stream ended there (a final block: a
/// sender may set BFINAL, §7.2.3.4, and what follows is not part of the message).
fn feed(
    inflater: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<bool, InflateError> {
    let mut read = 0;
    loop {
        if out.len() == out.capacity() {
            // Grow by doubling, never past one byte over the limit.
            out.reserve_exact(out.len().clamp(STEP, STEP * 64).min(max + 1 - out.len()));
        }
        let (taken, given) = (inflater.total_in(), out.len());
        let status = inflater
            .decompress_vec(&input[read..], out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        read += (inflater.total_in() - taken) as usize;
        if out.len() > max {
            return Err(InflateError::TooBig);
        }
        if status == Status::StreamEnd {
            return Ok(true);
        }
        if out.len() < out.capacity() {
            if read == input.len() {
                return Ok(false);
            }
            if inflater.total_in() == taken && out.len() == given {
                // Input left, room left, and nothing moved: not a stream that goes anywhere.
                return Err(InflateError::Corrupt);
            }
        }
    }
}

/// The compression level: 1 (fastest) to 9 (smallest). Chat messages are short and the
/// broadcaster compresses each once; 6, zlib's default, costs little more than 1 here and saves
/// more on history pages.
pub const LEVEL: u32 = 6;
/// The stack of the thread that builds a [`Compressor`] for [`Compressor::boxed`].
const BUILD_STACK_BYTES: usize = 2 << 20;
/// How much the output of [`inflate`] grows at a time.
const STEP: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_compressed_as_in_rfc_7692_section_7_2_3_1() {
        // §7.2.3.1: "0xc1 0x07 0xf2 0x48 0xcd 0xc9 0xc9 0x07 0x00" carries "Hello".
        let payload = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate(&payload, 100).unwrap(), b"Hello");
        assert_eq!(Compressor::new(usize::MAX).compress(b"Hello"), payload);
    }

    #[test]
    fn a_final_block_ends_the_message_and_the_tail_is_ignored() {
        // §7.2.3.4's "Hello" in one final fixed-Huffman block (BFINAL set).
        assert_eq!(inflate(&[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00], 100).unwrap(), b"Hello");
    }

    #[test]
    fn messages_round_trip_each_on_its_own() {
        let mut compressor = Compressor::new(usize::MAX);
        let chat =
            br#"{"type":"message","room":"general","from":"alice","text":"hello there, everyone"}"#;
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect();
        for payload in [&chat[..], b"", &big[..], &chat[..], b"x"] {
            let compressed = compressor.compress(payload);
            // Each inflates with a fresh inflater: no message refers to the one before.
            assert_eq!(inflate(&compressed, payload.len()).unwrap(), payload);
        }
        assert!(compressor.compress(&chat.repeat(20)).len() < chat.len() * 2);
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let bomb = Compressor::new(usize::MAX).compress(&zeros);
        assert!(bomb.len() < 20_000, "{}", bomb.len());
        assert_eq!(inflate(&bomb, 1 << 20), Err(InflateError::TooBig));
        assert_eq!(inflate(&bomb, 10 << 20).unwrap().len(), 10 << 20);
    }

    #[test]
    fn bytes_that_are_not_deflate_are_corrupt() {
        // BTYPE 11 is reserved (RFC 1951 §3.2.3).
        assert_eq!(inflate(&[0xff, 0xff, 0xff], 100), Err(InflateError::Corrupt));
    }
}
