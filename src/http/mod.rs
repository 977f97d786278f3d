//! HTTP/1.1 before the upgrade: a connection's requests, up to the one that upgrades it, if any.
//!
//! 1. [`request::read_head`] reads and parses the request head (httparse).
//! 2. [`route::route`] maps its method and path to a [`route::Route`]: the page, a static file,
//!    `/healthz`, `/metrics`, the bots' API (`/api/`, answered by `chat/api.rs`), or a WebSocket (`/ws`, `/echo`), which goes on to `ws/`.
//!    The API's `POST` has a body: [`body::read_body`] reads its `Content-Length` bytes, within
//!    a limit (a chunked body is refused with 411).
//! 3. [`response::Response::write_to`] answers with `Content-Length` and `Connection`; a file
//!    the browser holds already is a `304` ([`etag`]).
//! 4. [`keep_alive`] says whether the connection then waits for another request (RFC 9112 §9.3)
//!    or closes.
//!
//! [`healthcheck`] is the other side: `websocketchat healthcheck` asking a running server.
//!
//! [`origin`] (web origins, RFC 6454) is HTTP's too, but its file is `config/origin.rs`: the
//! configuration parses `ALLOWED_ORIGINS` into origins, and the foundation imports no layer.

pub mod assets;
pub mod body;
pub mod etag;
pub mod healthcheck;
pub mod keep_alive;
pub mod request;
pub mod response;
pub mod route;

pub use crate::config::origin;

pub use request::{HeadError, Request};
pub use response::Response;
pub use route::Route;
