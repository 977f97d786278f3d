//! History across restarts: from which offset each chat partition's rooms are rebuilt, and the
//! epoch that tells one life of the topic from the next.
//!
//! - **History survives restarts.** On start each partition is delivered from [`readback`]
//!   records before its end (and read from up to [`WINDOW`](super::dedup::WINDOW) records
//!   earlier, only to learn the uids seen, see `dedup.rs`). A partition carries several rooms:
//!   `HISTORY_SIZE` records back would leave a quiet room that shares one with a busy room with
//!   little or nothing. So we read back [`READBACK_ROOMS`] (64) histories spread over the topic:
//!   `HISTORY_SIZE * 64 / P` per partition, at least `HISTORY_SIZE`, at most [`READBACK_CAP`]. At
//!   the default P = 8 that is the `HISTORY_SIZE * 8` one might pick by hand; but it does not
//!   shrink when partitions are few, hence crowded (P = 1: all 64 in one), nor does the total
//!   grow with P, so start-up time and the memory of the histories rebuilt (up to
//!   `HISTORY_SIZE` per room) stay put.
//! - **Epochs.** Offsets restart at 0 when a topic is recreated, so ids alone could be resumed
//!   wrongly. A partition's epoch is the identity of its oldest record kept: a marker record the
//!   first instance writes into the empty partition ([`read_epoch`]). A room's epoch is its
//!   partition's ([`Epochs`](crate::chat::history::Epochs)).

use rskafka::client::partition::Compression;

use super::connect::{Partition, watermarks, within};
use super::produce;
use super::record::{Record, to_json};
use crate::error::Error;

/// A partition's epoch is the identity of its oldest record kept: an epoch marker, written into
/// the empty partition by whichever instance gets there first. Returns it with the watermarks.
pub async fn read_epoch(
    chat: &Partition,
    topic: &str,
    p: u32,
) -> Result<(String, i64, i64), Error> {
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
pub fn readback(history_size: usize, partitions: u32) -> i64 {
    let spread = (history_size * READBACK_ROOMS).div_ceil(partitions.max(1) as usize);
    spread.min(READBACK_CAP).max(history_size) as i64
}

/// How many rooms' histories start-up reads back, spread over the partitions.
const READBACK_ROOMS: usize = 64;
/// Chat records read back per partition at most (unless one history is longer).
const READBACK_CAP: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

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
}
