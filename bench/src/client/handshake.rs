//! The opening handshake, client side (RFC 6455 §4.1): the upgrade request with a fresh
//! `Sec-WebSocket-Key`, then the server's answer checked before any frame is read.
//!
//! The answer must be `101`, carry `Sec-WebSocket-Accept` computed from our key (§4.2.2, the
//! server's own [`accept_key`]), and, with `--deflate`, accept the permessage-deflate offer
//! only as RFC 7692 allows (`deflate.rs`). Bytes read past the answer's head stay in the
//! reader's buffer: they are the first frames.

use std::io;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use websocketchat::ws::handshake::accept_key;

use super::dial::Dial;
use super::find;
use super::reader::Reader;
use super::rng::Rng;
use super::writer::Writer;
use crate::deflate;

/// An open WebSocket, both halves.
pub struct Conn {
    pub reader: Reader,
    pub writer: Writer,
}

impl Dial<'_> {
    /// Opens the connection and does the opening handshake (RFC 6455 §4.1) for `target`.
    pub fn websocket(&self, target: &str, rng: &mut Rng) -> io::Result<Conn> {
        let stream = self.open()?;
        let mut key = [0u8; 16];
        rng.fill(&mut key);
        let key = BASE64.encode(key);
        let offer = match self.deflate {
            true => format!("Sec-WebSocket-Extensions: {}\r\n", deflate::OFFER),
            false => String::new(),
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n",
            self.url.host
        );
        let mut writer = Writer::new(&stream, rng.next())?;
        writer.write_raw(request.as_bytes())?;
        let mut reader = Reader::new(&stream)?;
        let head_end = loop {
            if let Some(i) = find(&reader.buf[..reader.end], b"\r\n\r\n") {
                break i + 4;
            }
            if reader.end >= MAX_HEAD {
                return Err(io::Error::other("HTTP answer head too long"));
            }
            if reader.fill()? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed in handshake"));
            }
        };
        let head = String::from_utf8_lossy(&reader.buf[..head_end]).into_owned();
        let status = head.lines().next().unwrap_or_default();
        if !status.starts_with("HTTP/1.1 101") {
            return Err(io::Error::other(format!("handshake refused: {status}")));
        }
        let expected = accept_key(&key);
        let accepted = head.lines().any(|line| {
            line.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == expected
            })
        });
        if !accepted {
            return Err(io::Error::other("wrong or missing Sec-WebSocket-Accept"));
        }
        let agreed = deflate::accepted(&head, self.deflate).map_err(io::Error::other)?;
        (reader.deflate, writer.deflate) = (agreed, agreed);
        reader.start = head_end;
        Ok(Conn { reader, writer })
    }
}

/// The largest HTTP answer head.
const MAX_HEAD: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use crate::testserver::{connect, serve};

    /// What our server answers a browser's offer with.
    const AGREED: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn an_extension_not_offered_fails_the_handshake() {
        // RFC 6455 §4.1: the client MUST fail the connection.
        let (url, _server) = serve(AGREED, Vec::new());
        let error = connect(&url, false).err().expect("refused");
        assert!(error.to_string().contains("not offered"), "{error}");
    }
}
