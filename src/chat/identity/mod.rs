//! Who is who: which session holds which nickname, and the private conversations between them.
//!
//! [`Identities`] is one table, owned by the broadcaster thread alone (like the hub), so that
//! names are given in one order and no lock is needed. It has a row per session (a [`User`],
//! found by its public [`UserId`]): the nickname it holds, its connections on this instance,
//! whether it was *used*, the sessions it has private conversations with and what it has not
//! read. Beside the rows, indexes kept in step with them: folded name → session, the offline
//! sessions in the order they went offline, the conversations. A session enters the table when a
//! connection arrives (or, with Kafka, when another instance claims a name for it) and leaves it
//! one way, [`Identities::forget`], taking its name and its conversations with it.
//!
//! The table's methods live in the file of the idea they serve. Read them in this order:
//! - [`names`]: nicknames and their reservation on one instance: who gets which name, how long
//!   a name is held after its session's last connection, used and throwaway sessions, and what
//!   pressure forgets. Enough to understand a single server.
//! - [`conversations`]: private conversations, owned by the pair of sessions, and the unread
//!   counts of sessions without a connection.
//! - [`markers`]: how far each session has read, per room and conversation (read markers).
//! - [`cluster`]: how the instances of one deployment agree on names over Kafka (claims,
//!   releases, rosters). A single-instance reader can skip it.
//! - [`bots`]: the names of the HTTP API's bots, held for the server's life.
//! - [`handoff`]: not part of the table: how a connection's own thread waits for the broadcaster
//!   to tell it who it is ([`NameTag`], [`IdentityPromise`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::chat::history::History;
use crate::chat::session::UserId;

mod bots;
mod cluster;
mod conversations;
mod handoff;
mod markers;
mod names;

use cluster::Cluster;

pub use cluster::{Claim, NameChanges};
pub use conversations::Pair;
pub use handoff::{IdentityPromise, NameTag, Unsettled};
pub use markers::{MAX_READ_MARKERS, ReadAt};
pub use names::{COUNTED_SUFFIXES, Hello, Presented, Renamed, fold};

/// The sessions, their names and their conversations.
#[derive(Debug)]
pub struct Identities {
    /// Every session known here, connected or holding its name.
    users: HashMap<UserId, User>,
    /// Folded name → the session that holds it.
    names: HashMap<String, UserId>,
    /// Used sessions without connections, by the time they went offline.
    offline: BTreeSet<(Instant, UserId)>,
    /// Throwaway sessions without connections, by the time they went offline.
    throwaway: BTreeSet<(Instant, UserId)>,
    /// Private conversations, by their two sessions.
    conversations: HashMap<Pair, History>,
    /// (from, to): `from` wrote privately to `to` at least once (kept as long as both are).
    wrote: HashSet<(UserId, UserId)>,
    /// What the other instances agreed and list (Kafka only; empty on a single instance).
    cluster: Cluster,
    /// How long a name is held after its session's last connection (`NAME_RESERVE_SECS`).
    reserve: Duration,
    /// How many offline sessions are kept at most (`MAX_RESERVED_NAMES`).
    max_offline: usize,
}

/// A session's row in the table.
#[derive(Debug)]
struct User {
    name: String,
    /// Connections open on this instance.
    connections: u32,
    /// When the last one closed (or it was last listed elsewhere); `None` while connected here
    /// or listed in another instance's roster. Set exactly while it is in the offline queue.
    offline_since: Option<Instant>,
    /// When another instance's roster last listed it; set exactly while the cluster waits for
    /// its next listing (`cluster.rs`). Always `None` on a single instance.
    seen_elsewhere: Option<Instant>,
    /// Private messages that came while it had no connection, per sender.
    unread: BTreeMap<UserId, u32>,
    /// The sessions it has a conversation with.
    peers: BTreeSet<UserId>,
    /// It spoke, renamed, sent or was sent a private message, or came back: pressure never
    /// forgets it before its reserve ends.
    used: bool,
    /// How far it has read, per room and conversation, the least recently moved first
    /// (`markers.rs`).
    read: Vec<(ReadAt, u64)>,
}

impl Identities {
    /// Nobody yet; names are held `reserve` after their session's last connection, for at most
    /// `max_offline` offline sessions.
    pub fn new(reserve: Duration, max_offline: usize) -> Identities {
        Identities {
            users: HashMap::new(),
            names: HashMap::new(),
            offline: BTreeSet::new(),
            throwaway: BTreeSet::new(),
            conversations: HashMap::new(),
            wrote: HashSet::new(),
            cluster: Cluster::default(),
            reserve,
            max_offline,
        }
    }

    /// Every session with its nickname.
    pub fn sessions(&self) -> impl Iterator<Item = (UserId, &str)> {
        self.users.iter().map(|(user, known)| (*user, known.name.as_str()))
    }

    /// How many sessions are known (connected or holding their name).
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no session is known.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Forgets session `user`: its row, its place in every index, its name and its
    /// conversations. The sweep's way, a release's, and a restart's.
    fn forget(&mut self, user: UserId) {
        let Some(gone) = self.users.remove(&user) else { return };
        if let Some(since) = gone.offline_since {
            self.queue(gone.used).remove(&(since, user));
        }
        if let Some(seen) = gone.seen_elsewhere {
            self.unlist(user, seen);
        }
        let folded = fold(&gone.name);
        if self.names.get(&folded) == Some(&user) {
            self.names.remove(&folded);
        }
        self.forget_conversations(user, gone.peers);
    }
}

impl User {
    /// A session named `name`, with `connections` open here, nothing else known yet.
    fn named(name: &str, connections: u32) -> User {
        User {
            name: name.to_string(),
            connections,
            offline_since: None,
            seen_elsewhere: None,
            unread: BTreeMap::new(),
            peers: BTreeSet::new(),
            used: false,
            read: Vec::new(),
        }
    }
}

/// A table and sessions for the tests of this folder.
#[cfg(test)]
mod examples {
    use std::time::Duration;

    use super::Identities;
    use crate::chat::session::Session;

    /// A table that reserves names for a minute and holds at most 100.
    pub fn ids() -> Identities {
        Identities::new(Duration::from_secs(60), 100)
    }

    /// A new session.
    pub fn session() -> Session {
        Session::new().unwrap()
    }
}
