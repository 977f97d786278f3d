//! The application: chat rooms on top of `ws/`. Everything here knows JSON, rooms and nicknames;
//! nothing here parses a frame.
//!
//! In the order a message meets them:
//! - [`handler`]: the chat's WebSocket handler, one per connection (rate limit, requests, the
//!   rooms it is in, publish), and [`joining`], who a new client says it is (its session, from
//!   the query or its first message); [`request`] (the JSON requests) and [`protocol`] (the events), [`room`] (room names,
//!   the partition hash, the count of rooms with members), [`nickname`], [`rate_limit`].
//! - [`inbox`]: the hand-off to the broadcaster thread: its [`inbox::Event`]s, sent through an
//!   [`inbox::Inbox`].
//! - [`broadcaster`]: the one thread that numbers messages and delivers each room's events to its
//!   members; it owns the [`hub`] (who is connected, who is in which room, each room's
//!   [`history`]) and the [`presence`] (who is in which room, on any instance).
//! - [`identity`]: who is who, owned by the broadcaster: which session holds which nickname,
//!   and the private conversations between sessions; [`session`]: the session secrets and the
//!   public user ids derived from them; [`allowance`]: what a session and its address may
//!   still start (a new session, a private message), asked before either is given.
//! - [`entry`]: one entry of a conversation's order (a message, or an edit, a deletion or a
//!   reaction), [`fold`]: what the changes make of each message, [`amend`]: who may change
//!   which message, [`emoji`]: what a reaction may be; [`operators`]: the sessions that
//!   moderate.
//! - [`inspect`]: the wire inspector, a connection's own frames shown to it field by field.
//! - [`api`]: the HTTP API for bots (`POST /api/v1/messages`, a room's history page), and
//!   [`bots`]: who may use it, by their tokens, and at what pace; [`post`]: what the API
//!   hands the broadcaster, and the answer it waits for.
//! - [`journal`]: what the broadcaster writes down before anyone gets it, so that a restart
//!   loses nothing (kept by `store/` when the server runs without Kafka).

pub mod allowance;
pub mod amend;
pub mod api;
pub mod bots;
pub mod broadcaster;
pub mod emoji;
pub mod entry;
pub mod fold;
pub mod handler;
pub mod history;
pub mod hub;
pub mod identity;
pub mod inbox;
pub mod inspect;
pub mod joining;
pub mod journal;
pub mod moderate;
pub mod nickname;
pub mod operators;
pub mod post;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod sanctions;
pub mod request;
pub mod room;
pub mod session;
pub mod twins;
