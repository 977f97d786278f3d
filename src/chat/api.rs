//! The HTTP API for bots: post a message from a script, read a room's history.
//!
//! ```text
//! POST /api/v1/messages                    {"room":"general","text":"…"}  → 201 {"id":57,"room":"general","epoch":"…"}
//!                                          {"to":"alice","text":"…"}      → 201 {"id":3,"to":"alice","epoch":"…"}
//!                                          {"room":"general","reply_to":56,"text":"…"}
//! GET  /api/v1/rooms/{room}/messages?since=<id>&epoch=<e>                 → 200, the `history` event
//! ```
//! Every request presents a bot's token, `Authorization: Bearer <token>` (`bots.rs`); docs/api.md
//! is the reference and docs/openapi.json the contract. A request is answered in this order, so
//! that a stranger costs a hash and a refusal, and nothing is read that a refusal leaves unread:
//!
//! 1. the path and the method: `404`, `405` (with `Allow`);
//! 2. the token: `401` (with `WWW-Authenticate: Bearer`, RFC 6750 §3) when it is missing or
//!    names no bot; the token is never logged;
//! 3. the body (`POST`): its `Content-Length` within `MAX_MESSAGE_BYTES` (`413`), not chunked
//!    (`411`), read whole (`http/body.rs`);
//! 4. the bot's pace: `429` with `Retry-After` past `RATE_LIMIT_PER_SEC` (a bucket per bot);
//! 5. the body's meaning: the WebSocket's own request parser reads it (`request.rs`), so a
//!    post is refused with the WebSocket's codes (`bad_request`, `bad_room`, `empty`,
//!    `no_such_user`) and a `400`;
//! 6. the broadcaster: the post goes through the inbox like a WebSocket client's message, and
//!    the answer waits until it is numbered in the room's order and durable
//!    (`broadcaster/posts.rs`): `201`, or `400` (`not_found`: a `reply_to` that is not a
//!    message of the room), or `503` when the store refused it (with Kafka: the broker did not
//!    acknowledge it) or the server is stopping.
//!
//! A refusal is `{"code":…,"message":…}`, JSON like everything the API says. The connection
//! stays open for the next request (HTTP/1.1 keep-alive) after any answer to a request that was
//! read whole, refusals included; a refusal that leaves a body unread (`401`, `411`, `413`)
//! closes it (`http/keep_alive.rs`).

use std::io::{self, Read};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde_json::json;

use crate::chat::amend::Conversation;
use crate::chat::bots::{Bot, Bots};
use crate::chat::entry::Body;
use crate::chat::history::Resume;
use crate::chat::inbox::Inbox;
use crate::chat::post::{PageRequest, Post, PostTo, Posted};
use crate::chat::protocol::timestamp;
use crate::chat::request::{self, InputError};
use crate::chat::room::RoomName;
use crate::http::body::{self, BodyError};
use crate::http::{Request, Response};

/// What the API needs: the bots, and the limits it applies.
#[derive(Debug)]
pub struct Api {
    /// The bots of `API_TOKENS`.
    pub bots: Bots,
    /// `MAX_MESSAGE_BYTES`: the longest body.
    pub max_body: usize,
    /// `DEFAULT_ROOM`: where a post without `room` or `to` goes.
    pub default_room: RoomName,
}

/// The API's answer to one request.
#[derive(Debug)]
pub struct Answered {
    /// The answer.
    pub response: Response,
    /// The request's `Content-Length` body was read whole, so the connection may carry another
    /// request (one whose body was left unread may not: `http/keep_alive.rs`).
    pub body_read: bool,
    /// Bytes read past the body: the start of the next request.
    pub leftover: Vec<u8>,
    /// The bot that asked, for the log.
    pub bot: Option<String>,
}

/// Answers one API request. `started` holds the bytes read past the head; the rest of a body
/// comes from `stream`. `Err`: the body did not come (the peer left, or was too slow).
pub fn answer(
    api: &Api,
    inbox: &Inbox,
    request: &Request,
    stream: &mut impl Read,
    started: Vec<u8>,
) -> io::Result<Answered> {
    let mut answered = Answered {
        response: refusal(404, "not_found", NO_ROUTE),
        body_read: false,
        leftover: started,
        bot: None,
    };
    let (route, allow) = match route(&request.path) {
        Some(ApiRoute::Messages) => (ApiRoute::Messages, "POST"),
        Some(room @ ApiRoute::Room(_)) => (room, "GET"),
        None => return Ok(answered),
    };
    if request.method != allow {
        let refused = refusal(405, "method_not_allowed", NO_ROUTE);
        answered.response = with_header(refused, "Allow", allow);
        return Ok(answered);
    }
    let Some(bot) = api.bots.authenticate(request.header("Authorization")) else {
        let refused = refusal(401, "unauthorized", UNAUTHORIZED);
        answered.response = with_header(refused, "WWW-Authenticate", r#"Bearer realm="api""#);
        return Ok(answered);
    };
    answered.bot = Some(bot.name.clone());
    answered.response = match route {
        // A GET's body, if it has one, is not read: the connection then closes.
        ApiRoute::Room(raw) => page(inbox, &raw, request),
        ApiRoute::Messages => {
            let started = std::mem::take(&mut answered.leftover);
            let (body, rest) = match body::read_body(request, stream, started, api.max_body) {
                Ok(read) => read,
                Err(BodyError::Io(e)) => return Err(e),
                Err(refused) => {
                    answered.response = body_refusal(&refused, api.max_body);
                    return Ok(answered);
                }
            };
            (answered.body_read, answered.leftover) = (true, rest);
            match bot.pace(Instant::now()) {
                Err(wait) => refusal(429, "rate_limited", RATE_LIMITED).retry_after(wait),
                Ok(()) => post(api, inbox, bot, &body),
            }
        }
    };
    Ok(answered)
}

/// The API's paths.
#[derive(Debug, PartialEq, Eq)]
enum ApiRoute {
    /// `/api/v1/messages`.
    Messages,
    /// `/api/v1/rooms/{room}/messages`, with the room as sent.
    Room(String),
}

fn route(path: &str) -> Option<ApiRoute> {
    if path == "/api/v1/messages" {
        return Some(ApiRoute::Messages);
    }
    let room = path.strip_prefix("/api/v1/rooms/")?.strip_suffix("/messages")?;
    (!room.contains('/')).then(|| ApiRoute::Room(room.to_string()))
}

/// A bot's post: read like a WebSocket request, then handed to the broadcaster.
fn post(api: &Api, inbox: &Inbox, bot: &Bot, body: &[u8]) -> Response {
    let read = std::str::from_utf8(body).map_err(|_| bad(NOT_UTF8));
    let (to, text) = match read.and_then(|text| read_post(text, &api.default_room)) {
        Ok(post) => post,
        Err(e) => return input_refusal(&e),
    };
    let (answer, answered) = crossbeam_channel::bounded(1);
    let post = Post { user: bot.user, name: bot.name.clone(), to, text, ts: timestamp(), answer };
    if inbox.post(post).is_err() {
        return refusal(503, "unavailable", STOPPING);
    }
    match answered.recv_timeout(ANSWER_TIMEOUT) {
        Ok(Ok(posted)) => Response::json(201, "Created", created(&posted)),
        Ok(Err(refused)) => refusal(refused.status, refused.code, &refused.message),
        Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
            refusal(503, "unavailable", STOPPING)
        }
    }
}

/// The body of a post, read by the WebSocket's parser: a JSON object for a message (to a
/// room, a person, or in answer to a message of a room). A room left out is `default_room`.
fn read_post(text: &str, default_room: &RoomName) -> Result<(PostTo, String), InputError> {
    // Plain text would be a message to the default room on the WebSocket; a script means JSON.
    if !text.trim_start().starts_with('{') {
        return Err(bad(NOT_JSON));
    }
    match request::parse_request(text)? {
        request::Request::Message { room, text } => {
            let room = room.unwrap_or_else(|| default_room.clone());
            Ok((PostTo::Room { room, reply_to: None }, text))
        }
        request::Request::Direct { to, text } => Ok((PostTo::Person(to), text)),
        request::Request::Amend {
            to: Conversation::Room(room),
            body: Body::Message { text, reply_to },
        } => Ok((PostTo::Room { room, reply_to }, text)),
        request::Request::Amend { to: Conversation::With(_), body: Body::Message { .. } } => {
            Err(bad("reply_to answers a message of a room: give room, not to"))
        }
        _ => Err(bad(NOT_JSON)),
    }
}

/// A script reads a room's history page.
fn page(inbox: &Inbox, raw: &str, request: &Request) -> Response {
    let Some(room) = RoomName::parse(raw) else {
        let shortened: String = raw.chars().take(64).collect();
        return input_refusal(&InputError::BadRoom(shortened));
    };
    let epoch = request.query_param("epoch").filter(|e| !e.is_empty());
    let resume = match request.query_param("since") {
        None => None,
        Some(since) => match since.parse() {
            Ok(since) => Some(Resume { since, epoch }),
            Err(_) => {
                return input_refusal(&bad(
                    "since must be a whole number from 0 to 18446744073709551615",
                ));
            }
        },
    };
    let (answer, answered) = crossbeam_channel::bounded(1);
    if inbox.page(PageRequest { room, resume, answer }).is_err() {
        return refusal(503, "unavailable", STOPPING);
    }
    match answered.recv_timeout(ANSWER_TIMEOUT) {
        Ok(page) => Response::json(200, "OK", page),
        Err(_) => refusal(503, "unavailable", STOPPING),
    }
}

/// The `201`'s body: the id, where, and the epoch.
fn created(posted: &Posted) -> String {
    let mut body = json!({ "id": posted.id, "epoch": posted.epoch });
    if let Some(room) = &posted.room {
        body["room"] = json!(room.as_str());
    }
    if let Some(to) = &posted.to {
        body["to"] = json!(to);
    }
    body.to_string()
}

/// A refusal of the body's form (`http/body.rs`).
fn body_refusal(refused: &BodyError, limit: usize) -> Response {
    match refused {
        BodyError::LengthRequired => refusal(411, "length_required", LENGTH_REQUIRED),
        BodyError::TooLarge(_) => {
            let message = format!("a body is at most MAX_MESSAGE_BYTES ({limit}) bytes");
            refusal(413, "too_large", &message)
        }
        BodyError::BadLength | BodyError::Io(_) => {
            refusal(400, "bad_request", "Content-Length must be one whole number")
        }
    }
}

/// A `400` with the WebSocket's error code.
fn input_refusal(error: &InputError) -> Response {
    refusal(400, error.code(), error.message())
}

/// A refusal: `{"code":…,"message":…}`.
fn refusal(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "code": code, "message": message }).to_string();
    Response::json(status, reason(status), body)
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    response.headers.push((name, value.to_string()));
    response
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        _ => "Service Unavailable",
    }
}

fn bad(why: &str) -> InputError {
    InputError::BadRequest(why.to_string())
}

/// How long a request waits for the broadcaster (a commit takes a disk's sync, milliseconds).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
const NO_ROUTE: &str = "the API has POST /api/v1/messages and GET /api/v1/rooms/{room}/messages";
const UNAUTHORIZED: &str = "present a bot's token: Authorization: Bearer <token> (API_TOKENS)";
const RATE_LIMITED: &str = "this bot posts more than RATE_LIMIT_PER_SEC; retry after Retry-After";
const LENGTH_REQUIRED: &str = "send the body with Content-Length (a chunked body is not taken)";
const STOPPING: &str = "the server is stopping; try another instance or later";
const NOT_UTF8: &str = "the body must be UTF-8 JSON";
const NOT_JSON: &str = r#"expected {"room":"…","text":"…"}, {"to":"…","text":"…"} or {"room":"…","reply_to":N,"text":"…"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn general() -> RoomName {
        RoomName::parse("general").unwrap()
    }

    #[test]
    fn the_apis_paths() {
        assert_eq!(route("/api/v1/messages"), Some(ApiRoute::Messages));
        assert_eq!(route("/api/v1/rooms/ops/messages"), Some(ApiRoute::Room("ops".into())));
        assert_eq!(route("/api/v1/rooms//messages"), Some(ApiRoute::Room(String::new())));
        assert_eq!(route("/api/v1/rooms/a/b/messages"), None);
        assert_eq!(route("/api/v1/messages/"), None);
        assert_eq!(route("/api/v2/messages"), None);
    }

    #[test]
    fn a_post_is_read_like_a_websocket_message() {
        let read = |body: &str| read_post(body, &general());
        let room =
            |name: &str, reply_to| PostTo::Room { room: RoomName::parse(name).unwrap(), reply_to };
        assert_eq!(read(r#"{"text":" hi "}"#), Ok((room("general", None), "hi".into())));
        assert_eq!(read(r#"{"room":"Ops","text":"hi"}"#), Ok((room("ops", None), "hi".into())));
        assert_eq!(
            read(r#"{"room":"ops","reply_to":4,"text":"yes"}"#),
            Ok((room("ops", Some(4)), "yes".into()))
        );
        assert_eq!(
            read(r#"{"to":"Alice","text":"hi"}"#),
            Ok((PostTo::Person("Alice".into()), "hi".into()))
        );
        for (body, code) in [
            ("hi", "bad_request"),
            (r#"{"type":"delete","room":"ops","id":1}"#, "bad_request"),
            (r#"{"type":"rooms"}"#, "bad_request"),
            (r#"{"to":"alice","reply_to":1,"text":"x"}"#, "bad_request"),
            (r#"{"room":"a b","text":"x"}"#, "bad_room"),
            (r#"{"text":""}"#, "empty"),
        ] {
            assert_eq!(read(body).unwrap_err().code(), code, "{body}");
        }
    }

    #[test]
    fn a_refusal_is_json_with_its_status() {
        let refused = refusal(429, "rate_limited", RATE_LIMITED).retry_after(RETRY_TEST);
        assert_eq!((refused.status, refused.reason), (429, "Too Many Requests"));
        let body: serde_json::Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(body["code"], "rate_limited");
        assert!(refused.headers.contains(&("Retry-After", "1".to_string())));
        let posted = Posted { id: 57, room: Some(general()), to: None, epoch: "e".into() };
        assert_eq!(created(&posted), r#"{"epoch":"e","id":57,"room":"general"}"#);
    }

    const RETRY_TEST: Duration = Duration::from_millis(300);
}
