//! What one reading client saw: each text frame it received, classified as a measured message
//! (checked for loss, duplicates and order), a warm-up one, a connect frame, presence, or a frame
//! of a room the client is not in (foreign).
//!
//! Every event of the server names its room (`{"type":"message","room":"r7",…}`); an event
//! without one (the references, which have no rooms) belongs to the default room. A client
//! listens in one room, its [`Home`]: the default room, or with `--rooms` the room it enters once
//! it has its welcome, leaving the default room at the same time. The frames it waits for:
//!
//! ```text
//! hello                                the welcome: HELLO, HISTORY, USERS
//! history  general                     (a join of its own no longer comes: joins go to the
//! users    general                      room's others only)
//! -> subscribe r7, unsubscribe general  with --rooms: ROOM_HISTORY, ROOM_USERS
//! history  r7
//! users    r7                          ready
//! ```

use crate::args::DEFAULT_ROOM;
use crate::client;
use crate::stats::Deliveries;
use crate::text::Body;

/// The room a client listens in, and which senders speak there.
#[derive(Debug, Clone)]
pub struct Home {
    /// The room's name: the default room, or `r<group>`.
    pub room: String,
    /// The room's index; sender `k` speaks in the room of index `k % groups`.
    pub group: usize,
    pub groups: usize,
}

impl Default for Home {
    fn default() -> Home {
        Home { room: DEFAULT_ROOM.to_string(), group: 0, groups: 1 }
    }
}

/// What one reading client saw.
#[derive(Default)]
pub struct Outcome {
    pub home: Home,
    pub deliveries: Deliveries,
    pub warmup: u64,
    pub other_frames: u64,
    pub error_events: u64,
    pub unparsed: u64,
    /// Events of a room this client is not in, and messages of a sender who speaks elsewhere.
    pub foreign: u64,
    /// Messages of its room whose id was not above the one before (ids strictly increase
    /// within a room).
    pub id_out_of_order: u64,
    last_id: Option<u64>,
    pub close_code: Option<u16>,
    pub eof: bool,
    pub io_error: Option<String>,
    pub complete: bool,
    /// The connect frames still awaited (the bits below); when the last comes, `ready_at`.
    pub awaiting: u8,
    /// The connect frames seen: a later `users` of the same room is presence.
    seen: u8,
    /// The subscription to its room has been sent.
    entering: bool,
    pub ready_at: Option<u64>,
    /// Presence frames: `join`, `leave`, and every `users` of a room after the first; their bytes
    /// on the wire (payload and frame header).
    pub presence_frames: u64,
    pub presence_bytes: u64,
    /// The body each measured message should carry after its stamp; `None`: not checked.
    pub body: Option<Body>,
    /// Measured messages whose text was not the one sent.
    pub mismatched: u64,
    /// Of the measured messages, counted once each (duplicates aside): their frames' bytes on
    /// the wire (headers and payloads as received), their JSON's bytes (inflated), and how many
    /// came compressed. Kept by the reader, which sees the frames (`chat/read.rs`).
    pub message_wire: u64,
    pub message_json: u64,
    pub compressed: u64,
}

impl Outcome {
    /// A client of `home` that reads the messages of `senders` senders and awaits the connect
    /// frames `awaiting` (see [`awaited`]).
    pub fn new(home: Home, senders: usize, awaiting: u8) -> Outcome {
        Outcome { home, deliveries: Deliveries::new(senders), awaiting, ..Default::default() }
    }

    /// The frames that take this client into its room, when it is time to send them (once,
    /// after the welcome): subscribe to the room, then unsubscribe from the default room.
    pub fn entry(&mut self) -> Option<[String; 2]> {
        let due = self.awaiting & ENTRY != 0 && self.awaiting & WELCOME == 0 && !self.entering;
        if !due {
            return None;
        }
        self.entering = true;
        Some([
            format!(r#"{{"type":"subscribe","room":"{}"}}"#, self.home.room),
            format!(r#"{{"type":"unsubscribe","room":"{DEFAULT_ROOM}"}}"#),
        ])
    }

    /// True for the rooms this client hears from: the default room (until it leaves it) and
    /// its own.
    fn hears(&self, room: &[u8]) -> bool {
        room == DEFAULT_ROOM.as_bytes() || room == self.home.room.as_bytes()
    }
}

/// The frames a client waits for on connect: hello (1), then history (2), then users (3); with
/// `enters`, then its room's history and users.
pub fn awaited(initial_frames: usize, enters: bool) -> u8 {
    let welcome = match initial_frames {
        0 => 0,
        1 => HELLO,
        2 => HELLO | HISTORY,
        _ => HELLO | HISTORY | USERS,
    };
    if enters { welcome | ENTRY } else { welcome }
}

/// A text frame: a measured message, a warm-up one, or another event.
pub fn on_text(payload: &[u8], now: u64, out: &mut Outcome) {
    if payload.starts_with(br#"{"type":"error""#) {
        out.error_events += 1;
        return;
    }
    let room = room_of(payload);
    if !payload.starts_with(br#"{"type":"message""#) {
        out.other_frames += 1;
        if out.hears(room) {
            connect_frame(payload, room, now, out);
        } else {
            out.foreign += 1;
        }
        return;
    }
    if room != out.home.room.as_bytes() {
        out.foreign += 1;
        return;
    }
    if let Some(id) = number_after(payload, br#""id":"#) {
        if out.last_id.is_some_and(|last| id <= last) {
            out.id_out_of_order += 1;
        }
        out.last_id = Some(id);
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
        Some((sender, ..)) if sender % out.home.groups != out.home.group => out.foreign += 1,
        Some((sender, seq, sent)) if out.deliveries.record(sender, seq, sent, now) => {
            // Room names and our texts hold no quote: the next one ends the JSON string.
            let end = text.iter().position(|&b| b == b'"').unwrap_or(text.len());
            if out.body.is_some_and(|body| !body.matches(sender, seq, &text[..end])) {
                out.mismatched += 1;
            }
        }
        _ => out.unparsed += 1,
    }
}

/// Keeps count of the connect frames (hello, then each room's history and first users) and of
/// presence, for an event of `room`, a room this client hears from.
fn connect_frame(payload: &[u8], room: &[u8], now: u64, out: &mut Outcome) {
    let was = out.awaiting;
    let default = room == DEFAULT_ROOM.as_bytes();
    let is = |kind: &[u8]| payload.starts_with(kind);
    // The Go reference writes its keys sorted (`{"name":…,"type":"hello"}`).
    let bit = if is(br#"{"type":"hello""#) || client::find(payload, br#""type":"hello""#).is_some()
    {
        HELLO
    } else if is(br#"{"type":"history""#) {
        if default { HISTORY } else { ROOM_HISTORY }
    } else if is(br#"{"type":"users""#) {
        if default { USERS } else { ROOM_USERS }
    } else {
        0
    };
    if bit != 0 && out.seen & bit == 0 {
        out.seen |= bit;
        out.awaiting &= !bit;
    } else if is(br#"{"type":"users""#)
        || is(br#"{"type":"join""#)
        || is(br#"{"type":"leave""#)
        || is(br#"{"type":"presence""#)
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

/// The room an event names: its `"room"`, which our server writes right after `"type"`; the
/// default room when there is none within the first [`ROOM_WITHIN`] bytes (the references).
fn room_of(payload: &[u8]) -> &[u8] {
    let head = &payload[..payload.len().min(ROOM_WITHIN)];
    let Some(at) = client::find(head, br#""room":""#) else { return DEFAULT_ROOM.as_bytes() };
    let rest = &payload[at + 8..];
    // Room names are `a-z 0-9 - _`: nothing escaped, the next quote ends it.
    &rest[..rest.iter().position(|&b| b == b'"').unwrap_or(rest.len())]
}

/// The decimal number right after `key`, if there is one.
fn number_after(payload: &[u8], key: &[u8]) -> Option<u64> {
    let at = client::find(payload, key)? + key.len();
    let digits = payload[at..].iter().take_while(|b| b.is_ascii_digit());
    let mut n = 0u64;
    let mut any = false;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(n)
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

const HELLO: u8 = 1;
const HISTORY: u8 = 2;
const USERS: u8 = 4;
const ROOM_HISTORY: u8 = 8;
const ROOM_USERS: u8 = 16;
/// The connect frames of the default room.
const WELCOME: u8 = HELLO | HISTORY | USERS;
/// The answer to the subscription to its own room.
const ENTRY: u8 = ROOM_HISTORY | ROOM_USERS;
/// `{"type":"history","room":"` and a room name of at most 32 characters fit well within this.
const ROOM_WITHIN: usize = 80;

#[cfg(test)]
mod tests {
    use websocketchat::chat::protocol::{Chat, Place, ServerEvent};
    use websocketchat::chat::room::RoomName;
    use websocketchat::chat::session::UserId;

    use super::*;

    // The frames as the server encodes them.
    fn hello(name: &str) -> Vec<u8> {
        let hello = ServerEvent::Hello {
            session: "AAAAAAAAAAAAAAAAAAAAAA",
            user: UserId::NOBODY,
            name,
            requested: None,
            max_message_bytes: 4096,
            rate_limit_per_sec: 10,
            default_room: DEFAULT_ROOM,
            max_rooms_per_connection: 16,
            unread_dms: vec![],
            op: false,
        };
        hello.to_json().into_bytes()
    }

    fn history(room: &str) -> Vec<u8> {
        let history = ServerEvent::History {
            room: Some(room),
            dm: None,
            user: None,
            epoch: "e",
            messages: vec![],
            complete: true,
            read: None,
        };
        history.to_json().into_bytes()
    }

    fn users(room: &str, users: &[&str]) -> Vec<u8> {
        ServerEvent::Users { room, users: users.to_vec(), ops: vec![] }.to_json().into_bytes()
    }

    fn join(room: &str, name: &str) -> Vec<u8> {
        ServerEvent::Join { room, name, user: None, op: false, ts: "t" }.to_json().into_bytes()
    }

    fn message(room: &str, id: u64, text: &str) -> Vec<u8> {
        let place = Place::Room(RoomName::parse(room).unwrap());
        let (user, name, ts) = (UserId::NOBODY, "b0".into(), "t".into());
        let body = websocketchat::chat::entry::Body::text(text);
        let chat = Chat { place, id, user, name, ts, body };
        ServerEvent::Entry(&chat).to_json().into_bytes()
    }

    fn in_room(room: &str, group: usize, groups: usize, senders: usize) -> Outcome {
        let home = Home { room: room.into(), group, groups };
        Outcome::new(home, senders, awaited(3, room != DEFAULT_ROOM))
    }

    #[test]
    fn stamps() {
        assert_eq!(parse_stamp(b"3:17:123456 xxx"), Some((3, 17, 123456)));
        assert_eq!(parse_stamp(b"3:17"), None);
        assert_eq!(parse_stamp(b"w3:17:1"), None);
        assert_eq!(parse_stamp(b"3:17:99999999999999999999999"), None);
    }

    #[test]
    fn rooms_and_ids_are_read_from_the_frame() {
        assert_eq!(room_of(&message("r7", 3, "x")), b"r7");
        assert_eq!(room_of(&history("r-_9")), b"r-_9");
        assert_eq!(room_of(&hello("b0")), DEFAULT_ROOM.as_bytes(), "default_room is not room");
        assert_eq!(room_of(br#"{"type":"message","id":1,"text":"x"}"#), DEFAULT_ROOM.as_bytes());
        assert_eq!(number_after(&message("r7", 42, "x"), br#""id":"#), Some(42));
        assert_eq!(number_after(br#"{"id":"x"}"#, br#""id":"#), None);
    }

    #[test]
    fn classifies_frames() {
        let mut out = in_room(DEFAULT_ROOM, 0, 1, 2);
        on_text(&message(DEFAULT_ROOM, 1, "1:0:100 xx"), 600, &mut out);
        on_text(&message(DEFAULT_ROOM, 2, "w1:0 x"), 0, &mut out);
        on_text(&users(DEFAULT_ROOM, &["b0"]), 0, &mut out);
        on_text(br#"{"type":"error","code":"rate_limited","message":"m"}"#, 0, &mut out);
        on_text(&message(DEFAULT_ROOM, 3, "hi"), 0, &mut out);
        // The references: no room, no id.
        on_text(br#"{"type":"message","name":"b1","text":"0:0:100 x","ts":"t"}"#, 300, &mut out);
        assert_eq!(out.deliveries.unique, 2);
        assert_eq!(out.deliveries.latency.max(), 500);
        assert_eq!((out.warmup, out.other_frames, out.error_events, out.unparsed), (1, 1, 1, 1));
        assert_eq!((out.foreign, out.id_out_of_order), (0, 0));
    }

    #[test]
    fn texts_are_checked() {
        let mut out = in_room(DEFAULT_ROOM, 0, 1, 2);
        out.body = Some(Body::Chat);
        let mut text = Vec::new();
        Body::Chat.write(1, 4, "1:4:100 ", &mut text);
        let text = String::from_utf8(text).unwrap();
        on_text(&message(DEFAULT_ROOM, 1, &text), 200, &mut out);
        on_text(&message(DEFAULT_ROOM, 2, &text.replace("1:4:", "1:5:")), 200, &mut out);
        // A second copy is a duplicate, and checked all the same.
        on_text(&message(DEFAULT_ROOM, 3, &text[..text.len() - 1]), 200, &mut out);
        assert_eq!((out.deliveries.unique, out.deliveries.duplicated, out.mismatched), (2, 1, 2));
        out.body = Some(Body::Padding(12));
        on_text(&message(DEFAULT_ROOM, 4, "0:0:100 xxxx"), 200, &mut out);
        on_text(&message(DEFAULT_ROOM, 5, "0:1:100 xxx"), 200, &mut out);
        assert_eq!((out.deliveries.unique, out.mismatched), (4, 3));
    }

    #[test]
    fn connect_frames_and_presence() {
        // What a newcomer gets: hello, history, users; others' joins, never its own.
        let mut out = in_room(DEFAULT_ROOM, 0, 1, 0);
        on_text(&hello("b0"), 10, &mut out);
        on_text(&history(DEFAULT_ROOM), 30, &mut out);
        assert_eq!(out.ready_at, None);
        on_text(&users(DEFAULT_ROOM, &["b0"]), 40, &mut out);
        assert_eq!(out.ready_at, Some(40));
        assert_eq!(out.entry(), None, "stays in the default room");
        on_text(&users(DEFAULT_ROOM, &["b0", "b2"]), 50, &mut out);
        on_text(&join(DEFAULT_ROOM, "b2"), 50, &mut out);
        assert_eq!(out.ready_at, Some(40));
        assert_eq!(out.presence_frames, 2);
        let (u, j) = (users(DEFAULT_ROOM, &["b0", "b2"]).len(), join(DEFAULT_ROOM, "b2").len());
        assert_eq!(out.presence_bytes, (u + 2 + j + 2) as u64);
        let mut peer = Outcome::new(Home::default(), 0, awaited(1, false));
        on_text(br#"{"name":"b0","type":"hello"}"#, 7, &mut peer);
        assert_eq!(peer.ready_at, Some(7));
    }

    #[test]
    fn a_client_enters_its_room_after_the_welcome() {
        let mut out = in_room("r7", 7, 100, 200);
        on_text(&hello("b7"), 10, &mut out);
        on_text(&history(DEFAULT_ROOM), 20, &mut out);
        assert_eq!(out.entry(), None, "not before the welcome's users");
        on_text(&users(DEFAULT_ROOM, &["b0", "b7"]), 30, &mut out);
        let [subscribe, unsubscribe] = out.entry().expect("the welcome is complete");
        assert_eq!(subscribe, r#"{"type":"subscribe","room":"r7"}"#);
        assert_eq!(unsubscribe, r#"{"type":"unsubscribe","room":"general"}"#);
        assert_eq!(out.entry(), None, "once");
        on_text(&join(DEFAULT_ROOM, "b9"), 35, &mut out);
        on_text(&history("r7"), 40, &mut out);
        assert_eq!(out.ready_at, None);
        on_text(&users("r7", &["b107", "b7"]), 50, &mut out);
        assert_eq!(out.ready_at, Some(50));
        on_text(&join("r7", "b207"), 55, &mut out);
        on_text(&users("r7", &["b107", "b207", "b7"]), 55, &mut out);
        assert_eq!((out.presence_frames, out.foreign), (3, 0));
    }

    #[test]
    fn other_rooms_are_foreign() {
        let mut out = in_room("r7", 7, 100, 200);
        on_text(&message("r7", 5, "7:0:100 x"), 200, &mut out);
        on_text(&message("r7", 9, "107:0:100 x"), 200, &mut out);
        assert_eq!((out.deliveries.unique, out.foreign), (2, 0));
        // Another room's message, labelled as such or as ours, and another room's presence.
        on_text(&message("r3", 10, "3:0:100 x"), 200, &mut out);
        on_text(&message("r7", 11, "3:1:100 x"), 200, &mut out);
        on_text(&message(DEFAULT_ROOM, 12, "0:0:100 x"), 200, &mut out);
        on_text(&users("r3", &["b3"]), 200, &mut out);
        assert_eq!((out.deliveries.unique, out.foreign), (2, 4));
        // Ids strictly increase within the room.
        on_text(&message("r7", 13, "7:1:100 x"), 200, &mut out);
        on_text(&message("r7", 13, "7:2:100 x"), 200, &mut out);
        assert_eq!((out.deliveries.unique, out.id_out_of_order), (4, 1));
    }
}
