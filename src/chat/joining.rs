//! Who a new chat client says it is, read from its upgrade request: the nickname it asks for,
//! where it left off in the default room, and its session, which comes one of two ways:
//!
//! - in the query, `/ws?session=…` (websocat, scripts: a URL is written to logs);
//! - in its first text message, after `/ws?session_in=frame` (the page), so that no URL ever
//!   holds it: `{"type":"session","session":"<22 characters>"}`, or `null` for a newcomer.
//!
//! Never from a cookie: any page of the same host name (another port, plain HTTP), a sibling
//! subdomain or anyone on the network can plant one, and it would choose the browser's session.

use std::net::IpAddr;

use serde_json::Value;

use crate::chat::history::Resume;
use crate::chat::identity::Presented;
use crate::chat::inspect::Handshake;
use crate::chat::nickname;
use crate::chat::session::{SESSION_PARAM, Session};
use crate::http::Request as HttpRequest;

/// Who a new chat client says it is: its session, the nickname it asks for, and where it left
/// off in the default room.
#[derive(Debug)]
pub struct Joining {
    /// The cleaned nickname, or a `guest-NNNN` one.
    pub name: String,
    /// `?session=…` (or nothing: a newcomer); `None` when the session comes in the first message
    /// (`?session_in=frame`).
    pub presented: Option<Presented>,
    /// `?since=<id>&epoch=<epoch>`, when it is reconnecting.
    pub resume: Option<Resume>,
    /// The upgrade request, for the wire inspector (kept when `INSPECT_ENABLED`).
    pub handshake: Option<Handshake>,
    /// The client's address, as the per-address limits count it.
    pub client: IpAddr,
    /// A new session was counted against its address already, before the upgrade.
    pub spent: bool,
}

impl Joining {
    /// Reads `name`, `session`, `session_in`, `since` and `epoch` from the upgrade request's
    /// query of a client at `client`; with `inspect`, keeps the request (and `COMPRESSION`,
    /// `compression`) for the wire inspector. A `Cookie` header is not read: see the module's doc.
    pub fn from_request(
        request: &HttpRequest,
        client: IpAddr,
        inspect: bool,
        compression: bool,
    ) -> Joining {
        let name = request
            .query_param("name")
            .and_then(|raw| nickname::clean(&raw))
            .unwrap_or_else(nickname::guest);
        let resume =
            request.query_param("since").and_then(|s| s.trim().parse().ok()).map(|since| Resume {
                since,
                epoch: request.query_param("epoch").filter(|e| !e.is_empty()),
            });
        let presented = match request.query_param(SESSION_IN) {
            Some(place) if place == SESSION_IN_FRAME => None,
            _ => Some(presented(request.query_param(SESSION_PARAM).as_deref())),
        };
        let handshake = inspect.then(|| Handshake::of(request, compression));
        Joining { name, presented, resume, handshake, client, spent: false }
    }
}

/// What a client presented as its session: nothing, or a session if it reads as one.
fn presented(raw: Option<&str>) -> Presented {
    match raw {
        None => Presented::Nothing,
        Some(raw) => Session::parse(raw).map_or(Presented::Malformed, Presented::Session),
    }
}

/// Reads the first message of a client that asked for `?session_in=frame`:
///
/// ```text
/// {"type":"session","session":"<22 characters>"}    a session, known or not
/// {"type":"session","session":null}                 a newcomer (so is a missing "session")
/// ```
///
/// Other fields are ignored. `None` for anything else (not JSON, another `type`, a `session`
/// that is neither a string nor null).
pub fn session_message(text: &str) -> Option<Presented> {
    let Ok(Value::Object(object)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    if object.get("type").and_then(Value::as_str) != Some("session") {
        return None;
    }
    match object.get("session") {
        None | Some(Value::Null) => Some(Presented::Nothing),
        Some(Value::String(raw)) => Some(presented(Some(raw))),
        Some(_) => None,
    }
}

/// `?session_in=frame`: the client's session comes in its first message, not in the URL.
pub const SESSION_IN_FRAME: &str = "frame";
/// The query parameter that says where the session comes: `?session_in=frame`.
pub const SESSION_IN: &str = "session_in";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_message_is_read_strictly() {
        let session = Session::new().unwrap();
        let text = session.to_text();
        let known = format!(r#"{{"type":"session","session":"{text}","extra":1}}"#);
        assert!(matches!(session_message(&known), Some(Presented::Session(s)) if s == session));
        for newcomer in [r#"{"type":"session","session":null}"#, r#"{"type":"session"}"#] {
            assert!(matches!(session_message(newcomer), Some(Presented::Nothing)), "{newcomer}");
        }
        let short = r#"{"type":"session","session":"short"}"#;
        assert!(matches!(session_message(short), Some(Presented::Malformed)));
        for other in [
            "hello",
            "",
            r#"{"type":"message","text":"hi"}"#,
            r#"{"session":"AAAAAAAAAAAAAAAAAAAAAA"}"#,
            r#"{"type":"session","session":42}"#,
            r#"["session"]"#,
        ] {
            assert!(session_message(other).is_none(), "{other}");
        }
    }
}
