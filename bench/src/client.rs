//! A small blocking WebSocket client (RFC 6455): the opening handshake, masked frames out,
//! frames in, over TCP or rustls.
//!
//! After the handshake a connection splits into a [`Reader`] (one thread reads) and a [`Writer`]
//! (shared behind a mutex by the sender thread and the reader's pongs). With TLS both halves share
//! the rustls session: the reader reads ciphertext without the lock and locks to decrypt, as the
//! server does.
//!
//! With [`Dial::deflate`] the handshake offers permessage-deflate (RFC 7692) and checks the answer
//! (`deflate.rs`); where it was agreed, frames may come with RSV1 set and [`Writer`] can send
//! them, while the inflating and compressing is left to whoever reads and sends messages.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::ClientConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use socket2::{Domain, Protocol, Socket, Type};
pub use websocketchat::net::close::is_timeout;
use websocketchat::net::tls;
use websocketchat::ws::handshake::accept_key;

use crate::args::Url;
use crate::deflate;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// The largest frame the reader accepts (a history of large messages can be big).
const MAX_FRAME: usize = 64 << 20;
/// The largest HTTP answer head.
const MAX_HEAD: usize = 16 * 1024;

pub type Tls = Arc<Mutex<ClientConnection>>;

fn lock(tls: &Tls) -> MutexGuard<'_, ClientConnection> {
    tls.lock().unwrap_or_else(|p| p.into_inner())
}

/// The rustls configuration for wss://: trust `ca`, or (loopback only) any certificate.
pub fn tls_config(ca: Option<&std::path::Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(ca) = ca {
        return tls::client_config(Some(ca)).map_err(|e| e.to_string());
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = tls::client_builder()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts any certificate but still checks the handshake signatures. Used only because
/// [`Url::parse`] admits nothing but loopback addresses.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// How to open a connection.
pub struct Dial<'a> {
    pub url: &'a Url,
    pub tls: Option<&'a Arc<rustls::ClientConfig>>,
    /// SO_RCVBUF, set before connect (so the window is small from the SYN on).
    pub recv_buffer: Option<usize>,
    /// The loopback address to connect from (bound before connect), or the kernel's choice.
    pub source: Option<IpAddr>,
    pub timeout: Duration,
    /// Offer permessage-deflate as browsers do (`--deflate`; RFC 7692, see `deflate.rs`).
    pub deflate: bool,
}

/// A TCP connection, with TLS if the URL says so, before any HTTP.
pub struct Stream {
    pub tcp: Arc<TcpStream>,
    pub tls: Option<Tls>,
}

impl Dial<'_> {
    pub fn open(&self) -> io::Result<Stream> {
        let domain = Domain::for_address(self.url.addr);
        let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        if let Some(size) = self.recv_buffer {
            socket.set_recv_buffer_size(size)?;
        }
        socket.set_tcp_nodelay(true)?;
        if let Some(ip) = self.source {
            socket.bind(&SocketAddr::new(ip, 0).into()).map_err(|e| {
                io::Error::new(e.kind(), format!("binding to {ip}: {e} (see --per-address)"))
            })?;
        }
        socket.connect_timeout(&self.url.addr.into(), self.timeout)?;
        let tcp: TcpStream = socket.into();
        tcp.set_read_timeout(Some(self.timeout))?;
        tcp.set_write_timeout(Some(self.timeout))?;
        let tls = match (self.url.tls, self.tls) {
            (false, _) => None,
            (true, None) => return Err(io::Error::other("wss:// without a TLS configuration")),
            (true, Some(config)) => {
                let name = ServerName::from(self.url.addr.ip());
                let mut conn =
                    ClientConnection::new(config.clone(), name).map_err(io::Error::other)?;
                let mut io = &tcp;
                while conn.is_handshaking() {
                    conn.complete_io(&mut io)?;
                }
                Some(Arc::new(Mutex::new(conn)))
            }
        };
        Ok(Stream { tcp: Arc::new(tcp), tls })
    }

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

/// An open WebSocket, both halves.
pub struct Conn {
    pub reader: Reader,
    pub writer: Writer,
}

/// The read half: buffered frames from the server (never masked, RFC 6455 §5.1).
pub struct Reader {
    tcp: Arc<TcpStream>,
    tls: Option<Tls>,
    cipher: Vec<u8>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
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
    fn new(stream: &Stream) -> io::Result<Reader> {
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

/// Reads plaintext through the shared rustls session, reading ciphertext without the lock.
pub fn tls_read(
    tcp: &TcpStream,
    tls: &Tls,
    cipher: &mut [u8],
    out: &mut [u8],
) -> io::Result<usize> {
    loop {
        match lock(tls).reader().read(out) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let n = (&*tcp).read(cipher)?;
        if n == 0 {
            return Ok(0);
        }
        let mut conn = lock(tls);
        let mut ciphertext = &cipher[..n];
        while !ciphertext.is_empty() {
            conn.read_tls(&mut ciphertext)?;
            conn.process_new_packets()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        }
        while conn.wants_write() {
            conn.write_tls(&mut &*tcp)?;
        }
    }
}

/// The write half: masked frames (RFC 6455 §5.3), written whole.
pub struct Writer {
    tcp: Arc<TcpStream>,
    tls: Option<Tls>,
    rng: Rng,
    frame: Vec<u8>,
    /// The `101` accepted our permessage-deflate offer: it may send compressed messages.
    pub deflate: bool,
}

impl Writer {
    pub fn new(stream: &Stream, seed: u64) -> io::Result<Writer> {
        Ok(Writer {
            tcp: stream.tcp.clone(),
            tls: stream.tls.clone(),
            rng: Rng::new(seed),
            frame: Vec::with_capacity(256),
            deflate: false,
        })
    }

    /// Writes all of `bytes`, also when the socket was made non-blocking for the reader (the
    /// flag is shared by both halves): then it waits for room with poll(2).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut out = Patient(&self.tcp);
        match &self.tls {
            None => out.write_all(bytes),
            Some(tls) => {
                let mut conn = lock(tls);
                conn.writer().write_all(bytes)?;
                while conn.wants_write() {
                    conn.write_tls(&mut out)?;
                }
                Ok(())
            }
        }
    }

    /// One masked frame with FIN set.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        self.send_frame(0x80 | opcode, payload)
    }

    /// One masked frame with FIN and RSV1 set: a whole message, `compressed` by
    /// `Deflater::compress` (RFC 7692 §6, §7.2.1).
    pub fn send_compressed(&mut self, opcode: u8, compressed: &[u8]) -> io::Result<()> {
        self.send_frame(0xc0 | opcode, compressed)
    }

    /// One masked frame whose first byte (FIN, RSV, opcode) is `first`.
    fn send_frame(&mut self, first: u8, payload: &[u8]) -> io::Result<()> {
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        frame.push(first);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mask = (self.rng.next() as u32).to_be_bytes();
        frame.extend_from_slice(&mask);
        let at = frame.len();
        frame.extend_from_slice(payload);
        for (i, byte) in frame[at..].iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        let result = self.write_raw(&frame);
        self.frame = frame;
        result
    }

    pub fn close(&mut self, code: u16) -> io::Result<()> {
        self.send(OP_CLOSE, &code.to_be_bytes())
    }
}

/// Writes to a socket that may be non-blocking, waiting (within its write timeout) for room.
struct Patient<'a>(&'a TcpStream);

impl Write for Patient<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            match (&*self.0).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_writable(self.0)?,
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn wait_writable(tcp: &TcpStream) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let timeout = tcp.write_timeout()?.unwrap_or(Duration::from_secs(10));
    let mut fd = libc::pollfd { fd: tcp.as_raw_fd(), events: libc::POLLOUT, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd, and its count.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    match n {
        n if n < 0 => Err(io::Error::last_os_error()),
        0 => Err(io::Error::new(io::ErrorKind::TimedOut, "the socket took nothing")),
        _ => Ok(()),
    }
}

/// xorshift64*: masking keys and handshake keys (RFC 6455 wants them unpredictable to the
/// network, not cryptographic; the seed comes from the operating system).
/// Opens `clients` connections from `connectors` threads: `dial(i, rng)` makes client `i` (an
/// `Err` counts as a failure, the first one kept), `keep(i, conn)` stores it (false counts as a
/// failure). Returns the failure count and the first error.
pub fn connect_all<T>(
    clients: usize,
    connectors: usize,
    dial: impl Fn(usize, &mut Rng) -> Result<T, String> + Sync,
    keep: impl Fn(usize, T) -> bool + Sync,
) -> (usize, Option<String>) {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..connectors.min(clients) {
            scope.spawn(|| {
                let mut rng = Rng::from_os();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= clients {
                        break;
                    }
                    match dial(i, &mut rng) {
                        Ok(conn) => {
                            if !keep(i, conn) {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            first_error.lock().unwrap().get_or_insert(format!("client {i}: {e}"));
                        }
                    }
                }
            });
        }
    });
    (failed.into_inner(), first_error.into_inner().unwrap())
}

#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn from_os() -> Rng {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 8];
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng::new(u64::from_le_bytes(seed) ^ nanos)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
