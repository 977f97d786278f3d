//! The request head: read with httparse until the blank line, within bounds.
//!
//! A WebSocket starts life as an HTTP request (RFC 6455 §1.3, §4.1), so every connection passes
//! through here first. [`read_head`] reads bytes until httparse sees the blank line that ends the
//! head (`Status::Partial` just means "read more"), refusing heads over [`MAX_HEAD_BYTES`] (or
//! over [`MAX_HEADERS`] headers) with 431 and anything that is not HTTP/1.x with 400.
//!
//! Bytes the client sent after the head (its first WebSocket frames, if it did not wait for our
//! answer) are returned to the caller, who hands them to the WebSocket as already read, or, on a
//! kept-alive connection, back to [`read_head_after`] as the start of the next head.
//!
//! The head is read into a [`HeadBuffer`]: its first kilobyte on the stack, where most heads fit,
//! and on the heap only for a longer head. A heap buffer from the start would cost every idle
//! plain connection 1 KiB (`BENCH_ONLY=c make bench`, the figures in `memory.rs`): once freed, it
//! stays cached by the thread's allocator for the connection's whole life, while the stack pages
//! go back.

use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};

use crate::config::Cidr;
use crate::config::origin::Scheme;
use crate::error::Rejection;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path without the query, e.g. `/ws`.
    pub path: String,
    /// The raw query string after `?` (may be empty).
    pub query: String,
    /// 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub version: u8,
    /// The headers in order, as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header with this name (compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// True when a comma-separated header (such as `Connection`) holds `token`, without case.
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header_list(name).any(|t| t.eq_ignore_ascii_case(token))
    }

    /// The elements of a comma-separated header, in order, from every line that carries it
    /// ([`list_elements`]).
    pub fn header_list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + Clone {
        let values = self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name));
        list_elements(values.map(|(_, v)| v.as_str()))
    }

    /// The client's address, as the per-address limits count it: the last `X-Forwarded-For`
    /// entry when the peer is a trusted proxy (the one nginx added), else the peer.
    /// Anyone else could write any address there, so theirs is ignored.
    pub fn client_ip(&self, peer: SocketAddr, trusted: &[Cidr]) -> IpAddr {
        if !Cidr::any_contains(trusted, peer.ip()) {
            return peer.ip();
        }
        let forwarded = self.header("X-Forwarded-For").and_then(|v| v.rsplit(',').next());
        forwarded.and_then(|v| v.trim().parse().ok()).unwrap_or(peer.ip())
    }

    /// The scheme the client used to reach us, which a page of ours has in its origin: `https`
    /// over TLS, else `http`. A trusted proxy (the peer in `trusted`) tells how the browser
    /// reached *it* in `X-Forwarded-Proto` (nginx sends `$scheme`): its last entry, the one the
    /// proxy itself wrote, counts; `None` when that names another scheme. Anyone else could
    /// write any scheme there, so theirs is ignored.
    pub fn scheme(&self, tls: bool, peer: SocketAddr, trusted: &[Cidr]) -> Option<Scheme> {
        let ours = if tls { Scheme::Https } else { Scheme::Http };
        match self.header("X-Forwarded-Proto").and_then(|v| v.rsplit(',').next()) {
            Some(proto) if Cidr::any_contains(trusted, peer.ip()) => Scheme::parse(proto.trim()),
            _ => Some(ours),
        }
    }

    /// The value of a query parameter, percent-decoded.
    pub fn query_param(&self, key: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// Why no request came out of the connection.
#[derive(Debug)]
pub enum HeadError {
    /// The request is bad: answer it with this rejection's status.
    Rejected(Rejection),
    /// The peer went away, or did not finish in time: nothing to answer.
    Io(io::Error),
}

impl From<io::Error> for HeadError {
    fn from(e: io::Error) -> Self {
        HeadError::Io(e)
    }
}

/// The elements of a comma-separated header list (RFC 7230 §7), from all of its lines: a header
/// sent several times means the same as one line with the lists joined (§3.2.2). Space around an
/// element is not part of it, and empty elements (`a,,b`, an empty line) are skipped, as §7 asks
/// of a recipient.
pub fn list_elements<'a>(
    values: impl Iterator<Item = &'a str> + Clone,
) -> impl Iterator<Item = &'a str> + Clone {
    values.flat_map(|value| value.split(',')).map(str::trim).filter(|element| !element.is_empty())
}

/// Reads and parses one request head. Returns the request and any bytes read past its end.
pub fn read_head(stream: &mut impl Read) -> Result<(Request, Vec<u8>), HeadError> {
    read_head_after(stream, &[])
}

/// The same, for a head whose first bytes, `started`, came with the request before it (a client
/// that sent its next request without waiting for our answer, on a kept-alive connection).
pub fn read_head_after(
    stream: &mut impl Read,
    started: &[u8],
) -> Result<(Request, Vec<u8>), HeadError> {
    // Most heads are a few hundred bytes; a longer one doubles the buffer up to MAX_HEAD_BYTES.
    let mut buf = HeadBuffer::new();
    if started.len() > FIRST_READ_BYTES {
        buf.grow(started.len().next_power_of_two().min(MAX_HEAD_BYTES));
    }
    let mut filled = started.len().min(MAX_HEAD_BYTES);
    buf.bytes()[..filled].copy_from_slice(&started[..filled]);
    loop {
        if filled > 0 {
            let bytes = &buf.bytes()[..filled];
            if let Some((request, len)) = parse_head(bytes)? {
                return Ok((request, bytes[len..].to_vec()));
            }
        }
        let len = buf.bytes().len();
        if filled == len {
            if len == MAX_HEAD_BYTES {
                return Err(HeadError::Rejected(Rejection::HeadTooLarge));
            }
            buf.grow((len * 2).min(MAX_HEAD_BYTES));
        }
        let n = stream.read(&mut buf.bytes()[filled..])?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        filled += n;
    }
}

/// Parses a head if it is complete: `Ok(None)` asks for more bytes.
pub fn parse_head(bytes: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HeadError::Rejected(Rejection::HeadTooLarge));
        }
        Err(_) => return Err(HeadError::Rejected(Rejection::Malformed)),
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = Request {
        method: req.method.unwrap_or("").to_string(),
        path: path.to_string(),
        query: query.to_string(),
        version: req.version.unwrap_or(1),
        headers: req
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
    };
    Ok(Some((request, len)))
}

/// The buffer a head is read into: [`FIRST_READ_BYTES`] on the stack, moved to the heap only
/// when a longer head makes it grow (why: the module's doc).
#[derive(Debug)]
struct HeadBuffer {
    stack: [u8; FIRST_READ_BYTES],
    heap: Vec<u8>,
}

impl HeadBuffer {
    fn new() -> HeadBuffer {
        HeadBuffer { stack: [0; FIRST_READ_BYTES], heap: Vec::new() }
    }

    /// The buffer as it is now: [`FIRST_READ_BYTES`], or more once grown.
    fn bytes(&mut self) -> &mut [u8] {
        if self.heap.is_empty() { &mut self.stack } else { &mut self.heap }
    }

    /// Grows the buffer to `len` bytes on the heap, keeping its contents.
    fn grow(&mut self, len: usize) {
        if self.heap.is_empty() {
            self.heap = self.stack.to_vec();
        }
        self.heap.resize(len, 0);
    }
}

/// The first read's buffer, on the stack; a longer head doubles it on the heap, up to
/// [`MAX_HEAD_BYTES`].
const FIRST_READ_BYTES: usize = 1024;
/// The largest request head we read (request line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 64;

/// How the logs name a client: its address, and the proxy's when it came through one.
pub fn client_address(client: IpAddr, peer: SocketAddr) -> String {
    match client {
        client if client != peer.ip() => format!("{client} (via {peer})"),
        _ => peer.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Option<(Request, usize)>, HeadError> {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn a_complete_head_is_parsed_and_its_length_returned() {
        let raw = "GET /ws?name=al%20ice&since=4 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Upgrade\r\n\r\nXY";
        let (req, len) = parse(raw).unwrap().unwrap();
        assert_eq!(len, raw.len() - 2);
        assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/ws"));
        assert_eq!(req.query_param("name").as_deref(), Some("al ice"));
        assert_eq!(req.query_param("since").as_deref(), Some("4"));
        assert!(req.header_has_token("connection", "upgrade"));
        assert_eq!(req.header("HOST"), Some("x"));
    }

    #[test]
    fn the_scheme_is_the_connections_or_a_trusted_proxys() {
        let (raw, _) =
            parse("GET /ws HTTP/1.1\r\nX-Forwarded-Proto: http, https\r\n\r\n").unwrap().unwrap();
        let proxy: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let lookup = |var: &str| (var == "TRUSTED_PROXIES").then(|| "10.0.0.0/8".to_string());
        let trusted = crate::config::Config::from_lookup(lookup).unwrap().trusted_proxies;
        assert_eq!(raw.scheme(false, proxy, &trusted), Some(Scheme::Https), "its last entry");
        assert_eq!(raw.scheme(false, stranger, &trusted), Some(Scheme::Http), "ignored");
        assert_eq!(raw.scheme(true, stranger, &trusted), Some(Scheme::Https));
        let (odd, _) =
            parse("GET /ws HTTP/1.1\r\nX-Forwarded-Proto: wss\r\n\r\n").unwrap().unwrap();
        assert_eq!(odd.scheme(true, proxy, &trusted), None, "a scheme that is not ours");
        let (none, _) = parse("GET /ws HTTP/1.1\r\n\r\n").unwrap().unwrap();
        assert_eq!(none.scheme(true, proxy, &trusted), Some(Scheme::Https), "the connection's");
    }

    #[test]
    fn a_partial_head_asks_for_more() {
        assert!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap().is_none());
    }

    #[test]
    fn garbage_is_malformed() {
        for raw in [
            "\x16\x03\x01\x02\x00\r\n\r\n",
            "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            "G@T / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(raw), Err(HeadError::Rejected(Rejection::Malformed))),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn a_head_longer_than_the_first_read_is_read_whole() {
        let long = "a".repeat(3 * FIRST_READ_BYTES);
        let raw = format!("GET /ws HTTP/1.1\r\nX-Long: {long}\r\n\r\nXY");
        let (request, leftover) = read_head(&mut raw.as_bytes()).unwrap();
        assert_eq!(request.header("x-long"), Some(long.as_str()));
        assert_eq!(leftover, b"XY");
    }

    #[test]
    fn a_head_begun_with_the_request_before_it_is_read_on() {
        let (request, leftover) =
            read_head_after(&mut &b"th: 1\r\n\r\n"[..], b"GET /b HTTP/1.1\r\nX-Leng").unwrap();
        assert_eq!((request.path.as_str(), request.header("x-length")), ("/b", Some("1")));
        assert!(leftover.is_empty());
        let two = b"GET /c HTTP/1.1\r\n\r\nGET /d HTTP/1.1\r\n\r\n";
        let (request, leftover) = read_head_after(&mut io::empty(), two).unwrap();
        assert_eq!((request.path.as_str(), leftover.as_slice()), ("/c", &two[19..]));
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2 * FIRST_READ_BYTES));
        assert!(read_head_after(&mut io::empty(), long.as_bytes()).is_ok(), "grown to fit");
    }

    #[test]
    fn an_oversized_head_is_431() {
        let raw = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
        let result = read_head(&mut raw.as_bytes());
        assert!(matches!(result, Err(HeadError::Rejected(Rejection::HeadTooLarge))));
    }
}
