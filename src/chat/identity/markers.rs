//! Read markers: how far each session has read, per room and per private conversation.
//!
//! A marker is the session's own (nobody else sees it), moves only forward, and lives in the
//! session's row, so it is forgotten with the session. A session keeps at most
//! [`MAX_READ_MARKERS`]: past that, the one moved least recently goes (the room list of one
//! person is short; a client that marks a thousand rooms only pushes its own markers out).
//! The broadcaster writes each move to the journal (or the claims topic, with Kafka) and tells
//! the session's other connections (`broadcaster/changes.rs`).

use crate::chat::room::RoomName;
use crate::chat::session::UserId;

use super::Identities;

/// Markers one session keeps at most.
pub const MAX_READ_MARKERS: usize = 64;

/// Where a marker is: a room, or the private conversation with another session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReadAt {
    /// A room.
    Room(RoomName),
    /// The conversation with this session.
    Peer(UserId),
}

impl Identities {
    /// Session `user` has read up to `id` at `at`: true when the marker moved forward.
    pub fn mark_read_up_to(&mut self, user: UserId, at: ReadAt, id: u64) -> bool {
        let Some(known) = self.users.get_mut(&user) else { return false };
        let markers = &mut known.read;
        let was = markers.iter().position(|(place, _)| *place == at);
        if let Some(i) = was {
            if markers[i].1 >= id {
                return false;
            }
            markers.remove(i);
        } else if markers.len() >= MAX_READ_MARKERS {
            markers.remove(0);
        }
        markers.push((at, id));
        true
    }

    /// How far session `user` has read at `at`, if it said.
    pub fn read_marker(&self, user: UserId, at: &ReadAt) -> Option<u64> {
        let known = self.users.get(&user)?;
        known.read.iter().find(|(place, _)| place == at).map(|(_, id)| *id)
    }

    /// Every marker of every session, for the journal's compaction.
    pub fn read_markers(&self) -> impl Iterator<Item = (UserId, &ReadAt, u64)> {
        self.users
            .iter()
            .flat_map(|(user, known)| known.read.iter().map(move |(at, id)| (*user, at, *id)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::examples::{ids, session};
    use super::*;

    #[test]
    fn markers_move_forward_only_and_are_bounded() {
        let mut ids = ids();
        let user = session().user_id();
        ids.restore(user, "alice", Instant::now());
        let room = |n: usize| ReadAt::Room(RoomName::parse(&format!("r{n}")).unwrap());
        assert!(ids.mark_read_up_to(user, room(0), 5));
        assert!(!ids.mark_read_up_to(user, room(0), 4), "never backwards");
        assert!(!ids.mark_read_up_to(user, room(0), 5));
        assert_eq!(ids.read_marker(user, &room(0)), Some(5));
        for n in 1..=MAX_READ_MARKERS {
            assert!(ids.mark_read_up_to(user, room(n), 1));
        }
        assert_eq!(ids.read_marker(user, &room(0)), None, "the least recently moved went");
        assert_eq!(ids.read_markers().count(), MAX_READ_MARKERS);
        let stranger = session().user_id();
        assert!(!ids.mark_read_up_to(stranger, room(0), 1), "an unknown session keeps none");
    }
}
