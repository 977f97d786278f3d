//! The Kafka bus: how one chat runs on several instances. Every instance produces to, and
//! consumes all of, one chat topic with `KAFKA_PARTITIONS` (P) partitions; all of a room's
//! records go to one of them, and all of a private conversation's.
//!
//! ```text
//! broadcaster (any instance) ──produce──▶ topic `chat`, partition partition(room, P)
//!     ──consume every partition (assigned, not a group)──▶ every instance's consumer tasks
//!     ──Event::Chat { room, id: offset }──▶ its broadcaster ──▶ the room's members
//! ```
//! What Kafka does for the chat, and the file that does each part:
//! - **One order per room** (`messages.rs`). A partition is totally ordered, a room (or a private
//!   conversation) lives in exactly one, and every instance reads every partition, so each shows
//!   a room's messages in one order, with the record's offset as the id.
//! - **Nothing lost silently, nothing twice** (`produce.rs`, `dedup.rs`). Records are produced
//!   with `acks=all`. A record not acknowledged within [`DELIVERY_TIMEOUT`] is reported to its
//!   sender as a `not_delivered` error event. A timeout cannot tell "never arrived" from "arrived,
//!   answer lost": a broker that was only stalled may still append it when it resumes, and then
//!   everybody sees it once. The client retries a request whose connection broke, which can
//!   append a record twice: every chat record carries a unique id, and a copy is skipped by every
//!   instance alike (`dedup.rs`, one window per partition). One request per partition is in
//!   flight at a time, so a producer's records keep their order within a partition.
//! - **History survives restarts, epochs tell a recreated topic** (`history.rs`). Start-up
//!   delivers the last records of each partition again, room for 64 rooms' histories spread
//!   over the topic; a partition's first record names its epoch.
//! - **One partition count** (`connect.rs`). Start-up creates a missing topic and refuses to
//!   start when one has another count, naming both numbers; it never changes an existing topic.
//! - **Presence and typing** (`presence.rs`) go through `<topic>.presence`: each instance
//!   announces its nicknames per room and its sessions; typing indicators ride along.
//! - **Nicknames agreed across instances** (`claims.rs`) through `<topic>.claims`: the first
//!   claim of a name wins everywhere.
//! - **Read markers** (`reads.rs`) through `<topic>.reads`: how far each session has read,
//!   on every instance.
//! - **Bans and mutes** (`sanctions.rs`) through `<topic>.sanctions`: what operators decided,
//!   applied by every instance and read back whole at start. A kick travels on the claims topic.
//! - **Broker trouble** does not stop the server (`health.rs`): `/healthz` answers 503 with the
//!   reason until the broker answers again. A broker too old (or too new) for the client's
//!   protocol versions does, at start, naming the versions that work (`versions.rs`).
//!
//! The records on all five topics are JSON objects tagged by kind (`record.rs`). Start-up and
//! the `kafka` thread, which runs a producer task per partition (`produce.rs`), a consumer task
//! per partition (`consume.rs`) and the probe, are in `startup.rs`. [`KafkaBus`] is what the rest
//! of the server holds: reader threads and the broadcaster hand it records and never wait for the
//! broker.

use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::{Duration, Instant};

use log::warn;

mod claims;
mod connect;
mod consume;
mod dedup;
mod health;
mod history;
mod messages;
mod presence;
mod produce;
mod reads;
mod sanctions;
mod record;
mod startup;
mod versions;

use self::produce::Queue;
pub use self::startup::{Started, start};

/// The producer side, shared by reader threads and the broadcaster.
pub struct KafkaBus {
    queue: Queue,
    /// This run's producer id, drawn at random, and the next sequence number: together a chat
    /// record's [`Uid`](dedup::Uid).
    producer: u64,
    next_seq: AtomicU64,
    /// The chat topic's partition count, to find a room's partition.
    partitions: u32,
    topic: String,
    instance: String,
}

impl KafkaBus {
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

/// A message not acknowledged by the broker within this time is reported `not_delivered`.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for records in flight.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::sync::mpsc;

    use super::produce::{Outgoing, Queue};
    use super::*;
    use crate::chat::inbox::Said;
    use crate::chat::room::RoomName;
    use crate::chat::session::UserId;
    use crate::metrics::Metrics;
    use crate::ws::outbound::Outbound;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
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
    fn a_message_goes_to_its_rooms_partition_presence_claims_and_markers_to_their_topics() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let metrics = Arc::new(Metrics::default());
        let sender = Arc::new(Outbound::new(socket, None, 1024, metrics, None));
        let (bus, mut lanes) = bus(8);
        // FNV-1a: general is on partition 3 of 8, rust on 7 (see `chat/room.rs`).
        let said = |name: &str, text: &str| Said {
            user: UserId::NOBODY,
            name: name.into(),
            body: Box::new(crate::chat::entry::Body::text(text)),
            ts: "t".into(),
        };
        let origin = || crate::chat::post::Origin::Connection(sender.clone());
        bus.publish(&room("general"), said("alice", "hi"), origin());
        bus.publish(&room("rust"), said("bob", "yo"), origin());
        bus.typing(&room("rust"), UserId::NOBODY, "bob".into(), 17);
        bus.announce(vec![(room("rust"), vec!["bob".into()])], vec![UserId::NOBODY]);
        bus.claim(UserId::NOBODY, "bob");
        bus.read(UserId::NOBODY, &crate::chat::identity::ReadAt::Peer(UserId::NOBODY), 3, 17);
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
        let read = taken(&mut lanes[10]).unwrap();
        assert!(read.starts_with(
            r#"{"kind":"read","user":"AAAAAAAAAAAAAAAA","with":"AAAAAAAAAAAAAAAA","id":3,"instance":"ws1","conn":17,"at":"#
        ));
        assert!(lanes.iter_mut().all(|lane| taken(lane).is_none()), "nothing anywhere else");
    }
}
