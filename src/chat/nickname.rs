//! Nicknames: what `?name=` may contain, and the `guest-NNNN` names given when it is absent.

use ring::rand::{SecureRandom, SystemRandom};

/// Cleans a requested nickname: control characters removed, white space trimmed, at most
/// [`MAX_CHARS`] characters. `None` when nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    let without_controls: String = raw.chars().filter(|c| !c.is_control()).collect();
    let name: String = without_controls.trim().chars().take(MAX_CHARS).collect();
    let name = name.trim_end().to_string();
    (!name.is_empty()).then_some(name)
}

/// A name for a client that gave none: `guest-` and four random digits.
pub fn guest() -> String {
    let mut bytes = [0u8; 2];
    // If the system has no randomness left we still want a name; 0 is as good as any.
    let _ = SystemRandom::new().fill(&mut bytes);
    format!("guest-{:04}", u16::from_le_bytes(bytes) % 10_000)
}

/// The longest nickname, in characters.
pub const MAX_CHARS: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean("  alice \t"), Some("alice".into()));
        assert_eq!(clean("bo\u{0}b\n"), Some("bob".into()));
        assert_eq!(clean("\u{7}\u{1b}  "), None);
        assert_eq!(clean(""), None);
        let long = "é".repeat(40);
        assert_eq!(clean(&long).unwrap().chars().count(), MAX_CHARS);
        assert_eq!(clean(&format!("{} x", "a".repeat(31))), Some("a".repeat(31)));
    }

    #[test]
    fn guests_get_four_digits() {
        let name = guest();
        assert!(name.starts_with("guest-") && name.len() == 10, "{name}");
        assert!(name[6..].chars().all(|c| c.is_ascii_digit()));
    }
}
