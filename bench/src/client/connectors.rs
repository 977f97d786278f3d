//! Opening many connections at once: `--connectors` threads take the next client index in
//! turn until every client has been dialled, so one slow handshake does not hold up the rest.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::rng::Rng;

/// Opens `clients` connections from `connectors` threads: `dial(i, rng)` makes client `i` (an
/// `Err` counts as a failure, the first one kept), `keep(i, conn)` stores it (false counts as a
/// failure). Returns the failure count and the first error.
pub fn connect_all<T>(
    clients: usize,
    connectors: usize,
    dial: impl Fn(usize, &mut Rng) -> Result<T, String> + Sync,
    keep: impl Fn(usize, T) -> bool + Sync,
) -> (usize, Option<String>) {
    let next = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..connectors.min(clients) {
            scope.spawn(|| {
                let mut rng = Rng::from_os();
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= clients {
                        break;
                    }
                    match dial(i, &mut rng) {
                        Ok(conn) => {
                            if !keep(i, conn) {
                                failed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            first_error.lock().unwrap().get_or_insert(format!("client {i}: {e}"));
                        }
                    }
                }
            });
        }
    });
    (failed.into_inner(), first_error.into_inner().unwrap())
}
