//! The reader loop: one client's frames in, events out, for as long as the connection lives.
//!
//! tungstenite decodes frames (RFC 6455 §5.2), unmasks them (§5.3), joins fragments (§5.4), checks
//! UTF-8 (§8.1) and answers pings (§5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a
//! Pong frame in response"); its pongs reach the wire through our [`ClientStream`]. This loop adds:
//! - our pings every `PING_INTERVAL_SECS` of silence, and the close of a peer silent for
//!   `IDLE_TIMEOUT_SECS` (a dead TCP peer otherwise looks exactly like a quiet one);
//! - the chat: each text frame becomes an [`Event::Chat`] for the broadcaster, after the rate limit
//!   and the JSON checks; refused input gets an error event on this connection only;
//! - the close handshake (§7): our close frame carries the code for what went wrong (1002, 1003,
//!   1007, 1008, 1009); when the peer closes first we echo its code (§5.5.1). Then we wait briefly
//!   for the other side's close frame and end the TCP connection ourselves (§7.1.1: "the server
//!   SHOULD close the underlying TCP connection first").
//!
//! [`ClientStream`]: crate::stream::ClientStream

use std::fmt;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, trace};
use tungstenite::error::{Error as WsError, ProtocolError};
use tungstenite::protocol::CloseFrame;
use tungstenite::{Bytes, Message, WebSocket};

use crate::broadcaster::Event;
use crate::connection::drain;
use crate::frame;
use crate::history::Resume;
use crate::hub::Client;
use crate::outbound::{Outbound, Sent};
use crate::protocol::{ServerEvent, parse_client_text, timestamp};
use crate::rate_limit::{RateLimit, Verdict};
use crate::server::Context;
use crate::stream::ClientStream;

/// What the connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `/ws`: the chat.
    Chat,
    /// `/echo`: every message comes straight back (for conformance testing).
    Echo,
}

/// How a connection ended, for the log.
#[derive(Debug)]
pub enum End {
    /// A close frame was exchanged (or at least sent).
    Closed {
        /// Who sent the first close frame.
        by: &'static str,
        /// Its status code.
        code: u16,
    },
    /// The connection ended without a close frame (RFC 6455 §7.1.5 calls this 1006).
    Dropped(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed { by, code } => write!(f, "close {code} from the {by}"),
            End::Dropped(why) => write!(f, "dropped without a close frame (1006): {why}"),
        }
    }
}

/// The reader side of one WebSocket.
pub struct Reader<'a> {
    id: u64,
    ws: Box<WebSocket<ClientStream>>,
    outbound: Arc<Outbound>,
    ctx: &'a Context,
    read_timeout: Option<Duration>,
}

/// What to do after a message.
enum Step {
    Continue,
    Close(u16, &'static str),
}

/// Per-mode state of the loop.
enum Session {
    Chat { name: String, limit: RateLimit },
    Echo,
}

impl<'a> Reader<'a> {
    /// A reader over an upgraded connection.
    pub fn new(
        id: u64,
        ws: Box<WebSocket<ClientStream>>,
        outbound: Arc<Outbound>,
        ctx: &'a Context,
    ) -> Reader<'a> {
        Reader { id, ws, outbound, ctx, read_timeout: None }
    }

    /// Runs the connection to its end.
    pub fn run(mut self, mode: Mode, name: String, resume: Option<Resume>) -> End {
        match mode {
            Mode::Echo => self.read_loop(&mut Session::Echo),
            Mode::Chat => {
                let config = &self.ctx.config;
                let hello = ServerEvent::Hello {
                    name: &name,
                    max_message_bytes: config.max_message_bytes,
                    rate_limit_per_sec: config.rate_limit_per_sec,
                };
                self.outbound.send(&[&frame::text(hello.to_json())]);
                let client =
                    Client { id: self.id, name: name.clone(), outbound: self.outbound.clone() };
                let joined = Event::Joined { client, resume };
                if self.ctx.events.send(joined).is_err() {
                    return self.close(1001, "server shutting down");
                }
                let _member = Membership { id: self.id, ctx: self.ctx };
                let limit = RateLimit::new(config.rate_limit_per_sec, Instant::now());
                self.read_loop(&mut Session::Chat { name, limit })
            }
        }
    }

    fn read_loop(&mut self, session: &mut Session) -> End {
        let (ping_every, idle) = (self.ctx.config.ping_interval, self.ctx.config.idle_timeout);
        let mut heard = Instant::now();
        let mut pinged = heard;
        loop {
            if let Some(code) = self.outbound.closing_code() {
                // The broadcaster closed us (1013 too slow, 1001 shutdown): await the answer.
                return self.await_close_reply("server", code);
            }
            let now = Instant::now();
            let idle_at = heard + idle;
            if now >= idle_at {
                return self.close(1000, "idle timeout");
            }
            let ping_at = heard.max(pinged) + ping_every;
            if now >= ping_at {
                trace!("ping");
                // A failed ping surfaces as a failed read just below.
                let _ = self.ws.send(Message::Ping(Bytes::new()));
                pinged = now;
                continue;
            }
            if let Err(e) = self.wait_at_most(idle_at.min(ping_at) - now) {
                return End::Dropped(e.to_string());
            }
            match self.ws.read() {
                Ok(Message::Close(frame)) => return self.answer_close(frame),
                Ok(message) => {
                    heard = Instant::now();
                    if let Step::Close(code, reason) = self.on_message(session, message) {
                        return self.close(code, reason);
                    }
                }
                Err(WsError::Io(e)) if is_timeout(&e) => {}
                Err(e) => return self.on_error(e),
            }
        }
    }

    fn on_message(&mut self, session: &mut Session, message: Message) -> Step {
        trace!("received {message:?}");
        match (session, message) {
            (_, Message::Ping(_) | Message::Pong(_) | Message::Frame(_) | Message::Close(_)) => {
                Step::Continue
            }
            (Session::Echo, Message::Text(text)) => self.echo(frame::data(text, false)),
            (Session::Echo, Message::Binary(data)) => self.echo(frame::data(data, true)),
            // RFC 6455 §7.4.1 1003: "it has received a type of data it cannot accept".
            (Session::Chat { .. }, Message::Binary(_)) => {
                Step::Close(1003, "binary messages are not supported")
            }
            (Session::Chat { name, limit }, Message::Text(text)) => {
                match limit.check(Instant::now()) {
                    Verdict::Allow => self.chat(name, text.as_str()),
                    Verdict::Refuse => self.refuse("rate_limited", "slow down: too many messages"),
                    // RFC 6455 §7.4.1 1008: "a message that violates its policy".
                    Verdict::Flooding => Step::Close(1008, "rate limit exceeded"),
                }
            }
        }
    }

    fn chat(&mut self, name: &str, frame_text: &str) -> Step {
        match parse_client_text(frame_text) {
            Ok(text) => {
                self.ctx.metrics.received();
                match self.ctx.bus.publish(name.to_string(), text, timestamp(), &self.outbound) {
                    Ok(()) => Step::Continue,
                    Err(_) => Step::Close(1001, "server shutting down"),
                }
            }
            Err(e) => self.refuse(e.code(), e.message()),
        }
    }

    /// Sends an error event to this client only; the connection stays open.
    fn refuse(&mut self, code: &str, message: &str) -> Step {
        let event = ServerEvent::Error { code, message };
        self.outbound.send(&[&frame::text(event.to_json())]);
        Step::Continue
    }

    /// `/echo`: queue the frame, then wait until the socket took it, which gives the peer's
    /// reading speed back to its sending (the echo reader is the connection's only writer).
    fn echo(&mut self, frame: Bytes) -> Step {
        let deadline = Instant::now() + self.ctx.config.idle_timeout;
        let mut sent = self.outbound.send(&[&frame]);
        while sent == Sent::Pending {
            if Instant::now() > deadline {
                return Step::Close(1013, "not reading");
            }
            std::thread::sleep(ECHO_POLL);
            sent = self.outbound.flush();
        }
        Step::Continue
    }

    /// Maps a tungstenite error to the close code RFC 6455 §7.4.1 gives it.
    fn on_error(&mut self, error: WsError) -> End {
        match error {
            WsError::ConnectionClosed | WsError::AlreadyClosed => End::Dropped("closed".into()),
            WsError::Io(e) => End::Dropped(e.to_string()),
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                End::Dropped("connection closed without a close frame".into())
            }
            // 1009: "a message that is too big for it to process".
            WsError::Capacity(e) => {
                info!("{e}");
                self.fail(1009, "message too big")
            }
            // 1007: "data within a message that was not consistent with the type of the message
            // (e.g., non-UTF-8 data within a text message)".
            WsError::Utf8(_) => self.fail(1007, "invalid UTF-8"),
            // 1002: "terminating the connection due to a protocol error".
            WsError::Protocol(e) => {
                info!("protocol error: {e}");
                self.fail(1002, "protocol error")
            }
            e => {
                info!("{e}");
                self.fail(1011, "internal error")
            }
        }
    }

    /// _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send a close frame, then close TCP
    /// without waiting for an answer, as the endpoint "MUST NOT continue to attempt to process
    /// data from the remote endpoint" after invalid data.
    fn fail(&mut self, code: u16, reason: &'static str) -> End {
        self.outbound.close(code, reason, false);
        self.finish();
        End::Closed { by: "server", code }
    }

    /// We start the close handshake.
    fn close(&mut self, code: u16, reason: &'static str) -> End {
        self.outbound.close(code, reason, false);
        self.await_close_reply("server", code)
    }

    /// The peer started the close handshake: echo its code (RFC 6455 §5.5.1: "the endpoint
    /// typically echos the status code it received") and end the connection.
    fn answer_close(&mut self, frame: Option<CloseFrame>) -> End {
        let code = frame.map_or(1000, |f| u16::from(f.code));
        if !self.outbound.close(code, "", false) {
            // It was the answer to a close we sent.
            let ours = self.outbound.closing_code().unwrap_or(code);
            self.finish();
            return End::Closed { by: "server", code: ours };
        }
        self.finish();
        End::Closed { by: "client", code }
    }

    /// After our close frame: wait a little for the peer's, discarding anything else.
    fn await_close_reply(&mut self, by: &'static str, code: u16) -> End {
        let deadline = Instant::now() + CLOSE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.wait_at_most(left).is_err() {
                break;
            }
            match self.ws.read() {
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(WsError::Io(e)) if is_timeout(&e) => break,
                Err(_) => break,
            }
        }
        self.finish();
        End::Closed { by, code }
    }

    /// Sends what is queued (the close frame last), then ends TCP cleanly: FIN first, then read
    /// until the peer's FIN so that no reset cuts off what it has not read yet.
    fn finish(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        while !self.outbound.is_drained() && Instant::now() < deadline {
            if self.outbound.flush() == Sent::Closed {
                break;
            }
            std::thread::sleep(ECHO_POLL);
        }
        self.outbound.send_close_notify();
        self.outbound.flush();
        self.outbound.shutdown(Shutdown::Write);
        drain(self.outbound.socket(), Instant::now() + LINGER);
    }

    /// Sets the socket's read timeout, unless the one set is already close enough (a system call
    /// saved per message; a ping or idle check may come up to [`TIMEOUT_SLACK`] late).
    fn wait_at_most(&mut self, wanted: Duration) -> std::io::Result<()> {
        let wanted = wanted.max(Duration::from_millis(1));
        if let Some(set) = self.read_timeout {
            if set <= wanted && wanted <= set + TIMEOUT_SLACK {
                return Ok(());
            }
        }
        self.outbound.socket().set_read_timeout(Some(wanted))?;
        self.read_timeout = Some(wanted);
        Ok(())
    }
}

/// Tells the broadcaster the client left, however the reader ends (even by a panic).
struct Membership<'a> {
    id: u64,
    ctx: &'a Context,
}

impl Drop for Membership<'_> {
    fn drop(&mut self) {
        // If the broadcaster is gone there is nobody left to tell.
        let _ = self.ctx.events.send(Event::Left { id: self.id });
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// How long we wait for the other side's close frame once ours is sent.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How long we read after our FIN, waiting for the peer's.
const LINGER: Duration = Duration::from_secs(1);
/// How late a ping or idle check may come.
const TIMEOUT_SLACK: Duration = Duration::from_secs(1);
/// How often a reader waiting for its socket to drain looks again.
const ECHO_POLL: Duration = Duration::from_micros(500);
