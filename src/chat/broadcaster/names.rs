//! Names: who a connection is. A new connection arrives with the session it presented (or
//! none) and the nickname it asked for; the broadcaster settles both, says `hello`, and
//! answers the connection's thread, which waits for that before it reads anything. Later a
//! client asks for another nickname, and a connection leaves.
//!
//! Which session holds which name is [`Identities`](crate::chat::identity::Identities)'
//! business; this file tells the clients and rooms what changed, writes sessions and renames to
//! the journal, and (with other instances) publishes its claims and releases and applies
//! theirs, read back in the bus's order, so that every instance agrees on who holds a name. A
//! session offline past `NAME_RESERVE_SECS` is forgotten on the tick, and its name released.

use std::time::Instant;

use super::Broadcaster;
use super::rosters::USERS_BROADCAST_LIMIT;
use super::round::{Except, Round};
use crate::chat::allowance;
use crate::chat::identity::{Claim, NameChanges, Presented, Renamed};
use crate::chat::inbox::{Arrival, Event};
use crate::chat::journal::Entry;
use crate::chat::presence::now_millis;
use crate::chat::protocol::{ServerEvent, Unread};
use crate::chat::session::UserId;
use crate::ws::frame;

impl Broadcaster {
    /// A new connection: settles its session and nickname, and sends it `hello` (and
    /// `session_expired` when the session it presented is not one, or no longer known).
    pub(super) fn arrive(&mut self, arrival: Arrival, round: &mut Round) {
        let Arrival { mut client, presented, fresh, requested, settled, spent } = arrival;
        let per_address = &self.limits.per_address;
        if !self.identities.knows(&presented)
            && let Err(refusal) =
                allowance::new_session(&self.identities, per_address, spent, client.address)
        {
            self.metrics.limited(refusal.reason);
            let event = ServerEvent::error(refusal.code, refusal.message);
            client.outbound.send(&[&frame::text(event.to_json())]);
            return settled.limited();
        }
        let presented_user = match &presented {
            Presented::Session(session) => Some(session.user_id()),
            Presented::Nothing | Presented::Malformed => None,
        };
        // A banned session, or a newcomer from a banned address: told why, closed with 4003
        // (the upgrade refused most of them with a 403 already; this is the session presented
        // in its first frame, or banned meanwhile).
        if let Some(ban) = self.bans.refusing(client.address, presented_user, now_millis()) {
            client.outbound.send(&[&frame::text(ban.error_json())]);
            return settled.banned();
        }
        let arrived = self.identities.arrive(presented, fresh, &requested);
        let user = arrived.user;
        self.moderation.seen(user, client.address);
        client.user = user;
        client.name.clone_from(&arrived.name);
        client.tag.set(&arrived.name);
        let slot = self.hub.open(client);
        let session = arrived.session.to_text();
        let unread = self.identities.unread(user);
        let limits = &self.limits;
        let hello = ServerEvent::Hello {
            session: &session,
            user,
            name: &arrived.name,
            requested: arrived.requested.as_deref(),
            max_message_bytes: limits.max_message_bytes,
            rate_limit_per_sec: limits.rate_limit_per_sec,
            default_room: limits.default_room.as_str(),
            max_rooms_per_connection: limits.max_rooms_per_connection,
            unread_dms: unread
                .iter()
                .map(|&(user, name, count)| Unread { name, user, count })
                .collect(),
            op: crate::chat::operators::is_operator(user),
        };
        self.tell(round, slot, &hello);
        if let Some(others) = self.others.as_ref().filter(|_| arrived.new) {
            others.claim(user, &arrived.name);
        }
        if arrived.new {
            self.durability.write(Entry::Session { user, name: arrived.name.clone() });
        }
        if arrived.expired {
            let expired = ServerEvent::error("session_expired", SESSION_EXPIRED);
            self.tell(round, slot, &expired);
        }
        // The connection's thread waits for this before it reads anything from its client.
        settled.done(user);
    }

    /// Client `id`'s reader ended: it leaves its rooms, and its session goes offline when it
    /// was the last connection of it.
    pub(super) fn leave(&mut self, id: u64, round: &mut Round) {
        self.slow.forget(id);
        if let Some(slot) = self.hub.slot(id) {
            round.forget(slot);
        }
        if let Some((client, rooms)) = self.hub.close(id) {
            self.identities.depart(client.user, Instant::now());
            for (room, gone) in rooms {
                if gone {
                    self.presence.local_gone(&room, &client.name);
                }
            }
            self.refresh_presence(round);
        }
    }

    /// Client `id` asks for the nickname `name`.
    pub(super) fn rename(&mut self, id: u64, name: String, round: &mut Round) {
        let Some(slot) = self.hub.slot(id) else { return };
        let user = self.hub.client(slot).expect("connected").user;
        match self.identities.rename(user, &name) {
            Renamed::Same => {}
            Renamed::Taken => {
                let taken = ServerEvent::Error {
                    code: "name_taken",
                    message: NAME_TAKEN,
                    room: None,
                    to: None,
                    name: Some(&name),
                    id: None,
                };
                self.tell(round, slot, &taken);
            }
            Renamed::From(old) => {
                self.renamed(user, &old, &name, None, round);
                if let Some(others) = &self.others {
                    others.claim(user, &name);
                }
            }
        }
    }

    /// A nickname claim from the claims topic, in its order.
    pub(super) fn claim(&mut self, claim: &Claim, round: &mut Round) {
        let settled = self.identities.apply_claim(claim, Instant::now());
        self.settle(settled, round);
    }

    /// Session `user`, which held `name` (folded), was forgotten by some instance.
    pub(super) fn release(&mut self, user: UserId, name: &str, round: &mut Round) {
        let settled = self.identities.apply_release(user, name);
        self.settle(settled, round);
    }

    /// Applies what the bus read back before serving (the claims topic), in its order.
    pub fn recall(&mut self, events: Vec<Event>) {
        let mut round = std::mem::take(&mut self.round);
        for event in events {
            self.handle(event, &mut round);
        }
        self.moderation.recalled();
        self.deliver(&mut round);
        self.round = round;
    }

    /// Forgets the sessions offline for longer than the reserve (or beyond the cap), and writes
    /// their forgets to the journal.
    pub(super) fn forget_offline_sessions(&mut self, now: Instant) {
        for user in self.identities.sweep(now) {
            self.moderation.forget(user);
            self.durability.write(Entry::Forget(user));
        }
    }

    /// Publishes the releases of the names the forgotten sessions held.
    pub(super) fn release_lapsed_names(&mut self) {
        let releases = self.identities.take_lapsed();
        self.publish(NameChanges { releases, ..NameChanges::default() });
    }

    /// What a claim or release changed: renamed sessions are told (and their rooms), claims and
    /// releases published.
    fn settle(&mut self, settled: NameChanges, round: &mut Round) {
        for (user, old, new, requested) in &settled.renamed {
            self.renamed(*user, old, new, requested.as_deref(), round);
        }
        self.publish(settled);
    }

    /// Publishes the claims and releases of `settled` to the other instances.
    fn publish(&self, settled: NameChanges) {
        let Some(others) = &self.others else { return };
        for (user, name) in settled.claims {
            others.claim(user, &name);
        }
        for (user, folded) in settled.releases {
            others.release(user, &folded);
        }
    }

    /// `user` has the nickname `new` now (it had `old`): every connection of its session gets
    /// `renamed`, and every room it is in a `rename` and (when small) its new list.
    fn renamed(
        &mut self,
        user: UserId,
        old: &str,
        new: &str,
        requested: Option<&str>,
        round: &mut Round,
    ) {
        self.identities.mark_used(user);
        self.durability.write(Entry::Session { user, name: new.to_string() });
        let rooms = self.hub.rename(user, new);
        let index = round.frame(&ServerEvent::Renamed { name: new, requested });
        for &slot in self.hub.slots_of(user) {
            round.add(slot, index);
        }
        for room in rooms {
            self.presence.local_renamed(&room, old, new);
            let rename = ServerEvent::Rename { room: room.as_str(), from: old, to: new, user };
            self.to_room(round, &room, &rename, Except::Nobody);
            if self.presence.len(&room) <= USERS_BROADCAST_LIMIT {
                let users = self.users_event(&room);
                self.to_room(round, &room, &users, Except::Nobody);
            }
        }
        self.refresh_presence(round);
    }
}

const SESSION_EXPIRED: &str =
    "the session presented is not known (any more): this is a new one, with a new nickname";
const NAME_TAKEN: &str = "another session holds that nickname";
