//! The bytes a connection's frames are read from, after the upgrade (`receive.rs` reads them).
//!
//! Straight from the socket without TLS; with TLS, decrypted through the connection's TLS
//! session, which lives in its [`Outbound`] because the writer encrypts with the same session.
//! Every byte read passes the wire inspector's tap on its way (one flag when it is off). Frames
//! the reader sends (pongs, close frames) go the other way, through the [`Outbound`] queue
//! like every frame.

use std::io::{self, Read};
use std::sync::Arc;

use crate::ws::outbound::Outbound;

/// A client's socket as a reader of plaintext.
#[derive(Debug)]
pub struct ClientStream {
    outbound: Arc<Outbound>,
    /// True when the connection carries TLS.
    tls: bool,
}

impl ClientStream {
    /// The stream over a client's socket and queue.
    pub fn new(outbound: Arc<Outbound>) -> ClientStream {
        let tls = outbound.is_tls();
        ClientStream { outbound, tls }
    }
}

impl Read for ClientStream {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.read_bytes(out)?;
        // The wire inspector sees what the receiver is about to decode (one flag when it is off).
        self.outbound.tap_read(&out[..n]);
        Ok(n)
    }
}

impl ClientStream {
    fn read_bytes(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.tls {
            return self.outbound.socket().read(out);
        }
        loop {
            if let Some(n) = self.outbound.read_plaintext(out) {
                return Ok(n);
            }
            // Everything read is decrypted: wait for ciphertext without a buffer (a peek at one
            // byte) and without holding the outbound lock. The buffer read into becomes the
            // session's, which gives it back once it has decrypted all of it.
            if self.outbound.socket().peek(&mut [0u8; 1])? == 0 {
                return Ok(0);
            }
            let mut ciphertext = vec![0; CIPHERTEXT_BUFFER];
            let n = self.outbound.socket().read(&mut ciphertext)?;
            if n == 0 {
                return Ok(0);
            }
            ciphertext.truncate(n);
            self.outbound.feed_ciphertext(ciphertext)?;
        }
    }
}

/// Ciphertext read per system call with TLS; one full TLS record is 16 KiB plus overhead, but most
/// chat traffic is far smaller.
const CIPHERTEXT_BUFFER: usize = 4 * 1024;
