//! The claims topic, `<topic>.claims` (one partition, so one order): how the instances agree on
//! who holds a nickname.
//!
//! - **Claiming.** A session that takes a nickname here (a newcomer, a rename) holds it here at
//!   once and produces ([`KafkaBus::claim`])
//!   `{"kind":"claim","user":"<public id>","name":"alice","instance":"ws1","at":<ms>}`.
//! - **Agreeing.** Every instance, the claimer too, consumes the claims in order ([`consume`])
//!   and its broadcaster applies them alike, so the first claim of a name wins everywhere and the
//!   loser's instance renames it (`chat/identity/cluster.rs`); its own claims come
//!   back marked `ours`, so the claimer learns whether it won the same way as everyone else.
//! - **Releasing.** An instance that forgets a session produces a `release` (`"name"` folded,
//!   [`KafkaBus::release`]), after which the name is free everywhere.
//! - **Read markers.** A session's read marker (how far it has read in a room or a private
//!   conversation) moves on the instance its connection is on, at once, and goes to the others
//!   as a `read` record ([`KafkaBus::read`]):
//!   `{"kind":"read","user":"<public id>","room":"rust","id":57,"instance":"ws1","conn":17,"at":<ms>}`
//!   (`"with":"<public id>"` instead of `room` for a private conversation). Every instance
//!   applies it (forward only) and tells the session's connections it has; the instance it came
//!   from knows it already, so its own record comes back naming the connection (`conn`), which
//!   is not told twice. Here, rather than in a partition of the chat topic, because a marker is
//!   the session's own, like its name, and is read back with it at start.
//! - **Remembering.** Start-up reads the newest [`CLAIMS_READBACK`] records back
//!   ([`ClaimRecords::read_back`]) before it serves anyone, so a restarted instance knows the
//!   deployment's sessions, their names and their read markers. The topic is created at start
//!   and refused with another count, like the presence topic (`connect.rs`).
//!
//! Records carry public ids, never sessions; they are keyed by user.

use std::sync::Arc;

use rskafka::client::partition::PartitionClient;

use super::KafkaBus;
use super::connect::within;
use super::consume::{MAX_FETCH_BYTES, follow};
use super::produce::{Kind, Lane};
use super::record::{Record, decode, to_json};
use crate::chat::identity::{Claim, ReadAt};
use crate::chat::inbox::{Event, Inbox};
use crate::chat::presence::now_millis;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::error::Error;
use crate::metrics::Metrics;

impl KafkaBus {
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
}

impl KafkaBus {
    /// Produces session `user`'s read marker (up to `id` at `at`, moved by connection `conn`
    /// here) to the claims topic.
    pub fn read(&self, user: UserId, at: &ReadAt, id: u64, conn: u64) {
        let user = user.to_text();
        let key = Some(user.as_bytes().to_vec());
        let (room, with) = match at {
            ReadAt::Room(room) => (Some(room.to_string()), None),
            ReadAt::Peer(peer) => (None, Some(peer.to_text())),
        };
        let instance = self.instance.clone();
        let record = Record::Read { user, room, with, id, instance, conn, at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Read, key, to_json(&record));
    }
}

/// Reads the claims topic forever, handing claims, releases and read markers to the broadcaster.
pub async fn consume(
    client: PartitionClient,
    from: i64,
    records: ClaimRecords,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    follow(client, from, inbox, metrics, |fetched| decode(fetched).and_then(|r| records.event(r)))
        .await;
}

/// What the claims consumer makes of each record.
pub struct ClaimRecords {
    /// This instance's id: its own claims are marked `ours`, its own read markers name their
    /// connection.
    pub me: String,
}

impl ClaimRecords {
    /// The event for a claim, a release or a read marker; none for anything else, or without a
    /// user id (or a room name, or a peer's id).
    fn event(&self, record: Record) -> Option<Event> {
        match record {
            Record::Claim { user, name, instance, .. } => {
                let user = UserId::parse(&user)?;
                Some(Event::Claim(Claim { user, name, ours: instance == self.me }))
            }
            Record::Release { user, name, .. } => {
                Some(Event::Release { user: UserId::parse(&user)?, name })
            }
            Record::Read { user, room, with, id, instance, conn, .. } => {
                let at = match (room, with) {
                    (Some(room), None) => ReadAt::Room(RoomName::parse(&room)?),
                    (None, Some(with)) => ReadAt::Peer(UserId::parse(&with)?),
                    _ => return None,
                };
                let from = (instance == self.me).then_some(conn);
                Some(Event::ReadRecord { user: UserId::parse(&user)?, at, id, from })
            }
            _ => None,
        }
    }

    /// The events of the records from `from` up to `to` (the end of the topic at start), read
    /// before anyone is served.
    pub async fn read_back(
        &self,
        client: &PartitionClient,
        from: i64,
        to: i64,
    ) -> Result<Vec<Event>, Error> {
        let mut events = Vec::new();
        let mut offset = from;
        while offset < to {
            let read = client.fetch_records(offset, 1..MAX_FETCH_BYTES, READ_BACK_WAIT);
            let (records, _high) = within("reading back the claims", read).await?;
            let Some(last) = records.last() else { break };
            offset = last.offset + 1;
            let before_end = records.iter().filter(|r| r.offset < to);
            events.extend(before_end.filter_map(|r| self.event(decode(r)?)));
        }
        Ok(events)
    }
}

/// Claims, releases and read markers read back at start, the newest: the sessions (their names
/// and markers) of the deployment that a restarted instance knows. A session whose last claim is
/// older is unknown to it (presenting it there gets `session_expired`), and so are its markers.
/// Markers move far more often than names and share the window: after 1,000 sessions moved a
/// marker 100 times each, no claim older than those moves is read back. About 100 bytes each:
/// 10 MB at most to read.
pub const CLAIMS_READBACK: i64 = 100_000;
/// How long (ms) the broker may hold a read-back fetch. The records are there, so it answers at
/// once; but a fetch that may not wait at all went unanswered by tansu.
const READ_BACK_WAIT: i32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn claims_are_marked_ours() {
        let records = ClaimRecords { me: "ws1".into() };
        let claim = |instance: &str| {
            let user = "LJgLhthO3_LJUFoX".to_string();
            Record::Claim { user, name: "alice".into(), instance: instance.into(), at: 1 }
        };
        let ours = |record| match records.event(record) {
            Some(Event::Claim(claim)) => Some((claim.name, claim.ours)),
            _ => None,
        };
        assert_eq!(ours(claim("ws1")), Some(("alice".to_string(), true)));
        assert_eq!(ours(claim("ws2")), Some(("alice".to_string(), false)));
        let bad =
            Record::Claim { user: "?".into(), name: "x".into(), instance: "ws2".into(), at: 1 };
        assert_eq!(ours(bad), None, "no user id");
        let release = parse(
            r#"{"kind":"release","user":"LJgLhthO3_LJUFoX","name":"alice","instance":"ws2","at":1}"#,
        );
        assert!(
            matches!(records.event(release), Some(Event::Release { name, .. }) if name == "alice")
        );
    }

    #[test]
    fn read_markers_name_their_connection_only_on_their_own_instance() {
        let records = ClaimRecords { me: "ws1".into() };
        let event = |json: &str| records.event(parse(json));
        let room = r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","room":"rust","id":57,"instance":"ws1","conn":17,"at":1}"#;
        let Some(Event::ReadRecord { user, at: ReadAt::Room(rust), id: 57, from: Some(17) }) =
            event(room)
        else {
            panic!("our own marker in a room");
        };
        assert_eq!((user.to_text().as_str(), rust.as_str()), ("LJgLhthO3_LJUFoX", "rust"));
        let peer = r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","with":"AAAAAAAAAAAAAAAA","id":3,"instance":"ws2","conn":17,"at":1}"#;
        assert!(matches!(
            event(peer),
            Some(Event::ReadRecord { at: ReadAt::Peer(UserId::NOBODY), id: 3, from: None, .. })
        ));
        let both = r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","room":"rust","with":"AAAAAAAAAAAAAAAA","id":3,"instance":"ws2","conn":1,"at":1}"#;
        let neither =
            r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","id":3,"instance":"ws2","conn":1,"at":1}"#;
        let bad_room = r#"{"kind":"read","user":"LJgLhthO3_LJUFoX","room":"No Room!","id":3,"instance":"ws2","conn":1,"at":1}"#;
        for skipped in [both, neither, bad_room] {
            assert!(event(skipped).is_none(), "{skipped}");
        }
    }
}
