//! The text of each measured message (`--text`), and the check that a reader got exactly that.
//!
//! Every measured message starts with its stamp, `<sender>:<seq>:<send time in µs> `; what
//! follows is its body:
//! - `padding` (the default): `x` up to `--size` bytes in all, the stamp included. Cheap, and
//!   the same length every time, but it compresses to almost nothing: no figure of
//!   permessage-deflate may be taken from it.
//! - `chat`: plausible chat sentences ([`chat`]), words of a small English list with
//!   capitals and punctuation, mostly 20 to 300 characters and now and then longer, as people
//!   type them. Each body follows from the sender and the sequence number alone, so a reader
//!   rebuilds the body it should have got and compares ([`Body::matches`]), after inflating.
//!
//! The words hold no `"`, `\`, `<`, `>` or `&`: a server may escape those in its JSON
//! (Go's `encoding/json` writes `<` as `\u003c`), and the body must come back byte for byte.

use crate::client::Rng;

/// What follows the stamp of a measured message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// `x` up to this many bytes, stamp included.
    Padding(usize),
    /// [`chat`] of the sender and the sequence number.
    Chat,
}

impl Body {
    pub fn name(self) -> &'static str {
        match self {
            Body::Padding(_) => "padding",
            Body::Chat => "chat",
        }
    }

    /// Appends message `seq` of `sender` after its `stamp`.
    pub fn write(self, sender: usize, seq: u64, stamp: &str, out: &mut Vec<u8>) {
        out.extend_from_slice(stamp.as_bytes());
        match self {
            Body::Padding(size) => out.resize(out.len() + size.saturating_sub(stamp.len()), b'x'),
            Body::Chat => out.extend_from_slice(chat(sender, seq).as_bytes()),
        }
    }

    /// True when `text` (from the stamp to the end of the JSON string, its quote excluded) is
    /// what sender `sender` sent as message `seq`.
    pub fn matches(self, sender: usize, seq: u64, text: &[u8]) -> bool {
        let Some(space) = text.iter().position(|&b| b == b' ') else { return false };
        let body = &text[space + 1..];
        match self {
            Body::Padding(size) => {
                text.len() == size.max(space + 1) && body.iter().all(|&b| b == b'x')
            }
            Body::Chat => body == chat(sender, seq).as_bytes(),
        }
    }
}

/// The body of message `seq` of `sender`: sentences of [`WORDS`], its length drawn first (95 %
/// from 20 to 300 characters, leaning short; 5 % from 301 to 1,200), then filled with sentences
/// of 3 to 14 words and cut at the last word that fits.
pub fn chat(sender: usize, seq: u64) -> String {
    let mut rng = Rng::new(mix((sender as u64) << 32 ^ seq));
    let pick = |rng: &mut Rng, n: u64| (rng.next() % n) as usize;
    let target = if pick(&mut rng, 100) < 95 {
        // Two draws, the smaller kept: short lines are the common ones.
        20 + pick(&mut rng, 281).min(pick(&mut rng, 281))
    } else {
        301 + pick(&mut rng, 900)
    };
    let mut text = String::with_capacity(target + 16);
    'fill: loop {
        let words = 3 + pick(&mut rng, 12);
        for w in 0..words {
            let word = WORDS[pick(&mut rng, WORDS.len() as u64)];
            let gap = usize::from(!text.is_empty());
            if text.len() + gap + word.len() > target {
                break 'fill;
            }
            if gap == 1 {
                text.push(' ');
            }
            if w == 0 {
                let mut chars = word.chars();
                text.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                text.push_str(chars.as_str());
            } else {
                text.push_str(word);
            }
            if w + 1 < words && pick(&mut rng, 8) == 0 {
                text.push(',');
            }
        }
        text.push(['.', '.', '.', '?', '!'][pick(&mut rng, 5)]);
    }
    // At least the shortest length: a last word cut above may leave it short.
    while text.len() < MIN_LENGTH {
        text.push_str(" ok");
    }
    // A sentence cut short ends like one, without the comma it may have had.
    if text.ends_with(',') {
        text.pop();
    }
    if !text.ends_with(['.', '?', '!']) {
        text.push('.');
    }
    text
}

/// splitmix64's finaliser: neighbouring (sender, seq) pairs get unrelated seeds.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const MIN_LENGTH: usize = 20;

/// Common English words, chat register: what a chat room's lines are made of.
const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "and",
    "of",
    "I",
    "you",
    "it",
    "is",
    "that",
    "in",
    "for",
    "on",
    "with",
    "this",
    "was",
    "we",
    "be",
    "have",
    "are",
    "not",
    "just",
    "so",
    "but",
    "do",
    "what",
    "if",
    "at",
    "they",
    "can",
    "my",
    "me",
    "your",
    "about",
    "all",
    "like",
    "there",
    "will",
    "get",
    "one",
    "out",
    "up",
    "no",
    "yes",
    "yeah",
    "ok",
    "thanks",
    "think",
    "know",
    "now",
    "time",
    "people",
    "good",
    "really",
    "would",
    "more",
    "how",
    "when",
    "some",
    "who",
    "today",
    "tomorrow",
    "meeting",
    "deploy",
    "build",
    "server",
    "test",
    "tests",
    "release",
    "branch",
    "review",
    "merge",
    "fix",
    "bug",
    "issue",
    "logs",
    "error",
    "working",
    "broken",
    "again",
    "still",
    "maybe",
    "probably",
    "sure",
    "right",
    "sorry",
    "lunch",
    "coffee",
    "later",
    "back",
    "soon",
    "minutes",
    "after",
    "before",
    "please",
    "check",
    "look",
    "see",
    "said",
    "new",
    "old",
    "because",
    "also",
    "only",
    "then",
    "than",
    "here",
    "where",
    "why",
    "which",
    "could",
    "should",
    "need",
    "want",
    "going",
    "make",
    "take",
    "try",
    "let",
    "us",
    "them",
    "did",
    "done",
    "doing",
    "anyone",
    "everyone",
    "nothing",
    "something",
    "thing",
    "week",
    "weekend",
    "morning",
    "tonight",
    "home",
    "office",
    "call",
    "chat",
    "message",
    "link",
    "doc",
    "page",
    "update",
    "version",
    "change",
    "changes",
    "quick",
    "question",
    "answer",
    "idea",
    "plan",
    "nice",
    "great",
    "cool",
    "weird",
    "fine",
    "lol",
    "hey",
    "hi",
    "hello",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_in_range() {
        assert_eq!(chat(3, 17), chat(3, 17));
        assert_ne!(chat(3, 17), chat(3, 18));
        assert_ne!(chat(3, 17), chat(4, 17));
        let lengths: Vec<usize> = (0..2000).map(|seq| chat(seq % 10, seq as u64).len()).collect();
        assert!(lengths.iter().all(|&n| (20..=1200).contains(&n)), "{lengths:?}");
        let long = lengths.iter().filter(|&&n| n > 300).count();
        assert!((40..=160).contains(&long), "about 5 % longer than 300: {long}");
        let mean = lengths.iter().sum::<usize>() / lengths.len();
        assert!((80..=200).contains(&mean), "mean {mean}");
    }

    #[test]
    fn reads_like_chat() {
        for seq in 0..500 {
            let text = chat(1, seq);
            let plain = |c: char| c.is_ascii_alphabetic() || " ,.?!".contains(c);
            assert!(text.chars().all(plain), "{text}");
            assert!(text.starts_with(|c: char| c.is_ascii_uppercase()), "{text}");
            assert!(text.ends_with(['.', '?', '!']), "{text}");
            assert!(!text.contains("  ") && !text.contains(",."), "{text}");
        }
    }

    #[test]
    fn bodies_are_checked() {
        let mut out = Vec::new();
        Body::Chat.write(2, 9, "2:9:1234 ", &mut out);
        assert!(Body::Chat.matches(2, 9, &out));
        assert!(!Body::Chat.matches(2, 10, &out));
        assert!(!Body::Chat.matches(2, 9, &out[..out.len() - 1]));
        out.clear();
        Body::Padding(64).write(2, 9, "2:9:1234 ", &mut out);
        assert_eq!(out.len(), 64);
        assert!(Body::Padding(64).matches(2, 9, &out));
        assert!(!Body::Padding(65).matches(2, 9, &out));
        out[20] = b'y';
        assert!(!Body::Padding(64).matches(2, 9, &out));
        // A stamp longer than --size: nothing after it.
        out.clear();
        Body::Padding(4).write(2, 9, "2:9:1234 ", &mut out);
        assert!(Body::Padding(4).matches(2, 9, &out));
    }
}
