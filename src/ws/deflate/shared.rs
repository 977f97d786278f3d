//! An outgoing message encoded once for every client: its plain frame, and, the first time a
//! client that agreed to permessage-deflate needs it, its compressed frame (RFC 7692 §6: RSV1
//! set on the first frame, the payload compressed).
//!
//! With `server_no_context_takeover` (`offer.rs`) a message's compressed bytes depend on the
//! message alone, so they are the same for every client: one compression per message per round,
//! however many clients get it, beside the one plain encoding every other client shares.
//! A message shorter than `COMPRESSION_MIN_BYTES` stays plain for everyone (the deflate header
//! and code tables would not pay for themselves), as does one that does not come out smaller.

use std::cell::OnceCell;

use tungstenite::Bytes;

use crate::ws::deflate::codec::Compressor;
use crate::ws::deflate::offer::Agreed;
use crate::ws::frame;
use crate::ws::frame::Header;

/// One message's frames.
#[derive(Debug, Clone)]
pub struct SharedFrame {
    plain: Bytes,
    /// Made by the first [`prepare`](Self::prepare): the compressed frame, or `None` when the
    /// message stays plain for everyone.
    compressed: OnceCell<Option<Compressed>>,
}

/// A message's compressed frame, and its plain payload's length (what a client's window is
/// held against).
#[derive(Debug, Clone)]
struct Compressed {
    frame: Bytes,
    plain_len: usize,
}

impl SharedFrame {
    /// A message whose plain frame is `plain` (one whole frame, from [`frame::text`] or
    /// [`frame::data`]).
    pub fn new(plain: Bytes) -> SharedFrame {
        SharedFrame { plain, compressed: OnceCell::new() }
    }

    /// The plain frame.
    pub fn plain(&self) -> &Bytes {
        &self.plain
    }

    /// Compresses the message if nobody has yet, it is at least `min_bytes` long, and the
    /// compressor's budget for this second has room for it (`budget.rs`).
    pub fn prepare(&self, compressor: &mut Compressor, min_bytes: usize) {
        self.compressed.get_or_init(|| {
            let header = Header::read(&self.plain)?; // None: a cancelled (empty) frame.
            let payload = &self.plain[header.size..];
            let worth_it =
                payload.len() >= min_bytes.max(1) && compressor.may_compress(payload.len());
            let deflated = worth_it.then(|| compressor.compress(payload))?;
            (deflated.len() < payload.len()).then(|| Compressed {
                frame: frame::compressed(deflated, header.opcode.as_u8() == 0x2),
                plain_len: payload.len(),
            })
        });
    }

    /// The frame for a client: compressed when it agreed to permessage-deflate, the message was
    /// [`prepare`](Self::prepare)d and compressed, and it fits the window the client asked for.
    pub fn for_client(&self, agreed: Option<Agreed>) -> &Bytes {
        match (agreed, self.compressed.get()) {
            (Some(agreed), Some(Some(compressed)))
                if compressed.plain_len <= agreed.largest_compressed() =>
            {
                &compressed.frame
            }
            _ => &self.plain,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::deflate::codec::inflate;

    const ALL: Option<Agreed> = Some(Agreed { server_window_bits: None });

    #[test]
    fn a_long_message_is_compressed_once_and_shared_a_short_one_stays_plain() {
        let mut compressor = Compressor::new(usize::MAX);
        let json = format!(
            r#"{{"type":"history","messages":[{}]}}"#,
            r#"{"from":"alice","text":"hi"},"#.repeat(20)
        );
        let long = SharedFrame::new(frame::text(json.clone()));
        let short = SharedFrame::new(frame::text(r#"{"type":"typing"}"#.into()));
        long.prepare(&mut compressor, 128);
        short.prepare(&mut compressor, 128);
        let sent = long.for_client(ALL);
        assert_eq!(sent[0], 0xc1, "FIN, RSV1 and opcode 1 (§7.2.3.1's first byte)");
        let header = Header::read(sent).unwrap();
        assert!(sent.len() < json.len() / 3, "{} bytes for {}", sent.len(), json.len());
        assert_eq!(inflate(&sent[header.size..], 1 << 20).unwrap(), json.as_bytes());
        assert_eq!(long.for_client(None), long.plain());
        assert_eq!(short.for_client(ALL), short.plain());
    }

    #[test]
    fn a_client_with_a_small_window_gets_only_messages_that_fit_it() {
        let mut compressor = Compressor::new(usize::MAX);
        let frame = SharedFrame::new(frame::text("ab".repeat(300)));
        frame.prepare(&mut compressor, 128);
        // 600 bytes: within 2^10, past 2^9.
        assert_ne!(frame.for_client(Some(Agreed { server_window_bits: Some(10) })), frame.plain());
        assert_eq!(frame.for_client(Some(Agreed { server_window_bits: Some(9) })), frame.plain());
    }
}
