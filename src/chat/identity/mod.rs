//! Who is who: which session holds which nickname, and the private conversations between them.
//! Owned by the broadcaster thread alone, like the hub, so there is one order of claims.
//!
//! # Names
//! A nickname belongs to one session (one [`UserId`]) at a time, compared by what it looks like
//! ([`fold`]: case, compatibility forms and look-alike letters folded away, after
//! [`nickname::clean`](crate::chat::nickname::clean)): `Alice`, `alice` and Cyrillic `аlice` are
//! one name. A
//! name is held while any connection of its session is open and for `NAME_RESERVE_SECS` after the
//! last one closed; then the session is forgotten (presenting it again gets a fresh one and
//! `session_expired`) and its name is free. Asking for a held name gives the first free of
//! `alice-2`, `alice-3`, …
//!
//! Offline sessions wait in two queues ordered by when they went offline: sessions that were
//! *used* (it spoke, renamed, sent or was sent a private message, or came back with its session)
//! and *throwaway* ones (connected once and did nothing). At most `MAX_RESERVED_NAMES` offline
//! sessions are kept, so a client connecting again and again without its session cannot grow the
//! memory without bound; but pressure only ever forgets throwaway sessions, the newest first:
//! a flood of throwaway connections churns through its own sessions and nobody else's, and an
//! earlier visitor keeps the name it looked around with. A used session keeps its name for its
//! whole `NAME_RESERVE_SECS`; while used sessions alone fill the table, new sessions are refused
//! ([`Identities::is_full`]) rather than anyone's name given away.
//!
//! # Across instances
//! With Kafka every instance keeps all of this for the whole deployment, so that a session
//! presented on any instance is the same person and a private message to "alice" reaches the
//! same session from everywhere. A name taken here (a newcomer, a rename) is held here at once,
//! tentatively, and *claimed* on the claims topic; every instance, the claimer too, applies the
//! claims in the topic's one order ([`Identities::apply_claim`]), keeping `confirmed` (folded
//! name → session), built from that order alone so that every instance agrees:
//! - A claim of a name that is unconfirmed, or confirmed to the same session, wins: the name is
//!   confirmed to it (and its previous one released). Here the session is added if unknown
//!   (offline, so its session is recognised when presented and private messages reach it), or
//!   renamed if it had another name (a rename elsewhere). A session of this instance that held
//!   the name tentatively lost: it gets the first free `alice-2`, and claims that.
//! - A claim of a name confirmed to another session lost. Only the claimer's instance reacts: it
//!   renames the loser, which claims its new name.
//! - A session is forgotten through the log too: the instance whose sweep forgets one first
//!   publishes a *release*; every instance then drops the confirmation and forgets the session,
//!   unless it is online there (an instance with a connection of it claims its name again).
//!   "Forgotten" cannot be each instance's own judgement: sweeps run on each instance's clock, and
//!   two instances that disagreed would confirm a name to two sessions. Should a release never
//!   reach the topic (the broker was down), the next claim of ours that loses to the session we
//!   forgot publishes the release again and claims once more behind it.
//!
//! A session connected only on another instance is online here while that instance's rosters list
//! it (every 5 s and on change): it is not swept, and private messages to it are not unread. It
//! is offline from the first roster that no longer lists it, or `FORGET_AFTER` after the last
//! one that did when its instance falls silent. Sessions learned at start-up from the claims
//! topic are offline from then on: a restart extends a reservation by at most
//! `NAME_RESERVE_SECS`. `MAX_RESERVED_NAMES` caps the offline sessions of the whole deployment
//! that one instance keeps.
//!
//! # Private conversations
//! A conversation belongs to the two sessions, not to their names: it is keyed by the pair of
//! user ids, so when a name passes to a new session, the new holder finds none of the old
//! conversations. A conversation is forgotten with either of its sessions: nobody can reach it
//! any more.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::chat::history::History;
use crate::chat::nickname::MAX_CHARS;
use crate::chat::presence::FORGET_AFTER;
use crate::chat::session::{Session, UserId, random_u64};

mod conversations;
mod handoff;

pub use conversations::Pair;
pub use handoff::{NameTag, Settle, Unsettled};

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
    /// The session is new: its name is to be claimed (with Kafka).
    pub new: bool,
}

/// A nickname claim from the claims topic, in the topic's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The session that claims.
    pub user: UserId,
    /// The name it claims.
    pub name: String,
    /// This instance published it.
    pub ours: bool,
}

/// What applying a claim or a release changed here, for the broadcaster to tell and publish.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settled {
    /// Sessions with another name now: who, its old name, its new one, and the name it lost
    /// (asked for), if it lost one.
    pub renamed: Vec<(UserId, String, String, Option<String>)>,
    /// Claims to publish: (session, name).
    pub claims: Vec<(UserId, String)>,
    /// Releases to publish: (session, folded name).
    pub releases: Vec<(UserId, String)>,
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

#[derive(Debug)]
struct User {
    name: String,
    /// Connections open on this instance.
    connections: u32,
    /// When the last one closed (or it was last listed elsewhere); `None` while connected here
    /// or listed in another instance's roster. Set exactly while it is in the offline queue.
    offline_since: Option<Instant>,
    /// When another instance's roster last listed it; set exactly while it is in `elsewhere`.
    seen_elsewhere: Option<Instant>,
    /// Private messages that came while it had no connection, per sender.
    unread: BTreeMap<UserId, u32>,
    /// The sessions it has a conversation with.
    peers: BTreeSet<UserId>,
    /// It spoke, renamed, sent or was sent a private message, or came back: pressure never
    /// forgets it before its reserve ends.
    used: bool,
}

/// The sessions, their names and their conversations.
#[derive(Debug)]
pub struct Identities {
    users: HashMap<UserId, User>,
    /// Folded name → the session that holds it.
    names: HashMap<String, UserId>,
    /// Used sessions without connections, by the time they went offline.
    offline: BTreeSet<(Instant, UserId)>,
    /// Throwaway sessions without connections, by the time they went offline.
    throwaway: BTreeSet<(Instant, UserId)>,
    /// Sessions listed in other instances' rosters, by when they were last listed.
    elsewhere: BTreeSet<(Instant, UserId)>,
    /// The sessions each other instance's last roster listed.
    listed: HashMap<String, HashSet<UserId>>,
    /// Folded name → the session the claims topic gave it to (Kafka only).
    confirmed: HashMap<String, UserId>,
    /// The other way round: each session's confirmed name, folded.
    confirmed_of: HashMap<UserId, String>,
    /// Releases for sessions the sweep forgot, not yet published.
    lapsed: Vec<(UserId, String)>,
    conversations: HashMap<Pair, History>,
    /// (from, to): `from` wrote privately to `to` at least once (kept as long as both are).
    wrote: HashSet<(UserId, UserId)>,
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
            throwaway: BTreeSet::new(),
            elsewhere: BTreeSet::new(),
            listed: HashMap::new(),
            confirmed: HashMap::new(),
            confirmed_of: HashMap::new(),
            lapsed: Vec::new(),
            conversations: HashMap::new(),
            wrote: HashSet::new(),
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
                    let name = known.name.clone();
                    self.leave_offline_queue(user);
                    // It came back: used.
                    self.mark_used(user);
                    let requested = None;
                    return Arrived { session, user, name, requested, expired: false, new: false };
                }
                true
            }
        };
        let user = fresh.user_id();
        let name = self.free_name(requested, user);
        let requested = (name != requested).then(|| requested.to_string());
        self.names.insert(fold(&name), user);
        self.users.insert(user, User::named(&name, 1));
        Arrived { session: fresh, user, name, requested, expired, new: true }
    }

    /// True when a session presented is known here: it is not a new one.
    pub fn knows(&self, presented: &Presented) -> bool {
        match presented {
            Presented::Session(session) => self.users.contains_key(&session.user_id()),
            Presented::Nothing | Presented::Malformed => false,
        }
    }

    /// True while used offline sessions alone fill `MAX_RESERVED_NAMES`: no new session is
    /// given until some reserve ends (nobody's name is given away to make room).
    pub fn is_full(&self) -> bool {
        self.offline.len() >= self.max_offline
    }

    /// `user` did something that makes it worth keeping: pressure no longer forgets it.
    pub fn mark_used(&mut self, user: UserId) {
        let Some(known) = self.users.get_mut(&user) else { return };
        if std::mem::replace(&mut known.used, true) {
            return;
        }
        if let Some(since) = known.offline_since
            && self.throwaway.remove(&(since, user))
        {
            self.offline.insert((since, user));
        }
    }

    /// Takes `user` out of the offline queue it waits in, if it waits in one.
    fn leave_offline_queue(&mut self, user: UserId) {
        let Some(known) = self.users.get_mut(&user) else { return };
        if let Some(since) = known.offline_since.take() {
            let used = known.used;
            self.queue(used).remove(&(since, user));
        }
    }

    /// The offline queue of used sessions, or of throwaway ones.
    fn queue(&mut self, used: bool) -> &mut BTreeSet<(Instant, UserId)> {
        if used { &mut self.offline } else { &mut self.throwaway }
    }

    /// A connection of `user` closed.
    pub fn depart(&mut self, user: UserId, now: Instant) {
        let Some(known) = self.users.get_mut(&user) else { return };
        known.connections = known.connections.saturating_sub(1);
        if known.seen_elsewhere.is_none() {
            self.go_offline(user, now);
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
        Renamed::From(self.move_name(user, wanted))
    }

    /// Applies a claim from the claims topic (see "Across instances" in the module doc); `now`
    /// is when a session learned here goes offline.
    pub fn apply_claim(&mut self, claim: &Claim, now: Instant) -> Settled {
        let Claim { user, name, ours } = claim;
        let (user, folded) = (*user, fold(name));
        let mut settled = Settled::default();
        match self.confirmed.get(&folded) {
            Some(&holder) if holder != user => {
                if *ours {
                    self.lost(user, &folded, holder, &mut settled);
                }
                return settled;
            }
            _ => {}
        }
        if let Some(previous) = self.confirmed_of.insert(user, folded.clone())
            && previous != folded
            && self.confirmed.get(&previous) == Some(&user)
        {
            self.confirmed.remove(&previous);
        }
        self.confirmed.insert(folded.clone(), user);
        let current = self.users.get(&user).map(|u| u.name.clone());
        // A claim of ours that is not the name here any more: a later claim of ours follows.
        if *ours && current.as_ref().is_some_and(|c| fold(c) != folded) {
            return settled;
        }
        let held = self.names.get(&folded).copied().filter(|held| *held != user);
        if let Some((held, lost)) = held.and_then(|h| Some((h, self.users.get(&h)?.name.clone()))) {
            // A session here took it tentatively, after this claim: it lost.
            self.names.insert(folded.clone(), user);
            let new = self.suffixed_name(&lost, held);
            self.move_name(held, &new);
            settled.renamed.push((held, lost.clone(), new.clone(), Some(lost)));
            settled.claims.push((held, new));
        }
        match current {
            None => {
                self.names.insert(folded, user);
                let mut known = User::named(name, 0);
                // The presence and claims topics have no order between them: another instance's
                // roster may have listed the session before its claim arrived here.
                if self.listed.values().any(|listed| listed.contains(&user)) {
                    known.seen_elsewhere = Some(now);
                    self.elsewhere.insert((now, user));
                    self.users.insert(user, known);
                } else {
                    self.users.insert(user, known);
                    self.go_offline(user, now);
                }
            }
            Some(old) if old != *name => {
                self.move_name(user, name);
                settled.renamed.push((user, old, name.clone(), None));
            }
            Some(_) => {}
        }
        settled
    }

    /// Applies a release from the claims topic: `user` was forgotten by some instance. Its name
    /// (`folded`) is no longer confirmed to it; it is forgotten here too unless it is online
    /// here (then its name is claimed again) or elsewhere (whose instance claims it).
    pub fn apply_release(&mut self, user: UserId, folded: &str) -> Settled {
        // Folded again: a release written by an older version carries its older folded form.
        let folded = &fold(folded);
        let mut settled = Settled::default();
        if self.confirmed.get(folded) == Some(&user) {
            self.confirmed.remove(folded);
        }
        match self.confirmed_of.get(&user) {
            Some(f) if f == folded => drop(self.confirmed_of.remove(&user)),
            Some(_) => return settled, // a stale release: it holds another name now
            None => {}
        }
        match self.users.get(&user) {
            Some(known) if known.connections > 0 => {
                settled.claims.push((user, known.name.clone()));
            }
            Some(known) if known.seen_elsewhere.is_some() => {}
            Some(_) => self.forget(user),
            None => {}
        }
        settled
    }

    /// `instance`'s roster lists these sessions as connected to it at `at`: they are online, so
    /// not swept while some roster lists them (and [`FORGET_AFTER`] longer, should their instance
    /// fall silent). One it listed before and no instance lists now went offline at `at`.
    /// Unknown sessions are left alone: sessions are learned from claims, in the claims' order.
    pub fn seen_elsewhere(&mut self, instance: &str, users: &[UserId], at: Instant) {
        let listed: HashSet<UserId> = users.iter().copied().collect();
        let before = self.listed.insert(instance.to_string(), listed).unwrap_or_default();
        for user in users {
            self.leave_offline_queue(*user);
            let Some(known) = self.users.get_mut(user) else { continue };
            if let Some(seen) = known.seen_elsewhere.replace(at) {
                self.elsewhere.remove(&(seen, *user));
            }
            self.elsewhere.insert((at, *user));
        }
        for user in before {
            if self.listed.values().any(|listed| listed.contains(&user)) {
                continue;
            }
            let Some(known) = self.users.get_mut(&user) else { continue };
            if let Some(seen) = known.seen_elsewhere.take() {
                self.elsewhere.remove(&(seen, user));
            }
            self.go_offline(user, at);
        }
    }

    /// Releases to publish for sessions the sweep forgot that held a confirmed name.
    pub fn take_lapsed(&mut self) -> Vec<(UserId, String)> {
        std::mem::take(&mut self.lapsed)
    }

    /// `user`'s claim of `folded` lost to `holder`, and this instance made it.
    fn lost(&mut self, user: UserId, folded: &str, holder: UserId, settled: &mut Settled) {
        let Some(current) = self.users.get(&user).map(|u| u.name.clone()) else { return };
        if fold(&current) != folded {
            return; // renamed since
        }
        if !self.users.contains_key(&holder) {
            // We forgot the holder, but its release never reached the topic: publish it, and
            // claim again behind it.
            settled.releases.push((holder, folded.to_string()));
            settled.claims.push((user, current));
            return;
        }
        self.names.remove(folded);
        if self.users.get(&holder).is_some_and(|h| fold(&h.name) == folded) {
            self.names.insert(folded.to_string(), holder);
        }
        let new = self.suffixed_name(&current, user);
        self.move_name(user, &new);
        settled.renamed.push((user, current.clone(), new.clone(), Some(current)));
        settled.claims.push((user, new));
    }

    /// Gives `user` the name `wanted` here (it must be free for it); returns the old one.
    fn move_name(&mut self, user: UserId, wanted: &str) -> String {
        let known = self.users.get_mut(&user).expect("a known session");
        let old = fold(&known.name);
        if self.names.get(&old) == Some(&user) {
            self.names.remove(&old);
        }
        self.names.insert(fold(wanted), user);
        std::mem::replace(&mut known.name, wanted.to_string())
    }

    /// `user`, without connections here or elsewhere since `since`, waits in the offline queue.
    fn go_offline(&mut self, user: UserId, since: Instant) {
        let Some(known) = self.users.get_mut(&user) else { return };
        if known.connections == 0 && known.offline_since.is_none() {
            known.offline_since = Some(since);
            let used = known.used;
            self.queue(used).insert((since, user));
        }
    }

    /// The session holding `name` (cleaned), if any.
    pub fn holder(&self, name: &str) -> Option<UserId> {
        self.names.get(&fold(name)).copied()
    }

    /// The name `user` holds.
    pub fn name(&self, user: UserId) -> Option<&str> {
        self.users.get(&user).map(|u| u.name.as_str())
    }

    /// True while `user` has a connection here, or another instance's roster lists it.
    pub fn is_online(&self, user: UserId) -> bool {
        self.users.get(&user).is_some_and(|u| u.connections > 0 || u.seen_elsewhere.is_some())
    }

    /// Every session with its nickname.
    pub fn sessions(&self) -> impl Iterator<Item = (UserId, &str)> {
        self.users.iter().map(|(user, known)| (*user, known.name.as_str()))
    }

    /// Session `user` held `name` before a restart (read back from the store): it is known
    /// again, offline since `now`, and presenting it gets its name back. The store's order is the
    /// one the names were given in, so a name another session holds here was given up by it since:
    /// the later record takes it.
    pub fn restore(&mut self, user: UserId, name: &str, now: Instant) {
        if self.users.contains_key(&user) {
            // A rename before the restart: used.
            self.move_name(user, name);
            self.mark_used(user);
            return;
        }
        self.names.insert(fold(name), user);
        self.users.insert(user, User::named(name, 0));
        self.go_offline(user, now);
    }

    /// Forgets session `user`, as the sweep did before a restart.
    pub fn restore_forget(&mut self, user: UserId) {
        self.forget(user);
    }

    /// Forgets the sessions offline for longer than the reserve, and the oldest offline ones
    /// beyond the cap, with their names and conversations; returns them.
    pub fn sweep(&mut self, now: Instant) -> Vec<UserId> {
        // Sessions no roster listed for FORGET_AFTER went offline when they were last listed.
        while let Some(&(seen, user)) = self.elsewhere.first() {
            if now.saturating_duration_since(seen) < FORGET_AFTER {
                break;
            }
            self.elsewhere.pop_first();
            if let Some(known) = self.users.get_mut(&user) {
                known.seen_elsewhere = None;
            }
            self.go_offline(user, seen);
        }
        let mut forgotten = Vec::new();
        let reserve = self.reserve;
        let expired =
            |&&(since, _): &&(Instant, UserId)| now.saturating_duration_since(since) >= reserve;
        let mut lapsed: Vec<UserId> =
            self.offline.iter().take_while(expired).map(|e| e.1).collect();
        lapsed.extend(self.throwaway.iter().take_while(expired).map(|e| e.1));
        // Past the cap, throwaway sessions only, the newest first.
        let over = (self.offline.len() + self.throwaway.len() - lapsed.len())
            .saturating_sub(self.max_offline);
        let kept = self.throwaway.iter().filter(|e| !expired(e)).rev();
        lapsed.extend(kept.take(over).map(|e| e.1));
        for user in lapsed {
            if let Some(folded) = self.confirmed_of.get(&user) {
                self.lapsed.push((user, folded.clone()));
            }
            self.forget(user);
            forgotten.push(user);
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
        if let Some(since) = gone.offline_since {
            self.queue(gone.used).remove(&(since, user));
        }
        if let Some(seen) = gone.seen_elsewhere {
            self.elsewhere.remove(&(seen, user));
        }
        let folded = fold(&gone.name);
        if self.names.get(&folded) == Some(&user) {
            self.names.remove(&folded);
        }
        self.forget_conversations(user, gone.peers);
    }

    /// `requested` if nobody else holds it, else the first free `requested-N` (shortened to fit
    /// [`MAX_CHARS`]).
    fn free_name(&self, requested: &str, user: UserId) -> String {
        let free = |name: &str| self.names.get(&fold(name)).is_none_or(|holder| *holder == user);
        if free(requested) {
            return requested.to_string();
        }
        self.suffixed_name(requested, user)
    }

    /// The first `requested-N` (2 ≤ N ≤ [`COUNTED_SUFFIXES`]) nobody but `user` holds; past
    /// those, a free one of random N, so that a crowd asking for one name costs each of them a
    /// few lookups, not one per earlier holder.
    fn suffixed_name(&self, requested: &str, user: UserId) -> String {
        let free = |name: &str| self.names.get(&fold(name)).is_none_or(|holder| *holder == user);
        let counted = (2..=COUNTED_SUFFIXES).map(|n| suffixed(requested, n)).find(|n| free(n));
        if let Some(name) = counted {
            return name;
        }
        // Each session holds one name, so at most half of these numbers are taken: a try finds
        // a free one with a chance of one half at least.
        let span = 2 * self.users.len() as u64 + 2;
        loop {
            let n = COUNTED_SUFFIXES as u64 + 1 + random_u64() % span;
            let name = suffixed(requested, n as usize);
            if free(&name) {
                return name;
            }
        }
    }
}

impl User {
    fn named(name: &str, connections: u32) -> User {
        User {
            name: name.to_string(),
            connections,
            offline_since: None,
            seen_elsewhere: None,
            unread: BTreeMap::new(),
            peers: BTreeSet::new(),
            used: false,
        }
    }
}

/// Suffixes tried in order for a held name; beyond them, random ones.
pub const COUNTED_SUFFIXES: usize = 100;

/// `name-n`, with `name` cut so that the whole is at most [`MAX_CHARS`] characters.
fn suffixed(name: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let room = MAX_CHARS.saturating_sub(suffix.chars().count());
    let base: String = name.chars().take(room).collect();
    format!("{}{suffix}", base.trim_end())
}

/// The form names are compared in: names that look the same are one name (`Alice`, `alice` and
/// `аlice` with a Cyrillic `а`); see [`nickname::skeleton`](crate::chat::nickname::skeleton).
pub fn fold(name: &str) -> String {
    crate::chat::nickname::skeleton(name)
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
        assert_eq!(ids.sweep(start + Duration::from_secs(3600)).len(), 0, "one connection is open");
        ids.depart(alice.user, start);
        assert_eq!(ids.sweep(start + Duration::from_secs(59)).len(), 0, "reserved");
        assert_eq!(ids.arrive(Presented::Nothing, session(), "alice").name, "alice-2");
        assert_eq!(ids.sweep(start + Duration::from_secs(60)).len(), 1);
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
        assert_eq!(ids.sweep(start + Duration::from_secs(600)).len(), 0);
        assert_eq!(ids.holder("alice"), Some(alice.user));
    }

    #[test]
    fn pressure_forgets_throwaway_sessions_newest_first_and_never_a_used_one() {
        let mut ids = Identities::new(Duration::from_secs(60), 3);
        let start = Instant::now();
        let arrive = |ids: &mut Identities, name: &str, i: u64, used: bool| {
            let user = ids.arrive(Presented::Nothing, session(), name).user;
            if used {
                ids.mark_used(user);
            }
            ids.depart(user, start + Duration::from_millis(i));
            user
        };
        let alice = arrive(&mut ids, "alice", 0, true);
        let visitor = arrive(&mut ids, "visitor", 1, false);
        // A flood of throwaway sessions, after them.
        for i in 0..10 {
            arrive(&mut ids, &format!("t{i}"), 10 + i, false);
        }
        ids.sweep(start + Duration::from_secs(1));
        assert_eq!(ids.holder("alice"), Some(alice), "a used session keeps its name");
        assert_eq!(ids.holder("visitor"), Some(visitor), "the earlier throwaway too");
        assert!(ids.holder("t0").is_some(), "the oldest of the flood");
        assert_eq!(ids.holder("t9"), None, "the newest go first");
        assert_eq!(ids.len(), 3);
        // A session used while offline leaves the throwaway queue.
        let bob = arrive(&mut ids, "bob", 100, false);
        ids.mark_used(bob);
        ids.sweep(start + Duration::from_secs(2));
        assert_eq!(ids.holder("bob"), Some(bob));
        assert_eq!(ids.holder("t0"), None, "the newest throwaway makes room for it");
        assert_eq!(ids.holder("visitor"), Some(visitor));
        assert!(!ids.is_full());
        // Used sessions alone fill the table: nobody is forgotten, new sessions are refused.
        let carol = arrive(&mut ids, "carol", 200, true);
        ids.sweep(start + Duration::from_secs(3));
        assert!(ids.is_full());
        assert_eq!(ids.holder("visitor"), None, "the last throwaway made room");
        for (name, user) in [("alice", alice), ("bob", bob), ("carol", carol)] {
            assert_eq!(ids.holder(name), Some(user), "{name}");
        }
        // Their reserve still ends.
        assert_eq!(ids.sweep(start + Duration::from_secs(61)).len(), 3);
        assert!(ids.is_empty());
    }

    #[test]
    fn coming_back_makes_a_session_used() {
        let mut ids = Identities::new(Duration::from_secs(60), 1);
        let start = Instant::now();
        let first = ids.arrive(Presented::Nothing, session(), "alice");
        ids.depart(first.user, start);
        let again = ids.arrive(Presented::Session(first.session.clone()), session(), "x");
        assert!(ids.knows(&Presented::Session(first.session)));
        ids.depart(again.user, start);
        let other = ids.arrive(Presented::Nothing, session(), "other").user;
        ids.depart(other, start + Duration::from_millis(1));
        ids.sweep(start + Duration::from_secs(1));
        assert_eq!(ids.holder("alice"), Some(first.user));
        assert_eq!(ids.holder("other"), None);
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
    fn a_crowd_asking_for_one_name_gets_counted_then_random_suffixes() {
        let mut ids = ids();
        let names: Vec<String> =
            (0..300).map(|_| ids.arrive(Presented::Nothing, session(), "bob").name).collect();
        assert_eq!(names[0], "bob");
        assert_eq!(names[1], "bob-2");
        assert_eq!(names[COUNTED_SUFFIXES - 1], format!("bob-{COUNTED_SUFFIXES}"));
        let unique: BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        for name in &names[COUNTED_SUFFIXES..] {
            let n: usize = name.strip_prefix("bob-").unwrap().parse().unwrap();
            assert!(n > COUNTED_SUFFIXES, "{name}");
        }
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

    fn claim(user: UserId, name: &str, ours: bool) -> Claim {
        Claim { user, name: name.to_string(), ours }
    }

    /// Applies `claims` in order; the renames, claims and releases they asked for.
    fn apply(ids: &mut Identities, claims: &[Claim]) -> Settled {
        let mut all = Settled::default();
        for c in claims {
            let settled = ids.apply_claim(c, Instant::now());
            all.renamed.extend(settled.renamed);
            all.claims.extend(settled.claims);
            all.releases.extend(settled.releases);
        }
        all
    }

    #[test]
    fn of_two_claims_of_a_name_the_first_in_the_log_wins_on_both_instances() {
        // "alice" taken at once on instance A (by u) and on B (by v); the log has u's claim first.
        let (mut a, mut b) = (ids(), ids());
        let alice = a.arrive(Presented::Nothing, session(), "alice");
        let u = alice.user;
        let v = b.arrive(Presented::Nothing, session(), "Alice").user;
        let on_a = apply(&mut a, &[claim(u, "alice", true), claim(v, "Alice", false)]);
        assert_eq!(on_a, Settled::default(), "A's session won; B's claim is B's to settle");
        let on_b = apply(&mut b, &[claim(u, "alice", false), claim(v, "Alice", true)]);
        let renamed = (v, "Alice".to_string(), "Alice-2".to_string(), Some("Alice".to_string()));
        assert_eq!(on_b.renamed, vec![renamed], "the loser gets the first free name");
        assert_eq!(on_b.claims, vec![(v, "Alice-2".to_string())], "and claims it");
        // The new claim goes through the log too.
        assert_eq!(apply(&mut a, &[claim(v, "Alice-2", false)]), Settled::default());
        assert_eq!(apply(&mut b, &[claim(v, "Alice-2", true)]), Settled::default());
        for ids in [&a, &b] {
            assert_eq!(ids.holder("ALICE"), Some(u));
            assert_eq!(ids.holder("alice-2"), Some(v));
            assert_eq!(ids.name(v), Some("Alice-2"));
        }
        // u is offline on B: presenting its session there is the same person.
        assert!(!b.is_online(u));
        let again = b.arrive(Presented::Session(alice.session), session(), "x");
        assert_eq!((again.user, again.name.as_str(), again.new), (u, "alice", false));
    }

    #[test]
    fn a_rename_elsewhere_renames_here_and_an_own_stale_claim_does_not() {
        let (mut a, mut b) = (ids(), ids());
        let u = a.arrive(Presented::Nothing, session(), "alice").user;
        apply(&mut a, &[claim(u, "alice", true)]);
        apply(&mut b, &[claim(u, "alice", false)]);
        // u renames to carol on B.
        assert_eq!(b.rename(u, "carol"), Renamed::From("alice".into()));
        let on_a = apply(&mut a, &[claim(u, "carol", false)]);
        assert_eq!(on_a.renamed, vec![(u, "alice".into(), "carol".into(), None)]);
        assert_eq!((a.holder("alice"), a.holder("carol")), (None, Some(u)));
        assert_eq!(apply(&mut b, &[claim(u, "carol", true)]), Settled::default());
        // On A u renames twice; its first claim, read back, does not undo the second.
        a.rename(u, "dave");
        a.rename(u, "erin");
        assert_eq!(apply(&mut a, &[claim(u, "dave", true)]), Settled::default());
        assert_eq!(a.name(u), Some("erin"));
        assert_eq!(a.holder("dave"), None);
        apply(&mut a, &[claim(u, "erin", true)]);
        // The log released carol and dave: another session may claim them.
        let w = session().user_id();
        assert_eq!(apply(&mut a, &[claim(w, "dave", false)]), Settled::default());
        assert_eq!(a.holder("dave"), Some(w));
    }

    #[test]
    fn a_forgotten_holders_name_can_be_claimed() {
        let (mut a, mut b) = (ids(), ids());
        let start = Instant::now();
        let u = a.arrive(Presented::Nothing, session(), "alice").user;
        apply(&mut a, &[claim(u, "alice", true)]);
        apply(&mut b, &[claim(u, "alice", false)]);
        a.depart(u, start);
        // A forgets u first: it publishes the release, and every instance applies it in order.
        assert_eq!(a.sweep(start + Duration::from_secs(60)).len(), 1);
        let lapsed = a.take_lapsed();
        assert_eq!(lapsed, vec![(u, "alice".to_string())]);
        for ids in [&mut a, &mut b] {
            assert_eq!(ids.apply_release(u, "alice"), Settled::default());
            assert_eq!(ids.holder("alice"), None);
            assert_eq!(ids.len(), 0, "forgotten everywhere");
        }
        let w = b.arrive(Presented::Nothing, session(), "alice").user;
        assert_eq!(apply(&mut b, &[claim(w, "alice", true)]), Settled::default());
        assert_eq!(apply(&mut a, &[claim(w, "alice", false)]), Settled::default());
        assert_eq!((a.holder("alice"), b.holder("alice")), (Some(w), Some(w)));
    }

    #[test]
    fn a_release_of_a_session_online_here_claims_its_name_again() {
        let mut a = ids();
        let u = a.arrive(Presented::Nothing, session(), "alice").user;
        apply(&mut a, &[claim(u, "alice", true)]);
        let settled = a.apply_release(u, "alice");
        assert_eq!(settled.claims, vec![(u, "alice".to_string())]);
        assert_eq!(a.holder("alice"), Some(u));
        // A stale release (of a name it no longer holds) changes nothing.
        apply(&mut a, &[claim(u, "alice", true)]);
        a.depart(u, Instant::now());
        assert_eq!(a.apply_release(u, "bob"), Settled::default());
        assert_eq!(a.holder("alice"), Some(u));
    }

    #[test]
    fn a_claim_lost_to_a_holder_we_forgot_releases_it_and_claims_again() {
        let mut a = ids();
        let start = Instant::now();
        let old = session().user_id();
        apply(&mut a, &[claim(old, "alice", false)]);
        a.sweep(start + Duration::from_secs(61));
        // Its release never reached the topic (the broker was down).
        drop(a.take_lapsed());
        let u = a.arrive(Presented::Nothing, session(), "alice").user;
        let settled = apply(&mut a, &[claim(u, "alice", true)]);
        assert_eq!(settled.releases, vec![(old, "alice".to_string())]);
        assert_eq!(settled.claims, vec![(u, "alice".to_string())]);
        assert!(settled.renamed.is_empty());
        a.apply_release(old, "alice");
        assert_eq!(apply(&mut a, &[claim(u, "alice", true)]), Settled::default());
        assert_eq!(a.holder("alice"), Some(u));
    }

    #[test]
    fn a_session_listed_by_another_instance_is_online_and_not_swept() {
        let mut a = ids();
        let start = Instant::now();
        let u = session().user_id();
        apply(&mut a, &[claim(u, "alice", false)]);
        assert!(!a.is_online(u));
        let listed = start + Duration::from_secs(50);
        a.seen_elsewhere("ws2", &[u], listed);
        assert!(a.is_online(u));
        assert_eq!(a.sweep(start + Duration::from_secs(62)).len(), 0, "listed elsewhere");
        // No roster lists it any more: offline since it was last listed, swept a reserve later.
        assert_eq!(a.sweep(listed + FORGET_AFTER).len(), 0);
        assert!(!a.is_online(u));
        assert_eq!(a.sweep(listed + Duration::from_secs(59)).len(), 0);
        assert_eq!(a.sweep(listed + Duration::from_secs(60)).len(), 1);
        assert_eq!(a.take_lapsed(), vec![(u, "alice".to_string())]);
    }

    #[test]
    fn a_session_listed_before_its_claim_arrived_is_online() {
        // The presence and claims topics are not ordered with each other.
        let mut a = ids();
        let u = session().user_id();
        a.seen_elsewhere("ws2", &[u], Instant::now());
        apply(&mut a, &[claim(u, "bea", false)]);
        assert!(a.is_online(u), "a private message to bea is not unread");
    }

    #[test]
    fn a_session_its_instance_no_longer_lists_is_offline_at_once() {
        let mut a = ids();
        let start = Instant::now();
        let u = session().user_id();
        apply(&mut a, &[claim(u, "alice", false)]);
        a.seen_elsewhere("ws2", &[u], start);
        a.seen_elsewhere("ws3", &[u], start);
        a.seen_elsewhere("ws2", &[], start + Duration::from_secs(1));
        assert!(a.is_online(u), "ws3 still lists it");
        let left = start + Duration::from_secs(2);
        a.seen_elsewhere("ws3", &[], left);
        assert!(!a.is_online(u), "private messages to it are unread now");
        assert_eq!(a.sweep(left + Duration::from_secs(59)).len(), 0);
        assert_eq!(a.sweep(left + Duration::from_secs(60)).len(), 1, "offline since it left");
    }
}
