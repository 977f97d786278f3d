//! A connection before the upgrade: a socket with a deadline, plain or inside a TLS session.
//!
//! The TLS handshake and the HTTP request head must both be done within
//! `HANDSHAKE_TIMEOUT_SECS`: every read and write of a [`DeadlineSocket`] gets only the time that
//! is left, so a client sending one byte a second is still dropped in time (slowloris).
//!
//! A kept-alive connection waiting for its next request ([`DeadlineSocket::await_next`]) has two
//! deadlines: one for the request's first byte (`KEEP_ALIVE_TIMEOUT_SECS`), and from that byte on
//! a fresh `HANDSHAKE_TIMEOUT_SECS` for the rest of its head, so every request of the connection
//! meets the same bound as the first, however slowly its bytes come.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::ServerConfig;

use crate::net::tls_session::TlsSession;

/// A socket whose every read and write gets only the time left before the handshake deadline.
#[derive(Debug)]
pub struct DeadlineSocket {
    tcp: TcpStream,
    deadline: Instant,
    /// While idle between two requests: the time the next head gets from its first byte on.
    then: Option<Duration>,
}

impl DeadlineSocket {
    /// Wraps `tcp`; every operation fails with `TimedOut` from `deadline` on.
    pub fn new(tcp: TcpStream, deadline: Instant) -> DeadlineSocket {
        DeadlineSocket { tcp, deadline, then: None }
    }

    /// Waits for a next request: its first byte may take `idle`, and from that byte on the
    /// operations get `head` (the deadline restarts there).
    pub fn await_next(&mut self, idle: Duration, head: Duration) {
        self.deadline = Instant::now() + idle;
        self.then = Some(head);
    }

    /// A new deadline, `head` from now (a next request that began with the one before).
    pub fn restart(&mut self, head: Duration) {
        self.deadline = Instant::now() + head;
        self.then = None;
    }

    /// True while waiting for a next request that has not sent a byte yet.
    pub fn is_idle(&self) -> bool {
        self.then.is_some()
    }

    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.set_write_timeout(Some(left))
    }

    /// True when the first byte is 0x16, a TLS handshake record (what every TLS client sends
    /// first); "GET " means someone spoke plain HTTP to our TLS port.
    pub fn starts_with_tls_handshake(&self) -> io::Result<bool> {
        self.arm()?;
        let mut first = [0u8; 1];
        match self.tcp.peek(&mut first)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(first[0] == TLS_HANDSHAKE_RECORD),
        }
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        let n = self.tcp.read(buf)?;
        if let Some(head) = self.then.filter(|_| n > 0) {
            // The next request's first byte: its head has HANDSHAKE_TIMEOUT_SECS from now.
            self.restart(head);
        }
        Ok(n)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The connection before the upgrade: plain, or inside a TLS session. The TLS session is over a
/// kilobyte, so it is boxed once and moved as a pointer up to the client's `Outbound`.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP (`BACKEND_TLS=false`, or plain HTTP on the TLS port, which gets a 400).
    Plain(DeadlineSocket),
    /// A TLS session over TCP; the handshake is done by the first read.
    Tls(Box<TlsSession>, DeadlineSocket),
}

impl Conn {
    /// A TLS session on `socket` with `config`.
    pub fn tls(config: &Arc<ServerConfig>, socket: DeadlineSocket) -> io::Result<Conn> {
        let session = TlsSession::new(config).map_err(io::Error::other)?;
        Ok(Conn::Tls(Box::new(session), socket))
    }

    /// The socket under the TLS session, if any: its deadline.
    pub fn socket(&mut self) -> &mut DeadlineSocket {
        match self {
            Conn::Plain(socket) | Conn::Tls(_, socket) => socket,
        }
    }

    /// The socket and the TLS session, for the upgrade (or the close).
    pub fn into_parts(self) -> (TcpStream, Option<Box<TlsSession>>) {
        match self {
            Conn::Plain(socket) => (socket.tcp, None),
            Conn::Tls(conn, socket) => (socket.tcp, Some(conn)),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(session, s) => session.read_blocking(s, buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(session, s) => session.write_blocking(s, buf).map(|()| buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(session, s) => session.flush_blocking(s),
        }
    }
}

/// The content type of a TLS handshake record (RFC 8446 §5.1), the first byte a TLS client sends.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;
