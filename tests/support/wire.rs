//! Raw WebSocket bytes for clients that must be exact or hostile: the opening handshake by hand,
//! client frames built bit by bit, the server's frames parsed back, and the server's log read for
//! one connection.
//!
//! A frame on the wire (RFC 6455 §5.2):
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-------+-+-------------+-------------------------------+
//! |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//! |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//! |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//! | |1|2|3|       |K|             |                               |
//! +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//! |     Masking-key (0 or 4 bytes, present when MASK is set)      |
//! +---------------------------------------------------------------+
//! |                         Payload Data                          |
//! +---------------------------------------------------------------+
//! ```

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use super::{READ_TIMEOUT, Server};

/// The RFC's own example key (§1.3).
pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
/// The masking key of the RFC's masked "Hello" example (§5.7).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Opcodes (RFC 6455 §5.2).
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
/// The first byte's high bits.
pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;

/// The most bytes a client reads before it calls the server's answer endless.
const MAX_ANSWER_BYTES: usize = 16 << 20;

/// The upgrade request for `path`, as a client sends it (RFC 6455 §4.1), with the RFC's key.
pub fn upgrade_request(server: &Server, path: &str) -> String {
    let extra = format!("Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n");
    upgrade_head(server, path, &extra)
}

/// A request for `path` with `Host`, `Upgrade: websocket` and `Connection: Upgrade`, then the
/// header lines in `extra` (each ending in CRLF): for requests that leave something out.
pub fn upgrade_head(server: &Server, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         {extra}\r\n",
        server.addr
    )
}

/// Sends the upgrade request and reads the answer's head, which must be a `101`. Returns the
/// bytes read past the head (the server's first frames, if they came with it).
pub fn handshake(stream: &mut (impl Read + Write), server: &Server, path: &str) -> Vec<u8> {
    stream.write_all(upgrade_request(server, path).as_bytes()).unwrap();
    stream.flush().unwrap();
    let (head, rest) = read_head(stream);
    assert!(head.starts_with("HTTP/1.1 101 "), "expected 101, got {head:?}");
    rest
}

/// Reads up to the blank line that ends an HTTP head: the head, and the bytes after it.
pub fn read_head(stream: &mut impl Read) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
            return (head, buf[end + 4..].to_vec());
        }
        let n = stream.read(&mut chunk).expect("the answer head within the read timeout");
        assert!(n > 0, "closed before the end of the answer head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        assert!(buf.len() < 64 * 1024, "endless answer head");
    }
}

/// A frame: `first` is FIN, RSV1-3 and the opcode; `mask` is the masking key, if any.
pub fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match payload.len() {
        n if n < 126 => out.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A frame masked with [`MASK`], as every client frame must be (RFC 6455 §5.3).
pub fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    frame(first, payload, Some(MASK))
}

/// One frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// FIN, RSV1-3 and the opcode.
    pub first: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }

    /// The status code of a close frame (1005, "no status", when it carries none).
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode() == CLOSE).then(|| match self.payload.as_slice() {
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            _ => 1005,
        })
    }
}

/// Splits bytes into frames. Returns the frames and whatever trails them (an incomplete frame).
/// `masked` says what the sender must do: clients mask, the server never does (§5.1).
pub fn parse_frames(mut bytes: &[u8], masked: bool) -> (Vec<Frame>, Vec<u8>) {
    let mut frames = Vec::new();
    while let Some((frame, used)) = parse_one(bytes, masked) {
        frames.push(frame);
        bytes = &bytes[used..];
    }
    (frames, bytes.to_vec())
}

fn parse_one(bytes: &[u8], masked: bool) -> Option<(Frame, usize)> {
    let (&first, rest) = bytes.split_first()?;
    let (&second, mut rest) = rest.split_first()?;
    if (second & 0x80 != 0) != masked {
        return None;
    }
    let len = match second & 0x7f {
        126 => {
            let (len, tail) = rest.split_first_chunk::<2>()?;
            rest = tail;
            u64::from(u16::from_be_bytes(*len))
        }
        127 => {
            let (len, tail) = rest.split_first_chunk::<8>()?;
            rest = tail;
            u64::from_be_bytes(*len)
        }
        n => u64::from(n),
    };
    let key = if masked {
        let (key, tail) = rest.split_first_chunk::<4>()?;
        rest = tail;
        *key
    } else {
        [0; 4]
    };
    let len = usize::try_from(len).ok().filter(|&len| len <= rest.len())?;
    let payload = rest[..len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
    let used = bytes.len() - rest.len() + len;
    Some((Frame { first, payload }, used))
}

/// How the server ended a connection, as the client saw it.
#[derive(Debug)]
pub struct Ending {
    /// Its frames, parsed.
    pub frames: Vec<Frame>,
    /// How the byte stream ended: `None` for a clean end of file, else the error.
    pub error: Option<io::ErrorKind>,
}

impl Ending {
    /// The code of the close frame, when the server's last frame is one.
    pub fn close_code(&self) -> Option<u16> {
        self.frames.last().and_then(Frame::close_code)
    }
}

/// Reads everything until the server closes the connection, and parses it as server frames.
/// `already` holds bytes read with the handshake. Panics when the server neither closes nor
/// sends anything for [`READ_TIMEOUT`]: a hang is a failure.
pub fn read_to_close(stream: &mut impl Read, already: Vec<u8>) -> Ending {
    let mut bytes = already;
    let mut chunk = [0u8; 16 * 1024];
    let deadline = Instant::now() + READ_TIMEOUT + Duration::from_secs(5);
    let error = loop {
        assert!(Instant::now() < deadline, "the server neither closed nor went quiet");
        match stream.read(&mut chunk) {
            Ok(0) => break None,
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                panic!("the server did not close within {READ_TIMEOUT:?}; got {:?}", tail(&bytes))
            }
            Err(e) => break Some(e.kind()),
        }
        assert!(bytes.len() < MAX_ANSWER_BYTES, "endless answer");
    };
    let (frames, rest) = parse_frames(&bytes, false);
    // A connection cut by an error may end anywhere; a clean end comes after a whole frame.
    assert!(
        error.is_some() || rest.is_empty(),
        "the server's bytes end inside a frame: {:?}",
        tail(&rest)
    );
    Ending { frames, error }
}

fn tail(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.len().saturating_sub(64)..]
}

/// The lines the server logged about the connection from local `port`: the lines naming the peer
/// and those of the thread that served it (`(conn-17)`). Waits (bounded) until `done` holds.
pub fn connection_log(server: &Server, port: u16, done: impl Fn(&str) -> bool) -> String {
    let peer = format!(" 127.0.0.1:{port}: ");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = server.log();
        let thread = log
            .lines()
            .find(|l| l.contains(&peer))
            .and_then(|l| l.split_once("(conn-"))
            .and_then(|(_, rest)| rest.split_once(')'))
            .map(|(n, _)| format!("(conn-{n})"));
        let lines: Vec<&str> = match &thread {
            Some(thread) => log.lines().filter(|l| l.contains(thread.as_str())).collect(),
            None => Vec::new(),
        };
        let text = lines.join("\n");
        if done(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "no such log for port {port}; have:\n{text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails if the server logged a panic.
pub fn assert_no_panic(server: &Server) {
    let log = server.log();
    assert!(!log.contains("panicked"), "the server panicked:\n{log}");
}

/// A small deterministic pseudo-random generator (xorshift64*), so a failing input can be replayed
/// from its seed.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 56) as u8).collect()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
