//! The chat's messages: JSON objects carried one per text frame.
//!
//! This is the application protocol on top of RFC 6455; framing, masking and control frames are
//! tungstenite's job. A client sends `{"type":"message","text":"hello"}` (or just `hello`: a text
//! frame that is not a JSON object is taken as the text itself, so typing into websocat works). The
//! server sends the [`ServerEvent`]s below. The README's "Protocol" section is the reference.

use serde::Serialize;

/// A chat message as the server stores and sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chat {
    /// Position in the one order every client sees; strictly increasing within an epoch.
    pub id: u64,
    /// The sender's nickname.
    pub name: String,
    /// The text, as sent (trimmed).
    pub text: String,
    /// When the server received it, RFC 3339 UTC with milliseconds.
    pub ts: String,
}

/// Everything the server sends, tagged by `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerEvent<'a> {
    /// First frame on a new connection: the settled nickname and the limits that apply.
    Hello {
        /// The nickname after clean-up (or the `guest-NNNN` one given).
        name: &'a str,
        /// The largest frame payload the client may send.
        max_message_bytes: usize,
        /// Messages per second allowed (a burst of twice that is tolerated).
        rate_limit_per_sec: u32,
    },
    /// Second frame: the messages a newcomer missed.
    History {
        /// Identifies the id sequence; a `since` from another epoch cannot be resumed.
        epoch: &'a str,
        /// Oldest first.
        messages: Vec<ServerEvent<'a>>,
        /// False when messages after the requested point are no longer kept.
        complete: bool,
    },
    /// The nicknames online, sorted; sent on connect and whenever the list changes.
    Users {
        /// Distinct nicknames.
        users: Vec<&'a str>,
    },
    /// Someone connected.
    Join {
        /// Their nickname.
        name: &'a str,
        /// When.
        ts: &'a str,
    },
    /// Someone disconnected.
    Leave {
        /// Their nickname.
        name: &'a str,
        /// When.
        ts: &'a str,
    },
    /// A chat message.
    Message(&'a Chat),
    /// Input that was refused; the connection stays open.
    Error {
        /// Machine-readable: `empty`, `bad_request`, `rate_limited`.
        code: &'a str,
        /// For people.
        message: &'a str,
    },
}

impl ServerEvent<'_> {
    /// The JSON text of this event.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server events contain only strings and numbers")
    }
}

/// Why a client's text frame was not accepted as a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputError {
    /// The text is empty or only white space.
    Empty,
    /// A JSON object that is not `{"type":"message","text":"…"}`.
    BadRequest,
}

impl InputError {
    /// The `code` of the error event.
    pub fn code(self) -> &'static str {
        match self {
            InputError::Empty => "empty",
            InputError::BadRequest => "bad_request",
        }
    }

    /// The `message` of the error event.
    pub fn message(self) -> &'static str {
        match self {
            InputError::Empty => "empty messages are not sent",
            InputError::BadRequest => r#"expected {"type":"message","text":"…"} or plain text"#,
        }
    }
}

/// Extracts the chat text from a client's text frame.
pub fn parse_client_text(frame: &str) -> Result<String, InputError> {
    let text = match serde_json::from_str::<serde_json::Value>(frame) {
        Ok(serde_json::Value::Object(object)) => {
            // `type` may be left out; if present it must be the string "message".
            let kind = object.get("type").map_or(Some("message"), |t| t.as_str());
            match (kind, object.get("text")) {
                (Some("message"), Some(serde_json::Value::String(text))) => text.clone(),
                _ => return Err(InputError::BadRequest),
            }
        }
        // Not a JSON object: the frame is the text, as a person typing into websocat means it.
        _ => frame.to_string(),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(InputError::Empty);
    }
    Ok(trimmed.to_string())
}

/// The current time as the protocol writes it: `2026-11-26T05:00:00.123Z`.
pub fn timestamp() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames() {
        assert_eq!(parse_client_text(r#"{"type":"message","text":" hi "}"#), Ok("hi".into()));
        assert_eq!(parse_client_text(r#"{"text":"hi"}"#), Ok("hi".into()));
        assert_eq!(parse_client_text("plain words"), Ok("plain words".into()));
        assert_eq!(parse_client_text("42"), Ok("42".into()));
        assert_eq!(parse_client_text(r#""quoted""#), Ok(r#""quoted""#.into()));
        assert_eq!(parse_client_text("  \n\t"), Err(InputError::Empty));
        assert_eq!(parse_client_text(r#"{"type":"message","text":"  "}"#), Err(InputError::Empty));
        assert_eq!(
            parse_client_text(r#"{"type":"message","text":5}"#),
            Err(InputError::BadRequest)
        );
        assert_eq!(parse_client_text(r#"{"type":"nick","text":"x"}"#), Err(InputError::BadRequest));
        assert_eq!(parse_client_text("{}"), Err(InputError::BadRequest));
        assert_eq!(parse_client_text(r#"{"type":null,"text":"x"}"#), Err(InputError::BadRequest));
    }

    #[test]
    fn events_serialize_with_their_type() {
        let chat = Chat { id: 42, name: "alice".into(), text: "hello".into(), ts: "t".into() };
        assert_eq!(
            ServerEvent::Message(&chat).to_json(),
            r#"{"type":"message","id":42,"name":"alice","text":"hello","ts":"t"}"#
        );
        let history = ServerEvent::History {
            epoch: "e",
            messages: vec![ServerEvent::Message(&chat)],
            complete: true,
        };
        assert!(
            history.to_json().starts_with(
                r#"{"type":"history","epoch":"e","messages":[{"type":"message","id":42"#
            )
        );
        assert_eq!(
            ServerEvent::Users { users: vec!["a", "b"] }.to_json(),
            r#"{"type":"users","users":["a","b"]}"#
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        let ts = timestamp();
        assert_eq!(ts.len(), "2026-11-26T05:00:00.123Z".len(), "{ts}");
        assert!(ts.ends_with('Z'));
    }
}
