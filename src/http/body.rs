//! A request's body: `Content-Length` bytes after the head, within a limit (RFC 9112 §6).
//!
//! Only the API's `POST` takes a body. Its length must be told up front in `Content-Length`,
//! so that the limit is applied before a byte of the body is read:
//! - `Transfer-Encoding` (a chunked body, §7.1) is refused with `411 Length Required`: a chat
//!   message is small and its sender knows its length; supporting chunks would add a parser for
//!   nothing a script needs (`curl --data` sends `Content-Length`);
//! - no `Content-Length` on a request that needs a body: `411` too (RFC 9110 §15.5.12);
//! - a `Content-Length` that is not one number, or several that differ: `400` (RFC 9112 §6.3,
//!   item 5: "the recipient MUST treat it as an unrecoverable error");
//! - a length over the limit: `413 Content Too Large` (RFC 9110 §15.5.14), the body unread.
//!
//! After a refusal the body (if any) is unread, so the connection must close: its bytes would be
//! taken for the next request (RFC 9112 §9.3, see `keep_alive.rs`). A body read whole leaves
//! the connection fit for another request; bytes read past its end are the next request's.

use std::io::{self, Read};

use crate::http::request::Request;

/// Why no body came out of the request.
#[derive(Debug)]
pub enum BodyError {
    /// 411: no `Content-Length`, or a chunked body.
    LengthRequired,
    /// 400: a `Content-Length` that is not one number.
    BadLength,
    /// 413: longer than the limit (the length announced).
    TooLarge(u64),
    /// The peer went away, or did not send the body in time.
    Io(io::Error),
}

/// The body `Content-Length` announces, at most `limit` bytes: `started` (what was read with
/// the head) first, then the rest from `stream`. Returns the body and the bytes read past it.
pub fn read_body(
    request: &Request,
    stream: &mut impl Read,
    started: Vec<u8>,
    limit: usize,
) -> Result<(Vec<u8>, Vec<u8>), BodyError> {
    let len = content_length(request)?;
    if len > limit as u64 {
        return Err(BodyError::TooLarge(len));
    }
    let len = len as usize;
    let mut body = started;
    if body.len() >= len {
        let rest = body.split_off(len);
        return Ok((body, rest));
    }
    let have = body.len();
    body.resize(len, 0);
    stream.read_exact(&mut body[have..]).map_err(BodyError::Io)?;
    Ok((body, Vec::new()))
}

/// The length `Content-Length` announces; a chunked body or none is 411.
pub fn content_length(request: &Request) -> Result<u64, BodyError> {
    if request.header("Transfer-Encoding").is_some() {
        return Err(BodyError::LengthRequired);
    }
    let mut lengths = request.header_list("Content-Length");
    let Some(first) = lengths.next() else { return Err(BodyError::LengthRequired) };
    // RFC 9110 §8.6: digits only (no sign, no space inside).
    if first.is_empty() || first.len() > 19 || !first.bytes().all(|b| b.is_ascii_digit()) {
        return Err(BodyError::BadLength);
    }
    if lengths.any(|other| other != first) {
        return Err(BodyError::BadLength);
    }
    first.parse().map_err(|_| BodyError::BadLength)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn request(head: &str) -> Request {
        parse_head(head.as_bytes()).unwrap().unwrap().0
    }

    #[test]
    fn a_body_is_read_from_what_came_with_the_head_then_the_stream() {
        let req = request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        let (body, rest) = read_body(&req, &mut &b"lo"[..], b"hel".to_vec(), 10).unwrap();
        assert_eq!((body.as_slice(), rest.as_slice()), (&b"hello"[..], &b""[..]));
        let (body, rest) =
            read_body(&req, &mut io::empty(), b"helloGET / HTTP/1.1".to_vec(), 10).unwrap();
        assert_eq!((body.as_slice(), rest.as_slice()), (&b"hello"[..], &b"GET / HTTP/1.1"[..]));
    }

    #[test]
    fn lengths_that_are_not_one_number_or_too_long_are_refused() {
        let len = |head: &str| read_body(&request(head), &mut io::empty(), Vec::new(), 10);
        assert!(matches!(len("POST / HTTP/1.1\r\n\r\n"), Err(BodyError::LengthRequired)));
        assert!(matches!(
            len("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            Err(BodyError::LengthRequired)
        ));
        for bad in ["-1", "+3", "3 4", "abc", "99999999999999999999"] {
            let head = format!("POST / HTTP/1.1\r\nContent-Length: {bad}\r\n\r\n");
            assert!(matches!(len(&head), Err(BodyError::BadLength)), "{bad}");
        }
        assert!(matches!(
            len("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Err(BodyError::BadLength)
        ));
        assert!(matches!(
            len("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"),
            Err(BodyError::TooLarge(11))
        ));
        assert!(matches!(
            len("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n"),
            Err(BodyError::Io(_))
        ));
    }
}
