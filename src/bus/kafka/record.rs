//! The record format: what goes on the topics, one JSON object per record, tagged by its kind
//! (`{"kind":"chat",…}`). Serde writes the tag first, which lets the presence consumer tell our
//! own rosters from their first bytes without decoding them (`presence.rs`).
//!
//! | kind | topic | written by |
//! |---|---|---|
//! | `epoch` | the chat topic, first record of a partition | `history.rs` |
//! | `chat`, `dm` | the chat topic, the conversation's partition | `messages.rs` |
//! | `edit`, `delete`, `react` | the chat topic, the conversation's partition | `messages.rs` |
//! | `roster`, `typing` | `<topic>.presence` | `presence.rs` |
//! | `moderation` | the chat topic, the room's partition | `messages.rs` |
//! | `claim`, `release`, `kick`, `sanction` | `<topic>.claims` | `claims.rs` |
//! | `read` | `<topic>.reads` | `reads.rs` |
//!
//! A field added to a kind is optional: records written by an older version (no `room`, no
//! `uid`, no `user`, no `sessions`) still read, and their consumers say what a missing field
//! means. [`to_json`] writes a record, [`decode`] reads one fetched from the broker.

use std::collections::BTreeMap;

use log::warn;
use rskafka::record::RecordAndOffset;
use serde::{Deserialize, Serialize};

use super::dedup::Uid;
use crate::chat::entry::Notice;
use crate::chat::sanctions::Sanction;

/// A record on the topics, as JSON: `{"kind":"chat",…}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Record {
    /// The marker that names a partition's epoch.
    Epoch { epoch: String },
    /// A chat message (its id is its offset). `uid` tells a retried copy from a new message;
    /// records written before it existed have none. Records written before rooms have no `room`:
    /// they were said in `DEFAULT_ROOM`.
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The sender's public id; records written before sessions have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        name: String,
        text: String,
        ts: String,
        instance: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<Uid>,
        /// The message it answers (an id of the same room).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    /// The nicknames online on one instance, per room, at a time in milliseconds since 1970:
    /// `"rooms":{"general":["alice"]}`, and the sessions connected to it by public id:
    /// `"sessions":["LJgLhthO3_LJUFoX"]`. Records written before rooms list `"users"`
    /// instead, who were in `DEFAULT_ROOM`; records written before sessions have no `sessions`.
    Roster {
        instance: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rooms: Option<BTreeMap<String, Vec<String>>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sessions: Option<Vec<String>>,
        at: u64,
    },
    /// Session `user` took the nickname `name` on `instance` at `at` (ms since 1970), on the
    /// claims topic: of two claims of one name the first wins (`chat/identity/cluster.rs`).
    Claim { user: String, name: String, instance: String, at: u64 },
    /// An operator on `instance` kicked session `user`, for `reason`, on the claims topic:
    /// every instance closes the session's connections it has.
    Kick { user: String, reason: String, instance: String, at: u64 },
    /// An operator's ban, mute, or the end of one, on the claims topic:
    /// `{"kind":"sanction","action":"ban","user":…,…}` (`chat/sanctions.rs`).
    Sanction(Sanction),
    /// An operator's notice in `room` (its id is its offset): what it did, to whom.
    Moderation {
        room: String,
        user: String,
        name: String,
        ts: String,
        instance: String,
        uid: Uid,
        notice: Notice,
    },
    /// `instance` forgot session `user`, which held `name` (folded), on the claims topic: the
    /// name is free again.
    Release { user: String, name: String, instance: String, at: u64 },
    /// Session `user` has read up to `id` in `room`, or in its private conversation with session
    /// `with`; connection `conn` of `instance` moved the marker, at `at` (ms since 1970). On the
    /// reads topic, keyed by user: every instance applies it (only forward).
    Read {
        user: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<String>,
        id: u64,
        instance: String,
        conn: u64,
        at: u64,
    },
    /// A private message from session `user` (`name`) to session `to_user` (`to`), in the
    /// partition of the pair's key (its id is its offset). It carries public ids, never sessions.
    Dm {
        user: String,
        name: String,
        to_user: String,
        to: String,
        text: String,
        ts: String,
        instance: String,
        uid: Uid,
        /// The message it answers (an id of the same conversation).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    /// An edit of message `target` (in the target's partition; its id is its offset).
    Edit(Change),
    /// A deletion of message `target`.
    Delete(Change),
    /// A reaction to message `target`, given or taken back.
    React(Change),
    /// `name` is typing in `room`, on connection `conn` of `instance`, at `at` (ms since 1970).
    Typing {
        instance: String,
        conn: u64,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        name: String,
        at: u64,
    },
}

/// A change to message `target`, said by session `user` (`name`): in `room`, or privately to
/// session `to_user` (`to`). An edit carries `text`, a reaction `emoji` and `on`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub target: u64,
    pub user: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on: Option<bool>,
    pub ts: String,
    pub instance: String,
    pub uid: Uid,
}

/// A record as the bytes of its JSON.
pub fn to_json(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).expect("records are plain JSON")
}

/// The record fetched at an offset; none when it has no value, or, with a warning, when it is
/// not one of ours: the consumers skip it.
pub fn decode(fetched: &RecordAndOffset) -> Option<Record> {
    let value = fetched.record.value.as_deref()?;
    serde_json::from_slice(value)
        .inspect_err(|e| warn!("kafka: skipping record {}: {e}", fetched.offset))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(record: &Record) -> String {
        String::from_utf8(to_json(record)).unwrap()
    }

    #[test]
    fn records_as_they_are_written() {
        let chat = Record::Chat {
            room: Some("rust".into()),
            user: Some("LJgLhthO3_LJUFoX".into()),
            name: "alice".into(),
            text: "hi".into(),
            ts: "t".into(),
            instance: "ws1".into(),
            uid: Some([7, 42]),
            reply_to: None,
        };
        assert_eq!(
            json(&chat),
            r#"{"kind":"chat","room":"rust","user":"LJgLhthO3_LJUFoX","name":"alice","text":"hi","ts":"t","instance":"ws1","uid":[7,42]}"#
        );
        let rooms = [("rust".to_string(), vec!["bob".into()]), ("general".into(), vec![])];
        let sessions = ["LJgLhthO3_LJUFoX".to_string()];
        let roster = Record::Roster {
            instance: "ws1".into(),
            rooms: Some(rooms.into_iter().collect()),
            users: None,
            sessions: Some(sessions.into_iter().collect()),
            at: 5,
        };
        assert_eq!(
            json(&roster),
            r#"{"kind":"roster","instance":"ws1","rooms":{"general":[],"rust":["bob"]},"sessions":["LJgLhthO3_LJUFoX"],"at":5}"#
        );
        let (user, instance) = ("LJgLhthO3_LJUFoX".to_string(), "ws1".to_string());
        let claim = Record::Claim { user, name: "Alice".into(), instance, at: 5 };
        assert_eq!(
            json(&claim),
            r#"{"kind":"claim","user":"LJgLhthO3_LJUFoX","name":"Alice","instance":"ws1","at":5}"#
        );
        let (user, instance) = ("LJgLhthO3_LJUFoX".to_string(), "ws2".to_string());
        let release = Record::Release { user, name: "alice".into(), instance, at: 6 };
        assert_eq!(
            json(&release),
            r#"{"kind":"release","user":"LJgLhthO3_LJUFoX","name":"alice","instance":"ws2","at":6}"#
        );
        let read = Record::Read {
            user: "LJgLhthO3_LJUFoX".into(),
            room: Some("rust".into()),
            with: None,
            id: 57,
            instance: "ws1".into(),
            conn: 17,
            at: 5,
        };
        assert_eq!(
            json(&read),
            r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","room":"rust","id":57,"instance":"ws1","conn":17,"at":5}"#
        );
        let typing = Record::Typing {
            instance: "ws1".into(),
            conn: 17,
            room: "rust".into(),
            user: None,
            name: "alice".into(),
            at: 5,
        };
        assert_eq!(
            json(&typing),
            r#"{"kind":"typing","instance":"ws1","conn":17,"room":"rust","name":"alice","at":5}"#
        );
    }

    #[test]
    fn records_from_before_rooms_and_uids_still_read() {
        let old = br#"{"kind":"chat","name":"bob","text":"yo","ts":"t","instance":"ws2"}"#;
        assert!(matches!(
            serde_json::from_slice(old),
            Ok(Record::Chat { room: None, uid: None, .. })
        ));
        let old =
            br#"{"kind":"chat","name":"bob","text":"yo","ts":"t","instance":"ws2","uid":[1,2]}"#;
        assert!(matches!(serde_json::from_slice(old), Ok(Record::Chat { room: None, .. })));
        let old = br#"{"kind":"roster","instance":"ws2","users":["bob"],"at":9}"#;
        let Ok(Record::Roster { rooms: None, users: Some(users), at: 9, .. }) =
            serde_json::from_slice(old)
        else {
            panic!("an old roster did not read");
        };
        assert_eq!(users, ["bob"]);
        let marker = br#"{"kind":"epoch","epoch":"0123456789abcdef"}"#;
        assert!(matches!(serde_json::from_slice(marker), Ok(Record::Epoch { .. })));
    }
}
