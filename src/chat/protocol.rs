//! The chat's messages: JSON objects carried one per text frame.
//!
//! This is the application protocol on top of RFC 6455; framing, masking, control frames and
//! compression are the `ws` layer's job. A client sends requests such as `{"type":"message","room":"rust",
//! "text":"hello"}` (or just `hello`: a text frame that does not start with `{` is a message to
//! the default room, so typing into websocat works; one that does is a request, or refused: see
//! `request.rs`). The server sends the [`ServerEvent`]s below. docs/protocol.md is the
//! reference.

use serde::Serialize;

/// The names this protocol answers to in the opening handshake's `Sec-WebSocket-Protocol`
/// (RFC 6455 §1.9), in the server's order of preference: the first one the client offers is
/// named in the `101` (`ws::handshake::choose`). A client that offers none speaks `wschat.v1`
/// unnamed. docs/protocol.md says how a `wschat.v2` would join this list.
pub const SUBPROTOCOLS: &[&str] = &["wschat.v1"];

pub use crate::chat::entry::{Body, Chat, Place};
use crate::chat::fold::Folded;
use crate::chat::sanctions::Listed;
use crate::chat::session::UserId;

/// Everything the server sends, tagged by `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerEvent<'a> {
    /// First frame on a new connection: who it is (its session, public id and nickname), the
    /// limits that apply, and the private messages that came while it was away.
    Hello {
        /// The session to present next time (a bearer secret: only this connection sees it).
        session: &'a str,
        /// The session's public id.
        user: UserId,
        /// The nickname it holds.
        name: &'a str,
        /// The nickname it asked for, when that one is held by another session.
        #[serde(skip_serializing_if = "Option::is_none")]
        requested: Option<&'a str>,
        /// The largest frame payload the client may send.
        max_message_bytes: usize,
        /// Messages per second allowed (a burst of twice that is tolerated).
        rate_limit_per_sec: u32,
        /// The room every connection starts in, and where messages without `room` go.
        default_room: &'a str,
        /// Rooms one connection may be in at once.
        max_rooms_per_connection: usize,
        /// Private messages that came while no connection of the session was open, per sender.
        unread_dms: Vec<Unread<'a>>,
        /// The session is an operator (`OPERATORS`); left out otherwise.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        op: bool,
    },
    /// The messages a newcomer to a room (or a private conversation) missed; the answer to a
    /// subscription.
    History {
        /// The room (for a room's history).
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        /// The other person's nickname (for a private conversation's history).
        #[serde(skip_serializing_if = "Option::is_none")]
        dm: Option<&'a str>,
        /// The other person's public id (for a private conversation's history).
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        /// Identifies the room's id sequence; a `since` from another epoch cannot be resumed.
        epoch: &'a str,
        /// Oldest first.
        messages: Vec<ServerEvent<'a>>,
        /// False when messages after the requested point are no longer kept.
        complete: bool,
        /// How far this session has read there, when it said.
        #[serde(skip_serializing_if = "Option::is_none")]
        read: Option<u64>,
    },
    /// How far this session has read in a room or a private conversation: sent to its other
    /// connections when one of them moves the marker.
    Read {
        /// The room.
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        /// The other person's nickname (a private conversation).
        #[serde(skip_serializing_if = "Option::is_none")]
        dm: Option<&'a str>,
        /// The other person's public id (a private conversation).
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        /// The last id read.
        id: u64,
    },
    /// The nicknames in a room, sorted; sent on subscribing and whenever the list changes.
    Users {
        /// The room.
        room: &'a str,
        /// Distinct nicknames.
        users: Vec<&'a str>,
        /// The operators among them (`OPERATORS`), if any.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        ops: Vec<&'a str>,
    },
    /// Someone entered a room.
    Join {
        /// The room.
        room: &'a str,
        /// Their nickname.
        name: &'a str,
        /// The public id of the session holding that nickname, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        /// `true` for an operator (`OPERATORS`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        op: bool,
        /// When.
        ts: &'a str,
    },
    /// Someone left a room.
    Leave {
        /// The room.
        room: &'a str,
        /// Their nickname.
        name: &'a str,
        /// The public id of the session holding that nickname, when known.
        #[serde(skip_serializing_if = "Option::is_none")]
        user: Option<UserId>,
        /// `true` for an operator (`OPERATORS`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        op: bool,
        /// When.
        ts: &'a str,
    },
    /// The answer to an operator's `bans`: the bans and the mutes in force.
    Bans {
        /// The bans, by name.
        bans: Vec<Listed<'a>>,
        /// The mutes, by room, then name.
        mutes: Vec<Listed<'a>>,
    },
    /// The nicknames that entered and left a room of more than 100 names in the last second
    /// (smaller rooms get `users`, `join` and `leave` at once instead).
    Presence {
        /// The room.
        room: &'a str,
        /// Sorted.
        joined: Vec<&'a str>,
        /// Sorted.
        left: Vec<&'a str>,
        /// When the event was sent.
        ts: &'a str,
    },
    /// Someone is typing in a room; not stored, not numbered.
    Typing {
        /// The room.
        room: &'a str,
        /// Who.
        name: &'a str,
        /// Their public id.
        user: UserId,
        /// `true` for an operator (`OPERATORS`).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        op: bool,
    },
    /// This connection's session has a new nickname (it asked, or lost a claim to another
    /// instance's connection).
    Renamed {
        /// The new nickname.
        name: &'a str,
        /// The name it asked for, when it got another.
        #[serde(skip_serializing_if = "Option::is_none")]
        requested: Option<&'a str>,
    },
    /// Someone in a room changed their nickname.
    Rename {
        /// The room.
        room: &'a str,
        /// The old nickname.
        from: &'a str,
        /// The new one.
        to: &'a str,
        /// Their public id.
        user: UserId,
    },
    /// The rooms with members anywhere in the deployment, most members first.
    Rooms {
        /// At most [`MAX_LISTED_ROOMS`].
        rooms: Vec<RoomCount<'a>>,
    },
    /// Input that was refused; the connection stays open.
    Error {
        /// Machine-readable: see [`InputError::code`](crate::chat::request::InputError::code), and `rate_limited`, `not_delivered`.
        code: &'a str,
        /// For people.
        message: &'a str,
        /// The room the refused request named, if it named one.
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        /// The recipient a refused private message (or `subscribe`) named.
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<&'a str>,
        /// The nickname a refused rename asked for.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        /// The message a refused change or reply named.
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    /// An entry of a conversation's order, as it was sent: a message, an edit, a deletion or a
    /// reaction; its `type` is its kind (`entry.rs`).
    #[serde(untagged)]
    Entry(&'a Chat),
    /// A message as it is now, its changes folded in (`fold.rs`): in a history page.
    #[serde(untagged)]
    Folded(Folded<'a>),
}

/// One line of `hello`'s `unread_dms`.
#[derive(Debug, Serialize)]
pub struct Unread<'a> {
    /// The sender's nickname now.
    pub name: &'a str,
    /// The sender's public id.
    pub user: UserId,
    /// Messages not read.
    pub count: u32,
}

/// One line of the `rooms` answer.
#[derive(Debug, Serialize)]
pub struct RoomCount<'a> {
    /// The room.
    pub room: &'a str,
    /// Distinct nicknames in it.
    pub users: usize,
}

impl<'a> ServerEvent<'a> {
    /// An error event about no room, recipient or name in particular.
    pub fn error(code: &'a str, message: &'a str) -> ServerEvent<'a> {
        ServerEvent::Error { code, message, room: None, to: None, name: None, id: None }
    }

    /// The JSON text of this event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server events contain only strings and numbers")
    }
}

/// The message of error `no_such_user`.
pub const NO_SUCH_USER: &str = "nobody holds that nickname";

/// The most rooms a `rooms` answer lists.
pub const MAX_LISTED_ROOMS: usize = 100;

/// The current time as the protocol writes it: `2026-11-26T05:00:00.123Z`.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::room::RoomName;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn events_serialize_with_their_type_and_room() {
        let alice =
            crate::chat::session::Session::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap().user_id();
        let chat = Chat {
            place: Place::Room(room("general")),
            id: 42,
            user: alice,
            name: "alice".into(),
            ts: "t".into(),
            body: Body::text("hello"),
        };
        assert_eq!(
            ServerEvent::Entry(&chat).to_json(),
            r#"{"type":"message","room":"general","id":42,"user":"LJgLhthO3_LJUFoX","name":"alice","text":"hello","ts":"t"}"#
        );
        let dm = Chat {
            place: Place::Direct { to: "bob".into(), to_user: UserId::NOBODY },
            ..chat.clone()
        };
        assert_eq!(
            ServerEvent::Entry(&dm).to_json(),
            r#"{"type":"message","dm":true,"id":42,"user":"LJgLhthO3_LJUFoX","name":"alice","to":"bob","to_user":"AAAAAAAAAAAAAAAA","text":"hello","ts":"t"}"#
        );
        let history = ServerEvent::History {
            room: None,
            dm: Some("bob"),
            user: Some(UserId::NOBODY),
            epoch: "e",
            messages: vec![],
            complete: true,
            read: None,
        };
        assert_eq!(
            history.to_json(),
            r#"{"type":"history","dm":"bob","user":"AAAAAAAAAAAAAAAA","epoch":"e","messages":[],"complete":true}"#
        );
        let history = ServerEvent::History {
            room: Some("general"),
            dm: None,
            user: None,
            epoch: "e",
            messages: vec![ServerEvent::Entry(&chat)],
            complete: true,
            read: Some(42),
        };
        assert!(history.to_json().starts_with(
            r#"{"type":"history","room":"general","epoch":"e","messages":[{"type":"message","room":"general","id":42"#
        ));
        assert_eq!(
            ServerEvent::Users { room: "r", users: vec!["a", "b"], ops: vec![] }.to_json(),
            r#"{"type":"users","room":"r","users":["a","b"]}"#
        );
        let error = ServerEvent::error("c", "m");
        assert_eq!(error.to_json(), r#"{"type":"error","code":"c","message":"m"}"#);
        let taken = ServerEvent::Error {
            code: "name_taken",
            message: "m",
            room: None,
            to: None,
            name: Some("bob"),
            id: None,
        };
        assert_eq!(
            taken.to_json(),
            r#"{"type":"error","code":"name_taken","message":"m","name":"bob"}"#
        );
        let rooms = ServerEvent::Rooms { rooms: vec![RoomCount { room: "general", users: 3 }] };
        assert_eq!(rooms.to_json(), r#"{"type":"rooms","rooms":[{"room":"general","users":3}]}"#);
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let ts = timestamp();
        assert_eq!(ts.len(), "2026-11-26T05:00:00.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
