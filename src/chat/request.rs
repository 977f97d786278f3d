//! What a client asks for: the [`Request`]s of the chat's protocol, read from one text frame
//! each ([`parse_request`]), and the [`InputError`]s that refuse the rest. The server's answers
//! are in `protocol.rs`; docs/protocol.md is the reference.

use serde_json::{Map, Value};

use crate::chat::amend::Conversation;
use crate::chat::emoji;
use crate::chat::entry::Body;
use crate::chat::history::Resume;
use crate::chat::moderate::{self, Moderate, Refusal};
use crate::chat::nickname;
use crate::chat::protocol::{NO_SUCH_USER, ServerEvent};
use crate::chat::room::RoomName;

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
    /// Change a message, or say one that answers another: an edit, a deletion, a reaction, or
    /// a message with `reply_to` (the broadcaster checks it, `amend.rs`).
    Amend {
        /// The room or the private conversation.
        to: Conversation,
        /// What.
        body: Body,
    },
    /// This session has read up to `id` in a room or a private conversation.
    Read {
        /// The room, or the private conversation (`dm`).
        at: Conversation,
        /// The last id read.
        id: u64,
    },
    /// An operator's request: kick, ban, unban, bans, mute, unmute (`moderate.rs`).
    Moderate(Moderate),
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
            id: None,
        }
    }
}

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
        "message" => &["type", "room", "to", "text", "reply_to"][..],
        "edit" => &["type", "room", "to", "id", "text"],
        "delete" => &["type", "room", "to", "id"],
        "react" => &["type", "room", "to", "id", "emoji", "on"],
        "read" => &["type", "room", "dm", "id"],
        "subscribe" => &["type", "room", "dm", "since", "epoch"],
        "unsubscribe" | "typing" => &["type", "room"],
        "rooms" => &["type"],
        "rename" => &["type", "name"],
        "inspect" => &["type", "on"],
        "ping_me" => &["type", "payload"],
        other => moderate::fields(other).ok_or_else(|| bad(UNKNOWN_TYPE))?,
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
                (Some(to), false) => match fields.id("reply_to")? {
                    None => Ok(Request::Direct { to, text: message_text(text)? }),
                    Some(reply_to) => {
                        let body =
                            Body::Message { text: message_text(text)?, reply_to: Some(reply_to) };
                        Ok(Request::Amend { to: Conversation::With(to), body })
                    }
                },
                (None, _) => match fields.id("reply_to")? {
                    None => {
                        Ok(Request::Message { room: fields.room()?, text: message_text(text)? })
                    }
                    Some(reply_to) => {
                        // A reply names its room: the target is one of that room's ids.
                        let room = fields.required_room("a message with reply_to")?;
                        let body =
                            Body::Message { text: message_text(text)?, reply_to: Some(reply_to) };
                        Ok(Request::Amend { to: Conversation::Room(room), body })
                    }
                },
            }
        }
        "edit" | "delete" | "react" => {
            let to = fields.conversation(kind, "to")?;
            let target =
                fields.id("id")?.ok_or_else(|| bad(format!("{kind} needs id, a message's id")))?;
            let body = match kind {
                "edit" => {
                    let Some(Value::String(text)) = object.get("text") else {
                        return Err(bad("edit needs text, a string"));
                    };
                    Body::Edit { target, text: message_text(text)? }
                }
                "delete" => Body::Delete { target },
                _ => {
                    let emoji = match object.get("emoji") {
                        Some(Value::String(e)) if emoji::is_one_emoji(e) => e.clone(),
                        _ => return Err(bad("emoji must be one emoji, at most 32 bytes")),
                    };
                    let Some(Value::Bool(on)) = object.get("on") else {
                        return Err(bad("react needs on: true or false"));
                    };
                    Body::React { target, emoji, on: *on }
                }
            };
            Ok(Request::Amend { to, body })
        }
        "read" => {
            let at = fields.conversation(kind, "dm")?;
            let id = fields.id("id")?.ok_or_else(|| bad("read needs id, the last id read"))?;
            Ok(Request::Read { at, id })
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
        // The moderation requests (their fields were checked above).
        other => {
            moderate::parse(other, &object).map(Request::Moderate).map_err(
                |refusal| match refusal {
                    Refusal::Bad(why) => bad(why),
                    Refusal::BadRoom(raw) => InputError::BadRoom(raw),
                    Refusal::NoSuchUser(raw) => InputError::NoSuchUser(raw),
                },
            )
        }
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

    /// A message's id in `field`, if there: a whole number.
    fn id(&self, field: &str) -> Result<Option<u64>, InputError> {
        match self.0.get(field) {
            None => Ok(None),
            Some(value) => value.as_u64().map(Some).ok_or_else(|| {
                bad(format!("{field} must be a whole number from 0 to 18446744073709551615"))
            }),
        }
    }

    /// The conversation a `kind` of request names: `room`, or the person in `person` (`to`,
    /// `dm`); one of them, not both.
    fn conversation(&self, kind: &str, person: &str) -> Result<Conversation, InputError> {
        match (self.person(person)?, self.0.contains_key("room")) {
            (Some(_), true) => {
                Err(bad(format!("{kind} names a room or a person ({person}), not both")))
            }
            (Some(with), false) => Ok(Conversation::With(with)),
            (None, _) => match self.room()? {
                Some(room) => Ok(Conversation::Room(room)),
                None => Err(bad(format!("{kind} needs room (or {person})"))),
            },
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
const UNKNOWN_TYPE: &str = r#"expected {"type":"message","text":"…"} (or edit, delete, react, read, subscribe, unsubscribe, typing, rooms, rename, inspect, ping_me; an operator: kick, ban, unban, bans, mute, unmute) or plain text"#;

fn message_text(text: &str) -> Result<String, InputError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(trimmed.to_string())
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
    fn changes_and_read_markers() {
        let general = || Conversation::Room(room("general"));
        assert_eq!(
            parse_request(r#"{"type":"edit","room":"general","id":42,"text":" fixed "}"#),
            Ok(Request::Amend {
                to: general(),
                body: Body::Edit { target: 42, text: "fixed".into() }
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"delete","to":"Bob","id":3}"#),
            Ok(Request::Amend {
                to: Conversation::With("Bob".into()),
                body: Body::Delete { target: 3 }
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"react","room":"general","id":42,"emoji":"👍","on":false}"#),
            Ok(Request::Amend {
                to: general(),
                body: Body::React { target: 42, emoji: "👍".into(), on: false }
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"message","room":"general","text":"yes","reply_to":42}"#),
            Ok(Request::Amend {
                to: general(),
                body: Body::Message { text: "yes".into(), reply_to: Some(42) }
            })
        );
        assert_eq!(
            parse_request(r#"{"type":"read","dm":"bob","id":7}"#),
            Ok(Request::Read { at: Conversation::With("bob".into()), id: 7 })
        );
        assert_eq!(
            parse_request(r#"{"type":"edit","room":"general","id":1,"text":" "}"#),
            Err(InputError::Empty)
        );
        for frame in [
            r#"{"type":"edit","room":"general","text":"x"}"#,
            r#"{"type":"edit","id":1,"text":"x"}"#,
            r#"{"type":"edit","room":"general","to":"bob","id":1,"text":"x"}"#,
            r#"{"type":"edit","room":"general","id":-1,"text":"x"}"#,
            r#"{"type":"edit","room":"general","id":1.5,"text":"x"}"#,
            r#"{"type":"edit","room":"general","id":"1","text":"x"}"#,
            r#"{"type":"edit","room":"general","id":1,"text":"x","user":"someone"}"#,
            r#"{"type":"delete","room":"general","id":1,"text":"x"}"#,
            r#"{"type":"react","room":"general","id":1,"emoji":"a","on":true}"#,
            r#"{"type":"react","room":"general","id":1,"emoji":"👍👍","on":true}"#,
            r#"{"type":"react","room":"general","id":1,"emoji":"👍"}"#,
            r#"{"type":"read","room":"general"}"#,
            r#"{"type":"read","to":"bob","id":1}"#,
            r#"{"type":"message","to":"bob","text":"x","reply_to":"1"}"#,
            r#"{"type":"message","text":"x","reply_to":1}"#,
        ] {
            assert_eq!(code(frame), "bad_request", "{frame}");
        }
    }
}
