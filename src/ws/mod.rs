//! RFC 6455 and nothing else: a WebSocket server that knows no JSON and no chat.
//!
//! In the order a connection meets them:
//! 1. [`handshake`]: the opening handshake (§4.2): checks the upgrade request, computes
//!    `Sec-WebSocket-Accept`, and forms the `101`.
//! 2. [`upgrade`]: writes the `101` and turns the connection into frames: the socket goes into
//!    the client's [`outbound`] queue, and a [`receive::Receiver`] reads it through a [`stream`].
//!    The `101` accepts permessage-deflate (RFC 7692) when the client offered it: [`deflate`].
//! 3. [`reader`]: the loop of the connection's own thread, which reads messages with its
//!    [`receive::Receiver`] (the rules of §5, each broken one a [`close::Close`]): ping, idle
//!    timeout, the close handshake; it drives a [`reader::Handler`].
//! 4. [`frame`]: frames (§5): the one header parser, typed opcodes, masking, and the server's
//!    frames, encoded once; [`outbound`]: the bounded queue every outgoing frame goes through,
//!    written without blocking.
//!
//! 5. [`tap`]: every frame read and written, as it crossed the wire, for an application that
//!    asks (the chat's wire inspector); nothing runs without one.
//!
//! [`echo`] is the smallest handler (`/echo`); the chat (`chat::handler`) is the other one.
//! `examples/echo.rs` runs this layer alone: `cargo run --example echo`.
//! [`frame::describe()`] reads any frame byte by byte and names every field, for
//! `websocketchat decode`.

pub mod close;
pub mod deflate;
pub mod echo;
pub mod frame;
pub mod handshake;
pub mod outbound;
pub mod reader;
pub mod receive;
pub mod stream;
pub mod tap;
pub mod upgrade;
