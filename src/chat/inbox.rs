//! The hand-off to the broadcaster: the [`Event`]s it reads, and the [`Inbox`] everybody else
//! sends them through.
//!
//! ```text
//! reader threads ──joined / subscribe / chat / typing / left──┐
//! bus consumer (Kafka) ──relay (chat / typing / roster)────────┼──▶ bounded channel (EVENT_QUEUE) ──▶ broadcaster
//! signal thread ──shutdown─────────────────────────────────────┘
//! any client's Outbound ──retry (its id)──▶ unbounded channel, at most one id per client ──▶ broadcaster
//! ```
//! The event channel is bounded: when the broadcaster falls behind, readers wait in
//! [`Inbox::chat`], stop reading, and TCP slows their senders down (back-pressure). The retry
//! channel is separate and never blocks, because the broadcaster itself asks for retries (see
//! `ws/outbound.rs`, "Retries"): sending into its own full channel it would wait forever.

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::chat::history::Resume;
use crate::chat::hub::Client;
use crate::chat::room::RoomName;
use crate::ws::outbound::RetryTo;

/// What the broadcaster is told.
#[derive(Debug)]
pub enum Event {
    /// A connection opened. It is in no room yet: a [`Event::Subscribe`] to the default room
    /// follows.
    Joined {
        /// The new client.
        client: Client,
    },
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
    /// A client leaves a room.
    Unsubscribe {
        /// The connection.
        id: u64,
        /// The room.
        room: RoomName,
    },
    /// A chat message: from a reader (`id: None`, the broadcaster numbers it) or from the Kafka
    /// topic (`id`: its offset).
    Chat {
        /// The id the bus gave it, if any.
        id: Option<u64>,
        /// The room.
        room: RoomName,
        /// The sender's nickname.
        name: String,
        /// The text.
        text: String,
        /// When the reader received it.
        ts: String,
    },
    /// Someone is typing in a room.
    Typing {
        /// The room.
        room: RoomName,
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
    },
    /// A client's reader thread ended.
    Left {
        /// The client.
        id: u64,
    },
    /// Close every client with 1001 (going away) and stop.
    Shutdown,
}

/// The broadcaster is gone: the server is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The way to the broadcaster; cheap to clone, one per thread that needs it.
#[derive(Debug, Clone)]
pub struct Inbox {
    events: Sender<Event>,
    retries: Sender<u64>,
}

/// The broadcaster's end of the [`Inbox`].
#[derive(Debug)]
pub struct Mailbox {
    /// Events, in the one order every client sees.
    pub events: Receiver<Event>,
    /// Ids of clients whose queues wait for their sockets.
    pub retries: Receiver<u64>,
}

impl Inbox {
    /// A new inbox and the broadcaster's end of it.
    pub fn new() -> (Inbox, Mailbox) {
        let (events, event_rx) = crossbeam_channel::bounded(EVENT_QUEUE);
        let (retries, retry_rx) = crossbeam_channel::unbounded();
        (Inbox { events, retries }, Mailbox { events: event_rx, retries: retry_rx })
    }

    /// A client completed the handshake.
    pub fn joined(&self, client: Client) -> Result<(), Closed> {
        self.send(Event::Joined { client })
    }

    /// Client `id` enters `room`, resuming it from `resume`.
    pub fn subscribe(&self, id: u64, room: RoomName, resume: Option<Resume>) -> Result<(), Closed> {
        self.send(Event::Subscribe { id, room, resume })
    }

    /// Client `id` leaves `room`.
    pub fn unsubscribe(&self, id: u64, room: RoomName) -> Result<(), Closed> {
        self.send(Event::Unsubscribe { id, room })
    }

    /// A chat message from a client here, to be numbered by the broadcaster. Waits while the
    /// channel is full (back-pressure).
    pub fn chat(
        &self,
        room: RoomName,
        name: String,
        text: String,
        ts: String,
    ) -> Result<(), Closed> {
        self.send(Event::Chat { id: None, room, name, text, ts })
    }

    /// Connection `from` here is typing in `room`.
    pub fn typing(&self, room: RoomName, name: String, from: u64) -> Result<(), Closed> {
        self.send(Event::Typing { room, name, from: Some(from) })
    }

    /// Client `id` asks for the list of rooms.
    pub fn list_rooms(&self, id: u64) -> Result<(), Closed> {
        self.send(Event::ListRooms { id })
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
    pub fn relay(&self, event: Event) -> Result<(), TrySendError<Event>> {
        self.events.try_send(event)
    }

    /// Where client `id`'s queue asks for retries.
    pub fn retry_to(&self, id: u64) -> RetryTo {
        RetryTo { id, queue: self.retries.clone() }
    }

    fn send(&self, event: Event) -> Result<(), Closed> {
        self.events.send(event).map_err(|_| Closed)
    }
}

/// Events that may wait for the broadcaster; beyond that, readers wait (back-pressure). The
/// channel's slots are allocated and touched up front (112 bytes each with crossbeam's stamp,
/// 1.75 MiB in all), so this is
/// resident memory from the start: room for a burst of joins or messages from 16,384 connections.
const EVENT_QUEUE: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_fits_the_slot_the_queue_budget_assumes() {
        // EVENT_QUEUE's note counts 104 bytes a slot (a chat message: its id, room and three
        // strings); more would make the channel's up-front allocation grow with it.
        assert!(std::mem::size_of::<Event>() <= 104, "{}", std::mem::size_of::<Event>());
    }
}
