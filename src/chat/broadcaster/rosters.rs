//! Rosters: who is in each room, on this instance and the others, told to the room.
//!
//! [`Presence`](crate::chat::presence::Presence) keeps the names per room: ours as clients
//! enter and leave, the other instances' from the rosters they announce (Kafka only; an
//! instance not heard from for `FORGET_AFTER` is forgotten with its users). Here its changes
//! become events: a room of at most [`USERS_BROADCAST_LIMIT`] names gets each change at once,
//! the whole `users` list and a `join` or `leave` per name; a bigger room gets one `presence`
//! event per tick listing the names that came and went ([`Batch`]). Our own roster is announced
//! to the other instances when it changed or is due.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Broadcaster;
use super::round::{Except, Round};
use crate::chat::operators;
use crate::chat::presence::{Change, FORGET_AFTER, now_millis};
use crate::chat::protocol::{ServerEvent, timestamp};
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

/// The nicknames that came into and went out of one big room since its last `presence` event.
/// A name that comes and goes (or goes and comes back) within one batch cancels out.
#[derive(Debug, Default)]
pub(super) struct Batch {
    joined: BTreeSet<String>,
    left: BTreeSet<String>,
}

impl Batch {
    fn add(&mut self, change: Change) {
        for name in change.joined {
            if !self.left.remove(&name) {
                self.joined.insert(name);
            }
        }
        for name in change.left {
            if !self.joined.remove(&name) {
                self.left.insert(name);
            }
        }
    }
}

impl Broadcaster {
    /// The `users` event of `room`: its nicknames, and the operators among them.
    pub(super) fn users_event<'a>(&'a self, room: &'a RoomName) -> ServerEvent<'a> {
        let users = self.presence.users(room);
        let op = |name: &&str| self.identities.holder(name).is_some_and(operators::is_operator);
        let ops =
            if operators::any() { users.iter().copied().filter(op).collect() } else { vec![] };
        ServerEvent::Users { room: room.as_str(), users, ops }
    }

    /// Another instance announced its `rooms` and `sessions` at `at_millis`: its names count
    /// in the rooms, and its sessions are online (the roster is stale past `FORGET_AFTER`).
    pub(super) fn roster(
        &mut self,
        instance: String,
        rooms: Vec<(RoomName, Vec<String>)>,
        at_millis: u64,
        sessions: Vec<UserId>,
        round: &mut Round,
    ) {
        let now = Instant::now();
        let age = Duration::from_millis(now_millis().saturating_sub(at_millis));
        if let Some(at) = now.checked_sub(age).filter(|_| age < FORGET_AFTER) {
            self.identities.seen_elsewhere(&instance, &sessions, at);
        }
        self.presence.heard(instance, rooms, at_millis, now);
        self.refresh_presence(round);
    }

    /// Forgets the instances not heard from for `FORGET_AFTER`, with their users.
    pub(super) fn forget_silent_instances(&mut self, now: Instant) {
        self.presence.forget_silent(now);
    }

    /// Tells each room about nicknames that came or went (here or on another instance), and
    /// announces ours to the other instances when it changed or is due. Returns the rooms that
    /// were sent their whole users list.
    ///
    /// A room of at most [`USERS_BROADCAST_LIMIT`] names gets each change at once: the whole
    /// list, then a `join` or `leave` per name (not sent to connections with the nickname it
    /// names). In a bigger room that would cost O(n²) frames as n people arrive (each arrival is
    /// one frame to each of the others), so its changes are collected instead and go out as one
    /// `presence` event per tick ([`Broadcaster::send_batched_presence`]), listing every name
    /// that came and went; newcomers get the whole list.
    pub(super) fn refresh_presence(&mut self, round: &mut Round) -> Vec<RoomName> {
        if let Some(others) = &self.others
            && self.presence.should_announce(Instant::now())
        {
            others.announce(self.hub.rosters(), self.hub.sessions());
        }
        let mut listed = Vec::new();
        let changes = self.presence.take_changes();
        if changes.is_empty() {
            return listed;
        }
        let ts = timestamp();
        for change in changes {
            if self.presence.len(&change.room) > USERS_BROADCAST_LIMIT {
                self.batched.entry(change.room.clone()).or_default().add(change);
                continue;
            }
            // The whole list supersedes whatever was collected while the room was big.
            self.batched.remove(&change.room);
            let room = change.room.as_str();
            let users = self.users_event(&change.room);
            self.to_room(round, &change.room, &users, Except::Nobody);
            listed.push(change.room.clone());
            for name in &change.joined {
                let user = self.identities.holder(name);
                let op = user.is_some_and(operators::is_operator);
                let join = ServerEvent::Join { room, name, user, op, ts: &ts };
                self.to_room(round, &change.room, &join, Except::Named(name));
            }
            for name in &change.left {
                let user = self.identities.holder(name);
                let op = user.is_some_and(operators::is_operator);
                let leave = ServerEvent::Leave { room, name, user, op, ts: &ts };
                self.to_room(round, &change.room, &leave, Except::Named(name));
            }
        }
        listed
    }

    /// Sends each big room the `presence` event of the changes collected since the last one.
    pub(super) fn send_batched_presence(&mut self, round: &mut Round) {
        let ts = timestamp();
        for (room, batch) in std::mem::take(&mut self.batched) {
            if batch.joined.is_empty() && batch.left.is_empty() {
                continue;
            }
            let presence = ServerEvent::Presence {
                room: room.as_str(),
                joined: batch.joined.iter().map(String::as_str).collect(),
                left: batch.left.iter().map(String::as_str).collect(),
                ts: &ts,
            };
            self.to_room(round, &room, &presence, Except::Nobody);
        }
    }
}

/// The most names in a room for which every change sends the whole users list to the room, and
/// `join` and `leave` at once; bigger rooms get a `presence` event every tick.
pub const USERS_BROADCAST_LIMIT: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::broadcaster::tests::general;

    #[test]
    fn a_batch_keeps_the_net_change() {
        let change = |joined: &[&str], left: &[&str]| Change {
            room: general(),
            joined: joined.iter().map(|s| s.to_string()).collect(),
            left: left.iter().map(|s| s.to_string()).collect(),
        };
        let mut batch = Batch::default();
        batch.add(change(&["a", "b"], &["x"]));
        batch.add(change(&["x"], &["a"]));
        batch.add(change(&["c"], &[]));
        // a came and went, x went and came back: neither is news.
        assert_eq!(batch.joined.iter().collect::<Vec<_>>(), ["b", "c"]);
        assert!(batch.left.is_empty());
    }
}
