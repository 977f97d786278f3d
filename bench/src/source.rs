//! Where each client connects from: a loopback source address of its own.
//!
//! The server limits what one client address may take (open WebSockets, connections in their
//! handshake at once, new sessions a minute, rooms created: docs/security.md), and the
//! benchmark measures the server as it ships, with those limits at their defaults. A thousand
//! clients from 127.0.0.1 would be one address far past them, so the clients are spread over
//! 127.0.0.2, 127.0.0.3, …: all of 127.0.0.0/8 is loopback, and a socket bound to any of those
//! addresses before `connect` reaches a server listening on 127.0.0.1.
//!
//! Client i binds to address `i mod A`, A the fewest addresses that keep each to
//! `--per-address` clients (16 by default). Round robin rather than blocks, so that the clients
//! opened at the same moment come from different addresses (few handshakes at once on any one);
//! and with `--rooms N`, A is a multiple of N, so that all the clients of an address are in one
//! room (client i's room is `i mod N`) and an address creates one room at most. Every client
//! starts a new session (it presents none), so 16 clients an address are 16 new sessions an
//! address in a run, against defaults of 64 open WebSockets, 16 handshakes at once and 30 new
//! sessions a minute per address. The scripts start a fresh server for every run; two runs
//! against the same server within a minute count their sessions together.
//!
//! A `::1` URL has one loopback address only: its clients connect unbound, all from `::1`.

use std::net::Ipv4Addr;

/// The source addresses of one run's clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sources {
    /// Addresses in use, from [`FIRST`] on; 0 leaves the choice to the kernel (127.0.0.1).
    count: usize,
}

impl Sources {
    /// For `clients` clients in `rooms` rooms (0: all in the default room), at most
    /// `per_address` on an address (0: no binding, every client from 127.0.0.1).
    pub fn new(clients: usize, rooms: usize, per_address: usize) -> Sources {
        if per_address == 0 {
            return Sources { count: 0 };
        }
        let rooms = rooms.max(1);
        let needed = clients.div_ceil(per_address);
        Sources { count: (needed.div_ceil(rooms) * rooms).min(clients) }
    }

    /// How many addresses the clients come from (0: unbound).
    pub fn count(self) -> usize {
        self.count
    }

    /// The address client `i` binds to before it connects, if any.
    pub fn of(self, i: usize) -> Option<Ipv4Addr> {
        if self.count == 0 {
            return None;
        }
        let index = u32::try_from(i % self.count).expect("fewer than 2^32 clients");
        let ip = Ipv4Addr::from(u32::from(FIRST) + index);
        debug_assert!(ip.is_loopback(), "{ip} is outside 127.0.0.0/8");
        Some(ip)
    }
}

/// The first source address: 127.0.0.1 is left to the generator's own HTTP requests
/// (`/metrics`, `/healthz`) and to whatever else talks to the server.
const FIRST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

#[cfg(test)]
mod tests {
    use super::*;

    /// The clients of each address: how many, and their rooms.
    fn per_address(s: Sources, clients: usize, rooms: usize) -> Vec<(usize, Vec<usize>)> {
        let mut out = vec![(0, Vec::new()); s.count()];
        for i in 0..clients {
            let ip = u32::from(s.of(i).unwrap()) - u32::from(FIRST);
            let (n, in_rooms) = &mut out[ip as usize];
            *n += 1;
            let room = if rooms == 0 { 0 } else { i % rooms };
            if !in_rooms.contains(&room) {
                in_rooms.push(room);
            }
        }
        out
    }

    #[test]
    fn round_robin_within_the_cap() {
        let s = Sources::new(1000, 0, 16);
        assert_eq!(s.count(), 63);
        assert_eq!(s.of(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert_eq!(s.of(1), Some(Ipv4Addr::new(127, 0, 0, 3)));
        assert_eq!(s.of(63), Some(Ipv4Addr::new(127, 0, 0, 2)));
        assert!(per_address(s, 1000, 0).iter().all(|(n, _)| (15..=16).contains(n)));
    }

    #[test]
    fn one_room_per_address() {
        let s = Sources::new(1000, 100, 16);
        assert_eq!(s.count(), 100);
        assert!(per_address(s, 1000, 100).iter().all(|(n, r)| *n == 10 && r.len() == 1));
        let s = Sources::new(1000, 7, 16);
        assert_eq!(s.count(), 63);
        assert!(per_address(s, 1000, 7).iter().all(|(n, r)| *n <= 16 && r.len() == 1));
    }

    #[test]
    fn few_clients_and_no_binding() {
        assert_eq!(Sources::new(1, 0, 16).count(), 1);
        assert_eq!(Sources::new(10, 100, 16).count(), 10);
        let none = Sources::new(1000, 0, 0);
        assert_eq!((none.count(), none.of(5)), (0, None));
    }

    #[test]
    fn the_largest_run_stays_in_127_0_0_0_8() {
        let s = Sources::new(50_000, 0, 1);
        assert_eq!(s.of(49_999), Some(Ipv4Addr::new(127, 0, 195, 81)));
        let s = Sources::new(50_000, 9_999, 1);
        assert!(s.count() <= 50_000 && s.of(49_999).unwrap().is_loopback());
    }
}
