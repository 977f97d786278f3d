//! The store: where a server run alone keeps its history, sessions and nicknames across restarts
//! (`HISTORY_DIR`), as an append-only log of framed records ([`append_log`]), the same shape as
//! a Kafka partition. With Kafka the topics are the log and nothing is stored here.
//!
//! [`Store`] is the broadcaster's [`Journal`]: each [`Entry`] becomes one record, a JSON object
//! like the Kafka records (`{"kind":"chat","room":"general","id":7,…}`), and
//! [`Store::open`] reads them back, in order, for the broadcaster to rebuild its state from
//! before it serves anyone.
//!
//! # Size
//! The log grows by one record per message (about 100 bytes plus the text and the nickname).
//! When it is twice as big as it was after its last compaction (and at least
//! [`MIN_GROWTH`] bigger), it is rewritten with only what is still wanted: the epoch, the
//! sessions, and the last `HISTORY_SIZE` messages of each room and conversation, which the
//! broadcaster hands over (a snapshot of `Arc`s). The rewrite runs on a `compaction` thread while
//! the broadcaster goes on writing to a new segment (see [`append_log::compact`]). So the disk
//! used stays within about twice what is kept.
//!
//! A compaction is also due, however little the log grew, when a session that has private
//! messages in the log is forgotten (at most one such a minute): what the server no longer holds
//! of it leaves the disk too ([`forgotten`]).
//!
//! # Privacy
//! The folder holds private messages: it is made `0700` and its files `0600` ([`folder`]).

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use log::{error, info, warn};

use crate::chat::history::new_epoch;
use crate::chat::journal::{Entry, Journal};

pub mod crc;
mod folder;
mod forgotten;
pub mod append_log;
mod record;
mod entries;
mod recovery;

use self::append_log::Log;
pub use self::append_log::OpenError;
use self::entries::{decode, encode};
use self::forgotten::Correspondents;
use self::recovery::Repair;

/// The store of a server without Kafka.
#[derive(Debug)]
pub struct Store {
    log: Log,
    /// `HISTORY_FSYNC=round`: each commit ends with `fdatasync`.
    sync: bool,
    /// What was written since the last commit that is not a message (sessions, forgets, the
    /// starts of histories): a failed commit writes them again with the next one (messages are
    /// refused instead).
    kept: Vec<Entry>,
    /// The log's size after it was opened or last compacted.
    base: u64,
    /// Growth below which it is not compacted.
    min_growth: u64,
    /// The compaction running, if one is.
    compacting: Option<Compacting>,
    /// No compaction starts before this (one failed).
    retry_compaction: Instant,
    /// When the last compaction began.
    last_compaction: Option<Instant>,
    /// Who has private messages in the log, and whether one was forgotten since.
    correspondents: Correspondents,
}

/// What [`Store::open`] found.
#[derive(Debug)]
pub struct Opened {
    /// The store, ready for the broadcaster.
    pub store: Store,
    /// The epoch of every id in it (a new store has a new one, written down already).
    pub epoch: String,
    /// Everything written before, in order, for the broadcaster to rebuild its state from.
    pub entries: Vec<Entry>,
}

impl Store {
    /// Opens (or creates) the store in `dir`, reads it back and logs what it repaired; `sync` is
    /// `HISTORY_FSYNC=round`.
    pub fn open(dir: &Path, sync: bool) -> Result<Opened, OpenError> {
        let mut epoch = None;
        let mut entries = Vec::new();
        let mut unreadable = 0usize;
        let mut correspondents = Correspondents::default();
        let mut each = |payload: &[u8]| match decode(payload) {
            Some(Entry::Epoch(e)) => epoch = Some(e),
            Some(entry) => {
                correspondents.note(&entry);
                entries.push(entry);
            }
            None => unreadable += 1,
        };
        let (log, recovered) = Log::open(dir, &mut each)?;
        if let Some(mode) = folder::too_open(dir) {
            warn!(
                "history: {} is mode {mode:o}, open to other accounts on this machine, and it \
                 holds private messages: run chmod 700 {}",
                dir.display(),
                dir.display()
            );
        }
        for repair in &recovered.repairs {
            match repair {
                Repair::TornTail { segment, bytes } => warn!(
                    "history: {}: cut {bytes} bytes off its end, a record torn by a crash while \
                     it was written; everything before it is kept",
                    segment.display()
                ),
                Repair::Damaged { segment, at, moved_to, bytes, places } => error!(
                    "history: {}: {bytes} damaged bytes in {places} place(s), the first at offset \
                     {at}, moved aside to {}; the records before and after them are kept",
                    segment.display(),
                    moved_to.display()
                ),
            }
        }
        if unreadable > 0 {
            warn!(
                "history: {unreadable} records with a sound checksum but unknown content skipped"
            );
        }
        let base = log.bytes();
        let mut store = Store {
            log,
            sync,
            kept: Vec::new(),
            base,
            min_growth: MIN_GROWTH,
            compacting: None,
            retry_compaction: Instant::now(),
            last_compaction: None,
            correspondents,
        };
        let epoch = match epoch {
            Some(epoch) => epoch,
            None => {
                let epoch = new_epoch();
                store.write(Entry::Epoch(epoch.clone()));
                store.commit().map_err(|source| OpenError::Io {
                    what: format!("cannot write to {}", dir.display()),
                    source,
                })?;
                epoch
            }
        };
        info!(
            "history: {} holds {} records ({} bytes), epoch {epoch}",
            dir.display(),
            entries.len(),
            store.log.bytes()
        );
        Ok(Opened { store, epoch, entries })
    }

    /// Compacts once the log grew by `bytes` at least (and doubled), instead of [`MIN_GROWTH`].
    pub fn compact_after(mut self, bytes: u64) -> Store {
        self.min_growth = bytes;
        self
    }
}

impl Journal for Store {
    fn write(&mut self, entry: Entry) {
        self.log.append(&encode(&entry));
        self.correspondents.note(&entry);
        // What is not a message is never refused: it is written with the next good commit.
        if !matches!(entry, Entry::Message(_)) {
            self.kept.push(entry);
        }
    }

    fn has_pending(&self) -> bool {
        self.log.has_pending()
    }

    fn commit(&mut self) -> io::Result<()> {
        match self.log.commit(self.sync) {
            Ok(()) => {
                self.kept.clear();
                Ok(())
            }
            Err(e) => {
                for entry in &self.kept {
                    self.log.append(&encode(entry));
                }
                Err(e)
            }
        }
    }

    fn bytes(&self) -> u64 {
        self.log.bytes()
    }

    fn wants_compaction(&mut self) -> bool {
        self.finish_compaction();
        let (bytes, now) = (self.log.bytes(), Instant::now());
        let grown = bytes > 2 * self.base && bytes > self.base + self.min_growth;
        // The private messages of a forgotten session leave the disk soon, whatever the size.
        let forgotten = self.correspondents.forgotten()
            && self.last_compaction.is_none_or(|last| now >= last + FORGOTTEN_COMPACTION_GAP);
        self.compacting.is_none() && now >= self.retry_compaction && (grown || forgotten)
    }

    fn compact(&mut self, entries: Vec<Entry>) {
        let through = match self.log.roll() {
            Ok(through) => through,
            Err(e) => return self.compaction_failed(&e, false),
        };
        let forgotten = self.correspondents.compacting(&entries);
        let (done, result) = crossbeam_channel::bounded(1);
        let dir = self.log.dir().to_path_buf();
        let count = entries.len();
        let started = Instant::now();
        self.last_compaction = Some(started);
        let spawned = std::thread::Builder::new().name("compaction".into()).spawn(move || {
            let _ = done.send(append_log::compact(&dir, through, entries.iter().map(encode)));
        });
        match spawned {
            Ok(_) => self.compacting = Some(Compacting { result, count, started, forgotten }),
            Err(e) => self.compaction_failed(&e, forgotten),
        }
    }
}

impl Store {
    /// Takes in the result of a compaction that finished.
    fn finish_compaction(&mut self) {
        let Some(compacting) = &self.compacting else { return };
        let outcome = match compacting.result.try_recv() {
            Err(crossbeam_channel::TryRecvError::Empty) => return,
            Ok(outcome) => outcome,
            Err(crossbeam_channel::TryRecvError::Disconnected) => {
                Err(io::Error::other("the compaction thread stopped"))
            }
        };
        let Compacting { count, started, forgotten, .. } = self.compacting.take().expect("checked");
        match outcome.and_then(|_| self.log.recount()) {
            Ok(()) => {
                self.base = self.log.bytes();
                info!(
                    "history: compacted to {count} records, {} bytes, in {:.0?}",
                    self.base,
                    started.elapsed()
                );
            }
            Err(e) => self.compaction_failed(&e, forgotten),
        }
    }

    /// `forgotten`: the compaction was to remove the private messages of a forgotten session.
    fn compaction_failed(&mut self, e: &io::Error, forgotten: bool) {
        warn!("history: compaction failed ({e}); the log stays as it was, tried again later");
        self.retry_compaction = Instant::now() + COMPACTION_RETRY;
        self.correspondents.compaction_failed(forgotten);
    }
}

/// A compaction running on its thread.
#[derive(Debug)]
struct Compacting {
    result: crossbeam_channel::Receiver<io::Result<u64>>,
    /// Records it writes.
    count: usize,
    started: Instant,
    /// It removes the private messages of a session forgotten since the last one.
    forgotten: bool,
}

/// How long after a failed compaction the next one may start.
const COMPACTION_RETRY: Duration = Duration::from_secs(30);

/// A compaction due because a session with private messages in the log was forgotten starts at
/// least this long after the last one began: forgets in a steady stream rewrite what is kept
/// once a minute at most.
const FORGOTTEN_COMPACTION_GAP: Duration = Duration::from_secs(60);

/// The log grows by at least this much between compactions (so a small log is not rewritten
/// over and over).
pub const MIN_GROWTH: u64 = 4 << 20;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::chat::protocol::{Body, Chat, Place};
    use crate::chat::room::RoomName;
    use crate::chat::session::UserId;

    fn dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("wschat-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// Waits (bounded) until the compaction thread is done and its result taken.
    fn wait_for_compaction(store: &mut Store) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.compacting.is_some() {
            assert!(Instant::now() < deadline, "the compaction did not finish");
            store.finish_compaction();
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn chat(room: &str, id: u64) -> Entry {
        let place = Place::Room(RoomName::parse(room).unwrap());
        let (name, body, ts) = ("alice".into(), Body::text(format!("m{id}")), "t".into());
        Entry::Message(Arc::new(Chat { place, id, user: user(1), name, ts, body }))
    }

    #[test]
    fn a_new_store_has_an_epoch_that_a_restart_keeps() {
        let dir = dir("epoch");
        let opened = Store::open(&dir, true).unwrap();
        let (mut store, epoch) = (opened.store, opened.epoch);
        assert!(opened.entries.is_empty());
        store.write(chat("general", 1));
        store.commit().unwrap();
        drop(store);
        let again = Store::open(&dir, true).unwrap();
        assert_eq!(again.epoch, epoch);
        assert_eq!(again.entries, vec![chat("general", 1)]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_commit_keeps_sessions_and_drops_messages() {
        let dir = dir("failed");
        let mut store = Store::open(&dir, false).unwrap().store;
        store.write(Entry::Session { user: user(1), name: "alice".into() });
        store.write(chat("general", 1));
        // Writes to /dev/full fail with ENOSPC, as on a full disk.
        store.log.swap_segment_for_test(std::path::Path::new("/dev/full"));
        assert!(store.commit().is_err());
        assert!(store.has_pending(), "the session waits for the next commit");
        store.log.swap_segment_for_test(&dir.join("00000001.log"));
        store.commit().unwrap();
        drop(store);
        let entries = Store::open(&dir, false).unwrap().entries;
        assert_eq!(entries, vec![Entry::Session { user: user(1), name: "alice".into() }]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn forgetting_a_session_with_private_messages_makes_a_compaction_due_once_a_minute_at_most() {
        let dir = dir("forgotten");
        let mut store = Store::open(&dir, false).unwrap().store;
        let dm = |from: u8, to: u8| {
            let place = Place::Direct { to: "bob".into(), to_user: user(to) };
            let (name, body, ts) = ("alice".into(), Body::text("psst"), "t".into());
            Entry::Message(Arc::new(Chat { place, id: 1, user: user(from), name, ts, body }))
        };
        store.write(dm(1, 2));
        store.write(dm(1, 3));
        store.write(Entry::Forget(user(4)));
        store.commit().unwrap();
        assert!(!store.wants_compaction(), "a small log, and nothing private of user 4 in it");
        store.write(Entry::Forget(user(2)));
        store.commit().unwrap();
        assert!(store.wants_compaction(), "user 2's private message is on disk");
        // It keeps the conversation of users 1 and 3, whom the server still knows.
        store.compact(vec![Entry::Epoch("e".into()), dm(1, 3)]);
        store.write(Entry::Forget(user(3)));
        store.commit().unwrap();
        wait_for_compaction(&mut store);
        assert!(!store.wants_compaction(), "the next one waits a minute");
        store.last_compaction = Some(Instant::now() - FORGOTTEN_COMPACTION_GAP);
        assert!(store.wants_compaction(), "user 3's is still on disk");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compaction_waits_for_the_log_to_double_and_keeps_only_what_it_is_given() {
        let dir = dir("compact");
        let mut store = Store::open(&dir, false).unwrap().store.compact_after(1000);
        let epoch = Entry::Epoch("e".into());
        while !store.wants_compaction() {
            store.write(chat("general", store.bytes()));
            store.commit().unwrap();
        }
        store.compact(vec![epoch, chat("general", 1)]);
        let written_meanwhile = chat("general", 2);
        store.write(written_meanwhile.clone());
        store.commit().unwrap();
        wait_for_compaction(&mut store);
        assert!(!store.wants_compaction());
        drop(store);
        let opened = Store::open(&dir, false).unwrap();
        let entries = vec![chat("general", 1), chat("general", 2)];
        assert_eq!((opened.epoch.as_str(), opened.entries), ("e", entries));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
