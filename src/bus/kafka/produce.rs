//! The producer task: records from reader threads to the broker, each acknowledged or reported.
//!
//! Readers hand records over with [`Queue::push`], which never blocks: a full queue is reported to
//! the sender at once. The task takes every record waiting, sends one request per topic (acks from
//! all replicas), and waits for the answer until the earliest deadline of the batch. A record that
//! is not acknowledged by its deadline ([`DELIVERY_TIMEOUT`] after the reader handed it over) gives
//! its sender a `not_delivered` error event. One request per topic is in flight at a time, so a
//! producer's records reach the topic in the order its readers handed them over.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use log::warn;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record as KafkaRecord;
use tokio::sync::mpsc;

use super::DELIVERY_TIMEOUT;
use crate::chat::protocol::ServerEvent;
use crate::metrics::Metrics;
use crate::ws::frame;
use crate::ws::outbound::Outbound;

/// One record on its way to the broker.
pub struct Outgoing {
    /// Which topic it goes to.
    pub topic: Topic,
    /// The record's key (presence records are keyed by instance).
    pub key: Option<Vec<u8>>,
    /// The JSON record.
    pub value: Vec<u8>,
    /// Who hears about a failure (a chat message's sender); `None` for presence.
    pub sender: Option<Arc<Outbound>>,
    /// When the reader handed it over.
    pub at: Instant,
    /// Counts the record as in flight until it is dropped.
    _pending: Pending,
}

/// The two topics a record can go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    /// The chat topic.
    Chat,
    /// `<topic>.presence`.
    Presence,
}

/// The hand-off from reader threads (and the broadcaster) to the producer task.
pub struct Queue {
    records: mpsc::Sender<Outgoing>,
    pending: Arc<AtomicUsize>,
}

impl Queue {
    /// A queue of at most `capacity` records, and its receiving end for [`run`].
    pub fn new(capacity: usize) -> (Queue, mpsc::Receiver<Outgoing>) {
        let (records, receiver) = mpsc::channel(capacity);
        (Queue { records, pending: Arc::default() }, receiver)
    }

    /// Hands a record to the producer task without waiting; a full queue is reported at once.
    pub fn push(
        &self,
        topic: Topic,
        key: Option<Vec<u8>>,
        value: Vec<u8>,
        sender: Option<Arc<Outbound>>,
    ) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let _pending = Pending(self.pending.clone());
        let record = Outgoing { topic, key, value, sender, at: Instant::now(), _pending };
        if let Err(e) = self.records.try_send(record) {
            let reason = match e {
                mpsc::error::TrySendError::Full(_) => "too many messages waiting for the broker",
                mpsc::error::TrySendError::Closed(_) => "the Kafka client has stopped",
            };
            e.into_inner().fail(reason);
        }
    }

    /// Records handed over and not yet acknowledged or reported.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

/// Sends what the queue brings until every sender is gone.
pub async fn run(
    mut queue: mpsc::Receiver<Outgoing>,
    chat: PartitionClient,
    presence: PartitionClient,
    metrics: Arc<Metrics>,
) {
    let mut waiting = Vec::new();
    while queue.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        let (to_chat, to_presence): (Vec<_>, Vec<_>) =
            waiting.drain(..).partition(|r| r.topic == Topic::Chat);
        tokio::join!(
            send_all(&chat, to_chat, &metrics),
            send_all(&presence, to_presence, &metrics)
        );
    }
}

impl Outgoing {
    fn deadline(&self) -> Instant {
        self.at + DELIVERY_TIMEOUT
    }

    /// The record to send; its bytes move into the request.
    fn take_record(&mut self) -> KafkaRecord {
        kafka_record(self.key.take(), std::mem::take(&mut self.value))
    }

    /// Tells the sender its message did not reach the topic (it may still appear once, see
    /// [`DELIVERY_TIMEOUT`]).
    fn fail(self, reason: &str) {
        match &self.sender {
            Some(sender) => {
                warn!("kafka: message not delivered: {reason}");
                let message = format!(
                    "the broker did not confirm your message in time ({reason}); if it does not \
                     appear, send it again"
                );
                let event =
                    ServerEvent::Error { code: "not_delivered", message: &message, room: None };
                sender.send(&[&frame::text(event.to_json())]);
            }
            None => warn!("kafka: presence not delivered: {reason}"),
        }
    }
}

/// `records` in requests of at most [`MAX_REQUEST_BYTES`], one after the other (one order).
async fn send_all(client: &PartitionClient, records: Vec<Outgoing>, metrics: &Metrics) {
    for batch in batches(records, |r| r.value.len(), MAX_REQUEST_BYTES) {
        send(client, batch, metrics).await;
    }
}

/// Splits `items` in order into runs whose sizes add up to at most `max`; an item larger than
/// `max` goes alone.
fn batches<T>(items: Vec<T>, size: impl Fn(&T) -> usize, max: usize) -> Vec<Vec<T>> {
    let mut batches: Vec<Vec<T>> = Vec::new();
    let mut bytes = 0;
    for item in items {
        let n = size(&item);
        match batches.last_mut() {
            Some(batch) if bytes + n <= max => batch.push(item),
            _ => {
                batches.push(vec![item]);
                bytes = 0;
            }
        }
        bytes += n;
    }
    batches
}

/// One produce request for `batch`, answered or given up at the batch's earliest deadline.
async fn send(client: &PartitionClient, batch: Vec<Outgoing>, metrics: &Metrics) {
    let now = Instant::now();
    let (mut live, late): (Vec<_>, Vec<_>) = batch.into_iter().partition(|r| r.deadline() > now);
    for record in late {
        record.fail(&format!("not acknowledged within {DELIVERY_TIMEOUT:?}"));
    }
    let Some(deadline) = live.iter().map(Outgoing::deadline).min() else { return };
    let records = live.iter_mut().map(Outgoing::take_record).collect();
    let request = client.produce(records, Compression::NoCompression);
    let reason = match tokio::time::timeout_at(deadline.into(), request).await {
        Ok(Ok(_offsets)) => return,
        Ok(Err(e)) => format!("delivery failed: {e}"),
        Err(_) => format!("not acknowledged within {DELIVERY_TIMEOUT:?}"),
    };
    metrics.set_bus_problem(Some(format!("kafka: {reason}")));
    for record in live {
        record.fail(&reason);
    }
}

/// A record as the client sends it, stamped with the time now.
pub fn kafka_record(key: Option<Vec<u8>>, value: Vec<u8>) -> KafkaRecord {
    let millis = crate::chat::presence::now_millis() as i64;
    KafkaRecord {
        key,
        value: Some(value),
        headers: Default::default(),
        timestamp: DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or_default(),
    }
}

/// Counts one record in flight while it lives.
struct Pending(Arc<AtomicUsize>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Records taken from the queue at once.
const MAX_BATCH: usize = 512;
/// Bytes of records per produce request at most: Kafka refuses a record batch over its
/// `message.max.bytes`, 1 MiB by default.
const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// How often [`Queue::pending`] is looked at while waiting for it to empty.
pub const PENDING_POLL: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_stay_under_the_byte_limit_and_keep_the_order() {
        let sizes = vec![40, 50, 10, 100, 30, 250, 5];
        let split = batches(sizes, |n| *n, 100);
        assert_eq!(split, vec![vec![40, 50, 10], vec![100], vec![30], vec![250], vec![5]]);
        assert!(batches(Vec::<usize>::new(), |n| *n, 100).is_empty());
    }
}
