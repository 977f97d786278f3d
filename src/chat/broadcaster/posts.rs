//! The HTTP API's requests (`chat/api.rs`): a bot's post, and a script's history page.
//!
//! A post takes the road of a message said here, with the bot as its sender: to a room
//! (`rooms.rs`, [`Broadcaster::chat`]), a reply checked first against the room's history like
//! a WebSocket client's (`amend.rs`, the path of `changes.rs`), or privately to a nickname
//! (`private.rs`, [`Broadcaster::deliver_direct`]). It is numbered in the room's one order and,
//! with a journal, written tentatively like any message. The difference is the answer: the API
//! waits on the post's channel, so the broadcaster answers once the message is durable (after
//! the round's commit, `durability.rs`: `201`, or `503 not_delivered` when the store refused),
//! or at once without a journal (the history is in memory only). A refusal (`not_found`,
//! `no_such_user`) is answered at once and nothing is numbered.
//!
//! With Kafka a post is published like a message said here (checked first alike), and its
//! answer travels with it (`post.rs`, [`Origin::Post`]): the producer answers `201` with the
//! offset the broker gave the record, which is its id on every instance, once the broker
//! acknowledged it (`acks=all`), or `503 not_delivered`. Every instance shows it, marked
//! `"bot":true` where its `API_TOKENS` name the bot (give every instance the same).
//!
//! A page is the `history` event a subscriber gets (after the round's commit, so that it holds
//! only what is durable), for a room that exists here; for one that does not, an empty page of
//! the epoch its ids would have.

use std::time::SystemTime;

use super::Broadcaster;
use super::round::Round;
use crate::chat::amend;
use crate::chat::bots::Bots;
use crate::chat::entry::Body;
use crate::chat::identity::Pair;
use crate::chat::inbox::{Said, Source};
use crate::chat::post::{Origin, PageRequest, Post, PostTo, Posted, Refused, Waiting};
use crate::chat::protocol::{Chat, NO_SUCH_USER, Place};

impl Broadcaster {
    /// A bot's post: checked, numbered, and answered once durable.
    pub(super) fn post(&mut self, post: Post, round: &mut Round) {
        let Post { user, name, to, text, ts, answer } = post;
        let from = Source::Here { conn: NO_CONNECTION };
        let posted = match to {
            PostTo::Room { room, reply_to } => {
                let body = Body::Message { text, reply_to };
                let history = self.hub.room(&room).map(|r| &r.history);
                let (now, window) = (SystemTime::now(), self.limits.edit_window);
                if let Err(no) = amend::check(history, user, &body, now, window) {
                    let _ = answer.send(Err(refused(400, no.code, no.message)));
                    return;
                }
                let said = Said { user, name, body: Box::new(body), ts };
                if let Some(others) = &self.others {
                    let epoch = self.hub.epochs().of(room.as_str()).epoch.clone();
                    let posted = Posted { id: 0, room: Some(room.clone()), to: None, epoch };
                    return others.publish(&room, said, Origin::Post(Waiting { answer, posted }));
                }
                self.chat(from, room.clone(), said, round);
                let history = &self.hub.room(&room).expect("just said in").history;
                let (id, epoch) = (history.last_id(), history.epoch().to_string());
                Posted { id, room: Some(room), to: None, epoch }
            }
            PostTo::Person(to) => {
                let Some(to_user) = self.identities.holder(&to) else {
                    let _ = answer.send(Err(refused(400, "no_such_user", NO_SUCH_USER)));
                    return;
                };
                let to = self.identities.name(to_user).unwrap_or(&to).to_string();
                let place = Place::Direct { to: to.clone(), to_user };
                let chat = Chat { place, id: 0, user, name, ts, body: Body::text(text) };
                if let Some(others) = &self.others {
                    let key = Pair::new(user, to_user).key();
                    let epoch = self.hub.epochs().of(&key).epoch.clone();
                    let posted = Posted { id: 0, room: None, to: Some(to), epoch };
                    return others.direct(&chat, Origin::Post(Waiting { answer, posted }));
                }
                self.deliver_direct(from, chat, round);
                let history = self.identities.existing(Pair::new(user, to_user));
                let history = history.expect("made by the message");
                let (id, epoch) = (history.last_id(), history.epoch().to_string());
                Posted { id, room: None, to: Some(to), epoch }
            }
        };
        self.durability.answer_when_durable(answer, posted);
    }

    /// Holds the bots' names for the server's life (`identity/bots.rs`).
    pub fn reserve_bots(&mut self, bots: &Bots) {
        for (user, name) in bots.names() {
            self.identities.reserve_bot(user, name);
        }
    }

    /// A room's history page, as its JSON `history` event.
    pub(super) fn page(&mut self, request: PageRequest, round: &mut Round) {
        // A page holds only what is durable: what this round wrote goes first.
        self.commit(round);
        let PageRequest { room, resume, answer } = request;
        let empty;
        let history = match self.hub.room(&room) {
            Some(kept) => &kept.history,
            None => {
                empty = self.hub.epochs().history(room.as_str(), 0);
                &empty
            }
        };
        let page = history.room_event(room.as_str(), resume.as_ref(), None);
        let _ = answer.send(page.to_json());
    }
}

fn refused(status: u16, code: &'static str, message: &str) -> Refused {
    Refused { status, code, message: message.to_string() }
}

/// The connection a bot's message is said on: none (no connection has this id, so a refusal
/// of the store is told through the post's answer only).
const NO_CONNECTION: u64 = u64::MAX;

#[cfg(test)]
mod tests {
    use crossbeam_channel::bounded;

    use super::*;
    use crate::chat::bots::user_id;
    use crate::chat::broadcaster::tests::{broadcaster, general};
    use crate::chat::inbox::Inbox;

    fn post(
        to: PostTo,
        text: &str,
    ) -> (Post, crossbeam_channel::Receiver<Result<Posted, Refused>>) {
        let (answer, answered) = bounded(1);
        let (user, name, ts) = (user_id("deploy"), "deploy".to_string(), "t".to_string());
        (Post { user, name, to, text: text.into(), ts, answer }, answered)
    }

    #[test]
    fn a_post_is_numbered_in_its_room_and_answered_a_refusal_numbers_nothing() {
        let (_inbox, mailbox) = Inbox::new();
        let mut broadcaster = broadcaster(mailbox);
        let mut round = Round::default();
        let room = |reply_to| PostTo::Room { room: general(), reply_to };
        let (first, answered) = post(room(None), "one");
        broadcaster.post(first, &mut round);
        let posted = answered.try_recv().unwrap().unwrap();
        assert_eq!((posted.id, posted.room), (1, Some(general())));
        let (reply, answered) = post(room(Some(7)), "to nothing");
        broadcaster.post(reply, &mut round);
        let refused = answered.try_recv().unwrap().unwrap_err();
        assert_eq!((refused.status, refused.code), (400, "not_found"));
        let (reply, answered) = post(room(Some(1)), "to one");
        broadcaster.post(reply, &mut round);
        assert_eq!(answered.try_recv().unwrap().unwrap().id, 2, "the refusal took no id");
        let (dm, answered) = post(PostTo::Person("nobody".into()), "hi");
        broadcaster.post(dm, &mut round);
        assert_eq!(answered.try_recv().unwrap().unwrap_err().code, "no_such_user");
    }

    #[test]
    fn a_page_is_the_history_event() {
        let (_inbox, mailbox) = Inbox::new();
        let mut broadcaster = broadcaster(mailbox);
        let mut round = Round::default();
        let (first, _answered) = post(PostTo::Room { room: general(), reply_to: None }, "one");
        broadcaster.post(first, &mut round);
        let (answer, page) = bounded(1);
        broadcaster.page(PageRequest { room: general(), resume: None, answer }, &mut round);
        let page: serde_json::Value = serde_json::from_str(&page.try_recv().unwrap()).unwrap();
        assert_eq!(
            (page["type"].clone(), page["room"].clone()),
            ("history".into(), "general".into())
        );
        assert_eq!(page["messages"][0]["text"], "one");
        let (answer, empty) = bounded(1);
        let nowhere = crate::chat::room::RoomName::parse("nowhere").unwrap();
        broadcaster.page(PageRequest { room: nowhere, resume: None, answer }, &mut round);
        let empty: serde_json::Value = serde_json::from_str(&empty.try_recv().unwrap()).unwrap();
        assert_eq!(
            (empty["messages"].clone(), empty["complete"].clone()),
            (serde_json::json!([]), true.into())
        );
    }
}
