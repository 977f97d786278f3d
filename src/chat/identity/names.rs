//! Nicknames on one instance: who gets which name, and how long a name stays held.
//!
//! A nickname belongs to one session (one [`UserId`]) at a time, compared by what it looks like
//! ([`fold`]: case, compatibility forms and look-alike letters folded away, after
//! [`nickname::clean`](crate::chat::nickname::clean)): `Alice`, `alice` and Cyrillic `аlice` are
//! one name. A name is held while any connection of its session is open and for
//! `NAME_RESERVE_SECS` after the last one closed; then the session is forgotten (presenting it
//! again gets a fresh one and `session_expired`) and its name is free. Asking for a held name
//! gives the first free of `alice-2`, `alice-3`, … up to [`COUNTED_SUFFIXES`], then a free one
//! of random number.
//!
//! A session's life here, in the broadcaster's calls: [`Identities::arrive`] when a connection
//! opens (presenting a session, or none), [`Identities::rename`], [`Identities::depart`] when a
//! connection closes, and [`Identities::sweep`], once a second, which forgets the sessions whose
//! reserve ended.
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
//! With Kafka a name taken here is also claimed across instances, and a session listed in
//! another instance's roster is online (`cluster.rs`); on a single instance the two calls the
//! sweep makes for that, `unlist_silent` and `note_lapsed`, find nothing to do.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::chat::nickname::MAX_CHARS;
use crate::chat::session::{Session, UserId, random_u64};

use super::{Identities, User};

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
pub struct Hello {
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

impl Identities {
    /// A connection opens with `presented` and asks for `requested` (cleaned); `fresh` is the
    /// session it gets if it is a newcomer.
    pub fn arrive(&mut self, presented: Presented, fresh: Session, requested: &str) -> Hello {
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
                    return Hello { session, user, name, requested, expired: false, new: false };
                }
                true
            }
        };
        let user = fresh.user_id();
        let name = self.free_name(requested, user);
        let requested = (name != requested).then(|| requested.to_string());
        self.names.insert(fold(&name), user);
        self.users.insert(user, User::named(&name, 1));
        Hello { session: fresh, user, name, requested, expired, new: true }
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

    /// Forgets the sessions offline for longer than the reserve and, past the cap, throwaway
    /// sessions, the newest first, with their names and conversations; returns them.
    pub fn sweep(&mut self, now: Instant) -> Vec<UserId> {
        // With other instances: sessions last listed by an instance now silent go offline first.
        self.unlist_silent(now);
        let reserve = self.reserve;
        let expired =
            |&&(since, _): &&(Instant, UserId)| now.saturating_duration_since(since) >= reserve;
        let mut forgotten: Vec<UserId> =
            self.offline.iter().take_while(expired).map(|e| e.1).collect();
        forgotten.extend(self.throwaway.iter().take_while(expired).map(|e| e.1));
        // Past the cap, throwaway sessions only, the newest first.
        let over = (self.offline.len() + self.throwaway.len() - forgotten.len())
            .saturating_sub(self.max_offline);
        let kept = self.throwaway.iter().filter(|e| !expired(e)).rev();
        forgotten.extend(kept.take(over).map(|e| e.1));
        for &user in &forgotten {
            // With other instances: the release of its confirmed name, to publish.
            self.note_lapsed(user);
            self.forget(user);
        }
        forgotten
    }

    /// Takes `user` out of the offline queue it waits in, if it waits in one.
    pub(super) fn leave_offline_queue(&mut self, user: UserId) {
        let Some(known) = self.users.get_mut(&user) else { return };
        if let Some(since) = known.offline_since.take() {
            let used = known.used;
            self.queue(used).remove(&(since, user));
        }
    }

    /// The offline queue of used sessions, or of throwaway ones.
    pub(super) fn queue(&mut self, used: bool) -> &mut BTreeSet<(Instant, UserId)> {
        if used { &mut self.offline } else { &mut self.throwaway }
    }

    /// `user`, without connections here or elsewhere since `since`, waits in the offline queue.
    pub(super) fn go_offline(&mut self, user: UserId, since: Instant) {
        let Some(known) = self.users.get_mut(&user) else { return };
        if known.connections == 0 && known.offline_since.is_none() {
            known.offline_since = Some(since);
            let used = known.used;
            self.queue(used).insert((since, user));
        }
    }

    /// Gives `user` the name `wanted` here (it must be free for it); returns the old one.
    pub(super) fn move_name(&mut self, user: UserId, wanted: &str) -> String {
        let known = self.users.get_mut(&user).expect("a known session");
        let old = fold(&known.name);
        if self.names.get(&old) == Some(&user) {
            self.names.remove(&old);
        }
        self.names.insert(fold(wanted), user);
        std::mem::replace(&mut known.name, wanted.to_string())
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
    pub(super) fn suffixed_name(&self, requested: &str, user: UserId) -> String {
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

/// Suffixes tried in order for a held name; beyond them, random ones.
pub const COUNTED_SUFFIXES: usize = 100;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::identity::examples::{ids, session};

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
}
