//! WebSocketChat: a realtime chat over WebSocket (RFC 6455), one thread per connection and one
//! broadcaster thread. The folders are the layers, bottom to top, in the order a message meets
//! them:
//!
//! ```text
//! Client ──TCP──▶ net     accept loop ──spawns──▶ conn-N thread, one per client: the producer
//!                 http    request head, route, answer ─── or ───▶ ws  handshake, 101, session loop
//!                                                                  │ handler.on_text
//!                 chat    handler: rate limit, JSON ──publish──▶ bus (local inbox, or Kafka)
//!                                                                  │ Inbox::chat
//!                                                                  ▼
//!                         bounded channel ──▶ broadcaster thread: the consumer (hub, rooms, history)
//!                                                                  │ journal ──▶ store (HISTORY_DIR: the
//!                                                                  │   round on disk first, without Kafka)
//!                                                                  │ one frame, every member of the room
//!                                                                  ▼
//! Clients ◀──────── ws    outbound: one queue per client, non-blocking sendmsg
//! ```
//! Dependencies point down only: `bus`, `store` → `chat` → `ws` → `http` → `net`. The two files
//! at the top wire the layers together: [`server`] (start-up and shutdown) and [`connection`]
//! (one connection's road through them). Read the code in this order: [`server`],
//! [`connection`], [`net`], [`http`], [`ws`], [`chat`], [`bus`], [`store`]. [`memory`] can be
//! skipped: its tricks make an idle connection cheaper without changing what it does, and
//! [`connection`] applies them at one point. Below every layer, [`config`], [`error`] and
//! [`metrics`] import none of them.

// The wiring at the top, then the layers from the bottom up, then what they all share.
pub mod server;
pub mod connection;
pub mod net;
pub mod http;
pub mod ws;
pub mod chat;
pub mod bus;
pub mod store;
pub mod config;
pub mod error;
pub mod metrics;
pub mod memory;

pub use config::Config;
pub use error::Error;
pub use server::run;
