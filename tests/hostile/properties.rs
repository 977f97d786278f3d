//! Property tests: arbitrary input never panics and always gets one of the documented answers.
//!
//! - `http::parse_head`: a head, "need more bytes", or a 400/431 rejection;
//! - `handshake::check`: a 28-character `Sec-WebSocket-Accept`, exactly when RFC 6455 §4.2.1
//!   holds, or one of the handshake's rejections;
//! - `request::parse_request`: a request with a valid room and trimmed, non-empty text, or
//!   `empty` / `bad_request` / `bad_room`, exactly as docs/protocol.md says;
//! - `session::Session::parse`: exactly the canonical 22-character base64url texts, which read
//!   back unchanged;
//! - `nickname::clean`: 1 to 32 characters, no control characters, no surrounding white space;
//! - `identity::Identities`: whatever names a crowd asks for, each session gets one, no two
//!   alike once folded, each at most 32 characters, the one asked for when it was free;
//! - the frame decoder of a running server: after a real upgrade, arbitrary bytes end in a close
//!   frame or a clean TCP close, never a hang, and the server keeps answering.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::json;
use std::time::Duration;

use websocketchat::chat::identity::{Identities, Presented, fold};
use websocketchat::chat::nickname::{self, MAX_CHARS};
use websocketchat::chat::request::{InputError, Request as ChatRequest, parse_request};
use websocketchat::chat::room::RoomName;
use websocketchat::chat::session::Session;
use websocketchat::config::Origins;
use websocketchat::error::Rejection;
use websocketchat::http::origin::{Origin, Scheme};
use websocketchat::http::request::{HeadError, Request, parse_head};
use websocketchat::ws::handshake::{accept_key, check};

use crate::bad_frames::{Finish, assert_documented_ending, send_after_upgrade};
use crate::support::Server;
use crate::support::wire::{MASK as MASK_KEY, assert_no_panic, frame};

fn config() -> ProptestConfig {
    // Failures are reported with their minimal input; nothing is written next to the sources.
    ProptestConfig { failure_persistence: None, ..ProptestConfig::default() }
}

// ---- http::parse_head ----

/// Lines that look like a request head, mostly well-formed, with the odd broken piece: any
/// method, target, version, header name or value, up to more than the 64 headers allowed, LF or
/// CRLF line ends, and sometimes cut short.
fn head_like() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        4 => Just("GET".to_string()),
        1 => Just("HEAD".to_string()),
        1 => "[!-~]{0,8}",
    ];
    let target = prop_oneof![
        4 => "/[A-Za-z0-9/?=&%._~-]{0,40}",
        1 => "/[!-~]{0,40}",
        1 => "[ -~]{0,20}",
    ];
    let version = prop_oneof![
        4 => Just("HTTP/1.1".to_string()),
        1 => Just("HTTP/1.0".to_string()),
        1 => "[ -~]{0,9}",
    ];
    let name = prop_oneof![8 => "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}", 1 => "[!-~]{0,16}"];
    let value = prop_oneof![8 => "[ -~]{0,40}", 1 => "[ -~\t\u{80}-\u{10ffff}]{0,40}"];
    let clean = ("[A-Za-z-]{1,16}", "[!-~]{0,20}");
    // A few headers of any kind, or about 64 well-formed ones (more than 64 is 431).
    let headers = prop_oneof![
        4 => prop::collection::vec((name, value), 0..8),
        1 => prop::collection::vec(clean, 60..70),
    ];
    let eol = prop_oneof![Just("\r\n"), Just("\n")];
    let cut = prop::option::weighted(0.25, any::<prop::sample::Index>());
    (method, target, version, headers, eol, cut).prop_map(
        |(method, target, version, headers, eol, cut)| {
            let mut head = format!("{method} {target} {version}{eol}");
            for (name, value) in headers {
                head.push_str(&format!("{name}: {value}{eol}"));
            }
            head.push_str(eol);
            let mut bytes = head.into_bytes();
            if let Some(cut) = cut {
                bytes.truncate(cut.index(bytes.len() + 1));
            }
            bytes
        },
    )
}

/// A well-formed head and what it says: method, target, headers.
fn valid_head() -> impl Strategy<Value = (String, String, Vec<(String, String)>)> {
    let method = prop::sample::select(vec!["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]);
    let target = "/[A-Za-z0-9/._~-]{0,30}(\\?[a-z0-9=&%]{0,20})?";
    let header = ("[A-Za-z][A-Za-z0-9-]{0,15}", "([!-~]([ -~]{0,30}[!-~])?)?");
    (method, target, prop::collection::vec(header, 0..=64))
        .prop_map(|(m, t, h)| (m.to_string(), t, h))
}

/// Checks `parse_head`'s answer against its contract.
fn documented_head_answer(bytes: &[u8]) -> Result<(), TestCaseError> {
    match parse_head(bytes) {
        Ok(None) => {}
        Ok(Some((request, len))) => {
            prop_assert!(len <= bytes.len());
            prop_assert!(bytes[..len].ends_with(b"\n"), "a head ends with an empty line");
            prop_assert!(request.headers.len() <= 64);
            prop_assert!(request.version <= 1);
            prop_assert!(!request.path.contains('?'), "the query is split off");
            // More bytes after a complete head do not change it (they are the first frames).
            let mut longer = bytes.to_vec();
            longer.extend_from_slice(b"\x81\x85 more");
            let again = parse_head(&longer);
            prop_assert!(matches!(again, Ok(Some((_, l))) if l == len), "{again:?}");
        }
        Err(HeadError::Rejected(Rejection::Malformed | Rejection::HeadTooLarge)) => {}
        Err(other) => prop_assert!(false, "undocumented answer {other:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_head_answers_arbitrary_bytes_as_documented(
        bytes in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        documented_head_answer(&bytes)?;
    }

    #[test]
    fn parse_head_answers_head_like_input_as_documented(bytes in head_like()) {
        documented_head_answer(&bytes)?;
    }

    #[test]
    fn parse_head_reads_a_valid_head_back((method, target, headers) in valid_head()) {
        let mut head = format!("{method} {target} HTTP/1.1\r\n");
        for (name, value) in &headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let (request, len) = parse_head(head.as_bytes()).unwrap().unwrap();
        prop_assert_eq!(len, head.len());
        prop_assert_eq!(&request.method, &method);
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        prop_assert_eq!((request.path.as_str(), request.query.as_str()), (path, query));
        prop_assert_eq!(request.headers, headers);
    }
}

// ---- handshake::check ----

/// A header of the opening handshake: a good value, a plausible bad one, or anything.
fn handshake_header(
    name: &'static str,
    good: &'static str,
) -> impl Strategy<Value = Vec<(String, String)>> {
    let casing =
        prop::sample::select(vec![name.to_string(), name.to_lowercase(), name.to_uppercase()]);
    let value = prop_oneof![
        6 => Just(good.to_string()),
        1 => Just(format!(" {good} ")),
        1 => Just(format!("keep-alive, {good}")),
        1 => "[A-Za-z0-9+/=]{0,30}",
        1 => any::<String>(),
    ];
    // Mostly there once, sometimes missing or repeated (the first one counts).
    prop_oneof![
        1 => Just(Vec::new()),
        6 => prop::collection::vec((casing, value), 1..=2),
    ]
}

fn upgrade_request() -> impl Strategy<Value = Request> {
    let origin = prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(
            (
                Just("Origin".to_string()),
                prop_oneof![Just("http://localhost:8443".to_string()), any::<String>()]
            ),
            1..=1
        ),
    ];
    let extra = prop::collection::vec((any::<String>(), any::<String>()), 0..4);
    (
        prop_oneof![1 => Just(0u8), 5 => Just(1u8)],
        handshake_header("Host", "localhost:8443"),
        handshake_header("Upgrade", "websocket"),
        handshake_header("Connection", "Upgrade"),
        handshake_header("Sec-WebSocket-Version", "13"),
        handshake_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        origin,
        extra,
        any::<prop::sample::Index>(),
    )
        .prop_map(
            |(version, host, upgrade, connection, ws_version, key, origin, extra, at)| {
                let mut headers: Vec<(String, String)> =
                    [host, upgrade, connection, ws_version, key, origin].concat();
                // Unrelated headers somewhere among them.
                let at = at.index(headers.len() + 1);
                headers.splice(at..at, extra);
                Request {
                    method: "GET".into(),
                    path: "/ws".into(),
                    query: String::new(),
                    version,
                    headers,
                }
            },
        )
}

fn origins() -> impl Strategy<Value = Origins> {
    prop_oneof![
        Just(Origins::SameOrigin),
        Just(Origins::Any),
        prop::collection::vec(
            prop_oneof![Just("http://localhost:8443".to_string()), any::<String>()],
            0..3
        )
        .prop_map(|list| Origins::List(list.iter().filter_map(|o| Origin::parse(o)).collect())),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn check_accepts_exactly_the_valid_upgrades(
        request in upgrade_request(),
        origins in origins(),
        scheme in prop_oneof![Just(None), Just(Some(Scheme::Http)), Just(Some(Scheme::Https))],
    ) {
        let key = request.header("Sec-WebSocket-Key").map(str::trim);
        let valid = request.version == 1
            && request.header("Host").is_some()
            && request.header_has_token("Upgrade", "websocket")
            && request.header_has_token("Connection", "Upgrade")
            && request.header("Sec-WebSocket-Version").map(str::trim) == Some("13")
            && key.is_some_and(|k| BASE64.decode(k).is_ok_and(|b| b.len() == 16));
        match check(&request, &origins, scheme) {
            Ok(accept) => {
                prop_assert!(valid, "accepted an invalid request: {request:?}");
                prop_assert_eq!(accept.len(), 28);
                prop_assert_eq!(BASE64.decode(&accept).unwrap().len(), 20, "a SHA-1 in base64");
                prop_assert_eq!(accept, accept_key(key.unwrap()));
            }
            Err(Rejection::OriginNotAllowed) => {
                prop_assert!(valid && request.header("Origin").is_some());
                prop_assert!(!matches!(origins, Origins::Any));
            }
            Err(
                Rejection::Malformed
                | Rejection::MissingHost
                | Rejection::NotUpgrade
                | Rejection::UnsupportedVersion
                | Rejection::BadWebSocketKey,
            ) => prop_assert!(!valid, "refused a valid request: {request:?}"),
            Err(other) => prop_assert!(false, "undocumented rejection {other:?}"),
        }
    }
}

// ---- request::parse_request ----

/// Room names a client might send: valid ones, near misses (case, length, odd characters), any
/// string, and values that are not strings.
fn room_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        "[a-z0-9][a-z0-9_-]{0,31}".prop_map(|s| json!(s)),
        "[A-Za-z0-9 _.-]{0,40}".prop_map(|s| json!(s)),
        any::<String>().prop_map(|s| json!(s)),
        any::<i64>().prop_map(|n| json!(n)),
        Just(json!(null)),
    ]
}

/// Frames a client might send: plain text, JSON of every shape, broken JSON, and the requests
/// with any type, text and room.
fn client_text() -> impl Strategy<Value = String> {
    let json_value = prop_oneof![
        Just(json!(null)),
        any::<bool>().prop_map(|b| json!(b)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<String>().prop_map(|s| json!(s)),
        Just(json!([1, "two"])),
        Just(json!({})),
    ];
    let kind = prop_oneof![
        3 => prop::sample::select(
            vec!["message", "subscribe", "unsubscribe", "typing", "rooms", "rename"],
        )
        .prop_map(|k| json!(k)),
        1 => json_value.clone(),
    ];
    let text = prop_oneof![any::<String>().prop_map(|s| json!(s)), json_value];
    let room = || prop::option::of(room_value());
    // A person: `to`, `dm` or `name`, as any string, a near-empty one, or not a string.
    let person = prop_oneof![
        "[ a-zA-Z\t\u{7}]{0,6}".prop_map(|s| json!(s)),
        any::<String>().prop_map(|s| json!(s)),
        Just(json!(7)),
    ];
    let field = prop::sample::select(vec!["to", "dm", "name"]);
    prop_oneof![
        any::<String>(),
        "[ \t\r\n]{0,5}[ -~]{0,20}[ \t\r\n]{0,5}",
        // Requests with a typo: a brace, then anything.
        "[ \t\r\n]{0,2}\\{[ -~]{0,30}",
        (kind.clone(), text.clone(), room(), field, person).prop_map(|(k, t, r, f, p)| {
            let mut object = json!({"type": k, "text": t});
            if let Some(r) = r {
                object["room"] = r;
            }
            object[f] = p;
            object.to_string()
        }),
        (kind.clone(), text.clone(), room()).prop_map(|(k, t, r)| {
            let mut object = json!({"type": k, "text": t});
            if let Some(r) = r {
                object["room"] = r;
            }
            object.to_string()
        }),
        (text, room()).prop_map(|(t, r)| match r {
            Some(r) => json!({ "text": t, "room": r }).to_string(),
            None => json!({ "text": t }).to_string(),
        }),
        kind.prop_map(|k| json!({ "type": k }).to_string()),
    ]
}

/// docs/protocol.md's rule for room names, written out again: 1 to 32 of `a-z 0-9 - _` after
/// lower-casing, starting with a letter or a digit.
fn room_rule(raw: &str) -> Option<String> {
    let name = raw.to_ascii_lowercase();
    let first = name.chars().next()?;
    let ok = (first.is_ascii_lowercase() || first.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 32;
    ok.then_some(name)
}

/// What docs/protocol.md says a frame becomes.
fn expected_request(frame: &str) -> Result<ChatRequest, InputError> {
    use serde_json::Value;
    let trimmed = |text: &str| match text.trim() {
        "" => Err(InputError::Empty),
        t => Ok(t.to_string()),
    };
    // A frame is a request when it starts with `{` after JSON's white space, else text.
    if !frame.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('{') {
        return trimmed(frame).map(|text| ChatRequest::Message { room: None, text });
    }
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(frame) else {
        return Err(bad());
    };
    let kind = match object.get("type") {
        None => "message",
        Some(Value::String(kind)) => kind.as_str(),
        Some(_) => return Err(bad()),
    };
    // Each request takes its own fields and no other.
    let fields: &[&str] = match kind {
        "message" => &["type", "room", "to", "text"],
        "subscribe" => &["type", "room", "dm", "since", "epoch"],
        "unsubscribe" | "typing" => &["type", "room"],
        "rooms" => &["type"],
        "rename" => &["type", "name"],
        _ => return Err(bad()),
    };
    if object.keys().any(|key| !fields.contains(&key.as_str())) {
        return Err(bad());
    }
    // The room: absent, a valid name, or `bad_room` with what was sent (64 characters at most).
    let room = match object.get("room") {
        None => Ok(None),
        Some(Value::String(raw)) => match room_rule(raw) {
            Some(name) => Ok(Some(RoomName::parse(&name).unwrap())),
            None => Err(InputError::BadRoom(raw.chars().take(64).collect())),
        },
        Some(other) => Err(InputError::BadRoom(other.to_string().chars().take(64).collect())),
    };
    let required = |room: Result<Option<RoomName>, InputError>| room?.ok_or_else(bad);
    // A person named in `to`, `dm` or `name`: absent, a nickname as `?name=` is cleaned, or not
    // a string; `Err(raw)` for a string with no nickname in it.
    let person = |field: &str| -> Option<Result<Option<String>, String>> {
        match object.get(field) {
            None => Some(Ok(None)),
            Some(Value::String(raw)) => {
                Some(nickname::clean(raw).map(Some).ok_or_else(|| raw.chars().take(64).collect()))
            }
            Some(_) => None,
        }
    };
    let no_such_user = InputError::NoSuchUser;
    match kind {
        "message" => match (object.get("text"), person("to")) {
            (Some(Value::String(_)), None) => Err(bad()),
            (Some(Value::String(_)), Some(Err(raw))) => Err(no_such_user(raw)),
            (Some(Value::String(_)), Some(Ok(Some(_)))) if object.contains_key("room") => {
                Err(bad())
            }
            (Some(Value::String(text)), Some(Ok(Some(to)))) => {
                trimmed(text).map(|text| ChatRequest::Direct { to, text })
            }
            (Some(Value::String(text)), Some(Ok(None))) => {
                room.and_then(|room| Ok(ChatRequest::Message { room, text: trimmed(text)? }))
            }
            _ => Err(bad()),
        },
        "subscribe" => match person("dm") {
            None => Err(bad()),
            Some(Err(raw)) => Err(no_such_user(raw)),
            Some(Ok(Some(_))) if object.contains_key("room") => Err(bad()),
            Some(Ok(Some(with))) => Ok(ChatRequest::SubscribeDirect { with, resume: None }),
            Some(Ok(None)) => {
                required(room).map(|room| ChatRequest::Subscribe { room, resume: None })
            }
        },
        "rename" => match person("name") {
            Some(Ok(Some(name))) => Ok(ChatRequest::Rename { name }),
            _ => Err(bad()),
        },
        "unsubscribe" => required(room).map(|room| ChatRequest::Unsubscribe { room }),
        "typing" => required(room).map(|room| ChatRequest::Typing { room }),
        "rooms" => Ok(ChatRequest::Rooms),
        _ => Err(bad()),
    }
}

/// A `bad_request`, whatever it says (the model does not say it in the same words).
fn bad() -> InputError {
    InputError::BadRequest(String::new())
}

/// A parse's outcome with a `bad_request`'s words left out, to compare with the model's.
fn without_words(parsed: Result<ChatRequest, InputError>) -> Result<ChatRequest, InputError> {
    parsed.map_err(|e| match e {
        InputError::BadRequest(_) => bad(),
        other => other,
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_request_gives_a_request_or_a_documented_error(frame in client_text()) {
        let parsed = parse_request(&frame);
        if let Ok(ChatRequest::Message { text, .. }) = &parsed {
            prop_assert!(!text.is_empty());
            prop_assert_eq!(text.as_str(), text.trim());
        }
        if let Err(InputError::BadRoom(echoed) | InputError::NoSuchUser(echoed)) = &parsed {
            prop_assert!(echoed.chars().count() <= 64);
        }
        if let Ok(ChatRequest::Direct { to: name, .. } | ChatRequest::Rename { name }) = &parsed {
            prop_assert_eq!(nickname::clean(name), Some(name.clone()));
        }
        if let Err(InputError::BadRequest(why)) = &parsed {
            prop_assert!(!why.is_empty(), "a bad_request says what was wrong");
        }
        prop_assert_eq!(without_words(parsed), expected_request(&frame));
    }
}

// ---- session::Session::parse ----

/// What a client might present as a session: near misses of every kind and any string.
fn session_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{22}",
        "[A-Za-z0-9_+/=-]{20,24}",
        "[A-Za-z0-9_-]{21}[AQgw]",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_session_is_exactly_canonical_22_character_base64url(raw in session_like()) {
        let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        // 22 characters carry 132 bits, 4 more than 16 bytes: the last one must leave them zero.
        let canonical_last = |c: char| "AQgw".contains(c);
        let expected = raw.len() == 22
            && raw.chars().all(alphabet)
            && raw.chars().last().is_some_and(canonical_last);
        let parsed = Session::parse(&raw);
        prop_assert_eq!(parsed.is_some(), expected, "{:?}", raw);
        if let Some(session) = parsed {
            prop_assert_eq!(session.to_text(), raw);
        }
    }
}

// ---- nickname::clean ----

fn raw_name() -> impl Strategy<Value = String> {
    // White space and control characters of every kind, ASCII and not.
    let odd = vec![' ', '\t', '\n', '\u{0}', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}', '\u{3000}'];
    let one = prop_oneof![
        4 => any::<char>(),
        1 => prop::sample::select(odd),
        2 => prop::char::range('a', 'z'),
    ];
    prop::collection::vec(one, 0..80).prop_map(|chars| chars.into_iter().collect())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn clean_names_are_short_printable_and_trimmed(raw in raw_name()) {
        let printable: String = raw.chars().filter(|c| !c.is_control()).collect();
        match nickname::clean(&raw) {
            Some(name) => {
                let chars = name.chars().count();
                prop_assert!((1..=MAX_CHARS).contains(&chars), "{chars} characters");
                prop_assert!(!name.chars().any(char::is_control));
                prop_assert_eq!(name.as_str(), name.trim());
                // White space of every kind is one plain space, never two in a row.
                prop_assert!(!name.contains("  ") && name.chars().all(|c| c == ' ' || !c.is_whitespace()));
                // Cleaning is idempotent.
                prop_assert_eq!(nickname::clean(&name), Some(name.clone()));
            }
            // Nothing left: every character alone cleans to nothing too (white space, invisible
            // and bidi characters).
            None => prop_assert!(
                printable.chars().all(|c| nickname::clean(&c.to_string()).is_none()),
                "{raw:?} has a usable name"
            ),
        }
    }
}

// ---- identity::Identities ----

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_session_gets_a_name_of_its_own(
        asked in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(vec!["alice", "Alice", "ALICE", "alice-2", "bob"])
                    .prop_map(String::from),
                1 => "[a-zA-Z]{30,32}",
                1 => raw_name().prop_filter_map("no name", |n| nickname::clean(&n)),
            ],
            1..40,
        )
    ) {
        let mut identities = Identities::new(Duration::from_secs(60), 1000);
        let mut held = std::collections::HashSet::new();
        for requested in &asked {
            let free = !held.contains(&fold(requested));
            let session = Session::new().unwrap();
            let arrived = identities.arrive(Presented::Nothing, session, requested);
            prop_assert!(arrived.name.chars().count() <= MAX_CHARS, "{:?}", arrived.name);
            prop_assert!(held.insert(fold(&arrived.name)), "{:?} given twice", arrived.name);
            prop_assert_eq!(free, arrived.name == *requested);
            prop_assert_eq!(arrived.requested.is_some(), !free);
            prop_assert_eq!(identities.holder(&arrived.name), Some(arrived.user));
        }
    }
}

// ---- the frame decoder of a running server ----

/// Bytes after the upgrade: anything, or a run of frame-shaped pieces, which reach further into
/// the decoder than noise does: mostly the first bytes of real frames (text, binary, continuation,
/// close, ping, pong, with or without FIN) and masked, else any first byte and any mask; text that
/// is a chat message, or not UTF-8; now and then a header announcing more than the chat accepts;
/// the whole maybe cut short.
fn after_upgrade() -> impl Strategy<Value = Vec<u8>> {
    let first = prop_oneof![
        3 => prop::sample::select(vec![0x81u8, 0x01, 0x80, 0x00, 0x82, 0x88, 0x89, 0x8a]),
        1 => any::<u8>(),
    ];
    let mask = prop_oneof![4 => any::<[u8; 4]>().prop_map(Some), 1 => Just(None)];
    let chat = "[ -~]{0,100}".prop_map(|text| json!({"type": "message", "text": text}).to_string());
    // "κόσμε", then the encoding of U+110000, past the last code point: not UTF-8.
    let not_utf8 = ["κόσμε".as_bytes(), &[0xf4, 0x90, 0x80, 0x80]].concat();
    let payload = prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..200),
        1 => chat.prop_map(String::into_bytes),
        1 => Just(not_utf8),
    ];
    let piece =
        (first, payload, mask).prop_map(|(first, payload, mask)| frame(first, &payload, mask));
    let oversized = (prop::sample::select(vec![0x81u8, 0x01, 0x82]), 4097..u64::from(u32::MAX))
        .prop_map(|(first, len)| {
            let mut header = vec![first, 0x80 | 127];
            header.extend_from_slice(&len.to_be_bytes());
            header.extend_from_slice(&MASK_KEY);
            header
        });
    let pieces = prop::collection::vec(prop_oneof![8 => piece, 1 => oversized], 1..5);
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 1..400),
        3 => (pieces, prop::option::weighted(0.3, any::<prop::sample::Index>())).prop_map(
            |(pieces, cut)| {
                let mut bytes = pieces.concat();
                if let Some(cut) = cut {
                    bytes.truncate(1 + cut.index(bytes.len()));
                }
                bytes
            }
        ),
    ]
}

#[test]
fn the_frame_decoder_ends_arbitrary_input_with_a_close_and_the_server_goes_on() {
    // Every case is a new session from one address: the decoder is under test here, not the
    // per-address allowance (tests/hostile/per_address.rs).
    let server = Server::start(&[("NEW_SESSIONS_PER_ADDRESS_PER_MIN", "1000000")]);
    let config = Config {
        cases: DECODER_CASES,
        max_shrink_iters: 200,
        failure_persistence: None,
        ..Config::default()
    };
    let finish = prop_oneof![Just(Finish::HalfClose), Just(Finish::ZeroPadding)];
    let result = TestRunner::new(config).run(&(after_upgrade(), finish), |(bytes, finish)| {
        let ending = send_after_upgrade(&server, &bytes, finish);
        assert_documented_ending(&ending, &bytes, &format!("{finish:?} {bytes:?}"));
        if let Finish::ZeroPadding = finish {
            // The client never stopped sending, so only the server can have ended it.
            prop_assert!(ending.close_code().is_some(), "no close frame: {:?}", ending.frames);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}\nserver log:\n{}", server.log());
    }
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200 OK"));
    assert_no_panic(&server);
}

/// Connections the decoder property opens, each with its own input.
const DECODER_CASES: u32 = 64;
