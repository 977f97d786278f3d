//! The consumer: one thread that numbers messages and delivers each room's events to its members.
//!
//! # Ownership
//! The broadcaster alone owns the [`Hub`] (who is connected, who is in which room, each room's
//! history), so nothing needs a lock and there is exactly one order of events: the order in which
//! they leave the channel. Reader threads only *send* [`Event`]s through the
//! [`Inbox`](crate::chat::inbox::Inbox); they never touch another client. Of the bus it knows
//! only [`Announce`], where it tells other instances who is online here; it holds no way into
//! its own inbox, so when every sender is gone (and no [`Event::Shutdown`] came) it shuts down
//! too. Each part of its state belongs to the file that changes it: the round to `round.rs`,
//! the slow sockets to `delivery.rs`, the journal to `durability.rs`, the big rooms' batched
//! changes to `rosters.rs`.
//!
//! # One round
//! 1. Wait for an event, or for a client's write request, or the retry tick while some socket has
//!    a backlog ([`Broadcaster::run`], in this file).
//! 2. Take every other event already waiting (`try_iter`), up to [`MAX_BATCH`]: under load a round
//!    carries many messages, at low load just one, so latency stays minimal either way
//!    ([`round`]).
//! 3. Handle each ([`Broadcaster::handle`]: one function per event, in the file of its concept).
//!    Each outgoing event is encoded to a frame once ([`frame::text`]), and compressed once if
//!    clients that agreed to permessage-deflate get it, and its recipients noted:
//!    the members of its room, found through the hub's index by room, so a round with messages
//!    for many rooms never walks every client per room ([`round`]).
//! 4. Make what the round wrote durable before any of it goes out ([`durability`]).
//! 5. Give each client all of its frames of the round in one [`Outbound::send`]: one lock and, in the
//!    common case, one system call per client per round, however many messages the round holds
//!    ([`delivery`]).
//! 6. Write what other threads queued for a client (a reader's error event, its keepalive ping,
//!    the inspector's frames, the Kafka callback's `not_delivered`): each such queue asked for a
//!    write itself, as does a socket that did not take everything; they are written at once, then
//!    every [`RETRY_TICK`] until drained. This thread is the one writer of every chat socket; the
//!    reader writes only its pong and close (`ws/outbound/mod.rs`, "Who writes to a socket"). A client whose backlog passes `SEND_BUFFER_BYTES` was closed
//!    with 1013 by its `Outbound`, and if it still has not taken its close frame after
//!    [`CLOSE_TIMEOUT`] its socket is shut down, which ends its reader ([`delivery`]).
//!
//! Once a second, busy or not, the [`tick`] does what is due whatever comes: instances and
//! sessions gone silent are forgotten, presence is announced and sent, the journal committed.
//!
//! # Where each part lives
//! - this file: the [`Broadcaster`], its loop and the dispatch of events;
//! - [`round`]: one round, each event encoded once, who gets which frame;
//! - [`delivery`]: one `send` per client, retries of backlogs, closing slow clients, shutdown;
//! - [`rooms`]: entering and leaving rooms, room messages, typing, the list of rooms;
//! - [`private`]: private messages and conversations;
//! - [`posts`]: the HTTP API's bots' posts, answered once durable, and history pages;
//! - [`changes`]: edits, deletions, reactions and replies, checked before they are numbered;
//!   read markers; [`moderation`]: what operators do to sessions (kick, ban, mute);
//! - [`names`]: arrivals and departures, sessions, nicknames and renames (claims and releases
//!   across instances);
//! - [`rosters`]: who is in each room, told to the room (`users`, `join`, `leave`, `presence`),
//!   here and on the other instances;
//! - [`durability`]: the journal: what a round writes, its commit (and its rollback), the restore
//!   at start, compaction;
//! - [`tick`]: the once-a-second jobs; [`limits`]: the settings.
//!
//! [`Outbound::send`]: crate::ws::outbound::Outbound::send
//! [`frame::text`]: crate::ws::frame::text
//! [`RETRY_TICK`]: delivery::RETRY_TICK
//! [`CLOSE_TIMEOUT`]: delivery::CLOSE_TIMEOUT

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::select;

use crate::chat::history::Epochs;
use crate::chat::hub::Hub;
use crate::chat::identity::Identities;
use crate::chat::inbox::{Event, Mailbox, Source};
use crate::chat::presence::{Announce, Presence};
use crate::chat::room::RoomName;
use crate::chat::sanctions::Bans;
use crate::metrics::Metrics;

mod changes;
mod delivery;
mod durability;
mod limits;
mod moderation;
mod names;
mod posts;
mod private;
mod rooms;
mod rosters;
mod round;
mod tick;

use delivery::{RETRY_TICK, SlowClients};
use durability::Durability;
pub use limits::Limits;
use moderation::Moderation;
use rosters::Batch;
pub use rosters::USERS_BROADCAST_LIMIT;
pub use round::MAX_BATCH;
use round::Round;

/// The broadcaster's state.
pub struct Broadcaster {
    mailbox: Mailbox,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// Who is connected, who is in which room, each room's history.
    hub: Hub,
    /// Who holds which nickname, and the private conversations.
    identities: Identities,
    /// Who is in which room, here and on the other instances.
    presence: Presence,
    /// The other instances (Kafka), if there can be any.
    others: Option<Arc<dyn Announce>>,
    /// The round being built; its vectors are kept from one round to the next (`round.rs`).
    round: Round,
    /// Clients with a backlog to retry, and clients being closed (`delivery.rs`).
    slow: SlowClients,
    /// Presence changes of big rooms, waiting for the next tick (`rosters.rs`).
    batched: HashMap<RoomName, Batch>,
    /// The journal and the messages of the round not yet durable (`durability.rs`).
    durability: Durability,
    /// When the once-a-second jobs are next due (`tick.rs`).
    next_tick: Instant,
    /// The bans in force, shared with the connection threads (`chat/sanctions.rs`).
    bans: Arc<Bans>,
    /// The mutes, and where each session last connected from (`moderation.rs`).
    moderation: Moderation,
}

/// Whether the broadcaster goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

impl Broadcaster {
    /// A broadcaster reading `mailbox`; rooms and conversations take their ids from `epochs`,
    /// within the `limits`; presence and claims are announced to `others`.
    pub fn new(
        mailbox: Mailbox,
        epochs: Epochs,
        limits: Limits,
        metrics: Arc<Metrics>,
        others: Option<Arc<dyn Announce>>,
    ) -> Broadcaster {
        Broadcaster {
            mailbox,
            hub: Hub::new(epochs, limits.history_size, limits.keep_empty_rooms),
            identities: Identities::new(limits.name_reserve, limits.max_reserved_names),
            limits,
            metrics,
            presence: Presence::new(),
            others,
            round: Round::default(),
            slow: SlowClients::default(),
            batched: HashMap::new(),
            durability: Durability::default(),
            next_tick: Instant::now(),
            bans: Arc::new(Bans::new()),
            moderation: Moderation::default(),
        }
    }

    /// The bans in force, for the connection threads to check at the upgrade.
    pub fn bans(&self) -> Arc<Bans> {
        self.bans.clone()
    }

    /// Runs until [`Event::Shutdown`], or until every [`Inbox`](crate::chat::inbox::Inbox) is
    /// gone.
    pub fn run(mut self) {
        // Handles of our own on the two channels, so that `self` is free while one is read.
        let (events, write_requests) =
            (self.mailbox.events.clone(), self.mailbox.write_requests.clone());
        loop {
            let wait = if self.slow.is_empty() { IDLE_WAIT } else { RETRY_TICK };
            select! {
                recv(events) -> event => match event {
                    Ok(event) => {
                        if self.round(event, &events) == Flow::Stop {
                            return self.shut_down();
                        }
                    }
                    // Every sender is gone: nobody can ask anything of us any more.
                    Err(_) => return self.shut_down(),
                },
                recv(write_requests) -> id => self.slow.retry(id.ok()),
                default(wait) => {}
            }
            let now = Instant::now();
            if now >= self.next_tick {
                self.tick(now);
            }
            self.retry_backlog();
            self.expire_closing();
        }
    }

    /// One event of a round: each kind is handled in the file of its concept.
    fn handle(&mut self, event: Event, round: &mut Round) -> Flow {
        match event {
            // names.rs
            Event::Joined(arrival) => self.arrive(*arrival, round),
            Event::Rename { id, name } => self.rename(id, name, round),
            Event::Claim(claim) => self.claim(&claim, round),
            Event::Release { user, name } => self.release(user, &name, round),
            Event::Left { id } => self.leave(id, round),
            // rooms.rs
            Event::Subscribe { id, room, resume } => self.subscribe(id, room, resume, round),
            Event::Unsubscribe { id, room } => self.unsubscribe(id, &room, round),
            Event::Chat { from, room, said } => self.chat(from, room, said, round),
            Event::Typing { room, user, name, from } => {
                self.typing(&room, user, &name, from, round)
            }
            Event::ListRooms { id } => self.list_rooms(id, round),
            // changes.rs
            Event::Amend(amend) => self.amend(*amend, round),
            // moderation.rs
            Event::Moderate { conn, request } => self.moderate(conn, request, round),
            Event::Kicked { user, reason } => self.kicked(user, &reason),
            Event::Sanctioned(sanction) => self.sanction(*sanction, false),
            Event::Read { conn, at, id } => self.read(conn, at, id, round),
            Event::ReadRecord { user, at, id, from } => self.read_record(user, at, id, from, round),
            // private.rs
            Event::SubscribeDirect { id, with, resume } => {
                self.subscribe_direct(id, &with, resume, round);
            }
            Event::Direct { from, to, text, ts } => self.direct_from(from, &to, text, ts, round),
            Event::DirectRecord { id, chat } => {
                self.deliver_direct(Source::Bus { id }, *chat, round);
            }
            // posts.rs
            Event::Post(post) => self.post(*post, round),
            Event::Page(request) => self.page(*request, round),
            // rosters.rs
            Event::Roster { instance, rooms, at_millis, sessions } => {
                self.roster(instance, rooms, at_millis, sessions, round);
            }
            Event::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }
}

/// How long the broadcaster sleeps when nothing is pending.
const IDLE_WAIT: Duration = Duration::from_secs(1);

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::history::new_epoch;
    use crate::chat::inbox::{Inbox, Said};
    use crate::chat::session::UserId;
    use crate::net::per_address::{AddressLimits, PerAddress};

    pub(in crate::chat::broadcaster) fn general() -> RoomName {
        RoomName::parse("general").unwrap()
    }

    fn said(text: &str) -> Said {
        let (name, ts) = ("a".to_string(), "t".to_string());
        let body = Box::new(crate::chat::entry::Body::text(text));
        Said { user: UserId::NOBODY, name, body, ts }
    }

    pub(in crate::chat::broadcaster) fn broadcaster(mailbox: Mailbox) -> Broadcaster {
        let metrics = Arc::new(Metrics::default());
        let limits = Limits {
            history_size: 10,
            keep_empty_rooms: 10,
            name_reserve: Duration::from_secs(60),
            max_reserved_names: 10,
            max_message_bytes: 100,
            rate_limit_per_sec: 10,
            default_room: general(),
            max_rooms_per_connection: 4,
            edit_window: Duration::ZERO,
            max_conversations: 10,
            compression: crate::ws::deflate::Settings {
                min_bytes: 128,
                bytes_per_second: usize::MAX,
            },
            per_address: PerAddress::new(AddressLimits {
                handshakes: 16,
                sockets: 16,
                sessions_per_min: 60,
                rooms: 16,
                unanswered_per_min: 20,
            }),
        };
        Broadcaster::new(mailbox, Epochs::single(new_epoch()), limits, metrics, None)
    }

    /// Runs `broadcaster` on a thread; true if it returned within `limit`.
    fn returns_within(broadcaster: Broadcaster, limit: Duration) -> bool {
        let (done, finished) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            broadcaster.run();
            let _ = done.send(());
        });
        finished.recv_timeout(limit).is_ok()
    }

    #[test]
    fn it_stops_when_every_inbox_is_gone() {
        let (inbox, mailbox) = Inbox::new();
        let broadcaster = broadcaster(mailbox);
        inbox.chat(1, general(), said("hello")).unwrap();
        drop(inbox);
        assert!(returns_within(broadcaster, Duration::from_secs(5)), "still running");
    }

    #[test]
    fn it_stops_on_shutdown() {
        let (inbox, mailbox) = Inbox::new();
        inbox.shutdown();
        assert!(returns_within(broadcaster(mailbox), Duration::from_secs(5)));
        let late = inbox.chat(1, general(), said("late"));
        assert!(late.is_err(), "nobody reads now");
    }
}
