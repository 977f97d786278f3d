//! Writing frames to a `wss://` socket: encrypted a chunk at a time into the TLS session's buffer.
//!
//! The TLS session ([`TlsSession`](crate::net::tls_session::TlsSession), rustls's unbuffered API)
//! lives in the `Outbound`'s state, under its lock, because a rustls stream cannot be cloned: the
//! reader locks it briefly to decrypt, the writer to encrypt. A write:
//! 1. first sends any record rustls must send before more data (a key update, an alert), and what
//!    is left of the last chunk's records;
//! 2. then encrypts at most [`TLS_CHUNK`] bytes of queued frames straight into the session's
//!    outgoing buffer (a large frame a part at a time), so the ciphertext waiting to be written
//!    stays small and the bytes that count against `SEND_BUFFER_BYTES` are the ones in our queue;
//! 3. and writes that buffer as a plain one is (`send(2)`, `MSG_DONTWAIT`), until the queue is
//!    empty or the socket full.
//!
//! The buffer is given back once written, as the session's other buffers are once empty: an idle
//! `wss://` client holds no buffer at all.

use std::io;
use std::net::TcpStream;

use super::State;
use super::plain::send_one;

/// Encrypts queued frames a chunk at a time and writes the TLS records without blocking.
/// `Ok(true)`: all written; `Ok(false)`: the socket is full.
pub(super) fn write_tls(socket: &TcpStream, state: &mut State) -> io::Result<bool> {
    loop {
        let tls = state.tls.as_mut().expect("write_tls is only called with TLS");
        if tls.wants_write() {
            match send_one(socket, tls.outgoing()) {
                Ok(n) => tls.sent(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            continue;
        }
        if state.frames.is_empty() {
            return Ok(true);
        }
        let mut moved = 0;
        while moved < TLS_CHUNK {
            let Some(frame) = state.frames.front() else { break };
            let end = frame.len().min(state.written + (TLS_CHUNK - moved));
            let chunk = frame.slice(state.written..end);
            let tls = state.tls.as_mut().expect("write_tls is only called with TLS");
            tls.encrypt(&chunk).map_err(io::Error::other)?;
            moved += chunk.len();
            state.advance(chunk.len());
        }
    }
}

/// Plaintext encrypted per round (four full TLS records).
const TLS_CHUNK: usize = 64 * 1024;
