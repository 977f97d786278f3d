//! The chat as a WebSocket [`Handler`]: one per connection on `/ws`, on the connection's thread.
//!
//! - **Open**: the `hello` event (the settled nickname and the limits), then `joined` to the
//!   broadcaster, which sends the history and the users list.
//! - **A text message**: the rate limit, then the JSON ([`protocol::parse_client_text`]); a good
//!   message is published ([`Publish`]: the local inbox, or Kafka), refused input gets an error
//!   event on this connection only, and the connection stays open.
//! - **A binary message**: close 1003; the chat speaks text.
//! - **Close**: `left` to the broadcaster, however the connection ended (even by a panic).

use std::sync::Arc;
use std::time::Instant;

use tungstenite::Bytes;

use crate::chat::history::Resume;
use crate::chat::hub::Client;
use crate::chat::inbox::{Closed, Inbox};
use crate::chat::nickname;
use crate::chat::protocol::{self, ServerEvent};
use crate::chat::rate_limit::{RateLimit, Verdict};
use crate::chat::room::RoomName;
use crate::config::Config;
use crate::http::Request;
use crate::metrics::Metrics;
use crate::ws::frame;
use crate::ws::outbound::Outbound;
use crate::ws::session::{Close, End, Handler};

/// The road a chat message takes to every broadcaster: this instance's inbox, or the Kafka topic
/// (see `bus/`).
pub trait Publish: Send + Sync {
    /// A chat message on its way to every member of `room`, on every instance. A failure to
    /// deliver that is learnt later (Kafka) reaches `sender` as a `not_delivered` error event.
    fn publish(
        &self,
        room: RoomName,
        name: String,
        text: String,
        ts: String,
        sender: &Arc<Outbound>,
    ) -> Result<(), Closed>;
    /// `name` is typing in `room` (connection `from` on this instance), for the room's other
    /// members on every instance.
    fn typing(&self, room: RoomName, name: String, from: u64) -> Result<(), Closed>;
}

/// Who a new chat client is: its nickname and where it left off.
#[derive(Debug)]
pub struct Joining {
    /// The cleaned nickname, or a `guest-NNNN` one.
    pub name: String,
    /// `?since=<id>&epoch=<epoch>`, when it is reconnecting.
    pub resume: Option<Resume>,
}

impl Joining {
    /// Reads `name`, `since` and `epoch` from the upgrade request's query.
    pub fn from_request(request: &Request) -> Joining {
        let name = request
            .query_param("name")
            .and_then(|raw| nickname::clean(&raw))
            .unwrap_or_else(nickname::guest);
        let resume =
            request.query_param("since").and_then(|s| s.trim().parse().ok()).map(|since| Resume {
                since,
                epoch: request.query_param("epoch").filter(|e| !e.is_empty()),
            });
        Joining { name, resume }
    }
}

/// One chat connection.
pub struct ChatHandler<'a> {
    id: u64,
    name: String,
    resume: Option<Resume>,
    limit: RateLimit,
    /// True from the `joined` event until the `left` one.
    member: bool,
    config: &'a Config,
    inbox: &'a Inbox,
    publish: &'a dyn Publish,
    metrics: &'a Metrics,
}

impl<'a> ChatHandler<'a> {
    /// The handler for connection `id`.
    pub fn new(
        id: u64,
        joining: Joining,
        config: &'a Config,
        inbox: &'a Inbox,
        publish: &'a dyn Publish,
        metrics: &'a Metrics,
    ) -> ChatHandler<'a> {
        let limit = RateLimit::new(config.rate_limit_per_sec, Instant::now());
        let Joining { name, resume } = joining;
        ChatHandler { id, name, resume, limit, member: false, config, inbox, publish, metrics }
    }

    /// Sends an error event to this client only; the connection stays open.
    fn refuse(&self, code: &str, message: &str, out: &Outbound) {
        let event = ServerEvent::Error { code, message };
        out.send(&[&frame::text(event.to_json())]);
    }

    fn leave(&mut self) {
        if std::mem::take(&mut self.member) {
            self.inbox.left(self.id);
        }
    }
}

impl Handler for ChatHandler<'_> {
    fn on_open(&mut self, out: &Arc<Outbound>) -> Result<(), Close> {
        let hello = ServerEvent::Hello {
            name: &self.name,
            max_message_bytes: self.config.max_message_bytes,
            rate_limit_per_sec: self.config.rate_limit_per_sec,
        };
        out.send(&[&frame::text(hello.to_json())]);
        let client = Client { id: self.id, name: self.name.clone(), outbound: out.clone() };
        self.inbox.joined(client).map_err(|Closed| SHUTTING_DOWN)?;
        let room = self.config.default_room.clone();
        self.inbox.subscribe(self.id, room, self.resume.take()).map_err(|Closed| SHUTTING_DOWN)?;
        self.member = true;
        Ok(())
    }

    fn on_text(&mut self, text: &str, out: &Arc<Outbound>) -> Result<(), Close> {
        match self.limit.check(Instant::now()) {
            Verdict::Allow => {}
            Verdict::Refuse => {
                self.refuse("rate_limited", "slow down: too many messages", out);
                return Ok(());
            }
            // RFC 6455 §7.4.1 1008: "a message that violates its policy".
            Verdict::Flooding => return Err(Close::new(1008, "rate limit exceeded")),
        }
        match protocol::parse_client_text(text) {
            Ok(text) => {
                self.metrics.received();
                let (name, ts) = (self.name.clone(), protocol::timestamp());
                let room = self.config.default_room.clone();
                self.publish.publish(room, name, text, ts, out).map_err(|Closed| SHUTTING_DOWN)
            }
            Err(e) => {
                self.refuse(e.code(), e.message(), out);
                Ok(())
            }
        }
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
    /// A reader that panicked still leaves the hub.
    fn drop(&mut self) {
        self.leave();
    }
}

/// RFC 6455 §7.4.1 1001: "an endpoint is going away, such as a server going down".
const SHUTTING_DOWN: Close = Close::new(1001, "server shutting down");
