//! The read half of a connection: bytes off the socket into one buffer, and frames found in
//! it (RFC 6455 §5.2), never copied out.
//!
//! A server's frames are never masked (§5.1); RSV1 may be set only where permessage-deflate
//! was agreed (§5.2, RFC 7692 §6). [`Reader::next_frame`] hands back where a whole frame's
//! payload lies in the buffer; putting fragments together, inflating and answering pings are
//! left to whoever reads messages.

use std::io::{self, Read};
use std::net::TcpStream;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use super::dial::Stream;
use super::tls::{Tls, tls_read};

/// The read half: buffered frames from the server (never masked, RFC 6455 §5.1).
pub struct Reader {
    tcp: Arc<TcpStream>,
    tls: Option<Tls>,
    cipher: Vec<u8>,
    /// Bytes read; those in `start..end` are not handled yet.
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
    /// The last plain read returned less than it had room for: the socket had nothing more.
    drained: bool,
    /// The `101` accepted our permessage-deflate offer: frames with RSV1 may come.
    pub deflate: bool,
}

/// One frame found in the reader's buffer.
pub struct Frame {
    pub fin: bool,
    /// RSV1: with permessage-deflate, the first frame of a compressed message (RFC 7692 §6).
    pub rsv1: bool,
    pub opcode: u8,
    pub payload: Range<usize>,
    /// Its bytes on the wire: header and payload.
    pub wire: usize,
}

impl Reader {
    pub(super) fn new(stream: &Stream) -> io::Result<Reader> {
        Ok(Reader {
            tcp: stream.tcp.clone(),
            tls: stream.tls.clone(),
            cipher: if stream.tls.is_some() { vec![0; 32 * 1024] } else { Vec::new() },
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
            drained: false,
            deflate: false,
        })
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    pub fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp.set_read_timeout(Some(timeout))
    }

    /// Reads more bytes (blocking, within the socket's read timeout). `Ok(0)`: end of stream.
    pub fn fill(&mut self) -> io::Result<usize> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.buf.len() >= MAX_FRAME + 16 {
                return Err(io::Error::other("frame too large"));
            }
            self.buf.resize((self.buf.len() * 2).max(4096), 0);
        }
        let room = self.buf.len() - self.end;
        let n = match &self.tls {
            None => (&*self.tcp).read(&mut self.buf[self.end..])?,
            Some(tls) => tls_read(&self.tcp, tls, &mut self.cipher, &mut self.buf[self.end..])?,
        };
        // rustls may hold more plaintext than one read returns, so only a plain read can tell.
        self.drained = self.tls.is_none() && n < room;
        self.end += n;
        Ok(n)
    }

    /// True when the last read emptied the socket: with level-triggered epoll, the next bytes
    /// bring a new event, so there is no need for another read that would only say `EAGAIN`.
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// The next complete frame in the buffer, if there is one.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let data = &self.buf[self.start..self.end];
        if data.len() < 2 {
            return Ok(None);
        }
        let (b0, b1) = (data[0], data[1]);
        if b1 & 0x80 != 0 {
            return Err(io::Error::other("masked frame from the server"));
        }
        // RFC 6455 §5.2: RSV1 to RSV3 "MUST be 0 unless an extension is negotiated that
        // defines meanings for non-zero values"; permessage-deflate defines RSV1 alone.
        if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && !self.deflate) {
            return Err(io::Error::other(format!("reserved bits set: {b0:#04x}")));
        }
        let (len, header) = match b1 & 0x7f {
            126 if data.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([data[2], data[3]]) as usize, 4),
            127 if data.len() < 10 => return Ok(None),
            127 => {
                let len = u64::from_be_bytes(data[2..10].try_into().expect("8 bytes"));
                (usize::try_from(len).unwrap_or(usize::MAX), 10)
            }
            n => (n as usize, 2),
        };
        if len > MAX_FRAME {
            return Err(io::Error::other(format!("frame of {len} bytes")));
        }
        if data.len() < header + len {
            return Ok(None);
        }
        let begin = self.start + header;
        self.start = begin + len;
        Ok(Some(Frame {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            opcode: b0 & 0x0f,
            payload: begin..begin + len,
            wire: header + len,
        }))
    }

    /// Gives back the buffers of a connection that will sit idle (they grow again when needed).
    pub fn shrink(&mut self) {
        let mut kept = self.buf[self.start..self.end].to_vec();
        kept.shrink_to_fit();
        self.end = kept.len();
        self.start = 0;
        self.buf = kept;
        if self.tls.is_some() {
            self.cipher = vec![0; 4096];
        }
    }

    pub fn payload(&self, frame: &Frame) -> &[u8] {
        &self.buf[frame.payload.clone()]
    }
}

/// The largest frame the reader accepts (a history of large messages can be big).
const MAX_FRAME: usize = 64 << 20;
