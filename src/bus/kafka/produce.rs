//! The producer tasks: records from reader threads to the broker, each acknowledged or reported.
//!
//! Every partition a record can go to (each chat partition, the presence topic's, the claims
//! topic's and the reads topic's) is a *lane*: a queue of its own and a task of its own with its own connection.
//! Readers hand records over with [`Queue::push`], which never blocks: a full lane is reported to
//! the sender at once. A lane's task takes every record waiting, sends them in one request (acks
//! from all replicas), and waits for the answer until the earliest deadline of the batch. A record
//! that is not acknowledged by its deadline ([`DELIVERY_TIMEOUT`] after the reader handed it over)
//! gives its sender a `not_delivered` error event. One request per lane is in flight at a time, so a
//! producer's records reach a partition in the order its readers handed them over, while lanes
//! never wait for each other: a busy room's partition does not hold up a quiet one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use log::{debug, error, warn};
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record as KafkaRecord;
use tokio::sync::mpsc;

use super::DELIVERY_TIMEOUT;
use crate::chat::post::Origin;
use crate::chat::protocol::ServerEvent;
use crate::chat::room::RoomName;
use crate::metrics::Metrics;
use crate::ws::frame;

/// One record on its way to the broker.
pub struct Outgoing {
    /// What it is: who hears about a failure, and how.
    pub kind: Kind,
    /// The record's key (presence and typing records are keyed by instance, claims by user).
    pub key: Option<Vec<u8>>,
    /// The JSON record.
    pub value: Vec<u8>,
    /// When the reader handed it over.
    pub at: Instant,
    /// Counts the record as in flight until it is dropped.
    _pending: Pending,
}

/// Where a record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// This partition of the chat topic.
    Chat(u32),
    /// `<topic>.presence` (one partition).
    Presence,
    /// `<topic>.claims` (one partition).
    Claims,
    /// `<topic>.reads` (one partition).
    Reads,
}

/// What a record is, which decides who hears what became of it.
#[derive(Debug)]
pub enum Kind {
    /// A chat message (or a change to one): its sender hears about a failure, with the
    /// message's room; a bot's post hears of its offset too (its `201`).
    Chat {
        /// The connection that said it, or the post waiting for its answer.
        origin: Origin,
        /// The room the message was for (none: a private message).
        room: Option<RoomName>,
    },
    /// An instance's roster (repeated every few seconds anyway): a warning in the log.
    Roster,
    /// A typing indicator, worthless a few seconds later: a debug line.
    Typing,
    /// A nickname claim or release: a warning in the log (the name stays tentative here).
    Claim,
    /// A read marker: a warning in the log (the marker moved on this instance only).
    Read,
    /// An operator's kick: a warning in the log (the session's connections elsewhere stay).
    Kick,
    /// A ban, a mute, or the end of one: an error in the log (it holds on this instance only,
    /// until it restarts).
    Sanction,
}

/// The hand-off from reader threads (and the broadcaster) to the producer tasks.
pub struct Queue {
    /// One channel per chat partition, in partition order, then the presence topic's, the claims
    /// topic's and the reads topic's.
    lanes: Vec<mpsc::Sender<Outgoing>>,
    pending: Arc<AtomicUsize>,
}

impl Queue {
    /// Lanes for `partitions` chat partitions, the presence, claims and reads topics, each
    /// holding at most `capacity` records; and their receiving ends for [`run`], in the same
    /// order.
    pub fn new(partitions: u32, capacity: usize) -> (Queue, Vec<mpsc::Receiver<Outgoing>>) {
        let (lanes, receivers) = (0..partitions + 3).map(|_| mpsc::channel(capacity)).unzip();
        (Queue { lanes, pending: Arc::default() }, receivers)
    }

    /// Hands a record to its lane's task without waiting; a full lane is reported at once.
    pub fn push(&self, lane: Lane, kind: Kind, key: Option<Vec<u8>>, value: Vec<u8>) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let _pending = Pending(self.pending.clone());
        let record = Outgoing { kind, key, value, at: Instant::now(), _pending };
        let presence = self.lanes.len() - 3;
        let index = match lane {
            Lane::Chat(p) if (p as usize) < presence => p as usize,
            Lane::Chat(p) => panic!("partition {p} of {presence}: rooms hash below the count"),
            Lane::Presence => presence,
            Lane::Claims => presence + 1,
            Lane::Reads => presence + 2,
        };
        if let Err(e) = self.lanes[index].try_send(record) {
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

/// Sends what one lane brings, to its partition, until every sender is gone.
pub async fn run(
    mut lane: mpsc::Receiver<Outgoing>,
    client: PartitionClient,
    metrics: Arc<Metrics>,
) {
    let mut waiting = Vec::new();
    while lane.recv_many(&mut waiting, MAX_BATCH).await > 0 {
        send_all(&client, std::mem::take(&mut waiting), &metrics).await;
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

    /// The broker appended the record at `offset`: a bot's post is answered with it.
    fn placed(self, offset: i64) {
        if let Kind::Chat { origin: Origin::Post(waiting), .. } = self.kind {
            waiting.placed(u64::try_from(offset).unwrap_or(0));
        }
    }

    /// Tells the sender its message did not reach the topic (it may still appear once, see
    /// [`DELIVERY_TIMEOUT`]).
    fn fail(self, reason: &str) {
        match self.kind {
            Kind::Typing => debug!("kafka: typing not delivered: {reason}"),
            Kind::Roster => warn!("kafka: presence not delivered: {reason}"),
            Kind::Claim => warn!("kafka: a nickname claim not delivered: {reason}"),
            Kind::Read => warn!("kafka: a read marker not delivered: {reason}"),
            Kind::Kick => warn!("kafka: a kick not delivered to the other instances: {reason}"),
            Kind::Sanction => error!(
                "kafka: a ban or mute not delivered: it holds on this instance only: {reason}"
            ),
            Kind::Chat { origin, room } => {
                // A private message is not named in the logs, not even by its recipient.
                let whereto = room.as_ref().map_or("a private conversation", RoomName::as_str);
                warn!("kafka: message to {whereto} not delivered: {reason}");
                let sender = match origin {
                    Origin::Connection(sender) => sender,
                    Origin::Post(waiting) => return waiting.failed(reason),
                };
                let message = format!(
                    "the broker did not confirm your message in time ({reason}); if it does not \
                     appear, send it again"
                );
                let mut event = ServerEvent::error("not_delivered", &message);
                if let ServerEvent::Error { room: named, .. } = &mut event {
                    *named = room.as_ref().map(RoomName::as_str);
                }
                // Queued for the broadcaster, the one writer of the client's socket.
                sender.queue(&[&frame::text(event.to_json())]);
            }
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
        Ok(Ok(offsets)) => {
            // In the order sent: a bot's post learns its id.
            for (record, offset) in live.into_iter().zip(offsets) {
                record.placed(offset);
            }
            return;
        }
        Ok(Err(e)) => format!("delivery failed: {e}"),
        Err(_) => format!("not acknowledged within {DELIVERY_TIMEOUT:?}"),
    };
    metrics.set_problem(Some(format!("kafka: {reason}")));
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

/// Records taken from a lane at once.
const MAX_BATCH: usize = 512;
/// Bytes of records per produce request at most: Kafka refuses a record batch over its
/// `message.max.bytes`, 1 MiB by default.
const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// How often [`Queue::pending`] is looked at while waiting for it to empty.
pub const PENDING_POLL: Duration = Duration::from_millis(10);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::outbound::Outbound;

    #[test]
    fn requests_stay_under_the_byte_limit_and_keep_the_order() {
        let sizes = vec![40, 50, 10, 100, 30, 250, 5];
        let split = batches(sizes, |n| *n, 100);
        assert_eq!(split, vec![vec![40, 50, 10], vec![100], vec![30], vec![250], vec![5]]);
        assert!(batches(Vec::<usize>::new(), |n| *n, 100).is_empty());
    }

    #[test]
    fn each_partition_has_its_lane_then_presence_claims_and_reads() {
        // The kind only decides who hears about a failure.
        let (queue, mut lanes) = Queue::new(3, 4);
        assert_eq!(lanes.len(), 6);
        queue.push(Lane::Chat(2), Kind::Typing, None, b"to 2".to_vec());
        queue.push(Lane::Presence, Kind::Roster, None, b"roster".to_vec());
        queue.push(Lane::Chat(0), Kind::Typing, None, b"to 0".to_vec());
        queue.push(Lane::Claims, Kind::Claim, None, b"claim".to_vec());
        assert_eq!(queue.pending(), 4);
        let value = |lane: &mut mpsc::Receiver<Outgoing>| lane.try_recv().ok().map(|r| r.value);
        assert_eq!(value(&mut lanes[0]).as_deref(), Some(&b"to 0"[..]));
        assert_eq!(value(&mut lanes[1]), None);
        assert_eq!(value(&mut lanes[2]).as_deref(), Some(&b"to 2"[..]));
        assert_eq!(value(&mut lanes[3]).as_deref(), Some(&b"roster"[..]));
        assert_eq!(value(&mut lanes[4]).as_deref(), Some(&b"claim"[..]));
        queue.push(Lane::Reads, Kind::Read, None, b"read".to_vec());
        assert_eq!(value(&mut lanes[5]).as_deref(), Some(&b"read"[..]));
        assert_eq!(queue.pending(), 0, "records taken and dropped are no longer pending");
    }

    #[test]
    fn a_full_lane_refuses_at_once_and_leaves_the_others_alone() {
        let (queue, mut lanes) = Queue::new(2, 1);
        queue.push(Lane::Chat(1), Kind::Typing, None, b"first".to_vec());
        queue.push(Lane::Chat(1), Kind::Typing, None, b"refused".to_vec());
        queue.push(Lane::Chat(0), Kind::Typing, None, b"other".to_vec());
        assert_eq!(queue.pending(), 2, "the refused record is not pending");
        assert_eq!(lanes[1].try_recv().map(|r| r.value).ok().as_deref(), Some(&b"first"[..]));
        assert!(lanes[1].try_recv().is_err());
        assert_eq!(lanes[0].try_recv().map(|r| r.value).ok().as_deref(), Some(&b"other"[..]));
    }

    #[test]
    fn a_message_not_delivered_tells_its_sender_in_which_room() {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let sender = Arc::new(Outbound::new(server, None, 1 << 16, Arc::default(), None));
        let room = RoomName::parse("rust").unwrap();
        let (queue, _lanes) = Queue::new(1, 1);
        queue.push(Lane::Chat(0), Kind::Typing, None, b"fills the lane".to_vec());
        queue.push(
            Lane::Chat(0),
            Kind::Chat { origin: Origin::Connection(sender), room: Some(room) },
            None,
            b"refused".to_vec(),
        );
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut frame = [0u8; 512];
        let n = client.read(&mut frame).unwrap();
        // RFC 6455 §5.2: 0x81 (a final text frame), then a 16-bit length (126) past 125 bytes.
        assert_eq!(frame[..2], [0x81, 126]);
        let text = String::from_utf8_lossy(&frame[4..n]);
        assert!(text.starts_with(r#"{"type":"error","code":"not_delivered","#), "{text}");
        assert!(text.contains("too many messages waiting") && text.ends_with(r#""room":"rust"}"#));
    }
}
