//! HTTP answers: a status line, `Content-Length` and `Connection`, then the body.
//!
//! `Connection: close` unless the connection is kept for another request (`keep_alive.rs`); then
//! `Connection: keep-alive` and `Keep-Alive: timeout=N`, which tells the client how long an idle
//! connection stays open, so it does not send a request on one we are about to close. A `304`
//! has neither a body nor `Content-Length` (RFC 9110 §8.6: it would have to be the length of the
//! bytes the client already holds).

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

use crate::error::Rejection;
use crate::http::assets::Asset;

/// An HTTP answer. Every one carries `Content-Length` (but a `304`) and `Connection`.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// `Content-Type` of the body.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body (left out for `HEAD`, but still counted in `Content-Length`).
    pub body: Cow<'static, [u8]>,
    /// `Some(idle timeout)` when the connection stays open for another request; `None` closes
    /// it after this answer.
    pub keep_alive: Option<Duration>,
}

impl Response {
    /// 200 with a body.
    pub fn ok(content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Response {
        Response {
            status: 200,
            reason: "OK",
            content_type,
            headers: Vec::new(),
            body: body.into(),
            keep_alive: None,
        }
    }

    /// Any status with a JSON body (the bots' API, `chat/api.rs`).
    pub fn json(status: u16, reason: &'static str, body: String) -> Response {
        Response { status, reason, ..Response::ok("application/json", body.into_bytes()) }
    }

    /// 503 with a body (an unhealthy `/healthz`).
    pub fn unavailable(content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status: 503, reason: "Service Unavailable", ..Response::ok(content_type, body) }
    }

    /// The page or a static file, with headers that keep the browser strict; `304 Not
    /// Modified` without the bytes when `if_none_match` (the request's `If-None-Match`) names
    /// the file's tag (RFC 9110 §13.1.2, `etag.rs`).
    pub fn asset(asset: &'static Asset, if_none_match: Option<&str>) -> Response {
        let mut response = Response::ok(asset.content_type, asset.body);
        if if_none_match.is_some_and(|tags| asset.etag.matches(tags)) {
            // RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have.
            (response.status, response.reason) = (304, "Not Modified");
            response.body = Cow::Borrowed(&[]);
        }
        response.headers = vec![
            ("ETag", asset.etag.header_value()),
            // Keep a copy, but ask (If-None-Match) before each use.
            ("Cache-Control", "no-cache".into()),
            ("X-Content-Type-Options", "nosniff".into()),
            ("Content-Security-Policy", CONTENT_SECURITY_POLICY.into()),
            ("Referrer-Policy", "no-referrer".into()),
        ];
        response
    }

    /// The answer to a refused request: its status and a one-line plain text body.
    pub fn rejection(rejection: Rejection) -> Response {
        let (status, reason) = rejection.status();
        let mut headers = Vec::new();
        match rejection {
            // RFC 6455 §4.2.2: answer an unsupported version with the versions we speak.
            Rejection::UnsupportedVersion => {
                headers.push(("Sec-WebSocket-Version", "13".into()));
                headers.push(("Upgrade", "websocket".into()));
            }
            Rejection::MethodNotAllowed => headers.push(("Allow", "GET, HEAD".into())),
            _ => {}
        }
        let body = format!("{status} {reason}: {rejection}\n").into_bytes();
        Response {
            status,
            reason,
            content_type: "text/plain; charset=utf-8",
            headers,
            body: body.into(),
            keep_alive: None,
        }
    }

    /// The same answer with `Retry-After` (RFC 9110 §10.2.3): whole seconds, at least one.
    pub fn retry_after(mut self, wait: std::time::Duration) -> Response {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.headers.push(("Retry-After", secs.max(1).to_string()));
        self
    }

    /// The same answer with another plain text body.
    pub fn with_body(mut self, body: &'static str) -> Response {
        self.body = Cow::Borrowed(body.as_bytes());
        self
    }

    /// The same answer, keeping the connection open for another request for up to `idle`.
    pub fn keep_alive(mut self, idle: Duration) -> Response {
        self.keep_alive = Some(idle);
        self
    }

    /// Writes the answer; `head_only` leaves the body out (for `HEAD`).
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        if self.status != 304 {
            head.push_str(&format!("Content-Type: {}\r\n", self.content_type));
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        match self.keep_alive {
            Some(idle) => head.push_str(&format!(
                "Connection: keep-alive\r\nKeep-Alive: timeout={}\r\n",
                idle.as_secs()
            )),
            None => head.push_str("Connection: close\r\n"),
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if !head_only {
            bytes.extend_from_slice(&self.body);
        }
        out.write_all(&bytes)?;
        out.flush()
    }
}

/// Scripts, styles and sockets only from this server; `'self'` covers `ws:`/`wss:` to the same host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::assets;

    fn written(response: &Response) -> String {
        let mut out = Vec::new();
        response.write_to(&mut out, false).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_answer_says_whether_the_connection_stays_open() {
        let closing = written(&Response::ok("text/plain", &b"hi"[..]));
        assert!(closing.contains("\r\nContent-Length: 2\r\nConnection: close\r\n"), "{closing}");
        let kept =
            written(&Response::ok("text/plain", &b"hi"[..]).keep_alive(Duration::from_secs(5)));
        assert!(kept.contains("\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n"), "{kept}");
        assert!(kept.ends_with("\r\n\r\nhi"));
    }

    #[test]
    fn a_file_the_client_holds_is_a_304_with_its_tag_and_no_length() {
        let tag = assets::INDEX.etag.header_value();
        let fresh = written(&Response::asset(&assets::INDEX, None));
        assert!(
            fresh.starts_with("HTTP/1.1 200 OK\r\n") && fresh.contains(&format!("ETag: {tag}"))
        );
        let held = written(&Response::asset(&assets::INDEX, Some(&tag)));
        assert!(held.starts_with("HTTP/1.1 304 Not Modified\r\n"), "{held}");
        assert!(
            held.contains(&format!("ETag: {tag}\r\n")) && held.contains("Cache-Control: no-cache")
        );
        assert!(!held.contains("Content-Length") && held.ends_with("\r\n\r\n"), "{held}");
    }
}
