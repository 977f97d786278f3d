//! Start-up, and the `kafka` thread that runs everything after it.
//!
//! [`start`] runs once, before anyone is served: it connects (`connect.rs`), makes sure the
//! five topics exist with their partition counts, learns each chat partition's epoch and where
//! its histories begin (`history.rs`), reads the claims back (`claims.rs`), then the read
//! markers (`reads.rs`) and the bans and mutes (`sanctions.rs`), and only then starts
//! the thread. It retries all of that until [`STARTUP_TIMEOUT`], as the broker may still be
//! starting.
//!
//! The client is rskafka, pure Rust on tokio: one thread, `kafka`, runs a current-thread runtime
//! with a producer task and a consumer task per partition (P + 4 of each, with the presence,
//! claims, reads and sanctions topics') and the probe (`health.rs`). Each of these tasks holds a
//! connection of its own, 2P + 8, plus the client's own for metadata (25 at P = 8). A partition's produce and fetch
//! cannot share one: a broker answers one connection's requests in order (the protocol guide:
//! "the server guarantees that on a single TCP connection, requests will be processed in the
//! order they are sent"), so a produce would wait behind a held fetch. A consumer per partition,
//! rather than one task fetching them in turn, keeps a message's wait at one held fetch (10 ms
//! at most) whatever P is; in turn, every idle partition would add its 10 ms to the round (80 ms
//! at P = 8), and fetching them in turn without a wait would ask as often as this does. The
//! price is P fetches every 10 ms while idle: against tansu, an idle release build used 2.4% of
//! a core at P = 8 (0.8% at P = 1) and the broker about 18% (6%). Reader threads reach the
//! producers through [`Queue`], and the consumers reach the broadcaster through the event
//! channel; neither side waits for the other. Unlike a C client, it keeps no thread-local state
//! that every thread of the process would carry (see BENCHMARKS.md).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use log::{debug, info};
use rskafka::client::Client;
use rskafka::client::partition::PartitionClient;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::KafkaBus;
use super::claims::{CLAIMS_READBACK, ClaimRecords};
use super::connect::{self, Partition, ensure_topic, partition_clients, retry_until, watermarks};
use super::consume;
use super::dedup;
use super::health::{Stopped, probe_health};
use super::history::{read_epoch, readback};
use super::messages::{self, ChatFrom, Rooms};
use super::presence::{self, PRESENCE_READBACK, PresenceRecords};
use super::produce::{self, Outgoing, Queue};
use super::reads::{READS_READBACK, ReadRecords};
use super::sanctions::{SANCTIONS_READBACK, SanctionRecords};
use crate::chat::history::{Epochs, Start};
use crate::chat::inbox::{Event, Inbox};
use crate::chat::session::random_u64;
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::net::accept::spawn;

/// What start-up learned from the topic.
pub struct Started {
    /// The bus, for publishing.
    pub bus: Arc<KafkaBus>,
    /// Each partition's epoch and the first offset its rooms' histories are rebuilt from (older
    /// ones are not kept in memory), in partition order.
    pub epochs: Epochs,
    /// The claims and releases read back from the claims topic, in its order, then the read
    /// markers from the reads topic and the sanctions, for the broadcaster before it serves
    /// anyone.
    pub recalled: Vec<Event>,
}

/// Connects, makes sure the five topics exist with the right partition counts, learns each
/// partition's epoch, and starts the `kafka` thread: the producers, the consumers and the probe.
pub fn start(config: &Config, inbox: Inbox, metrics: Arc<Metrics>) -> Result<Started, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { context: "starting the Kafka runtime", source })?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut setup = runtime.block_on(retry_until(deadline, || set_up(config)))?;
    let recalled = std::mem::take(&mut setup.recalled);
    let (queue, lanes) = Queue::new(config.kafka_partitions, QUEUE_CAPACITY);
    let (tasks, epochs) = Tasks::new(setup, lanes, config, inbox, metrics.clone());
    let bus = Arc::new(KafkaBus {
        queue,
        // A producer id for this run: two instances, or two runs of one, never share one.
        producer: random_u64(),
        next_seq: AtomicU64::new(1),
        partitions: config.kafka_partitions,
        topic: config.kafka_topic.clone(),
        instance: config.instance_id.clone(),
    });
    let body = move || {
        // The tasks run until the process ends; should the thread end anyway (a panic), the
        // server reports itself unhealthy instead of a bus that silently stopped.
        let _unhealthy_when_gone = Stopped(metrics);
        runtime.block_on(tasks.run());
    };
    spawn("kafka", body)?;
    Ok(Started { bus, epochs, recalled })
}

/// What [`set_up`] sets up: the connections, and where the partitions stand.
struct Setup {
    client: Client,
    /// The chat topic's partitions, in order.
    chat: Vec<ChatPartition>,
    presence: Partition,
    presence_from: i64,
    claims: Partition,
    /// Where the claims consumer starts: the end of the topic when it was read back.
    claims_from: i64,
    reads: Partition,
    /// Where the reads consumer starts: the end of the topic when it was read back.
    reads_from: i64,
    sanctions: Partition,
    /// Where the sanctions consumer starts: the end of the topic when it was read back.
    sanctions_from: i64,
    /// What was read back of the claims topic, then of the reads and sanctions topics.
    recalled: Vec<Event>,
}

/// A chat partition: its connections, epoch and watermarks.
struct ChatPartition {
    clients: Partition,
    epoch: String,
    low: i64,
    high: i64,
}

/// Connects, makes sure the five topics exist with their partition counts, learns each chat
/// partition's epoch and watermarks, and reads the claims back.
async fn set_up(config: &Config) -> Result<Setup, Error> {
    let topic = config.kafka_topic.as_str();
    let presence_topic = format!("{topic}.presence");
    let claims_topic = format!("{topic}.claims");
    let reads_topic = format!("{topic}.reads");
    let sanctions_topic = format!("{topic}.sanctions");
    let client = connect::client(config).await?;
    let partitions = config.kafka_partitions;
    let needed = || {
        format!(
            "KAFKA_PARTITIONS is {partitions}: set KAFKA_PARTITIONS to the topic's count, or \
             KAFKA_TOPIC to a new topic"
        )
    };
    ensure_topic(&client, topic, partitions, needed).await?;
    ensure_topic(&client, &presence_topic, 1, || "the presence topic must have 1".to_string())
        .await?;
    ensure_topic(&client, &claims_topic, 1, || "the claims topic must have 1".to_string()).await?;
    ensure_topic(&client, &reads_topic, 1, || "the reads topic must have 1".to_string()).await?;
    let one = || "the sanctions topic must have 1".to_string();
    ensure_topic(&client, &sanctions_topic, 1, one).await?;
    let mut chat = Vec::with_capacity(partitions as usize);
    for p in 0..partitions {
        let clients = partition_clients(&client, topic, p).await?;
        let (epoch, low, high) = read_epoch(&clients, topic, p).await?;
        chat.push(ChatPartition { clients, epoch, low, high });
    }
    let presence = partition_clients(&client, &presence_topic, 0).await?;
    let (presence_low, presence_high) = watermarks(&presence.consumer).await?;
    let presence_from = presence_low.max(presence_high - PRESENCE_READBACK);
    let claims = partition_clients(&client, &claims_topic, 0).await?;
    let (claims_low, claims_high) = watermarks(&claims.consumer).await?;
    let claims_start = claims_low.max(claims_high - CLAIMS_READBACK);
    let records = ClaimRecords { me: config.instance_id.clone() };
    let mut recalled =
        consume::recall(&records, &claims.consumer, claims_start, claims_high).await?;
    info!(
        "kafka: read back {} records of {claims_topic} ({claims_start}..{claims_high})",
        recalled.len()
    );
    let claims_from = claims_high;
    // After the claims: a marker needs its session known.
    let reads = partition_clients(&client, &reads_topic, 0).await?;
    let (reads_low, reads_high) = watermarks(&reads.consumer).await?;
    let reads_start = reads_low.max(reads_high - READS_READBACK);
    let records = ReadRecords { me: config.instance_id.clone() };
    let markers = consume::recall(&records, &reads.consumer, reads_start, reads_high).await?;
    info!(
        "kafka: read back {} records of {reads_topic} ({reads_start}..{reads_high})",
        markers.len()
    );
    recalled.extend(markers);
    let reads_from = reads_high;
    let sanctions = partition_clients(&client, &sanctions_topic, 0).await?;
    let (sanctions_low, sanctions_from) = watermarks(&sanctions.consumer).await?;
    let start = sanctions_low.max(sanctions_from - SANCTIONS_READBACK);
    let decided =
        consume::recall(&SanctionRecords, &sanctions.consumer, start, sanctions_from).await?;
    info!(
        "kafka: read back {} records of {sanctions_topic} ({start}..{sanctions_from})",
        decided.len()
    );
    recalled.extend(decided);
    Ok(Setup {
        client,
        chat,
        presence,
        presence_from,
        claims,
        claims_from,
        reads,
        reads_from,
        sanctions,
        sanctions_from,
        recalled,
    })
}

/// What the `kafka` thread runs, each task with the connection it owns.
struct Tasks {
    /// A producer per lane: each chat partition's, in order, then the presence, claims, reads
    /// and sanctions topics'.
    producers: Vec<(mpsc::Receiver<Outgoing>, PartitionClient)>,
    /// A consumer per chat partition.
    chat: Vec<(PartitionClient, ChatFrom, Rooms)>,
    /// The presence topic's consumer, and the offset it starts at.
    presence: (PartitionClient, i64, PresenceRecords),
    /// The claims topic's consumer, and the offset it starts at (where the read-back ended).
    claims: (PartitionClient, i64, ClaimRecords),
    /// The reads topic's consumer, and the offset it starts at (where the read-back ended).
    reads: (PartitionClient, i64, ReadRecords),
    /// The sanctions topic's consumer, and the offset it starts at.
    sanctions: (PartitionClient, i64),
    /// The probe's client, and the topic it looks for.
    probe: (Client, String),
    inbox: Inbox,
    metrics: Arc<Metrics>,
}

impl Tasks {
    /// Where each partition's consumer starts and its rooms' histories begin, from what
    /// [`set_up`] found; with the [`Epochs`] for the broadcaster.
    fn new(
        setup: Setup,
        lanes: Vec<mpsc::Receiver<Outgoing>>,
        config: &Config,
        inbox: Inbox,
        metrics: Arc<Metrics>,
    ) -> (Tasks, Epochs) {
        let Setup { client, chat, presence, presence_from, claims, claims_from, .. } = setup;
        let (reads, reads_from) = (setup.reads, setup.reads_from);
        let (sanctions, sanctions_from) = (setup.sanctions, setup.sanctions_from);
        let readback = readback(config.history_size, config.kafka_partitions);
        let mut starts = Vec::with_capacity(chat.len());
        let mut producers = Vec::with_capacity(lanes.len());
        let mut consumers = Vec::with_capacity(chat.len());
        // Partitions with a history to read back: /healthz waits for them (metrics.rs).
        let mut behind = 0;
        for (p, ChatPartition { clients, epoch, low, high }) in chat.into_iter().enumerate() {
            let history_from = low.max(high - readback);
            debug!(
                "kafka: partition {p}: epoch {epoch}, offsets {low}..{high}, from {history_from}"
            );
            starts.push(Start { epoch, first_id: u64::try_from(history_from).unwrap_or(0) });
            producers.push(clients.producer);
            let from = ChatFrom {
                read_from: low.max(history_from - dedup::WINDOW),
                deliver_from: history_from,
                read_back_at: (high > history_from).then_some(high),
            };
            behind += usize::from(high > history_from);
            let rooms = Rooms {
                partition: p as u32,
                partitions: config.kafka_partitions,
                default_room: config.default_room.clone(),
            };
            consumers.push((clients.consumer, from, rooms));
        }
        metrics.history_behind(behind);
        info!(
            "kafka {}: topic {} with {} partitions, each read back {readback} records",
            config.kafka_brokers, config.kafka_topic, config.kafka_partitions
        );
        producers.push(presence.producer);
        producers.push(claims.producer);
        producers.push(reads.producer);
        producers.push(sanctions.producer);
        let records = PresenceRecords {
            me: config.instance_id.clone(),
            default_room: config.default_room.clone(),
        };
        let claim_records = ClaimRecords { me: config.instance_id.clone() };
        let tasks = Tasks {
            producers: lanes.into_iter().zip(producers).collect(),
            chat: consumers,
            presence: (presence.consumer, presence_from, records),
            claims: (claims.consumer, claims_from, claim_records),
            reads: (reads.consumer, reads_from, ReadRecords { me: config.instance_id.clone() }),
            sanctions: (sanctions.consumer, sanctions_from),
            probe: (client, config.kafka_topic.clone()),
            inbox,
            metrics,
        };
        (tasks, Epochs::partitions(starts))
    }

    /// Runs every task until they all end (they run as long as the process does); a task that
    /// panics takes the thread down with it, as if it had run on it.
    async fn run(self) {
        let Tasks { producers, chat, presence, claims, reads, sanctions, probe, inbox, metrics } =
            self;
        let mut tasks = JoinSet::new();
        for (lane, client) in producers {
            tasks.spawn(produce::run(lane, client, metrics.clone()));
        }
        for (client, from, rooms) in chat {
            tasks.spawn(messages::consume(client, from, rooms, inbox.clone(), metrics.clone()));
        }
        let (client, from, records) = presence;
        tasks.spawn(presence::consume(client, from, records, inbox.clone(), metrics.clone()));
        let (client, from, records) = claims;
        tasks.spawn(consume::consume(client, from, records, inbox.clone(), metrics.clone()));
        let (client, from, records) = reads;
        tasks.spawn(consume::consume(client, from, records, inbox.clone(), metrics.clone()));
        let (client, from) = sanctions;
        tasks.spawn(consume::consume(client, from, SanctionRecords, inbox, metrics.clone()));
        tasks.spawn(probe_health(probe.0, probe.1, metrics));
        while let Some(ended) = tasks.join_next().await {
            if let Err(Ok(panic)) = ended.map_err(|e| e.try_into_panic()) {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

/// How long start-up waits for the broker.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// Records waiting for the producer at most; beyond that a message is `not_delivered` at once.
const QUEUE_CAPACITY: usize = 16 * 1024;
