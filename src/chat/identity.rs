//! Who is who: which session holds which nickname, and the private conversations between them.
//! Owned by the broadcaster thread alone, like the hub, so there is one order of claims.
//!
//! # Names
//! A nickname belongs to one session (one [`UserId`]) at a time, compared case-insensitively
//! after [`nickname::clean`](crate::chat::nickname::clean): `Alice` and `alice` are one name. A
//! name is held while any connection of its session is open and for `NAME_RESERVE_SECS` after the
//! last one closed; then the session is forgotten (presenting it again gets a fresh one and
//! `session_expired`) and its name is free. Asking for a held name gives the first free of
//! `alice-2`, `alice-3`, …
//!
//! Offline sessions wait in a queue ordered by when they went offline; at most
//! `MAX_RESERVED_NAMES` of them are kept, so a client connecting again and again without its
//! session cannot grow the memory without bound (the longest-offline goes first).
//!
//! # Private conversations
//! A conversation belongs to the two sessions, not to their names: it is keyed by the pair of
//! user ids, so when a name passes to a new session, the new holder finds none of the old
//! conversations. A conversation is forgotten with either of its sessions: nobody can reach it
//! any more.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::chat::history::History;
use crate::chat::nickname::MAX_CHARS;
use crate::chat::session::{Session, UserId};

/// The session a new connection presented.
#[derive(Debug)]
pub enum Presented {
    /// None: a newcomer.
    Nothing,
    /// Something that is not a session (wrong length or alphabet): treated as expired.
    Malformed,
    /// A well-formed session, known or not.
    Session(Session),
}

/// What a connection is told about who it is: the `hello`.
#[derive(Debug, PartialEq, Eq)]
pub struct Arrived {
    /// Its session (the one presented, or a fresh one).
    pub session: Session,
    /// The session's public id.
    pub user: UserId,
    /// The nickname it holds.
    pub name: String,
    /// The name it asked for, when it got another (that one is held).
    pub requested: Option<String>,
    /// It presented a session that is malformed or not known (any more).
    pub expired: bool,
}

/// The answer to a rename.
#[derive(Debug, PartialEq, Eq)]
pub enum Renamed {
    /// It has that name already: nothing to do.
    Same,
    /// Another session holds it.
    Taken,
    /// Done; the name it had.
    From(String),
}

/// The two sessions of a private conversation, the smaller id first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair(UserId, UserId);

impl Pair {
    /// The conversation between `a` and `b` (in either order; `a == b` is a note to self).
    pub fn new(a: UserId, b: UserId) -> Pair {
        if a <= b { Pair(a, b) } else { Pair(b, a) }
    }

    /// The key the conversation's partition is found by (see `chat/room.rs`, `partition`).
    pub fn key(&self) -> String {
        format!("@{}.{}", self.0, self.1)
    }
}

#[derive(Debug)]
struct User {
    name: String,
    /// Connections open on this instance.
    connections: u32,
    /// When the last one closed; `None` while connected.
    offline_since: Option<Instant>,
    /// Private messages that came while it had no connection, per sender.
    unread: BTreeMap<UserId, u32>,
    /// The sessions it has a conversation with.
    peers: BTreeSet<UserId>,
}

/// The sessions, their names and their conversations.
#[derive(Debug)]
pub struct Identities {
    users: HashMap<UserId, User>,
    /// Folded name → the session that holds it.
    names: HashMap<String, UserId>,
    /// Sessions without connections, by the time they went offline.
    offline: BTreeSet<(Instant, UserId)>,
    conversations: HashMap<Pair, History>,
    reserve: Duration,
    max_offline: usize,
}

impl Identities {
    /// Nobody yet; names are held `reserve` after their session's last connection, for at most
    /// `max_offline` offline sessions.
    pub fn new(reserve: Duration, max_offline: usize) -> Identities {
        Identities {
            users: HashMap::new(),
            names: HashMap::new(),
            offline: BTreeSet::new(),
            conversations: HashMap::new(),
            reserve,
            max_offline,
        }
    }

    /// A connection opens with `presented` and asks for `requested` (cleaned); `fresh` is the
    /// session it gets if it is a newcomer.
    pub fn arrive(&mut self, presented: Presented, fresh: Session, requested: &str) -> Arrived {
        let expired = match presented {
            Presented::Nothing => false,
            Presented::Malformed => true,
            Presented::Session(session) => {
                let user = session.user_id();
                if let Some(known) = self.users.get_mut(&user) {
                    known.connections += 1;
                    if let Some(since) = known.offline_since.take() {
                        self.offline.remove(&(since, user));
                    }
                    let name = known.name.clone();
                    return Arrived { session, user, name, requested: None, expired: false };
                }
                true
            }
        };
        let user = fresh.user_id();
        let name = self.free_name(requested, user);
        let requested = (name != requested).then(|| requested.to_string());
        self.names.insert(fold(&name), user);
        let entry = User {
            name: name.clone(),
            connections: 1,
            offline_since: None,
            unread: BTreeMap::new(),
            peers: BTreeSet::new(),
        };
        self.users.insert(user, entry);
        Arrived { session: fresh, user, name, requested, expired }
    }

    /// A connection of `user` closed.
    pub fn depart(&mut self, user: UserId, now: Instant) {
        let Some(known) = self.users.get_mut(&user) else { return };
        known.connections = known.connections.saturating_sub(1);
        if known.connections == 0 && known.offline_since.is_none() {
            known.offline_since = Some(now);
            self.offline.insert((now, user));
        }
    }

    /// `user` asks for `wanted` (cleaned).
    pub fn rename(&mut self, user: UserId, wanted: &str) -> Renamed {
        let Some(known) = self.users.get(&user) else { return Renamed::Taken };
        if known.name == wanted {
            return Renamed::Same;
        }
        let folded = fold(wanted);
        if self.names.get(&folded).is_some_and(|holder| *holder != user) {
            return Renamed::Taken;
        }
        let old = fold(&known.name);
        if self.names.get(&old) == Some(&user) {
            self.names.remove(&old);
        }
        self.names.insert(folded, user);
        let known = self.users.get_mut(&user).expect("looked up above");
        Renamed::From(std::mem::replace(&mut known.name, wanted.to_string()))
    }

    /// The session holding `name` (cleaned), if any.
    pub fn holder(&self, name: &str) -> Option<UserId> {
        self.names.get(&fold(name)).copied()
    }

    /// The name `user` holds.
    pub fn name(&self, user: UserId) -> Option<&str> {
        self.users.get(&user).map(|u| u.name.as_str())
    }

    /// True while `user` has a connection here.
    pub fn is_connected(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| u.connections > 0)
    }

    /// The conversation between `a` and `b`, made empty by `empty` if it is new.
    pub fn conversation(&mut self, pair: Pair, empty: impl FnOnce() -> History) -> &mut History {
        let Pair(a, b) = pair;
        for (one, other) in [(a, b), (b, a)] {
            if let Some(user) = self.users.get_mut(&one) {
                user.peers.insert(other);
            }
        }
        self.conversations.entry(pair).or_insert_with(empty)
    }

    /// The conversation between the two sessions of `pair`, if it exists.
    pub fn existing(&self, pair: Pair) -> Option<&History> {
        self.conversations.get(&pair)
    }

    /// A private message from `from` reached `to` while it had no connection.
    pub fn note_unread(&mut self, to: UserId, from: UserId) {
        if let Some(user) = self.users.get_mut(&to) {
            *user.unread.entry(from).or_insert(0) += 1;
        }
    }

    /// `user` read its conversation with `peer`.
    pub fn mark_read(&mut self, user: UserId, peer: UserId) {
        if let Some(user) = self.users.get_mut(&user) {
            user.unread.remove(&peer);
        }
    }

    /// The private messages `user` has not read, per sender still known: (sender, its name now,
    /// count).
    pub fn unread(&self, user: UserId) -> Vec<(UserId, &str, u32)> {
        let Some(known) = self.users.get(&user) else { return Vec::new() };
        let named = known.unread.iter().filter_map(|(peer, count)| {
            self.users.get(peer).map(|p| (*peer, p.name.as_str(), *count))
        });
        named.collect()
    }

    /// Forgets the sessions offline for longer than the reserve, and the oldest offline ones
    /// beyond the cap, with their names and conversations; returns how many.
    pub fn sweep(&mut self, now: Instant) -> usize {
        let mut forgotten = 0;
        while let Some(&(since, user)) = self.offline.first() {
            let expired = now.saturating_duration_since(since) >= self.reserve;
            if !expired && self.offline.len() <= self.max_offline {
                break;
            }
            self.offline.pop_first();
            self.forget(user);
            forgotten += 1;
        }
        forgotten
    }

    /// How many sessions are known (connected or holding their name).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no session is known.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn forget(&mut self, user: UserId) {
        let Some(gone) = self.users.remove(&user) else { return };
        let folded = fold(&gone.name);
        if self.names.get(&folded) == Some(&user) {
            self.names.remove(&folded);
        }
        for peer in gone.peers {
            self.conversations.remove(&Pair::new(user, peer));
            if let Some(peer) = self.users.get_mut(&peer) {
                peer.peers.remove(&user);
                peer.unread.remove(&user);
            }
        }
    }

    /// `requested` if nobody else holds it, else the first free `requested-N` (shortened to fit
    /// [`MAX_CHARS`]).
    fn free_name(&self, requested: &str, user: UserId) -> String {
        let free = |name: &str| self.names.get(&fold(name)).is_none_or(|holder| *holder == user);
        if free(requested) {
            return requested.to_string();
        }
        // Among users + 2 numbers one is free: each user holds one name.
        (2..).map(|n| suffixed(requested, n)).find(|name| free(name)).expect("a free name")
    }
}

/// `name-n`, with `name` cut so that the whole is at most [`MAX_CHARS`] characters.
fn suffixed(name: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let room = MAX_CHARS.saturating_sub(suffix.chars().count());
    let base: String = name.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end())
}

/// The form names are compared in: `Alice` and `alice` are one name.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// The name a connection's handler signs its messages with, shared with the broadcaster, which
/// sets it when the connection's identity is settled and on every rename. Locked only by the
/// connection's own thread and, on those occasions, by the broadcaster.
#[derive(Debug, Default)]
pub struct NameTag(Mutex<String>);

impl NameTag {
    /// The current name.
    pub fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes it.
    pub fn set(&self, name: &str) {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.clear();
        held.push_str(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Identities {
        Identities::new(Duration::from_secs(60), 100)
    }

    fn session() -> Session {
        Session::new().unwrap()
    }

    #[test]
    fn a_held_name_gets_the_first_free_suffix_and_a_session_keeps_its_name() {
        let mut ids = ids();
        let alice = ids.arrive(Presented::Nothing, session(), "alice");
        assert_eq!((alice.name.as_str(), alice.requested.as_deref()), ("alice", None));
        let other = ids.arrive(Presented::Nothing, session(), "Alice");
        assert_eq!((other.name.as_str(), other.requested.as_deref()), ("Alice-2", Some("Alice")));
        let third = ids.arrive(Presented::Nothing, session(), "ALICE");
        assert_eq!(third.name, "ALICE-3");
        // The same session again, asking for another name: it is still alice.
        let again = ids.arrive(Presented::Session(alice.session.clone()), session(), "bob");
        assert_eq!((again.user, again.name.as_str(), again.expired), (alice.user, "alice", false));
        assert_eq!(ids.holder("ALICE"), Some(alice.user));
        assert_eq!(ids.holder("alice-2"), Some(other.user));
        assert_eq!(ids.holder("carol"), None);
    }

    #[test]
    fn unknown_or_malformed_sessions_are_expired_and_get_a_fresh_one() {
        let mut ids = ids();
        let stranger = session();
        let fresh = session();
        let arrived = ids.arrive(Presented::Session(stranger.clone()), fresh.clone(), "x");
        assert!(arrived.expired);
        assert_eq!(arrived.session, fresh);
        assert_ne!(arrived.user, stranger.user_id());
        assert!(ids.arrive(Presented::Malformed, session(), "y").expired);
        assert!(!ids.arrive(Presented::Nothing, session(), "z").expired);
    }

    #[test]
    fn a_name_is_held_for_the_reserve_after_the_last_connection_then_freed() {
        let mut ids = ids();
        let start = Instant::now();
        let alice = ids.arrive(Presented::Nothing, session(), "alice");
        ids.arrive(Presented::Session(alice.session.clone()), session(), "alice");
        ids.depart(alice.user, start);
        assert_eq!(ids.sweep(start + Duration::from_secs(3600)), 0, "one connection is open");
        ids.depart(alice.user, start);
        assert_eq!(ids.sweep(start + Duration::from_secs(59)), 0, "reserved");
        assert_eq!(ids.arrive(Presented::Nothing, session(), "alice").name, "alice-2");
        assert_eq!(ids.sweep(start + Duration::from_secs(60)), 1);
        assert_eq!(ids.holder("alice"), None);
        let back = ids.arrive(Presented::Session(alice.session), session(), "alice");
        assert!(back.expired, "the session was forgotten with its name");
        assert_eq!(back.name, "alice");
        assert_ne!(back.user, alice.user);
    }

    #[test]
    fn a_returning_session_is_no_longer_offline() {
        let mut ids = ids();
        let start = Instant::now();
        let alice = ids.arrive(Presented::Nothing, session(), "alice");
        ids.depart(alice.user, start);
        ids.arrive(Presented::Session(alice.session.clone()), session(), "alice");
        assert_eq!(ids.sweep(start + Duration::from_secs(600)), 0);
        assert_eq!(ids.holder("alice"), Some(alice.user));
    }

    #[test]
    fn offline_sessions_beyond_the_cap_go_oldest_first() {
        let mut ids = Identities::new(Duration::from_secs(60), 2);
        let start = Instant::now();
        let users: Vec<UserId> = (0..4)
            .map(|i| {
                let user = ids.arrive(Presented::Nothing, session(), &format!("u{i}")).user;
                ids.depart(user, start + Duration::from_millis(i));
                user
            })
            .collect();
        assert_eq!(ids.sweep(start + Duration::from_secs(1)), 2);
        assert_eq!(ids.holder("u0"), None);
        assert_eq!(ids.holder("u1"), None);
        assert_eq!(ids.holder("u3"), Some(users[3]));
    }

    #[test]
    fn renames() {
        let mut ids = ids();
        let alice = ids.arrive(Presented::Nothing, session(), "alice").user;
        ids.arrive(Presented::Nothing, session(), "bob");
        assert_eq!(ids.rename(alice, "alice"), Renamed::Same);
        assert_eq!(ids.rename(alice, "BOB"), Renamed::Taken);
        assert_eq!(ids.rename(alice, "Alice"), Renamed::From("alice".into()), "a case change");
        assert_eq!(ids.rename(alice, "carol"), Renamed::From("Alice".into()));
        assert_eq!(ids.holder("alice"), None, "the old name is free");
        assert_eq!(ids.holder("carol"), Some(alice));
        assert_eq!(ids.name(alice), Some("carol"));
    }

    #[test]
    fn suffixes_fit_the_longest_name() {
        let long = "a".repeat(MAX_CHARS);
        assert_eq!(suffixed(&long, 2), format!("{}-2", "a".repeat(MAX_CHARS - 2)));
        assert_eq!(suffixed(&long, 10).chars().count(), MAX_CHARS);
        assert_eq!(suffixed("ab c", 2), "ab c-2");
        let spaced = format!("{} b", "a".repeat(29));
        assert_eq!(suffixed(&spaced, 2), format!("{}-2", "a".repeat(29)), "no space before -");
    }

    #[test]
    fn conversations_belong_to_sessions_and_go_with_them() {
        let mut ids = ids();
        let start = Instant::now();
        let a = ids.arrive(Presented::Nothing, session(), "a").user;
        let b = ids.arrive(Presented::Nothing, session(), "b").user;
        let pair = Pair::new(b, a);
        assert_eq!(pair, Pair::new(a, b));
        ids.conversation(pair, || History::new(10, "e".into()));
        ids.note_unread(b, a);
        ids.note_unread(b, a);
        assert_eq!(ids.unread(b), vec![(a, "a", 2)]);
        ids.mark_read(b, a);
        assert!(ids.unread(b).is_empty());
        ids.note_unread(a, b);
        ids.depart(b, start);
        ids.sweep(start + Duration::from_secs(60));
        assert!(ids.conversations.is_empty(), "nobody can reach it any more");
        assert!(ids.unread(a).is_empty());
        assert_eq!(ids.len(), 1);
    }
}
