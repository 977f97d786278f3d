//! Identity across two instances (issue 14): one holder per nickname in the whole deployment, a
//! session that is the same person on either instance, and private messages between instances.
//!
//! Names are claimed on the claims topic and the first claim in its order wins on every
//! instance. "Does not get" is checked without waiting for a silence where an order allows it:
//! after the event someone must not see, something they must see is sent on a road that comes
//! after it, and it has to come first.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::Message;
use tungstenite::error::Error as WsError;

use super::Topology;
use crate::support::{Client, READ_TIMEOUT, history_texts, wss_client};

/// Two clients ask for one name at the same moment, one on each instance, several times over:
/// exactly one keeps it, the other is `renamed` to `name-2` (or got it in `hello` already), and
/// a private message to the name, sent from either instance, reaches the winner's session only.
#[test]
fn of_two_simultaneous_claims_of_a_name_exactly_one_wins_everywhere() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut senders =
        [welcomed(&topology, ws1, "name=sender1"), welcomed(&topology, ws2, "name=sender2")];
    let mut both_held = 0;
    for round in 0..ROUNDS {
        let name = format!("racer{round}");
        let barrier = Arc::new(Barrier::new(2));
        let racers: Vec<_> = [ws1, ws2]
            .into_iter()
            .map(|addr| {
                let (cert, barrier, query) =
                    (topology.cert(), barrier.clone(), format!("name={name}"));
                thread::spawn(move || {
                    barrier.wait();
                    let mut client = wss_client(addr, &query, &cert);
                    let hello = client.next();
                    assert_eq!(hello["type"], "hello", "{hello}");
                    client.hello = hello;
                    client
                })
            })
            .collect();
        let mut racers: Vec<Client> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        let names: Vec<String> =
            racers.iter().map(|c| c.hello["name"].as_str().unwrap().into()).collect();
        if names.iter().all(|n| *n == name) {
            both_held += 1;
        }

        // Each ends with the name of its hello or of its last `renamed`, once both instances
        // applied both claims.
        let loser_name = format!("{name}-2");
        let finals = settle(&mut racers, &name, &loser_name);
        let winner = finals.iter().position(|n| *n == name).expect("one keeps the name");
        let loser = 1 - winner;
        assert_eq!(finals[loser], loser_name, "round {round}: {finals:?}");
        let winner_user = racers[winner].hello["user"].clone();

        // A private message to the name, from each instance, goes to the winner's session.
        for (i, sender) in senders.iter_mut().enumerate() {
            let text = format!("to {name} from sender{}", i + 1);
            sender.request(json!({"type": "message", "to": name, "text": text}));
            let echo = sender.next_of("message");
            assert_eq!((&echo["to_user"], &echo["text"]), (&winner_user, &json!(text)), "{echo}");
            let got = racers[winner].next_of("message");
            assert_eq!((&got["dm"], &got["text"]), (&json!(true), &json!(text)), "{got}");
        }
        let stray = quiet_messages(&mut racers[loser], Duration::from_millis(300));
        assert!(stray.is_empty(), "round {round}: the loser got {stray:?}");
    }
    eprintln!("{both_held} of {ROUNDS} rounds had both instances give the name at first");
}

/// A client that presents its session on the other instance is the same person there: the same
/// user id and name, its private conversations, and what came while it was away.
#[test]
fn a_session_presented_on_the_other_instance_is_the_same_person() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut bea = welcomed(&topology, ws1, "name=bea");
    let mut bob = welcomed(&topology, ws2, "name=bob");
    let (bea_user, session) = (bea.hello["user"].clone(), bea.session().to_string());

    // bob's instance lists bea in general (it heard ws1's roster).
    loop {
        let event = bob.next();
        let listed = event["users"].as_array().is_some_and(|u| u.contains(&json!("bea")));
        if (event["type"] == "join" && event["name"] == "bea") || listed {
            break;
        }
    }
    dm_when_known(&mut bea, "bob", "hi bob");
    assert_eq!(bob.next_of("message")["text"], "hi bob");
    // bea is online on ws1, which ws2 knows from ws1's roster: this one is not unread on ws2.
    dm_when_known(&mut bob, "bea", "hi bea");
    assert_eq!(bea.next_of("message")["text"], "hi bea");

    // bea leaves ws1; once ws2 heard it (bob sees her leave general), a message to her is
    // unread.
    drop(bea);
    loop {
        let event = bob.next();
        if event["type"] == "leave" && event["name"] == "bea" {
            break;
        }
    }
    dm_when_known(&mut bob, "bea", "while you were away");

    let mut again = topology.connect(ws2, &format!("name=someone&session={session}"));
    again.welcome();
    let hello = &again.hello;
    assert_eq!((&hello["user"], &hello["name"]), (&bea_user, &json!("bea")), "{hello}");
    assert!(hello.get("requested").is_none(), "{hello}");
    assert_eq!(
        hello["unread_dms"],
        json!([{"name": "bob", "user": bob.hello["user"], "count": 1}])
    );
    again.request(json!({"type": "subscribe", "dm": "bob"}));
    let history = again.next_of("history");
    let texts = history_texts(&history);
    assert_eq!(texts, ["hi bob", "hi bea", "while you were away"], "{history}");

    // Through nginx too, the session in the first message (nginx refuses it in a query); and
    // nginx's access log names `/ws` without its query.
    let mut proxied = topology.connect(topology.nginx_addr(), "session_in=frame");
    proxied.request(json!({"type": "session", "session": session}));
    proxied.welcome();
    assert_eq!(proxied.hello["user"], bea_user);
    // nginx logs a request when it ends: for a WebSocket, when the connection closes.
    drop(proxied);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = topology.access_log();
        if log.contains("GET /ws") || std::time::Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(log.contains("GET /ws"), "the upgrade is logged: {log}");
    assert!(!log.contains(&session), "nginx logged the session: {log}");
}

/// A private message between sessions connected on both instances reaches every connection of
/// both, once, and nobody else on either instance.
#[test]
fn a_private_message_between_instances_reaches_both_sessions_everywhere_and_nobody_else() {
    let topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut alice1 = welcomed(&topology, ws1, "name=alice");
    let mut bob2 = welcomed(&topology, ws2, "name=bob");
    let alice2 = format!("session={}", alice1.session());
    let bob1 = format!("session={}", bob2.session());
    // The other instance knows each session once it applied its claim.
    let mut alice2 = welcomed_when_known(&topology, ws2, &alice2);
    let mut bob1 = welcomed_when_known(&topology, ws1, &bob1);
    let mut third1 = welcomed(&topology, ws1, "name=third1");
    let mut third2 = welcomed(&topology, ws2, "name=third2");

    dm_when_known(&mut alice1, "bob", "between instances");
    for (who, client) in [("alice2", &mut alice2), ("bob1", &mut bob1), ("bob2", &mut bob2)] {
        let got = client.next_of("message");
        assert_eq!(
            (&got["dm"], &got["text"]),
            (&json!(true), &json!("between instances")),
            "{who}"
        );
        assert_eq!((&got["name"], &got["to"]), (&json!("alice"), &json!("bob")), "{who}: {got}");
    }
    // Both broadcasters handled the private message (its four connections have it): a room
    // message sent now comes after it everywhere.
    third1.say("after the private message");
    for (who, client) in [("third1", &mut third1), ("third2", &mut third2)] {
        loop {
            let event = client.next_of("message");
            assert!(event.get("dm").is_none(), "{who} got {event}");
            if event["text"] == "after the private message" {
                break;
            }
        }
    }
    // Each connection of the two got it once.
    for (who, client) in
        [("alice1", &mut alice1), ("alice2", &mut alice2), ("bob1", &mut bob1), ("bob2", &mut bob2)]
    {
        let stray = quiet_messages(client, Duration::from_millis(300));
        assert!(stray.iter().all(|m| m.get("dm").is_none()), "{who} got more: {stray:?}");
    }
}

/// A client at `addr` with `query`, past its welcome.
fn welcomed(topology: &Topology, addr: SocketAddr, query: &str) -> Client {
    let mut client = topology.connect(addr, query);
    client.welcome();
    client
}

/// A client presenting a session the instance at `addr` may not have learned yet: tries again
/// until it is known (its `hello` gives the session back rather than a fresh one).
pub(crate) fn welcomed_when_known(topology: &Topology, addr: SocketAddr, query: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = topology.connect(addr, query);
        client.hello = client.next();
        if query.ends_with(client.session()) {
            client.next_of("history");
            return client;
        }
        assert!(Instant::now() < deadline, "{query} never became known at {addr}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `text` privately to `to`, again while this instance does not know the name yet;
/// returns the echo.
pub(crate) fn dm_when_known(client: &mut Client, to: &str, text: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        client.request(json!({"type": "message", "to": to, "text": text}));
        loop {
            let event = client.next();
            match event["type"].as_str() {
                Some("message") if event["text"] == text => return event,
                Some("error") if event["code"] == "no_such_user" => break,
                _ => {}
            }
        }
        assert!(Instant::now() < deadline, "{to} never became known");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Reads both racers' events until one is called `name` and the other `loser_name`, or the
/// deadline passes; returns their names.
fn settle(racers: &mut [Client], name: &str, loser_name: &str) -> Vec<String> {
    let mut names: Vec<String> =
        racers.iter().map(|c| c.hello["name"].as_str().unwrap().to_string()).collect();
    for (client, got) in racers.iter().zip(&names) {
        if got != name {
            // It got the other name straight away: its hello says what it asked for.
            assert_eq!(client.hello["requested"], name, "{}", client.hello);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(names.contains(&name.to_string()) && names.contains(&loser_name.to_string())) {
        assert!(Instant::now() < deadline, "the claims of {name} never settled: {names:?}");
        for (client, held) in racers.iter_mut().zip(names.iter_mut()) {
            for event in quiet(client, Duration::from_millis(100)) {
                if event["type"] == "renamed" {
                    assert_eq!(event["requested"], name, "{event}");
                    *held = event["name"].as_str().unwrap().to_string();
                }
            }
        }
    }
    names
}

/// The chat messages `client` gets until it has been quiet for `quiet_for`.
fn quiet_messages(client: &mut Client, quiet_for: Duration) -> Vec<Value> {
    quiet(client, quiet_for).into_iter().filter(|e| e["type"] == "message").collect()
}

/// The events `client` gets until it has been quiet for `quiet_for`.
fn quiet(client: &mut Client, quiet_for: Duration) -> Vec<Value> {
    let tcp = client.ws.get_ref().tcp();
    tcp.set_read_timeout(Some(quiet_for)).unwrap();
    let mut events = Vec::new();
    loop {
        match client.ws.read() {
            Ok(Message::Text(text)) => events.push(serde_json::from_str(&text).unwrap()),
            Ok(_) => {}
            Err(WsError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    client.ws.get_ref().tcp().set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    events
}

/// Races run, each for another name.
const ROUNDS: usize = 5;
