//! The wire inspector: a client that sends `{"type":"inspect","on":true}` is shown every frame
//! of its own connection, field by field, as the bytes that crossed the wire. A browser's
//! WebSocket API hides frames (their masks, opcodes, length forms, pings and closes); this shows
//! them to the person learning RFC 6455 with the page's "Wire" panel.
//!
//! ```text
//! client ──frame──▶ ws/stream.rs ──bytes read──▶ Outbound::tap_read ──▶ Cutter ──▶ Inspector::seen
//! client ◀──frame── Outbound::send / queue (broadcaster; pongs; errors) ──▶ Tapped::wrote ──▶ Inspector::seen
//!                                 Inspector::seen ──{"type":"frame",…}──▶ the same client only
//! ```
//! The tap lives in the connection's own `Outbound`, so no connection can see another's frames;
//! the events it sends are not tapped (no recursion). At most `INSPECT_MAX_EVENTS_PER_SEC` events
//! a second; the frames beyond that are counted in one `frame_skipped` event when the second is
//! over (the broadcaster's once-a-second tick sends it if no frame does). Switched off (the
//! default) it costs one flag read per read, per send and per tick.
//!
//! On a connection that agreed to permessage-deflate (RFC 7692), a compressed message's first
//! frame has RSV1 set and `"compressed":true`; its final frame (often the same one) adds the
//! message's compressed and inflated lengths and its text inflated (`ws/tap/compressed.rs`). The
//! `handshake` event shows the extension's negotiation beside the subprotocol's.

use std::time::{Duration, Instant};

use serde::Serialize;
use tungstenite::Bytes;

use crate::chat::protocol::SUBPROTOCOLS;
use crate::chat::session::SESSION_PARAM;
use crate::http::Request as HttpRequest;
use crate::http::request::list_elements;
use crate::ws::deflate::{self, offer::EXTENSIONS_HEADER};
use crate::ws::frame::{self, Opcode, hex, unmask};
use crate::ws::handshake::{self, PROTOCOL_HEADER, WS_GUID, accept_steps, switching_protocols};
use crate::ws::tap::{Compressed, Dir, PREFIX, Seen, Tap};

/// A connection's inspector: turns frames seen into events, within the rate.
#[derive(Debug)]
pub struct Inspector {
    /// Events a second at most.
    limit: u32,
    /// When the current second began.
    window: Instant,
    /// Events sent in it.
    sent: u32,
    /// Frames not shown since the last `frame_skipped`.
    skipped: u64,
}

impl Inspector {
    /// An inspector sending at most `limit` events a second.
    pub fn new(limit: u32) -> Inspector {
        Inspector { limit, window: Instant::now(), sent: 0, skipped: 0 }
    }
}

impl Inspector {
    /// Starts a new second once the current one is over, first counting what it skipped.
    fn next_second(&mut self, now: Instant, events: &mut Vec<Bytes>) {
        if now.duration_since(self.window) < Duration::from_secs(1) {
            return;
        }
        if self.skipped > 0 {
            let count = std::mem::take(&mut self.skipped);
            let skipped = format!(r#"{{"type":"frame_skipped","count":{count}}}"#);
            events.push(frame::text(skipped));
        }
        (self.window, self.sent) = (now, 0);
    }
}

impl Tap for Inspector {
    fn tick(&mut self, events: &mut Vec<Bytes>) {
        self.next_second(Instant::now(), events);
    }

    fn seen(&mut self, seen: Seen<'_>, events: &mut Vec<Bytes>) {
        self.next_second(Instant::now(), events);
        if self.sent >= self.limit {
            self.skipped += 1;
            return;
        }
        self.sent += 1;
        events.push(frame::text(frame_event(&seen).to_json()));
    }
}

/// The `frame` event: its fields in the order of the §5.2 diagram, after `type` and `dir`.
#[derive(Debug, Default, Serialize)]
pub struct FrameEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    dir: &'static str,
    fin: bool,
    rsv: [bool; 3],
    /// RSV1 again, by its name: "compressed" on a message's first frame, once permessage-deflate
    /// is agreed (RFC 7692 §6).
    rsv1: bool,
    /// The first frame of a compressed message.
    compressed: bool,
    opcode: u8,
    opname: &'static str,
    masked: bool,
    mask: Option<String>,
    len: u64,
    len_form: &'static str,
    header: String,
    payload_wire: String,
    payload: String,
    truncated: bool,
    /// A close frame's status code and reason (§5.5.1), when its payload is all here.
    #[serde(skip_serializing_if = "Option::is_none")]
    close_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    close_reason: Option<String>,
    /// On a compressed message's final frame: its compressed payload bytes, every frame's.
    #[serde(skip_serializing_if = "Option::is_none")]
    compressed_len: Option<u64>,
    /// … its payload's bytes once inflated, and that payload (as text, or hex for binary).
    #[serde(skip_serializing_if = "Option::is_none")]
    inflated_len: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inflated: Option<String>,
    /// … or why it is not shown inflated.
    #[serde(skip_serializing_if = "Option::is_none")]
    not_inflated: Option<String>,
}

/// The `frame` event for a frame seen.
pub fn frame_event(seen: &Seen<'_>) -> FrameEvent {
    let header = &seen.header;
    let payload = unmask(seen.payload, header.mask);
    let whole_close =
        header.opcode == Opcode::Close && payload.len() >= 2 && header.len == payload.len() as u64;
    FrameEvent {
        kind: "frame",
        dir: match seen.dir {
            Dir::In => "in",
            Dir::Out => "out",
        },
        fin: header.fin,
        rsv: header.rsv,
        rsv1: header.rsv[0],
        compressed: seen.compressed.is_some_and(|c| c.first),
        opcode: header.opcode.as_u8(),
        opname: header.opcode.name(),
        masked: header.mask.is_some(),
        mask: header.mask.map(|m| hex(&m).replace(' ', "")),
        len: header.len,
        len_form: header.len_form.as_str(),
        header: hex(seen.header_bytes),
        payload_wire: hex(seen.payload),
        payload: hex(&payload),
        truncated: header.len > PREFIX as u64,
        close_code: whole_close.then(|| u16::from_be_bytes([payload[0], payload[1]])),
        close_reason: whole_close.then(|| String::from_utf8_lossy(&payload[2..]).into_owned()),
        ..inflated(seen.compressed)
    }
}

/// The fields of a compressed message's final frame; none on other frames.
fn inflated(compressed: Option<Compressed<'_>>) -> FrameEvent {
    let mut fields = FrameEvent::default();
    let Some(Compressed { opcode, len, inflated: Some(inflated), .. }) = compressed else {
        return fields;
    };
    fields.compressed_len = Some(len);
    match inflated {
        Ok(bytes) => {
            fields.inflated_len = Some(bytes.len() as u64);
            fields.inflated = Some(match opcode {
                Opcode::Text => String::from_utf8_lossy(bytes).into_owned(),
                _ => hex(bytes),
            });
        }
        Err(why) => fields.not_inflated = Some(why.why()),
    }
    fields
}

impl FrameEvent {
    /// As JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("plain fields")
    }
}

/// This connection's opening handshake as the inspector shows it: the request it sent (with its
/// session replaced by `…`), kept from the upgrade, and whether `COMPRESSION` was on, which
/// with the request's offers decides the extension as the upgrade did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    request: Box<str>,
    compression: bool,
}

impl Handshake {
    /// Keeps `request`'s head as text, without the session it may carry (in the query or the
    /// `wschat_session` cookie) or any `Authorization`. The query is shown as sent, so a key is
    /// compared after decoding it as the server does (`%73ession` is `session`): every value
    /// the server could read as a session is hidden, however it was written. `compression` is
    /// `COMPRESSION`.
    pub fn of(request: &HttpRequest, compression: bool) -> Handshake {
        // One allocation of the right size and no temporaries: every chat connection keeps
        // this for its life, and short-lived allocations on its thread would leave holes in the
        // heap that the connection then pays for too (docs/benchmarks-history.md, issue 16).
        let HttpRequest { method, path, query, version, headers } = request;
        let fields: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4 + HIDDEN.len()).sum();
        let pairs = query.split('&').count() * HIDDEN.len();
        let mut text =
            String::with_capacity(method.len() + path.len() + query.len() + pairs + fields + 16);
        text.push_str(method);
        text.push(' ');
        text.push_str(path);
        for (i, pair) in query.split('&').filter(|_| !query.is_empty()).enumerate() {
            text.push(if i == 0 { '?' } else { '&' });
            match pair.split_once('=') {
                Some((key, _)) if names(key, SESSION_PARAM) => {
                    push_all(&mut text, &[key, "=", HIDDEN])
                }
                _ => text.push_str(pair),
            }
        }
        push_all(&mut text, &[" HTTP/1.", if *version == 0 { "0" } else { "1" }, "\r\n"]);
        for (name, value) in headers {
            push_all(&mut text, &[name, ": "]);
            if name.eq_ignore_ascii_case("authorization") {
                text.push_str(HIDDEN);
            } else if name.eq_ignore_ascii_case("cookie") {
                push_cookie(&mut text, value);
            } else {
                text.push_str(value);
            }
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        Handshake { request: text.into_boxed_str(), compression }
    }

    /// The `handshake` event: the request, the key's road to `Sec-WebSocket-Accept` (§4.2.2
    /// item 5.4: base64 of the SHA-1 of the key and the GUID), the subprotocols offered and the
    /// one chosen (§4.2.2 item 5.5, by the server's own rule: `handshake::choose` with the chat's
    /// names), the extensions offered and the one accepted (§9.1, RFC 7692 §5, by
    /// `deflate::negotiate` as the upgrade ran it), and the `101` we answered.
    pub fn event(&self) -> String {
        let value = |wanted: &'static str| {
            self.request.lines().filter_map(move |line| {
                let (name, value) = line.split_once(':')?;
                name.trim().eq_ignore_ascii_case(wanted).then(|| value.trim())
            })
        };
        let key = value("sec-websocket-key").next().unwrap_or_default();
        let (sha1, accept) = accept_steps(key);
        let offers = list_elements(value(PROTOCOL_HEADER));
        let choice = handshake::choose(offers.clone(), SUBPROTOCOLS);
        let extensions = list_elements(value(EXTENSIONS_HEADER));
        let negotiation = deflate::negotiate(extensions.clone(), self.compression);
        let accepted = negotiation.agreed.map(|agreed| agreed.response());
        let head = switching_protocols(&accept, choice.name(), accepted.as_deref());
        let response = String::from_utf8_lossy(&head).into_owned();
        let event = HandshakeEvent {
            kind: "handshake",
            request: &self.request,
            key,
            guid: WS_GUID,
            sha1: hex(&sha1).replace(' ', ""),
            accept,
            subprotocol: SubprotocolEvent {
                offered: offers.collect(),
                chosen: choice.name(),
                why: choice.why(),
            },
            extensions: ExtensionsEvent {
                offered: extensions.collect(),
                accepted,
                why: negotiation.why,
            },
            response,
        };
        serde_json::to_string(&event).expect("plain fields")
    }
}

/// The `handshake` event, its fields in the order of the steps.
#[derive(Serialize)]
struct HandshakeEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    request: &'a str,
    key: &'a str,
    guid: &'static str,
    sha1: String,
    accept: String,
    subprotocol: SubprotocolEvent<'a>,
    extensions: ExtensionsEvent<'a>,
    response: String,
}

/// The subprotocol negotiation (RFC 6455 §1.9): what the client offered, in its order, what the
/// server chose (`null`: none), and why.
#[derive(Serialize)]
struct SubprotocolEvent<'a> {
    offered: Vec<&'a str>,
    chosen: Option<&'static str>,
    why: &'static str,
}

/// The extension negotiation (RFC 6455 §9.1, RFC 7692 §5): the offers, in the client's order
/// and as it wrote them, the `Sec-WebSocket-Extensions` value of the `101` (`null`: none), and
/// why.
#[derive(Serialize)]
struct ExtensionsEvent<'a> {
    offered: Vec<&'a str>,
    accepted: Option<String>,
    why: String,
}

/// What a secret is shown as.
const HIDDEN: &str = "…";

fn push_all(text: &mut String, parts: &[&str]) {
    for part in parts {
        text.push_str(part);
    }
}

/// A `Cookie` header's pairs, the session's value hidden.
fn push_cookie(text: &mut String, header: &str) {
    for (i, pair) in header.split(';').enumerate() {
        if i > 0 {
            text.push_str("; ");
        }
        match pair.trim().split_once('=') {
            Some((name, _)) if names(name, SESSION_COOKIE) => push_all(text, &[name, "=", HIDDEN]),
            _ => text.push_str(pair.trim()),
        }
    }
}

/// Does a query key (or cookie name) as sent name `wanted`? Decoded as the server reads a query
/// (`%73` is `s`, `+` a space), then without surrounding space and case: wider than what the
/// server accepts, so that no spelling it accepts, today or after a change, is ever shown.
fn names(raw: &str, wanted: &str) -> bool {
    // Borrowed, not copied, unless the key has a `%` or a `+` in it.
    let key = form_urlencoded::parse(raw.as_bytes()).next().map(|(key, _)| key);
    key.is_some_and(|key| key.trim().eq_ignore_ascii_case(wanted))
}

/// A cookie name the inspector hides. A session is never read from a cookie (anyone who can set
/// one for the host could choose a browser's session), but a client may still send one.
pub const SESSION_COOKIE: &str = "wschat_session";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    use crate::ws::deflate::Compressor;
    use crate::ws::frame::Header;
    use crate::ws::tap::Tapped;

    fn parsed(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    /// The JSON of an event's frame.
    fn event_of(frame: &[u8]) -> Value {
        let header = Header::read(frame).unwrap();
        serde_json::from_slice(&frame[header.size..]).unwrap()
    }

    fn seen<'a>(dir: Dir, frame: &'a [u8]) -> Seen<'a> {
        let header = Header::read(frame).unwrap();
        let payload = &frame[header.size..];
        Seen {
            dir,
            header,
            header_bytes: &frame[..header.size],
            payload: &payload[..payload.len().min(PREFIX)],
            compressed: None,
        }
    }

    #[test]
    fn the_masked_hello_of_rfc_6455_section_5_7() {
        let frame = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        let event = frame_event(&seen(Dir::In, &frame)).to_json();
        assert!(event.starts_with(r#"{"type":"frame","dir":"in","fin":true,"#), "{event}");
        assert_eq!(
            parsed(&event),
            json!({"type":"frame","dir":"in","fin":true,"rsv":[false,false,false],"rsv1":false,
                "compressed":false,"opcode":1,
                "opname":"text","masked":true,"mask":"37fa213d","len":5,"len_form":"7-bit",
                "header":"81 85 37 fa 21 3d","payload_wire":"7f 9f 4d 51 58",
                "payload":"48 65 6c 6c 6f","truncated":false})
        );
    }

    #[test]
    fn a_long_frame_shows_its_length_form_and_is_truncated() {
        let frame = frame::text("x".repeat(200));
        let event = parsed(&frame_event(&seen(Dir::Out, &frame)).to_json());
        assert_eq!(
            (event["len"].as_u64(), event["len_form"].as_str()),
            (Some(200), Some("16-bit"))
        );
        assert_eq!((event["masked"].as_bool(), &event["mask"]), (Some(false), &Value::Null));
        assert_eq!(event["truncated"], true);
        assert_eq!(event["payload"].as_str().unwrap().len(), PREFIX * 3 - 1);
    }

    #[test]
    fn a_close_frame_shows_its_code_and_reason() {
        let event = parsed(&frame_event(&seen(Dir::Out, &frame::close(1001, "bye"))).to_json());
        assert_eq!(
            (event["opname"].as_str(), event["close_code"].as_u64()),
            (Some("close"), Some(1001))
        );
        assert_eq!(event["close_reason"], "bye");
    }

    #[test]
    fn beyond_the_rate_frames_are_counted_not_shown() {
        let mut inspector = Inspector::new(2);
        let ping = frame::ping(b"hi");
        let mut events = Vec::new();
        for _ in 0..5 {
            inspector.seen(seen(Dir::Out, &ping), &mut events);
        }
        assert_eq!((events.len(), inspector.skipped), (2, 3));
        inspector.window -= Duration::from_secs(1);
        inspector.seen(seen(Dir::Out, &ping), &mut events);
        let skipped = String::from_utf8_lossy(&events[2][2..]).into_owned();
        assert_eq!(skipped, r#"{"type":"frame_skipped","count":3}"#);
        assert_eq!(events.len(), 4, "the count, then the frame of the new second");
        // With no frame after the second, the tick counts them.
        for _ in 0..3 {
            inspector.seen(seen(Dir::Out, &ping), &mut events);
        }
        inspector.tick(&mut events);
        assert_eq!(events.len(), 5, "the second is not over");
        inspector.window -= Duration::from_secs(1);
        inspector.tick(&mut events);
        let skipped = String::from_utf8_lossy(&events[5][2..]).into_owned();
        assert_eq!(skipped, r#"{"type":"frame_skipped","count":2}"#);
    }

    #[test]
    fn the_handshake_hides_the_session_and_shows_the_accept_steps() {
        let request = HttpRequest {
            method: "GET".into(),
            path: "/ws".into(),
            query: "name=ann&session=SECRETSECRETSECRETSECR".into(),
            version: 1,
            headers: vec![
                ("Host".into(), "localhost".into()),
                // RFC 6455 §1.3's example key.
                ("Sec-WebSocket-Key".into(), "dGhlIHNhbXBsZSBub25jZQ==".into()),
                ("Cookie".into(), "theme=dark; wschat_session=SECRETSECRETSECRETSECR".into()),
            ],
        };
        let text = Handshake::of(&request, true).event();
        let event = parsed(&text);
        assert!(!text.contains("SECRET"), "{text}");
        assert_eq!(
            event["request"],
            "GET /ws?name=ann&session=… HTTP/1.1\r\nHost: localhost\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Cookie: theme=dark; wschat_session=…\r\n\r\n"
        );
        assert_eq!(event["accept"], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(event["sha1"], "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
        assert!(event["response"].as_str().unwrap().starts_with("HTTP/1.1 101 Switching"));
        assert!(!event["response"].as_str().unwrap().contains("Sec-WebSocket-Protocol"));
        let none = serde_json::json!({"offered": [], "chosen": null, "why": "none offered"});
        assert_eq!(event["subprotocol"], none);
    }

    #[test]
    fn the_handshake_shows_the_subprotocol_offers_and_the_choice() {
        let event = |offers: &[&str]| offering("sec-websocket-protocol", offers, true);
        let chosen = event(&["other, wschat.v1", "more"]);
        assert_eq!(
            chosen["subprotocol"],
            serde_json::json!({"offered": ["other", "wschat.v1", "more"], "chosen": "wschat.v1",
                               "why": "offered and spoken"})
        );
        let response = chosen["response"].as_str().unwrap();
        assert!(response.ends_with("\r\nSec-WebSocket-Protocol: wschat.v1\r\n\r\n"), "{response}");
        let spoken = event(&["other", "WSCHAT.V1"]);
        assert_eq!(spoken["subprotocol"]["chosen"], serde_json::Value::Null);
        assert_eq!(spoken["subprotocol"]["why"], "none of the offers is spoken");
        assert!(!spoken["response"].as_str().unwrap().contains("Sec-WebSocket-Protocol"));
    }

    #[test]
    fn a_compressed_frame_shows_rsv1_its_lengths_and_its_text_inflated() {
        // RFC 7692 §7.2.3.1: "Hello" compressed, as the server writes it.
        let hello = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        let mut tapped = Tapped::new(Box::new(Inspector::new(10)), true);
        let mut events = Vec::new();
        tapped.wrote(&hello, &mut events);
        let event = event_of(&events[0]);
        assert_eq!(
            (&event["rsv"], &event["rsv1"], &event["compressed"]),
            (&json!([true, false, false]), &json!(true), &json!(true))
        );
        assert_eq!(event["payload_wire"], "f2 48 cd c9 c9 07 00", "the bytes on the wire");
        assert_eq!(
            (&event["compressed_len"], &event["inflated_len"], &event["inflated"]),
            (&json!(7), &json!(5), &json!("Hello"))
        );
        assert_eq!(event.get("not_inflated"), None);
        // The same bytes on a connection that did not agree: RSV1 alone, nothing inflated.
        let mut plain = Tapped::new(Box::new(Inspector::new(10)), false);
        plain.wrote(&hello, &mut events);
        let event = event_of(&events[1]);
        assert_eq!((&event["rsv1"], &event["compressed"]), (&json!(true), &json!(false)));
        assert_eq!(event.get("inflated"), None);
        // A frame that is not a DEFLATE stream says so.
        let mut tapped = Tapped::new(Box::new(Inspector::new(10)), true);
        tapped.wrote(&[0xc1, 0x03, 0xff, 0xff, 0xff], &mut events);
        let event = event_of(&events[2]);
        assert_eq!((&event["compressed"], &event["compressed_len"]), (&json!(true), &json!(3)));
        assert_eq!(event["not_inflated"], "not a DEFLATE stream (RFC 7692 §7.2.2)");
    }

    #[test]
    fn a_compressed_message_read_in_fragments_is_inflated_on_its_final_frame() {
        let json = br#"{"type":"message","room":"general","text":"hello hello hello hello"}"#;
        let deflated = Compressor::new(usize::MAX).compress(json);
        let (start, end) = deflated.split_at(deflated.len() / 2);
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let frame = |byte0: u8, payload: &[u8]| {
            let mut frame = vec![byte0, 0x80 | payload.len() as u8];
            frame.extend(key);
            frame.extend(payload.iter().zip(key.iter().cycle()).map(|(b, k)| b ^ k));
            frame
        };
        let mut bytes = frame(0x41, start); // RSV1, text, no FIN
        bytes.extend(frame(0x80, end)); // FIN, continuation
        let mut tapped = Tapped::new(Box::new(Inspector::new(10)), true);
        let mut events = Vec::new();
        for byte in bytes.chunks(3) {
            tapped.read(byte, &mut events);
        }
        let events: Vec<Value> = events.iter().map(|e| event_of(e)).collect();
        assert_eq!(events.len(), 2);
        assert_eq!((&events[0]["compressed"], &events[0]["rsv1"]), (&json!(true), &json!(true)));
        assert_eq!(events[0].get("inflated"), None, "not before the final frame");
        assert_eq!(
            (&events[1]["compressed"], &events[1]["opname"]),
            (&json!(false), &json!("continuation"))
        );
        assert_eq!(events[1]["compressed_len"], deflated.len());
        assert_eq!(events[1]["inflated_len"], json.len());
        assert_eq!(events[1]["inflated"], String::from_utf8_lossy(json).as_ref());
    }

    /// The `handshake` event of a request with these `Sec-WebSocket-Extensions` headers.
    fn extensions(offers: &[&str], compression: bool) -> Value {
        offering("Sec-WebSocket-Extensions", offers, compression)
    }

    /// The `handshake` event of a request with one `header` line per offer, `COMPRESSION` as
    /// `compression` says.
    fn offering(header: &str, offers: &[&str], compression: bool) -> Value {
        let mut headers = vec![("Sec-WebSocket-Key".into(), "dGhlIHNhbXBsZSBub25jZQ==".into())];
        for offer in offers {
            headers.push((header.to_string(), offer.to_string()));
        }
        let request = HttpRequest {
            method: "GET".into(),
            path: "/ws".into(),
            query: String::new(),
            version: 1,
            headers,
        };
        parsed(&Handshake::of(&request, compression).event())
    }

    #[test]
    fn the_handshake_shows_a_browsers_extension_offer_accepted() {
        let event = extensions(&["permessage-deflate; client_max_window_bits"], true);
        let terms = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
        assert_eq!(
            event["extensions"],
            json!({"offered": ["permessage-deflate; client_max_window_bits"], "accepted": terms,
                   "why": "offered and accepted"})
        );
        let response = event["response"].as_str().unwrap();
        assert!(response.ends_with(&format!("\r\nSec-WebSocket-Extensions: {terms}\r\n\r\n")));
        // Two offers, the first declined (§7: a parameter it does not define), in two headers.
        let event = extensions(
            &["permessage-deflate; mystery, x-webkit-deflate-frame", "permessage-deflate"],
            true,
        );
        assert_eq!(
            event["extensions"]["offered"],
            json!(["permessage-deflate; mystery", "x-webkit-deflate-frame", "permessage-deflate"])
        );
        assert_eq!(event["extensions"]["accepted"], terms);
        assert!(
            event["extensions"]["why"].as_str().unwrap().starts_with("accepted after declining")
        );
    }

    #[test]
    fn the_handshake_shows_no_extension_when_none_is_offered_or_compression_is_off() {
        let none = extensions(&[], true);
        assert_eq!(
            none["extensions"],
            json!({"offered": [], "accepted": null, "why": "not offered"})
        );
        assert!(!none["response"].as_str().unwrap().contains("Sec-WebSocket-Extensions"));
        let off = extensions(&["permessage-deflate; client_max_window_bits"], false);
        assert_eq!(
            off["extensions"],
            json!({"offered": ["permessage-deflate; client_max_window_bits"], "accepted": null,
                   "why": "offered, but COMPRESSION=off"})
        );
        assert!(!off["response"].as_str().unwrap().contains("Sec-WebSocket-Extensions"));
    }

    #[test]
    fn the_session_is_hidden_however_its_key_is_written() {
        let query = "%73ession=A1&%73%65%73%73%69%6F%6E=A2&SESSION=A3&+session%20=A4&session=A5\
                     &session&name=ann&sessionx=shown&%73ession";
        let request = HttpRequest {
            method: "GET".into(),
            path: "/ws".into(),
            query: query.into(),
            version: 1,
            headers: vec![("cookie".into(), "WSCHAT_SESSION=C1;wschat_session=C2".into())],
        };
        let text = Handshake::of(&request, true).event();
        let shown = parsed(&text)["request"].as_str().unwrap().to_string();
        for secret in ["A1", "A2", "A3", "A4", "A5", "C1", "C2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.starts_with(
            "GET /ws?%73ession=…&%73%65%73%73%69%6F%6E=…&SESSION=…&+session%20=…&session=…\
             &session&name=ann&sessionx=shown&%73ession HTTP/1.1\r\n"
        ));
        assert!(shown.contains("cookie: WSCHAT_SESSION=…; wschat_session=…\r\n"), "{shown}");
    }
}
