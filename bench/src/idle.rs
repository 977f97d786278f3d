//! Idle mode: open N connections, read what the server sends on connect, then hold them, and
//! see what each costs the server in memory and whether they all stay open.

use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::Args;
use crate::chat::tls_config;
use crate::client::{self, Conn, Dial, OP_CLOSE, OP_CONTINUATION, OP_TEXT, Rng};
use crate::http;
use crate::proc;
use crate::report::Report;

const CONNECT_PHASE: Duration = Duration::from_secs(300);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The settling of [`settle`]: at least a second, until the server is quiet, at most a minute.
const SETTLE_MIN: Duration = Duration::from_secs(1);
const SETTLE_MAX: Duration = Duration::from_secs(60);
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

    let conns: Mutex<Vec<Conn>> = Mutex::new(Vec::with_capacity(args.clients));
    let (failed, first_error) = client::connect_all(
        args.clients,
        args.connectors,
        |i, rng| match started.elapsed() > CONNECT_PHASE {
            true => Err("connect phase over".to_string()),
            false => open(args, i, tls.as_ref(), rng),
        },
        |_, conn| {
            conns.lock().unwrap().push(conn);
            true
        },
    );
    let connect_s = started.elapsed().as_secs_f64();
    let mut conns = conns.into_inner().unwrap();
    let connected = conns.len();

    // Let the server finish what the last connections started (with distinct nicknames, the
    // joins it sends to everyone), then measure.
    let settle_s = settle(pid);
    let rss_after = pid.and_then(proc::rss_kib);
    let threads_after = pid.and_then(proc::threads);
    let mem_after = proc::mem_available_kib();
    let (stack_after, kernel_after) = (proc::meminfo_kib("KernelStack:"), proc::kernel_kib());
    let tcp_after = proc::tcp_mem_pages();
    let gen_after = proc::own_rss_kib();
    let open_after = open_connections(&health);

    // Hold them, then count the ones still open.
    thread::sleep(Args::secs(args.duration));
    let rss_end = pid.and_then(proc::rss_kib);
    let open_end = open_connections(&health);
    let mut held = 0;
    let mut close_code = None;
    for conn in &mut conns {
        match still_open(conn) {
            Ok(()) => held += 1,
            Err(code) => close_code = close_code.or(code),
        }
    }

    let mut r = Report::default();
    r.text("mode", "idle");
    r.int("clients", args.clients);
    r.int("source_addresses", args.source_addresses());
    r.text("names", if args.names == crate::args::Names::Shared { "shared" } else { "distinct" });
    r.int("connected", connected);
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

/// Waits at least [`SETTLE_MIN`] and until the server used under [`QUIET_CPU`] of CPU time in a
/// [`QUIET_WINDOW`] (at most [`SETTLE_MAX`]); returns the seconds waited.
fn settle(pid: Option<u32>) -> f64 {
    let started = Instant::now();
    thread::sleep(SETTLE_MIN);
    let Some(pid) = pid else { return started.elapsed().as_secs_f64() };
    let mut cpu = proc::cpu_seconds(pid);
    while started.elapsed() < SETTLE_MAX {
        thread::sleep(QUIET_WINDOW);
        let now = proc::cpu_seconds(pid);
        if let (Some(before), Some(after)) = (cpu, now)
            && after - before < QUIET_CPU
        {
            break;
        }
        cpu = now;
    }
    started.elapsed().as_secs_f64()
}

/// Connects client `i` and reads the frames the server sends on connect.
fn open(
    args: &Args,
    i: usize,
    tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
    rng: &mut Rng,
) -> Result<Conn, String> {
    let dial = Dial {
        url: args.url(i),
        tls,
        recv_buffer: None,
        source: args.source(i),
        timeout: IO_TIMEOUT,
    };
    let mut conn =
        dial.websocket(&args.url(i).target(&args.name(i)), rng).map_err(|e| e.to_string())?;
    let mut frames = 0;
    let deadline = Instant::now() + IO_TIMEOUT;
    while frames < args.initial_frames {
        match conn.reader.next_frame().map_err(|e| e.to_string())? {
            // Whole messages: an unfragmented text frame, or the last fragment of one.
            Some(f) if f.fin && (f.opcode == OP_TEXT || f.opcode == OP_CONTINUATION) => frames += 1,
            Some(f) if f.opcode == OP_CLOSE => return Err("closed by the server".into()),
            Some(_) => {}
            None => {
                if Instant::now() > deadline {
                    return Err(format!("{frames} of {} frames on connect", args.initial_frames));
                }
                if conn.reader.fill().map_err(|e| e.to_string())? == 0 {
                    return Err("closed by the server".into());
                }
            }
        }
    }
    conn.reader.shrink();
    Ok(conn)
}

/// Reads whatever waits, without blocking: `Err` when the server closed the connection.
fn still_open(conn: &mut Conn) -> Result<(), Option<u16>> {
    conn.reader.tcp().set_nonblocking(true).map_err(|_| None)?;
    // Bounded: a connection that keeps receiving is open.
    for _ in 0..1000 {
        while let Ok(Some(frame)) = conn.reader.next_frame() {
            if frame.opcode == OP_CLOSE {
                let p = conn.reader.payload(&frame);
                return Err(Some(if p.len() >= 2 {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    1005
                }));
            }
        }
        match conn.reader.fill() {
            Ok(0) => return Err(None),
            Ok(_) => {}
            Err(e) if client::is_timeout(&e) => return Ok(()),
            Err(_) => return Err(None),
        }
    }
    Ok(())
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
