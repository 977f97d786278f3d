//! Names across instances: how the servers of one deployment, sharing Kafka, agree on who holds
//! which nickname. A reader of the single-instance server can skip this file: without Kafka no
//! claim, release or roster ever arrives, [`Cluster`] stays empty, and each method here is
//! never called or returns at once.
//!
//! With Kafka every instance keeps the whole [`Identities`] table for the whole deployment, so
//! that a session presented on any instance is the same person and a private message to "alice"
//! reaches the same session from everywhere. A name taken here (a newcomer, a rename) is held
//! here at once, tentatively, and *claimed* on the claims topic; every instance, the claimer
//! too, applies the claims in the topic's one order ([`Identities::apply_claim`]), keeping
//! `confirmed` (folded name → session), built from that order alone so that every instance
//! agrees:
//! - A claim of a name that is unconfirmed, or confirmed to the same session, wins: the name is
//!   confirmed to it (and its previous one released). Here the session is added if unknown
//!   (offline, so its session is recognised when presented and private messages reach it), or
//!   renamed if it had another name (a rename elsewhere). A session of this instance that held
//!   the name tentatively lost: it gets the first free `alice-2`, and claims that.
//! - A claim of a name confirmed to another session lost. Only the claimer's instance reacts: it
//!   renames the loser, which claims its new name.
//! - A session is forgotten through the log too: the instance whose sweep forgets one first
//!   publishes a *release* ([`Identities::take_lapsed`]); every instance then drops the
//!   confirmation and forgets the session ([`Identities::apply_release`]), unless it is online
//!   there (an instance with a connection of it claims its name again). "Forgotten" cannot be
//!   each instance's own judgement: sweeps run on each instance's clock, and two instances that
//!   disagreed would confirm a name to two sessions. Should a release never reach the topic (the
//!   broker was down), the next claim of ours that loses to the session we forgot publishes the
//!   release again and claims once more behind it.
//!
//! A session connected only on another instance is online here while that instance's rosters
//! list it (every 5 s and on change, [`Identities::seen_elsewhere`]): it is not swept, and
//! private messages to it are not unread. It is offline from the first roster that no longer
//! lists it, or [`FORGET_AFTER`] after the last one that did when its instance falls silent.
//! Sessions learned at start-up from the claims topic are offline from then on: a restart
//! extends a reservation by at most `NAME_RESERVE_SECS`. `MAX_RESERVED_NAMES` caps the offline
//! sessions of the whole deployment that one instance keeps.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Instant;

use crate::chat::presence::FORGET_AFTER;
use crate::chat::session::UserId;

use super::names::fold;
use super::{Identities, User};

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
pub struct NameChanges {
    /// Sessions with another name now: who, its old name, its new one, and the name it lost
    /// (asked for), if it lost one.
    pub renamed: Vec<(UserId, String, String, Option<String>)>,
    /// Claims to publish: (session, name).
    pub claims: Vec<(UserId, String)>,
    /// Releases to publish: (session, folded name).
    pub releases: Vec<(UserId, String)>,
}

/// What this instance knows of the agreement and of the other instances: the part of
/// [`Identities`] that only Kafka fills.
#[derive(Debug, Default)]
pub(super) struct Cluster {
    /// Sessions listed in other instances' rosters, by when they were last listed.
    elsewhere: BTreeSet<(Instant, UserId)>,
    /// The sessions each other instance's last roster listed.
    listed: HashMap<String, HashSet<UserId>>,
    /// Folded name → the session the claims topic gave it to.
    confirmed: HashMap<String, UserId>,
    /// The other way round: each session's confirmed name, folded.
    confirmed_of: HashMap<UserId, String>,
    /// Releases for sessions the sweep forgot, not yet published.
    lapsed: Vec<(UserId, String)>,
}

impl Identities {
    /// Applies a claim from the claims topic (see the module doc); `now` is when a session
    /// learned here goes offline.
    pub fn apply_claim(&mut self, claim: &Claim, now: Instant) -> NameChanges {
        let Claim { user, name, ours } = claim;
        let (user, folded) = (*user, fold(name));
        let mut settled = NameChanges::default();
        match self.cluster.confirmed.get(&folded) {
            Some(&holder) if holder != user => {
                if *ours {
                    self.lost(user, &folded, holder, &mut settled);
                }
                return settled;
            }
            _ => {}
        }
        let cluster = &mut self.cluster;
        if let Some(previous) = cluster.confirmed_of.insert(user, folded.clone())
            && previous != folded
            && cluster.confirmed.get(&previous) == Some(&user)
        {
            cluster.confirmed.remove(&previous);
        }
        cluster.confirmed.insert(folded.clone(), user);
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
                if self.cluster.listed.values().any(|listed| listed.contains(&user)) {
                    known.seen_elsewhere = Some(now);
                    self.cluster.elsewhere.insert((now, user));
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
    pub fn apply_release(&mut self, user: UserId, folded: &str) -> NameChanges {
        // Folded again: a release written by an older version carries its older folded form.
        let folded = &fold(folded);
        let mut settled = NameChanges::default();
        let cluster = &mut self.cluster;
        if cluster.confirmed.get(folded) == Some(&user) {
            cluster.confirmed.remove(folded);
        }
        match cluster.confirmed_of.get(&user) {
            Some(f) if f == folded => drop(cluster.confirmed_of.remove(&user)),
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
        let before = self.cluster.listed.insert(instance.to_string(), listed).unwrap_or_default();
        for user in users {
            self.leave_offline_queue(*user);
            let Some(known) = self.users.get_mut(user) else { continue };
            if let Some(seen) = known.seen_elsewhere.replace(at) {
                self.cluster.elsewhere.remove(&(seen, *user));
            }
            self.cluster.elsewhere.insert((at, *user));
        }
        for user in before {
            if self.cluster.listed.values().any(|listed| listed.contains(&user)) {
                continue;
            }
            let Some(known) = self.users.get_mut(&user) else { continue };
            if let Some(seen) = known.seen_elsewhere.take() {
                self.cluster.elsewhere.remove(&(seen, user));
            }
            self.go_offline(user, at);
        }
    }

    /// Releases to publish for sessions the sweep forgot that held a confirmed name.
    pub fn take_lapsed(&mut self) -> Vec<(UserId, String)> {
        std::mem::take(&mut self.cluster.lapsed)
    }

    /// For the sweep: sessions no roster listed for [`FORGET_AFTER`] (their instance fell
    /// silent) went offline when they were last listed.
    pub(super) fn unlist_silent(&mut self, now: Instant) {
        while let Some(&(seen, user)) = self.cluster.elsewhere.first() {
            if now.saturating_duration_since(seen) < FORGET_AFTER {
                break;
            }
            self.cluster.elsewhere.pop_first();
            if let Some(known) = self.users.get_mut(&user) {
                known.seen_elsewhere = None;
            }
            self.go_offline(user, seen);
        }
    }

    /// For the sweep, before it forgets `user`: if the claims topic confirmed it a name, a
    /// release to publish ([`Identities::take_lapsed`]).
    pub(super) fn note_lapsed(&mut self, user: UserId) {
        if let Some(folded) = self.cluster.confirmed_of.get(&user) {
            self.cluster.lapsed.push((user, folded.clone()));
        }
    }

    /// For [`Identities::forget`]: `user`, last listed at `seen`, is no longer waited for.
    pub(super) fn unlist(&mut self, user: UserId, seen: Instant) {
        self.cluster.elsewhere.remove(&(seen, user));
    }

    /// `user`'s claim of `folded` lost to `holder`, and this instance made it.
    fn lost(&mut self, user: UserId, folded: &str, holder: UserId, settled: &mut NameChanges) {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::identity::examples::{ids, session};
    use crate::chat::identity::{Presented, Renamed};

    fn claim(user: UserId, name: &str, ours: bool) -> Claim {
        Claim { user, name: name.to_string(), ours }
    }

    /// Applies `claims` in order; the renames, claims and releases they asked for.
    fn apply(ids: &mut Identities, claims: &[Claim]) -> NameChanges {
        let mut all = NameChanges::default();
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
        assert_eq!(on_a, NameChanges::default(), "A's session won; B's claim is B's to settle");
        let on_b = apply(&mut b, &[claim(u, "alice", false), claim(v, "Alice", true)]);
        let renamed = (v, "Alice".to_string(), "Alice-2".to_string(), Some("Alice".to_string()));
        assert_eq!(on_b.renamed, vec![renamed], "the loser gets the first free name");
        assert_eq!(on_b.claims, vec![(v, "Alice-2".to_string())], "and claims it");
        // The new claim goes through the log too.
        assert_eq!(apply(&mut a, &[claim(v, "Alice-2", false)]), NameChanges::default());
        assert_eq!(apply(&mut b, &[claim(v, "Alice-2", true)]), NameChanges::default());
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
        assert_eq!(apply(&mut b, &[claim(u, "carol", true)]), NameChanges::default());
        // On A u renames twice; its first claim, read back, does not undo the second.
        a.rename(u, "dave");
        a.rename(u, "erin");
        assert_eq!(apply(&mut a, &[claim(u, "dave", true)]), NameChanges::default());
        assert_eq!(a.name(u), Some("erin"));
        assert_eq!(a.holder("dave"), None);
        apply(&mut a, &[claim(u, "erin", true)]);
        // The log released carol and dave: another session may claim them.
        let w = session().user_id();
        assert_eq!(apply(&mut a, &[claim(w, "dave", false)]), NameChanges::default());
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
            assert_eq!(ids.apply_release(u, "alice"), NameChanges::default());
            assert_eq!(ids.holder("alice"), None);
            assert_eq!(ids.len(), 0, "forgotten everywhere");
        }
        let w = b.arrive(Presented::Nothing, session(), "alice").user;
        assert_eq!(apply(&mut b, &[claim(w, "alice", true)]), NameChanges::default());
        assert_eq!(apply(&mut a, &[claim(w, "alice", false)]), NameChanges::default());
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
        assert_eq!(a.apply_release(u, "bob"), NameChanges::default());
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
        assert_eq!(apply(&mut a, &[claim(u, "alice", true)]), NameChanges::default());
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
