//! Characters that show nothing: the Unicode property `Default_Ignorable_Code_Point`
//! (DerivedCoreProperties.txt). A renderer draws none of them, so `alice` + U+200B looks exactly
//! like `alice`: a nickname keeps none of them.
//!
//! The property covers the zero-width space and joiners (U+200B to U+200D), the word joiner
//! (U+2060), the soft hyphen (U+00AD), the byte order mark (U+FEFF), the Mongolian vowel separator
//! (U+180E), variation selectors, the Hangul fillers, the tag characters (U+E0000 to U+E0FFF) and
//! every bidi control (U+200E, U+200F, U+061C, U+202A to U+202E, U+2066 to U+2069): those are
//! first given their effect by [`bidi`](super::bidi), then removed here with the rest.

/// Whether `c` is a default-ignorable code point: a renderer shows nothing for it.
pub fn is_ignorable(c: char) -> bool {
    DEFAULT_IGNORABLE.iter().any(|&(first, last)| (first..=last).contains(&c))
}

/// `Default_Ignorable_Code_Point`, Unicode 16 (DerivedCoreProperties.txt), as ranges; the
/// unassigned code points the property reserves are included, so a later version adds none.
const DEFAULT_IGNORABLE: [(char, char); 17] = [
    ('\u{00AD}', '\u{00AD}'),   // soft hyphen
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{061C}', '\u{061C}'),   // Arabic letter mark
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'),   // Mongolian free variation selectors, vowel separator
    ('\u{200B}', '\u{200F}'),   // zero width space, non-joiner, joiner; LRM, RLM
    ('\u{202A}', '\u{202E}'),   // bidi embeddings and overrides
    ('\u{2060}', '\u{206F}'),   // word joiner, invisible operators, bidi isolates, deprecated
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FEFF}', '\u{FEFF}'),   // zero width no-break space (byte order mark)
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFF8}'),   // unassigned specials
    ('\u{1BCA0}', '\u{1BCA3}'), // shorthand format controls
    ('\u{1D173}', '\u{1D17A}'), // musical symbol formatting
    ('\u{E0000}', '\u{E0FFF}'), // tags, variation selectors supplement
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_are_ignorable() {
        for c in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{00AD}', '\u{FEFF}'] {
            assert!(is_ignorable(c), "{:04X}", c as u32);
        }
        for c in ['\u{180E}', '\u{E0001}', '\u{E007F}', '\u{FE0F}', '\u{E0100}', '\u{3164}'] {
            assert!(is_ignorable(c), "{:04X}", c as u32);
        }
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}'] {
            assert!(is_ignorable(c), "bidi control {:04X}", c as u32);
        }
        assert!(is_ignorable('\u{061C}'));
    }

    #[test]
    fn visible_characters_are_not() {
        for c in ['a', ' ', '-', 'é', 'а', '山', '\u{0301}', '😀', '\u{2800}', '\u{00A0}'] {
            assert!(!is_ignorable(c), "{:04X}", c as u32);
        }
    }
}
