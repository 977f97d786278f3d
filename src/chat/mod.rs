//! The application: a chat room on top of `ws/`. Everything here knows JSON and nicknames; nothing
//! here parses a frame.
//!
//! In the order a message meets them:
//! - [`handler`]: the chat's WebSocket handler, one per connection (rate limit, JSON, publish);
//!   [`protocol`] (the JSON events), [`nickname`], [`rate_limit`].
//! - [`inbox`]: the hand-off to the broadcaster thread: its [`inbox::Event`]s, sent through an
//!   [`inbox::Inbox`].
//! - [`broadcaster`]: the one thread that numbers messages and delivers every event to every
//!   client; it owns the [`hub`] (who is connected), the [`history`] and the [`presence`] (who
//!   is online, on any instance).

pub mod broadcaster;
pub mod handler;
pub mod history;
pub mod hub;
pub mod inbox;
pub mod nickname;
pub mod presence;
pub mod protocol;
pub mod rate_limit;
pub mod room;
