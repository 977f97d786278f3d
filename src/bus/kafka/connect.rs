//! Talking to the broker: the client, the topics made sure of, a partition's two connections,
//! and a deadline on every request.
//!
//! - **One client, many connections.** [`client`] connects to the brokers of `KAFKA_BROKERS`;
//!   each partition then gets two connections of its own ([`partition_clients`]), one to produce
//!   and one to consume, because a broker answers one connection's requests in order and a
//!   produce would wait behind a held fetch (`startup.rs` counts them).
//! - **One partition count.** Instances that hashed with different counts would give a room two
//!   partitions and two orders (`messages.rs`). Start-up creates a missing topic with its count,
//!   and refuses to start, naming both numbers, when it has another count
//!   ([`Error::PartitionCount`]); it never changes an existing topic ([`ensure_topic`]).
//! - **Every request bounded.** [`within`] gives up on a request after [`KAFKA_TIMEOUT`], and
//!   start-up retries its steps ([`retry_until`]) while the broker may still be starting.

use std::time::{Duration, Instant};

use log::{info, warn};
use rskafka::BackoffConfig;
use rskafka::client::error::{Error as ClientError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};

use super::versions;
use crate::config::Config;
use crate::error::Error;

/// Two connections to one partition: one to produce, one to consume.
pub struct Partition {
    /// For the partition's producer task (`produce.rs`).
    pub producer: PartitionClient,
    /// For its consumer task (`consume.rs`), and for start-up's reads.
    pub consumer: PartitionClient,
}

/// The client of the brokers in `KAFKA_BROKERS`, named after this instance.
pub async fn client(config: &Config) -> Result<Client, Error> {
    let brokers = config.kafka_brokers.split(',').map(|b| b.trim().to_string()).collect();
    let client = ClientBuilder::new(brokers)
        .client_id(format!("websocketchat-{}", config.instance_id))
        .backoff_config(backoff());
    within("connecting", client.build()).await
}

/// The two connections to partition `p` of `topic`.
pub async fn partition_clients(client: &Client, topic: &str, p: u32) -> Result<Partition, Error> {
    let open = || client.partition_client(topic, p as i32, UnknownTopicHandling::Retry);
    let producer = within("connecting to the partition", open()).await?;
    let consumer = within("connecting to the partition", open()).await?;
    Ok(Partition { producer, consumer })
}

/// Creates `topic` with `wanted` partitions if it does not exist; refuses one with another
/// count ([`Error::PartitionCount`], with `needed` saying why), and never changes it.
pub async fn ensure_topic(
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
        // The controller answers once the topic is decided; the brokers' metadata has it a
        // moment later (Apache Kafka: a few milliseconds). Ask again soon, not after a retry's
        // second.
        let deadline = Instant::now() + KAFKA_TIMEOUT;
        while matches!(partitions().await?, None | Some(0)) && Instant::now() < deadline {
            tokio::time::sleep(METADATA_POLL).await;
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

/// The partition's low and high watermarks: the oldest offset kept and the next one to be written.
pub async fn watermarks(client: &PartitionClient) -> Result<(i64, i64), Error> {
    let low = within("reading offsets", client.get_offset(OffsetAt::Earliest)).await?;
    let high = within("reading offsets", client.get_offset(OffsetAt::Latest)).await?;
    Ok((low, high))
}

/// Runs a request to the broker, giving up after [`KAFKA_TIMEOUT`].
pub async fn within<T>(
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
pub async fn retry_until<T, F: Future<Output = Result<T, Error>>>(
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

/// A client error as ours, saying what was being done: one that retrying cannot mend (a broker
/// of versions the client does not speak, `versions.rs`) stops the start.
fn kafka_error(what: &str, e: ClientError) -> Error {
    versions::unsupported(what, &e).unwrap_or_else(|| Error::Kafka(format!("{what}: {e}")))
}

/// Time for one request to the broker.
const KAFKA_TIMEOUT: Duration = Duration::from_secs(5);
/// How often start-up asks for a topic it has just created until the metadata shows it.
const METADATA_POLL: Duration = Duration::from_millis(20);
