//! Bidi controls in a nickname: the name becomes what they made it look like.
//!
//! The Unicode Bidirectional Algorithm (UAX #9) orders the characters of a line for display.
//! Explicit formatting characters change that order: U+202E (RIGHT-TO-LEFT OVERRIDE) followed by
//! `ecila` is shown as `alice`. They are invisible, so [`invisible`](super::invisible) removes
//! them; but `ecila` is not what the reader saw. So before they go, a name that has them is
//! rewritten in the order it was shown, as a left-to-right line (the page's direction): a name
//! is what it looks like, and `alice` is held.
//!
//! That rewrite is only faithful for a name without right-to-left letters (Hebrew, Arabic, …):
//! stored in display order, those would be shown reversed once the controls are gone. Such a
//! name only loses its controls: the page then orders it by the same algorithm as every other
//! name, and a name is compared as it is then shown, so it can pass for nobody either.
//! The marks (U+200E, U+200F, U+061C) order nothing but the white space and punctuation around
//! them; they are simply removed.

use std::borrow::Cow;

use unicode_bidi::{BidiClass, BidiInfo, Level, bidi_class};

/// `name` with its explicit bidi formatting applied: in display order (left to right) when it
/// has such formatting and no right-to-left letters, else unchanged. The controls themselves
/// are still in it; [`invisible`](super::invisible) removes them.
pub fn as_shown(name: &str) -> Cow<'_, str> {
    let formatted = name.chars().any(|c| EXPLICIT.iter().any(|r| r.contains(&c)));
    let right_to_left = name.chars().any(|c| matches!(bidi_class(c), BidiClass::R | BidiClass::AL));
    if !formatted || right_to_left {
        return Cow::Borrowed(name);
    }
    let info = BidiInfo::new(name, Some(Level::ltr()));
    let shown: String = info
        .paragraphs
        .iter()
        .map(|paragraph| info.reorder_line(paragraph, paragraph.range.clone()))
        .collect();
    Cow::Owned(shown)
}

/// The explicit formatting characters (UAX #9 §2): embeddings and overrides (LRE, RLE, PDF, LRO,
/// RLO) and isolates (LRI, RLI, FSI, PDI).
const EXPLICIT: [std::ops::RangeInclusive<char>; 2] =
    ['\u{202A}'..='\u{202E}', '\u{2066}'..='\u{2069}'];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_is_read_as_shown() {
        assert_eq!(as_shown("\u{202E}ecila"), "\u{202E}alice");
        assert_eq!(as_shown("\u{202E}ecila\u{202C}"), "\u{202E}alice\u{202C}");
        assert_eq!(as_shown("bob\u{202E}ecila"), "bob\u{202E}alice");
    }

    #[test]
    fn an_embedding_reorders_numbers_and_the_space_between_them() {
        // In a right-to-left embedding, the space between two numbers takes their direction.
        let shown = as_shown("bob \u{202B}1 2\u{202C}");
        let plain: String = shown.chars().filter(|c| !EXPLICIT[0].contains(c)).collect();
        assert_eq!(plain, "bob 2 1");
    }

    #[test]
    fn names_without_formatting_or_with_right_to_left_letters_are_left_alone() {
        assert!(matches!(as_shown("alice"), Cow::Borrowed("alice")));
        assert!(matches!(as_shown("שלום"), Cow::Borrowed("שלום")));
        let isolated = "\u{2067}שלום\u{2069} bob";
        assert!(matches!(as_shown(isolated), Cow::Borrowed(n) if n == isolated));
    }
}
