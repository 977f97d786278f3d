//! The Kafka bus: every instance produces to, and consumes all of, one chat topic with
//! `KAFKA_PARTITIONS` (P) partitions; all of a room's records go to one of them.
//!
//! ```text
//! reader (any instance) ──produce──▶ topic `chat`, partition partition(room, P)
//!     ──consume every partition (assigned, not a group)──▶ every instance's consumer tasks
//!     ──Event::Chat { room, id: offset }──▶ its broadcaster ──▶ the room's members
//! ```
//! - **One order per room.** A partition is totally ordered, a room lives in exactly one
//!   ([`partition`]: FNV-1a of the name modulo P, the same in every version), and every instance
//!   reads every partition, so each shows a room's messages in one order, with the record's
//!   offset as the id. A room's ids increase but skip the offsets of its partition's other rooms;
//!   rooms of different partitions have no order between them, and need none.
//! - **One partition count.** Instances that hashed with different counts would give a room two
//!   partitions and two orders. Start-up creates the topic with P partitions when it is missing,
//!   and refuses to start, naming both numbers, when it has another count
//!   ([`Error::PartitionCount`]); it never changes an existing topic.
//! - **Nothing lost silently, nothing twice.** Records are produced with `acks=all`. A record
//!   not acknowledged within [`DELIVERY_TIMEOUT`] is reported to its sender as a `not_delivered`
//!   error event. A timeout cannot tell "never arrived" from "arrived, answer lost": a broker that
//!   was only stalled may still append it when it resumes, and then everybody sees it once. The
//!   client retries a request whose connection broke, which can append a record twice: every chat
//!   record carries a unique id, and a copy is skipped by every instance alike (`dedup.rs`, one
//!   window per partition). One request per partition is in flight at a time, so a producer's
//!   records keep their order within a partition (`produce.rs`).
//! - **History survives restarts.** On start each partition is delivered from [`readback`]
//!   records before its end (and read from up to [`WINDOW`](dedup::WINDOW) records earlier, only
//!   to learn the uids seen). A partition carries several rooms: `HISTORY_SIZE` records back would
//!   leave a quiet room that shares one with a busy room with little or nothing. So we read back
//!   [`READBACK_ROOMS`] (64) histories spread over the topic: `HISTORY_SIZE * 64 / P` per
//!   partition, at least `HISTORY_SIZE`, at most [`READBACK_CAP`]. At the default P = 8 that is
//!   the `HISTORY_SIZE * 8` one might pick by hand; but it does not shrink when partitions are
//!   few, hence crowded (P = 1: all 64 in one), nor does the total grow with P, so start-up time
//!   and the memory of the histories rebuilt (up to `HISTORY_SIZE` per room) stay put.
//! - **Epochs.** Offsets restart at 0 when a topic is recreated, so ids alone could be resumed
//!   wrongly. A partition's epoch is the identity of its oldest record kept: a marker record the
//!   first instance writes into the empty partition. A room's epoch is its partition's
//!   ([`Epochs`]).
//! - **Presence and typing** go through `<topic>.presence` (one partition): each instance
//!   announces its nicknames per room when they change and every
//!   [`ANNOUNCE_EVERY`](crate::chat::presence::ANNOUNCE_EVERY) (`chat/presence.rs`); a typing
//!   indicator is a record there too, in no history.
//! - **Claims** go through `<topic>.claims` (one partition, so one order; created at start and
//!   refused with another count, like the presence topic). A session that takes a nickname here
//!   (a newcomer, a rename) holds it here at once and produces
//!   `{"kind":"claim","user":"<public id>","name":"alice","instance":"ws1","at":<ms>}`; every
//!   instance, the claimer too, consumes the claims in order and its broadcaster applies them
//!   alike, so the first claim of a name wins everywhere and the loser's instance renames it
//!   (`chat/identity.rs`, "Across instances"). An instance that forgets a session produces a
//!   `release` (`"name"` folded), after which the name is free everywhere. Records carry public
//!   ids, never sessions. Start-up reads the newest [`CLAIMS_READBACK`] records back before it
//!   serves anyone, so a restarted instance knows the deployment's sessions and names.
//!   Rosters list the sessions connected to their instance too (`"sessions":["<id>",…]`),
//!   so that a session online elsewhere is not swept, and private messages to it are not unread.
//! - **Broker trouble** does not stop the server: a probe asks the broker for metadata every
//!   [`PROBE_EVERY`], and `/healthz` answers 503 with the reason until it answers again.
//!
//! The client is rskafka, pure Rust on tokio: one thread, `kafka`, runs a current-thread runtime
//! with a producer task and a consumer task per partition (P + 2 of each, with the presence and
//! claims topics') and the probe. Each of these tasks holds a connection of its own, 2P + 4, plus
//! the client's own for metadata (21 at P = 8). A partition's produce and fetch cannot share one: a
//! broker answers one connection's requests in order (the protocol guide: "the server guarantees
//! that on a single TCP connection, requests will be processed in the order they are sent"), so
//! a produce would wait behind a held fetch. A consumer per partition, rather than one task
//! fetching them in turn, keeps a message's wait at one held fetch (10 ms at most) whatever P
//! is; in turn, every idle partition would add its 10 ms to the round (80 ms at P = 8), and
//! fetching them in turn without a wait would ask as often as this does. The price is P fetches
//! every 10 ms while idle: against tansu, an idle release build used 2.4% of a core at P = 8
//! (0.8% at P = 1) and the broker about 18% (6%). Reader threads reach the producers through
//! [`produce::Queue`], and the consumers reach the broadcaster through the event channel; neither
//! side waits for the other. Unlike a C client, it keeps no thread-local state that every thread
//! of the process would carry (see BENCHMARKS.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::chat::history::{Epochs, Start};
use crate::chat::identity::Pair;
use crate::chat::inbox::{Event, Inbox, Said};
use crate::chat::presence::now_millis;
use crate::chat::protocol::{Chat, Place};
use crate::chat::room::{RoomName, partition};
use crate::chat::session::{UserId, random_u64};
use crate::config::Config;
use crate::error::Error;
use crate::metrics::Metrics;
use crate::net::accept::spawn;
use crate::ws::outbound::Outbound;

mod consume;
mod dedup;
mod produce;

use dedup::Uid;
use produce::{Kind, Lane, Outgoing, Queue};

/// The producer side, shared by reader threads and the broadcaster.
pub struct KafkaBus {
    queue: Queue,
    /// This run's producer id, drawn at random, and the next sequence number: together a chat
    /// record's [`Uid`].
    producer: u64,
    next_seq: AtomicU64,
    /// The chat topic's partition count, to find a room's partition.
    partitions: u32,
    topic: String,
    instance: String,
}

/// What start-up learned from the topic.
pub struct Started {
    /// The bus, for publishing.
    pub bus: Arc<KafkaBus>,
    /// Each partition's epoch and the first offset its rooms' histories are rebuilt from (older
    /// ones are not kept in memory), in partition order.
    pub epochs: Epochs,
    /// The claims and releases read back from the claims topic, in its order, for the
    /// broadcaster before it serves anyone.
    pub recalled: Vec<Event>,
}

/// A record on the topics, as JSON: `{"kind":"chat",…}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Record {
    /// The marker that names a partition's epoch.
    Epoch { epoch: String },
    /// A chat message (its id is its offset). `uid` tells a retried copy from a new message;
    /// records written before it existed have none. Records written before rooms have no `room`:
    /// they were said in `DEFAULT_ROOM`.
    Chat {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The sender's public id; records written before sessions have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        name: String,
        text: String,
        ts: String,
        instance: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<Uid>,
    },
    /// The nicknames online on one instance, per room, at a time in milliseconds since 1970:
    /// `"rooms":{"general":["alice"]}`, and the sessions connected to it by public id:
    /// `"sessions":["LJgLhthO3_LJUFoX"]`. Records written before rooms list `"users"`
    /// instead, who were in `DEFAULT_ROOM`; records written before sessions have no `sessions`.
    Roster {
        instance: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rooms: Option<BTreeMap<String, Vec<String>>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        users: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sessions: Option<Vec<String>>,
        at: u64,
    },
    /// Session `user` took the nickname `name` on `instance` at `at` (ms since 1970), on the
    /// claims topic: of two claims of one name the first wins (`chat/identity.rs`).
    Claim { user: String, name: String, instance: String, at: u64 },
    /// `instance` forgot session `user`, which held `name` (folded), on the claims topic: the
    /// name is free again.
    Release { user: String, name: String, instance: String, at: u64 },
    /// A private message from session `user` (`name`) to session `to_user` (`to`), in the
    /// partition of the pair's key (its id is its offset). It carries public ids, never sessions.
    Dm {
        user: String,
        name: String,
        to_user: String,
        to: String,
        text: String,
        ts: String,
        instance: String,
        uid: Uid,
    },
    /// `name` is typing in `room`, on connection `conn` of `instance`, at `at` (ms since 1970).
    Typing {
        instance: String,
        conn: u64,
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        name: String,
        at: u64,
    },
}

/// Connects, makes sure both topics exist with the right partition counts, learns each
/// partition's epoch, and starts the `kafka` thread: the producers, the consumers and the probe.
pub fn start(config: &Config, inbox: Inbox, metrics: Arc<Metrics>) -> Result<Started, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| Error::Io { context: "starting the Kafka runtime", source })?;
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut setup = runtime.block_on(retry_until(deadline, || connect(config)))?;
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

/// What the `kafka` thread runs, each task with the connection it owns.
struct Tasks {
    /// A producer per lane: each chat partition's, in order, then the presence topic's.
    producers: Vec<(mpsc::Receiver<Outgoing>, PartitionClient)>,
    /// A consumer per chat partition.
    chat: Vec<(PartitionClient, consume::ChatFrom, consume::Rooms)>,
    /// The presence topic's consumer, and the offset it starts at.
    presence: (PartitionClient, i64, consume::PresenceRecords),
    /// The claims topic's consumer, and the offset it starts at (where the read-back ended).
    claims: (PartitionClient, i64, consume::ClaimRecords),
    /// The probe's client, and the topic it looks for.
    probe: (Client, String),
    inbox: Inbox,
    metrics: Arc<Metrics>,
}

impl Tasks {
    /// Where each partition's consumer starts and its rooms' histories begin, from what
    /// [`connect`] found; with the [`Epochs`] for the broadcaster.
    fn new(
        setup: Setup,
        lanes: Vec<mpsc::Receiver<Outgoing>>,
        config: &Config,
        inbox: Inbox,
        metrics: Arc<Metrics>,
    ) -> (Tasks, Epochs) {
        let Setup { client, chat, presence, presence_from, claims, claims_from, .. } = setup;
        let readback = readback(config.history_size, config.kafka_partitions);
        let mut starts = Vec::with_capacity(chat.len());
        let mut producers = Vec::with_capacity(lanes.len());
        let mut consumers = Vec::with_capacity(chat.len());
        for (p, ChatPartition { clients, epoch, low, high }) in chat.into_iter().enumerate() {
            let history_from = low.max(high - readback);
            debug!(
                "kafka: partition {p}: epoch {epoch}, offsets {low}..{high}, from {history_from}"
            );
            starts.push(Start { epoch, first_id: u64::try_from(history_from).unwrap_or(0) });
            producers.push(clients.producer);
            let from = consume::ChatFrom {
                read_from: low.max(history_from - dedup::WINDOW),
                deliver_from: history_from,
            };
            let rooms = consume::Rooms {
                partition: p as u32,
                partitions: config.kafka_partitions,
                default_room: config.default_room.clone(),
            };
            consumers.push((clients.consumer, from, rooms));
        }
        info!(
            "kafka {}: topic {} with {} partitions, each read back {readback} records",
            config.kafka_brokers, config.kafka_topic, config.kafka_partitions
        );
        producers.push(presence.producer);
        producers.push(claims.producer);
        let records = consume::PresenceRecords {
            me: config.instance_id.clone(),
            default_room: config.default_room.clone(),
        };
        let claim_records = consume::ClaimRecords { me: config.instance_id.clone() };
        let tasks = Tasks {
            producers: lanes.into_iter().zip(producers).collect(),
            chat: consumers,
            presence: (presence.consumer, presence_from, records),
            claims: (claims.consumer, claims_from, claim_records),
            probe: (client, config.kafka_topic.clone()),
            inbox,
            metrics,
        };
        (tasks, Epochs::partitions(starts))
    }

    /// Runs every task until they all end (they run as long as the process does); a task that
    /// panics takes the thread down with it, as if it had run on it.
    async fn run(self) {
        let Tasks { producers, chat, presence, claims, probe, inbox, metrics } = self;
        let mut tasks = JoinSet::new();
        for (lane, client) in producers {
            tasks.spawn(produce::run(lane, client, metrics.clone()));
        }
        for (client, from, rooms) in chat {
            tasks.spawn(consume::chat(client, from, rooms, inbox.clone(), metrics.clone()));
        }
        let (client, from, records) = presence;
        tasks.spawn(consume::presence(client, from, records, inbox.clone(), metrics.clone()));
        let (client, from, records) = claims;
        tasks.spawn(consume::claims(client, from, records, inbox, metrics.clone()));
        tasks.spawn(probe_health(probe.0, probe.1, metrics));
        while let Some(ended) = tasks.join_next().await {
            if let Err(Ok(panic)) = ended.map_err(|e| e.try_into_panic()) {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

impl KafkaBus {
    /// Produces a chat message to its room's partition; a failure reaches `sender` as a
    /// `not_delivered` error event.
    pub fn publish(&self, room: &RoomName, said: Said, sender: &Arc<Outbound>) {
        let Said { user, name, text, ts } = said;
        let record = Record::Chat {
            room: Some(room.to_string()),
            user: Some(user.to_text()),
            name,
            text,
            ts,
            instance: self.instance.clone(),
            uid: Some(self.next_uid()),
        };
        let lane = Lane::Chat(partition(room.as_str(), self.partitions));
        let kind = Kind::Chat { sender: sender.clone(), room: Some(room.clone()) };
        self.queue.push(lane, kind, None, to_json(&record));
    }

    /// Produces a private message to its conversation's partition; a failure reaches `sender`
    /// as a `not_delivered` error event.
    pub fn direct(&self, chat: &Chat, sender: &Arc<Outbound>) {
        let Place::Direct { to, to_user } = &chat.place else { return };
        let record = Record::Dm {
            user: chat.user.to_text(),
            name: chat.name.clone(),
            to_user: to_user.to_text(),
            to: to.clone(),
            text: chat.text.clone(),
            ts: chat.ts.clone(),
            instance: self.instance.clone(),
            uid: self.next_uid(),
        };
        let key = Pair::new(chat.user, *to_user).key();
        let lane = Lane::Chat(partition(&key, self.partitions));
        let kind = Kind::Chat { sender: sender.clone(), room: None };
        self.queue.push(lane, kind, None, to_json(&record));
    }

    /// A new uid for a record of this run.
    fn next_uid(&self) -> Uid {
        [self.producer, self.next_seq.fetch_add(1, Ordering::Relaxed)]
    }

    /// Produces a typing indicator (connection `conn` of this instance) to the presence topic.
    pub fn typing(&self, room: &RoomName, user: UserId, name: String, conn: u64) {
        let record = Record::Typing {
            instance: self.instance.clone(),
            conn,
            room: room.to_string(),
            user: Some(user.to_text()),
            name,
            at: now_millis(),
        };
        self.queue.push(Lane::Presence, Kind::Typing, self.key(), to_json(&record));
    }

    /// Produces session `user`'s claim of `name` to the claims topic.
    pub fn claim(&self, user: UserId, name: &str) {
        let (user, name) = (user.to_text(), name.to_string());
        let key = Some(user.as_bytes().to_vec());
        let record =
            Record::Claim { user, name, instance: self.instance.clone(), at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Claim, key, to_json(&record));
    }

    /// Produces the release of session `user`'s name `folded` to the claims topic.
    pub fn release(&self, user: UserId, folded: &str) {
        let (user, name) = (user.to_text(), folded.to_string());
        let key = Some(user.as_bytes().to_vec());
        let instance = self.instance.clone();
        let record = Record::Release { user, name, instance, at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Claim, key, to_json(&record));
    }

    /// Announces the nicknames online on this instance, per room, and the sessions connected.
    pub fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>, sessions: Vec<UserId>) {
        let rooms = rooms.into_iter().map(|(room, users)| (room.to_string(), users)).collect();
        let sessions = sessions.iter().map(UserId::to_text).collect();
        let record = Record::Roster {
            instance: self.instance.clone(),
            rooms: Some(rooms),
            users: None,
            sessions: Some(sessions),
            at: now_millis(),
        };
        self.queue.push(Lane::Presence, Kind::Roster, self.key(), to_json(&record));
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

    /// Presence records are keyed by instance.
    fn key(&self) -> Option<Vec<u8>> {
        Some(self.instance.as_bytes().to_vec())
    }
}

/// Marks the bus unhealthy when dropped: the `kafka` thread holds it while it runs.
struct Stopped(Arc<Metrics>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.set_problem(Some("kafka: the client thread stopped".to_string()));
    }
}

/// What [`connect`] sets up: the connections, and where the partitions stand.
struct Setup {
    client: Client,
    /// The chat topic's partitions, in order.
    chat: Vec<ChatPartition>,
    presence: Partition,
    presence_from: i64,
    claims: Partition,
    /// Where the claims consumer starts: the end of the topic when it was read back.
    claims_from: i64,
    /// What was read back of the claims topic.
    recalled: Vec<Event>,
}

/// A chat partition: its connections, epoch and watermarks.
struct ChatPartition {
    clients: Partition,
    epoch: String,
    low: i64,
    high: i64,
}

/// Two connections to one partition: one to produce, one to consume.
struct Partition {
    producer: PartitionClient,
    consumer: PartitionClient,
}

async fn connect(config: &Config) -> Result<Setup, Error> {
    let topic = config.kafka_topic.as_str();
    let presence_topic = format!("{topic}.presence");
    let claims_topic = format!("{topic}.claims");
    let brokers = config.kafka_brokers.split(',').map(|b| b.trim().to_string()).collect();
    let client = ClientBuilder::new(brokers)
        .client_id(format!("websocketchat-{}", config.instance_id))
        .backoff_config(backoff());
    let client = within("connecting", client.build()).await?;
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
    let records = consume::ClaimRecords { me: config.instance_id.clone() };
    let recalled = records.read_back(&claims.consumer, claims_start, claims_high).await?;
    info!(
        "kafka: read back {} claims of {claims_topic} ({claims_start}..{claims_high})",
        recalled.len()
    );
    let claims_from = claims_high;
    Ok(Setup { client, chat, presence, presence_from, claims, claims_from, recalled })
}

async fn partition_clients(client: &Client, topic: &str, p: u32) -> Result<Partition, Error> {
    let open = || client.partition_client(topic, p as i32, UnknownTopicHandling::Retry);
    let producer = within("connecting to the partition", open()).await?;
    let consumer = within("connecting to the partition", open()).await?;
    Ok(Partition { producer, consumer })
}

/// Creates `topic` with `wanted` partitions if it does not exist; refuses one with another
/// count ([`Error::PartitionCount`], with `needed` saying why), and never changes it.
async fn ensure_topic(
    client: &Client,
    topic: &str,
    wanted: u32,
    needed: impl FnOnce() -> String,
) -> Result<(), Error> {
    let partitions = || async {
        let topics = within("reading metadata", client.list_topics()).await?;
        Ok::<_, Error>(topics.into_iter().find(|t| t.name == topic).map(|t| t.partitions.len()))
    };
    if matches!(partitions().await?, None | Some(0)) {
        let plural = if wanted == 1 { "" } else { "s" };
        info!("kafka: creating topic {topic} with {wanted} partition{plural}");
        let controller = client.controller_client().map_err(|e| kafka_error("controller", e))?;
        let timeout_ms = KAFKA_TIMEOUT.as_millis() as i32;
        let create = controller.create_topic(topic, wanted as i32, 1, timeout_ms);
        let created = tokio::time::timeout(KAFKA_TIMEOUT, create)
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
        Some(found) if found == wanted as usize => Ok(()),
        Some(found) if found > 0 => {
            Err(Error::PartitionCount { topic: topic.to_string(), found, needed: needed() })
        }
        _ => Err(Error::Kafka(format!("topic {topic} does not exist yet"))),
    }
}

/// A partition's epoch is the identity of its oldest record kept: an epoch marker, written into
/// the empty partition by whichever instance gets there first. Returns it with the watermarks.
async fn read_epoch(chat: &Partition, topic: &str, p: u32) -> Result<(String, i64, i64), Error> {
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
    let first = records.first().ok_or_else(|| {
        Error::Kafka(format!("cannot read the first record of {topic} partition {p}"))
    })?;
    let epoch = match first.record.value.as_deref().map(serde_json::from_slice::<Record>) {
        Some(Ok(Record::Epoch { epoch })) => epoch,
        // A topic from before epoch markers: its first record's identity. Partition 0 keeps the
        // name it had when the topic had one partition.
        _ => {
            let name = if p == 0 { topic.to_string() } else { format!("{topic}.{p}") };
            format!("{name}@{}.{}", first.offset, first.record.timestamp.timestamp_millis())
        }
    };
    Ok((epoch, low, high))
}

/// Chat records of each partition delivered at start: room for [`READBACK_ROOMS`] rooms'
/// histories of `history_size` spread over the `partitions`, at least one history and at most
/// [`READBACK_CAP`] (see the module doc, "History survives restarts").
fn readback(history_size: usize, partitions: u32) -> i64 {
    let spread = (history_size * READBACK_ROOMS).div_ceil(partitions.max(1) as usize);
    spread.min(READBACK_CAP).max(history_size) as i64
}

/// The partition's low and high watermarks: the oldest offset kept and the next one to be written.
async fn watermarks(client: &PartitionClient) -> Result<(i64, i64), Error> {
    let low = within("reading offsets", client.get_offset(OffsetAt::Earliest)).await?;
    let high = within("reading offsets", client.get_offset(OffsetAt::Latest)).await?;
    Ok((low, high))
}

/// Asks the broker for its topics every [`PROBE_EVERY`]; `/healthz` reports the result.
async fn probe_health(client: Client, topic: String, metrics: Arc<Metrics>) {
    loop {
        let problem = match tokio::time::timeout(PROBE_EVERY, client.list_topics()).await {
            Ok(Ok(topics)) if topics.iter().any(|t| t.name == topic) => None,
            Ok(Ok(_)) => Some(format!("kafka: topic {topic} is missing")),
            Ok(Err(e)) => Some(format!("kafka: broker unreachable: {e}")),
            Err(_) => Some(format!("kafka: broker unreachable: no answer within {PROBE_EVERY:?}")),
        };
        metrics.set_problem(problem);
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
/// Presence records read back at start, to learn who is online elsewhere. Typing records share
/// the topic: when they crowd the rosters out, the next announcements (every 5 s) tell.
const PRESENCE_READBACK: i64 = 1000;
/// Claims and releases read back at start, the newest: the sessions (and their names) of the
/// deployment that a restarted instance knows. A session whose last claim is older is unknown to
/// it (presenting it there gets `session_expired`). About 100 bytes each: 10 MB at most to read.
const CLAIMS_READBACK: i64 = 100_000;
/// How many rooms' histories start-up reads back, spread over the partitions.
const READBACK_ROOMS: usize = 64;
/// Chat records read back per partition at most (unless one history is longer).
const READBACK_CAP: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn json(record: &Record) -> String {
        String::from_utf8(to_json(record)).unwrap()
    }

    #[test]
    fn records_as_they_are_written() {
        let chat = Record::Chat {
            room: Some("rust".into()),
            user: Some("LJgLhthO3_LJUFoX".into()),
            name: "alice".into(),
            text: "hi".into(),
            ts: "t".into(),
            instance: "ws1".into(),
            uid: Some([7, 42]),
        };
        assert_eq!(
            json(&chat),
            r#"{"kind":"chat","room":"rust","user":"LJgLhthO3_LJUFoX","name":"alice","text":"hi","ts":"t","instance":"ws1","uid":[7,42]}"#
        );
        let rooms = [("rust".to_string(), vec!["bob".into()]), ("general".into(), vec![])];
        let sessions = ["LJgLhthO3_LJUFoX".to_string()];
        let roster = Record::Roster {
            instance: "ws1".into(),
            rooms: Some(rooms.into_iter().collect()),
            users: None,
            sessions: Some(sessions.into_iter().collect()),
            at: 5,
        };
        assert_eq!(
            json(&roster),
            r#"{"kind":"roster","instance":"ws1","rooms":{"general":[],"rust":["bob"]},"sessions":["LJgLhthO3_LJUFoX"],"at":5}"#
        );
        let (user, instance) = ("LJgLhthO3_LJUFoX".to_string(), "ws1".to_string());
        let claim = Record::Claim { user, name: "Alice".into(), instance, at: 5 };
        assert_eq!(
            json(&claim),
            r#"{"kind":"claim","user":"LJgLhthO3_LJUFoX","name":"Alice","instance":"ws1","at":5}"#
        );
        let (user, instance) = ("LJgLhthO3_LJUFoX".to_string(), "ws2".to_string());
        let release = Record::Release { user, name: "alice".into(), instance, at: 6 };
        assert_eq!(
            json(&release),
            r#"{"kind":"release","user":"LJgLhthO3_LJUFoX","name":"alice","instance":"ws2","at":6}"#
        );
        let typing = Record::Typing {
            instance: "ws1".into(),
            conn: 17,
            room: "rust".into(),
            user: None,
            name: "alice".into(),
            at: 5,
        };
        assert_eq!(
            json(&typing),
            r#"{"kind":"typing","instance":"ws1","conn":17,"room":"rust","name":"alice","at":5}"#
        );
    }

    #[test]
    fn records_from_before_rooms_and_uids_still_read() {
        let old = br#"{"kind":"chat","name":"bob","text":"yo","ts":"t","instance":"ws2"}"#;
        assert!(matches!(
            serde_json::from_slice(old),
            Ok(Record::Chat { room: None, uid: None, .. })
        ));
        let old =
            br#"{"kind":"chat","name":"bob","text":"yo","ts":"t","instance":"ws2","uid":[1,2]}"#;
        assert!(matches!(serde_json::from_slice(old), Ok(Record::Chat { room: None, .. })));
        let old = br#"{"kind":"roster","instance":"ws2","users":["bob"],"at":9}"#;
        let Ok(Record::Roster { rooms: None, users: Some(users), at: 9, .. }) =
            serde_json::from_slice(old)
        else {
            panic!("an old roster did not read");
        };
        assert_eq!(users, ["bob"]);
        let marker = br#"{"kind":"epoch","epoch":"0123456789abcdef"}"#;
        assert!(matches!(serde_json::from_slice(marker), Ok(Record::Epoch { .. })));
    }

    /// A bus whose lanes the test reads, with `partitions` chat partitions.
    fn bus(partitions: u32) -> (KafkaBus, Vec<mpsc::Receiver<Outgoing>>) {
        let (queue, lanes) = Queue::new(partitions, 16);
        let bus = KafkaBus {
            queue,
            producer: 7,
            next_seq: AtomicU64::new(1),
            partitions,
            topic: "chat".into(),
            instance: "ws1".into(),
        };
        (bus, lanes)
    }

    fn taken(lane: &mut mpsc::Receiver<Outgoing>) -> Option<String> {
        lane.try_recv().ok().map(|r| String::from_utf8(r.value).unwrap())
    }

    #[test]
    fn a_message_goes_to_its_rooms_partition_presence_and_claims_to_their_topics() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let metrics = Arc::new(Metrics::default());
        let sender = Arc::new(Outbound::new(socket, None, 1024, metrics, None));
        let (bus, mut lanes) = bus(8);
        // FNV-1a: general is on partition 3 of 8, rust on 7 (see `chat/room.rs`).
        let said = |name: &str, text: &str| Said {
            user: UserId::NOBODY,
            name: name.into(),
            text: text.into(),
            ts: "t".into(),
        };
        bus.publish(&room("general"), said("alice", "hi"), &sender);
        bus.publish(&room("rust"), said("bob", "yo"), &sender);
        bus.typing(&room("rust"), UserId::NOBODY, "bob".into(), 17);
        bus.announce(vec![(room("rust"), vec!["bob".into()])], vec![UserId::NOBODY]);
        bus.claim(UserId::NOBODY, "bob");
        let general = taken(&mut lanes[3]).unwrap();
        assert!(general.starts_with(
            r#"{"kind":"chat","room":"general","user":"AAAAAAAAAAAAAAAA","name":"alice""#
        ));
        assert!(general.ends_with(r#""uid":[7,1]}"#), "{general}");
        let rust = taken(&mut lanes[7]).unwrap();
        assert!(rust.contains(r#""room":"rust""#) && rust.ends_with(r#""uid":[7,2]}"#));
        let typing = taken(&mut lanes[8]).unwrap();
        assert!(typing.starts_with(r#"{"kind":"typing","instance":"ws1","conn":17,"room":"rust""#));
        let roster = taken(&mut lanes[8]).unwrap();
        assert!(roster.starts_with(
            r#"{"kind":"roster","instance":"ws1","rooms":{"rust":["bob"]},"sessions":["AAAAAAAAAAAAAAAA"]"#
        ));
        let claim = taken(&mut lanes[9]).unwrap();
        assert!(claim.starts_with(r#"{"kind":"claim","user":"AAAAAAAAAAAAAAAA","name":"bob""#));
        assert!(lanes.iter_mut().all(|lane| taken(lane).is_none()), "nothing anywhere else");
    }

    #[test]
    fn start_up_reads_back_64_histories_spread_over_the_partitions() {
        assert_eq!(readback(100, 8), 800);
        assert_eq!(readback(100, 1), 6_400, "one partition carries every room");
        assert_eq!(readback(100, 3), 2_134, "rounded up");
        assert_eq!(readback(100, 64), 100);
        assert_eq!(readback(100, 1_000), 100, "never less than one history");
        assert_eq!(readback(100_000, 8), 100_000, "at most READBACK_CAP, but one history");
        assert_eq!(readback(10_000, 2), 100_000, "at most READBACK_CAP");
        assert_eq!(readback(0, 8), 0);
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
