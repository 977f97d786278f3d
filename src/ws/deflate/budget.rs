//! How many bytes one compressor may compress in a second: the cap on what compression can cost.
//!
//! Compressing costs the writer CPU in proportion to the bytes, an order of magnitude more than
//! encoding them: a history page of 100 messages of 4 KiB of text that does not compress takes
//! milliseconds at level 6, and a client may ask for such a page again and again (subscribe,
//! unsubscribe, subscribe), from every connection its address may hold. Without a cap, a few
//! addresses could keep the broadcaster compressing for everyone else's time. With one, past
//! `COMPRESSION_MAX_BYTES_PER_SEC` in a second the frames of that second go plain (RSV1 clear,
//! which RFC 7692 §6 allows for any message): every client still gets every message, at most
//! with fewer bytes saved, and what compression may cost is bounded whoever asks.

use std::time::{Duration, Instant};

/// Bytes left to compress in the current second.
#[derive(Debug, Clone)]
pub struct Budget {
    per_second: usize,
    left: usize,
    /// When the current second started.
    since: Instant,
}

impl Budget {
    /// A budget of `per_second` bytes a second.
    pub fn new(per_second: usize) -> Budget {
        Budget { per_second, left: per_second, since: Instant::now() }
    }

    /// True, and the bytes spent, when `bytes` more may be compressed in this second.
    pub fn spend(&mut self, bytes: usize) -> bool {
        let now = Instant::now();
        if now.duration_since(self.since) >= SECOND {
            self.since = now;
            self.left = self.per_second;
        }
        if bytes > self.left {
            return false;
        }
        self.left -= bytes;
        true
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_spends_at_most_its_budget_then_the_next_one_starts_again() {
        let mut budget = Budget::new(1000);
        assert!(budget.spend(600));
        assert!(budget.spend(400));
        assert!(!budget.spend(1), "the second's 1,000 bytes are spent");
        budget.since -= SECOND;
        assert!(budget.spend(1000), "a new second");
        assert!(!Budget::new(10).spend(11), "a message over the whole budget is never compressed");
    }
}
