//! One round: the events taken together, each outgoing event encoded to a frame once, and who
//! gets which frame.
//!
//! A round starts with the event the loop waited for and takes every other event already
//! waiting, up to [`MAX_BATCH`]. Each event's handler encodes what it sends with
//! [`Round::frame`] and names who gets it with [`Round::add`], or with
//! [`Broadcaster::to_room`] for the members of a room (the hub's index by room, so a round with
//! messages for many rooms never walks every client per room). When the round ends, what it
//! wrote is made durable (`durability.rs`), then each client gets its frames (`delivery.rs`).
//!
//! A client that agreed to permessage-deflate (RFC 7692) in its handshake gets a message's
//! compressed frame instead of its plain one. The compressed frame is made the first time such a
//! client gets the message, once for all of them ([`SharedFrame`]), by the round's one
//! [`Compressor`], made the first time one is needed: a server whose clients never agree to
//! compression never holds one.

use crossbeam_channel::Receiver;
use tungstenite::Bytes;

use super::{Broadcaster, Flow};
use crate::chat::hub::{Room, Slot};
use crate::chat::inbox::Event;
use crate::chat::protocol::ServerEvent;
use crate::chat::room::RoomName;
use crate::ws::deflate::{Agreed, Compressor, Settings, SharedFrame};
use crate::ws::frame;

/// The frames of one round, each encoded once, and who gets which.
///
/// Recipients are resolved when an event is handled, from the room's members at that moment:
/// a client that subscribes halfway through a round gets the room's later frames but not the
/// earlier ones (those are in the history it was just sent), and one that leaves gets nothing
/// more.
#[derive(Debug, Default)]
pub(super) struct Round {
    frames: Vec<SharedFrame>,
    /// For each slot, the indexes of its frames in `frames`, in order.
    to: Vec<Vec<u32>>,
    /// The slots with frames, in the order they got their first.
    touched: Vec<Slot>,
    /// The compressor of every compressed frame, once a client needs one.
    compressor: Option<Box<Compressor>>,
}

/// Which members of a room an event skips.
#[derive(Debug, Clone, Copy)]
pub(super) enum Except<'a> {
    /// Every member gets it.
    Nobody,
    /// The connection in this slot (the one typing).
    Slot(Slot),
    /// Connections with this nickname (a `join` or `leave` is not news to them).
    Named(&'a str),
}

impl Broadcaster {
    /// One round: `first` and every other event already waiting, up to [`MAX_BATCH`], delivered
    /// together.
    pub(super) fn round(&mut self, first: Event, events: &Receiver<Event>) -> Flow {
        let mut round = std::mem::take(&mut self.round);
        let rest = events.try_iter().take(MAX_BATCH - 1);
        let mut flow = Flow::Continue;
        for event in std::iter::once(first).chain(rest) {
            flow = self.handle(event, &mut round);
            if flow == Flow::Stop {
                break;
            }
        }
        self.commit(&mut round);
        self.deliver(&mut round);
        self.compact_if_due();
        self.round = round;
        flow
    }

    /// Sends `event` to the connection in `slot` only.
    pub(super) fn tell(&self, round: &mut Round, slot: Slot, event: &ServerEvent<'_>) {
        let index = round.frame(event);
        round.add(slot, index);
    }

    /// Encodes `event` once and gives it to the members of `room`, but `except`.
    pub(super) fn to_room(
        &self,
        round: &mut Round,
        room: &RoomName,
        event: &ServerEvent<'_>,
        except: Except,
    ) {
        let Some(room) = self.hub.room(room).filter(|r| !r.members().is_empty()) else { return };
        let index = round.frame(event);
        self.add_members(round, room, index, except);
    }

    /// Gives frame `index` of the round to the members of `room`, but `except`.
    pub(super) fn to_room_frame(
        &self,
        round: &mut Round,
        room: &RoomName,
        index: u32,
        except: Except,
    ) {
        if let Some(room) = self.hub.room(room) {
            self.add_members(round, room, index, except);
        }
    }

    /// Gives frame `index` of the round to the members of `room`, but `except`.
    fn add_members(&self, round: &mut Round, room: &Room, index: u32, except: Except) {
        for &slot in room.members() {
            let skip = match except {
                Except::Nobody => false,
                Except::Slot(one) => slot == one,
                // Only here is the member itself looked at; a message costs the slot numbers alone.
                Except::Named(name) => self.hub.client(slot).is_some_and(|c| c.name == name),
            };
            if !skip {
                round.add(slot, index);
            }
        }
    }
}

impl Round {
    /// Encodes `event` once; returns the frame's index.
    pub(super) fn frame(&mut self, event: &ServerEvent<'_>) -> u32 {
        self.frames.push(SharedFrame::new(frame::text(event.to_json())));
        (self.frames.len() - 1) as u32
    }

    /// Gives frame `index` to `slot`.
    pub(super) fn add(&mut self, slot: Slot, index: u32) {
        let at = slot as usize;
        if at >= self.to.len() {
            self.to.resize_with(at + 1, Vec::new);
        }
        if self.to[at].is_empty() {
            self.touched.push(slot);
        }
        self.to[at].push(index);
    }

    /// Frame `index` goes to nobody after all (its message could not be made durable).
    pub(super) fn cancel(&mut self, index: u32) {
        self.frames[index as usize] = SharedFrame::new(Bytes::new());
    }

    /// `slot`'s client is gone: it gets nothing more (a newcomer may take the slot).
    pub(super) fn forget(&mut self, slot: Slot) {
        if let Some(list) = self.to.get_mut(slot as usize) {
            list.clear();
        }
    }

    /// Hands `give` each slot with frames and its frames, in the order they were added (the
    /// cancelled ones left out), and empties the round for the next one. `terms` tells a slot's
    /// permessage-deflate terms: a slot with some gets the compressed frames of messages
    /// `settings` allow (`COMPRESSION_MIN_BYTES`, `COMPRESSION_MAX_BYTES_PER_SEC`).
    pub(super) fn drain(
        &mut self,
        settings: Settings,
        terms: impl Fn(Slot) -> Option<Agreed>,
        mut give: impl FnMut(Slot, &[&Bytes]),
    ) {
        let Round { frames: all, to, touched, compressor } = self;
        let mut frames: Vec<&Bytes> = Vec::new();
        for &slot in touched.iter() {
            let list = &mut to[slot as usize];
            if list.is_empty() {
                continue;
            }
            let agreed = terms(slot);
            if agreed.is_some() {
                // Each frame compressed once, by the first client that agreed and gets it.
                let compressor = compressor
                    .get_or_insert_with(|| Box::new(Compressor::new(settings.bytes_per_second)));
                for &i in list.iter() {
                    all[i as usize].prepare(compressor, settings.min_bytes);
                }
            }
            frames.clear();
            // A cancelled frame is empty (a message refused by the store).
            frames.extend(
                list.iter().map(|&i| all[i as usize].for_client(agreed)).filter(|f| !f.is_empty()),
            );
            list.clear();
            if list.capacity() > KEEP_PER_SLOT {
                list.shrink_to(KEEP_PER_SLOT);
            }
            if !frames.is_empty() {
                give(slot, &frames);
            }
        }
        touched.clear();
        all.clear();
    }
}

/// Events handled in one round at most.
pub const MAX_BATCH: usize = 1024;
/// Frame indexes a slot keeps room for between rounds; a longer list is shrunk back.
const KEEP_PER_SLOT: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn long_error() -> ServerEvent<'static> {
        ServerEvent::error("long", "a message long enough to be worth compressing, and then some")
    }

    #[test]
    fn a_frame_is_compressed_once_for_every_client_that_agreed() {
        let mut round = Round::default();
        let long = round.frame(&long_error());
        let short = round.frame(&ServerEvent::error("c", "m"));
        for slot in 0..3 {
            round.add(slot, long);
            round.add(slot, short);
        }
        // Slots 0 and 2 agreed to permessage-deflate; slot 1 did not.
        let terms = |slot: Slot| (slot != 1).then_some(Agreed { server_window_bits: None });
        let mut got: Vec<(Slot, Vec<Bytes>)> = Vec::new();
        let settings = Settings { min_bytes: 64, bytes_per_second: usize::MAX };
        round.drain(settings, terms, |slot, frames| {
            got.push((slot, frames.iter().map(|f| (*f).clone()).collect()))
        });
        assert_eq!(got.len(), 3);
        let (compressed, plain) = (&got[0].1[0], &got[1].1[0]);
        assert_eq!(compressed[0], 0xc1, "RSV1 set: compressed");
        assert_eq!(plain[0], 0x81, "plain");
        // The same bytes in memory, not an equal copy: compressed once.
        assert_eq!(compressed.as_ptr(), got[2].1[0].as_ptr());
        // Short frames stay plain for everyone.
        assert!(got.iter().all(|(_, frames)| frames[1][0] == 0x81));
    }
}
