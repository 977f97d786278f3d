//! The hand-off of a connection's identity between two threads: its reader thread asks the
//! broadcaster who it is, and waits for the answer.
//!
//! The steps, as `chat/handler.rs` and `chat/broadcaster/` take them:
//! 1. The reader makes a [`NameTag`] (the nickname it asked for, no user yet) and sends the
//!    broadcaster an arrival carrying a [`IdentityPromise`], the broadcaster's promise to answer.
//! 2. The reader waits on the tag ([`NameTag::wait_settled`]).
//! 3. The broadcaster settles who the connection is (see `names.rs`) and keeps the promise:
//!    [`IdentityPromise::done`] with the session's user id, or [`IdentityPromise::limited`] when a limit refuses
//!    a new session. A promise dropped unanswered (the broadcaster shutting down, or gone)
//!    refuses on its own, in `Drop`, so a reader never waits for nobody.
//! 4. From then on the tag is the nickname the reader signs its messages with; the broadcaster
//!    changes it on every rename.
//!
//! Why a mutex and a condition variable, and not a channel: what a waiting thread costs. A
//! thread that ever waited on a crossbeam channel keeps a waiting context of its own for life;
//! waiting on a `Condvar` leaves nothing behind. Measured with `make bench` (c), 5,000 idle
//! connections (BENCHMARKS.md, issue 14): the first version, which waited on a channel, cost
//! 15.2 KiB of server memory per connection; waiting on the tag took it back to 14.6 KiB.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::chat::session::UserId;

/// Who a connection is, as its own thread reads it: its session's user id, once the broadcaster
/// settled it, and the nickname it signs its messages with, which the broadcaster also changes
/// on every rename. Locked only by the connection's own thread and, on those occasions, by the
/// broadcaster.
///
/// The connection's thread waits on it for its identity: a mutex and a condition variable, which
/// cost a thread nothing to wait on (see the module doc for the figure).
#[derive(Debug, Default)]
pub struct NameTag {
    held: Mutex<Tag>,
    settled: Condvar,
}

#[derive(Debug, Default)]
struct Tag {
    name: String,
    user: Answer,
}

/// Where a connection's identity stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The broadcaster has not answered yet.
    #[default]
    Pending,
    /// Settled on this session.
    User(UserId),
    /// Nobody will answer: the broadcaster is shutting down or gone.
    Refused,
    /// Refused a new session by a limit (told so in an error event).
    Limited,
    /// Banned by an operator (told so in an error event).
    Banned,
}

/// Why a connection was not settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsettled {
    /// The broadcaster is shutting down or gone.
    Gone,
    /// A limit refused it a new session.
    Limited,
    /// An operator banned it (`chat/sanctions.rs`).
    Banned,
}

impl NameTag {
    /// The current name.
    pub fn get(&self) -> String {
        self.lock().name.clone()
    }

    /// Changes it.
    pub fn set(&self, name: &str) {
        let mut held = self.lock();
        held.name.clear();
        held.name.push_str(name);
    }

    /// Waits until the broadcaster settled who this connection is, at most `limit`: its user id,
    /// or why not.
    pub fn wait_settled(&self, limit: Duration) -> Result<UserId, Unsettled> {
        let held = self.lock();
        let waiting = |tag: &mut Tag| tag.user == Answer::Pending;
        let (held, _) = self
            .settled
            .wait_timeout_while(held, limit, waiting)
            .unwrap_or_else(|e| e.into_inner());
        match held.user {
            Answer::User(user) => Ok(user),
            Answer::Limited => Err(Unsettled::Limited),
            Answer::Banned => Err(Unsettled::Banned),
            Answer::Pending | Answer::Refused => Err(Unsettled::Gone),
        }
    }

    fn answer(&self, answer: Answer) {
        let mut held = self.lock();
        if held.user == Answer::Pending {
            held.user = answer;
        }
        drop(held);
        self.settled.notify_all();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tag> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The broadcaster's promise to settle a new connection: [`IdentityPromise::done`] with its user id, or,
/// dropped unanswered (the broadcaster shutting down or gone), a refusal, so the connection's
/// thread never waits for nobody.
#[derive(Debug)]
pub struct IdentityPromise(pub Arc<NameTag>);

impl IdentityPromise {
    /// The connection is `user`.
    pub fn done(self, user: UserId) {
        self.0.answer(Answer::User(user));
    }

    /// The connection may not have a new session now (a limit; its client was told why).
    pub fn limited(self) {
        self.0.answer(Answer::Limited);
    }

    /// The connection's session, or its address, is banned (its client was told why).
    pub fn banned(self) {
        self.0.answer(Answer::Banned);
    }
}

impl Drop for IdentityPromise {
    fn drop(&mut self) {
        self.0.answer(Answer::Refused);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::session::Session;

    #[test]
    fn a_connection_waits_for_its_identity_and_is_never_left_waiting() {
        let tag = Arc::new(NameTag::default());
        let user = Session::new().unwrap().user_id();
        let waiter = {
            let tag = tag.clone();
            std::thread::spawn(move || tag.wait_settled(Duration::from_secs(10)))
        };
        IdentityPromise(tag.clone()).done(user);
        assert_eq!(waiter.join().unwrap(), Ok(user));
        // A promise dropped unanswered (the broadcaster going away) refuses at once.
        let tag = Arc::new(NameTag::default());
        drop(IdentityPromise(tag.clone()));
        assert_eq!(tag.wait_settled(Duration::from_secs(10)), Err(Unsettled::Gone));
        // A limit says so.
        let tag = Arc::new(NameTag::default());
        IdentityPromise(tag.clone()).limited();
        assert_eq!(tag.wait_settled(Duration::from_secs(10)), Err(Unsettled::Limited));
    }
}
