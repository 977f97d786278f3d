//! Routing: which answer a request gets, from its method and path alone.
//!
//! The pages are compiled in (`assets.rs`), `/healthz` and `/metrics` are answered from the
//! counters, `/banned` from the bans (`chat/sanctions.rs`), and `/ws` (and `/echo`, when
//! `ECHO_ENDPOINT` is on) go on to the WebSocket opening handshake (`ws/handshake.rs`).
//! Everything under `/api/` is the bots' HTTP API, whose paths and methods the chat sorts out
//! (`chat/api.rs`). Anything else is a 404 or a 405.

use crate::error::Rejection;
use crate::http::assets::{self, Asset};
use crate::http::request::Request;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// The page or a static file.
    Asset(&'static Asset),
    /// `GET /healthz`.
    Health,
    /// `GET /metrics`.
    Metrics,
    /// `GET /banned`: whether this client is banned (the page asks when its socket was refused).
    Banned,
    /// `GET /ws`: the chat's WebSocket.
    Chat,
    /// `GET /echo`: the echo WebSocket, when `ECHO_ENDPOINT` is on.
    Echo,
    /// Anything under `/api/`: the bots' HTTP API, any method.
    Api,
    /// Anything else, answered with this rejection's status.
    Reject(Rejection),
}

/// Maps a request to its route. `echo` says whether `/echo` exists.
pub fn route(request: &Request, echo: bool) -> Route {
    let websocket = match request.path.as_str() {
        "/ws" => Some(Route::Chat),
        "/echo" if echo => Some(Route::Echo),
        _ => None,
    };
    if let Some(route) = websocket {
        return if request.method == "GET" {
            route
        } else {
            Route::Reject(Rejection::MethodNotAllowed)
        };
    }
    if request.path.starts_with("/api/") {
        return Route::Api;
    }
    let found = match request.path.as_str() {
        "/" | "/index.html" => Some(Route::Asset(&assets::INDEX)),
        "/healthz" => Some(Route::Health),
        "/metrics" => Some(Route::Metrics),
        "/banned" => Some(Route::Banned),
        path => path.strip_prefix("/static/").and_then(assets::static_file).map(Route::Asset),
    };
    match found {
        None => Route::Reject(Rejection::NotFound),
        Some(_) if !matches!(request.method.as_str(), "GET" | "HEAD") => {
            Route::Reject(Rejection::MethodNotAllowed)
        }
        Some(route) => route,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let req = |method: &str, path: &str| Request {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            version: 1,
            headers: vec![],
        };
        assert_eq!(route(&req("GET", "/"), false), Route::Asset(&assets::INDEX));
        assert_eq!(route(&req("HEAD", "/healthz"), false), Route::Health);
        assert_eq!(route(&req("GET", "/banned"), false), Route::Banned);
        assert_eq!(route(&req("GET", "/ws"), false), Route::Chat);
        assert_eq!(route(&req("GET", "/echo"), false), Route::Reject(Rejection::NotFound));
        assert_eq!(route(&req("GET", "/echo"), true), Route::Echo);
        assert_eq!(route(&req("POST", "/ws"), false), Route::Reject(Rejection::MethodNotAllowed));
        assert_eq!(route(&req("DELETE", "/"), false), Route::Reject(Rejection::MethodNotAllowed));
        assert_eq!(route(&req("GET", "/static/../x"), false), Route::Reject(Rejection::NotFound));
        assert_eq!(route(&req("GET", "/nope"), false), Route::Reject(Rejection::NotFound));
        assert_eq!(route(&req("POST", "/api/v1/messages"), false), Route::Api);
        assert_eq!(route(&req("POST", "/api"), false), Route::Reject(Rejection::NotFound));
    }
}
