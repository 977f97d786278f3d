//! Durability: what a round writes down, made durable before any of it goes out.
//!
//! Without Kafka the store keeps a [`Journal`] (with Kafka the topics are the journal, and there
//! is none here). As a round is handled, each message said here is written to the journal and
//! kept in its history tentatively ([`Tentative`]); sessions, renames and forgets are written
//! too. At the end of the round, before delivery, one [`Broadcaster::commit`] makes it all
//! durable. When the store refuses (a full disk, a read-only folder), the round's messages are
//! taken back from their histories and their frames from the round, their senders get
//! `not_delivered`, and `/healthz` reports the problem until a commit succeeds again.
//!
//! At start, [`Broadcaster::restore`] rebuilds the histories, sessions and conversations from
//! what the journal holds; once the journal has grown enough, it is handed what is still wanted
//! to be compacted ([`Broadcaster::compact_if_due`]).

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::Sender;
use log::error;

use super::Broadcaster;
use super::round::Round;
use crate::chat::history::History;
use crate::chat::identity::{Pair, ReadAt};
use crate::chat::inbox::Source;
use crate::chat::journal::{self, Entry, Journal, Thread};
use crate::chat::post::{Posted, Refused};
use crate::chat::protocol::{Chat, Place, ServerEvent};

/// The journal, if there is one, and what the round wrote to it that is not durable yet.
#[derive(Default)]
pub(super) struct Durability {
    /// Where the round is written down before it goes out (the store, without Kafka).
    journal: Option<Box<dyn Journal>>,
    /// The messages of the round not yet durable.
    tentative: Vec<Tentative>,
    /// The last commit failed: `/healthz` says so.
    troubled: bool,
    /// The HTTP API's posts of the round, answered after the commit (`posts.rs`).
    answers: Vec<(Sender<Result<Posted, Refused>>, Posted)>,
}

/// A message written to the journal but not committed yet: if the commit fails, it is taken
/// back from its history, its frame from the round, and its sender is told.
#[derive(Debug)]
struct Tentative {
    chat: Arc<Chat>,
    frame: u32,
    /// The connection that sent it.
    conn: u64,
}

impl Durability {
    /// The connection a message from `from` waits for the journal on: one said here, when there
    /// is a journal. `None`: it goes into its history at once (without a journal, or when the
    /// bus carried it, which is durable there already).
    pub(super) fn journals(&self, from: Source) -> Option<u64> {
        match (&self.journal, from) {
            (Some(_), Source::Here { conn }) => Some(conn),
            _ => None,
        }
    }

    /// Writes `chat`, sent by connection `conn` as `frame` of the round, to the journal and
    /// into `history` tentatively, until the commit. Only for a connection [`Self::journals`]
    /// gave.
    pub(super) fn write_message(
        &mut self,
        history: &mut History,
        chat: Arc<Chat>,
        frame: u32,
        conn: u64,
    ) {
        let journal = self.journal.as_mut().expect("journals() said there is a journal");
        journal::write_message(journal.as_mut(), history, &chat);
        self.tentative.push(Tentative { chat, frame, conn });
    }

    /// Answers a post of the HTTP API with `posted` once the round is durable: after the
    /// commit with a journal, at once without one.
    pub(super) fn answer_when_durable(
        &mut self,
        answer: Sender<Result<Posted, Refused>>,
        posted: Posted,
    ) {
        match &self.journal {
            Some(_) => self.answers.push((answer, posted)),
            None => drop(answer.send(Ok(posted))),
        }
    }

    /// Answers the round's posts: `201`, or the store's refusal (`problem`).
    fn answer_posts(&mut self, problem: Option<&str>) {
        for (answer, posted) in self.answers.drain(..) {
            let answered = match problem {
                None => Ok(posted),
                Some(why) => Err(Refused {
                    status: 503,
                    code: "not_delivered",
                    message: format!(
                        "the server cannot store the message ({why}); send it again later"
                    ),
                }),
            };
            let _ = answer.send(answered);
        }
    }

    /// Adds `entry` to the journal, if there is one.
    pub(super) fn write(&mut self, entry: Entry) {
        if let Some(journal) = &mut self.journal {
            journal.write(entry);
        }
    }
}

impl Broadcaster {
    /// Writes every round to `journal` before it goes out (see `chat/journal.rs`).
    pub fn keep_journal(&mut self, journal: Box<dyn Journal>) {
        self.durability.journal = Some(journal);
    }

    /// Rebuilds the histories, sessions and conversations from what the journal holds, in its
    /// order, before anyone connects. Sessions come back offline, holding their names for
    /// `NAME_RESERVE_SECS` from now.
    pub fn restore(&mut self, entries: Vec<Entry>) {
        let now = Instant::now();
        for entry in entries {
            match entry {
                Entry::Epoch(_) => {}
                Entry::Start { thread, first, last } => {
                    if let Some(history) = self.restored(thread) {
                        history.restart(first, last);
                        history.journaled();
                    }
                }
                Entry::IdsAbove(id) => self.hub.start_ids_above(id),
                Entry::Message(chat) => {
                    // It spoke (or was written to) before the restart: used.
                    self.identities.mark_used(chat.user);
                    if let Place::Direct { to_user, .. } = chat.place {
                        self.identities.mark_used(to_user);
                        self.identities.note_written(chat.user, to_user);
                    }
                    if let Some(history) = self.restored(Thread::of(&chat)) {
                        history.restore(chat);
                    }
                }
                Entry::Read { user, thread, id } => {
                    let at = match thread {
                        Thread::Room(room) => ReadAt::Room(room),
                        Thread::Direct(pair) => {
                            let (a, b) = pair.users();
                            ReadAt::Peer(if a == user { b } else { a })
                        }
                    };
                    self.identities.mark_read_up_to(user, at, id);
                }
                Entry::Session { user, name } => self.identities.restore(user, &name, now),
                Entry::Forget(user) => self.identities.restore_forget(user),
                Entry::Sanction(sanction) => self.restore_sanction(sanction),
            }
        }
    }

    /// Makes what the round wrote durable, before any of it goes out. When the store refuses
    /// (a full disk, a read-only folder), the round's messages are taken back from their
    /// histories and their frames from the round, their senders get `not_delivered`, and
    /// `/healthz` reports the problem until a commit succeeds again.
    pub(super) fn commit(&mut self, round: &mut Round) {
        let Some(journal) = &mut self.durability.journal else { return };
        if !journal.has_pending() {
            self.durability.answer_posts(None);
            return;
        }
        let result = journal.commit();
        self.metrics.history_commit(result.is_ok(), journal.bytes());
        let tentative = std::mem::take(&mut self.durability.tentative);
        let problem = match result {
            Ok(()) => {
                for message in &tentative {
                    if let Some(history) = self.history_mut(&Thread::of(&message.chat)) {
                        history.confirm();
                    }
                }
                None
            }
            Err(e) => {
                error!("history: cannot write: {e}; {} messages refused", tentative.len());
                let text = format!(
                    "the server cannot store your message ({e}), so nobody got it; send it again \
                     later"
                );
                for message in &tentative {
                    if let Some(history) = self.history_mut(&Thread::of(&message.chat)) {
                        history.retract();
                    }
                    round.cancel(message.frame);
                    let Some(slot) = self.hub.slot(message.conn) else { continue };
                    let (room, to) = match &message.chat.place {
                        Place::Room(room) => (Some(room.as_str()), None),
                        Place::Direct { to, .. } => (None, Some(to.as_str())),
                    };
                    let event = ServerEvent::Error {
                        code: "not_delivered",
                        message: &text,
                        room,
                        to,
                        name: None,
                        id: None,
                    };
                    self.tell(round, slot, &event);
                }
                Some(format!("history: {e}"))
            }
        };
        self.durability.answer_posts(problem.as_deref().map(|p| p.trim_start_matches("history: ")));
        // Healthy rounds do not touch the shared problem slot unless they end a problem.
        if problem.is_some() || std::mem::take(&mut self.durability.troubled) {
            self.durability.troubled = problem.is_some();
            self.metrics.set_problem(problem);
        }
    }

    /// Hands the journal what is still wanted, to be compacted, once it has grown enough: the
    /// epoch, the sessions, and each room's and conversation's kept messages (`Arc`s, so this
    /// copies pointers, not messages; the rewrite runs on a thread of its own).
    pub(super) fn compact_if_due(&mut self) {
        let journal = &mut self.durability.journal;
        if !journal.as_mut().is_some_and(|j| !j.has_pending() && j.wants_compaction()) {
            return;
        }
        let mut entries = vec![Entry::Epoch(self.hub.epochs().of("").epoch.clone())];
        if self.hub.ids_above() > 0 {
            entries.push(Entry::IdsAbove(self.hub.ids_above()));
        }
        let sessions = self.identities.sessions();
        entries.extend(sessions.map(|(user, name)| Entry::Session { user, name: name.into() }));
        let markers = self.identities.read_markers().map(|(user, at, id)| {
            let thread = match at {
                ReadAt::Room(room) => Thread::Room(room.clone()),
                ReadAt::Peer(peer) => Thread::Direct(Pair::new(user, *peer)),
            };
            Entry::Read { user, thread, id }
        });
        entries.extend(markers.collect::<Vec<_>>());
        entries.extend(self.sanctions_in_force());
        let rooms = self.hub.histories().map(|(room, h)| (Thread::Room(room.clone()), h));
        let conversations = self.identities.conversations().map(|(p, h)| (Thread::Direct(*p), h));
        for (thread, history) in rooms.chain(conversations) {
            let (first, last) = history.span();
            entries.push(Entry::Start { thread, first, last });
            entries.extend(history.messages().map(|chat| Entry::Message(chat.clone())));
        }
        self.durability.journal.as_mut().expect("checked above").compact(entries);
    }

    /// The history a restored entry goes to, made if need be: a room's, or the conversation of
    /// two sessions that are both known (one forgotten since took its conversations with it).
    fn restored(&mut self, thread: Thread) -> Option<&mut History> {
        let pair = match thread {
            Thread::Room(room) => return Some(&mut self.hub.room_mut(&room).history),
            Thread::Direct(pair) => pair,
        };
        let (a, b) = pair.users();
        if self.identities.name(a).is_none() || self.identities.name(b).is_none() {
            return None;
        }
        let hub = &self.hub;
        Some(self.identities.conversation(pair, || hub.new_history(&pair.key())))
    }

    fn history_mut(&mut self, thread: &Thread) -> Option<&mut History> {
        match thread {
            Thread::Room(room) => self.hub.history_mut(room),
            Thread::Direct(pair) => self.identities.existing_mut(*pair),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::broadcaster::tests::{broadcaster, general};
    use crate::chat::entry::Body;
    use crate::chat::inbox::Inbox;
    use crate::chat::session::UserId;

    #[test]
    fn a_compacted_log_read_after_the_segments_it_replaced_gives_each_history_once() {
        // A crash between a compaction's rename and the removal of the older segments: they are
        // read first, then the compacted one, whose `start` resets each history.
        let room = general();
        let message = |id: u64| {
            let place = Place::Room(room.clone());
            let (name, body, ts) = ("a".to_string(), Body::text(format!("m{id}")), "t".to_string());
            Entry::Message(Arc::new(Chat { place, id, user: UserId::NOBODY, name, ts, body }))
        };
        let start = |first, last| Entry::Start { thread: Thread::Room(room.clone()), first, last };
        let mut entries = vec![start(1, 0)];
        entries.extend((1..=10).map(message));
        entries.push(start(6, 10));
        entries.extend((6..=10).map(message));
        entries.push(message(11));
        let (_inbox, mailbox) = Inbox::new();
        let mut broadcaster = broadcaster(mailbox);
        broadcaster.restore(entries);
        let history = &broadcaster.hub.room(&room).unwrap().history;
        let (kept, complete) = history.replay(None);
        assert_eq!(kept.iter().map(|c| c.id).collect::<Vec<_>>(), (6..=11).collect::<Vec<_>>());
        assert!(!complete, "ids 1 to 5 are gone");
        assert_eq!((history.span(), history.next_id()), ((6, 11), 12));
    }
}
