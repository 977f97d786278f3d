//! The reads topic, `<topic>.reads` (one partition): read markers, the session's own record of
//! how far it has read in each room and private conversation, shared by every instance.
//!
//! - **Moving.** A marker moves on the instance the session's connection is on, at once, and
//!   goes to the others as a `read` record ([`KafkaBus::read`]):
//!   `{"kind":"read","user":"<public id>","room":"rust","id":57,"instance":"ws1","conn":17,"at":<ms>}`
//!   (`"with":"<public id>"` instead of `room` for a private conversation), keyed by user.
//! - **Applying.** Every instance applies it (forward only: an older marker changes nothing)
//!   and tells the session's connections it has; the instance it came from knows it already, so
//!   its own record comes back naming the connection (`conn`), which is not told twice.
//! - **Remembering.** Start-up reads the newest [`READS_READBACK`] records back, after the
//!   claims (a marker needs its session known), before it serves anyone.
//!
//! A topic of its own, not the claims topic: markers move far more often than names do (a
//! reader moves one each time a conversation is read to its end), and on the claims topic they
//! would push the claims out of the window a restarted instance reads back, and with them the
//! sessions it knows. Here, the worst a flood of markers does is push older markers out: a
//! session restarted with an instance then counts as unread what it had read long ago.

use super::KafkaBus;
use super::consume::Records;
use super::produce::{Kind, Lane};
use super::record::{Record, to_json};
use crate::chat::identity::ReadAt;
use crate::chat::inbox::Event;
use crate::chat::presence::now_millis;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

impl KafkaBus {
    /// Produces session `user`'s read marker (up to `id` at `at`, moved by connection `conn`
    /// here) to the reads topic.
    pub fn read(&self, user: UserId, at: &ReadAt, id: u64, conn: u64) {
        let user = user.to_text();
        let key = Some(user.as_bytes().to_vec());
        let (room, with) = match at {
            ReadAt::Room(room) => (Some(room.to_string()), None),
            ReadAt::Peer(peer) => (None, Some(peer.to_text())),
        };
        let instance = self.instance.clone();
        let record = Record::Read { user, room, with, id, instance, conn, at: now_millis() };
        self.queue.push(Lane::Reads, Kind::Read, key, to_json(&record));
    }
}

/// What the reads consumer makes of each record.
pub struct ReadRecords {
    /// This instance's id: its own markers name their connection.
    pub me: String,
}

impl Records for ReadRecords {
    const WHAT: &'static str = "the read markers";

    /// The event for a read marker; none for anything else, or without a user id, or with a
    /// bad room name or peer id, or with both or neither.
    fn event(&self, record: Record) -> Option<Event> {
        let Record::Read { user, room, with, id, instance, conn, .. } = record else { return None };
        let at = match (room, with) {
            (Some(room), None) => ReadAt::Room(RoomName::parse(&room)?),
            (None, Some(with)) => ReadAt::Peer(UserId::parse(&with)?),
            _ => return None,
        };
        let from = (instance == self.me).then_some(conn);
        Some(Event::ReadRecord { user: UserId::parse(&user)?, at, id, from })
    }
}

/// Read markers read back at start, the newest. About 120 bytes each: 12 MB at most to read.
pub const READS_READBACK: i64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn read_markers_name_their_connection_only_on_their_own_instance() {
        let records = ReadRecords { me: "ws1".into() };
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
