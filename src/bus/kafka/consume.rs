//! The consumer tasks: every chat partition, the presence topic and the claims topic, read from
//! the offsets start-up chose, to the broadcaster.
//!
//! Each partition is read by its own task over its own connection, so that no partition's held
//! fetch (nor the presence topic's longer one) delays another's record. A chat record goes
//! through its partition's [`Dedup`] first: the records before the history's start only teach it
//! the uids (see `dedup.rs`), the others are delivered unless they are a retried copy. Its room
//! is checked next: a record without one was said in `DEFAULT_ROOM` (it was written before rooms),
//! and a record whose room is not a room name, or not one of this partition, is skipped with a
//! warning: its offset is no id of that room.
//!
//! The presence topic carries rosters and typing indicators. Our own rosters are skipped (the
//! broadcaster knows its own users), our own typing is not: it reaches this instance's other
//! members of the room the same way it reaches everyone else, with `from` naming the connection
//! that typed so that it does not hear itself.
//!
//! The claims topic carries nickname claims and releases. Every instance hands all of them to its
//! broadcaster, its own too (marked `ours`): the order of the topic decides who holds a name, so
//! the claimer learns whether it won the same way as everyone else. Start-up reads the topic back
//! first ([`ClaimRecords::read_back`]), before anyone is served.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::TrySendError;
use log::warn;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::dedup::Dedup;
use super::{Record, within};
use crate::chat::identity::{Claim, Pair};
use crate::chat::inbox::{Event, From, Inbox, Said};
use crate::chat::presence::now_millis;
use crate::chat::protocol::{Chat, Place};
use crate::chat::room::{RoomName, partition};
use crate::chat::session::UserId;
use crate::error::Error;
use crate::metrics::Metrics;

/// Where a chat partition's consumer starts, and from which offset its records are delivered.
pub struct ChatFrom {
    /// The first offset read (up to [`WINDOW`](super::dedup::WINDOW) before `deliver_from`).
    pub read_from: i64,
    /// The first offset handed to the broadcaster: the histories' start.
    pub deliver_from: i64,
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
pub async fn chat(
    client: PartitionClient,
    from: ChatFrom,
    rooms: Rooms,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    let mut offset = from.read_from;
    let mut chat = ChatRecords { dedup: Dedup::default(), deliver_from: from.deliver_from, rooms };
    loop {
        for fetched in fetch(&client, &mut offset, CHAT_WAIT, &metrics).await {
            let Some(event) = decode(&fetched).and_then(|r| chat.event(fetched.offset, r)) else {
                continue;
            };
            if !hand_over(&inbox, event).await {
                return;
            }
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
            _ => return None,
        };
        let first = uid.is_none_or(|uid| self.dedup.first_time(offset, uid));
        if !first || offset < self.deliver_from {
            return None;
        }
        let id = u64::try_from(offset).ok()?;
        match record {
            Record::Chat { room, user, name, text, ts, .. } => {
                let room = self.room(offset, room.as_deref())?;
                let user = user.as_deref().and_then(UserId::parse).unwrap_or(UserId::NOBODY);
                Some(Event::Chat {
                    from: From::Bus { id },
                    room,
                    said: Said { user, name, text, ts },
                })
            }
            Record::Dm { user, name, to_user, to, text, ts, .. } => {
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
                let chat = Chat { place, id, user, name, text, ts };
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

/// Reads the presence topic forever, handing rosters and typing indicators to the broadcaster.
pub async fn presence(
    client: PartitionClient,
    from: i64,
    records: PresenceRecords,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    follow(client, from, inbox, metrics, |fetched| {
        if records.is_our_roster(fetched) {
            return None; // the biggest record there, and not news to us: not even decoded
        }
        decode(fetched).and_then(|r| records.event(r, now_millis()))
    })
    .await;
}

/// Reads a topic of one partition forever from `from`, handing the broadcaster what `event`
/// makes of each record; returns when the broadcaster is gone.
async fn follow(
    client: PartitionClient,
    from: i64,
    inbox: Inbox,
    metrics: Arc<Metrics>,
    event: impl Fn(&RecordAndOffset) -> Option<Event>,
) {
    let mut offset = from;
    loop {
        for fetched in fetch(&client, &mut offset, PRESENCE_WAIT, &metrics).await {
            let Some(event) = event(&fetched) else { continue };
            if !hand_over(&inbox, event).await {
                return;
            }
        }
    }
}

/// What the presence consumer makes of each record.
pub struct PresenceRecords {
    /// This instance's id.
    pub me: String,
    /// The room of rosters written before rooms.
    pub default_room: RoomName,
}

impl PresenceRecords {
    /// True for one of our own rosters (keyed by our instance id, written with its kind first),
    /// told apart without decoding it.
    fn is_our_roster(&self, fetched: &RecordAndOffset) -> bool {
        let record = &fetched.record;
        record.key.as_deref() == Some(self.me.as_bytes())
            && record.value.as_deref().is_some_and(|v| v.starts_with(br#"{"kind":"roster""#))
    }

    /// The event for a record read at `now` (ms since 1970): another instance's roster, or a
    /// typing indicator younger than [`TYPING_MAX_AGE`].
    fn event(&self, record: Record, now: u64) -> Option<Event> {
        match record {
            Record::Roster { instance, .. } if instance == self.me => None,
            Record::Roster { instance, rooms, users, sessions, at } => {
                let sessions = sessions.unwrap_or_default();
                let sessions = sessions.iter().filter_map(|user| UserId::parse(user)).collect();
                let rooms = match (rooms, users) {
                    (Some(rooms), _) => rooms
                        .into_iter()
                        .filter_map(|(raw, users)| Some((self.room(&instance, &raw)?, users)))
                        .collect(),
                    (None, Some(users)) => vec![(self.default_room.clone(), users)],
                    (None, None) => Vec::new(),
                };
                Some(Event::Roster { instance, rooms, at_millis: at, sessions })
            }
            Record::Typing { instance, conn, room, user, name, at } => {
                if now.saturating_sub(at) > TYPING_MAX_AGE.as_millis() as u64 {
                    return None; // stale: read back at start, or delayed by the broker
                }
                let room = self.room(&instance, &room)?;
                let from = (instance == self.me).then_some(conn);
                let user = user.as_deref().and_then(UserId::parse).unwrap_or(UserId::NOBODY);
                Some(Event::Typing { room, user, name, from })
            }
            Record::Epoch { .. } | Record::Chat { .. } | Record::Dm { .. } => None,
            Record::Claim { .. } | Record::Release { .. } => None,
        }
    }

    fn room(&self, instance: &str, raw: &str) -> Option<RoomName> {
        let room = RoomName::parse(raw);
        if room.is_none() {
            warn!("kafka: skipping presence of {instance} in {raw:?}: not a room name");
        }
        room
    }
}

/// Reads the claims topic forever, handing claims and releases to the broadcaster.
pub async fn claims(
    client: PartitionClient,
    from: i64,
    records: ClaimRecords,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    follow(client, from, inbox, metrics, |fetched| decode(fetched).and_then(|r| records.event(r)))
        .await;
}

/// What the claims consumer makes of each record.
pub struct ClaimRecords {
    /// This instance's id: its own claims are marked `ours`.
    pub me: String,
}

impl ClaimRecords {
    /// The event for a claim or a release; none for anything else, or without a user id.
    fn event(&self, record: Record) -> Option<Event> {
        match record {
            Record::Claim { user, name, instance, .. } => {
                let user = UserId::parse(&user)?;
                Some(Event::Claim(Claim { user, name, ours: instance == self.me }))
            }
            Record::Release { user, name, .. } => {
                Some(Event::Release { user: UserId::parse(&user)?, name })
            }
            _ => None,
        }
    }

    /// The events of the records from `from` up to `to` (the end of the topic at start), read
    /// before anyone is served.
    pub async fn read_back(
        &self,
        client: &PartitionClient,
        from: i64,
        to: i64,
    ) -> Result<Vec<Event>, Error> {
        let mut events = Vec::new();
        let mut offset = from;
        while offset < to {
            let read = client.fetch_records(offset, 1..MAX_FETCH_BYTES, READ_BACK_WAIT);
            let (records, _high) = within("reading back the claims", read).await?;
            let Some(last) = records.last() else { break };
            offset = last.offset + 1;
            let before_end = records.iter().filter(|r| r.offset < to);
            events.extend(before_end.filter_map(|r| self.event(decode(r)?)));
        }
        Ok(events)
    }
}

/// One fetch from `offset` on, which the broker holds up to `wait` when there is nothing new;
/// moves `offset` past what it returns. Errors are reported to `/healthz` and answered with an
/// empty batch after a pause.
async fn fetch(
    client: &PartitionClient,
    offset: &mut i64,
    wait: Duration,
    metrics: &Metrics,
) -> Vec<RecordAndOffset> {
    let request = client.fetch_records(*offset, 1..MAX_FETCH_BYTES, wait.as_millis() as i32);
    let problem = match tokio::time::timeout(FETCH_TIMEOUT, request).await {
        Ok(Ok((records, _high))) => {
            if let Some(last) = records.last() {
                *offset = last.offset + 1;
            }
            return records;
        }
        Ok(Err(ClientError::ServerError {
            protocol_error: ProtocolError::OffsetOutOfRange,
            ..
        })) => {
            // Retention removed what we were about to read: go on from the oldest record kept.
            match client.get_offset(OffsetAt::Earliest).await {
                Ok(earliest) if earliest > *offset => {
                    warn!("kafka: records {}..{earliest} of {} are gone", *offset, client.topic());
                    *offset = earliest;
                    return Vec::new();
                }
                _ => format!("kafka: offset {} of {} is out of range", *offset, client.topic()),
            }
        }
        Ok(Err(e)) => format!("kafka: {e}"),
        Err(_) => return Vec::new(), // the broker may be stalled; the probe reports that
    };
    metrics.set_problem(Some(problem));
    tokio::time::sleep(RETRY_PAUSE).await;
    Vec::new()
}

fn decode(fetched: &RecordAndOffset) -> Option<Record> {
    let value = fetched.record.value.as_deref()?;
    serde_json::from_slice(value)
        .inspect_err(|e| warn!("kafka: skipping record {}: {e}", fetched.offset))
        .ok()
}

/// Gives an event to the broadcaster; while its channel is full, waits without blocking the
/// runtime's other tasks (the producer among them). False once the broadcaster has stopped.
async fn hand_over(inbox: &Inbox, mut event: Event) -> bool {
    loop {
        match inbox.relay(event) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full(back)) => {
                event = back;
                tokio::time::sleep(RETRY_FULL).await;
            }
        }
    }
}

/// How long the broker holds a chat fetch that finds nothing new. Short, as not every broker
/// answers a held fetch as soon as a record arrives (librdkafka was set to the same 10 ms).
const CHAT_WAIT: Duration = Duration::from_millis(10);
/// The same for presence, which announces at most every 250 ms anyway.
const PRESENCE_WAIT: Duration = Duration::from_millis(100);
/// A typing indicator older than this is not shown (the page shows one for 3 s).
const TYPING_MAX_AGE: Duration = Duration::from_secs(5);
/// A fetch not answered within this time is abandoned and sent again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long (ms) the broker may hold a read-back fetch. The records are there, so it answers at
/// once; but a fetch that may not wait at all went unanswered by tansu.
const READ_BACK_WAIT: i32 = 1000;
/// Bytes per fetch at most.
const MAX_FETCH_BYTES: i32 = 1 << 20;
/// Pause after a failed fetch.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause while the broadcaster's channel is full.
const RETRY_FULL: Duration = Duration::from_millis(1);

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
        Record::Chat { room, user, name, text: text.into(), ts, instance, uid }
    }

    /// The consumer of partition 3 of 8, `general`'s (see `chat/room.rs`).
    fn partition_of_general(deliver_from: i64) -> ChatRecords {
        let rooms = Rooms { partition: 3, partitions: 8, default_room: room("general") };
        ChatRecords { dedup: Dedup::default(), deliver_from, rooms }
    }

    fn delivered(records: &mut ChatRecords, offset: i64, record: Record) -> Option<(u64, String)> {
        match records.event(offset, record)? {
            Event::Chat { from: From::Bus { id }, said, .. } => Some((id, said.text)),
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
        assert_eq!((room.as_str(), from), ("general", From::Bus { id: 5 }));
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

    fn presence() -> PresenceRecords {
        PresenceRecords { me: "ws1".into(), default_room: room("general") }
    }

    fn parse(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rosters_list_users_per_room_and_old_ones_mean_the_default_room() {
        let now = 1_000_000;
        let new = parse(
            r#"{"kind":"roster","instance":"ws2","rooms":{"general":["alice"],"Bad Room":["x"],"rust":["bob","carol"]},"at":999000}"#,
        );
        let Some(Event::Roster { instance, rooms, at_millis, .. }) = presence().event(new, now)
        else {
            panic!("no roster");
        };
        let expected = vec![
            (room("general"), vec!["alice".to_string()]),
            (room("rust"), vec!["bob".to_string(), "carol".to_string()]),
        ];
        assert_eq!((instance.as_str(), rooms, at_millis), ("ws2", expected, 999_000));

        let old = parse(r#"{"kind":"roster","instance":"ws2","users":["dave"],"at":999000}"#);
        let Some(Event::Roster { rooms, .. }) = presence().event(old, now) else { panic!() };
        assert_eq!(rooms, vec![(room("general"), vec!["dave".to_string()])]);

        let ours = parse(r#"{"kind":"roster","instance":"ws1","rooms":{},"at":999000}"#);
        assert!(presence().event(ours, now).is_none(), "our own roster is skipped");
    }

    #[test]
    fn typing_names_the_connection_only_on_its_own_instance_and_goes_stale() {
        let typing = |instance: &str, at: u64| {
            let room = "rust".to_string();
            let (instance, name, user) = (instance.into(), "alice".into(), None);
            Record::Typing { instance, conn: 17, room, user, name, at }
        };
        let now = 1_000_000;
        let from = |record| match presence().event(record, now) {
            Some(Event::Typing { room, name, from, .. }) => {
                assert_eq!((room.as_str(), name.as_str()), ("rust", "alice"));
                Some(from)
            }
            _ => None,
        };
        assert_eq!(from(typing("ws1", now - 100)), Some(Some(17)), "ours: skip the typer");
        assert_eq!(from(typing("ws2", now - 100)), Some(None), "another instance's");
        assert_eq!(from(typing("ws2", now + 300)), Some(None), "a clock a little ahead");
        assert_eq!(from(typing("ws2", now - 5_001)), None, "stale");
        let bad = Record::Typing {
            instance: "ws2".into(),
            conn: 1,
            room: "a/b".into(),
            user: None,
            name: "x".into(),
            at: now,
        };
        assert_eq!(from(bad), None);
    }

    #[test]
    fn our_own_rosters_are_skipped_undecoded_but_not_our_typing() {
        let fetched = |key: &str, value: &str| RecordAndOffset {
            record: super::super::produce::kafka_record(
                Some(key.as_bytes().to_vec()),
                value.as_bytes().to_vec(),
            ),
            offset: 1,
        };
        let records = presence();
        assert!(records.is_our_roster(&fetched("ws1", r#"{"kind":"roster","instance":"ws1"}"#)));
        assert!(!records.is_our_roster(&fetched("ws2", r#"{"kind":"roster","instance":"ws2"}"#)));
        assert!(!records.is_our_roster(&fetched("ws1", r#"{"kind":"typing","instance":"ws1"}"#)));
    }

    #[test]
    fn claims_are_marked_ours_and_rosters_carry_their_sessions() {
        let records = ClaimRecords { me: "ws1".into() };
        let claim = |instance: &str| {
            let user = "LJgLhthO3_LJUFoX".to_string();
            Record::Claim { user, name: "alice".into(), instance: instance.into(), at: 1 }
        };
        let ours = |record| match records.event(record) {
            Some(Event::Claim(claim)) => Some((claim.name, claim.ours)),
            _ => None,
        };
        assert_eq!(ours(claim("ws1")), Some(("alice".to_string(), true)));
        assert_eq!(ours(claim("ws2")), Some(("alice".to_string(), false)));
        let bad =
            Record::Claim { user: "?".into(), name: "x".into(), instance: "ws2".into(), at: 1 };
        assert_eq!(ours(bad), None, "no user id");
        let release = parse(
            r#"{"kind":"release","user":"LJgLhthO3_LJUFoX","name":"alice","instance":"ws2","at":1}"#,
        );
        assert!(
            matches!(records.event(release), Some(Event::Release { name, .. }) if name == "alice")
        );

        let roster = parse(
            r#"{"kind":"roster","instance":"ws2","rooms":{},"sessions":["LJgLhthO3_LJUFoX","bad"],"at":999000}"#,
        );
        let Some(Event::Roster { sessions, .. }) = presence().event(roster, 1_000_000) else {
            panic!("no roster");
        };
        assert_eq!(sessions, vec![UserId::parse("LJgLhthO3_LJUFoX").unwrap()]);
    }
}
