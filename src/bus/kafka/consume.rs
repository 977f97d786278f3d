//! Reading a partition: the fetch loop every consumer task runs, and the hand-off of what it
//! reads to the broadcaster.
//!
//! Each partition is read by its own task over its own connection, so that no partition's held
//! fetch (nor the presence topic's longer one) delays another's record. A task asks the broker
//! for the records after the last it got ([`fetch`]); the broker holds the fetch for a moment when
//! there is nothing new, which is how a task waits. What a record means is the business of its
//! topic's file: `messages.rs` (the chat topic: [`Dedup`](super::dedup::Dedup), room checks,
//! offsets as ids), `presence.rs` (rosters and typing), `claims.rs` (nickname claims) and
//! `reads.rs` (read markers). Each
//! hands its events over with [`hand_over`], which never blocks the runtime: the producer tasks
//! share its thread.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::TrySendError;
use log::warn;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient};
use rskafka::record::RecordAndOffset;

use super::record::{Record, decode};
use crate::chat::inbox::{Event, Inbox};
use crate::metrics::Metrics;

/// Reads a topic of one partition forever from `from`, handing the broadcaster what `event`
/// makes of each record; returns when the broadcaster is gone.
pub async fn follow(
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

/// What the consumer of a topic of one partition (the claims topic, the reads topic) makes of
/// each of its records.
pub trait Records {
    /// The topic, as errors name it (`"the claims"`).
    const WHAT: &'static str;

    /// The event for `record`; none for a record this consumer skips.
    fn event(&self, record: Record) -> Option<Event>;
}

/// Reads a topic of one partition forever from `from`, handing the broadcaster the events
/// `records` makes; returns when the broadcaster is gone.
pub async fn consume<R: Records>(
    client: PartitionClient,
    from: i64,
    records: R,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    follow(client, from, inbox, metrics, |fetched| decode(fetched).and_then(|r| records.event(r)))
        .await;
}

/// The events `records` makes of the records from `from` up to `to` (the end of the topic at
/// start), read before anyone is served.
pub async fn recall<R: Records>(
    records: &R,
    client: &PartitionClient,
    from: i64,
    to: i64,
) -> Result<Vec<Event>, crate::error::Error> {
    let what = format!("reading back {}", R::WHAT);
    read_back(client, from, to, &what, |r| records.event(decode(r)?)).await
}

/// The events `event` makes of the records of a topic of one partition from `from` up to `to`
/// (the end of the topic at start), read before anyone is served; `what` names the topic in
/// errors.
async fn read_back(
    client: &PartitionClient,
    from: i64,
    to: i64,
    what: &str,
    event: impl Fn(&RecordAndOffset) -> Option<Event>,
) -> Result<Vec<Event>, crate::error::Error> {
    let mut events = Vec::new();
    let mut offset = from;
    while offset < to {
        let read = client.fetch_records(offset, 1..MAX_FETCH_BYTES, READ_BACK_WAIT);
        let (records, _high) = super::connect::within(what, read).await?;
        let Some(last) = records.last() else { break };
        offset = last.offset + 1;
        events.extend(records.iter().filter(|r| r.offset < to).filter_map(&event));
    }
    Ok(events)
}

/// How long (ms) the broker may hold a read-back fetch. The records are there, so it answers at
/// once; but a fetch that may not wait at all went unanswered by tansu.
const READ_BACK_WAIT: i32 = 1000;

/// One fetch from `offset` on, which the broker holds up to `wait` when there is nothing new;
/// moves `offset` past what it returns. Errors are reported to `/healthz` and answered with an
/// empty batch after a pause.
pub async fn fetch(
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

/// Gives an event to the broadcaster; while its channel is full, waits without blocking the
/// runtime's other tasks (the producer among them). False once the broadcaster has stopped.
pub async fn hand_over(inbox: &Inbox, mut event: Event) -> bool {
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
pub const CHAT_WAIT: Duration = Duration::from_millis(10);
/// The same for the topics of one partition read by [`follow`], presence (which announces at
/// most every 250 ms anyway) and claims.
const PRESENCE_WAIT: Duration = Duration::from_millis(100);
/// A fetch not answered within this time is abandoned and sent again.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes per fetch at most.
pub const MAX_FETCH_BYTES: i32 = 1 << 20;
/// Pause after a failed fetch.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Pause while the broadcaster's channel is full.
const RETRY_FULL: Duration = Duration::from_millis(1);
