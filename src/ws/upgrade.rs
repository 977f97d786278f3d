//! The switch from HTTP to WebSocket frames on one connection (RFC 6455 §4.2.2).
//!
//! [`upgrade`] writes the `101` that [`handshake::check`] allowed,
//! takes the socket (and TLS session) out of the HTTP phase's deadline, puts it in the client's
//! [`Outbound`] queue, and wraps it in tungstenite's `WebSocket` for the session to read.

use std::io::{self, Write};
use std::sync::Arc;

use tungstenite::WebSocket;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::metrics::Metrics;
use crate::net::conn::Conn;
use crate::ws::deflate::Agreed;
use crate::ws::handshake;
use crate::ws::outbound::{Outbound, WriteRequests};
use crate::ws::stream::ClientStream;

/// A connection past the `101`: frames in through `ws`, frames out through `outbound`.
pub struct Upgraded {
    /// tungstenite, reading from the socket and writing (pongs) into `outbound`. Boxed so that
    /// the session's stack frames stay small (`memory.rs`: 4 KiB per idle connection).
    pub ws: Box<WebSocket<ClientStream>>,
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

/// Answers `101 Switching Protocols` with `accept` (and the chosen subprotocol) and hands the
/// connection to tungstenite. `leftover` is what the client sent after its request head (frames it did not wait to send).
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
    let config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Write each frame tungstenite forms (pongs, close replies) at once, into our queue.
        .write_buffer_size(0)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    let stream = ClientStream::new(outbound.clone());
    let ws = WebSocket::from_partially_read(stream, leftover, Role::Server, Some(config));
    let ws = Box::new(ws);
    Ok(Upgraded { ws, outbound })
}

/// tungstenite's read buffer per connection, and the most it reads from the socket in one call.
/// Its default, 128 KiB, would dominate memory; a chat message from a browser (its frame header,
/// mask and text) fits in 256 bytes, so most messages take one read. A larger frame grows the
/// buffer to its length and takes a read per 256 bytes: the price of -1.75 KiB per idle
/// connection against 2 KiB (BENCHMARKS.md, issue 25).
const READ_BUFFER_BYTES: usize = 256;
