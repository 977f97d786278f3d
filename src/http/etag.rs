//! Entity tags for the compiled-in assets, and `If-None-Match` (RFC 9110 §8.8.3, §13.1.2).
//!
//! The page and its modules are `include_bytes!`-ed, so their bytes can only change with the
//! binary: a hash of the bytes, computed by the compiler ([`of`] is a `const fn`), is a strong
//! validator. The answers say `Cache-Control: no-cache` ("store it, but ask before reusing it"), so
//! a browser that loads the page again sends `If-None-Match: "…"` with the tag it holds, and gets
//! a `304 Not Modified` without a body when the bytes are still the same: a reload costs a few
//! hundred bytes per module instead of the whole page, and a new binary is picked up at once.
//!
//! ```text
//! ETag          = entity-tag
//! entity-tag    = [ weak ] opaque-tag        weak = %s"W/"
//! opaque-tag    = DQUOTE *etagc DQUOTE
//! If-None-Match = "*" / #entity-tag
//! ```

/// A strong entity tag: a 64-bit hash of an asset's bytes, written `"<16 hex digits>"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ETag(u64);

impl ETag {
    /// The tag as it goes on the wire, quotes included.
    pub fn header_value(self) -> String {
        format!("\"{:016x}\"", self.0)
    }

    /// True when an `If-None-Match` value names this tag, or is `*`: the client holds these
    /// bytes, so the answer is `304`. RFC 9110 §13.1.2: "A recipient MUST use the weak comparison
    /// function when comparing entity tags for If-None-Match", so `W/"…"` matches too.
    pub fn matches(self, if_none_match: &str) -> bool {
        let ours = self.header_value();
        if_none_match.split(',').map(str::trim).any(|tag| {
            let opaque = tag.strip_prefix("W/").unwrap_or(tag);
            tag == "*" || opaque == ours
        })
    }
}

/// The tag of `bytes`: FNV-1a, 64 bits. Not a defence against anyone (the bytes are ours and
/// public); it only has to change when the bytes do, and be cheap enough for the compiler.
pub const fn of(bytes: &[u8]) -> ETag {
    let mut hash = FNV_OFFSET;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(FNV_PRIME);
        i += 1;
    }
    ETag(hash)
}

/// FNV-1a's 64-bit offset basis and prime (the values of its specification).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_fnv_1a_of_the_bytes() {
        // FNV-1a's published test vectors.
        assert_eq!(of(b"").header_value(), "\"cbf29ce484222325\"");
        assert_eq!(of(b"a").header_value(), "\"af63dc4c8601ec8c\"");
        assert_ne!(of(b"app.js v1"), of(b"app.js v2"));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_a_star() {
        let tag = of(b"a");
        for value in [
            "\"af63dc4c8601ec8c\"",
            "W/\"af63dc4c8601ec8c\"",
            "\"0000000000000000\", \"af63dc4c8601ec8c\"",
            "*",
        ] {
            assert!(tag.matches(value), "{value}");
        }
        for value in ["", "af63dc4c8601ec8c", "\"AF63DC4C8601EC8C\"", "\"0000000000000000\""] {
            assert!(!tag.matches(value), "{value}");
        }
    }
}
