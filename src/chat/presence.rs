//! Who is online: the nicknames connected here, merged with those other instances announce.
//!
//! Each nickname is counted once per *source* that lists it: this instance (while at least one of
//! its connections uses the name) and each other instance that announced it. A `join` notice goes
//! out when a name's count goes from 0 to 1, a `leave` when it drops back to 0, whichever instance
//! the connection is on. Updates cost O(log n) per changed name, never a pass over everybody.
//!
//! Without Kafka only this instance counts. With Kafka every instance announces its nicknames on
//! the presence topic whenever they change and every [`ANNOUNCE_EVERY`]; an instance that has not
//! been heard from for [`FORGET_AFTER`] (it died, or lost the broker) is forgotten, and its users
//! leave everyone's list.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::chat::room::RoomName;

/// The other instances, as the broadcaster sees them: where it announces the nicknames online
/// here. The Kafka bus implements it; a single instance has none. This is all of the bus the
/// broadcaster knows.
pub trait Announce: Send + Sync {
    /// Tells the other instances which nicknames are online here, per room (empty: none, we are
    /// leaving).
    fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>);
    /// Waits (briefly) until what was announced and published has left for the other instances.
    fn flush(&self);
}

/// The merged presence, owned by the broadcaster.
#[derive(Debug, Default)]
pub struct Presence {
    /// How many sources list each name online.
    counts: BTreeMap<String, usize>,
    remote: HashMap<String, Remote>,
    /// Changes not yet taken by [`Presence::take_change`].
    change: Change,
    /// When we last announced our own list.
    announced: Option<Instant>,
    /// Our own list changed since we last announced it.
    local_changed: bool,
}

#[derive(Debug)]
struct Remote {
    users: Vec<String>,
    heard: Instant,
}

/// How the merged list changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Change {
    /// Nicknames that came online.
    pub joined: Vec<String>,
    /// Nicknames that went offline.
    pub left: Vec<String>,
}

impl Change {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.joined.is_empty() && self.left.is_empty()
    }
}

impl Presence {
    /// Nobody online yet.
    pub fn new() -> Presence {
        Presence::default()
    }

    /// A nickname came online on this instance (its first connection here).
    pub fn local_appeared(&mut self, name: &str) {
        self.local_changed = true;
        self.add(name);
    }

    /// A nickname's last connection on this instance ended.
    pub fn local_gone(&mut self, name: &str) {
        self.local_changed = true;
        self.remove(name);
    }

    /// Another instance announced its users at `at_millis` (ms since 1970).
    pub fn heard(&mut self, instance: String, users: Vec<String>, at_millis: u64, now: Instant) {
        let age = Duration::from_millis(now_millis().saturating_sub(at_millis));
        if age >= FORGET_AFTER {
            return; // an old announcement read back at start
        }
        let old = self.remote.remove(&instance).map(|r| r.users).unwrap_or_default();
        for name in &users {
            self.add(name);
        }
        for name in &old {
            self.remove(name);
        }
        if !users.is_empty() {
            self.remote.insert(instance, Remote { users, heard: now - age });
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
                for name in &remote.users {
                    self.remove(name);
                }
            }
        }
    }

    /// What changed since the last call.
    pub fn take_change(&mut self) -> Change {
        std::mem::take(&mut self.change)
    }

    /// The merged list, sorted.
    pub fn users(&self) -> Vec<&str> {
        self.counts.keys().map(String::as_str).collect()
    }

    /// How many nicknames are online.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// True when nobody is online.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
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

    fn add(&mut self, name: &str) {
        let count = self.counts.entry(name.to_string()).or_insert(0);
        *count += 1;
        if *count == 1 {
            match self.change.left.iter().position(|n| n == name) {
                Some(i) => drop(self.change.left.swap_remove(i)),
                None => self.change.joined.push(name.to_string()),
            }
        }
    }

    fn remove(&mut self, name: &str) {
        let Some(count) = self.counts.get_mut(name) else { return };
        *count -= 1;
        if *count == 0 {
            self.counts.remove(name);
            match self.change.joined.iter().position(|n| n == name) {
                Some(i) => drop(self.change.joined.swap_remove(i)),
                None => self.change.left.push(name.to_string()),
            }
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

    fn change(joined: &[&str], left: &[&str]) -> Change {
        Change {
            joined: joined.iter().map(|s| s.to_string()).collect(),
            left: left.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn lists_merge_and_changes_are_reported_once() {
        let now = Instant::now();
        let mut p = Presence::new();
        p.local_appeared("alice");
        assert_eq!(p.take_change(), change(&["alice"], &[]));
        p.heard("b".into(), vec!["bob".into(), "alice".into()], now_millis(), now);
        assert_eq!(p.take_change(), change(&["bob"], &[]));
        assert_eq!(p.users(), vec!["alice", "bob"]);
        // alice is still on instance b when she leaves here.
        p.local_gone("alice");
        assert!(p.take_change().is_empty());
        // b's new list drops alice: now she is gone everywhere.
        p.heard("b".into(), vec!["bob".into()], now_millis(), now);
        assert_eq!(p.take_change(), change(&[], &["alice"]));
    }

    #[test]
    fn a_quick_leave_and_return_cancel_out() {
        let mut p = Presence::new();
        p.local_appeared("a");
        p.take_change();
        p.local_gone("a");
        p.local_appeared("a");
        assert!(p.take_change().is_empty());
    }

    #[test]
    fn a_silent_instance_is_forgotten_with_its_users() {
        let now = Instant::now();
        let mut p = Presence::new();
        p.heard("b".into(), vec!["bob".into()], now_millis(), now);
        p.take_change();
        p.forget_silent(now + FORGET_AFTER);
        assert_eq!(p.take_change(), change(&[], &["bob"]));
        // An announcement older than FORGET_AFTER (read back at start) is ignored.
        p.heard("c".into(), vec!["carol".into()], now_millis() - 20_000, now);
        assert!(p.take_change().is_empty());
    }

    #[test]
    fn announcements_on_change_and_on_schedule() {
        let now = Instant::now();
        let mut p = Presence::new();
        assert!(p.should_announce(now));
        assert!(!p.should_announce(now + Duration::from_secs(1)));
        p.local_appeared("b");
        assert!(!p.should_announce(now + Duration::from_millis(100)), "too soon after the last");
        assert!(p.should_announce(now + Duration::from_secs(1)));
        assert!(p.should_announce(now + Duration::from_secs(7)));
    }
}
