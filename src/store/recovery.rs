//! Recovery: reading a segment back at start and repairing what a crash or a bad disk left in
//! it, in one pass whatever the segment holds.
//!
//! A segment is read record by record ([`record_at`]). Where no record reads well (its length
//! runs past the end, or its checksum fails), the bytes are damage, and the damage ends at the
//! next offset where a record reads well: every record after it is kept. All the damage of a
//! segment is moved aside into one `.damaged-<unix seconds>` file. At the end of the last
//! segment, damage that no record follows is a write torn by a crash, and is cut off.
//!
//! # One pass
//! Finding the next record that reads well means trying every offset after the damage, and the
//! header at each offset claims a payload of up to [`MAX_RECORD`] bytes whose checksum must be
//! checked. Checked by reading the payload, damage in which every fourth byte claims a record
//! reaching the end of the file costs a pass over the rest of the file per offset: quadratic,
//! and a crafted segment of 512 KiB kept a server from starting for minutes. So at the first
//! damage the segment is read once more, keeping its running CRC-32 every few bytes
//! ([`Prefixes`]), and the checksum of any would-be payload follows from two of those in a bounded
//! number of steps (`store/crc.rs` says why). Every offset costs about the same, and a segment
//! is read in time proportional to its size, damaged or not.

use std::fs::File;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::crc::{Prefixes, crc32};
use super::folder;
use super::record::{HEADER, MAX_RECORD};

/// What opening the log found (besides the records, handed out one by one).
#[derive(Debug, Default)]
pub struct Recovered {
    /// What was repaired on the way.
    pub repairs: Vec<Repair>,
}

/// A repair made while opening the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Repair {
    /// The last record was cut short or did not match its checksum (a crash while it was being
    /// written): these bytes were cut off the end of the segment.
    TornTail {
        /// The segment.
        segment: PathBuf,
        /// Bytes cut off.
        bytes: u64,
    },
    /// Bytes in the middle that were not records, moved aside, all of a segment's into one file.
    Damaged {
        /// The segment they were in.
        segment: PathBuf,
        /// Where the first of them starts in it.
        at: u64,
        /// Where they are now.
        moved_to: PathBuf,
        /// How many, in all.
        bytes: u64,
        /// In how many ranges they were (each ended by a record that reads well).
        places: usize,
    },
}

/// Reads one segment, handing each record's payload to `each`, and repairs it (recording what it
/// did in `recovered`); returns its length afterwards. `last`: the segment written last, whose
/// end may be torn.
pub fn read_segment(
    path: &Path,
    last: bool,
    each: &mut dyn FnMut(&[u8]),
    recovered: &mut Recovered,
) -> io::Result<u64> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let Scan { damaged, end } = scan(&bytes, last, each);
    if damaged.is_empty() && end == bytes.len() {
        return Ok(bytes.len() as u64);
    }
    if !damaged.is_empty() {
        recovered.repairs.push(set_aside(path, &bytes, &damaged)?);
    }
    if end < bytes.len() {
        let bytes = (bytes.len() - end) as u64;
        recovered.repairs.push(Repair::TornTail { segment: path.to_path_buf(), bytes });
    }
    // What is left: the records, without the damage between them and the torn end.
    let mut kept = Vec::with_capacity(end);
    let mut from = 0;
    for range in &damaged {
        kept.extend_from_slice(&bytes[from..range.start]);
        from = range.end;
    }
    kept.extend_from_slice(&bytes[from.min(end)..end]);
    folder::replace(path, &kept)?;
    Ok(kept.len() as u64)
}

/// Where a segment's records are not.
#[derive(Debug, PartialEq, Eq)]
struct Scan {
    /// The damaged ranges, in order.
    damaged: Vec<Range<usize>>,
    /// Where the torn end starts (the length of the segment when there is none).
    end: usize,
}

/// Reads `bytes` record by record, handing each payload to `each`, and finds the damage.
fn scan(bytes: &[u8], last: bool, each: &mut dyn FnMut(&[u8])) -> Scan {
    let mut damaged = Vec::new();
    // Made at the first damage (a sound segment never needs them), and from then on used for
    // every record: a header after the damage may claim a payload to the end of the segment,
    // and each such header read by reading its payload would cost a pass again.
    let mut prefixes = None;
    let mut at = 0;
    while at < bytes.len() {
        if let Some(end) = record_at(bytes, at, prefixes.as_ref()) {
            each(&bytes[at + HEADER..end]);
            at = end;
            continue;
        }
        let prefixes = prefixes.get_or_insert_with(|| Prefixes::new(bytes));
        match next_record(bytes, at + 1, prefixes) {
            Some(next) => {
                damaged.push(at..next);
                at = next;
            }
            // Nothing reads well up to the end of the last segment: a torn write.
            None if last => return Scan { damaged, end: at },
            None => {
                damaged.push(at..bytes.len());
                at = bytes.len();
            }
        }
    }
    Scan { damaged, end: bytes.len() }
}

/// The first offset from `from` on where a record reads well: its checksum taken from
/// `prefixes`, so each offset costs a bounded number of steps, not a pass over its payload.
fn next_record(bytes: &[u8], from: usize, prefixes: &Prefixes) -> Option<usize> {
    (from..bytes.len()).find(|&at| record_at(bytes, at, Some(prefixes)).is_some())
}

/// The end of the record starting at `at`, if a whole one is there and its checksum holds: the
/// checksum taken from `prefixes` if given, else computed from the payload.
fn record_at(bytes: &[u8], at: usize, prefixes: Option<&Prefixes>) -> Option<usize> {
    let (payload, crc) = header_at(bytes, at)?;
    let sum = match prefixes {
        Some(prefixes) => prefixes.of(payload.clone()),
        None => crc32(&bytes[payload.clone()]),
    };
    (sum == crc).then_some(payload.end)
}

/// Where the payload of a record at `at` lies and the checksum its header gives, if a header
/// is there and claims a payload that fits in `bytes` and in [`MAX_RECORD`].
fn header_at(bytes: &[u8], at: usize) -> Option<(Range<usize>, u32)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let length = u32::from_le_bytes(header[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().ok()?);
    let payload = at + HEADER..at + HEADER + length;
    (length <= MAX_RECORD && payload.end <= bytes.len()).then_some((payload, crc))
}

/// Moves the `damaged` ranges of the segment at `path` into one file beside it, in order.
fn set_aside(path: &Path, bytes: &[u8], damaged: &[Range<usize>]) -> io::Result<Repair> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let moved_to = path.with_file_name(format!("{name}.damaged-{stamp}"));
    let mut file = folder::create_file(&moved_to)?;
    for range in damaged {
        file.write_all(&bytes[range.clone()])?;
    }
    file.sync_data()?;
    Ok(Repair::Damaged {
        segment: path.to_path_buf(),
        at: damaged[0].start as u64,
        moved_to,
        bytes: damaged.iter().map(|r| r.len() as u64).sum(),
        places: damaged.len(),
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, Instant};

    use super::*;

    fn record(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::store::append_log::frame_into(&mut out, payload);
        out
    }

    fn read(bytes: &[u8], last: bool) -> (Scan, Vec<Vec<u8>>) {
        let mut payloads = Vec::new();
        let scan = scan(bytes, last, &mut |p: &[u8]| payloads.push(p.to_vec()));
        (scan, payloads)
    }

    /// The resync as it was first written: every offset's payload checksummed by reading it.
    fn naive(bytes: &[u8], last: bool) -> Scan {
        let (mut damaged, mut at) = (Vec::new(), 0);
        while at < bytes.len() {
            if let Some(end) = record_at(bytes, at, None) {
                at = end;
                continue;
            }
            match (at + 1..bytes.len()).find(|&next| record_at(bytes, next, None).is_some()) {
                Some(next) => {
                    damaged.push(at..next);
                    at = next;
                }
                None if last => return Scan { damaged, end: at },
                None => {
                    damaged.push(at..bytes.len());
                    at = bytes.len();
                }
            }
        }
        Scan { damaged, end: bytes.len() }
    }

    #[test]
    fn every_kind_of_damage_is_found_where_the_naive_resync_finds_it() {
        // Records of many sizes, then every way of breaking one byte, two, or a run of them.
        let mut sound = Vec::new();
        for n in 0..40usize {
            sound.extend(record(&vec![b'a' + (n % 26) as u8; n * 7 % 50]));
        }
        let mut seed = 0x2545_F491_u64;
        let mut random = |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for case in 0..400 {
            let mut bytes = sound.clone();
            for _ in 0..1 + case % 3 {
                let (at, run) =
                    (random(bytes.len()), 1 + random(if case % 5 == 0 { 40 } else { 2 }));
                for b in &mut bytes[at..(at + run).min(sound.len())] {
                    *b = if case % 7 == 0 { 0 } else { *b ^ (1 + random(255)) as u8 };
                }
            }
            if case % 4 == 0 {
                bytes.truncate(bytes.len() - random(30));
            }
            for last in [false, true] {
                assert_eq!(read(&bytes, last).0, naive(&bytes, last), "case {case}, last {last}");
            }
        }
    }

    #[test]
    fn damage_crafted_against_the_resync_is_read_in_one_pass() {
        // 1 MiB in which every fourth byte starts a header claiming a record that ends exactly
        // at the end of the segment: read naively, a pass over the rest of the segment each.
        let (before, after) = (record(b"before"), record(b"after"));
        let size = 1 << 20;
        let mut bytes = before.clone();
        while bytes.len() < before.len() + size {
            let to_end = before.len() + size + after.len() - bytes.len();
            bytes.extend_from_slice(&((to_end - HEADER) as u32).to_le_bytes());
        }
        bytes.extend_from_slice(&after);
        let started = Instant::now();
        let (scan, payloads) = read(&bytes, true);
        let took = started.elapsed();
        assert_eq!(payloads, [b"before".to_vec(), b"after".to_vec()]);
        assert_eq!(scan.damaged, vec![before.len()..before.len() + size]);
        // Debug build: about 0.5 s; naively about an hour.
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn damage_in_many_places_each_crafted_against_the_resync_is_read_in_one_pass() {
        // 64 Ki places: a header claiming a record to the end of the segment, then an empty
        // record that reads well, so the damage ends at once and starts again 8 bytes later.
        let places = 1 << 16;
        let mut bytes = Vec::new();
        for i in 0..places {
            bytes.extend_from_slice(&((places - i) as u32 * 16 - 8).to_le_bytes());
            bytes.extend_from_slice(&[0xEE; 4]);
            bytes.extend_from_slice(&record(b""));
        }
        let started = Instant::now();
        let (scan, payloads) = read(&bytes, false);
        let took = started.elapsed();
        assert_eq!((scan.damaged.len(), payloads.len()), (places, places));
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn all_the_damage_of_a_segment_goes_to_one_file() {
        let dir = std::env::temp_dir().join(format!("wschat-recovery-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        folder::create(&dir).unwrap();
        let path = dir.join("00000001.log");
        // 1,000 records, each after a byte of garbage: 1,000 damaged places.
        let bytes: Vec<u8> =
            (0..1000).flat_map(|_| [&[0xFF][..], &record(b"r")].concat()).collect();
        fs::write(&path, &bytes).unwrap();
        let (mut recovered, mut count) = (Recovered::default(), 0);
        let length = read_segment(&path, false, &mut |_| count += 1, &mut recovered).unwrap();
        assert_eq!((count, length), (1000, 9000));
        let [Repair::Damaged { at: 0, bytes: 1000, places: 1000, moved_to, .. }] =
            &recovered.repairs[..]
        else {
            panic!("{:?}", recovered.repairs)
        };
        assert_eq!(fs::read(moved_to).unwrap(), vec![0xFF; 1000]);
        let files = fs::read_dir(&dir).unwrap().count();
        assert_eq!(files, 2, "the segment and one file beside it");
        fs::remove_dir_all(&dir).unwrap();
    }
}
