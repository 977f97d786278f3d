//! Connections that wait for one of their address's handshakes: a socket each, no thread.
//!
//! ```text
//! accept ─▶ handshake(ip)? ─yes─▶ start its thread now
//!                          └─no──▶ HandshakeQueue::join ─full─▶ closed at once
//!                                        │ (≤ QUEUE_LENGTH, a quarter of it per address)
//!                                        ▼
//!           thread handshake-queue: as a handshake of the address is given back, start the
//!           next connection of that address; one that waited QUEUE_PATIENCE is closed
//! ```
//! `MAX_HANDSHAKES_PER_ADDRESS` bounds the threads one address has in their handshake. A
//! browser opens up to six connections to a host at once, so a few browsers behind one address
//! (an office's NAT) opening the page at the same moment go past it for a few milliseconds,
//! until the first handshakes are done: closed at once, a module of the page would fail to load.
//! In the queue they wait those milliseconds instead, as a load balancer's queue lets a burst
//! wait rather than refusing it. What a waiting connection holds is a file descriptor and its
//! place in the queue, no thread and no CPU: its TLS handshake has not begun (the ClientHello
//! waits in the kernel's buffer). One address may have a quarter of the queue; past that, or
//! after [`QUEUE_PATIENCE`], it is closed as before.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::HANDSHAKE_HEADROOM;
use crate::net::per_address::{self, Held, PerAddress};

/// The connections waiting for a handshake, oldest first.
#[derive(Debug, Default)]
pub struct HandshakeQueue {
    state: Mutex<State>,
    /// Signalled when a connection joins, or the queue closes.
    joined: Condvar,
}

#[derive(Debug, Default)]
struct State {
    waiting: VecDeque<Waiting>,
    /// How many of `waiting` each address has (by `per_address::key`).
    per_address: HashMap<IpAddr, usize>,
    closed: bool,
}

#[derive(Debug)]
struct Waiting {
    tcp: TcpStream,
    ip: IpAddr,
    since: Instant,
}

/// What one pass over the queue found.
#[derive(Debug, Default)]
pub struct Turn {
    /// Connections whose address now has a handshake free, with it: start them.
    pub ready: Vec<(TcpStream, Held)>,
    /// Connections that waited [`QUEUE_PATIENCE`] (closed when dropped).
    pub expired: Vec<TcpStream>,
}

impl HandshakeQueue {
    /// Puts `tcp`, from `ip`, in the queue. `Err` gives it back when the queue is full, or its
    /// address has its share of it, or the queue is closed.
    pub fn join(&self, tcp: TcpStream, ip: IpAddr) -> Result<(), TcpStream> {
        let mut state = self.lock();
        let key = per_address::key(ip);
        let mine = state.per_address.get(&key).copied().unwrap_or(0);
        if state.closed || state.waiting.len() >= QUEUE_LENGTH || mine >= QUEUE_LENGTH / 4 {
            return Err(tcp);
        }
        *state.per_address.entry(key).or_default() += 1;
        state.waiting.push_back(Waiting { tcp, ip, since: Instant::now() });
        self.joined.notify_one();
        Ok(())
    }

    /// The queue's thread: hands each connection to `start` once its address has a handshake
    /// free, and to `expired` once it waited too long, until [`HandshakeQueue::close`].
    pub fn run(
        &self,
        per_address: &Arc<PerAddress>,
        start: impl Fn(TcpStream, Held),
        expired: impl Fn(TcpStream),
    ) {
        loop {
            let Some(turn) = self.turn(per_address, Instant::now()) else { return };
            let moved = !turn.ready.is_empty();
            turn.expired.into_iter().for_each(&expired);
            turn.ready.into_iter().for_each(|(tcp, held)| start(tcp, held));
            if moved {
                continue;
            }
            let state = self.lock();
            if state.waiting.is_empty() {
                // Nothing waits: sleep until someone joins.
                let idle = |state: &mut State| state.waiting.is_empty() && !state.closed;
                drop(self.joined.wait_timeout_while(state, IDLE_WAKE, idle));
            } else {
                // Someone waits: until a handshake is given back (or a poll, for a give-back
                // between the pass and this wait, and for the patience to run out).
                drop(state);
                per_address.wait_for_a_handshake(POLL);
            }
        }
    }

    /// One pass, oldest first: which connections may start, which waited too long. `None` once
    /// closed.
    pub fn turn(&self, per_address: &Arc<PerAddress>, now: Instant) -> Option<Turn> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let mut turn = Turn::default();
        let mut still = VecDeque::with_capacity(state.waiting.len());
        while let Some(waiting) = state.waiting.pop_front() {
            if now.saturating_duration_since(waiting.since) >= QUEUE_PATIENCE {
                leave(&mut state.per_address, waiting.ip);
                turn.expired.push(waiting.tcp);
            } else if let Some(held) = per_address.handshake(waiting.ip) {
                leave(&mut state.per_address, waiting.ip);
                turn.ready.push((waiting.tcp, held));
            } else {
                still.push_back(waiting);
            }
        }
        state.waiting = still;
        Some(turn)
    }

    /// Closes the queue: the waiting connections are closed, and [`HandshakeQueue::run`] returns.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.waiting.clear();
        state.per_address.clear();
        self.joined.notify_all();
    }

    /// Connections waiting now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().waiting.len()
    }

    /// True when nobody waits.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One connection of `ip`'s address leaves the queue.
fn leave(per_address: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    let key = per_address::key(ip);
    if let Some(n) = per_address.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            per_address.remove(&key);
        }
    }
}

/// Connections the queue holds at most: as many as the handshakes the server takes on top of
/// `MAX_CONNECTIONS`; a quarter of them per address.
pub const QUEUE_LENGTH: usize = HANDSHAKE_HEADROOM;
/// How long a connection waits for a handshake before it is closed. A browser's burst waits
/// milliseconds; only an address whose handshakes are held by slow clients waits this long.
pub const QUEUE_PATIENCE: Duration = Duration::from_secs(5);
/// How often the queue looks again while connections wait, at the latest.
const POLL: Duration = Duration::from_millis(20);
/// How often an empty queue wakes, at the latest.
const IDLE_WAKE: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::per_address::AddressLimits;
    use std::net::TcpListener;

    fn limits(handshakes: u32) -> AddressLimits {
        AddressLimits {
            handshakes,
            sockets: 8,
            sessions_per_min: 60,
            rooms: 8,
            unanswered_per_min: 60,
        }
    }

    /// A connected socket (its peer is dropped: only the descriptor matters here).
    fn socket(listener: &TcpListener) -> TcpStream {
        TcpStream::connect(listener.local_addr().unwrap()).unwrap()
    }

    #[test]
    fn a_connection_starts_when_its_address_has_a_handshake_free_oldest_first() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let table = PerAddress::new(limits(1));
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let busy = table.handshake(a).unwrap();
        let queue = HandshakeQueue::default();
        let now = Instant::now();
        queue.join(socket(&listener), a).unwrap();
        queue.join(socket(&listener), a).unwrap();
        queue.join(socket(&listener), b).unwrap();
        let turn = queue.turn(&table, now).unwrap();
        assert_eq!((turn.ready.len(), turn.expired.len(), queue.len()), (1, 0, 2), "b's starts");
        drop(busy);
        let turn = queue.turn(&table, now).unwrap();
        assert_eq!((turn.ready.len(), queue.len()), (1, 1), "then one of a's");
        let late = queue.turn(&table, Instant::now() + QUEUE_PATIENCE).unwrap();
        assert_eq!((late.ready.len(), late.expired.len(), queue.len()), (0, 1, 0), "expired");
        queue.close();
        assert!(queue.turn(&table, now).is_none());
        assert!(queue.join(socket(&listener), a).is_err(), "closed");
    }

    #[test]
    fn one_address_may_take_a_quarter_of_the_queue() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let queue = HandshakeQueue::default();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..QUEUE_LENGTH / 4 {
            queue.join(socket(&listener), a).unwrap();
        }
        assert!(queue.join(socket(&listener), a).is_err(), "a quarter is a's share");
        assert!(queue.join(socket(&listener), b).is_ok(), "b still gets in");
    }
}
