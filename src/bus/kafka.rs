//! The Kafka bus: every instance produces to, and consumes all of, one topic with one partition.
//!
//! ```text
//! reader (any instance) ──produce──▶ topic `chat`, partition 0 ──consume (assigned, not a group)──▶
//!     every instance's consumer thread ──Event::Chat { id: offset }──▶ its broadcaster ──▶ clients
//! ```
//! - **One order.** A single partition is totally ordered, and every instance reads all of it, so
//!   each shows the same messages in the same order, with the offset as the message id. Start-up
//!   refuses a topic with more partitions rather than show different orders.
//! - **Nothing lost silently, nothing twice.** The producer is idempotent with `acks=all`, so its
//!   retries cannot duplicate a record. A record that is not acknowledged within
//!   [`DELIVERY_TIMEOUT`] is reported to its sender as a `not_delivered` error event. A timeout
//!   cannot tell "never arrived" from "arrived, answer lost": a broker that was only stalled may
//!   still append it when it resumes, and then everybody sees it once. The broadcaster ignores an
//!   offset it has already delivered.
//! - **History survives restarts.** On start the consumer begins `HISTORY_SIZE` records before the
//!   end, so the history is rebuilt from the topic.
//! - **Epochs.** Offsets restart at 0 when a topic is recreated, so ids alone could be resumed
//!   wrongly. The epoch is the identity of the oldest record kept: a marker record the first
//!   instance writes into an empty topic. A new topic gets a new marker, hence a new epoch.
//! - **Presence** goes through `<topic>.presence`: each instance announces the nicknames online on
//!   it when they change and every [`ANNOUNCE_EVERY`](crate::chat::presence::ANNOUNCE_EVERY); see
//!   `chat/presence.rs`.
//! - **Broker trouble** does not stop the server: a probe asks the broker for metadata every
//!   [`PROBE_EVERY`], and `/healthz` answers 503 with the reason until it answers again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use log::{info, warn};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use serde::{Deserialize, Serialize};

use crate::chat::inbox::{Event, Inbox};
use crate::chat::presence::now_millis;
use crate::chat::protocol::ServerEvent;
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::net::accept::spawn;
use crate::ws::frame;
use crate::ws::outbound::Outbound;

/// The producer side, shared by reader threads and the broadcaster.
pub struct KafkaBus {
    /// Replaced by the probe when the broker has fenced it (see [`Delivery`]).
    producer: RwLock<Arc<ThreadedProducer<Delivery>>>,
    /// Set by a delivery report that says the producer can no longer produce.
    fenced: Arc<AtomicBool>,
    client: ClientConfig,
    metrics: Arc<Metrics>,
    topic: String,
    presence_topic: String,
    instance: String,
}

/// What start-up learned from the topic.
pub struct Started {
    /// The bus, for publishing.
    pub bus: Arc<KafkaBus>,
    /// The topic's epoch.
    pub epoch: String,
    /// The first offset the history is rebuilt from; older ones are not kept in memory.
    pub history_from: u64,
}

/// A record on the topics, as JSON.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    /// The marker that names a topic's epoch.
    Epoch { epoch: String },
    /// A chat message (its id is its offset).
    Chat { name: String, text: String, ts: String, instance: String },
    /// The nicknames online on one instance, at a time in milliseconds since 1970.
    Roster { instance: String, users: Vec<String>, at: u64 },
}

/// Connects, makes sure both topics exist with one partition, learns the epoch, and starts the
/// consumer and the health probe.
pub fn start(config: &Config, inbox: Inbox, metrics: Arc<Metrics>) -> Result<Started, Error> {
    let topic = config.kafka_topic.clone();
    let presence_topic = format!("{topic}.presence");
    let mut client = client_config(config);
    client
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "1")
        .set("message.timeout.ms", DELIVERY_TIMEOUT.as_millis().to_string());
    let fenced = Arc::new(AtomicBool::new(false));
    let producer = new_producer(&client, &metrics, &fenced)?;
    let admin: AdminClient<DefaultClientContext> =
        client_config(config).create().map_err(kafka_error)?;
    let consumer: BaseConsumer = client_config(config)
        .set("group.id", format!("websocketchat-{}", config.instance_id))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(kafka_error)?;

    let deadline = Instant::now() + STARTUP_TIMEOUT;
    retry_until(deadline, || ensure_topic(&admin, &consumer, &topic))?;
    retry_until(deadline, || ensure_topic(&admin, &consumer, &presence_topic))?;
    let bus = Arc::new(KafkaBus {
        producer: RwLock::new(Arc::new(producer)),
        fenced,
        client,
        metrics: metrics.clone(),
        topic: topic.clone(),
        presence_topic: presence_topic.clone(),
        instance: config.instance_id.clone(),
    });
    let (epoch, low, high) = retry_until(deadline, || read_epoch(&consumer, &bus))?;
    let history_from = low.max(high - config.history_size as i64);
    let (presence_low, presence_high) =
        consumer.fetch_watermarks(&presence_topic, 0, KAFKA_TIMEOUT).map_err(kafka_error)?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Offset(history_from))
        .map_err(kafka_error)?;
    let presence_from = presence_low.max(presence_high - PRESENCE_READBACK);
    assignment
        .add_partition_offset(&presence_topic, 0, Offset::Offset(presence_from))
        .map_err(kafka_error)?;
    consumer.assign(&assignment).map_err(kafka_error)?;
    info!(
        "kafka {}: topic {topic} epoch {epoch}, offsets {low}..{high}, history from {history_from}",
        config.kafka_brokers
    );

    let me = config.instance_id.clone();
    let (chat_topic, consumer_metrics) = (topic.clone(), metrics.clone());
    spawn("kafka-consumer", move || {
        consume(&consumer, &chat_topic, &me, &inbox, &consumer_metrics)
    })?;
    let probe = bus.clone();
    spawn("kafka-probe", move || probe_health(&probe, &metrics))?;
    Ok(Started { bus, epoch, history_from: u64::try_from(history_from).unwrap_or(0) })
}

impl KafkaBus {
    /// Produces a chat message; a failure reaches `sender` as a `not_delivered` error event.
    pub fn publish(&self, name: &str, text: &str, ts: &str, sender: &Arc<Outbound>) {
        let record = Record::Chat {
            name: name.to_string(),
            text: text.to_string(),
            ts: ts.to_string(),
            instance: self.instance.clone(),
        };
        let payload = serde_json::to_vec(&record).expect("records are plain JSON");
        let base =
            BaseRecord::<(), _, _>::with_opaque_to(&self.topic, Box::new(Some(sender.clone())))
                .payload(&payload);
        if let Err((e, _)) = self.producer().send(base) {
            not_delivered(sender, &e);
        }
    }

    /// Announces the nicknames online on this instance.
    pub fn announce(&self, users: &[&str]) {
        let record = Record::Roster {
            instance: self.instance.clone(),
            users: users.iter().map(|u| u.to_string()).collect(),
            at: now_millis(),
        };
        let payload = serde_json::to_vec(&record).expect("records are plain JSON");
        let base = BaseRecord::with_opaque_to(&self.presence_topic, Box::new(None))
            .key(self.instance.as_str())
            .payload(&payload);
        if let Err((e, _)) = self.producer().send(base) {
            warn!("kafka: presence not sent: {e}");
        }
    }

    /// Waits up to [`FLUSH_TIMEOUT`] for records in flight.
    pub fn flush(&self) {
        if let Err(e) = self.producer().flush(FLUSH_TIMEOUT) {
            warn!("kafka: records still in flight at shutdown: {e}");
        }
    }

    /// The chat topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn producer(&self) -> Arc<ThreadedProducer<Delivery>> {
        self.producer.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A fenced producer never produces again: replace it. Called from the probe thread, never
    /// from the producer's own polling thread (dropping a producer joins that thread).
    fn renew_if_fenced(&self) {
        if !self.fenced.swap(false, Ordering::SeqCst) {
            return;
        }
        warn!("kafka: the broker fenced our producer; starting a new one");
        match new_producer(&self.client, &self.metrics, &self.fenced) {
            Ok(producer) => {
                let old = std::mem::replace(
                    &mut *self.producer.write().unwrap_or_else(|p| p.into_inner()),
                    Arc::new(producer),
                );
                drop(old);
            }
            Err(e) => {
                warn!("{e}");
                self.fenced.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn new_producer(
    client: &ClientConfig,
    metrics: &Arc<Metrics>,
    fenced: &Arc<AtomicBool>,
) -> Result<ThreadedProducer<Delivery>, Error> {
    client
        .create_with_context(Delivery { metrics: metrics.clone(), fenced: fenced.clone() })
        .map_err(kafka_error)
}

/// The producer's callbacks: delivery reports.
struct Delivery {
    metrics: Arc<Metrics>,
    /// Raised when the broker fenced the producer (after a timed-out request, an idempotent
    /// producer starts a new epoch, which not every broker accepts); the probe then renews it.
    fenced: Arc<AtomicBool>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Box<Option<Arc<Outbound>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, sender: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            self.metrics.set_bus_problem(Some(format!("kafka: delivery failed: {e}")));
            if matches!(
                e,
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::Fatal
                )
            ) {
                self.fenced.store(true, Ordering::SeqCst);
            }
            match *sender {
                Some(sender) => not_delivered(&sender, e),
                None => warn!("kafka: presence not delivered: {e}"),
            }
        }
    }
}

/// Tells a sender its message did not reach the topic (so no client will see it).
fn not_delivered(sender: &Outbound, error: &KafkaError) {
    warn!("kafka: message not delivered: {error}");
    let message = format!(
        "the broker did not confirm your message in time ({error}); if it does not appear, send \
         it again"
    );
    let event = ServerEvent::Error { code: "not_delivered", message: &message };
    sender.send(&[&frame::text(event.to_json())]);
}

/// Reads both topics forever, handing records to the broadcaster.
fn consume(consumer: &BaseConsumer, topic: &str, me: &str, inbox: &Inbox, metrics: &Metrics) {
    loop {
        let message = match consumer.poll(POLL) {
            None => continue,
            Some(Err(e)) => {
                metrics.set_bus_problem(Some(format!("kafka: {e}")));
                warn!("kafka consumer: {e}");
                thread::sleep(POLL);
                continue;
            }
            Some(Ok(message)) => message,
        };
        let Some(payload) = message.payload() else { continue };
        let event = match serde_json::from_slice::<Record>(payload) {
            Ok(Record::Chat { name, text, ts, .. }) if message.topic() == topic => {
                let id = u64::try_from(message.offset()).unwrap_or(0);
                Event::Chat { id: Some(id), name, text, ts }
            }
            Ok(Record::Roster { instance, users, at }) if instance != me => {
                Event::Roster { instance, users, at_millis: at }
            }
            Ok(_) => continue,
            Err(e) => {
                warn!("kafka: skipping record {} of {}: {e}", message.offset(), message.topic());
                continue;
            }
        };
        if inbox.relay(event).is_err() {
            return;
        }
    }
}

/// Asks the broker for the topic's metadata every [`PROBE_EVERY`]; `/healthz` reports the result.
fn probe_health(bus: &KafkaBus, metrics: &Metrics) {
    loop {
        bus.renew_if_fenced();
        let answer = bus.producer().client().fetch_metadata(Some(&bus.topic), PROBE_EVERY);
        match answer {
            Ok(metadata) if metadata.topics().iter().any(|t| t.error().is_none()) => {
                metrics.set_bus_problem(None);
            }
            Ok(_) => {
                metrics.set_bus_problem(Some(format!("kafka: topic {} is missing", bus.topic)))
            }
            Err(e) => metrics.set_bus_problem(Some(format!("kafka: broker unreachable: {e}"))),
        }
        thread::sleep(PROBE_EVERY);
    }
}

/// Creates `topic` with one partition if it does not exist; refuses one with more partitions.
fn ensure_topic(
    admin: &AdminClient<DefaultClientContext>,
    consumer: &BaseConsumer,
    topic: &str,
) -> Result<(), Error> {
    let partitions = |consumer: &BaseConsumer| -> Result<Option<usize>, Error> {
        let metadata = consumer.fetch_metadata(Some(topic), KAFKA_TIMEOUT).map_err(kafka_error)?;
        Ok(metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
            .map(|t| t.partitions().len()))
    };
    if partitions(consumer)?.is_none() {
        info!("kafka: creating topic {topic} with one partition");
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
        let options = AdminOptions::new().operation_timeout(Some(KAFKA_TIMEOUT));
        let results = futures_executor::block_on(admin.create_topics([&new], &options))
            .map_err(kafka_error)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(Error::Kafka(format!("cannot create topic {name}: {code}")));
                }
            }
        }
    }
    match partitions(consumer)? {
        Some(1) => Ok(()),
        Some(n) => Err(Error::Kafka(format!(
            "topic {topic} has {n} partitions; one order for every instance needs exactly one"
        ))),
        None => Err(Error::Kafka(format!("topic {topic} does not exist yet"))),
    }
}

/// The epoch is the identity of the oldest record kept: an epoch marker, written into an empty
/// topic by whichever instance gets there first. Returns it with the watermarks.
fn read_epoch(consumer: &BaseConsumer, bus: &KafkaBus) -> Result<(String, i64, i64), Error> {
    let topic = bus.topic.as_str();
    let (mut low, mut high) =
        consumer.fetch_watermarks(topic, 0, KAFKA_TIMEOUT).map_err(kafka_error)?;
    if low == high {
        let marker = Record::Epoch { epoch: crate::chat::history::new_epoch() };
        let payload = serde_json::to_vec(&marker).expect("records are plain JSON");
        bus.producer()
            .send(BaseRecord::<(), _, _>::with_opaque_to(topic, Box::new(None)).payload(&payload))
            .map_err(|(e, _)| kafka_error(e))?;
        bus.producer().flush(KAFKA_TIMEOUT).map_err(kafka_error)?;
        (low, high) = consumer.fetch_watermarks(topic, 0, KAFKA_TIMEOUT).map_err(kafka_error)?;
    }
    let mut first = TopicPartitionList::new();
    first.add_partition_offset(topic, 0, Offset::Offset(low)).map_err(kafka_error)?;
    consumer.assign(&first).map_err(kafka_error)?;
    let deadline = Instant::now() + KAFKA_TIMEOUT;
    while Instant::now() < deadline {
        let Some(message) = consumer.poll(POLL) else { continue };
        let message = message.map_err(kafka_error)?;
        let epoch = match message.payload().map(serde_json::from_slice::<Record>) {
            Some(Ok(Record::Epoch { epoch })) => epoch,
            _ => format!(
                "{topic}@{}.{}",
                message.offset(),
                message.timestamp().to_millis().unwrap_or(0)
            ),
        };
        return Ok((epoch, low, high));
    }
    Err(Error::Kafka(format!("cannot read the first record of {topic}")))
}

fn client_config(config: &Config) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("client.id", format!("websocketchat-{}", config.instance_id))
        .set("socket.timeout.ms", KAFKA_TIMEOUT.as_millis().to_string());
    client
}

/// Retries a start-up step until it works or the deadline passes (the broker may still be
/// starting, as it is when compose starts everything at once).
fn retry_until<T>(
    deadline: Instant,
    mut step: impl FnMut() -> Result<T, Error>,
) -> Result<T, Error> {
    loop {
        match step() {
            Ok(value) => return Ok(value),
            Err(e @ Error::Kafka(_)) if Instant::now() < deadline => {
                warn!("{e}; retrying");
                thread::sleep(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

fn kafka_error(e: KafkaError) -> Error {
    Error::Kafka(e.to_string())
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
/// How long the consumer waits for a record per poll.
const POLL: Duration = Duration::from_millis(100);
/// Presence records read back at start, to learn who is online elsewhere.
const PRESENCE_READBACK: i64 = 1000;
