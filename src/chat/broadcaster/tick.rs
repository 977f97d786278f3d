//! The tick: what is due once a second, busy or not, whatever the events.
//!
//! Each job lives in the file of its concept; this one only names them, in their order.
//! Silent instances and offline sessions are forgotten first, so that the presence sent and
//! the forgets written in the same tick agree; the round the tick built is committed before it
//! is delivered, like any other round.

use std::time::{Duration, Instant};

use super::Broadcaster;

impl Broadcaster {
    /// The once-a-second jobs.
    pub(super) fn tick(&mut self, now: Instant) {
        self.next_tick = now + TICK;
        let mut round = std::mem::take(&mut self.round);
        // rosters.rs: instances not heard from for FORGET_AFTER, with their users.
        self.forget_silent_instances(now);
        // names.rs: sessions offline past the reserve, their forgets journaled, names released.
        self.forget_offline_sessions(now);
        self.release_lapsed_names();
        // moderation.rs: bans and mutes that ended.
        self.end_sanctions();
        // rosters.rs: our roster announced when due, rooms told who came and went.
        self.refresh_presence(&mut round);
        self.send_batched_presence(&mut round);
        // durability.rs, delivery.rs: the tick's round, made durable, then sent.
        self.commit(&mut round);
        self.deliver(&mut round);
        // durability.rs: a forget may make a compaction due, even on a server nobody writes to.
        self.compact_if_due();
        // delivery.rs: the wire inspector's count of skipped frames.
        self.tick_inspectors();
        self.round = round;
    }
}

/// How often the tick runs (silent instances forgotten, announcements repeated, big rooms sent
/// their `presence` events, offline sessions swept).
const TICK: Duration = Duration::from_secs(1);
