//! Broker trouble does not stop the server, and does not go unnoticed: a probe asks the broker
//! for metadata every [`PROBE_EVERY`], and `/healthz` answers 503 with the reason until it
//! answers again (producers and consumers report their own failures the same way, through
//! [`Metrics::set_problem`]). Should the `kafka` thread itself end (a task panicked), [`Stopped`]
//! leaves the server unhealthy rather than a bus that silently stopped.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::Client;

use crate::metrics::Metrics;

/// Asks the broker for its topics every [`PROBE_EVERY`]; `/healthz` reports the result.
pub async fn probe_health(client: Client, topic: String, metrics: Arc<Metrics>) {
    loop {
        let problem = match tokio::time::timeout(PROBE_EVERY, client.list_topics()).await {
            Ok(Ok(topics)) if topics.iter().any(|t| t.name == topic) => None,
            Ok(Ok(_)) => Some(format!("kafka: topic {topic} is missing")),
            Ok(Err(e)) => Some(format!("kafka: broker unreachable: {e}")),
            Err(_) => Some(format!("kafka: broker unreachable: no answer within {PROBE_EVERY:?}")),
        };
        metrics.set_problem(problem);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Marks the bus unhealthy when dropped: the `kafka` thread holds it while it runs.
pub struct Stopped(pub Arc<Metrics>);

impl Drop for Stopped {
    fn drop(&mut self) {
        self.0.set_problem(Some("kafka: the client thread stopped".to_string()));
    }
}

/// How often the broker is asked whether it is there.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use std::thread;

    use super::*;

    #[test]
    fn a_kafka_thread_that_ends_leaves_the_server_unhealthy() {
        let metrics = Arc::new(Metrics::default());
        let thread = thread::spawn({
            let metrics = metrics.clone();
            move || {
                let _unhealthy_when_gone = Stopped(metrics);
                panic!("a task panicked");
            }
        });
        assert!(thread.join().is_err());
        let (healthy, body) = metrics.health();
        assert!(!healthy && body.contains("the client thread stopped"), "{body}");
    }
}
