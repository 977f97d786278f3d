//! The session loop: one client's frames in, for as long as the connection lives (RFC 6455 §5-§7).
//!
//! The [`Receiver`] (`receive.rs`) reads frames (§5.2), unmasks them (§5.3), joins fragments
//! (§5.4), checks UTF-8 (§8.1), inflates compressed messages (RFC 7692) and answers pings
//! (§5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response"), its
//! pongs queued on the [`Outbound`] like every frame. This loop adds, in the order a connection
//! meets them:
//! 1. **Open**: [`Handler::on_open`] may send the first frames (the chat's `hello`).
//! 2. **Messages**: each complete text or binary message goes to [`Handler::on_text`] or
//!    [`Handler::on_binary`]; an `Err(Close)` from the handler closes with that code.
//! 3. **Ping and idle**: our ping after `PING_INTERVAL_SECS` of silence, and close 1000 for a peer
//!    silent for `IDLE_TIMEOUT_SECS` (a dead TCP peer otherwise looks exactly like a quiet one);
//!    the handler's [`Handler::deadline`] for a message it waits for, if it has one.
//! 4. **Errors → close codes** (§7.4.1): a rule the peer broke comes from the receiver with its
//!    code and reason (too big 1009, bad UTF-8 or DEFLATE 1007, protocol error 1002), and
//!    [`Reader::on_failure`] closes with it (`closing with CODE: REASON` in the log).
//! 5. **The close handshake** (§7): we close with a code and wait briefly for the peer's close
//!    frame, or echo the code of a peer that closed first (§5.5.1); then end TCP ourselves
//!    (`net::close`).
//! 6. **End**: [`Handler::on_close`], however the connection ended.
//!
//! Glossary: a *frame* is the unit on the wire; a *message* is one or more frames (a first frame
//! and continuations); *control frames* (close, ping, pong) are never fragmented and may come
//! between the fragments of a message.
//!
//! This layer knows no JSON and no chat: the chat and `/echo` are two [`Handler`]s.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{info, trace};
use tungstenite::Bytes;

use crate::net::close::{fin_and_drain, is_timeout};
pub use crate::ws::close::Close;
use crate::ws::outbound::{Outbound, Sent};
use crate::ws::receive::{Failure, Incoming, Receiver};
use crate::ws::upgrade::Upgraded;

/// What an application does with a WebSocket. The session calls it from the connection's own
/// thread; `out` is the client's queue, where frames (from `ws::frame`) are sent.
pub trait Handler {
    /// The connection is open (the `101` was sent).
    fn on_open(&mut self, out: &Arc<Outbound>) -> Result<(), Close>;
    /// A complete text message, valid UTF-8.
    fn on_text(&mut self, text: &str, out: &Arc<Outbound>) -> Result<(), Close>;
    /// A complete binary message.
    fn on_binary(&mut self, data: Bytes, out: &Arc<Outbound>) -> Result<(), Close>;
    /// The connection ended, however it ended; nothing more can be sent.
    fn on_close(&mut self, end: &End);
    /// A time by which the peer must have sent its next message, and the close it gets when it
    /// has not (the chat waits so for a first message holding the client's session); `None`, the
    /// default: no such time.
    fn deadline(&self) -> Option<(Instant, Close)> {
        None
    }
    /// The peer has sent nothing for [`QUIET`] since its last frame, and the session now waits
    /// for its next one without going through the receiver (see "Waiting" in [`Reader`]'s
    /// docs); a connection's memory tricks (`memory.rs`) give back stack pages here. The default
    /// does nothing.
    fn on_quiet(&mut self) {}
}

/// Which side sent the first close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedBy {
    /// We did (an error, a timeout, the broadcaster's 1013 or 1001).
    Server,
    /// The client did, and we echoed its code.
    Client,
}

/// How a connection ended, for the log.
#[derive(Debug)]
pub enum End {
    /// A close frame was exchanged (or at least sent).
    Closed {
        /// Who sent the first close frame.
        by: ClosedBy,
        /// Its status code.
        code: u16,
    },
    /// The connection ended without a close frame (RFC 6455 §7.1.5 calls this 1006).
    Dropped(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Closed { by: ClosedBy::Server, code } => write!(f, "close {code} from the server"),
            End::Closed { by: ClosedBy::Client, code } => write!(f, "close {code} from the client"),
            End::Dropped(why) => write!(f, "dropped without a close frame (1006): {why}"),
        }
    }
}

/// How often a session pings a quiet peer, and when it gives up on a silent one.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A ping after this long without a frame from the peer (`PING_INTERVAL_SECS`).
    pub ping_every: Duration,
    /// Close after this long without a frame from the peer (`IDLE_TIMEOUT_SECS`).
    pub idle: Duration,
}

/// One upgraded connection, read by its own thread.
///
/// # Waiting
/// A session spends most of its life waiting for the peer's next frame. While frames come, it
/// waits inside the receiver's `read` (a blocking read with a timeout: the next deadline). Once
/// the peer has been silent for [`QUIET`], it gives the receiver's buffer back
/// ([`Receiver::release`]), tells the handler ([`Handler::on_quiet`]) and waits with a one-byte
/// `peek` at the socket from its own frame instead, and goes back to the receiver when the peek
/// says something came. Both waits end at the same deadlines; the second is shallower: the read
/// path is several kilobytes of stack deep, and a thread's stack pages, once touched, stay in
/// memory while it waits (`memory.rs` gives them back at [`Handler::on_quiet`], so an idle
/// connection keeps two pages, not three). Nothing complete is left in the receiver's buffer when
/// the quiet wait starts: it starts only after the receiver itself went to the socket for more
/// and found nothing.
pub struct Reader {
    receiver: Box<Receiver>,
    outbound: Arc<Outbound>,
    timing: Timing,
}

impl Reader {
    /// A session over an upgraded connection.
    pub fn new(upgraded: Upgraded, timing: Timing) -> Reader {
        let Upgraded { receiver, outbound } = upgraded;
        Reader { receiver, outbound, timing }
    }

    /// Runs the connection to its end, calling `handler` for what happens.
    pub fn run(mut self, handler: &mut dyn Handler) -> End {
        let end = match handler.on_open(&self.outbound) {
            Ok(()) => self.read_loop(handler),
            Err(close) => self.close(close),
        };
        handler.on_close(&end);
        end
    }

    fn read_loop(&mut self, handler: &mut dyn Handler) -> End {
        let Timing { ping_every, idle } = self.timing;
        let mut heard = Instant::now();
        let mut pinged = heard;
        // False: the next wait is inside the receiver's read; true: a peek at the socket ("Waiting").
        let mut quiet = false;
        loop {
            if let Some(code) = self.outbound.closing_code() {
                // Another thread closed us (1013 too slow, 1001 shutdown): await the answer.
                return self.await_close_reply(code);
            }
            let now = Instant::now();
            let due = handler.deadline();
            if let Some((at, close)) = due
                && now >= at
            {
                return self.close(close);
            }
            let idle_at = heard + idle;
            if now >= idle_at {
                return self.close(IDLE_TIMEOUT);
            }
            let ping_at = heard.max(pinged) + ping_every;
            if now >= ping_at {
                trace!("ping");
                // Queued for the writer like every frame that answers nothing (see "Who writes
                // to a socket" in ws/outbound/mod.rs); a dead peer surfaces as a failed read.
                self.outbound.queue(&[&EMPTY_PING]);
                pinged = now;
                continue;
            }
            let mut wake = due.map_or(idle_at.min(ping_at), |(at, _)| at.min(idle_at).min(ping_at));
            if !quiet {
                wake = wake.min(heard + QUIET);
            }
            if let Err(e) = self.wait_at_most(wake - now) {
                return End::Dropped(e.to_string());
            }
            if quiet {
                match self.outbound.socket().peek(&mut [0u8; 1]) {
                    // Something came (or the end of the stream, which the receiver reports).
                    Ok(_) => quiet = false,
                    Err(e) if is_timeout(&e) => continue,
                    Err(e) => return End::Dropped(e.to_string()),
                }
            }
            match self.read_message() {
                Ok(Incoming::Close(code)) => return self.answer_close(code),
                Ok(incoming) => {
                    heard = Instant::now();
                    if let Err(close) = self.dispatch(incoming, handler) {
                        return self.close(close);
                    }
                }
                Err(Failure::Io(e)) if is_timeout(&e) => {
                    if Instant::now() >= heard + QUIET {
                        quiet = true;
                        self.receiver.release();
                        handler.on_quiet();
                    }
                }
                Err(failure) => return self.on_failure(failure),
            }
        }
    }

    /// The receiver's read, out of line so that its frames are not part of the loop's own: the
    /// quiet wait stays shallow (see "Waiting").
    #[inline(never)]
    fn read_message(&mut self) -> Result<Incoming, Failure> {
        self.receiver.read()
    }

    /// Hands a complete message to the handler; control frames were dealt with by the receiver.
    fn dispatch(&mut self, incoming: Incoming, handler: &mut dyn Handler) -> Result<(), Close> {
        // The kind and size only: a payload may be a private message, which no log may carry.
        match incoming {
            Incoming::Text(text) => {
                trace!("received a text message of {} bytes", text.len());
                handler.on_text(&text, &self.outbound)
            }
            Incoming::Binary(data) => {
                trace!("received a binary message of {} bytes", data.len());
                handler.on_binary(data, &self.outbound)
            }
            Incoming::Control | Incoming::Close(_) => Ok(()),
        }
    }

    /// Ends the session after a failed read: a broken rule closes with its code (`receive.rs`
    /// chose it, RFC 6455 §7.4.1), a failed or ended stream just ends.
    fn on_failure(&mut self, failure: Failure) -> End {
        match failure {
            Failure::Io(e) => End::Dropped(e.to_string()),
            Failure::Ended => End::Dropped("connection closed without a close frame".into()),
            Failure::Broken(close) => {
                info!("closing with {}: {}", close.code, close.reason);
                self.fail(close)
            }
        }
    }

    /// _Fail the WebSocket Connection_ (RFC 6455 §7.1.7): send a close frame, then close TCP
    /// without waiting for an answer, as the endpoint "MUST NOT continue to attempt to process
    /// data from the remote endpoint" after invalid data.
    fn fail(&mut self, close: Close) -> End {
        self.outbound.close(close.code, close.reason, false);
        self.finish();
        End::Closed { by: ClosedBy::Server, code: close.code }
    }

    /// We start the close handshake.
    fn close(&mut self, close: Close) -> End {
        self.outbound.close(close.code, close.reason, false);
        self.await_close_reply(close.code)
    }

    /// The peer started the close handshake: echo its code (RFC 6455 §5.5.1: "the endpoint
    /// typically echos the status code it received") and end the connection.
    fn answer_close(&mut self, code: Option<u16>) -> End {
        let code = code.unwrap_or(1000);
        if !self.outbound.close(code, "", false) {
            // It was the answer to a close we sent.
            let ours = self.outbound.closing_code().unwrap_or(code);
            self.finish();
            return End::Closed { by: ClosedBy::Server, code: ours };
        }
        self.finish();
        End::Closed { by: ClosedBy::Client, code }
    }

    /// After our close frame (code `code`): wait a little for the peer's, discarding anything else.
    fn await_close_reply(&mut self, code: u16) -> End {
        let deadline = Instant::now() + CLOSE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.wait_at_most(left).is_err() {
                break;
            }
            match self.receiver.read() {
                Ok(Incoming::Close(_)) => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.finish();
        End::Closed { by: ClosedBy::Server, code }
    }

    /// Sends what is queued (the close frame last), then ends the connection as every connection
    /// ends (`net::close`): `close_notify`, FIN, then read until the peer's FIN.
    fn finish(&mut self) {
        let deadline = Instant::now() + CLOSE_WAIT;
        while !self.outbound.is_drained() && Instant::now() < deadline {
            if self.outbound.flush() == Sent::Closed {
                break;
            }
            std::thread::sleep(FLUSH_POLL);
        }
        self.outbound.send_close_notify();
        self.outbound.flush();
        fin_and_drain(self.outbound.socket());
    }

    /// Lets the next read wait at most `wanted` (at least a millisecond: a zero timeout would
    /// mean none at all).
    fn wait_at_most(&self, wanted: Duration) -> std::io::Result<()> {
        let wanted = wanted.max(Duration::from_millis(1));
        self.outbound.socket().set_read_timeout(Some(wanted))
    }
}

/// RFC 6455 §7.4.1 1000, "normal closure": the peer was silent for `IDLE_TIMEOUT_SECS`.
const IDLE_TIMEOUT: Close = Close::new(1000, "idle timeout");
/// How long a peer stays silent before the session waits for it the shallow way (see "Waiting").
pub const QUIET: Duration = Duration::from_secs(1);
/// How long we wait for the other side's close frame once ours is sent.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How often a session waiting for its queue to drain looks again.
pub const FLUSH_POLL: Duration = Duration::from_micros(500);

/// Our keepalive ping (§5.5.2): FIN, opcode 0x9, no payload. The same two bytes every time.
const EMPTY_PING: Bytes = Bytes::from_static(&[0x89, 0x00]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::frame;

    #[test]
    fn the_keepalive_ping_is_what_frame_ping_encodes() {
        assert_eq!(EMPTY_PING, frame::ping(&[]));
    }
}
