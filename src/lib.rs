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

// In the order a message flows: start-up, one connection up to the upgrade, the reader, the
// bus, the broadcaster and what it owns, the way back out; then the pieces they share.
pub mod config;
pub mod error;
pub mod server;
pub mod tls;
pub mod connection;
pub mod stack;
pub mod http;
pub mod assets;
pub mod handshake;
pub mod stream;
pub mod reader;
pub mod protocol;
pub mod nickname;
pub mod rate_limit;
pub mod bus;
pub mod broadcaster;
pub mod hub;
pub mod presence;
pub mod history;
pub mod outbound;
pub mod frame;
pub mod metrics;
pub mod healthcheck;

pub use config::Config;
pub use error::Error;
pub use server::run;
