//! The consumer tasks: both topics, read from the offsets start-up chose, to the broadcaster.
//!
//! Each topic is read by its own task over its own connection, so that the presence topic's long
//! poll never delays a chat record. Chat records go through [`Dedup`] first: the records before
//! the history's start only teach it the uids (see `dedup.rs`), the others are delivered unless
//! they are a retried copy.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Sender, TrySendError};
use log::warn;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::Record;
use super::dedup::Dedup;
use crate::broadcaster::Event;
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
    events: Sender<Event>,
    metrics: Arc<Metrics>,
) {
    let mut dedup = Dedup::default();
    let mut offset = from.read_from;
    loop {
        for fetched in fetch(&client, &mut offset, CHAT_WAIT, &metrics).await {
            let Some(record) = decode(&fetched) else { continue };
            let Record::Chat { name, text, ts, uid, .. } = record else { continue };
            let first = uid.is_none_or(|uid| dedup.first_time(fetched.offset, uid));
            if !first || fetched.offset < from.deliver_from {
                continue;
            }
            let id = u64::try_from(fetched.offset).unwrap_or(0);
            if !hand_over(&events, Event::Chat { id: Some(id), name, text, ts }).await {
                return;
            }
        }
    }
}

/// Reads the presence topic forever, handing the other instances' rosters to the broadcaster.
pub async fn presence(
    client: PartitionClient,
    from: i64,
    me: String,
    events: Sender<Event>,
    metrics: Arc<Metrics>,
) {
    let mut offset = from;
    loop {
        for fetched in fetch(&client, &mut offset, PRESENCE_WAIT, &metrics).await {
            let Some(Record::Roster { instance, users, at }) = decode(&fetched) else { continue };
            if instance != me
                && !hand_over(&events, Event::Roster { instance, users, at_millis: at }).await
            {
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
async fn hand_over(events: &Sender<Event>, mut event: Event) -> bool {
    loop {
        match events.try_send(event) {
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
/// A fetch not answered within this time is abandoned and sent again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes per fetch at most.
const MAX_FETCH_BYTES: i32 = 1 << 20;
/// Pause after a failed fetch.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause while the broadcaster's channel is full.
const RETRY_FULL: Duration = Duration::from_millis(1);
