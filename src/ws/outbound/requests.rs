//! Write requests: how bytes waiting in a client's queue reach the thread that writes them.
//!
//! Bytes wait in a queue for two reasons: another thread queued them ([`Outbound::queue`]: the
//! reader's error events, the Kafka callback), or a write left them behind because the socket was
//! full. Either way nobody has to remember to ask for a write: the `Outbound` asks on its own,
//! through the [`WriteRequests`] it was made with, by sending the client's id to the writer (the
//! chat's broadcaster, which `select!`s on these requests beside its events, wakes at once, and
//! flushes the client until its queue is empty, every `RETRY_TICK` while the socket stays full).
//! Two rules keep that safe:
//! - **At most one request per client is outstanding.** `State::write_asked` is set, under the
//!   queue's lock, when a request is sent, and cleared, under the same lock, only when a flush
//!   empties the queue. So whenever bytes are queued a request is on its way or being served, and
//!   the request channel never holds more ids than there are clients.
//! - **Asking never blocks.** The broadcaster asks too (its own sends leave bytes behind), and a
//!   thread that blocked sending into a queue only it empties would wait forever. So requests go
//!   into their own unbounded channel, not into the broadcaster's bounded event channel; the
//!   rule above is what bounds it.
//!
//! An `Outbound` made without [`WriteRequests`] (`/echo`) has no writer thread: what the socket
//! did not take waits for its reader's next flush, and what is queued is written at once.

use crossbeam_channel::Sender;

use super::{Outbound, Sent, State};

/// Where an [`Outbound`] asks for a write: the id it is known by there, and the (unbounded) queue
/// of the thread that writes. See the rules above.
#[derive(Debug, Clone)]
pub struct WriteRequests {
    /// The client's id, as the writing thread knows it.
    pub id: u64,
    /// The writing thread's queue of ids.
    pub queue: Sender<u64>,
}

impl Outbound {
    /// Bytes wait in the queue: ask the writer for a write, unless a request is out already.
    pub(super) fn ask_for_write(&self, state: &mut State) -> Sent {
        if let Some(writer) = self.writer.as_ref().filter(|_| !state.write_asked) {
            state.write_asked = true;
            // Unbounded: never blocks. If the writing thread is gone, the server is stopping.
            let _ = writer.queue.send(writer.id);
        }
        Sent::Pending
    }

    /// Bytes queued by a thread that is not the writer: the writer's to write (asked for), or,
    /// without one (`/echo`), the caller's, now.
    pub(super) fn leave_to_writer(&self, state: &mut State) -> Sent {
        match self.writer {
            Some(_) => self.ask_for_write(state),
            None => self.write_out(state),
        }
    }

    /// The queue is empty: the next bytes to wait ask again.
    pub(super) fn emptied(state: &mut State) {
        state.write_asked = false;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;
    use std::thread;

    use std::time::Duration;

    use super::super::tests::{numbered, pair};
    use super::*;
    use crate::metrics::Metrics;
    use crate::ws::frame;

    #[test]
    fn frames_queued_by_another_thread_wait_for_the_writer_which_is_asked_once() {
        let (server, mut client) = pair();
        let (queue, requests) = crossbeam_channel::unbounded();
        let to = WriteRequests { id: 7, queue };
        let metrics = Arc::new(Metrics::default());
        let out = Arc::new(Outbound::new(server, None, usize::MAX, metrics, Some(to)));
        // A reader thread queues an error event, then `ping_me`'s ping.
        let error = frame::text(r#"{"type":"error","code":"rate_limited"}"#.into());
        let ping = frame::ping(b"me");
        let reader = Arc::clone(&out);
        let (e, p) = (error.clone(), ping.clone());
        thread::spawn(move || {
            assert_eq!(reader.queue(&[&e]), Sent::Pending);
            assert_eq!(reader.queue(&[&p]), Sent::Pending);
        })
        .join()
        .unwrap();
        // Nothing was written: the peer reads nothing...
        client.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let nothing = client.read(&mut [0u8; 64]).map_err(|e| e.kind());
        assert_eq!(nothing, Err(std::io::ErrorKind::WouldBlock), "the reader wrote to the socket");
        // ...and the writer was asked once, for both.
        assert_eq!(requests.try_iter().collect::<Vec<_>>(), [7], "one write asked for");
        // The writer (the broadcaster, answering the request) flushes: both arrive, in order.
        assert_eq!(out.flush(), Sent::Flushed);
        let mut got = vec![0u8; error.len() + ping.len()];
        client.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, [&error[..], &ping[..]].concat());
    }

    #[test]
    fn bytes_left_behind_ask_for_one_write_until_the_queue_is_empty() {
        let (server, mut client) = pair();
        let (queue, requests) = crossbeam_channel::unbounded();
        let writer = WriteRequests { id: 7, queue };
        let out =
            Outbound::new(server, None, usize::MAX, Arc::new(Metrics::default()), Some(writer));
        // Small frames, one at a time, as the broadcaster sends a private message: the first one
        // the socket does not take in full asks for a write by itself.
        let frame = numbered(1, 100);
        let mut sent = 0;
        while out.send(&[&frame]) == Sent::Flushed {
            sent += 1;
            assert!(sent < 100_000, "the socket never filled up");
        }
        assert_eq!(requests.try_iter().collect::<Vec<_>>(), [7], "one write asked for");
        // More bytes behind the same backlog, and flushes that find the socket still full: the
        // one request stands for all of them.
        for _ in 0..3 {
            assert_eq!(out.send(&[&frame]), Sent::Pending);
            assert_eq!(out.flush(), Sent::Pending);
        }
        assert!(requests.try_iter().next().is_none(), "at most one request outstanding");
        // The client reads everything; the writer empties the queue...
        let expected = (sent + 4) * frame.len();
        let mut got = vec![0u8; expected];
        let reader = thread::spawn(move || {
            client.read_exact(&mut got).unwrap();
            client
        });
        while out.flush() != Sent::Flushed {
            thread::sleep(std::time::Duration::from_millis(1));
        }
        let _client = reader.join().unwrap();
        // ...and the next backlog asks again.
        while out.send(&[&frame]) == Sent::Flushed {}
        assert_eq!(requests.try_iter().collect::<Vec<_>>(), [7]);
    }
}
