//! Start-up and shutdown: the threads, the channels between them, and the order they stop in.
//!
//! ```text
//! main ── run() ── net::accept::accept_loop ── spawns ──▶ conn-N threads (connection::serve)
//!              ├── broadcaster thread (chat::broadcaster), fed by the chat's Inbox, writing its
//!              │   journal to the store (store::Store, HISTORY_DIR) when there is no Kafka
//!              └── signals thread: SIGINT/SIGTERM → drain → Inbox::shutdown + wake the accept loop
//! ```
//! Shutdown, in order:
//! 1. **Drain** (`DRAIN_SECS`, default 0): `/healthz` answers 503 `draining` and new upgrades get
//!    503, while open connections go on. A load balancer or orchestrator watching `/healthz` stops
//!    sending newcomers here; nginx tries the next instance on a 503. A second signal ends the wait.
//! 2. **Close**: a flag plus a wake-up. `accept` blocks, so the signal thread sets the flag and then
//!    connects to our own port, which returns `accept` once more; the loop sees the flag and stops.
//!    The broadcaster closes every client with 1001 and returns, and `run` returns `Ok` (exit 0).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use log::{error, info, warn};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::bus::Bus;
use crate::chat::api::Api;
use crate::chat::bots::{self, Bots};
use crate::chat::broadcaster::{Broadcaster, Limits};
use crate::chat::history::{Epochs, new_epoch};
use crate::chat::inbox::{Event, Inbox};
use crate::chat::room::Admission;
use crate::config::{Config, HANDSHAKE_HEADROOM};
use crate::connection::{self, Context};
use crate::error::Error;
use crate::error::Rejection;
use crate::metrics::Metrics;
use crate::net::accept::{Admit, accept_loop, reachable, spawn};
use crate::net::per_address::{AddressLimits, PerAddress};
use crate::net::tls;
use crate::store::{Opened, Store};

/// Runs the server until SIGINT or SIGTERM.
pub fn run(config: Config) -> Result<(), Error> {
    raise_open_file_limit();
    let tls = match config.tls {
        true => Some(tls::server_config(&config.tls_cert, &config.tls_key)?),
        false => None,
    };
    // Alone (no Kafka), the history lives in the store, opened and locked before the port so
    // that a second server on the same folder stops here; with Kafka, in the topic.
    let store = match (&config.history_dir, config.kafka_enabled) {
        (Some(dir), false) => Some(
            Store::open(dir, config.history_fsync).map_err(|e| Error::History(e.to_string()))?,
        ),
        _ => None,
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

    let (inbox, mailbox) = Inbox::new();
    let metrics = Arc::new(Metrics::default());
    let (bus, epochs, recalled) = match &store {
        Some(opened) => (Bus::Local(inbox.clone()), Epochs::single(opened.epoch.clone()), vec![]),
        None => connect_bus(&config, &inbox, &metrics)?,
    };
    let per_address = PerAddress::new(address_limits(&config));
    let limits = Limits::from_config(&config, per_address.clone());
    let mut broadcaster = Broadcaster::new(mailbox, epochs, limits, metrics.clone(), bus.others());
    let bans = broadcaster.bans();
    // Who holds which name in the deployment, before the first connection is settled.
    broadcaster.recall(recalled);
    if let Some(Opened { store, entries, .. }) = store {
        // The histories, sessions and names from before the restart, before anyone connects.
        broadcaster.restore(entries);
        broadcaster.keep_journal(Box::new(store));
    }
    // The bots of the HTTP API: their names held for good (after the restore, which may name
    // a session that held one before the bot was configured), their entries marked.
    let bots = Bots::new(&config.api_tokens, config.rate_limit_per_sec);
    bots::register(&bots);
    crate::chat::operators::register(&config.operators);
    broadcaster.reserve_bots(&bots);
    let broadcaster = spawn("broadcaster", move || broadcaster.run())?;

    let stopping = Arc::new(AtomicBool::new(false));
    let shutdown = Shutdown {
        stopping: stopping.clone(),
        inbox: inbox.clone(),
        wake: reachable(local),
        drain: config.drain,
        metrics: metrics.clone(),
    };
    watch_signals(shutdown)?;

    // Connections still in their handshake are allowed on top of MAX_CONNECTIONS, so that a full
    // server can still answer 503 and serve /healthz.
    let max_threads = config.max_connections + HANDSHAKE_HEADROOM;
    let admission = Admission::new(config.max_rooms, per_address.clone());
    let trusted = config.trusted_proxies.clone();
    let counted = metrics.clone();
    let refused = move || counted.refused(Rejection::TooManyHandshakes);
    let admit =
        Admit { max_threads, per_address: &per_address, exempt: &trusted, refused: &refused };
    let per_address = per_address.clone();
    let api =
        Api { bots, max_body: config.max_message_bytes, default_room: config.default_room.clone() };
    let ctx =
        Arc::new(Context { config, tls, metrics, inbox, bus, admission, per_address, api, bans });
    let serve = move |tcp, id, handshake| connection::serve(tcp, id, handshake, &ctx);
    accept_loop(&listener, &admit, &stopping, serve);
    if broadcaster.join().is_err() {
        error!("the broadcaster thread panicked");
    }
    info!("stopped");
    Ok(())
}

/// The per-address limits `config` sets, each capped to a quarter of the server's total, so that
/// one address never takes all of it (see `net/per_address.rs`).
pub fn address_limits(config: &Config) -> AddressLimits {
    let share = |wanted: usize, total: usize| {
        u32::try_from(wanted.min((total / 4).max(1))).unwrap_or(u32::MAX)
    };
    AddressLimits {
        handshakes: share(config.max_handshakes_per_address, HANDSHAKE_HEADROOM),
        sockets: share(config.max_connections_per_address, config.max_connections),
        sessions_per_min: config.new_sessions_per_address_per_min,
        rooms: share(config.max_rooms_per_address, config.max_rooms),
        unanswered_per_min: config.unanswered_per_address_per_min,
    }
}

/// The local inbox, or Kafka when `KAFKA_ENABLED`; where each room's ids come from; and the
/// events the bus read back for the broadcaster (Kafka's claims topic).
fn connect_bus(
    config: &Config,
    inbox: &Inbox,
    metrics: &Arc<Metrics>,
) -> Result<(Bus, Epochs, Vec<Event>), Error> {
    if !config.kafka_enabled {
        return Ok((Bus::Local(inbox.clone()), Epochs::single(new_epoch()), Vec::new()));
    }
    #[cfg(feature = "kafka")]
    {
        let started = crate::bus::kafka::start(config, inbox.clone(), metrics.clone())?;
        Ok((Bus::Kafka(started.bus), started.epochs, started.recalled))
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

/// What the signal thread needs to take the server down.
struct Shutdown {
    stopping: Arc<AtomicBool>,
    inbox: Inbox,
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
        shutdown.inbox.shutdown();
        // Wake the accept loop; if this fails it is already awake.
        let _ = TcpStream::connect_timeout(&shutdown.wake, Duration::from_secs(1));
    })?;
    Ok(())
}

/// Each connection holds a socket: let the process have as many as it is allowed.
fn raise_open_file_limit() {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        warn!("cannot raise the open file limit: {e}");
    }
}

/// How often the signal thread looks for a second signal while draining.
const DRAIN_POLL: Duration = Duration::from_millis(50);
