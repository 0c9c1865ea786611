//! Ended sessions, remembered for a bounded time and count.
//!
//! A client presenting an ended ID must get 404 with the right reason (so it knows to
//! re-initialize), the ID must never be handed out again, and an ended session can be
//! renewed into a new one carrying its state. All three need the ended session kept
//! for a while, but not forever: records go after `ended_retention_ms`, and the
//! oldest go first past `max_ended_remembered`.

use std::collections::{BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ExpiryReason, SessionError};
use crate::session::SessionView;
use crate::table::{Handle, SessionTable};

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndReason {
    Closed,
    Init,
    Idle,
    Lifetime,
    Requested,
    Evicted,
}

impl From<ExpiryReason> for EndReason {
    fn from(reason: ExpiryReason) -> Self {
        match reason {
            ExpiryReason::Init => EndReason::Init,
            ExpiryReason::Idle => EndReason::Idle,
            ExpiryReason::Lifetime => EndReason::Lifetime,
            ExpiryReason::Requested => EndReason::Requested,
            ExpiryReason::Evicted => EndReason::Evicted,
        }
    }
}

impl EndReason {
    /// The error a request for this ended session gets.
    pub fn error(self, session_id: &str) -> SessionError {
        let session_id = session_id.to_owned();
        let reason = match self {
            EndReason::Closed => return SessionError::SessionClosed { session_id },
            EndReason::Init => ExpiryReason::Init,
            EndReason::Idle => ExpiryReason::Idle,
            EndReason::Lifetime => ExpiryReason::Lifetime,
            EndReason::Requested => ExpiryReason::Requested,
            EndReason::Evicted => ExpiryReason::Evicted,
        };
        SessionError::SessionExpired { session_id, reason }
    }
}

/// A copy of a remembered ended session.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EndedView {
    pub id: String,
    pub principal: Option<String>,
    pub protocol_version: String,
    pub client_info: Option<Value>,
    pub capabilities: Option<Value>,
    pub state: Value,
    pub version: u64,
    pub created_at: u64,
    pub last_activity: u64,
    pub reason: EndReason,
    pub ended_at: u64,
    /// The session it was renewed into, if any.
    pub renewed_to: Option<String>,
}

/// What an ID refers to: see [`crate::SessionStore::find`].
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// Files an ended session, then forgets the oldest while more than `max` are
    /// remembered. `at` is when it ended. Sessions ended together may be marked
    /// ended before any is filed here, so the count is of filed sessions.
    pub fn remember(&mut self, table: &mut SessionTable, handle: Handle, at: u64, max: usize) {
        self.recorded += 1;
        let record = (at, self.recorded, handle);
        if self.in_order.back().is_none_or(|last| last.0 <= at) {
            self.in_order.push_back(record);
        } else {
            self.late.insert(record);
        }
        while self.in_order.len() + self.late.len() > max {
            if !self.forget_oldest(table) {
                break;
            }
        }
    }

    /// Forgets every session that ended at or before `cutoff`.
    pub fn forget_ended_by(&mut self, table: &mut SessionTable, cutoff: u64) {
        while self.oldest().is_some_and(|(at, _, _)| at <= cutoff) {
            self.forget_oldest(table);
        }
    }

    fn oldest(&self) -> Option<Record> {
        match (self.in_order.front(), self.late.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    fn forget_oldest(&mut self, table: &mut SessionTable) -> bool {
        let from_queue = match (self.in_order.front(), self.late.first()) {
            (Some(a), Some(b)) => a < b,
            (a, _) => a.is_some(),
        };
        let oldest = if from_queue {
            self.in_order.pop_front()
        } else {
            self.late.pop_first()
        };
        match oldest {
            Some((_, _, handle)) => {
                table.remove(handle);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Ending, Session};

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
        let mut table = SessionTable::default();
        let mut order = EndedOrder::default();
        for (id, at) in [("a", 10), ("b", 30), ("c", 20), ("d", 30), ("e", 5)] {
            let handle = ended(&mut table, id, at);
            order.remember(&mut table, handle, at, 4);
        }
        let ids = |table: &SessionTable| {
            let mut ids: Vec<String> = table.iter().map(|(_, s)| s.id.to_string()).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&table), ["a", "b", "c", "d"], "e was the oldest");
        order.forget_ended_by(&mut table, 20);
        assert_eq!(ids(&table), ["b", "d"]);
        order.forget_ended_by(&mut table, 29);
        assert_eq!(ids(&table), ["b", "d"]);
        let f = ended(&mut table, "f", 30);
        order.remember(&mut table, f, 30, 2);
        assert_eq!(
            ids(&table),
            ["d", "f"],
            "equal times go in the order recorded"
        );
    }
}
