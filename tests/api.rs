//! The bots' HTTP API (issue 28): posts that reach WebSocket clients marked `"bot":true` and
//! outlive a restart, history pages, every refusal with its status and the WebSocket's code,
//! keep-alive, and docs/openapi.json held to what the server does: every status it documents
//! is produced by one of these tests (and nothing undocumented is).
//!
//! Each scenario starts its own server and notes what it produced in a [`Log`]; its `#[test]`
//! runs it alone, and [`the_openapi_file_documents_exactly_the_statuses_the_tests_produce`]
//! runs them all and compares.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::api::{ALERTS, ApiConn, DEPLOY, Log, MESSAGES, ROOM_MESSAGES, TOKENS, request};
use crate::support::{Server, fresh_dir};

/// A server with the two bots of [`TOKENS`].
fn server(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("API_TOKENS", TOKENS)];
    env.extend_from_slice(extra);
    Server::start(&env)
}

fn post(conn: &mut ApiConn, log: &mut Log, test: &str, token: Option<&str>, body: Value) -> Value {
    let answer = conn.post(token, &body.to_string());
    log.note(test, "post", MESSAGES, answer.status);
    let mut json = answer.json();
    json["status"] = json!(answer.status);
    json
}

fn page(conn: &mut ApiConn, log: &mut Log, test: &str, room: &str, query: &str) -> Value {
    let answer = conn.get(&format!("/api/v1/rooms/{room}/messages{query}"), Some(DEPLOY));
    log.note(test, "get", ROOM_MESSAGES, answer.status);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()
}

fn posted_then_durable(log: &mut Log) {
    let test = "posted_then_durable";
    let mut server = server(&[]);
    let mut alice = server.joined("name=alice");
    let epoch = alice.subscribe("general")["epoch"].clone();
    let mut api = ApiConn::open(&server);
    let created =
        post(&mut api, log, test, Some(DEPLOY), json!({"room": "general", "text": "deployed v2"}));
    assert_eq!(created["status"], 201, "{created}");
    assert_eq!((created["room"].clone(), created["epoch"].clone()), (json!("general"), epoch));
    let message = alice.next_of("message");
    assert_eq!(message["id"], created["id"]);
    assert_eq!((message["name"].clone(), message["bot"].clone()), (json!("deploy"), json!(true)));
    assert_eq!(message["text"], "deployed v2");
    alice.say("a person's message");
    assert!(alice.next_of("message").get("bot").is_none(), "a person's message is not a bot's");
    // Durable: in the history after a SIGKILL.
    server.kill();
    server.restart();
    let mut api = ApiConn::open(&server);
    let history = page(&mut api, log, test, "general", "");
    assert_eq!(history["type"], "history");
    let first = &history["messages"][0];
    assert_eq!((first["text"].clone(), first["bot"].clone()), (json!("deployed v2"), json!(true)));
    assert_eq!(first["id"], created["id"]);
}

fn private_posts_and_replies(log: &mut Log) {
    let test = "private_posts_and_replies";
    let server = server(&[]);
    let mut alice = server.joined("name=alice");
    let mut api = ApiConn::open(&server);
    let dm =
        post(&mut api, log, test, Some(ALERTS), json!({"to": "Alice", "text": "disk at 91 %"}));
    assert_eq!((dm["status"].clone(), dm["to"].clone()), (json!(201), json!("alice")), "{dm}");
    let got = alice.next_of("message");
    assert_eq!((got["dm"].clone(), got["name"].clone()), (json!(true), json!("alerts")));
    assert_eq!((got["bot"].clone(), got["id"].clone()), (json!(true), dm["id"].clone()));
    let first = post(&mut api, log, test, Some(DEPLOY), json!({"text": "to the default room"}));
    assert_eq!((first["status"].clone(), first["room"].clone()), (json!(201), json!("general")));
    let reply = json!({"room": "general", "reply_to": first["id"], "text": "and again"});
    let second = post(&mut api, log, test, Some(DEPLOY), reply);
    assert_eq!(second["status"], 201, "{second}");
    let replied = alice.messages(2).pop().unwrap();
    assert_eq!(replied["reply_to"], first["id"]);
    for (body, code) in [
        (json!({"room": "general", "reply_to": 999, "text": "x"}), "not_found"),
        (json!({"to": "nobody-here", "text": "x"}), "no_such_user"),
    ] {
        let refused = post(&mut api, log, test, Some(DEPLOY), body.clone());
        assert_eq!((refused["status"].clone(), refused["code"].clone()), (json!(400), json!(code)));
    }
}

fn bad_bodies(log: &mut Log) {
    let test = "bad_bodies";
    let server = server(&[]);
    let mut api = ApiConn::open(&server);
    for (body, code) in [
        ("deploy now", "bad_request"),
        ("{\"room\":\"general\",\"text\":\"x\",}", "bad_request"),
        (r#"{"room":"general","text":"x","colour":"red"}"#, "bad_request"),
        (r#"{"type":"edit","room":"general","id":1,"text":"x"}"#, "bad_request"),
        (r#"{"room":"general","to":"alice","text":"x"}"#, "bad_request"),
        (r#"{"to":"alice","reply_to":1,"text":"x"}"#, "bad_request"),
        (r#"{"room":"No Such Room!","text":"x"}"#, "bad_room"),
        (r#"{"room":"general","text":"   "}"#, "empty"),
        (r#"{"room":"general"}"#, "bad_request"),
    ] {
        let answer = api.post(Some(DEPLOY), body);
        log.note(test, "post", MESSAGES, answer.status);
        assert_eq!((answer.status, answer.code()), (400, code.to_string()), "{body}");
        assert!(answer.json()["message"].is_string());
    }
    // Bytes that are not UTF-8, and a Content-Length that is not a number.
    api.send(&request("POST", MESSAGES, Some(DEPLOY), &[], b"{\"text\":\"\xff\"}"));
    let answer = api.answer();
    log.note(test, "post", MESSAGES, answer.status);
    assert_eq!((answer.status, answer.code()), (400, "bad_request".to_string()));
    let mut api = ApiConn::open(&server);
    api.send(format!("POST {MESSAGES} HTTP/1.1\r\nAuthorization: Bearer {DEPLOY}\r\nContent-Length: 1x\r\n\r\n").as_bytes());
    let answer = api.answer();
    log.note(test, "post", MESSAGES, answer.status);
    assert_eq!(answer.status, 400);
    assert!(api.is_closed(), "a body of unknown length is never read: the connection closes");
}

fn unauthorized(log: &mut Log) {
    let test = "unauthorized";
    let server = server(&[]);
    let long = "a".repeat(4000);
    let wrong = DEPLOY.replace('0', "1");
    for token in [None, Some(wrong.as_str()), Some(long.as_str()), Some("")] {
        let mut api = ApiConn::open(&server);
        let answer = api.post(token, r#"{"text":"hi"}"#);
        log.note(test, "post", MESSAGES, answer.status);
        assert_eq!((answer.status, answer.code()), (401, "unauthorized".to_string()), "{token:?}");
        assert_eq!(answer.header("WWW-Authenticate"), Some(r#"Bearer realm="api""#));
        let answer = ApiConn::open(&server).get("/api/v1/rooms/general/messages", token);
        log.note(test, "get", ROOM_MESSAGES, answer.status);
        assert_eq!(answer.status, 401);
    }
    let mut api = ApiConn::open(&server);
    api.send(&request("POST", MESSAGES, None, &[&format!("Authorization: Basic {DEPLOY}")], b"{}"));
    assert_eq!(api.answer().status, 401, "only Bearer");
    assert!(!server.log().contains("token-0123"), "a token is never logged");
}

fn too_large_and_chunked(log: &mut Log) {
    let test = "too_large_and_chunked";
    let server = server(&[("MAX_MESSAGE_BYTES", "256")]);
    let mut api = ApiConn::open(&server);
    let text = "x".repeat(300);
    let answer = api.post(Some(DEPLOY), &json!({"text": text}).to_string());
    log.note(test, "post", MESSAGES, answer.status);
    assert_eq!((answer.status, answer.code()), (413, "too_large".to_string()));
    assert!(api.is_closed(), "the body is not read: the connection closes");
    let fits = json!({"text": "x".repeat(200)}).to_string();
    assert_eq!(ApiConn::open(&server).post(Some(DEPLOY), &fits).status, 201);
    let mut api = ApiConn::open(&server);
    let chunked = format!(
        "POST {MESSAGES} HTTP/1.1\r\nAuthorization: Bearer {DEPLOY}\r\nTransfer-Encoding: chunked\r\n\r\nd\r\n{{\"text\":\"x\"}}\r\n0\r\n\r\n"
    );
    api.send(chunked.as_bytes());
    let answer = api.answer();
    log.note(test, "post", MESSAGES, answer.status);
    assert_eq!((answer.status, answer.code()), (411, "length_required".to_string()));
    let mut api = ApiConn::open(&server);
    api.send(
        format!("POST {MESSAGES} HTTP/1.1\r\nAuthorization: Bearer {DEPLOY}\r\n\r\n").as_bytes(),
    );
    let answer = api.answer();
    log.note(test, "post", MESSAGES, answer.status);
    assert_eq!(answer.status, 411, "no Content-Length");
}

fn rate_limited(log: &mut Log) {
    let test = "rate_limited";
    let server = server(&[("RATE_LIMIT_PER_SEC", "1")]);
    let mut api = ApiConn::open(&server);
    let statuses: Vec<u16> = (0..3)
        .map(|i| {
            let answer = api.post(Some(DEPLOY), &json!({"text": format!("m{i}")}).to_string());
            log.note(test, "post", MESSAGES, answer.status);
            if answer.status == 429 {
                assert_eq!(answer.header("Retry-After"), Some("1"));
                assert_eq!(answer.code(), "rate_limited");
            }
            answer.status
        })
        .collect();
    assert_eq!(statuses, [201, 201, 429], "a burst of twice the rate, then 429");
    // Another bot has its own bucket; the same one gets a token back within a second.
    assert_eq!(api.post(Some(ALERTS), r#"{"text":"mine"}"#).status, 201);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(api.post(Some(DEPLOY), r#"{"text":"later"}"#).status, 201, "kept alive too");
}

fn pages_and_routes(log: &mut Log) {
    let test = "pages_and_routes";
    let server = server(&[]);
    let mut api = ApiConn::open(&server);
    let mut ids = Vec::new();
    for text in ["one", "two", "three"] {
        let created = post(&mut api, log, test, Some(DEPLOY), json!({"room": "ops", "text": text}));
        ids.push(created["id"].as_u64().unwrap());
    }
    let whole = page(&mut api, log, test, "ops", "");
    let epoch = whole["epoch"].as_str().unwrap().to_string();
    let texts: Vec<&str> =
        whole["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!((texts, whole["complete"].clone()), (vec!["one", "two", "three"], json!(true)));
    let since = page(&mut api, log, test, "ops", &format!("?since={}&epoch={epoch}", ids[0]));
    assert_eq!(since["messages"].as_array().unwrap().len(), 2);
    let other = page(&mut api, log, test, "ops", &format!("?since={}&epoch=other", ids[0]));
    assert_eq!(other["complete"], false, "another epoch cannot be resumed");
    let empty = page(&mut api, log, test, "nobody-here", "");
    assert_eq!(
        (empty["messages"].clone(), empty["room"].clone()),
        (json!([]), json!("nobody-here"))
    );
    for (path, status, code) in [
        ("/api/v1/rooms/Bad%20Room/messages", 400, "bad_room"),
        ("/api/v1/rooms/ops/messages?since=soon", 400, "bad_request"),
    ] {
        let answer = api.get(path, Some(DEPLOY));
        log.note(test, "get", ROOM_MESSAGES, answer.status);
        assert_eq!((answer.status, answer.code()), (status, code.to_string()), "{path}");
    }
    // A method a path does not take (not an operation of the OpenAPI file: not noted).
    let answer = api.get(MESSAGES, Some(DEPLOY));
    assert_eq!((answer.status, answer.header("Allow")), (405, Some("POST")));
    let answer = api.post(Some(DEPLOY), "{}");
    assert_eq!(answer.status, 400);
    api.send(&request("POST", "/api/v1/rooms/ops/messages", Some(DEPLOY), &[], b"{}"));
    let answer = api.answer();
    assert_eq!((answer.status, answer.header("Allow")), (405, Some("GET")));
    assert!(api.is_closed(), "the body of a refused method is not read");
    let answer = ApiConn::open(&server).get("/api/v2/anything", Some(DEPLOY));
    assert_eq!((answer.status, answer.code()), (404, "not_found".to_string()));
}

/// A store that refuses to write (a full disk, as in durability.rs): the post is not
/// delivered, and the bot is told with 503; once there is room again, posts go on.
fn store_refuses(log: &mut Log) {
    let test = "store_refuses";
    let mount = Tmpfs::mount("256k");
    let dir = mount.0.to_str().unwrap();
    let server = server(&[("HISTORY_DIR", dir), ("MAX_MESSAGE_BYTES", "65536")]);
    let mut alice = server.joined("name=alice");
    let mut api = ApiConn::open(&server);
    let filler = mount.0.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    while std::io::Write::write_all(&mut file, &[b'x'; 4096]).is_ok() {}
    drop(file);
    // Larger than a page, so no slack at the end of a segment's last page can take it.
    let text = format!("refused {}", "x".repeat(8000));
    let refused = post(&mut api, log, test, Some(DEPLOY), json!({"text": text}));
    assert_eq!(
        (refused["status"].clone(), refused["code"].clone()),
        (json!(503), json!("not_delivered"))
    );
    assert!(api.is_closed(), "a 5xx closes the connection");
    std::fs::remove_file(&filler).unwrap();
    let mut api = ApiConn::open(&server);
    let created = post(&mut api, log, test, Some(DEPLOY), json!({"text": "room again"}));
    assert_eq!(created["status"], 201, "{created}");
    assert_eq!(alice.next_of("message")["text"], "room again", "the refused one reached nobody");
    drop(server);
}

/// A tmpfs mounted on a fresh folder (root only, as CI runs); unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let uid = websocketchat::net::tls::current_uid().unwrap();
        assert_eq!(uid, 0, "this test mounts a filesystem and needs root (CI runs it as root)");
        let path = fresh_dir();
        let size = format!("size={size}");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &size, "tmpfs", path.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(ok.success(), "mount");
        Tmpfs(path)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn keep_alive(log: &mut Log) {
    let test = "keep_alive";
    let server = server(&[]);
    let mut api = ApiConn::open(&server);
    let first = api.post(Some(DEPLOY), r#"{"text":"first"}"#);
    log.note(test, "post", MESSAGES, first.status);
    assert_eq!((first.status, first.header("Connection")), (201, Some("keep-alive")));
    let second = api.get("/api/v1/rooms/general/messages", Some(DEPLOY));
    log.note(test, "get", ROOM_MESSAGES, second.status);
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["messages"][0]["text"], "first");
    // Two requests sent at once: the second comes in the bytes read past the first body.
    let mut both = request("POST", MESSAGES, Some(DEPLOY), &[], br#"{"text":"a"}"#);
    both.extend(request("POST", MESSAGES, Some(DEPLOY), &[], br#"{"text":"b"}"#));
    api.send(&both);
    let (a, b) = (api.answer(), api.answer());
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(b.json()["id"].as_u64().unwrap(), a.json()["id"].as_u64().unwrap() + 1);
    // A refusal of a body read whole keeps the connection too.
    assert_eq!(api.post(Some(DEPLOY), r#"{"text":""}"#).status, 400);
    assert_eq!(api.post(Some(DEPLOY), r#"{"text":"after"}"#).status, 201);
    // A GET with a body: the body is not read, so it cannot be taken for a next request.
    let smuggled =
        b"GET /api/v1/rooms/general/messages HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n";
    api.send(&request("GET", "/api/v1/rooms/general/messages", Some(DEPLOY), &[], smuggled));
    let answer = api.answer();
    log.note(test, "get", ROOM_MESSAGES, answer.status);
    assert_eq!((answer.status, answer.header("Connection")), (200, Some("close")));
    assert!(api.is_closed(), "closed: the body's bytes are never a request");
}

#[test]
fn a_post_reaches_websocket_clients_as_a_bots_and_outlives_a_sigkill() {
    posted_then_durable(&mut Log::default());
}

#[test]
fn private_posts_replies_and_their_refusals() {
    private_posts_and_replies(&mut Log::default());
}

#[test]
fn bad_bodies_get_400_with_the_websockets_codes() {
    bad_bodies(&mut Log::default());
}

#[test]
fn a_missing_wrong_or_too_long_token_is_401() {
    unauthorized(&mut Log::default());
}

#[test]
fn a_body_over_max_message_bytes_is_413_and_one_without_a_length_411() {
    too_large_and_chunked(&mut Log::default());
}

#[test]
fn past_its_rate_a_bot_gets_429_with_retry_after() {
    rate_limited(&mut Log::default());
}

#[test]
fn history_pages_resume_and_unknown_routes_are_refused() {
    pages_and_routes(&mut Log::default());
}

#[test]
fn a_post_the_store_refuses_is_503_and_reaches_nobody() {
    store_refuses(&mut Log::default());
}

#[test]
fn requests_share_a_kept_alive_connection() {
    keep_alive(&mut Log::default());
}

#[test]
fn bots_names_are_theirs_and_a_bad_api_tokens_stops_the_start() {
    let server = server(&[]);
    let mut newcomer = server.connect("/ws?name=Deploy");
    newcomer.welcome();
    assert_eq!(newcomer.hello["name"], "Deploy-2");
    newcomer.request(json!({"type": "rename", "name": "alerts"}));
    assert_eq!(newcomer.next_of("error")["code"], "name_taken");
    let (status, stderr) =
        Server::start_failing(&fresh_dir(), &[("API_TOKENS", "deploy:short-secret-token")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("API_TOKENS") && stderr.contains("pair 1: deploy"), "{stderr}");
    assert!(!stderr.contains("short-secret-token"), "the token is not shown: {stderr}");
}

#[test]
fn the_token_command_prints_a_new_token() {
    let run = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_websocketchat"))
            .arg("token")
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (one, two) = (run(), run());
    assert_eq!(one.len(), 43);
    assert!(one.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{one}");
    assert_ne!(one, two);
}

#[test]
fn the_openapi_file_documents_exactly_the_statuses_the_tests_produce() {
    let mut log = Log::default();
    for scenario in [
        posted_then_durable,
        private_posts_and_replies,
        bad_bodies,
        unauthorized,
        too_large_and_chunked,
        rate_limited,
        pages_and_routes,
        store_refuses,
        keep_alive,
    ] {
        scenario(&mut log);
    }
    let spec: Value = serde_json::from_str(include_str!("../docs/openapi.json"))
        .expect("docs/openapi.json is JSON");
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for status in operation["responses"].as_object().unwrap().keys() {
                documented.insert((method.clone(), path.clone(), status.parse::<u16>().unwrap()));
            }
        }
    }
    let produced: BTreeSet<(String, String, u16)> =
        log.0.iter().map(|(_, m, p, s)| (m.clone(), p.clone(), *s)).collect();
    let mut by_test = std::collections::BTreeMap::<&str, BTreeSet<String>>::new();
    for (test, method, path, status) in &log.0 {
        by_test.entry(test).or_default().insert(format!("{method} {path} {status}"));
    }
    for (test, statuses) in &by_test {
        println!("{test}: {}", statuses.iter().cloned().collect::<Vec<_>>().join(", "));
    }
    let never: Vec<_> = documented.difference(&produced).collect();
    assert!(never.is_empty(), "documented in docs/openapi.json but produced by no test: {never:?}");
    let undocumented: Vec<_> = produced.difference(&documented).collect();
    assert!(undocumented.is_empty(), "produced but not in docs/openapi.json: {undocumented:?}");
}
