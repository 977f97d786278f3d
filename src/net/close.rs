//! The end of every connection, HTTP or WebSocket: `close_notify`, FIN, then drain.
//!
//! 1. With TLS, a `close_notify` alert ends the session (RFC 8446 §6.1), so the client can tell
//!    our end from a cut connection.
//! 2. FIN (`shutdown(Write)`): the server closes TCP first (RFC 6455 §7.1.1: "the server SHOULD
//!    close the underlying TCP connection first").
//! 3. Read and discard until the client's FIN, for at most [`LINGER`]. Closing a socket with
//!    unread bytes makes the kernel send a reset, which can destroy our last answer (an HTTP
//!    response, a close frame) before the client has read it.
//!
//! [`finish`] does all three for a connection before the upgrade; after it, the WebSocket session
//! sends its `close_notify` through the client's queue and calls [`fin_and_drain`].

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::net::conn::Conn;

/// Ends a connection before the upgrade: `close_notify` (TLS), FIN, drain.
pub fn finish(conn: Conn) -> io::Result<()> {
    let (tcp, tls) = conn.into_parts();
    if let Some(mut session) = tls {
        // Only a session whose handshake never finished has no close_notify to send.
        if session.close_notify().is_ok() {
            session.flush_blocking(&mut &tcp)?;
        }
    }
    tcp.shutdown(Shutdown::Write)?;
    drain(&tcp, Instant::now() + LINGER);
    Ok(())
}

/// FIN, then read until the peer's FIN (or [`LINGER`]).
pub fn fin_and_drain(tcp: &TcpStream) {
    // The peer may be gone already; there is nothing to do about a failure here.
    let _ = tcp.shutdown(Shutdown::Write);
    drain(tcp, Instant::now() + LINGER);
}

/// True for the errors a read or write timeout gives (`WouldBlock` on Linux, `TimedOut` elsewhere).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Reads and discards until end-of-file, an error, the deadline or [`DRAIN_BYTES`].
fn drain(tcp: &TcpStream, deadline: Instant) {
    let mut scratch = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*tcp).read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// How long a closing connection reads after its FIN, waiting for the peer's.
pub const LINGER: Duration = Duration::from_secs(1);
/// The most a closing connection reads and discards.
const DRAIN_BYTES: usize = 64 * 1024;
