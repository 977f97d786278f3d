//! `/echo` (`ECHO_ENDPOINT=true`): every message comes straight back, as text or binary.
//!
//! The smallest [`Handler`]: it shows the `ws` layer on its own, and it is what the Autobahn
//! conformance suite tests. There is no broadcaster here: the connection's `Outbound` is made
//! without [`WriteRequests`](crate::ws::outbound::WriteRequests), and its reader thread is its only
//! writer (`ws/outbound/mod.rs`, "Who writes to a socket"). So it sends with [`Outbound::send`],
//! flushes its own queue, and waits until the socket took each echo: the peer's reading speed
//! paces its sending.
//!
//! A client that agreed to permessage-deflate gets its echoes compressed as the chat's clients
//! get the chat's messages (`ws::deflate::SharedFrame`), by a compressor this connection makes
//! the first time it needs one.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::Bytes;

use crate::ws::deflate::{Compressor, Settings, SharedFrame};
use crate::ws::frame;
use crate::ws::outbound::{Outbound, Sent};
use crate::ws::reader::{Close, End, FLUSH_POLL, Handler};

/// Sends every message back.
#[derive(Debug)]
pub struct Echo {
    /// How long one echo may wait for the socket before the peer counts as not reading.
    patience: Duration,
    /// `COMPRESSION_MIN_BYTES`, `COMPRESSION_MAX_BYTES_PER_SEC`.
    compression: Settings,
    compressor: Option<Box<Compressor>>,
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
    /// An echo that waits at most `patience` for the socket to take each message, and compresses
    /// those `compression` allows for a client that agreed.
    pub fn new(patience: Duration, compression: Settings) -> Echo {
        Echo { patience, compression, compressor: None }
    }

    /// Queues the frame (compressed if the client agreed), then waits until the socket took it.
    fn echo(&mut self, plain: Bytes, out: &Outbound) -> Result<(), Close> {
        let frame = SharedFrame::new(plain);
        if out.deflate().is_some() {
            let Settings { min_bytes, bytes_per_second } = self.compression;
            let compressor =
                self.compressor.get_or_insert_with(|| Compressor::boxed(bytes_per_second));
            frame.prepare(compressor, min_bytes);
        }
        let deadline = Instant::now() + self.patience;
        let mut sent = out.send(&[frame.for_client(out.deflate())]);
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
