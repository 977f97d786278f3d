//! What an operator asks for (`OPERATORS`, `chat/operators.rs`): the [`Moderate`] requests,
//! read from their JSON by [`parse`] (called by `request.rs` for their `type`s). Anyone may
//! send them; the broadcaster refuses them to everyone but an operator (`not_allowed`,
//! `broadcaster/moderation.rs`), which also does what they ask.
//!
//! | request | what |
//! |---|---|
//! | `{"type":"kick","name":"bob","reason":"…"}` | bob's connections closed with 4001 |
//! | `{"type":"ban","name":"bob","secs":3600,"reason":"…"}` | bob's session and addresses refused (`secs` 0: until `unban`) |
//! | `{"type":"unban","name":"bob"}`, `{"type":"unban","user":"<id>"}` | the ban lifted |
//! | `{"type":"bans"}` | the bans and mutes in force |
//! | `{"type":"mute","room":"r","name":"bob","secs":600,"reason":"…"}` | bob says nothing in `r` (`secs` 0: until `unmute`) |
//! | `{"type":"unmute","room":"r","name":"bob"}` | the mute lifted |

use serde_json::{Map, Value};

use crate::chat::nickname;
use crate::chat::room::RoomName;
use crate::chat::sanctions::MAX_SANCTION_SECS;
use crate::chat::session::UserId;

/// An operator's request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moderate {
    /// Close every connection of whoever holds `name` (code 4001).
    Kick {
        /// The nickname, cleaned.
        name: String,
        /// Why (at most [`MAX_REASON_CHARS`] characters).
        reason: String,
    },
    /// Ban whoever holds `name`, and the addresses it connected from, for `secs` (0: until
    /// lifted).
    Ban {
        /// The nickname, cleaned.
        name: String,
        /// How long; 0: until an `unban`.
        secs: u64,
        /// Why.
        reason: String,
    },
    /// Lift a ban.
    Unban(Whom),
    /// List the bans and mutes in force.
    Bans,
    /// Mute whoever holds `name` in `room` for `secs` (0: until lifted).
    Mute {
        /// The room.
        room: RoomName,
        /// The nickname, cleaned.
        name: String,
        /// How long; 0: until an `unmute`.
        secs: u64,
        /// Why.
        reason: String,
    },
    /// Lift a mute in `room`.
    Unmute {
        /// The room.
        room: RoomName,
        /// The nickname, cleaned.
        name: String,
    },
}

/// Whom a request names: a nickname, or a session's public id (a banned session may have lost
/// its name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whom {
    /// Whoever holds this nickname.
    Name(String),
    /// This session.
    User(UserId),
}

/// The fields each moderation `type` takes; `None` for another `type`.
pub fn fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "kick" => &["type", "name", "reason"],
        "ban" => &["type", "name", "secs", "reason"],
        "unban" => &["type", "name", "user"],
        "bans" => &["type"],
        "mute" => &["type", "room", "name", "secs", "reason"],
        "unmute" => &["type", "room", "name"],
        _ => return None,
    })
}

/// Why a moderation request was refused; `request.rs` makes it an `InputError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `bad_request`, saying what was wrong.
    Bad(String),
    /// `bad_room`: what was sent as a room.
    BadRoom(String),
    /// `no_such_user`: what was sent as a name.
    NoSuchUser(String),
}

/// The request of `kind` (one [`fields`] knows), from its JSON object.
pub fn parse(kind: &str, object: &Map<String, Value>) -> Result<Moderate, Refusal> {
    let bad = |why: &str| Refusal::Bad(why.to_string());
    let name = || match object.get("name") {
        Some(Value::String(raw)) => {
            nickname::clean(raw).ok_or_else(|| Refusal::NoSuchUser(raw.chars().take(64).collect()))
        }
        Some(_) => Err(bad("name must be a nickname, a string")),
        None => Err(Refusal::Bad(format!("{kind} needs name, a nickname"))),
    };
    let room = || match object.get("room") {
        Some(Value::String(raw)) => {
            RoomName::parse(raw).ok_or_else(|| Refusal::BadRoom(raw.chars().take(64).collect()))
        }
        Some(other) => Err(Refusal::BadRoom(other.to_string().chars().take(64).collect())),
        None => Err(Refusal::Bad(format!("{kind} needs room"))),
    };
    Ok(match kind {
        "kick" => Moderate::Kick { name: name()?, reason: reason(object)? },
        "ban" => Moderate::Ban { name: name()?, secs: secs(object)?, reason: reason(object)? },
        "unban" => match (object.contains_key("name"), object.get("user")) {
            (true, None) => Moderate::Unban(Whom::Name(name()?)),
            (false, Some(Value::String(id))) => match UserId::parse(id) {
                Some(user) => Moderate::Unban(Whom::User(user)),
                None => return Err(bad("user must be a user id (16 characters)")),
            },
            _ => return Err(bad("unban needs name, a nickname, or user, a user id (one)")),
        },
        "bans" => Moderate::Bans,
        "mute" => Moderate::Mute {
            room: room()?,
            name: name()?,
            secs: secs(object)?,
            reason: reason(object)?,
        },
        _ => Moderate::Unmute { room: room()?, name: name()? },
    })
}

/// `reason`, trimmed: at most [`MAX_REASON_CHARS`] characters; empty when left out.
fn reason(object: &Map<String, Value>) -> Result<String, Refusal> {
    match object.get("reason") {
        None => Ok(String::new()),
        Some(Value::String(why)) if why.chars().count() <= MAX_REASON_CHARS => {
            Ok(why.trim().to_string())
        }
        Some(_) => Err(Refusal::Bad("reason is a string of at most 100 characters".into())),
    }
}

/// `secs`: a whole number up to [`MAX_SANCTION_SECS`]; 0 (or left out) means until lifted.
fn secs(object: &Map<String, Value>) -> Result<u64, Refusal> {
    match object.get("secs") {
        None => Ok(0),
        Some(value) => value.as_u64().filter(|secs| *secs <= MAX_SANCTION_SECS).ok_or_else(|| {
            Refusal::Bad("secs must be a whole number from 0 (until lifted) to 315360000".into())
        }),
    }
}

/// The longest reason an operator may give (it goes into a close frame, RFC 6455 §5.5: 123
/// bytes with the code, so a long one is cut there).
pub const MAX_REASON_CHARS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, or the code of its refusal (what `request.rs` makes of it).
    fn moderate(frame: &str) -> Result<Moderate, String> {
        let Ok(Value::Object(object)) = serde_json::from_str(frame) else { panic!("{frame}") };
        let kind = object["type"].as_str().unwrap().to_string();
        if let Some(extra) = object.keys().find(|k| !fields(&kind).unwrap().contains(&k.as_str())) {
            return Err(format!("bad_request: no field {extra}"));
        }
        parse(&kind, &object).map_err(|refusal| match refusal {
            Refusal::Bad(_) => "bad_request".to_string(),
            Refusal::BadRoom(_) => "bad_room".to_string(),
            Refusal::NoSuchUser(_) => "no_such_user".to_string(),
        })
    }

    #[test]
    fn every_request_and_its_refusals() {
        let general = RoomName::parse("general").unwrap();
        assert_eq!(
            moderate(r#"{"type":"ban","name":" Bob ","secs":60,"reason":" spam "}"#),
            Ok(Moderate::Ban { name: "Bob".into(), secs: 60, reason: "spam".into() })
        );
        assert_eq!(
            moderate(r#"{"type":"ban","name":"bob"}"#),
            Ok(Moderate::Ban { name: "bob".into(), secs: 0, reason: String::new() })
        );
        assert_eq!(
            moderate(r#"{"type":"unban","user":"BAAAAAAAAAAAAAAA"}"#),
            Ok(Moderate::Unban(Whom::User(UserId::parse("BAAAAAAAAAAAAAAA").unwrap())))
        );
        assert_eq!(
            moderate(r#"{"type":"unban","name":"bob"}"#),
            Ok(Moderate::Unban(Whom::Name("bob".into())))
        );
        assert_eq!(moderate(r#"{"type":"bans"}"#), Ok(Moderate::Bans));
        assert_eq!(
            moderate(r#"{"type":"mute","room":"general","name":"bob","secs":600}"#),
            Ok(Moderate::Mute {
                room: general.clone(),
                name: "bob".into(),
                secs: 600,
                reason: String::new()
            })
        );
        assert_eq!(
            moderate(r#"{"type":"unmute","room":"general","name":"bob"}"#),
            Ok(Moderate::Unmute { room: general, name: "bob".into() })
        );
        for refused in [
            r#"{"type":"ban"}"#,
            r#"{"type":"ban","name":"bob","secs":-1}"#,
            r#"{"type":"ban","name":"bob","secs":315360001}"#,
            r#"{"type":"ban","name":"bob","secs":"60"}"#,
            r#"{"type":"unban"}"#,
            r#"{"type":"unban","name":"bob","user":"BAAAAAAAAAAAAAAA"}"#,
            r#"{"type":"unban","user":"nope"}"#,
            r#"{"type":"mute","name":"bob"}"#,
            r#"{"type":"unmute","room":"general"}"#,
        ] {
            assert_eq!(moderate(refused), Err("bad_request".to_string()), "{refused}");
        }
        let long = format!(r#"{{"type":"ban","name":"bob","reason":"{}"}}"#, "x".repeat(101));
        assert_eq!(moderate(&long), Err("bad_request".to_string()));
        assert_eq!(
            moderate(r#"{"type":"mute","room":"No Room","name":"b"}"#).unwrap_err(),
            "bad_room"
        );
    }
}
