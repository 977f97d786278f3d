//! The accept loop and the threads it starts: one named thread per connection.
//!
//! ```text
//! listener.incoming() ──accept──▶ a handshake of its address (per_address.rs)
//!                      │          └▶ a Slot (one of max_threads) ──spawn──▶ thread conn-17: serve(tcp, 17, held)
//!                      │                                                 └─ the Slot is given back when
//!                      │                                                    the thread ends, or when
//!                      │                                                    the spawn fails
//!                      └─ none free: the handshake queue (handshake_queue.rs), whose thread starts
//!                         it as one is given back, or closes it
//! ```
//! One address may have only so many connections in their handshake at once
//! (`MAX_HANDSHAKES_PER_ADDRESS`): past that its new connections wait in the handshake queue, a
//! socket each and no thread, and past its share of the queue they are closed before any thread
//! starts, so one address cannot hold every slot and `/healthz` still answers the others. A
//! connection's handshake lasts until its first answer (or its upgrade): kept alive for more
//! requests, it gives the handshake back for a place among its address's connections (see
//! `connection.rs`). Peers in `TRUSTED_PROXIES` (nginx) are not counted here: they speak for
//! many clients.
//! This layer knows sockets and threads only; what a connection thread does (HTTP, WebSocket,
//! the chat) is the `serve` function it is given. Every thread is named (`conn-17`,
//! `broadcaster`, `signals`) so that logs and panics say who failed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use log::{debug, warn};

use crate::config::Cidr;
use crate::error::Error;
use crate::net::handshake_queue::HandshakeQueue;
use crate::net::per_address::{Held, PerAddress};

/// Who may connect: at most `max_threads` connection threads, and per address at most its
/// share of handshakes, except for the `exempt` peers.
pub struct Admit<'a> {
    /// Connection threads at most.
    pub max_threads: usize,
    /// The per-address counts.
    pub per_address: &'a Arc<PerAddress>,
    /// Peers not counted per address (`TRUSTED_PROXIES`).
    pub exempt: &'a [Cidr],
    /// Counts the connections closed for their address's handshakes.
    pub refused: &'a (dyn Fn() + Sync),
}

/// Accepts connections until `stopping` is set (then one more connection, the wake-up, ends it),
/// running `serve(tcp, id, handshake)` on a thread of its own for each, as `admit` allows;
/// `handshake` is the connection's place among its address's handshakes, to drop when the
/// handshake is over. A connection whose address has all its handshakes waits for one in the
/// [`HandshakeQueue`], whose thread starts it.
pub fn accept_loop<F>(listener: &TcpListener, admit: &Admit<'_>, stopping: &AtomicBool, serve: F)
where
    F: Fn(TcpStream, u64, Option<Held>) + Clone + Send + Sync + 'static,
{
    let starter =
        Starter { serve, slots: Slots::new(admit.max_threads), next_id: AtomicU64::new(1) };
    let queue = HandshakeQueue::default();
    thread::scope(|scope| {
        let waiting =
            thread::Builder::new().name("handshake-queue".to_string()).spawn_scoped(scope, || {
                let start = |tcp, held| starter.start(tcp, Some(held));
                let expired =
                    |tcp: TcpStream| refuse(&tcp, admit, "waited too long for a handshake");
                queue.run(admit.per_address, start, expired);
            });
        if let Err(e) = waiting {
            warn!("cannot start the handshake queue: {e}");
            queue.close();
        }
        for accepted in listener.incoming() {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let tcp = match accepted {
                Ok(tcp) => tcp,
                Err(e) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    warn!("accept failed: {e}");
                    thread::sleep(ACCEPT_BACKOFF);
                    continue;
                }
            };
            let handshake = match tcp.peer_addr() {
                Ok(peer) if Cidr::any_contains(admit.exempt, peer.ip()) => None,
                Ok(peer) => match admit.per_address.handshake(peer.ip()) {
                    Some(held) => Some(held),
                    None => {
                        if let Err(tcp) = queue.join(tcp, peer.ip()) {
                            refuse(&tcp, admit, "too many handshakes from this address");
                        }
                        continue;
                    }
                },
                Err(_) => continue, // gone already
            };
            starter.start(tcp, handshake);
        }
        queue.close();
    });
}

/// Counts and logs a connection closed for its address's handshakes (closed when dropped).
fn refuse(tcp: &TcpStream, admit: &Admit<'_>, why: &str) {
    let peer = tcp.peer_addr().map_or_else(|_| "?".to_string(), |peer| peer.to_string());
    debug!("{peer}: {why}: closed");
    (admit.refused)();
}

/// Starts connection threads: one of the [`Slots`], a number, and `serve` on a named thread.
struct Starter<F> {
    serve: F,
    slots: Slots,
    next_id: AtomicU64,
}

impl<F> Starter<F>
where
    F: Fn(TcpStream, u64, Option<Held>) + Clone + Send + 'static,
{
    /// Runs `serve(tcp, id, handshake)` on a thread of its own, when a slot is free.
    fn start(&self, tcp: TcpStream, handshake: Option<Held>) {
        let Some(slot) = self.slots.take() else {
            warn!("{} connections open: dropping a new one", self.slots.max);
            return;
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let serve = self.serve.clone();
        let spawned = spawn_with_stack(&format!("conn-{id}"), CONNECTION_STACK_BYTES, move || {
            let _slot = slot;
            serve(tcp, id, handshake);
        });
        if let Err(e) = spawned {
            warn!("cannot start a thread for connection {id}: {e}");
        }
    }
}

/// Starts a named thread with the default stack size.
pub fn spawn<F: FnOnce() + Send + 'static>(
    name: &str,
    body: F,
) -> Result<thread::JoinHandle<()>, Error> {
    spawn_with_stack(name, DEFAULT_STACK_BYTES, body)
}

/// Starts a named thread. When it cannot start, `body` is dropped unrun (and with it whatever
/// it owns, such as a [`Slot`]).
fn spawn_with_stack<F: FnOnce() + Send + 'static>(
    name: &str,
    stack: usize,
    body: F,
) -> Result<thread::JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.to_string())
        .stack_size(stack)
        .spawn(body)
        .map_err(|source| Error::Io { context: "starting a thread", source })
}

/// Where a process on this machine connects to reach a server listening on `local`: the address
/// itself, or loopback (of the same family) when the server listens on all addresses. Used to
/// wake our own accept loop, and by `websocketchat healthcheck`.
pub fn reachable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// A bounded count of connection threads.
#[derive(Debug, Clone)]
struct Slots {
    live: Arc<AtomicUsize>,
    max: usize,
}

/// One connection thread's place in [`Slots`], given back when dropped: however the thread
/// ends, and also when it never started.
#[derive(Debug)]
struct Slot(Arc<AtomicUsize>);

impl Slots {
    fn new(max: usize) -> Slots {
        Slots { live: Arc::new(AtomicUsize::new(0)), max }
    }

    /// A free slot, if fewer than `max` are taken.
    fn take(&self) -> Option<Slot> {
        let max = self.max;
        self.live
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1))
            .ok()
            .map(|_| Slot(self.live.clone()))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Stack reserved per connection thread. Only the pages a thread touches cost memory; this bounds
/// the address space, and leaves room for the TLS handshake, the deepest call chain we have.
pub const CONNECTION_STACK_BYTES: usize = 256 * 1024;
/// Stack of the other threads (the broadcaster, signals, Kafka): Rust's own default.
const DEFAULT_STACK_BYTES: usize = 2 * 1024 * 1024;
/// How long the loop waits after a failed `accept` (usually: out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_cannot_start_gives_its_slot_back() {
        let slots = Slots::new(1);
        let slot = slots.take().expect("one free slot");
        // No machine maps a stack of 2^60 bytes: the spawn fails, as when threads run out.
        let failed = spawn_with_stack("doomed", 1 << 60, move || drop(slot));
        assert!(failed.is_err());
        assert!(slots.take().is_some(), "the failed spawn still holds the only slot");
    }

    #[test]
    fn slots_are_bounded_and_come_back_when_threads_end() {
        let slots = Slots::new(2);
        let (a, b) = (slots.take().unwrap(), slots.take().unwrap());
        assert!(slots.take().is_none());
        spawn("ends", move || drop(a)).unwrap().join().unwrap();
        assert!(slots.take().is_some());
        drop(b);
    }
}
