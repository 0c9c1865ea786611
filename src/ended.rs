//! Ended sessions, remembered for a bounded time and count.
//!
//! A client presenting an ended ID must get 404 with the right reason (so it knows to
//! re-initialize), the ID must never be handed out again, and an ended session can be
//! renewed into a new one carrying its state. All three need the ended session kept
//! for a while, but not forever: records go after `ended_retention_ms`, and the
//! oldest go first past `max_ended_remembered`.

use std::collections::{BTreeSet, VecDeque};

use serde::Serialize;

use crate::session::{EndedView, Session, SessionView};
use crate::table::{Handle, SessionTable};

/// What an ID refers to: see [`crate::SessionStore::find`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(tag = "status", content = "session", rename_all = "camelCase")]
pub enum Lookup {
    Live(SessionView),
    Ended(EndedView),
    Unknown,
}

/// An ended session's place in the order of forgetting: when it ended, then the
/// order it was recorded in, then where it is.
type Record = (u64, u64, Handle);

/// The ended sessions in the order they are forgotten: by the time they ended, then
/// in the order they were recorded. The sessions themselves stay in the table (see
/// `table`). Sessions mostly end as time goes on, so most records arrive in order
/// and are appended to a queue at no search cost; the few that ended before the
/// last one recorded (a restore, a close racing a sweep) go to a sorted set, and
/// the oldest record is at the front of one or the other.
#[derive(Debug, Default)]
pub(crate) struct EndedOrder {
    in_order: VecDeque<Record>,
    late: BTreeSet<Record>,
    recorded: u64,
}

impl EndedOrder {
    /// Files an ended session; `at` is when it ended. The store then forgets the
    /// oldest past its limits (`forget_oldest`). Sessions ended together may be
    /// marked ended before any is filed here, so the count is of filed sessions.
    pub fn remember(&mut self, handle: Handle, at: u64) {
        self.recorded += 1;
        let record = (at, self.recorded, handle);
        if self.in_order.back().is_none_or(|last| last.0 <= at) {
            self.in_order.push_back(record);
        } else {
            self.late.insert(record);
        }
    }

    /// How many ended sessions are remembered.
    pub fn len(&self) -> usize {
        self.in_order.len() + self.late.len()
    }

    /// When the oldest remembered session ended.
    pub fn oldest_at(&self) -> Option<u64> {
        self.oldest().map(|(at, _, _)| at)
    }

    /// Takes back the record of `handle`, which ended at `at` (an end that was
    /// undone). Records filed since the host last persisted are at the back of the
    /// queue, or among the late ones, so the search is short.
    pub fn unremember(&mut self, handle: Handle, at: u64) {
        if let Some(i) = self.in_order.iter().rposition(|r| r.2 == handle) {
            self.in_order.remove(i);
            return;
        }
        let late = self
            .late
            .range((at, 0, 0)..=(at, u64::MAX, Handle::MAX))
            .find(|r| r.2 == handle)
            .copied();
        if let Some(record) = late {
            self.late.remove(&record);
        }
    }

    fn oldest(&self) -> Option<Record> {
        match (self.in_order.front(), self.late.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Forgets the oldest remembered session: takes it out of the table and hands
    /// it over (the journal keeps it until the change is durable).
    pub fn forget_oldest(&mut self, table: &mut SessionTable) -> Option<(Handle, Session)> {
        let from_queue = match (self.in_order.front(), self.late.first()) {
            (Some(a), Some(b)) => a < b,
            (a, _) => a.is_some(),
        };
        let oldest = if from_queue {
            self.in_order.pop_front()
        } else {
            self.late.pop_first()
        };
        let (_, _, handle) = oldest?;
        Some((handle, table.remove(handle)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::EndReason;
    use crate::session::Ending;
    use crate::table::IdHasher;

    /// Files `handle`, then forgets past `max` records and those ended by `cutoff`.
    fn file(order: &mut EndedOrder, table: &mut SessionTable, handle: Handle, at: u64, max: usize) {
        order.remember(handle, at);
        forget(order, table, max, 0);
    }

    fn forget(order: &mut EndedOrder, table: &mut SessionTable, max: usize, cutoff: u64) {
        while order.len() > max || order.oldest_at().is_some_and(|at| at <= cutoff) {
            if order.forget_oldest(table).is_none() {
                break;
            }
        }
    }

    fn ended(table: &mut SessionTable, id: &str, at: u64) -> Handle {
        table.insert(Session {
            end: Some(Ending {
                reason: EndReason::Closed,
                at,
                renewed_to: None,
            }),
            ..Session::sample(id, 0)
        })
    }

    #[test]
    fn records_that_arrive_late_are_still_forgotten_oldest_first() {
        let mut table = SessionTable::new(IdHasher::new(0));
        let mut order = EndedOrder::default();
        for (id, at) in [("a", 10), ("b", 30), ("c", 20), ("d", 30), ("e", 5)] {
            let handle = ended(&mut table, id, at);
            file(&mut order, &mut table, handle, at, 4);
        }
        let ids = |table: &SessionTable| {
            let mut ids: Vec<String> = table.iter().map(|(_, s)| s.id.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&table), ["a", "b", "c", "d"], "e was the oldest");
        forget(&mut order, &mut table, 4, 20);
        assert_eq!(ids(&table), ["b", "d"]);
        forget(&mut order, &mut table, 4, 29);
        assert_eq!(ids(&table), ["b", "d"]);
        let f = ended(&mut table, "f", 30);
        file(&mut order, &mut table, f, 30, 2);
        assert_eq!(
            ids(&table),
            ["d", "f"],
            "equal times go in the order recorded"
        );
    }
}
