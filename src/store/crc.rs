//! CRC-32, the checksum of every record (IEEE 802.3, reflected, polynomial `0xEDB88320`: the one
//! of zlib, gzip and Ethernet), and the checksum of any slice of a segment in a few steps,
//! which lets recovery test a would-be record anywhere in a damaged segment without reading its
//! payload again ([`Prefixes`]).
//!
//! # The checksum of a slice, from two running values
//! A CRC is the remainder of a polynomial division over GF(2), so it is linear: zlib's
//! `crc32_combine` gives the checksum of `A·B` (`A`, then `B`) from those of `A` and `B`,
//! ```text
//! crc(A·B) = crc(A) · x^(8·|B|)  ⊕  crc(B)        (mod the CRC polynomial)
//! ```
//! and turned around it gives the checksum of `B` from two running checksums of a buffer, the
//! one up to where `B` starts and the one up to where it ends: `crc(B) = crc(A·B) ⊕ crc(A) ·
//! x^(8·|B|)`. The product costs at most one multiplication per bit of `|B|` ([`shift`]), four
//! table lookups each, whatever `|B|` is. [`Prefixes`] keeps the running checksum at every
//! [`STRIDE`]th byte of a segment, so the checksum of any slice of it costs at most
//! `2 × STRIDE` table steps and a few multiplications instead of a pass over the slice.

use std::ops::Range;
use std::sync::OnceLock;

/// CRC-32 of `data`, as zlib's `crc32(0, data)` computes it.
pub fn crc32(data: &[u8]) -> u32 {
    extend(0, data)
}

/// The running checksum of a whole buffer at every [`STRIDE`]th offset: the checksum of any
/// slice of it in a bounded number of steps ([`Prefixes::of`]). Costs one pass over the buffer
/// and 4 bytes per [`STRIDE`] bytes of it.
#[derive(Debug)]
pub struct Prefixes<'a> {
    bytes: &'a [u8],
    /// `every[k]` is the CRC-32 of `bytes[..k * STRIDE]`.
    every: Vec<u32>,
}

impl<'a> Prefixes<'a> {
    /// Reads `bytes` once.
    pub fn new(bytes: &'a [u8]) -> Prefixes<'a> {
        let mut every = Vec::with_capacity(bytes.len() / STRIDE + 1);
        let mut crc = 0;
        every.push(crc);
        for chunk in bytes.chunks_exact(STRIDE) {
            crc = extend(crc, chunk);
            every.push(crc);
        }
        Prefixes { bytes, every }
    }

    /// CRC-32 of `bytes[range]`, equal to `crc32(&bytes[range])`.
    pub fn of(&self, range: Range<usize>) -> u32 {
        let length = range.end - range.start;
        self.upto(range.end) ^ shift(self.upto(range.start), length)
    }

    /// CRC-32 of `bytes[..end]`: the nearest value kept before `end`, extended.
    fn upto(&self, end: usize) -> u32 {
        let k = end / STRIDE;
        extend(self.every[k], &self.bytes[k * STRIDE..end])
    }
}

/// The CRC-32 of `A·data`, given `crc`, the CRC-32 of `A` (zlib's `crc32(crc, data)`).
fn extend(crc: u32, data: &[u8]) -> u32 {
    let mut register = !crc;
    for &byte in data {
        register = TABLE[((register ^ u32::from(byte)) & 0xFF) as usize] ^ (register >> 8);
    }
    !register
}

/// `crc · x^(8·bytes)` modulo the polynomial: what `crc` becomes when `bytes` zero bytes follow
/// the data it covers, less their own checksum (zlib's `crc32_combine_gen` and `multmodp`): one
/// multiplication by `x^(2^k)` per bit `k` of `8 · bytes`.
fn shift(crc: u32, bytes: usize) -> u32 {
    let powers = POWERS.get_or_init(Powers::new);
    let mut crc = crc;
    let (mut n, mut k) = (bytes, 3); // x^(8·n) = x^(n·2^3)
    while n != 0 {
        if n & 1 == 1 {
            crc = powers.times(k % 32, crc);
        }
        n >>= 1;
        k += 1;
    }
    crc
}

/// Multiplication by `x^(2^k)`, k < 32, a byte at a time: being by a constant it is linear in
/// the other factor, so a table per byte of it turns 32 steps into 4 lookups. (`x^(2^32)` is `x`
/// again: the order of `x` divides 2^32 − 1.) 128 KiB, made on first use.
struct Powers {
    tables: Vec<[[u32; 256]; 4]>,
}

impl Powers {
    fn new() -> Powers {
        let mut tables = vec![[[0u32; 256]; 4]; 32];
        let mut power = ONE >> 1; // x
        for table in &mut tables {
            for (byte, row) in table.iter_mut().enumerate() {
                for (value, slot) in row.iter_mut().enumerate() {
                    *slot = multiply(power, (value as u32) << (8 * byte));
                }
            }
            power = multiply(power, power);
        }
        Powers { tables }
    }

    /// `a · x^(2^k)`.
    fn times(&self, k: usize, a: u32) -> u32 {
        let t = &self.tables[k];
        let [b0, b1, b2, b3] = a.to_le_bytes();
        t[0][b0 as usize] ^ t[1][b1 as usize] ^ t[2][b2 as usize] ^ t[3][b3 as usize]
    }
}

/// `a · b` modulo the polynomial, both in the CRC's reflected form (bit 31 is `x^0`).
const fn multiply(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut bit = ONE;
    while bit != 0 {
        if a & bit != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLYNOMIAL } else { b >> 1 };
        bit >>= 1;
    }
    product
}

/// The tables of [`Powers`], made the first time a slice is checksummed.
static POWERS: OnceLock<Powers> = OnceLock::new();

/// How far apart [`Prefixes`] keeps its running values (bytes).
const STRIDE: usize = 16;

/// The CRC-32 polynomial, reflected.
const POLYNOMIAL: u32 = 0xEDB8_8320;

/// The polynomial `1` in reflected form.
const ONE: u32 = 1 << 31;

/// The checksum of every byte value, one step of the division per byte.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { POLYNOMIAL ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crc_is_zlibs() {
        // zlib.crc32(b"123456789") == 0xCBF43926, the check value of CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(extend(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }

    #[test]
    fn the_checksum_of_any_slice_follows_from_two_running_values() {
        let bytes: Vec<u8> =
            (0..1000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let prefixes = Prefixes::new(&bytes);
        for start in [0, 1, 31, 32, 33, 100, 511, 999, 1000] {
            for end in [start, start + 1, start + 7, start + 64, 640, 999, 1000] {
                if end <= bytes.len() && start <= end {
                    assert_eq!(
                        prefixes.of(start..end),
                        crc32(&bytes[start..end]),
                        "{start}..{end}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_shift_is_what_zero_bytes_do_to_the_register() {
        // crc(A · 0^n) = shift(crc(A), n) ⊕ crc(0^n), by the formula in the module's doc.
        let zeros = vec![0u8; 300];
        let a = crc32(b"alice");
        for n in [0, 1, 2, 8, 255, 300] {
            let mut data = b"alice".to_vec();
            data.extend_from_slice(&zeros[..n]);
            assert_eq!(crc32(&data), shift(a, n) ^ crc32(&zeros[..n]), "{n}");
        }
        // x squared 32 times is x again, so `Powers` needs 32 tables for any length.
        let mut power = ONE >> 1;
        for _ in 0..32 {
            power = multiply(power, power);
        }
        assert_eq!(power, ONE >> 1);
    }
}
