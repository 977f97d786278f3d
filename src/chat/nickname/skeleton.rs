//! The form nicknames are compared in: two names with one skeleton look alike, and are one name.
//!
//! Three steps, each undoing one way of writing the same-looking name differently:
//! 1. NFKC (UAX #15): compatibility forms become the plain letter: `ｆｕｌｌ` (fullwidth), `ﬁ`
//!    (a ligature), `²` and `é` spelt as `e` + U+0301 are `full`, `fi`, `2` and `é`.
//! 2. Case folding: `Alice`, `ALICE` and `alice` are one name.
//! 3. The confusable skeleton (Unicode TS #39 §4): every character becomes its prototype from
//!    confusables.txt, the character it is most easily mistaken for: Cyrillic `а` and Greek `α`
//!    are `a`, the digit `0` is `O`, `m` is `rn`. Case is folded once more after it, since a
//!    prototype may be a capital (`0` and `o` are then one).
//!
//! A skeleton is only a key: it is never shown (`m` would read `rn`). It may confuse names that a
//! careful reader tells apart (`tom` and `torn`): the second one asked for gets `torn-2`, which
//! costs less than one name that passes for another.
//!
//! Case folding comes before the skeleton so that `ALICE` is `alice`; so a capital `I`, which
//! TS #39 takes for `l`, is here an `i`: `AIice` is not `alice`. In the page's font the two differ.

use unicode_normalization::UnicodeNormalization;

/// The key under which `name` (already [`clean`](super::clean)ed) is held: names with one key
/// look the same.
pub fn skeleton(name: &str) -> String {
    let folded = case_fold(&name.nfkc().collect::<String>());
    case_fold(&unicode_security::skeleton(&folded).collect::<String>())
}

/// Unicode case folding, close enough for a key: upper case first turns `ß` into `SS` and a
/// final `ς` into `Σ`, so that lower case then gives every spelling one form.
fn case_fold(text: &str) -> String {
    text.to_uppercase().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_does_not_matter() {
        for name in ["Alice", "ALICE", "aLiCe"] {
            assert_eq!(skeleton(name), skeleton("alice"), "{name}");
        }
        assert_eq!(skeleton("STRASSE"), skeleton("straße"));
        assert_eq!(skeleton("ΣΟΦΟΣ"), skeleton("σοφος"));
    }

    #[test]
    fn look_alikes_are_one_name() {
        let alike = [
            ("\u{430}lice", "alice"),  // Cyrillic а
            ("alic\u{435}", "alice"),  // Cyrillic е
            ("\u{3b1}lice", "alice"),  // Greek α
            ("ａｌｉｃｅ", "alice"),   // fullwidth
            ("b0b", "bob"),            // digit zero
            ("a\u{301}lice", "álice"), // e + combining acute
            ("tom", "torn"),
            ("\u{440}\u{43e}\u{440}", "pop"), // Cyrillic рор, all of it
        ];
        for (one, other) in alike {
            assert_eq!(skeleton(one), skeleton(other), "{one} and {other}");
        }
    }

    #[test]
    fn different_names_stay_different() {
        for (one, other) in
            [("alice", "alicia"), ("alice", "alice-2"), ("bob", "b o b"), ("AIice", "alice")]
        {
            assert_ne!(skeleton(one), skeleton(other), "{one} and {other}");
        }
    }

    #[test]
    fn suffixed_names_stay_apart() {
        let keys: std::collections::HashSet<_> =
            (2..=100).map(|n| skeleton(&format!("alice-{n}"))).collect();
        assert_eq!(keys.len(), 99);
    }
}
