//! Idle mode: open N connections, keep them idle, and see what each costs the server in memory
//! and whether they all stay open.
//!
//! Each client reads its connect frames (hello, history, users: `--initial-frames`) before it
//! counts as connected. Then, with `--idle-read all` (the default), it is handed to one thread
//! that reads it until the run is over and answers its pings (`idle_read.rs`), as a browser tab
//! does; with `--idle-read connect` it reads nothing more, the measure before issue 25. After
//! the last connection the run waits for the joins to settle ([`settle`]: at least
//! [`SETTLE_MIN`] and until the server is quiet), reads the server's RSS, holds the connections
//! for `--duration`, and counts the ones still open. With `--deflate` each client offers
//! permessage-deflate as a browser does, to see what an agreed extension costs an idle
//! connection.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{Args, IdleRead};
use crate::client::{Dial, Rng, tls_config};
use crate::http;
use crate::idle_read::{End, IdleClient, KeepReading, Tally};
use crate::proc;
use crate::report::Report;

const CONNECT_PHASE: Duration = Duration::from_secs(300);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The settling of [`settle`]: at least 6 s after the last connection (issue 25 measures the
/// idle RSS with the joins settled 6 s), until the server is quiet, at most a minute.
const SETTLE_MIN: Duration = Duration::from_secs(6);
const SETTLE_MAX: Duration = Duration::from_secs(60);
/// Quiet: the server used less than [`QUIET_CPU`] seconds of CPU in [`QUIET_WINDOW`].
const QUIET_WINDOW: Duration = Duration::from_millis(500);
const QUIET_CPU: f64 = 0.02;

pub fn run(args: &Args) -> Result<Report, String> {
    let tls = tls_config(args)?;
    let pid = args.server_pid;
    let health = http::dial(args.url(0), tls.as_ref());
    let rss_before = pid.and_then(proc::rss_kib);
    let threads_before = pid.and_then(proc::threads);
    let mem_before = proc::mem_available_kib();
    let (stack_before, kernel_before) = (proc::meminfo_kib("KernelStack:"), proc::kernel_kib());
    let tcp_before = proc::tcp_mem_pages();
    let gen_before = proc::own_rss_kib();
    let started = Instant::now();

    // With --idle-read all, each client goes to the reading thread as soon as it is connected;
    // with connect, it is kept here and nobody reads it until the end.
    let reading = match args.idle_read {
        IdleRead::All => Some(KeepReading::start()?),
        IdleRead::Connect => None,
    };
    let kept: Mutex<Vec<IdleClient>> = Mutex::new(Vec::with_capacity(args.clients));
    let (failed, first_error) = crate::client::connect_all(
        args.clients,
        args.connectors,
        |i, rng| match started.elapsed() > CONNECT_PHASE {
            true => Err("connect phase over".to_string()),
            false => open(args, i, tls.as_ref(), rng),
        },
        |_, client| match &reading {
            Some(reading) => reading.hand(client),
            None => {
                kept.lock().unwrap().push(client);
                true
            }
        },
    );
    let connect_s = started.elapsed().as_secs_f64();
    let connected = args.clients - failed;

    // Let the server finish what the last connections started (with distinct nicknames, the
    // joins it sends to everyone), while the reading thread reads them, then measure.
    let settle_s = settle(pid, reading.as_ref());
    let rss_after = pid.and_then(proc::rss_kib);
    let threads_after = pid.and_then(proc::threads);
    let mem_after = proc::mem_available_kib();
    let (stack_after, kernel_after) = (proc::meminfo_kib("KernelStack:"), proc::kernel_kib());
    let tcp_after = proc::tcp_mem_pages();
    let gen_after = proc::own_rss_kib();
    let open_after = open_connections(&health);

    // Hold them (still read, with --idle-read all), then count the ones still open.
    thread::sleep(Args::secs(args.duration));
    let rss_end = pid.and_then(proc::rss_kib);
    let open_end = open_connections(&health);
    let mut clients = match reading {
        Some(reading) => reading.stop()?,
        None => kept.into_inner().unwrap(),
    };
    let mut tally = Tally::default();
    let (mut held, mut close_code, mut read_error) = (0, None, None);
    let deflate = clients.iter().filter(|c| c.conn.reader.deflate).count();
    for client in &mut clients {
        // What it read, taken before the last look below reads what waits.
        tally.add(&client.tally);
        match client.still_open() {
            Ok(()) => held += 1,
            Err(End::Closed(code)) => close_code = close_code.or(Some(code)),
            Err(End::Eof) => {}
            Err(End::Failed(e)) => read_error = read_error.or(Some(e)),
        }
    }

    let mut r = Report::default();
    r.text("mode", "idle");
    r.int("clients", args.clients);
    r.int("source_addresses", args.source_addresses());
    r.text("names", if args.names == crate::args::Names::Shared { "shared" } else { "distinct" });
    r.text("idle_read", args.idle_read.name());
    r.int("deflate_offered", u8::from(args.deflate));
    r.int("connected", connected);
    r.int("deflate_connections", deflate);
    r.int("failed", failed);
    if let Some(e) = first_error {
        r.text("connect_error", e);
    }
    r.float("connect_s", connect_s);
    r.float("settle_s", settle_s);
    r.float("hold_s", args.duration);
    r.int("held", held);
    if let Some(code) = close_code {
        r.int("close_code", code);
    }
    if let Some(e) = read_error {
        r.text("idle_read_error", e);
    }
    // Everything the clients read from their handshake to the end of the hold (with
    // --idle-read connect: the connect frames, and what came in the same reads).
    r.int("idle_frames_read", tally.frames);
    r.int("idle_bytes_read", tally.bytes);
    r.int("idle_messages_read", tally.messages);
    r.int("idle_pings_answered", tally.pings);
    r.int("idle_compressed_frames", tally.compressed);
    r.maybe("server_open_after", open_after);
    r.maybe("server_open_end", open_end);
    r.maybe("rss_before_kib", rss_before.map(|v| v as f64));
    r.maybe("rss_after_kib", rss_after.map(|v| v as f64));
    r.maybe("rss_end_kib", rss_end.map(|v| v as f64));
    if let (Some(a), Some(b)) = (rss_after, rss_before) {
        r.float("rss_per_conn_kib", (a as f64 - b as f64) / connected.max(1) as f64);
    }
    // The machine's side: what MemAvailable lost, per connection. It counts the kernel's memory
    // too (thread stacks, socket buffers and structures), of both ends of every connection, and
    // the generator's own growth, reported next to it; and whatever else ran on the machine.
    let per_conn =
        |after: u64, before: u64| (after as f64 - before as f64) / connected.max(1) as f64;
    if let (Some(b), Some(a)) = (mem_before, mem_after) {
        r.float("mem_available_before_kib", b as f64);
        r.float("mem_available_after_kib", a as f64);
        r.float("machine_per_conn_kib", per_conn(b, a));
    }
    // The kernel's share alone, less disturbed by other work's page cache and heaps.
    if let (Some(b), Some(a)) = (kernel_before, kernel_after) {
        r.float("kernel_per_conn_kib", per_conn(a, b));
    }
    if let (Some(b), Some(a)) = (stack_before, stack_after) {
        r.float("kernel_stack_per_conn_kib", per_conn(a, b));
    }
    if let (Some(b), Some(a)) = (gen_before, gen_after) {
        r.float("gen_rss_per_conn_kib", per_conn(a, b));
    }
    if let (Some(b), Some(a)) = (tcp_before, tcp_after) {
        // Pages of 4 KiB (x86-64).
        r.float("tcp_mem_per_conn_kib", per_conn(a, b) * 4.0);
    }
    r.maybe("threads_before", threads_before.map(|v| v as f64));
    r.maybe("threads_after", threads_after.map(|v| v as f64));
    Ok(r)
}

/// Waits at least [`SETTLE_MIN`] and until the last [`QUIET_WINDOW`] was quiet (at most
/// [`SETTLE_MAX`]): the server used under [`QUIET_CPU`] of CPU time, and the reading clients
/// (if they read) received no message, so that nothing the server still had to send them is
/// waiting in its queues when the RSS is read. Returns the seconds waited.
fn settle(pid: Option<u32>, reading: Option<&KeepReading>) -> f64 {
    let started = Instant::now();
    let sample = || (pid.and_then(proc::cpu_seconds), reading.map(KeepReading::messages));
    let mut before = sample();
    while started.elapsed() < SETTLE_MAX {
        thread::sleep(QUIET_WINDOW);
        let now = sample();
        let cpu_quiet = match (before.0, now.0) {
            (Some(b), Some(a)) => a - b < QUIET_CPU,
            _ => true,
        };
        if cpu_quiet && before.1 == now.1 && started.elapsed() >= SETTLE_MIN {
            break;
        }
        before = now;
    }
    started.elapsed().as_secs_f64()
}

/// Connects client `i` and reads the frames the server sends on connect (answering a ping that
/// would come among them).
fn open(
    args: &Args,
    i: usize,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    rng: &mut Rng,
) -> Result<IdleClient, String> {
    let dial = Dial {
        url: args.url(i),
        tls,
        recv_buffer: None,
        source: args.source(i),
        timeout: IO_TIMEOUT,
        deflate: args.deflate,
    };
    let conn =
        dial.websocket(&args.url(i).target(&args.name(i)), rng).map_err(|e| e.to_string())?;
    let mut client = IdleClient::new(conn);
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        if !client.handle_frames() {
            return Err(match client.end {
                Some(End::Failed(e)) => e,
                _ => "closed by the server".into(),
            });
        }
        let messages = client.tally.messages;
        if messages >= args.initial_frames as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{messages} of {} frames on connect", args.initial_frames));
        }
        if client.conn.reader.fill().map_err(|e| e.to_string())? == 0 {
            return Err("closed by the server".into());
        }
    }
    client.conn.reader.shrink();
    Ok(client)
}

/// `connections` from `/healthz`.
fn open_connections(dial: &Dial<'_>) -> Option<f64> {
    let (status, body) = http::get(dial, "/healthz").ok()?;
    if status != 200 {
        return None;
    }
    let at = body.find("\"connections\":")? + "\"connections\":".len();
    let digits: String = body[at..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}
