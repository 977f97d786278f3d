//! The consumer tasks: both topics, read from the offsets start-up chose, to the broadcaster.
//!
//! Each topic is read by its own task over its own connection, so that the presence topic's long
//! poll never delays a chat record. Chat records go through [`Dedup`] first: the records before
//! the history's start only teach it the uids (see `dedup.rs`), the others are delivered unless
//! they are a retried copy.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::TrySendError;
use log::warn;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::Record;
use super::dedup::Dedup;
use crate::chat::inbox::{Event, Inbox};
use crate::chat::presence::now_millis;
use crate::chat::room::RoomName;
use crate::metrics::Metrics;

/// Where the chat consumer starts, and from which offset its records are delivered.
pub struct ChatFrom {
    /// The first offset read (up to [`WINDOW`](super::dedup::WINDOW) before `deliver_from`).
    pub read_from: i64,
    /// The first offset handed to the broadcaster: the history's start.
    pub deliver_from: i64,
}

/// Reads the chat topic forever, handing each message to the broadcaster with its offset as id.
pub async fn chat(
    client: PartitionClient,
    from: ChatFrom,
    default_room: RoomName,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    let mut offset = from.read_from;
    let mut chat =
        ChatRecords { dedup: Dedup::default(), deliver_from: from.deliver_from, default_room };
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

/// What the chat consumer makes of each record, in offset order.
struct ChatRecords {
    dedup: Dedup,
    deliver_from: i64,
    /// The room of records written before rooms existed.
    default_room: RoomName,
}

impl ChatRecords {
    /// The event for the record at `offset`; none for a retried copy, for a record before the
    /// history's start (it only teaches [`Dedup`] its uid) and for anything but a chat message.
    fn event(&mut self, offset: i64, record: Record) -> Option<Event> {
        let Record::Chat { room, name, text, ts, uid, .. } = record else { return None };
        let first = uid.is_none_or(|uid| self.dedup.first_time(offset, uid));
        if !first || offset < self.deliver_from {
            return None;
        }
        let room = match room {
            None => self.default_room.clone(),
            Some(raw) => RoomName::parse(&raw)?,
        };
        let id = u64::try_from(offset).ok()?;
        Some(Event::Chat { id: Some(id), room, name, text, ts })
    }
}

/// Reads the presence topic forever, handing the other instances' rosters to the broadcaster.
pub async fn presence(
    client: PartitionClient,
    from: i64,
    me: String,
    default_room: RoomName,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    let mut offset = from;
    loop {
        for fetched in fetch(&client, &mut offset, PRESENCE_WAIT, &metrics).await {
            let event = match decode(&fetched) {
                Some(Record::Roster { instance, rooms, users, at }) if instance != me => {
                    let mut rooms: Vec<(RoomName, Vec<String>)> = rooms
                        .into_iter()
                        .filter_map(|(room, users)| Some((RoomName::parse(&room)?, users)))
                        .collect();
                    if !users.is_empty() {
                        rooms.push((default_room.clone(), users));
                    }
                    Event::Roster { instance, rooms, at_millis: at }
                }
                Some(Record::Typing { instance, conn, room, name, at })
                    if now_millis().saturating_sub(at) < TYPING_FRESH_MS =>
                {
                    let Some(room) = RoomName::parse(&room) else { continue };
                    let from = (instance == me).then_some(conn);
                    Event::Typing { room, name, from }
                }
                _ => continue,
            };
            if !hand_over(&inbox, event).await {
                return;
            }
        }
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
    metrics.set_bus_problem(Some(problem));
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

/// Typing records older than this (read back at start) are not delivered.
const TYPING_FRESH_MS: u64 = 5_000;
/// How long the broker holds a chat fetch that finds nothing new. Short, as not every broker
/// answers a held fetch as soon as a record arrives (librdkafka was set to the same 10 ms).
const CHAT_WAIT: Duration = Duration::from_millis(10);
/// The same for presence, which announces at most every 250 ms anyway.
const PRESENCE_WAIT: Duration = Duration::from_millis(100);
/// A fetch not answered within this time is abandoned and sent again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes per fetch at most.
const MAX_FETCH_BYTES: i32 = 1 << 20;
/// Pause after a failed fetch.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause while the broadcaster's channel is full.
const RETRY_FULL: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    fn general() -> RoomName {
        RoomName::parse("general").unwrap()
    }

    fn chat(text: &str, uid: Option<[u64; 2]>) -> Record {
        let (name, ts, instance) = ("alice".into(), "t".into(), "ws1".into());
        Record::Chat { room: None, name, text: text.into(), ts, instance, uid }
    }

    fn delivered(records: &mut ChatRecords, offset: i64, record: Record) -> Option<(u64, String)> {
        match records.event(offset, record)? {
            Event::Chat { id, text, .. } => Some((id?, text)),
            _ => None,
        }
    }

    #[test]
    fn a_copy_of_a_record_from_before_the_history_is_not_delivered() {
        let mut records =
            ChatRecords { dedup: Dedup::default(), deliver_from: 100, default_room: general() };
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
        let mut records =
            ChatRecords { dedup: Dedup::default(), deliver_from: 0, default_room: general() };
        let marker = Record::Epoch { epoch: "e".into() };
        assert_eq!(delivered(&mut records, 0, marker), None);
        // Records written before uids existed are delivered as they come, even alike.
        assert_eq!(delivered(&mut records, 1, chat("old", None)), Some((1, "old".into())));
        assert_eq!(delivered(&mut records, 2, chat("old", None)), Some((2, "old".into())));
    }
}
