//! Bots: the senders of the HTTP API (`chat/api.rs`), one per `API_TOKENS` pair.
//!
//! A bot is not a session. It has no secret of its own, no connection and no reserve that
//! ends: it has a name, given by the configuration, and a bearer token a script presents
//! (`Authorization: Bearer …`, RFC 6750 §2.1). What the chat needs of it:
//!
//! - **who it is**: its public [`UserId`] is derived from its name with a tag of its own
//!   ([`user_id`]), the way a session's is derived from its secret (`session.rs`), so every
//!   instance configured alike gives a bot the same id, and no session's id is ever a bot's;
//! - **its name**: reserved for it for as long as the server runs (`identity/bots.rs`): a
//!   newcomer asking for it gets `name-2`, a rename gets `name_taken`;
//! - **that it is one**: its entries carry `"bot":true` (`entry.rs`, `Chat::head`). An entry
//!   holds only the sender's id, so the ids of the configured bots are noted once, at start, in
//!   a table the whole process reads ([`register`], [`is_bot`]): written once before any thread
//!   reads it, then read-only, so it needs no lock;
//! - **its token**, checked in constant time ([`Bots::authenticate`]): the presented token is
//!   hashed (SHA-256) and the hash compared with every bot's, byte by byte, without stopping
//!   early, so neither which bot matched nor how much of a guess was right shows in the time.
//!   Tokens are never logged, and their `Debug` hides them;
//! - **its pace**: a token bucket per bot (`rate_limit.rs`), `RATE_LIMIT_PER_SEC` with a burst
//!   of twice that, as for a WebSocket client; past it, `429` with `Retry-After`.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};

use crate::chat::rate_limit::{RateLimit, Verdict};
use crate::chat::session::UserId;
use crate::config::ApiToken;
use crate::config::api_tokens::MAX_TOKEN_CHARS;

/// The configured bots.
#[derive(Debug, Default)]
pub struct Bots {
    bots: Vec<Bot>,
}

/// One bot.
#[derive(Debug)]
pub struct Bot {
    /// Its nickname.
    pub name: String,
    /// Its public id ([`user_id`]).
    pub user: UserId,
    /// SHA-256 of its token.
    token_hash: [u8; 32],
    /// Its pace.
    limit: Mutex<RateLimit>,
}

impl Bots {
    /// The bots of `API_TOKENS`, each allowed `per_sec` posts a second (a burst of twice that).
    pub fn new(tokens: &[ApiToken], per_sec: u32) -> Bots {
        let now = Instant::now();
        let bots = tokens
            .iter()
            .map(|t| Bot {
                name: t.name.clone(),
                user: user_id(&t.name),
                token_hash: hash(&t.token),
                limit: Mutex::new(RateLimit::new(per_sec, now)),
            })
            .collect();
        Bots { bots }
    }

    /// The bot whose token `authorization` (the header's value) presents, if any: `Bearer`
    /// (any case, RFC 6750 §2.1), one space, the token. Constant time over the configured
    /// tokens (see the module's doc).
    pub fn authenticate(&self, authorization: Option<&str>) -> Option<&Bot> {
        let (scheme, token) = authorization?.trim().split_once(' ')?;
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let presented = hash(token);
        let mut found = None;
        for bot in &self.bots {
            let differs =
                bot.token_hash.iter().zip(&presented).fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if differs == 0 {
                found = Some(bot);
            }
        }
        found
    }

    /// Every bot's id and name, for the names they reserve.
    pub fn names(&self) -> impl Iterator<Item = (UserId, &str)> {
        self.bots.iter().map(|bot| (bot.user, bot.name.as_str()))
    }

    /// True when no bot is configured (the API answers every request with 401).
    pub fn is_empty(&self) -> bool {
        self.bots.is_empty()
    }
}

impl Bot {
    /// Takes a token from the bot's bucket; `Err(wait)` when it has none, `wait` being when to
    /// try again.
    pub fn pace(&self, now: Instant) -> Result<(), Duration> {
        let mut limit = self.limit.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match limit.check(now) {
            Verdict::Allow => Ok(()),
            // A bot is not closed for flooding: it has no connection, only answers.
            Verdict::Refuse | Verdict::Flooding => Err(RETRY),
        }
    }
}

/// A bot's public id: the first 12 bytes of SHA-256 of a tag of its own and its name (lower
/// case), like a session's (`session.rs`), so that no session's id is a bot's.
pub fn user_id(name: &str) -> UserId {
    let mut input = BOT_ID_TAG.to_vec();
    input.extend_from_slice(name.to_ascii_lowercase().as_bytes());
    let hash = digest(&SHA256, &input);
    let text = URL_SAFE_NO_PAD.encode(&hash.as_ref()[..12]);
    UserId::parse(&text).expect("12 bytes in base64url are a user id")
}

/// Notes the ids of the configured bots for [`is_bot`]; the first call wins (one server per
/// process; the tests of one process share the table).
pub fn register(bots: &Bots) {
    let _ = REGISTERED.set(bots.bots.iter().map(|bot| bot.user).collect());
}

/// True when `user` is one of the configured bots.
pub fn is_bot(user: UserId) -> bool {
    REGISTERED.get().is_some_and(|bots| bots.contains(&user))
}

/// A new token: 32 bytes of the system's randomness (the same source as sessions'), in
/// base64url (43 characters); `None` if the system has none to give.
pub fn new_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

fn hash(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// The ids of the configured bots, noted once at start.
static REGISTERED: OnceLock<Vec<UserId>> = OnceLock::new();
/// Keeps bots' ids apart from any other hash.
const BOT_ID_TAG: &[u8] = b"websocketchat bot id\0";
/// When a bot refused for its pace may try again: its bucket gains a token at least once a
/// second (`RATE_LIMIT_PER_SEC` is at least 1).
const RETRY: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::session::Session;

    fn bots() -> Bots {
        let token = |name: &str, token: &str| ApiToken { name: name.into(), token: token.into() };
        Bots::new(
            &[
                token("deploy", "abcdefghijklmnopqrstuvwxyz012345"),
                token("alerts", "ABCDEFGHIJKLMNOPQRSTUVWXYZ-_6789"),
            ],
            1,
        )
    }

    #[test]
    fn a_token_finds_its_bot_and_nothing_else_does() {
        let bots = bots();
        let found = |auth: &str| bots.authenticate(Some(auth)).map(|b| b.name.as_str());
        assert_eq!(found("Bearer abcdefghijklmnopqrstuvwxyz012345"), Some("deploy"));
        assert_eq!(found("bearer  ABCDEFGHIJKLMNOPQRSTUVWXYZ-_6789 "), Some("alerts"));
        assert_eq!(found("Bearer abcdefghijklmnopqrstuvwxyz012346"), None);
        assert_eq!(found("Basic abcdefghijklmnopqrstuvwxyz012345"), None);
        assert_eq!(found("abcdefghijklmnopqrstuvwxyz012345"), None);
        assert_eq!(found(&format!("Bearer {}", "a".repeat(5000))), None);
        assert_eq!(bots.authenticate(None).map(|b| b.name.as_str()), None);
    }

    #[test]
    fn a_bots_id_is_its_names_and_no_sessions() {
        assert_eq!(user_id("Deploy"), user_id("deploy"));
        assert_ne!(user_id("deploy"), user_id("alerts"));
        let session = Session::parse("AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_ne!(user_id(""), session.user_id());
    }

    #[test]
    fn a_bot_past_its_pace_waits() {
        let bots = bots();
        let bot = bots.authenticate(Some("Bearer abcdefghijklmnopqrstuvwxyz012345")).unwrap();
        let now = Instant::now();
        assert!(bot.pace(now).is_ok() && bot.pace(now).is_ok(), "a burst of twice the rate");
        assert_eq!(bot.pace(now), Err(RETRY));
        assert!(bot.pace(now + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn a_new_token_is_43_characters_of_base64url() {
        let token = new_token().unwrap();
        assert_eq!(token.len(), 43);
        assert!(crate::config::api_tokens::is_token(&token));
        assert_ne!(new_token().unwrap(), token);
    }
}
