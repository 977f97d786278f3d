//! The bus: the road a chat message takes from a reader thread to the broadcasters.
//!
//! - [`Bus::Local`] (the default): the reader sends [`Event::Chat`] straight into this instance's
//!   channel, and the broadcaster numbers it. One instance, one order.
//! - [`Bus::Kafka`] (`KAFKA_ENABLED=true`, cargo feature `kafka`): the reader produces the message
//!   to a one-partition topic; every instance consumes the whole topic and its broadcaster delivers
//!   in topic order, with the record's offset as the id. Local messages take the same road, with no
//!   shortcut, so all instances show one conversation in one order. Presence (who is online) goes
//!   through a second topic, see `presence.rs`.

use std::sync::Arc;

use crossbeam_channel::Sender;

use crate::broadcaster::Event;
use crate::outbound::Outbound;

#[cfg(feature = "kafka")]
pub mod kafka;

/// How messages travel between readers and broadcasters.
#[derive(Clone)]
pub enum Bus {
    /// The in-process channel to this instance's broadcaster.
    Local(Sender<Event>),
    /// A Kafka topic shared by every instance.
    #[cfg(feature = "kafka")]
    Kafka(Arc<kafka::KafkaBus>),
}

/// The bus is gone: the server is shutting down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Bus {
    /// Sends a chat message on its way to every client. With Kafka a failure to deliver reaches
    /// `sender` later as a `not_delivered` error event.
    pub fn publish(
        &self,
        name: String,
        text: String,
        ts: String,
        sender: &Arc<Outbound>,
    ) -> Result<(), Closed> {
        match self {
            Bus::Local(events) => {
                let _ = sender;
                events.send(Event::Chat { id: None, name, text, ts }).map_err(|_| Closed)
            }
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => {
                bus.publish(&name, &text, &ts, sender);
                Ok(())
            }
        }
    }

    /// Tells the other instances which nicknames are online here (a no-op without Kafka).
    pub fn announce(&self, users: &[&str]) {
        match self {
            Bus::Local(_) => {
                let _ = users;
            }
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => bus.announce(users),
        }
    }

    /// Waits (briefly) until what was published has reached the broker.
    pub fn flush(&self) {
        #[cfg(feature = "kafka")]
        if let Bus::Kafka(bus) = self {
            bus.flush();
        }
    }

    /// True when other instances may exist (their presence must be merged with ours).
    pub fn is_shared(&self) -> bool {
        !matches!(self, Bus::Local(_))
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bus::Local(_) => f.write_str("Bus::Local"),
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => write!(f, "Bus::Kafka({})", bus.topic()),
        }
    }
}
