//! The client's random numbers: xorshift64*, seeded from the operating system.
//!
//! RFC 6455 wants masking keys (§5.3) and handshake keys (§4.1) unpredictable to the network,
//! not cryptographic, and a generator opens thousands of connections: a small fast generator
//! per thread, seeded from the system's random source, is enough.

/// xorshift64*: masking keys and handshake keys.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn from_os() -> Rng {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 8];
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::new(u64::from_le_bytes(seed) ^ nanos)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
