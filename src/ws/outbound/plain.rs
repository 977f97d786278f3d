//! Writing frames to a plain (`ws://`) socket: every frame in one system call, never blocking.
//!
//! - **Never block.** Each write is a `send(2)` or `sendmsg(2)` with `MSG_DONTWAIT`, which makes
//!   this one call non-blocking without making the reader's blocking reads of the same socket
//!   non-blocking. What the kernel does not take stays queued (`EAGAIN` is "the socket is full",
//!   not an error), and the `Outbound` asks for a write later (see `requests.rs`).
//! - **Many frames, one call (writev style).** A flush hands the kernel every queued frame in one
//!   `sendmsg` with an iovec per frame: under load a client gets many frames for one system call.
//!   A single frame goes out with a plain `send`. Each frame is a shared [`Bytes`]: the
//!   broadcaster encoded it once for everybody, and no copy is made to join them.
//! - **Straight from the caller's frames.** When nothing is queued (the usual case),
//!   [`write_direct`] writes a round's frames from the broadcaster's own slices, and the
//!   `Outbound` queues only what the kernel did not take.
//! - `MSG_NOSIGNAL`: a peer that is gone gives `EPIPE`, not a `SIGPIPE` that would end the server.

use std::io::{self, IoSlice};
use std::net::TcpStream;

use socket2::SockRef;
use tungstenite::Bytes;

use super::State;

/// Writes frames that were never queued, as much as the socket takes now; returns the bytes taken.
/// Less than all of them means the socket is full.
pub(super) fn write_direct(socket: &TcpStream, frames: &[&Bytes]) -> io::Result<usize> {
    let mut taken = 0;
    for chunk in frames.chunks(MAX_IOVECS) {
        let offered: usize = chunk.iter().map(|frame| frame.len()).sum();
        let n = write_frames(socket, chunk.len(), chunk.iter().map(|frame| &frame[..]))?;
        taken += n;
        if n < offered {
            break;
        }
    }
    Ok(taken)
}

/// Writes queued frames to a plain socket. `Ok(true)`: all written; `Ok(false)`: it would block.
pub(super) fn write_plain(socket: &TcpStream, state: &mut State) -> io::Result<bool> {
    while let Some(front) = state.frames.front() {
        let rest = state.frames.iter().skip(1).map(|frame| &frame[..]);
        let frames = std::iter::once(&front[state.written..]).chain(rest);
        match write_frames(socket, state.frames.len().min(MAX_IOVECS), frames)? {
            0 => return Ok(false),
            n => state.advance(n),
        }
    }
    Ok(true)
}

/// One `send(2)` with `MSG_DONTWAIT` (never block) and `MSG_NOSIGNAL` (no SIGPIPE).
pub(super) fn send_one(socket: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    SockRef::from(socket).send_with_flags(bytes, SEND_FLAGS)
}

/// One non-blocking write of the first `count` of `frames`: `send(2)` for one, `sendmsg(2)` for
/// several. Returns the bytes the kernel took, 0 when the socket is full.
fn write_frames<'a>(
    socket: &TcpStream,
    count: usize,
    frames: impl Iterator<Item = &'a [u8]> + Clone,
) -> io::Result<usize> {
    loop {
        let sent = match count {
            1 => send_one(socket, frames.clone().next().unwrap_or_default()),
            _ => send_many(socket, frames.clone()),
        };
        match sent {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// One `sendmsg(2)` with an iovec per frame, up to [`MAX_IOVECS`] of them.
///
/// Out of line, so that its kilobyte of iovecs is not on the stack of every single-frame write,
/// such as the reader's keepalive ping: measured, +4 KiB per idle connection once it has been
/// pinged (its stack 12 KiB instead of 8, 2,000 idle connections with `PING_INTERVAL_SECS=1`;
/// the table in `src/memory.rs`, and BENCHMARKS.md).
#[inline(never)]
fn send_many<'a>(socket: &TcpStream, frames: impl Iterator<Item = &'a [u8]>) -> io::Result<usize> {
    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
    let mut count = 0;
    for (slot, frame) in slices.iter_mut().zip(frames) {
        *slot = IoSlice::new(frame);
        count += 1;
    }
    SockRef::from(socket).send_vectored_with_flags(&slices[..count], SEND_FLAGS)
}

/// Never block (the reader's blocking reads share the socket) and no SIGPIPE.
const SEND_FLAGS: libc::c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
/// Frames per `sendmsg` (Linux accepts up to 1024, `UIO_MAXIOV`); the array lives on the stack.
const MAX_IOVECS: usize = 64;

#[cfg(test)]
mod tests {
    use super::super::Sent;
    use super::super::tests::{numbered, outbound, pair, received};
    use super::*;

    #[test]
    fn frames_behind_a_partial_write_arrive_whole_and_in_order() {
        let (server, client) = pair();
        let out = outbound(server, usize::MAX);
        // Big frames, alone and in rounds of three: the kernel soon takes only part of one.
        let frames: Vec<Bytes> = (0..60).map(|i| numbered(i, 20_000)).collect();
        let mut rounds = vec![vec![&frames[0]]];
        rounds.extend(frames[1..].chunks(3).map(|c| c.iter().collect::<Vec<_>>()));
        let sent: Vec<Sent> = rounds.iter().map(|round| out.send(round)).collect();
        assert!(sent.contains(&Sent::Pending), "the client never reads: 1.2 MB cannot all fit");
        assert_eq!(received(&out, client), frames.concat());
    }
}
