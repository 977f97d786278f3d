//! Chat and stalled modes: N clients read everything, S of them send at R messages per second.
//!
//! Every measured message's text is `<sender>:<seq>:<send time in µs> xxxx…`, the time counted
//! from one `Instant` shared by every thread, so latency is receive time minus send time on the
//! same clock. Each reading client checks each message it gets: lost, duplicated, out of order per
//! sender. With `--rooms N` client i listens in room `r<i mod N>` only, and sender k (client k)
//! speaks there: each client must get its room's messages, in order, and nothing of another room
//! (see `outcome.rs`); loss and latency are also reported room by room. In stalled mode the last
//! K clients never read (their receive buffer is 4 KiB); at the end their sockets are read to see
//! whether the server closed them, and with which code.
//!
//! [`run`] goes through the phases in order; each has its file:
//! - `connect.rs`: the reading threads start, then the clients connect and go to them;
//! - `read.rs`: the reading threads, each client's frames and messages checked as they come;
//! - `send.rs`: the paced senders (warm-up, then the measured run);
//! - `stalled.rs`: the clients that never read, inspected at the end;
//! - `usage.rs`: the server's and the generator's RSS, CPU and wait time around the run;
//! - `totals.rs`: the readers' checks added up, overall and room by room;
//! - `figures.rs`: the JSON line, field by field.

mod connect;
mod figures;
mod read;
mod send;
mod stalled;
mod totals;
mod usage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::client;
use crate::http;
use crate::outcome::Outcome;
use crate::proc;
use crate::report::Report;
use figures::{ConnectPhase, Measured, Sending, Usage};
use totals::Totals;
use usage::{Monitor, Sample, Waits};

/// What every thread shares.
struct Shared {
    start: Instant,
    /// Bytes received by all clients (to see when the server has gone quiet).
    bytes_in: AtomicU64,
    /// Readers stop at this time (µs since start).
    stop_at: AtomicU64,
    /// Measured messages sent into each room (one entry without rooms), set once the senders
    /// are done.
    sent: OnceLock<Vec<u64>>,
}

impl Shared {
    fn now(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }
}

pub fn run(args: &Args) -> Result<Report, String> {
    let tls = client::tls_config(args)?;
    let shared = Arc::new(Shared {
        start: Instant::now(),
        bytes_in: AtomicU64::new(0),
        stop_at: AtomicU64::new(0),
        sent: OnceLock::new(),
    });
    // A bound on the whole run, lowered once the senders are done.
    let bound = CONNECT_PHASE
        + SETTLE_MAX
        + Args::secs(args.warmup + args.duration + args.grace)
        + Duration::from_secs(15);
    shared.stop_at.store(bound.as_micros() as u64, Ordering::SeqCst);
    let pid = args.server_pid;
    let rss_idle = pid.and_then(proc::rss_kib);
    let connect_monitor = Monitor::start(pid);
    let gen_connect_before = proc::own_cpu_seconds();

    // 1. Connect; each reading client starts reading at once (and so drains the join storm).
    let connected = connect::connect_all(args, tls.as_ref(), &shared);
    let connect_s = shared.start.elapsed().as_secs_f64();
    let senders = connected.senders.len();

    // 2. Wait until nobody has received anything for a while.
    let settle_started = Instant::now();
    let mut last = shared.bytes_in.load(Ordering::SeqCst);
    let mut quiet_since = Instant::now();
    while settle_started.elapsed() < SETTLE_MAX {
        thread::sleep(Duration::from_millis(50));
        let now = shared.bytes_in.load(Ordering::SeqCst);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= QUIET {
            break;
        }
    }
    let connect = ConnectPhase {
        connected: args.clients - connected.failed,
        deflate: connected.deflate,
        failed: connected.failed,
        first_error: connected.first_error,
        connect_s,
        settle_s: settle_started.elapsed().as_secs_f64(),
        settle_bytes: shared.bytes_in.load(Ordering::SeqCst),
        rss_peak: connect_monitor.stop(),
        gen_cpu: proc::own_cpu_seconds() - gen_connect_before,
        wall_s: shared.start.elapsed().as_secs_f64(),
    };

    // 3. Warm-up traffic, not measured.
    if args.warmup > 0.0 && senders > 0 {
        let from = shared.now() + 10_000;
        let handles =
            send::start_senders(args, &connected.senders, &shared, from, args.warmup, true);
        for (_, h) in handles {
            let _ = h.join();
        }
        thread::sleep(Duration::from_millis(500));
    }

    // 4. The measured run.
    let dial = http::dial(args.url(0), tls.as_ref());
    let metrics_before = http::metrics(&dial);
    let before = Sample::take(pid, &args.cpu_pids);
    let waits_before = Waits::take(pid);
    let gen_before = proc::own_cpu_seconds();
    let monitor = Monitor::start(pid);
    let wire_before = shared.bytes_in.load(Ordering::SeqCst);

    let t0 = shared.now() + 20_000;
    let handles = send::start_senders(args, &connected.senders, &shared, t0, args.duration, false);
    let mut sent_to = vec![0u64; args.groups()];
    let (mut send_errors, mut sent_wire) = (Vec::new(), 0u64);
    for (k, h) in handles {
        match h.join() {
            Ok((n, wire, err)) => {
                sent_to[args.group(k)] += n;
                sent_wire += wire;
                send_errors.extend(err);
            }
            Err(_) => send_errors.push("sender panicked".to_string()),
        }
    }
    let sending_ended = shared.now();
    // Taken here, while the reading threads still run.
    let waits_after = Waits::take(pid);
    shared.sent.set(sent_to.clone()).expect("the senders finish once");
    let stop_at = sending_ended.max(t0 + (args.duration * 1e6) as u64) + (args.grace * 1e6) as u64;
    shared.stop_at.store(stop_at, Ordering::SeqCst);

    // The clients stay connected until the server's counters are read: closing them would start
    // a storm of `leave` events, which is not the traffic measured.
    let mut clients = Vec::new();
    let mut reader_panicked = false;
    for h in connected.readers {
        match h.join() {
            Ok(some) => clients.extend(some),
            Err(_) => reader_panicked = true,
        }
    }
    let ended = shared.now();
    let wire_read = shared.bytes_in.load(Ordering::SeqCst) - wire_before;
    let after = Sample::take(pid, &args.cpu_pids);
    let gen_cpu = proc::own_cpu_seconds() - gen_before;
    let rss_peak = monitor.stop();

    // 5. Stalled clients: did the server close them, and with which code?
    let stalled = stalled::inspect_stalled(connected.stalled);
    let metrics_after = http::metrics(&dial);
    let outcomes: Vec<Outcome> = clients.into_iter().map(|slot| slot.out).collect();

    // The figures.
    let rooms = totals::by_room(&outcomes, &sent_to);
    let measured = Measured {
        connect,
        sending: Sending {
            t0,
            ended: sending_ended,
            sent_to,
            errors: send_errors,
            wire: sent_wire,
        },
        usage: Usage {
            rss_idle,
            before,
            after,
            rss_peak,
            waits_before,
            waits_after,
            gen_cpu,
            metrics_before,
            metrics_after,
        },
        totals: Totals::of(&outcomes),
        rooms,
        stalled,
        reader_panicked,
        ended,
        wire_read,
    };
    Ok(figures::report(args, &measured))
}

/// Longest time to open all connections.
const CONNECT_PHASE: Duration = Duration::from_secs(120);
/// Longest time to wait for the server to go quiet after the connections (the join storm).
const SETTLE_MAX: Duration = Duration::from_secs(120);
/// The server is quiet when no client received a byte for this long.
const QUIET: Duration = Duration::from_millis(500);
