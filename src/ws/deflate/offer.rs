//! The permessage-deflate negotiation, server side (RFC 7692 §5, §7.1).
//!
//! A client lists its offers in `Sec-WebSocket-Extensions`, most wanted first; each is the
//! extension's name and parameters separated by `;` (RFC 6455 §9.1). Every browser sends:
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
//! ```
//! [`negotiate`] accepts the first offer it can honour and [`Agreed::response`] answers, in the
//! `101`, with:
//! ```text
//! Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover
//! ```
//! Both `no_context_takeover` parameters are the server's to add (§7.1.1.1 and §7.1.1.2: "A
//! server MAY include ... even if the extension negotiation offer ... does not include"): each
//! message is then compressed on its own, so the broadcaster compresses a message once for
//! every client, and no connection keeps a 32 KiB window between messages.
//!
//! The window parameters (§7.1.2):
//! - `client_max_window_bits` only says the client can compress with a smaller window if asked;
//!   we never ask (our inflater takes any window up to 2^15), so it is left out of the answer.
//! - `server_max_window_bits=N` asks us to refer no further back than 2^N bytes. A message of
//!   at most 2^N bytes, compressed on its own, never refers further back than its own start, so
//!   we accept it, echo `N`, and send messages longer than 2^N uncompressed (RSV1 clear, which
//!   §6.1 allows for any message).
//!
//! An offer is declined, and the next one tried, when it breaks §7's rules: a parameter not
//! defined for an offer, the same parameter twice, a value out of range (§7: "A server MUST
//! decline an extension negotiation offer for this extension if any of the following
//! conditions are met"). With no offer accepted, the `101` has no `Sec-WebSocket-Extensions`,
//! and every frame goes uncompressed.

/// The extension's registered name (§9.1).
pub const NAME: &str = "permessage-deflate";
/// The request and response header (RFC 6455 §11.3.2).
pub const EXTENSIONS_HEADER: &str = "Sec-WebSocket-Extensions";

/// What was agreed with one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Agreed {
    /// `server_max_window_bits` as the client asked (8 to 15), or `None`: the full 2^15.
    pub server_window_bits: Option<u8>,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` value of the `101`.
    pub fn response(self) -> String {
        let mut value = format!("{NAME}; server_no_context_takeover; client_no_context_takeover");
        if let Some(bits) = self.server_window_bits {
            value.push_str(&format!("; server_max_window_bits={bits}"));
        }
        value
    }

    /// The longest payload we may send compressed: a message no longer than the window never
    /// refers past it (see the module's docs).
    pub fn largest_compressed(self) -> usize {
        1 << self.server_window_bits.unwrap_or(15)
    }
}

/// The outcome, with the reason the wire inspector shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// The accepted offer's terms, or `None`: no compression on this connection.
    pub agreed: Option<Agreed>,
    /// Why, in a few words.
    pub why: String,
}

/// Reads the offers (the elements of every `Sec-WebSocket-Extensions` header, in order) and
/// accepts the first permessage-deflate offer that §7 allows. `enabled` is `COMPRESSION`.
pub fn negotiate<'a>(offers: impl Iterator<Item = &'a str>, enabled: bool) -> Negotiation {
    let mut declined = Vec::new();
    let mut seen = false;
    for offer in offers {
        let mut parts = offer.split(';').map(str::trim);
        if parts.next() != Some(NAME) {
            continue; // An extension we do not know: not ours to answer (RFC 6455 §9.1).
        }
        seen = true;
        if !enabled {
            break;
        }
        match read_params(parts) {
            Ok(agreed) => {
                let why = match declined.len() {
                    0 => "offered and accepted".to_string(),
                    _ => format!("accepted after declining: {}", declined.join("; ")),
                };
                return Negotiation { agreed: Some(agreed), why };
            }
            Err(why) => declined.push(why),
        }
    }
    let why = if !seen {
        "not offered".to_string()
    } else if !enabled {
        "offered, but COMPRESSION=off".to_string()
    } else {
        format!("every offer declined: {}", declined.join("; "))
    };
    Negotiation { agreed: None, why }
}

/// One offer's parameters, checked as §7 asks.
fn read_params<'a>(params: impl Iterator<Item = &'a str>) -> Result<Agreed, String> {
    let mut agreed = Agreed { server_window_bits: None };
    let mut names: Vec<&str> = Vec::new();
    for param in params.filter(|p| !p.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((name, value)) => (name.trim(), Some(unquote(value.trim()))),
            None => (param, None),
        };
        if names.contains(&name) {
            return Err(format!("{name} twice"));
        }
        names.push(name);
        match (name, value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {}
            // §7.1.2.2: the value is optional; we never ask the client for a smaller window.
            ("client_max_window_bits", None) => {}
            ("client_max_window_bits", Some(value)) => {
                window_bits(value).ok_or(format!("client_max_window_bits={value}"))?;
            }
            ("server_max_window_bits", Some(value)) => {
                let bits = window_bits(value).ok_or(format!("server_max_window_bits={value}"))?;
                agreed.server_window_bits = Some(bits);
            }
            _ => return Err(format!("unknown parameter {param}")),
        }
    }
    Ok(agreed)
}

/// §7.1.2.1: "a decimal integer value 8 to 15 inclusive ... without leading zeros".
fn window_bits(value: &str) -> Option<u8> {
    let bits: u8 = value.parse().ok()?;
    let canonical = !value.starts_with('0') && value.bytes().all(|b| b.is_ascii_digit());
    (canonical && (8..=15).contains(&bits)).then_some(bits)
}

/// RFC 6455 §9.1: a value may be a token or a quoted string holding one (`"10"`).
fn unquote(value: &str) -> &str {
    value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed(header: &str) -> Option<Agreed> {
        negotiate(header.split(',').map(str::trim), true).agreed
    }

    #[test]
    fn the_browsers_offer_is_accepted_with_no_context_takeover_both_ways() {
        let agreed = agreed("permessage-deflate; client_max_window_bits").unwrap();
        assert_eq!(
            agreed.response(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert_eq!(agreed.largest_compressed(), 32 * 1024);
    }

    #[test]
    fn a_smaller_server_window_is_echoed_and_bounds_what_is_compressed() {
        let agreed = agreed("permessage-deflate; server_max_window_bits=\"9\"").unwrap();
        assert!(agreed.response().ends_with("; server_max_window_bits=9"));
        assert_eq!(agreed.largest_compressed(), 512);
    }

    #[test]
    fn offers_that_break_section_7_are_declined_and_the_next_is_taken() {
        for bad in [
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_max_window_bits=x",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; mystery",
        ] {
            assert_eq!(agreed(bad), None, "{bad}");
            let fallback = format!("{bad}, permessage-deflate");
            let outcome = negotiate(fallback.split(',').map(str::trim), true);
            assert_eq!(outcome.agreed, Some(Agreed { server_window_bits: None }), "{bad}");
            assert!(outcome.why.starts_with("accepted after declining"), "{}", outcome.why);
        }
    }

    #[test]
    fn other_extensions_and_compression_off_get_no_answer() {
        assert_eq!(agreed("x-webkit-deflate-frame"), None);
        assert_eq!(agreed(""), None);
        let off = negotiate(std::iter::once("permessage-deflate"), false);
        assert_eq!((off.agreed, off.why.as_str()), (None, "offered, but COMPRESSION=off"));
        assert_eq!(negotiate(std::iter::empty(), true).why, "not offered");
    }
}
