//! Private conversations between two sessions, and what a session without a connection has not
//! read yet.
//!
//! A conversation belongs to the two sessions, not to their names: it is keyed by the pair of
//! user ids ([`Pair`]), so when a name passes to a new session, the new holder finds none of the
//! old conversations. Its messages are a [`History`], as a room's are. A conversation is
//! forgotten with either of its sessions: nobody can reach it any more.
//!
//! Beside the messages the table keeps, per session:
//! - its *peers*, the sessions it has a conversation with (how many conversations it started is
//!   limited, `chat/allowance.rs`);
//! - who *wrote* to whom: a conversation counts as answered once the other side wrote in it;
//! - its *unread* counts: a private message that reaches a session with no connection (here, or
//!   with Kafka on any instance) is counted per sender, told in its next `hello`, and cleared
//!   when it opens the conversation.

use crate::chat::history::History;
use crate::chat::session::UserId;

use super::Identities;

/// The two sessions of a private conversation, the smaller id first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pair(UserId, UserId);

impl Pair {
    /// The conversation between `a` and `b` (in either order; `a == b` is a note to self).
    pub fn new(a: UserId, b: UserId) -> Pair {
        if a <= b { Pair(a, b) } else { Pair(b, a) }
    }

    /// The two sessions, the smaller id first.
    pub fn users(&self) -> (UserId, UserId) {
        (self.0, self.1)
    }

    /// The key the conversation's partition is found by (see `chat/room.rs`, `partition`).
    pub fn key(&self) -> String {
        format!("@{}.{}", self.0, self.1)
    }
}

impl Identities {
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

    /// `from` wrote privately to `to`.
    pub fn note_written(&mut self, from: UserId, to: UserId) {
        if self.users.contains_key(&from) && self.users.contains_key(&to) {
            self.wrote.insert((from, to));
        }
    }

    /// True when `from` ever wrote privately to `to` (both still known).
    pub fn has_written(&self, from: UserId, to: UserId) -> bool {
        self.wrote.contains(&(from, to))
    }

    /// How many private conversations `user` has.
    pub fn conversation_count(&self, user: UserId) -> usize {
        self.users.get(&user).map_or(0, |known| known.peers.len())
    }

    /// The conversation between the two sessions of `pair`, if it exists.
    pub fn existing(&self, pair: Pair) -> Option<&History> {
        self.conversations.get(&pair)
    }

    /// The same, to change.
    pub fn existing_mut(&mut self, pair: Pair) -> Option<&mut History> {
        self.conversations.get_mut(&pair)
    }

    /// Every conversation.
    pub fn conversations(&self) -> impl Iterator<Item = (&Pair, &History)> {
        self.conversations.iter()
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

    /// Forgets the conversations of `user` (forgotten itself) with each of its `peers`, and
    /// what the peers had not read of it.
    pub(super) fn forget_conversations(
        &mut self,
        user: UserId,
        peers: impl IntoIterator<Item = UserId>,
    ) {
        for peer in peers {
            self.conversations.remove(&Pair::new(user, peer));
            self.wrote.remove(&(user, peer));
            self.wrote.remove(&(peer, user));
            if let Some(peer) = self.users.get_mut(&peer) {
                peer.peers.remove(&user);
                peer.unread.remove(&user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::chat::identity::Presented;
    use crate::chat::session::Session;

    #[test]
    fn conversations_belong_to_sessions_and_go_with_them() {
        let mut ids = Identities::new(Duration::from_secs(60), 100);
        let session = || Session::new().unwrap();
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
