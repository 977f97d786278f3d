//! Changes to messages (edits, deletions, reactions), replies, and read markers.
//!
//! A change is checked here, against the history this thread owns (`chat/amend.rs`: the
//! author, the target, the edit window, the reactions), then takes the road of a message: in a
//! room, numbered by its history and journaled (`rooms.rs`), or published to the room's
//! partition (Kafka); in a private conversation, the road of a private message (`private.rs`).
//! A refusal is an error event to the connection that asked, naming the room (or the person)
//! and the target; a change that would change nothing (a reaction given twice, the same text)
//! makes no entry and no event. With Kafka that last judgement is not made here: this
//! instance's history may not hold yet the asker's own changes still on their way back from
//! the broker (a reaction given, then taken back at once, would find it not given yet and be
//! dropped), so the change is published, and folding makes a repeat a no-op everywhere.
//!
//! A read marker is the session's own: it moves forward only, stops at the conversation's
//! last id, is journaled (or sent to the other instances) and told to the session's *other*
//! connections, never to anyone else.

use std::time::SystemTime;

use super::Broadcaster;
use super::moderation::notice;
use super::round::Round;
use crate::chat::amend::{self, Amend, Conversation, Refused, Verdict};
use crate::chat::entry::{Action, Body};
use crate::chat::hub::Slot;
use crate::chat::identity::{Pair, ReadAt};
use crate::chat::inbox::{Said, Source};
use crate::chat::journal::{Entry, Thread};
use crate::chat::post::Origin;
use crate::chat::protocol::{Chat, NO_SUCH_USER, Place, ServerEvent};

impl Broadcaster {
    /// A change (or a reply) from a connection here: checked, then numbered or published.
    pub(super) fn amend(&mut self, amend: Amend, round: &mut Round) {
        let Amend { conn, to, body, ts } = amend;
        let Some(slot) = self.hub.slot(conn) else { return };
        let client = self.hub.client(slot).expect("connected");
        let (user, name) = (client.user, client.name.clone());
        let now = SystemTime::now();
        let window = self.limits.edit_window;
        match to {
            Conversation::Room(room) => {
                let history = self.hub.room(&room).map(|r| &r.history);
                match amend::check(history, user, &body, now, window) {
                    Err(refused) => {
                        self.refuse_change(round, slot, refused, Some(&room), None, &body)
                    }
                    Ok(Verdict::Nothing) if self.others.is_none() => {}
                    Ok(_) => {
                        // An operator's deletion of someone else's message is also a notice
                        // to the room (`moderation.rs`), after the deletion.
                        let removed = match (&body, history) {
                            (Body::Delete { target }, Some(history)) => history
                                .message(*target)
                                .filter(|(message, _)| message.user != user)
                                .map(|(message, _)| (*target, message.user, message.name.clone())),
                            _ => None,
                        };
                        // Numbered here, or published to Kafka (`rooms.rs`).
                        let said = Said { user, name, body: Box::new(body), ts };
                        self.chat(Source::Here { conn }, room.clone(), said, round);
                        if let Some((target, author, author_name)) = removed {
                            let mut notice =
                                notice(Action::Delete, author, &author_name, String::new(), None);
                            notice.target = Some(target);
                            self.notify(conn, notice, vec![room], round);
                        }
                    }
                }
            }
            Conversation::With(with) => {
                let Some(peer) = self.identities.holder(&with) else {
                    let nobody = Refused { code: "no_such_user", message: NO_SUCH_USER };
                    return self.refuse_change(round, slot, nobody, None, Some(&with), &body);
                };
                let history = self.identities.existing(Pair::new(user, peer));
                match amend::check(history, user, &body, now, window) {
                    Err(refused) => {
                        self.refuse_change(round, slot, refused, None, Some(&with), &body)
                    }
                    Ok(Verdict::Nothing) if self.others.is_none() => {}
                    Ok(_) => {
                        let to = self.identities.name(peer).unwrap_or(&with).to_string();
                        let place = Place::Direct { to, to_user: peer };
                        let chat = Chat { place, id: 0, user, name, ts, body };
                        match &self.others {
                            Some(others) => {
                                let sender =
                                    self.hub.client(slot).expect("connected").outbound.clone();
                                others.direct(&chat, Origin::Connection(sender));
                            }
                            None => self.deliver_direct(Source::Here { conn }, chat, round),
                        }
                    }
                }
            }
        }
    }

    /// Connection `conn`'s session has read up to `id` at `at`.
    pub(super) fn read(&mut self, conn: u64, at: Conversation, id: u64, round: &mut Round) {
        let Some(slot) = self.hub.slot(conn) else { return };
        let user = self.hub.client(slot).expect("connected").user;
        let (marker, last) = match &at {
            Conversation::Room(room) => {
                let last = self.hub.room(room).map(|r| r.history.last_id());
                (ReadAt::Room(room.clone()), last)
            }
            Conversation::With(with) => {
                let Some(peer) = self.identities.holder(with) else {
                    return self.no_such_user(round, slot, with);
                };
                let last = self.identities.existing(Pair::new(user, peer)).map(|h| h.last_id());
                (ReadAt::Peer(peer), last)
            }
        };
        let Some(last) = last else { return };
        let id = id.min(last);
        if !self.identities.mark_read_up_to(user, marker.clone(), id) {
            return;
        }
        let thread = match &marker {
            ReadAt::Room(room) => Thread::Room(room.clone()),
            ReadAt::Peer(peer) => Thread::Direct(Pair::new(user, *peer)),
        };
        self.durability.write(Entry::Read { user, thread, id });
        if let Some(others) = &self.others {
            others.read(user, &marker, id, conn);
        }
        self.tell_read(round, user, &marker, id, Some(slot));
    }

    /// A read marker from the reads topic (Kafka): session `user` has read up to `id` at `at`,
    /// on some instance. Applied like every instance's, forward only; when it moved, the
    /// session's connections here are told, but the one that moved it (`from`, when it is
    /// here), which knows. A marker this instance moved itself does not move again: nobody is
    /// told twice.
    pub(super) fn read_record(
        &mut self,
        user: crate::chat::session::UserId,
        at: ReadAt,
        id: u64,
        from: Option<u64>,
        round: &mut Round,
    ) {
        if !self.identities.mark_read_up_to(user, at.clone(), id) {
            return;
        }
        let except = from.and_then(|conn| self.hub.slot(conn));
        self.tell_read(round, user, &at, id, except);
    }

    /// Tells every connection here of session `user` but `except` that it read up to `id`.
    pub(super) fn tell_read(
        &self,
        round: &mut Round,
        user: crate::chat::session::UserId,
        at: &ReadAt,
        id: u64,
        except: Option<Slot>,
    ) {
        let slots: Vec<Slot> =
            self.hub.slots_of(user).iter().copied().filter(|s| Some(*s) != except).collect();
        if slots.is_empty() {
            return;
        }
        let event = match at {
            ReadAt::Room(room) => {
                ServerEvent::Read { room: Some(room.as_str()), dm: None, user: None, id }
            }
            ReadAt::Peer(peer) => {
                let dm = self.identities.name(*peer);
                ServerEvent::Read { room: None, dm, user: Some(*peer), id }
            }
        };
        let index = round.frame(&event);
        for slot in slots {
            round.add(slot, index);
        }
    }

    /// Tells the connection in `slot` why its change was refused.
    fn refuse_change(
        &self,
        round: &mut Round,
        slot: Slot,
        refused: Refused,
        room: Option<&crate::chat::room::RoomName>,
        to: Option<&str>,
        body: &Body,
    ) {
        let id = match body {
            Body::Message { reply_to, .. } => *reply_to,
            other => other.target(),
        };
        let event = ServerEvent::Error {
            code: refused.code,
            message: refused.message,
            room: room.map(|r| r.as_str()),
            to,
            name: None,
            id,
        };
        self.tell(round, slot, &event);
    }
}
