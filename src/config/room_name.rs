//! Room names: what a room may be called.
//!
//! A room name is 1 to [`MAX_CHARS`] characters of `a-z 0-9 - _`, starting with a letter or a
//! digit; input is lower-cased first, so `Rust` and `rust` are one room. Names are checked where
//! they enter (`DEFAULT_ROOM` at start-up, the client's request, a record from the bus), so
//! everything past that point holds a valid one.
//!
//! The type lives in the foundation, below the chat that is made of rooms, because the
//! configuration holds one (`DEFAULT_ROOM`) and every layer above it names rooms: the chat, the
//! bus, the store.

use std::fmt;
use std::sync::Arc;

/// A valid room name. Cheap to clone: rooms are named in every event of the hot path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(Arc<str>);

impl RoomName {
    /// Lower-cases `raw` and checks it; `None` when it is not a room name.
    pub fn parse(raw: &str) -> Option<RoomName> {
        let name = raw.to_ascii_lowercase();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_".contains(c));
        (first_ok && rest_ok && name.len() <= MAX_CHARS).then(|| RoomName(name.into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest room name, in characters.
pub const MAX_CHARS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_cased_and_checked() {
        assert_eq!(RoomName::parse("Rust").unwrap().as_str(), "rust");
        assert_eq!(RoomName::parse("9lives_x-1").unwrap().as_str(), "9lives_x-1");
        assert!(RoomName::parse(&"a".repeat(32)).is_some());
        for bad in ["", "-x", "_x", "a b", "é", "a.b", "a/b", &"a".repeat(33)] {
            assert_eq!(RoomName::parse(bad), None, "{bad:?}");
        }
    }
}
