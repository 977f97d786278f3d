//! Persistent connections (RFC 9112 §9.3): when a connection may carry another request.
//!
//! A browser loading the page asks for it, then for each of its modules and its style sheet. On
//! a connection closed after each answer that is one TCP (and TLS) handshake per file; kept
//! open, the handful of connections a browser opens to a host carry them all. What keeps a
//! connection open is the client's request, our answer and our bounds, all three:
//!
//! 1. the client allows it ([`client_allows`]): HTTP/1.1 without `Connection: close`, or
//!    HTTP/1.0 with `Connection: keep-alive`, and a request without a body, or whose
//!    `Content-Length` body was read whole (the API's `POST`, `body.rs`);
//! 2. the answer is a success (`2xx`, or a `304`): a refusal closes, as it always did (but the
//!    API's answers to a request it read whole, which keep it like a success: `chat/api.rs`);
//! 3. the connection has served fewer than `KEEP_ALIVE_REQUESTS` requests, the server is not
//!    draining, and its address may hold one more connection (`net/per_address.rs`).
//!
//! Between two requests the connection waits at most `KEEP_ALIVE_TIMEOUT_SECS` for the next
//! one's first byte, then the whole head must come within `HANDSHAKE_TIMEOUT_SECS`, as the first
//! one's did (`net/conn.rs`). A WebSocket upgrade may come as any request of the connection.

use crate::http::request::Request;

/// True when the client lets the connection persist after answering `request`; `body_read`
/// says its `Content-Length` body was read whole.
pub fn client_allows(request: &Request, body_read: bool) -> bool {
    // RFC 9112 §9.6: "A client that does not support persistent connections MUST send the
    // "close" connection option in every request message."
    if request.header_has_token("Connection", "close") || (has_body(request) && !body_read) {
        return false;
    }
    // RFC 9112 §9.3: "If the received protocol is HTTP/1.1 (or later), the connection will
    // persist after the current response"; an HTTP/1.0 client must ask with "keep-alive".
    request.version >= 1 || request.header_has_token("Connection", "keep-alive")
}

/// True when the request says a body follows its head. Only the API reads one (and says so);
/// another route's is never read: RFC 9112 §9.3, "A server MUST read the entire request message body or close the
/// connection after sending its response, since otherwise the remaining data on a persistent
/// connection would be misinterpreted as the next request."
fn has_body(request: &Request) -> bool {
    request.header("Transfer-Encoding").is_some()
        || request.header("Content-Length").is_some_and(|len| len.trim() != "0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::request::parse_head;

    fn allows(head: &str) -> bool {
        let (request, _) = parse_head(head.as_bytes()).unwrap().unwrap();
        client_allows(&request, false)
    }

    #[test]
    fn http_1_1_persists_unless_the_client_says_close() {
        assert!(allows("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(allows("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
        assert!(!allows("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!allows("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n"));
    }

    #[test]
    fn http_1_0_persists_only_when_asked() {
        assert!(!allows("GET / HTTP/1.0\r\n\r\n"));
        assert!(allows("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn a_request_with_a_body_closes() {
        assert!(allows("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
        assert!(!allows("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"));
        assert!(!allows("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        let (post, _) =
            parse_head(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").unwrap().unwrap();
        assert!(client_allows(&post, true), "its body was read whole");
    }
}
