//! What one reading client saw: each text frame it received, classified as a measured message
//! (checked for loss, duplicates and order), a warm-up one, a connect frame or presence.

use crate::client;
use crate::stats::Deliveries;

/// What one reading client saw.
#[derive(Default)]
pub struct Outcome {
    pub deliveries: Deliveries,
    pub warmup: u64,
    pub other_frames: u64,
    pub error_events: u64,
    pub unparsed: u64,
    pub close_code: Option<u16>,
    pub eof: bool,
    pub io_error: Option<String>,
    pub complete: bool,
    /// The connect frames still awaited (HELLO, HISTORY, USERS bits); when the last comes,
    /// `ready_at`.
    pub awaiting: u8,
    pub ready_at: Option<u64>,
    /// Presence frames: `join`, `leave`, and every `users` after the first; their bytes on the
    /// wire (payload and frame header).
    pub presence_frames: u64,
    pub presence_bytes: u64,
    pub users_seen: bool,
}

const HELLO: u8 = 1;
const HISTORY: u8 = 2;
const USERS: u8 = 4;

/// The frames a client waits for on connect: hello (1), then history (2), then users (3).
pub fn awaited(initial_frames: usize) -> u8 {
    match initial_frames {
        0 => 0,
        1 => HELLO,
        2 => HELLO | HISTORY,
        _ => HELLO | HISTORY | USERS,
    }
}

/// A text frame: a measured message, a warm-up one, or another event.
pub fn on_text(payload: &[u8], now: u64, out: &mut Outcome) {
    if !payload.starts_with(br#"{"type":"message""#) {
        if payload.starts_with(br#"{"type":"error""#) {
            out.error_events += 1;
        } else {
            out.other_frames += 1;
            connect_frame(payload, now, out);
        }
        return;
    }
    let Some(at) = client::find(payload, br#""text":""#) else {
        out.unparsed += 1;
        return;
    };
    let text = &payload[at + 8..];
    if text.first() == Some(&b'w') {
        out.warmup += 1;
        return;
    }
    match parse_stamp(text) {
        Some((sender, seq, sent)) if out.deliveries.record(sender, seq, sent, now) => {}
        _ => out.unparsed += 1,
    }
}

/// Keeps count of the connect frames (hello, history, the first users) and of presence.
fn connect_frame(payload: &[u8], now: u64, out: &mut Outcome) {
    let was = out.awaiting;
    // The Go reference writes its keys sorted (`{"name":…,"type":"hello"}`).
    if payload.starts_with(br#"{"type":"hello""#)
        || client::find(payload, br#""type":"hello""#).is_some()
    {
        out.awaiting &= !HELLO;
    } else if payload.starts_with(br#"{"type":"history""#) {
        out.awaiting &= !HISTORY;
    } else if payload.starts_with(br#"{"type":"users""#) && !out.users_seen {
        out.users_seen = true;
        out.awaiting &= !USERS;
    } else if payload.starts_with(br#"{"type":"users""#)
        || payload.starts_with(br#"{"type":"join""#)
        || payload.starts_with(br#"{"type":"leave""#)
    {
        let header = match payload.len() {
            0..=125 => 2,
            126..=65535 => 4,
            _ => 10,
        };
        out.presence_frames += 1;
        out.presence_bytes += (payload.len() + header) as u64;
    }
    if was != 0 && out.awaiting == 0 {
        out.ready_at = Some(now);
    }
}

/// `<sender>:<seq>:<micros>` at the start of a text.
fn parse_stamp(text: &[u8]) -> Option<(usize, u64, u64)> {
    let mut parts = [0u64; 3];
    let mut i = 0;
    for (k, part) in parts.iter_mut().enumerate() {
        let begin = i;
        while let Some(d) = text.get(i).filter(|b| b.is_ascii_digit()) {
            *part = part.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            i += 1;
        }
        if i == begin {
            return None;
        }
        if k < 2 {
            if text.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
        }
    }
    Some((parts[0] as usize, parts[1], parts[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(parse_stamp(b"3:17:123456 xxx"), Some((3, 17, 123456)));
        assert_eq!(parse_stamp(b"3:17"), None);
        assert_eq!(parse_stamp(b"w3:17:1"), None);
        assert_eq!(parse_stamp(b"3:17:99999999999999999999999"), None);
    }

    #[test]
    fn classifies_frames() {
        let mut out = Outcome { deliveries: Deliveries::new(2), ..Default::default() };
        let msg = br#"{"type":"message","id":1,"name":"b0","text":"1:0:100 xx","ts":"t"}"#;
        on_text(msg, 600, &mut out);
        on_text(br#"{"type":"message","id":2,"name":"b0","text":"w1:0 x","ts":"t"}"#, 0, &mut out);
        on_text(br#"{"type":"users","users":["b0"]}"#, 0, &mut out);
        on_text(br#"{"type":"error","code":"rate_limited"}"#, 0, &mut out);
        on_text(br#"{"type":"message","id":3,"name":"x","text":"hi","ts":"t"}"#, 0, &mut out);
        assert_eq!(out.deliveries.unique, 1);
        assert_eq!(out.deliveries.latency.max(), 500);
        assert_eq!((out.warmup, out.other_frames, out.error_events, out.unparsed), (1, 1, 1, 1));
    }

    #[test]
    fn connect_frames_and_presence() {
        let mut out = Outcome { awaiting: awaited(3), ..Default::default() };
        on_text(br#"{"type":"hello","name":"b0"}"#, 10, &mut out);
        on_text(br#"{"type":"join","name":"b1","ts":"t"}"#, 20, &mut out);
        on_text(br#"{"type":"history","epoch":"e","messages":[]}"#, 30, &mut out);
        assert_eq!(out.ready_at, None);
        on_text(br#"{"type":"users","users":["b0"]}"#, 40, &mut out);
        assert_eq!(out.ready_at, Some(40));
        on_text(br#"{"type":"users","users":["b0","b2"]}"#, 50, &mut out);
        assert_eq!(out.ready_at, Some(40));
        assert_eq!(out.presence_frames, 2);
        let join = br#"{"type":"join","name":"b1","ts":"t"}"#.len();
        let users = br#"{"type":"users","users":["b0","b2"]}"#.len();
        assert_eq!(out.presence_bytes, (join + 2 + users + 2) as u64);
        let mut peer = Outcome { awaiting: awaited(1), ..Default::default() };
        on_text(br#"{"name":"b0","type":"hello"}"#, 7, &mut peer);
        assert_eq!(peer.ready_at, Some(7));
    }
}
