//! The network layer: sockets, threads, TLS and deadlines. It knows nothing of HTTP or WebSocket.
//!
//! - [`accept`]: the accept loop, one named thread per connection, bounded.
//! - [`tls`]: rustls configurations (server and client) and the self-signed certificate.
//! - [`conn`]: a connection before the upgrade, plain or TLS, with the handshake deadline.
//! - [`tls_session`]: a TLS session through rustls's unbuffered API, whose buffers are ours.
//! - [`close`]: the end every connection shares: `close_notify`, FIN, drain.
//! - [`handshake_queue`]: connections waiting for one of their address's handshakes, no thread.
//! - [`per_address`]: what one client address may take (handshakes, sockets, sessions, rooms).

pub mod accept;
pub mod close;
pub mod conn;
pub mod handshake_queue;
pub mod per_address;
pub mod tls;
pub mod tls_session;
