//! What an idle client reads, and the thread that keeps reading them (`--idle-read all`).
//!
//! A browser tab left open reads every frame the server sends it: the `join`, `leave` and `users`
//! frames of the others, and the server's pings, which it answers. An idle client that reads only
//! its connect frames leaves the rest in its kernel receive buffer and lets the pings go
//! unanswered, so the server's side of it is not what a real client costs (issue 25). Here one
//! thread reads every idle client's socket through epoll (`poll.rs`), from the moment its
//! connect frames are in until the run is over, and for each client:
//! - counts the frames and their bytes on the wire (header and payload), without putting
//!   fragmented messages together: nothing here looks inside a message, nor inflates a
//!   compressed one (RSV1, with `--deflate`): those are counted;
//! - answers every ping with a pong that carries the ping's payload (RFC 6455 §5.5.2, §5.5.3),
//!   masked like every frame a client sends (§5.3; `Writer::send` does it);
//! - answers a close frame with a close (§5.5.1) and stops reading it: that client is not held.
//!
//! The thread owns its clients and gives them back, still connected, when it is stopped, so the
//! end of the run can look at which are still open.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::client::{self, Conn, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT};
use crate::poll::Epoll;

/// One idle client: its connection, what it read, and how it ended if it did.
pub struct IdleClient {
    pub conn: Conn,
    pub tally: Tally,
    pub end: Option<End>,
}

/// What one client received since its handshake.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Frames of every kind, control frames included.
    pub frames: u64,
    /// Their bytes on the wire (headers and payloads, after TLS is taken off).
    pub bytes: u64,
    /// Whole text messages: unfragmented text frames, and the last fragments of the others.
    pub messages: u64,
    /// Pings answered with a pong.
    pub pings: u64,
    /// Frames with RSV1 set: compressed messages (permessage-deflate, RFC 7692 §6), counted
    /// and not inflated.
    pub compressed: u64,
}

impl Tally {
    pub fn add(&mut self, other: &Tally) {
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.messages += other.messages;
        self.pings += other.pings;
        self.compressed += other.compressed;
    }
}

/// Why a client stopped reading before the run was over.
#[derive(Debug, Clone)]
pub enum End {
    /// The server sent a close frame with this code (1005: none given, RFC 6455 §7.1.5).
    Closed(u16),
    /// The server ended the stream without a close frame.
    Eof,
    /// A read or write failed.
    Failed(String),
}

impl IdleClient {
    pub fn new(conn: Conn) -> IdleClient {
        IdleClient { conn, tally: Tally::default(), end: None }
    }

    /// Handles the complete frames in the client's buffer; false once it has ended.
    pub fn handle_frames(&mut self) -> bool {
        loop {
            let frame = match self.conn.reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return true,
                Err(e) => return self.ended(End::Failed(e.to_string())),
            };
            self.tally.frames += 1;
            self.tally.bytes += frame.wire as u64;
            self.tally.compressed += u64::from(frame.rsv1);
            match frame.opcode {
                OP_TEXT | OP_CONTINUATION if frame.fin => self.tally.messages += 1,
                // RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
                // frame in response"; §5.5.3: with "identical Application data".
                // A pong that cannot be written is not an end of its own: the read that follows
                // tells how the connection ended (a close frame, or end of stream).
                OP_PING => {
                    let payload = self.conn.reader.payload(&frame).to_vec();
                    if self.conn.writer.send(OP_PONG, &payload).is_ok() {
                        self.tally.pings += 1;
                    }
                }
                // RFC 6455 §5.5.1: an endpoint that receives a Close frame and has sent none
                // "MUST send a Close frame in response".
                OP_CLOSE => {
                    let code = close_code(self.conn.reader.payload(&frame));
                    let _ = self.conn.writer.close(code);
                    return self.ended(End::Closed(code));
                }
                _ => {}
            }
        }
    }

    /// Reads what waits, without blocking, and handles it: `Ok` while the connection is open.
    /// Used at the end of the run, and for clients that stopped reading after their connect.
    pub fn still_open(&mut self) -> Result<(), End> {
        if let Some(end) = &self.end {
            return Err(end.clone());
        }
        if let Err(e) = self.conn.reader.tcp().set_nonblocking(true) {
            return Err(End::Failed(e.to_string()));
        }
        // Bounded: a connection that keeps receiving is open.
        for _ in 0..1000 {
            if !self.handle_frames() {
                break;
            }
            match self.conn.reader.fill() {
                Ok(0) => return Err(End::Eof),
                Ok(_) => {}
                Err(e) if client::is_timeout(&e) => return Ok(()),
                Err(e) => return Err(End::Failed(e.to_string())),
            }
        }
        self.end.clone().map_or(Ok(()), Err)
    }

    /// Reads what the socket has and handles its frames. True when there may be more.
    fn service(&mut self) -> bool {
        if !self.handle_frames() {
            return false;
        }
        for _ in 0..64 {
            match self.conn.reader.fill() {
                Ok(0) => return self.ended(End::Eof),
                Ok(_) => {}
                Err(e) if client::is_timeout(&e) => return false,
                Err(e) => return self.ended(End::Failed(e.to_string())),
            }
            if !self.handle_frames() || self.conn.reader.drained() {
                return false;
            }
        }
        true
    }

    fn ended(&mut self, end: End) -> bool {
        self.end.get_or_insert(end);
        false
    }
}

/// The code of a close frame's payload (RFC 6455 §5.5.1: two bytes, network order, then a
/// reason); 1005 when it has none (§7.1.5).
pub fn close_code(payload: &[u8]) -> u16 {
    match payload {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 1005,
    }
}

/// The thread that reads every idle client handed to it, until [`KeepReading::stop`].
pub struct KeepReading {
    clients: mpsc::Sender<IdleClient>,
    stop: Arc<AtomicBool>,
    /// Whole text messages read so far, by all clients (pings are not messages).
    messages: Arc<AtomicU64>,
    handle: JoinHandle<Result<Vec<IdleClient>, String>>,
}

impl KeepReading {
    pub fn start() -> Result<KeepReading, String> {
        let epoll = Epoll::new().map_err(|e| format!("epoll: {e}"))?;
        let (clients, queue) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let messages = Arc::new(AtomicU64::new(0));
        let (flag, count) = (stop.clone(), messages.clone());
        let handle = thread::Builder::new()
            .name("idle-read".into())
            .spawn(move || read_all(epoll, &queue, &flag, &count))
            .map_err(|e| format!("starting the reading thread: {e}"))?;
        Ok(KeepReading { clients, stop, messages, handle })
    }

    /// Whole text messages the clients have read so far: while it grows, the server is still
    /// sending them something (the joins of the last connections).
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Hands a connected client over; false if the thread is gone.
    pub fn hand(&self, client: IdleClient) -> bool {
        self.clients.send(client).is_ok()
    }

    /// Stops reading and gives the clients back, still connected.
    pub fn stop(self) -> Result<Vec<IdleClient>, String> {
        self.stop.store(true, Ordering::SeqCst);
        drop(self.clients);
        self.handle.join().map_err(|_| "the reading thread panicked".to_string())?
    }
}

/// The reading thread: takes new clients as they come, reads whatever epoll says is ready.
fn read_all(
    mut epoll: Epoll,
    queue: &mpsc::Receiver<IdleClient>,
    stop: &AtomicBool,
    messages: &AtomicU64,
) -> Result<Vec<IdleClient>, String> {
    let mut clients: Vec<IdleClient> = Vec::new();
    let (mut ready, mut pending) = (Vec::new(), Vec::new());
    while !stop.load(Ordering::SeqCst) {
        while let Ok(mut client) = queue.try_recv() {
            let token = clients.len();
            let fd = client.conn.reader.tcp().as_raw_fd();
            let added = client
                .conn
                .reader
                .tcp()
                .set_nonblocking(true)
                .and_then(|()| epoll.add(fd, token as u64));
            match added {
                // Its connect may have brought more than the connect frames already.
                Ok(()) => pending.push(token as u64),
                Err(e) => client.end = Some(End::Failed(e.to_string())),
            }
            clients.push(client);
        }
        let wait = if pending.is_empty() { TICK } else { Duration::ZERO };
        epoll.wait(wait, &mut ready).map_err(|e| format!("epoll_wait: {e}"))?;
        ready.append(&mut pending);
        for &token in &ready {
            let client = &mut clients[token as usize];
            if client.end.is_some() {
                continue;
            }
            let before = client.tally.messages;
            if client.service() {
                pending.push(token);
            }
            messages.fetch_add(client.tally.messages - before, Ordering::Relaxed);
            if client.end.is_some() {
                epoll.remove(client.conn.reader.tcp().as_raw_fd());
            }
        }
    }
    Ok(clients)
}

/// How often the reading thread looks for new clients and for the stop.
const TICK: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{connect, serve};

    #[test]
    fn counts_frames_answers_pings_and_closes() {
        // RFC 6455 §5.7: an unmasked "Hello", then a ping "Hi", then a close with 1000.
        let mut frames = vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'];
        frames.extend([0x89, 0x02, b'H', b'i']);
        frames.extend([0x88, 0x02, 0x03, 0xe8]);
        let (url, server) = serve("", frames);
        let mut client = IdleClient::new(connect(&url, false).unwrap());
        while client.end.is_none() {
            client.handle_frames();
            if client.end.is_none() {
                assert_ne!(client.conn.reader.fill().unwrap(), 0, "the stream ended first");
            }
        }
        assert!(matches!(client.end, Some(End::Closed(1000))));
        let t = client.tally;
        assert_eq!((t.frames, t.messages, t.pings, t.bytes), (3, 1, 1, 15));
        assert!(client.still_open().is_err(), "a closed client is not held");
        drop(client);
        // The client's frames: a masked pong with the ping's payload, then a masked close.
        let (_, got) = server.join().unwrap();
        assert_eq!(&got[..2], &[0x8a, 0x82]);
        let unmasked: Vec<u8> = got[6..8].iter().zip(&got[2..6]).map(|(b, m)| b ^ m).collect();
        assert_eq!(unmasked, b"Hi");
        assert_eq!(&got[8..10], &[0x88, 0x82]);
    }

    #[test]
    fn close_codes() {
        assert_eq!(close_code(&[0x03, 0xe8]), 1000);
        assert_eq!(close_code(&[0x03, 0xf5, b'b', b'y', b'e']), 1013);
        assert_eq!(close_code(&[]), 1005);
        assert_eq!(close_code(&[0x03]), 1005);
    }
}
