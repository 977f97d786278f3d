//! The chat's messages: JSON objects carried one per text frame.
//!
//! This is the application protocol on top of RFC 6455; framing, masking and control frames are
//! tungstenite's job. A client sends [`Request`]s such as `{"type":"message","room":"rust",
//! "text":"hello"}` (or just `hello`: a text frame that does not start with `{` is a message to
//! the default room, so typing into websocat works; one that does is a request, or refused, see
//! [`parse_request`]). The server sends the [`ServerEvent`]s below. The README's "Protocol"
//! section is the reference.

use serde::Serialize;
use serde_json::{Map, Value};

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
    /// A request that is not one: not JSON, an unknown `type`, a field it does not take, or a
    /// field that is missing, of the wrong type or out of range. What was wrong, for people
    /// (never the frame's text: it only names fields).
    BadRequest(String),
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
            InputError::BadRequest(_) => "bad_request",
            InputError::BadRoom(_) => "bad_room",
            InputError::NoSuchUser(_) => "no_such_user",
            InputError::PingTooLong => "too_long",
        }
    }

    /// The `message` of the error event.
    pub fn message(&self) -> &str {
        match self {
            InputError::Empty => "empty messages are not sent",
            InputError::BadRequest(why) => why,
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
///
/// A frame whose first character after spaces, tabs and line breaks is `{` is a request, and
/// only a request: when it is not JSON, names an unknown `type` or a field its type does not
/// take, or has a field that is missing, of the wrong type or out of range, it is refused with
/// `bad_request` and nothing is said anywhere. A typo in a private message (a trailing comma,
/// `"too"` for `"to"`) must never post its text to a room. Any other frame is the text of a
/// message to the default room, as a person typing into websocat means it.
pub fn parse_request(frame: &str) -> Result<Request, InputError> {
    if !frame.trim_start_matches(JSON_SPACE).starts_with('{') {
        return Ok(Request::Message { room: None, text: message_text(frame)? });
    }
    let object = match serde_json::from_str::<Value>(frame) {
        Ok(Value::Object(object)) => object,
        // After a `{` only an object can parse; the rest is serde's account of the syntax error
        // ("trailing comma at line 1 column 70", "number out of range …"): it names no text.
        Ok(_) => return Err(bad("a request is a JSON object")),
        Err(e) => return Err(bad(format!("not a request, so not sent: {e}"))),
    };
    // `type` may be left out (a message); if present it must be a string.
    let kind = match object.get("type") {
        None => "message",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(bad(UNKNOWN_TYPE)),
    };
    let fields = match kind {
        "message" => &["type", "room", "to", "text"][..],
        "subscribe" => &["type", "room", "dm", "since", "epoch"],
        "unsubscribe" | "typing" => &["type", "room"],
        "rooms" => &["type"],
        "rename" => &["type", "name"],
        "inspect" => &["type", "on"],
        "ping_me" => &["type", "payload"],
        _ => return Err(bad(UNKNOWN_TYPE)),
    };
    if let Some(field) = object.keys().find(|key| !fields.contains(&key.as_str())) {
        let field: String = field.chars().take(32).collect();
        return Err(bad(format!("{kind} takes no field {field:?}; it takes {fields:?}")));
    }
    let fields = Fields(&object);
    match kind {
        "message" => {
            let Some(Value::String(text)) = object.get("text") else {
                return Err(bad("a message needs text, a string"));
            };
            match (fields.person("to")?, object.contains_key("room")) {
                (Some(_), true) => {
                    Err(bad("a message goes to a room or to a person (to), not both"))
                }
                (Some(to), false) => Ok(Request::Direct { to, text: message_text(text)? }),
                (None, _) => {
                    Ok(Request::Message { room: fields.room()?, text: message_text(text)? })
                }
            }
        }
        "subscribe" => {
            let resume = fields.resume()?;
            match (fields.person("dm")?, object.contains_key("room")) {
                (Some(_), true) => Err(bad("subscribe to a room or to a person (dm), not both")),
                (Some(with), false) => Ok(Request::SubscribeDirect { with, resume }),
                (None, _) => Ok(Request::Subscribe { room: fields.required_room(kind)?, resume }),
            }
        }
        "rename" => match object.get("name") {
            Some(Value::String(raw)) => nickname::clean(raw)
                .map(|name| Request::Rename { name })
                .ok_or_else(|| bad("name has no nickname in it (1 to 32 printable characters)")),
            _ => Err(bad("rename needs name, a string")),
        },
        "unsubscribe" => Ok(Request::Unsubscribe { room: fields.required_room(kind)? }),
        "typing" => Ok(Request::Typing { room: fields.required_room(kind)? }),
        "rooms" => Ok(Request::Rooms),
        "inspect" => match object.get("on") {
            Some(Value::Bool(on)) => Ok(Request::Inspect { on: *on }),
            _ => Err(bad("inspect needs on: true or false")),
        },
        "ping_me" => match object.get("payload") {
            None => Ok(Request::PingMe { payload: String::new() }),
            Some(Value::String(payload)) if payload.len() <= 125 => {
                Ok(Request::PingMe { payload: payload.clone() })
            }
            Some(Value::String(_)) => Err(InputError::PingTooLong),
            Some(_) => Err(bad("payload must be a string")),
        },
        _ => Err(bad(UNKNOWN_TYPE)),
    }
}

/// A request's fields, read and checked one kind at a time.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    /// `room`, if there: a room name, else `bad_room` with what was sent.
    fn room(&self) -> Result<Option<RoomName>, InputError> {
        let shortened = |raw: &str| raw.chars().take(64).collect::<String>();
        match self.0.get("room") {
            None => Ok(None),
            Some(Value::String(raw)) => {
                RoomName::parse(raw).map(Some).ok_or_else(|| InputError::BadRoom(shortened(raw)))
            }
            Some(other) => Err(InputError::BadRoom(shortened(&other.to_string()))),
        }
    }

    /// `room`, which this `kind` of request needs.
    fn required_room(&self, kind: &str) -> Result<RoomName, InputError> {
        self.room()?.ok_or_else(|| bad(format!("{kind} needs room")))
    }

    /// A recipient's nickname, as `to` or `dm`, if there: cleaned like any nickname.
    fn person(&self, field: &str) -> Result<Option<String>, InputError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(Value::String(raw)) => nickname::clean(raw)
                .map(Some)
                .ok_or_else(|| InputError::NoSuchUser(raw.chars().take(64).collect())),
            Some(_) => Err(bad(format!("{field} must be a nickname, a string"))),
        }
    }

    /// `since` and `epoch`: where a subscription resumes. `epoch` is checked even without
    /// `since`, which it only qualifies.
    fn resume(&self) -> Result<Option<Resume>, InputError> {
        let epoch = match self.0.get("epoch") {
            None | Some(Value::Null) => None,
            Some(Value::String(e)) => Some(e).filter(|e| !e.is_empty()).cloned(),
            Some(_) => return Err(bad("epoch must be a string")),
        };
        match self.0.get("since") {
            None | Some(Value::Null) => Ok(None),
            Some(since) => match since.as_u64() {
                Some(since) => Ok(Some(Resume { since, epoch })),
                None => Err(bad("since must be a whole number from 0 to 18446744073709551615")),
            },
        }
    }
}

/// A `bad_request` saying what was wrong.
fn bad(why: impl Into<String>) -> InputError {
    InputError::BadRequest(why.into())
}

/// JSON's white space (RFC 8259 §2): what may come before a request's `{`.
const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The `bad_request` message for a `type` that is none of the requests.
const UNKNOWN_TYPE: &str = r#"expected {"type":"message","text":"…"} (or subscribe, unsubscribe, typing, rooms, rename, inspect, ping_me) or plain text"#;

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

    /// The error code a frame is refused with.
    fn code(frame: &str) -> &'static str {
        parse_request(frame).expect_err(frame).code()
    }

    #[test]
    fn messages_plain_or_json() {
        assert_eq!(parse_request(r#"{"type":"message","text":" hi "}"#), message(None, "hi"));
        assert_eq!(parse_request(r#"{"text":"hi","room":"Rust"}"#), message(Some("rust"), "hi"));
        assert_eq!(parse_request("plain words"), message(None, "plain words"));
        assert_eq!(parse_request("42"), message(None, "42"));
        assert_eq!(parse_request(r#""quoted""#), message(None, r#""quoted""#));
        assert_eq!(parse_request("[1]"), message(None, "[1]"));
        assert_eq!(parse_request(" \n{\"text\":\"json\"}"), message(None, "json"));
        assert_eq!(parse_request("  \n\t"), Err(InputError::Empty));
        assert_eq!(parse_request(r#"{"type":"message","text":"  "}"#), Err(InputError::Empty));
        assert_eq!(code(r#"{"type":"message","text":5}"#), "bad_request");
        assert_eq!(code(r#"{"type":"nick","text":"x"}"#), "bad_request");
        assert_eq!(code("{}"), "bad_request");
        assert_eq!(code(r#"{"type":null,"text":"x"}"#), "bad_request");
        assert_eq!(
            parse_request(r#"{"text":"x","room":"no way"}"#),
            Err(InputError::BadRoom("no way".into()))
        );
        assert_eq!(parse_request(r#"{"text":"x","room":7}"#), Err(InputError::BadRoom("7".into())));
    }

    #[test]
    fn a_frame_starting_with_a_brace_is_a_request_or_refused() {
        let secret = "my password is hunter2";
        for frame in [
            r#"{"type":"message","to":"someone","text":"my password is hunter2",}"#,
            r#"{"type":"message","text":"my password is hunter2""#,
            r#"{"type":"message","too":"someone","text":"my password is hunter2"}"#,
            r#"{"type":"message","text":"my password is hunter2","room":"general","x":1}"#,
            r#"{"type":"subscribe","room":"general","since":1e400}"#,
            r#"{"type":"subscribe","room":"general","since":1e3}"#,
            r#"{"type":"subscribe","room":"general","since":18446744073709551616}"#,
            r#"{"type":"subscribe","room":"general","since":"4"}"#,
            r#"{"type":"subscribe","room":"general","epoch":7}"#,
            r#"{"type":"rooms","text":"my password is hunter2"}"#,
            r#"{"type":"inspect","on":"yes"}"#,
            r#"{"type":"ping_me","payload":7}"#,
            r#"{"type":"message","to":7,"text":"my password is hunter2"}"#,
            r#"{"type":"subscribe","dm":["bob"]}"#,
            r#"{'type':'message','text':'my password is hunter2'}"#,
            "{my password is hunter2",
            "{",
            "  {}",
            "{}",
        ] {
            let refused = parse_request(frame).expect_err(frame);
            assert_eq!(refused.code(), "bad_request", "{frame}");
            assert!(!refused.message().contains(secret), "{frame}: {}", refused.message());
            assert!(refused.message().len() > 10, "{frame}: says what was wrong");
        }
        let trailing = parse_request(r#"{"text":"x",}"#).unwrap_err();
        assert!(trailing.message().contains("trailing comma"), "{}", trailing.message());
        let typo = parse_request(r#"{"type":"message","too":"bob","text":"x"}"#).unwrap_err();
        assert!(typo.message().contains(r#""too""#), "{}", typo.message());
        // What does not start with `{` is text, whatever it looks like.
        assert_eq!(parse_request("hi {"), message(None, "hi {"));
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
        assert_eq!(code(r#"{"type":"subscribe","room":"rust","since":-1}"#), "bad_request");
        assert_eq!(code(r#"{"type":"subscribe"}"#), "bad_request");
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
