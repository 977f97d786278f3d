//! The switch from HTTP to WebSocket frames on one connection (RFC 6455 §4.2.2).
//!
//! [`upgrade`] writes the `101` that [`handshake::check`] allowed,
//! takes the socket (and TLS session) out of the HTTP phase's deadline, puts it in the client's
//! [`Outbound`] queue, and gives the session a [`Receiver`] to read its frames with.

use std::io::{self, Write};
use std::sync::Arc;

use crate::metrics::Metrics;
use crate::net::conn::Conn;
use crate::ws::deflate::Agreed;
use crate::ws::handshake;
use crate::ws::outbound::{Outbound, WriteRequests};
use crate::ws::receive::Receiver;

/// A connection past the `101`: frames in through `receiver`, frames out through `outbound`.
pub struct Upgraded {
    /// The client's frames, read into messages (`receive.rs`). Boxed so that the session's
    /// stack frames stay small (`memory.rs`: 4 KiB per idle connection).
    pub receiver: Box<Receiver>,
    /// The client's queue, shared with whoever else sends to it.
    pub outbound: Arc<Outbound>,
}

/// What an upgrade needs besides the connection.
#[derive(Debug, Clone)]
pub struct Options {
    /// The largest message (and frame) accepted (`MAX_MESSAGE_BYTES`).
    pub max_message: usize,
    /// How far the client may fall behind before it is closed with 1013 (`SEND_BUFFER_BYTES`).
    pub send_buffer: usize,
    /// Where the client's queue asks its writer for a write; `None`: the session flushes it itself.
    pub write_requests: Option<WriteRequests>,
    /// The subprotocol the `101` names (`handshake::choose`), if any.
    pub subprotocol: Option<&'static str>,
    /// The permessage-deflate terms the `101` accepts (`ws::deflate::negotiate`), if any.
    pub deflate: Option<Agreed>,
}

/// Answers `101 Switching Protocols` with `accept` (and the chosen subprotocol and extension)
/// and hands the connection to a [`Receiver`]. `leftover` is what the client sent after its request head (frames it did not wait to send).
pub fn upgrade(
    mut conn: Conn,
    accept: &str,
    leftover: Vec<u8>,
    options: Options,
    metrics: &Arc<Metrics>,
) -> io::Result<Upgraded> {
    let extensions = options.deflate.map(Agreed::response);
    let head = handshake::switching_protocols(accept, options.subprotocol, extensions.as_deref());
    conn.write_all(&head)?;
    conn.flush()?;
    let (tcp, tls) = conn.into_parts();
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    let Options { max_message, send_buffer, write_requests, subprotocol: _, deflate } = options;
    let outbound = Outbound::new(tcp, tls, send_buffer, metrics.clone(), write_requests);
    let outbound = Arc::new(outbound.with_deflate(deflate));
    let receiver = Box::new(Receiver::new(outbound.clone(), leftover, max_message));
    Ok(Upgraded { receiver, outbound })
}
