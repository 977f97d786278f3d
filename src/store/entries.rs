//! An [`Entry`] as the JSON of one record: `{"kind":"chat","room":"general","id":7,…}`, the
//! same shape as the Kafka records, so a log reads the same whatever wrote it.
//!
//! | kind | what |
//! |---|---|
//! | `epoch` | the epoch of every id, first in a new store |
//! | `start` | a history starts (again): a room's (`room`) or a conversation's (`users`) |
//! | `chat`, `dm` | a message in a room, or a private one (`reply_to` when it answers one) |
//! | `edit`, `delete`, `react` | a change, in a room (`room`) or a conversation (`to_user`, `to`) |
//! | `read` | a session's read marker in a room or a conversation |
//! | `session`, `forget` | a session holds a name; a session was forgotten |
//! | `ids_above` | rooms made from now on start their ids above `last` |
//! | `moderation` | an operator's notice in a room (`notice`: `action`, `whom`, `reason`, `until`) |
//! | `sanction` | a ban, a mute, or the end of one (`action`: `ban`, `unban`, `mute`, `unmute`) |
//!
//! A deleted message is written with an empty `text` (and so are the edits of it): that is how
//! a compaction leaves a deleted text on no disk. A record of a kind this version does not know
//! reads as `None` and is skipped.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::chat::entry::{Body, Chat, Notice, Place};
use crate::chat::identity::Pair;
use crate::chat::journal::{Entry, Thread};
use crate::chat::room::RoomName;
use crate::chat::sanctions::Sanction;
use crate::chat::session::UserId;

/// An [`Entry`] as JSON: the record's payload.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record<'a> {
    Epoch {
        epoch: Cow<'a, str>,
    },
    /// A history starts: a room's (`room`) or a private conversation's (`users`, the pair).
    Start {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<Cow<'a, str>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<[Cow<'a, str>; 2]>,
        first: u64,
        last: u64,
    },
    Chat {
        room: Cow<'a, str>,
        id: u64,
        user: Cow<'a, str>,
        name: Cow<'a, str>,
        text: Cow<'a, str>,
        ts: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    Dm {
        id: u64,
        user: Cow<'a, str>,
        name: Cow<'a, str>,
        to_user: Cow<'a, str>,
        to: Cow<'a, str>,
        text: Cow<'a, str>,
        ts: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
    },
    Edit(Change<'a>),
    Delete(Change<'a>),
    React(Change<'a>),
    /// Session `user`'s read marker: in `room`, or in its conversation with `with`.
    Read {
        user: Cow<'a, str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<Cow<'a, str>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<Cow<'a, str>>,
        id: u64,
    },
    Session {
        user: Cow<'a, str>,
        name: Cow<'a, str>,
    },
    Forget {
        user: Cow<'a, str>,
    },
    /// Rooms made from now on start their ids above `last`.
    #[serde(rename = "ids_above")]
    IdsAbove {
        last: u64,
    },
    /// An operator's notice in `room` (its `notice`: what, to whom).
    Moderation {
        room: Cow<'a, str>,
        id: u64,
        user: Cow<'a, str>,
        name: Cow<'a, str>,
        ts: Cow<'a, str>,
        notice: Notice,
    },
    /// A ban, a mute, or the end of one: `{"kind":"sanction","action":"ban",…}`.
    Sanction(Sanction),
}

/// A change to message `target`: in `room`, or privately to `to_user` (`to`).
#[derive(Debug, Serialize, Deserialize)]
struct Change<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    room: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to_user: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<Cow<'a, str>>,
    id: u64,
    target: u64,
    user: Cow<'a, str>,
    name: Cow<'a, str>,
    ts: Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emoji: Option<Cow<'a, str>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
}

/// The record of `entry`, as bytes.
pub(super) fn encode(entry: &Entry) -> Vec<u8> {
    // Borrowed where it can be: this runs for every message, on the broadcaster's thread.
    let record = match entry {
        Entry::Epoch(epoch) => Record::Epoch { epoch: epoch.into() },
        Entry::Start { thread, first, last } => {
            let (room, users) = match thread {
                Thread::Room(room) => (Some(room.as_str().into()), None),
                Thread::Direct(pair) => {
                    let (a, b) = pair.users();
                    (None, Some([a.to_text().into(), b.to_text().into()]))
                }
            };
            Record::Start { room, users, first: *first, last: *last }
        }
        Entry::Message(chat) => entry_record(chat),
        Entry::Read { user, thread, id } => {
            let (room, with) = match thread {
                Thread::Room(room) => (Some(room.as_str().into()), None),
                Thread::Direct(pair) => {
                    let (a, b) = pair.users();
                    (None, Some(if a == *user { b } else { a }.to_text().into()))
                }
            };
            Record::Read { user: user.to_text().into(), room, with, id: *id }
        }
        Entry::Session { user, name } => {
            Record::Session { user: user.to_text().into(), name: name.into() }
        }
        Entry::Forget(user) => Record::Forget { user: user.to_text().into() },
        Entry::IdsAbove(last) => Record::IdsAbove { last: *last },
        Entry::Sanction(sanction) => Record::Sanction(sanction.clone()),
    };
    serde_json::to_vec(&record).expect("records are plain JSON")
}

/// The record of a message or a change.
fn entry_record(chat: &Chat) -> Record<'_> {
    let Chat { place, id, user, name, ts, body } = chat;
    let (id, user, name, ts) = (*id, user.to_text().into(), name.into(), ts.into());
    if let (Body::Moderation(notice), Place::Room(room)) = (body, place) {
        let (room, notice) = (room.as_str().into(), (**notice).clone());
        return Record::Moderation { room, id, user, name, ts, notice };
    }
    if let Body::Message { text, reply_to } = body {
        let (text, reply_to) = (text.into(), *reply_to);
        return match place {
            Place::Room(room) => {
                Record::Chat { room: room.as_str().into(), id, user, name, text, ts, reply_to }
            }
            Place::Direct { to, to_user } => {
                let (to, to_user) = (to.into(), to_user.to_text().into());
                Record::Dm { id, user, name, to_user, to, text, ts, reply_to }
            }
        };
    }
    let (room, to_user, to) = match place {
        Place::Room(room) => (Some(room.as_str().into()), None, None),
        Place::Direct { to, to_user } => (None, Some(to_user.to_text().into()), Some(to.into())),
    };
    let target = body.target().expect("a change has a target");
    let mut change =
        Change { room, to_user, to, id, target, user, name, ts, text: None, emoji: None, on: None };
    match body {
        Body::Edit { text, .. } => {
            change.text = Some(text.into());
            Record::Edit(change)
        }
        Body::React { emoji, on, .. } => {
            (change.emoji, change.on) = (Some(emoji.into()), Some(*on));
            Record::React(change)
        }
        _ => Record::Delete(change),
    }
}

/// The entry a record holds; `None` for one this server cannot read.
pub(super) fn decode(payload: &[u8]) -> Option<Entry> {
    let user = |text: &str| UserId::parse(text);
    Some(match serde_json::from_slice(payload).ok()? {
        Record::Epoch { epoch } => Entry::Epoch(epoch.into_owned()),
        Record::Start { room: Some(room), users: None, first, last } => {
            Entry::Start { thread: Thread::Room(RoomName::parse(&room)?), first, last }
        }
        Record::Start { room: None, users: Some([a, b]), first, last } => {
            let pair = Pair::new(user(&a)?, user(&b)?);
            Entry::Start { thread: Thread::Direct(pair), first, last }
        }
        Record::Start { .. } => return None,
        Record::Chat { room, id, user: sender, name, text, ts, reply_to } => {
            let place = Place::Room(RoomName::parse(&room)?);
            let body = Body::Message { text: text.into_owned(), reply_to };
            let (name, ts) = (name.into_owned(), ts.into_owned());
            Entry::Message(Arc::new(Chat { place, id, user: user(&sender)?, name, ts, body }))
        }
        Record::Dm { id, user: sender, name, to_user, to, text, ts, reply_to } => {
            let place = Place::Direct { to: to.into_owned(), to_user: user(&to_user)? };
            let body = Body::Message { text: text.into_owned(), reply_to };
            let (name, ts) = (name.into_owned(), ts.into_owned());
            Entry::Message(Arc::new(Chat { place, id, user: user(&sender)?, name, ts, body }))
        }
        Record::Edit(c) => {
            let text = c.text.clone()?.into_owned();
            change(c, |target| Body::Edit { target, text })?
        }
        Record::Delete(c) => change(c, |target| Body::Delete { target })?,
        Record::React(c) => {
            let (emoji, on) = (c.emoji.clone()?.into_owned(), c.on?);
            change(c, |target| Body::React { target, emoji, on })?
        }
        Record::Read { user: id, room, with, id: read } => {
            let reader = user(&id)?;
            let thread = match (room, with) {
                (Some(room), None) => Thread::Room(RoomName::parse(&room)?),
                (None, Some(with)) => Thread::Direct(Pair::new(reader, user(&with)?)),
                _ => return None,
            };
            Entry::Read { user: reader, thread, id: read }
        }
        Record::Session { user: id, name } => {
            Entry::Session { user: user(&id)?, name: name.into_owned() }
        }
        Record::Forget { user: id } => Entry::Forget(user(&id)?),
        Record::IdsAbove { last } => Entry::IdsAbove(last),
        Record::Moderation { room, id, user: sender, name, ts, notice } => {
            let place = Place::Room(RoomName::parse(&room)?);
            let body = Body::Moderation(Box::new(notice));
            let (name, ts) = (name.into_owned(), ts.into_owned());
            Entry::Message(Arc::new(Chat { place, id, user: user(&sender)?, name, ts, body }))
        }
        Record::Sanction(sanction) => Entry::Sanction(sanction),
    })
}

/// The entry of a change record, its body made by `body` from the target.
fn change(c: Change<'_>, body: impl FnOnce(u64) -> Body) -> Option<Entry> {
    let place = match (c.room, c.to_user, c.to) {
        (Some(room), None, None) => Place::Room(RoomName::parse(&room)?),
        (None, Some(to_user), Some(to)) => {
            Place::Direct { to: to.into_owned(), to_user: UserId::parse(&to_user)? }
        }
        _ => return None,
    };
    let user = UserId::parse(&c.user)?;
    let (name, ts) = (c.name.into_owned(), c.ts.into_owned());
    Some(Entry::Message(Arc::new(Chat { place, id: c.id, user, name, ts, body: body(c.target) })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn entry(place: Place, id: u64, body: Body) -> Entry {
        let (name, ts) = ("alice".to_string(), "2026-12-01T10:00:00.000Z".to_string());
        Entry::Message(Arc::new(Chat { place, id, user: user(1), name, ts, body }))
    }

    #[test]
    fn every_entry_reads_back_as_it_was_written() {
        let pair = Pair::new(user(1), user(2));
        let room = || Place::Room(RoomName::parse("general").unwrap());
        let dm = || Place::Direct { to: "bob".into(), to_user: user(2) };
        let entries = vec![
            Entry::Start {
                thread: Thread::Room(RoomName::parse("general").unwrap()),
                first: 1,
                last: 0,
            },
            entry(room(), 1, Body::text("m1")),
            entry(room(), 2, Body::Message { text: "yes".into(), reply_to: Some(1) }),
            entry(room(), 3, Body::Edit { target: 1, text: "m1!".into() }),
            entry(room(), 4, Body::React { target: 1, emoji: "👍🏽".into(), on: true }),
            entry(room(), 5, Body::React { target: 1, emoji: "👍🏽".into(), on: false }),
            entry(room(), 6, Body::Delete { target: 1 }),
            entry(room(), 7, Body::text("")),
            Entry::Start { thread: Thread::Direct(pair), first: 3, last: 9 },
            entry(dm(), 4, Body::text("psst \"quoted\" ✓")),
            entry(dm(), 5, Body::Message { text: "re".into(), reply_to: Some(4) }),
            entry(dm(), 6, Body::Edit { target: 5, text: "re!".into() }),
            entry(dm(), 7, Body::Delete { target: 4 }),
            entry(dm(), 8, Body::React { target: 5, emoji: "🎉".into(), on: true }),
            Entry::Read {
                user: user(1),
                thread: Thread::Room(RoomName::parse("general").unwrap()),
                id: 6,
            },
            Entry::Read { user: user(2), thread: Thread::Direct(pair), id: 8 },
            Entry::Session { user: user(1), name: "Alice".into() },
            Entry::Forget(user(2)),
            Entry::IdsAbove(41),
            entry(
                room(),
                9,
                Body::Moderation(Box::new(Notice {
                    action: crate::chat::entry::Action::Ban,
                    whom: user(2),
                    whom_name: "bob".into(),
                    reason: "spam".into(),
                    until: Some(1_800_000_000_000),
                    target: None,
                })),
            ),
            Entry::Sanction(Sanction::Unban { user: user(2) }),
            Entry::Sanction(Sanction::Mute(crate::chat::sanctions::Mute {
                room: RoomName::parse("general").unwrap(),
                user: user(2),
                name: "bob".into(),
                until: None,
                reason: String::new(),
                by: "carol".into(),
            })),
        ];
        for entry in entries {
            assert_eq!(decode(&encode(&entry)), Some(entry));
        }
        assert_eq!(decode(br#"{"kind":"later","x":1}"#), None);
        assert_eq!(decode(br#"{"kind":"chat","room":"No Room","id":1}"#), None);
        assert_eq!(
            decode(br#"{"kind":"edit","id":2,"target":1,"user":"BAAAAAAAAAAAAAAA","name":"a","ts":"t"}"#),
            None,
            "an edit without its room or person"
        );
    }
}
