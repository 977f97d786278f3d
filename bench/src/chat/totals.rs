//! The readers' checks added up: every reading client's [`Outcome`] (its deliveries' latency,
//! loss, duplicates and order, the frames it did not expect, how it ended) summed over the run,
//! and the deliveries counted room by room with `--rooms` (each room's due is what was sent into
//! it times its reading clients).

use crate::outcome::Outcome;
use crate::stats::Histogram;

/// The sums over every reading client.
#[derive(Default)]
pub struct Totals {
    /// Reading clients counted.
    pub readers: u64,
    /// Measured messages: latency of each first delivery, how many arrived once, again, out of
    /// a sender's order, and when the last arrived (µs since the start).
    pub latency: Histogram,
    pub unique: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub last_at: u64,
    /// Events and frames that were not what a client waited for.
    pub errors: u64,
    pub unparsed: u64,
    pub foreign: u64,
    pub id_out_of_order: u64,
    pub mismatched: u64,
    /// How the clients ended: with every message, closed early, the close codes received, the
    /// first I/O error.
    pub complete: u64,
    pub closed_early: u64,
    pub close_codes: Vec<u16>,
    pub first_io_error: Option<String>,
    /// The join storm: presence frames and their bytes, and when each client was ready (µs since
    /// the start, sorted).
    pub presence_frames: u64,
    pub presence_bytes: u64,
    pub ready: Vec<u64>,
    /// The measured messages' bytes: compressed ones, on the wire, as JSON.
    pub compressed: u64,
    pub message_wire: u64,
    pub message_json: u64,
}

impl Totals {
    /// Adds up `outcomes`.
    pub fn of(outcomes: &[Outcome]) -> Totals {
        let mut t = Totals { readers: outcomes.len() as u64, ..Default::default() };
        for o in outcomes {
            t.foreign += o.foreign;
            t.id_out_of_order += o.id_out_of_order;
            t.mismatched += o.mismatched;
            t.compressed += o.compressed;
            t.message_wire += o.message_wire;
            t.message_json += o.message_json;
            t.presence_frames += o.presence_frames;
            t.presence_bytes += o.presence_bytes;
            t.ready.extend(o.ready_at);
            t.latency.merge(&o.deliveries.latency);
            t.unique += o.deliveries.unique;
            t.duplicated += o.deliveries.duplicated;
            t.out_of_order += o.deliveries.out_of_order;
            t.last_at = t.last_at.max(o.deliveries.last_at);
            t.errors += o.error_events;
            t.unparsed += o.unparsed;
            t.complete += u64::from(o.complete);
            if !o.complete && (o.eof || o.close_code.is_some() || o.io_error.is_some()) {
                t.closed_early += 1;
            }
            if let Some(code) = o.close_code {
                t.close_codes.push(code);
            }
            if t.first_io_error.is_none() {
                t.first_io_error.clone_from(&o.io_error);
            }
        }
        t.ready.sort_unstable();
        t
    }
}

/// The deliveries counted room by room.
pub struct ByRoom {
    /// Messages sent into each room times the room's reading clients, over all rooms.
    pub expected: u64,
    /// Rooms where a reading client missed a message.
    pub with_loss: usize,
    /// The highest and the lowest p99 of one room's deliveries (µs).
    pub worst_p99: u64,
    pub best_p99: u64,
}

/// The deliveries of `outcomes` counted room by room; `sent_to[g]`: the messages sent into room
/// `g`.
pub fn by_room(outcomes: &[Outcome], sent_to: &[u64]) -> ByRoom {
    let mut clients: Vec<&Outcome> = outcomes.iter().collect();
    clients.sort_by_key(|o| o.home.group);
    let mut out = ByRoom { expected: 0, with_loss: 0, worst_p99: 0, best_p99: u64::MAX };
    // One room at a time: a histogram per room would take 30 KiB times the rooms.
    for room in clients.chunk_by(|a, b| a.home.group == b.home.group) {
        let expected = sent_to[room[0].home.group] * room.len() as u64;
        if expected == 0 {
            continue;
        }
        let mut latency = Histogram::default();
        let mut unique = 0;
        for o in room {
            latency.merge(&o.deliveries.latency);
            unique += o.deliveries.unique;
        }
        out.expected += expected;
        out.with_loss += usize::from(unique < expected);
        out.worst_p99 = out.worst_p99.max(latency.quantile(0.99));
        out.best_p99 = out.best_p99.min(latency.quantile(0.99));
    }
    out.best_p99 = out.best_p99.min(out.worst_p99);
    out
}
