//! The chat as a WebSocket [`Handler`]: one per connection on `/ws`, on the connection's thread.
//!
//! - **Open**: `joined` to the broadcaster, with the session the client presented (`?session=`)
//!   and the nickname it asked for. The broadcaster settles who it is and sends `hello`; this
//!   thread waits for that answer (its user id), then subscribes to the default room, whose
//!   history and users follow. A client that asked with `?session_in=frame` (the page) presents
//!   its session in its first text message instead (see [`joining`](crate::chat::joining)): the
//!   join waits for that message, for at most `HANDSHAKE_TIMEOUT_SECS`, and anything else first
//!   closes the connection with 1008.
//! - **A text message**: the JSON ([`request::parse_request`]), then the rate limit (messages and
//!   other requests each have their own allowance): a message to a room this connection is in,
//!   signed with the session's user id and the nickname in the connection's [`NameTag`], goes to
//!   the broadcaster ([`Inbox::chat`]), which numbers it here or publishes it to Kafka; so do a
//!   change to a message and a reply, which it checks first against the history it holds. Every
//!   request that enters a conversation's order takes that one road, so a connection's messages
//!   and changes keep the order it sent them in, with or without Kafka. A private message, a
//!   rename or a private conversation's history go to the broadcaster too, which knows who
//!   holds which nickname. A typing notice needs no order: it is published at once
//!   ([`Publish`]: the local inbox, or Kafka's presence topic); a
//!   subscription is checked against the limits here and passed to the broadcaster; refused input
//!   gets an error event on this connection only, and the connection stays open.
//! - **A binary message**: close 1003; the chat speaks text.
//! - **Close**: `left` to the broadcaster, however the connection ended (even by a panic).
//!
//! The handler keeps its own list of the rooms it is in, so it can refuse a message to a room it
//! is not in, or a subscription past `MAX_ROOMS_PER_CONNECTION`, without asking the broadcaster.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Bytes;

use crate::chat::amend::{Amend, Conversation};
use crate::chat::entry::Body;
use crate::chat::history::Resume;
use crate::chat::hub::Client;
use crate::chat::identity::{IdentityPromise, NameTag, Presented, Unsettled};
use crate::chat::inbox::{Arrival, Closed, Inbox, Said};
use crate::chat::inspect::{Handshake, Inspector};
use crate::chat::joining::{Joining, session_message};
use crate::chat::protocol::{self, ServerEvent};
use crate::chat::rate_limit::{RateLimit, Verdict};
use crate::chat::request::{self, Request};
use crate::chat::room::{Admission, Refused, RoomName};
use crate::chat::session::{Session, UserId};
use crate::config::Config;
use crate::metrics::{LIMITED_ROOMS, Metrics};
use crate::net::per_address::PerAddress;
use crate::ws::frame;
use crate::ws::outbound::Outbound;
use crate::ws::reader::{Close, End, Handler};

/// The road what needs no order takes to every broadcaster, straight from the reader: this
/// instance's inbox, or the Kafka presence topic (see `bus/`). Messages do not take it: they go
/// through this instance's broadcaster, which numbers them or publishes them (see the module
/// doc).
pub trait Publish: Send + Sync {
    /// `name` (`user`) is typing in `room` (connection `from` on this instance), for the room's
    /// other members on every instance.
    fn typing(&self, room: RoomName, user: UserId, name: String, from: u64) -> Result<(), Closed>;
}

/// What a chat connection needs of the server: shared by every connection.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// The settings.
    pub config: &'a Config,
    /// The way to the broadcaster.
    pub inbox: &'a Inbox,
    /// The way typing notices travel (the inbox, or Kafka).
    pub publish: &'a dyn Publish,
    /// The counters.
    pub metrics: &'a Metrics,
    /// The count of rooms with members.
    pub admission: &'a Admission,
    /// What each client address holds.
    pub per_address: &'a Arc<PerAddress>,
}

/// A room this connection is in.
#[derive(Debug)]
struct Membership {
    room: RoomName,
    /// When this connection last said it was typing there.
    typed: Option<Instant>,
}

/// One chat connection.
pub struct ChatHandler<'a> {
    id: u64,
    /// Who it says it is, until it joins (on open, or on its session message).
    joining: Option<Joining>,
    /// Its address, as the per-address limits count it.
    client: IpAddr,
    /// When its session message must have come by, while the join waits for it.
    session_by: Option<Instant>,
    /// Its session's public id, once settled.
    user: UserId,
    /// Its nickname, set by the broadcaster.
    tag: Arc<NameTag>,
    resume: Option<Resume>,
    /// Chat messages (and refused input).
    limit: RateLimit,
    /// Everything else: subscribe, unsubscribe, typing, rooms.
    requests: RateLimit,
    /// True from the `joined` event until the `left` one.
    member: bool,
    /// This connection's upgrade request, for the wire inspector.
    handshake: Option<Handshake>,
    /// When this connection last asked for a ping.
    pinged: Option<Instant>,
    rooms: Vec<Membership>,
    services: Services<'a>,
}

impl<'a> ChatHandler<'a> {
    /// The handler for connection `id`.
    pub fn new(id: u64, joining: Joining, services: Services<'a>) -> ChatHandler<'a> {
        let config = services.config;
        let now = Instant::now();
        let limit = RateLimit::new(config.rate_limit_per_sec, now);
        let requests = RateLimit::new(request_rate(config), now);
        let tag = Arc::new(NameTag::default());
        tag.set(&joining.name);
        ChatHandler {
            id,
            client: joining.client,
            joining: Some(joining),
            session_by: None,
            user: UserId::NOBODY,
            tag,
            resume: None,
            limit,
            requests,
            member: false,
            handshake: None,
            pinged: None,
            rooms: Vec::new(),
            services,
        }
    }

    /// The nickname it has now.
    pub fn name(&self) -> String {
        self.tag.get()
    }

    /// Sends an error event to this client only; the connection stays open.
    fn refuse(&self, code: &str, message: &str, room: Option<&str>, out: &Outbound) {
        self.refuse_about(code, message, room, None, out);
    }

    /// The same, naming the message a refused change (or read marker) was about.
    fn refuse_about(
        &self,
        code: &str,
        message: &str,
        room: Option<&str>,
        id: Option<u64>,
        out: &Outbound,
    ) {
        let event = ServerEvent::Error { code, message, room, to: None, name: None, id };
        self.tell(&event, out);
    }

    /// Queues an event for this client: the broadcaster writes it (`ws/outbound/mod.rs`).
    fn tell(&self, event: &ServerEvent<'_>, out: &Outbound) {
        out.queue(&[&frame::text(event.to_json())]);
    }

    fn position(&self, room: &RoomName) -> Option<usize> {
        self.rooms.iter().position(|m| m.room == *room)
    }

    fn subscribe(
        &mut self,
        room: RoomName,
        resume: Option<Resume>,
        out: &Outbound,
    ) -> Result<(), Closed> {
        let Services { config, admission, inbox, per_address, .. } = self.services;
        if self.position(&room).is_none() {
            if self.rooms.len() >= config.max_rooms_per_connection {
                let message = format!(
                    "a connection may be in {} rooms at most (MAX_ROOMS_PER_CONNECTION)",
                    config.max_rooms_per_connection
                );
                self.refuse("too_many_rooms", &message, Some(room.as_str()), out);
                return Ok(());
            }
            let entered = admission.enter(&room, room == config.default_room, self.client);
            if let Err(refused) = entered {
                let message = match refused {
                    Refused::Full => format!(
                        "this server has {} rooms with members, its limit (MAX_ROOMS)",
                        config.max_rooms
                    ),
                    Refused::AddressFull => format!(
                        "your address made {} rooms that still have members, its limit \
                         (MAX_ROOMS_PER_ADDRESS)",
                        per_address.limits().rooms
                    ),
                };
                self.services.metrics.limited(LIMITED_ROOMS);
                self.refuse("too_many_rooms", &message, Some(room.as_str()), out);
                return Ok(());
            }
            self.rooms.push(Membership { room: room.clone(), typed: None });
        }
        // In the room already: the history again, as the protocol promises.
        inbox.subscribe(self.id, room, resume)
    }

    fn unsubscribe(&mut self, room: RoomName, out: &Outbound) -> Result<(), Closed> {
        let Some(at) = self.position(&room) else {
            self.refuse("not_subscribed", NOT_SUBSCRIBED, Some(room.as_str()), out);
            return Ok(());
        };
        self.rooms.swap_remove(at);
        self.services.admission.leave(&room);
        self.services.inbox.unsubscribe(self.id, room)
    }

    fn typing(&mut self, room: RoomName, out: &Outbound) -> Result<(), Closed> {
        let Some(at) = self.position(&room) else {
            self.refuse("not_subscribed", NOT_SUBSCRIBED, Some(room.as_str()), out);
            return Ok(());
        };
        let now = Instant::now();
        let membership = &mut self.rooms[at];
        if membership.typed.is_some_and(|at| now.duration_since(at) < TYPING_EVERY) {
            return Ok(()); // dropped without an error, as the protocol says
        }
        membership.typed = Some(now);
        self.services.publish.typing(room, self.user, self.tag.get(), self.id)
    }

    /// Switches the wire inspector on or off for this connection alone. On, it first shows the
    /// connection's opening handshake.
    fn inspect(&mut self, on: bool, out: &Outbound) {
        let config = self.services.config;
        if !config.inspect_enabled {
            self.refuse("disabled", INSPECT_DISABLED, None, out);
            return;
        }
        if !on {
            out.set_tap(None);
            return;
        }
        if let Some(handshake) = &self.handshake {
            out.queue(&[&frame::text(handshake.event())]);
        }
        out.set_tap(Some(Box::new(Inspector::new(config.inspect_max_events_per_sec))));
    }

    /// Sends this connection a ping frame (§5.5.2), at most one a second: its peer must answer
    /// with a pong carrying the same payload, which the inspector then shows.
    fn ping_me(&mut self, payload: &[u8], out: &Outbound) {
        let now = Instant::now();
        if self.pinged.is_some_and(|at| now.duration_since(at) < PING_ME_EVERY) {
            self.refuse("rate_limited", "one ping a second", None, out);
            return;
        }
        self.pinged = Some(now);
        out.queue(&[&frame::ping(payload)]);
    }

    /// Hands who it is to the broadcaster, waits for its answer (`hello` is sent meanwhile), then
    /// enters the default room.
    fn join(&mut self, presented: Presented, out: &Arc<Outbound>) -> Result<(), Close> {
        let config = self.services.config;
        let Joining { name, resume, handshake, client, spent, .. } =
            self.joining.take().expect("joins once");
        self.resume = resume;
        self.handshake = handshake;
        // RFC 6455 §7.4.1 1011: "an unexpected condition prevented it from fulfilling the
        // request": no randomness for a session.
        let fresh = Session::new().ok_or(Close::new(1011, "no randomness for a session"))?;
        let client = Client {
            id: self.id,
            user: UserId::NOBODY,
            name: String::new(),
            outbound: out.clone(),
            tag: self.tag.clone(),
            address: client,
        };
        let settled = IdentityPromise(self.tag.clone());
        let arrival = Arrival { client, presented, fresh, requested: name, settled, spent };
        self.services.inbox.joined(arrival).map_err(|Closed| SHUTTING_DOWN)?;
        self.member = true;
        // The broadcaster answers at once (it sends `hello` in the same round); a refusal means
        // it is shutting down, and no answer in SETTLE_TIMEOUT that it is as good as gone.
        self.user = self.tag.wait_settled(SETTLE_TIMEOUT).map_err(|why| match why {
            Unsettled::Gone => SHUTTING_DOWN,
            Unsettled::Limited => NO_NEW_SESSION,
            Unsettled::Banned => BANNED,
        })?;
        let resume = self.resume.take();
        self.subscribe(config.default_room.clone(), resume, out).map_err(|Closed| SHUTTING_DOWN)
    }

    fn leave(&mut self) {
        for membership in self.rooms.drain(..) {
            self.services.admission.leave(&membership.room);
        }
        if std::mem::take(&mut self.member) {
            self.services.inbox.left(self.id);
        }
    }
}

impl Handler for ChatHandler<'_> {
    fn on_open(&mut self, out: &Arc<Outbound>) -> Result<(), Close> {
        match self.joining.as_mut().and_then(|joining| joining.presented.take()) {
            Some(presented) => self.join(presented, out),
            None => {
                // `?session_in=frame`: nothing happens until the session message.
                self.session_by = Some(Instant::now() + self.services.config.handshake_timeout);
                Ok(())
            }
        }
    }

    /// While the join waits for the session message: the end of that wait.
    fn deadline(&self) -> Option<(Instant, Close)> {
        self.session_by.map(|at| (at, NO_SESSION_MESSAGE))
    }

    fn on_text(&mut self, text: &str, out: &Arc<Outbound>) -> Result<(), Close> {
        if self.session_by.take().is_some() {
            let presented = session_message(text).ok_or(NOT_A_SESSION_MESSAGE)?;
            return self.join(presented, out);
        }
        let request = request::parse_request(text);
        // A chat message (or refused input) takes a token of the message allowance, anything
        // else one of the request allowance, so a client can always subscribe to its rooms again
        // after a reconnect, whatever RATE_LIMIT_PER_SEC.
        let (bucket, room) = match &request {
            Ok(Request::Message { .. } | Request::Direct { .. }) | Err(_) => {
                (&mut self.limit, None)
            }
            Ok(Request::Amend { to, .. }) => (&mut self.limit, room_of(to)),
            Ok(Request::Read { at, .. }) => (&mut self.requests, room_of(at)),
            Ok(Request::Subscribe { room, .. } | Request::Unsubscribe { room })
            | Ok(Request::Typing { room }) => (&mut self.requests, Some(room.as_str())),
            Ok(Request::Rooms | Request::SubscribeDirect { .. } | Request::Rename { .. })
            | Ok(Request::Moderate(_))
            | Ok(Request::Inspect { .. } | Request::PingMe { .. }) => (&mut self.requests, None),
        };
        let about = match &request {
            Ok(Request::Amend { body, .. }) => match body {
                Body::Message { reply_to, .. } => *reply_to,
                change => change.target(),
            },
            Ok(Request::Read { id, .. }) => Some(*id),
            _ => None,
        };
        match bucket.check(Instant::now()) {
            Verdict::Allow => {}
            Verdict::Refuse => {
                let room = room.map(String::from);
                let message = "slow down: too many messages";
                self.refuse_about("rate_limited", message, room.as_deref(), about, out);
                return Ok(());
            }
            // RFC 6455 §7.4.1 1008: "a message that violates its policy".
            Verdict::Flooding => return Err(Close::new(1008, "rate limit exceeded")),
        }
        let request = match request {
            Ok(request) => request,
            Err(e) => {
                self.tell(&e.event(), out);
                return Ok(());
            }
        };
        let done = match request {
            Request::Message { room, text } => {
                let room = room.unwrap_or_else(|| self.services.config.default_room.clone());
                if self.position(&room).is_none() {
                    self.refuse("not_subscribed", NOT_SUBSCRIBED, Some(room.as_str()), out);
                    return Ok(());
                }
                self.services.metrics.received();
                let (user, name, ts) = (self.user, self.tag.get(), protocol::timestamp());
                let body = Box::new(Body::text(text));
                self.services.inbox.chat(self.id, room, Said { user, name, body, ts })
            }
            Request::Direct { to, text } => {
                self.services.metrics.received();
                self.services.inbox.direct(self.id, to, text, protocol::timestamp())
            }
            Request::Amend { to, body } => {
                if let Conversation::Room(room) = &to
                    && self.position(room).is_none()
                {
                    let room = Some(room.as_str());
                    self.refuse_about("not_subscribed", NOT_SUBSCRIBED, room, about, out);
                    return Ok(());
                }
                let ts = protocol::timestamp();
                self.services.inbox.amend(Amend { conn: self.id, to, body, ts })
            }
            Request::Read { at, id } => {
                if let Conversation::Room(room) = &at
                    && self.position(room).is_none()
                {
                    let room = Some(room.as_str());
                    self.refuse_about("not_subscribed", NOT_SUBSCRIBED, room, about, out);
                    return Ok(());
                }
                self.services.inbox.read(self.id, at, id)
            }
            Request::Subscribe { room, resume } => self.subscribe(room, resume, out),
            Request::SubscribeDirect { with, resume } => {
                self.services.inbox.subscribe_direct(self.id, with, resume)
            }
            Request::Rename { name } => self.services.inbox.rename(self.id, name),
            Request::Moderate(request) => self.services.inbox.moderate(self.id, request),
            Request::Unsubscribe { room } => self.unsubscribe(room, out),
            Request::Typing { room } => self.typing(room, out),
            Request::Rooms => self.services.inbox.list_rooms(self.id),
            Request::Inspect { on } => {
                self.inspect(on, out);
                Ok(())
            }
            Request::PingMe { payload } => {
                self.ping_me(payload.as_bytes(), out);
                Ok(())
            }
        };
        done.map_err(|Closed| SHUTTING_DOWN)
    }

    /// RFC 6455 §7.4.1 1003: "it has received a type of data it cannot accept".
    fn on_binary(&mut self, _: Bytes, _: &Arc<Outbound>) -> Result<(), Close> {
        Err(Close::new(1003, "binary messages are not supported"))
    }

    fn on_close(&mut self, _: &End) {
        self.leave();
    }
}

impl Drop for ChatHandler<'_> {
    /// A reader that panicked still leaves the hub and its rooms.
    fn drop(&mut self) {
        self.leave();
    }
}

/// The room a change or a read marker names, if it names one.
fn room_of(at: &Conversation) -> Option<&str> {
    match at {
        Conversation::Room(room) => Some(room.as_str()),
        Conversation::With(_) => None,
    }
}

/// Requests other than messages allowed a second (twice that in a burst): the message rate, but
/// at least one per room a connection may be in.
fn request_rate(config: &Config) -> u32 {
    let rooms = u32::try_from(config.max_rooms_per_connection).unwrap_or(u32::MAX);
    config.rate_limit_per_sec.max(rooms)
}

/// How long a new connection waits for the broadcaster to settle who it is (a round takes
/// milliseconds; a join storm's queue, a second or two).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The shortest time between two `typing` notices of one connection in one room.
const TYPING_EVERY: Duration = Duration::from_secs(2);
/// `ping_me` is answered at most this often.
const PING_ME_EVERY: Duration = Duration::from_secs(1);
const INSPECT_DISABLED: &str =
    "the wire inspector is switched off on this server (INSPECT_ENABLED)";
const NOT_SUBSCRIBED: &str = "this connection is not in that room: subscribe first";

/// RFC 6455 §7.4.1 1008: "a message that violates its policy": a new session past a limit (the
/// error event before it says which, and when to try again).
const NO_NEW_SESSION: Close = Close::new(1008, "no new session now: see the error event");
/// The close of a banned session (or address): 4003, the application's range (RFC 6455
/// §7.4.2); the error event before it says until when and why.
const BANNED: Close = Close::new(4003, "banned");
/// RFC 6455 §7.4.1 1008, "a message that violates its policy": a client that asked for
/// `?session_in=frame` sent something else first.
const NOT_A_SESSION_MESSAGE: Close =
    Close::new(1008, r#"expected {"type":"session","session":…} first"#);
/// The same code when the session message did not come within `HANDSHAKE_TIMEOUT_SECS`.
const NO_SESSION_MESSAGE: Close = Close::new(1008, "no session message in time");

/// RFC 6455 §7.4.1 1001: "an endpoint is going away, such as a server going down".
const SHUTTING_DOWN: Close = Close::new(1001, "server shutting down");
