//! Stalled mode's clients: the last `--stalled` clients never read (their receive buffer is
//! 4 KiB, set before connect), so the server's queue for them fills. At the end their sockets
//! are read to see whether the server closed them, and with which code (1013 for a client too
//! slow to keep up).

use std::time::{Duration, Instant};

use crate::client::{self, Conn, OP_CLOSE};
use crate::idle_read::close_code;

/// A client that never reads.
pub struct Stalled {
    pub conn: Conn,
}

/// What the stalled clients were sent, and how the server ended them.
#[derive(Default)]
pub struct StalledOutcome {
    /// Stalled clients that connected.
    pub connected: usize,
    /// Those the server closed (a close frame or the end of the stream).
    pub closed: usize,
    /// Those whose close frame said 1013 (Try Again Later, RFC 6455 §7.4.1).
    pub close_1013: usize,
    /// Another close code, if one came.
    pub other_code: Option<u16>,
    /// The bytes read off their sockets at the end.
    pub bytes: u64,
}

/// Reads what the stalled clients were sent, looking for the server's close frame and FIN.
pub fn inspect_stalled(stalled: Vec<Stalled>) -> StalledOutcome {
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
