//! The store: where a server run alone keeps its history across restarts (`HISTORY_DIR`), as an
//! append-only log of framed records ([`log`]), the same shape as a Kafka partition. With Kafka
//! the topic is the log and nothing is stored here.
//!
//! Issue 15 is being built: [`log`] (segments, framing, recovery, compaction) is done and tested;
//! the broadcaster does not write to it yet.

pub mod log;
