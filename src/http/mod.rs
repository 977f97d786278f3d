//! HTTP/1.1 before the upgrade: every connection's first request, and the only one it makes.
//!
//! 1. [`request::read_head`] reads and parses the request head (httparse).
//! 2. [`route::route`] maps its method and path to a [`route::Route`]: the page, a static file,
//!    `/healthz`, `/metrics`, or a WebSocket (`/ws`, `/echo`), which goes on to `ws/`.
//! 3. [`response::Response::write_to`] answers with `Content-Length` and `Connection: close`.
//!
//! [`healthcheck`] is the other side: `websocketchat healthcheck` asking a running server.
//!
//! [`origin`] (web origins, RFC 6454) is HTTP's too, but its file is `config/origin.rs`: the
//! configuration parses `ALLOWED_ORIGINS` into origins, and the foundation imports no layer.

pub mod assets;
pub mod healthcheck;
pub mod request;
pub mod response;
pub mod route;

pub use crate::config::origin;

pub use request::{HeadError, Request};
pub use response::Response;
pub use route::Route;
