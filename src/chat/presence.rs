//! Who is in which room: the nicknames connected here, merged with those other instances announce.
//!
//! Each (room, nickname) pair is counted once per *source* that lists it: this instance (while at
//! least one of its connections with that name is in the room) and each other instance that
//! announced it. A `join` notice goes out when a pair's count goes from 0 to 1, a `leave` when it
//! drops back to 0, whichever instance the connection is on. Updates cost O(log n) per changed
//! pair, never a pass over everybody.
//!
//! Without Kafka only this instance counts. With Kafka every instance announces its rooms and
//! nicknames on the presence topic whenever they change and every [`ANNOUNCE_EVERY`]; an instance
//! that has not been heard from for [`FORGET_AFTER`] (it died, or lost the broker) is forgotten,
//! and its users leave everyone's lists.
//! The same announcement lists the sessions connected to the instance, by public id, so that
//! every instance knows who is online elsewhere (see `identity.rs`, "Across instances").

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::chat::identity::ReadAt;
use crate::chat::inbox::Said;
use crate::chat::post::Origin;
use crate::chat::protocol::Chat;
use crate::chat::room::RoomName;
use crate::chat::sanctions::Sanction;
use crate::chat::session::UserId;

/// The other instances, as the broadcaster sees them: where it announces who is online here,
/// which nicknames its sessions claimed, and where it publishes private messages. The Kafka bus
/// implements it; a single instance has none. This is all of the bus the broadcaster knows.
pub trait Announce: Send + Sync {
    /// Tells the other instances which nicknames are online here, per room, and which sessions
    /// are connected here, with their names (both empty: none, we are leaving).
    fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>, sessions: Vec<UserId>);
    /// Records that session `user` took the nickname `name`; of two claims of one name, the
    /// first in the bus's order wins on every instance. It comes back, on every instance, as
    /// [`Event::Claim`](crate::chat::inbox::Event::Claim).
    fn claim(&self, user: UserId, name: &str);
    /// Records that this instance forgot session `user`, which held the name `folded`: it comes
    /// back, on every instance, as [`Event::Release`](crate::chat::inbox::Event::Release).
    fn release(&self, user: UserId, folded: &str);
    /// Publishes a private message, or a change to one (`chat.id` is not set yet): it comes
    /// back numbered, on every instance, as
    /// [`Event::DirectRecord`](crate::chat::inbox::Event::DirectRecord). What became of it
    /// reaches its `origin` (`chat/post.rs`).
    fn direct(&self, chat: &Chat, origin: Origin);
    /// Publishes an entry of `room` said here (a message, or a change the broadcaster checked):
    /// it comes back numbered, on every instance, as
    /// [`Event::Chat`](crate::chat::inbox::Event::Chat). What became of it reaches its `origin`.
    fn publish(&self, room: &RoomName, said: Said, origin: Origin);
    /// Records that session `user` has read up to `id` at `at` (connection `conn` here moved
    /// it): every other instance applies it and tells the session's connections it has.
    fn read(&self, user: UserId, at: &ReadAt, id: u64, conn: u64);
    /// Records that an operator here kicked session `user`: every other instance closes the
    /// session's connections it has, as [`Event::Kicked`](crate::chat::inbox::Event::Kicked).
    fn kick(&self, user: UserId, reason: &str);
    /// Records a ban, a mute, or the end of one, decided (or learnt) here: every instance
    /// applies it, this one too, as [`Event::Sanctioned`](crate::chat::inbox::Event::Sanctioned).
    fn sanction(&self, sanction: &Sanction);
    /// Waits (briefly) until what was announced and published has left for the other instances.
    fn flush(&self);
}

/// The merged presence, owned by the broadcaster.
#[derive(Debug, Default)]
pub struct Presence {
    /// For each room, how many sources list each name in it.
    rooms: HashMap<RoomName, BTreeMap<String, usize>>,
    remote: HashMap<String, Remote>,
    /// Changes not yet taken by [`Presence::take_changes`]: `true` joined, `false` left.
    changes: BTreeMap<(RoomName, String), bool>,
    /// When we last announced our own list.
    announced: Option<Instant>,
    /// Our own list changed since we last announced it.
    local_changed: bool,
}

#[derive(Debug)]
struct Remote {
    rooms: Vec<(RoomName, Vec<String>)>,
    heard: Instant,
}

/// How one room's list changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Change {
    /// The room.
    pub room: RoomName,
    /// Nicknames that came in.
    pub joined: Vec<String>,
    /// Nicknames that went out.
    pub left: Vec<String>,
}

impl Presence {
    /// Nobody online yet.
    pub fn new() -> Presence {
        Presence::default()
    }

    /// The rooms `name` is listed in, here or on another instance.
    pub fn rooms_of(&self, name: &str) -> Vec<RoomName> {
        let rooms = self.rooms.iter().filter(|(_, names)| names.contains_key(name));
        let mut rooms: Vec<RoomName> = rooms.map(|(room, _)| room.clone()).collect();
        rooms.sort();
        rooms
    }

    /// A nickname entered a room on this instance (its first connection there).
    pub fn local_appeared(&mut self, room: &RoomName, name: &str) {
        self.local_changed = true;
        self.add(room, name);
    }

    /// A nickname's last connection on this instance left a room.
    pub fn local_gone(&mut self, room: &RoomName, name: &str) {
        self.local_changed = true;
        self.remove(room, name);
    }

    /// A nickname here was renamed in a room: the room's list changes, but nobody came or went
    /// (the room is told with a `rename` event instead of a `leave` and a `join`).
    pub fn local_renamed(&mut self, room: &RoomName, old: &str, new: &str) {
        self.local_changed = true;
        self.rename(room, old, new);
    }

    /// Another instance announced its rooms at `at_millis` (ms since 1970).
    pub fn heard(
        &mut self,
        instance: String,
        rooms: Vec<(RoomName, Vec<String>)>,
        at_millis: u64,
        now: Instant,
    ) {
        let age = Duration::from_millis(now_millis().saturating_sub(at_millis));
        if age >= FORGET_AFTER {
            return; // an old announcement read back at start
        }
        let old = self.remote.remove(&instance).map(|r| r.rooms).unwrap_or_default();
        for (room, names) in &rooms {
            for name in names {
                self.add(room, name);
            }
        }
        for (room, names) in &old {
            for name in names {
                self.remove(room, name);
            }
        }
        if !rooms.is_empty() {
            self.remote.insert(instance, Remote { rooms, heard: now - age });
        }
    }

    /// Forgets instances not heard from for [`FORGET_AFTER`], with their users.
    pub fn forget_silent(&mut self, now: Instant) {
        let silent: Vec<String> = self
            .remote
            .iter()
            .filter(|(_, r)| now.saturating_duration_since(r.heard) >= FORGET_AFTER)
            .map(|(instance, _)| instance.clone())
            .collect();
        for instance in silent {
            if let Some(remote) = self.remote.remove(&instance) {
                log::info!("presence: no word from instance {instance}; forgetting its users");
                for (room, names) in &remote.rooms {
                    for name in names {
                        self.remove(room, name);
                    }
                }
            }
        }
    }

    /// What changed since the last call, room by room.
    pub fn take_changes(&mut self) -> Vec<Change> {
        let mut changes: Vec<Change> = Vec::new();
        for ((room, name), joined) in std::mem::take(&mut self.changes) {
            if changes.last().is_none_or(|c| c.room != room) {
                changes.push(Change { room, joined: Vec::new(), left: Vec::new() });
            }
            let change = changes.last_mut().expect("pushed above");
            if joined { change.joined.push(name) } else { change.left.push(name) }
        }
        changes
    }

    /// The nicknames in `room`, sorted.
    pub fn users(&self, room: &RoomName) -> Vec<&str> {
        self.rooms.get(room).map(|n| n.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    /// How many nicknames are in `room`.
    pub fn len(&self, room: &RoomName) -> usize {
        self.rooms.get(room).map_or(0, BTreeMap::len)
    }

    /// The rooms with members anywhere, most members first (then by name), at most `limit`.
    pub fn busiest(&self, limit: usize) -> Vec<(&RoomName, usize)> {
        let mut rooms: Vec<(&RoomName, usize)> =
            self.rooms.iter().map(|(room, names)| (room, names.len())).collect();
        rooms.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        rooms.truncate(limit);
        rooms
    }

    /// True when our own list should be announced now: it changed (but at most every
    /// [`ANNOUNCE_GAP`], so a crowd connecting at once costs a few announcements, not one
    /// each), or [`ANNOUNCE_EVERY`] passed.
    pub fn should_announce(&mut self, now: Instant) -> bool {
        let since = self.announced.map(|at| now.saturating_duration_since(at));
        let due = match since {
            None => true,
            Some(since) => (self.local_changed && since >= ANNOUNCE_GAP) || since >= ANNOUNCE_EVERY,
        };
        if due {
            self.announced = Some(now);
            self.local_changed = false;
        }
        due
    }

    fn add(&mut self, room: &RoomName, name: &str) {
        let count =
            self.rooms.entry(room.clone()).or_default().entry(name.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 {
            self.note(room, name, true);
        }
    }

    fn remove(&mut self, room: &RoomName, name: &str) {
        let Some(names) = self.rooms.get_mut(room) else { return };
        let Some(count) = names.get_mut(name) else { return };
        *count -= 1;
        if *count == 0 {
            names.remove(name);
            if names.is_empty() {
                self.rooms.remove(room);
            }
            self.note(room, name, false);
        }
    }

    /// Moves one source's count of `old` in `room` to `new`, noting no change for either.
    fn rename(&mut self, room: &RoomName, old: &str, new: &str) {
        let Some(names) = self.rooms.get_mut(room) else { return };
        let Some(count) = names.get_mut(old) else { return };
        *count -= 1;
        if *count == 0 {
            names.remove(old);
        }
        *names.entry(new.to_string()).or_insert(0) += 1;
    }

    /// Records a change; a join and a leave of one pair before anyone was told cancel out.
    fn note(&mut self, room: &RoomName, name: &str, joined: bool) {
        let key = (room.clone(), name.to_string());
        match self.changes.get(&key) {
            Some(&earlier) if earlier != joined => drop(self.changes.remove(&key)),
            _ => drop(self.changes.insert(key, joined)),
        }
    }
}

/// Wall-clock time in milliseconds since 1970, as presence records carry it.
pub fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The shortest time between two announcements of a changed list.
pub const ANNOUNCE_GAP: Duration = Duration::from_millis(250);
/// How often an instance repeats its list of users.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// An instance silent this long is considered gone, with its users.
pub const FORGET_AFTER: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn change(name: &str, joined: &[&str], left: &[&str]) -> Change {
        Change {
            room: room(name),
            joined: joined.iter().map(|s| s.to_string()).collect(),
            left: left.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn roster(pairs: &[(&str, &[&str])]) -> Vec<(RoomName, Vec<String>)> {
        pairs.iter().map(|(r, n)| (room(r), n.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn lists_merge_per_room_and_changes_are_reported_once() {
        let now = Instant::now();
        let (general, rust) = (room("general"), room("rust"));
        let mut p = Presence::new();
        p.local_appeared(&general, "alice");
        assert_eq!(p.take_changes(), vec![change("general", &["alice"], &[])]);
        p.heard(
            "b".into(),
            roster(&[("general", &["bob", "alice"]), ("rust", &["bob"])]),
            now_millis(),
            now,
        );
        assert_eq!(
            p.take_changes(),
            vec![change("general", &["bob"], &[]), change("rust", &["bob"], &[])]
        );
        assert_eq!(p.users(&general), vec!["alice", "bob"]);
        assert_eq!(p.busiest(10), vec![(&general, 2), (&rust, 1)]);
        // alice is still on instance b when she leaves here.
        p.local_gone(&general, "alice");
        assert!(p.take_changes().is_empty());
        // b's new list drops alice: now she is gone everywhere.
        p.heard(
            "b".into(),
            roster(&[("general", &["bob"]), ("rust", &["bob"])]),
            now_millis(),
            now,
        );
        assert_eq!(p.take_changes(), vec![change("general", &[], &["alice"])]);
        assert_eq!(p.busiest(1), vec![(&general, 1)], "ties go by name");
    }

    #[test]
    fn a_quick_leave_and_return_cancel_out() {
        let mut p = Presence::new();
        let a = room("a");
        p.local_appeared(&a, "x");
        p.take_changes();
        p.local_gone(&a, "x");
        p.local_appeared(&a, "x");
        assert!(p.take_changes().is_empty());
        assert_eq!(p.len(&a), 1);
    }

    #[test]
    fn a_rename_changes_the_list_but_is_no_join_or_leave() {
        let mut p = Presence::new();
        let a = room("a");
        p.local_appeared(&a, "alice");
        p.take_changes();
        p.local_renamed(&a, "alice", "bob");
        assert!(p.take_changes().is_empty());
        assert_eq!(p.users(&a), vec!["bob"]);
    }

    #[test]
    fn a_silent_instance_is_forgotten_with_its_users() {
        let now = Instant::now();
        let mut p = Presence::new();
        p.heard("b".into(), roster(&[("general", &["bob"])]), now_millis(), now);
        p.take_changes();
        p.forget_silent(now + FORGET_AFTER);
        assert_eq!(p.take_changes(), vec![change("general", &[], &["bob"])]);
        assert!(p.busiest(10).is_empty());
        // An announcement older than FORGET_AFTER (read back at start) is ignored.
        p.heard("c".into(), roster(&[("general", &["carol"])]), now_millis() - 20_000, now);
        assert!(p.take_changes().is_empty());
    }

    #[test]
    fn announcements_on_change_and_on_schedule() {
        let now = Instant::now();
        let mut p = Presence::new();
        assert!(p.should_announce(now));
        assert!(!p.should_announce(now + Duration::from_secs(1)));
        p.local_appeared(&room("general"), "b");
        assert!(!p.should_announce(now + Duration::from_millis(100)), "too soon after the last");
        assert!(p.should_announce(now + Duration::from_secs(1)));
        assert!(p.should_announce(now + Duration::from_secs(7)));
    }
}
