//! A bot's post and a script's read, on their way to the broadcaster and back: what the HTTP
//! API (`api.rs`) hands over through the inbox, and the answer it waits for.
//!
//! A WebSocket client learns the fate of its message from the events it is sent; an HTTP
//! request has one answer, and the API gives it only once the message is in its room's order
//! and durable (`broadcaster/posts.rs`). So each request carries a channel of one slot the
//! broadcaster answers on: after the round's commit (with a journal), at once (without), or
//! never when the server stops (the API then answers 503).

use crossbeam_channel::Sender;

use crate::chat::history::Resume;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

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
