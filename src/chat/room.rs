//! Rooms: how many a server holds, and which Kafka partition carries a room.
//!
//! A room's name is a [`RoomName`] (1 to 32 characters of `a-z 0-9 - _`), defined with the
//! configuration in `config/room_name.rs`, since `DEFAULT_ROOM` is one.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub use crate::config::RoomName;
use crate::net::per_address::PerAddress;

/// The partition of a topic with `partitions` partitions that carries `room`'s records:
/// FNV-1a (32-bit) of the name's bytes, modulo the count. Every instance and every version must
/// agree on it, so it is spelled out here rather than taken from a library whose hash may change:
/// start from 2166136261, and for each byte XOR it in and multiply by 16777619 (wrapping).
/// `general` (hash `0x24b9216b`) with 8 partitions is partition 3.
pub fn partition(room: &str, partitions: u32) -> u32 {
    let hash = room.bytes().fold(FNV_OFFSET, |h, b| (h ^ u32::from(b)).wrapping_mul(FNV_PRIME));
    hash % partitions.max(1)
}

/// How many connections are in each room on this instance, counted by the connection threads as
/// they enter and leave: `MAX_ROOMS` is enforced here, before the broadcaster hears of a new room,
/// so a refused subscription is answered on the spot. The lock is taken on entering and leaving
/// a room, never per message.
///
/// A room is counted against the address of the connection that made it
/// (`MAX_ROOMS_PER_ADDRESS`, see `net/per_address.rs`) until its last member leaves, so one
/// address cannot fill the room table.
#[derive(Debug)]
pub struct Admission {
    max_rooms: usize,
    members: Mutex<HashMap<RoomName, Members>>,
    per_address: Arc<PerAddress>,
}

#[derive(Debug)]
struct Members {
    count: usize,
    /// The address that made the room (none for the default room, which is always there).
    made_by: Option<IpAddr>,
}

/// Why a connection may not make a new room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `MAX_ROOMS` rooms have members.
    Full,
    /// Its address made `MAX_ROOMS_PER_ADDRESS` rooms that still have members.
    AddressFull,
}

impl Admission {
    /// Admits at most `max_rooms` rooms with members, and per address the rooms `per_address`
    /// allows.
    pub fn new(max_rooms: usize, per_address: Arc<PerAddress>) -> Admission {
        Admission { max_rooms, members: Mutex::new(HashMap::new()), per_address }
    }

    /// One more connection, from `client`, in `room`; refused (and nothing counted) when it
    /// would be a new room past a limit. `always` admits it anyway (the default room).
    pub fn enter(&self, room: &RoomName, always: bool, client: IpAddr) -> Result<(), Refused> {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        let full = members.len() >= self.max_rooms;
        match members.get_mut(room) {
            Some(members) => members.count += 1,
            None if always => {
                members.insert(room.clone(), Members { count: 1, made_by: None });
            }
            None if full => return Err(Refused::Full),
            None if !self.per_address.new_room(client) => return Err(Refused::AddressFull),
            None => {
                members.insert(room.clone(), Members { count: 1, made_by: Some(client) });
            }
        }
        Ok(())
    }

    /// One connection fewer in `room`.
    pub fn leave(&self, room: &RoomName) {
        let mut members = self.members.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = members.get_mut(room) {
            count.count -= 1;
            if count.count == 0 {
                let made_by = members.remove(room).and_then(|gone| gone.made_by);
                drop(members);
                if let Some(client) = made_by {
                    self.per_address.room_gone(client);
                }
            }
        }
    }
}

const FNV_OFFSET: u32 = 2_166_136_261;
const FNV_PRIME: u32 = 16_777_619;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::per_address::AddressLimits;

    #[test]
    fn admission_counts_rooms_with_members() {
        let limits = AddressLimits {
            handshakes: 1,
            sockets: 1,
            sessions_per_min: 1,
            rooms: 2,
            unanswered_per_min: 1,
        };
        let admission = Admission::new(3, PerAddress::new(limits));
        let (one, two): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|n| RoomName::parse(n).unwrap());
        assert!(admission.enter(&a, false, one).is_ok() && admission.enter(&a, false, two).is_ok());
        assert!(admission.enter(&b, false, one).is_ok());
        assert_eq!(admission.enter(&c, false, one), Err(Refused::AddressFull), "a third of one's");
        assert!(admission.enter(&c, false, two).is_ok(), "another address may");
        assert_eq!(admission.enter(&d, false, two), Err(Refused::Full), "a fourth room");
        assert!(admission.enter(&a, false, one).is_ok(), "an existing room is never refused");
        assert!(admission.enter(&d, true, one).is_ok(), "the default room is");
        admission.leave(&d);
        admission.leave(&b);
        assert!(admission.enter(&d, false, one).is_ok(), "b emptied, and one made one room fewer");
    }

    #[test]
    fn the_partition_hash_is_fnv1a_and_stable() {
        // Reference values of 32-bit FNV-1a; a change here moves rooms between partitions.
        let fnv = |s: &str| partition(s, u32::MAX);
        assert_eq!(fnv(""), 2_166_136_261);
        assert_eq!(fnv("a"), 0xe40c_292c);
        assert_eq!(fnv("foobar"), 0xbf9c_f968);
        assert_eq!(fnv("general"), 0x24b9_216b);
        assert_eq!(partition("general", 8), 3);
        assert_eq!(partition("rust", 8), 7);
        assert_eq!(partition("anything", 1), 0);
        assert_eq!(partition("anything", 0), 0, "no partitions counts as one");
    }
}
