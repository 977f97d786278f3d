//! `--mode api`: the bots' HTTP API under load (issue 28).
//!
//! `--senders S` kept-alive connections (HTTP/1.1, over TLS for a `wss://` URL), each posting
//! `{"room":"general","text":…}` of `--size` bytes as the bot of `--token`, one request at a
//! time: `--rate R` posts a second each, paced from the start (a late post goes at once, so a
//! slow answer does not lower the offered rate), or as fast as answers come with `--rate 0`.
//! A post's latency runs from writing its request to reading its answer's last byte: the `201`
//! comes once the message is in the room's order and durable, so this is the whole road.
//!
//! The issue's two figures, on a server run with `API_TOKENS=bench:<token>` and a
//! `RATE_LIMIT_PER_SEC` above the offered rate (one bucket per bot, not per connection):
//! - `POST` p99 at 100 posts a second: `--senders 10 --rate 10 --duration 30`;
//! - the most posts a second one instance takes: `--senders 8 --rate 0 --duration 30`
//!   (`posts_per_s`; raise `--senders` until it stops growing).
//!
//! `make bench` runs both as scenario (l) (`bench/lib.sh`, `scenario_l`; `BENCH_ONLY=l` alone).
//!
//! Every answer must be `201`; any other (a `429`: the rate limit was what got measured) is
//! counted and fails the run.

use std::io::{self, Read};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::args::{Args, Url};
use crate::client::{Stream, Writer, find, tls_config, tls_read};
use crate::report::Report;
use crate::stats::Histogram;

/// Runs the api mode.
pub fn run(args: &Args) -> Result<Report, String> {
    let token = args.token.clone().ok_or("--mode api needs --token (a bot's, from API_TOKENS)")?;
    let tls = tls_config(args)?;
    let url = args.url(0).clone();
    let duration = Duration::from_secs_f64(args.duration);
    let text = "x".repeat(args.size.max(1));
    let started = Instant::now();
    let senders: Vec<_> = (0..args.senders)
        .map(|i| {
            let (url, tls, token, text) = (url.clone(), tls.clone(), token.clone(), text.clone());
            let rate = args.rate;
            thread::spawn(move || {
                let sender = Sender { url: &url, tls: tls.as_ref(), token: &token, text: &text };
                sender.run(i, rate, started, duration)
            })
        })
        .collect();
    let mut latency = Histogram::default();
    let (mut created, mut refused) = (0u64, 0u64);
    for sender in senders {
        let tally = sender.join().map_err(|_| "a sender panicked")??;
        latency.merge(&tally.latency);
        (created, refused) = (created + tally.created, refused + tally.refused);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut report = Report::default();
    report.text("mode", "api");
    report.int("senders", args.senders);
    report.float("rate_per_sender", args.rate);
    report.int("created", created);
    report.int("refused", refused);
    report.float("posts_per_s", created as f64 / elapsed);
    for (key, q) in [("p50_ms", 0.5), ("p99_ms", 0.99), ("p999_ms", 0.999)] {
        report.float(key, latency.quantile(q) as f64 / 1000.0);
    }
    report.float("max_ms", latency.max() as f64 / 1000.0);
    if refused > 0 {
        return Err(format!("{refused} posts were not 201 (raise RATE_LIMIT_PER_SEC?)"));
    }
    Ok(report)
}

/// What one connection posted.
struct Tally {
    latency: Histogram,
    created: u64,
    refused: u64,
}

/// One kept-alive connection posting as a bot.
struct Sender<'a> {
    url: &'a Url,
    tls: Option<&'a Arc<rustls::ClientConfig>>,
    token: &'a str,
    text: &'a str,
}

impl Sender<'_> {
    fn run(
        &self,
        i: usize,
        rate: f64,
        started: Instant,
        duration: Duration,
    ) -> Result<Tally, String> {
        let mut tally = Tally { latency: Histogram::default(), created: 0, refused: 0 };
        let mut conn = self.connect()?;
        let mut n = 0u64;
        while started.elapsed() < duration {
            if rate > 0.0 {
                let due = started + Duration::from_secs_f64(n as f64 / rate);
                thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            let body = format!(r#"{{"room":"general","text":"s{i} {n} {}"}}"#, self.text);
            let request = format!(
                "POST /api/v1/messages HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                self.url.host,
                self.token,
                body.len()
            );
            let sent = Instant::now();
            conn.writer.write_raw(request.as_bytes()).map_err(|e| format!("posting: {e}"))?;
            let (status, close) = conn.answer().map_err(|e| format!("reading an answer: {e}"))?;
            tally.latency.record(sent.elapsed().as_micros() as u64);
            match status {
                201 => tally.created += 1,
                _ => tally.refused += 1,
            }
            if close {
                // KEEP_ALIVE_REQUESTS served: the server closes, the sender comes back.
                conn = self.connect()?;
            }
            n += 1;
        }
        Ok(tally)
    }

    fn connect(&self) -> Result<Conn, String> {
        let dial = crate::http::dial(self.url, self.tls);
        let stream = dial.open().map_err(|e| format!("connecting: {e}"))?;
        let writer = Writer::new(&stream, 1).map_err(|e| e.to_string())?;
        Ok(Conn { stream, writer, buffered: Vec::new() })
    }
}

/// A connection and what was read past the last answer.
struct Conn {
    stream: Stream,
    writer: Writer,
    buffered: Vec<u8>,
}

impl Conn {
    /// Reads one answer: its status, and whether it says `Connection: close`.
    fn answer(&mut self) -> io::Result<(u16, bool)> {
        let end = loop {
            if let Some(end) = find(&self.buffered, b"\r\n\r\n") {
                break end;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buffered[..end]).to_ascii_lowercase();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok());
        let status = status.ok_or_else(|| io::Error::other("not an HTTP answer"))?;
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while self.buffered.len() < end + 4 + len {
            self.fill()?;
        }
        self.buffered.drain(..end + 4 + len);
        Ok((status, head.contains("\r\nconnection: close")))
    }

    fn fill(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        let mut cipher = [0u8; 8192];
        let n = match &self.stream.tls {
            None => (&*self.stream.tcp).read(&mut buf)?,
            Some(tls) => tls_read(&self.stream.tcp, tls, &mut cipher, &mut buf)?,
        };
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        self.buffered.extend_from_slice(&buf[..n]);
        Ok(())
    }
}
