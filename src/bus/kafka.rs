//! The Kafka bus: every instance produces to, and consumes all of, one topic with one partition.
//!
//! ```text
//! reader (any instance) ──produce──▶ topic `chat`, partition 0 ──consume (assigned, not a group)──▶
//!     every instance's consumer task ──Event::Chat { id: offset }──▶ its broadcaster ──▶ clients
//! ```
//! - **One order.** A single partition is totally ordered, and every instance reads all of it, so
//!   each shows the same messages in the same order, with the offset as the message id. Start-up
//!   refuses a topic with more partitions rather than show different orders.
//! - **Nothing lost silently, nothing twice.** Records are produced with `acks=all`. A record that
//!   is not acknowledged within [`DELIVERY_TIMEOUT`] is reported to its sender as a
//!   `not_delivered` error event. A timeout cannot tell "never arrived" from "arrived, answer
//!   lost": a broker that was only stalled may still append it when it resumes, and then
//!   everybody sees it once. The client retries a request whose connection broke, which can
//!   append a record twice: every chat record carries a unique id, and a copy is skipped by every
//!   instance alike (`dedup.rs`). The broadcaster ignores an offset it has already delivered.
//! - **History survives restarts.** On start the consumer delivers from `HISTORY_SIZE` records
//!   before the end, so the history is rebuilt from the topic (it reads from up to
//!   [`WINDOW`](dedup::WINDOW) records earlier, only to learn which uids it has seen).
//! - **Epochs.** Offsets restart at 0 when a topic is recreated, so ids alone could be resumed
//!   wrongly. The epoch is the identity of the oldest record kept: a marker record the first
//!   instance writes into an empty topic. A new topic gets a new marker, hence a new epoch.
//! - **Presence** goes through `<topic>.presence`: each instance announces the nicknames online on
//!   it when they change and every [`ANNOUNCE_EVERY`](crate::chat::presence::ANNOUNCE_EVERY); see
//!   `chat/presence.rs`.
//! - **Broker trouble** does not stop the server: a probe asks the broker for metadata every
//!   [`PROBE_EVERY`], and `/healthz` answers 503 with the reason until it answers again.
//!
//! The client is rskafka, pure Rust on tokio: one thread, `kafka`, runs a current-thread runtime
//! with four tasks: the producer, one consumer per topic, and the probe. The producer and each
//! consumer hold a connection per topic, so a consumer's held fetch never delays a produce (a
//! broker answers one connection's requests in order); the probe uses the client's own. Reader threads reach it through [`produce::Queue`] and it reaches the broadcaster
//! through the event channel; neither side waits for the other. Unlike a C client, it keeps no
//! thread-local state that every thread of the process would carry (see BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use log::{info, warn};
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use serde::{Deserialize, Serialize};

use crate::chat::history::{Epochs, Start};
use crate::chat::inbox::Inbox;
use crate::chat::presence::now_millis;
use crate::chat::room::RoomName;
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::net::accept::spawn;
use crate::ws::outbound::Outbound;

mod consume;
mod dedup;
mod produce;

use dedup::Uid;
use produce::{Queue, Topic};

/// The producer side, shared by reader threads and the broadcaster.
pub struct KafkaBus {
    queue: Queue,
    /// This run's producer id, drawn at random, and the next sequence number: together a chat
    /// record's [`Uid`].
    producer: u64,
    next_seq: AtomicU64,
    topic: String,
    instance: String,
}

/// What start-up learned from the topic.
pub struct Started {
    /// The bus, for publishing.
    pub bus: Arc<KafkaBus>,
    /// Each partition's epoch and the first offset the history is rebuilt from.
    pub epochs: Epochs,
}

/// A record on the topics, as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    /// The marker that names a topic's epoch.
    Epoch { epoch: String },
    /// A chat message (its id is its offset). `uid` tells a retried copy from a new message;
    /// records written before it existed have none.
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        name: String,
        text: String,
        ts: String,
        instance: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<Uid>,
    },
    /// The nicknames online on one instance per room, at a time in milliseconds since 1970.
    Roster {
        instance: String,
        #[serde(default)]
        rooms: std::collections::BTreeMap<String, Vec<String>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        users: Vec<String>,
        at: u64,
    },
    /// Someone typing in a room.
    Typing { instance: String, conn: u64, room: String, name: String, at: u64 },
}

/// Connects, makes sure both topics exist with one partition, learns the epoch, and starts the
/// `kafka` thread: the producer, the consumers and the health probe.
pub fn start(config: &Config, inbox: Inbox, metrics: Arc<Metrics>) -> Result<Started, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { context: "starting the Kafka runtime", source })?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let setup = runtime.block_on(retry_until(deadline, || connect(config)))?;
    let Setup { client, chat, presence, epoch, low, high, presence_from } = setup;
    let history_from = low.max(high - config.history_size as i64);
    info!(
        "kafka {}: topic {} epoch {epoch}, offsets {low}..{high}, history from {history_from}",
        config.kafka_brokers, config.kafka_topic
    );

    let (queue, outgoing) = Queue::new(QUEUE_CAPACITY);
    let bus = Arc::new(KafkaBus {
        queue,
        producer: random_u64(),
        next_seq: AtomicU64::new(1),
        topic: config.kafka_topic.clone(),
        instance: config.instance_id.clone(),
    });
    let chat_from = consume::ChatFrom {
        read_from: low.max(history_from - dedup::WINDOW),
        deliver_from: history_from,
    };
    let me = config.instance_id.clone();
    let topic = config.kafka_topic.clone();
    let room = config.default_room.clone();
    let body = move || {
        // The tasks run until the process ends; should the thread end anyway (a panic), the
        // server reports itself unhealthy instead of a bus that silently stopped.
        let _unhealthy_when_gone = Stopped(metrics.clone());
        runtime.block_on(async move {
            tokio::join!(
                produce::run(outgoing, chat.producer, presence.producer, metrics.clone()),
                consume::chat(
                    chat.consumer,
                    chat_from,
                    room.clone(),
                    inbox.clone(),
                    metrics.clone()
                ),
                consume::presence(
                    presence.consumer,
                    presence_from,
                    me,
                    room,
                    inbox,
                    metrics.clone()
                ),
                probe_health(&client, &topic, &metrics),
            )
        });
    };
    spawn("kafka", body)?;
    let first_id = u64::try_from(history_from).unwrap_or(0);
    Ok(Started { bus, epochs: Epochs::partitions(vec![Start { epoch, first_id }]) })
}

impl KafkaBus {
    /// Produces a chat message; a failure reaches `sender` as a `not_delivered` error event.
    pub fn publish(
        &self,
        room: &RoomName,
        name: &str,
        text: &str,
        ts: &str,
        sender: &Arc<Outbound>,
    ) {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let record = Record::Chat {
            room: Some(room.to_string()),
            name: name.to_string(),
            text: text.to_string(),
            ts: ts.to_string(),
            instance: self.instance.clone(),
            uid: Some([self.producer, seq]),
        };
        self.queue.push(Topic::Chat, None, to_json(&record), Some(sender.clone()));
    }

    /// Tells the other instances that connection `from` here is typing in `room`.
    pub fn typing(&self, room: &RoomName, name: &str, from: u64) {
        let record = Record::Typing {
            instance: self.instance.clone(),
            conn: from,
            room: room.to_string(),
            name: name.to_string(),
            at: now_millis(),
        };
        let key = Some(self.instance.as_bytes().to_vec());
        self.queue.push(Topic::Presence, key, to_json(&record), None);
    }

    /// Announces the nicknames online on this instance, per room.
    pub fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>) {
        let record = Record::Roster {
            instance: self.instance.clone(),
            rooms: rooms.into_iter().map(|(room, users)| (room.to_string(), users)).collect(),
            users: Vec::new(),
            at: now_millis(),
        };
        let key = Some(self.instance.as_bytes().to_vec());
        self.queue.push(Topic::Presence, key, to_json(&record), None);
    }

    /// Waits up to [`FLUSH_TIMEOUT`] for records in flight.
    pub fn flush(&self) {
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while self.queue.pending() > 0 {
            if Instant::now() >= deadline {
                warn!("kafka: {} records still in flight at shutdown", self.queue.pending());
                return;
            }
            thread::sleep(produce::PENDING_POLL);
        }
    }

    /// The chat topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

/// Marks the bus unhealthy when dropped: the `kafka` thread holds it while it runs.
struct Stopped(Arc<Metrics>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.set_bus_problem(Some("kafka: the client thread stopped".to_string()));
    }
}

/// What [`connect`] sets up: the connections, and where the topics stand.
struct Setup {
    client: Client,
    chat: Partition,
    presence: Partition,
    epoch: String,
    low: i64,
    high: i64,
    presence_from: i64,
}

/// Two connections to a topic's one partition: one to produce, one to consume.
struct Partition {
    producer: PartitionClient,
    consumer: PartitionClient,
}

async fn connect(config: &Config) -> Result<Setup, Error> {
    let topic = config.kafka_topic.as_str();
    let presence_topic = format!("{topic}.presence");
    let brokers = config.kafka_brokers.split(',').map(|b| b.trim().to_string()).collect();
    let client = ClientBuilder::new(brokers)
        .client_id(format!("websocketchat-{}", config.instance_id))
        .backoff_config(backoff());
    let client = within("connecting", client.build()).await?;
    ensure_topic(&client, topic).await?;
    ensure_topic(&client, &presence_topic).await?;
    let chat = partition(&client, topic).await?;
    let presence = partition(&client, &presence_topic).await?;
    let (epoch, low, high) = read_epoch(&chat, topic).await?;
    let (presence_low, presence_high) = watermarks(&presence.consumer).await?;
    let presence_from = presence_low.max(presence_high - PRESENCE_READBACK);
    Ok(Setup { client, chat, presence, epoch, low, high, presence_from })
}

async fn partition(client: &Client, topic: &str) -> Result<Partition, Error> {
    let open = || client.partition_client(topic, 0, UnknownTopicHandling::Retry);
    let producer = within("connecting to the partition", open()).await?;
    let consumer = within("connecting to the partition", open()).await?;
    Ok(Partition { producer, consumer })
}

/// Creates `topic` with one partition if it does not exist; refuses one with more partitions.
async fn ensure_topic(client: &Client, topic: &str) -> Result<(), Error> {
    let partitions = || async {
        let topics = within("reading metadata", client.list_topics()).await?;
        Ok::<_, Error>(topics.into_iter().find(|t| t.name == topic).map(|t| t.partitions.len()))
    };
    if matches!(partitions().await?, None | Some(0)) {
        info!("kafka: creating topic {topic} with one partition");
        let controller = client.controller_client().map_err(|e| kafka_error("controller", e))?;
        let timeout_ms = KAFKA_TIMEOUT.as_millis() as i32;
        let created =
            tokio::time::timeout(KAFKA_TIMEOUT, controller.create_topic(topic, 1, 1, timeout_ms))
                .await
                .map_err(|_| Error::Kafka(format!("creating topic {topic}: timed out")))?;
        match created {
            Ok(())
            | Err(ClientError::ServerError {
                protocol_error: ProtocolError::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => return Err(Error::Kafka(format!("cannot create topic {topic}: {e}"))),
        }
    }
    match partitions().await? {
        Some(1) => Ok(()),
        Some(n) if n > 1 => Err(Error::Kafka(format!(
            "topic {topic} has {n} partitions; one order for every instance needs exactly one"
        ))),
        _ => Err(Error::Kafka(format!("topic {topic} does not exist yet"))),
    }
}

/// The epoch is the identity of the oldest record kept: an epoch marker, written into an empty
/// topic by whichever instance gets there first. Returns it with the watermarks.
async fn read_epoch(chat: &Partition, topic: &str) -> Result<(String, i64, i64), Error> {
    let (mut low, mut high) = watermarks(&chat.consumer).await?;
    if low == high {
        let marker = Record::Epoch { epoch: crate::chat::history::new_epoch() };
        let record = produce::kafka_record(None, to_json(&marker));
        let write = chat.producer.produce(vec![record], Compression::NoCompression);
        within("writing the epoch marker", write).await?;
        (low, high) = watermarks(&chat.consumer).await?;
    }
    let read = chat.consumer.fetch_records(low, 1..1 << 20, 1000);
    let (records, _high) = within("reading the first record", read).await?;
    let first = records
        .first()
        .ok_or_else(|| Error::Kafka(format!("cannot read the first record of {topic}")))?;
    let epoch = match first.record.value.as_deref().map(serde_json::from_slice::<Record>) {
        Some(Ok(Record::Epoch { epoch })) => epoch,
        _ => format!("{topic}@{}.{}", first.offset, first.record.timestamp.timestamp_millis()),
    };
    Ok((epoch, low, high))
}

/// The partition's low and high watermarks: the oldest offset kept and the next one to be written.
async fn watermarks(client: &PartitionClient) -> Result<(i64, i64), Error> {
    let low = within("reading offsets", client.get_offset(OffsetAt::Earliest)).await?;
    let high = within("reading offsets", client.get_offset(OffsetAt::Latest)).await?;
    Ok((low, high))
}

/// Asks the broker for its topics every [`PROBE_EVERY`]; `/healthz` reports the result.
async fn probe_health(client: &Client, topic: &str, metrics: &Metrics) {
    loop {
        let problem = match tokio::time::timeout(PROBE_EVERY, client.list_topics()).await {
            Ok(Ok(topics)) if topics.iter().any(|t| t.name == topic) => None,
            Ok(Ok(_)) => Some(format!("kafka: topic {topic} is missing")),
            Ok(Err(e)) => Some(format!("kafka: broker unreachable: {e}")),
            Err(_) => Some(format!("kafka: broker unreachable: no answer within {PROBE_EVERY:?}")),
        };
        metrics.set_bus_problem(problem);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Runs a request to the broker, giving up after [`KAFKA_TIMEOUT`].
async fn within<T>(
    what: &str,
    request: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, Error> {
    match tokio::time::timeout(KAFKA_TIMEOUT, request).await {
        Ok(answer) => answer.map_err(|e| kafka_error(what, e)),
        Err(_) => Err(Error::Kafka(format!("{what}: no answer within {KAFKA_TIMEOUT:?}"))),
    }
}

/// Retries a start-up step until it works or the deadline passes (the broker may still be
/// starting, as it is when compose starts everything at once).
async fn retry_until<T, F: Future<Output = Result<T, Error>>>(
    deadline: Instant,
    mut step: impl FnMut() -> F,
) -> Result<T, Error> {
    loop {
        match step().await {
            Ok(value) => return Ok(value),
            Err(e @ Error::Kafka(_)) if Instant::now() < deadline => {
                warn!("{e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The client's own retries (a broken connection, a leader moving): quick, and never longer in
/// all than one request's time; our own deadlines bound every request anyway.
fn backoff() -> BackoffConfig {
    BackoffConfig {
        init_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(500),
        base: 2.0,
        deadline: Some(KAFKA_TIMEOUT),
    }
}

fn kafka_error(what: &str, e: ClientError) -> Error {
    Error::Kafka(format!("{what}: {e}"))
}

fn to_json(record: &Record) -> Vec<u8> {
    serde_json::to_vec(record).expect("records are plain JSON")
}

/// A producer id for this run: two instances, or two runs of one, never share one.
fn random_u64() -> u64 {
    use ring::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; 8];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        // Without randomness, the start time still tells two runs apart.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        return nanos as u64 ^ u64::from(std::process::id()) << 32;
    }
    u64::from_le_bytes(bytes)
}

/// A message not acknowledged by the broker within this time is reported `not_delivered`.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the broker is asked whether it is there.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Time for one request to the broker.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(5);
/// How long start-up waits for the broker.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long shutdown waits for records in flight.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Records waiting for the producer at most; beyond that a message is `not_delivered` at once.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// Presence records read back at start, to learn who is online elsewhere.
const PRESENCE_READBACK: i64 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_record_carries_its_uid_and_old_records_still_read() {
        let record = Record::Chat {
            room: None,
            name: "alice".into(),
            text: "hi".into(),
            ts: "t".into(),
            instance: "ws1".into(),
            uid: Some([7, 42]),
        };
        let json = String::from_utf8(to_json(&record)).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"chat","name":"alice","text":"hi","ts":"t","instance":"ws1","uid":[7,42]}"#
        );
        let old = br#"{"kind":"chat","name":"bob","text":"yo","ts":"t","instance":"ws2"}"#;
        assert!(matches!(serde_json::from_slice(old), Ok(Record::Chat { uid: None, .. })));
    }

    #[test]
    fn a_kafka_thread_that_ends_leaves_the_server_unhealthy() {
        let metrics = Arc::new(Metrics::default());
        let thread = thread::spawn({
            let metrics = metrics.clone();
            move || {
                let _unhealthy_when_gone = Stopped(metrics);
                panic!("a task panicked");
            }
        });
        assert!(thread.join().is_err());
        let (healthy, body) = metrics.health();
        assert!(!healthy && body.contains("the client thread stopped"), "{body}");
    }
}
