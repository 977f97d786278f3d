//! A record's framing in a segment: its payload's length (u32, little-endian), the CRC-32 of the
//! payload (`crc.rs`), then the payload. `append_log.rs` writes records this way; `recovery.rs` reads
//! them back and tells damage from records.

/// Bytes before a record's payload: its length and its checksum.
pub(super) const HEADER: usize = 8;
/// The largest payload a record may have; a larger length is damage.
pub(super) const MAX_RECORD: usize = 16 << 20;
