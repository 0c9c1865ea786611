//! Lifecycle events, appended in order for the host to drain.
//!
//! The core has no callbacks: it records what happened and the host (the TypeScript
//! layer, a server loop) drains the queue after each call and reacts, for example by
//! closing the transport of a session that expired. The queue is bounded so that a
//! host that never drains cannot make the store grow without limit.

use std::collections::VecDeque;

use serde::Serialize;

use crate::error::EndReason;
use crate::session::Phase;

/// One lifecycle change. `at` is the store's time of the change; for an expiry, the
/// deadline that passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "CoreEvent"))]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    Created {
        session_id: String,
        phase: Phase,
        at: u64,
    },
    Initialized {
        session_id: String,
        at: u64,
    },
    StateChanged {
        session_id: String,
        version: u64,
        at: u64,
    },
    Disconnected {
        session_id: String,
        at: u64,
    },
    Resumed {
        session_id: String,
        at: u64,
    },
    Closed {
        session_id: String,
        at: u64,
    },
    Expired {
        session_id: String,
        /// Never `closed` (that is the `closed` event).
        #[cfg_attr(test, ts(type = "ExpiryReason"))]
        reason: EndReason,
        at: u64,
    },
    Evicted {
        session_id: String,
        at: u64,
    },
    Restored {
        session_id: String,
        at: u64,
    },
    /// A call ended `ended` sessions for their deadlines and stopped at
    /// `sweepBatchSize` with more still due: the rest end in later calls (the
    /// manager's timer runs them in the next turns of the event loop).
    SweepPaused {
        ended: usize,
        at: u64,
    },
    /// A new session (`session_id`) now carries the state of an ended one.
    Renewed {
        session_id: String,
        previous_session_id: String,
        at: u64,
    },
    /// A state handle was created.
    HandleCreated {
        handle_id: String,
        principal: Option<String>,
        at: u64,
    },
    /// A state handle was destroyed.
    HandleDestroyed {
        handle_id: String,
        at: u64,
    },
    /// A state handle ended by its idle timeout or lifetime (`at` is the deadline).
    HandleExpired {
        handle_id: String,
        #[cfg_attr(test, ts(type = "ExpiryReason"))]
        reason: EndReason,
        at: u64,
    },
}

/// The kind of an [`Event`], for choosing which events a store records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    Created,
    Initialized,
    StateChanged,
    Disconnected,
    Resumed,
    Closed,
    Expired,
    Evicted,
    Restored,
    Renewed,
    SweepPaused,
    HandleCreated,
    HandleDestroyed,
    HandleExpired,
}

impl EventKind {
    /// Every kind, in declaration order (checked against the enum in
    /// `typescript`'s tests).
    pub const ALL: [EventKind; 14] = [
        EventKind::Created,
        EventKind::Initialized,
        EventKind::StateChanged,
        EventKind::Disconnected,
        EventKind::Resumed,
        EventKind::Closed,
        EventKind::Expired,
        EventKind::Evicted,
        EventKind::Restored,
        EventKind::Renewed,
        EventKind::SweepPaused,
        EventKind::HandleCreated,
        EventKind::HandleDestroyed,
        EventKind::HandleExpired,
    ];

    pub(crate) fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// True for the kinds that say a session ended (closed, expired or evicted): a
    /// host drops what it holds for the session (its transport, its server) on
    /// any of them, and on no other.
    pub fn ends_session(self) -> bool {
        match self {
            EventKind::Closed | EventKind::Expired | EventKind::Evicted => true,
            EventKind::Created
            | EventKind::Initialized
            | EventKind::StateChanged
            | EventKind::Disconnected
            | EventKind::Resumed
            | EventKind::Restored
            | EventKind::Renewed
            | EventKind::SweepPaused
            | EventKind::HandleCreated
            | EventKind::HandleDestroyed
            | EventKind::HandleExpired => false,
        }
    }
}

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Created { .. } => EventKind::Created,
            Event::Initialized { .. } => EventKind::Initialized,
            Event::StateChanged { .. } => EventKind::StateChanged,
            Event::Disconnected { .. } => EventKind::Disconnected,
            Event::Resumed { .. } => EventKind::Resumed,
            Event::Closed { .. } => EventKind::Closed,
            Event::Expired { .. } => EventKind::Expired,
            Event::Evicted { .. } => EventKind::Evicted,
            Event::Restored { .. } => EventKind::Restored,
            Event::Renewed { .. } => EventKind::Renewed,
            Event::SweepPaused { .. } => EventKind::SweepPaused,
            Event::HandleCreated { .. } => EventKind::HandleCreated,
            Event::HandleDestroyed { .. } => EventKind::HandleDestroyed,
            Event::HandleExpired { .. } => EventKind::HandleExpired,
        }
    }
}

/// The pending events, oldest first, at most `capacity` of them.
#[derive(Debug, Default)]
pub(crate) struct EventQueue {
    items: VecDeque<Event>,
    dropped: u64,
    /// Events ever pushed: a mark that `retract_since` takes back to.
    pushed: u64,
}

impl EventQueue {
    pub fn push(&mut self, event: Event, capacity: usize) {
        while self.items.len() >= capacity {
            if self.items.pop_front().is_none() {
                break;
            }
            self.dropped = self.dropped.saturating_add(1);
        }
        self.items.push_back(event);
        self.pushed += 1;
    }

    /// A mark for `retract_since`: the events pushed so far.
    pub fn mark(&self) -> u64 {
        self.pushed
    }

    /// Takes back the events pushed after `mark` (those still queued): the changes
    /// they announced were undone, so nobody may hear of them.
    pub fn retract_since(&mut self, mark: u64) {
        let newer = self.pushed.saturating_sub(mark);
        let keep = self
            .items
            .len()
            .saturating_sub(usize::try_from(newer).unwrap_or(usize::MAX));
        self.items.truncate(keep);
        self.pushed = mark;
    }

    pub fn drain(&mut self) -> Vec<Event> {
        self.items.drain(..).collect()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Events dropped because the queue was full, since the store was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(n: u64) -> Event {
        Event::Closed {
            session_id: n.to_string(),
            at: n,
        }
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts_them() {
        let mut q = EventQueue::default();
        for n in 0..5 {
            q.push(closed(n), 3);
        }
        assert_eq!(q.dropped(), 2);
        assert_eq!(q.drain(), vec![closed(2), closed(3), closed(4)]);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn the_ends_of_a_session_are_closed_expired_and_evicted() {
        let ending: Vec<EventKind> = EventKind::ALL
            .into_iter()
            .filter(|k| k.ends_session())
            .collect();
        assert_eq!(
            ending,
            vec![EventKind::Closed, EventKind::Expired, EventKind::Evicted]
        );
    }

    #[test]
    fn events_serialize_with_a_type_tag_and_camel_case_fields() {
        let e = Event::Renewed {
            session_id: "new".into(),
            previous_session_id: "old".into(),
            at: 5,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"renewed","sessionId":"new","previousSessionId":"old","at":5}"#
        );
        let e = Event::Expired {
            session_id: "s".into(),
            reason: EndReason::Idle,
            at: 9,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"type":"expired","sessionId":"s","reason":"idle","at":9}"#
        );
    }
}
