//! HTTP/1.1 before the upgrade: every connection's first request, and the only one it makes.
//!
//! 1. [`request::read_head`] reads and parses the request head (httparse).
//! 2. [`route::route`] maps its method and path to a [`route::Route`]: the page, a static file,
//!    `/healthz`, `/metrics`, or a WebSocket (`/ws`, `/echo`), which goes on to `ws/`.
//! 3. [`response::Response::write_to`] answers with `Content-Length` and `Connection: close`.
//!
//! [`healthcheck`] is the other side: `websocketchat healthcheck` asking a running server.

pub mod assets;
pub mod healthcheck;
pub mod origin;
pub mod request;
pub mod response;
pub mod route;

pub use request::{HeadError, Request};
pub use response::Response;
pub use route::Route;
