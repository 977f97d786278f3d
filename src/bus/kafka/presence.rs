//! The presence topic, `<topic>.presence` (one partition): who is online on the other instances,
//! and who is typing.
//!
//! - **Rosters.** Each instance announces its nicknames per room, and the sessions connected to
//!   it, when they change and every [`ANNOUNCE_EVERY`](crate::chat::presence::ANNOUNCE_EVERY)
//!   ([`KafkaBus::announce`], called by the broadcaster, see `chat/presence.rs`); an instance
//!   that goes silent is forgotten there. The sessions listed keep a session online elsewhere
//!   from being swept, and private messages to it from being counted unread.
//! - **Typing** ([`KafkaBus::typing`]) is a record there too, in no history, and worthless after
//!   a few seconds: the consumer drops one older than [`TYPING_MAX_AGE`].
//! - **Consuming** ([`consume`]): our own rosters are skipped (the broadcaster knows its own
//!   users), our own typing is not: it reaches this instance's other members of the room the
//!   same way it reaches everyone else, with `from` naming the connection that typed so that it
//!   does not hear itself. Start-up reads the last [`PRESENCE_READBACK`] records back, to learn
//!   who is online elsewhere before the next announcements.

use std::sync::Arc;
use std::time::Duration;

use log::warn;
use rskafka::client::partition::PartitionClient;
use rskafka::record::RecordAndOffset;

use super::KafkaBus;
use super::consume::follow;
use super::produce::{Kind, Lane};
use super::record::{Record, decode, to_json};
use crate::chat::inbox::{Event, Inbox};
use crate::chat::presence::now_millis;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::metrics::Metrics;

impl KafkaBus {
    /// Produces a typing indicator (connection `conn` of this instance) to the presence topic.
    pub fn typing(&self, room: &RoomName, user: UserId, name: String, conn: u64) {
        let record = Record::Typing {
            instance: self.instance.clone(),
            conn,
            room: room.to_string(),
            user: Some(user.to_text()),
            name,
            at: now_millis(),
        };
        self.queue.push(Lane::Presence, Kind::Typing, self.key(), to_json(&record));
    }

    /// Announces the nicknames online on this instance, per room, and the sessions connected.
    pub fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>, sessions: Vec<UserId>) {
        let rooms = rooms.into_iter().map(|(room, users)| (room.to_string(), users)).collect();
        let sessions = sessions.iter().map(UserId::to_text).collect();
        let record = Record::Roster {
            instance: self.instance.clone(),
            rooms: Some(rooms),
            users: None,
            sessions: Some(sessions),
            at: now_millis(),
        };
        self.queue.push(Lane::Presence, Kind::Roster, self.key(), to_json(&record));
    }

    /// Presence records are keyed by instance.
    fn key(&self) -> Option<Vec<u8>> {
        Some(self.instance.as_bytes().to_vec())
    }
}

/// Reads the presence topic forever, handing rosters and typing indicators to the broadcaster.
pub async fn consume(
    client: PartitionClient,
    from: i64,
    records: PresenceRecords,
    inbox: Inbox,
    metrics: Arc<Metrics>,
) {
    follow(client, from, inbox, metrics, |fetched| {
        if records.is_our_roster(fetched) {
            return None; // the biggest record there, and not news to us: not even decoded
        }
        decode(fetched).and_then(|r| records.event(r, now_millis()))
    })
    .await;
}

/// What the presence consumer makes of each record.
pub struct PresenceRecords {
    /// This instance's id.
    pub me: String,
    /// The room of rosters written before rooms.
    pub default_room: RoomName,
}

impl PresenceRecords {
    /// True for one of our own rosters (keyed by our instance id, written with its kind first),
    /// told apart without decoding it.
    fn is_our_roster(&self, fetched: &RecordAndOffset) -> bool {
        let record = &fetched.record;
        record.key.as_deref() == Some(self.me.as_bytes())
            && record.value.as_deref().is_some_and(|v| v.starts_with(br#"{"kind":"roster""#))
    }

    /// The event for a record read at `now` (ms since 1970): another instance's roster, or a
    /// typing indicator younger than [`TYPING_MAX_AGE`].
    fn event(&self, record: Record, now: u64) -> Option<Event> {
        match record {
            Record::Roster { instance, .. } if instance == self.me => None,
            Record::Roster { instance, rooms, users, sessions, at } => {
                let sessions = sessions.unwrap_or_default();
                let sessions = sessions.iter().filter_map(|user| UserId::parse(user)).collect();
                let rooms = match (rooms, users) {
                    (Some(rooms), _) => rooms
                        .into_iter()
                        .filter_map(|(raw, users)| Some((self.room(&instance, &raw)?, users)))
                        .collect(),
                    (None, Some(users)) => vec![(self.default_room.clone(), users)],
                    (None, None) => Vec::new(),
                };
                Some(Event::Roster { instance, rooms, at_millis: at, sessions })
            }
            Record::Typing { instance, conn, room, user, name, at } => {
                if now.saturating_sub(at) > TYPING_MAX_AGE.as_millis() as u64 {
                    return None; // stale: read back at start, or delayed by the broker
                }
                let room = self.room(&instance, &room)?;
                let from = (instance == self.me).then_some(conn);
                let user = user.as_deref().and_then(UserId::parse).unwrap_or(UserId::NOBODY);
                Some(Event::Typing { room, user, name, from })
            }
            Record::Epoch { .. } | Record::Chat { .. } | Record::Dm { .. } => None,
            Record::Edit(_) | Record::Delete(_) | Record::React(_) => None,
            Record::Moderation { .. } | Record::Sanction(_) => None,
            Record::Claim { .. }
            | Record::Release { .. }
            | Record::Read { .. }
            | Record::Kick { .. } => None,
        }
    }

    fn room(&self, instance: &str, raw: &str) -> Option<RoomName> {
        let room = RoomName::parse(raw);
        if room.is_none() {
            warn!("kafka: skipping presence of {instance} in {raw:?}: not a room name");
        }
        room
    }
}

/// Presence records read back at start, to learn who is online elsewhere. Typing records share
/// the topic: when they crowd the rosters out, the next announcements (every 5 s) tell.
pub const PRESENCE_READBACK: i64 = 1000;
/// A typing indicator older than this is not shown (the page shows one for 3 s).
const TYPING_MAX_AGE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn presence() -> PresenceRecords {
        PresenceRecords { me: "ws1".into(), default_room: room("general") }
    }

    fn parse(json: &str) -> Record {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn rosters_list_users_per_room_and_old_ones_mean_the_default_room() {
        let now = 1_000_000;
        let new = parse(
            r#"{"kind":"roster","instance":"ws2","rooms":{"general":["alice"],"Bad Room":["x"],"rust":["bob","carol"]},"at":999000}"#,
        );
        let Some(Event::Roster { instance, rooms, at_millis, .. }) = presence().event(new, now)
        else {
            panic!("no roster");
        };
        let expected = vec![
            (room("general"), vec!["alice".to_string()]),
            (room("rust"), vec!["bob".to_string(), "carol".to_string()]),
        ];
        assert_eq!((instance.as_str(), rooms, at_millis), ("ws2", expected, 999_000));

        let old = parse(r#"{"kind":"roster","instance":"ws2","users":["dave"],"at":999000}"#);
        let Some(Event::Roster { rooms, .. }) = presence().event(old, now) else { panic!() };
        assert_eq!(rooms, vec![(room("general"), vec!["dave".to_string()])]);

        let ours = parse(r#"{"kind":"roster","instance":"ws1","rooms":{},"at":999000}"#);
        assert!(presence().event(ours, now).is_none(), "our own roster is skipped");
    }

    #[test]
    fn typing_names_the_connection_only_on_its_own_instance_and_goes_stale() {
        let typing = |instance: &str, at: u64| {
            let room = "rust".to_string();
            let (instance, name, user) = (instance.into(), "alice".into(), None);
            Record::Typing { instance, conn: 17, room, user, name, at }
        };
        let now = 1_000_000;
        let from = |record| match presence().event(record, now) {
            Some(Event::Typing { room, name, from, .. }) => {
                assert_eq!((room.as_str(), name.as_str()), ("rust", "alice"));
                Some(from)
            }
            _ => None,
        };
        assert_eq!(from(typing("ws1", now - 100)), Some(Some(17)), "ours: skip the typer");
        assert_eq!(from(typing("ws2", now - 100)), Some(None), "another instance's");
        assert_eq!(from(typing("ws2", now + 300)), Some(None), "a clock a little ahead");
        assert_eq!(from(typing("ws2", now - 5_001)), None, "stale");
        let bad = Record::Typing {
            instance: "ws2".into(),
            conn: 1,
            room: "a/b".into(),
            user: None,
            name: "x".into(),
            at: now,
        };
        assert_eq!(from(bad), None);
    }

    #[test]
    fn our_own_rosters_are_skipped_undecoded_but_not_our_typing() {
        let fetched = |key: &str, value: &str| RecordAndOffset {
            record: super::super::produce::kafka_record(
                Some(key.as_bytes().to_vec()),
                value.as_bytes().to_vec(),
            ),
            offset: 1,
        };
        let records = presence();
        assert!(records.is_our_roster(&fetched("ws1", r#"{"kind":"roster","instance":"ws1"}"#)));
        assert!(!records.is_our_roster(&fetched("ws2", r#"{"kind":"roster","instance":"ws2"}"#)));
        assert!(!records.is_our_roster(&fetched("ws1", r#"{"kind":"typing","instance":"ws1"}"#)));
    }

    #[test]
    fn rosters_carry_their_sessions() {
        let roster = parse(
            r#"{"kind":"roster","instance":"ws2","rooms":{},"sessions":["LJgLhthO3_LJUFoX","bad"],"at":999000}"#,
        );
        let Some(Event::Roster { sessions, .. }) = presence().event(roster, 1_000_000) else {
            panic!("no roster");
        };
        assert_eq!(sessions, vec![UserId::parse("LJgLhthO3_LJUFoX").unwrap()]);
    }
}
