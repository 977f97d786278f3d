//! The accept loop, the threads it starts, and shutdown.
//!
//! ```text
//! main ── run() ── accept loop ── spawns ──> conn-N threads (connection.rs → reader.rs)
//!              ├── broadcaster thread (broadcaster.rs), fed by one crossbeam channel
//!              └── signals thread: SIGINT/SIGTERM → drain → Shutdown event + wake the accept loop
//! ```
//! Shutdown, in order:
//! 1. **Drain** (`DRAIN_SECS`, default 0): `/healthz` answers 503 `draining` and new upgrades get
//!    503, while open connections go on. A load balancer or orchestrator watching `/healthz` stops
//!    sending newcomers here; nginx tries the next instance on a 503. A second signal ends the wait.
//! 2. **Close**: a flag plus a wake-up. `accept` blocks, so the signal thread sets the flag and then
//!    connects to our own port, which returns `accept` once more; the loop sees the flag and stops.
//!    The broadcaster closes every client with 1001 and returns, and `run` returns `Ok` (exit 0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use log::{error, info, warn};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::broadcaster::{Broadcaster, Event};
use crate::bus::Bus;
use crate::config::Config;
use crate::connection;
use crate::error::Error;
use crate::history::{History, new_epoch};
use crate::metrics::Metrics;
use crate::tls;

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
    pub events: Sender<Event>,
    /// The way chat messages travel (the channel above, or Kafka).
    pub bus: Bus,
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<(), Error> {
    raise_open_file_limit();
    let tls = match config.tls {
        true => Some(tls::server_config(&config.tls_cert, &config.tls_key)?),
        false => None,
    };
    let listener = TcpListener::bind((config.host, config.port)).map_err(|source| Error::Bind {
        addr: format!("{}:{}", config.host, config.port),
        source,
    })?;
    let local =
        listener.local_addr().map_err(|source| Error::Io { context: "local address", source })?;
    // Scripts read this line to learn the port (PORT=0), so it is printed at any log level.
    let listening = format!("websocketchat listening on {}://{local}", config.scheme());
    if log::log_enabled!(log::Level::Info) {
        info!("{listening}");
    } else {
        eprintln!("{listening}");
    }
    if local.ip().is_unspecified() {
        info!("open {}://localhost:{} in a browser", config.scheme(), local.port());
    }

    let (events, inbox) = crossbeam_channel::bounded(EVENT_QUEUE);
    let metrics = Arc::new(Metrics::default());
    let (bus, history) = connect_bus(&config, &events, &metrics)?;
    let broadcaster = Broadcaster::new(inbox, history, metrics.clone(), bus.clone());
    let broadcaster = spawn("broadcaster", move || broadcaster.run())?;

    let stopping = Arc::new(AtomicBool::new(false));
    let shutdown = Shutdown {
        stopping: stopping.clone(),
        events: events.clone(),
        wake: reachable(local),
        drain: config.drain,
        metrics: metrics.clone(),
    };
    watch_signals(shutdown)?;

    let ctx = Arc::new(Context { config, tls, metrics, events, bus });
    accept_loop(&listener, &ctx, &stopping);
    drop(ctx);
    if broadcaster.join().is_err() {
        error!("the broadcaster thread panicked");
    }
    info!("stopped");
    Ok(())
}

/// The local channel, or Kafka when `KAFKA_ENABLED`; and the history to start from.
fn connect_bus(
    config: &Config,
    events: &Sender<Event>,
    metrics: &Arc<Metrics>,
) -> Result<(Bus, History), Error> {
    if !config.kafka_enabled {
        return Ok((Bus::Local(events.clone()), History::new(config.history_size, new_epoch())));
    }
    #[cfg(feature = "kafka")]
    {
        let started = crate::bus::kafka::start(config, events.clone(), metrics.clone())?;
        let history =
            History::new(config.history_size, started.epoch).starting_at(started.history_from);
        Ok((Bus::Kafka(started.bus), history))
    }
    #[cfg(not(feature = "kafka"))]
    {
        let _ = metrics;
        Err(Error::Config {
            var: "KAFKA_ENABLED",
            value: "true".into(),
            expected: "false: this binary was built without the `kafka` feature",
        })
    }
}

fn accept_loop(listener: &TcpListener, ctx: &Arc<Context>, stopping: &AtomicBool) {
    let next_id = AtomicU64::new(1);
    let live = Arc::new(AtomicUsize::new(0));
    // Connections still in their handshake are allowed on top of MAX_CONNECTIONS, so that a full
    // server can still answer 503 and serve /healthz.
    let max_threads = ctx.config.max_connections + HANDSHAKE_HEADROOM;
    for accepted in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let tcp = match accepted {
            Ok(tcp) => tcp,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if live.load(Ordering::SeqCst) >= max_threads {
            warn!("{max_threads} connections open: dropping a new one");
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let (ctx, live) = (ctx.clone(), live.clone());
        live.fetch_add(1, Ordering::SeqCst);
        let spawned = thread::Builder::new()
            .name(format!("conn-{id}"))
            .stack_size(CONNECTION_STACK_BYTES)
            .spawn(move || {
                connection::serve(tcp, id, &ctx);
                live.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            warn!("cannot start a thread for connection {id}: {e}");
        }
    }
}

/// What the signal thread needs to take the server down.
struct Shutdown {
    stopping: Arc<AtomicBool>,
    events: Sender<Event>,
    wake: SocketAddr,
    drain: Duration,
    metrics: Arc<Metrics>,
}

/// SIGINT and SIGTERM start a graceful shutdown: drain, then close.
fn watch_signals(shutdown: Shutdown) -> Result<(), Error> {
    let mut signals = Signals::new([SIGINT, SIGTERM])
        .map_err(|source| Error::Io { context: "installing signal handlers", source })?;
    spawn("signals", move || {
        let Some(signal) = signals.forever().next() else { return };
        if !shutdown.drain.is_zero() {
            info!("signal {signal}: draining for {:?}, then shutting down", shutdown.drain);
            shutdown.metrics.start_draining();
            let end = Instant::now() + shutdown.drain;
            // A second signal ends the drain early.
            while Instant::now() < end {
                if let Some(again) = signals.pending().next() {
                    info!("signal {again}: draining cut short");
                    break;
                }
                thread::sleep(DRAIN_POLL);
            }
        }
        info!("signal {signal}: shutting down");
        shutdown.stopping.store(true, Ordering::SeqCst);
        let _ = shutdown.events.send(Event::Shutdown);
        // Wake the accept loop; if this fails it is already awake.
        let _ = TcpStream::connect_timeout(&shutdown.wake, Duration::from_secs(1));
    })?;
    Ok(())
}

/// Where a process on this machine connects to reach a server listening on `local`: the address
/// itself, or loopback (of the same family) when the server listens on all addresses. Used to
/// wake our own accept loop, and by `websocketchat healthcheck`.
pub fn reachable(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

fn spawn<F: FnOnce() + Send + 'static>(
    name: &str,
    body: F,
) -> Result<thread::JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.to_string())
        .spawn(body)
        .map_err(|source| Error::Io { context: "starting a thread", source })
}

/// Each connection holds a socket: let the process have as many as it is allowed.
fn raise_open_file_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        warn!("cannot raise the open file limit: {e}");
    }
}

/// Stack reserved per connection thread. Only the pages a thread touches cost memory; this bounds
/// the address space, and leaves room for the TLS handshake, the deepest call chain we have.
pub const CONNECTION_STACK_BYTES: usize = 256 * 1024;
/// How often the signal thread looks for a second signal while draining.
const DRAIN_POLL: Duration = Duration::from_millis(50);
/// Connections beyond MAX_CONNECTIONS that may be in their handshake at once.
const HANDSHAKE_HEADROOM: usize = 256;
/// Events that may wait for the broadcaster; beyond that, readers wait (back-pressure). The
/// channel's slots are allocated and touched up front (96 bytes each, 1.5 MiB in all), so this is
/// resident memory from the start: room for a burst of joins or messages from 16,384 connections.
const EVENT_QUEUE: usize = 16 * 1024;
