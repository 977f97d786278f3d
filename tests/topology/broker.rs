//! The broker restarted under two running instances, its log kept, as `docker-compose restart
//! kafka` does with the `kafka-data` volume: what was said before is still in the topic, under
//! the same ids and the same epoch, and both instances carry on without being restarted.
//!
//! (A broker that keeps its log in memory starts empty: the instances would find a new epoch,
//! which tells clients that the history they hold is gone. Apache Kafka keeps it on disk.)

use std::thread;
use std::time::{Duration, Instant};

use super::{Member, Topology};
use crate::support::https_status;
use crate::support::ids_and_texts;
use crate::support::kafka::Broker;

#[test]
fn a_broker_restart_keeps_the_history_and_both_instances_carry_on() {
    let mut topology = Topology::start();
    let (ws1, ws2) = (topology.instance_addr(0), topology.instance_addr(1));
    let mut members = [Member::join(&topology, ws1, "alice"), Member::join(&topology, ws2, "bob")];
    for round in 0..2 {
        for m in &mut members {
            let text = format!("{} before {round}", m.name);
            m.client.say(&text);
        }
    }
    for m in &mut members {
        m.read_messages(4);
    }
    assert_eq!(members[0].seen, members[1].seen);

    let stopped = Instant::now();
    Broker::shared().restart();
    eprintln!("the broker was back after {:?}", stopped.elapsed());
    let deadline = Instant::now() + Duration::from_secs(30);
    for addr in [ws1, ws2] {
        while https_status(addr, "/healthz", &topology.cert()) != Some(200) {
            assert!(Instant::now() < deadline, "{addr} did not recover");
            thread::sleep(Duration::from_millis(200));
        }
    }

    // Both instances produce and consume again, on both sides, with ids that go on.
    for m in &mut members {
        m.client.ws.get_ref().tcp().set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    }
    for i in 0..2 {
        let text = format!("{} after", members[i].name);
        members[i].client.say(&text);
        for m in &mut members {
            m.read_messages(1);
        }
    }
    assert_eq!(members[0].seen, members[1].seen);
    let ids: Vec<u64> = members[0].seen.iter().map(|(id, _)| *id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Instances started afresh rebuild the history from the topic the broker kept: the same
    // records under the same ids, in the same epoch.
    let (seen, epoch) = (members[0].seen.clone(), members[0].epoch.clone());
    drop(members);
    for i in 0..2 {
        topology.kill_instance(i);
        topology.start_instance(i);
    }
    let mut late = topology.connect(ws2, "name=late");
    let history = late.welcome();
    assert_eq!(history["epoch"], epoch.as_str(), "the topic was not made anew");
    let replayed = ids_and_texts(history["messages"].as_array().unwrap());
    assert_eq!(replayed, seen, "the history rebuilt from the kept topic");
}
