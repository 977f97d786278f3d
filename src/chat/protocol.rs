//! The chat's messages: JSON objects carried one per text frame.
//!
//! This is the application protocol on top of RFC 6455; framing, masking and control frames are
//! tungstenite's job. A client sends [`Request`]s such as `{"type":"message","room":"rust",
//! "text":"hello"}` (or just `hello`: a text frame that is not a JSON object is a message to the
//! default room, so typing into websocat works). The server sends the [`ServerEvent`]s below. The
//! README's "Protocol" section is the reference.

use serde::Serialize;

use crate::chat::history::Resume;
use crate::chat::nickname;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

/// A chat message as the server stores and sends it: said in a room, or privately to one person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chat {
    /// Where it was said.
    pub place: Place,
    /// Position in the conversation's one order; strictly increasing within the room (or the
    /// private conversation) and its epoch.
    pub id: u64,
    /// The sender's public id.
    pub user: UserId,
    /// The sender's nickname.
    pub name: String,
    /// The text, as sent (trimmed).
    pub text: String,
    /// When the server received it, RFC 3339 UTC with milliseconds.
    pub ts: String,
}

/// Where a message was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In a room.
    Room(RoomName),
    /// Privately, to one person (a conversation of two sessions; to oneself, a note).
    Direct {
        /// The recipient's nickname when it was sent.
        to: String,
        /// The recipient's public id.
        to_user: UserId,
    },
}

impl Chat {
    /// The room it was said in; `None` for a private message.
    pub fn room(&self) -> Option<&RoomName> {
        match &self.place {
            Place::Room(room) => Some(room),
            Place::Direct { .. } => None,
        }
    }
}

/// `{"room":"general","id":42,"user":…,"name":…,"text":…,"ts":…}`, or for a private message
/// `{"dm":true,"id":3,"user":…,"name":"alice","to":"bob","to_user":…,"text":…,"ts":…}`.
impl Serialize for Chat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Chat", 8)?;
        match &self.place {
            Place::Room(room) => out.serialize_field("room", room)?,
            Place::Direct { .. } => out.serialize_field("dm", &true)?,
        }
        out.serialize_field("id", &self.id)?;
        out.serialize_field("user", &self.user)?;
        out.serialize_field("name", &self.name)?;
        if let Place::Direct { to, to_user } = &self.place {
            out.serialize_field("to", to)?;
            out.serialize_field("to_user", to_user)?;
        }
        out.serialize_field("text", &self.text)?;
        out.serialize_field("ts", &self.ts)?;
        out.end()
    }
}

impl Serialize for RoomName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

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
    },
    /// The nicknames in a room, sorted; sent on subscribing and whenever the list changes.
    Users {
        /// The room.
        room: &'a str,
        /// Distinct nicknames.
        users: Vec<&'a str>,
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
        /// When.
        ts: &'a str,
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
    /// A chat message.
    Message(&'a Chat),
    /// Someone is typing in a room; not stored, not numbered.
    Typing {
        /// The room.
        room: &'a str,
        /// Who.
        name: &'a str,
        /// Their public id.
        user: UserId,
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
        /// Machine-readable: see [`InputError::code`], and `rate_limited`, `not_delivered`.
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
    },
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
        ServerEvent::Error { code, message, room: None, to: None, name: None }
    }

    /// The JSON text of this event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server events contain only strings and numbers")
    }
}

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Say `text` in `room` (`None`: the default room).
    Message {
        /// The room named, if any.
        room: Option<RoomName>,
        /// The text, trimmed, not empty.
        text: String,
    },
    /// Say `text` privately to whoever holds the nickname `to`.
    Direct {
        /// The recipient's nickname, cleaned.
        to: String,
        /// The text, trimmed, not empty.
        text: String,
    },
    /// Enter a room (again: get its history again), optionally resuming it.
    Subscribe {
        /// The room.
        room: RoomName,
        /// Where the client left off in it.
        resume: Option<Resume>,
    },
    /// Get the private conversation with whoever holds the nickname `with` (and mark it read).
    SubscribeDirect {
        /// The other person's nickname, cleaned.
        with: String,
        /// Where the client left off in it.
        resume: Option<Resume>,
    },
    /// Take another nickname.
    Rename {
        /// The nickname asked for, cleaned.
        name: String,
    },
    /// Leave a room.
    Unsubscribe {
        /// The room.
        room: RoomName,
    },
    /// Tell the room's other members that this client is typing.
    Typing {
        /// The room.
        room: RoomName,
    },
    /// List the rooms with members.
    Rooms,
    /// Switch the wire inspector on or off for this connection (`chat/inspect.rs`).
    Inspect {
        /// On, or off.
        on: bool,
    },
    /// Send this connection a ping frame carrying `payload` (its browser answers with a pong).
    PingMe {
        /// At most 125 bytes (RFC 6455 §5.5).
        payload: String,
    },
}

/// Why a client's text frame was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The text is empty or only white space.
    Empty,
    /// A JSON object that is none of the requests.
    BadRequest,
    /// A room name that is not one (what was sent, shortened to 64 characters).
    BadRoom(String),
    /// A recipient that cannot be anybody's nickname (what was sent, shortened to 64
    /// characters).
    NoSuchUser(String),
    /// A ping payload longer than a control frame may carry.
    PingTooLong,
}

impl InputError {
    /// The `code` of the error event.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::Empty => "empty",
            InputError::BadRequest => "bad_request",
            InputError::BadRoom(_) => "bad_room",
            InputError::NoSuchUser(_) => "no_such_user",
            InputError::PingTooLong => "too_long",
        }
    }

    /// The `message` of the error event.
    pub fn message(&self) -> &'static str {
        match self {
            InputError::Empty => "empty messages are not sent",
            InputError::BadRequest => {
                r#"expected {"type":"message","text":"…"} (or subscribe, unsubscribe, typing, rooms, rename, inspect, ping_me) or plain text"#
            }
            InputError::BadRoom(_) => {
                "a room name is 1 to 32 of a-z 0-9 - _, starting with a letter or a digit"
            }
            InputError::NoSuchUser(_) => NO_SUCH_USER,
            InputError::PingTooLong => {
                "a ping carries at most 125 bytes: it is a control frame (RFC 6455 §5.5)"
            }
        }
    }

    /// The room the error is about, if any.
    pub fn room(&self) -> Option<&str> {
        match self {
            InputError::BadRoom(room) => Some(room),
            _ => None,
        }
    }

    /// The recipient the error is about, if any.
    pub fn to(&self) -> Option<&str> {
        match self {
            InputError::NoSuchUser(to) => Some(to),
            _ => None,
        }
    }

    /// The error event.
    pub fn event(&self) -> ServerEvent<'_> {
        ServerEvent::Error {
            code: self.code(),
            message: self.message(),
            room: self.room(),
            to: self.to(),
            name: None,
        }
    }
}

/// The message of error `no_such_user`.
pub const NO_SUCH_USER: &str = "nobody holds that nickname";

/// Reads a client's text frame.
pub fn parse_request(frame: &str) -> Result<Request, InputError> {
    use serde_json::Value;
    let object = match serde_json::from_str::<Value>(frame) {
        Ok(Value::Object(object)) => object,
        // Not a JSON object: the frame is the text, as a person typing into websocat means it.
        _ => return Ok(Request::Message { room: None, text: message_text(frame)? }),
    };
    let room = |required: bool| -> Result<Option<RoomName>, InputError> {
        match object.get("room") {
            None if !required => Ok(None),
            None => Err(InputError::BadRequest),
            Some(Value::String(raw)) => RoomName::parse(raw)
                .map(Some)
                .ok_or_else(|| InputError::BadRoom(raw.chars().take(64).collect())),
            Some(other) => Err(InputError::BadRoom(other.to_string().chars().take(64).collect())),
        }
    };
    // A recipient's nickname, as `to` or `dm`: cleaned like any nickname.
    let person = |field: &str| -> Result<Option<String>, InputError> {
        match object.get(field) {
            None => Ok(None),
            Some(Value::String(raw)) => nickname::clean(raw)
                .map(Some)
                .ok_or_else(|| InputError::NoSuchUser(raw.chars().take(64).collect())),
            Some(_) => Err(InputError::BadRequest),
        }
    };
    // `type` may be left out (a message); if present it must be a string.
    let kind = object.get("type").map_or(Some("message"), Value::as_str);
    match kind {
        Some("message") => {
            let Some(Value::String(text)) = object.get("text") else {
                return Err(InputError::BadRequest);
            };
            match (person("to")?, object.contains_key("room")) {
                (Some(_), true) => Err(InputError::BadRequest),
                (Some(to), false) => Ok(Request::Direct { to, text: message_text(text)? }),
                (None, _) => Ok(Request::Message { room: room(false)?, text: message_text(text)? }),
            }
        }
        Some("subscribe") => {
            let resume = match (object.get("since"), object.get("epoch")) {
                (None | Some(Value::Null), _) => None,
                (Some(since), epoch) => Some(Resume {
                    since: since.as_u64().ok_or(InputError::BadRequest)?,
                    epoch: match epoch {
                        None | Some(Value::Null) => None,
                        Some(Value::String(e)) if !e.is_empty() => Some(e.clone()),
                        Some(Value::String(_)) => None,
                        Some(_) => return Err(InputError::BadRequest),
                    },
                }),
            };
            match (person("dm")?, object.contains_key("room")) {
                (Some(_), true) => Err(InputError::BadRequest),
                (Some(with), false) => Ok(Request::SubscribeDirect { with, resume }),
                (None, _) => {
                    let room = room(true)?.ok_or(InputError::BadRequest)?;
                    Ok(Request::Subscribe { room, resume })
                }
            }
        }
        Some("rename") => match object.get("name") {
            Some(Value::String(raw)) => nickname::clean(raw)
                .map(|name| Request::Rename { name })
                .ok_or(InputError::BadRequest),
            _ => Err(InputError::BadRequest),
        },
        Some("unsubscribe") => {
            Ok(Request::Unsubscribe { room: room(true)?.ok_or(InputError::BadRequest)? })
        }
        Some("typing") => Ok(Request::Typing { room: room(true)?.ok_or(InputError::BadRequest)? }),
        Some("rooms") => Ok(Request::Rooms),
        Some("inspect") => match object.get("on") {
            Some(Value::Bool(on)) => Ok(Request::Inspect { on: *on }),
            _ => Err(InputError::BadRequest),
        },
        Some("ping_me") => match object.get("payload") {
            None => Ok(Request::PingMe { payload: String::new() }),
            Some(Value::String(payload)) if payload.len() <= 125 => {
                Ok(Request::PingMe { payload: payload.clone() })
            }
            Some(Value::String(_)) => Err(InputError::PingTooLong),
            Some(_) => Err(InputError::BadRequest),
        },
        _ => Err(InputError::BadRequest),
    }
}

fn message_text(text: &str) -> Result<String, InputError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(trimmed.to_string())
}

/// The most rooms a `rooms` answer lists.
pub const MAX_LISTED_ROOMS: usize = 100;

/// The current time as the protocol writes it: `2026-11-26T05:00:00.123Z`.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(room: Option<&str>, text: &str) -> Result<Request, InputError> {
        Ok(Request::Message { room: room.map(|r| RoomName::parse(r).unwrap()), text: text.into() })
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn messages_plain_or_json() {
        assert_eq!(parse_request(r#"{"type":"message","text":" hi "}"#), message(None, "hi"));
        assert_eq!(parse_request(r#"{"text":"hi","room":"Rust"}"#), message(Some("rust"), "hi"));
        assert_eq!(parse_request("plain words"), message(None, "plain words"));
        assert_eq!(parse_request("42"), message(None, "42"));
        assert_eq!(parse_request(r#""quoted""#), message(None, r#""quoted""#));
        assert_eq!(parse_request("  \n\t"), Err(InputError::Empty));
        assert_eq!(parse_request(r#"{"type":"message","text":"  "}"#), Err(InputError::Empty));
        assert_eq!(parse_request(r#"{"type":"message","text":5}"#), Err(InputError::BadRequest));
        assert_eq!(parse_request(r#"{"type":"nick","text":"x"}"#), Err(InputError::BadRequest));
        assert_eq!(parse_request("{}"), Err(InputError::BadRequest));
        assert_eq!(parse_request(r#"{"type":null,"text":"x"}"#), Err(InputError::BadRequest));
        assert_eq!(
            parse_request(r#"{"text":"x","room":"no way"}"#),
            Err(InputError::BadRoom("no way".into()))
        );
        assert_eq!(parse_request(r#"{"text":"x","room":7}"#), Err(InputError::BadRoom("7".into())));
    }

    #[test]
    fn room_requests() {
        assert_eq!(
            parse_request(r#"{"type":"subscribe","room":"rust"}"#),
            Ok(Request::Subscribe { room: room("rust"), resume: None })
        );
        assert_eq!(
            parse_request(r#"{"type":"subscribe","room":"rust","since":41,"epoch":"e"}"#),
            Ok(Request::Subscribe {
                room: room("rust"),
                resume: Some(Resume { since: 41, epoch: Some("e".into()) })
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"subscribe","room":"rust","since":-1}"#),
            Err(InputError::BadRequest)
        );
        assert_eq!(parse_request(r#"{"type":"subscribe"}"#), Err(InputError::BadRequest));
        assert_eq!(
            parse_request(r#"{"type":"unsubscribe","room":"general"}"#),
            Ok(Request::Unsubscribe { room: room("general") })
        );
        assert_eq!(
            parse_request(r#"{"type":"typing","room":"a"}"#),
            Ok(Request::Typing { room: room("a") })
        );
        assert_eq!(parse_request(r#"{"type":"rooms"}"#), Ok(Request::Rooms));
        let long = format!(r#"{{"type":"subscribe","room":"{}"}}"#, "x".repeat(100));
        let Err(InputError::BadRoom(echoed)) = parse_request(&long) else { panic!() };
        assert_eq!(echoed.len(), 64);
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
            text: "hello".into(),
            ts: "t".into(),
        };
        assert_eq!(
            ServerEvent::Message(&chat).to_json(),
            r#"{"type":"message","room":"general","id":42,"user":"LJgLhthO3_LJUFoX","name":"alice","text":"hello","ts":"t"}"#
        );
        let dm = Chat {
            place: Place::Direct { to: "bob".into(), to_user: UserId::NOBODY },
            ..chat.clone()
        };
        assert_eq!(
            ServerEvent::Message(&dm).to_json(),
            r#"{"type":"message","dm":true,"id":42,"user":"LJgLhthO3_LJUFoX","name":"alice","to":"bob","to_user":"AAAAAAAAAAAAAAAA","text":"hello","ts":"t"}"#
        );
        let history = ServerEvent::History {
            room: None,
            dm: Some("bob"),
            user: Some(UserId::NOBODY),
            epoch: "e",
            messages: vec![],
            complete: true,
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
            messages: vec![ServerEvent::Message(&chat)],
            complete: true,
        };
        assert!(history.to_json().starts_with(
            r#"{"type":"history","room":"general","epoch":"e","messages":[{"type":"message","room":"general","id":42"#
        ));
        assert_eq!(
            ServerEvent::Users { room: "r", users: vec!["a", "b"] }.to_json(),
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
