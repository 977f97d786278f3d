//! Who is online: the nicknames connected here, merged with those other instances announce.
//!
//! Without Kafka only the local hub counts. With Kafka every instance announces its nicknames on
//! the presence topic whenever they change and every [`ANNOUNCE_EVERY`]; an instance that has not
//! been heard from for [`FORGET_AFTER`] (it died, or lost the broker) is forgotten, and its users
//! leave everyone's list. A `join` or `leave` notice is sent when a nickname appears in or
//! disappears from the merged list, whichever instance its connection is on.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The merged presence, owned by the broadcaster.
#[derive(Debug)]
pub struct Presence {
    remote: HashMap<String, Remote>,
    /// The list clients were last told.
    shown: BTreeSet<String>,
    /// What we last announced, and when.
    announced: Option<(BTreeSet<String>, Instant)>,
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

impl Presence {
    /// Nobody online yet.
    pub fn new() -> Presence {
        Presence { remote: HashMap::new(), shown: BTreeSet::new(), announced: None }
    }

    /// Another instance announced its users at `at_millis` (ms since 1970).
    pub fn heard(&mut self, instance: String, users: Vec<String>, at_millis: u64, now: Instant) {
        let age = Duration::from_millis(now_millis().saturating_sub(at_millis));
        if age >= FORGET_AFTER {
            return; // an old announcement read back at start
        }
        if users.is_empty() {
            self.remote.remove(&instance);
        } else {
            self.remote.insert(instance, Remote { users, heard: now - age });
        }
    }

    /// Forgets instances not heard from for [`FORGET_AFTER`].
    pub fn forget_silent(&mut self, now: Instant) {
        self.remote.retain(|_, r| now.saturating_duration_since(r.heard) < FORGET_AFTER);
    }

    /// Merges `local` with the remote lists and returns what changed since the last call.
    pub fn refresh<'a>(&mut self, local: impl IntoIterator<Item = &'a str>) -> Change {
        let mut online: BTreeSet<String> = local.into_iter().map(str::to_string).collect();
        for remote in self.remote.values() {
            online.extend(remote.users.iter().cloned());
        }
        let change = Change {
            joined: online.difference(&self.shown).cloned().collect(),
            left: self.shown.difference(&online).cloned().collect(),
        };
        self.shown = online;
        change
    }

    /// The merged list, sorted.
    pub fn users(&self) -> Vec<&str> {
        self.shown.iter().map(String::as_str).collect()
    }

    /// True when our own list should be announced now (it changed, or it is time again).
    pub fn should_announce(&mut self, local: &[&str], now: Instant) -> bool {
        let current: BTreeSet<String> = local.iter().map(|u| u.to_string()).collect();
        let due = match &self.announced {
            None => true,
            Some((last, at)) => {
                *last != current || now.saturating_duration_since(*at) >= ANNOUNCE_EVERY
            }
        };
        if due {
            self.announced = Some((current, now));
        }
        due
    }
}

impl Default for Presence {
    fn default() -> Self {
        Presence::new()
    }
}

fn now_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How often an instance repeats its list of users.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// An instance silent this long is considered gone, with its users.
pub const FORGET_AFTER: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_merge_and_changes_are_reported_once() {
        let now = Instant::now();
        let mut p = Presence::new();
        assert_eq!(p.refresh(["alice"]).joined, vec!["alice"]);
        p.heard("b".into(), vec!["bob".into(), "alice".into()], now_millis(), now);
        let change = p.refresh(["alice"]);
        assert_eq!(change, Change { joined: vec!["bob".into()], left: vec![] });
        assert_eq!(p.users(), vec!["alice", "bob"]);
        assert_eq!(p.refresh(["alice"]), Change::default());
        // alice is still on instance b when she leaves here.
        assert_eq!(p.refresh([]), Change::default());
    }

    #[test]
    fn a_silent_instance_is_forgotten_with_its_users() {
        let now = Instant::now();
        let mut p = Presence::new();
        p.heard("b".into(), vec!["bob".into()], now_millis(), now);
        p.refresh([]);
        p.forget_silent(now + FORGET_AFTER);
        assert_eq!(p.refresh([]).left, vec!["bob"]);
        // An announcement older than FORGET_AFTER (read back at start) is ignored.
        p.heard("c".into(), vec!["carol".into()], now_millis() - 20_000, now);
        assert!(p.refresh([]).joined.is_empty());
    }

    #[test]
    fn announcements_on_change_and_on_schedule() {
        let now = Instant::now();
        let mut p = Presence::new();
        assert!(p.should_announce(&["a"], now));
        assert!(!p.should_announce(&["a"], now + Duration::from_secs(1)));
        assert!(p.should_announce(&["a", "b"], now + Duration::from_secs(1)));
        assert!(p.should_announce(&["a", "b"], now + Duration::from_secs(7)));
    }
}
