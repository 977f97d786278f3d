//! The stream tungstenite reads frames from, after the upgrade.
//!
//! tungstenite wants one `Read + Write` object. Ours reads straight from the socket (decrypting
//! through the shared TLS session when TLS is on) and writes by queueing on the client's
//! [`Outbound`], the same queue the broadcaster uses. tungstenite writes whole frames (we set its
//! write buffer to 0, so it writes each frame as soon as it is formed), and those frames are what
//! it sends on its own: pongs and, rarely, a close reply. What the socket does not take at once
//! waits in the queue like every other byte, and the `Outbound` asks the broadcaster to write it.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tungstenite::Bytes;

use crate::ws::outbound::Outbound;

/// Read: from the socket. Write: into the client's outbound queue.
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
        // The wire inspector sees what tungstenite is about to decode (one flag when it is off).
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

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Whole frames from tungstenite: queue them like any other frame. A connection that is
        // already closing drops them, as RFC 6455 §5.5.1 wants no frames after a close.
        self.outbound.send(&[&Bytes::copy_from_slice(buf)]);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.outbound.flush();
        Ok(())
    }
}

/// Ciphertext read per system call with TLS; one full TLS record is 16 KiB plus overhead, but most
/// chat traffic is far smaller.
const CIPHERTEXT_BUFFER: usize = 4 * 1024;
