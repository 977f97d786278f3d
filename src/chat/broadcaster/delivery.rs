//! Delivery: each client gets all of its frames of a round in one [`Outbound::send`], slow
//! sockets are retried, clients that fell too far behind are closed, and at shutdown everyone.
//!
//! One `send` per client per round means one lock and, in the common case, one system call,
//! however many messages the round holds. What the kernel does not take stays in the client's
//! `Outbound`, which asks for a write itself, as does a queue another thread put frames in (a
//! reader's error event or keepalive ping, the inspector, the Kafka callback); such sockets are
//! written at once, then every [`RETRY_TICK`] until drained. A client whose backlog passes `SEND_BUFFER_BYTES` is closed with 1013 by its
//! `Outbound`; if it still has not taken its close frame after [`CLOSE_TIMEOUT`], its socket
//! is shut down, which ends its reader.
//!
//! [`Outbound::send`]: crate::ws::outbound::Outbound::send

use std::collections::{HashMap, HashSet};
use std::net::Shutdown;
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use log::{debug, info};

use super::Broadcaster;
use super::round::Round;
use crate::chat::inbox::Event;
use crate::ws::outbound::Sent;

/// The clients delivery is not done with after a round: those with bytes the kernel has not
/// taken yet, and those sent a close frame that have not answered.
#[derive(Debug, Default)]
pub(super) struct SlowClients {
    /// Clients with a backlog (each asked for its retry).
    backlog: HashSet<u64>,
    /// Clients we sent a close frame to, and when to give up on them.
    pub(super) closing: HashMap<u64, Instant>,
}

impl SlowClients {
    /// True when no socket needs a retry or a deadline watched.
    pub(super) fn is_empty(&self) -> bool {
        self.backlog.is_empty() && self.closing.is_empty()
    }

    /// Client `id` (if any) asked for a retry.
    pub(super) fn retry(&mut self, id: Option<u64>) {
        self.backlog.extend(id);
    }

    /// Client `id` was sent a close frame: it is shut down if it has not taken it within
    /// [`CLOSE_TIMEOUT`].
    pub(super) fn watch_close(&mut self, id: u64) {
        self.closing.insert(id, Instant::now() + CLOSE_TIMEOUT);
    }

    /// Client `id` is gone.
    pub(super) fn forget(&mut self, id: u64) {
        self.backlog.remove(&id);
        self.closing.remove(&id);
    }
}

impl Broadcaster {
    /// Gives every client its frames of the round, one `send` per client.
    pub(super) fn deliver(&mut self, round: &mut Round) {
        let mut delivered = 0u64;
        let (hub, slow) = (&self.hub, &mut self.slow);
        let terms = |slot| hub.client(slot).and_then(|client| client.outbound.deflate());
        round.drain(self.limits.compression, terms, |slot, frames| {
            let Some(client) = hub.client(slot) else { return };
            // What the socket does not take now asks for its own retry (`Outbound`).
            match client.outbound.send(frames) {
                Sent::Flushed | Sent::Pending => delivered += frames.len() as u64,
                Sent::Evicted => {
                    info!("conn-{} {}: too slow, closing with 1013", client.id, client.name);
                    slow.watch_close(client.id);
                }
                Sent::Closed => {}
            }
        });
        self.metrics.delivered(delivered);
    }

    /// Tries again to write the backlogs of the sockets that asked; keeps those still pending.
    pub(super) fn retry_backlog(&mut self) {
        let backlog = &mut self.slow.backlog;
        backlog.extend(self.mailbox.write_requests.try_iter());
        let hub = &self.hub;
        backlog.retain(|id| {
            hub.get(*id).is_some_and(|client| client.outbound.flush() == Sent::Pending)
        });
    }

    /// Shuts down sockets that have not completed the close handshake in time.
    pub(super) fn expire_closing(&mut self) {
        let now = Instant::now();
        let hub = &self.hub;
        self.slow.closing.retain(|id, deadline| {
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

    /// The wire inspector's count of skipped frames, due even when no frame comes.
    pub(super) fn tick_inspectors(&self) {
        for client in self.hub.clients() {
            client.outbound.tap_tick();
        }
    }

    /// RFC 6455 §7.4.1 1001: "an endpoint is going away, such as a server going down".
    pub(super) fn shut_down(mut self) {
        info!("shutting down: closing {} connections with 1001", self.hub.clients().count());
        for client in self.hub.clients() {
            client.outbound.close(1001, "server shutting down", false);
        }
        if let Some(others) = &self.others {
            // Our users are gone for the other instances now, not after FORGET_AFTER.
            others.announce(Vec::new(), Vec::new());
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // Wait for close frames to go out and for clients to answer (their readers then leave).
        while !self.hub.is_empty() && Instant::now() < deadline {
            match self.mailbox.events.recv_timeout(RETRY_TICK) {
                Ok(Event::Left { id }) => {
                    self.hub.close(id);
                }
                Ok(Event::Joined(arrival)) => {
                    // Its thread, waiting to be settled, hears that nobody will and ends.
                    arrival.client.outbound.close(1001, "server shutting down", true);
                    self.hub.open(arrival.client);
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

/// How often sockets with a backlog are retried.
pub(super) const RETRY_TICK: Duration = Duration::from_millis(2);
/// How long a client we closed may take to take its close frame and answer.
pub(super) const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for clients to answer the 1001 close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
