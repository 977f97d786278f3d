//! What one client address may take: its share of the server, so that one address never takes
//! what belongs to the others (slots, rooms, sessions).
//!
//! ```text
//! accept ──handshake(ip)──▶ Held (≤ MAX_HANDSHAKES_PER_ADDRESS at once; more: the socket is closed)
//! upgrade ─socket(client)─▶ Held (≤ MAX_CONNECTIONS_PER_ADDRESS open WebSockets; more: 429)
//! answer ─kept_alive(client)─▶ Held (kept for a next HTTP request: one of the same
//!                              MAX_CONNECTIONS_PER_ADDRESS, its handshake given back; more: close)
//! broadcaster ─new_session(client)─▶ ≤ NEW_SESSIONS_PER_ADDRESS_PER_MIN (more: 429, or close 1008)
//! subscribe ─new_room(client)──▶ ≤ MAX_ROOMS_PER_ADDRESS rooms it made that still have members
//! private message ─unanswered(client)─▶ ≤ UNANSWERED_PER_ADDRESS_PER_MIN to sessions that never wrote back
//! ```
//! An address is the peer's IP, or for peers in `TRUSTED_PROXIES` the last `X-Forwarded-For`
//! entry (see `http/request.rs`). IPv6 addresses count per /64: one host is usually given a whole
//! /64, and could otherwise take a new address for every connection. Counts that are held
//! ([`Held`]) are given back when dropped, however the connection ends; per-minute allowances
//! are leaky buckets that refill continuously. An address with nothing counted is forgotten, so
//! the table holds the addresses that are active now.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The limits, each already capped to its share of the server's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressLimits {
    /// Connections in their TLS or HTTP handshake at once.
    pub handshakes: u32,
    /// Open WebSockets and kept-alive HTTP connections, together.
    pub sockets: u32,
    /// New sessions a minute.
    pub sessions_per_min: u32,
    /// Rooms made by this address that still have members.
    pub rooms: u32,
    /// Private messages a minute to sessions that never wrote back.
    pub unanswered_per_min: u32,
}

/// The counts of every active address.
#[derive(Debug)]
pub struct PerAddress {
    limits: AddressLimits,
    table: Mutex<HashMap<IpAddr, Usage>>,
    /// Kept-alive HTTP connections of every address.
    kept_alive: AtomicUsize,
    /// Signalled when a handshake is given back (for the connections waiting for one).
    freed: Condvar,
}

#[derive(Debug, Default)]
struct Usage {
    handshakes: u32,
    /// WebSockets and kept-alive connections.
    sockets: u32,
    rooms: u32,
    sessions: Bucket,
    unanswered: Bucket,
}

/// A leaky bucket: each use adds one, and it drains by `per_min` a minute; a use that would
/// take it past `per_min` is refused.
#[derive(Debug, Default, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Option<Instant>,
}

/// What an address holds, given back when dropped.
#[derive(Debug)]
pub struct Held {
    table: Arc<PerAddress>,
    key: IpAddr,
    what: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Handshake,
    Socket,
    KeptAlive,
}

impl PerAddress {
    /// An empty table with these limits.
    pub fn new(limits: AddressLimits) -> Arc<PerAddress> {
        Arc::new(PerAddress {
            limits,
            table: Mutex::new(HashMap::new()),
            kept_alive: AtomicUsize::new(0),
            freed: Condvar::new(),
        })
    }

    /// The limits in force.
    pub fn limits(&self) -> AddressLimits {
        self.limits
    }

    /// A connection from `ip` starts its handshake; `None` when the address has
    /// `handshakes` in progress already.
    pub fn handshake(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        self.hold(ip, Kind::Handshake)
    }

    /// A WebSocket of `client` opens; `None` when the address has `sockets` open already.
    pub fn socket(self: &Arc<Self>, client: IpAddr) -> Option<Held> {
        self.hold(client, Kind::Socket)
    }

    /// A connection of `client` stays open for another HTTP request: one of its `sockets`, as
    /// a WebSocket is, and one of at most `max_total` kept-alive connections of the whole
    /// server. `None` when either is full (the connection then closes after its answer).
    pub fn kept_alive(self: &Arc<Self>, client: IpAddr, max_total: usize) -> Option<Held> {
        let total = &self.kept_alive;
        total.fetch_update(Relaxed, Relaxed, |n| (n < max_total).then_some(n + 1)).ok()?;
        let held = self.hold(client, Kind::KeptAlive);
        if held.is_none() {
            total.fetch_sub(1, Relaxed);
        }
        held
    }

    /// Waits until a handshake of any address is given back, or `timeout` (`handshake_queue.rs`).
    pub fn wait_for_a_handshake(&self, timeout: Duration) {
        let table = self.lock();
        drop(self.freed.wait_timeout(table, timeout));
    }

    /// Kept-alive connections open now, of every address.
    #[cfg(test)]
    pub fn kept_alive_total(&self) -> usize {
        self.kept_alive.load(Relaxed)
    }

    /// `client` makes a new session now: `Err(retry after)` when it made its allowance this
    /// minute (nothing counted then).
    pub fn new_session(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let per_min = self.limits.sessions_per_min;
        self.spend(client, now, per_min, |usage| &mut usage.sessions)
    }

    /// `client` writes privately to a session that never wrote back: `Err(retry after)` past its
    /// allowance.
    pub fn unanswered(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let per_min = self.limits.unanswered_per_min;
        self.spend(client, now, per_min, |usage| &mut usage.unanswered)
    }

    /// `client` makes a room: false when `rooms` rooms it made still have members.
    pub fn new_room(&self, client: IpAddr) -> bool {
        let mut table = self.lock();
        let usage = table.entry(key(client)).or_default();
        if usage.rooms >= self.limits.rooms {
            return false;
        }
        usage.rooms += 1;
        true
    }

    /// A room `client` made has no members any more.
    pub fn room_gone(&self, client: IpAddr) {
        let mut table = self.lock();
        let key = key(client);
        if let Some(usage) = table.get_mut(&key) {
            usage.rooms = usage.rooms.saturating_sub(1);
            forget_if_idle(&mut table, key, Instant::now(), &self.limits);
        }
    }

    /// Addresses counted now.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no address is counted.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn hold(self: &Arc<Self>, ip: IpAddr, what: Kind) -> Option<Held> {
        let key = key(ip);
        let mut table = self.lock();
        let usage = table.entry(key).or_default();
        let (count, max) = match what {
            Kind::Handshake => (&mut usage.handshakes, self.limits.handshakes),
            Kind::Socket | Kind::KeptAlive => (&mut usage.sockets, self.limits.sockets),
        };
        if *count >= max {
            forget_if_idle(&mut table, key, Instant::now(), &self.limits);
            return None;
        }
        *count += 1;
        Some(Held { table: self.clone(), key, what })
    }

    fn spend(
        &self,
        client: IpAddr,
        now: Instant,
        per_min: u32,
        bucket: impl Fn(&mut Usage) -> &mut Bucket,
    ) -> Result<(), Duration> {
        let mut table = self.lock();
        let key = key(client);
        let usage = table.entry(key).or_default();
        let spent = bucket(usage).spend(now, per_min);
        if spent.is_err() {
            forget_if_idle(&mut table, key, now, &self.limits);
        }
        prune_if_large(&mut table, now, &self.limits);
        spent
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Usage>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut table = self.table.lock();
        if let Some(usage) = table.get_mut(&self.key) {
            let count = match self.what {
                Kind::Handshake => &mut usage.handshakes,
                Kind::Socket | Kind::KeptAlive => &mut usage.sockets,
            };
            *count = count.saturating_sub(1);
            forget_if_idle(&mut table, self.key, Instant::now(), &self.table.limits);
        }
        match self.what {
            Kind::Handshake => self.table.freed.notify_all(),
            Kind::KeptAlive => {
                self.table.kept_alive.fetch_sub(1, Relaxed);
            }
            Kind::Socket => {}
        }
    }
}

impl Bucket {
    /// The level now, after draining since the last use.
    fn drained(&self, now: Instant, per_min: u32) -> f64 {
        let Some(at) = self.at else { return 0.0 };
        let drained = now.saturating_duration_since(at).as_secs_f64() * f64::from(per_min) / 60.0;
        (self.level - drained).max(0.0)
    }

    fn check(&self, now: Instant, per_min: u32) -> Result<(), Duration> {
        let level = self.drained(now, per_min);
        let over = level + 1.0 - f64::from(per_min);
        if over <= 0.0 {
            return Ok(());
        }
        // Long enough for the bucket to drain by `over`.
        Err(Duration::from_secs_f64(over * 60.0 / f64::from(per_min.max(1))))
    }

    fn spend(&mut self, now: Instant, per_min: u32) -> Result<(), Duration> {
        self.check(now, per_min)?;
        self.level = self.drained(now, per_min) + 1.0;
        self.at = Some(now);
        Ok(())
    }

    fn is_empty(&self, now: Instant, per_min: u32) -> bool {
        self.drained(now, per_min) <= 0.0
    }
}

impl Usage {
    fn is_idle(&self, now: Instant, limits: &AddressLimits) -> bool {
        self.handshakes == 0
            && self.sockets == 0
            && self.rooms == 0
            && self.sessions.is_empty(now, limits.sessions_per_min)
            && self.unanswered.is_empty(now, limits.unanswered_per_min)
    }
}

/// Removes `key` when nothing is counted for it.
fn forget_if_idle(
    table: &mut HashMap<IpAddr, Usage>,
    key: IpAddr,
    now: Instant,
    limits: &AddressLimits,
) {
    if table.get(&key).is_some_and(|usage| usage.is_idle(now, limits)) {
        table.remove(&key);
    }
}

/// Buckets drain with time, not on an event: past [`PRUNE_ABOVE`] addresses, the idle ones are
/// dropped whenever the table has doubled since the last pass, so the work stays linear.
fn prune_if_large(table: &mut HashMap<IpAddr, Usage>, now: Instant, limits: &AddressLimits) {
    if table.len() > PRUNE_ABOVE && table.len().is_power_of_two() {
        table.retain(|_, usage| !usage.is_idle(now, limits));
    }
}

/// The address limits count by: an IPv4 address itself (also when written IPv4-mapped), an
/// IPv6 address by its /64.
pub fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Addresses kept before idle ones are pruned.
const PRUNE_ABOVE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> AddressLimits {
        AddressLimits {
            handshakes: 2,
            sockets: 2,
            sessions_per_min: 3,
            rooms: 1,
            unanswered_per_min: 60,
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn held_counts_are_bounded_per_address_and_come_back_when_dropped() {
        let table = PerAddress::new(limits());
        let (a, b) = (ip("127.0.0.2"), ip("127.0.0.3"));
        let first = table.socket(a).unwrap();
        let _second = table.socket(a).unwrap();
        assert!(table.socket(a).is_none(), "a third from one address");
        assert!(table.socket(b).is_some(), "another address is not affected");
        drop(first);
        assert!(table.socket(a).is_some());
        let _h = (table.handshake(a).unwrap(), table.handshake(a).unwrap());
        assert!(table.handshake(a).is_none(), "handshakes count apart from sockets");
    }

    #[test]
    fn a_kept_alive_connection_is_one_of_its_addresss_connections_and_of_the_total() {
        let table = PerAddress::new(limits());
        let (a, b, c) = (ip("127.0.0.2"), ip("127.0.0.3"), ip("127.0.0.4"));
        let kept = table.kept_alive(a, 10).unwrap();
        let _socket = table.socket(a).unwrap();
        assert!(table.kept_alive(a, 10).is_none(), "two connections: all the address may hold");
        assert!(table.socket(a).is_none());
        assert_eq!(table.kept_alive_total(), 1, "a refusal counts nothing");
        let _b = table.kept_alive(b, 2).unwrap();
        assert!(table.kept_alive(c, 2).is_none(), "the whole server's total");
        drop(kept);
        assert_eq!(table.kept_alive_total(), 1);
        assert!(table.kept_alive(c, 2).is_some());
    }

    #[test]
    fn an_address_with_nothing_held_is_forgotten() {
        let table = PerAddress::new(limits());
        drop(table.socket(ip("10.0.0.1")).unwrap());
        assert!(table.is_empty());
        assert!(table.new_room(ip("10.0.0.1")));
        assert!(!table.new_room(ip("10.0.0.1")), "one room each");
        table.room_gone(ip("10.0.0.1"));
        assert!(table.is_empty());
    }

    #[test]
    fn sessions_drain_at_their_rate_per_minute() {
        let table = PerAddress::new(limits());
        let (a, t0) = (ip("127.0.0.2"), Instant::now());
        for _ in 0..3 {
            table.new_session(a, t0).unwrap();
        }
        let wait = table.new_session(a, t0).unwrap_err();
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        assert!(table.new_session(ip("127.0.0.3"), t0).is_ok());
        // One use drains in 20 s at 3 a minute.
        assert!(table.new_session(a, t0 + Duration::from_secs(21)).is_ok());
        assert!(table.new_session(a, t0 + Duration::from_secs(21)).is_err());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key(ip("2001:db8:1:2:aaaa::1")), key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(key(ip("2001:db8:1:2::1")), key(ip("2001:db8:1:3::1")));
        assert_eq!(key(ip("::ffff:127.0.0.2")), ip("127.0.0.2"));
        let table = PerAddress::new(limits());
        let _held = (table.socket(ip("2001:db8::1")).unwrap(), table.socket(ip("2001:db8::2")));
        assert!(table.socket(ip("2001:db8::3")).is_none(), "one /64 is one address");
    }
}
