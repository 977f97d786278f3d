//! Latency histograms and per-client delivery bookkeeping.

/// A log-linear histogram of microseconds: exact below 128 µs, then 64 buckets per power of two
/// (under 1.6 % error). Cheap to record into, and mergeable, so each reader thread keeps its own.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    sum: u128,
    max: u64,
}

const LINEAR: u64 = 128;
const SUB_BITS: u32 = 6;
const BUCKETS: usize = 128 + 64 * 58;

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; BUCKETS], total: 0, sum: 0, max: 0 }
    }
}

fn index(v: u64) -> usize {
    if v < LINEAR {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // at least 7
    let sub = (v >> (e - SUB_BITS)) & 63;
    128 + (e as usize - 7) * 64 + sub as usize
}

/// The upper edge of a bucket (so percentiles never understate).
fn upper(i: usize) -> u64 {
    if i < LINEAR as usize {
        return i as u64;
    }
    let e = 7 + (i - 128) / 64;
    let sub = ((i - 128) % 64) as u64;
    ((64 + sub + 1) << (e as u32 - SUB_BITS)) - 1
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        self.counts[index(micros)] += 1;
        self.total += 1;
        self.sum += u128::from(micros);
        self.max = self.max.max(micros);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.sum += other.sum;
        self.max = self.max.max(other.max);
    }

    /// The value at quantile `q` (0..=1), in microseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return upper(i).min(self.max);
            }
        }
        self.max
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.sum as f64 / self.total as f64 }
    }
}

/// What one reading client saw of the measured messages.
#[derive(Debug, Default)]
pub struct Deliveries {
    /// Per sender: bit `seq` set once the message arrived.
    seen: Vec<Vec<u64>>,
    /// Per sender: the highest sequence number so far (+1; 0 = none).
    last: Vec<u64>,
    pub unique: u64,
    pub duplicated: u64,
    pub out_of_order: u64,
    pub latency: Histogram,
    /// Microseconds since the shared start of the last measured message.
    pub last_at: u64,
}

impl Deliveries {
    pub fn new(senders: usize) -> Deliveries {
        Deliveries { seen: vec![Vec::new(); senders], last: vec![0; senders], ..Default::default() }
    }

    /// Records message `seq` from `sender`, sent at `sent` and received at `now` (µs).
    /// Returns false for a sender index out of range.
    pub fn record(&mut self, sender: usize, seq: u64, sent: u64, now: u64) -> bool {
        let Some(bits) = self.seen.get_mut(sender) else { return false };
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= bits.len() {
            bits.resize((word + 1).next_power_of_two(), 0);
        }
        if bits[word] & (1 << bit) != 0 {
            self.duplicated += 1;
            return true;
        }
        bits[word] |= 1 << bit;
        self.unique += 1;
        if seq + 1 < self.last[sender] {
            self.out_of_order += 1;
        }
        self.last[sender] = self.last[sender].max(seq + 1);
        self.latency.record(now.saturating_sub(sent));
        self.last_at = self.last_at.max(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in [0, 1, 127, 128, 129, 255, 256, 1000, 10_000, 1_000_000, 1 << 40] {
            let i = index(v);
            assert!(i >= last, "{v}");
            last = i;
            assert!(upper(i) >= v, "{v} -> {}", upper(i));
            assert!((upper(i) - v) as f64 <= v as f64 / 60.0 + 1.0, "{v} -> {}", upper(i));
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000 {
            h.record(v);
        }
        assert!((500..=508).contains(&h.quantile(0.5)), "{}", h.quantile(0.5));
        assert!(h.quantile(0.99) >= 990 && h.quantile(0.99) <= 1000);
        assert_eq!(h.quantile(1.0), 1000);
        assert_eq!(h.max(), 1000);
    }

    #[test]
    fn duplicates_and_order() {
        let mut d = Deliveries::new(2);
        assert!(d.record(0, 0, 0, 10));
        assert!(d.record(0, 2, 0, 10));
        assert!(d.record(0, 1, 0, 10));
        assert!(d.record(0, 1, 0, 10));
        assert!(!d.record(5, 1, 0, 10));
        assert_eq!((d.unique, d.duplicated, d.out_of_order), (3, 1, 1));
    }
}
