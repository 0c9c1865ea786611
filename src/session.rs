//! One session: what it holds, which phase it is in, and when it ends.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::error::EndReason;
use crate::intern::Shared;
use crate::session_id::SessionId;

/// The phase of a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// Created by `initialize`; waiting for `notifications/initialized`.
    Initializing,
    /// Serving requests.
    Active,
    /// The transport is gone; the session can be resumed until it times out.
    Disconnected,
}

impl Phase {
    /// Every phase, in declaration order (checked against the enum in
    /// `typescript`'s tests).
    pub const ALL: [Phase; 3] = [Phase::Initializing, Phase::Active, Phase::Disconnected];
}

/// What a stored record is. Both kinds live in the same table, deadline index,
/// ended-ID memory and snapshots; they differ in what may be done with them and in
/// their limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum RecordKind {
    /// A 2025-era MCP session (handshake, transport, `Mcp-Session-Id`).
    #[default]
    Session,
    /// A 2026-era state handle: created by a tool, passed as a tool argument. It
    /// has no handshake and no transport; it is always `active` while live, and
    /// ends by `handle_idle_timeout_ms`, `handle_lifetime_ms` or `destroy`.
    Handle,
}

/// What a session carries that outlives its transport, and its successor after a
/// renewal: everything a restarted server needs to serve it again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SessionData {
    pub principal: Option<Arc<str>>,
    pub protocol_version: Arc<str>,
    /// Shared with every session that has the same value (see `intern`).
    pub client_info: Option<Arc<Shared>>,
    pub capabilities: Option<Arc<Shared>>,
    pub state: Value,
    pub state_bytes: usize,
    pub version: u64,
}

/// How and when a session ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Ending {
    pub reason: EndReason,
    pub at: u64,
    /// Set once renewed: an ended session renews into one successor only. Boxed:
    /// few sessions are renewed, and every session holds an `Option<Ending>`.
    pub renewed_to: Option<Box<SessionId>>,
}

/// A session inside the store: live, or ended and remembered (`end` is set).
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: SessionId,
    /// A session or a state handle (see [`RecordKind`]).
    pub kind: RecordKind,
    pub data: SessionData,
    pub phase: Phase,
    pub created_at: u64,
    pub last_activity: u64,
    /// A per-session idle timeout; `None` uses the store's.
    pub idle_timeout_ms: Option<u64>,
    pub in_flight: u32,
    /// The order the store took this session in (created, renewed or restored):
    /// sessions with equal deadlines end in this order. Set by the store.
    pub order: u64,
    /// Set when the session ended. Held inline: ending a session (thousands in one
    /// sweep) allocates nothing.
    pub end: Option<Ending>,
}

impl Session {
    /// A new live session: created (or renewed) at `now`, idle, with nothing in
    /// flight. The store sets `order` when it takes it.
    pub fn new(
        id: SessionId,
        data: SessionData,
        phase: Phase,
        now: u64,
        idle_timeout_ms: Option<u64>,
    ) -> Session {
        Session {
            id,
            kind: RecordKind::Session,
            data,
            phase,
            created_at: now,
            last_activity: now,
            idle_timeout_ms,
            in_flight: 0,
            order: 0,
            end: None,
        }
    }

    /// Brings times later than `now` back to it (a restored session from a clock
    /// that was ahead): the order created <= last active, ended, is kept.
    pub fn clamp_times(&mut self, now: u64) {
        self.created_at = self.created_at.min(now);
        self.last_activity = self.last_activity.min(now);
        if let Some(end) = self.end.as_mut() {
            end.at = end.at.min(now);
        }
    }

    /// When this session ends and why, or `None` while a request is in flight and no
    /// absolute lifetime applies. An absolute lifetime wins a tie.
    pub fn deadline(&self, config: &Config) -> Option<(u64, EndReason)> {
        self.deadline_given(config, self.last_activity, self.in_flight)
    }

    /// The deadline this session would have with this activity: what a snapshot
    /// writes for a busy session, which restores idle.
    pub fn deadline_given(
        &self,
        config: &Config,
        last_activity: u64,
        in_flight: u32,
    ) -> Option<(u64, EndReason)> {
        if self.kind == RecordKind::Handle {
            let idle = last_activity.saturating_add(config.handle_idle_timeout_ms);
            let life = self.created_at.saturating_add(config.handle_lifetime_ms);
            return Some(if life <= idle {
                (life, EndReason::Lifetime)
            } else {
                (idle, EndReason::Idle)
            });
        }
        let phase_deadline = match self.phase {
            Phase::Initializing => Some((
                self.created_at.saturating_add(config.init_timeout_ms),
                EndReason::Init,
            )),
            Phase::Active | Phase::Disconnected if in_flight == 0 => Some((
                last_activity
                    .saturating_add(self.idle_timeout_ms.unwrap_or(config.idle_timeout_ms)),
                EndReason::Idle,
            )),
            Phase::Active | Phase::Disconnected => None,
        };
        let lifetime = config
            .absolute_lifetime_ms
            .map(|l| (self.created_at.saturating_add(l), EndReason::Lifetime));
        match (phase_deadline, lifetime) {
            (Some(p), Some(l)) => Some(if l.0 <= p.0 { l } else { p }),
            (p, l) => p.or(l),
        }
    }

    pub fn deadline_ms(&self, config: &Config) -> Option<u64> {
        self.deadline(config).map(|(at, _)| at)
    }

    /// True if the session must be treated as ended at `now`.
    pub fn is_due(&self, config: &Config, now: u64) -> bool {
        self.deadline_ms(config).is_some_and(|d| d <= now)
    }

    /// A copy of this ended session (as `find` reports it).
    pub fn ended_view(&self, end: &Ending) -> EndedView {
        copy_of!(EndedView, self, self.last_activity, {
            reason: end.reason,
            ended_at: end.at,
            renewed_to: end.renewed_to.as_ref().map(|id| id.to_string()),
        })
    }

    pub fn view(&self, config: &Config) -> SessionView {
        copy_of!(SessionView, self, self.last_activity, {
            phase: self.phase,
            expires_at: self.deadline_ms(config),
            idle_timeout_ms: self.idle_timeout_ms.unwrap_or(config.idle_timeout_ms),
            in_flight: self.in_flight,
            lifetime_ends_at: config
                .absolute_lifetime_ms
                .map(|l| self.created_at.saturating_add(l)),
        })
    }
}

/// Declares a copy of a session, as a host sees it (a view) or a snapshot keeps it
/// (a record): the fields every copy carries are written once, here, then the
/// struct's own. Serde attributes stay with each struct; every copy derives the
/// TypeScript declaration in tests, for the common fields' JSON types.
macro_rules! session_copy {
    ($(#[$attr:meta])* $vis:vis struct $name:ident {
        $($(#[$field_attr:meta])* pub $field:ident: $ty:ty,)*
    }) => {
        $(#[$attr])*
        $vis struct $name {
            pub id: String,
            pub principal: Option<String>,
            pub protocol_version: String,
            #[cfg_attr(test, ts(type = "JsonObject | null"))]
            pub client_info: Option<Value>,
            #[cfg_attr(test, ts(type = "Capabilities | null"))]
            pub capabilities: Option<Value>,
            #[cfg_attr(test, ts(type = "JsonObject"))]
            pub state: Value,
            pub version: u64,
            pub created_at: u64,
            pub last_activity: u64,
            $($(#[$field_attr])* pub $field: $ty,)*
        }
    };
}
pub(crate) use session_copy;

/// Builds a `session_copy!` struct from a `Session`: the common fields copied
/// (with `last_activity` as given), then the struct's own.
macro_rules! copy_of {
    ($name:ident, $session:expr, $last_activity:expr, { $($field:ident: $value:expr),* $(,)? }) => {{
        let session: &$crate::session::Session = $session;
        $name {
            id: session.id.to_string(),
            principal: session.data.principal.as_deref().map(str::to_owned),
            protocol_version: session.data.protocol_version.to_string(),
            client_info: session.data.client_info.as_ref().map(|m| m.value.clone()),
            capabilities: session.data.capabilities.as_ref().map(|m| m.value.clone()),
            state: session.data.state.clone(),
            version: session.data.version,
            created_at: session.created_at,
            last_activity: $last_activity,
            $($field: $value,)*
        }
    }};
}
pub(crate) use copy_of;

session_copy! {
    /// A copy of a remembered ended session.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[cfg_attr(test, derive(ts_rs::TS))]
    #[serde(rename_all = "camelCase")]
    pub struct EndedView {
        pub reason: EndReason,
        pub ended_at: u64,
        /// The session it was renewed into, if any.
        pub renewed_to: Option<String>,
    }
}

session_copy! {
    /// A copy of a live session, as operations return it.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[cfg_attr(test, derive(ts_rs::TS))]
    #[serde(rename_all = "camelCase")]
    pub struct SessionView {
        pub phase: Phase,
        /// When the session ends unless something happens; `None` while a request is
        /// in flight and no absolute lifetime applies.
        pub expires_at: Option<u64>,
        pub idle_timeout_ms: u64,
        pub in_flight: u32,
        /// When the absolute lifetime (`absoluteLifetimeMs`) ends, however busy the
        /// session is; `None` without one. Operators see it beside `expires_at`,
        /// which is only the nearer of the two.
        pub lifetime_ends_at: Option<u64>,
    }
}

pub(crate) fn empty_state() -> Value {
    Value::Object(Map::new())
}

#[cfg(test)]
impl Session {
    /// An active session with empty data, created at 0, for unit tests.
    pub fn sample(id: &str, last_activity: u64) -> Session {
        Session {
            id: SessionId::new(id),
            kind: RecordKind::Session,
            data: SessionData {
                principal: None,
                protocol_version: Arc::from("2025-06-18"),
                client_info: None,
                capabilities: None,
                state: empty_state(),
                state_bytes: 2,
                version: 0,
            },
            phase: Phase::Active,
            created_at: 0,
            last_activity,
            idle_timeout_ms: None,
            in_flight: 0,
            order: 0,
            end: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(phase: Phase, in_flight: u32) -> Session {
        Session {
            phase,
            in_flight,
            created_at: 1_000,
            ..Session::sample("s", 5_000)
        }
    }

    #[test]
    fn deadlines_follow_the_phase() {
        let config = Config {
            init_timeout_ms: 100,
            idle_timeout_ms: 1_000,
            ..Config::default()
        };
        assert_eq!(
            session(Phase::Initializing, 0).deadline(&config),
            Some((1_100, EndReason::Init))
        );
        assert_eq!(
            session(Phase::Active, 0).deadline(&config),
            Some((6_000, EndReason::Idle))
        );
        assert_eq!(
            session(Phase::Disconnected, 0).deadline(&config),
            Some((6_000, EndReason::Idle))
        );
        assert_eq!(session(Phase::Active, 1).deadline(&config), None);
        let mut own = session(Phase::Active, 0);
        own.idle_timeout_ms = Some(10);
        assert_eq!(own.deadline(&config), Some((5_010, EndReason::Idle)));
    }

    #[test]
    fn the_absolute_lifetime_caps_every_phase_and_wins_ties() {
        let config = Config {
            idle_timeout_ms: 1_000,
            absolute_lifetime_ms: Some(5_000),
            ..Config::default()
        };
        assert_eq!(
            session(Phase::Active, 1).deadline(&config),
            Some((6_000, EndReason::Lifetime))
        );
        assert_eq!(
            session(Phase::Active, 0).deadline(&config),
            Some((6_000, EndReason::Lifetime))
        );
        assert!(session(Phase::Active, 0).is_due(&config, 6_000));
        assert!(!session(Phase::Active, 0).is_due(&config, 5_999));
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let config = Config::default();
        let mut s = session(Phase::Active, 0);
        s.last_activity = u64::MAX - 1;
        assert_eq!(s.deadline_ms(&config), Some(u64::MAX));
    }
}
