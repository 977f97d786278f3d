//! The consumer: one thread that numbers messages and delivers every event to every client.
//!
//! # Ownership
//! The broadcaster alone owns the [`Hub`] (who is connected) and the [`History`], so neither needs a
//! lock and there is exactly one order of events: the order in which they leave the channel. Reader
//! threads only *send* [`Event`]s; they never touch another client.
//!
//! # One round
//! 1. Wait for an event (or the retry tick while some socket has a backlog).
//! 2. Take every other event already waiting (`try_iter`), up to [`MAX_BATCH`]: under load a round
//!    carries many messages, at low load just one, so latency stays minimal either way.
//! 3. Encode each outgoing event to a frame once ([`frame::text`]) and note who gets it.
//! 4. Give each client all of its frames of the round in one [`Outbound::send`]: one lock and, in the
//!    common case, one system call per client per round, however many messages the round holds.
//! 5. Sockets that did not take everything are retried every [`RETRY_TICK`]; a client whose backlog
//!    passes `SEND_BUFFER_BYTES` was closed with 1013 by its `Outbound`, and if it still has not
//!    taken its close frame after [`CLOSE_TIMEOUT`] its socket is shut down, which ends its reader.
//!
//! [`Outbound::send`]: crate::outbound::Outbound::send

use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use log::{debug, info};
use tungstenite::Bytes;

use crate::bus::Bus;
use crate::frame;
use crate::history::{History, Resume};
use crate::hub::{Client, Hub};
use crate::metrics::Metrics;
use crate::outbound::Sent;
use crate::presence::Presence;
use crate::protocol::{Chat, ServerEvent, timestamp};

/// What reader threads (and the signal handler) tell the broadcaster.
#[derive(Debug)]
pub enum Event {
    /// A client completed the handshake: it gets the history and the users, everyone a `join`.
    Joined {
        /// The new client.
        client: Client,
        /// Where it left off, if it is reconnecting.
        resume: Option<Resume>,
    },
    /// A chat message: from a reader (`id: None`, the broadcaster numbers it) or from the Kafka
    /// topic (`id`: its offset).
    Chat {
        /// The id the bus gave it, if any.
        id: Option<u64>,
        /// The sender's nickname.
        name: String,
        /// The text.
        text: String,
        /// When the reader received it.
        ts: String,
    },
    /// Another instance announced the nicknames online on it (Kafka only).
    Roster {
        /// The instance.
        instance: String,
        /// Its nicknames.
        users: Vec<String>,
        /// When it announced them, in milliseconds since 1970.
        at_millis: u64,
    },
    /// A client's reader thread ended.
    Left {
        /// The client.
        id: u64,
    },
    /// A client's socket did not take all its bytes; try again on the next tick.
    Retry(u64),
    /// Close every client with 1001 (going away) and stop.
    Shutdown,
}

/// The broadcaster's state.
#[derive(Debug)]
pub struct Broadcaster {
    events: Receiver<Event>,
    hub: Hub,
    history: History,
    metrics: Arc<Metrics>,
    bus: Bus,
    presence: Presence,
    /// When presence is next checked for silent instances and due announcements.
    presence_due: Instant,
    /// Clients with bytes the kernel has not taken yet.
    backlog: HashSet<u64>,
    /// Clients we sent a close frame to, and when to give up on them.
    closing: HashMap<u64, Instant>,
}

/// Who gets a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum To {
    All,
    One(u64),
}

/// The frames of one round, in order.
#[derive(Debug, Default)]
struct Round {
    frames: Vec<(To, Bytes)>,
    /// Clients that joined during the round get only the frames from their join on.
    joined_at: HashMap<u64, usize>,
}

impl Round {
    fn push(&mut self, to: To, event: &ServerEvent<'_>) {
        self.frames.push((to, frame::text(event.to_json())));
    }
}

impl Broadcaster {
    /// A broadcaster reading `events`, keeping `history`, announcing presence on `bus`.
    pub fn new(
        events: Receiver<Event>,
        history: History,
        metrics: Arc<Metrics>,
        bus: Bus,
    ) -> Broadcaster {
        Broadcaster {
            events,
            hub: Hub::default(),
            history,
            metrics,
            bus,
            presence: Presence::new(),
            presence_due: Instant::now(),
            backlog: HashSet::new(),
            closing: HashMap::new(),
        }
    }

    /// Runs until [`Event::Shutdown`] (or until every sender is gone).
    pub fn run(mut self) {
        let events = self.events.clone();
        loop {
            let wait = if self.backlog.is_empty() && self.closing.is_empty() {
                IDLE_WAIT
            } else {
                RETRY_TICK
            };
            let mut round = Round::default();
            match events.recv_timeout(wait) {
                Ok(event) => {
                    let rest = events.try_iter().take(MAX_BATCH - 1);
                    let mut stop = false;
                    for event in std::iter::once(event).chain(rest) {
                        if matches!(event, Event::Shutdown) {
                            stop = true;
                            break;
                        }
                        self.handle(event, &mut round);
                    }
                    self.deliver(&round);
                    if stop {
                        return self.shut_down();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.shut_down(),
            }
            // Once a second, busy or not: forget silent instances, repeat our announcement.
            let now = Instant::now();
            if now >= self.presence_due {
                self.presence_due = now + PRESENCE_TICK;
                let mut round = Round::default();
                self.presence.forget_silent(now);
                self.refresh_presence(&mut round);
                self.deliver(&round);
            }
            self.retry_backlog();
            self.expire_closing();
        }
    }

    fn handle(&mut self, event: Event, round: &mut Round) {
        match event {
            Event::Joined { client, resume } => self.join(client, resume.as_ref(), round),
            Event::Chat { id, name, text, ts } => {
                let id = match id {
                    // A record read twice (after a consumer error) is delivered once.
                    Some(id) if self.history.has_seen(id) => return,
                    Some(id) => id,
                    None => self.history.next_id(),
                };
                let chat = Arc::new(Chat { id, name, text, ts });
                round.push(To::All, &ServerEvent::Message(&chat));
                self.history.push(chat);
            }
            Event::Roster { instance, users, at_millis } => {
                self.presence.heard(instance, users, at_millis, Instant::now());
                self.refresh_presence(round);
            }
            Event::Left { id } => self.leave(id, round),
            Event::Retry(id) => {
                self.backlog.insert(id);
            }
            Event::Shutdown => unreachable!("handled by run"),
        }
    }

    fn join(&mut self, client: Client, resume: Option<&Resume>, round: &mut Round) {
        let id = client.id;
        round.joined_at.insert(id, round.frames.len());
        let (messages, complete) = self.history.replay(resume);
        let history = ServerEvent::History {
            epoch: self.history.epoch(),
            messages: messages.into_iter().map(|c| ServerEvent::Message(c)).collect(),
            complete,
        };
        round.frames.push((To::One(id), frame::text(history.to_json())));
        let name = client.name.clone();
        if self.hub.join(client) {
            self.presence.local_appeared(&name);
        }
        if !self.refresh_presence(round) {
            // The others were not sent the list, but the newcomer needs it.
            round.push(To::One(id), &ServerEvent::Users { users: self.presence.users() });
        }
    }

    fn leave(&mut self, id: u64, round: &mut Round) {
        self.backlog.remove(&id);
        self.closing.remove(&id);
        round.joined_at.remove(&id);
        if let Some((client, gone)) = self.hub.leave(id) {
            if gone {
                self.presence.local_gone(&client.name);
            }
            self.refresh_presence(round);
        }
    }

    /// Tells everyone about nicknames that came or went (here or on another instance), and
    /// announces ours to the other instances when it changed or is due. True if the whole list
    /// went to everyone.
    ///
    /// The whole list goes out on each change only while it is short: in a big room, sending n
    /// names to n clients on every join would cost O(n²) bytes. Past [`USERS_BROADCAST_LIMIT`]
    /// names, `join` and `leave` carry the changes and newcomers get the list.
    fn refresh_presence(&mut self, round: &mut Round) -> bool {
        if self.bus.is_shared() && self.presence.should_announce(Instant::now()) {
            self.bus.announce(&self.hub.users());
        }
        let change = self.presence.take_change();
        let broadcast = !change.is_empty() && self.presence.len() <= USERS_BROADCAST_LIMIT;
        if broadcast {
            round.push(To::All, &ServerEvent::Users { users: self.presence.users() });
        }
        let ts = timestamp();
        for name in &change.joined {
            round.push(To::All, &ServerEvent::Join { name, ts: &ts });
        }
        for name in &change.left {
            round.push(To::All, &ServerEvent::Leave { name, ts: &ts });
        }
        broadcast
    }

    /// Gives every client its frames of the round, one `send` per client.
    fn deliver(&mut self, round: &Round) {
        if round.frames.is_empty() {
            return;
        }
        // The common round: the same frames for everybody. Collect them once.
        let uniform =
            round.joined_at.is_empty() && round.frames.iter().all(|(to, _)| *to == To::All);
        let shared: Vec<&Bytes> = match uniform {
            true => round.frames.iter().map(|(_, bytes)| bytes).collect(),
            false => Vec::new(),
        };
        let mut delivered = 0u64;
        for client in self.hub.clients() {
            let own: Vec<&Bytes>;
            let frames = if uniform {
                &shared
            } else {
                let start = round.joined_at.get(&client.id).copied().unwrap_or(0);
                own = round.frames[start..]
                    .iter()
                    .filter(|(to, _)| *to == To::All || *to == To::One(client.id))
                    .map(|(_, bytes)| bytes)
                    .collect();
                &own
            };
            if frames.is_empty() {
                continue;
            }
            match client.outbound.send(frames) {
                Sent::Flushed => delivered += frames.len() as u64,
                Sent::Pending => {
                    delivered += frames.len() as u64;
                    self.backlog.insert(client.id);
                }
                Sent::Evicted => {
                    info!("conn-{} {}: too slow, closing with 1013", client.id, client.name);
                    self.backlog.insert(client.id);
                    self.closing.insert(client.id, Instant::now() + CLOSE_TIMEOUT);
                }
                Sent::Closed => {}
            }
        }
        self.metrics.delivered(delivered);
    }

    fn retry_backlog(&mut self) {
        let hub = &self.hub;
        self.backlog.retain(|id| {
            hub.get(*id).is_some_and(|client| client.outbound.flush() == Sent::Pending)
        });
    }

    /// Shuts down sockets that have not completed the close handshake in time.
    fn expire_closing(&mut self) {
        let now = Instant::now();
        let hub = &self.hub;
        self.closing.retain(|id, deadline| {
            if *deadline > now {
                return true;
            }
            if let Some(client) = hub.get(*id) {
                debug!("conn-{id}: close handshake timed out");
                client.outbound.shutdown(Shutdown::Both);
            }
            false
        });
    }

    /// RFC 6455 §7.4.1 1001: "an endpoint is going away, such as a server going down".
    fn shut_down(mut self) {
        info!("shutting down: closing {} connections with 1001", self.hub.clients().count());
        for client in self.hub.clients() {
            client.outbound.close(1001, "server shutting down", false);
        }
        if self.bus.is_shared() {
            // Our users are gone for the other instances now, not after FORGET_AFTER.
            self.bus.announce(&[]);
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // Wait for close frames to go out and for clients to answer (their readers then leave).
        while !self.hub.is_empty() && Instant::now() < deadline {
            match self.events.recv_timeout(RETRY_TICK) {
                Ok(Event::Left { id }) => {
                    self.hub.leave(id);
                }
                Ok(Event::Joined { client, .. }) => {
                    client.outbound.close(1001, "server shutting down", true);
                    self.hub.join(client);
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for client in self.hub.clients() {
                client.outbound.flush();
            }
        }
        for client in self.hub.clients() {
            client.outbound.shutdown(Shutdown::Both);
        }
        self.bus.flush();
    }
}

/// The most names for which every change sends the whole users list to everyone.
pub const USERS_BROADCAST_LIMIT: usize = 100;
/// Events handled in one round at most.
pub const MAX_BATCH: usize = 1024;
/// How often sockets with a backlog are retried.
const RETRY_TICK: Duration = Duration::from_millis(2);
/// How often presence is maintained (silent instances forgotten, announcements repeated).
const PRESENCE_TICK: Duration = Duration::from_secs(1);
/// How long the broadcaster sleeps when nothing is pending.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long a client we closed may take to take its close frame and answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for clients to answer the 1001 close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
