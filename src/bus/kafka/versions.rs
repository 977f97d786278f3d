//! Which brokers the bus can talk to, and the error at start when it cannot.
//!
//! Every Kafka request has versions; a client and a broker use the newest that both speak,
//! learnt from the broker's `ApiVersions` answer when the connection opens. rskafka 0.6 speaks
//! Produce v3-v7, Fetch v4, ListOffsets v0-v3, Metadata v0-v4 and CreateTopics v0-v5. The
//! oldest of those that a broker must have, Produce v3 and Fetch v4 (the record batches of
//! KIP-98), came with Apache Kafka 0.11.0. Kafka 4.0 removed the versions older than its
//! baseline (KIP-896: Produce v0-v2, Fetch v0-v3, ListOffsets v0, Metadata v0-v3, CreateTopics
//! v0-v1, ...): rskafka's ranges still meet the broker's, and the tests run on Apache Kafka
//! 4.4.0 (the version docker-compose.yml runs).
//!
//! A broker outside that span, older than 0.11 or one that has dropped Fetch v4, answers no
//! request the client cannot phrase: rskafka says so before sending
//! ([`RequestError::NoVersionMatch`]). Retrying cannot help, so start-up stops at once with
//! [`Error::KafkaVersion`] (exit code 2), naming the request and the version needed, instead
//! of retrying a connection that works.

use rskafka::client::error::{Error as ClientError, RequestError};

use crate::error::Error;

/// The brokers this server works with, as the error at start names them.
pub const NEEDED: &str = "Apache Kafka 0.11 or newer (tested with 4.4.0)";

/// The error for a broker that speaks none of the client's versions of a request, if that is
/// what `e` is (however deep rskafka wrapped it).
pub fn unsupported(what: &str, e: &ClientError) -> Option<Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(error) = cause {
        if let Some(RequestError::NoVersionMatch { api_key }) = error.downcast_ref() {
            let api = format!("{api_key:?}");
            return Some(Error::KafkaVersion { what: what.to_string(), api, needed: NEEDED });
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::config::Config;

    /// A broker that knows only Metadata v5-v12 (as one that dropped v0-v4 would): the client
    /// cannot ask it for anything, and says which request, without sending it.
    #[test]
    fn a_broker_without_the_clients_versions_stops_the_start_naming_what_is_needed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let brokers = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            // ApiVersions, the first request: header v0 (correlation id), then the v3 body.
            let mut len = [0u8; 4];
            conn.read_exact(&mut len).unwrap();
            let mut request = vec![0; u32::from_be_bytes(len) as usize];
            conn.read_exact(&mut request).unwrap();
            let mut answer = request[4..8].to_vec(); // the correlation id
            answer.extend([0, 0]); // no error
            answer.push(3); // compact array: 2 entries
            for (key, min, max) in [(18i16, 0i16, 3i16), (3, 5, 12)] {
                answer.extend(key.to_be_bytes());
                answer.extend(min.to_be_bytes());
                answer.extend(max.to_be_bytes());
                answer.push(0); // no tagged fields
            }
            answer.extend(0i32.to_be_bytes()); // throttle time
            answer.push(0); // no tagged fields
            conn.write_all(&(answer.len() as u32).to_be_bytes()).unwrap();
            conn.write_all(&answer).unwrap();
            // Hold the connection until the client gives up on it.
            let _ = conn.read(&mut [0; 64]);
        });
        let config = Config { kafka_brokers: brokers, ..Config::default() };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let error = runtime.block_on(super::super::connect::client(&config)).err().unwrap();
        assert!(matches!(error, Error::KafkaVersion { .. }), "{error}");
        let message = error.to_string();
        assert!(message.contains("Metadata") && message.contains(NEEDED), "{message}");
    }
}
