//! Rooms: a client enters one (and gets its history and its users), leaves it, says something
//! in it, types in it, or asks which rooms have members.
//!
//! A room message said here is numbered by its room's history (one thread numbers, so ids
//! never collide); one the bus carried comes numbered by its offset, and is delivered once even
//! if the bus hands it over twice. With a journal, a message goes out only once it is durable
//! (`durability.rs`), and a history sent holds only what is durable.

use std::sync::Arc;

use super::Broadcaster;
use super::round::{Except, Round};
use crate::chat::entry::Body;
use crate::chat::history::Resume;
use crate::chat::hub::Entered;
use crate::chat::identity::ReadAt;
use crate::chat::inbox::{Said, Source};
use crate::chat::post::Origin;
use crate::chat::presence::now_millis;
use crate::chat::protocol::{Chat, MAX_LISTED_ROOMS, Place, RoomCount, ServerEvent};
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

impl Broadcaster {
    /// Client `id` enters `room` (or asks for its history again, after `resume`): it gets the
    /// history, and the users unless the whole room was just sent them.
    pub(super) fn subscribe(
        &mut self,
        id: u64,
        room: RoomName,
        resume: Option<Resume>,
        round: &mut Round,
    ) {
        // A history sent must hold only what is durable: what this round wrote goes first.
        self.commit(round);
        let Some((slot, entered)) = self.hub.subscribe(id, &room) else { return };
        let history = &self.hub.room(&room).expect("it has a member").history;
        let user = self.hub.client(slot).expect("just subscribed").user;
        let read = self.identities.read_marker(user, &ReadAt::Room(room.clone()));
        let history = history.room_event(room.as_str(), resume.as_ref(), read);
        self.tell(round, slot, &history);
        if entered == Entered::New(true) {
            let name = self.hub.client(slot).expect("just subscribed").name.clone();
            self.presence.local_appeared(&room, &name);
        }
        if !self.refresh_presence(round).contains(&room) {
            // The room was not sent the list, but the newcomer needs it.
            let users = self.users_event(&room);
            self.tell(round, slot, &users);
        }
    }

    /// Client `id` leaves `room`.
    pub(super) fn unsubscribe(&mut self, id: u64, room: &RoomName, round: &mut Round) {
        let Some(slot) = self.hub.slot(id) else { return };
        if self.hub.unsubscribe(slot, room) == Some(true) {
            let name = self.hub.client(slot).map(|c| c.name.clone()).unwrap_or_default();
            self.presence.local_gone(room, &name);
        }
        self.refresh_presence(round);
    }

    /// A message in `room`: numbered (here, or by the bus), kept in the room's history, and
    /// given to every member.
    pub(super) fn chat(&mut self, from: Source, room: RoomName, said: Said, round: &mut Round) {
        // A muted session says nothing in the room, but may delete what it said
        // (`moderation.rs`).
        if let Source::Here { conn } = from
            && !matches!(*said.body, Body::Delete { .. })
            && let Some(mute) = self.moderation.mutes.of(&room, said.user, now_millis)
        {
            let Some(slot) = self.hub.slot(conn) else { return };
            let about = match &*said.body {
                Body::Message { reply_to, .. } => *reply_to,
                change => change.target(),
            };
            let why = mute.why();
            let event = ServerEvent::Error {
                code: "muted",
                message: &why,
                room: Some(room.as_str()),
                to: None,
                name: None,
                id: about,
            };
            return self.tell(round, slot, &event);
        }
        // With Kafka, a message said here is published, and comes back numbered by its offset
        // as `Source::Bus`, on every instance, this one too.
        if let (Source::Here { conn }, Some(others)) = (from, &self.others) {
            if let Some(client) = self.hub.slot(conn).and_then(|slot| self.hub.client(slot)) {
                others.publish(&room, said, Origin::Connection(client.outbound.clone()));
            }
            return;
        }
        let history = &mut self.hub.room_mut(&room).history;
        let id = match from {
            // A record read twice (after a consumer error) is delivered once.
            Source::Bus { id } if history.has_seen(id) => return,
            Source::Bus { id } => id,
            Source::Here { .. } => history.next_id(),
        };
        // A mute's notice from the bus puts the mute in force here at the notice's place in the
        // room's order, before anyone here sees it; not one read back at start (`moderation.rs`).
        if let (Source::Bus { .. }, Body::Moderation(notice)) = (from, &*said.body)
            && !self.metrics.is_reading_back()
        {
            self.moderation.noticed(&room, notice, &said.name);
        }
        let Said { user, name, body, ts } = said;
        self.identities.mark_used(user);
        let (place, body) = (Place::Room(room.clone()), *body);
        let chat = Arc::new(Chat { place, id, user, name, ts, body });
        let Some(conn) = self.durability.journals(from) else {
            history.push(chat.clone());
            self.to_room(round, &room, &ServerEvent::Entry(&chat), Except::Nobody);
            return;
        };
        let frame = round.frame(&ServerEvent::Entry(&chat));
        self.durability.write_message(history, chat, frame, conn);
        self.to_room_frame(round, &room, frame, Except::Nobody);
    }

    /// Someone (on connection `from`, when it is here) is typing in `room`: the others there
    /// are told.
    pub(super) fn typing(
        &mut self,
        room: &RoomName,
        user: UserId,
        name: &str,
        from: Option<u64>,
        round: &mut Round,
    ) {
        let except = from.and_then(|id| self.hub.slot(id));
        let op = crate::chat::operators::is_operator(user);
        let typing = ServerEvent::Typing { room: room.as_str(), name, user, op };
        let except = except.map_or(Except::Nobody, Except::Slot);
        self.to_room(round, room, &typing, except);
    }

    /// Client `id` asks which rooms have members (on any instance): the busiest ones.
    pub(super) fn list_rooms(&mut self, id: u64, round: &mut Round) {
        let busiest = self.presence.busiest(MAX_LISTED_ROOMS);
        let rooms = busiest
            .into_iter()
            .map(|(room, users)| RoomCount { room: room.as_str(), users })
            .collect();
        let index = round.frame(&ServerEvent::Rooms { rooms });
        if let Some(slot) = self.hub.slot(id) {
            round.add(slot, index);
        }
    }
}
