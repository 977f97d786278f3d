//! `API_TOKENS`: the bots that may post through the HTTP API, each with its bearer token.
//!
//! The value is a comma list of `name:token` pairs, such as
//! `API_TOKENS=deploybot:3q2-…,alerts:Zx9…`. Each pair makes one bot (`chat/bots.rs`): the name is
//! the nickname its messages carry, reserved for it (no session can take it), and the token is
//! the secret a script presents in `Authorization: Bearer <token>` (RFC 6750 §2.1).
//!
//! Checked here, once, at start, so that a mistake stops the server with a clear error rather
//! than lets a weak or ambiguous token through:
//! - a name is 1 to 32 of `A-Z a-z 0-9 - _` (always a valid nickname, and one that looks like
//!   no other: see `chat/nickname.rs`); names are distinct, without case;
//! - a token is at least [`MIN_TOKEN_CHARS`] (and at most [`MAX_TOKEN_CHARS`]) characters of
//!   `A-Z a-z 0-9 - _` (base64url, what `websocketchat token` prints); tokens are distinct.
//!
//! The error names the variable and the pair at fault by its place and its name, never a token:
//! start-up errors reach logs.

use crate::error::Error;

/// One bot: its name and its bearer token.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The bot's nickname.
    pub name: String,
    /// The secret a request presents. Its `Debug` does not show it.
    pub token: String,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiToken({}, …)", self.name)
    }
}

/// Reads `API_TOKENS`; an empty value is no bot.
pub fn parse(raw: &str) -> Result<Vec<ApiToken>, Error> {
    let mut bots: Vec<ApiToken> = Vec::new();
    for (place, pair) in raw.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let fail = |expected: &'static str| {
            let name = pair.split_once(':').map_or("", |(name, _)| name);
            let shown = if is_name(name) { format!(": {name}") } else { String::new() };
            Error::Config {
                var: "API_TOKENS",
                value: format!("pair {}{shown} (its token not shown)", place + 1),
                expected,
            }
        };
        let Some((name, token)) = pair.split_once(':') else {
            return Err(fail("a comma list of name:token pairs"));
        };
        let (name, token) = (name.trim(), token.trim());
        if !is_name(name) {
            return Err(fail("a bot name of 1 to 32 characters of A-Z a-z 0-9 - _"));
        }
        if !is_token(token) {
            return Err(fail(
                "a token of 32 to 256 characters of A-Z a-z 0-9 - _ (websocketchat token prints one)",
            ));
        }
        if bots.iter().any(|b| b.name.eq_ignore_ascii_case(name)) {
            return Err(fail("distinct bot names (compared without case)"));
        }
        if bots.iter().any(|b| b.token == token) {
            return Err(fail("a token of its own for each bot"));
        }
        bots.push(ApiToken { name: name.to_string(), token: token.to_string() });
    }
    Ok(bots)
}

/// True for a bot name: 1 to 32 of `A-Z a-z 0-9 - _`.
fn is_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.chars().all(is_token_char)
}

/// True for a token: [`MIN_TOKEN_CHARS`] to [`MAX_TOKEN_CHARS`] of `A-Z a-z 0-9 - _`.
pub fn is_token(token: &str) -> bool {
    (MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&token.len()) && token.chars().all(is_token_char)
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The shortest token: 32 characters of base64url carry 192 bits.
pub const MIN_TOKEN_CHARS: usize = 32;
/// The longest token.
pub const MAX_TOKEN_CHARS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    const T1: &str = "abcdefghijklmnopqrstuvwxyz012345";
    const T2: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_6789";

    fn error(raw: &str) -> String {
        parse(raw).unwrap_err().to_string()
    }

    #[test]
    fn pairs_are_read() {
        let bots = parse(&format!(" deploy-bot:{T1} , Alerts:{T2},")).unwrap();
        assert_eq!(bots.len(), 2);
        assert_eq!((bots[0].name.as_str(), bots[0].token.as_str()), ("deploy-bot", T1));
        assert_eq!(bots[1].name, "Alerts");
        assert!(parse("").unwrap().is_empty());
        assert_eq!(format!("{:?}", bots[0]), "ApiToken(deploy-bot, …)", "Debug hides the token");
    }

    #[test]
    fn bad_pairs_are_refused_without_showing_a_token() {
        for (raw, expected) in [
            (format!("bot{T1}"), "name:token"),
            (format!("bad name:{T1}"), "bot name"),
            (format!(":{T1}"), "bot name"),
            ("bot:short".to_string(), "32 to 256"),
            (format!("bot:{T1}!"), "32 to 256"),
            (format!("bot:{T1},BOT:{T2}"), "distinct bot names"),
            (format!("a:{T1},b:{T1}"), "of its own"),
        ] {
            let message = error(&raw);
            assert!(message.contains(expected), "{raw}: {message}");
            assert!(!message.contains(T1) && !message.contains("short"), "{message}");
            assert!(message.contains("API_TOKENS"), "{message}");
        }
        assert!(error(&format!("a:{T1},b:{T1}")).contains("pair 2: b"));
    }
}
