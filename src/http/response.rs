//! HTTP answers: a status line, `Content-Length` and `Connection: close`, then the body.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::error::Rejection;
use crate::http::assets::Asset;

/// An HTTP answer. Every one carries `Content-Length` and `Connection: close`.
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
}

impl Response {
    /// 200 with a body.
    pub fn ok(content_type: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Response {
        Response { status: 200, reason: "OK", content_type, headers: Vec::new(), body: body.into() }
    }

    /// 503 with a body (an unhealthy `/healthz`).
    pub fn unavailable(content_type: &'static str, body: Vec<u8>) -> Response {
        Response { status: 503, reason: "Service Unavailable", ..Response::ok(content_type, body) }
    }

    /// The page or a static file, with headers that keep the browser strict.
    pub fn asset(asset: &'static Asset) -> Response {
        let mut response = Response::ok(asset.content_type, asset.body);
        response.headers = vec![
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

    /// Writes the answer; `head_only` leaves the body out (for `HEAD`).
    pub fn write_to(&self, out: &mut impl Write, head_only: bool) -> io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status,
            self.reason,
            self.content_type,
            self.body.len()
        );
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
