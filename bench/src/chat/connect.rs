//! Chat mode's connect phase: the reading threads start first, then `--connectors` threads open
//! the clients (at `--connect-rate` if given) and hand each to a reader at once, so the join
//! storm is read while it happens.
//!
//! Client i is a sender when i < `--senders`, a stalled client among the last `--stalled`, a
//! reading client otherwise (senders read too); it listens in room `r<i mod rooms>` with
//! `--rooms`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::read::{Handover, Slot, read_many};
use super::stalled::Stalled;
use super::{CONNECT_PHASE, Shared};
use crate::args::Args;
use crate::client::{self, Conn, Dial, Writer};
use crate::outcome::{Home, Outcome, awaited};

/// The clients once connected, where each went.
pub struct Connected {
    /// The reading threads; each returns its clients when it is done.
    pub readers: Vec<JoinHandle<Vec<Slot>>>,
    /// The senders that connected, by client index (sender k is client k).
    pub senders: Vec<(usize, Arc<Mutex<Writer>>)>,
    /// The clients that never read (stalled mode).
    pub stalled: Vec<Stalled>,
    /// Connections whose `101` accepted the permessage-deflate offer.
    pub deflate: usize,
    /// Clients that could not connect, and the first one's error.
    pub failed: usize,
    pub first_error: Option<String>,
}

/// Opens every client and hands it to its place: a reading thread, the senders, the stalled.
pub fn connect_all(
    args: &Args,
    tls: Option<&Arc<rustls::ClientConfig>>,
    shared: &Arc<Shared>,
) -> Connected {
    // The reading threads: each owns its share of the clients, through epoll.
    let mut queues = Vec::new();
    let mut readers = Vec::new();
    let awaiting = awaited(args.initial_frames, args.rooms > 0);
    for t in 0..args.reader_threads {
        let (tx, rx) = mpsc::channel::<Handover>();
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

/// Every socket operation's timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
