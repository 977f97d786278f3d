//! The WebSocket opening handshake, server side, by hand (RFC 6455 §4.2).
//!
//! A client asks to switch protocols with an ordinary HTTP/1.1 GET (RFC 6455 §4.1):
//! ```text
//! GET /ws?name=alice HTTP/1.1
//! Host: localhost:8443
//! Upgrade: websocket
//! Connection: Upgrade
//! Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
//! Sec-WebSocket-Version: 13
//! Origin: https://localhost:8443
//! ```
//! [`check`] validates it in the order of §4.2.1 and returns the `Sec-WebSocket-Accept` value;
//! [`choose`] picks the subprotocol (§1.9) among the client's `Sec-WebSocket-Protocol` offers
//! and the names the application speaks (this layer knows no names: the route passes them);
//! [`switching_protocols`] writes the `101` answer (§4.2.2 item 5). From the blank line after that
//! answer on, both sides speak frames (§5), which `ws/receive.rs` reads.
//!
//! Glossary: the *key* is 16 random bytes in base64 chosen by the client; the *accept* value is
//! base64(SHA-1(key + [`WS_GUID`])) and proves that the server understood the WebSocket request
//! (it cannot be produced by a server that merely echoes headers).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::config::origin::{Origin, Origins, Scheme};
use crate::error::Rejection;
use crate::http::Request;
use crate::ws::deflate::offer::EXTENSIONS_HEADER;

/// Validates an upgrade request (RFC 6455 §4.2.1) and returns the `Sec-WebSocket-Accept` value.
/// `scheme` is how the client reached us ([`Request::scheme`]: `https` over TLS, `http`
/// without, or a trusted proxy's `X-Forwarded-Proto`); `None`, a scheme we do not know, leaves
/// no origin ours.
pub fn check(
    request: &Request,
    origins: &Origins,
    scheme: Option<Scheme>,
) -> Result<String, Rejection> {
    // §4.2.1 item 1: "An HTTP/1.1 or higher GET request" (the method was checked by the router).
    if request.version < 1 {
        return Err(Rejection::Malformed);
    }
    // §4.2.1 item 2: "A |Host| header field containing the server's authority."
    let host = request.header("Host").ok_or(Rejection::MissingHost)?;
    // §4.2.1 items 3 and 4: "An |Upgrade| header field containing the value "websocket"" and
    // "A |Connection| header field that includes the token "Upgrade"", both without case.
    if !request.header_has_token("Upgrade", "websocket")
        || !request.header_has_token("Connection", "Upgrade")
    {
        return Err(Rejection::NotUpgrade);
    }
    // §4.2.2: "If this version does not match a version understood by the server, the server
    // MUST abort the WebSocket handshake ... and instead send an appropriate HTTP error code
    // (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field".
    if request.header("Sec-WebSocket-Version").map(str::trim) != Some("13") {
        return Err(Rejection::UnsupportedVersion);
    }
    // §4.2.1 item 5: "A |Sec-WebSocket-Key| header field with a base64-encoded value that, when
    // decoded, is 16 bytes in length."
    let key =
        request.header("Sec-WebSocket-Key").map(str::trim).ok_or(Rejection::BadWebSocketKey)?;
    match BASE64.decode(key) {
        Ok(bytes) if bytes.len() == 16 => {}
        _ => return Err(Rejection::BadWebSocketKey),
    }
    // §10.2: "Servers that are not intended to process input from any web page but only for
    // certain sites SHOULD verify the |Origin| field". Clients that are not browsers may omit it
    // (§4.1 item 8 requires it of browsers only), and are let in: a script can write any header.
    if let Some(origin) = request.header("Origin")
        && !origin_allowed(origin, host, scheme, origins)
    {
        return Err(Rejection::OriginNotAllowed);
    }
    Ok(accept_key(key))
}

/// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key ++ GUID)) (RFC 6455 §4.2.2 item 5.4).
pub fn accept_key(key: &str) -> String {
    accept_steps(key).1
}

/// The steps to `Sec-WebSocket-Accept`, for the wire inspector to show: the SHA-1 digest of the
/// key followed by the GUID (20 bytes), and its base64.
pub fn accept_steps(key: &str) -> ([u8; 20], String) {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
    ctx.update(key.as_bytes());
    ctx.update(WS_GUID.as_bytes());
    let digest = ctx.finish();
    let sha1: [u8; 20] = digest.as_ref().try_into().expect("SHA-1 is 20 bytes");
    (sha1, BASE64.encode(sha1))
}

/// The `101 Switching Protocols` answer that completes the handshake (RFC 6455 §4.2.2 item 5),
/// naming the subprotocol [`choose`] picked, if any (§4.2.2 item 5.5), and the extensions
/// accepted, if any (§4.2.2 item 5.6: `permessage-deflate` and its parameters, from
/// `ws::deflate::offer`). A client that asked for an extension and finds no header here knows it
/// was not accepted, and sends every frame without it.
pub fn switching_protocols(
    accept: &str,
    subprotocol: Option<&str>,
    extensions: Option<&str>,
) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some(name) = subprotocol {
        head.push_str(&format!("{PROTOCOL_HEADER}: {name}\r\n"));
    }
    if let Some(value) = extensions {
        head.push_str(&format!("{EXTENSIONS_HEADER}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The subprotocols a client offers, in its order (RFC 6455 §4.1 item 10): every element of every
/// `Sec-WebSocket-Protocol` header, a comma-separated list that may be sent several times
/// (§11.3.4), read as every HTTP list is (`http::request::list_elements`).
///
/// Names are compared as sent, with case: §4.1 item 10 makes them tokens and §11.5's registry
/// compares them exactly, so `WSChat.v1` is not `wschat.v1`.
///
/// An element that is not an RFC 2616 token (a client may not send one, §4.1 item 10) is still
/// listed, never refused: §4.2.1 item 8 leaves the header optional and gives the server no duty
/// to check it, and such an element can never equal a name a server speaks (every registered
/// name is a token), so it is simply never chosen. A `400` would turn away a client that could
/// speak the chat without a subprotocol, for nothing.
pub fn protocol_offers(request: &Request) -> impl Iterator<Item = &str> + Clone {
    request.header_list(PROTOCOL_HEADER)
}

/// The request header of RFC 6455 §11.3.4, and the answer's.
pub const PROTOCOL_HEADER: &str = "Sec-WebSocket-Protocol";

/// The server's choice of subprotocol (RFC 6455 §1.9, §4.2.2 item 5.5), and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subprotocol {
    /// Offered by the client and spoken by the server: named in the `101`.
    Chosen(&'static str),
    /// The client offered none (websocat, scripts): the `101` names none, and the application
    /// speaks its unnamed default.
    NoneOffered,
    /// The client offered only names the server does not speak. §4.2.2: the server "MUST NOT"
    /// name one it was not offered, so the `101` names none; whether to go on without one is the
    /// client's choice. A browser does not (the Fetch standard's "establish a WebSocket
    /// connection": a client that offered protocols and got none fails the connection); a
    /// script may go on, and the chat then speaks to it as to one that offered none.
    NoneSpoken,
}

impl Subprotocol {
    /// The name for the `101`'s `Sec-WebSocket-Protocol`, if one was chosen.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Subprotocol::Chosen(name) => Some(name),
            _ => None,
        }
    }

    /// Why, in a few words (for the wire inspector).
    pub fn why(self) -> &'static str {
        match self {
            Subprotocol::Chosen(_) => "offered and spoken",
            Subprotocol::NoneOffered => "none offered",
            Subprotocol::NoneSpoken => "none of the offers is spoken",
        }
    }
}

/// Chooses a subprotocol: the first name of `speaks` (the application's, in its order of
/// preference) that the client offers, in whatever place of its list. The server's order
/// decides, not the client's: a server that speaks `["wschat.v2", "wschat.v1"]` answers `v2` to
/// a client offering both, and `v1` to an older one that offers only `v1`.
pub fn choose<'a>(
    offers: impl Iterator<Item = &'a str> + Clone,
    speaks: &[&'static str],
) -> Subprotocol {
    let spoken = speaks.iter().find(|name| offers.clone().any(|offer| offer == **name));
    match spoken {
        Some(name) => Subprotocol::Chosen(name),
        None if offers.clone().next().is_none() => Subprotocol::NoneOffered,
        None => Subprotocol::NoneSpoken,
    }
}

/// Is a browser page from `origin` allowed to open a socket on the server named by `host`, which
/// the client reached with `scheme`?
fn origin_allowed(origin: &str, host: &str, scheme: Option<Scheme>, policy: &Origins) -> bool {
    // `null`, a scheme other than http(s), or not an origin at all parses to `None`: nobody's
    // page we know.
    match policy {
        Origins::Any => true,
        Origins::List(list) => Origin::parse(origin).is_some_and(|origin| list.contains(&origin)),
        // Same origin: scheme, host and port all equal ours, so `http://` on the TLS port (or
        // `https://` on the plain one) is another site's page; `https://h` is `Host: h:443`.
        Origins::SameOrigin => {
            let ours = scheme.and_then(|scheme| Origin::of_host(scheme, host.trim()));
            ours.is_some() && ours == Origin::parse(origin)
        }
    }
}

/// The GUID of RFC 6455 §1.3, appended to the client's key before hashing.
pub const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/ws".into(),
            query: String::new(),
            version: 1,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    const GOOD: [(&str, &str); 5] = [
        ("Host", "localhost:8443"),
        ("Upgrade", "WebSocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        GOOD.iter().copied().filter(|(n, _)| *n != name).collect()
    }

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut headers = without(name);
        headers.push((name, value));
        headers
    }

    #[test]
    fn key_conversion_matches_rfc_6455_section_1_3() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn a_good_request_is_accepted() {
        let accept = check(&request(&GOOD), &Origins::SameOrigin, Some(Scheme::Https)).unwrap();
        assert_eq!(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn each_missing_or_bad_header_has_its_answer() {
        let cases: Vec<(Vec<(&str, &str)>, Rejection)> = vec![
            (without("Host"), Rejection::MissingHost),
            (without("Upgrade"), Rejection::NotUpgrade),
            (with("Upgrade", "h2c"), Rejection::NotUpgrade),
            (without("Connection"), Rejection::NotUpgrade),
            (without("Sec-WebSocket-Version"), Rejection::UnsupportedVersion),
            (with("Sec-WebSocket-Version", "8"), Rejection::UnsupportedVersion),
            (without("Sec-WebSocket-Key"), Rejection::BadWebSocketKey),
            (with("Sec-WebSocket-Key", "c2hvcnQ="), Rejection::BadWebSocketKey),
            (with("Sec-WebSocket-Key", "not base64 at all!!!!!!!"), Rejection::BadWebSocketKey),
            (with("Origin", "https://evil.example"), Rejection::OriginNotAllowed),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                check(&request(&headers), &Origins::SameOrigin, Some(Scheme::Https)),
                Err(expected),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn origin_policies() {
        use Scheme::{Http, Https};
        let allowed = |origin, host, scheme, policy: &Origins| {
            origin_allowed(origin, host, Some(scheme), policy)
        };
        let same = &Origins::SameOrigin;
        let host = "localhost:8443";
        assert!(allowed("https://localhost:8443", host, Https, same));
        assert!(allowed("https://LOCALHOST:8443/", host, Https, same));
        assert!(allowed("http://localhost:8443", host, Http, same));
        assert!(!allowed("https://localhost:9999", host, Https, same));
        assert!(!allowed("null", host, Https, same));
        // The scheme too: finding 10 of issue 22.
        for origin in [
            "http://localhost:8443",
            "ftp://localhost:8443",
            "x://localhost:8443",
            "://localhost:8443",
            "chrome-extension://localhost:8443",
            "localhost:8443",
        ] {
            assert!(!allowed(origin, host, Https, same), "{origin}");
        }
        assert!(!allowed("https://localhost:8443", host, Http, same));
        assert!(!origin_allowed("https://localhost:8443", host, None, same));
        // Default ports, written or not, on either side.
        assert!(allowed("https://chat.example", "chat.example:443", Https, same));
        assert!(allowed("https://chat.example:443", "chat.example", Https, same));
        assert!(allowed("http://chat.example", "chat.example:80", Http, same));
        assert!(!allowed("https://chat.example", "chat.example:80", Https, same));
        assert!(!allowed("http://chat.example", "chat.example", Https, same));
        assert!(allowed("null", host, Https, &Origins::Any));
        let list = Origins::List(vec![Origin::parse("https://chat.example").unwrap()]);
        assert!(allowed("https://Chat.example:443", host, Https, &list));
        assert!(!allowed("http://chat.example", host, Http, &list));
        assert!(!allowed("chrome-extension://chat.example", host, Https, &list));
        assert!(!allowed("https://localhost:8443", host, Https, &list));
    }

    #[test]
    fn the_101_answer_carries_the_accept_value() {
        let text = String::from_utf8(switching_protocols("abc=", None, None)).unwrap();
        assert!(text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Accept: abc=\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("Protocol:"), "{text}");
    }

    #[test]
    fn the_101_answer_names_the_chosen_subprotocol() {
        let text = String::from_utf8(switching_protocols("abc=", Some("wschat.v1"), None)).unwrap();
        assert!(
            text.ends_with(
                "Sec-WebSocket-Accept: abc=\r\nSec-WebSocket-Protocol: wschat.v1\r\n\r\n"
            )
        );
    }

    fn offers_of(headers: &[(&str, &str)]) -> Vec<String> {
        let request = request(headers);
        protocol_offers(&request).map(String::from).collect()
    }

    #[test]
    fn offers_come_from_every_header_split_and_trimmed() {
        let headers = [
            ("Sec-WebSocket-Protocol", "chat, wschat.v1"),
            ("Host", "localhost"),
            ("sec-websocket-protocol", " ,superchat ,, "),
            ("SEC-WEBSOCKET-PROTOCOL", ""),
            ("Sec-WebSocket-Protocols", "not.this.header"),
        ];
        assert_eq!(offers_of(&headers), ["chat", "wschat.v1", "superchat"]);
        assert!(offers_of(&GOOD).is_empty());
        // Not a token: listed, never chosen, never a refusal.
        assert_eq!(offers_of(&[("Sec-WebSocket-Protocol", "a b, \"q\"")]), ["a b", "\"q\""]);
    }

    #[test]
    fn the_server_s_order_chooses_and_names_keep_their_case() {
        let choice = |offered: &[&'static str], speaks: &[&'static str]| {
            choose(offered.iter().copied(), speaks)
        };
        let v1 = &["wschat.v1"][..];
        assert_eq!(choice(&["wschat.v1"], v1), Subprotocol::Chosen("wschat.v1"));
        assert_eq!(choice(&["other", "wschat.v1"], v1), Subprotocol::Chosen("wschat.v1"));
        assert_eq!(choice(&[], v1), Subprotocol::NoneOffered);
        assert_eq!(choice(&["other"], v1), Subprotocol::NoneSpoken);
        assert_eq!(choice(&["WSChat.v1", "wschat.V1"], v1), Subprotocol::NoneSpoken);
        assert_eq!(choice(&["wschat.v1"], &[]), Subprotocol::NoneSpoken, "/echo speaks none");
        assert_eq!(choice(&[], &[]), Subprotocol::NoneOffered);
        let both = &["wschat.v2", "wschat.v1"][..];
        assert_eq!(choice(&["wschat.v1", "wschat.v2"], both), Subprotocol::Chosen("wschat.v2"));
        assert_eq!(choice(&["wschat.v1"], both), Subprotocol::Chosen("wschat.v1"));
        assert_eq!(Subprotocol::Chosen("x").name(), Some("x"));
        assert_eq!(Subprotocol::NoneSpoken.name(), None);
        assert_eq!(Subprotocol::NoneSpoken.why(), "none of the offers is spoken");
    }
}
