//! An HTTP client for the bots' API (`src/chat/api.rs`), speaking plain HTTP/1.1 on one
//! connection it keeps open, and a log of the statuses the tests produced, per documented path,
//! for the check against docs/openapi.json.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::Value;

use super::Server;

/// The token of the bot `deploy` in [`TOKENS`].
pub const DEPLOY: &str = "deploy-token-0123456789abcdefghijklmnop";
/// The token of the bot `alerts` in [`TOKENS`].
pub const ALERTS: &str = "alerts-token-0123456789abcdefghijklmnop";
/// `API_TOKENS` for two bots.
pub const TOKENS: &str =
    "deploy:deploy-token-0123456789abcdefghijklmnop,alerts:alerts-token-0123456789abcdefghijklmnop";
/// The documented path of posts.
pub const MESSAGES: &str = "/api/v1/messages";
/// The documented path of history pages.
pub const ROOM_MESSAGES: &str = "/api/v1/rooms/{room}/messages";

/// An answer: its status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// The refusal's `code`.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().expect("a refusal has a code").to_string()
    }
}

/// The statuses produced, as (test, method, documented path, status).
#[derive(Debug, Default)]
pub struct Log(pub Vec<(String, String, String, u16)>);

impl Log {
    /// Notes that `test` got `status` from `method` on the documented `path`.
    pub fn note(&mut self, test: &str, method: &str, path: &str, status: u16) {
        self.0.push((test.into(), method.into(), path.into(), status));
    }
}

/// One connection to the API, kept open between requests.
pub struct ApiConn {
    tcp: TcpStream,
    /// Bytes read past the last answer.
    buffered: Vec<u8>,
}

impl ApiConn {
    /// A new connection to `server`.
    pub fn open(server: &Server) -> ApiConn {
        ApiConn { tcp: server.tcp(), buffered: Vec::new() }
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).unwrap();
    }

    /// `POST /api/v1/messages` with `token` (none: no `Authorization`) and `body`.
    pub fn post(&mut self, token: Option<&str>, body: &str) -> Answer {
        let request = request("POST", MESSAGES, token, &[], body.as_bytes());
        self.send(&request);
        self.answer()
    }

    /// `GET path` with `token`.
    pub fn get(&mut self, path: &str, token: Option<&str>) -> Answer {
        self.send(&request("GET", path, token, &[], b""));
        self.answer()
    }

    /// Reads one answer (its body by `Content-Length`).
    pub fn answer(&mut self) -> Answer {
        let end = loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                break end;
            }
            self.fill();
        };
        let head = String::from_utf8(self.buffered[..end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("Content-Length"))
            .map_or(0, |(_, v)| v.parse().unwrap());
        while self.buffered.len() < end + 4 + len {
            self.fill();
        }
        let body = String::from_utf8(self.buffered[end + 4..end + 4 + len].to_vec()).unwrap();
        self.buffered.drain(..end + 4 + len);
        Answer { status, headers, body }
    }

    /// True when the server closed the connection (and sent nothing more).
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.tcp.read(&mut byte), Ok(0) | Err(_))
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed before answering: {:?}", self.buffered);
        self.buffered.extend_from_slice(&chunk[..n]);
    }
}

/// A request's bytes: `Host`, `Authorization` when `token`, the `extra` headers, and
/// `Content-Length` when there is a body.
pub fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[&str],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: chat.test\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for line in extra {
        head.push_str(&format!("{line}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
