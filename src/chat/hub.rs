//! Who is connected and which rooms they are in, owned by the broadcaster thread alone (so it needs
//! no lock), with each room's history.
//!
//! # Layout
//! Clients live in *slots*: a vector whose entries keep their place for the client's whole life
//! (a freed slot is reused by a later client). A room's members are a vector of slot numbers, so
//! delivering to a room reads one array and then each member's [`Outbound`], and a round can note
//! "frames for slot 17" in a plain vector indexed by slot. Each client also lists its rooms with
//! its position in each room's member vector: leaving swaps the room's last member into the hole
//! and fixes that member's position, so entering and leaving a room cost O(rooms of one client),
//! never a walk over the room.
//!
//! A room is created by its first member or its first message, and keeps its history after its
//! last member leaves (until the instance restarts). Of those empty rooms, the
//! [`Hub::new`]`(…, keep_empty)` most recently emptied are kept; older ones are forgotten, so
//! somebody creating rooms by the thousand cannot grow the memory without bound.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use crate::chat::history::{Epochs, History};
use crate::chat::identity::NameTag;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::ws::outbound::Outbound;

/// A connected chat client, as the broadcaster sees it.
#[derive(Debug)]
pub struct Client {
    /// The connection number (also in the reader thread's name, `conn-<id>`).
    pub id: u64,
    /// Its session's public id.
    pub user: UserId,
    /// The nickname.
    pub name: String,
    /// Where its frames go.
    pub outbound: Arc<Outbound>,
    /// The nickname as its own thread reads it.
    pub tag: Arc<NameTag>,
    /// Its address, as the per-address limits count it.
    pub address: std::net::IpAddr,
}

/// A client's place in the hub: a slot number, stable while it is connected.
pub type Slot = u32;

#[derive(Debug)]
struct Entry {
    client: Client,
    /// The rooms it is in, each with its position in the room's `members`.
    rooms: Vec<(RoomName, usize)>,
}

/// A room: its members here, their nicknames, and its history.
#[derive(Debug)]
pub struct Room {
    members: Vec<Slot>,
    /// How many of the members use each nickname.
    names: BTreeMap<String, usize>,
    /// The room's recent messages.
    pub history: History,
    /// Counts the times it became empty: an entry of [`Hub`]'s `emptied` queue with an older
    /// count is stale.
    emptied: u64,
}

impl Room {
    /// The members' slots.
    pub fn members(&self) -> &[Slot] {
        &self.members
    }

    /// The nicknames of the members here, sorted, each once.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }
}

/// What entering a room changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entered {
    /// The client was in the room already.
    Already,
    /// It entered; `true` when its nickname had no connection in the room before.
    New(bool),
}

/// The clients and the rooms.
#[derive(Debug)]
pub struct Hub {
    slots: Vec<Option<Entry>>,
    free: Vec<Slot>,
    by_id: HashMap<u64, Slot>,
    /// Each session's connections here.
    by_user: HashMap<UserId, Vec<Slot>>,
    rooms: HashMap<RoomName, Room>,
    /// Rooms that lost their last member, oldest first, with the room's `emptied` count then
    /// (some may have members again, or have emptied again since).
    emptied: VecDeque<(RoomName, u64)>,
    /// How many rooms are empty.
    empty_rooms: usize,
    epochs: Epochs,
    history_size: usize,
    keep_empty: usize,
    /// The highest id any forgotten room had given. Without a bus, a room made from now on
    /// starts above it, so that a room forgotten and made again never gives an id twice in its
    /// epoch (with Kafka, ids are offsets, which never go back).
    ids_above: u64,
}

impl Hub {
    /// An empty hub; rooms take their ids from `epochs` and keep `history_size` messages; at most
    /// `keep_empty` rooms without members are kept.
    pub fn new(epochs: Epochs, history_size: usize, keep_empty: usize) -> Hub {
        Hub {
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            by_user: HashMap::new(),
            rooms: HashMap::new(),
            emptied: VecDeque::new(),
            empty_rooms: 0,
            epochs,
            history_size,
            keep_empty,
            ids_above: 0,
        }
    }

    /// The highest id any forgotten room gave (see `ids_above`), for the journal.
    pub fn ids_above(&self) -> u64 {
        self.ids_above
    }

    /// Rooms made from now on start above `id` (read back from the journal).
    pub fn start_ids_above(&mut self, id: u64) {
        self.ids_above = self.ids_above.max(id);
    }

    /// Adds a client, in no room yet; returns its slot.
    pub fn open(&mut self, client: Client) -> Slot {
        debug_assert!(!self.by_id.contains_key(&client.id), "connection ids are unique");
        let (id, user) = (client.id, client.user);
        let entry = Some(Entry { client, rooms: Vec::new() });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as Slot
            }
        };
        self.by_id.insert(id, slot);
        self.by_user.entry(user).or_default().push(slot);
        slot
    }

    /// Removes a client from every room and from the hub. Returns it, and each room it was in
    /// with whether that was its nickname's last connection there.
    pub fn close(&mut self, id: u64) -> Option<(Client, Vec<(RoomName, bool)>)> {
        let slot = self.by_id.remove(&id)?;
        let rooms: Vec<RoomName> = self.entry(slot)?.rooms.iter().map(|(r, _)| r.clone()).collect();
        let left = rooms
            .into_iter()
            .filter_map(|room| self.unsubscribe(slot, &room).map(|gone| (room, gone)))
            .collect();
        let entry = self.slots[slot as usize].take()?;
        self.free.push(slot);
        let user = entry.client.user;
        if let Some(slots) = self.by_user.get_mut(&user) {
            slots.retain(|&s| s != slot);
            if slots.is_empty() {
                self.by_user.remove(&user);
            }
        }
        Some((entry.client, left))
    }

    /// The sessions with a connection here (what a roster lists).
    pub fn sessions(&self) -> Vec<UserId> {
        self.by_user.keys().copied().collect()
    }

    /// The slots of `user`'s connections here.
    pub fn slots_of(&self, user: UserId) -> &[Slot] {
        self.by_user.get(&user).map_or(&[], Vec::as_slice)
    }

    /// Gives every connection of `user` the nickname `name`; returns the rooms they are in.
    pub fn rename(&mut self, user: UserId, name: &str) -> Vec<RoomName> {
        let mut rooms: Vec<RoomName> = Vec::new();
        let slots = self.by_user.get(&user).cloned().unwrap_or_default();
        for slot in slots {
            let Some(entry) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
                continue;
            };
            let old = std::mem::replace(&mut entry.client.name, name.to_string());
            entry.client.tag.set(name);
            for (room, _) in &entry.rooms {
                let Some(target) = self.rooms.get_mut(room) else { continue };
                if let Some(count) = target.names.get_mut(&old) {
                    *count -= 1;
                    if *count == 0 {
                        target.names.remove(&old);
                    }
                }
                *target.names.entry(name.to_string()).or_insert(0) += 1;
                if !rooms.contains(room) {
                    rooms.push(room.clone());
                }
            }
        }
        rooms
    }

    /// An empty history for the conversation or room with this key (see [`Epochs::history`]).
    pub fn new_history(&self, key: &str) -> History {
        self.epochs.history(key, self.history_size)
    }

    /// Where rooms and conversations take their ids from.
    pub fn epochs(&self) -> &Epochs {
        &self.epochs
    }

    /// Puts client `id` in `room`, creating the room if needed.
    pub fn subscribe(&mut self, id: u64, room: &RoomName) -> Option<(Slot, Entered)> {
        let slot = *self.by_id.get(&id)?;
        let entry = self.slots[slot as usize].as_mut()?;
        if entry.rooms.iter().any(|(r, _)| r == room) {
            return Some((slot, Entered::Already));
        }
        let name = entry.client.name.clone();
        let target = self.room_mut(room);
        if target.members.is_empty() {
            self.empty_rooms -= 1;
        }
        let target = self.rooms.get_mut(room).expect("made above");
        let position = target.members.len();
        target.members.push(slot);
        let count = target.names.entry(name).or_insert(0);
        *count += 1;
        let appeared = *count == 1;
        if let Some(entry) = self.slots[slot as usize].as_mut() {
            entry.rooms.push((room.clone(), position));
        }
        Some((slot, Entered::New(appeared)))
    }

    /// Takes the client in `slot` out of `room`; `Some(true)` when that was its nickname's last
    /// connection there, `None` when it was not in the room.
    pub fn unsubscribe(&mut self, slot: Slot, room: &RoomName) -> Option<bool> {
        let entry = self.slots.get_mut(slot as usize)?.as_mut()?;
        let at = entry.rooms.iter().position(|(r, _)| r == room)?;
        let (_, position) = entry.rooms.swap_remove(at);
        let name = entry.client.name.clone();
        let target = self.rooms.get_mut(room)?;
        target.members.swap_remove(position);
        // The room's last member took the hole: fix its note of where it is.
        if let Some(&moved) = target.members.get(position) {
            let moved = self.slots[moved as usize].as_mut().expect("members are connected");
            let note = moved.rooms.iter_mut().find(|(r, _)| r == room).expect("it is a member");
            note.1 = position;
        }
        let count = target.names.get_mut(&name).expect("every member's name is counted");
        *count -= 1;
        let gone = *count == 0;
        if gone {
            target.names.remove(&name);
        }
        if target.members.is_empty() {
            target.emptied += 1;
            self.emptied.push_back((room.clone(), target.emptied));
            self.empty_rooms += 1;
            self.forget_old_empty_rooms();
        }
        Some(gone)
    }

    /// The slot of client `id`.
    pub fn slot(&self, id: u64) -> Option<Slot> {
        self.by_id.get(&id).copied()
    }

    /// The client in `slot`.
    pub fn client(&self, slot: Slot) -> Option<&Client> {
        self.entry(slot).map(|e| &e.client)
    }

    /// The rooms the client in `slot` is in.
    pub fn rooms_of(&self, slot: Slot) -> Vec<RoomName> {
        self.entry(slot)
            .map(|e| e.rooms.iter().map(|(r, _)| r.clone()).collect())
            .unwrap_or_default()
    }

    /// A client by id.
    pub fn get(&self, id: u64) -> Option<&Client> {
        self.client(self.slot(id)?)
    }

    /// Every client.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.slots.iter().flatten().map(|e| &e.client)
    }

    /// A room, if it exists.
    pub fn room(&self, room: &RoomName) -> Option<&Room> {
        self.rooms.get(room)
    }

    /// A room, created (empty, with an empty history) if it does not exist.
    pub fn room_mut(&mut self, room: &RoomName) -> &mut Room {
        if !self.rooms.contains_key(room) {
            let mut history = self.epochs.history(room.as_str(), self.history_size);
            if self.ids_above > 0 && self.epochs.counted_here() {
                // Ids up to `ids_above` may have been this room's before it was forgotten.
                history.restart(self.ids_above + 1, self.ids_above);
            }
            // A room starts empty (its first member, if any, enters right after).
            let new = Room { members: Vec::new(), names: BTreeMap::new(), history, emptied: 1 };
            self.rooms.insert(room.clone(), new);
            self.emptied.push_back((room.clone(), 1));
            self.empty_rooms += 1;
            self.forget_old_empty_rooms();
        }
        self.rooms.get_mut(room).expect("just made")
    }

    /// A room's history, if the room exists.
    pub fn history_mut(&mut self, room: &RoomName) -> Option<&mut History> {
        self.rooms.get_mut(room).map(|r| &mut r.history)
    }

    /// Every room with its history.
    pub fn histories(&self) -> impl Iterator<Item = (&RoomName, &History)> {
        self.rooms.iter().map(|(name, room)| (name, &room.history))
    }

    /// The rooms with members here, each with their nicknames: what this instance announces.
    pub fn rosters(&self) -> Vec<(RoomName, Vec<String>)> {
        let occupied = self.rooms.iter().filter(|(_, r)| !r.members.is_empty());
        occupied.map(|(name, r)| (name.clone(), r.names().map(String::from).collect())).collect()
    }

    /// True when nobody is connected.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    fn entry(&self, slot: Slot) -> Option<&Entry> {
        self.slots.get(slot as usize)?.as_ref()
    }

    /// Forgets the longest-empty rooms beyond `keep_empty` (never the one just queued).
    fn forget_old_empty_rooms(&mut self) {
        while self.empty_rooms > self.keep_empty.max(1) {
            let Some((oldest, count)) = self.emptied.pop_front() else { break };
            let stale =
                self.rooms.get(&oldest).is_none_or(|r| !r.members.is_empty() || r.emptied != count);
            if !stale && let Some(gone) = self.rooms.remove(&oldest) {
                self.ids_above = self.ids_above.max(gone.history.span().1);
                self.empty_rooms -= 1;
            }
        }
        // Entries of rooms that have members again pile up only until they reach the front.
        if self.emptied.len() > 4 * self.keep_empty.max(1) + 64 {
            let rooms = &self.rooms;
            self.emptied.retain(|(r, count)| {
                rooms.get(r).is_some_and(|r| r.members.is_empty() && r.emptied == *count)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};

    use super::*;
    use crate::metrics::Metrics;

    fn client(id: u64, name: &str, socket: &TcpStream) -> Client {
        let socket = socket.try_clone().unwrap();
        let outbound = Outbound::new(socket, None, 1024, Arc::new(Metrics::default()), None);
        let (user, tag) = (crate::chat::session::Session::new().unwrap().user_id(), Arc::default());
        let address = std::net::IpAddr::from([127, 0, 0, 1]);
        Client { id, user, name: name.to_string(), outbound: Arc::new(outbound), tag, address }
    }

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn hub() -> Hub {
        Hub::new(Epochs::single("e".into()), 10, 2)
    }

    fn members(hub: &Hub, name: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = hub
            .room(&room(name))
            .map(|r| r.members().iter().map(|&s| hub.client(s).unwrap().id).collect())
            .unwrap_or_default();
        ids.sort();
        ids
    }

    #[test]
    fn members_stay_reachable_as_others_come_and_go() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let mut hub = hub();
        let (general, rust) = (room("general"), room("rust"));
        for id in 1..=5 {
            let name = if id % 2 == 0 { "even" } else { "odd" };
            hub.open(client(id, name, &socket));
            let (_, entered) = hub.subscribe(id, &general).unwrap();
            assert_eq!(entered, Entered::New(id <= 2));
            if id >= 3 {
                hub.subscribe(id, &rust).unwrap();
            }
        }
        assert_eq!(hub.subscribe(3, &rust).unwrap().1, Entered::Already);
        // Removing from the middle moves the last member into the hole.
        let (gone, left) = hub.close(3).unwrap();
        assert_eq!(gone.id, 3);
        assert_eq!(left, vec![(general.clone(), false), (rust.clone(), false)], "5 is odd too");
        assert!(hub.close(3).is_none());
        assert_eq!(members(&hub, "general"), [1, 2, 4, 5]);
        assert_eq!(members(&hub, "rust"), [4, 5]);
        assert_eq!(hub.unsubscribe(hub.slot(4).unwrap(), &rust), Some(true));
        assert_eq!(hub.unsubscribe(hub.slot(4).unwrap(), &rust), None);
        assert_eq!(members(&hub, "rust"), [5]);
        // A new client takes a freed slot.
        let slot = hub.open(client(6, "six", &socket));
        assert_eq!(hub.client(slot).unwrap().id, 6);
        assert_eq!(slot, 2, "the slot client 3 had, the first freed");
        for id in [1, 2, 4, 5, 6] {
            hub.close(id).unwrap();
        }
        assert!(hub.is_empty());
        assert!(hub.rosters().is_empty());
    }

    #[test]
    fn empty_rooms_keep_their_history_but_not_forever() {
        let mut hub = hub();
        for name in ["a", "b", "c"] {
            hub.room_mut(&room(name));
        }
        // keep_empty is 2: the oldest empty room is forgotten.
        assert!(hub.room(&room("a")).is_none());
        assert!(hub.room(&room("b")).is_some() && hub.room(&room("c")).is_some());
    }

    #[test]
    fn a_room_forgotten_and_made_again_starts_above_every_id_it_gave() {
        use crate::chat::protocol::{Chat, Place};
        let mut hub = hub();
        for id in 1..=7 {
            let place = Place::Room(room("a"));
            let (name, body, ts) = ("n".into(), crate::chat::entry::Body::text("t"), "t".into());
            let chat = Chat { place, id, user: UserId::NOBODY, name, ts, body };
            hub.room_mut(&room("a")).history.push(Arc::new(chat));
        }
        hub.room_mut(&room("b"));
        hub.room_mut(&room("c")); // keep_empty is 2: `a` is forgotten
        assert!(hub.room(&room("a")).is_none());
        assert_eq!(hub.ids_above(), 7);
        let again = &hub.room_mut(&room("a")).history;
        assert_eq!(again.next_id(), 8, "no id of the old `a` is given again");
        let resume = crate::chat::history::Resume { since: 5, epoch: Some("e".into()) };
        assert!(!again.replay(Some(&resume)).1, "a resume from the old `a` is incomplete");
        // With Kafka, ids are offsets: a room starts where its partition says.
        let mut kafka = Hub::new(
            Epochs::partitions(vec![crate::chat::history::Start {
                epoch: "e".into(),
                first_id: 1,
            }]),
            10,
            2,
        );
        kafka.start_ids_above(7);
        assert_eq!(kafka.room_mut(&room("d")).history.next_id(), 1);
    }
}
