//! What a reaction may be: one emoji, at most [`MAX_EMOJI_BYTES`] bytes.
//!
//! "One emoji" is one of the sequences Unicode's emoji standard (UTS #51 §1.4) defines, which a
//! screen shows as one picture:
//! - a pictograph, optionally followed by the emoji presentation selector (U+FE0F) or a skin
//!   tone (U+1F3FB to U+1F3FF): `👍`, `👍🏽`, `❤️`;
//! - such pictographs joined by ZERO WIDTH JOINER (U+200D): `👩‍💻`, `🏳️‍🌈`;
//! - two regional indicators, a flag: `🇫🇷`;
//! - a keycap: a digit, `#` or `*`, optionally U+FE0F, then U+20E3: `1️⃣`;
//! - a tag sequence: U+1F3F4, tags (U+E0020 to U+E007E), then U+E007F: the flag of Scotland.
//!
//! Anything else (a letter, two emoji, an emoji with text after it) is refused. The pictographs
//! are the blocks Unicode fills with them; the table is small and needs no crate.

/// The longest reaction, in bytes.
pub const MAX_EMOJI_BYTES: usize = 32;

/// True when `text` is exactly one emoji of at most [`MAX_EMOJI_BYTES`] bytes.
pub fn is_one_emoji(text: &str) -> bool {
    if text.is_empty() || text.len() > MAX_EMOJI_BYTES {
        return false;
    }
    let chars: Vec<char> = text.chars().collect();
    flag(&chars) || keycap(&chars) || tag_sequence(&chars) || zwj_sequence(&chars)
}

/// Two regional indicators.
fn flag(chars: &[char]) -> bool {
    chars.len() == 2 && chars.iter().all(|&c| is_regional_indicator(c))
}

/// `[0-9#*]`, an optional U+FE0F, U+20E3.
fn keycap(chars: &[char]) -> bool {
    match chars {
        [base, '\u{FE0F}', '\u{20E3}'] | [base, '\u{20E3}'] => {
            base.is_ascii_digit() || *base == '#' || *base == '*'
        }
        _ => false,
    }
}

/// U+1F3F4, at least one tag, U+E007F.
fn tag_sequence(chars: &[char]) -> bool {
    match chars {
        ['\u{1F3F4}', tags @ .., '\u{E007F}'] => {
            !tags.is_empty() && tags.iter().all(|c| ('\u{E0020}'..='\u{E007E}').contains(c))
        }
        _ => false,
    }
}

/// Pictographs, each with an optional selector or skin tone, joined by U+200D.
fn zwj_sequence(chars: &[char]) -> bool {
    let mut at = 0;
    loop {
        let Some(&c) = chars.get(at) else { return false };
        if !is_pictograph(c) {
            return false;
        }
        at += 1;
        if chars.get(at).is_some_and(|&c| c == '\u{FE0F}' || is_skin_tone(c)) {
            at += 1;
        }
        match chars.get(at) {
            None => return true,
            Some('\u{200D}') => at += 1,
            Some(_) => return false,
        }
    }
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

fn is_skin_tone(c: char) -> bool {
    ('\u{1F3FB}'..='\u{1F3FF}').contains(&c)
}

/// The pictographs: Unicode's emoji blocks, and the older symbols emoji took over.
fn is_pictograph(c: char) -> bool {
    if is_regional_indicator(c) || is_skin_tone(c) {
        return false;
    }
    let u = c as u32;
    matches!(
        u,
        0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139
            | 0x2194..=0x2199 | 0x21A9..=0x21AA | 0x231A..=0x231B | 0x2328 | 0x23CF
            | 0x23E9..=0x23F3 | 0x23F8..=0x23FA | 0x24C2 | 0x25AA..=0x25AB | 0x25B6 | 0x25C0
            | 0x25FB..=0x25FE | 0x2600..=0x27BF | 0x2934..=0x2935 | 0x2B05..=0x2B07
            | 0x2B1B..=0x2B1C | 0x2B50 | 0x2B55 | 0x3030 | 0x303D | 0x3297 | 0x3299
            | 0x1F000..=0x1FAFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_of_any_shape() {
        for ok in [
            "👍",
            "👍🏽",
            "❤️",
            "❤",
            "🎉",
            "😂",
            "👩‍💻",
            "🏳️‍🌈",
            "👨‍👩‍👧‍👦",
            "🇫🇷",
            "1️⃣",
            "#⃣",
            "🏴\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "☕",
            "⭐",
            "🫠",
        ] {
            assert!(is_one_emoji(ok), "{ok:?} is one emoji");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        let long = "👨‍👩‍👧‍👦".repeat(2);
        for bad in [
            "",
            "a",
            "ab",
            "1",
            "👍👍",
            "👍 ",
            " 👍",
            "👍a",
            "🇫",
            "🇫🇷🇫🇷",
            "\u{200D}",
            "👍\u{200D}",
            "🏽",
            "<script>",
            "\u{FE0F}",
            "🏴\u{E007F}",
            &long,
        ] {
            assert!(!is_one_emoji(bad), "{bad:?} is not one emoji");
        }
    }
}
