//! Frames in, messages out: the rules of RFC 6455 §5 and RFC 7692 §6 for what a client sends.
//!
//! tungstenite reads each frame's header for us (`FrameHeader::parse`, §5.2): FIN, the three RSV
//! bits, the opcode (a reserved one is an error there), the mask and the payload length. Which of
//! those a frame may carry depends on what was negotiated, and that is decided here, one rule at
//! a time, each with the close code RFC 6455 §7.4.1 gives it:
//! - **Masking** (§5.1): "The server MUST close the connection upon receiving a frame that is not
//!   masked" (1002); the payload is unmasked with the frame's key (§5.3).
//! - **Reserved bits** (§5.2): RSV2 and RSV3 are always 1002. RSV1 means "compressed" on the first
//!   frame of a data message when the handshake agreed to permessage-deflate (RFC 7692 §6); on a
//!   control frame, on a continuation, or without the agreement it is 1002.
//! - **Control frames** (§5.5): never fragmented, at most 125 bytes (1002). A ping is answered
//!   with a pong carrying its payload (§5.5.2), queued like every frame we send; a close frame's
//!   body is a status code a peer may send and a UTF-8 reason (§5.5.1, §7.4), else 1002 or 1007.
//! - **Fragments** (§5.4): a text or binary frame starts a message, continuations (opcode 0)
//!   extend it, FIN ends it; a continuation with no message, or a new message before the last
//!   one ended, is 1002. Control frames may come between fragments.
//! - **Size** (§10.4): a message longer than `MAX_MESSAGE_BYTES` is 1009, found from the frame
//!   header before its payload is read, and for a compressed message while inflating (not after:
//!   a few kilobytes of zeros inflate to gigabytes).
//! - **UTF-8** (§8.1): a text message that is not UTF-8 is 1007, found at the first bad byte
//!   even before the message ends; a compressed one is checked after inflating.
//! - **Inflating** (RFC 7692 §7.2.2): a compressed message whose bytes are not DEFLATE is 1007:
//!   RFC 7692 names no code for it, and RFC 6455 §7.4.1 gives 1007 to "data within a message
//!   that was not consistent with the type of the message", which a payload marked compressed
//!   that does not inflate is; 1002 is kept for breaking the framing rules above.
//!
//! The bytes come from a [`ClientStream`] (the socket, through TLS when it is on, and the wire
//! inspector's tap) into a buffer of [`READ_BUFFER_BYTES`], which grows for a long frame and
//! shrinks back after it, and is given back entirely while the connection is quiet
//! ([`Receiver::release`]).

use std::io::{self, Cursor, Read};
use std::sync::Arc;

use tungstenite::Bytes;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{Control, Data, OpCode};

use crate::ws::close::Close;
use crate::ws::deflate::{InflateError, inflate};
use crate::ws::frame::{self, close_code, unmask};
use crate::ws::outbound::Outbound;
use crate::ws::stream::ClientStream;

/// What a client sent: a complete message, or a control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A text message, valid UTF-8.
    Text(String),
    /// A binary message.
    Binary(Bytes),
    /// A ping (already answered) or a pong: the peer is alive.
    Control,
    /// A close frame: its status code, if it had one (§5.5.1).
    Close(Option<u16>),
}

/// Why no message came.
#[derive(Debug)]
pub enum Failure {
    /// The socket's error, a read timeout among them (then nothing is lost: call again).
    Io(io::Error),
    /// The peer ended the stream (TCP FIN, or the end of TLS).
    Ended,
    /// The peer broke a rule: close with this code (_Fail the WebSocket Connection_, §7.1.7).
    Broken(Close),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Io(e)
    }
}

/// One client's incoming frames, read into messages.
#[derive(Debug)]
pub struct Receiver {
    stream: ClientStream,
    outbound: Arc<Outbound>,
    /// Bytes read and not yet taken: `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    max_message: usize,
    /// The handshake agreed to permessage-deflate: RSV1 may mark a compressed message.
    deflate: bool,
    /// The data message whose frames are arriving, if one is.
    partial: Option<Partial>,
}

/// A data message between its first frame and its last.
#[derive(Debug)]
struct Partial {
    binary: bool,
    /// RSV1 was set on its first frame: the payload is DEFLATE until the last frame.
    compressed: bool,
    payload: Vec<u8>,
    /// Bytes of an uncompressed text payload already known to be UTF-8.
    checked: usize,
}

impl Receiver {
    /// A receiver over an upgraded connection; `leftover` is what the client sent after its
    /// request head (its first frames, if it did not wait for the `101`).
    pub fn new(outbound: Arc<Outbound>, leftover: Vec<u8>, max_message: usize) -> Receiver {
        let deflate = outbound.deflate().is_some();
        let stream = ClientStream::new(outbound.clone());
        let mut buf = leftover;
        buf.reserve(READ_BUFFER_BYTES.saturating_sub(buf.len()));
        Receiver { stream, outbound, buf, start: 0, max_message, deflate, partial: None }
    }

    /// The next message or control frame. A read timeout leaves everything as it was.
    pub fn read(&mut self) -> Result<Incoming, Failure> {
        loop {
            if let Some((header, payload)) = self.take_frame()? {
                if let Some(incoming) = self.on_frame(header, payload)? {
                    return Ok(incoming);
                }
            } else {
                self.fill()?;
            }
        }
    }

    /// Gives the read buffer back while the connection is quiet, if nothing waits in it; the
    /// next read takes a new one.
    pub fn release(&mut self) {
        if self.start == self.buf.len() && self.partial.is_none() {
            self.buf = Vec::new();
            self.start = 0;
        }
    }

    /// The next whole frame in the buffer, unmasked; `None`: more bytes are needed.
    fn take_frame(&mut self) -> Result<Option<(FrameHeader, Vec<u8>)>, Failure> {
        let unread = &self.buf[self.start..];
        let mut cursor = Cursor::new(unread);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            // §5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
            // WebSocket Connection_."
            Err(_) => return Err(broken(1002, "reserved opcode")),
        };
        self.check_length(&header, len)?;
        let at = cursor.position() as usize;
        let len = len as usize;
        if unread.len() - at < len {
            return Ok(None);
        }
        let payload = unmask(&unread[at..at + len], header.mask);
        self.start += at + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > KEEP_BUFFER {
                self.buf.shrink_to(READ_BUFFER_BYTES);
            }
        }
        Ok(Some((header, payload)))
    }

    /// The rules a frame's length breaks before its payload is read.
    fn check_length(&self, header: &FrameHeader, len: u64) -> Result<(), Failure> {
        // §5.2: a 64-bit length's "most significant bit MUST be 0".
        if len >> 63 != 0 {
            return Err(broken(1002, "length with its most significant bit set"));
        }
        match header.opcode {
            // §5.5: "All control frames MUST have a payload length of 125 bytes or less".
            OpCode::Control(_) if len > 125 => Err(broken(1002, "control frame over 125 bytes")),
            OpCode::Control(_) => Ok(()),
            OpCode::Data(_) => {
                let so_far = self.partial.as_ref().map_or(0, |p| p.payload.len() as u64);
                if so_far.saturating_add(len) > self.max_message as u64 {
                    return Err(broken(1009, "message too big"));
                }
                Ok(())
            }
        }
    }

    /// Reads more bytes from the stream: at least what the frame being read still lacks, in
    /// steps of at most [`MAX_READ`].
    fn fill(&mut self) -> Result<(), Failure> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        let room = self.missing().clamp(READ_BUFFER_BYTES, MAX_READ);
        self.buf.resize(len + room, 0);
        let read = self.stream.read(&mut self.buf[len..]);
        self.buf.truncate(len + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => Err(Failure::Ended),
            Ok(_) => Ok(()),
            Err(e) => Err(Failure::Io(e)),
        }
    }

    /// Bytes the frame at the start of the buffer still lacks (0 while its header is incomplete).
    fn missing(&self) -> usize {
        let mut cursor = Cursor::new(&self.buf[self.start..]);
        match FrameHeader::parse(&mut cursor) {
            Ok(Some((_, len))) => {
                let have = self.buf.len() - self.start - cursor.position() as usize;
                (len as usize).saturating_sub(have)
            }
            _ => 0,
        }
    }

    /// Applies the rules to one frame; a message when it completes one.
    fn on_frame(
        &mut self,
        header: FrameHeader,
        payload: Vec<u8>,
    ) -> Result<Option<Incoming>, Failure> {
        // §5.1: "a client MUST mask all frames that it sends to the server".
        if header.mask.is_none() {
            return Err(broken(1002, "unmasked frame"));
        }
        // §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings".
        if header.rsv2 || header.rsv3 {
            return Err(broken(1002, "reserved bit set"));
        }
        match header.opcode {
            OpCode::Control(control) => self.on_control(&header, control, payload),
            OpCode::Data(data) => self.on_data(&header, data, payload),
        }
    }

    fn on_control(
        &mut self,
        header: &FrameHeader,
        control: Control,
        payload: Vec<u8>,
    ) -> Result<Option<Incoming>, Failure> {
        // RFC 7692 §6: the "Per-Message Compressed" bit is for data messages only.
        if header.rsv1 {
            return Err(broken(1002, "RSV1 on a control frame"));
        }
        // §5.5: "Control frames themselves MUST NOT be fragmented."
        if !header.is_final {
            return Err(broken(1002, "fragmented control frame"));
        }
        match control {
            Control::Ping => {
                // §5.5.2: answered with "the same Application data", through the queue.
                self.outbound.queue(&[&frame::pong(&payload)]);
                Ok(Some(Incoming::Control))
            }
            Control::Pong => Ok(Some(Incoming::Control)),
            Control::Close => read_close(&payload).map(|code| Some(Incoming::Close(code))),
            Control::Reserved(_) => Err(broken(1002, "reserved opcode")),
        }
    }

    fn on_data(
        &mut self,
        header: &FrameHeader,
        data: Data,
        payload: Vec<u8>,
    ) -> Result<Option<Incoming>, Failure> {
        match (data, self.partial.as_mut()) {
            (Data::Continue, None) => return Err(broken(1002, "continuation without a message")),
            (Data::Continue, Some(partial)) => {
                // RFC 7692 §6: only the first frame of a message says it is compressed.
                if header.rsv1 {
                    return Err(broken(1002, "RSV1 on a continuation frame"));
                }
                partial.extend(&payload)?;
            }
            (Data::Text | Data::Binary, Some(_)) => {
                return Err(broken(1002, "a new message before the last one ended"));
            }
            (Data::Text | Data::Binary, None) => {
                if header.rsv1 && !self.deflate {
                    return Err(broken(1002, "RSV1 without permessage-deflate"));
                }
                let mut partial = Partial {
                    binary: data == Data::Binary,
                    compressed: header.rsv1,
                    payload,
                    checked: 0,
                };
                partial.check_utf8()?;
                self.partial = Some(partial);
            }
            (Data::Reserved(_), _) => return Err(broken(1002, "reserved opcode")),
        }
        if !header.is_final {
            return Ok(None);
        }
        let partial = self.partial.take().expect("a message is being read");
        partial.finish(self.max_message).map(Some)
    }
}

impl Partial {
    /// Adds a continuation's payload.
    fn extend(&mut self, more: &[u8]) -> Result<(), Failure> {
        self.payload.extend_from_slice(more);
        self.check_utf8()
    }

    /// §8.1, as early as possible: an uncompressed text message fails at its first byte that
    /// can never be UTF-8, without waiting for the rest (a sequence cut at the end of a
    /// fragment may still be completed by the next one).
    fn check_utf8(&mut self) -> Result<(), Failure> {
        if self.binary || self.compressed {
            return Ok(());
        }
        match std::str::from_utf8(&self.payload[self.checked..]) {
            Ok(_) => self.checked = self.payload.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(broken(1007, "invalid UTF-8")),
        }
        Ok(())
    }

    /// The complete message: inflated if it was compressed, its text checked.
    fn finish(self, max_message: usize) -> Result<Incoming, Failure> {
        let payload = if self.compressed {
            inflate(&self.payload, max_message).map_err(|e| match e {
                InflateError::TooBig => broken(1009, "message too big"),
                InflateError::Corrupt => broken(1007, "invalid compressed data"),
            })?
        } else {
            self.payload
        };
        if self.binary {
            return Ok(Incoming::Binary(Bytes::from(payload)));
        }
        String::from_utf8(payload).map(Incoming::Text).map_err(|_| broken(1007, "invalid UTF-8"))
    }
}

/// A close frame's body (§5.5.1): nothing, or a status code a peer may send and a UTF-8 reason.
fn read_close(body: &[u8]) -> Result<Option<u16>, Failure> {
    match body {
        [] => Ok(None),
        [_] => Err(broken(1002, "close frame of one byte")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            // §7.4: 1005, 1006, 1015, the unassigned and reserved ranges are never sent.
            if close_code::meaning(code).is_err() {
                return Err(broken(1002, "invalid close code"));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(broken(1007, "invalid UTF-8 in the close reason"));
            }
            Ok(Some(code))
        }
    }
}

fn broken(code: u16, reason: &'static str) -> Failure {
    Failure::Broken(Close::new(code, reason))
}

/// The read buffer per connection, and the most read from the socket in one call while frames
/// are short. A chat message from a browser (its frame header, mask and text) fits in 256 bytes,
/// so most messages take one read; a longer frame grows the buffer to its length (in reads of at
/// most [`MAX_READ`]), and the buffer shrinks back once it is read.
pub const READ_BUFFER_BYTES: usize = 256;
/// A buffer larger than this is shrunk back to [`READ_BUFFER_BYTES`] once empty.
const KEEP_BUFFER: usize = 4 * 1024;
/// The most read in one call for a long frame.
const MAX_READ: usize = 64 * 1024;
