//! The producer: the thread that owns one accepted connection, from its first byte to the upgrade.
//!
//! One thread per connection, blocking I/O throughout, in this order:
//! 1. TLS handshake with rustls, when `BACKEND_TLS` is on (a plain-HTTP request on the TLS port gets
//!    a readable 400 instead of garbage).
//! 2. The HTTP request head (`http.rs`), all of it within `HANDSHAKE_TIMEOUT_SECS`: every read gets
//!    only the time that is left, so a client sending one byte a second is still dropped in time.
//! 3. A page, `/healthz` or `/metrics` is answered and the connection closed; `/ws` (and `/echo`)
//!    goes through the opening handshake (`handshake.rs`) and the `101` answer.
//! 4. The socket is then shared with the broadcaster through an [`Outbound`], and this thread becomes
//!    the client's reader (`reader.rs`) until the connection ends.
//!
//! Steps 1 to 3 run in [`handle`], which returns before step 4 begins: the reader loop then runs
//! in shallow frames, and the stack pages the HTTP phase touched are given back (`stack.rs`). An
//! idle connection keeps two pages of stack rather than three or four.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};
use rustls::ServerConnection;
use tungstenite::WebSocket;
use tungstenite::protocol::{Role, WebSocketConfig};

use crate::config::Cidr;
use crate::error::Rejection;
use crate::handshake;
use crate::history::Resume;
use crate::http::{self, HeadError, Request, Response, Route};
use crate::nickname;
use crate::outbound::Outbound;
use crate::reader::{Mode, Reader};
use crate::server::Context;
use crate::stack;
use crate::stream::ClientStream;

/// The body of a connection thread: serves the connection and logs how it ended.
pub fn serve(tcp: TcpStream, id: u64, ctx: &Context) {
    let peer = tcp.peer_addr().map_or_else(|_| "?".to_string(), |a| a.to_string());
    match handle(tcp, id, ctx) {
        Ok(Some(upgraded)) => {
            drop(peer);
            stack::release_unused();
            upgraded.run(ctx);
        }
        Ok(None) => {}
        Err(e) => log_failure(&peer, &e),
    }
}

/// Why an HTTP-phase connection ended without an answer, at the level it deserves.
#[inline(never)]
fn log_failure(peer: &str, e: &io::Error) {
    if is_timeout(e) {
        debug!("{peer}: dropped, handshake timed out");
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        debug!("{peer}: closed before sending a request");
    } else if e.kind() == io::ErrorKind::InvalidData {
        info!("{peer}: TLS failed: {e}");
    } else {
        debug!("{peer}: {e}");
    }
}

/// A connection past the `101` answer, ready for its reader loop.
struct Upgraded<'a> {
    id: u64,
    ws: Box<WebSocket<ClientStream>>,
    outbound: Arc<Outbound>,
    mode: Mode,
    name: String,
    resume: Option<Resume>,
    /// The client's address, for the logs.
    peer: String,
    _open: OpenGuard<'a>,
}

impl Upgraded<'_> {
    /// Runs the reader loop to the connection's end.
    fn run(self, ctx: &Context) {
        let Upgraded { id, ws, outbound, mode, name, resume, peer, _open } = self;
        let started = Instant::now();
        let reader = Reader::new(id, ws, outbound, ctx);
        let end = reader.run(mode, name.clone(), resume);
        info!("{peer}: {name} disconnected after {:.1?}: {end}", started.elapsed());
    }
}

/// Steps 1 to 3: the HTTP phase. `Ok(Some)`: a WebSocket to read; `Ok(None)`: answered and closed.
/// Its frames are deep (httparse's header array, the TLS handshake), so it is never inlined into
/// [`serve`]: they must be gone before the reader loop starts.
#[inline(never)]
fn handle(tcp: TcpStream, id: u64, ctx: &Context) -> io::Result<Option<Upgraded<'_>>> {
    tcp.set_nodelay(true)?;
    let peer = tcp.peer_addr()?;
    let socket = DeadlineSocket { tcp, deadline: Instant::now() + ctx.config.handshake_timeout };
    let mut pre = match &ctx.tls {
        Some(_) if !socket.starts_with_tls_handshake()? => {
            let mut plain = Pre::Plain(socket);
            respond(
                &mut plain,
                &Response::rejection(Rejection::Malformed).with_body(PLAIN_ON_TLS_PORT),
                false,
            )?;
            return finish_http(plain).map(|()| None);
        }
        Some(tls) => {
            let conn = Box::new(ServerConnection::new(tls.clone()).map_err(io::Error::other)?);
            Pre::Tls(conn, socket)
        }
        None => Pre::Plain(socket),
    };
    let (request, leftover) = match http::read_head(&mut pre) {
        Ok(read) => read,
        Err(HeadError::Io(e)) => return Err(e),
        Err(HeadError::Rejected(rejection)) => {
            return reject(pre, rejection, ctx, peer).map(|()| None);
        }
    };
    debug!("{peer}: {} {}", request.method, request.path);
    let head_only = request.method == "HEAD";
    let response = match http::route(&request, ctx.config.echo_endpoint) {
        Route::Asset(asset) => Response::asset(asset),
        Route::Health => match ctx.metrics.health() {
            (true, body) => Response::ok("application/json", body.into_bytes()),
            (false, body) => Response::unavailable("application/json", body.into_bytes()),
        },
        Route::Metrics => Response::ok(PROMETHEUS_TEXT, ctx.metrics.prometheus().into_bytes()),
        Route::Reject(rejection) => return reject(pre, rejection, ctx, peer).map(|()| None),
        Route::Chat => return upgrade(pre, &request, leftover, Mode::Chat, ctx, id, peer),
        Route::Echo => return upgrade(pre, &request, leftover, Mode::Echo, ctx, id, peer),
    };
    respond(&mut pre, &response, head_only)?;
    finish_http(pre).map(|()| None)
}

/// The opening handshake (RFC 6455 §4.2.2): checked, answered with `101`, and wrapped for reading.
fn upgrade<'a>(
    mut pre: Pre,
    request: &Request,
    leftover: Vec<u8>,
    mode: Mode,
    ctx: &'a Context,
    id: u64,
    peer: SocketAddr,
) -> io::Result<Option<Upgraded<'a>>> {
    let accept = match handshake::check(request, &ctx.config.allowed_origins) {
        Ok(accept) => accept,
        Err(rejection) => return reject(pre, rejection, ctx, peer).map(|()| None),
    };
    if ctx.metrics.is_draining() {
        return reject(pre, Rejection::Draining, ctx, peer).map(|()| None);
    }
    if !ctx.metrics.try_open(ctx.config.max_connections) {
        return reject(pre, Rejection::ServerFull, ctx, peer).map(|()| None);
    }
    let _open = OpenGuard(ctx);
    debug!(
        "{peer}: handshake: Sec-WebSocket-Key {:?} -> Sec-WebSocket-Accept {accept:?}",
        request.header("Sec-WebSocket-Key").unwrap_or_default()
    );
    pre.write_all(&handshake::switching_protocols(&accept))?;
    pre.flush()?;

    let (tcp, tls) = pre.into_parts();
    tcp.set_read_timeout(None)?;
    tcp.set_write_timeout(None)?;
    let limit = match mode {
        Mode::Chat => ctx.config.send_buffer_bytes,
        // The echo reader is its own only writer and waits for each echo to drain.
        Mode::Echo => usize::MAX,
    };
    let outbound = Arc::new(Outbound::new(tcp, tls, limit, ctx.metrics.clone()));
    let stream = ClientStream::new(id, outbound.clone(), ctx.events.clone());
    let max_message = match mode {
        Mode::Chat => ctx.config.max_message_bytes,
        Mode::Echo => ctx.config.echo_max_message_bytes,
    };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        // Write each frame tungstenite forms (pongs, close replies) at once, into our queue.
        .write_buffer_size(0)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message));
    // On the heap: the reader loop's frames stay small (see `stack.rs`).
    let ws =
        Box::new(WebSocket::from_partially_read(stream, leftover, Role::Server, Some(ws_config)));

    let name = request
        .query_param("name")
        .and_then(|raw| nickname::clean(&raw))
        .unwrap_or_else(nickname::guest);
    let resume = request.query_param("since").and_then(|s| s.trim().parse().ok()).map(|since| {
        Resume { since, epoch: request.query_param("epoch").filter(|e| !e.is_empty()) }
    });
    let path = request.path.as_str();
    let peer = client_address(request, peer, &ctx.config.trusted_proxies);
    info!("{peer}: {name} connected to {path}");
    Ok(Some(Upgraded { id, ws, outbound, mode, name, resume, peer, _open }))
}

/// The client's address for the logs: a trusted proxy's `X-Forwarded-For` (its last entry, the
/// address the proxy itself saw), else the peer. Anyone else could write any address there.
fn client_address(request: &Request, peer: SocketAddr, trusted: &[Cidr]) -> String {
    let forwarded = request
        .header("X-Forwarded-For")
        .and_then(|v| v.rsplit(',').next())
        .map(str::trim)
        .filter(|v| v.parse::<IpAddr>().is_ok());
    match forwarded {
        Some(client) if trusted.iter().any(|block| block.contains(peer.ip())) => {
            format!("{client} (via {peer})")
        }
        _ => peer.to_string(),
    }
}

/// Answers a refused request with its status and closes.
fn reject(mut pre: Pre, rejection: Rejection, ctx: &Context, peer: SocketAddr) -> io::Result<()> {
    ctx.metrics.refused(rejection);
    let (status, _) = rejection.status();
    debug!("{peer}: refused with {status}: {rejection}");
    respond(&mut pre, &Response::rejection(rejection), false)?;
    finish_http(pre)
}

fn respond(pre: &mut Pre, response: &Response, head_only: bool) -> io::Result<()> {
    response.write_to(pre, head_only)
}

/// Closes an HTTP connection cleanly: TLS `close_notify`, then FIN, then read what the client
/// still sends until it closes too. Closing with unread bytes would make the kernel send a
/// reset, which can destroy our answer before the client reads it.
fn finish_http(pre: Pre) -> io::Result<()> {
    let (tcp, tls) = pre.into_parts();
    if let Some(mut conn) = tls {
        conn.send_close_notify();
        let mut socket = &tcp;
        while conn.wants_write() {
            conn.write_tls(&mut socket)?;
        }
    }
    tcp.shutdown(Shutdown::Write)?;
    drain(&tcp, Instant::now() + LINGER);
    Ok(())
}

/// Reads and discards until end-of-file, an error, the deadline or [`DRAIN_BYTES`].
pub fn drain(tcp: &TcpStream, deadline: Instant) {
    let mut scratch = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tcp.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*tcp).read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Counts the WebSocket as closed when the thread is done with it.
struct OpenGuard<'a>(&'a Context);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.metrics.close();
    }
}

/// A socket whose every read and write gets only the time left before the handshake deadline.
#[derive(Debug)]
struct DeadlineSocket {
    tcp: TcpStream,
    deadline: Instant,
}

impl DeadlineSocket {
    fn arm(&self) -> io::Result<()> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.tcp.set_read_timeout(Some(left))?;
        self.tcp.set_write_timeout(Some(left))
    }

    /// True when the first byte is 0x16, a TLS handshake record (what every TLS client sends
    /// first); "GET " means someone spoke plain HTTP to our TLS port.
    fn starts_with_tls_handshake(&self) -> io::Result<bool> {
        self.arm()?;
        let mut first = [0u8; 1];
        match self.tcp.peek(&mut first)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(first[0] == 0x16),
        }
    }
}

impl Read for DeadlineSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.read(buf)
    }
}

impl Write for DeadlineSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.arm()?;
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// The connection before the upgrade: plain, or inside a TLS session. The rustls connection
/// (over a kilobyte) stays boxed from start to finish: every copy of it on the way to the reader
/// would stay in some stack frame below the reader loop for the connection's whole life.
enum Pre {
    Plain(DeadlineSocket),
    Tls(Box<ServerConnection>, DeadlineSocket),
}

impl Pre {
    fn into_parts(self) -> (TcpStream, Option<Box<ServerConnection>>) {
        match self {
            Pre::Plain(socket) => (socket.tcp, None),
            Pre::Tls(conn, socket) => (socket.tcp, Some(conn)),
        }
    }
}

impl Read for Pre {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Pre::Plain(s) => s.read(buf),
            Pre::Tls(conn, s) => rustls::Stream::new(&mut **conn, s).read(buf),
        }
    }
}

impl Write for Pre {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Pre::Plain(s) => s.write(buf),
            Pre::Tls(conn, s) => rustls::Stream::new(&mut **conn, s).write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Pre::Plain(s) => s.flush(),
            Pre::Tls(conn, s) => rustls::Stream::new(&mut **conn, s).flush(),
        }
    }
}

/// tungstenite's read buffer per connection (its default, 128 KiB, would dominate memory). It
/// grows for a larger frame when one comes.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// How long a closing HTTP connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(1);
/// The most a closing connection reads and discards.
const DRAIN_BYTES: usize = 64 * 1024;
/// The `Content-Type` of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The body of the 400 sent to plain HTTP on the TLS port.
const PLAIN_ON_TLS_PORT: &str =
    "400 Bad Request: this port speaks TLS; use https:// (or wss://), or set BACKEND_TLS=false\n";
