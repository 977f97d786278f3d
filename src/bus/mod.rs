//! The bus: the road a chat message takes from this instance's broadcaster to every
//! broadcaster.
//!
//! A reader sends every message (and change to one) into this instance's [`Inbox`], whatever
//! the bus, so a connection's requests keep their order; then:
//! - [`Bus::Local`] (the default): the broadcaster numbers it. One instance, one order per room.
//! - [`Bus::Kafka`] (`KAFKA_ENABLED=true`, cargo feature `kafka`): the broadcaster produces it to
//!   its room's partition of the chat topic ([`Announce::publish`]); every instance consumes
//!   every partition and its broadcaster delivers each room in partition order, with the
//!   record's offset as the id. Messages said here take the same road back, with no shortcut,
//!   so all instances show each room in one order.
//!   Presence (who is online, per room) and typing indicators go through a second topic, see
//!   `chat/presence.rs` and `kafka/presence.rs`; nickname claims through a third, see
//!   `chat/identity/cluster.rs` and `kafka/claims.rs`. `kafka/mod.rs` says what each file does.
//!
//! Typing notices need no order: the reader publishes them at once ([`Publish`]).
//!
//! The bus depends on the chat, never the reverse: the chat sees it only as [`Publish`] (the
//! handler) and [`Announce`] (the broadcaster).

use std::sync::Arc;

use crate::chat::handler::Publish;
#[cfg(feature = "kafka")]
use crate::chat::inbox::Said;
use crate::chat::inbox::{Closed, Inbox};
#[cfg(feature = "kafka")]
use crate::chat::post::Origin;
use crate::chat::presence::Announce;
#[cfg(feature = "kafka")]
use crate::chat::protocol::Chat;
use crate::chat::room::RoomName;
use crate::chat::session::UserId;

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
    /// Tells the other members of `room` that `name` (connection `from`) is typing. With Kafka
    /// even this instance hears it from the presence topic, like everything else.
    fn typing(&self, room: RoomName, user: UserId, name: String, from: u64) -> Result<(), Closed> {
        match self {
            Bus::Local(inbox) => inbox.typing(room, user, name, from),
            #[cfg(feature = "kafka")]
            Bus::Kafka(bus) => {
                bus.typing(&room, user, name, from);
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
    fn announce(&self, rooms: Vec<(RoomName, Vec<String>)>, sessions: Vec<UserId>) {
        kafka::KafkaBus::announce(self, rooms, sessions);
    }

    fn claim(&self, user: UserId, name: &str) {
        kafka::KafkaBus::claim(self, user, name);
    }

    fn release(&self, user: UserId, folded: &str) {
        kafka::KafkaBus::release(self, user, folded);
    }

    fn direct(&self, chat: &Chat, origin: Origin) {
        kafka::KafkaBus::direct(self, chat, origin);
    }

    fn publish(&self, room: &RoomName, said: Said, origin: Origin) {
        kafka::KafkaBus::publish(self, room, said, origin);
    }

    fn read(&self, user: UserId, at: &crate::chat::identity::ReadAt, id: u64, conn: u64) {
        kafka::KafkaBus::read(self, user, at, id, conn);
    }

    fn kick(&self, user: UserId, reason: &str) {
        kafka::KafkaBus::kick(self, user, reason);
    }

    fn sanction(&self, sanction: &crate::chat::sanctions::Sanction) {
        kafka::KafkaBus::sanction(self, sanction);
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
