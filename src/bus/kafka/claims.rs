//! The claims topic, `<topic>.claims` (one partition, so one order): how the instances agree on
//! who holds a nickname.
//!
//! - **Claiming.** A session that takes a nickname here (a newcomer, a rename) holds it here at
//!   once and produces ([`KafkaBus::claim`])
//!   `{"kind":"claim","user":"<public id>","name":"alice","instance":"ws1","at":<ms>}`.
//! - **Agreeing.** Every instance, the claimer too, consumes the claims in order
//!   ([`consume`](super::consume)) and its broadcaster applies them alike, so the first claim of
//!   a name wins everywhere and the loser's instance renames it (`chat/identity/cluster.rs`); its
//!   own claims come back marked `ours`, so the claimer learns whether it won the same way as
//!   everyone else.
//! - **Kicking.** An operator's kick (`chat/broadcaster/moderation.rs`) closes the session's
//!   connections on its own instance at once and goes to the others as a `kick` record
//!   ([`KafkaBus::kick`]), which each applies if it is fresh (a kick read back at start is done).
//! - **Releasing.** An instance that forgets a session produces a `release` (`"name"` folded,
//!   [`KafkaBus::release`]), after which the name is free everywhere.
//! - **Remembering.** Start-up reads the newest [`CLAIMS_READBACK`] records back
//!   (`consume::recall`) before it serves anyone, so a restarted instance knows the
//!   deployment's sessions and their names. Read markers, which move far more often, have a
//!   topic of their own (`reads.rs`), so that they never push claims out of that window. The topic is created
//!   at start
//!   and refused with another count, like the presence topic (`connect.rs`).
//!
//! Records carry public ids, never sessions; they are keyed by user.

use super::KafkaBus;
use super::consume::Records;
use super::produce::{Kind, Lane};
use super::record::{Record, to_json};
use crate::chat::identity::Claim;
use crate::chat::inbox::Event;
use crate::chat::presence::now_millis;
use crate::chat::session::UserId;

impl KafkaBus {
    /// Produces session `user`'s claim of `name` to the claims topic.
    pub fn claim(&self, user: UserId, name: &str) {
        let (user, name) = (user.to_text(), name.to_string());
        let key = Some(user.as_bytes().to_vec());
        let record =
            Record::Claim { user, name, instance: self.instance.clone(), at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Claim, key, to_json(&record));
    }

    /// Produces an operator's kick of session `user` to the claims topic.
    pub fn kick(&self, user: UserId, reason: &str) {
        let (user, reason) = (user.to_text(), reason.to_string());
        let key = Some(user.as_bytes().to_vec());
        let instance = self.instance.clone();
        let record = Record::Kick { user, reason, instance, at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Kick, key, to_json(&record));
    }

    /// Produces the release of session `user`'s name `folded` to the claims topic.
    pub fn release(&self, user: UserId, folded: &str) {
        let (user, name) = (user.to_text(), folded.to_string());
        let key = Some(user.as_bytes().to_vec());
        let instance = self.instance.clone();
        let record = Record::Release { user, name, instance, at: now_millis() };
        self.queue.push(Lane::Claims, Kind::Claim, key, to_json(&record));
    }
}

/// What the claims consumer makes of each record.
pub struct ClaimRecords {
    /// This instance's id: its own claims are marked `ours`.
    pub me: String,
}

impl Records for ClaimRecords {
    const WHAT: &'static str = "the claims";

    /// The event for a claim or a release; none for anything else, or without a user id.
    fn event(&self, record: Record) -> Option<Event> {
        match record {
            Record::Claim { user, name, instance, .. } => {
                let user = UserId::parse(&user)?;
                Some(Event::Claim(Claim { user, name, ours: instance == self.me }))
            }
            Record::Release { user, name, .. } => {
                Some(Event::Release { user: UserId::parse(&user)?, name })
            }
            // This instance closed its own at once; a kick read back at start is long done.
            Record::Kick { user, reason, instance, at } if instance != self.me => {
                let fresh = now_millis().saturating_sub(at) < KICK_MAX_AGE_MS;
                fresh
                    .then(|| UserId::parse(&user))
                    .flatten()
                    .map(|user| Event::Kicked { user, reason })
            }
            _ => None,
        }
    }
}

/// A kick older than this (read back at start, or delayed) closes nothing.
const KICK_MAX_AGE_MS: u64 = 30_000;

/// Claims and releases read back at start, the newest: the sessions (and their names) of the
/// deployment that a restarted instance knows. A session whose last claim is older is unknown to
/// it (presenting it there gets `session_expired`). About 100 bytes each: 10 MB at most to read.
pub const CLAIMS_READBACK: i64 = 100_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn claims_are_marked_ours() {
        let records = ClaimRecords { me: "ws1".into() };
        let claim = |instance: &str| {
            let user = "LJgLhthO3_LJUFoX".to_string();
            Record::Claim { user, name: "alice".into(), instance: instance.into(), at: 1 }
        };
        let ours = |record| match records.event(record) {
            Some(Event::Claim(claim)) => Some((claim.name, claim.ours)),
            _ => None,
        };
        assert_eq!(ours(claim("ws1")), Some(("alice".to_string(), true)));
        assert_eq!(ours(claim("ws2")), Some(("alice".to_string(), false)));
        let bad =
            Record::Claim { user: "?".into(), name: "x".into(), instance: "ws2".into(), at: 1 };
        assert_eq!(ours(bad), None, "no user id");
        let release = parse(
            r#"{"kind":"release","user":"LJgLhthO3_LJUFoX","name":"alice","instance":"ws2","at":1}"#,
        );
        assert!(
            matches!(records.event(release), Some(Event::Release { name, .. }) if name == "alice")
        );
    }
}
