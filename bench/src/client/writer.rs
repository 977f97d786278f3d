//! The write half of a connection: whole frames, masked as RFC 6455 §5.3 requires of a client,
//! written under one lock so that the sender's messages and the reader's pongs never
//! interleave within a frame.
//!
//! The socket may have been made non-blocking for the reader (the flag is the socket's, shared
//! by both halves), so a write that would block waits for room with poll(2) ([`Patient`]).

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use super::OP_CLOSE;
use super::dial::Stream;
use super::rng::Rng;
use super::tls::{Tls, lock};

/// The write half: masked frames (RFC 6455 §5.3), written whole.
pub struct Writer {
    tcp: Arc<TcpStream>,
    tls: Option<Tls>,
    rng: Rng,
    frame: Vec<u8>,
    /// The `101` accepted our permessage-deflate offer: it may send compressed messages.
    pub deflate: bool,
}

impl Writer {
    pub fn new(stream: &Stream, seed: u64) -> io::Result<Writer> {
        Ok(Writer {
            tcp: stream.tcp.clone(),
            tls: stream.tls.clone(),
            rng: Rng::new(seed),
            frame: Vec::with_capacity(256),
            deflate: false,
        })
    }

    /// Writes all of `bytes`, also when the socket was made non-blocking for the reader (the
    /// flag is shared by both halves): then it waits for room with poll(2).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut out = Patient(&self.tcp);
        match &self.tls {
            None => out.write_all(bytes),
            Some(tls) => {
                let mut conn = lock(tls);
                conn.writer().write_all(bytes)?;
                while conn.wants_write() {
                    conn.write_tls(&mut out)?;
                }
                Ok(())
            }
        }
    }

    /// One masked frame with FIN set.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.send_frame(0x80 | opcode, payload)
    }

    /// One masked frame with FIN and RSV1 set: a whole message, `compressed` by
    /// `Deflater::compress` (RFC 7692 §6, §7.2.1).
    pub fn send_compressed(&mut self, opcode: u8, compressed: &[u8]) -> io::Result<()> {
        self.send_frame(0xc0 | opcode, compressed)
    }

    /// One masked frame whose first byte (FIN, RSV, opcode) is `first`.
    fn send_frame(&mut self, first: u8, payload: &[u8]) -> io::Result<()> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.push(first);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = (self.rng.next() as u32).to_be_bytes();
        frame.extend_from_slice(&mask);
        let at = frame.len();
        frame.extend_from_slice(payload);
        for (i, byte) in frame[at..].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        let result = self.write_raw(&frame);
        self.frame = frame;
        result
    }

    pub fn close(&mut self, code: u16) -> io::Result<()> {
        self.send(OP_CLOSE, &code.to_be_bytes())
    }
}

/// Writes to a socket that may be non-blocking, waiting (within its write timeout) for room.
struct Patient<'a>(&'a TcpStream);

impl Write for Patient<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&*self.0).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(self.0)?,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Waits until the socket takes bytes again, at most its write timeout.
fn wait_writable(tcp: &TcpStream) -> io::Result<()> {
    let timeout = tcp.write_timeout()?.unwrap_or(Duration::from_secs(10));
    let mut fd = libc::pollfd { fd: tcp.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, and its count.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "the socket took nothing")),
        _ => Ok(()),
    }
}
