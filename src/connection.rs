//! One connection's road through the layers, on its own thread (the producer): what
//! `net::accept` runs for each accepted socket.
//!
//! ```text
//! serve ─▶ read_request ─┬─ net:  TLS handshake (rustls), all within HANDSHAKE_TIMEOUT_SECS
//!                        ├─ http: the request head, its route
//!                        ├─ an answer (page, /healthz, /metrics, the bots' API, a refusal),
//!                        │  then net::close,
//!                        │  or, kept alive (http/keep_alive.rs), the next request: back to http
//!                        └─ admit ─ ws: handshake::check, then upgrade (the 101)
//!       ─▶ Ready::run ─▶ Reader::run(handler) for the rest of the connection's life:
//!            /ws   the chat's handler (chat::handler)
//!            /echo ws::echo
//! ```
//! Two phases, then: the HTTP phase ([`read_request`]) returns before the session starts. The
//! memory tricks are wrapped around the two in [`serve`] and nowhere else: `memory::http_phase`
//! runs the first, `memory::reader_phase` stands in for `Reader::run`. They change what an idle
//! connection costs, not what it does: without them `serve` would call `read_request`, then
//! `Ready::run` with `Reader::run`, and behave the same (`memory.rs` lists what each buys).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use log::{debug, info};

use crate::bus::Bus;
use crate::chat::api::{self, Api};
use crate::chat::handler::{ChatHandler, Services};
use crate::chat::identity::Presented;
use crate::chat::inbox::Inbox;
use crate::chat::joining::{Joining, SESSION_IN, SESSION_IN_FRAME};
use crate::chat::presence::now_millis;
use crate::chat::protocol::SUBPROTOCOLS;
use crate::chat::room::Admission;
use crate::chat::sanctions::{Ban, Bans};
use crate::chat::session::{SESSION_PARAM, Session};
use crate::config::Config;
use crate::error::Rejection;
use crate::http::{HeadError, Request, Response, Route, keep_alive, request, route};
use crate::memory;
use crate::metrics::Metrics;
use crate::net::close::{self, is_timeout};
use crate::net::conn::{Conn, DeadlineSocket};
use crate::net::per_address::{Held, PerAddress};
use crate::ws::deflate::{self, offer::EXTENSIONS_HEADER};
use crate::ws::echo::Echo;
use crate::ws::handshake;
use crate::ws::reader::{End, Handler, Reader, Timing};
use crate::ws::upgrade::{self, Options, Upgraded};

/// What every connection thread shares.
#[derive(Debug)]
pub struct Context {
    /// The configuration.
    pub config: Config,
    /// The TLS configuration when `BACKEND_TLS` is on.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The way to the broadcaster.
    pub inbox: Inbox,
    /// The way chat messages travel (the inbox, or Kafka).
    pub bus: Bus,
    /// The count of rooms with members (`MAX_ROOMS`).
    pub admission: Admission,
    /// What each client address holds (`net/per_address.rs`).
    pub per_address: Arc<PerAddress>,
    /// The bots' HTTP API (`chat/api.rs`).
    pub api: Api,
    /// The bans in force (`chat/sanctions.rs`), written by the broadcaster.
    pub bans: Arc<Bans>,
}

/// The body of a connection thread: serves the connection and logs how it ended. `handshake`
/// is its place among its address's handshakes, given back when the HTTP phase is over, or
/// sooner, when the connection is kept alive after an answer.
pub fn serve(tcp: TcpStream, id: u64, handshake: Option<Held>, ctx: &Context) {
    let peer = tcp.peer_addr().ok();
    // The memory tricks, around the two phases (memory.rs).
    match memory::http_phase(ctx.tls.is_some(), || read_request(tcp, id, handshake, ctx)) {
        Ok(Some(ready)) => ready.run(id, ctx, memory::reader_phase),
        Ok(None) => {}
        Err(e) => log_failure(peer, &e),
    }
}

/// Which application a WebSocket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum App {
    /// `/ws`.
    Chat,
    /// `/echo`.
    Echo,
}

impl App {
    /// The subprotocols it speaks, in its order of preference (RFC 6455 §1.9): the chat's
    /// `wschat.v1`; the echo none, since it echoes any bytes and has no protocol to name, so
    /// its `101` never names one.
    fn subprotocols(&self) -> &'static [&'static str] {
        match self {
            App::Chat => SUBPROTOCOLS,
            App::Echo => &[],
        }
    }
}

/// A connection past the `101`, ready for its session.
struct Ready<'a> {
    upgraded: Upgraded,
    app: App,
    joining: Joining,
    /// The client's address, for the logs.
    peer: String,
    _open: OpenGuard<'a>,
    /// Its place among its address's WebSockets.
    _socket: Held,
}

impl Ready<'_> {
    /// Runs the session to the connection's end. `run_reader` runs a session with a handler:
    /// `Reader::run`, or the same with memory's tricks around it (`memory::reader_phase`).
    fn run(self, id: u64, ctx: &Context, run_reader: impl FnOnce(Reader, &mut dyn Handler) -> End) {
        let Ready { upgraded, app, joining, peer, _open, _socket } = self;
        let started = Instant::now();
        let config = &ctx.config;
        let reader = Reader::new(
            upgraded,
            Timing { ping_every: config.ping_interval, idle: config.idle_timeout },
        );
        let (end, name) = match app {
            App::Chat => {
                let services = Services {
                    config,
                    inbox: &ctx.inbox,
                    publish: &ctx.bus,
                    metrics: &ctx.metrics,
                    admission: &ctx.admission,
                    per_address: &ctx.per_address,
                };
                let mut chat = ChatHandler::new(id, joining, services);
                let end = run_reader(reader, &mut chat);
                (end, chat.name())
            }
            App::Echo => {
                let compression = deflate::Settings {
                    min_bytes: config.compression_min_bytes,
                    bytes_per_second: config.compression_max_bytes_per_sec,
                };
                let echo = &mut Echo::new(config.idle_timeout, compression);
                (run_reader(reader, echo), joining.name)
            }
        };
        info!("{peer}: {name} disconnected after {:.1?}: {end}", started.elapsed());
    }
}

/// The HTTP phase: TLS, then requests and their answers, until the connection closes or
/// upgrades. `Ok(Some)`: a WebSocket to read; `Ok(None)`: answered and closed.
///
/// The connection starts holding one of its address's handshakes (`handshake`, none for a
/// trusted proxy). Kept alive after an answer (`http/keep_alive.rs`), it gives that back for one
/// of its address's connections (`kept`): the handshake limit counts connections in their
/// handshake, and one waiting for its next request is not. Its next request comes with no new
/// handshake slot, but within the same deadlines (`net/conn.rs`).
fn read_request(
    tcp: TcpStream,
    id: u64,
    handshake: Option<Held>,
    ctx: &Context,
) -> io::Result<Option<Ready<'_>>> {
    tcp.set_nodelay(true)?;
    let peer = tcp.peer_addr()?;
    let config = &ctx.config;
    let socket = DeadlineSocket::new(tcp, Instant::now() + config.handshake_timeout);
    let mut conn = match &ctx.tls {
        Some(_) if !socket.starts_with_tls_handshake()? => {
            let mut plain = Conn::Plain(socket);
            let refusal = Response::rejection(Rejection::Malformed).with_body(PLAIN_ON_TLS_PORT);
            refusal.write_to(&mut plain, false)?;
            return close::finish(plain).map(|()| None);
        }
        Some(tls) => Conn::tls(tls, socket)?,
        None => Conn::Plain(socket),
    };
    let mut handshake = handshake;
    let mut kept: Option<Held> = None;
    let mut started = Vec::new();
    let mut served = 0;
    loop {
        served += 1;
        let (request, mut leftover) = match request::read_head_after(&mut conn, &started) {
            Ok(read) => read,
            // Between two requests: the client closed its kept-alive connection, or left it idle
            // for KEEP_ALIVE_TIMEOUT_SECS. A normal end.
            Err(HeadError::Io(e)) if kept.is_some() && ended_between_requests(&mut conn, &e) => {
                debug!("{peer}: kept-alive connection closed after {} requests", served - 1);
                return close::finish(conn).map(|()| None);
            }
            Err(HeadError::Io(e)) => return Err(e),
            Err(HeadError::Rejected(rejection)) => return refuse(conn, rejection, ctx, peer),
        };
        debug!("{peer}: {} {}", request.method, request.path);
        let route = route::route(&request, config.echo_endpoint);
        // For the API: whether the request's body was read whole (`None`: not the API).
        let mut body_read = None;
        let response = match route {
            Route::Asset(asset) => Response::asset(asset, request.header("If-None-Match")),
            Route::Health => match ctx.metrics.health() {
                (true, body) => Response::ok("application/json", body.into_bytes()),
                (false, body) => Response::unavailable("application/json", body.into_bytes()),
            },
            Route::Metrics => Response::ok(PROMETHEUS_TEXT, ctx.metrics.prometheus().into_bytes()),
            // Whether this client is banned, as a `200` when it is not: a page whose socket was
            // refused asks here, and a refusal it did not earn logs no error in its console.
            Route::Banned => match banned(&request, peer, ctx) {
                Some(ban) => return refuse_banned(conn, &ban, ctx, peer),
                None => Response::ok("application/json", NOT_BANNED.as_bytes()),
            },
            Route::Api => {
                let answered = api::answer(&ctx.api, &ctx.inbox, &request, &mut conn, leftover)?;
                let bot = answered.bot.as_deref().unwrap_or("no bot");
                debug!("{peer}: API {} ({bot}): {}", request.path, answered.response.status);
                (body_read, leftover) = (Some(answered.body_read), answered.leftover);
                answered.response
            }
            Route::Reject(rejection) => return refuse(conn, rejection, ctx, peer),
            // A banned client is answered 403 with why and until when, whether it asks for the
            // upgrade or (a page learning why its socket was refused) a plain GET of `/ws`.
            Route::Chat if let Some(ban) = banned(&request, peer, ctx) => {
                return refuse_banned(conn, &ban, ctx, peer);
            }
            Route::Chat | Route::Echo => {
                let app = if matches!(route, Route::Chat) { App::Chat } else { App::Echo };
                let upgrade = Upgrade { request: &request, leftover, app, kept };
                return admit(conn, upgrade, ctx, id, peer);
            }
        };
        let head_only = request.method == "HEAD";
        let keep =
            served < config.keep_alive_requests && may_keep(&request, &response, body_read, ctx);
        if keep && kept.is_none() {
            // Its handshake is over: the connection trades it for a place among its address's
            // connections, if the address (and the server) have one left.
            let client = request.client_ip(peer, &config.trusted_proxies);
            let room = config.max_connections.saturating_sub(ctx.metrics.open());
            kept = ctx.per_address.kept_alive(client, room);
            if kept.is_some() {
                drop(handshake.take());
            }
        }
        if !keep || kept.is_none() {
            response.write_to(&mut conn, head_only)?;
            return close::finish(conn).map(|()| None);
        }
        response.keep_alive(config.keep_alive_timeout).write_to(&mut conn, head_only)?;
        match leftover.is_empty() {
            true => conn.socket().await_next(config.keep_alive_timeout, config.handshake_timeout),
            false => conn.socket().restart(config.handshake_timeout),
        }
        started = leftover;
    }
}

/// True when an answered request may leave its connection open for another: the client allows
/// it, the answer is not a refusal (for the API, whose refusals are answers a script reads on:
/// not a failure, and its body was read whole), and the server is not draining.
fn may_keep(
    request: &Request,
    response: &Response,
    api_body_read: Option<bool>,
    ctx: &Context,
) -> bool {
    let (body_read, answered) = match api_body_read {
        Some(read) => (read, response.status < 500),
        None => (false, response.status < 400),
    };
    keep_alive::client_allows(request, body_read) && answered && !ctx.metrics.is_draining()
}

/// True when a kept-alive connection's read failed before its next request began: the client
/// closed it, or it stayed idle past `KEEP_ALIVE_TIMEOUT_SECS`.
fn ended_between_requests(conn: &mut Conn, e: &io::Error) -> bool {
    conn.socket().is_idle() || e.kind() == io::ErrorKind::UnexpectedEof
}

/// The opening handshake (RFC 6455 §4.2.2): checked, admitted (not draining, not full, within
/// its address's share), then upgraded with the `101`.
fn admit<'a>(
    conn: Conn,
    upgrade: Upgrade<'_>,
    ctx: &'a Context,
    id: u64,
    peer: SocketAddr,
) -> io::Result<Option<Ready<'a>>> {
    let Upgrade { request, leftover, app, kept } = upgrade;
    let scheme = request.scheme(ctx.tls.is_some(), peer, &ctx.config.trusted_proxies);
    let accept = match handshake::check(request, &ctx.config.allowed_origins, scheme) {
        Ok(accept) => accept,
        Err(rejection) => return refuse(conn, rejection, ctx, peer),
    };
    if ctx.metrics.is_draining() {
        return refuse(conn, Rejection::Draining, ctx, peer);
    }
    if ctx.metrics.is_reading_back() {
        return refuse_for(conn, Rejection::Starting, Some(RETRY_STARTING), ctx, peer);
    }
    let config = &ctx.config;
    let client = request.client_ip(peer, &config.trusted_proxies);
    // A kept-alive connection's place becomes its WebSocket's (they count together).
    drop(kept);
    let Some(socket) = ctx.per_address.socket(client) else {
        return refuse_for(conn, Rejection::AddressFull, Some(RETRY_CONNECTIONS), ctx, peer);
    };
    if !ctx.metrics.try_open(config.max_connections) {
        return refuse(conn, Rejection::ServerFull, ctx, peer);
    }
    let _open = OpenGuard(ctx);
    let mut joining =
        Joining::from_request(request, client, config.inspect_enabled, config.compression);
    // A chat client without a session in its query is given a new one: it spends its address's
    // allowance here, where the answer can still be a 429 (the broadcaster counts one whose
    // session turns out unknown, or came in its first message).
    if let (App::Chat, Some(Presented::Nothing | Presented::Malformed)) = (app, &joining.presented)
    {
        if let Err(wait) = ctx.per_address.new_session(client, Instant::now()) {
            return refuse_for(conn, Rejection::TooManySessions, Some(wait), ctx, peer);
        }
        joining.spent = true;
    }
    debug!(
        "{peer}: handshake: Sec-WebSocket-Key {:?} -> Sec-WebSocket-Accept {accept:?}",
        request.header("Sec-WebSocket-Key").unwrap_or_default()
    );
    let subprotocol =
        handshake::choose(handshake::protocol_offers(request), app.subprotocols()).name();
    let negotiation =
        deflate::negotiate(request.header_list(EXTENSIONS_HEADER), config.compression);
    debug!("{peer}: permessage-deflate {}", negotiation.why);
    let deflate = negotiation.agreed;
    let options = match app {
        App::Chat => Options {
            max_message: config.max_message_bytes,
            send_buffer: config.send_buffer_bytes,
            write_requests: Some(ctx.inbox.write_requests(id)),
            subprotocol,
            deflate,
        },
        // The echo session is its own only writer and waits for each echo to drain.
        App::Echo => Options {
            max_message: config.echo_max_message_bytes,
            send_buffer: usize::MAX,
            write_requests: None,
            subprotocol,
            deflate,
        },
    };
    let upgraded = upgrade::upgrade(conn, &accept, leftover, options, &ctx.metrics)?;
    let peer = request::client_address(client, peer);
    info!("{peer}: {} connected to {}", joining.name, request.path);
    Ok(Some(Ready { upgraded, app, joining, peer, _open, _socket: socket }))
}

/// A request for a WebSocket, as the HTTP phase hands it to [`admit`].
struct Upgrade<'r> {
    request: &'r Request,
    /// Bytes the client sent after the head (its first frames, if it did not wait).
    leftover: Vec<u8>,
    app: App,
    /// The connection's place among its address's connections, when it was kept alive.
    kept: Option<Held>,
}

/// Answers a refused request with its status and closes.
fn refuse<T>(
    conn: Conn,
    rejection: Rejection,
    ctx: &Context,
    peer: SocketAddr,
) -> io::Result<Option<T>> {
    refuse_for(conn, rejection, None, ctx, peer)
}

/// The same, with `Retry-After` when `wait` says when time lifts the refusal (a per-address
/// limit).
fn refuse_for<T>(
    mut conn: Conn,
    rejection: Rejection,
    wait: Option<Duration>,
    ctx: &Context,
    peer: SocketAddr,
) -> io::Result<Option<T>> {
    ctx.metrics.refused(rejection);
    let (status, _) = rejection.status();
    debug!("{peer}: refused with {status}: {rejection}");
    let response = Response::rejection(rejection);
    let response = match wait {
        Some(wait) => response.retry_after(wait),
        None => response,
    };
    response.write_to(&mut conn, false)?;
    close::finish(conn).map(|()| None)
}

/// The ban that refuses this request for the chat: of the session in its query
/// (`?session=`), or of its address (`chat/sanctions.rs`). An upgrade that will present its
/// session in its first frame (`?session_in=frame`, as the page does) is judged then, by the
/// broadcaster (close 4003, `names.rs`): it may be an operator's, which a ban of its address
/// must not keep out.
fn banned(request: &Request, peer: SocketAddr, ctx: &Context) -> Option<Ban> {
    let in_frame = request.query_param(SESSION_IN).is_some_and(|p| p == SESSION_IN_FRAME);
    if in_frame && request.header("Upgrade").is_some() {
        return None;
    }
    let client = request.client_ip(peer, &ctx.config.trusted_proxies);
    let param = request.query_param(SESSION_PARAM);
    let presented = param.as_deref().and_then(Session::parse).map(|s| s.user_id());
    ctx.bans.refusing(client, presented, now_millis())
}

/// Answers a banned client `403` with the ban's JSON (`{"error":"banned",…}`) and closes.
fn refuse_banned<T>(
    mut conn: Conn,
    ban: &Ban,
    ctx: &Context,
    peer: SocketAddr,
) -> io::Result<Option<T>> {
    ctx.metrics.refused(Rejection::Banned);
    debug!("{peer}: refused with 403: banned");
    let (status, reason) = Rejection::Banned.status();
    Response::json(status, reason, ban.refusal_json()).write_to(&mut conn, false)?;
    close::finish(conn).map(|()| None)
}

/// Why an HTTP-phase connection ended without an answer, at the level it deserves.
fn log_failure(peer: Option<SocketAddr>, e: &io::Error) {
    let peer = peer.map_or_else(|| "?".to_string(), |peer| peer.to_string());
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

/// Counts the WebSocket as closed when the thread is done with it.
struct OpenGuard<'a>(&'a Context);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.metrics.close();
    }
}

/// `Retry-After` while the history is read back at start: it takes a moment.
const RETRY_STARTING: Duration = Duration::from_secs(1);
/// `Retry-After` for an address with all its WebSockets open: one of them may close soon.
const RETRY_CONNECTIONS: Duration = Duration::from_secs(10);
/// The `Content-Type` of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The answer of `/banned` to a client that is not.
const NOT_BANNED: &str = r#"{"banned":false}"#;
/// The body of the 400 sent to plain HTTP on the TLS port.
const PLAIN_ON_TLS_PORT: &str =
    "400 Bad Request: this port speaks TLS; use https:// (or wss://), or set BACKEND_TLS=false\n";
