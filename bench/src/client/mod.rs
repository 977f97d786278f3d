//! A small blocking WebSocket client (RFC 6455): the opening handshake, masked frames out,
//! frames in, over TCP or rustls.
//!
//! After the handshake a connection splits into a [`Reader`] (one thread reads) and a [`Writer`]
//! (shared behind a mutex by the sender thread and the reader's pongs). With TLS both halves share
//! the rustls session: the reader reads ciphertext without the lock and locks to decrypt, as the
//! server does.
//!
//! With [`Dial::deflate`] the handshake offers permessage-deflate (RFC 7692) and checks the answer
//! (`deflate.rs`); where it was agreed, frames may come with RSV1 set and [`Writer`] can send
//! them, while the inflating and compressing is left to whoever reads and sends messages.
//!
//! In the order a connection uses them:
//! - `connectors.rs`: many connections opened from a few threads;
//! - `dial.rs`: the TCP socket and its options, then TLS;
//! - `tls.rs`: the rustls configuration and reads through a shared session;
//! - `handshake.rs`: the upgrade request and the `101` checked (§4.1);
//! - `reader.rs`: frames in (§5.2); `writer.rs`: masked frames out (§5.3);
//! - `rng.rs`: the masking and handshake keys' random numbers.

mod connectors;
mod dial;
mod handshake;
mod reader;
mod rng;
mod tls;
mod writer;

pub use connectors::connect_all;
pub use dial::{Dial, Stream};
pub use handshake::Conn;
pub use reader::{Frame, Reader};
pub use rng::Rng;
pub use tls::{tls_config, tls_read};
pub use websocketchat::net::close::is_timeout;
pub use writer::Writer;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Where `needle` first occurs in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
