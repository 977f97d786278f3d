//! The last `HISTORY_SIZE` messages, kept by the broadcaster for newcomers and for clients that
//! resume after a reconnect (`/ws?since=<id>&epoch=<epoch>`).
//!
//! Ids strictly increase within an *epoch*. The epoch names one run of the id sequence: a server
//! without Kafka starts a new one each time it starts, because its ids start again at 1. A resume
//! from another epoch (or with an id from the future) cannot be matched with our ids, so it gets the
//! whole history with `complete: false`, and the client knows it may have missed something.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::chat::entry::{Body, Chat};
use crate::chat::fold::{Fold, Folded};
use crate::chat::protocol::ServerEvent;
use crate::chat::room::partition;

/// Where a reconnecting client left off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The last message id the client has.
    pub since: u64,
    /// The epoch that id belongs to; `None` means "the current one".
    pub epoch: Option<String>,
}

/// A bounded buffer of recent entries: messages, and the changes to them (`entry.rs`), with
/// what the changes made of each message (`fold.rs`).
///
/// It keeps the last `capacity` messages and the changes after the oldest of them, at most
/// [`ENTRIES_PER_MESSAGE`] × `capacity` entries in all (past that the oldest go, messages too).
#[derive(Debug)]
pub struct History {
    epoch: String,
    capacity: usize,
    kept: VecDeque<Arc<Chat>>,
    /// How many of `kept` are messages.
    messages: usize,
    /// What changes made of the kept messages that have any.
    folds: HashMap<u64, Fold>,
    /// The highest id ever stored.
    last_id: u64,
    /// Every id up to this one has been dropped from the buffer (0: nothing dropped yet).
    dropped_through: u64,
    /// Entries at the end of `kept` not yet durable (see [`History::push_tentative`]).
    tentative: usize,
    /// `last_id` before the first of them.
    last_confirmed: u64,
    /// Its start is in the journal (see `chat/journal.rs`, `Entry::Start`).
    journaled: bool,
}

/// Entries a history keeps per message it keeps, at most (changes included).
pub const ENTRIES_PER_MESSAGE: usize = 4;

impl History {
    /// An empty history keeping `capacity` messages, for the given epoch.
    pub fn new(capacity: usize, epoch: String) -> History {
        History {
            epoch,
            capacity,
            kept: VecDeque::with_capacity(capacity.min(1024)),
            messages: 0,
            folds: HashMap::new(),
            last_id: 0,
            dropped_through: 0,
            tentative: 0,
            last_confirmed: 0,
            journaled: false,
        }
    }

    /// The epoch clients must quote to resume.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The id the next message gets in a server without a bus.
    pub fn next_id(&self) -> u64 {
        self.last_id + 1
    }

    /// The last id given (0: none yet).
    pub fn last_id(&self) -> u64 {
        self.last_id
    }

    /// True when a message with this id (or a later one) was stored already.
    pub fn has_seen(&self, id: u64) -> bool {
        self.last_id > 0 && id <= self.last_id
    }

    /// Declares that ids before `first` are not kept (the history is rebuilt from there).
    pub fn starting_at(mut self, first: u64) -> History {
        self.dropped_through = first.saturating_sub(1);
        self
    }

    /// Stores an entry, dropping the oldest when full. A deletion empties the text of its
    /// message and of the message's edits at once.
    pub fn push(&mut self, chat: Arc<Chat>) {
        self.last_id = self.last_id.max(chat.id);
        if self.capacity == 0 {
            self.dropped_through = chat.id;
            return;
        }
        self.append(chat.clone());
        if let Body::Delete { target } = chat.body {
            self.erase(target);
        }
        self.trim();
    }

    /// Stores an entry that is not durable yet: it is kept (the oldest are not dropped, and a
    /// deletion erases nothing yet) until [`History::confirm`] makes it part of the history or
    /// [`History::retract`] takes it back, with its id, as if it never came.
    pub fn push_tentative(&mut self, chat: Arc<Chat>) {
        if self.tentative == 0 {
            self.last_confirmed = self.last_id;
        }
        self.tentative += 1;
        self.last_id = self.last_id.max(chat.id);
        self.append(chat);
    }

    /// The tentative entries are durable: deletions among them erase their texts, and the
    /// oldest entries beyond the capacity are dropped now.
    pub fn confirm(&mut self) {
        let from = self.kept.len() - self.tentative;
        let deleted: Vec<u64> = self
            .kept
            .range(from..)
            .filter_map(|c| if let Body::Delete { target } = c.body { Some(target) } else { None })
            .collect();
        self.tentative = 0;
        for target in deleted {
            self.erase(target);
        }
        self.trim();
    }

    /// The tentative entries could not be made durable: they are taken back, and their ids
    /// will be given again (nobody got them).
    pub fn retract(&mut self) {
        if self.tentative == 0 {
            return;
        }
        let keep = self.kept.len() - self.tentative;
        self.kept.truncate(keep);
        self.last_id = self.last_confirmed;
        self.tentative = 0;
        // Rare (a disk that refuses): fold again what is left.
        self.folds.clear();
        self.messages = 0;
        for chat in std::mem::take(&mut self.kept) {
            self.append(chat);
        }
    }

    /// Stores an entry read back from the store at start; one not newer than the last kept is
    /// a copy (a compaction cut short by a crash) and is skipped.
    pub fn restore(&mut self, chat: Arc<Chat>) {
        self.journaled();
        if self.kept.back().is_none_or(|last| last.id < chat.id) {
            self.push(chat);
        }
    }

    /// Starts the history again, as a compaction left it: ids before `first` are gone, `last`
    /// was the last one given.
    pub fn restart(&mut self, first: u64, last: u64) {
        self.journaled = false;
        self.kept.clear();
        self.folds.clear();
        self.messages = 0;
        self.dropped_through = first.saturating_sub(1);
        self.last_id = last;
        self.tentative = 0;
    }

    /// True until the journal has this history's start (`Entry::Start`), which the caller
    /// then writes; false from then on.
    pub fn needs_start(&mut self) -> bool {
        !std::mem::replace(&mut self.journaled, true)
    }

    /// Its start is in the journal (it was read back from there).
    pub fn journaled(&mut self) {
        self.journaled = true;
    }

    /// The first id the history can replay (older ones were dropped), and the last id given.
    pub fn span(&self) -> (u64, u64) {
        (self.dropped_through + 1, self.last_id)
    }

    /// The entries kept, oldest first.
    pub fn messages(&self) -> impl Iterator<Item = &Arc<Chat>> {
        self.kept.iter()
    }

    /// The message `id`, if it is a message this history keeps, with what changes made of it.
    pub fn message(&self, id: u64) -> Option<(&Arc<Chat>, Option<&Fold>)> {
        let at = self.kept.binary_search_by_key(&id, |c| c.id).ok()?;
        let chat = &self.kept[at];
        chat.body.is_message().then(|| (chat, self.folds.get(&id)))
    }

    /// The entries a client should get on connect, oldest first, and whether nothing is
    /// missing: every entry after `since`; or, without a resume it can take, every entry kept.
    pub fn replay(&self, resume: Option<&Resume>) -> (Vec<&Arc<Chat>>, bool) {
        match self.resumes_at(resume) {
            Ok(since) => {
                let entries = self.kept.iter().filter(|c| c.id > since).collect();
                (entries, since >= self.dropped_through)
            }
            Err(complete) => (self.kept.iter().collect(), complete),
        }
    }

    /// The page a client gets on connect, oldest first, and whether nothing is missing: with a
    /// `since` it can take, every entry after it as it was sent; otherwise each message kept,
    /// folded (no change listed on its own), and the moderation notices.
    pub fn page(&self, resume: Option<&Resume>) -> (Vec<ServerEvent<'_>>, bool) {
        match self.resumes_at(resume) {
            Ok(since) if resume.is_some() => {
                let entries = self.kept.iter().filter(|c| c.id > since);
                (entries.map(|c| ServerEvent::Entry(c)).collect(), since >= self.dropped_through)
            }
            other => {
                let complete = other.is_ok() && self.dropped_through == 0;
                // Each message folded, and the moderation notices among them as they are.
                let folded = self.kept.iter().filter_map(|c| match &c.body {
                    Body::Message { .. } => {
                        Some(ServerEvent::Folded(Folded { chat: c, fold: self.folds.get(&c.id) }))
                    }
                    Body::Moderation(_) => Some(ServerEvent::Entry(c)),
                    _ => None,
                });
                (folded.collect(), complete)
            }
        }
    }

    /// The `history` event of `room` for a client resuming from `resume`: its [`page`], and
    /// `read`, the client's session's read marker there, if any.
    ///
    /// [`page`]: History::page
    pub fn room_event<'a>(
        &'a self,
        room: &'a str,
        resume: Option<&Resume>,
        read: Option<u64>,
    ) -> ServerEvent<'a> {
        let (messages, complete) = self.page(resume);
        let (dm, user, epoch) = (None, None, self.epoch());
        ServerEvent::History { room: Some(room), dm, user, epoch, messages, complete, read }
    }

    /// The id a resume goes on after; `Err(complete)` when it cannot be matched with ours (no
    /// resume: complete when nothing was dropped; another epoch or a future id: incomplete).
    fn resumes_at(&self, resume: Option<&Resume>) -> Result<u64, bool> {
        match resume {
            None => Ok(0),
            Some(r) if r.epoch.as_deref().is_some_and(|e| e != self.epoch) => Err(false),
            Some(r) if r.since > self.last_id => Err(false),
            Some(r) => Ok(r.since),
        }
    }

    /// Adds an entry at the end, folding a change into its message.
    fn append(&mut self, chat: Arc<Chat>) {
        match chat.body.target() {
            None if chat.body.is_message() => self.messages += 1,
            // A moderation notice: an entry, counted among the entries only.
            Some(target) if self.message(target).is_some() => {
                self.folds.entry(target).or_default().apply(&chat);
            }
            None | Some(_) => {}
        }
        self.kept.push_back(chat);
    }

    /// Empties the text of message `target` and of its edits: it was deleted. A deletion whose
    /// target is not a message (a change's id) erases nothing, as it folds to nothing.
    fn erase(&mut self, target: u64) {
        let Ok(at) = self.kept.binary_search_by_key(&target, |c| c.id) else { return };
        if !self.kept[at].body.is_message() {
            return;
        }
        for i in at..self.kept.len() {
            let chat = &self.kept[i];
            let of_target =
                i == at || matches!(chat.body, Body::Edit { target: t, .. } if t == target);
            if of_target && !chat.text().is_empty() {
                self.kept[i] = Arc::new(chat.without_text());
            }
        }
    }

    /// Drops the oldest entries beyond the capacity (never a tentative one).
    fn trim(&mut self) {
        let most = self.capacity.saturating_mul(ENTRIES_PER_MESSAGE);
        while self.kept.len() > self.tentative
            && (self.messages > self.capacity || self.kept.len() > most)
        {
            let Some(oldest) = self.kept.pop_front() else { break };
            if oldest.body.is_message() {
                self.messages -= 1;
                self.folds.remove(&oldest.id);
            }
            self.dropped_through = oldest.id;
        }
    }
}

/// Where each room's ids come from: one epoch for every room (no bus: ids count from 1 in each
/// room), or, with Kafka, one per partition of the chat topic (a room's ids are the offsets of
/// its partition, see [`partition`]).
#[derive(Debug, Clone)]
pub struct Epochs {
    starts: Vec<Start>,
    /// Ids are counted here (no bus), not read from a topic.
    counted_here: bool,
}

/// One id sequence: its epoch, and the first id kept in memory (older ones are not replayed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The epoch clients quote to resume.
    pub epoch: String,
    /// The first id the history holds; older ones are gone (1 when nothing was dropped).
    pub first_id: u64,
}

impl Epochs {
    /// One epoch for every room, ids from 1.
    pub fn single(epoch: String) -> Epochs {
        Epochs { starts: vec![Start { epoch, first_id: 1 }], counted_here: true }
    }

    /// True when ids are counted here (no bus), false when they are a topic's offsets.
    pub fn counted_here(&self) -> bool {
        self.counted_here
    }

    /// One sequence per partition, in partition order.
    pub fn partitions(starts: Vec<Start>) -> Epochs {
        assert!(!starts.is_empty(), "a topic has at least one partition");
        Epochs { starts, counted_here: false }
    }

    /// The sequence `room` takes its ids from.
    pub fn of(&self, room: &str) -> &Start {
        &self.starts[partition(room, self.starts.len() as u32) as usize]
    }

    /// An empty history for `room`, keeping `capacity` messages.
    pub fn history(&self, room: &str, capacity: usize) -> History {
        let start = self.of(room);
        History::new(capacity, start.epoch.clone()).starting_at(start.first_id)
    }
}

/// A new epoch: 16 random hex digits.
pub fn new_epoch() -> String {
    format!("{:016x}", crate::chat::session::random_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(capacity: usize, count: u64) -> History {
        let mut h = History::new(capacity, "e1".into());
        for id in 1..=count {
            let room = crate::chat::room::RoomName::parse("r").unwrap();
            let place = crate::chat::protocol::Place::Room(room);
            let user = crate::chat::session::UserId::NOBODY;
            let (name, body, ts) = ("n".into(), Body::text(id.to_string()), "t".into());
            h.push(Arc::new(Chat { place, id, user, name, ts, body }));
        }
        h
    }

    fn ids(replay: (Vec<&Arc<Chat>>, bool)) -> (Vec<u64>, bool) {
        (replay.0.iter().map(|c| c.id).collect(), replay.1)
    }

    fn resume(since: u64, epoch: Option<&str>) -> Resume {
        Resume { since, epoch: epoch.map(String::from) }
    }

    #[test]
    fn a_newcomer_gets_the_last_messages() {
        assert_eq!(ids(history(3, 2).replay(None)), (vec![1, 2], true));
        assert_eq!(ids(history(3, 5).replay(None)), (vec![3, 4, 5], false));
        assert_eq!(history(3, 5).next_id(), 6);
    }

    #[test]
    fn a_resume_gets_what_came_after() {
        let h = history(3, 5);
        assert_eq!(ids(h.replay(Some(&resume(4, Some("e1"))))), (vec![5], true));
        assert_eq!(ids(h.replay(Some(&resume(2, None)))), (vec![3, 4, 5], true));
        assert_eq!(ids(h.replay(Some(&resume(5, None)))), (vec![], true));
        // Message 2 is gone: the client knows it missed something.
        assert_eq!(ids(h.replay(Some(&resume(1, None)))), (vec![3, 4, 5], false));
    }

    #[test]
    fn another_epoch_or_a_future_id_gets_everything_incomplete() {
        let h = history(3, 5);
        assert_eq!(ids(h.replay(Some(&resume(4, Some("old"))))), (vec![3, 4, 5], false));
        assert_eq!(ids(h.replay(Some(&resume(99, None)))), (vec![3, 4, 5], false));
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let h = history(0, 2);
        assert_eq!(ids(h.replay(None)), (vec![], false));
        assert_eq!(ids(h.replay(Some(&resume(2, None)))), (vec![], true));
    }

    #[test]
    fn a_deletion_of_a_changes_id_erases_nothing() {
        let mut h = history(10, 1);
        let room = crate::chat::room::RoomName::parse("r").unwrap();
        let entry = |id, body| {
            let place = crate::chat::protocol::Place::Room(room.clone());
            let (user, name, ts) = (crate::chat::session::UserId::NOBODY, "n".into(), "t".into());
            Arc::new(Chat { place, id, user, name, ts, body })
        };
        h.push(entry(2, Body::Edit { target: 1, text: "fixed".into() }));
        h.push(entry(3, Body::Delete { target: 2 }));
        let texts: Vec<&str> = h.messages().map(|c| c.text()).collect();
        assert_eq!(texts, ["1", "fixed", ""], "the edit keeps its text");
    }

    #[test]
    fn epochs_differ() {
        assert_ne!(new_epoch(), new_epoch());
        assert_eq!(new_epoch().len(), 16);
    }
}
