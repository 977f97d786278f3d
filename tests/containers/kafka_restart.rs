//! `docker-compose restart kafka` under the two running instances, without `make down`: the
//! broker keeps its log in the `kafka-data` volume, so what was said before is still in the topic
//! afterwards, under the same ids and the same epoch. Both instances carry on without a restart
//! of their own (their clients talk across them again), and an instance restarted afterwards
//! rebuilds the same history from the topic, which only a kept log can give it.
//!
//! (A broker that keeps its log in memory comes back empty: the instances would find a new
//! epoch, which tells clients that the history they hold is gone.)

use std::time::{Duration, Instant};

use crate::support::{Client, ids_and_texts, wait_until_healthy};
use crate::{Deployment, healthy, inspect};

/// The check; see the module docs. Leaves both instances and the broker running.
pub fn keeps_the_history_and_both_instances_resume(deployment: &Deployment) {
    let mut clients =
        [1, 2].map(|n| deployment.connect(deployment.instance(n), &format!("kept{n}")));
    let history = clients[0].welcome();
    clients[1].welcome();
    let epoch = history["epoch"].as_str().unwrap().to_string();
    let mut said = ids_and_texts(history["messages"].as_array().unwrap());
    said.extend(exchange(&mut clients, "before the restart"));

    let kafka = deployment.container("kafka");
    let started = Instant::now();
    deployment.compose(&["restart", "kafka"]);
    healthy(&kafka);
    let broker_back = started.elapsed();
    for n in [1, 2] {
        wait_until_healthy(deployment.instance(n), &deployment.cert(), RECOVERY);
    }
    println!(
        "docker-compose restart kafka: healthy again after {broker_back:.1?}, both instances \
         after {:.1?}",
        started.elapsed()
    );
    assert_eq!(deployment.container("kafka"), kafka, "restarted, not made anew");
    let logs = deployment.logs(&kafka);
    assert!(logs.contains("already formatted"), "the second start found its log dir: {logs}");

    // The clients connected before talk across the instances again, with ids that go on.
    for client in &mut clients {
        client.ws.get_ref().tcp().set_read_timeout(Some(RECOVERY)).unwrap();
    }
    said.extend(exchange(&mut clients, "after the restart"));
    let ids: Vec<u64> = said.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids go on: {ids:?}");
    for n in [1, 2] {
        same_history(deployment, n, &format!("joined{n}"), &epoch, &said);
    }

    // ws2 started afresh knows only what the broker kept.
    drop(clients);
    let ws2 = deployment.container("ws2");
    deployment.compose(&["restart", "ws2"]);
    healthy(&ws2);
    wait_until_healthy(deployment.instance(2), &deployment.cert(), RECOVERY);
    same_history(deployment, 2, "fresh", &epoch, &said);

    println!("kafka stand-in: the broker's JVM holds {} MB", rss_kib(&kafka) / 1024);
}

/// Each client says one line (`<what> <n>`) and everyone reads both: the two as every client saw
/// them, in one order.
fn exchange(clients: &mut [Client; 2], what: &str) -> Vec<(u64, String)> {
    for (i, client) in clients.iter_mut().enumerate() {
        client.say(&format!("{what} {}", i + 1));
    }
    let seen = clients.each_mut().map(|c| ids_and_texts(&c.messages(2)));
    assert_eq!(seen[0], seen[1], "both instances show one order");
    seen[0].clone()
}

/// A client that joins instance `n` now gets `said` as its history, in epoch `epoch`.
fn same_history(
    deployment: &Deployment,
    n: usize,
    name: &str,
    epoch: &str,
    said: &[(u64, String)],
) {
    let mut client = deployment.connect(deployment.instance(n), name);
    let history = client.welcome();
    assert_eq!(history["epoch"], epoch, "ws{n}: the topic was not made anew");
    let messages = ids_and_texts(history["messages"].as_array().unwrap());
    assert_eq!(messages, said, "ws{n}: the history from before and after the restart");
}

/// The resident memory of container `id`'s process 1 (the broker: the entry point `exec`s it).
fn rss_kib(id: &str) -> u64 {
    let pid = inspect(id, "{{.State.Pid}}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// How long the broker and the instances may take to come back.
const RECOVERY: Duration = Duration::from_secs(60);
