//! Bans and mutes: what an operator's `ban` and `mute` leave behind, and who checks them.
//!
//! A [`Sanction`] is one operator decision, as it is written down: a ban, a mute, or the end of
//! one. The same JSON travels everywhere a decision must outlive its moment: the store's
//! journal (`{"kind":"sanction","action":"ban",…}`), and with Kafka the sanctions topic, which
//! every instance reads in one order and reads back at start. Applying one is idempotent, so a
//! decision read twice (its own, coming back; a read-back after a restart) changes nothing more.
//!
//! - **Bans** ([`Bans`]) hold a session *and* the addresses it was seen connecting from (the
//!   per-address identity of `net/per_address.rs`: an IPv4 address, an IPv6 /64), so that
//!   neither a new session from the same address nor the old session from a new address gets
//!   in. Connection threads read the table at the upgrade (a `403` with a JSON body,
//!   `connection.rs`), the broadcaster writes it and checks each arrival (close `4003`); hence
//!   the lock, taken for reading on every chat upgrade and for writing only by operators.
//!   An operator's own session is never refused by an address ban: an operator behind the same
//!   NAT as a spammer keeps its place.
//! - **Mutes** ([`Mutes`]) hold a session in one room; only the broadcaster reads them, when
//!   the session says something there (`broadcaster/rooms.rs`).
//!
//! Ends are absolute times (ms since 1970), so a decision read back late ends when it should; a
//! sanction without an end lasts until it is lifted. Ended ones are dropped as they are met.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::chat::entry::rfc3339;
use crate::chat::operators;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::net::per_address;

/// One operator decision, as it is journaled and sent to the other instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Sanction {
    /// Session `user` (then `name`), and the addresses it connected from, may not connect.
    Ban(Ban),
    /// The ban of session `user` is lifted.
    Unban {
        /// The session.
        user: UserId,
    },
    /// Session `user` may not say anything in `room`.
    Mute(Mute),
    /// The mute of session `user` in `room` is lifted.
    Unmute {
        /// The room.
        room: RoomName,
        /// The session.
        user: UserId,
    },
}

/// A ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The session banned.
    pub user: UserId,
    /// Its nickname when it was banned.
    pub name: String,
    /// The addresses it was seen connecting from, as the per-address limits count them.
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// When it ends (ms since 1970); `None`: when an operator lifts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// The operator's words.
    #[serde(default)]
    pub reason: String,
    /// The operator's nickname.
    pub by: String,
}

impl Ban {
    /// Why a client is refused, for people: `an operator banned you until …: spam`.
    pub fn why(&self) -> String {
        format!("an operator banned you {}{}", until_text(self.until), because(&self.reason))
    }

    /// The error event before a banned connection's 4003: `{"type":"error","code":"banned",
    /// "message":…,"reason":"spam","until":"…"}` (`until` null: until an operator lifts it),
    /// so a page can say until when, which the close cannot.
    pub fn error_json(&self) -> String {
        self.described([("type", "error"), ("code", "banned")])
    }

    /// The body of the `403` at the upgrade: `{"error":"banned","reason":"spam",
    /// "until":"2026-12-07T05:00:00.000Z"}` (`until` null: until an operator lifts it).
    pub fn refusal_json(&self) -> String {
        self.described([("error", "banned")])
    }

    /// `head`'s fields, then why, the reason and until when, as JSON.
    fn described<const N: usize>(&self, head: [(&str, &str); N]) -> String {
        let mut fields: serde_json::Map<String, serde_json::Value> =
            head.into_iter().map(|(key, value)| (key.to_string(), value.into())).collect();
        fields.insert("message".into(), self.why().into());
        fields.insert("reason".into(), self.reason.as_str().into());
        fields.insert("until".into(), self.until.map(rfc3339).into());
        serde_json::Value::Object(fields).to_string()
    }
}

impl Mute {
    /// Why a message was refused, for people: `an operator muted you in this room until …`.
    pub fn why(&self) -> String {
        format!(
            "an operator muted you in this room {}{}",
            until_text(self.until),
            because(&self.reason)
        )
    }
}

/// `until <time>`, or `until an operator lifts it`.
fn until_text(until: Option<u64>) -> String {
    match until {
        Some(until) => format!("until {}", rfc3339(until)),
        None => "until an operator lifts it".to_string(),
    }
}

/// `: <reason>`, or nothing.
fn because(reason: &str) -> String {
    if reason.is_empty() { String::new() } else { format!(": {reason}") }
}

/// A mute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    /// The room.
    pub room: RoomName,
    /// The session muted.
    pub user: UserId,
    /// Its nickname when it was muted.
    pub name: String,
    /// When it ends (ms since 1970); `None`: when an operator lifts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<u64>,
    /// The operator's words.
    #[serde(default)]
    pub reason: String,
    /// The operator's nickname.
    pub by: String,
}

impl<'de> Deserialize<'de> for RoomName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RoomName, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        RoomName::parse(&text).ok_or_else(|| serde::de::Error::custom("not a room name"))
    }
}

/// A ban or a mute as the `bans` answer lists it: `{"user":…,"name":"bob","until":…|null,
/// "reason":"spam","by":"carol"}`, with `"room"` for a mute. Never the addresses.
#[derive(Debug, Serialize)]
pub struct Listed<'a> {
    /// The room of a mute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room: Option<&'a str>,
    /// The session.
    pub user: UserId,
    /// Its nickname when it was sanctioned.
    pub name: &'a str,
    /// When it ends; `null`: when lifted.
    pub until: Option<String>,
    /// The operator's words.
    pub reason: &'a str,
    /// The operator.
    pub by: &'a str,
}

impl Listed<'_> {
    /// A ban, listed.
    pub fn ban(ban: &Ban) -> Listed<'_> {
        let until = ban.until.map(rfc3339);
        Listed {
            room: None,
            user: ban.user,
            name: &ban.name,
            until,
            reason: &ban.reason,
            by: &ban.by,
        }
    }

    /// A mute, listed.
    pub fn mute(mute: &Mute) -> Listed<'_> {
        let (room, until) = (Some(mute.room.as_str()), mute.until.map(rfc3339));
        Listed {
            room,
            user: mute.user,
            name: &mute.name,
            until,
            reason: &mute.reason,
            by: &mute.by,
        }
    }
}

/// True when a sanction ending at `until` still holds at `now` (ms since 1970).
fn holds(until: Option<u64>, now: u64) -> bool {
    until.is_none_or(|until| now < until)
}

/// The bans in force: read by every connection thread at its upgrade, written by the
/// broadcaster.
#[derive(Debug, Default)]
pub struct Bans {
    table: RwLock<Table>,
}

#[derive(Debug, Default)]
struct Table {
    by_user: HashMap<UserId, Ban>,
    /// Each banned address, and the session whose ban holds it.
    by_address: HashMap<IpAddr, UserId>,
}

impl Bans {
    /// No bans.
    pub fn new() -> Bans {
        Bans::default()
    }

    /// The ban that keeps out a client from `address` presenting session `user` (if any), at
    /// `now`. An operator's session is refused only by a ban of its own.
    pub fn refusing(&self, address: IpAddr, user: Option<UserId>, now: u64) -> Option<Ban> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let own = user.and_then(|user| table.by_user.get(&user));
        let by_address = || {
            let exempt = user.is_some_and(operators::is_operator);
            let holder = table.by_address.get(&per_address::key(address)).filter(|_| !exempt)?;
            table.by_user.get(holder)
        };
        own.or_else(by_address).filter(|ban| holds(ban.until, now)).cloned()
    }

    /// Session `user`'s ban, if one holds at `now`.
    pub fn of(&self, user: UserId, now: u64) -> Option<Ban> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table.by_user.get(&user).filter(|ban| holds(ban.until, now)).cloned()
    }

    /// Every ban that holds at `now`, by name.
    pub fn list(&self, now: u64) -> Vec<Ban> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let mut bans: Vec<Ban> =
            table.by_user.values().filter(|ban| holds(ban.until, now)).cloned().collect();
        bans.sort_by(|a, b| a.name.cmp(&b.name));
        bans
    }

    /// Puts `ban` in force (merged with one already there: its addresses are kept). Returns
    /// the ban as it now stands.
    pub fn insert(&self, ban: Ban) -> Ban {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let mut addresses: Vec<IpAddr> =
            ban.addresses.iter().map(|a| per_address::key(*a)).collect();
        if let Some(old) = table.by_user.get(&ban.user) {
            addresses.extend(old.addresses.iter().copied());
        }
        addresses.sort();
        addresses.dedup();
        addresses.truncate(MAX_ADDRESSES_PER_BAN);
        for address in &addresses {
            table.by_address.insert(*address, ban.user);
        }
        let ban = Ban { addresses, ..ban };
        table.by_user.insert(ban.user, ban.clone());
        ban
    }

    /// Lifts session `user`'s ban; false when it had none in force at `now`.
    pub fn remove(&self, user: UserId, now: u64) -> bool {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        let Some(ban) = table.by_user.remove(&user) else { return false };
        for address in &ban.addresses {
            if table.by_address.get(address) == Some(&user) {
                table.by_address.remove(address);
            }
        }
        holds(ban.until, now)
    }

    /// Drops the bans that ended before `now`.
    pub fn expire(&self, now: u64) {
        let ended: Vec<UserId> = {
            let table = self.table.read().unwrap_or_else(|e| e.into_inner());
            table.by_user.values().filter(|b| !holds(b.until, now)).map(|b| b.user).collect()
        };
        for user in ended {
            self.remove(user, now);
        }
    }
}

/// The mutes in force, the broadcaster's alone.
#[derive(Debug, Default)]
pub struct Mutes {
    /// By room, then session: a message's check borrows its room's name, copies nothing.
    table: HashMap<RoomName, HashMap<UserId, Mute>>,
}

impl Mutes {
    /// Session `user`'s mute in `room`, if one holds at the time `now` gives (asked only when
    /// there is a mute to check: this runs for every message).
    pub fn of(&self, room: &RoomName, user: UserId, now: impl FnOnce() -> u64) -> Option<&Mute> {
        let mute = self.table.get(room)?.get(&user)?;
        holds(mute.until, now()).then_some(mute)
    }

    /// Puts `mute` in force (replacing one of the same session in the same room).
    pub fn insert(&mut self, mute: Mute) {
        self.table.entry(mute.room.clone()).or_default().insert(mute.user, mute);
    }

    /// Lifts session `user`'s mute in `room`; false when it had none in force at `now`.
    pub fn remove(&mut self, room: &RoomName, user: UserId, now: u64) -> bool {
        let Some(muted) = self.table.get_mut(room) else { return false };
        let lifted = muted.remove(&user).is_some_and(|mute| holds(mute.until, now));
        if muted.is_empty() {
            self.table.remove(room);
        }
        lifted
    }

    /// Every mute that holds at `now`, by room, then name.
    pub fn list(&self, now: u64) -> Vec<&Mute> {
        let all = self.table.values().flat_map(HashMap::values);
        let mut mutes: Vec<&Mute> = all.filter(|m| holds(m.until, now)).collect();
        mutes.sort_by(|a, b| (&a.room, &a.name).cmp(&(&b.room, &b.name)));
        mutes
    }

    /// Drops the mutes that ended before `now`.
    pub fn expire(&mut self, now: u64) {
        for muted in self.table.values_mut() {
            muted.retain(|_, mute| holds(mute.until, now));
        }
        self.table.retain(|_, muted| !muted.is_empty());
    }
}

/// The addresses one ban holds at most: a session seen from more is still banned by its id.
const MAX_ADDRESSES_PER_BAN: usize = 16;

/// The longest `secs` of a ban or a mute: ten years (0 means until lifted).
pub const MAX_SANCTION_SECS: u64 = 315_360_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: u8) -> UserId {
        UserId::parse(&format!("{}AAAAAAAAAAAAAAA", (b'A' + n) as char)).unwrap()
    }

    fn ban(n: u8, address: &str, until: Option<u64>) -> Ban {
        Ban {
            user: user(n),
            name: format!("user{n}"),
            addresses: vec![address.parse().unwrap()],
            until,
            reason: "spam".into(),
            by: "carol".into(),
        }
    }

    #[test]
    fn a_ban_holds_the_session_and_its_addresses_until_it_ends() {
        let bans = Bans::new();
        bans.insert(ban(1, "127.0.0.2", Some(1_000)));
        let (banned, other) = ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        assert!(bans.refusing(other, Some(user(1)), 999).is_some(), "the session, elsewhere");
        assert!(bans.refusing(banned, Some(user(2)), 999).is_some(), "another session, there");
        assert!(bans.refusing(banned, None, 999).is_some(), "a newcomer, there");
        assert!(bans.refusing(other, Some(user(2)), 999).is_none());
        assert!(bans.refusing(banned, Some(user(1)), 1_000).is_none(), "ended");
        let v6 = ban(3, "2001:db8::1", None);
        bans.insert(v6);
        let neighbour = "2001:db8::ffff".parse().unwrap();
        assert!(bans.refusing(neighbour, None, 5_000).is_some(), "the same /64");
        assert!(bans.remove(user(3), 5_000));
        assert!(bans.refusing(neighbour, None, 5_000).is_none(), "lifted");
        assert!(!bans.remove(user(3), 5_000), "twice");
    }

    #[test]
    fn a_ban_says_why_and_until_when_as_an_error_event_and_as_a_refusal() {
        let parse = |json: String| serde_json::from_str::<serde_json::Value>(&json).unwrap();
        let lasting = ban(1, "127.0.0.2", None);
        let event = parse(lasting.error_json());
        let expected = serde_json::json!(["error", "banned", "spam", null]);
        let got: Vec<_> =
            ["type", "code", "reason", "until"].iter().map(|k| event[k].clone()).collect();
        assert_eq!(serde_json::Value::from(got), expected);
        assert_eq!(event["message"], "an operator banned you until an operator lifts it: spam");
        let ending = parse(ban(1, "127.0.0.2", Some(0)).refusal_json());
        assert_eq!(
            (&ending["error"], &ending["until"]),
            (&"banned".into(), &"1970-01-01T00:00:00.000Z".into())
        );
        assert!(ending.get("type").is_none(), "{ending}");
    }

    #[test]
    fn a_ban_learns_addresses_and_ends() {
        let bans = Bans::new();
        bans.insert(ban(1, "127.0.0.2", None));
        let merged = bans.insert(ban(1, "127.0.0.4", None));
        assert_eq!(merged.addresses.len(), 2);
        bans.insert(ban(2, "127.0.0.5", Some(10)));
        bans.expire(10);
        assert_eq!(bans.list(10).len(), 1);
        assert!(bans.of(user(2), 5).is_none(), "expired and dropped");
    }

    #[test]
    fn a_sanction_reads_back_as_it_was_written() {
        let general = RoomName::parse("general").unwrap();
        let mute = Mute {
            room: general.clone(),
            user: user(1),
            name: "bob".into(),
            until: Some(7),
            reason: String::new(),
            by: "carol".into(),
        };
        for sanction in [
            Sanction::Ban(ban(1, "::1", None)),
            Sanction::Unban { user: user(1) },
            Sanction::Mute(mute),
            Sanction::Unmute { room: general, user: user(1) },
        ] {
            let json = serde_json::to_string(&sanction).unwrap();
            assert_eq!(serde_json::from_str::<Sanction>(&json).unwrap(), sanction, "{json}");
        }
        let json = serde_json::to_string(&Sanction::Unban { user: user(1) }).unwrap();
        assert_eq!(json, r#"{"action":"unban","user":"BAAAAAAAAAAAAAAA"}"#);
    }

    #[test]
    fn mutes_are_per_room_and_end() {
        let mut mutes = Mutes::default();
        let (a, b) = (RoomName::parse("a").unwrap(), RoomName::parse("b").unwrap());
        let mute = |until| Mute {
            room: a.clone(),
            user: user(1),
            name: "bob".into(),
            until,
            reason: String::new(),
            by: "carol".into(),
        };
        mutes.insert(mute(Some(100)));
        assert!(mutes.of(&a, user(1), || 99).is_some());
        assert!(mutes.of(&b, user(1), || panic!("no mute there: no clock")).is_none());
        assert!(mutes.of(&a, user(1), || 100).is_none(), "ended");
        mutes.insert(mute(None));
        assert!(mutes.remove(&a, user(1), 1_000_000));
        assert!(mutes.of(&a, user(1), || 0).is_none());
        assert!(mutes.table.is_empty(), "no empty room kept");
    }
}
