//! A mute or an unmute reaches each instance twice with Kafka: as its notice, an entry of the
//! room's order on the room's partition, and as the sanction itself, on the sanctions topic
//! (`bus/kafka/sanctions.rs`). Either may come first. [`Twins`] has each change applied at its
//! first copy and its twin skipped, so the mutes change in the order both copies carry, whichever
//! topic is ahead: a muted session is refused from the moment it can see the notice, and a mute
//! lifted right after it was put on is not put back by its late twin.
//!
//! Both copies of a room's changes come in the same order (each topic keeps its order, and the
//! deciding instance sends both in the order it decided), so a copy's twin, if it came already,
//! is among the other topic's copies still waiting for theirs. Those before it will never be
//! matched (a sanction recorded again without a notice, a notice whose sanction was lost): they
//! go.

use std::collections::{HashMap, VecDeque};

use crate::chat::room::RoomName;
use crate::chat::sanctions::Sanction;

/// Where a copy of a mute or an unmute came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Its notice, in the room's order.
    Notice,
    /// The sanction, on the sanctions topic.
    Sanction,
}

/// The copies that came first, waiting for their twins.
#[derive(Debug, Default)]
pub struct Twins {
    /// By room: for each topic, its copies whose twin has not come, oldest first.
    waiting: HashMap<RoomName, [VecDeque<Sanction>; 2]>,
}

impl Twins {
    /// A copy of `change` (a mute or an unmute) came by `via`: true when it is the first and
    /// is to be applied, false when its twin was.
    pub fn first(&mut self, via: Via, change: &Sanction) -> bool {
        let room = match change {
            Sanction::Mute(mute) => &mute.room,
            Sanction::Unmute { room, .. } => room,
            Sanction::Ban(_) | Sanction::Unban { .. } => return true,
        };
        if !self.waiting.contains_key(room) && self.waiting.len() >= MAX_ROOMS {
            // Far more rooms with changes in flight than there are: only strays are left.
            self.waiting.clear();
        }
        let lists = self.waiting.entry(room.clone()).or_default();
        let [notices, sanctions] = lists;
        let (own, other) = match via {
            Via::Notice => (notices, sanctions),
            Via::Sanction => (sanctions, notices),
        };
        if let Some(at) = other.iter().position(|waiting| waiting == change) {
            other.drain(..=at);
            if own.is_empty() && other.is_empty() {
                self.waiting.remove(room);
            }
            return false;
        }
        if own.len() == MAX_WAITING {
            own.pop_front();
        }
        own.push_back(change.clone());
        true
    }
}

/// Copies one room keeps waiting from each topic at most.
const MAX_WAITING: usize = 64;
/// Rooms with copies waiting at most.
const MAX_ROOMS: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::sanctions::Mute;
    use crate::chat::session::UserId;

    fn mute(reason: &str) -> Sanction {
        let room = RoomName::parse("general").unwrap();
        let (name, by) = ("bob".to_string(), "carol".to_string());
        Sanction::Mute(Mute {
            room,
            user: UserId::NOBODY,
            name,
            until: None,
            reason: reason.into(),
            by,
        })
    }

    fn unmute() -> Sanction {
        Sanction::Unmute { room: RoomName::parse("general").unwrap(), user: UserId::NOBODY }
    }

    /// Applies the copies in the order they come; returns the changes applied.
    fn applied(copies: &[(Via, Sanction)]) -> Vec<Sanction> {
        let mut twins = Twins::default();
        copies
            .iter()
            .filter(|(via, change)| twins.first(*via, change))
            .map(|c| c.1.clone())
            .collect()
    }

    #[test]
    fn each_change_is_applied_once_in_its_order_whichever_topic_is_ahead() {
        use Via::{Notice as N, Sanction as S};
        let (m1, u1, m2) = (mute("a"), unmute(), mute("b"));
        let order = vec![m1.clone(), u1.clone(), m2.clone()];
        let n = |c: &Sanction| (N, c.clone());
        let s = |c: &Sanction| (S, c.clone());
        let arrivals = [
            vec![n(&m1), n(&u1), n(&m2), s(&m1), s(&u1), s(&m2)],
            vec![s(&m1), s(&u1), s(&m2), n(&m1), n(&u1), n(&m2)],
            vec![n(&m1), s(&m1), s(&u1), n(&u1), n(&m2), s(&m2)],
            vec![s(&m1), n(&m1), n(&u1), n(&m2), s(&u1), s(&m2)],
            vec![n(&m1), n(&u1), s(&m1), n(&m2), s(&u1), s(&m2)],
        ];
        for arrival in arrivals {
            assert_eq!(applied(&arrival), order, "{arrival:?}");
        }
    }

    #[test]
    fn the_same_mute_twice_is_two_changes() {
        use Via::{Notice as N, Sanction as S};
        let (m, u) = (mute("a"), unmute());
        let arrival = [
            (N, m.clone()),
            (N, u.clone()),
            (N, m.clone()),
            (S, m.clone()),
            (S, u.clone()),
            (S, m.clone()),
        ];
        assert_eq!(applied(&arrival), [m.clone(), u, m]);
    }

    #[test]
    fn a_copy_without_a_twin_is_applied_and_does_not_stop_the_others() {
        use Via::{Notice as N, Sanction as S};
        // A sanction recorded again (no notice), then a mute and its unmute.
        let (again, m, u) = (mute("old"), mute("a"), unmute());
        let arrival =
            [(S, again.clone()), (N, m.clone()), (N, u.clone()), (S, m.clone()), (S, u.clone())];
        assert_eq!(applied(&arrival), [again, m, u]);
    }

    #[test]
    fn waiting_copies_are_bounded() {
        let mut twins = Twins::default();
        for i in 0..10 * MAX_WAITING {
            assert!(twins.first(Via::Sanction, &mute(&i.to_string())));
        }
        let lists = twins.waiting.values().next().unwrap();
        assert_eq!((lists[0].len(), lists[1].len()), (0, MAX_WAITING));
    }
}
