//! Chat mode's senders: one thread per sending client, each sending `--rate` messages a second
//! into its client's room, paced against the shared clock and spread over the interval.
//!
//! A measured message's text starts with `<sender>:<seq>:<send time in µs> ` (a warm-up one
//! with `w<sender>:<seq> `), then the body of `--text` (`text.rs`), so that every reader can
//! tell loss, duplicates, order and latency from the text alone. Where permessage-deflate was
//! agreed, every message goes compressed unless `--plain-send` (RFC 7692 §6: either is allowed).

use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::Shared;
use crate::args::Args;
use crate::client::{OP_TEXT, Writer};
use crate::deflate::Deflater;

/// A sender's thread: it returns how many messages it sent, their bytes on the wire, and its
/// error if any.
pub type SenderThread = JoinHandle<(u64, u64, Option<String>)>;

/// Starts one paced sender per writer, each sender `k` (client `k`) speaking in its client's
/// room.
pub fn start_senders(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lengths() {
        assert_eq!((frame_length(0), frame_length(125)), (6, 131));
        assert_eq!((frame_length(126), frame_length(65_535)), (134, 65_543));
        assert_eq!(frame_length(65_536), 65_550);
    }
}
