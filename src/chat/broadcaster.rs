//! The consumer: one thread that numbers messages and delivers each room's events to its members.
//!
//! # Ownership
//! The broadcaster alone owns the [`Hub`] (who is connected, who is in which room, each room's
//! history), so nothing needs a lock and there is exactly one order of events: the order in which
//! they leave the channel. Reader
//! threads only *send* [`Event`]s through the [`Inbox`](crate::chat::inbox::Inbox); they never
//! touch another client. Of the bus it knows only [`Announce`], where it tells other instances who
//! is online here; it holds no way into its own inbox, so when every sender is gone (and no
//! [`Event::Shutdown`] came) it shuts down too.
//!
//! # One round
//! 1. Wait for an event, or for a client's retry request, or the retry tick while some socket has
//!    a backlog.
//! 2. Take every other event already waiting (`try_iter`), up to [`MAX_BATCH`]: under load a round
//!    carries many messages, at low load just one, so latency stays minimal either way.
//! 3. Encode each outgoing event to a frame once ([`frame::text`]) and note who gets it: the
//!    members of its room, found through the hub's index by room, so a round with messages for
//!    many rooms never walks every client per room.
//! 4. Give each client all of its frames of the round in one [`Outbound::send`]: one lock and, in the
//!    common case, one system call per client per round, however many messages the round holds.
//! 5. Sockets that did not take everything asked for a retry themselves (whoever sent to them:
//!    this thread, a reader's pong or error event, the Kafka callback); they are retried every
//!    [`RETRY_TICK`] until drained. A client whose backlog passes `SEND_BUFFER_BYTES` was closed
//!    with 1013 by its `Outbound`, and if it still has not taken its close frame after
//!    [`CLOSE_TIMEOUT`] its socket is shut down, which ends its reader.
//!
//! [`Outbound::send`]: crate::ws::outbound::Outbound::send

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, select};
use log::{debug, error, info};
use tungstenite::Bytes;

use crate::chat::allowance::{self, Refusal};
use crate::chat::history::{Epochs, History, Resume};
use crate::chat::hub::{Entered, Hub, Slot};
use crate::chat::identity::{Identities, Pair, Renamed, Settled};
use crate::chat::inbox::{Arrival, Event, From, Mailbox, Said};
use crate::chat::journal::{Entry, Journal, Thread, write_message};
use crate::chat::presence::{Announce, Change, FORGET_AFTER, Presence, now_millis};
use crate::chat::protocol::{
    Chat, MAX_LISTED_ROOMS, NO_SUCH_USER, Place, RoomCount, ServerEvent, Unread, timestamp,
};
use crate::chat::room::RoomName;
use crate::chat::session::UserId;
use crate::metrics::Metrics;
use crate::net::per_address::PerAddress;
use crate::ws::frame;
use crate::ws::outbound::Sent;

/// The broadcaster's state.
pub struct Broadcaster {
    mailbox: Mailbox,
    hub: Hub,
    /// Who holds which nickname, and the private conversations.
    identities: Identities,
    limits: Limits,
    metrics: Arc<Metrics>,
    /// The other instances (Kafka), if there can be any.
    others: Option<Arc<dyn Announce>>,
    presence: Presence,
    /// When presence is next checked for silent instances and due announcements.
    presence_due: Instant,
    /// Clients with bytes the kernel has not taken yet (each asked for its retry).
    backlog: HashSet<u64>,
    /// Clients we sent a close frame to, and when to give up on them.
    closing: HashMap<u64, Instant>,
    /// The round being built; its vectors are kept from one round to the next.
    round: Round,
    /// Presence changes of big rooms, waiting for the next [`PRESENCE_TICK`].
    batched: HashMap<RoomName, Batch>,
    /// Where the round is written down before it goes out (the store, without Kafka).
    journal: Option<Box<dyn Journal>>,
    /// The messages of the round not yet durable.
    tentative: Vec<Tentative>,
    /// The last commit failed: `/healthz` says so.
    troubled: bool,
}

/// A message written to the journal but not committed yet: if the commit fails, it is taken
/// back from its history, its frame from the round, and its sender is told.
#[derive(Debug)]
struct Tentative {
    chat: Arc<Chat>,
    frame: u32,
    /// The connection that sent it.
    conn: u64,
}

/// The nicknames that came into and went out of one big room since its last `presence` event.
/// A name that comes and goes (or goes and comes back) within one batch cancels out.
#[derive(Debug, Default)]
struct Batch {
    joined: BTreeSet<String>,
    left: BTreeSet<String>,
}

impl Batch {
    fn add(&mut self, change: Change) {
        for name in change.joined {
            if !self.left.remove(&name) {
                self.joined.insert(name);
            }
        }
        for name in change.left {
            if !self.joined.remove(&name) {
                self.left.insert(name);
            }
        }
    }
}

/// Whether the broadcaster goes on after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Which members of a room an event skips.
#[derive(Debug, Clone, Copy)]
enum Except<'a> {
    /// Every member gets it.
    Nobody,
    /// The connection in this slot (the one typing).
    Slot(Slot),
    /// Connections with this nickname (a `join` or `leave` is not news to them).
    Named(&'a str),
}

/// The frames of one round, each encoded once, and who gets which.
///
/// Recipients are resolved when an event is handled, from the room's members at that moment:
/// a client that subscribes halfway through a round gets the room's later frames but not the
/// earlier ones (those are in the history it was just sent), and one that leaves gets nothing
/// more.
#[derive(Debug, Default)]
struct Round {
    frames: Vec<Bytes>,
    /// For each slot, the indexes of its frames in `frames`, in order.
    to: Vec<Vec<u32>>,
    /// The slots with frames, in the order they got their first.
    touched: Vec<Slot>,
}

impl Round {
    /// Encodes `event` once; returns the frame's index.
    fn frame(&mut self, event: &ServerEvent<'_>) -> u32 {
        self.frames.push(frame::text(event.to_json()));
        (self.frames.len() - 1) as u32
    }

    /// Gives frame `index` to `slot`.
    fn add(&mut self, slot: Slot, index: u32) {
        let at = slot as usize;
        if at >= self.to.len() {
            self.to.resize_with(at + 1, Vec::new);
        }
        if self.to[at].is_empty() {
            self.touched.push(slot);
        }
        self.to[at].push(index);
    }

    /// Frame `index` goes to nobody after all (its message could not be made durable).
    fn cancel(&mut self, index: u32) {
        self.frames[index as usize] = Bytes::new();
    }

    /// `slot`'s client is gone: it gets nothing more (a newcomer may take the slot).
    fn forget(&mut self, slot: Slot) {
        if let Some(list) = self.to.get_mut(slot as usize) {
            list.clear();
        }
    }
}

impl Broadcaster {
    /// A broadcaster reading `mailbox`; rooms and conversations take their ids from `epochs`,
    /// within the `limits`; presence and claims are announced to `others`.
    pub fn new(
        mailbox: Mailbox,
        epochs: Epochs,
        limits: Limits,
        metrics: Arc<Metrics>,
        others: Option<Arc<dyn Announce>>,
    ) -> Broadcaster {
        Broadcaster {
            mailbox,
            hub: Hub::new(epochs, limits.history_size, limits.keep_empty_rooms),
            identities: Identities::new(limits.name_reserve, limits.max_reserved_names),
            limits,
            metrics,
            others,
            presence: Presence::new(),
            presence_due: Instant::now(),
            backlog: HashSet::new(),
            closing: HashMap::new(),
            round: Round::default(),
            batched: HashMap::new(),
            journal: None,
            tentative: Vec::new(),
            troubled: false,
        }
    }

    /// Writes every round to `journal` before it goes out (see `chat/journal.rs`).
    pub fn keep_journal(&mut self, journal: Box<dyn Journal>) {
        self.journal = Some(journal);
    }

    /// Rebuilds the histories, sessions and conversations from what the journal holds, in its
    /// order, before anyone connects. Sessions come back offline, holding their names for
    /// `NAME_RESERVE_SECS` from now.
    pub fn restore(&mut self, entries: Vec<Entry>) {
        let now = Instant::now();
        for entry in entries {
            match entry {
                Entry::Epoch(_) => {}
                Entry::Start { thread, first, last } => {
                    if let Some(history) = self.restored(thread) {
                        history.restart(first, last);
                        history.journaled();
                    }
                }
                Entry::IdsAbove(id) => self.hub.start_ids_above(id),
                Entry::Message(chat) => {
                    // It spoke (or was written to) before the restart: used.
                    self.identities.mark_used(chat.user);
                    if let Place::Direct { to_user, .. } = chat.place {
                        self.identities.mark_used(to_user);
                        self.identities.note_written(chat.user, to_user);
                    }
                    if let Some(history) = self.restored(Thread::of(&chat)) {
                        history.restore(chat);
                    }
                }
                Entry::Session { user, name } => self.identities.restore(user, &name, now),
                Entry::Forget(user) => self.identities.restore_forget(user),
            }
        }
    }

    /// The history a restored entry goes to, made if need be: a room's, or the conversation of
    /// two sessions that are both known (one forgotten since took its conversations with it).
    fn restored(&mut self, thread: Thread) -> Option<&mut History> {
        let pair = match thread {
            Thread::Room(room) => return Some(&mut self.hub.room_mut(&room).history),
            Thread::Direct(pair) => pair,
        };
        let (a, b) = pair.users();
        if self.identities.name(a).is_none() || self.identities.name(b).is_none() {
            return None;
        }
        let hub = &self.hub;
        Some(self.identities.conversation(pair, || hub.new_history(&pair.key())))
    }

    /// Runs until [`Event::Shutdown`], or until every [`Inbox`](crate::chat::inbox::Inbox) is
    /// gone.
    pub fn run(mut self) {
        // Handles of our own on the two channels, so that `self` is free while one is read.
        let (events, retries) = (self.mailbox.events.clone(), self.mailbox.retries.clone());
        loop {
            let wait = if self.backlog.is_empty() && self.closing.is_empty() {
                IDLE_WAIT
            } else {
                RETRY_TICK
            };
            select! {
                recv(events) -> event => match event {
                    Ok(event) => {
                        if self.round(event, &events) == Flow::Stop {
                            return self.shut_down();
                        }
                    }
                    // Every sender is gone: nobody can ask anything of us any more.
                    Err(_) => return self.shut_down(),
                },
                recv(retries) -> id => {
                    self.backlog.extend(id);
                }
                default(wait) => {}
            }
            // Once a second, busy or not: forget silent instances, repeat our announcement.
            let now = Instant::now();
            if now >= self.presence_due {
                self.presence_due = now + PRESENCE_TICK;
                let mut round = std::mem::take(&mut self.round);
                self.presence.forget_silent(now);
                self.identities.sweep(now).into_iter().for_each(|user| {
                    self.write(Entry::Forget(user));
                });
                let releases = self.identities.take_lapsed();
                self.publish(Settled { releases, ..Settled::default() });
                self.refresh_presence(&mut round);
                self.send_batched_presence(&mut round);
                self.commit(&mut round);
                self.deliver(&mut round);
                // A forget may make a compaction due, even on a server nobody writes to.
                self.compact_if_due();
                // The wire inspector's count of skipped frames, due even when no frame comes.
                for client in self.hub.clients() {
                    client.outbound.tap_tick();
                }
                self.round = round;
            }
            self.retry_backlog();
            self.expire_closing();
        }
    }

    /// One round: `first` and every other event already waiting, up to [`MAX_BATCH`], delivered
    /// together.
    fn round(&mut self, first: Event, events: &Receiver<Event>) -> Flow {
        let mut round = std::mem::take(&mut self.round);
        let rest = events.try_iter().take(MAX_BATCH - 1);
        let mut flow = Flow::Continue;
        for event in std::iter::once(first).chain(rest) {
            flow = self.handle(event, &mut round);
            if flow == Flow::Stop {
                break;
            }
        }
        self.commit(&mut round);
        self.deliver(&mut round);
        self.compact_if_due();
        self.round = round;
        flow
    }

    fn handle(&mut self, event: Event, round: &mut Round) -> Flow {
        match event {
            Event::Joined(arrival) => self.arrive(*arrival, round),
            // A history sent must hold only what is durable: what this round wrote goes first.
            Event::Subscribe { id, room, resume } => {
                self.commit(round);
                self.subscribe(id, room, resume, round);
            }
            Event::SubscribeDirect { id, with, resume } => {
                self.commit(round);
                self.subscribe_direct(id, &with, resume, round);
            }
            Event::Unsubscribe { id, room } => {
                let Some(slot) = self.hub.slot(id) else { return Flow::Continue };
                if self.hub.unsubscribe(slot, &room) == Some(true) {
                    let name = self.hub.client(slot).map(|c| c.name.clone()).unwrap_or_default();
                    self.presence.local_gone(&room, &name);
                }
                self.refresh_presence(round);
            }
            Event::Chat { from, room, said } => self.chat(from, room, said, round),
            Event::Direct { from, to, text, ts } => self.direct_from(from, &to, text, ts, round),
            Event::DirectRecord { id, chat } => {
                self.deliver_direct(From::Bus { id }, *chat, round);
            }
            Event::Rename { id, name } => self.rename(id, name, round),
            Event::Typing { room, user, name, from } => {
                let except = from.and_then(|id| self.hub.slot(id));
                let typing = ServerEvent::Typing { room: room.as_str(), name: &name, user };
                let except = except.map_or(Except::Nobody, Except::Slot);
                self.to_room(round, &room, &typing, except);
            }
            Event::ListRooms { id } => {
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
            Event::Roster { instance, rooms, at_millis, sessions } => {
                let now = Instant::now();
                let age = Duration::from_millis(now_millis().saturating_sub(at_millis));
                if let Some(at) = now.checked_sub(age).filter(|_| age < FORGET_AFTER) {
                    self.identities.seen_elsewhere(&instance, &sessions, at);
                }
                self.presence.heard(instance, rooms, at_millis, now);
                self.refresh_presence(round);
            }
            Event::Claim(claim) => {
                let settled = self.identities.apply_claim(&claim, Instant::now());
                self.settle(settled, round);
            }
            Event::Release { user, name } => {
                let settled = self.identities.apply_release(user, &name);
                self.settle(settled, round);
            }
            Event::Left { id } => self.leave(id, round),
            Event::Shutdown => return Flow::Stop,
        }
        Flow::Continue
    }

    /// A new connection: settles its session and nickname, and sends it `hello` (and
    /// `session_expired` when the session it presented is not one, or no longer known).
    fn arrive(&mut self, arrival: Arrival, round: &mut Round) {
        let Arrival { mut client, presented, fresh, requested, settled, spent } = arrival;
        let per_address = &self.limits.per_address;
        if !self.identities.knows(&presented)
            && let Err(refusal) =
                allowance::new_session(&self.identities, per_address, spent, client.address)
        {
            self.metrics.limited(refusal.reason);
            let event = ServerEvent::error(refusal.code, refusal.message);
            client.outbound.send(&[&frame::text(event.to_json())]);
            return settled.limited();
        }
        let arrived = self.identities.arrive(presented, fresh, &requested);
        let user = arrived.user;
        client.user = user;
        client.name.clone_from(&arrived.name);
        client.tag.set(&arrived.name);
        let slot = self.hub.open(client);
        let session = arrived.session.to_text();
        let unread = self.identities.unread(user);
        let limits = &self.limits;
        let hello = ServerEvent::Hello {
            session: &session,
            user,
            name: &arrived.name,
            requested: arrived.requested.as_deref(),
            max_message_bytes: limits.max_message_bytes,
            rate_limit_per_sec: limits.rate_limit_per_sec,
            default_room: limits.default_room.as_str(),
            max_rooms_per_connection: limits.max_rooms_per_connection,
            unread_dms: unread
                .iter()
                .map(|&(user, name, count)| Unread { name, user, count })
                .collect(),
        };
        let index = round.frame(&hello);
        round.add(slot, index);
        if let Some(others) = self.others.as_ref().filter(|_| arrived.new) {
            others.claim(user, &arrived.name);
        }
        if arrived.new {
            self.write(Entry::Session { user, name: arrived.name.clone() });
        }
        if arrived.expired {
            let expired = ServerEvent::error("session_expired", SESSION_EXPIRED);
            self.tell(round, slot, &expired);
        }
        // The connection's thread waits for this before it reads anything from its client.
        settled.done(user);
    }

    fn subscribe(&mut self, id: u64, room: RoomName, resume: Option<Resume>, round: &mut Round) {
        let Some((slot, entered)) = self.hub.subscribe(id, &room) else { return };
        let history = &self.hub.room(&room).expect("it has a member").history;
        let (messages, complete) = history.replay(resume.as_ref());
        let history = ServerEvent::History {
            room: Some(room.as_str()),
            dm: None,
            user: None,
            epoch: history.epoch(),
            messages: messages.into_iter().map(|c| ServerEvent::Message(c)).collect(),
            complete,
        };
        let index = round.frame(&history);
        round.add(slot, index);
        if entered == Entered::New(true) {
            let name = self.hub.client(slot).expect("just subscribed").name.clone();
            self.presence.local_appeared(&room, &name);
        }
        if !self.refresh_presence(round).contains(&room) {
            // The room was not sent the list, but the newcomer needs it.
            let users =
                ServerEvent::Users { room: room.as_str(), users: self.presence.users(&room) };
            let index = round.frame(&users);
            round.add(slot, index);
        }
    }

    fn chat(&mut self, from: From, room: RoomName, said: Said, round: &mut Round) {
        let history = &mut self.hub.room_mut(&room).history;
        let id = match from {
            // A record read twice (after a consumer error) is delivered once.
            From::Bus { id } if history.has_seen(id) => return,
            From::Bus { id } => id,
            From::Here { .. } => history.next_id(),
        };
        let Said { user, name, text, ts } = said;
        self.identities.mark_used(user);
        let chat = Arc::new(Chat { place: Place::Room(room.clone()), id, user, name, text, ts });
        let (Some(journal), From::Here { conn }) = (&mut self.journal, from) else {
            history.push(chat.clone());
            self.to_room(round, &room, &ServerEvent::Message(&chat), Except::Nobody);
            return;
        };
        write_message(journal.as_mut(), history, &chat);
        let frame = round.frame(&ServerEvent::Message(&chat));
        self.to_room_frame(round, &room, frame, Except::Nobody);
        self.tentative.push(Tentative { chat, frame, conn });
    }

    /// The private conversation of client `id` with whoever holds `with`: its history (after
    /// `resume`), and it is read now. A conversation that does not exist yet is not made.
    fn subscribe_direct(&mut self, id: u64, with: &str, resume: Option<Resume>, round: &mut Round) {
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
        let (messages, complete) = history.replay(resume.as_ref());
        let event = ServerEvent::History {
            room: None,
            dm: self.identities.name(peer),
            user: Some(peer),
            epoch: history.epoch(),
            messages: messages.into_iter().map(|c| ServerEvent::Message(c)).collect(),
            complete,
        };
        let index = round.frame(&event);
        round.add(slot, index);
        self.identities.mark_read(user, peer);
    }

    /// A private message from client `from` to whoever holds `to`: numbered here, or (with a
    /// bus) published, to come back numbered as [`Event::DirectRecord`] on every instance.
    fn direct_from(&mut self, from: u64, to: &str, text: String, ts: String, round: &mut Round) {
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
            let event = ServerEvent::Error { code, message, room: None, to: Some(to), name: None };
            return self.tell(round, slot, &event);
        }
        let to = self.identities.name(to_user).unwrap_or(to).to_string();
        let name = client.name.clone();
        let chat = Chat { place: Place::Direct { to, to_user }, id: 0, user, name, text, ts };
        match &self.others {
            Some(others) => others.direct(&chat, &client.outbound),
            None => self.deliver_direct(From::Here { conn: from }, chat, round),
        }
    }

    /// Stores a private message in its conversation and gives it to every connection here of
    /// both sessions; counts it unread for a recipient with none.
    fn deliver_direct(&mut self, from: From, mut chat: Chat, round: &mut Round) {
        let Place::Direct { to_user, .. } = chat.place else { return };
        self.identities.mark_used(chat.user);
        self.identities.mark_used(to_user);
        self.identities.note_written(chat.user, to_user);
        let pair = Pair::new(chat.user, to_user);
        let hub = &self.hub;
        let history = self.identities.conversation(pair, || hub.new_history(&pair.key()));
        chat.id = match from {
            From::Bus { id } if history.has_seen(id) => return,
            From::Bus { id } => id,
            From::Here { .. } => history.next_id(),
        };
        let chat = Arc::new(chat);
        let index = round.frame(&ServerEvent::Message(&chat));
        match (&mut self.journal, from) {
            (Some(journal), From::Here { conn }) => {
                write_message(journal.as_mut(), history, &chat);
                self.tentative.push(Tentative { chat: chat.clone(), frame: index, conn });
            }
            _ => history.push(chat.clone()),
        }
        for &slot in self.hub.slots_of(chat.user) {
            round.add(slot, index);
        }
        if to_user != chat.user {
            for &slot in self.hub.slots_of(to_user) {
                round.add(slot, index);
            }
        }
        if !self.identities.is_online(to_user) {
            self.identities.note_unread(to_user, chat.user);
        }
    }

    /// Client `id` asks for the nickname `name`.
    fn rename(&mut self, id: u64, name: String, round: &mut Round) {
        let Some(slot) = self.hub.slot(id) else { return };
        let user = self.hub.client(slot).expect("connected").user;
        match self.identities.rename(user, &name) {
            Renamed::Same => {}
            Renamed::Taken => {
                let taken = ServerEvent::Error {
                    code: "name_taken",
                    message: NAME_TAKEN,
                    room: None,
                    to: None,
                    name: Some(&name),
                };
                self.tell(round, slot, &taken);
            }
            Renamed::From(old) => {
                self.renamed(user, &old, &name, None, round);
                if let Some(others) = &self.others {
                    others.claim(user, &name);
                }
            }
        }
    }

    /// What a claim or release changed: renamed sessions are told (and their rooms), claims and
    /// releases published.
    fn settle(&mut self, settled: Settled, round: &mut Round) {
        for (user, old, new, requested) in &settled.renamed {
            self.renamed(*user, old, new, requested.as_deref(), round);
        }
        self.publish(settled);
    }

    /// Publishes the claims and releases of `settled` to the other instances.
    fn publish(&self, settled: Settled) {
        let Some(others) = &self.others else { return };
        for (user, name) in settled.claims {
            others.claim(user, &name);
        }
        for (user, folded) in settled.releases {
            others.release(user, &folded);
        }
    }

    /// Applies what the bus read back before serving (the claims topic), in its order.
    pub fn recall(&mut self, events: Vec<Event>) {
        let mut round = std::mem::take(&mut self.round);
        for event in events {
            self.handle(event, &mut round);
        }
        self.deliver(&mut round);
        self.round = round;
    }

    /// `user` has the nickname `new` now (it had `old`): every connection of its session gets
    /// `renamed`, and every room it is in a `rename` and (when small) its new list.
    fn renamed(
        &mut self,
        user: UserId,
        old: &str,
        new: &str,
        requested: Option<&str>,
        round: &mut Round,
    ) {
        self.identities.mark_used(user);
        self.write(Entry::Session { user, name: new.to_string() });
        let rooms = self.hub.rename(user, new);
        let index = round.frame(&ServerEvent::Renamed { name: new, requested });
        for &slot in self.hub.slots_of(user) {
            round.add(slot, index);
        }
        for room in rooms {
            self.presence.local_renamed(&room, old, new);
            let rename = ServerEvent::Rename { room: room.as_str(), from: old, to: new, user };
            self.to_room(round, &room, &rename, Except::Nobody);
            if self.presence.len(&room) <= USERS_BROADCAST_LIMIT {
                let users =
                    ServerEvent::Users { room: room.as_str(), users: self.presence.users(&room) };
                self.to_room(round, &room, &users, Except::Nobody);
            }
        }
        self.refresh_presence(round);
    }

    /// Sends `event` to the connection in `slot` only.
    fn tell(&self, round: &mut Round, slot: Slot, event: &ServerEvent<'_>) {
        let index = round.frame(event);
        round.add(slot, index);
    }

    fn no_such_user(&self, round: &mut Round, slot: Slot, to: &str) {
        let event = ServerEvent::Error {
            code: "no_such_user",
            message: NO_SUCH_USER,
            room: None,
            to: Some(to),
            name: None,
        };
        self.tell(round, slot, &event);
    }

    fn leave(&mut self, id: u64, round: &mut Round) {
        self.backlog.remove(&id);
        self.closing.remove(&id);
        if let Some(slot) = self.hub.slot(id) {
            round.forget(slot);
        }
        if let Some((client, rooms)) = self.hub.close(id) {
            self.identities.depart(client.user, Instant::now());
            for (room, gone) in rooms {
                if gone {
                    self.presence.local_gone(&room, &client.name);
                }
            }
            self.refresh_presence(round);
        }
    }

    /// Encodes `event` once and gives it to the members of `room`, but `except`.
    fn to_room(&self, round: &mut Round, room: &RoomName, event: &ServerEvent<'_>, except: Except) {
        if self.hub.room(room).is_some_and(|r| !r.members().is_empty()) {
            let index = round.frame(event);
            self.to_room_frame(round, room, index, except);
        }
    }

    /// Gives frame `index` of the round to the members of `room`, but `except`.
    fn to_room_frame(&self, round: &mut Round, room: &RoomName, index: u32, except: Except) {
        let Some(room) = self.hub.room(room) else { return };
        for &slot in room.members() {
            let skip = match except {
                Except::Nobody => false,
                Except::Slot(one) => slot == one,
                // Only here is the member itself looked at; a message costs the slot numbers alone.
                Except::Named(name) => self.hub.client(slot).is_some_and(|c| c.name == name),
            };
            if !skip {
                round.add(slot, index);
            }
        }
    }

    /// Tells each room about nicknames that came or went (here or on another instance), and
    /// announces ours to the other instances when it changed or is due. Returns the rooms that
    /// were sent their whole users list.
    ///
    /// A room of at most [`USERS_BROADCAST_LIMIT`] names gets each change at once: the whole
    /// list, then a `join` or `leave` per name (not sent to connections with the nickname it
    /// names). In a bigger room that would cost O(n²) frames as n people arrive (each arrival is
    /// one frame to each of the others), so its changes are collected instead and go out as one
    /// `presence` event per [`PRESENCE_TICK`], listing every name that came and went; newcomers
    /// get the whole list.
    fn refresh_presence(&mut self, round: &mut Round) -> Vec<RoomName> {
        if let Some(others) = &self.others
            && self.presence.should_announce(Instant::now())
        {
            others.announce(self.hub.rosters(), self.hub.sessions());
        }
        let mut listed = Vec::new();
        let ts = timestamp();
        for change in self.presence.take_changes() {
            if self.presence.len(&change.room) > USERS_BROADCAST_LIMIT {
                self.batched.entry(change.room.clone()).or_default().add(change);
                continue;
            }
            // The whole list supersedes whatever was collected while the room was big.
            self.batched.remove(&change.room);
            let room = change.room.as_str();
            let users = ServerEvent::Users { room, users: self.presence.users(&change.room) };
            self.to_room(round, &change.room, &users, Except::Nobody);
            listed.push(change.room.clone());
            for name in &change.joined {
                let user = self.identities.holder(name);
                let join = ServerEvent::Join { room, name, user, ts: &ts };
                self.to_room(round, &change.room, &join, Except::Named(name));
            }
            for name in &change.left {
                let user = self.identities.holder(name);
                let leave = ServerEvent::Leave { room, name, user, ts: &ts };
                self.to_room(round, &change.room, &leave, Except::Named(name));
            }
        }
        listed
    }

    /// Sends each big room the `presence` event of the changes collected since the last one.
    fn send_batched_presence(&mut self, round: &mut Round) {
        let ts = timestamp();
        for (room, batch) in std::mem::take(&mut self.batched) {
            if batch.joined.is_empty() && batch.left.is_empty() {
                continue;
            }
            let presence = ServerEvent::Presence {
                room: room.as_str(),
                joined: batch.joined.iter().map(String::as_str).collect(),
                left: batch.left.iter().map(String::as_str).collect(),
                ts: &ts,
            };
            self.to_room(round, &room, &presence, Except::Nobody);
        }
    }

    /// Adds `entry` to the journal, if there is one.
    fn write(&mut self, entry: Entry) {
        if let Some(journal) = &mut self.journal {
            journal.write(entry);
        }
    }

    /// Makes what the round wrote durable, before any of it goes out. When the store refuses
    /// (a full disk, a read-only folder), the round's messages are taken back from their
    /// histories and their frames from the round, their senders get `not_delivered`, and
    /// `/healthz` reports the problem until a commit succeeds again.
    fn commit(&mut self, round: &mut Round) {
        let Some(journal) = &mut self.journal else { return };
        if !journal.has_pending() {
            return;
        }
        let result = journal.commit();
        self.metrics.history_commit(result.is_ok(), journal.bytes());
        let tentative = std::mem::take(&mut self.tentative);
        let problem = match result {
            Ok(()) => {
                for message in &tentative {
                    if let Some(history) = self.history_mut(&Thread::of(&message.chat)) {
                        history.confirm();
                    }
                }
                None
            }
            Err(e) => {
                error!("history: cannot write: {e}; {} messages refused", tentative.len());
                let text = format!(
                    "the server cannot store your message ({e}), so nobody got it; send it again \
                     later"
                );
                for message in &tentative {
                    if let Some(history) = self.history_mut(&Thread::of(&message.chat)) {
                        history.retract();
                    }
                    round.cancel(message.frame);
                    let Some(slot) = self.hub.slot(message.conn) else { continue };
                    let (room, to) = match &message.chat.place {
                        Place::Room(room) => (Some(room.as_str()), None),
                        Place::Direct { to, .. } => (None, Some(to.as_str())),
                    };
                    let event = ServerEvent::Error {
                        code: "not_delivered",
                        message: &text,
                        room,
                        to,
                        name: None,
                    };
                    self.tell(round, slot, &event);
                }
                Some(format!("history: {e}"))
            }
        };
        // Healthy rounds do not touch the shared problem slot unless they end a problem.
        if problem.is_some() || std::mem::take(&mut self.troubled) {
            self.troubled = problem.is_some();
            self.metrics.set_problem(problem);
        }
    }

    fn history_mut(&mut self, thread: &Thread) -> Option<&mut History> {
        match thread {
            Thread::Room(room) => self.hub.history_mut(room),
            Thread::Direct(pair) => self.identities.existing_mut(*pair),
        }
    }

    /// Hands the journal what is still wanted, to be compacted, once it has grown enough: the
    /// epoch, the sessions, and each room's and conversation's kept messages (`Arc`s, so this
    /// copies pointers, not messages; the rewrite runs on a thread of its own).
    fn compact_if_due(&mut self) {
        if !self.journal.as_mut().is_some_and(|j| !j.has_pending() && j.wants_compaction()) {
            return;
        }
        let mut entries = vec![Entry::Epoch(self.hub.epochs().of("").epoch.clone())];
        if self.hub.ids_above() > 0 {
            entries.push(Entry::IdsAbove(self.hub.ids_above()));
        }
        let sessions = self.identities.sessions();
        entries.extend(sessions.map(|(user, name)| Entry::Session { user, name: name.into() }));
        let rooms = self.hub.histories().map(|(room, h)| (Thread::Room(room.clone()), h));
        let conversations = self.identities.conversations().map(|(p, h)| (Thread::Direct(*p), h));
        for (thread, history) in rooms.chain(conversations) {
            let (first, last) = history.span();
            entries.push(Entry::Start { thread, first, last });
            entries.extend(history.messages().map(|chat| Entry::Message(chat.clone())));
        }
        self.journal.as_mut().expect("checked above").compact(entries);
    }

    /// Gives every client its frames of the round, one `send` per client.
    fn deliver(&mut self, round: &mut Round) {
        let Round { frames: all, to, touched } = round;
        let mut frames: Vec<&Bytes> = Vec::new();
        let mut delivered = 0u64;
        for &slot in touched.iter() {
            let list = &mut to[slot as usize];
            if list.is_empty() {
                continue;
            }
            frames.clear();
            // A cancelled frame is empty (a message refused by the store).
            frames.extend(list.iter().map(|&i| &all[i as usize]).filter(|f| !f.is_empty()));
            list.clear();
            if list.capacity() > KEEP_PER_SLOT {
                list.shrink_to(KEEP_PER_SLOT);
            }
            let Some(client) = self.hub.client(slot).filter(|_| !frames.is_empty()) else {
                continue;
            };
            // What the socket does not take now asks for its own retry (`Outbound`).
            match client.outbound.send(&frames) {
                Sent::Flushed | Sent::Pending => delivered += frames.len() as u64,
                Sent::Evicted => {
                    info!("conn-{} {}: too slow, closing with 1013", client.id, client.name);
                    self.closing.insert(client.id, Instant::now() + CLOSE_TIMEOUT);
                }
                Sent::Closed => {}
            }
        }
        touched.clear();
        all.clear();
        self.metrics.delivered(delivered);
    }

    fn retry_backlog(&mut self) {
        self.backlog.extend(self.mailbox.retries.try_iter());
        let hub = &self.hub;
        self.backlog.retain(|id| {
            hub.get(*id).is_some_and(|client| client.outbound.flush() == Sent::Pending)
        });
    }

    /// Shuts down sockets that have not completed the close handshake in time.
    fn expire_closing(&mut self) {
        let now = Instant::now();
        let hub = &self.hub;
        self.closing.retain(|id, deadline| {
            if *deadline > now {
                return true;
            }
            if let Some(client) = hub.get(*id) {
                debug!("conn-{id}: close handshake timed out");
                client.outbound.shutdown(Shutdown::Both);
            }
            false
        });
    }

    /// RFC 6455 §7.4.1 1001: "an endpoint is going away, such as a server going down".
    fn shut_down(mut self) {
        info!("shutting down: closing {} connections with 1001", self.hub.clients().count());
        for client in self.hub.clients() {
            client.outbound.close(1001, "server shutting down", false);
        }
        if let Some(others) = &self.others {
            // Our users are gone for the other instances now, not after FORGET_AFTER.
            others.announce(Vec::new(), Vec::new());
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        // Wait for close frames to go out and for clients to answer (their readers then leave).
        while !self.hub.is_empty() && Instant::now() < deadline {
            match self.mailbox.events.recv_timeout(RETRY_TICK) {
                Ok(Event::Left { id }) => {
                    self.hub.close(id);
                }
                Ok(Event::Joined(arrival)) => {
                    // Its thread, waiting to be settled, hears that nobody will and ends.
                    arrival.client.outbound.close(1001, "server shutting down", true);
                    self.hub.open(arrival.client);
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            for client in self.hub.clients() {
                client.outbound.flush();
            }
        }
        for client in self.hub.clients() {
            client.outbound.shutdown(Shutdown::Both);
        }
        if let Some(others) = &self.others {
            others.flush();
        }
    }
}

/// The settings the broadcaster needs.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Messages kept per room and per private conversation (`HISTORY_SIZE`).
    pub history_size: usize,
    /// Rooms without members kept with their history (`MAX_ROOMS`); older ones are forgotten.
    pub keep_empty_rooms: usize,
    /// How long a nickname stays with its session after its last connection closed
    /// (`NAME_RESERVE_SECS`).
    pub name_reserve: Duration,
    /// Offline sessions that keep their nickname at most (`MAX_RESERVED_NAMES`).
    pub max_reserved_names: usize,
    /// For `hello`: `MAX_MESSAGE_BYTES`.
    pub max_message_bytes: usize,
    /// For `hello`: `RATE_LIMIT_PER_SEC`.
    pub rate_limit_per_sec: u32,
    /// For `hello`: `DEFAULT_ROOM`.
    pub default_room: RoomName,
    /// For `hello`: `MAX_ROOMS_PER_CONNECTION`.
    pub max_rooms_per_connection: usize,
    /// `MAX_CONVERSATIONS_PER_SESSION`.
    pub max_conversations: usize,
    /// What each client address holds (new sessions, private messages nobody answered).
    pub per_address: Arc<PerAddress>,
}

impl Limits {
    /// The limits `config` sets, with the per-address counts the connection threads share.
    pub fn from_config(config: &crate::config::Config, per_address: Arc<PerAddress>) -> Limits {
        Limits {
            history_size: config.history_size,
            keep_empty_rooms: config.max_rooms,
            name_reserve: config.name_reserve,
            max_reserved_names: config.max_reserved_names,
            max_message_bytes: config.max_message_bytes,
            rate_limit_per_sec: config.rate_limit_per_sec,
            default_room: config.default_room.clone(),
            max_rooms_per_connection: config.max_rooms_per_connection,
            max_conversations: config.max_conversations_per_session,
            per_address,
        }
    }
}

const SESSION_EXPIRED: &str =
    "the session presented is not known (any more): this is a new one, with a new nickname";
const NAME_TAKEN: &str = "another session holds that nickname";
/// The most names in a room for which every change sends the whole users list to the room, and
/// `join` and `leave` at once; bigger rooms get a `presence` event every [`PRESENCE_TICK`].
pub const USERS_BROADCAST_LIMIT: usize = 100;
/// Frame indexes a slot keeps room for between rounds; a longer list is shrunk back.
const KEEP_PER_SLOT: usize = 16;
/// Events handled in one round at most.
pub const MAX_BATCH: usize = 1024;
/// How often sockets with a backlog are retried.
const RETRY_TICK: Duration = Duration::from_millis(2);
/// How often presence is maintained (silent instances forgotten, announcements repeated, big
/// rooms sent their `presence` events).
const PRESENCE_TICK: Duration = Duration::from_secs(1);
/// How long the broadcaster sleeps when nothing is pending.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// How long a client we closed may take to take its close frame and answer.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long shutdown waits for clients to answer the 1001 close.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::chat::history::new_epoch;
    use crate::chat::inbox::Inbox;

    fn general() -> RoomName {
        RoomName::parse("general").unwrap()
    }

    fn said(text: &str) -> Said {
        let (name, ts) = ("a".to_string(), "t".to_string());
        Said { user: UserId::NOBODY, name, text: text.into(), ts }
    }

    use crate::net::per_address::AddressLimits;

    fn broadcaster(mailbox: Mailbox) -> Broadcaster {
        let metrics = Arc::new(Metrics::default());
        let limits = Limits {
            history_size: 10,
            keep_empty_rooms: 10,
            name_reserve: Duration::from_secs(60),
            max_reserved_names: 10,
            max_message_bytes: 100,
            rate_limit_per_sec: 10,
            default_room: general(),
            max_rooms_per_connection: 4,
            max_conversations: 10,
            per_address: PerAddress::new(AddressLimits {
                handshakes: 16,
                sockets: 16,
                sessions_per_min: 60,
                rooms: 16,
                unanswered_per_min: 20,
            }),
        };
        Broadcaster::new(mailbox, Epochs::single(new_epoch()), limits, metrics, None)
    }

    /// Runs `broadcaster` on a thread; true if it returned within `limit`.
    fn returns_within(broadcaster: Broadcaster, limit: Duration) -> bool {
        let (done, finished) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            broadcaster.run();
            let _ = done.send(());
        });
        finished.recv_timeout(limit).is_ok()
    }

    #[test]
    fn it_stops_when_every_inbox_is_gone() {
        let (inbox, mailbox) = Inbox::new();
        let broadcaster = broadcaster(mailbox);
        inbox.chat(1, general(), said("hello")).unwrap();
        drop(inbox);
        assert!(returns_within(broadcaster, Duration::from_secs(5)), "still running");
    }

    #[test]
    fn a_batch_keeps_the_net_change() {
        let change = |joined: &[&str], left: &[&str]| Change {
            room: general(),
            joined: joined.iter().map(|s| s.to_string()).collect(),
            left: left.iter().map(|s| s.to_string()).collect(),
        };
        let mut batch = Batch::default();
        batch.add(change(&["a", "b"], &["x"]));
        batch.add(change(&["x"], &["a"]));
        batch.add(change(&["c"], &[]));
        // a came and went, x went and came back: neither is news.
        assert_eq!(batch.joined.iter().collect::<Vec<_>>(), ["b", "c"]);
        assert!(batch.left.is_empty());
    }

    #[test]
    fn a_compacted_log_read_after_the_segments_it_replaced_gives_each_history_once() {
        // A crash between a compaction's rename and the removal of the older segments: they are
        // read first, then the compacted one, whose `start` resets each history.
        let room = general();
        let message = |id: u64| {
            let place = Place::Room(room.clone());
            let (name, text, ts) = ("a".to_string(), format!("m{id}"), "t".to_string());
            Entry::Message(Arc::new(Chat { place, id, user: UserId::NOBODY, name, text, ts }))
        };
        let start = |first, last| Entry::Start { thread: Thread::Room(room.clone()), first, last };
        let mut entries = vec![start(1, 0)];
        entries.extend((1..=10).map(message));
        entries.push(start(6, 10));
        entries.extend((6..=10).map(message));
        entries.push(message(11));
        let (_inbox, mailbox) = Inbox::new();
        let mut broadcaster = broadcaster(mailbox);
        broadcaster.restore(entries);
        let history = &broadcaster.hub.room(&room).unwrap().history;
        let (kept, complete) = history.replay(None);
        assert_eq!(kept.iter().map(|c| c.id).collect::<Vec<_>>(), (6..=11).collect::<Vec<_>>());
        assert!(!complete, "ids 1 to 5 are gone");
        assert_eq!((history.span(), history.next_id()), ((6, 11), 12));
    }

    #[test]
    fn it_stops_on_shutdown() {
        let (inbox, mailbox) = Inbox::new();
        inbox.shutdown();
        assert!(returns_within(broadcaster(mailbox), Duration::from_secs(5)));
        let late = inbox.chat(1, general(), said("late"));
        assert!(late.is_err(), "nobody reads now");
    }
}
