//! Retries: asked for by the queue itself.
//!
//! Whoever sends (the broadcaster, the reader's pongs and error events, the Kafka delivery
//! callback) may leave bytes behind when the socket is full. No caller has to remember to ask for a
//! retry: every write that leaves bytes queued asks on its own, through the [`RetryTo`] the
//! `Outbound` was made with, and the thread that owns the retry tick (the chat's broadcaster) then
//! flushes it every tick until it is drained. Two rules keep that safe:
//! - **At most one request per client is outstanding.** `State::retry_asked` is set, under the
//!   queue's lock, when a request is sent, and cleared, under the same lock, only when a flush
//!   empties the queue. So whenever bytes are queued a request is on its way or being served, and
//!   the retry queue never holds more ids than there are clients.
//! - **Asking never blocks.** The broadcaster asks too (its own sends leave bytes behind), and a
//!   thread that blocked sending into a queue only it empties would wait forever. So requests go
//!   into their own unbounded channel, not into the broadcaster's bounded event channel; the
//!   rule above is what bounds it.
//!
//! An `Outbound` made without a [`RetryTo`] (`/echo`) is flushed by its own reader.

use crossbeam_channel::Sender;

use super::{Outbound, Sent, State};

/// Where an [`Outbound`] asks for a retry: the id it is known by there, and the (unbounded) queue
/// of the thread that retries. See "Retries" above.
#[derive(Debug, Clone)]
pub struct RetryTo {
    /// The client's id, as the retrying thread knows it.
    pub id: u64,
    /// The retrying thread's queue of ids.
    pub queue: Sender<u64>,
}

impl Outbound {
    /// Bytes wait for the socket: ask for a retry, unless one is already asked for.
    pub(super) fn pending(&self, state: &mut State) -> Sent {
        if let Some(retry) = self.retry.as_ref().filter(|_| !state.retry_asked) {
            state.retry_asked = true;
            // Unbounded: never blocks. If the retrying thread is gone, the server is stopping.
            let _ = retry.queue.send(retry.id);
        }
        Sent::Pending
    }

    /// The queue is empty: the next backlog asks again.
    pub(super) fn emptied(state: &mut State) {
        state.retry_asked = false;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::sync::Arc;
    use std::thread;

    use super::super::tests::{numbered, pair};
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn bytes_left_behind_ask_for_one_retry_until_the_queue_is_empty() {
        let (server, mut client) = pair();
        let (queue, retries) = crossbeam_channel::unbounded();
        let retry = RetryTo { id: 7, queue };
        let out =
            Outbound::new(server, None, usize::MAX, Arc::new(Metrics::default()), Some(retry));
        // Small frames, one at a time, as an error event or a pong is sent: the first one the
        // socket does not take in full asks for a retry by itself.
        let frame = numbered(1, 100);
        let mut sent = 0;
        while out.send(&[&frame]) == Sent::Flushed {
            sent += 1;
            assert!(sent < 100_000, "the socket never filled up");
        }
        assert_eq!(retries.try_iter().collect::<Vec<_>>(), [7], "one retry asked for");
        // More bytes behind the same backlog, and flushes that find the socket still full: the
        // one request stands for all of them.
        for _ in 0..3 {
            assert_eq!(out.send(&[&frame]), Sent::Pending);
            assert_eq!(out.flush(), Sent::Pending);
        }
        assert!(retries.try_iter().next().is_none(), "at most one request outstanding");
        // The client reads everything; the retry empties the queue...
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
        assert_eq!(retries.try_iter().collect::<Vec<_>>(), [7]);
    }
}
