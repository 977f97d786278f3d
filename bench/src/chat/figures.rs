//! The figures of a chat run, in the order its JSON line prints them: the run's setup, the
//! connect phase and its join storm, the deliveries (loss, duplicates, order, latency), the
//! bytes on the wire, what the server and the generator used, and stalled mode's evictions.
//!
//! `bench/run.sh` and `bench/lib.sh` read these fields by name, and BENCHMARKS.md explains
//! them: a new figure goes in at its place in this order.

use super::stalled::StalledOutcome;
use super::totals::{ByRoom, Totals};
use super::usage::{Sample, Waits};
use crate::args::{Args, Mode};
use crate::http;
use crate::report::Report;

/// Everything a chat run measured.
pub struct Measured {
    pub connect: ConnectPhase,
    pub sending: Sending,
    pub usage: Usage,
    pub totals: Totals,
    pub rooms: ByRoom,
    pub stalled: StalledOutcome,
    /// A reading thread failed: its clients are not counted.
    pub reader_panicked: bool,
    /// When the last reading thread was done (µs since the start).
    pub ended: u64,
    /// The bytes all clients read from the first measured send to the end.
    pub wire_read: u64,
}

/// What the connect phase measured.
pub struct ConnectPhase {
    /// Clients connected, those whose `101` accepted permessage-deflate, those that failed and
    /// the first failure.
    pub connected: usize,
    pub deflate: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    /// Seconds to connect, then to go quiet, and the bytes the clients read until then.
    pub connect_s: f64,
    pub settle_s: f64,
    pub settle_bytes: u64,
    /// The generator's CPU seconds over the phase, and its wall time (seconds since the start).
    pub gen_cpu: f64,
    pub wall_s: f64,
    /// The server's highest RSS over the phase (KiB).
    pub rss_peak: Option<u64>,
}

/// What the senders did in the measured run.
pub struct Sending {
    /// When the first message was due and when the last sender was done (µs since the start).
    pub t0: u64,
    pub ended: u64,
    /// Measured messages sent into each room (one entry without rooms).
    pub sent_to: Vec<u64>,
    /// The senders' errors, and the bytes of the frames they wrote.
    pub errors: Vec<String>,
    pub wire: u64,
}

/// The server's and the generator's counters around the measured run (`usage.rs`).
pub struct Usage {
    /// The server's RSS before the connections.
    pub rss_idle: Option<u64>,
    pub before: Sample,
    pub after: Sample,
    /// The server's highest RSS over the measured run.
    pub rss_peak: Option<u64>,
    /// Before the senders started, and once they were done (the readers still running).
    pub waits_before: Waits,
    pub waits_after: Waits,
    /// The generator's CPU seconds over the measured run.
    pub gen_cpu: f64,
    /// The server's `/metrics` before and after.
    pub metrics_before: Option<String>,
    pub metrics_after: Option<String>,
}

/// The run's JSON line (or human table): every figure of `m`, in order.
pub fn report(args: &Args, m: &Measured) -> Report {
    let mut r = Report::default();
    setup(&mut r, args);
    connect_phase(&mut r, &m.connect, &m.totals);
    deliveries(&mut r, args, m);
    bytes(&mut r, m);
    usage(&mut r, args, m);
    if args.mode == Mode::Stalled {
        stalled(&mut r, args, &m.stalled, m.usage.metrics_after.as_deref());
    }
    r
}

/// What was asked for.
fn setup(r: &mut Report, args: &Args) {
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
}

fn connect_phase(r: &mut Report, c: &ConnectPhase, t: &Totals) {
    r.int("connected", c.connected);
    // Connections whose 101 accepted permessage-deflate (senders and stalled clients included).
    r.int("deflate_connections", c.deflate);
    r.int("failed", c.failed);
    if let Some(e) = &c.first_error {
        r.text("connect_error", e.clone());
    }
    r.float("connect_s", c.connect_s);
    r.float("settle_s", c.settle_s);
    r.float("settle_mib", c.settle_bytes as f64 / (1 << 20) as f64);
    // The join storm: when each client had its connect frames (hello, history, users), counted
    // from the start of the connect, and what presence cost.
    r.int("ready_clients", t.ready.len());
    if let (Some(&last), Some(&mid)) = (t.ready.last(), t.ready.get(t.ready.len() / 2)) {
        r.float("ready_p50_s", mid as f64 / 1e6);
        r.float("ready_all_s", last as f64 / 1e6);
    }
    r.int("presence_frames", t.presence_frames);
    r.float("presence_mib", t.presence_bytes as f64 / (1 << 20) as f64);
    r.float("gen_connect_cpu_s", c.gen_cpu);
    r.float("gen_connect_util", c.gen_cpu / c.wall_s.max(1e-6));
    r.maybe("rss_connect_peak_kib", c.rss_peak.map(|v| v as f64));
}

/// What was sent, what each reading client got, and how late.
fn deliveries(r: &mut Report, args: &Args, m: &Measured) {
    let (s, t, rooms) = (&m.sending, &m.totals, &m.rooms);
    let sent: u64 = s.sent_to.iter().sum();
    let expected = rooms.expected;
    let planned = (args.rate * args.duration).round() as u64 * args.senders as u64;
    let window_s = (t.last_at.saturating_sub(s.t0) as f64 / 1e6).max(args.duration);
    r.int("readers", t.readers);
    r.int("planned", planned);
    r.int("sent", sent);
    r.float("send_rate", sent as f64 / ((s.ended.saturating_sub(s.t0)) as f64 / 1e6).max(1e-6));
    if let Some(e) = s.errors.first() {
        r.text("send_error", e.clone());
    }
    r.int("expected", expected);
    r.int("received", t.unique);
    r.int("lost", expected.saturating_sub(t.unique));
    r.int("duplicated", t.duplicated);
    r.int("out_of_order", t.out_of_order);
    r.int("id_out_of_order", t.id_out_of_order);
    r.int("foreign", t.foreign);
    r.int("text_mismatched", t.mismatched);
    if args.rooms > 0 {
        r.int("rooms", args.rooms);
        r.int("rooms_with_loss", rooms.with_loss);
        r.float("room_p99_max_ms", ms(rooms.worst_p99));
        r.float("room_p99_min_ms", ms(rooms.best_p99));
    }
    r.int("error_events", t.errors);
    r.int("unparsed", t.unparsed);
    r.int("readers_complete", t.complete);
    r.int("readers_closed", t.closed_early);
    if let Some(code) = t.close_codes.first() {
        r.int("reader_close_code", *code);
    }
    if let Some(e) = &t.first_io_error {
        r.text("reader_error", e.clone());
    }
    if m.reader_panicked {
        r.text("reader_panic", "a reader thread failed; its clients are not counted");
    }
    r.float("window_s", window_s);
    r.float("delivered_per_s", t.unique as f64 / window_s);
    r.float("p50_ms", ms(t.latency.quantile(0.50)));
    r.float("p90_ms", ms(t.latency.quantile(0.90)));
    r.float("p99_ms", ms(t.latency.quantile(0.99)));
    r.float("max_ms", ms(t.latency.max()));
    r.float("mean_ms", t.latency.mean() / 1000.0);
}

/// Bytes on the wire per delivered message: everything the clients read off their sockets
/// from the first measured send to the end (frame headers, pings and all; after TLS with
/// wss://), then the measured messages' own frames, and their JSON once inflated.
fn bytes(r: &mut Report, m: &Measured) {
    let t = &m.totals;
    let per_delivery = |bytes: u64| bytes as f64 / t.unique.max(1) as f64;
    r.float("wire_bytes_per_delivery", per_delivery(m.wire_read));
    r.float("frame_bytes_per_delivery", per_delivery(t.message_wire));
    r.float("json_bytes_per_delivery", per_delivery(t.message_json));
    r.int("compressed_deliveries", t.compressed);
    // What the senders wrote per message (masked frames, compressed with --deflate).
    let sent: u64 = m.sending.sent_to.iter().sum();
    r.float("sent_frame_bytes_per_message", m.sending.wire as f64 / sent.max(1) as f64);
}

/// The server's memory and CPU (with `--server-pid`), the other processes', the generator's,
/// and the server's own counts of messages.
fn usage(r: &mut Report, args: &Args, m: &Measured) {
    let (u, t0, ended) = (&m.usage, m.sending.t0, m.ended);
    if args.server_pid.is_some() {
        r.maybe("rss_idle_kib", u.rss_idle.map(|v| v as f64));
        r.maybe("rss_before_kib", u.before.rss.map(|v| v as f64));
        r.maybe("rss_after_kib", u.after.rss.map(|v| v as f64));
        r.maybe("rss_peak_kib", u.rss_peak.map(|v| v as f64));
        if let (Some(peak), Some(before)) = (u.rss_peak.or(u.after.rss), u.before.rss) {
            r.float("rss_growth_kib", peak as f64 - before as f64);
        }
        if let (Some(a), Some(b)) = (u.after.cpu, u.before.cpu) {
            let run_s = (ended.saturating_sub(t0)) as f64 / 1e6;
            r.float("cpu_s", a - b);
            r.float("cpu_util", (a - b) / run_s.max(1e-6));
        }
        if let (Some(a), Some(b)) = (u.after.broadcaster, u.before.broadcaster) {
            r.float("broadcaster_cpu_s", a - b);
        }
        // Time the broadcaster was ready to run but another task had its core, over the sending.
        if let (Some(a), Some(b)) = (u.waits_after.broadcaster, u.waits_before.broadcaster) {
            r.float("broadcaster_wait_s", a - b);
        }
    }
    if let (Some(a), Some(b)) = (u.after.others, u.before.others)
        && !args.cpu_pids.is_empty()
    {
        r.float("others_cpu_s", a - b);
    }
    // The first two of them one by one (scenario (f): the second instance, then the broker).
    for (i, key) in ["other1_cpu_s", "other2_cpu_s"].into_iter().enumerate() {
        if let (Some(Some(a)), Some(Some(b))) = (u.after.each.get(i), u.before.each.get(i)) {
            r.float(key, a - b);
        }
    }
    r.float("gen_cpu_s", u.gen_cpu);
    // The same for the generator's (first) reading thread.
    if let (Some(a), Some(b)) = (u.waits_after.reader, u.waits_before.reader) {
        r.float("gen_reader_wait_s", a - b);
    }
    // The generator's one core: near 1.0, the generator and not the server set the pace.
    r.float("gen_cpu_util", u.gen_cpu / ((ended.saturating_sub(t0)) as f64 / 1e6).max(1e-6));
    if let (Some(before), Some(after)) = (&u.metrics_before, &u.metrics_after) {
        let delta = |name| Some(http::metric(after, name)? - http::metric(before, name)?);
        r.maybe("server_delivered", delta("websocketchat_messages_delivered_total"));
        r.maybe("server_received", delta("websocketchat_messages_received_total"));
    }
}

/// Stalled mode: how many of the clients that never read the server closed, and with 1013.
fn stalled(r: &mut Report, args: &Args, stalled: &StalledOutcome, metrics_after: Option<&str>) {
    r.int("stalled", args.stalled);
    r.int("stalled_connected", stalled.connected);
    r.int("stalled_closed", stalled.closed);
    r.int("stalled_close_1013", stalled.close_1013);
    if let Some(code) = stalled.other_code {
        r.int("stalled_other_close_code", code);
    }
    r.float("stalled_read_mib", stalled.bytes as f64 / (1 << 20) as f64);
    if let Some(after) = metrics_after {
        r.maybe("evicted_slow", http::metric(after, "websocketchat_clients_evicted_slow_total"));
        r.maybe(
            "close_1013_sent",
            http::sample(after, "websocketchat_close_frames_sent_total{code=\"1013\"}"),
        );
    }
}

fn url_text(args: &Args) -> String {
    args.urls
        .iter()
        .map(|u| format!("{}://{}{}", if u.tls { "wss" } else { "ws" }, u.host, u.path))
        .collect::<Vec<_>>()
        .join(" ")
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field a stalled run with rooms, a known server and two other processes can print,
    /// in the order scripts and BENCHMARKS.md know them.
    const FIELDS: &str = "mode url clients source_addresses senders rate duration_s size text \
        deflate_offered connected deflate_connections failed connect_error connect_s settle_s \
        settle_mib ready_clients ready_p50_s ready_all_s presence_frames presence_mib \
        gen_connect_cpu_s gen_connect_util rss_connect_peak_kib readers planned sent send_rate \
        send_error expected received lost duplicated out_of_order id_out_of_order foreign \
        text_mismatched rooms rooms_with_loss room_p99_max_ms room_p99_min_ms error_events \
        unparsed readers_complete readers_closed reader_close_code reader_error reader_panic \
        window_s delivered_per_s p50_ms p90_ms p99_ms max_ms mean_ms wire_bytes_per_delivery \
        frame_bytes_per_delivery json_bytes_per_delivery compressed_deliveries \
        sent_frame_bytes_per_message rss_idle_kib rss_before_kib rss_after_kib rss_peak_kib \
        rss_growth_kib cpu_s cpu_util broadcaster_cpu_s broadcaster_wait_s others_cpu_s \
        other1_cpu_s other2_cpu_s gen_cpu_s gen_reader_wait_s gen_cpu_util server_delivered \
        server_received stalled stalled_connected stalled_closed stalled_close_1013 \
        stalled_other_close_code stalled_read_mib evicted_slow close_1013_sent";

    fn sample(at: f64) -> Sample {
        let each = vec![Some(at), Some(2.0 * at)];
        Sample {
            rss: Some(1000),
            cpu: Some(at),
            others: Some(3.0 * at),
            each,
            broadcaster: Some(at),
        }
    }

    fn metrics(delivered: u32) -> Option<String> {
        Some(format!(
            "websocketchat_messages_delivered_total {delivered}\n\
             websocketchat_messages_received_total 4\n\
             websocketchat_clients_evicted_slow_total 1\n\
             websocketchat_close_frames_sent_total{{code=\"1013\"}} 1\n"
        ))
    }

    fn measured() -> Measured {
        let waits = |at| Waits { broadcaster: Some(at), reader: Some(at) };
        let mut totals =
            Totals { readers: 4, unique: 390, ready: vec![1, 2, 3], ..Default::default() };
        totals.close_codes.push(1001);
        totals.first_io_error = Some("reset".into());
        Measured {
            connect: ConnectPhase {
                connected: 6,
                deflate: 0,
                failed: 0,
                first_error: Some("refused".into()),
                connect_s: 1.0,
                settle_s: 0.5,
                settle_bytes: 1 << 20,
                gen_cpu: 0.1,
                wall_s: 2.0,
                rss_peak: Some(2000),
            },
            sending: Sending {
                t0: 1_000_000,
                ended: 3_000_000,
                sent_to: vec![60, 40],
                errors: vec!["sender 1: broken pipe".into()],
                wire: 5000,
            },
            usage: Usage {
                rss_idle: Some(500),
                before: sample(1.0),
                after: sample(2.0),
                rss_peak: Some(1500),
                waits_before: waits(0.0),
                waits_after: waits(0.25),
                gen_cpu: 1.0,
                metrics_before: metrics(10),
                metrics_after: metrics(400),
            },
            totals,
            rooms: ByRoom { expected: 400, with_loss: 1, worst_p99: 2000, best_p99: 1000 },
            stalled: StalledOutcome {
                connected: 2,
                closed: 2,
                close_1013: 1,
                other_code: Some(1006),
                bytes: 0,
            },
            reader_panicked: true,
            ended: 5_000_000,
            wire_read: 39_000,
        }
    }

    #[test]
    fn every_field_in_its_order() {
        let mut args = Args::parse(
            "--url ws://127.0.0.1:1/ws --clients 8 --senders 2 --rooms 2 --rate 50 \
             --duration 2 --server-pid 1 --cpu-pid 2 --cpu-pid 3"
                .split_whitespace()
                .map(String::from),
        )
        .unwrap();
        // Rooms are for chat mode; the figures of both are printed as they come.
        (args.mode, args.stalled) = (Mode::Stalled, 2);
        let json = report(&args, &measured()).json();
        let parts: Vec<&str> = json.split("\":").collect();
        let keys: Vec<&str> =
            parts[..parts.len() - 1].iter().map(|p| &p[p.rfind('"').unwrap() + 1..]).collect();
        assert_eq!(keys.join(" "), FIELDS.split_whitespace().collect::<Vec<_>>().join(" "));
        for field in [
            r#""planned":200,"sent":100,"send_rate":50,"#,
            r#""expected":400,"received":390,"lost":10,"#,
            r#""wire_bytes_per_delivery":100,"#,
            r#""sent_frame_bytes_per_message":50,"#,
            r#""cpu_s":1,"cpu_util":0.25,"#,
            r#""server_delivered":390,"server_received":0,"#,
        ] {
            assert!(json.contains(field), "{field} in {json}");
        }
    }
}
