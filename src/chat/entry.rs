//! One entry of a conversation's order: a message, or a change to one (an edit, a deletion, a
//! reaction).
//!
//! A room (or a private conversation) has one order, numbered by its ids. A change to a message
//! is not a change *in place*: it is one more entry of that order, with an id of its own, stored
//! and carried by Kafka like a message. So everything that already keeps the order (the history,
//! the store, a partition, a resume with `since`) keeps the changes too, and every instance and
//! every client applies them in the same order. How entries fold into the messages a page shows
//! is `fold.rs`; who may make which change is `amend.rs`.
//!
//! A deleted message keeps its place and its id, but not its text: the server empties the text
//! of the message and of every edit of it (`History::push`). An empty text is never a message's
//! or an edit's otherwise (empty input is refused), so an empty text *is* "deleted".

use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

use crate::chat::operators;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

/// An entry as the server stores and sends it: said in a room, or privately to one person.
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
    /// When the server received it, RFC 3339 UTC with milliseconds.
    pub ts: String,
    /// What it is: a message, or a change to one.
    pub body: Body,
}

/// Where an entry was said.
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

/// What an operator did, to whom: the body of a `moderation` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// What.
    pub action: Action,
    /// To whom: the session's public id.
    pub whom: UserId,
    /// Its nickname.
    pub whom_name: String,
    /// The operator's words (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When a ban or a mute ends (ms since 1970); `None`: when it is lifted, or no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// The message a `delete` removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u64>,
}

/// What an operator did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Closed the session's connections (4001).
    Kick,
    /// Banned the session and its addresses (403 at the upgrade, 4003).
    Ban,
    /// Lifted a ban.
    Unban,
    /// Muted the session in the room.
    Mute,
    /// Lifted a mute.
    Unmute,
    /// Deleted someone's message.
    Delete,
}

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A message: its text (trimmed; empty once deleted), and the message it answers.
    Message {
        /// The text.
        text: String,
        /// The id of the message it answers, in the same conversation.
        reply_to: Option<u64>,
    },
    /// The message `target` now reads `text` (empty once the target is deleted).
    Edit {
        /// The message changed.
        target: u64,
        /// Its new text.
        text: String,
    },
    /// The message `target` is deleted.
    Delete {
        /// The message deleted.
        target: u64,
    },
    /// An operator (the sender) moderated someone: a notice in the room's order
    /// (`chat/broadcaster/moderation.rs`). Not a message, and not a change to one.
    Moderation(Box<Notice>),
    /// The sender reacted to `target` with `emoji` (`on`), or took the reaction back.
    React {
        /// The message reacted to.
        target: u64,
        /// One emoji (`chat/emoji.rs`).
        emoji: String,
        /// Given, or taken back.
        on: bool,
    },
}

impl Body {
    /// A plain message: `text`, answering nothing.
    pub fn text(text: impl Into<String>) -> Body {
        Body::Message { text: text.into(), reply_to: None }
    }

    /// The event's `type`: `message`, `edit`, `delete` or `react`.
    pub fn kind(&self) -> &'static str {
        match self {
            Body::Message { .. } => "message",
            Body::Edit { .. } => "edit",
            Body::Delete { .. } => "delete",
            Body::React { .. } => "react",
            Body::Moderation(_) => "moderation",
        }
    }

    /// The message a change is about; `None` for a message.
    pub fn target(&self) -> Option<u64> {
        match self {
            Body::Message { .. } | Body::Moderation(_) => None,
            Body::Edit { target, .. } | Body::Delete { target } | Body::React { target, .. } => {
                Some(*target)
            }
        }
    }

    /// The text a message or an edit carries (empty once deleted); `None` for the others.
    pub fn words(&self) -> Option<&str> {
        match self {
            Body::Message { text, .. } | Body::Edit { text, .. } => Some(text),
            Body::Delete { .. } | Body::React { .. } | Body::Moderation(_) => None,
        }
    }

    /// True for a message (not a change).
    pub fn is_message(&self) -> bool {
        matches!(self, Body::Message { .. })
    }
}

impl Chat {
    /// The room it was said in; `None` for a private message.
    pub fn room(&self) -> Option<&RoomName> {
        match &self.place {
            Place::Room(room) => Some(room),
            Place::Direct { .. } => None,
        }
    }

    /// The text of a message or an edit (empty once deleted, and for the other changes).
    pub fn text(&self) -> &str {
        self.body.words().unwrap_or("")
    }

    /// The same entry without its text: what is kept of a deleted message and of its edits.
    pub fn without_text(&self) -> Chat {
        let mut blank = self.clone();
        match &mut blank.body {
            Body::Message { text, .. } | Body::Edit { text, .. } => *text = String::new(),
            Body::Delete { .. } | Body::React { .. } | Body::Moderation(_) => {}
        }
        blank
    }

    /// Writes the fields every entry has, up to its text: `type`, where, `id`, `target`, who.
    pub(crate) fn head<M: SerializeMap>(&self, out: &mut M) -> Result<(), M::Error> {
        out.serialize_entry("type", self.body.kind())?;
        match &self.place {
            Place::Room(room) => out.serialize_entry("room", room)?,
            Place::Direct { .. } => out.serialize_entry("dm", &true)?,
        }
        out.serialize_entry("id", &self.id)?;
        if let Some(target) = self.body.target() {
            out.serialize_entry("target", &target)?;
        }
        out.serialize_entry("user", &self.user)?;
        out.serialize_entry("name", &self.name)?;
        if crate::chat::bots::is_bot(self.user) {
            // A bot of the HTTP API said it (`bots.rs`).
            out.serialize_entry("bot", &true)?;
        }
        if operators::is_operator(self.user) {
            // An operator said it (`operators.rs`).
            out.serialize_entry("op", &true)?;
        }
        if let Place::Direct { to, to_user } = &self.place {
            out.serialize_entry("to", to)?;
            out.serialize_entry("to_user", to_user)?;
        }
        Ok(())
    }
}

/// An entry as it was sent, by its `type`:
/// `{"type":"message","room":"general","id":42,"user":…,"name":…,"text":…,"ts":…}`, with
/// `"reply_to"` when it answers one; `{"type":"edit",…,"target":42,…,"text":"fixed",…}`,
/// `{"type":"delete",…}`, `{"type":"react",…,"emoji":"👍","on":true,…}`. A private one has
/// `"dm":true` for `room`, and `"to"`, `"to_user"` after `name`. A deleted message has
/// `"deleted":true` instead of its text; an edit of it, no text.
impl Serialize for Chat {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut out = serializer.serialize_map(None)?;
        if let Body::Moderation(notice) = &self.body {
            self.notice(notice, &mut out)?;
            return out.end();
        }
        self.head(&mut out)?;
        match &self.body {
            Body::Message { text, reply_to } => {
                if text.is_empty() {
                    out.serialize_entry("deleted", &true)?;
                } else {
                    out.serialize_entry("text", text)?;
                }
                if let Some(reply_to) = reply_to {
                    out.serialize_entry("reply_to", reply_to)?;
                }
            }
            Body::Edit { text, .. } if !text.is_empty() => out.serialize_entry("text", text)?,
            // An operator's deletion names them (it may be anyone's message).
            Body::Delete { .. } if operators::is_operator(self.user) => {
                out.serialize_entry("by", &self.name)?;
            }
            Body::Edit { .. } | Body::Delete { .. } => {}
            Body::React { emoji, on, .. } => {
                out.serialize_entry("emoji", emoji)?;
                out.serialize_entry("on", on)?;
            }
            Body::Moderation(_) => {}
        }
        out.serialize_entry("ts", &self.ts)?;
        out.end()
    }
}

impl Chat {
    /// A `moderation` entry, whose `name` and `user` are whom it is about, and `by`,
    /// `by_user` the operator who said it: `{"type":"moderation","room":"general","id":57,
    /// "action":"ban","name":"bob","user":…,"by":"carol","by_user":…,"reason":"spam",
    /// "until":"2026-12-07T05:00:00.000Z","ts":…}` (`reason` when given, `until` when it ends,
    /// `target` for a deletion).
    fn notice<M: SerializeMap>(&self, notice: &Notice, out: &mut M) -> Result<(), M::Error> {
        out.serialize_entry("type", "moderation")?;
        if let Place::Room(room) = &self.place {
            out.serialize_entry("room", room)?;
        }
        out.serialize_entry("id", &self.id)?;
        out.serialize_entry("action", &notice.action)?;
        out.serialize_entry("name", &notice.whom_name)?;
        out.serialize_entry("user", &notice.whom)?;
        out.serialize_entry("by", &self.name)?;
        out.serialize_entry("by_user", &self.user)?;
        if !notice.reason.is_empty() {
            out.serialize_entry("reason", &notice.reason)?;
        }
        if let Some(until) = notice.until {
            out.serialize_entry("until", &rfc3339(until))?;
        }
        if let Some(target) = notice.target {
            out.serialize_entry("target", &target)?;
        }
        out.serialize_entry("ts", &self.ts)
    }
}

/// A time in ms since 1970 as the protocol writes times: `2026-12-07T05:00:00.000Z`.
pub fn rfc3339(millis: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis);
    humantime::format_rfc3339_millis(at).to_string()
}

impl Serialize for RoomName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserId {
        crate::chat::session::Session::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap().user_id()
    }

    fn entry(id: u64, body: Body) -> Chat {
        let place = Place::Room(RoomName::parse("r").unwrap());
        Chat { place, id, user: alice(), name: "alice".into(), ts: "t".into(), body }
    }

    fn json(chat: &Chat) -> String {
        serde_json::to_string(chat).unwrap()
    }

    #[test]
    fn every_kind_of_entry_as_the_protocol_writes_it() {
        let u = "LJgLhthO3_LJUFoX";
        let reply = Body::Message { text: "yes".into(), reply_to: Some(42) };
        assert_eq!(
            json(&entry(43, reply)),
            format!(
                r#"{{"type":"message","room":"r","id":43,"user":"{u}","name":"alice","text":"yes","reply_to":42,"ts":"t"}}"#
            )
        );
        let edit = Body::Edit { target: 42, text: "fixed".into() };
        assert_eq!(
            json(&entry(57, edit)),
            format!(
                r#"{{"type":"edit","room":"r","id":57,"target":42,"user":"{u}","name":"alice","text":"fixed","ts":"t"}}"#
            )
        );
        assert_eq!(
            json(&entry(58, Body::Delete { target: 42 })),
            format!(
                r#"{{"type":"delete","room":"r","id":58,"target":42,"user":"{u}","name":"alice","ts":"t"}}"#
            )
        );
        let react = Body::React { target: 42, emoji: "👍".into(), on: true };
        assert_eq!(
            json(&entry(59, react)),
            format!(
                r#"{{"type":"react","room":"r","id":59,"target":42,"user":"{u}","name":"alice","emoji":"👍","on":true,"ts":"t"}}"#
            )
        );
    }

    #[test]
    fn a_deleted_message_and_its_edits_carry_no_text() {
        let message = entry(42, Body::text("secret")).without_text();
        assert_eq!(message.text(), "");
        assert!(json(&message).contains(r#""deleted":true"#));
        assert!(!json(&message).contains("secret"));
        let edit = entry(43, Body::Edit { target: 42, text: "secret 2".into() }).without_text();
        assert!(!json(&edit).contains("text"), "{}", json(&edit));
    }
}
