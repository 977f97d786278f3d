//! The consumer: one thread that numbers messages and delivers every event to every client.
//!
//! # Ownership
//! The broadcaster alone owns the [`Hub`] (who is connected) and the [`History`], so neither needs a
//! lock and there is exactly one order of events: the order in which they leave the channel. Reader
//! threads only *send* [`Event`]s through the [`Inbox`](crate::chat::inbox::Inbox); they never
//! touch another client. Of the bus it knows only [`Announce`], where it tells other instances who
//! is online here; it holds no way into its own inbox, so when every sender is gone (and no
//! [`Event::Shutdown`] came) it shuts down too.
//!
//! # One round
//! 1. Wait for an event, or for a client's retry request, or the retry tick while some socket has
//!    a backlog.
//! 2. Take every other event already waiting (`try_iter`), up to [`MAX_BATCH`]: under load a round
//!    carries many messages, at low load just one, so latency stays minimal either way.
//! 3. Encode each outgoing event to a frame once ([`frame::text`]) and note who gets it.
//! 4. Give each client all of its frames of the round in one [`Outbound::send`]: one lock and, in the
//!    common case, one system call per client per round, however many messages the round holds.
//! 5. Sockets that did not take everything asked for a retry themselves (whoever sent to them:
//!    this thread, a reader's pong or error event, the Kafka callback); they are retried every
//!    [`RETRY_TICK`] until drained. A client whose backlog passes `SEND_BUFFER_BYTES` was closed
//!    with 1013 by its `Outbound`, and if it still has not taken its close frame after
//!    [`CLOSE_TIMEOUT`] its socket is shut down, which ends its reader.
//!
//! [`Outbound::send`]: crate::ws::outbound::Outbound::send

use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, select};
use log::{debug, info};
use tungstenite::Bytes;

use crate::chat::history::{History, Resume};
use crate::chat::hub::{Client, Hub};
use crate::chat::inbox::{Event, Mailbox};
use crate::chat::presence::{Announce, Presence};
use crate::chat::protocol::{Chat, ServerEvent, timestamp};
use crate::chat::room::RoomName;
use crate::metrics::Metrics;
use crate::ws::frame;
use crate::ws::outbound::Sent;

/// The broadcaster's state.
pub struct Broadcaster {
    mailbox: Mailbox,
    hub: Hub,
    history: History,
    metrics: Arc<Metrics>,
    /// The other instances (Kafka), if there can be any.
    others: Option<Arc<dyn Announce>>,
    presence: Presence,
    /// When presence is next checked for silent instances and due announcements.
    presence_due: Instant,
    /// Clients with bytes the kernel has not taken yet (each asked for its retry).
    backlog: HashSet<u64>,
    /// Clients we sent a close frame to, and when to give up on them.
    closing: HashMap<u64, Instant>,
}

/// Whether the broadcaster goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
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
    /// A broadcaster reading `mailbox`, keeping `history`, announcing presence to `others`.
    pub fn new(
        mailbox: Mailbox,
        history: History,
        metrics: Arc<Metrics>,
        others: Option<Arc<dyn Announce>>,
    ) -> Broadcaster {
        Broadcaster {
            mailbox,
            hub: Hub::default(),
            history,
            metrics,
            others,
            presence: Presence::new(),
            presence_due: Instant::now(),
            backlog: HashSet::new(),
            closing: HashMap::new(),
        }
    }

    /// Runs until [`Event::Shutdown`], or until every [`Inbox`](crate::chat::inbox::Inbox) is
    /// gone.
    pub fn run(mut self) {
        // Handles of our own on the two channels, so that `self` is free while one is read.
        let (events, retries) = (self.mailbox.events.clone(), self.mailbox.retries.clone());
        loop {
            let wait = if self.backlog.is_empty() && self.closing.is_empty() {
                IDLE_WAIT
            } else {
                RETRY_TICK
            };
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
                recv(retries) -> id => {
                    self.backlog.extend(id);
                }
                default(wait) => {}
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

    /// One round: `first` and every other event already waiting, up to [`MAX_BATCH`], delivered
    /// together.
    fn round(&mut self, first: Event, events: &Receiver<Event>) -> Flow {
        let mut round = Round::default();
        let rest = events.try_iter().take(MAX_BATCH - 1);
        let mut flow = Flow::Continue;
        for event in std::iter::once(first).chain(rest) {
            flow = self.handle(event, &mut round);
            if flow == Flow::Stop {
                break;
            }
        }
        self.deliver(&round);
        flow
    }

    fn handle(&mut self, event: Event, round: &mut Round) -> Flow {
        match event {
            Event::Joined { client } => self.join(client, round),
            Event::Subscribe { id, resume, .. } => self.replay(id, resume.as_ref(), round),
            // Rooms are not kept apart yet: one conversation, no typing, no room list.
            Event::Unsubscribe { .. } | Event::Typing { .. } | Event::ListRooms { .. } => {}
            Event::Chat { id, name, text, ts, .. } => {
                let id = match id {
                    // A record read twice (after a consumer error) is delivered once.
                    Some(id) if self.history.has_seen(id) => return Flow::Continue,
                    Some(id) => id,
                    None => self.history.next_id(),
                };
                let chat = Arc::new(Chat { id, name, text, ts });
                round.push(To::All, &ServerEvent::Message(&chat));
                self.history.push(chat);
            }
            Event::Roster { instance, rooms, at_millis } => {
                let users = rooms.into_iter().flat_map(|(_, users)| users).collect();
                self.presence.heard(instance, users, at_millis, Instant::now());
                self.refresh_presence(round);
            }
            Event::Left { id } => self.leave(id, round),
            Event::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    fn join(&mut self, client: Client, round: &mut Round) {
        round.joined_at.insert(client.id, round.frames.len());
        let name = client.name.clone();
        if self.hub.join(client) {
            self.presence.local_appeared(&name);
        }
    }

    fn replay(&mut self, id: u64, resume: Option<&Resume>, round: &mut Round) {
        let (messages, complete) = self.history.replay(resume);
        let history = ServerEvent::History {
            epoch: self.history.epoch(),
            messages: messages.into_iter().map(|c| ServerEvent::Message(c)).collect(),
            complete,
        };
        round.frames.push((To::One(id), frame::text(history.to_json())));
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
        if let Some(others) = &self.others {
            if self.presence.should_announce(Instant::now()) {
                let users = self.hub.users().iter().map(|u| u.to_string()).collect();
                others.announce(vec![(default_room(), users)]);
            }
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
            // What the socket does not take now asks for its own retry (`Outbound`).
            match client.outbound.send(frames) {
                Sent::Flushed | Sent::Pending => delivered += frames.len() as u64,
                Sent::Evicted => {
                    info!("conn-{} {}: too slow, closing with 1013", client.id, client.name);
                    self.closing.insert(client.id, Instant::now() + CLOSE_TIMEOUT);
                }
                Sent::Closed => {}
            }
        }
        self.metrics.delivered(delivered);
    }

    fn retry_backlog(&mut self) {
        self.backlog.extend(self.mailbox.retries.try_iter());
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
        if let Some(others) = &self.others {
            // Our users are gone for the other instances now, not after FORGET_AFTER.
            others.announce(Vec::new());
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // Wait for close frames to go out and for clients to answer (their readers then leave).
        while !self.hub.is_empty() && Instant::now() < deadline {
            match self.mailbox.events.recv_timeout(RETRY_TICK) {
                Ok(Event::Left { id }) => {
                    self.hub.leave(id);
                }
                Ok(Event::Joined { client }) => {
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
        if let Some(others) = &self.others {
            others.flush();
        }
    }
}

/// The one room there is until rooms are kept apart.
fn default_room() -> RoomName {
    RoomName::parse("general").expect("a valid room name")
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::history::new_epoch;
    use crate::chat::inbox::Inbox;

    fn broadcaster(mailbox: Mailbox) -> Broadcaster {
        let metrics = Arc::new(Metrics::default());
        Broadcaster::new(mailbox, History::new(10, new_epoch()), metrics, None)
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
        inbox.chat(default_room(), "a".into(), "hello".into(), "t".into()).unwrap();
        drop(inbox);
        assert!(returns_within(broadcaster, Duration::from_secs(5)), "still running");
    }

    #[test]
    fn it_stops_on_shutdown() {
        let (inbox, mailbox) = Inbox::new();
        inbox.shutdown();
        assert!(returns_within(broadcaster(mailbox), Duration::from_secs(5)));
        let late = inbox.chat(default_room(), "a".into(), "late".into(), "t".into());
        assert!(late.is_err(), "nobody reads now");
    }
}
