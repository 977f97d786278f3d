//! Retried records, delivered once.
//!
//! The Kafka client retries a produce request whose connection broke, and the broker may already
//! have appended the first attempt: the same record then sits at two offsets. Each chat record
//! carries a [`Uid`] (its producer, drawn at random when the instance starts, and a sequence
//! number), and a record is delivered only when no record with the same uid lies within the
//! [`WINDOW`] offsets before it.
//!
//! The rule looks only at the topic, never at the clock or at what this instance happened to see,
//! so every instance decides alike: an instance that starts reading at offset `s` reads from
//! `s - WINDOW` to learn the uids, and then decides every record from `s` on exactly as an instance
//! that has read the topic from the beginning.

use std::collections::{HashMap, VecDeque};

/// A chat record's identity: `[producer, sequence]`.
pub type Uid = [u64; 2];

/// The uids of the last [`WINDOW`] offsets.
#[derive(Debug, Default)]
pub struct Dedup {
    /// The latest offset at which each uid was seen.
    latest: HashMap<Uid, i64>,
    /// Every sighting in offset order, to forget them as the window moves on.
    sightings: VecDeque<(i64, Uid)>,
}

impl Dedup {
    /// True when no record with `uid` lies within the [`WINDOW`] offsets before `offset`.
    /// Offsets must be given in increasing order.
    pub fn first_time(&mut self, offset: i64, uid: Uid) -> bool {
        while let Some(&(seen_at, seen)) = self.sightings.front() {
            if seen_at >= offset - WINDOW {
                break;
            }
            self.sightings.pop_front();
            if self.latest.get(&seen) == Some(&seen_at) {
                self.latest.remove(&seen);
            }
        }
        self.sightings.push_back((offset, uid));
        self.latest.insert(uid, offset).is_none()
    }
}

/// How far apart (in offsets) a record and its retried copy may be. A retry happens within the
/// delivery timeout (10 s), so this covers 1,000 chat messages a second across all instances.
/// Once the window is full, its uids take about 0.8 MiB (a map and a queue of 10,000 entries).
pub const WINDOW: i64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_record_is_delivered_once() {
        let mut dedup = Dedup::default();
        assert!(dedup.first_time(10, [7, 1]));
        assert!(dedup.first_time(11, [7, 2]));
        assert!(!dedup.first_time(12, [7, 1]), "the retried copy of [7, 1]");
        assert!(dedup.first_time(13, [8, 1]), "another producer's sequence 1");
    }

    #[test]
    fn a_uid_further_back_than_the_window_counts_again() {
        let mut dedup = Dedup::default();
        assert!(dedup.first_time(0, [1, 1]));
        assert!(!dedup.first_time(WINDOW, [1, 1]));
        // The copy at WINDOW is the latest sighting: 2 * WINDOW is within reach of it.
        assert!(!dedup.first_time(2 * WINDOW, [1, 1]));
        assert!(dedup.first_time(3 * WINDOW + 1, [1, 1]));
        assert_eq!(dedup.sightings.len(), 1, "old sightings are forgotten");
    }

    #[test]
    fn an_instance_starting_later_decides_alike() {
        // A topic with retried copies at varying distances.
        let topic: Vec<Uid> = (0..4 * WINDOW)
            .map(|offset| {
                let seq = offset as u64;
                match offset % 7 {
                    3 => [5, seq - 3],
                    6 => [5, (seq * 7919) % (offset as u64 + 1)],
                    _ => [5, seq],
                }
            })
            .collect();
        let mut from_start = Dedup::default();
        let all: Vec<bool> = topic
            .iter()
            .enumerate()
            .map(|(o, uid)| from_start.first_time(o as i64, *uid))
            .collect();
        assert!(all.iter().any(|first| !first), "the topic has copies");

        let start = 2 * WINDOW + 17;
        let mut late = Dedup::default();
        for (o, uid) in topic.iter().enumerate().skip((start - WINDOW) as usize) {
            let first = late.first_time(o as i64, *uid);
            if o as i64 >= start {
                assert_eq!(first, all[o], "offset {o}");
            }
        }
    }
}
