//! The bus: the road a chat message takes from a reader thread to the broadcasters.
//!
//! - [`Bus::Local`] (the default): the reader sends the message straight into this instance's
//!   [`Inbox`], and the broadcaster numbers it. One instance, one order.
//! - [`Bus::Kafka`] (`KAFKA_ENABLED=true`, cargo feature `kafka`): the reader produces the message
//!   to a one-partition topic; every instance consumes the whole topic and its broadcaster delivers
//!   in topic order, with the record's offset as the id. Local messages take the same road, with no
//!   shortcut, so all instances show one conversation in one order. Presence (who is online) goes
//!   through a second topic, see `chat/presence.rs`.
//!
//! The bus depends on the chat, never the reverse: the chat sees it only as [`Publish`] (the
//! handler) and [`Announce`] (the broadcaster).

use std::sync::Arc;

use crate::chat::handler::Publish;
use crate::chat::inbox::{Closed, Inbox};
use crate::chat::presence::Announce;
use crate::chat::room::RoomName;
use crate::ws::outbound::Outbound;

#[cfg(feature = "kafka")]
pub mod kafka;

/// How messages travel between readers and broadcasters.
#[derive(Clone)]
pub enum Bus {
    /// The in-process channel to this instance's broadcaster.
    Local(Inbox),
    /// A Kafka topic shared by every instance.
    #[cfg(feature = "kafka")]
    Kafka(Arc<kafka::KafkaBus>),
}

impl Publish for Bus {
    /// Sends a chat message on its way to every member of `room`. With Kafka a failure to deliver
    /// reaches `sender` later as a `not_delivered` error event.
    fn publish(
        &self,
        room: RoomName,
        name: String,
        text: String,
        ts: String,
        sender: &Arc<Outbound>,
    ) -> Result<(), Closed> {
        match self {
            Bus::Local(inbox) => {
                let _ = sender;
                inbox.chat(room, name, text, ts)
            }
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => {
                bus.publish(&room, &name, &text, &ts, sender);
                Ok(())
            }
        }
    }

    fn typing(&self, room: RoomName, name: String, from: u64) -> Result<(), Closed> {
        match self {
            Bus::Local(inbox) => inbox.typing(room, name, from),
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => {
                bus.typing(&room, &name, from);
                Ok(())
            }
        }
    }
}

impl Bus {
    /// The other instances, for the broadcaster's presence announcements: none without Kafka.
    pub fn others(&self) -> Option<Arc<dyn Announce>> {
        match self {
            Bus::Local(_) => None,
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => Some(bus.clone()),
        }
    }
}

#[cfg(feature = "kafka")]
impl Announce for kafka::KafkaBus {
    fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>) {
        kafka::KafkaBus::announce(self, rooms);
    }

    fn flush(&self) {
        kafka::KafkaBus::flush(self);
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
