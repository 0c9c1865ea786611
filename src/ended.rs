//! Ended sessions, remembered for a bounded time and count.
//!
//! A client presenting an ended ID must get 404 with the right reason (so it knows to
//! re-initialize), the ID must never be handed out again, and an ended session can be
//! renewed into a new one carrying its state. All three need the ended session kept
//! for a while, but not forever: records go after `ended_retention_ms`, and the
//! oldest go first past `max_ended_remembered`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ExpiryReason, SessionError};
use crate::expiry::{id_hasher, IdHasher};
use crate::session::{Phase, SessionData, SessionView};

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

/// What is kept of an ended session.
#[derive(Debug, Clone)]
pub(crate) struct EndedSession {
    pub data: SessionData,
    pub phase: Phase,
    pub created_at: u64,
    pub last_activity: u64,
    pub idle_timeout_ms: Option<u64>,
    pub reason: EndReason,
    pub ended_at: u64,
    /// Set once renewed: an ended session renews into one successor only.
    pub renewed_to: Option<Arc<str>>,
}

impl EndedSession {
    pub fn view(&self, id: &str) -> EndedView {
        EndedView {
            id: id.to_owned(),
            principal: self.data.principal.as_deref().map(str::to_owned),
            protocol_version: self.data.protocol_version.to_string(),
            client_info: self.data.client_info.clone(),
            capabilities: self.data.capabilities.clone(),
            state: self.data.state.clone(),
            version: self.data.version,
            created_at: self.created_at,
            last_activity: self.last_activity,
            reason: self.reason,
            ended_at: self.ended_at,
            renewed_to: self.renewed_to.as_deref().map(str::to_owned),
        }
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

#[derive(Debug)]
pub(crate) struct EndedSessions {
    by_id: HashMap<Arc<str>, EndedSession, IdHasher>,
    by_time: BTreeSet<(u64, Arc<str>)>,
}

impl Default for EndedSessions {
    fn default() -> Self {
        EndedSessions {
            by_id: HashMap::with_hasher(id_hasher()),
            by_time: BTreeSet::new(),
        }
    }
}

impl EndedSessions {
    /// Remembers `ended`, then forgets the oldest records past `max`.
    pub fn remember(&mut self, id: Arc<str>, ended: EndedSession, max: usize) {
        if let Some(old) = self.by_id.remove(&id) {
            self.by_time.remove(&(old.ended_at, id.clone()));
        }
        self.by_time.insert((ended.ended_at, id.clone()));
        self.by_id.insert(id, ended);
        while self.by_id.len() > max {
            if !self.forget_oldest() {
                break;
            }
        }
    }

    /// Forgets every record that ended at or before `cutoff`.
    pub fn forget_ended_by(&mut self, cutoff: u64) {
        while self.by_time.first().is_some_and(|(at, _)| *at <= cutoff) {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) -> bool {
        match self.by_time.pop_first() {
            Some((_, id)) => {
                self.by_id.remove(&id);
                true
            }
            None => false,
        }
    }

    pub fn get(&self, id: &str) -> Option<&EndedSession> {
        self.by_id.get(id)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut EndedSession> {
        self.by_id.get_mut(id)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &EndedSession)> {
        self.by_id.iter()
    }
}
