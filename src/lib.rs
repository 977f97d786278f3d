//! WebSocketChat: a realtime chat over WebSocket (RFC 6455), one thread per connection and one
//! broadcaster thread.
//!
//! ```text
//! Client ──TCP──> server (accept loop) ──spawns──> conn-N thread, one per client: the producer
//!                                                   tls ─> http ─> handshake ─> reader
//!                                                                                 │ Event
//!                                                                                 ▼
//!                                          crossbeam channel (bounded) ───> broadcaster: the consumer
//!                                                                                 │ frames
//!                                                                                 ▼
//! Clients <──────────── outbound (one per client: queue + non-blocking writev) ◄──┘
//! ```
//! Read the modules in this order: [`server`], [`connection`], [`http`], [`handshake`],
//! [`reader`], [`broadcaster`], [`outbound`].

pub mod assets;
pub mod broadcaster;
pub mod config;
pub mod connection;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod history;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod nickname;
pub mod outbound;
pub mod protocol;
pub mod rate_limit;
pub mod reader;
pub mod server;
pub mod stream;
pub mod tls;

pub use config::Config;
pub use error::Error;
pub use server::run;
