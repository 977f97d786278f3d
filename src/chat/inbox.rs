//! The hand-off to the broadcaster: the [`Event`]s it reads, and the [`Inbox`] everybody else
//! sends them through.
//!
//! ```text
//! reader threads ──joined / subscribe / chat / amend / read / left─────┐
//! bus consumer (Kafka) ──relay (chat / typing / roster / claim / read)─┼──▶ bounded channel (EVENT_QUEUE) ──▶ broadcaster
//! HTTP API threads ──post / page (each answered on its own)────────────┤
//! signal thread ──shutdown─────────────────────────────────────────────┘
//! any client's Outbound ──write request (its id)──▶ unbounded channel, at most one id per client ──▶ broadcaster
//! ```
//! The event channel is bounded: when the broadcaster falls behind, readers wait in
//! [`Inbox::chat`], stop reading, and TCP slows their senders down (back-pressure). The channel of
//! write requests is separate and never blocks, because the broadcaster itself asks for writes (see
//! `ws/outbound/requests.rs`): sending into its own full channel it would wait forever.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::chat::amend::{Amend, Conversation};
use crate::chat::entry::Body;
use crate::chat::history::Resume;
use crate::chat::hub::Client;
use crate::chat::identity::{Claim, IdentityPromise, Presented, ReadAt};
use crate::chat::moderate::Moderate;
use crate::chat::post::{PageRequest, Post};
use crate::chat::protocol::Chat;
use crate::chat::room::RoomName;
use crate::chat::sanctions::Sanction;
use crate::chat::session::{Session, UserId};
use crate::ws::outbound::WriteRequests;

/// What the broadcaster is told.
#[derive(Debug)]
pub enum Event {
    /// A connection opened. The broadcaster settles who it is (its session and nickname), sends
    /// it `hello`, and answers through [`Arrival::settled`]. It is in no room yet: a
    /// [`Event::Subscribe`] to the default room follows.
    Joined(Box<Arrival>),
    /// A client enters a room (or asks for its history again): it gets the history and the
    /// users, the room a `join`.
    Subscribe {
        /// The connection.
        id: u64,
        /// The room.
        room: RoomName,
        /// Where it left off, if it is resuming.
        resume: Option<Resume>,
    },
    /// A client asks for its private conversation with whoever holds a nickname.
    SubscribeDirect {
        /// The connection.
        id: u64,
        /// The other person's nickname.
        with: String,
        /// Where it left off, if it is resuming.
        resume: Option<Resume>,
    },
    /// A client leaves a room.
    Unsubscribe {
        /// The connection.
        id: u64,
        /// The room.
        room: RoomName,
    },
    /// A chat message: from a reader here (the broadcaster numbers it, or publishes it to
    /// Kafka) or from the Kafka topic
    /// (numbered by its offset).
    Chat {
        /// Where it comes from.
        from: Source,
        /// The room.
        room: RoomName,
        /// Who said what, when.
        said: Said,
    },
    /// A private message from a client here, to whoever holds the nickname `to`.
    Direct {
        /// The sender's connection.
        from: u64,
        /// The recipient's nickname.
        to: String,
        /// The text.
        text: String,
        /// When the reader received it.
        ts: String,
    },
    /// A private message the bus carried, numbered (Kafka only): its id is its offset.
    DirectRecord {
        /// The id the bus gave it.
        id: u64,
        /// The message, with both sessions' public ids.
        chat: Box<Chat>,
    },
    /// A client asks to change a message (or to answer one): the broadcaster checks it
    /// against the history (`amend.rs`).
    Amend(Box<Amend>),
    /// A client's session has read up to `id` in a room or a private conversation.
    Read {
        /// The connection.
        conn: u64,
        /// Where.
        at: Conversation,
        /// The last id read.
        id: u64,
    },
    /// A read marker from the claims topic, in its order (Kafka only): session `user` has read
    /// up to `id` at `at`, on whichever instance.
    ReadRecord {
        /// The session.
        user: UserId,
        /// Where.
        at: ReadAt,
        /// The last id read.
        id: u64,
        /// The connection that moved it, when it is on this instance (it knows already).
        from: Option<u64>,
    },
    /// An operator's connection asks for a kick, a ban, a mute, their end, or the list (the
    /// broadcaster checks that it is one).
    Moderate {
        /// The operator's connection.
        conn: u64,
        /// What it asks.
        request: Moderate,
    },
    /// A ban, a mute, or the end of one, from the claims topic (Kafka), in its order: every
    /// instance applies it alike (its own too: applying one twice changes nothing).
    Sanctioned(Box<Sanction>),
    /// Another instance kicked session `user` (Kafka): its connections here are closed too.
    Kicked {
        /// The session.
        user: UserId,
        /// Why.
        reason: String,
    },
    /// A client asks for another nickname.
    Rename {
        /// The connection.
        id: u64,
        /// The nickname, cleaned.
        name: String,
    },
    /// Someone is typing in a room.
    Typing {
        /// The room.
        room: RoomName,
        /// Their public id.
        user: UserId,
        /// Who.
        name: String,
        /// The connection that typed, when it is on this instance (it does not get its own).
        from: Option<u64>,
    },
    /// A client asks which rooms have members.
    ListRooms {
        /// The connection.
        id: u64,
    },
    /// Another instance announced the nicknames online on it, per room (Kafka only).
    Roster {
        /// The instance.
        instance: String,
        /// Its rooms with members, and their nicknames.
        rooms: Vec<(RoomName, Vec<String>)>,
        /// When it announced them, in milliseconds since 1970.
        at_millis: u64,
        /// The sessions connected to it (none in rosters written before sessions).
        sessions: Vec<UserId>,
    },
    /// A nickname claim from the claims topic, in its order (Kafka only): see `identity.rs`,
    /// "Across instances".
    Claim(Claim),
    /// A session some instance forgot, from the claims topic (Kafka only): its name is free.
    Release {
        /// The session.
        user: UserId,
        /// The name it held, folded.
        name: String,
    },
    /// A bot posts through the HTTP API: numbered, made durable, then answered
    /// (`broadcaster/posts.rs`).
    Post(Box<Post>),
    /// A script asks for a room's history page through the HTTP API.
    Page(Box<PageRequest>),
    /// A client's reader thread ended.
    Left {
        /// The client.
        id: u64,
    },
    /// Close every client with 1001 (going away) and stop.
    Shutdown,
}

/// A new connection, for the broadcaster to settle.
#[derive(Debug)]
pub struct Arrival {
    /// The client (its `user` and `name` are filled in by the broadcaster).
    pub client: Client,
    /// The session it presented, if any.
    pub presented: Presented,
    /// The session it gets if it is a newcomer.
    pub fresh: Session,
    /// The nickname it asked for, cleaned (or a `guest-NNNN` one).
    pub requested: String,
    /// Where the broadcaster answers with the user id it settled on (unanswered when dropped).
    pub settled: IdentityPromise,
    /// A new session was counted against the client's address already (before the upgrade).
    pub spent: bool,
}

/// Where a chat message comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Connection `conn` here said it; the broadcaster numbers it, or with Kafka publishes it
    /// (and tells the connection when it cannot be delivered).
    Here {
        /// The connection.
        conn: u64,
    },
    /// The bus carried it, numbered: `id` is its offset.
    Bus {
        /// Its id.
        id: u64,
    },
}

/// Who said what, when: a chat message (or a change to one) on its way to a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The sender's public id.
    pub user: UserId,
    /// The sender's nickname.
    pub name: String,
    /// What: a message, or a change to one (boxed: most are plain messages, and the event
    /// channel's slots stay small).
    pub body: Box<Body>,
    /// When the reader received it.
    pub ts: String,
}

/// The broadcaster is gone: the server is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The way to the broadcaster; cheap to clone, one per thread that needs it.
#[derive(Debug, Clone)]
pub struct Inbox {
    events: Sender<Event>,
    write_requests: Sender<u64>,
}

/// The broadcaster's end of the [`Inbox`].
#[derive(Debug)]
pub struct Mailbox {
    /// Events, in the one order every client sees.
    pub events: Receiver<Event>,
    /// Ids of clients whose queues wait for their sockets.
    pub write_requests: Receiver<u64>,
}

impl Inbox {
    /// A new inbox and the broadcaster's end of it.
    pub fn new() -> (Inbox, Mailbox) {
        let (events, event_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        let (write_requests, requests_rx) = crossbeam_channel::unbounded();
        (
            Inbox { events, write_requests },
            Mailbox { events: event_rx, write_requests: requests_rx },
        )
    }

    /// A client completed the handshake.
    pub fn joined(&self, arrival: Arrival) -> Result<(), Closed> {
        self.send(Event::Joined(Box::new(arrival)))
    }

    /// Client `id` enters `room`, resuming it from `resume`.
    pub fn subscribe(&self, id: u64, room: RoomName, resume: Option<Resume>) -> Result<(), Closed> {
        self.send(Event::Subscribe { id, room, resume })
    }

    /// Client `id` asks for its conversation with `with`.
    pub fn subscribe_direct(
        &self,
        id: u64,
        with: String,
        resume: Option<Resume>,
    ) -> Result<(), Closed> {
        self.send(Event::SubscribeDirect { id, with, resume })
    }

    /// Client `id` asks for the nickname `name`.
    pub fn rename(&self, id: u64, name: String) -> Result<(), Closed> {
        self.send(Event::Rename { id, name })
    }

    /// A private message from client `from` to `to`. Waits while the channel is full.
    pub fn direct(&self, from: u64, to: String, text: String, ts: String) -> Result<(), Closed> {
        self.send(Event::Direct { from, to, text, ts })
    }

    /// Client `id` leaves `room`.
    pub fn unsubscribe(&self, id: u64, room: RoomName) -> Result<(), Closed> {
        self.send(Event::Unsubscribe { id, room })
    }

    /// A chat message from connection `conn` here, to be numbered by the broadcaster. Waits
    /// while the channel is full (back-pressure).
    pub fn chat(&self, conn: u64, room: RoomName, said: Said) -> Result<(), Closed> {
        self.send(Event::Chat { from: Source::Here { conn }, room, said })
    }

    /// Connection `from` here (`user`, `name`) is typing in `room`.
    pub fn typing(
        &self,
        room: RoomName,
        user: UserId,
        name: String,
        from: u64,
    ) -> Result<(), Closed> {
        self.send(Event::Typing { room, user, name, from: Some(from) })
    }

    /// A change (or a reply) a client asked for, to be checked by the broadcaster.
    pub fn amend(&self, amend: Amend) -> Result<(), Closed> {
        self.send(Event::Amend(Box::new(amend)))
    }

    /// Connection `conn`'s session has read up to `id` at `at`.
    pub fn read(&self, conn: u64, at: Conversation, id: u64) -> Result<(), Closed> {
        self.send(Event::Read { conn, at, id })
    }

    /// Connection `conn` asks for a moderation (the broadcaster checks it is an operator's).
    pub fn moderate(&self, conn: u64, request: Moderate) -> Result<(), Closed> {
        self.send(Event::Moderate { conn, request })
    }

    /// Client `id` asks for the list of rooms.
    pub fn list_rooms(&self, id: u64) -> Result<(), Closed> {
        self.send(Event::ListRooms { id })
    }

    /// A bot's post, from the HTTP API. Waits while the channel is full (back-pressure).
    pub fn post(&self, post: Post) -> Result<(), Closed> {
        self.send(Event::Post(Box::new(post)))
    }

    /// A script's request for a room's history page, from the HTTP API.
    pub fn page(&self, request: PageRequest) -> Result<(), Closed> {
        self.send(Event::Page(Box::new(request)))
    }

    /// A client's reader ended. Nobody is left to tell when the broadcaster is gone.
    pub fn left(&self, id: u64) {
        let _ = self.send(Event::Left { id });
    }

    /// Stop: close everyone with 1001.
    pub fn shutdown(&self) {
        let _ = self.send(Event::Shutdown);
    }

    /// An event the bus carried from the topic (a numbered chat message, a roster), without
    /// waiting: a full channel gives the event back (the Kafka consumer, on an async runtime,
    /// waits its own way and tries again).
    #[allow(clippy::result_large_err, reason = "the error is the event itself, given back")]
    pub fn relay(&self, event: Event) -> Result<(), TrySendError<Event>> {
        self.events.try_send(event)
    }

    /// Where client `id`'s queue asks the broadcaster to write it.
    pub fn write_requests(&self, id: u64) -> WriteRequests {
        WriteRequests { id, queue: self.write_requests.clone() }
    }

    fn send(&self, event: Event) -> Result<(), Closed> {
        self.events.send(event).map_err(|_| Closed)
    }
}

/// Events that may wait for the broadcaster; beyond that, readers wait (back-pressure). The
/// channel's slots are allocated and touched up front (128 bytes each with crossbeam's stamp,
/// 2 MiB in all), so this is
/// resident memory from the start: room for a burst of joins or messages from 16,384 connections.
const EVENT_QUEUE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_fits_the_slot_the_queue_budget_assumes() {
        // EVENT_QUEUE's note counts 120 bytes a slot (a chat message: its id, room, user id and
        // three strings); more would make the channel's up-front allocation grow with it.
        assert!(std::mem::size_of::<Event>() <= 120, "{}", std::mem::size_of::<Event>());
    }
}
