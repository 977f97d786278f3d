//! The names of bots (`chat/bots.rs`): held for as long as the server runs.
//!
//! A bot enters the table at start like a session that is always connected: its row counts one
//! connection that never closes, so it never goes offline, its name is never swept, and a
//! newcomer asking for the name gets `name-2` while a rename to it gets `name_taken`, as for
//! any held name (`names.rs`). It is *used* (it speaks), so pressure never forgets it. A session
//! from the store that held the name before the bot was configured loses it to the bot: the
//! configuration is the later word.

use crate::chat::session::UserId;

use super::{Identities, User, fold};

impl Identities {
    /// Holds `name` for bot `user` for the server's life.
    pub fn reserve_bot(&mut self, user: UserId, name: &str) {
        let folded = fold(name);
        if let Some(holder) = self.names.get(&folded).copied().filter(|h| *h != user) {
            self.forget(holder);
        }
        self.names.insert(folded, user);
        // A row from the store waits offline, in the queue its `used` names: out of it first.
        self.leave_offline_queue(user);
        let row = self.users.entry(user).or_insert_with(|| User::named(name, 0));
        row.connections = 1;
        row.used = true;
        row.name = name.to_string();
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::examples::{ids, session};
    use super::super::{Presented, Renamed};
    use crate::chat::bots::user_id;

    #[test]
    fn a_bots_name_is_held_for_good() {
        let mut ids = ids();
        ids.reserve_bot(user_id("deploy"), "deploy");
        let hello = ids.arrive(Presented::Nothing, session(), "Deploy");
        assert_eq!(hello.name, "Deploy-2");
        assert_eq!(ids.rename(hello.user, "deploy"), Renamed::Taken);
        let later = Instant::now() + Duration::from_secs(7 * 86_400);
        assert!(ids.sweep(later).iter().all(|u| *u != user_id("deploy")));
        assert_eq!(ids.holder("DEPLOY"), Some(user_id("deploy")));
    }

    #[test]
    fn a_bot_restored_from_the_store_or_a_session_holding_its_name_yields_to_the_config() {
        let mut ids = ids();
        let now = Instant::now();
        // The store knows the bot as an offline session, and another session as `alerts`.
        ids.restore(user_id("deploy"), "deploy", now);
        let other = session().user_id();
        ids.restore(other, "alerts", now);
        ids.reserve_bot(user_id("deploy"), "deploy");
        ids.reserve_bot(user_id("alerts"), "alerts");
        assert_eq!(ids.holder("alerts"), Some(user_id("alerts")));
        assert_eq!(ids.name(other), None, "the session that held it is forgotten");
        let later = now + Duration::from_secs(7 * 86_400);
        assert!(ids.sweep(later).is_empty(), "neither bot waits in an offline queue");
        assert!(ids.is_online(user_id("deploy")));
    }
}
