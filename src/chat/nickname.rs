//! Nicknames: what `?name=` may contain, the form names are compared in, and the `guest-NNNN`
//! names given when it is absent.
//!
//! A name is what it looks like. [`clean`] makes the name a person asked for into the one they
//! saw, in this order:
//! 1. control characters go; every kind of white space is a space;
//! 2. bidi controls are applied, then go with every other invisible character
//!    ([`bidi`], [`invisible`]): `alice` + U+200B and U+202E + `ecila` are `alice`;
//! 3. letters of another script that only look like the name's own are written in its script
//!    ([`script`]): `alice` with a Cyrillic `а` is `alice`;
//! 4. runs of spaces become one, the ends are trimmed, and the name is cut to [`MAX_CHARS`].
//!
//! Names are then compared by their [`skeleton()`]: after NFKC and case folding, every character
//! is taken for the one it is most easily mistaken for (Unicode TS #39), so `Alice`, `ALICE` and
//! `ａｌｉｃｅ` (fullwidth) find one holder (`chat/identity/names.rs`, `fold`).

mod bidi;
mod invisible;
mod script;
mod skeleton;

use ring::rand::{SecureRandom, SystemRandom};

pub use skeleton::skeleton;

/// Cleans a requested nickname (see the module's steps): controls and invisible characters
/// removed, bidi controls applied first, look-alike letters of another script replaced, white
/// space collapsed and trimmed, at most [`MAX_CHARS`] characters. `None` when nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    // A request may carry kilobytes; only the start of it can become a name. The cut is made
    // before anything else so that the work per name is bounded, and may leave less than
    // `MAX_CHARS`: a name padded with that many invisible characters was no honest one.
    let spaced: String = raw
        .chars()
        .take(READ_CHARS)
        .filter(|c| !c.is_control())
        .map(|c| if c.is_whitespace() || c == BRAILLE_BLANK { ' ' } else { c })
        .collect();
    let shown = bidi::as_shown(&spaced);
    let visible: String = shown.chars().filter(|&c| !invisible::is_ignorable(c)).collect();
    // Cut before `one_script`, whose work grows with the scripts a name mixes, and after it,
    // since a letter's look-alike may be longer.
    let name = words(&script::one_script(&words(&visible)));
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

/// `text`'s words, one space apart, cut to [`MAX_CHARS`] characters (with no space at the end).
fn words(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').filter(|word| !word.is_empty()).collect();
    let name: String = words.join(" ").chars().take(MAX_CHARS).collect();
    name.trim_end().to_string()
}

/// How much of a requested name is read: enough for [`MAX_CHARS`] characters with a few
/// invisible ones between them.
const READ_CHARS: usize = 8 * MAX_CHARS;

/// U+2800, a Braille cell with no dots: it shows as a space, but is no white space to Unicode.
const BRAILLE_BLANK: char = '\u{2800}';

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
    fn a_long_request_costs_a_name_not_more() {
        let mixed: String =
            ('\u{400}'..='\u{4FF}').chain('\u{370}'..='\u{3FF}').cycle().take(8000).collect();
        assert_eq!(clean(&mixed).unwrap().chars().count(), MAX_CHARS);
        let padded = format!("{}alice", "\u{200B}".repeat(READ_CHARS));
        assert_eq!(clean(&padded), None, "only the start of a request is read");
    }

    #[test]
    fn white_space_of_every_kind_is_one_space() {
        assert_eq!(clean("al\u{3000}\u{a0} ice\u{2800}"), Some("al ice".into()));
        assert_eq!(clean("\u{2800}\u{2003}"), None);
    }

    /// Finding 6 of issue 22: each of these was a name of its own while `alice` was held.
    #[test]
    fn every_impersonation_of_alice_cleans_to_a_name_held_by_alice() {
        let spellings = [
            "alice\u{200B}",
            "\u{202E}ecila",
            "alice\u{2060}",
            "alice\u{00AD}",
            "al\u{200D}ice",
            "alice\u{FEFF}",
            "\u{430}lice",
            "alic\u{435}",
            "Alice\u{180E}",
            "alice\u{E0001}",
        ];
        for spelling in spellings {
            let name = clean(spelling).unwrap();
            assert_eq!(name.to_lowercase(), "alice", "{spelling:?}");
            assert_eq!(skeleton(&name), skeleton("alice"), "{spelling:?}");
        }
    }

    #[test]
    fn a_name_of_invisible_characters_is_no_name() {
        assert_eq!(clean("\u{200B}\u{2060}\u{FEFF}\u{E0001}\u{3164}"), None);
        assert_eq!(clean("\u{202E} \u{202C}"), None);
    }

    #[test]
    fn names_in_other_scripts_keep_their_letters() {
        for name in ["Иван", "山田 Taro", "שלום", "محمد", "Ελένη", "Jürgen", "😀 party"]
        {
            assert_eq!(clean(name).as_deref(), Some(name));
        }
    }

    #[test]
    fn guests_get_four_digits() {
        let name = guest();
        assert!(name.starts_with("guest-") && name.len() == 10, "{name}");
        assert!(name[6..].chars().all(|c| c.is_ascii_digit()));
    }
}
