//! Moderation on two instances (issue 28): an operator's decision on one instance holds on the
//! other.
//!
//! A ban or a mute is applied at once where it is decided and goes to the other instance as a
//! `sanction` record of the sanctions topic; its notice is a `moderation` entry of each room's
//! order, on the room's partition, like a message. The two roads are separate topics, so a test
//! that needs a sanction to have arrived somewhere waits for it, boundedly, by asking what only
//! the sanction changes: an operator's `bans` list there, or a plain `GET /ws` of the refused
//! client (`403` with the ban's JSON once it holds, another 4xx before).
//!
//! Addresses matter here: a ban holds the session *and* the addresses it was seen at, and an
//! instance that applies a ban learns the addresses of the session it saw (its connections, its
//! last address) and sends the ban again with them. So every person connects from an address of
//! their own (127.0.1.x, bound before connecting), never from the instances' shared 127.0.0.1.

use std::io::{Read, Write};
use std::net::IpAddr;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use super::Topology;
use crate::support::{Client, READ_TIMEOUT, next_event, sayings, tcp_from, tls_stream};

/// A ban decided on ws1 closes the session's connections on both instances with 4003 and refuses
/// it on both: the old session from a new address, and new sessions from the addresses each
/// instance saw it at (ws2 learns bob's there and sends the ban again with it). An unban on ws2
/// lifts it on ws1.
#[test]
fn a_ban_on_one_instance_holds_on_the_other_until_an_unban_there() {
    let mut topology = Topology::start();
    let carol = operator(&mut topology);
    let mut carol1 = joined(&topology, WS1, CAROL, &carol);
    let mut carol2 = joined(&topology, WS2, CAROL, &carol);
    let mut bob2 = joined(&topology, WS2, BOB, "name=bob");
    let bob = format!("session={}", bob2.session());
    let (bob_user, carol_user) = (bob2.hello["user"].clone(), carol1.hello["user"].clone());
    let mut bob1 = joined(&topology, WS1, BOB_ELSEWHERE, &bob);
    let mut dave = joined(&topology, WS2, DAVE, "name=dave");

    carol1.request(json!({"type": "ban", "name": "bob", "secs": 3600, "reason": "spam"}));
    for tab in [&mut bob1, &mut bob2] {
        assert_eq!(tab.close_frame(), (4003, "banned: spam".to_string()));
    }
    for client in [&mut carol1, &mut dave] {
        let ban = client.next_of("moderation");
        let got = (&ban["action"], &ban["name"], &ban["user"], &ban["room"]);
        assert_eq!(got, (&json!("ban"), &json!("bob"), &bob_user, &json!("general")), "{ban}");
        let by = (&ban["by"], &ban["by_user"], &ban["reason"]);
        assert_eq!(by, (&json!("carol"), &carol_user, &json!("spam")), "{ban}");
        assert!((3_590_000..=3_600_000).contains(&millis_until(&ban["until"])), "{ban}");
    }

    // On both instances: bob's old session from an address never seen, and a new session from
    // each address bob was seen at, one by each instance.
    for i in [WS1, WS2] {
        for (source, query) in
            [(FRESH, bob.as_str()), (BOB, "name=bobby"), (BOB_ELSEWHERE, "name=bobby")]
        {
            let body = banned_within(&topology, i, source, query);
            assert_eq!(body["reason"], "spam", "{}: {body}", NAMES[i]);
            assert!(millis_until(&body["until"]) > 3_500_000, "{body}");
        }
        assert_ne!(plain_get(&topology, i, DAVE, "name=dave").0, 403, "a bystander's address");
    }
    // The list on the other instance, without the addresses.
    carol2.request(json!({"type": "bans"}));
    let listed = carol2.next_of("bans");
    let bans = listed["bans"].as_array().unwrap();
    assert_eq!(bans.len(), 1, "{listed}");
    let got = (&bans[0]["user"], &bans[0]["name"], &bans[0]["reason"], &bans[0]["by"]);
    assert_eq!(got, (&bob_user, &json!("bob"), &json!("spam"), &json!("carol")), "{listed}");
    assert!(!listed.to_string().contains("127.0."), "addresses are never listed: {listed}");

    // Lifted on ws2: bob is back on ws1, as himself, from either address; newcomers too.
    carol2.request(json!({"type": "unban", "name": "bob"}));
    let unban = notice_of(&mut carol2, "unban");
    assert_eq!((&unban["name"], &unban["user"]), (&json!("bob"), &bob_user), "{unban}");
    let again = admitted_within(&topology, WS1, FRESH, &bob);
    assert_eq!((&again.hello["user"], &again.hello["name"]), (&bob_user, &json!("bob")));
    for (i, source) in [(WS1, BOB), (WS1, BOB_ELSEWHERE), (WS2, BOB), (WS2, BOB_ELSEWHERE)] {
        admitted_within(&topology, i, source, "name=bobby");
    }
    carol1.request(json!({"type": "unban", "name": "bob"}));
    assert_eq!(carol1.next_of("error")["code"], "not_banned", "ws1 applied ws2's unban");
}

/// A session banned while offline is banned with the address it last connected from, whichever
/// instance saw it: bob was on ws2 only, carol bans him from ws1, and a newcomer from bob's
/// address is refused on both instances.
#[test]
fn a_ban_of_an_offline_session_holds_the_address_the_other_instance_saw() {
    let mut topology = Topology::start();
    let carol = operator(&mut topology);
    let mut carol1 = joined(&topology, WS1, CAROL, &carol);
    let bob2 = joined(&topology, WS2, BOB, "name=bob");
    let bob = format!("session={}", bob2.session());
    drop(bob2);

    known_within(&mut carol1, "bob");
    carol1.request(json!({"type": "ban", "name": "bob", "reason": "spam"}));
    let ban = carol1.next_of("moderation");
    assert_eq!((&ban["action"], &ban["name"]), (&json!("ban"), &json!("bob")), "{ban}");
    for i in [WS1, WS2] {
        let body = banned_within(&topology, i, FRESH, &bob);
        assert_eq!((&body["reason"], &body["until"]), (&json!("spam"), &Value::Null), "{body}");
        banned_within(&topology, i, BOB, "name=bobby");
    }
}

/// Moderation said on ws1 (a deletion of bob's message, a mute, a kick, a ban) is one order
/// with the messages said meanwhile on ws2: members on both instances get the same entries, with
/// the same ids, in the same order, and a newcomer on either instance finds the notices in the
/// history page among the messages.
#[test]
fn moderation_takes_its_place_in_one_order_on_both_instances() {
    let mut topology = Topology::start();
    let carol = operator(&mut topology);
    let mut carol1 = joined(&topology, WS1, CAROL, &carol);
    let mut erin = joined(&topology, WS1, ERIN, "name=erin");
    let mut bob = joined(&topology, WS2, BOB, "name=bob");
    let mut frank = joined(&topology, WS2, FRANK, "name=frank");
    let mut dave = joined(&topology, WS2, DAVE, "name=dave");
    let (bob_user, frank_user) = (bob.hello["user"].clone(), frank.hello["user"].clone());

    for name in ["bob", "frank"] {
        known_within(&mut carol1, name);
    }
    bob.say("spam");
    let spam = erin.next_of("message");
    assert_eq!(spam["text"], "spam");
    assert_eq!(carol1.next_of("message"), spam);
    // Each without waiting for the other: carol's decisions on ws1, dave's messages on ws2.
    carol1.request(json!({"type": "delete", "room": "general", "id": spam["id"]}));
    dave.say("d1");
    carol1.say("c1");
    carol1.request(json!({"type": "mute", "room": "general", "name": "bob", "secs": 600}));
    dave.say("d2");
    carol1.request(json!({"type": "kick", "name": "bob", "reason": "enough"}));
    carol1.request(json!({"type": "ban", "name": "frank", "secs": 60, "reason": "spam"}));
    dave.say("d3");
    assert_eq!(bob.close_frame(), (4001, "kicked: enough".to_string()));
    assert_eq!(frank.close_frame(), (4003, "banned: spam".to_string()));

    // spam, its deletion and the deletion's notice, d1, c1, mute, d2, kick, ban, d3.
    let count = 10;
    let mut seen = vec![spam.clone()];
    seen.extend(entries(&mut erin, count - 1));
    assert_eq!(entries(&mut dave, count), seen, "ws2 delivered another order");
    assert_eq!(entries(&mut carol1, count - 1), seen[1..]);
    let ids: Vec<u64> = seen.iter().map(id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids {ids:?}");
    let texts: Vec<&str> = seen
        .iter()
        .filter(|e| e["type"] == "message" && e["name"] == "dave")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["d1", "d2", "d3"]);
    // carol's, in the order she sent them.
    let carols: Vec<(&str, &str)> = seen
        .iter()
        .filter(|e| e["by"] == "carol" || e["name"] == "carol")
        .map(|e| (e["type"].as_str().unwrap(), e["action"].as_str().unwrap_or_default()))
        .collect();
    let expected = [
        ("delete", ""),
        ("moderation", "delete"),
        ("message", ""),
        ("moderation", "mute"),
        ("moderation", "kick"),
        ("moderation", "ban"),
    ];
    assert_eq!(carols, expected, "{seen:?}");
    let notice = |action: &str| seen.iter().find(|e| e["action"] == action).unwrap();
    let delete = notice("delete");
    assert_eq!((&delete["target"], &delete["user"]), (&spam["id"], &bob_user), "{delete}");
    let mute = notice("mute");
    assert!((590_000..=600_000).contains(&millis_until(&mute["until"])), "{mute}");
    let kick = notice("kick");
    assert_eq!((&kick["reason"], kick.get("until")), (&json!("enough"), None), "{kick}");
    let ban = notice("ban");
    assert_eq!((&ban["user"], &ban["reason"]), (&frank_user, &json!("spam")), "{ban}");

    // A newcomer's page on either instance: the same, the notices among the messages as they
    // were said live, the deletion folded into its message.
    let pages = [WS1, WS2].map(|i| connect(&topology, i, NEWCOMER, "name=newcomer").welcome());
    assert_eq!(pages[0]["messages"], pages[1]["messages"], "the instances paged otherwise");
    let page = pages[0]["messages"].as_array().unwrap();
    let live: Vec<&Value> = seen.iter().filter(|e| e["type"] != "delete").collect();
    let paged: Vec<(u64, &Value)> = page.iter().map(|e| (id(e), &e["type"])).collect();
    let said: Vec<(u64, &Value)> = live.iter().map(|e| (id(e), &e["type"])).collect();
    assert_eq!(paged, said, "{page:?}");
    for (paged, live) in page.iter().zip(live) {
        if live["type"] == "moderation" {
            assert_eq!(paged, live, "a notice in the page as it was said");
        }
    }
    assert_eq!((&page[0]["id"], &page[0]["deleted"]), (&spam["id"], &json!(true)), "{page:?}");
}

/// A mute decided on ws2 holds for bob on ws1 (`muted`, naming the room, for a message, a reply,
/// an edit and a reaction), and an unmute on ws2 lifts it there.
#[test]
fn a_mute_on_one_instance_holds_on_the_other_until_an_unmute() {
    let mut topology = Topology::start();
    let carol = operator(&mut topology);
    let mut carol1 = joined(&topology, WS1, CAROL, &carol);
    let mut carol2 = joined(&topology, WS2, CAROL, &carol);
    let mut bob = joined(&topology, WS1, BOB, "name=bob");
    let mut dave = joined(&topology, WS2, DAVE, "name=dave");
    bob.say("before");
    let before = bob.next_of("message");
    assert_eq!(dave.next_of("message")["id"], before["id"]);

    known_within(&mut carol2, "bob");
    carol2.request(json!({"type": "mute", "room": "general", "name": "bob", "reason": "cool off"}));
    let told = bob.next_of("moderation");
    let got = (&told["action"], &told["by"], &told["reason"], told.get("until"));
    assert_eq!(got, (&json!("mute"), &json!("carol"), &json!("cool off"), None), "{told}");
    // The notice came on the room's partition, the mute itself comes on the sanctions topic,
    // maybe later: ws1 holds the mute from the notice on, so bob is refused at once, not once
    // the sanction has come too.
    for request in sayings("general", &before["id"]) {
        bob.request(request.clone());
        let refused = next_event(&mut bob);
        let got = (&refused["code"], &refused["room"]);
        assert_eq!(got, (&json!("muted"), &json!("general")), "{request}: {refused}");
    }
    mutes_within(&mut carol1, |mutes| mutes.len() == 1);

    carol2.request(json!({"type": "unmute", "room": "general", "name": "bob"}));
    assert_eq!(bob.next_of("moderation")["action"], "unmute");
    // Heard again as soon as the unmute's notice came, whenever the unmute itself comes.
    bob.say("back");
    assert_eq!(next_event(&mut bob)["text"], "back");
    mutes_within(&mut carol1, |mutes| mutes.is_empty());
    let heard = dave.next_of("message");
    assert_eq!((&heard["name"], &heard["text"]), (&json!("bob"), &json!("back")), "{heard}");
    carol1.request(json!({"type": "unmute", "room": "general", "name": "bob"}));
    assert_eq!(carol1.next_of("error")["code"], "not_muted", "ws1 applied ws2's unmute");
}

/// Bans and mutes outlive a restart of both instances: each reads them back from the claims
/// topic before it serves anyone, so bob is refused and dave muted at once, on both.
#[test]
fn bans_and_mutes_survive_a_restart_of_both_instances() {
    let mut topology = Topology::start();
    let carol = operator(&mut topology);
    let mut carol1 = joined(&topology, WS1, CAROL, &carol);
    let mut carol2 = joined(&topology, WS2, CAROL, &carol);
    let mut bob = joined(&topology, WS1, BOB, "name=bob");
    let dave = joined(&topology, WS2, DAVE, "name=dave");
    let (bob_session, dave_session) =
        (format!("session={}", bob.session()), format!("session={}", dave.session()));

    carol1.request(json!({"type": "ban", "name": "bob", "reason": "spam"}));
    assert_eq!(bob.close_frame(), (4003, "banned: spam".to_string()));
    carol2.request(json!({"type": "mute", "room": "general", "name": "dave", "secs": 3600}));
    // Said on two instances at nearly the same time: in either order.
    let mut actions = [0, 1].map(|_| carol2.next_of("moderation")["action"].clone());
    actions.sort_by_key(|a| a.to_string());
    assert_eq!(actions, [json!("ban"), json!("mute")]);
    // Both are on the sanctions topic once the other instance applied them.
    banned_within(&topology, WS2, FRESH, &bob_session);
    mutes_within(&mut carol1, |mutes| mutes.len() == 1);
    drop((carol1, carol2, bob, dave));

    topology.kill_instance(WS1);
    topology.kill_instance(WS2);
    topology.start_instance(WS1);
    topology.start_instance(WS2);
    for i in [WS1, WS2] {
        let (status, body) = refused_upgrade(&topology, i, FRESH, &bob_session);
        let got = (status, &body["reason"], &body["until"]);
        assert_eq!(got, (403, &json!("spam"), &Value::Null), "{}: {body}", NAMES[i]);
        let (status, body) = refused_upgrade(&topology, i, BOB, "name=newcomer");
        assert_eq!(status, 403, "{}: the address is still banned: {body}", NAMES[i]);
        let mut dave = joined(&topology, i, DAVE, &dave_session);
        dave.say("am I back?");
        let refused = next_event(&mut dave);
        assert_eq!(refused["code"], "muted", "{}: {refused}", NAMES[i]);
    }
}

/// Makes carol an operator as a deployer does: her session first, its id in `OPERATORS`, both
/// instances restarted. Returns her `session=…` query.
fn operator(topology: &mut Topology) -> String {
    let carol = joined(topology, WS1, CAROL, "name=carol");
    let (id, session) = (carol.hello["user"].as_str().unwrap().to_string(), carol.session());
    let query = format!("session={session}");
    drop(carol);
    // Her claim is on the topic once ws2 knows her session (a kill right after her connection
    // could otherwise cut it off before it was produced).
    joined(topology, WS2, CAROL, &query);
    topology.operators = id;
    for i in [WS1, WS2] {
        topology.kill_instance(i);
        topology.start_instance(i);
    }
    let carol = joined(topology, WS1, CAROL, &query);
    assert_eq!(carol.hello["op"], true, "{}", carol.hello);
    query
}

/// A chat client of instance `i` from `source` with `query`, past its welcome. A session made on
/// the other instance is known here once its claim came through the claims topic: until then
/// the instance gives another one, so this connects again, for at most [`TRAVEL`].
fn joined(topology: &Topology, i: usize, source: IpAddr, query: &str) -> Client {
    let deadline = Instant::now() + TRAVEL;
    loop {
        let mut client = connect(topology, i, source, query);
        let history = client.welcome();
        assert_eq!(history["room"], "general", "{history}");
        let presented = query.strip_prefix("session=");
        if presented.is_none_or(|session| session == client.session()) {
            return client;
        }
        assert!(Instant::now() < deadline, "{query} never became known on {}", NAMES[i]);
        thread::sleep(POLL);
    }
}

/// A `wss://` client of instance `i` (`/ws?query`) whose connection comes from `source`.
fn connect(topology: &Topology, i: usize, source: IpAddr, query: &str) -> Client {
    let tcp = tcp_from(source, topology.instance_addr(i)).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let url = format!("wss://localhost:8443/ws?{query}");
    let (ws, _) = tungstenite::client::client(url, tls_stream(tcp, &topology.cert()))
        .unwrap_or_else(|e| panic!("{} from {source} with {query}: {e}", NAMES[i]));
    Client { ws, hello: Value::Null }
}

/// Waits, at most [`TRAVEL`], until instance `i` refuses `/ws?query` from `source` as banned
/// (a plain `GET`, which opens no session), then checks that an upgrade is refused alike: `403`
/// with the ban's JSON. Returns that body.
fn banned_within(topology: &Topology, i: usize, source: IpAddr, query: &str) -> Value {
    let deadline = Instant::now() + TRAVEL;
    while plain_get(topology, i, source, query).0 != 403 {
        assert!(Instant::now() < deadline, "{} never refused {query} from {source}", NAMES[i]);
        thread::sleep(POLL);
    }
    let (status, body) = refused_upgrade(topology, i, source, query);
    assert_eq!((status, &body["error"]), (403, &json!("banned")), "{body}");
    body
}

/// Waits, at most [`TRAVEL`], until instance `i` no longer refuses `/ws?query` from `source`
/// as banned, then joins it.
fn admitted_within(topology: &Topology, i: usize, source: IpAddr, query: &str) -> Client {
    let deadline = Instant::now() + TRAVEL;
    while plain_get(topology, i, source, query).0 == 403 {
        assert!(Instant::now() < deadline, "{} still refuses {query} from {source}", NAMES[i]);
        thread::sleep(POLL);
    }
    joined(topology, i, source, query)
}

/// The status and JSON body of an upgrade to `/ws?query` from `source` on instance `i` that is
/// meant to be refused; the body must be JSON.
fn refused_upgrade(topology: &Topology, i: usize, source: IpAddr, query: &str) -> (u16, Value) {
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    let (status, head, body) = request(topology, i, source, query, upgrade);
    assert_ne!(status, 101, "{}: {query} from {source} upgraded", NAMES[i]);
    let json = head.to_ascii_lowercase().contains("content-type: application/json\r\n");
    assert!(json, "{}: {head}{body}", NAMES[i]);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The status and JSON body (`null` when none) of a plain `GET /ws?query` from `source` on
/// instance `i`: how a page learns that it is banned.
fn plain_get(topology: &Topology, i: usize, source: IpAddr, query: &str) -> (u16, Value) {
    let (status, _, body) = request(topology, i, source, query, "Connection: close\r\n");
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `GET /ws?query` with the `extra` header lines, from `source` to instance `i` over TLS, read
/// until the instance closes: the status, the head and the body.
fn request(
    topology: &Topology,
    i: usize,
    source: IpAddr,
    query: &str,
    extra: &str,
) -> (u16, String, String) {
    let tcp = tcp_from(source, topology.instance_addr(i)).unwrap();
    tcp.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    let mut stream = tls_stream(tcp, &topology.cert());
    let head = format!("GET /ws?{query} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // Read until the instance closes (a TLS close without close_notify is an error: what was
    // read is kept).
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, format!("{head}\r\n"), body.to_string())
}

/// Asks the instance of operator `carol` for its `bans` list until its mutes satisfy `done`, for
/// at most [`TRAVEL`]: a sanction decided on the other instance has arrived here.
fn mutes_within(carol: &mut Client, done: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + TRAVEL;
    loop {
        carol.request(json!({"type": "bans"}));
        let listed = carol.next_of("bans");
        if done(listed["mutes"].as_array().unwrap()) {
            return;
        }
        assert!(Instant::now() < deadline, "the mutes never came to be: {listed}");
        thread::sleep(POLL);
    }
}

/// Asks operator `carol`'s instance about `name` until it knows the name (a session that
/// arrived on the other instance is known here once its claim came through the claims topic),
/// for at most [`TRAVEL`]. The question changes nothing: an `unmute` of someone not muted.
fn known_within(carol: &mut Client, name: &str) {
    let deadline = Instant::now() + TRAVEL;
    loop {
        carol.request(json!({"type": "unmute", "room": "general", "name": name}));
        let error = carol.next_of("error");
        match error["code"].as_str() {
            Some("not_muted") => return,
            Some("no_such_user") => {}
            _ => panic!("{error}"),
        }
        assert!(Instant::now() < deadline, "{name} never became known");
        thread::sleep(POLL);
    }
}

/// The next `moderation` notice of `action`, skipping anything else.
fn notice_of(client: &mut Client, action: &str) -> Value {
    loop {
        let notice = client.next_of("moderation");
        if notice["action"] == action {
            return notice;
        }
    }
}

/// The next `count` entries of the default room's order (messages, changes, notices), skipping
/// anything else.
fn entries(client: &mut Client, count: usize) -> Vec<Value> {
    let mut entries = Vec::with_capacity(count);
    while entries.len() < count {
        let event = client.next();
        if ENTRIES.contains(&event["type"].as_str().unwrap_or_default()) {
            entries.push(event);
        }
    }
    entries
}

fn id(event: &Value) -> u64 {
    event["id"].as_u64().unwrap_or_else(|| panic!("no id in {event}"))
}

/// Milliseconds from now to an RFC 3339 time (negative when it passed).
fn millis_until(time: &Value) -> i64 {
    let at = humantime::parse_rfc3339(time.as_str().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{time}: {e}"));
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => ahead.as_millis() as i64,
        Err(behind) => -(behind.duration().as_millis() as i64),
    }
}

/// The types of a room's entries: a message, the changes to one, a notice.
const ENTRIES: [&str; 5] = ["message", "edit", "delete", "react", "moderation"];
const WS1: usize = 0;
const WS2: usize = 1;
const NAMES: [&str; 2] = super::NAMES;
/// How long a record may take from one instance to the other, through the broker.
const TRAVEL: Duration = Duration::from_secs(10);
/// How often a wait for one asks again.
const POLL: Duration = Duration::from_millis(100);

/// Where each person connects from.
const CAROL: IpAddr = addr(60);
const BOB: IpAddr = addr(61);
/// bob's other tab, on another network.
const BOB_ELSEWHERE: IpAddr = addr(62);
const DAVE: IpAddr = addr(63);
const ERIN: IpAddr = addr(64);
const FRANK: IpAddr = addr(65);
const NEWCOMER: IpAddr = addr(66);
/// An address nobody used before.
const FRESH: IpAddr = addr(67);

/// The `n`th address of 127.0.1.0/24, as `support::loopback` gives them, as a constant.
const fn addr(n: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 1, n))
}
