//! permessage-deflate (RFC 7692), the client's side: the offer a browser sends, the check of
//! the server's answer, and one message inflated or compressed at a time.
//!
//! Every browser offers `Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits`
//! (§5.1, §7.1.2.2); `--deflate` sends the same. The server accepts by naming the extension in
//! the `101` with the parameters it chose (§5.1, §7.1): [`accepted`] checks that answer against
//! the offer, as RFC 6455 §4.1 asks of a client ("If the response includes a
//! |Sec-WebSocket-Extensions| header field and this header field indicates the use of an
//! extension that was not present in the client's handshake ..., the client MUST _Fail the
//! WebSocket Connection_").
//!
//! Once agreed, a message whose first frame has RSV1 set is compressed (§6.1, §7.2.3.1): its
//! payload is raw DEFLATE (RFC 1951) ended by a sync flush whose tail `00 00 ff ff` the sender
//! removed. [`Inflater`] puts the tail back and inflates (§7.2.2). The generator's readers keep
//! one per thread, not one per connection: a fresh inflater per message is right when the
//! server sends `server_no_context_takeover` (this server always does), and [`accepted`] refuses
//! an answer without it. With no context, the same compressed bytes always inflate to the same
//! message, and a server that compresses each message once sends every client the same bytes:
//! so the inflater remembers the last few hundred messages it inflated and gives the same
//! answer again without inflating, and one reading thread can keep up with a thousand clients
//! (a fresh `flate2` inflater also zeroes its 32 KiB window: 100,000 times a second in (a)).
//! [`Deflater`] is the sending side (§7.2.1), each message on its own (`client_no_context_takeover`
//! or not, a compressor may always start afresh).

use std::collections::HashMap;
use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// The offer of every browser: the extension, and "I can compress with a smaller window if you
/// ask" (§7.1.2.2).
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// §7.2.1: the tail of every sync flush, removed by the sender, put back by the receiver.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The extension's parameters a server may answer this offer with (§7.1). `client_max_window_bits`
/// may carry a value (§7.1.2.2: only when offered, as here), `server_max_window_bits` too (8 to
/// 15, §7.1.2.1); the `no_context_takeover` pair has none (§7.1.1).
const PARAMETERS: [&str; 4] = [
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
];

/// Reads the `Sec-WebSocket-Extensions` of the `101`'s head: `Ok(true)` when it accepts our
/// offer, `Ok(false)` when it names no extension, `Err` when it names what was not offered, a
/// parameter §7 does not define for a response, or (since the readers keep no window between
/// messages) leaves out `server_no_context_takeover`.
pub fn accepted(head: &str, offered: bool) -> Result<bool, String> {
    let values: Vec<&str> = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-extensions"))
        .map(|(_, value)| value.trim())
        .collect();
    let elements: Vec<&str> =
        values.iter().flat_map(|v| v.split(',')).map(str::trim).filter(|e| !e.is_empty()).collect();
    match elements.as_slice() {
        [] => Ok(false),
        [_] if !offered => Err(format!("the 101 names an extension not offered: {}", elements[0])),
        [one] => check(one).map(|()| true),
        _ => Err(format!("the 101 names more than the one extension offered: {elements:?}")),
    }
}

fn check(element: &str) -> Result<(), String> {
    let mut parts = element.split(';').map(str::trim);
    let name = parts.next().unwrap_or_default();
    if !name.eq_ignore_ascii_case("permessage-deflate") {
        return Err(format!("the 101 names an extension not offered: {name}"));
    }
    let mut seen = Vec::new();
    for parameter in parts {
        let (key, value) = match parameter.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
            None => (parameter, None),
        };
        let known = PARAMETERS.iter().find(|p| p.eq_ignore_ascii_case(key));
        let Some(&known) = known else {
            return Err(format!("the 101's permessage-deflate has an unknown parameter {key}"));
        };
        if seen.contains(&known) {
            return Err(format!("the 101's permessage-deflate repeats {key}"));
        }
        seen.push(known);
        let bits = value.map(|v| v.parse::<u8>().ok().filter(|b| (8..=15).contains(b)));
        match (known.ends_with("window_bits"), bits) {
            (true, Some(Some(_))) | (false, None) => {}
            (true, None) if known == "client_max_window_bits" => {
                return Err("the 101's client_max_window_bits has no value (§7.1.2.2)".into());
            }
            _ => return Err(format!("the 101's {key} has a bad value: {parameter}")),
        }
    }
    if !seen.contains(&"server_no_context_takeover") {
        return Err("the 101 keeps the server's context (no server_no_context_takeover)".into());
    }
    Ok(())
}

/// Inflates one compressed message at a time (§7.2.2), remembering the recent ones.
pub struct Inflater {
    inflate: Decompress,
    out: Vec<u8>,
    /// Compressed payloads of at most [`MEMO_LARGEST`] bytes, and what they inflated to.
    memo: HashMap<Vec<u8>, Vec<u8>>,
    /// Messages actually inflated (not found in `memo`).
    pub inflated: u64,
}

impl Inflater {
    pub fn new() -> Inflater {
        Inflater {
            // Raw DEFLATE: no zlib header (§7.2.1 sends the bare blocks).
            inflate: Decompress::new(false),
            out: Vec::with_capacity(4096),
            memo: HashMap::new(),
            inflated: 0,
        }
    }

    /// The message whose compressed payload is `payload`, at most `max` bytes.
    pub fn inflate(&mut self, payload: &[u8], max: usize) -> io::Result<&[u8]> {
        if payload.len() > MEMO_LARGEST {
            return self.inflate_afresh(payload, max);
        }
        if !self.memo.contains_key(payload) {
            if self.memo.len() >= MEMO_ENTRIES {
                self.memo.clear();
            }
            let message = self.inflate_afresh(payload, max)?.to_vec();
            self.memo.insert(payload.to_vec(), message);
        }
        match &self.memo[payload] {
            message if message.len() > max => Err(too_big(max)),
            message => Ok(message),
        }
    }

    fn inflate_afresh(&mut self, payload: &[u8], max: usize) -> io::Result<&[u8]> {
        self.inflated += 1;
        self.inflate.reset(false);
        self.out.clear();
        let bad = |e: flate2::DecompressError| io::Error::new(io::ErrorKind::InvalidData, e);
        for mut input in [payload, &TAIL] {
            // Bounded: every turn takes input or grows the output, which `max` bounds.
            for _ in 0..MAX_TURNS {
                if self.out.len() == self.out.capacity() {
                    self.out.reserve(self.out.capacity().max(4096));
                }
                let before = self.inflate.total_in();
                let status = self
                    .inflate
                    .decompress_vec(input, &mut self.out, FlushDecompress::Sync)
                    .map_err(bad)?;
                input = &input[(self.inflate.total_in() - before) as usize..];
                if self.out.len() > max {
                    return Err(too_big(max));
                }
                // A final block (BFINAL) ends the stream: the tail after it is not read.
                if status == Status::StreamEnd {
                    return Ok(&self.out);
                }
                if input.is_empty() && self.out.len() < self.out.capacity() {
                    break;
                }
            }
        }
        Ok(&self.out)
    }
}

fn too_big(max: usize) -> io::Error {
    io::Error::other(format!("inflates past {max} bytes"))
}

/// Compresses one message at a time (§7.2.1), each with no reference to the one before.
pub struct Deflater {
    deflate: Compress,
    out: Vec<u8>,
}

impl Deflater {
    pub fn new() -> Deflater {
        // The level browsers use (zlib's default, 6).
        Deflater { deflate: Compress::new(Compression::default(), false), out: Vec::new() }
    }

    /// The compressed payload of `message`, the sync flush's tail removed.
    pub fn compress(&mut self, message: &[u8]) -> &[u8] {
        self.deflate.reset();
        self.out.clear();
        self.out.reserve(message.len() + message.len() / 64 + 64);
        for _ in 0..MAX_TURNS {
            let read = self.deflate.total_in() as usize;
            self.deflate
                .compress_vec(&message[read..], &mut self.out, FlushCompress::Sync)
                .expect("DEFLATE into memory cannot fail");
            if self.deflate.total_in() as usize == message.len()
                && self.out.len() < self.out.capacity()
            {
                break;
            }
            self.out.reserve(self.out.capacity());
        }
        if self.out.ends_with(&TAIL) {
            self.out.truncate(self.out.len() - TAIL.len());
        }
        &self.out
    }
}

/// The memo of [`Inflater`]: payloads up to 4 KiB (chat messages, not history pages), and at
/// most 512 of them (then it starts again): more than the messages of one round of (a).
const MEMO_LARGEST: usize = 4096;
const MEMO_ENTRIES: usize = 512;
/// A bound on the steps of one message's inflating or compressing (each step grows the output
/// buffer, which doubles).
const MAX_TURNS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflates_the_rfc_hello() {
        let mut inflater = Inflater::new();
        // RFC 7692 §7.2.3.1: "Hello" compressed, the tail removed.
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflater.inflate(&hello, 100).unwrap(), b"Hello");
        // Inflated again by the same inflater, not taken from its memo: nothing of the last
        // message is kept.
        assert_eq!(inflater.inflate_afresh(&hello, 100).unwrap(), b"Hello");
        // §7.2.3.1 also shows it with BFINAL set: the stream ends before the tail.
        let last = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflater.inflate_afresh(&last, 100).unwrap(), b"Hello");
        // §7.2.3.3: "Hello" sent with no compression, as a stored block.
        let stored = [0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00];
        assert_eq!(inflater.inflate_afresh(&stored, 100).unwrap(), b"Hello");
        assert_eq!(inflater.inflated, 4);
    }

    #[test]
    fn remembers_what_it_inflated() {
        let (mut deflater, mut inflater) = (Deflater::new(), Inflater::new());
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let other = deflater.compress(b"Hello again").to_vec();
        for _ in 0..3 {
            assert_eq!(inflater.inflate(&hello, 100).unwrap(), b"Hello");
            assert_eq!(inflater.inflate(&other, 100).unwrap(), b"Hello again");
        }
        assert_eq!(inflater.inflated, 2);
        assert!(inflater.inflate(&other, 5).is_err(), "the limit holds for a remembered one");
        // Past its size it starts again, and still answers right.
        for i in 0..MEMO_ENTRIES {
            inflater.inflate(deflater.compress(format!("{i}").as_bytes()), 100).unwrap();
        }
        assert_eq!(inflater.inflate(&hello, 100).unwrap(), b"Hello");
        assert_eq!(inflater.inflated, 2 + MEMO_ENTRIES as u64 + 1);
    }

    #[test]
    fn refuses_garbage_and_bombs() {
        let mut inflater = Inflater::new();
        assert!(inflater.inflate(&[0xff, 0xff, 0xff, 0xff], 100).is_err());
        let big = vec![b'a'; 1 << 20];
        let mut deflater = Deflater::new();
        let small = deflater.compress(&big).to_vec();
        assert!(small.len() < 4096);
        assert!(inflater.inflate(&small, 1000).is_err(), "stopped past the limit");
        assert_eq!(inflater.inflate(&small, 1 << 20).unwrap(), &big[..]);
    }

    #[test]
    fn round_trip() {
        let (mut deflater, mut inflater) = (Deflater::new(), Inflater::new());
        for text in [&b""[..], b"Hello", br#"{"type":"message","text":"hello there, hello there"}"#]
        {
            let compressed = deflater.compress(text).to_vec();
            assert!(!compressed.ends_with(&TAIL));
            assert_eq!(inflater.inflate(&compressed, 1000).unwrap(), text);
        }
    }

    #[test]
    fn answers() {
        let head = |value: &str| format!("HTTP/1.1 101 Switching Protocols\r\n{value}\r\n\r\n");
        let ours = head(
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_no_context_takeover",
        );
        assert_eq!(accepted(&ours, true), Ok(true));
        assert!(accepted(&ours, false).is_err(), "not offered");
        assert_eq!(accepted(&head("Upgrade: websocket"), true), Ok(false));
        assert_eq!(accepted(&head("Upgrade: websocket"), false), Ok(false));
        let bits = head(
            "sec-websocket-extensions: permessage-deflate;server_no_context_takeover;\
             server_max_window_bits=10; client_max_window_bits=\"12\"",
        );
        assert_eq!(accepted(&bits, true), Ok(true));
        for bad in [
            "Sec-WebSocket-Extensions: x-webkit-deflate-frame",
            "Sec-WebSocket-Extensions: permessage-deflate",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; foo",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             server_no_context_takeover",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             server_max_window_bits=16",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; \
             client_max_window_bits",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover=1",
            "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover, \
             permessage-deflate; server_no_context_takeover",
        ] {
            assert!(accepted(&head(bad), true).is_err(), "{bad}");
        }
    }
}
