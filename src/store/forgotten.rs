//! Private messages of forgotten sessions. A forgotten session takes its name and its private
//! conversations with it (`chat/identity/conversations.rs`), and a compaction writes only what the server still
//! holds, but the log is append-only: until that compaction, the conversations stay in the
//! segments. Growth alone may bring one late (the log must double first), so the store notes
//! which sessions have a private message in the log ([`Correspondents`]); when one of them is
//! forgotten, a compaction is due at once, whatever the log's size (`Store::wants_compaction`
//! spaces such compactions by a minute at least).

use std::collections::HashSet;

use crate::chat::journal::{Entry, Thread};
use crate::chat::protocol::Place;
use crate::chat::session::UserId;

/// The sessions with a private message in the log, and whether one was forgotten since.
#[derive(Debug, Default)]
pub struct Correspondents {
    /// Each session that wrote or was written a private message the log holds.
    users: HashSet<UserId>,
    /// One of them was forgotten since the last compaction began.
    forgotten: bool,
}

impl Correspondents {
    /// Takes note of an entry written to the log (or read back from it), in the log's order.
    pub fn note(&mut self, entry: &Entry) {
        match entry {
            Entry::Message(chat) => {
                if let Place::Direct { to_user, .. } = chat.place {
                    self.users.extend([chat.user, to_user]);
                }
            }
            Entry::Start { thread: Thread::Direct(pair), .. } => {
                let (a, b) = pair.users();
                self.users.extend([a, b]);
            }
            Entry::Forget(user) => self.forgotten |= self.users.remove(user),
            _ => {}
        }
    }

    /// True when a session with private messages in the log was forgotten since the last
    /// compaction began.
    pub fn forgotten(&self) -> bool {
        self.forgotten
    }

    /// A compaction begins that keeps `entries` (and what is written after them): only their
    /// correspondents are in the log from now on. Returns whether a forgotten one was pending,
    /// for [`Correspondents::compaction_failed`].
    pub fn compacting(&mut self, entries: &[Entry]) -> bool {
        self.users.clear();
        entries.iter().for_each(|entry| self.note(entry));
        std::mem::take(&mut self.forgotten)
    }

    /// The compaction that began with `forgotten` pending failed: the log still holds it all.
    pub fn compaction_failed(&mut self, forgotten: bool) {
        self.forgotten |= forgotten;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::chat::identity::Pair;
    use crate::chat::protocol::Chat;

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn dm(from: u8, to: u8) -> Entry {
        let place = Place::Direct { to: "bob".into(), to_user: user(to) };
        let (name, body, ts) = ("alice".into(), crate::chat::entry::Body::text("psst"), "t".into());
        Entry::Message(Arc::new(Chat { place, id: 1, user: user(from), name, ts, body }))
    }

    #[test]
    fn forgetting_a_session_with_private_messages_in_the_log_is_noticed_until_a_compaction() {
        let mut log = Correspondents::default();
        log.note(&dm(1, 2));
        log.note(&Entry::Forget(user(3)));
        assert!(!log.forgotten(), "user 3 has nothing private in the log");
        log.note(&Entry::Forget(user(2)));
        assert!(log.forgotten(), "the one user 2 was written is");
        // The compaction keeps a conversation of users 1 and 4 only.
        let kept =
            Entry::Start { thread: Thread::Direct(Pair::new(user(1), user(4))), first: 1, last: 1 };
        assert!(log.compacting(&[kept]));
        assert!(!log.forgotten());
        log.note(&Entry::Forget(user(2)));
        assert!(!log.forgotten(), "user 2's messages went with the compaction");
        log.note(&Entry::Forget(user(4)));
        assert!(log.forgotten());
        let pending = log.compacting(&[]);
        log.compaction_failed(pending);
        assert!(log.forgotten(), "a failed compaction leaves it all on disk");
    }
}
