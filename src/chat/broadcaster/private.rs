//! Private messages: one session writes to whoever holds a nickname, and every connection of
//! both sessions gets it; the two sessions' conversation keeps a history of its own.
//!
//! A message is numbered by its conversation's history here; with a bus it is published
//! first and comes back numbered, as [`Event::DirectRecord`], on every instance, so each
//! instance delivers it to the connections it has. A conversation is made by its first
//! message (asking for one that does not exist makes nothing), and counts unread for a
//! recipient with no connection. What a session may still start is asked first
//! (`chat/allowance.rs`).
//!
//! [`Event::DirectRecord`]: crate::chat::inbox::Event::DirectRecord

use std::sync::Arc;

use super::Broadcaster;
use super::round::Round;
use crate::chat::allowance::{self, Refusal};
use crate::chat::history::Resume;
use crate::chat::hub::Slot;
use crate::chat::identity::{Pair, ReadAt};
use crate::chat::inbox::Source;
use crate::chat::post::Origin;
use crate::chat::protocol::{Body, Chat, NO_SUCH_USER, Place, ServerEvent};

impl Broadcaster {
    /// The private conversation of client `id` with whoever holds `with`: its history (after
    /// `resume`), and it is read now. A conversation that does not exist yet is not made.
    pub(super) fn subscribe_direct(
        &mut self,
        id: u64,
        with: &str,
        resume: Option<Resume>,
        round: &mut Round,
    ) {
        // A history sent must hold only what is durable: what this round wrote goes first.
        self.commit(round);
        let Some(slot) = self.hub.slot(id) else { return };
        let user = self.hub.client(slot).expect("connected").user;
        let Some(peer) = self.identities.holder(with) else {
            return self.no_such_user(round, slot, with);
        };
        let pair = Pair::new(user, peer);
        let key = pair.key();
        let empty;
        let history = match self.identities.existing(pair) {
            Some(history) => history,
            None => {
                empty = self.hub.epochs().history(&key, 0);
                &empty
            }
        };
        let (messages, complete) = history.page(resume.as_ref());
        let event = ServerEvent::History {
            room: None,
            dm: self.identities.name(peer),
            user: Some(peer),
            epoch: history.epoch(),
            messages,
            complete,
            read: self.identities.read_marker(user, &ReadAt::Peer(peer)),
        };
        self.tell(round, slot, &event);
        self.identities.mark_read(user, peer);
    }

    /// A private message from client `from` to whoever holds `to`: numbered here, or (with a
    /// bus) published, to come back numbered as [`Event::DirectRecord`] on every instance.
    ///
    /// [`Event::DirectRecord`]: crate::chat::inbox::Event::DirectRecord
    pub(super) fn direct_from(
        &mut self,
        from: u64,
        to: &str,
        text: String,
        ts: String,
        round: &mut Round,
    ) {
        let Some(slot) = self.hub.slot(from) else { return };
        let Some(to_user) = self.identities.holder(to) else {
            return self.no_such_user(round, slot, to);
        };
        let client = self.hub.client(slot).expect("connected");
        let (user, limits) = (client.user, &self.limits);
        let sender = (user, client.address);
        let (per_address, most) = (&limits.per_address, limits.max_conversations);
        let allowed =
            allowance::private_message(&self.identities, per_address, most, sender, to_user);
        if let Err(Refusal { code, message, reason }) = allowed {
            self.metrics.limited(reason);
            let event = ServerEvent::Error {
                code,
                message,
                room: None,
                to: Some(to),
                name: None,
                id: None,
            };
            return self.tell(round, slot, &event);
        }
        let to = self.identities.name(to_user).unwrap_or(to).to_string();
        let name = client.name.clone();
        let (place, body) = (Place::Direct { to, to_user }, Body::text(text));
        let chat = Chat { place, id: 0, user, name, ts, body };
        match &self.others {
            Some(others) => others.direct(&chat, Origin::Connection(client.outbound.clone())),
            None => self.deliver_direct(Source::Here { conn: from }, chat, round),
        }
    }

    /// Stores a private message in its conversation and gives it to every connection here of
    /// both sessions; counts it unread for a recipient with none.
    pub(super) fn deliver_direct(&mut self, from: Source, mut chat: Chat, round: &mut Round) {
        let Place::Direct { to_user, .. } = chat.place else { return };
        self.identities.mark_used(chat.user);
        self.identities.mark_used(to_user);
        if chat.body.is_message() {
            self.identities.note_written(chat.user, to_user);
        }
        let pair = Pair::new(chat.user, to_user);
        let hub = &self.hub;
        let history = self.identities.conversation(pair, || hub.new_history(&pair.key()));
        chat.id = match from {
            Source::Bus { id } if history.has_seen(id) => return,
            Source::Bus { id } => id,
            Source::Here { .. } => history.next_id(),
        };
        let chat = Arc::new(chat);
        let index = round.frame(&ServerEvent::Entry(&chat));
        match self.durability.journals(from) {
            Some(conn) => self.durability.write_message(history, chat.clone(), index, conn),
            None => history.push(chat.clone()),
        }
        for &slot in self.hub.slots_of(chat.user) {
            round.add(slot, index);
        }
        if to_user != chat.user {
            for &slot in self.hub.slots_of(to_user) {
                round.add(slot, index);
            }
        }
        if chat.body.is_message() && !self.identities.is_online(to_user) {
            self.identities.note_unread(to_user, chat.user);
        }
    }

    /// Tells the connection in `slot` that nobody holds the nickname `to`.
    pub(super) fn no_such_user(&self, round: &mut Round, slot: Slot, to: &str) {
        let event = ServerEvent::Error {
            code: "no_such_user",
            message: NO_SUCH_USER,
            room: None,
            to: Some(to),
            name: None,
            id: None,
        };
        self.tell(round, slot, &event);
    }
}
