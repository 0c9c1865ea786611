//! Ended sessions, remembered for a bounded time and count.
//!
//! A client presenting an ended ID must get 404 with the right reason (so it knows to
//! re-initialize), the ID must never be handed out again, and an ended session can be
//! renewed into a new one carrying its state. All three need the ended session kept
//! for a while, but not forever: records go after `ended_retention_ms`, and the
//! oldest go first past `max_ended_remembered`.

use std::collections::BTreeSet;

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

/// The ended sessions in the order they are forgotten: by the time they ended, then
/// in the order they were recorded. The sessions themselves stay in the table (see
/// `table`). Keys are numbers only, and a sweep records in deadline order, so
/// recording lands at the right edge of the tree without comparing IDs.
#[derive(Debug, Default)]
pub(crate) struct EndedOrder {
    by_time: BTreeSet<(u64, u64, Handle)>,
    recorded: u64,
}

impl EndedOrder {
    /// Files an ended session, then forgets the oldest while more than `max` are
    /// remembered.
    /// `at` is when it ended. Sessions ended together may be marked ended before
    /// any is filed here, so the count is of filed sessions.
    pub fn remember(&mut self, table: &mut SessionTable, handle: Handle, at: u64, max: usize) {
        self.recorded += 1;
        self.by_time.insert((at, self.recorded, handle));
        while self.by_time.len() > max {
            if !self.forget_oldest(table) {
                break;
            }
        }
    }

    /// Forgets every session that ended at or before `cutoff`.
    pub fn forget_ended_by(&mut self, table: &mut SessionTable, cutoff: u64) {
        while self.by_time.first().is_some_and(|(at, _, _)| *at <= cutoff) {
            self.forget_oldest(table);
        }
    }

    fn forget_oldest(&mut self, table: &mut SessionTable) -> bool {
        match self.by_time.pop_first() {
            Some((_, _, handle)) => {
                table.remove(handle);
                true
            }
            None => false,
        }
    }
}
