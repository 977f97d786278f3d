//! Per-client rate limiting: a token bucket holding up to twice the per-second rate.
//!
//! Each chat message takes a token; tokens come back at `RATE_LIMIT_PER_SEC`. A message without a
//! token is refused with an error event. A client that keeps sending regardless — more than
//! [`FLOOD_STRIKES_PER_RATE`] times its rate refused in a row — is closed with 1008.

use std::time::Instant;

/// What to do with one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it.
    Allow,
    /// Refuse it with a `rate_limited` error event.
    Refuse,
    /// Refuse it and close the connection with 1008 (policy violation).
    Flooding,
}

/// A token bucket for one connection.
#[derive(Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    refused_in_a_row: u32,
    flood_strikes: u32,
}

impl RateLimit {
    /// A full bucket for `per_sec` messages a second.
    pub fn new(per_sec: u32, now: Instant) -> RateLimit {
        let rate = f64::from(per_sec);
        RateLimit {
            rate,
            burst: 2.0 * rate,
            tokens: 2.0 * rate,
            last: now,
            refused_in_a_row: 0,
            flood_strikes: per_sec.saturating_mul(FLOOD_STRIKES_PER_RATE),
        }
    }

    /// Decides about a message arriving at `now`.
    pub fn check(&mut self, now: Instant) -> Verdict {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_a_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_a_row += 1;
        if self.refused_in_a_row > self.flood_strikes { Verdict::Flooding } else { Verdict::Refuse }
    }
}

/// A client refused more than this many times its per-second rate in a row is flooding.
pub const FLOOD_STRIKES_PER_RATE: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_of_twice_the_rate_passes_then_refusals_then_flooding() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(5, t0);
        let verdicts: Vec<Verdict> = (0..21).map(|_| limit.check(t0)).collect();
        assert!(verdicts[..10].iter().all(|&v| v == Verdict::Allow));
        assert!(verdicts[10..20].iter().all(|&v| v == Verdict::Refuse));
        assert_eq!(verdicts[20], Verdict::Flooding);
    }

    #[test]
    fn tokens_come_back_with_time() {
        let t0 = Instant::now();
        let mut limit = RateLimit::new(10, t0);
        for _ in 0..20 {
            assert_eq!(limit.check(t0), Verdict::Allow);
        }
        assert_eq!(limit.check(t0), Verdict::Refuse);
        assert_eq!(limit.check(t0 + Duration::from_millis(100)), Verdict::Allow);
        // A steady client at its rate is never refused.
        for i in 1..100 {
            assert_eq!(limit.check(t0 + Duration::from_millis(100 + i * 100)), Verdict::Allow);
        }
    }
}
