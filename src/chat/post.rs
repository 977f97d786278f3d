//! A bot's post and a script's read, on their way to the broadcaster and back: what the HTTP
//! API (`api.rs`) hands over through the inbox, and the answer it waits for.
//!
//! A WebSocket client learns the fate of its message from the events it is sent; an HTTP
//! request has one answer, and the API gives it only once the message is in its room's order
//! and durable (`broadcaster/posts.rs`). So each request carries a channel of one slot the
//! broadcaster answers on: after the round's commit (with a journal), at once (without), or
//! never when the server stops (the API then answers 503).

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::chat::history::Resume;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::ws::outbound::Outbound;

/// A message a bot posts.
#[derive(Debug)]
pub struct Post {
    /// The bot's public id.
    pub user: UserId,
    /// The bot's name.
    pub name: String,
    /// Where it goes.
    pub to: PostTo,
    /// The text, trimmed, not empty.
    pub text: String,
    /// When the API received it.
    pub ts: String,
    /// Where the broadcaster answers.
    pub answer: Sender<Result<Posted, Refused>>,
}

/// Where a post goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostTo {
    /// A room, answering message `reply_to` of it, if any.
    Room {
        /// The room.
        room: RoomName,
        /// The message it answers.
        reply_to: Option<u64>,
    },
    /// Privately, to whoever holds this nickname.
    Person(String),
}

/// A post in its order: the API's `201`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// Its id in the room (or the private conversation).
    pub id: u64,
    /// The room, for a room message.
    pub room: Option<RoomName>,
    /// The recipient's nickname, for a private one.
    pub to: Option<String>,
    /// The epoch of the ids (to resume with `since`).
    pub epoch: String,
}

/// A post refused by the broadcaster, with the WebSocket's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The HTTP status: 400 for what the post got wrong, 503 when it cannot be kept.
    pub status: u16,
    /// The code, as the WebSocket's `error` event has it (`not_found`, `no_such_user`, …).
    pub code: &'static str,
    /// For people.
    pub message: String,
}

/// A script asks for a room's history page.
#[derive(Debug)]
pub struct PageRequest {
    /// The room.
    pub room: RoomName,
    /// Where the script left off, if it says.
    pub resume: Option<Resume>,
    /// Where the broadcaster answers with the page, as the `history` event's JSON.
    pub answer: Sender<String>,
}

/// Who hears what became of a message the broadcaster handed to the bus (Kafka): the
/// connection that said it, or the API request that posted it.
pub enum Origin {
    /// A WebSocket client: a failure reaches it as a `not_delivered` error event.
    Connection(Arc<Outbound>),
    /// A bot's post, waiting for its answer: `201` with the offset the broker gave it as its
    /// id, once the broker acknowledged it (`acks=all`: durable, and in its room's order), or
    /// `503 not_delivered`.
    Post(Waiting),
}

/// A post waiting for the broker: where its answer goes, and the answer but for the id.
#[derive(Debug)]
pub struct Waiting {
    /// Where the API waits.
    pub answer: Sender<Result<Posted, Refused>>,
    /// The answer, its `id` to be set.
    pub posted: Posted,
}

impl Waiting {
    /// The broker appended the post at `offset`: its id.
    pub fn placed(self, offset: u64) -> bool {
        let posted = Posted { id: offset, ..self.posted };
        self.answer.send(Ok(posted)).is_ok()
    }

    /// The broker did not take it.
    pub fn failed(self, reason: &str) {
        let message = format!("the broker did not confirm the message ({reason}); send it again");
        let _ = self.answer.send(Err(Refused { status: 503, code: "not_delivered", message }));
    }
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Connection(_) => f.write_str("Origin::Connection"),
            Origin::Post(waiting) => write!(f, "Origin::Post({:?})", waiting.posted),
        }
    }
}
