//! Writing a whole round with io_uring: one system call for every client's send, not one each.
//!
//! # What io_uring is
//! io_uring is a pair of ring buffers the process shares with the Linux kernel: the process
//! writes requests (submission queue entries, such as "send these bytes on socket 12") into one,
//! and the kernel writes their results (completion queue entries) into the other. A single
//! `io_uring_enter(2)` hands the kernel every request written since the last one and can wait
//! for their results. So many operations cost one crossing into the kernel instead of one each.
//!
//! # Why one submission per round
//! The broadcaster writes every chat socket, and a round gives each client all of its frames at
//! once (`chat/broadcaster/delivery.rs`). The blocking path makes one `send(2)` per client per
//! round; with a thousand clients that is a thousand system calls for one message. Here each
//! client whose queue is empty (the direct case) gets one SEND (one frame) or SENDMSG (several,
//! an iovec each), all with `MSG_DONTWAIT | MSG_NOSIGNAL`, and [`write_round`] submits them
//! together with `submit_and_wait`: one `io_uring_enter` per [`RING_ENTRIES`] clients. With
//! `MSG_DONTWAIT` a full socket completes at once with `EAGAIN` instead of being polled by the
//! kernel, so the wait never waits on a slow reader. Each completion is then treated exactly as
//! a direct `send` is in `mod.rs`: the part the kernel did not take is queued, in order, and
//! asks for a retry; an error marks the socket dead; a backlog past `SEND_BUFFER_BYTES` is
//! closed with 1013.
//!
//! # What stays on the blocking path, and why
//! [`Outbound::send`] still writes, in the same round, for a client that has bytes queued (its
//! queue goes first, and `write_plain` already sends it in one `sendmsg`), a `wss://` client
//! (rustls encrypts under the lock, then writes its records), a closing one, and one the wire
//! inspector taps (the tap's events are made per frame). So do every retry of a backlog, and
//! the reader's pong and close.
//!
//! # The flight: who may write while the kernel holds a send
//! From the moment a client's send is prepared until its completion is read, `State::in_flight`
//! is set, and nobody else writes to that socket: a reader's pong or close (`send`, `close`,
//! `flush`) is queued instead, and asks the broadcaster for a write. At completion the part of
//! the round the kernel did not take goes *ahead* of what was queued during the flight, so bytes
//! reach the socket in the order they were handed over and a pong never lands inside a frame.
//! The lock is not held during the flight: a reader decrypting or queueing never waits on it.
//!
//! # The fallback
//! [`Ring::new`] sets a ring up and checks, with the kernel's probe, that it has SEND and
//! SENDMSG. A container runtime's seccomp profile (Docker's default blocks io_uring) refuses
//! `io_uring_setup` with `EPERM`, an old kernel with `ENOSYS`: then the server writes with one
//! `send` per client, as it always did (`IO_URING=auto`; `on` refuses to start instead). Should
//! `io_uring_enter` itself fail mid-round, the clients whose sends may still be in the kernel's
//! hands are closed, the bytes it may still read are kept (leaked) so it never reads freed
//! memory, and the ring is not used again.
//!
//! # Unsafe
//! Pushing an entry is `unsafe`: the kernel reads the frames, iovecs and message headers it
//! points to until the send completes. [`write_round`] waits for every completion of a chunk
//! before it returns, and its caller keeps the round's frames alive until then; the iovecs and
//! headers live in [`Ring::write`], built before the first entry points into them.
#![allow(unsafe_code)]

use std::io;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use io_uring::{IoUring, Probe, opcode, types};
use log::warn;
use tungstenite::Bytes;

use super::plain::SEND_FLAGS;
use super::{Outbound, Sent};
use crate::metrics::Metrics;

/// The writer thread's io_uring: one per broadcaster.
pub struct Ring {
    ring: IoUring,
    metrics: Arc<Metrics>,
    /// `io_uring_enter` failed in a way that may have left sends in the kernel's hands: every
    /// later write goes through [`Outbound::send`].
    broken: bool,
}

impl Ring {
    /// A ring of `entries` submission slots (a power of two), if the kernel allows io_uring and
    /// its SEND and SENDMSG; the error says why not (`EPERM` under a seccomp profile that blocks
    /// it, `ENOSYS` on a kernel without it).
    pub fn new(entries: u32, metrics: Arc<Metrics>) -> io::Result<Ring> {
        let ring = IoUring::new(entries)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        for (code, name) in [(opcode::Send::CODE, "SEND"), (opcode::SendMsg::CODE, "SENDMSG")] {
            if !probe.is_supported(code) {
                let missing = format!("this kernel's io_uring has no {name}");
                return Err(io::Error::new(io::ErrorKind::Unsupported, missing));
            }
        }
        Ok(Ring { ring, metrics, broken: false })
    }

    /// Sends submitted at once at most: the submission queue's size.
    pub fn entries(&self) -> usize {
        self.ring.params().sq_entries() as usize
    }

    /// Submits one send per client of `chunk` (indexes into `writes`, each in flight) and waits
    /// for all of their completions; writes each client's outcome into `sent`.
    fn write(&mut self, writes: &[Write<'_>], chunk: &[usize], sent: &mut [Sent]) {
        // Built before any entry points into them; moving the vectors does not move their heap.
        let (iovecs, headers) = messages(writes, chunk);
        self.push(writes, chunk, &headers);
        if let Err((error, done)) = self.reap(writes, chunk, sent) {
            self.give_up(error, writes, chunk, &done, sent);
            std::mem::forget((iovecs, headers));
        }
    }

    /// Puts a SEND (one frame) or a SENDMSG (several: `headers`, in order) per client of `chunk`
    /// in the submission queue.
    fn push(&mut self, writes: &[Write<'_>], chunk: &[usize], headers: &[libc::msghdr]) {
        let mut headers = headers.iter();
        let mut queue = self.ring.submission();
        for (position, &i) in chunk.iter().enumerate() {
            let (out, frames) = writes[i];
            let fd = types::Fd(out.socket.as_raw_fd());
            let entry = match frames {
                [one] => {
                    let len = u32::try_from(one.len()).unwrap_or(u32::MAX);
                    opcode::Send::new(fd, one.as_ptr(), len).flags(SEND_FLAGS).build()
                }
                _ => {
                    let header = headers.next().expect("a header for each several-frame send");
                    opcode::SendMsg::new(fd, header).flags(SEND_FLAGS as u32).build()
                }
            };
            // SAFETY: the frame, or the header and its iovecs, stay alive and unmoved until this
            // entry's completion is read (`reap`), or are leaked (`write`, after `give_up`).
            let pushed = unsafe { queue.push(&entry.user_data(position as u64)) };
            pushed.expect("a chunk never holds more sends than the ring has entries");
        }
        self.metrics.io_uring_sends(chunk.len() as u64);
    }

    /// Submits what is queued and waits until every send of `chunk` has completed, handing each
    /// result to its `Outbound`. On a failure that may leave sends in the kernel's hands: the
    /// error, and which sends completed.
    fn reap(
        &mut self,
        writes: &[Write<'_>],
        chunk: &[usize],
        sent: &mut [Sent],
    ) -> Result<(), (io::Error, Vec<bool>)> {
        let mut done = vec![false; chunk.len()];
        let mut left = chunk.len();
        while left > 0 {
            self.metrics.io_uring_submit();
            if let Err(e) = self.ring.submit_and_wait(left) {
                // Interrupted, or short of memory or of room for completions: reap and go on.
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EAGAIN | libc::EBUSY)) {
                    return Err((e, done));
                }
            }
            for completion in self.ring.completion() {
                let position = completion.user_data() as usize;
                let (out, frames) = writes[chunk[position]];
                sent[chunk[position]] = out.complete(frames, completion.result());
                done[position] = true;
                left -= 1;
            }
        }
        Ok(())
    }

    /// `io_uring_enter` failed for good: the kernel may still hold the sends not `done`. The
    /// frames they point to are leaked (never freed, so never read after free), their clients
    /// closed (how much of their stream went out is unknown), and the ring retired.
    fn give_up(
        &mut self,
        error: io::Error,
        writes: &[Write<'_>],
        chunk: &[usize],
        done: &[bool],
        sent: &mut [Sent],
    ) {
        warn!("io_uring failed ({error}): writing with one send per client from now on");
        self.broken = true;
        for (&i, _) in chunk.iter().zip(done).filter(|(_, done)| !**done) {
            let (out, frames) = writes[i];
            std::mem::forget(frames.iter().map(|&frame| frame.clone()).collect::<Vec<Bytes>>());
            out.abandon();
            sent[i] = Sent::Closed;
        }
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("entries", &self.entries()).finish()
    }
}

/// One client's part of a round: its `Outbound` and its frames.
pub type Write<'a> = (&'a Outbound, &'a [&'a Bytes]);

/// Writes a round: each client its frames, `writes[i]` with outcome `i` of the result. Clients
/// in the direct case go out through `ring` in one submission (a few, past
/// [`Ring::entries`] clients); the others through [`Outbound::send`].
pub fn write_round(ring: &mut Ring, writes: &[Write<'_>]) -> Vec<Sent> {
    let mut sent = vec![Sent::Closed; writes.len()];
    let mut direct = Vec::with_capacity(writes.len());
    for (i, &(out, frames)) in writes.iter().enumerate() {
        let fits = !frames.is_empty() && frames.len() <= MAX_IOVECS;
        if !ring.broken && fits && out.take_off() {
            direct.push(i);
        } else {
            sent[i] = out.send(frames);
        }
    }
    let entries = ring.entries();
    for chunk in direct.chunks(entries) {
        ring.write(writes, chunk, &mut sent);
    }
    sent
}

/// The iovecs of the clients of `chunk` with several frames, one per frame, and a message
/// header per such client pointing into them, in the order of `chunk`.
fn messages(writes: &[Write<'_>], chunk: &[usize]) -> (Vec<libc::iovec>, Vec<libc::msghdr>) {
    let several = || chunk.iter().map(|&i| writes[i].1).filter(|frames| frames.len() > 1);
    let mut iovecs: Vec<libc::iovec> = several()
        .flatten()
        .map(|frame| libc::iovec {
            iov_base: frame.as_ptr() as *mut libc::c_void,
            iov_len: frame.len(),
        })
        .collect();
    let base = iovecs.as_mut_ptr();
    let mut at = 0;
    let headers = several()
        .map(|frames| {
            // SAFETY: msghdr is a plain C struct; all zeros is a valid empty header.
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_iov = base.wrapping_add(at);
            header.msg_iovlen = frames.len() as _;
            at += frames.len();
            header
        })
        .collect();
    (iovecs, headers)
}

impl Outbound {
    /// Puts this client in flight if it is in the direct case: nothing queued, plain, not
    /// closing, not tapped. From now on nobody else writes to its socket until [`complete`].
    ///
    /// [`complete`]: Outbound::complete
    fn take_off(&self) -> bool {
        let mut state = self.lock();
        let direct = state.frames.is_empty()
            && state.tls.is_none()
            && !state.is_closing()
            && state.tap.is_none()
            && !state.in_flight;
        state.in_flight = direct;
        direct
    }

    /// The completion of the send of `frames`: `result` is the bytes the kernel took, or minus
    /// an `errno`. Does what a direct `send` does with the same outcome.
    fn complete(&self, frames: &[&Bytes], result: i32) -> Sent {
        let mut state = self.lock();
        state.in_flight = false;
        let taken = match result {
            n if n >= 0 => Some(n as usize),
            // The socket is full (`MSG_DONTWAIT`), or the send was interrupted: nothing taken.
            e if e == -libc::EAGAIN || e == -libc::EINTR => Some(0),
            // The peer is gone. Its reader thread finds out on its next read.
            _ => None,
        };
        match taken.filter(|_| !state.dead) {
            Some(taken) => self.after_direct(&mut state, frames, taken),
            // Failed, or shut down during the flight: drop everything.
            None => {
                state.dead = true;
                state.frames.clear();
                state.queued = 0;
                Sent::Closed
            }
        }
    }

    /// The send's fate is unknown (see [`Ring::give_up`]): the stream cannot go on.
    fn abandon(&self) {
        {
            let mut state = self.lock();
            state.in_flight = false;
        }
        self.shutdown(Shutdown::Both);
    }
}

/// Submission slots of the broadcaster's ring: a round to up to this many clients in the direct
/// case costs one `io_uring_enter`. 64 bytes a slot, twice as many 16-byte completion slots.
pub const RING_ENTRIES: u32 = 1024;
/// Frames one SENDMSG carries at most (Linux's `UIO_MAXIOV`); a client with more in one round
/// goes through [`Outbound::send`].
const MAX_IOVECS: usize = 1024;

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::thread;
    use std::time::Duration;

    use socket2::SockRef;

    use super::super::WriteRequests;
    use super::super::tests::{numbered, outbound, pair, received};
    use super::*;
    use crate::ws::frame;

    /// A ring that works: io_uring is allowed here, so a test that cannot have one fails.
    fn ring(entries: u32) -> (Ring, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let ring = Ring::new(entries, metrics.clone()).expect("io_uring works on this kernel");
        (ring, metrics)
    }

    /// The value of a counter of `metrics`.
    fn counter(metrics: &Metrics, name: &str) -> u64 {
        let text = metrics.prometheus();
        let line = text.lines().find_map(|l| l.strip_prefix(&format!("{name} ")));
        line.expect("the counter is served").parse().unwrap()
    }

    /// One round to one client.
    fn one(ring: &mut Ring, out: &Outbound, frames: &[&Bytes]) -> Sent {
        write_round(ring, &[(out, frames)])[0]
    }

    #[test]
    fn many_clients_in_one_submission_get_their_frames_whole_and_in_order() {
        let (mut ring, metrics) = ring(16);
        let pairs: Vec<(TcpStream, TcpStream)> = (0..40).map(|_| pair()).collect();
        let (outs, clients): (Vec<Outbound>, Vec<TcpStream>) = pairs
            .into_iter()
            .map(|(server, client)| (outbound(server, usize::MAX), client))
            .unzip();
        // Client k gets k % 3 + 1 frames (one SEND, or one SENDMSG), each its own bytes.
        let frames: Vec<Vec<Bytes>> = (0..40)
            .map(|k| (0..k % 3 + 1).map(|j| numbered(k * 3 + j, 300 + k)).collect())
            .collect();
        let lists: Vec<Vec<&Bytes>> = frames.iter().map(|f| f.iter().collect()).collect();
        let writes: Vec<(&Outbound, &[&Bytes])> =
            outs.iter().zip(&lists).map(|(out, list)| (out, &list[..])).collect();
        let sent = write_round(&mut ring, &writes);
        assert_eq!(sent, vec![Sent::Flushed; 40]);
        // 40 sends in one `io_uring_enter` per 16 of them.
        assert_eq!(counter(&metrics, "websocketchat_io_uring_sends_total"), 40);
        assert_eq!(counter(&metrics, "websocketchat_io_uring_submits_total"), 3);
        for ((out, client), frames) in outs.iter().zip(clients).zip(&frames) {
            assert_eq!(received(out, client), frames.concat());
        }
    }

    #[test]
    fn clients_out_of_the_direct_case_are_sent_to_in_the_same_round_after_their_queue() {
        let (mut ring, metrics) = ring(8);
        let (server, queued_client) = pair();
        let (queue, _requests) = crossbeam_channel::unbounded();
        let writer = Some(WriteRequests { id: 1, queue });
        let queued = Outbound::new(server, None, usize::MAX, metrics.clone(), writer);
        let error = numbered(7, 50);
        assert_eq!(queued.queue(&[&error]), Sent::Pending, "another thread's frame waits");
        let (server, fresh_client) = pair();
        let fresh = outbound(server, usize::MAX);
        let frame = numbered(1, 100);
        let sent = write_round(&mut ring, &[(&queued, &[&frame]), (&fresh, &[&frame])]);
        assert_eq!(sent, [Sent::Flushed, Sent::Flushed]);
        assert_eq!(
            counter(&metrics, "websocketchat_io_uring_sends_total"),
            1,
            "the fresh one only"
        );
        assert_eq!(received(&queued, queued_client), [&error[..], &frame[..]].concat());
        assert_eq!(received(&fresh, fresh_client), frame.to_vec());
    }

    #[test]
    fn a_full_socket_keeps_the_rest_in_order_and_a_pong_lands_between_frames() {
        let (mut ring, _) = ring(8);
        let (server, client) = pair();
        let out = Arc::new(outbound(server, usize::MAX));
        // The reader's pongs, from its own thread, while the broadcaster writes big rounds.
        let pong = Bytes::from_static(&[255; 6]);
        let reader = Arc::clone(&out);
        let pongs = thread::spawn(move || {
            for _ in 0..50 {
                assert_ne!(reader.send(&[&pong]), Sent::Closed);
                thread::sleep(Duration::from_micros(200));
            }
        });
        let frames: Vec<Bytes> = (0..60).map(|i| numbered(i, 20_000)).collect();
        let mut sent = Vec::new();
        for round in frames.chunks(3) {
            let round: Vec<&Bytes> = round.iter().collect();
            sent.push(one(&mut ring, &out, &round));
            if sent.len() % 4 == 0 {
                assert_ne!(out.flush(), Sent::Closed);
            }
        }
        pongs.join().unwrap();
        assert!(sent.contains(&Sent::Pending), "the client never read: 1.2 MB cannot all fit");
        // Every frame whole and in order, each pong whole between two frames.
        let got = received(&out, client);
        let (mut at, mut next, mut pongs) = (0, 0, 0);
        while at < got.len() {
            if got[at] == 255 {
                assert_eq!(&got[at..at + 6], &[255; 6], "a pong cut at byte {at}");
                (at, pongs) = (at + 6, pongs + 1);
            } else {
                assert_eq!(&got[at..at + 20_000], &frames[next][..], "frame {next} at byte {at}");
                (at, next) = (at + 20_000, next + 1);
            }
        }
        assert_eq!((next, pongs), (60, 50));
    }

    #[test]
    fn what_comes_during_the_flight_waits_behind_the_rest_of_the_round() {
        let (server, mut client) = pair();
        let out = outbound(server, usize::MAX);
        let (a, b) = (numbered(1, 300), numbered(2, 300));
        let pong = numbered(250, 6); // the reader's pong
        assert!(out.take_off(), "nothing queued, plain: the direct case");
        // Another thread's pong during the flight is queued, not written.
        assert_eq!(out.send(&[&pong]), Sent::Pending);
        client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let nothing = client.read(&mut [0u8; 64]).map_err(|e| e.kind());
        assert_eq!(nothing, Err(std::io::ErrorKind::WouldBlock), "written during the flight");
        assert!(!out.is_drained(), "a send is in flight");
        // The kernel took `a` and 10 bytes of `b`: the rest of `b` goes before the pong.
        (&out.socket).write_all(&[&a[..], &b[..10]].concat()).unwrap();
        assert_eq!(out.complete(&[&a, &b], 310), Sent::Pending);
        client.set_read_timeout(None).unwrap();
        assert_eq!(received(&out, client), [&a[..], &b[..], &pong[..]].concat());
    }

    #[test]
    fn a_whole_round_taken_lets_what_came_during_the_flight_go_at_once() {
        let (server, mut client) = pair();
        let out = outbound(server, usize::MAX);
        let a = numbered(1, 300);
        let pong = numbered(250, 6); // the reader's pong
        assert!(out.take_off());
        assert_eq!(out.send(&[&pong]), Sent::Pending);
        (&out.socket).write_all(&a).unwrap();
        assert_eq!(out.complete(&[&a], 300), Sent::Flushed);
        let mut got = vec![0u8; a.len() + pong.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, [&a[..], &pong[..]].concat());
    }

    #[test]
    fn a_closed_peer_marks_the_client_dead() {
        let (mut ring, _) = ring(8);
        let (server, client) = pair();
        let out = outbound(server, usize::MAX);
        // Closed with unread bytes: the kernel resets the connection.
        drop(client);
        let frame = numbered(1, 1000);
        let rounds = (0..100).map(|_| {
            thread::sleep(Duration::from_millis(1));
            one(&mut ring, &out, &[&frame, &frame])
        });
        assert!(rounds.take_while(|&sent| sent != Sent::Closed).count() < 100, "never failed");
        assert_eq!(out.send(&[&frame]), Sent::Closed, "dead: nothing more is accepted");
        assert!(out.is_drained());
    }

    #[test]
    fn a_stalled_reader_is_closed_with_1013_after_whole_frames() {
        let (mut ring, _) = ring(8);
        let (server, client) = pair();
        SockRef::from(&server).set_send_buffer_size(4096).unwrap();
        let out = outbound(server, 16 * 1024);
        let frames: Vec<Bytes> = (0..300).map(|i| numbered(i, 1000)).collect();
        let evicted_at = frames.iter().position(|f| one(&mut ring, &out, &[f]) == Sent::Evicted);
        let evicted_at = evicted_at.expect("a reader that never reads is evicted");
        assert_eq!(out.closing_code(), Some(1013));
        assert_eq!(one(&mut ring, &out, &[&frames[0]]), Sent::Closed, "nothing after the close");
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
