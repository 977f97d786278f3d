//! Sessions: who a client is, without accounts.
//!
//! A session is 128 random bits, written as 22 characters of base64url (no padding). The server
//! gives one in `hello`; a client that presents it again (`/ws?session=…`, or the first message
//! `{"type":"session",…}` after `/ws?session_in=frame`) is the same person. It is a bearer secret, so the server never keeps, logs or
//! compares it: what it keeps is the session's public [`UserId`], a hash of it, and a session
//! presented is looked up by its hash, so no comparison ever depends on the secret's bytes. The
//! user id goes out with everything a person says (the page marks "own" messages by it) and
//! through Kafka, and tells nothing about the session.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

/// The query key a client may present its session in (`/ws?session=…`); the wire inspector hides
/// its value.
pub const SESSION_PARAM: &str = "session";

/// A session secret. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Session([u8; SECRET_BYTES]);

/// A session's public name: the first 12 bytes of SHA-256 of a domain tag and the secret, written
/// in base64url (16 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId([u8; USER_ID_BYTES]);

impl Session {
    /// A new session from the system's randomness; `None` if it has none to give.
    pub fn new() -> Option<Session> {
        let mut secret = [0u8; SECRET_BYTES];
        SystemRandom::new().fill(&mut secret).ok()?;
        Some(Session(secret))
    }

    /// Reads a presented session: exactly 22 characters of the base64url alphabet that decode to
    /// 16 bytes. Anything else (a wrong length or alphabet, padding, white space) is `None`, which
    /// the server treats like an expired session.
    pub fn parse(raw: &str) -> Option<Session> {
        if raw.len() != ENCODED_LEN {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        // 22 characters carry 132 bits; the last 4 must be zero for the text to be canonical.
        let secret: [u8; SECRET_BYTES] = bytes.try_into().ok()?;
        (URL_SAFE_NO_PAD.encode(secret) == raw).then_some(Session(secret))
    }

    /// The text the client keeps and presents.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The session's public id.
    pub fn user_id(&self) -> UserId {
        let mut input = Vec::with_capacity(USER_ID_TAG.len() + SECRET_BYTES);
        input.extend_from_slice(USER_ID_TAG);
        input.extend_from_slice(&self.0);
        let hash = digest(&SHA256, &input);
        let mut id = [0u8; USER_ID_BYTES];
        id.copy_from_slice(&hash.as_ref()[..USER_ID_BYTES]);
        UserId(id)
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Session(…)")
    }
}

impl UserId {
    /// The id as text: 16 characters of base64url.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads an id written by [`UserId::to_text`] (a Kafka record's); `None` for anything else.
    pub fn parse(raw: &str) -> Option<UserId> {
        let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
        bytes.try_into().ok().map(UserId)
    }

    /// The id of records written before user ids existed: nobody's.
    pub const NOBODY: UserId = UserId([0; USER_ID_BYTES]);
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({self})")
    }
}

impl serde::Serialize for UserId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_text())
    }
}

impl<'de> serde::Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UserId, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        UserId::parse(&text).ok_or_else(|| serde::de::Error::custom("not a user id"))
    }
}

/// 64 random bits from the system (for epochs, producer ids, name suffixes: nothing secret);
/// without randomness, the time and the process id, which still tell two runs apart.
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return nanos as u64 ^ u64::from(std::process::id()) << 32;
    }
    u64::from_le_bytes(bytes)
}

/// Random bytes in a session.
const SECRET_BYTES: usize = 16;
/// Characters of a session's text.
pub const ENCODED_LEN: usize = 22;
/// Hash bytes kept in a user id.
const USER_ID_BYTES: usize = 12;
/// Keeps user ids apart from any other hash of the secret.
const USER_ID_TAG: &[u8] = b"websocketchat user id\0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_reads_back_and_its_id_is_stable_and_different() {
        let session = Session::new().unwrap();
        let text = session.to_text();
        assert_eq!(text.len(), ENCODED_LEN);
        assert_eq!(Session::parse(&text), Some(session.clone()));
        assert_eq!(session.user_id(), Session::parse(&text).unwrap().user_id());
        assert_eq!(session.user_id().to_text().len(), 16);
        assert!(!text.contains(&session.user_id().to_text()));
        assert_ne!(Session::new().unwrap().user_id(), session.user_id());
        assert_eq!(format!("{session:?}"), "Session(…)", "Debug never shows the secret");
    }

    #[test]
    fn only_canonical_22_character_base64url_is_a_session() {
        let good = "AAAAAAAAAAAAAAAAAAAAAA";
        assert!(Session::parse(good).is_some());
        for bad in [
            "",
            "AAAAAAAAAAAAAAAAAAAAA",   // 21
            "AAAAAAAAAAAAAAAAAAAAAAA", // 23
            "AAAAAAAAAAAAAAAAAAAAA+",  // not base64url
            "AAAAAAAAAAAAAAAAAAAAA/",  // not base64url
            "AAAAAAAAAAAAAAAAAAAA==",  // padding
            "AAAAAAAAAAAAAAAAAAAA A",  // white space
            "AAAAAAAAAAAAAAAAAAAAAB",  // the last 4 bits not zero: not canonical
            "ÄAAAAAAAAAAAAAAAAAAAA",   // not ASCII
        ] {
            assert_eq!(Session::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_user_id_of_a_known_session() {
        // A reference value: changing the derivation would make every stored id a stranger.
        // Python: base64.urlsafe_b64encode(sha256(b"websocketchat user id\0" + bytes(16))
        // .digest()[:12]).
        let session = Session::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(session.user_id().to_text(), "LJgLhthO3_LJUFoX");
        assert_eq!(UserId::parse("LJgLhthO3_LJUFoX"), Some(session.user_id()));
        assert_eq!(UserId::parse("LJgLhthO3_LJUFo"), None);
    }
}
