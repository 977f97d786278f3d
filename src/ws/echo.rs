//! `/echo` (`ECHO_ENDPOINT=true`): every message comes straight back, as text or binary.
//!
//! The smallest [`Handler`]: it shows the `ws` layer on its own, and it is what the Autobahn
//! conformance suite tests. There is no broadcaster here: the connection's `Outbound` is made
//! without [`WriteRequests`](crate::ws::outbound::WriteRequests), and its reader thread is its only
//! writer (`ws/outbound/mod.rs`, "Who writes to a socket"). So it sends with [`Outbound::send`],
//! flushes its own queue, and waits until the socket took each echo: the peer's reading speed
//! paces its sending.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Bytes;

use crate::ws::frame;
use crate::ws::outbound::{Outbound, Sent};
use crate::ws::reader::{Close, End, FLUSH_POLL, Handler};

/// Sends every message back.
#[derive(Debug)]
pub struct Echo {
    /// How long one echo may wait for the socket before the peer counts as not reading.
    pub patience: Duration,
}

impl Handler for Echo {
    fn on_open(&mut self, _: &Arc<Outbound>) -> Result<(), Close> {
        Ok(())
    }

    fn on_text(&mut self, text: &str, out: &Arc<Outbound>) -> Result<(), Close> {
        self.echo(frame::data(Bytes::copy_from_slice(text.as_bytes()), false), out)
    }

    fn on_binary(&mut self, data: Bytes, out: &Arc<Outbound>) -> Result<(), Close> {
        self.echo(frame::data(data, true), out)
    }

    fn on_close(&mut self, _: &End) {}
}

impl Echo {
    /// Queues the frame, then waits until the socket took it.
    fn echo(&self, frame: Bytes, out: &Outbound) -> Result<(), Close> {
        let deadline = Instant::now() + self.patience;
        let mut sent = out.send(&[&frame]);
        while sent == Sent::Pending {
            if Instant::now() > deadline {
                return Err(Close::new(1013, "not reading"));
            }
            std::thread::sleep(FLUSH_POLL);
            sent = out.flush();
        }
        Ok(())
    }
}
