//! An append-only log of framed records on disk, in a folder of its own: what a Kafka partition
//! is, kept by one process.
//!
//! # On disk
//! ```text
//! HISTORY_DIR/LOCK                 held (flock) while a server uses the folder
//! HISTORY_DIR/00000001.log         segments, read in order
//! HISTORY_DIR/00000002.log
//! HISTORY_DIR/00000001.log.damaged-1764582000   bytes that were not records, moved aside
//! ```
//! The folder is `0700` and every file in it `0600` ([`folder`]).
//!
//! A record is its payload's length (`u32`, little-endian), the payload's CRC-32 (IEEE, the one of
//! zlib and Ethernet; `u32`, little-endian), and the payload. Nothing else is in a segment.
//!
//! # Writing
//! [`Log::append`] collects records in memory; [`Log::commit`] writes them with one `write` and,
//! when asked, makes them durable with one `fdatasync`: a round of the broadcaster pays one sync
//! however many messages it carries. A commit that fails (a full disk, a read-only folder, an I/O
//! error) cuts the segment back to where the last good commit left it, so nothing half-written
//! stays behind, and the next commit tries again.
//!
//! # Recovery
//! [`Log::open`] reads every segment. A record that is cut short or fails its checksum at the very
//! end of the last segment is a write torn by a crash: the segment is cut back to the record
//! before it. Anywhere else, a bad record is damage: the bytes up to the next record that reads
//! well are moved aside into a `.damaged-<unix seconds>` file and the rest is kept. Either way
//! the log opens with everything intact and says what it did ([`Repair`](super::recovery::Repair)); it never refuses to
//! start over its own contents. Reading a segment takes time proportional to its size, however
//! it is damaged or crafted: `store/recovery.rs` says how.
//!
//! # Compaction
//! Runs beside the writer, on another thread. [`Log::roll`] closes the current segment and goes on
//! in a new one; [`compact`] then writes the records still wanted as of the closed segment's end
//! into a temporary file, syncs it, renames it over the closed segment, and only then removes the
//! older ones. A crash in between leaves old segments before the compacted one: reading them in
//! order gives some records twice, and the compacted ones, read last, supersede them (each history
//! in it begins with a `start` record that resets it).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::crc::crc32;
use super::folder;
use super::folder::sync_dir;
use super::recovery::{Recovered, read_segment};

/// An open log: the folder, its lock, and the segment written to.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    /// Held while the log is open: a second server on the folder cannot lock it.
    _lock: File,
    segment: File,
    number: u64,
    /// Bytes of the current segment known to be written (the end of the last good commit).
    committed: u64,
    /// Bytes in the older segments.
    older: u64,
    /// Records appended since the last commit, framed.
    pending: Vec<u8>,
}

/// Why the log cannot be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Another process holds the folder's lock.
    Locked(PathBuf),
    /// The folder or a file in it cannot be made, read or written.
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::Locked(dir) => {
                write!(f, "{} is in use by another server (its LOCK is held)", dir.display())
            }
            OpenError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl Log {
    /// Opens (creating it if needed) the log in `dir`, locks it, and reads it back, repairing a
    /// torn end and moving damage aside; `each` gets every record's payload, oldest first (one
    /// segment is in memory at a time, never a copy of every record).
    pub fn open(dir: &Path, each: &mut dyn FnMut(&[u8])) -> Result<(Log, Recovered), OpenError> {
        let io = |what: String| move |source| OpenError::Io { what, source };
        folder::create(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let lock_path = dir.join("LOCK");
        let lock = folder::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("cannot open {}", lock_path.display())))?;
        // flock(2): the lock goes with the open file, so a server that dies, however it dies,
        // lets go of it.
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(OpenError::Locked(dir.to_path_buf())),
            Err(fs::TryLockError::Error(e)) => {
                return Err(io(format!("cannot lock {}", lock_path.display()))(e));
            }
        }
        let mut recovered = Recovered::default();
        let numbers = segments(dir).map_err(io(format!("cannot list {}", dir.display())))?;
        let last = numbers.last().copied();
        let mut older = 0;
        for &number in &numbers {
            let path = segment_path(dir, number);
            let end = read_segment(&path, Some(number) == last, each, &mut recovered)
                .map_err(io(format!("cannot read {}", path.display())))?;
            if Some(number) != last {
                older += end;
            }
        }
        let number = last.unwrap_or(1);
        let path = segment_path(dir, number);
        let segment = folder::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(format!("cannot open {}", path.display())))?;
        let committed =
            segment.metadata().map_err(io(format!("cannot read {}", path.display())))?.len();
        if last.is_none() {
            sync_dir(dir).map_err(io(format!("cannot sync {}", dir.display())))?;
        }
        let log = Log {
            dir: dir.to_path_buf(),
            _lock: lock,
            segment,
            number,
            committed,
            older,
            pending: Vec::new(),
        };
        Ok((log, recovered))
    }

    /// Adds a record, to be written by the next [`Log::commit`].
    pub fn append(&mut self, payload: &[u8]) {
        frame_into(&mut self.pending, payload);
    }

    /// True when records wait for a commit.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Writes the records appended since the last commit, and with `sync` makes them durable
    /// (`fdatasync`). On an error the segment is cut back to the last commit and the records
    /// are dropped: the caller refuses what they carried.
    pub fn commit(&mut self, sync: bool) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let written = self.segment.write_all(&self.pending).and_then(|()| match sync {
            true => self.segment.sync_data(),
            false => Ok(()),
        });
        let bytes = self.pending.len() as u64;
        self.pending.clear();
        match written {
            Ok(()) => {
                self.committed += bytes;
                Ok(())
            }
            Err(e) => {
                // Whatever part of it reached the file goes; if even that fails, the next open
                // finds a torn end and cuts it.
                let _ = self.segment.set_len(self.committed);
                Err(e)
            }
        }
    }

    /// Closes the current segment (its records are all committed) and starts the next one for
    /// later commits; returns the closed one's number, for [`compact`] to replace. The records
    /// waiting for a commit, if any, are committed first.
    pub fn roll(&mut self) -> io::Result<u64> {
        self.commit(true)?;
        let number = self.number + 1;
        let path = segment_path(&self.dir, number);
        let segment = folder::options().create(true).append(true).open(&path)?;
        sync_dir(&self.dir)?;
        let closed = self.number;
        self.older += self.committed;
        (self.segment, self.number, self.committed) = (segment, number, 0);
        Ok(closed)
    }

    /// Counts the bytes of the older segments again, after a [`compact`] replaced some.
    pub fn recount(&mut self) -> io::Result<()> {
        let mut older = 0;
        for number in segments(&self.dir)?.into_iter().filter(|&n| n < self.number) {
            older += fs::metadata(segment_path(&self.dir, number))?.len();
        }
        self.older = older;
        Ok(())
    }

    /// The log's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes in all segments.
    pub fn bytes(&self) -> u64 {
        self.older + self.committed
    }

    /// Writes go to `path` from now on (`/dev/full` plays a full disk), for tests.
    #[cfg(test)]
    pub(crate) fn swap_segment_for_test(&mut self, path: &Path) {
        self.segment = fs::OpenOptions::new().append(true).open(path).unwrap();
    }
}

/// Replaces segment `through` and every older one in `dir` with one segment holding `records`
/// (compaction); returns its size. It runs beside the writer, which appends to a newer segment
/// ([`Log::roll`]): the new segment is written under a temporary name, synced, and renamed over
/// `through` in one step; only then are the older ones removed. A crash before the rename leaves a
/// temporary file that the next [`Log::open`] removes; a crash after it leaves older segments that
/// are read before the compacted one, whose records supersede theirs.
pub fn compact(
    dir: &Path,
    through: u64,
    records: impl IntoIterator<Item = Vec<u8>>,
) -> io::Result<u64> {
    let mut bytes = Vec::new();
    for record in records {
        frame_into(&mut bytes, &record);
    }
    folder::replace(&segment_path(dir, through), &bytes)?;
    for number in segments(dir)?.into_iter().filter(|&n| n < through) {
        fs::remove_file(segment_path(dir, number))?;
    }
    sync_dir(dir)?;
    Ok(bytes.len() as u64)
}

/// Appends `payload` to `out` as a record.
pub(super) fn frame_into(out: &mut Vec<u8>, payload: &[u8]) {
    let length = u32::try_from(payload.len()).expect("records are far smaller than 4 GiB");
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc32(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The segment numbers in `dir`, in order.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(number) = name.strip_suffix(".log").and_then(|n| n.parse().ok()) {
            numbers.push(number);
        } else if name.ends_with(".log.tmp") {
            // A compaction or repair that did not finish: its segments are all still there.
            fs::remove_file(dir.join(name))?;
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:08}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::HEADER;
    use crate::store::recovery::Repair;
    use std::fs::OpenOptions;

    fn dir() -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wschat-log-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// What a test reads back: the repairs, and the records as text.
    struct Read {
        repairs: Vec<Repair>,
        texts: Vec<String>,
    }

    fn open(dir: &Path) -> Result<(Log, Read), OpenError> {
        let mut texts = Vec::new();
        let mut each = |r: &[u8]| texts.push(String::from_utf8(r.to_vec()).unwrap());
        let (log, recovered) = Log::open(dir, &mut each)?;
        Ok((log, Read { repairs: recovered.repairs, texts }))
    }

    fn texts(read: &Read) -> Vec<String> {
        read.texts.clone()
    }

    fn written(dir: &Path, records: &[&str]) {
        let (mut log, _) = open(dir).unwrap();
        for record in records {
            log.append(record.as_bytes());
        }
        log.commit(true).unwrap();
    }

    #[test]
    fn records_read_back_in_order_and_a_second_server_is_locked_out() {
        let dir = dir();
        written(&dir, &["one", "two"]);
        let (mut log, recovered) = open(&dir).unwrap();
        assert_eq!(texts(&recovered), ["one", "two"]);
        assert!(recovered.repairs.is_empty());
        assert!(matches!(open(&dir), Err(OpenError::Locked(_))));
        log.append(b"three");
        log.commit(false).unwrap();
        assert_eq!(log.bytes(), 3 * 8 + 11);
        drop(log);
        assert_eq!(texts(&open(&dir).unwrap().1), ["one", "two", "three"]);
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let dir = dir();
        written(&dir, &["one", "two"]);
        let path = segment_path(&dir, 1);
        let full = fs::metadata(&path).unwrap().len();
        // A crash halfway through the second record's payload.
        File::options().write(true).open(&path).unwrap().set_len(full - 2).unwrap();
        let (_, recovered) = open(&dir).unwrap();
        assert_eq!(texts(&recovered), ["one"]);
        assert_eq!(
            recovered.repairs,
            [Repair::TornTail { segment: path.clone(), bytes: 9 }],
            "the torn record's header and its 1 byte"
        );
        assert_eq!(fs::metadata(&path).unwrap().len(), 11);
        let (_, again) = open(&dir).unwrap();
        assert!(again.repairs.is_empty(), "repaired once and for all");
    }

    #[test]
    fn damage_in_the_middle_is_moved_aside_and_the_rest_kept() {
        let dir = dir();
        written(&dir, &["first", "second", "third"]);
        let path = segment_path(&dir, 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes[13 + 8 + 2] ^= 0x40; // a byte of "second"'s payload
        fs::write(&path, &bytes).unwrap();
        let (mut log, recovered) = open(&dir).unwrap();
        assert_eq!(texts(&recovered), ["first", "third"]);
        let [Repair::Damaged { at, bytes, moved_to, .. }] = &recovered.repairs[..] else {
            panic!("{:?}", recovered.repairs);
        };
        assert_eq!((*at, *bytes), (13, 14));
        let name = moved_to.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("00000001.log.damaged-"), "{moved_to:?}");
        assert_eq!(fs::read(moved_to).unwrap().len(), 14);
        log.append(b"fourth");
        log.commit(true).unwrap();
        drop(log);
        let (_, again) = open(&dir).unwrap();
        assert_eq!(texts(&again), ["first", "third", "fourth"]);
        assert!(again.repairs.is_empty());
    }

    #[test]
    fn a_failed_commit_leaves_nothing_behind_and_the_next_one_works() {
        let dir = dir();
        written(&dir, &["kept"]);
        let (mut log, _) = open(&dir).unwrap();
        let real = std::mem::replace(
            &mut log.segment,
            OpenOptions::new().append(true).open("/dev/full").unwrap(),
        );
        log.append(b"refused");
        let error = log.commit(true).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(28), "ENOSPC: {error}");
        assert!(!log.has_pending(), "the refused records are dropped");
        log.segment = real;
        log.append(b"later");
        log.commit(true).unwrap();
        drop(log);
        assert_eq!(texts(&open(&dir).unwrap().1), ["kept", "later"]);
    }

    #[test]
    fn a_compaction_replaces_the_closed_segments_while_the_next_one_is_written() {
        let dir = dir();
        written(&dir, &["a", "b"]);
        let (mut log, _) = open(&dir).unwrap();
        assert_eq!(log.roll().unwrap(), 1);
        log.append(b"c");
        log.commit(true).unwrap();
        assert_eq!(log.roll().unwrap(), 2);
        log.append(b"d");
        log.commit(true).unwrap();
        // Segments 1 and 2 ("a b", "c") become one with what is still wanted ("b c").
        let kept = compact(&dir, 2, [b"b".to_vec(), b"c".to_vec()]).unwrap();
        log.append(b"e");
        log.commit(true).unwrap();
        log.recount().unwrap();
        assert_eq!(segments(&dir).unwrap(), [2, 3]);
        assert_eq!(log.bytes(), kept + 2 * (HEADER as u64 + 1));
        drop(log);
        assert_eq!(texts(&open(&dir).unwrap().1), ["b", "c", "d", "e"]);
    }

    #[test]
    fn a_compaction_cut_short_before_its_rename_leaves_the_log_as_it_was() {
        let dir = dir();
        written(&dir, &["a", "b"]);
        fs::write(dir.join("00000001.log.tmp"), b"half a compaction").unwrap();
        let (_, recovered) = open(&dir).unwrap();
        assert_eq!(texts(&recovered), ["a", "b"]);
        assert!(recovered.repairs.is_empty());
        assert_eq!(segments(&dir).unwrap(), [1], "the temporary file is gone");
    }

    #[test]
    fn a_folder_that_cannot_be_made_is_an_error_naming_it() {
        let file = dir();
        fs::write(&file, b"not a folder").unwrap();
        let Err(OpenError::Io { what, .. }) = open(&file.join("data")) else {
            panic!("opened inside a file");
        };
        assert!(what.contains("cannot create"), "{what}");
    }
}
