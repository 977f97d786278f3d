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

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::args::{Args, Mode};
use crate::client::{
    self, Conn, Dial, Frame, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, Reader, Writer,
};
use crate::deflate::{Deflater, Inflater};
use crate::http;
use crate::idle_read::close_code;
use crate::outcome::{Home, Outcome, awaited, on_text};
use crate::poll::Epoll;
use crate::proc;
use crate::report::Report;
use crate::stats::Histogram;

/// Longest time to open all connections.
const CONNECT_PHASE: Duration = Duration::from_secs(120);
/// Longest time to wait for the server to go quiet after the connections (the join storm).
const SETTLE_MAX: Duration = Duration::from_secs(120);
/// The server is quiet when no client received a byte for this long.
const QUIET: Duration = Duration::from_millis(500);
/// Every socket operation's timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest message a reader inflates (the server's own limit is far below).
const MAX_MESSAGE: usize = 64 << 20;
/// How often a reader thread wakes up to look at the clock.
const POLL_TICK: Duration = Duration::from_millis(50);

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

/// A client that never reads.
struct Stalled {
    conn: Conn,
}

struct Connected {
    readers: Vec<JoinHandle<Vec<Slot>>>,
    /// The senders that connected, by client index (sender k is client k).
    senders: Vec<(usize, Arc<Mutex<Writer>>)>,
    stalled: Vec<Stalled>,
    /// Connections whose `101` accepted the permessage-deflate offer.
    deflate: usize,
    failed: usize,
    first_error: Option<String>,
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
    let connected = connect_all(args, tls.as_ref(), &shared);
    let connect_s = shared.start.elapsed().as_secs_f64();
    let connected_count = args.clients - connected.failed;
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
    let settle_s = settle_started.elapsed().as_secs_f64();
    let connect_bytes = shared.bytes_in.load(Ordering::SeqCst);
    let rss_connect_peak = connect_monitor.stop();
    let gen_connect_cpu = proc::own_cpu_seconds() - gen_connect_before;
    let connect_wall_s = shared.start.elapsed().as_secs_f64();

    // 3. Warm-up traffic, not measured.
    if args.warmup > 0.0 && senders > 0 {
        let from = shared.now() + 10_000;
        let handles = start_senders(args, &connected.senders, &shared, from, args.warmup, true);
        for (_, h) in handles {
            let _ = h.join();
        }
        thread::sleep(Duration::from_millis(500));
    }

    // 4. The measured run.
    let dial = http::dial(args.url(0), tls.as_ref());
    let metrics_before = http::metrics(&dial);
    let rss_before = pid.and_then(proc::rss_kib);
    let cpu_before = pid.and_then(proc::cpu_seconds);
    let others_cpu = |pids: &[u32]| pids.iter().map(|&p| proc::cpu_seconds(p)).sum::<Option<f64>>();
    let others_before = others_cpu(&args.cpu_pids);
    let each_cpu = |pids: &[u32]| pids.iter().map(|&p| proc::cpu_seconds(p)).collect::<Vec<_>>();
    let each_before = each_cpu(&args.cpu_pids);
    let broadcaster_before = pid.and_then(|p| proc::thread_cpu_seconds(p, "broadcaster"));
    let waits = |pid: Option<u32>| {
        let broadcaster = pid.and_then(|p| proc::thread_wait_seconds(p, "broadcaster"));
        (broadcaster, proc::thread_wait_seconds(std::process::id(), "read0"))
    };
    let waits_before = waits(pid);
    let gen_before = proc::own_cpu_seconds();
    let monitor = Monitor::start(pid);
    let wire_before = shared.bytes_in.load(Ordering::SeqCst);

    let t0 = shared.now() + 20_000;
    let handles = start_senders(args, &connected.senders, &shared, t0, args.duration, false);
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
    let waits_after = waits(pid);
    let sent: u64 = sent_to.iter().sum();
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
    let rss_after = pid.and_then(proc::rss_kib);
    let cpu_after = pid.and_then(proc::cpu_seconds);
    let others_after = others_cpu(&args.cpu_pids);
    let each_after = each_cpu(&args.cpu_pids);
    let broadcaster_after = pid.and_then(|p| proc::thread_cpu_seconds(p, "broadcaster"));
    let gen_cpu = proc::own_cpu_seconds() - gen_before;
    let rss_peak = monitor.stop();

    // 5. Stalled clients: did the server close them, and with which code?
    let stalled = inspect_stalled(connected.stalled);
    let metrics_after = http::metrics(&dial);
    let outcomes: Vec<Outcome> = clients.into_iter().map(|slot| slot.out).collect();

    // The figures.
    let readers = outcomes.len() as u64;
    let mut latency = Histogram::default();
    let (mut unique, mut duplicated, mut out_of_order, mut last_at) = (0u64, 0u64, 0u64, 0u64);
    let (mut errors, mut unparsed, mut complete, mut closed_early) = (0u64, 0u64, 0u64, 0u64);
    let mut close_codes = Vec::new();
    let mut first_io_error = None;
    let (mut presence_frames, mut presence_bytes) = (0u64, 0u64);
    let (mut foreign, mut id_out_of_order) = (0u64, 0u64);
    let (mut mismatched, mut compressed, mut message_wire, mut message_json) = (0, 0, 0, 0);
    let mut ready: Vec<u64> = Vec::new();
    for o in &outcomes {
        foreign += o.foreign;
        id_out_of_order += o.id_out_of_order;
        mismatched += o.mismatched;
        compressed += o.compressed;
        message_wire += o.message_wire;
        message_json += o.message_json;
        presence_frames += o.presence_frames;
        presence_bytes += o.presence_bytes;
        ready.extend(o.ready_at);
        latency.merge(&o.deliveries.latency);
        unique += o.deliveries.unique;
        duplicated += o.deliveries.duplicated;
        out_of_order += o.deliveries.out_of_order;
        last_at = last_at.max(o.deliveries.last_at);
        errors += o.error_events;
        unparsed += o.unparsed;
        complete += u64::from(o.complete);
        if !o.complete && (o.eof || o.close_code.is_some() || o.io_error.is_some()) {
            closed_early += 1;
        }
        if let Some(code) = o.close_code {
            close_codes.push(code);
        }
        if first_io_error.is_none() {
            first_io_error.clone_from(&o.io_error);
        }
    }
    let rooms = by_room(&outcomes, &sent_to);
    let expected = rooms.expected;
    let planned = (args.rate * args.duration).round() as u64 * args.senders as u64;
    let window_s = (last_at.saturating_sub(t0) as f64 / 1e6).max(args.duration);
    let ms = |us: u64| us as f64 / 1000.0;

    let mut r = Report::default();
    r.text("mode", args.mode.name());
    r.text("url", url_text(args));
    r.int("clients", args.clients);
    r.int("source_addresses", args.source_addresses());
    r.int("senders", args.senders);
    r.float("rate", args.rate);
    r.float("duration_s", args.duration);
    r.int("size", args.size);
    r.text("text", args.text.name());
    r.int("deflate_offered", u8::from(args.deflate));
    r.int("connected", connected_count);
    // Connections whose 101 accepted permessage-deflate (senders and stalled clients included).
    r.int("deflate_connections", connected.deflate);
    r.int("failed", connected.failed);
    if let Some(e) = &connected.first_error {
        r.text("connect_error", e.clone());
    }
    r.float("connect_s", connect_s);
    r.float("settle_s", settle_s);
    r.float("settle_mib", connect_bytes as f64 / (1 << 20) as f64);
    // The join storm: when each client had its connect frames (hello, history, users), counted
    // from the start of the connect, and what presence cost.
    ready.sort_unstable();
    r.int("ready_clients", ready.len());
    if let (Some(&last), Some(&mid)) = (ready.last(), ready.get(ready.len() / 2)) {
        r.float("ready_p50_s", mid as f64 / 1e6);
        r.float("ready_all_s", last as f64 / 1e6);
    }
    r.int("presence_frames", presence_frames);
    r.float("presence_mib", presence_bytes as f64 / (1 << 20) as f64);
    r.float("gen_connect_cpu_s", gen_connect_cpu);
    r.float("gen_connect_util", gen_connect_cpu / connect_wall_s.max(1e-6));
    r.maybe("rss_connect_peak_kib", rss_connect_peak.map(|v| v as f64));
    r.int("readers", readers);
    r.int("planned", planned);
    r.int("sent", sent);
    r.float("send_rate", sent as f64 / ((sending_ended.saturating_sub(t0)) as f64 / 1e6).max(1e-6));
    if let Some(e) = send_errors.first() {
        r.text("send_error", e.clone());
    }
    r.int("expected", expected);
    r.int("received", unique);
    r.int("lost", expected.saturating_sub(unique));
    r.int("duplicated", duplicated);
    r.int("out_of_order", out_of_order);
    r.int("id_out_of_order", id_out_of_order);
    r.int("foreign", foreign);
    r.int("text_mismatched", mismatched);
    if args.rooms > 0 {
        r.int("rooms", args.rooms);
        r.int("rooms_with_loss", rooms.with_loss);
        r.float("room_p99_max_ms", ms(rooms.worst_p99));
        r.float("room_p99_min_ms", ms(rooms.best_p99));
    }
    r.int("error_events", errors);
    r.int("unparsed", unparsed);
    r.int("readers_complete", complete);
    r.int("readers_closed", closed_early);
    if let Some(code) = close_codes.first() {
        r.int("reader_close_code", *code);
    }
    if let Some(e) = first_io_error {
        r.text("reader_error", e);
    }
    if reader_panicked {
        r.text("reader_panic", "a reader thread failed; its clients are not counted");
    }
    r.float("window_s", window_s);
    r.float("delivered_per_s", unique as f64 / window_s);
    r.float("p50_ms", ms(latency.quantile(0.50)));
    r.float("p90_ms", ms(latency.quantile(0.90)));
    r.float("p99_ms", ms(latency.quantile(0.99)));
    r.float("max_ms", ms(latency.max()));
    r.float("mean_ms", latency.mean() / 1000.0);
    // Bytes on the wire per delivered message: everything the clients read off their sockets
    // from the first measured send to the end (frame headers, pings and all; after TLS with
    // wss://), then the measured messages' own frames, and their JSON once inflated.
    let per_delivery = |bytes: u64| bytes as f64 / unique.max(1) as f64;
    r.float("wire_bytes_per_delivery", per_delivery(wire_read));
    r.float("frame_bytes_per_delivery", per_delivery(message_wire));
    r.float("json_bytes_per_delivery", per_delivery(message_json));
    r.int("compressed_deliveries", compressed);
    // What the senders wrote per message (masked frames, compressed with --deflate).
    r.float("sent_frame_bytes_per_message", sent_wire as f64 / sent.max(1) as f64);
    if pid.is_some() {
        r.maybe("rss_idle_kib", rss_idle.map(|v| v as f64));
        r.maybe("rss_before_kib", rss_before.map(|v| v as f64));
        r.maybe("rss_after_kib", rss_after.map(|v| v as f64));
        r.maybe("rss_peak_kib", rss_peak.map(|v| v as f64));
        if let (Some(peak), Some(before)) = (rss_peak.or(rss_after), rss_before) {
            r.float("rss_growth_kib", peak as f64 - before as f64);
        }
        if let (Some(a), Some(b)) = (cpu_after, cpu_before) {
            let run_s = (ended.saturating_sub(t0)) as f64 / 1e6;
            r.float("cpu_s", a - b);
            r.float("cpu_util", (a - b) / run_s.max(1e-6));
        }
        if let (Some(a), Some(b)) = (broadcaster_after, broadcaster_before) {
            r.float("broadcaster_cpu_s", a - b);
        }
        // Time the broadcaster was ready to run but another task had its core, over the sending.
        if let (Some(a), Some(b)) = (waits_after.0, waits_before.0) {
            r.float("broadcaster_wait_s", a - b);
        }
    }
    if let (Some(a), Some(b)) = (others_after, others_before)
        && !args.cpu_pids.is_empty()
    {
        r.float("others_cpu_s", a - b);
    }
    // The first two of them one by one (scenario (f): the second instance, then the broker).
    for (i, key) in ["other1_cpu_s", "other2_cpu_s"].into_iter().enumerate() {
        if let (Some(Some(a)), Some(Some(b))) = (each_after.get(i), each_before.get(i)) {
            r.float(key, a - b);
        }
    }
    r.float("gen_cpu_s", gen_cpu);
    // The same for the generator's (first) reading thread.
    if let (Some(a), Some(b)) = (waits_after.1, waits_before.1) {
        r.float("gen_reader_wait_s", a - b);
    }
    // The generator's one core: near 1.0, the generator and not the server set the pace.
    r.float("gen_cpu_util", gen_cpu / ((ended.saturating_sub(t0)) as f64 / 1e6).max(1e-6));
    if let (Some(before), Some(after)) = (&metrics_before, &metrics_after) {
        let delta = |name| Some(http::metric(after, name)? - http::metric(before, name)?);
        r.maybe("server_delivered", delta("websocketchat_messages_delivered_total"));
        r.maybe("server_received", delta("websocketchat_messages_received_total"));
    }
    if args.mode == Mode::Stalled {
        r.int("stalled", args.stalled);
        r.int("stalled_connected", stalled.connected);
        r.int("stalled_closed", stalled.closed);
        r.int("stalled_close_1013", stalled.close_1013);
        if let Some(code) = stalled.other_code {
            r.int("stalled_other_close_code", code);
        }
        r.float("stalled_read_mib", stalled.bytes as f64 / (1 << 20) as f64);
        if let Some(after) = &metrics_after {
            r.maybe(
                "evicted_slow",
                http::metric(after, "websocketchat_clients_evicted_slow_total"),
            );
            r.maybe(
                "close_1013_sent",
                http::sample(after, "websocketchat_close_frames_sent_total{code=\"1013\"}"),
            );
        }
    }
    Ok(r)
}

/// The deliveries counted room by room.
struct ByRoom {
    /// Messages sent into each room times the room's reading clients, over all rooms.
    expected: u64,
    /// Rooms where a reading client missed a message.
    with_loss: usize,
    /// The highest and the lowest p99 of one room's deliveries (µs).
    worst_p99: u64,
    best_p99: u64,
}

fn by_room(outcomes: &[Outcome], sent_to: &[u64]) -> ByRoom {
    let mut clients: Vec<&Outcome> = outcomes.iter().collect();
    clients.sort_by_key(|o| o.home.group);
    let mut out = ByRoom { expected: 0, with_loss: 0, worst_p99: 0, best_p99: u64::MAX };
    // One room at a time: a histogram per room would take 30 KiB times the rooms.
    for room in clients.chunk_by(|a, b| a.home.group == b.home.group) {
        let expected = sent_to[room[0].home.group] * room.len() as u64;
        if expected == 0 {
            continue;
        }
        let mut latency = Histogram::default();
        let mut unique = 0;
        for o in room {
            latency.merge(&o.deliveries.latency);
            unique += o.deliveries.unique;
        }
        out.expected += expected;
        out.with_loss += usize::from(unique < expected);
        out.worst_p99 = out.worst_p99.max(latency.quantile(0.99));
        out.best_p99 = out.best_p99.min(latency.quantile(0.99));
    }
    out.best_p99 = out.best_p99.min(out.worst_p99);
    out
}

fn url_text(args: &Args) -> String {
    args.urls
        .iter()
        .map(|u| format!("{}://{}{}", if u.tls { "wss" } else { "ws" }, u.host, u.path))
        .collect::<Vec<_>>()
        .join(" ")
}

fn connect_all(
    args: &Args,
    tls: Option<&Arc<rustls::ClientConfig>>,
    shared: &Arc<Shared>,
) -> Connected {
    // The reading threads: each owns its share of the clients, through epoll.
    let mut queues = Vec::new();
    let mut readers = Vec::new();
    let awaiting = awaited(args.initial_frames, args.rooms > 0);
    for t in 0..args.reader_threads {
        let (tx, rx) = mpsc::channel::<(Outcome, Reader, Arc<Mutex<Writer>>)>();
        let shared = shared.clone();
        let handle = thread::Builder::new()
            .name(format!("read{t}"))
            .spawn(move || read_many(rx, &shared))
            .expect("starting a reader thread");
        queues.push(tx);
        readers.push(handle);
    }
    let started = Instant::now();
    let deadline = started + CONNECT_PHASE;
    let senders: Mutex<Vec<(usize, Arc<Mutex<Writer>>)>> = Mutex::new(Vec::new());
    let stalled = Mutex::new(Vec::new());
    let deflate = AtomicUsize::new(0);
    let first_stalled = args.clients - args.stalled;
    let (failed, first_error) = client::connect_all(
        args.clients,
        args.connectors,
        |i, rng| {
            if args.connect_rate > 0.0 {
                let due = started + Duration::from_secs_f64(i as f64 / args.connect_rate);
                thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            if Instant::now() > deadline {
                return Err("connect phase over".to_string());
            }
            let dial = Dial {
                url: args.url(i),
                tls,
                recv_buffer: (i >= first_stalled).then_some(4096),
                source: args.source(i),
                timeout: IO_TIMEOUT,
                deflate: args.deflate,
            };
            dial.websocket(&args.url(i).target(&args.name(i)), rng).map_err(|e| e.to_string())
        },
        |i, conn| {
            if conn.reader.deflate {
                deflate.fetch_add(1, Ordering::Relaxed);
            }
            if i >= first_stalled {
                stalled.lock().unwrap().push(Stalled { conn });
                return true;
            }
            let Conn { reader, writer } = conn;
            let writer = Arc::new(Mutex::new(writer));
            if i < args.senders {
                senders.lock().unwrap().push((i, writer.clone()));
            }
            let group = args.group(i);
            let home = Home { room: args.room(group), group, groups: args.groups() };
            let mut out = Outcome::new(home, args.senders, awaiting);
            out.body = Some(args.text);
            queues[i % queues.len()].send((out, reader, writer)).is_ok()
        },
    );
    drop(queues);
    let mut senders = senders.into_inner().unwrap();
    senders.sort_by_key(|(i, _)| *i);
    let stalled = stalled.into_inner().unwrap();
    Connected { readers, senders, stalled, deflate: deflate.into_inner(), failed, first_error }
}

/// One reading client, as a reader thread keeps it.
struct Slot {
    reader: Reader,
    writer: Arc<Mutex<Writer>>,
    out: Outcome,
    done: bool,
    /// A fragmented text message being put together (RFC 6455 §5.4), if any.
    partial: Option<Partial>,
}

/// The fragments of a text message so far.
struct Partial {
    payload: Vec<u8>,
    /// RSV1 was set on its first frame: it is compressed (RFC 7692 §6.1).
    compressed: bool,
    /// Its frames' bytes on the wire.
    wire: usize,
}

/// Reads every client handed over on `clients` until each has every measured message, or has
/// closed, or the time is up; returns them, still connected.
fn read_many(
    clients: mpsc::Receiver<(Outcome, Reader, Arc<Mutex<Writer>>)>,
    shared: &Shared,
) -> Vec<Slot> {
    let mut epoll = match Epoll::new() {
        Ok(epoll) => epoll,
        Err(e) => panic!("epoll: {e}"),
    };
    let mut slots: Vec<Slot> = Vec::new();
    // One for all of this thread's clients: every compressed message stands alone.
    let mut inflater = Inflater::new();
    let (mut open, mut more_coming, mut swept) = (0usize, true, false);
    let (mut ready, mut pending) = (Vec::new(), Vec::new());
    loop {
        while more_coming {
            match clients.try_recv() {
                Ok((mut out, reader, writer)) => {
                    let token = slots.len();
                    let added = reader
                        .tcp()
                        .set_nonblocking(true)
                        .and_then(|()| epoll.add(reader.tcp().as_raw_fd(), token as u64));
                    if let Err(e) = added {
                        out.io_error = Some(e.to_string());
                    }
                    let done = out.io_error.is_some();
                    slots.push(Slot { reader, writer, out, done, partial: None });
                    if !done {
                        open += 1;
                        // The handshake's read may have brought the first frames already.
                        pending.push(token);
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => more_coming = false,
            }
        }
        if shared.now() >= shared.stop_at.load(Ordering::SeqCst) || (!more_coming && open == 0) {
            break;
        }
        let wait = if pending.is_empty() { POLL_TICK } else { Duration::ZERO };
        if let Err(e) = epoll.wait(wait, &mut ready) {
            panic!("epoll_wait: {e}");
        }
        ready.extend(pending.drain(..).map(|t| t as u64));
        // Each client's due: what was sent into its room, once the senders are done.
        let sent = shared.sent.get();
        let has_all =
            |out: &Outcome| sent.is_some_and(|s| out.deliveries.unique >= s[out.home.group]);
        for &token in &ready {
            let token = token as usize;
            let slot = &mut slots[token];
            if slot.done {
                continue;
            }
            if service(slot, shared, &mut inflater) {
                pending.push(token);
            }
            if has_all(&slot.out) {
                slot.out.complete = true;
                slot.done = true;
            }
            if slot.done {
                epoll.remove(slot.reader.tcp().as_raw_fd());
                open -= 1;
            }
        }
        if sent.is_some() && !swept {
            // Clients that already had everything get no more events: count them done now.
            swept = true;
            for slot in slots.iter_mut().filter(|s| !s.done) {
                if has_all(&slot.out) {
                    slot.out.complete = true;
                    slot.done = true;
                    epoll.remove(slot.reader.tcp().as_raw_fd());
                    open -= 1;
                }
            }
        }
    }
    slots
}

/// Reads what one client's socket has and handles its frames. True when there may be more.
/// Each read is stamped with the time it returned: a message's latency ends when this client
/// had it in hand, the generator's own reading included.
fn service(slot: &mut Slot, shared: &Shared, inflater: &mut Inflater) -> bool {
    if !handle_frames(slot, shared.now(), inflater) {
        return false;
    }
    for _ in 0..64 {
        match slot.reader.fill() {
            Ok(0) => {
                slot.out.eof = true;
                slot.done = true;
                return false;
            }
            Ok(n) => {
                shared.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if client::is_timeout(&e) => return false,
            Err(e) => {
                slot.out.io_error = Some(e.to_string());
                slot.done = true;
                return false;
            }
        }
        if !handle_frames(slot, shared.now(), inflater) || slot.reader.drained() {
            return false;
        }
    }
    true
}

/// Handles the complete frames in the client's buffer; false once the client is done.
fn handle_frames(slot: &mut Slot, now: u64, inflater: &mut Inflater) -> bool {
    loop {
        let frame = match slot.reader.next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return true,
            Err(e) => return failed(slot, e.to_string()),
        };
        // RFC 7692 §6.1: RSV1 marks the first frame of a compressed data message; "An endpoint
        // MUST NOT set the "Per-Message Compressed" bit of control frames and non-first
        // fragments of a data message."
        if frame.rsv1 && frame.opcode != OP_TEXT {
            return failed(slot, format!("RSV1 on a frame of opcode {:#x}", frame.opcode));
        }
        match frame.opcode {
            OP_TEXT if frame.fin => {
                let payload = slot.reader.payload(&frame);
                if let Err(e) = deliver(&mut slot.out, payload, &frame, frame.wire, inflater, now) {
                    return failed(slot, e);
                }
                if !enter(slot) {
                    return false;
                }
            }
            // The first fragment of a message, then its continuations.
            OP_TEXT => {
                let payload = slot.reader.payload(&frame).to_vec();
                slot.partial = Some(Partial { payload, compressed: frame.rsv1, wire: frame.wire });
            }
            OP_CONTINUATION => {
                let Some(partial) = slot.partial.as_mut() else {
                    slot.out.other_frames += 1;
                    continue;
                };
                partial.payload.extend_from_slice(slot.reader.payload(&frame));
                partial.wire += frame.wire;
                if frame.fin {
                    let Partial { payload, compressed, wire } =
                        slot.partial.take().expect("a message being put together");
                    let first = Frame { rsv1: compressed, ..frame };
                    if let Err(e) = deliver(&mut slot.out, &payload, &first, wire, inflater, now) {
                        return failed(slot, e);
                    }
                    if !enter(slot) {
                        return false;
                    }
                }
            }
            OP_CLOSE => {
                let code = close_code(slot.reader.payload(&frame));
                slot.out.close_code = Some(code);
                let _ = slot.writer.lock().unwrap().close(code);
                slot.done = true;
                return false;
            }
            OP_PING => {
                let payload = slot.reader.payload(&frame).to_vec();
                let _ = slot.writer.lock().unwrap().send(OP_PONG, &payload);
            }
            _ => slot.out.other_frames += 1,
        }
    }
}

/// A whole text message, `payload` as it came (inflated first if its first `frame` had RSV1),
/// to [`on_text`]; a measured message's bytes (`wire` on the wire, its JSON) are counted.
fn deliver(
    out: &mut Outcome,
    payload: &[u8],
    frame: &Frame,
    wire: usize,
    inflater: &mut Inflater,
    now: u64,
) -> Result<(), String> {
    let message = match frame.rsv1 {
        true => inflater.inflate(payload, MAX_MESSAGE).map_err(|e| format!("inflating: {e}"))?,
        false => payload,
    };
    let before = out.deliveries.unique;
    on_text(message, now, out);
    if out.deliveries.unique > before {
        out.message_wire += wire as u64;
        out.message_json += message.len() as u64;
        out.compressed += u64::from(frame.rsv1);
    }
    Ok(())
}

/// Ends a client on an error of its own (a bad frame, a bad compressed message).
fn failed(slot: &mut Slot, error: String) -> bool {
    slot.out.io_error = Some(error);
    slot.done = true;
    false
}

/// Sends the frames that take the client into its room once its welcome is complete (with
/// `--rooms`); false when they could not be sent, and the client is done.
fn enter(slot: &mut Slot) -> bool {
    let Some(frames) = slot.out.entry() else { return true };
    let mut writer = slot.writer.lock().unwrap();
    for text in frames {
        if let Err(e) = writer.send(OP_TEXT, text.as_bytes()) {
            slot.out.io_error = Some(format!("entering its room: {e}"));
            slot.done = true;
            return false;
        }
    }
    true
}

/// A sender's thread: it returns how many messages it sent, their bytes on the wire, and its
/// error if any.
type SenderThread = JoinHandle<(u64, u64, Option<String>)>;

/// Starts one paced sender per writer, each sender `k` (client `k`) speaking in its client's
/// room.
fn start_senders(
    args: &Args,
    writers: &[(usize, Arc<Mutex<Writer>>)],
    shared: &Arc<Shared>,
    from: u64,
    seconds: f64,
    warmup: bool,
) -> Vec<(usize, SenderThread)> {
    let count = (args.rate * seconds).round() as u64;
    let interval = 1e6 / args.rate;
    let senders = writers.len();
    writers
        .iter()
        .enumerate()
        .map(|(j, (k, writer))| {
            let (k, writer, shared, body) = (*k, writer.clone(), shared.clone(), args.text);
            let plain_send = args.plain_send;
            // Without --rooms a message names no room: the default room, as the references
            // expect it too.
            let open = match args.rooms {
                0 => r#"{"type":"message","text":""#.to_string(),
                _ => {
                    format!(r#"{{"type":"message","room":"{}","text":""#, args.room(args.group(k)))
                }
            };
            // Senders are spread over the interval rather than all sending at once.
            let offset = interval * j as f64 / senders as f64;
            let handle = thread::Builder::new()
                .name(format!("s{k}"))
                .spawn(move || {
                    let mut payload = Vec::with_capacity(256);
                    // With permessage-deflate agreed a sender compresses every message, as
                    // browsers do (RFC 7692 §6: any message may go either way).
                    let compress = writer.lock().unwrap().deflate && !plain_send;
                    let mut deflater = compress.then(Deflater::new);
                    let mut wire = 0u64;
                    for seq in 0..count {
                        let due = from + (offset + interval * seq as f64) as u64;
                        let now = shared.now();
                        if due > now {
                            thread::sleep(Duration::from_micros(due - now));
                        }
                        let stamp = shared.now();
                        payload.clear();
                        payload.extend_from_slice(open.as_bytes());
                        let head = if warmup {
                            format!("w{k}:{seq} ")
                        } else {
                            format!("{k}:{seq}:{stamp} ")
                        };
                        body.write(k, seq, &head, &mut payload);
                        payload.extend_from_slice(br#""}"#);
                        let result = match deflater.as_mut() {
                            Some(deflater) => {
                                let compressed = deflater.compress(&payload);
                                wire += frame_length(compressed.len());
                                writer.lock().unwrap().send_compressed(OP_TEXT, compressed)
                            }
                            None => {
                                wire += frame_length(payload.len());
                                writer.lock().unwrap().send(OP_TEXT, &payload)
                            }
                        };
                        if let Err(e) = result {
                            return (seq, wire, Some(format!("sender {k}: {e}")));
                        }
                    }
                    (count, wire, None)
                })
                .expect("starting a sender thread");
            (k, handle)
        })
        .collect()
}

/// The bytes on the wire of a masked frame with `payload` bytes (RFC 6455 §5.2): two, the
/// extended length, the masking key, the payload.
fn frame_length(payload: usize) -> u64 {
    let length = match payload {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    (2 + length + 4 + payload) as u64
}

/// Samples the server's RSS every 100 ms and keeps the highest.
struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Option<u64>>>,
}

impl Monitor {
    fn start(pid: Option<u32>) -> Monitor {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = pid.map(|pid| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut peak = None;
                // Bounded: at most an hour of samples.
                for _ in 0..36_000 {
                    if let Some(rss) = proc::rss_kib(pid) {
                        peak = Some(peak.map_or(rss, |p: u64| p.max(rss)));
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(100));
                }
                peak
            })
        });
        Monitor { stop, handle }
    }

    fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.and_then(|h| h.join().ok().flatten())
    }
}

#[derive(Default)]
struct StalledOutcome {
    connected: usize,
    closed: usize,
    close_1013: usize,
    other_code: Option<u16>,
    bytes: u64,
}

/// Reads what the stalled clients were sent, looking for the server's close frame and FIN.
fn inspect_stalled(stalled: Vec<Stalled>) -> StalledOutcome {
    let mut out = StalledOutcome { connected: stalled.len(), ..Default::default() };
    let deadline = Instant::now() + Duration::from_secs(10);
    for Stalled { conn } in stalled {
        let mut reader = conn.reader;
        let _ = reader.set_timeout(Duration::from_millis(300));
        let mut code = None;
        let mut closed = false;
        'read: while Instant::now() < deadline {
            while let Ok(Some(frame)) = reader.next_frame() {
                if frame.opcode == OP_CLOSE {
                    code = Some(close_code(reader.payload(&frame)));
                    closed = true;
                    break 'read;
                }
            }
            match reader.fill() {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => out.bytes += n as u64,
                // Still open and nothing more to read.
                Err(e) if client::is_timeout(&e) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        out.closed += usize::from(closed);
        match code {
            Some(1013) => out.close_1013 += 1,
            Some(other) => out.other_code = Some(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testserver::{connect, frame, serve};
    use crate::text::Body;

    /// What our server answers a browser's offer with.
    const AGREED: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    /// Message `seq` of sender 0 as an event the reader counts (the references' shape: no room).
    fn event(seq: u64) -> Vec<u8> {
        let mut text = Vec::new();
        Body::Chat.write(0, seq, &format!("0:{seq}:100 "), &mut text);
        let text = String::from_utf8(text).unwrap();
        format!(r#"{{"type":"message","name":"b0","text":"{text}","ts":"t"}}"#).into_bytes()
    }

    /// Reads `conn` until the server closes it, as a reader thread does.
    fn read_all(conn: Conn) -> Slot {
        let Conn { reader, writer } = conn;
        let mut out = Outcome::new(Home::default(), 1, 0);
        out.body = Some(Body::Chat);
        let writer = Arc::new(Mutex::new(writer));
        let mut slot = Slot { reader, writer, out, done: false, partial: None };
        let mut inflater = Inflater::new();
        while handle_frames(&mut slot, 200, &mut inflater) {
            assert_ne!(slot.reader.fill().unwrap(), 0, "the stream ended first");
        }
        slot
    }

    #[test]
    fn compressed_messages_are_inflated_and_checked() {
        let mut deflater = Deflater::new();
        // One compressed message in one frame (RFC 7692 §7.2.3.1's RSV1 and FIN: 0xc1), one in
        // two fragments (RSV1 on the first only, §6.1), one plain (§6: allowed any time).
        let mut frames = frame(0xc1, deflater.compress(&event(0)));
        let second = deflater.compress(&event(1)).to_vec();
        let (head, tail) = second.split_at(second.len() / 2);
        let wire = frame(0x41, head).len() + frame(0x80, tail).len();
        frames.extend(frame(0x41, head));
        frames.extend(frame(0x80, tail));
        frames.extend(frame(0x81, &event(2)));
        frames.extend(frame(0x88, &1000u16.to_be_bytes()));
        let (url, server) = serve(AGREED, frames);
        let conn = connect(&url, true).unwrap();
        assert!(conn.reader.deflate && conn.writer.deflate);
        let slot = read_all(conn);
        let out = &slot.out;
        assert_eq!(slot.out.io_error, None);
        assert_eq!((out.deliveries.unique, out.mismatched, out.compressed), (3, 0, 2));
        assert_eq!(out.close_code, Some(1000));
        let json: usize = (0..3).map(|seq| event(seq).len()).sum();
        assert_eq!(out.message_json, json as u64);
        let first = frame(0xc1, deflater.compress(&event(0))).len();
        assert_eq!(out.message_wire, (first + wire + frame(0x81, &event(2)).len()) as u64);
        drop(slot);
        let (request, _) = server.join().unwrap();
        assert!(request.contains(
            "\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        ));
    }

    #[test]
    fn a_changed_text_is_caught_after_inflating() {
        let mut changed = event(0);
        let at = changed.len() - 12;
        changed[at] = b'Z';
        let frames = frame(0xc1, Deflater::new().compress(&changed));
        let (url, _server) = serve(AGREED, [frames, frame(0x88, &[0x03, 0xe8])].concat());
        let slot = read_all(connect(&url, true).unwrap());
        assert_eq!((slot.out.deliveries.unique, slot.out.mismatched), (1, 1));
    }

    #[test]
    fn rsv1_is_refused_where_it_has_no_meaning() {
        // Without the extension agreed (RFC 6455 §5.2).
        let (url, _server) = serve("", frame(0xc1, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]));
        let slot = read_all(connect(&url, true).unwrap());
        assert!(slot.out.io_error.unwrap().contains("reserved bits"));
        // On a control frame (RFC 7692 §6.1).
        let (url, _server) = serve(AGREED, frame(0xc9, b"Hi"));
        let slot = read_all(connect(&url, true).unwrap());
        assert!(slot.out.io_error.unwrap().contains("RSV1"));
        // A compressed payload that is no DEFLATE stream.
        let (url, _server) = serve(AGREED, frame(0xc1, &[0xff, 0xff, 0xff]));
        let slot = read_all(connect(&url, true).unwrap());
        assert!(slot.out.io_error.unwrap().starts_with("inflating"));
    }

    #[test]
    fn frame_lengths() {
        assert_eq!((frame_length(0), frame_length(125)), (6, 131));
        assert_eq!((frame_length(126), frame_length(65_535)), (134, 65_543));
        assert_eq!(frame_length(65_536), 65_550);
    }
}
