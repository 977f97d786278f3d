//! What the server and the generator used during a chat run, read from `/proc`: the server's
//! RSS (sampled for its peak by [`Monitor`]), CPU time (the process's, its broadcaster
//! thread's, and that of `--cpu-pid` processes), and the time the broadcaster and the
//! generator's first reading thread waited for a core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::proc;

/// The counters at one moment, read in this order: the server's RSS and CPU time, the other
/// processes' CPU time (summed, then each), the broadcaster thread's CPU time.
pub struct Sample {
    pub rss: Option<u64>,
    pub cpu: Option<f64>,
    /// Of the `--cpu-pid` processes together; `None` if one could not be read.
    pub others: Option<f64>,
    pub each: Vec<Option<f64>>,
    pub broadcaster: Option<f64>,
}

impl Sample {
    /// Reads the counters of the server `pid` (if known) and of `cpu_pids`.
    pub fn take(pid: Option<u32>, cpu_pids: &[u32]) -> Sample {
        let rss = pid.and_then(proc::rss_kib);
        let cpu = pid.and_then(proc::cpu_seconds);
        let others = cpu_pids.iter().map(|&p| proc::cpu_seconds(p)).sum::<Option<f64>>();
        let each = cpu_pids.iter().map(|&p| proc::cpu_seconds(p)).collect::<Vec<_>>();
        let broadcaster = pid.and_then(|p| proc::thread_cpu_seconds(p, "broadcaster"));
        Sample { rss, cpu, others, each, broadcaster }
    }
}

/// Time spent ready to run while another task had the core (seconds so far).
pub struct Waits {
    /// The server's broadcaster thread.
    pub broadcaster: Option<f64>,
    /// The generator's first reading thread (`read0`).
    pub reader: Option<f64>,
}

impl Waits {
    /// Reads both, the broadcaster's only when the server's `pid` is known.
    pub fn take(pid: Option<u32>) -> Waits {
        let broadcaster = pid.and_then(|p| proc::thread_wait_seconds(p, "broadcaster"));
        Waits { broadcaster, reader: proc::thread_wait_seconds(std::process::id(), "read0") }
    }
}

/// Samples the server's RSS every 100 ms and keeps the highest.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Option<u64>>>,
}

impl Monitor {
    /// Starts sampling the server `pid` (nothing to sample without one).
    pub fn start(pid: Option<u32>) -> Monitor {
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

    /// Stops sampling; the highest RSS seen (KiB).
    pub fn stop(self) -> Option<u64> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.and_then(|h| h.join().ok().flatten())
    }
}
