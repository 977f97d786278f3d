//! Chat mode's reading threads: each owns a share of the clients and reads them through one
//! epoll set, hands every whole text message to the checks of `outcome.rs`, and stops when each
//! client has every measured message of its room, has closed, or the time is up.
//!
//! A reader puts fragmented messages together (RFC 6455 §5.4), inflates compressed ones
//! (RFC 7692 §6, §7.2.2) within [`MAX_MESSAGE`], answers pings with pongs (§5.5.2) and closes
//! with the close frame's own code (§5.5.1); a frame that breaks the rules ends that client,
//! not the run. Each read is stamped with the time it returned, so a message's latency ends when
//! the client had it in hand.

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use super::Shared;
use crate::client::{
    self, Frame, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_PONG, OP_TEXT, Reader, Writer,
};
use crate::deflate::Inflater;
use crate::idle_read::close_code;
use crate::outcome::{Outcome, on_text};
use crate::poll::Epoll;

/// A client handed to a reading thread: its checks so far, its read half, its shared write half.
pub type Handover = (Outcome, Reader, Arc<Mutex<Writer>>);

/// Reads every client handed over on `clients` until each has every measured message, or has
/// closed, or the time is up; returns them, still connected (dropping a [`Slot`] closes its
/// socket).
pub fn read_many(clients: mpsc::Receiver<Handover>, shared: &Shared) -> Vec<Slot> {
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

/// One reading client, as a reader thread keeps it.
pub struct Slot {
    reader: Reader,
    writer: Arc<Mutex<Writer>>,
    /// What the client saw.
    pub out: Outcome,
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

/// The largest message a reader inflates (the server's own limit is far below).
const MAX_MESSAGE: usize = 64 << 20;
/// How often a reader thread wakes up to look at the clock.
const POLL_TICK: Duration = Duration::from_millis(50);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Conn;
    use crate::deflate::Deflater;
    use crate::outcome::Home;
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
}
