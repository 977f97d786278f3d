//! What the broadcaster writes down so that a restart loses nothing: the [`Journal`], kept by the
//! store (`store/`) when the server runs without Kafka. With Kafka the topics are the journal.
//!
//! The chat sees only this trait and its [`Entry`]s, as it sees the bus only as `Publish` and
//! `Announce`: the store depends on the chat, never the reverse.
//!
//! # The rule
//! Nothing anyone received is ever lost. The broadcaster writes a round's entries and
//! [`Journal::commit`]s them (one `fdatasync`) *before* it hands the round's frames to any
//! socket; a message whose commit fails is taken back and its sender told `not_delivered`.

use std::io;
use std::sync::Arc;

use crate::chat::history::History;
use crate::chat::identity::Pair;
use crate::chat::protocol::{Chat, Place};
use crate::chat::room::RoomName;
use crate::chat::sanctions::Sanction;
use crate::chat::session::UserId;

/// One thing written down, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The epoch every id belongs to: written once, first, into a new store.
    Epoch(String),
    /// A history starts (again): ids before `first` are gone and `last` is the last id given.
    /// Written before a history's first message, and by compaction before the messages it keeps.
    Start {
        /// Whose history.
        thread: Thread,
        /// The first id it can replay.
        first: u64,
        /// The last id it gave (0: none yet).
        last: u64,
    },
    /// A numbered entry, in a room or a private conversation: a message, or an edit, a
    /// deletion or a reaction (`entry.rs`).
    Message(Arc<Chat>),
    /// Session `user` has read up to `id` in `thread` (its read marker there).
    Read {
        /// The session.
        user: UserId,
        /// Where.
        thread: Thread,
        /// The last id read.
        id: u64,
    },
    /// Session `user` holds the nickname `name` (a new session, or a rename).
    Session {
        /// The session's public id (never the session itself).
        user: UserId,
        /// Its nickname.
        name: String,
    },
    /// Rooms made from now on start their ids above this one: the highest id a forgotten room
    /// gave (a room forgotten under `MAX_ROOMS` and made again never gives an id twice).
    /// Written by compaction, which leaves forgotten rooms out.
    IdsAbove(u64),
    /// Session `user` was forgotten (offline past `NAME_RESERVE_SECS`): its name is free and its
    /// private conversations are gone.
    Forget(UserId),
    /// A ban, a mute, or the end of one (`chat/sanctions.rs`).
    Sanction(Sanction),
}

/// A history: a room's or a private conversation's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Thread {
    /// A room.
    Room(RoomName),
    /// The private conversation of two sessions.
    Direct(Pair),
}

impl Thread {
    /// The history `chat` belongs to.
    pub fn of(chat: &Chat) -> Thread {
        match &chat.place {
            Place::Room(room) => Thread::Room(room.clone()),
            Place::Direct { to_user, .. } => Thread::Direct(Pair::new(chat.user, *to_user)),
        }
    }
}

/// Writes `chat` to `journal` and keeps it in `history` tentatively (until the commit); the
/// history's start goes first if the journal does not have it yet.
pub fn write_message(journal: &mut dyn Journal, history: &mut History, chat: &Arc<Chat>) {
    if history.needs_start() {
        let (first, last) = history.span();
        journal.write(Entry::Start { thread: Thread::of(chat), first, last });
    }
    journal.write(Entry::Message(chat.clone()));
    history.push_tentative(chat.clone());
}

/// Where the broadcaster writes its [`Entry`]s.
pub trait Journal: Send {
    /// Adds an entry, to be written by the next [`Journal::commit`].
    fn write(&mut self, entry: Entry);

    /// True when entries wait for a commit.
    fn has_pending(&self) -> bool;

    /// Writes the entries since the last commit and makes them durable (unless the store was
    /// told not to sync). On an error none of the messages among them is written; sessions and
    /// forgets are kept for the next commit.
    fn commit(&mut self) -> io::Result<()>;

    /// Bytes it takes on disk.
    fn bytes(&self) -> u64;

    /// True when the journal has grown enough since it was last compacted, and no compaction is
    /// running.
    fn wants_compaction(&mut self) -> bool;

    /// Replaces everything committed so far with `entries`, what is still wanted as of now, on a
    /// thread of its own: the writer goes on meanwhile.
    fn compact(&mut self, entries: Vec<Entry>);
}
