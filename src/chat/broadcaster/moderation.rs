//! What operators do to sessions (`chat/operators.rs`, the requests in `chat/moderate.rs`):
//! kick, ban, mute, their ends, and the list.
//!
//! - **Kick**: every connection of the session that holds a nickname, on every instance, is
//!   closed with 4001 and the operator's reason (codes 4000 to 4999 are the application's, RFC
//!   6455 §7.4.2; docs/protocol.md lists ours). The session may connect again.
//! - **Ban**: the session, and the addresses it was seen connecting from, are refused until the
//!   ban ends (`chat/sanctions.rs`): the upgrade is answered `403` (`connection.rs`), an arrival
//!   that slips through is closed with 4003 (`names.rs`), and the connections open now, the
//!   session's and any other non-operator's from a banned address, are closed with 4003.
//! - **Mute**: the session says nothing in one room (`muted`, checked in `rooms.rs`).
//!
//! Each is a [`Sanction`] applied here at once, journaled (the store) or sent on the sanctions
//! topic (Kafka: every instance applies it, this one again, which changes nothing more), and
//! told to the rooms concerned as a `moderation` entry of their order (an operator's deletion
//! of someone's message too, `changes.rs`): in every room the session is listed in (on any
//! instance), or, when it is in none, in the operator's rooms; a mute in its room. With Kafka, a
//! mute's or an unmute's notice also puts it in force on each instance that reads it
//! ([`Moderation::noticed`]), at whichever of its two copies comes first (`chat/twins.rs`); the
//! notice is sent first, so the muted session is refused from the moment it can see the notice.
//! Anyone but an operator is refused with `not_allowed`; an operator cannot be kicked, banned or
//! muted.
//!
//! A ban learns the addresses of the session's connections wherever they are: an instance that
//! applies a ban and holds connections of the session, or saw it last, from addresses the ban
//! does not name yet adds them and sends the ban again, so the address is banned on every
//! instance (the session may be offline, last seen on another instance than the operator's).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use log::info;

use super::Broadcaster;
use super::delivery::SlowClients;
use super::round::Round;
use crate::chat::entry::{Action, Body, Notice};
use crate::chat::hub::{Client, Slot};
use crate::chat::inbox::{Said, Source};
use crate::chat::journal::Entry;
use crate::chat::moderate::{Moderate, Whom};
use crate::chat::operators;
use crate::chat::presence::now_millis;
use crate::chat::protocol::{self, ServerEvent};
use crate::chat::room::RoomName;
use crate::chat::sanctions::{Ban, Listed, Mute, Mutes, Sanction};
use crate::chat::session::UserId;
use crate::chat::twins::{Twins, Via};
use crate::net::per_address;

/// The broadcaster's part of moderation: the mutes (the bans are shared with the connection
/// threads, [`Broadcaster::bans`]), and the address each session last connected from.
#[derive(Debug, Default)]
pub(super) struct Moderation {
    pub(super) mutes: Mutes,
    /// Each session's last address here, for a ban of a session that is offline.
    last_address: HashMap<UserId, IpAddr>,
    /// When the sanctions in force were last recorded again (Kafka).
    recorded: Option<Instant>,
    /// Mutes and unmutes that came first as a notice or as a sanction, waiting for their twin
    /// (Kafka).
    twins: Twins,
}

impl Moderation {
    /// Session `user` connected from `address`.
    pub(super) fn seen(&mut self, user: UserId, address: IpAddr) {
        self.last_address.insert(user, per_address::key(address));
    }

    /// Session `user` was forgotten.
    pub(super) fn forget(&mut self, user: UserId) {
        self.last_address.remove(&user);
    }

    /// The sanctions read back at start are all in force: none of them waits for a twin.
    pub(super) fn recalled(&mut self) {
        self.twins = Twins::default();
    }

    /// A mute's or an unmute's notice in `room`, said by operator `by`, read from the bus (not
    /// read back at start: that is history, and the sanctions read back hold): in force here
    /// from the notice's place in the room's order, so that from the moment anyone here can see
    /// the notice the session is refused (or heard again). The sanction itself comes on its own
    /// topic, sooner or later, and is then skipped (`chat/twins.rs`).
    pub(super) fn noticed(&mut self, room: &RoomName, notice: &Notice, by: &str) {
        let change = match notice.action {
            Action::Mute => Sanction::Mute(Mute {
                room: room.clone(),
                user: notice.whom,
                name: notice.whom_name.clone(),
                until: notice.until,
                reason: notice.reason.clone(),
                by: by.to_string(),
            }),
            Action::Unmute => Sanction::Unmute { room: room.clone(), user: notice.whom },
            Action::Kick | Action::Ban | Action::Unban | Action::Delete => return,
        };
        if self.twins.first(Via::Notice, &change) {
            self.apply(change);
        }
    }

    /// A mute or an unmute decided, or read from the sanctions topic; `twin_may_come`: its
    /// notice may come (or have come) from the bus, and only the first of the two is applied.
    fn sanctioned(&mut self, change: &Sanction, twin_may_come: bool) {
        if !twin_may_come || self.twins.first(Via::Sanction, change) {
            self.apply(change.clone());
        }
    }

    /// Puts a mute in force, or lifts one.
    fn apply(&mut self, change: Sanction) {
        match change {
            Sanction::Mute(mute) => self.mutes.insert(mute),
            Sanction::Unmute { room, user } => drop(self.mutes.remove(&room, user, now_millis())),
            Sanction::Ban(_) | Sanction::Unban { .. } => {}
        }
    }
}

impl Broadcaster {
    /// Connection `conn` asks for a moderation.
    pub(super) fn moderate(&mut self, conn: u64, request: Moderate, round: &mut Round) {
        let Some(slot) = self.hub.slot(conn) else { return };
        let client = self.hub.client(slot).expect("connected");
        let (operator, by) = (client.user, client.name.clone());
        if !operators::is_operator(operator) {
            return self.tell(round, slot, &ServerEvent::error("not_allowed", NOT_ALLOWED));
        }
        let now = now_millis();
        match request {
            Moderate::Bans => self.list_sanctions(slot, now, round),
            Moderate::Kick { name, reason } => {
                let Some(user) = self.sanctionable(round, slot, &name) else { return };
                self.close_session(user, KICKED, &close_reason("kicked", &reason));
                if let Some(others) = &self.others {
                    others.kick(user, &reason);
                }
                let notice = notice(Action::Kick, user, &name, reason, None);
                self.notify(conn, notice, self.rooms_of(&name, slot), round);
            }
            Moderate::Ban { name, secs, reason } => {
                let Some(user) = self.sanctionable(round, slot, &name) else { return };
                let until = (secs > 0).then(|| now + secs * 1000);
                let addresses = self.moderation.last_address.get(&user).copied().into_iter();
                let (addresses, reason2) = (addresses.collect(), reason.clone());
                let ban = Ban { user, name: name.clone(), addresses, until, reason: reason2, by };
                let rooms = self.rooms_of(&name, slot);
                self.sanction(Sanction::Ban(ban), true);
                self.notify(conn, notice(Action::Ban, user, &name, reason, until), rooms, round);
            }
            Moderate::Unban(whom) => {
                let user = match whom {
                    Whom::User(user) => user,
                    Whom::Name(name) => match self.identities.holder(&name) {
                        Some(user) => user,
                        None => return self.unknown(round, slot, &name),
                    },
                };
                let Some(ban) = self.bans.of(user, now) else {
                    let event = ServerEvent::error("not_banned", NOT_BANNED);
                    return self.tell(round, slot, &event);
                };
                let name = self.identities.name(user).unwrap_or(&ban.name).to_string();
                let rooms = self.rooms_of(&name, slot);
                self.sanction(Sanction::Unban { user }, true);
                self.notify(
                    conn,
                    notice(Action::Unban, user, &name, String::new(), None),
                    rooms,
                    round,
                );
            }
            Moderate::Mute { room, name, secs, reason } => {
                let Some(user) = self.sanctionable(round, slot, &name) else { return };
                let until = (secs > 0).then(|| now + secs * 1000);
                let (room2, reason2) = (room.clone(), reason.clone());
                let mute =
                    Mute { room: room2, user, name: name.clone(), until, reason: reason2, by };
                let notice = notice(Action::Mute, user, &name, reason, until);
                self.notify(conn, notice, vec![room], round);
                self.sanction(Sanction::Mute(mute), true);
            }
            Moderate::Unmute { room, name } => {
                let Some(user) = self.sanctionable(round, slot, &name) else { return };
                if self.moderation.mutes.of(&room, user, || now).is_none() {
                    let event = ServerEvent::Error {
                        code: "not_muted",
                        message: NOT_MUTED,
                        room: Some(room.as_str()),
                        to: None,
                        name: Some(&name),
                        id: None,
                    };
                    return self.tell(round, slot, &event);
                }
                let notice = notice(Action::Unmute, user, &name, String::new(), None);
                self.notify(conn, notice, vec![room.clone()], round);
                self.sanction(Sanction::Unmute { room, user }, true);
            }
        }
    }

    /// Applies `sanction` here: the tables, the connections a ban closes, the journal; and,
    /// when it was decided `here`, sends it to the other instances. From the sanctions topic
    /// (`here` false) only a ban that learnt an address here goes out again.
    pub(super) fn sanction(&mut self, sanction: Sanction, here: bool) {
        let now = now_millis();
        let sanction = match sanction {
            Sanction::Ban(mut ban) => {
                let named = ban.addresses.len();
                // The session's last address here: it may have been seen only on this instance.
                ban.addresses.extend(self.moderation.last_address.get(&ban.user));
                for &slot in self.hub.slots_of(ban.user) {
                    if let Some(client) = self.hub.client(slot) {
                        ban.addresses.push(client.address);
                    }
                }
                let ban = self.bans.insert(ban);
                if ban.until.is_none_or(|until| now < until) {
                    self.close_banned(&ban);
                }
                let learnt = ban.addresses.len() > named;
                let ban = Sanction::Ban(ban);
                if !here
                    && learnt
                    && let Some(others) = &self.others
                {
                    others.sanction(&ban);
                }
                ban
            }
            Sanction::Unban { user } => {
                self.bans.remove(user, now);
                sanction
            }
            // From the bus, its twin, the notice, may have come first (`chat/twins.rs`); not
            // while the history is read back at start, whose notices are not applied.
            Sanction::Mute(_) | Sanction::Unmute { .. } => {
                let twin_may_come = !here && !self.metrics.is_reading_back();
                self.moderation.sanctioned(&sanction, twin_may_come);
                sanction
            }
        };
        if here && let Some(others) = &self.others {
            others.sanction(&sanction);
        }
        self.durability.write(Entry::Sanction(sanction));
    }

    /// A sanction read back at start (the store): into the tables, nothing closed or sent.
    pub(super) fn restore_sanction(&mut self, sanction: Sanction) {
        let now = now_millis();
        match sanction {
            Sanction::Ban(ban) => drop(self.bans.insert(ban)),
            Sanction::Unban { user } => drop(self.bans.remove(user, now)),
            mute @ (Sanction::Mute(_) | Sanction::Unmute { .. }) => self.moderation.apply(mute),
        }
    }

    /// Drops the bans and mutes that ended; with Kafka, records those in force again once a
    /// day, so that the broker's retention never deletes the only record of one that holds
    /// (`bus/kafka/sanctions.rs`).
    pub(super) fn end_sanctions(&mut self, at: Instant) {
        let now = now_millis();
        self.bans.expire(now);
        self.moderation.mutes.expire(now);
        let Some(others) = &self.others else { return };
        let recorded = self.moderation.recorded.get_or_insert(at);
        if at.duration_since(*recorded) < RECORD_AGAIN_EVERY {
            return;
        }
        *recorded = at;
        for sanction in self.in_force(now) {
            others.sanction(&sanction);
        }
    }

    /// The sanctions in force, as journal entries: what a compaction keeps.
    pub(super) fn sanctions_in_force(&self) -> Vec<Entry> {
        self.in_force(now_millis()).into_iter().map(Entry::Sanction).collect()
    }

    /// The bans and mutes that hold at `now`.
    fn in_force(&self, now: u64) -> Vec<Sanction> {
        let bans = self.bans.list(now).into_iter().map(Sanction::Ban);
        let mutes = self.moderation.mutes.list(now).into_iter().cloned().map(Sanction::Mute);
        bans.chain(mutes).collect()
    }

    /// Closes with 4003 every connection here of the banned session, and every other
    /// non-operator's from an address the ban holds.
    fn close_banned(&mut self, ban: &Ban) {
        let reason = close_reason("banned", &ban.reason);
        for client in self.hub.clients() {
            let own = client.user == ban.user;
            let from_there = ban.addresses.contains(&per_address::key(client.address))
                && !operators::is_operator(client.user);
            if own || from_there {
                close(&mut self.slow, client, BANNED, &reason);
            }
        }
    }

    /// Closes every connection of session `user` here with `code` and `reason`.
    pub(super) fn close_session(&mut self, user: UserId, code: u16, reason: &str) {
        for &slot in self.hub.slots_of(user) {
            if let Some(client) = self.hub.client(slot) {
                close(&mut self.slow, client, code, reason);
            }
        }
    }

    /// Another instance kicked session `user`.
    pub(super) fn kicked(&mut self, user: UserId, reason: &str) {
        self.close_session(user, KICKED, &close_reason("kicked", reason));
    }

    /// The session whose name an operator's request gives, if it may be sanctioned: someone
    /// holds the name, and is not an operator (the asker is told otherwise).
    fn sanctionable(&self, round: &mut Round, slot: Slot, name: &str) -> Option<UserId> {
        let Some(user) = self.identities.holder(name) else {
            self.unknown(round, slot, name);
            return None;
        };
        if operators::is_operator(user) {
            self.tell(round, slot, &ServerEvent::error("not_allowed", NOT_AN_OPERATOR));
            return None;
        }
        Some(user)
    }

    /// `no_such_user`, naming `name`.
    fn unknown(&self, round: &mut Round, slot: Slot, name: &str) {
        let event = ServerEvent::Error {
            code: "no_such_user",
            message: protocol::NO_SUCH_USER,
            room: None,
            to: None,
            name: Some(name),
            id: None,
        };
        self.tell(round, slot, &event);
    }

    /// The rooms a notice about `name` goes to: those it is listed in, on any instance; when
    /// none, those of the operator's connection in `slot`.
    fn rooms_of(&self, name: &str, slot: Slot) -> Vec<RoomName> {
        let rooms = self.presence.rooms_of(name);
        if rooms.is_empty() { self.hub.rooms_of(slot) } else { rooms }
    }

    /// Says `notice` in each of `rooms`, as the operator on connection `conn`: an entry of each
    /// room's order, numbered (or published) like a message.
    pub(super) fn notify(
        &mut self,
        conn: u64,
        notice: Notice,
        rooms: Vec<RoomName>,
        round: &mut Round,
    ) {
        let Some(client) = self.hub.slot(conn).and_then(|slot| self.hub.client(slot)) else {
            return;
        };
        let (user, name) = (client.user, client.name.clone());
        for room in rooms {
            let body = Box::new(Body::Moderation(Box::new(notice.clone())));
            let said = Said { user, name: name.clone(), body, ts: protocol::timestamp() };
            self.chat(Source::Here { conn }, room, said, round);
        }
    }

    /// Tells the operator in `slot` the bans and mutes in force.
    fn list_sanctions(&self, slot: Slot, now: u64, round: &mut Round) {
        let bans = self.bans.list(now);
        let bans = bans.iter().map(Listed::ban).collect();
        let mutes = self.moderation.mutes.list(now).into_iter().map(Listed::mute).collect();
        self.tell(round, slot, &ServerEvent::Bans { bans, mutes });
    }
}

/// Sends `client` a close frame with `code` and `reason`, and watches it until it is gone.
fn close(slow: &mut SlowClients, client: &Client, code: u16, reason: &str) {
    if client.outbound.close(code, reason, true) {
        info!("conn-{} {}: {reason}", client.id, client.name);
        slow.watch_close(client.id);
    }
}

/// The notice of `action` on session `whom` (`name`).
pub(super) fn notice(
    action: Action,
    whom: UserId,
    name: &str,
    reason: String,
    until: Option<u64>,
) -> Notice {
    Notice { action, whom, whom_name: name.to_string(), reason, until, target: None }
}

/// A close frame's reason: `what` (`kicked`, `banned`), then the operator's words, cut to what
/// a close frame holds (123 bytes with its code, RFC 6455 §5.5), on a character boundary.
fn close_reason(what: &str, reason: &str) -> String {
    let mut text = if reason.is_empty() { what.to_string() } else { format!("{what}: {reason}") };
    while text.len() > MAX_CLOSE_REASON {
        text.pop();
    }
    text
}

/// How often, with Kafka, the sanctions in force are recorded again: well within a broker's
/// retention (7 days by default).
const RECORD_AGAIN_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Close code of a kick: the application's range (RFC 6455 §7.4.2).
pub const KICKED: u16 = 4001;
/// Close code of a ban.
pub const BANNED: u16 = 4003;
/// The longest reason a close frame carries: 125 bytes of payload, less the code's 2.
const MAX_CLOSE_REASON: usize = 123;
/// The message of `not_allowed`.
const NOT_ALLOWED: &str = "only an operator does that (OPERATORS)";
/// The message of `not_allowed` for a request about an operator.
const NOT_AN_OPERATOR: &str = "an operator cannot be kicked, banned or muted";
/// The message of `not_banned`.
const NOT_BANNED: &str = "that session is not banned";
/// The message of `not_muted`.
const NOT_MUTED: &str = "that session is not muted in this room";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_fits_a_close_frame() {
        assert_eq!(close_reason("kicked", ""), "kicked");
        assert_eq!(close_reason("banned", "spam"), "banned: spam");
        let long = close_reason("kicked", &"é".repeat(100));
        assert!(long.len() <= MAX_CLOSE_REASON && long.starts_with("kicked: é"), "{long}");
    }
}
