//! One client's outbound side: a bounded queue of frames, and the one thread that writes it.
//!
//! # Who writes to a socket
//! One thread writes every chat client's socket: the broadcaster (`chat/broadcaster/`), with
//! [`Outbound::send`] and [`Outbound::flush`]. Any other thread with a frame for a client hands it
//! over with [`Outbound::queue`], which appends it to the queue and asks the broadcaster for a
//! write (`requests.rs`); the broadcaster wakes at once and flushes. So the reader's error events,
//! `ping_me`'s ping and the handshake the inspector shows (`chat/handler.rs`), the inspector's
//! frames about what the reader reads ([`Outbound::tap_read`]), and the Kafka delivery callback's
//! `not_delivered` error (`bus/kafka/produce.rs`) and the reader's keepalive ping after
//! `PING_INTERVAL_SECS` of silence (`ws/reader.rs`) all reach the wire from the broadcaster's
//! thread. So do the TLS records rustls wants sent after decrypting, a key update say
//! ([`Outbound::feed_ciphertext`]).
//!
//! **The one exception: the WebSocket layer's own control frames**, which the reader
//! (`ws/reader.rs`) sends as it reads: the pong its receiver answers a ping with (RFC 6455
//! §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame in response") and
//! the close echoed to a peer that closed first (§5.5.1), and the close frame the session starts (an error's 1002, 1007 or 1009, the idle timeout's 1000) with
//! the flush, `close_notify` and FIN that end the connection (and the TLS alert for a bad record,
//! sent as the reader gives up). They go through [`Outbound::send`] like the broadcaster's frames,
//! appended whole after what is queued, so a pong never lands inside a broadcast frame (the write
//! that carries it carries what was queued before it). gorilla/websocket draws the same line: one
//! writer per connection, but its control frames (`WriteControl`: close, ping, pong) may be
//! written from any goroutine.
//!
//! | who | calls |
//! |---|---|
//! | the writer: the broadcaster | [`send`](Outbound::send), [`flush`](Outbound::flush), [`close`](Outbound::close) (1013, 1001), [`tap_tick`](Outbound::tap_tick), [`shutdown`](Outbound::shutdown) |
//! | any other thread: the chat handler on the reader's thread, the Kafka callback | [`queue`](Outbound::queue), [`set_tap`](Outbound::set_tap) |
//! | the reader, reading | [`socket`](Outbound::socket), [`read_plaintext`](Outbound::read_plaintext), [`feed_ciphertext`](Outbound::feed_ciphertext), [`tap_read`](Outbound::tap_read) (these two queue what they make) |
//! | the reader, for its pong and close | `send` (through `ws/stream.rs`), `close`, `flush`, [`send_close_notify`](Outbound::send_close_notify) |
//!
//! `/echo` (`ws/echo.rs`) has no broadcaster: its `Outbound` is made without [`WriteRequests`],
//! its reader is its only writer and flushes its own queue, and [`Outbound::queue`] there writes
//! at once.
//!
//! # Sharing one socket
//! A rustls stream cannot be cloned into a read half and a write half (both need the one TLS
//! session), so the reader and the writer share this struct:
//! - Every outgoing byte goes through [`Outbound`]'s queue, under its mutex. Frames are appended
//!   whole, and a write takes them in order.
//! - The reader reads from the socket *without* the lock (a blocking `read` on
//!   [`Outbound::socket`]), so a silent client never holds up the broadcaster. With TLS, the
//!   session lives inside the lock: the reader reads ciphertext without it, then locks briefly to
//!   decrypt.
//! - The queue is bounded by `SEND_BUFFER_BYTES`. A client that falls further behind is closed with
//!   1013 (try again later) and its backlog dropped, so a stalled reader costs the others nothing.
//! - Once a close frame is queued ([`Outbound::close`]) nothing more is accepted (RFC 6455 §5.5.1:
//!   "the endpoint MUST NOT send any more data frames after sending a Close frame").
//!
//! # The write paths, one file each
//! - `plain.rs`: `ws://`, every queued frame in one `sendmsg` (writev style), `MSG_DONTWAIT`.
//! - `tls.rs`: `wss://`, queued frames encrypted a chunk at a time into the TLS session's buffer.
//! - `requests.rs`: bytes waiting in the queue ask the writer for a write, and its two rules.

mod plain;
mod requests;
mod tls;

use std::collections::VecDeque;
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tungstenite::Bytes;

use crate::metrics::Metrics;
use crate::net::tls_session::TlsSession;
use crate::ws::deflate::Agreed;
use crate::ws::frame::{self, Opcode};
use crate::ws::tap::{Tap, Tapped};
use plain::{write_direct, write_plain};
pub use requests::WriteRequests;
use tls::write_tls;

/// The outcome of handing frames to a client's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Everything queued so far is in the kernel.
    Flushed,
    /// Some bytes wait in the queue; a write is asked for (see `requests.rs`).
    Pending,
    /// The client fell more than `SEND_BUFFER_BYTES` behind and is being closed with 1013.
    Evicted,
    /// The connection is closing or gone; nothing was queued.
    Closed,
}

/// A client's outbound queue, shared by its reader thread and its writer (the broadcaster).
#[derive(Debug)]
pub struct Outbound {
    /// Kept here, not behind another pointer: the broadcaster reaches every client's socket in
    /// every round, and each hop is a cache miss with a thousand clients.
    socket: TcpStream,
    limit: usize,
    metrics: Arc<Metrics>,
    /// Where to ask for a write; `None`: the thread that queues writes itself (`/echo`).
    writer: Option<WriteRequests>,
    /// A tap is installed (`State::tap`): checked without the lock for every read.
    tapping: AtomicBool,
    /// What the client agreed to in its handshake: permessage-deflate (RFC 7692), or `None`.
    deflate: Option<Agreed>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    /// Bytes of the front frame already written (or, with TLS, already handed to rustls).
    written: usize,
    /// Bytes queued and not yet written.
    queued: usize,
    tls: Option<Box<TlsSession>>,
    /// The code of the close frame we queued, if we did.
    closing: Option<u16>,
    /// The socket failed or was shut down: drop everything.
    dead: bool,
    /// A write was asked for and the queue has not been emptied since.
    write_asked: bool,
    /// The wire inspector's tap, when the client switched it on.
    tap: Option<Box<Tapped>>,
}

impl Outbound {
    /// Wraps a connected socket (and its TLS session, if any) after the handshake. `limit` is
    /// `SEND_BUFFER_BYTES`; `writer` is where to ask for writes (`None`: whoever queues, writes).
    pub fn new(
        socket: TcpStream,
        tls: Option<Box<TlsSession>>,
        limit: usize,
        metrics: Arc<Metrics>,
        writer: Option<WriteRequests>,
    ) -> Outbound {
        let state = State {
            frames: VecDeque::new(),
            written: 0,
            queued: 0,
            tls,
            closing: None,
            dead: false,
            write_asked: false,
            tap: None,
        };
        let tapping = AtomicBool::new(false);
        let state = Mutex::new(state);
        Outbound { socket, limit, metrics, writer, tapping, deflate: None, state }
    }

    /// The same queue for a client that agreed to permessage-deflate on these terms: writers
    /// that hold a message's compressed frame (`ws::deflate::SharedFrame`) send it that one.
    pub fn with_deflate(mut self, agreed: Option<Agreed>) -> Outbound {
        self.deflate = agreed;
        self
    }

    /// The permessage-deflate terms of this connection, if it has any.
    pub fn deflate(&self) -> Option<Agreed> {
        self.deflate
    }

    /// The socket, for the reader's blocking reads (which take no lock).
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The writer's call: queues frames and writes what the socket takes now; on overflow closes
    /// the client with 1013. Also the reader's, for its control frames (see "Who writes").
    pub fn send(&self, frames: &[&Bytes]) -> Sent {
        self.accept(frames, Outbound::send_locked)
    }

    /// Every other thread's call: appends frames to the queue, under the same bound and closing
    /// rules as [`Outbound::send`], and asks the writer to write them ([`Sent::Pending`]); it
    /// never writes itself, unless the `Outbound` has no writer (`/echo`).
    pub fn queue(&self, frames: &[&Bytes]) -> Sent {
        self.accept(frames, Outbound::queue_locked)
    }

    /// Installs a tap on every frame this connection reads and writes from now on (`None`
    /// removes it); see `ws/tap.rs`.
    pub fn set_tap(&self, tap: Option<Box<dyn Tap>>) {
        let mut state = self.lock();
        self.tapping.store(tap.is_some(), Ordering::Relaxed);
        state.tap = tap.map(|tap| Box::new(Tapped::new(tap, self.deflate.is_some())));
    }

    /// Reader side: bytes just read from the client (decrypted), for the tap if there is one. Its
    /// frames are queued for the writer, like [`Outbound::queue`]'s.
    pub fn tap_read(&self, bytes: &[u8]) {
        self.with_tap(|tapped, events| tapped.read(bytes, events), Outbound::queue_locked);
    }

    /// Once a second (the broadcaster's tick): lets the tap, if any, send what is due.
    pub fn tap_tick(&self) {
        self.with_tap(|tapped, events| tapped.tap.tick(events), Outbound::send_locked);
    }

    /// The writer's call (and the reader's, as it ends the connection): writes what the socket
    /// takes now, without blocking.
    pub fn flush(&self) -> Sent {
        let mut state = self.lock();
        self.write_out(&mut state)
    }

    /// Queues a close frame (RFC 6455 §5.5.1) unless one was queued already, and tries to send it.
    /// With `drop_backlog`, queued frames not yet started are discarded first. Returns false when
    /// the connection was already closing.
    pub fn close(&self, code: u16, reason: &str, drop_backlog: bool) -> bool {
        let mut state = self.lock();
        if state.is_closing() {
            return false;
        }
        self.queue_close(&mut state, code, reason, drop_backlog);
        self.write_out(&mut state);
        true
    }

    /// The code of the close frame queued, if one was.
    pub fn closing_code(&self) -> Option<u16> {
        self.lock().closing
    }

    /// True when every queued byte (the close frame included) is in the kernel.
    pub fn is_drained(&self) -> bool {
        let state = self.lock();
        state.dead || (state.queued == 0 && !state.tls.as_ref().is_some_and(|t| t.wants_write()))
    }

    /// Ends the TLS session politely (a `close_notify` alert, sent with the next flush).
    pub fn send_close_notify(&self) {
        if let Some(tls) = self.lock().tls.as_mut() {
            // A session that is already closed has nothing more to say.
            let _ = tls.close_notify();
        }
    }

    /// Shuts the socket down; a reader blocked in `read` wakes up with end-of-file.
    pub fn shutdown(&self, how: Shutdown) {
        let mut state = self.lock();
        if how == Shutdown::Both {
            state.dead = true;
            state.frames.clear();
            state.queued = 0;
        }
        // The peer may be gone already; there is nothing to do about a failure here.
        let _ = self.socket.shutdown(how);
    }

    /// True when the connection carries TLS.
    pub fn is_tls(&self) -> bool {
        self.lock().tls.is_some()
    }

    /// Reader side, TLS only: plaintext already decrypted, if any. `None`: read more ciphertext.
    /// `Some(0)`: the peer ended the TLS session.
    pub fn read_plaintext(&self, out: &mut [u8]) -> Option<usize> {
        let mut state = self.lock();
        let Some(tls) = state.tls.as_mut() else { return Some(0) };
        tls.read_plaintext(out)
    }

    /// Reader side, TLS only: decrypts ciphertext the reader thread read from the socket (all of
    /// it: the plaintext waits in the session for [`Outbound::read_plaintext`]).
    pub fn feed_ciphertext(&self, ciphertext: Vec<u8>) -> io::Result<()> {
        let mut state = self.lock();
        let Some(tls) = state.tls.as_mut() else { return Ok(()) };
        let received = tls.receive(ciphertext);
        // Decrypting may produce records to send: a key update, say, which is the writer's to
        // send; or the alert for a bad record, which goes now, as the reader gives up on this
        // connection (it ends it, as a close frame does).
        if state.tls.as_ref().is_some_and(|t| t.wants_write()) {
            match received {
                Ok(()) => self.leave_to_writer(&mut state),
                Err(_) => self.write_out(&mut state),
            };
        }
        received.map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Takes `frames` under the lock, unless the connection is closing: with the tap's events
    /// about each, when a tap is installed.
    fn accept(&self, frames: &[&Bytes], take: Take) -> Sent {
        let mut state = self.lock();
        if state.is_closing() {
            return Sent::Closed;
        }
        let Some(tapped) = state.tap.as_mut() else { return take(self, &mut state, frames) };
        // Each frame, then the tap's events about it (which are not tapped themselves); a close
        // frame after its events, as nothing may follow it (§5.5.1).
        let mut all = Vec::with_capacity(frames.len() * 2);
        for &frame in frames {
            let at = all.len();
            all.push(frame.clone());
            tapped.wrote(frame, &mut all);
            if frame.first().is_some_and(|&b| Opcode::from_byte0(b) == Opcode::Close) {
                all[at..].rotate_left(1);
            }
        }
        let all: Vec<&Bytes> = all.iter().collect();
        take(self, &mut state, &all)
    }

    /// Runs `act` on the tap, if there is one, and takes the events it makes.
    fn with_tap(&self, act: impl FnOnce(&mut Tapped, &mut Vec<Bytes>), take: Take) {
        if !self.tapping.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.lock();
        let Some(tapped) = state.tap.as_mut() else { return };
        let mut events = Vec::new();
        act(tapped, &mut events);
        if !events.is_empty() && !state.is_closing() {
            let events: Vec<&Bytes> = events.iter().collect();
            take(self, &mut state, &events);
        }
    }

    /// Queues `frames` and writes what the socket takes now.
    fn send_locked(&self, state: &mut State, frames: &[&Bytes]) -> Sent {
        // Nothing waits: write straight from the caller's frames, no queue touched. What the
        // kernel does not take then waits for a later write: the socket is full.
        let direct = state.frames.is_empty() && state.tls.is_none();
        let mut taken = 0;
        if direct {
            match write_direct(&self.socket, frames) {
                Ok(n) => taken = n,
                Err(_) => {
                    state.dead = true;
                    return Sent::Closed;
                }
            }
        }
        for frame in frames {
            let skip = taken.min(frame.len());
            taken -= skip;
            if skip < frame.len() {
                state.queued += frame.len() - skip;
                state.frames.push_back((*frame).clone());
                if skip > 0 {
                    state.written = skip;
                }
            }
        }
        let sent = match (state.frames.is_empty(), direct) {
            (true, _) => Sent::Flushed,
            (false, true) => self.ask_for_write(state),
            (false, false) => self.write_out(state),
        };
        // Judge what the socket did not take: a big round to a fast reader is no backlog.
        if sent == Sent::Pending && self.over_limit(state) {
            self.evict(state);
            self.write_out(state);
            return Sent::Evicted;
        }
        sent
    }

    /// Appends `frames` and leaves them to the writer. The bound is judged before any write (the
    /// writer has not had its turn): a reader's frames are small, so what passes it is a backlog
    /// that was there already.
    fn queue_locked(&self, state: &mut State, frames: &[&Bytes]) -> Sent {
        for &frame in frames {
            state.queued += frame.len();
            state.frames.push_back(frame.clone());
        }
        if self.over_limit(state) {
            self.evict(state);
            self.leave_to_writer(state);
            return Sent::Evicted;
        }
        self.leave_to_writer(state)
    }

    /// More than `SEND_BUFFER_BYTES` wait. A single frame (one large history) may exceed the
    /// bound on its own.
    fn over_limit(&self, state: &State) -> bool {
        state.queued > self.limit && state.frames.len() > 1
    }

    /// Drops the backlog and queues close 1013 in its place.
    fn evict(&self, state: &mut State) {
        self.queue_close(state, 1013, "too slow: send buffer full", true);
        self.metrics.evicted();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves a queue that is still consistent
        // enough to close; keep going rather than poisoning every other client.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn queue_close(&self, state: &mut State, code: u16, reason: &str, drop_backlog: bool) {
        if drop_backlog {
            // Keep only a frame that is partly on the wire: cutting it would corrupt the stream.
            let keep = usize::from(state.written > 0 && !state.frames.is_empty());
            state.frames.truncate(keep);
            state.queued = state.frames.front().map_or(0, |f| f.len() - state.written) * keep;
            if keep == 0 {
                state.written = 0;
            }
        }
        let close = frame::close(code, reason);
        if let Some(tapped) = state.tap.as_mut() {
            // The tap's events about the close frame go before it: nothing may follow a close.
            let mut events = Vec::new();
            tapped.wrote(&close, &mut events);
            for event in events {
                state.queued += event.len();
                state.frames.push_back(event);
            }
        }
        state.queued += close.len();
        state.frames.push_back(close);
        state.closing = Some(code);
        self.metrics.close_sent(code);
    }

    fn write_out(&self, state: &mut State) -> Sent {
        if state.dead {
            return Sent::Closed;
        }
        let result = if state.tls.is_some() {
            write_tls(&self.socket, state)
        } else {
            write_plain(&self.socket, state)
        };
        match result {
            Ok(true) => {
                // A queue that once held a backlog keeps its capacity; give it back, so that a
                // burst does not cost an idle client memory for the rest of its life.
                if state.frames.capacity() > KEEP_CAPACITY {
                    state.frames = VecDeque::new();
                }
                Outbound::emptied(state);
                Sent::Flushed
            }
            Ok(false) => self.ask_for_write(state),
            Err(_) => {
                // The peer is gone. Its reader thread finds out on its next read.
                state.dead = true;
                state.frames.clear();
                state.queued = 0;
                Sent::Closed
            }
        }
    }
}

/// What takes frames once they are accepted: [`Outbound::send_locked`] (write now) or
/// [`Outbound::queue_locked`] (leave them to the writer).
type Take = fn(&Outbound, &mut State, &[&Bytes]) -> Sent;

impl State {
    /// A close frame is queued, or the socket is gone: nothing more is accepted.
    fn is_closing(&self) -> bool {
        self.closing.is_some() || self.dead
    }

    /// Drops `n` written bytes from the front of the queue.
    fn advance(&mut self, mut n: usize) {
        self.queued -= n;
        while n > 0 {
            let front = self.frames.front().expect("never more bytes written than queued").len();
            let left = front - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            self.written = 0;
            self.frames.pop_front();
        }
    }
}

/// Queue slots an empty queue may keep.
const KEEP_CAPACITY: usize = 16;

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::TcpListener;
    use std::thread;

    use socket2::{Domain, SockRef, Socket, Type};

    use super::*;

    /// A connected pair on 127.0.0.1 with small kernel buffers: (server side, client side).
    pub(super) fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        client.set_recv_buffer_size(4096).unwrap();
        client.connect(&listener.local_addr().unwrap().into()).unwrap();
        let (server, _) = listener.accept().unwrap();
        SockRef::from(&server).set_send_buffer_size(4096).unwrap();
        (server, client.into())
    }

    pub(super) fn outbound(socket: TcpStream, limit: usize) -> Outbound {
        Outbound::new(socket, None, limit, Arc::new(Metrics::default()), None)
    }

    /// Frame `i`: `len` bytes of one value, so a byte out of place shows.
    pub(super) fn numbered(i: usize, len: usize) -> Bytes {
        Bytes::from(vec![(i % 251) as u8; len])
    }

    /// Reads everything until the peer shuts down its side.
    fn read_all(mut client: TcpStream) -> thread::JoinHandle<Vec<u8>> {
        thread::spawn(move || {
            let mut all = Vec::new();
            client.read_to_end(&mut all).unwrap();
            all
        })
    }

    /// Everything the client receives once `out` is flushed to the end and its stream ended.
    pub(super) fn received(out: &Outbound, client: TcpStream) -> Vec<u8> {
        let reader = read_all(client);
        while !out.is_drained() {
            assert_ne!(out.flush(), Sent::Closed);
            thread::sleep(std::time::Duration::from_millis(1));
        }
        out.shutdown(Shutdown::Write);
        reader.join().unwrap()
    }

    #[test]
    fn a_round_bigger_than_the_limit_to_a_reader_with_room_is_no_backlog() {
        let (server, client) = pair();
        SockRef::from(&server).set_send_buffer_size(256 * 1024).unwrap();
        let out = outbound(server, 1024);
        let frames: Vec<Bytes> = (0..4).map(|i| Bytes::from(vec![i as u8; 400])).collect();
        let round: Vec<&Bytes> = frames.iter().collect();
        assert_eq!(out.send(&round), Sent::Flushed);
        assert_eq!(out.closing_code(), None);
        assert_eq!(received(&out, client), frames.concat());
    }

    #[test]
    fn a_stalled_reader_is_closed_with_1013_after_whole_frames() {
        let (server, client) = pair();
        let out = outbound(server, 16 * 1024);
        let frames: Vec<Bytes> = (0..300).map(|i| numbered(i, 1000)).collect();
        let evicted_at = frames.iter().position(|f| out.send(&[f]) == Sent::Evicted);
        let evicted_at = evicted_at.expect("a reader that never reads is evicted");
        assert_eq!(out.closing_code(), Some(1013));
        assert_eq!(out.send(&[&frames[0]]), Sent::Closed, "nothing is accepted after the close");
        let got = received(&out, client);
        let close = frame::close(1013, "too slow: send buffer full");
        assert!(got.ends_with(&close), "the stream ends with the close frame");
        let body = &got[..got.len() - close.len()];
        assert_eq!(body.len() % 1000, 0, "only whole frames before the close");
        let whole = body.len() / 1000;
        assert!(whole <= evicted_at);
        assert_eq!(body, frames[..whole].concat());
    }
}
