//! The chat topic: every room message and private message, in its conversation's partition, so
//! that every instance shows each conversation in one order.
//!
//! ```text
//! room "general"   ──partition("general", P)──▶ partition 3 ─┐
//! room "rust"      ──partition("rust", P)─────▶ partition 7 ─┼─ read by every instance,
//! alice ↔ bob      ──partition(their key, P)──▶ partition k ─┘  each partition by its own task
//! ```
//! - **One order per conversation.** A partition is totally ordered, a room lives in exactly one
//!   ([`partition`]: FNV-1a of the name modulo P, the same in every version), a private
//!   conversation too (its [`Pair::key`]), and every instance reads every partition, so each
//!   shows a conversation's messages in one order, with the record's offset as the id. A room's
//!   ids increase but skip the offsets of its partition's other conversations; conversations of
//!   different partitions have no order between them, and need none.
//! - **Producing** ([`KafkaBus::publish`], [`KafkaBus::direct`], called by this instance's
//!   broadcaster, one thread, in the order its connections sent them): the record goes to its
//!   partition's lane (`produce.rs`) with a [`Uid`], this run's producer id and a sequence number,
//!   so that a copy the client's retry appended is delivered once.
//! - **Consuming** ([`consume`]): a chat record goes through its partition's [`Dedup`] first: the
//!   records before the history's start (`history.rs`) only teach it the uids (see `dedup.rs`),
//!   the others are delivered unless they are a retried copy. Its room is checked next: a record
//!   without one was said in `DEFAULT_ROOM` (it was written before rooms), and a record whose
//!   room is not a room name, or not one of this partition, is skipped with a warning: its offset
//!   is no id of that room. A private message of another partition is skipped alike.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use log::warn;
use rskafka::client::partition::PartitionClient;

use super::KafkaBus;
use super::consume::{CHAT_WAIT, fetch, hand_over};
use super::dedup::{Dedup, Uid};
use super::produce::{Kind, Lane};
use super::record::{Change, Record, decode, to_json};
use crate::chat::identity::Pair;
use crate::chat::inbox::{Event, Inbox, Said, Source};
use crate::chat::post::Origin;
use crate::chat::protocol::{Body, Chat, Place};
use crate::chat::room::{RoomName, partition};
use crate::chat::session::UserId;
use crate::metrics::Metrics;

impl KafkaBus {
    /// Produces a chat message (or a change) to its room's partition; what became of it reaches
    /// its `origin` (`produce.rs`).
    pub fn publish(&self, room: &RoomName, said: Said, origin: Origin) {
        let Said { user, name, body, ts } = said;
        let (instance, uid) = (self.instance.clone(), self.next_uid());
        let record = match *body {
            Body::Moderation(notice) => Record::Moderation {
                room: room.to_string(),
                user: user.to_text(),
                name,
                ts,
                instance,
                uid,
                notice: *notice,
            },
            Body::Message { text, reply_to } => Record::Chat {
                room: Some(room.to_string()),
                user: Some(user.to_text()),
                name,
                text,
                ts,
                instance,
                uid: Some(uid),
                reply_to,
            },
            change => {
                let (room, to_user, to) = (Some(room.to_string()), None, None);
                let (user, name) = (user.to_text(), name);
                let fields = Change {
                    room,
                    to_user,
                    to,
                    target: 0,
                    user,
                    name,
                    text: None,
                    emoji: None,
                    on: None,
                    ts,
                    instance,
                    uid,
                };
                change_record(fields, change)
            }
        };
        let lane = Lane::Chat(partition(room.as_str(), self.partitions));
        let kind = Kind::Chat { origin, room: Some(room.clone()) };
        self.queue.push(lane, kind, None, to_json(&record));
    }

    /// Produces a private message (or a change) to its conversation's partition; what became
    /// of it reaches its `origin`.
    pub fn direct(&self, chat: &Chat, origin: Origin) {
        let Place::Direct { to, to_user } = &chat.place else { return };
        let (instance, uid) = (self.instance.clone(), self.next_uid());
        let record = match &chat.body {
            Body::Message { text, reply_to } => Record::Dm {
                user: chat.user.to_text(),
                name: chat.name.clone(),
                to_user: to_user.to_text(),
                to: to.clone(),
                text: text.clone(),
                ts: chat.ts.clone(),
                instance,
                uid,
                reply_to: *reply_to,
            },
            change => {
                let fields = Change {
                    room: None,
                    to_user: Some(to_user.to_text()),
                    to: Some(to.clone()),
                    target: 0,
                    user: chat.user.to_text(),
                    name: chat.name.clone(),
                    text: None,
                    emoji: None,
                    on: None,
                    ts: chat.ts.clone(),
                    instance,
                    uid,
                };
                change_record(fields, change.clone())
            }
        };
        let key = Pair::new(chat.user, *to_user).key();
        let lane = Lane::Chat(partition(&key, self.partitions));
        let kind = Kind::Chat { origin, room: None };
        self.queue.push(lane, kind, None, to_json(&record));
    }

    /// A new uid for a record of this run.
    fn next_uid(&self) -> Uid {
        [self.producer, self.next_seq.fetch_add(1, Ordering::Relaxed)]
    }
}

/// The record of a change: `fields` with the change's own (its target, text, emoji).
fn change_record(mut fields: Change, change: Body) -> Record {
    fields.target = change.target().unwrap_or(0);
    match change {
        Body::Edit { text, .. } => {
            fields.text = Some(text);
            Record::Edit(fields)
        }
        Body::React { emoji, on, .. } => {
            (fields.emoji, fields.on) = (Some(emoji), Some(on));
            Record::React(fields)
        }
        _ => Record::Delete(fields),
    }
}

/// The body a change record carries; `None` when a field it needs is missing.
fn change_body(record: &Record) -> Option<Body> {
    Some(match record {
        Record::Edit(c) => Body::Edit { target: c.target, text: c.text.clone()? },
        Record::Delete(c) => Body::Delete { target: c.target },
        Record::React(c) => Body::React { target: c.target, emoji: c.emoji.clone()?, on: c.on? },
        _ => return None,
    })
}

/// Where a chat partition's consumer starts, and from which offset its records are delivered.
pub struct ChatFrom {
    /// The first offset read (up to [`WINDOW`](super::dedup::WINDOW) before `deliver_from`).
    pub read_from: i64,
    /// The first offset handed to the broadcaster: the histories' start.
    pub deliver_from: i64,
    /// The end of the partition at start: once the records before it are handed over, its
    /// history is read back ([`Metrics::history_read_back`]); `None` when it had none to read.
    pub read_back_at: Option<i64>,
}

/// Which rooms a chat partition may carry.
pub struct Rooms {
    /// The partition read.
    pub partition: u32,
    /// The topic's partition count.
    pub partitions: u32,
    /// The room of records written before rooms.
    pub default_room: RoomName,
}

/// Reads one chat partition forever, handing each message to the broadcaster with its offset as
/// id.
pub async fn consume(
    client: PartitionClient,
    from: ChatFrom,
    rooms: Rooms,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    let mut offset = from.read_from;
    let mut chat = ChatRecords { dedup: Dedup::default(), deliver_from: from.deliver_from, rooms };
    let mut read_back_at = from.read_back_at;
    loop {
        for fetched in fetch(&client, &mut offset, CHAT_WAIT, &metrics).await {
            let Some(event) = decode(&fetched).and_then(|r| chat.event(fetched.offset, r)) else {
                continue;
            };
            if !hand_over(&inbox, event).await {
                return;
            }
        }
        if read_back_at.is_some_and(|end| offset >= end) {
            read_back_at = None;
            metrics.history_read_back();
        }
    }
}

/// What a chat partition's consumer makes of each record, in offset order.
struct ChatRecords {
    dedup: Dedup,
    deliver_from: i64,
    rooms: Rooms,
}

impl ChatRecords {
    /// The event for the record at `offset`; none for a retried copy, for a record before the
    /// history's start (it only teaches [`Dedup`] its uid), for one of a room that is not this
    /// partition's, and for anything but a chat message.
    fn event(&mut self, offset: i64, record: Record) -> Option<Event> {
        let uid = match &record {
            Record::Chat { uid, .. } => *uid,
            Record::Dm { uid, .. } => Some(*uid),
            Record::Edit(c) | Record::Delete(c) | Record::React(c) => Some(c.uid),
            Record::Moderation { uid, .. } => Some(*uid),
            _ => return None,
        };
        let first = uid.is_none_or(|uid| self.dedup.first_time(offset, uid));
        if !first || offset < self.deliver_from {
            return None;
        }
        let id = u64::try_from(offset).ok()?;
        match record {
            Record::Chat { room, user, name, text, ts, reply_to, .. } => {
                let room = self.room(offset, room.as_deref())?;
                let user = user.as_deref().and_then(UserId::parse).unwrap_or(UserId::NOBODY);
                let body = Box::new(Body::Message { text, reply_to });
                Some(Event::Chat {
                    from: Source::Bus { id },
                    room,
                    said: Said { user, name, body, ts },
                })
            }
            Record::Edit(_) | Record::Delete(_) | Record::React(_) => {
                let Some(body) = change_body(&record) else {
                    warn!("kafka: skipping record {offset}: a change without its fields");
                    return None;
                };
                let (Record::Edit(c) | Record::Delete(c) | Record::React(c)) = record else {
                    return None;
                };
                let Some(user) = UserId::parse(&c.user) else {
                    warn!("kafka: skipping record {offset}: a change without a user id");
                    return None;
                };
                if let Some(room) = c.room {
                    let room = self.room(offset, Some(&room))?;
                    let said = Said { user, name: c.name, body: Box::new(body), ts: c.ts };
                    return Some(Event::Chat { from: Source::Bus { id }, room, said });
                }
                let (Some(to_user), Some(to)) =
                    (c.to_user.as_deref().and_then(UserId::parse), c.to)
                else {
                    warn!(
                        "kafka: skipping record {offset}: a change with no room and no recipient"
                    );
                    return None;
                };
                if !self.carries(&Pair::new(user, to_user).key()) {
                    warn!("kafka: skipping record {offset}: a private change of another partition");
                    return None;
                }
                let place = Place::Direct { to, to_user };
                let chat = Chat { place, id, user, name: c.name, ts: c.ts, body };
                Some(Event::DirectRecord { id, chat: Box::new(chat) })
            }
            Record::Moderation { room, user, name, ts, notice, .. } => {
                let room = self.room(offset, Some(&room))?;
                let Some(user) = UserId::parse(&user) else {
                    warn!("kafka: skipping record {offset}: a moderation without a user id");
                    return None;
                };
                let body = Box::new(Body::Moderation(Box::new(notice)));
                let said = Said { user, name, body, ts };
                Some(Event::Chat { from: Source::Bus { id }, room, said })
            }
            Record::Dm { user, name, to_user, to, text, ts, reply_to, .. } => {
                let (Some(user), Some(to_user)) = (UserId::parse(&user), UserId::parse(&to_user))
                else {
                    warn!("kafka: skipping record {offset}: a private message without user ids");
                    return None;
                };
                if !self.carries(&Pair::new(user, to_user).key()) {
                    warn!(
                        "kafka: skipping record {offset}: a private message of another partition"
                    );
                    return None;
                }
                let place = Place::Direct { to, to_user };
                let body = Body::Message { text, reply_to };
                let chat = Chat { place, id, user, name, ts, body };
                Some(Event::DirectRecord { id, chat: Box::new(chat) })
            }
            _ => None,
        }
    }

    /// True when the conversation or room with this key lives in this partition.
    fn carries(&self, key: &str) -> bool {
        partition(key, self.rooms.partitions) == self.rooms.partition
    }

    /// The room of the record at `offset`, if it is a room this partition carries.
    fn room(&self, offset: i64, raw: Option<&str>) -> Option<RoomName> {
        let Rooms { partition: this, partitions, default_room } = &self.rooms;
        let Some(room) = raw.map_or_else(|| Some(default_room.clone()), RoomName::parse) else {
            warn!("kafka: skipping record {offset} of partition {this}: bad room name {raw:?}");
            return None;
        };
        let home = partition(room.as_str(), *partitions);
        if home != *this {
            warn!("kafka: skipping record {offset} of partition {this}: room {room} is on {home}");
            return None;
        }
        Some(room)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn chat(text: &str, uid: Option<[u64; 2]>) -> Record {
        chat_in(None, text, uid)
    }

    fn chat_in(room: Option<&str>, text: &str, uid: Option<[u64; 2]>) -> Record {
        let (name, ts, instance) = ("alice".into(), "t".into(), "ws1".into());
        let (room, user) = (room.map(String::from), None);
        Record::Chat { room, user, name, text: text.into(), ts, instance, uid, reply_to: None }
    }

    /// The consumer of partition 3 of 8, `general`'s (see `chat/room.rs`).
    fn partition_of_general(deliver_from: i64) -> ChatRecords {
        let rooms = Rooms { partition: 3, partitions: 8, default_room: room("general") };
        ChatRecords { dedup: Dedup::default(), deliver_from, rooms }
    }

    fn delivered(records: &mut ChatRecords, offset: i64, record: Record) -> Option<(u64, String)> {
        match records.event(offset, record)? {
            Event::Chat { from: Source::Bus { id }, said, .. } => {
                Some((id, said.body.words().unwrap_or_default().to_string()))
            }
            _ => None,
        }
    }

    #[test]
    fn a_copy_of_a_record_from_before_the_history_is_not_delivered() {
        let mut records = partition_of_general(100);
        assert_eq!(delivered(&mut records, 98, chat("hello", Some([1, 7]))), None);
        assert_eq!(delivered(&mut records, 99, chat("other", Some([2, 1]))), None);
        assert_eq!(delivered(&mut records, 100, chat("hello", Some([1, 7]))), None, "its copy");
        assert_eq!(
            delivered(&mut records, 101, chat("next", Some([1, 8]))),
            Some((101, "next".to_string()))
        );
        assert_eq!(delivered(&mut records, 102, chat("next", Some([1, 8]))), None, "its copy");
    }

    #[test]
    fn records_without_a_uid_and_markers() {
        let mut records = partition_of_general(0);
        let marker = Record::Epoch { epoch: "e".into() };
        assert_eq!(delivered(&mut records, 0, marker), None);
        // Records written before uids existed are delivered as they come, even alike.
        assert_eq!(delivered(&mut records, 1, chat("old", None)), Some((1, "old".into())));
        assert_eq!(delivered(&mut records, 2, chat("old", None)), Some((2, "old".into())));
    }

    #[test]
    fn a_record_from_before_rooms_was_said_in_the_default_room() {
        let mut records = partition_of_general(0);
        let Some(Event::Chat { room, from, .. }) = records.event(5, chat("old", None)) else {
            panic!("not delivered");
        };
        assert_eq!((room.as_str(), from), ("general", Source::Bus { id: 5 }));
    }

    #[test]
    fn records_of_bad_rooms_or_of_another_partition_are_skipped() {
        let mut records = partition_of_general(0);
        // `rust` is on partition 7: its offsets here are no ids of it.
        assert_eq!(delivered(&mut records, 1, chat_in(Some("rust"), "x", None)), None);
        assert_eq!(delivered(&mut records, 2, chat_in(Some("no room"), "x", None)), None);
        assert_eq!(delivered(&mut records, 3, chat_in(Some(""), "x", None)), None);
        let Some(Event::Chat { room, .. }) = records.event(4, chat_in(Some("general"), "x", None))
        else {
            panic!("not delivered");
        };
        assert_eq!(room.as_str(), "general");
    }
}
