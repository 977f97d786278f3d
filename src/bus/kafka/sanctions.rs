//! The sanctions topic, `<topic>.sanctions` (one partition): operators' bans and mutes, and
//! their ends (`chat/sanctions.rs`), shared by every instance.
//!
//! - **Deciding.** An operator's instance applies a sanction at once and records it
//!   ([`KafkaBus::sanction`]): `{"kind":"sanction","action":"ban","user":"<public id>",
//!   "name":"bob","addresses":["203.0.113.7"],"until":<ms>,"reason":"spam","by":"carol"}`, keyed
//!   by user. Every instance applies it, the deciding one again (applying one twice changes
//!   nothing); one that holds connections of a banned session from an address the ban does not
//!   name yet adds it and records the ban again.
//! - **Remembering.** Start-up reads the whole topic back (up to [`SANCTIONS_READBACK`] records),
//!   so bans and mutes outlive a restart of every instance; and every instance records the
//!   sanctions in force again once a day (`chat/broadcaster/moderation.rs`), so that a broker's
//!   retention (7 days by default) never deletes the only record of a ban that still holds.
//!
//! A topic of its own, not the claims topic, where a restarted instance reads back only the
//! newest claims: there, anyone who can make sessions could push a ban out of that window by
//! making enough of them. Here only operators write.

use super::KafkaBus;
use super::consume::Records;
use super::produce::{Kind, Lane};
use super::record::{Record, to_json};
use crate::chat::inbox::Event;
use crate::chat::sanctions::Sanction;

impl KafkaBus {
    /// Produces an operator's ban, mute, or the end of one, to the sanctions topic.
    pub fn sanction(&self, sanction: &Sanction) {
        let user = match sanction {
            Sanction::Ban(ban) => ban.user,
            Sanction::Mute(mute) => mute.user,
            Sanction::Unban { user } | Sanction::Unmute { user, .. } => *user,
        };
        let key = Some(user.to_text().into_bytes());
        let record = Record::Sanction(sanction.clone());
        self.queue.push(Lane::Sanctions, Kind::Sanction, key, to_json(&record));
    }
}

/// What the sanctions consumer makes of each record.
pub struct SanctionRecords;

impl Records for SanctionRecords {
    const WHAT: &'static str = "the bans and mutes";

    /// The event for a sanction; none for anything else.
    fn event(&self, record: Record) -> Option<Event> {
        match record {
            Record::Sanction(sanction) => Some(Event::Sanctioned(Box::new(sanction))),
            _ => None,
        }
    }
}

/// Sanctions read back at start, at most: the whole topic, unless operators wrote more.
pub const SANCTIONS_READBACK: i64 = 1_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sanction_record_is_a_sanction_event() {
        let json = r#"{"kind":"sanction","action":"unban","user":"LJgLhthO3_LJUFoX"}"#;
        let record: Record = serde_json::from_str(json).unwrap();
        let Some(Event::Sanctioned(sanction)) = SanctionRecords.event(record) else { panic!() };
        assert!(matches!(*sanction, Sanction::Unban { .. }));
        let claim =
            r#"{"kind":"claim","user":"LJgLhthO3_LJUFoX","name":"a","instance":"w","at":1}"#;
        assert!(SanctionRecords.event(serde_json::from_str(claim).unwrap()).is_none());
    }
}
