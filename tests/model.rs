//! Model-based test: random operation sequences and clock jumps (forward and back)
//! run against the store and against a small reference model written with plain
//! linear scans. Every result, error and event must agree, and invariants are checked
//! after every step. Each case ends with a snapshot round trip and a determinism check.
//!
//! The model takes nothing from the crate's own checks: it has its own rule for a
//! valid session ID (the spec's visible ASCII, within `MAX_SESSION_ID_BYTES`). Beyond
//! the lifecycle it covers lookups (`find`, `find_ref` and `record`, also through
//! references kept from earlier steps), restarts (snapshot, then restore into a
//! fresh store, which the run goes on with), journal replay (`export` of chosen IDs
//! laid newest-wins over an earlier snapshot, restored into a fresh store and
//! compared with the model restored the same way) and event filters (only the kinds
//! asked for are drained, in the model's order).
//!
//! `PROPTEST_CASES` overrides the number of cases (default 2,000, up to 200 steps).

#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};

use mcp_session_core::{
    Admission, CapacityPolicy, Config, CreateParams, EndReason, EndedView, Event, EventKind,
    HandleView, IdSource, InsecureSeededIds, InvalidIdReason, Lookup, Phase, Record, Refusal,
    RequestHead, RequestKind, RestoreReport, SessionError, SessionRef, SessionStore, SessionView,
    SingleUse, Staging, Stats, Status, HANDLE_PREFIX, MAX_SESSION_ID_BYTES,
};
use proptest::prelude::*;
use serde_json::{json, Map, Value};

const SEED: u64 = 7;
const START: u64 = 1_000_000;

// ---------------------------------------------------------------- the model

#[derive(Debug, Clone)]
struct Data {
    principal: Option<String>,
    protocol_version: String,
    client_info: Option<Value>,
    capabilities: Option<Value>,
    state: Value,
    version: u64,
}

#[derive(Debug, Clone)]
struct MSession {
    id: String,
    data: Data,
    phase: Phase,
    created: u64,
    last: u64,
    idle: Option<u64>,
    in_flight: u32,
    /// The store's sequence number when this session was taken in.
    order: u64,
    /// Where its phase deadline was last set ((idle timeout or None for init,
    /// deadline)), and the sequence number it took then: ties end in that order.
    place: Option<(Option<u64>, u64)>,
    pseq: u64,
    /// A state handle, not a session.
    handle: bool,
}

#[derive(Debug, Clone)]
struct MEnded {
    id: String,
    data: Data,
    phase: Phase,
    idle: Option<u64>,
    created: u64,
    last: u64,
    reason: EndReason,
    ended_at: u64,
    renewed_to: Option<String>,
    handle: bool,
}

#[derive(Clone)]
struct Model {
    config: Config,
    ids: InsecureSeededIds,
    sessions: Vec<MSession>,
    ended: Vec<MEnded>,
    events: Vec<Event>,
    dropped: u64,
    clock: u64,
    /// The store's sequence: taken by each new session and each deadline set.
    seq: u64,
    /// A bounded sweep left sessions due.
    backlog: bool,
    /// The event kinds recorded (`None`: all).
    filter: Option<Vec<EventKind>>,
    /// Redeemed `requestState` tokens: (ID, expires at).
    redeemed: Vec<([u8; 16], u64)>,
}

type R<T> = Result<T, SessionError>;

fn arg(name: &str) -> SessionError {
    SessionError::InvalidArgument {
        argument: name.into(),
        reason: String::new(),
    }
}

fn invalid_state() -> SessionError {
    SessionError::InvalidState {
        reason: String::new(),
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The model's own rule for a session ID, not the crate's `check_session_id`: the
/// MCP spec allows only visible ASCII (0x21-0x7E) in `Mcp-Session-Id`, and the crate
/// documents `MAX_SESSION_ID_BYTES` as the longest it accepts. The bound is checked
/// before the bytes, so a value that breaks both is too long.
fn check_id(id: &str) -> R<()> {
    let reason = if id.is_empty() {
        InvalidIdReason::Empty
    } else if id.len() > MAX_SESSION_ID_BYTES {
        InvalidIdReason::TooLong
    } else if !id.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        InvalidIdReason::InvalidCharacter
    } else {
        return Ok(());
    };
    Err(SessionError::InvalidSessionId { reason })
}

fn check_principal(p: Option<&str>) -> R<()> {
    match p {
        Some(p) if p.is_empty() || p.len() > 1024 => Err(arg("principal")),
        _ => Ok(()),
    }
}

impl Model {
    fn new(config: Config) -> Self {
        Self::seeded(config, SEED)
    }

    fn seeded(config: Config, seed: u64) -> Self {
        Model {
            config,
            ids: InsecureSeededIds::new(seed),
            sessions: vec![],
            ended: vec![],
            events: vec![],
            dropped: 0,
            clock: 0,
            seq: 0,
            backlog: false,
            filter: None,
            redeemed: Vec::new(),
        }
    }

    /// Where a session's phase deadline is: the init or an idle timeout, and when.
    fn place(&self, s: &MSession) -> Option<(Option<u64>, u64)> {
        if s.handle {
            let t = self.config.handle_idle_timeout_ms;
            return Some((Some(t), s.last + t));
        }
        match s.phase {
            Phase::Initializing => Some((None, s.created + self.config.init_timeout_ms)),
            _ if s.in_flight == 0 => {
                let t = s.idle.unwrap_or(self.config.idle_timeout_ms);
                Some((Some(t), s.last + t))
            }
            _ => None,
        }
    }

    /// Takes a new session in: its order, and its deadlines set at that number.
    fn take(&mut self, mut s: MSession) {
        s.order = self.seq;
        s.pseq = self.seq;
        s.place = self.place(&s);
        self.seq += 1;
        self.sessions.push(s);
    }

    /// After an operation: a session whose phase deadline moved takes a new number.
    fn refile(&mut self) {
        for i in 0..self.sessions.len() {
            let place = self.place(&self.sessions[i]);
            if place != self.sessions[i].place {
                self.sessions[i].place = place;
                if place.is_some() {
                    self.sessions[i].pseq = self.seq;
                    self.seq += 1;
                }
            }
        }
    }

    /// The order sessions end in: by deadline, ties by the number their deadline
    /// took (a lifetime's is the session's order).
    fn key(&self, s: &MSession) -> (u64, u64) {
        let phase = s.place.map(|(_, at)| (at, s.pseq));
        let life = self.lifetime(s.handle).map(|l| (s.created + l, s.order));
        phase
            .into_iter()
            .chain(life)
            .min()
            .unwrap_or((u64::MAX, u64::MAX))
    }

    /// A record's absolute lifetime: a handle's is always set.
    fn lifetime(&self, handle: bool) -> Option<u64> {
        if handle {
            Some(self.config.handle_lifetime_ms)
        } else {
            self.config.absolute_lifetime_ms
        }
    }

    fn deadline(&self, s: &MSession) -> Option<(u64, EndReason)> {
        if s.handle {
            let idle = s.last + self.config.handle_idle_timeout_ms;
            let life = s.created + self.config.handle_lifetime_ms;
            return Some(if life <= idle {
                (life, EndReason::Lifetime)
            } else {
                (idle, EndReason::Idle)
            });
        }
        let phase = match s.phase {
            Phase::Initializing => Some((s.created + self.config.init_timeout_ms, EndReason::Init)),
            _ if s.in_flight == 0 => Some((
                s.last + s.idle.unwrap_or(self.config.idle_timeout_ms),
                EndReason::Idle,
            )),
            _ => None,
        };
        let life = self
            .config
            .absolute_lifetime_ms
            .map(|l| (s.created + l, EndReason::Lifetime));
        match (phase, life) {
            (Some(p), Some(l)) => Some(if l.0 <= p.0 { l } else { p }),
            (p, l) => p.or(l),
        }
    }

    fn view(&self, s: &MSession) -> SessionView {
        SessionView {
            id: s.id.clone(),
            principal: s.data.principal.clone(),
            protocol_version: s.data.protocol_version.clone(),
            client_info: s.data.client_info.clone(),
            capabilities: s.data.capabilities.clone(),
            phase: s.phase,
            state: s.data.state.clone(),
            version: s.data.version,
            created_at: s.created,
            last_activity: s.last,
            expires_at: self.deadline(s).map(|d| d.0),
            idle_timeout_ms: s.idle.unwrap_or(self.config.idle_timeout_ms),
            in_flight: s.in_flight,
            lifetime_ends_at: self
                .config
                .absolute_lifetime_ms
                .map(|l| s.created.saturating_add(l)),
        }
    }

    fn emit(&mut self, e: Event) {
        if self
            .filter
            .as_ref()
            .is_some_and(|kinds| !kinds.contains(&e.kind()))
        {
            return;
        }
        if self.events.len() >= self.config.max_pending_events {
            self.events.remove(0);
            self.dropped += 1;
        }
        self.events.push(e);
    }

    fn remember(&mut self, e: MEnded) {
        self.ended.push(e);
        while self.ended.len() > self.config.max_ended_remembered {
            let oldest = (0..self.ended.len())
                .min_by_key(|&i| (self.ended[i].ended_at, i))
                .unwrap();
            self.ended.remove(oldest);
        }
    }

    fn end(&mut self, id: &str, reason: EndReason, at: u64) {
        let i = self.sessions.iter().position(|s| s.id == id).unwrap();
        let mut s = self.sessions.remove(i);
        // A session that never finished its handshake keeps nothing to renew.
        if s.phase == Phase::Initializing {
            s.data.client_info = None;
            s.data.capabilities = None;
            s.data.state = json!({});
        }
        self.remember(MEnded {
            id: s.id,
            data: s.data,
            phase: s.phase,
            idle: s.idle,
            created: s.created,
            last: s.last,
            reason,
            ended_at: at,
            renewed_to: None,
            handle: s.handle,
        });
    }

    /// Moves the clock and ends what is due, at most `sweep_batch_size` sessions.
    fn advance(&mut self, now: u64) {
        self.advance_limit(now, self.config.sweep_batch_size);
    }

    /// `advance`, then the session `id` ends if it is past its deadline (only
    /// possible while a bounded sweep left sessions due).
    fn enter(&mut self, now: u64, id: &str) {
        self.advance(now);
        if !self.backlog {
            return;
        }
        let due = self
            .sessions
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| self.deadline(s))
            .filter(|(at, _)| *at <= self.clock);
        let handle = self.sessions.iter().any(|s| s.id == id && s.handle);
        if let Some((at, reason)) = due {
            self.end(id, reason, at);
            let (clock, retention) = (self.clock, self.config.ended_retention_ms);
            self.ended.retain(|e| e.ended_at + retention > clock);
            self.emit(expired_event(id, reason, at, handle));
        }
    }

    fn advance_limit(&mut self, now: u64, limit: usize) -> Vec<(String, EndReason, u64)> {
        self.clock = self.clock.max(now);
        let out = self.expire_due(limit);
        let (clock, retention) = (self.clock, self.config.ended_retention_ms);
        self.ended.retain(|e| e.ended_at + retention > clock);
        self.redeemed.retain(|(_, at)| *at > clock);
        out
    }

    /// Ends at most `limit` due sessions in the order they end; if some are left
    /// due, a `sweepPaused` event says so.
    fn expire_due(&mut self, limit: usize) -> Vec<(String, EndReason, u64)> {
        let mut out = vec![];
        let mut ended = 0;
        while ended < limit {
            // Ties end in the order their deadlines were set.
            let due = self
                .sessions
                .iter()
                .filter_map(|s| {
                    self.deadline(s)
                        .map(|(at, r)| (at, self.key(s), s.id.clone(), r))
                })
                .filter(|(at, _, _, _)| *at <= self.clock)
                .min_by_key(|(_, key, _, _)| *key);
            let Some((at, _, id, reason)) = due else {
                break;
            };
            let handle = self.sessions.iter().any(|s| s.id == id && s.handle);
            self.end(&id, reason, at);
            self.emit(expired_event(&id, reason, at, handle));
            ended += 1;
            // Handles are announced, not reported with the sessions.
            if !handle {
                out.push((id, reason, at));
            }
        }
        let clock = self.clock;
        self.backlog = self
            .sessions
            .iter()
            .any(|s| self.deadline(s).is_some_and(|(at, _)| at <= clock));
        if self.backlog {
            self.emit(Event::SweepPaused { ended, at: clock });
        }
        out
    }

    fn not_live(&self, id: &str, now: u64) -> SessionError {
        match self.ended.iter().find(|e| e.id == id && !e.handle) {
            Some(e) if e.ended_at + self.config.ended_retention_ms > now => e.reason.error(id),
            _ => SessionError::SessionNotFound {
                session_id: id.into(),
            },
        }
    }

    fn live(&mut self, id: &str) -> R<usize> {
        match self.sessions.iter().position(|s| s.id == id && !s.handle) {
            Some(i) => Ok(i),
            None => Err(self.not_live(id, self.clock)),
        }
    }

    /// `live`, for a request on behalf of `principal`: another principal's session,
    /// live or remembered as ended, is a principal mismatch.
    fn owned(&mut self, id: &str, principal: Option<&str>) -> R<usize> {
        let now = self.clock;
        let owner = match self.sessions.iter().find(|s| s.id == id && !s.handle) {
            Some(s) => Some(s.data.principal.clone()),
            None => self
                .ended
                .iter()
                .find(|e| {
                    e.id == id && !e.handle && e.ended_at + self.config.ended_retention_ms > now
                })
                .map(|e| e.data.principal.clone()),
        };
        if owner.is_some_and(|p| p.as_deref() != principal) {
            return Err(SessionError::PrincipalMismatch {
                session_id: id.into(),
            });
        }
        self.live(id)
    }

    /// The earliest deadline of a live record or a ledger entry.
    fn next_deadline(&self) -> Option<u64> {
        self.sessions
            .iter()
            .filter_map(|s| self.deadline(s).map(|d| d.0))
            .chain(self.redeemed.iter().map(|(_, at)| *at))
            .min()
    }

    /// Until the next record of this kind (`handle`) ends.
    fn retry_after(&self, handle: bool) -> u64 {
        let next = self
            .sessions
            .iter()
            .filter(|s| s.handle == handle)
            .filter_map(|s| self.deadline(s).map(|d| d.0))
            .min();
        match next {
            Some(at) => at.saturating_sub(self.clock).max(1),
            None if handle => self.config.handle_idle_timeout_ms,
            None => self.config.idle_timeout_ms,
        }
    }

    /// The single-use ledger: the clock moves (what is due ends, expired entries
    /// are forgotten), then a second redemption is `replayed`, an expired token
    /// `expired`, and a full ledger `ledger_full`.
    fn redeem(&mut self, id: [u8; 16], expires_at: u64, now: u64) -> Result<(), Refusal> {
        self.advance(now);
        if self.redeemed.iter().any(|(i, _)| *i == id) {
            return Err(Refusal::Replayed);
        }
        if expires_at <= self.clock {
            return Err(Refusal::Expired);
        }
        if self.redeemed.len() >= self.config.max_redeemed_tokens {
            return Err(Refusal::LedgerFull);
        }
        self.redeemed.push((id, expires_at));
        Ok(())
    }

    fn make_room(&mut self, principal: Option<&str>) -> R<Option<String>> {
        // Anonymous sessions count together, as one principal.
        if let Some(limit) = self.config.max_sessions_per_principal {
            let held = self
                .sessions
                .iter()
                .filter(|s| !s.handle && s.data.principal.as_deref() == principal)
                .count();
            if held >= limit {
                return Err(SessionError::PrincipalLimitExceeded {
                    limit,
                    retry_after_ms: self.retry_after(false),
                });
            }
        }
        while self.live_sessions() >= self.config.max_sessions && self.backlog {
            self.expire_due(1);
            let (clock, retention) = (self.clock, self.config.ended_retention_ms);
            self.ended.retain(|e| e.ended_at + retention > clock);
        }
        if self.live_sessions() < self.config.max_sessions {
            return Ok(None);
        }
        let victim = match self.config.capacity_policy {
            CapacityPolicy::Reject => None,
            CapacityPolicy::EvictIdlest => self
                .sessions
                .iter()
                .enumerate()
                .filter(|(_, s)| s.in_flight == 0 && !s.handle)
                .min_by_key(|(_, s)| self.key(s))
                .map(|(_, s)| s.id.clone()),
        };
        match victim {
            Some(v) => Ok(Some(v)),
            None => Err(SessionError::CapacityExceeded {
                limit: self.config.max_sessions,
                retry_after_ms: self.retry_after(false),
            }),
        }
    }

    fn fresh_id(&mut self) -> R<String> {
        for _ in 0..8 {
            let id = self.ids.next_id()?;
            if !self.sessions.iter().any(|s| s.id == id) && !self.ended.iter().any(|e| e.id == id) {
                return Ok(id);
            }
        }
        Err(SessionError::IdSourceFailed {
            reason: String::new(),
        })
    }

    fn evict(&mut self, victim: Option<String>) {
        if let Some(v) = victim {
            let now = self.clock;
            self.end(&v, EndReason::Evicted, now);
            self.emit(Event::Evicted {
                session_id: v,
                at: now,
            });
        }
    }

    fn check_state(&self, state: &Value) -> R<()> {
        if !state.is_object() || depth(state) > 64 {
            return Err(invalid_state());
        }
        let size = state.to_string().len();
        if size > self.config.max_state_bytes {
            return Err(SessionError::StateTooLarge {
                size,
                limit: self.config.max_state_bytes,
            });
        }
        Ok(())
    }

    fn create(&mut self, p: &CreateParams, now: u64) -> R<SessionView> {
        check_principal(p.principal.as_deref())?;
        if p.idle_timeout_ms == Some(0) {
            return Err(arg("idleTimeoutMs"));
        }
        let state = p.state.clone().unwrap_or_else(|| json!({}));
        self.check_state(&state)?;
        let versions = &self.config.supported_protocol_versions;
        let (phase, proto) = match &p.requested_protocol_version {
            Some(requested) => {
                if requested.is_empty() {
                    return Err(arg("protocolVersion"));
                }
                let v = if versions.contains(requested) {
                    requested.clone()
                } else {
                    versions.last().unwrap().clone()
                };
                (Phase::Initializing, v)
            }
            None => (Phase::Active, versions.last().unwrap().clone()),
        };
        let (ci, caps) = (p.client_info.clone(), p.capabilities.clone());
        self.advance(now);
        let now = self.clock;
        let victim = self.make_room(p.principal.as_deref())?;
        let id = self.fresh_id()?;
        self.evict(victim);
        let s = MSession {
            id: id.clone(),
            data: Data {
                principal: p.principal.clone(),
                protocol_version: proto,
                client_info: ci,
                capabilities: caps,
                state,
                version: 0,
            },
            phase,
            created: now,
            last: now,
            idle: p.idle_timeout_ms,
            in_flight: 0,
            order: 0,
            place: None,
            pseq: 0,
            handle: false,
        };
        let view = self.view(&s);
        self.take(s);
        self.emit(Event::Created {
            session_id: id,
            phase,
            at: now,
        });
        Ok(view)
    }

    fn initialized(&mut self, id: &str, now: u64) -> R<()> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        if self.sessions[i].phase != Phase::Initializing {
            return Err(SessionError::AlreadyInitialized {
                session_id: id.into(),
            });
        }
        self.sessions[i].phase = Phase::Active;
        self.sessions[i].last = now;
        self.emit(Event::Initialized {
            session_id: id.into(),
            at: now,
        });
        Ok(())
    }

    fn begin(&mut self, h: &RequestHead<'_>, now: u64) -> R<Admission> {
        let Some(id) = h.session_id else {
            if h.kind != RequestKind::Initialize {
                return Err(SessionError::MissingSessionId);
            }
            check_principal(h.principal)?;
            self.advance(now);
            return Ok(Admission::Initialize);
        };
        check_id(id)?;
        check_principal(h.principal)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.owned(id, h.principal)?;
        let s = &self.sessions[i];
        let already = SessionError::AlreadyInitialized {
            session_id: id.into(),
        };
        if h.kind == RequestKind::Initialize {
            return Err(already);
        }
        if let Some(v) = h.protocol_version {
            if v != s.data.protocol_version {
                return Err(SessionError::UnsupportedProtocolVersion {
                    requested: v.into(),
                    supported: self.config.supported_protocol_versions.clone(),
                });
            }
        }
        let event = match (s.phase, h.kind) {
            (Phase::Initializing, RequestKind::Initialized) => Some(Event::Initialized {
                session_id: id.into(),
                at: now,
            }),
            (Phase::Initializing, _) => {
                return Err(SessionError::NotInitialized {
                    session_id: id.into(),
                })
            }
            (_, RequestKind::Initialized) => return Err(already),
            (Phase::Disconnected, _) => Some(Event::Resumed {
                session_id: id.into(),
                at: now,
            }),
            (Phase::Active, _) => None,
        };
        let limit = self.config.max_in_flight_per_session;
        if self.sessions[i].in_flight >= limit {
            return Err(SessionError::TooManyRequests {
                limit,
                retry_after_ms: 1_000,
            });
        }
        let s = &mut self.sessions[i];
        s.phase = Phase::Active;
        s.in_flight += 1;
        s.last = now;
        if let Some(e) = event {
            self.emit(e);
        }
        Ok(Admission::Admitted {
            phase: Phase::Active,
        })
    }

    fn end_request(&mut self, id: &str, now: u64) -> R<()> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        let s = &mut self.sessions[i];
        if s.in_flight == 0 {
            return Err(arg("sessionId"));
        }
        s.in_flight -= 1;
        s.last = now;
        Ok(())
    }

    fn get(&mut self, id: &str, now: u64) -> R<SessionView> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        self.sessions[i].last = now;
        Ok(self.view(&self.sessions[i]))
    }

    fn peek(&self, id: &str, now: u64) -> R<SessionView> {
        check_id(id)?;
        let now = now.max(self.clock);
        match self.sessions.iter().find(|s| s.id == id && !s.handle) {
            Some(s) => match self.deadline(s) {
                Some((at, reason)) if at <= now => Err(SessionError::SessionExpired {
                    session_id: id.into(),
                    reason,
                }),
                _ => Ok(self.view(s)),
            },
            None => Err(self.not_live(id, now)),
        }
    }

    fn list(&self, now: u64) -> Vec<SessionView> {
        let now = now.max(self.clock);
        let mut live: Vec<&MSession> = self
            .sessions
            .iter()
            .filter(|s| !s.handle && self.deadline(s).is_none_or(|d| d.0 > now))
            .collect();
        live.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        live.into_iter().map(|s| self.view(s)).collect()
    }

    fn stats(&self, now: u64) -> Stats {
        let list = self.list(now);
        let now = now.max(self.clock);
        let count = |p| list.iter().filter(|v| v.phase == p).count();
        Stats {
            live: list.len(),
            initializing: count(Phase::Initializing),
            active: count(Phase::Active),
            disconnected: count(Phase::Disconnected),
            in_flight: list.iter().map(|v| u64::from(v.in_flight)).sum(),
            ended_remembered: self
                .ended
                .iter()
                .filter(|e| !e.handle && e.ended_at + self.config.ended_retention_ms > now)
                .count(),
            pending_events: self.events.len(),
            dropped_events: self.dropped,
            approximate_bytes: 0,
            total_bytes: 0,
            handles_live: self
                .sessions
                .iter()
                .filter(|s| s.handle && self.deadline(s).is_none_or(|d| d.0 > now))
                .count(),
            handles_ended_remembered: self
                .ended
                .iter()
                .filter(|e| e.handle && e.ended_at + self.config.ended_retention_ms > now)
                .count(),
            redeemed_tokens: self.redeemed.iter().filter(|(_, at)| *at > now).count(),
        }
    }

    fn commit(&mut self, i: usize, state: Value, now: u64) -> R<u64> {
        let s = &mut self.sessions[i];
        s.data.state = state;
        s.data.version += 1;
        s.last = now;
        let (id, version, handle) = (s.id.clone(), s.data.version, s.handle);
        if !handle {
            self.emit(Event::StateChanged {
                session_id: id,
                version,
                at: now,
            });
        }
        Ok(version)
    }

    fn cas(&self, i: usize, expected: Option<u64>) -> R<()> {
        let s = &self.sessions[i];
        match expected {
            Some(e) if e != s.data.version => Err(SessionError::VersionConflict {
                session_id: s.id.clone(),
                expected_version: e,
                actual_version: s.data.version,
            }),
            _ => Ok(()),
        }
    }

    fn update(&mut self, id: &str, patch: &Value, expected: Option<u64>, now: u64) -> R<u64> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        self.cas(i, expected)?;
        let mut next = self.sessions[i].data.state.clone();
        json_patch::merge(&mut next, patch);
        self.check_state(&next)?;
        self.commit(i, next, now)
    }

    fn replace(&mut self, id: &str, state: &Value, expected: Option<u64>, now: u64) -> R<u64> {
        check_id(id)?;
        self.check_state(state)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        self.cas(i, expected)?;
        self.commit(i, state.clone(), now)
    }

    fn disconnect(&mut self, id: &str, now: u64) -> R<()> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.live(id)?;
        match self.sessions[i].phase {
            Phase::Initializing => Err(SessionError::NotInitialized {
                session_id: id.into(),
            }),
            Phase::Disconnected => Ok(()),
            Phase::Active => {
                let s = &mut self.sessions[i];
                s.phase = Phase::Disconnected;
                s.in_flight = 0;
                s.last = now;
                self.emit(Event::Disconnected {
                    session_id: id.into(),
                    at: now,
                });
                Ok(())
            }
        }
    }

    fn resume(&mut self, id: &str, principal: Option<&str>, now: u64) -> R<SessionView> {
        check_id(id)?;
        check_principal(principal)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.owned(id, principal)?;
        let resumed = match self.sessions[i].phase {
            Phase::Initializing => {
                return Err(SessionError::NotInitialized {
                    session_id: id.into(),
                })
            }
            Phase::Active => false,
            Phase::Disconnected => true,
        };
        self.sessions[i].phase = Phase::Active;
        self.sessions[i].last = now;
        let view = self.view(&self.sessions[i]);
        if resumed {
            self.emit(Event::Resumed {
                session_id: id.into(),
                at: now,
            });
        }
        Ok(view)
    }

    fn close(&mut self, id: &str, now: u64) -> R<()> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        self.live(id)?;
        self.end(id, EndReason::Closed, now);
        self.emit(Event::Closed {
            session_id: id.into(),
            at: now,
        });
        Ok(())
    }

    fn expire(&mut self, id: &str, now: u64) -> R<()> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        self.live(id)?;
        self.end(id, EndReason::Requested, now);
        self.emit(Event::Expired {
            session_id: id.into(),
            reason: EndReason::Requested,
            at: now,
        });
        Ok(())
    }

    fn clear_all(&mut self, now: u64) -> R<usize> {
        self.advance(now);
        let now = self.clock;
        let mut ids: Vec<String> = self
            .sessions
            .iter()
            .filter(|s| !s.handle)
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        for id in &ids {
            self.end(id, EndReason::Closed, now);
            self.emit(Event::Closed {
                session_id: id.clone(),
                at: now,
            });
        }
        Ok(ids.len())
    }

    fn renew(&mut self, id: &str, principal: Option<&str>, now: u64) -> R<SessionView> {
        check_id(id)?;
        check_principal(principal)?;
        self.enter(now, id);
        let now = self.clock;
        if self.sessions.iter().any(|s| s.id == id && !s.handle) {
            return Err(arg("sessionId"));
        }
        let Some(old) = self.ended.iter().find(|e| e.id == id && !e.handle).cloned() else {
            return Err(SessionError::SessionNotFound {
                session_id: id.into(),
            });
        };
        if old.data.principal.as_deref() != principal {
            return Err(SessionError::PrincipalMismatch {
                session_id: id.into(),
            });
        }
        if old.renewed_to.is_some() {
            return Err(arg("sessionId"));
        }
        let victim = self.make_room(principal)?;
        let new_id = self.fresh_id()?;
        self.evict(victim);
        let s = MSession {
            id: new_id.clone(),
            data: old.data.clone(),
            phase: if old.phase == Phase::Initializing {
                Phase::Initializing
            } else {
                Phase::Active
            },
            created: now,
            last: now,
            idle: old.idle,
            in_flight: 0,
            order: 0,
            place: None,
            pseq: 0,
            handle: false,
        };
        let view = self.view(&s);
        self.take(s);
        if let Some(e) = self.ended.iter_mut().find(|e| e.id == id) {
            e.renewed_to = Some(new_id.clone());
        }
        self.emit(Event::Renewed {
            session_id: new_id,
            previous_session_id: id.into(),
            at: now,
        });
        Ok(view)
    }

    // ----- state handles

    fn live_sessions(&self) -> usize {
        self.sessions.iter().filter(|s| !s.handle).count()
    }

    fn live_handles(&self) -> usize {
        self.sessions.iter().filter(|s| s.handle).count()
    }

    fn handle_view(&self, s: &MSession) -> HandleView {
        let lifetime_ends_at = s.created + self.config.handle_lifetime_ms;
        HandleView {
            handle_id: s.id.clone(),
            principal: s.data.principal.clone(),
            state: s.data.state.clone(),
            version: s.data.version,
            created_at: s.created,
            last_activity: s.last,
            expires_at: self.deadline(s).map_or(lifetime_ends_at, |d| d.0),
            lifetime_ends_at,
        }
    }

    /// The arguments of a call on one handle, checked before anything changes.
    fn check_handle_call(id: &str, principal: Option<&str>) -> R<()> {
        check_id(id).map_err(|_| arg("handleId"))?;
        check_principal(principal)
    }

    /// The live handle `id` of `principal`: unknown, a session's ID, or another
    /// principal's handle (live or ended) read alike.
    fn owned_handle(&self, id: &str, principal: Option<&str>) -> R<usize> {
        let not_found = || SessionError::HandleNotFound {
            handle_id: id.into(),
        };
        if let Some(i) = self.sessions.iter().position(|s| s.id == id) {
            let s = &self.sessions[i];
            if !s.handle || s.data.principal.as_deref() != principal {
                return Err(not_found());
            }
            return Ok(i);
        }
        match self.ended.iter().find(|e| e.id == id) {
            Some(e) if e.handle && e.data.principal.as_deref() == principal => {
                Err(e.reason.handle_error(id))
            }
            _ => Err(not_found()),
        }
    }

    fn create_handle(
        &mut self,
        principal: Option<&str>,
        state: Option<Value>,
        now: u64,
    ) -> R<HandleView> {
        check_principal(principal)?;
        let state = state.unwrap_or_else(|| json!({}));
        self.check_state(&state)?;
        self.advance(now);
        let now = self.clock;
        if let Some(limit) = self.config.max_handles_per_principal {
            let held = self
                .sessions
                .iter()
                .filter(|s| s.handle && s.data.principal.as_deref() == principal)
                .count();
            if held >= limit {
                return Err(SessionError::HandleLimitExceeded {
                    limit,
                    retry_after_ms: self.retry_after(true),
                });
            }
        }
        let max = self.config.max_handles;
        while self.live_handles() >= max && self.backlog {
            self.expire_due(1);
            let (clock, retention) = (self.clock, self.config.ended_retention_ms);
            self.ended.retain(|e| e.ended_at + retention > clock);
        }
        if self.live_handles() >= max {
            return Err(SessionError::HandleLimitExceeded {
                limit: max,
                retry_after_ms: self.retry_after(true),
            });
        }
        let id = format!("{HANDLE_PREFIX}{}", self.fresh_id()?);
        let s = MSession {
            id: id.clone(),
            data: Data {
                principal: principal.map(str::to_owned),
                protocol_version: self
                    .config
                    .supported_protocol_versions
                    .last()
                    .unwrap()
                    .clone(),
                client_info: None,
                capabilities: None,
                state,
                version: 0,
            },
            phase: Phase::Active,
            created: now,
            last: now,
            idle: None,
            in_flight: 0,
            order: 0,
            place: None,
            pseq: 0,
            handle: true,
        };
        let view = self.handle_view(&s);
        self.take(s);
        self.emit(Event::HandleCreated {
            handle_id: id,
            principal: principal.map(str::to_owned),
            at: now,
        });
        Ok(view)
    }

    fn get_handle(&mut self, id: &str, principal: Option<&str>, now: u64) -> R<HandleView> {
        Self::check_handle_call(id, principal)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.owned_handle(id, principal)?;
        self.sessions[i].last = now;
        Ok(self.handle_view(&self.sessions[i]))
    }

    fn update_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        patch: &Value,
        expected: Option<u64>,
        now: u64,
    ) -> R<u64> {
        Self::check_handle_call(id, principal)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.owned_handle(id, principal)?;
        self.cas(i, expected)?;
        let mut next = self.sessions[i].data.state.clone();
        json_patch::merge(&mut next, patch);
        self.check_state(&next)?;
        self.commit(i, next, now)
    }

    fn replace_handle(
        &mut self,
        id: &str,
        principal: Option<&str>,
        state: &Value,
        expected: Option<u64>,
        now: u64,
    ) -> R<u64> {
        Self::check_handle_call(id, principal)?;
        self.check_state(state)?;
        self.enter(now, id);
        let now = self.clock;
        let i = self.owned_handle(id, principal)?;
        self.cas(i, expected)?;
        self.commit(i, state.clone(), now)
    }

    fn destroy_handle(&mut self, id: &str, principal: Option<&str>, now: u64) -> R<()> {
        Self::check_handle_call(id, principal)?;
        self.enter(now, id);
        let now = self.clock;
        self.owned_handle(id, principal)?;
        self.end(id, EndReason::Closed, now);
        self.emit(Event::HandleDestroyed {
            handle_id: id.into(),
            at: now,
        });
        Ok(())
    }

    fn list_handles(&self, principal: Option<&str>, now: u64) -> R<Vec<HandleView>> {
        check_principal(principal)?;
        let now = now.max(self.clock);
        let mut live: Vec<&MSession> = self
            .sessions
            .iter()
            .filter(|s| {
                s.handle
                    && s.data.principal.as_deref() == principal
                    && self.deadline(s).is_none_or(|d| d.0 > now)
            })
            .collect();
        live.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        Ok(live.into_iter().map(|s| self.handle_view(s)).collect())
    }

    // ----- lookups

    fn ended_view(e: &MEnded) -> EndedView {
        EndedView {
            id: e.id.clone(),
            principal: e.data.principal.clone(),
            protocol_version: e.data.protocol_version.clone(),
            client_info: e.data.client_info.clone(),
            capabilities: e.data.capabilities.clone(),
            state: e.data.state.clone(),
            version: e.data.version,
            created_at: e.created,
            last_activity: e.last,
            reason: e.reason,
            ended_at: e.ended_at,
            renewed_to: e.renewed_to.clone(),
        }
    }

    /// `find`: a live session (touched, as `get`), an ended one still remembered, or
    /// unknown.
    fn find(&mut self, id: &str, now: u64) -> R<Lookup> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        if let Some(i) = self.sessions.iter().position(|s| s.id == id && !s.handle) {
            self.sessions[i].last = now;
            return Ok(Lookup::Live(self.view(&self.sessions[i])));
        }
        Ok(match self.ended.iter().find(|e| e.id == id && !e.handle) {
            Some(e) => Lookup::Ended(Self::ended_view(e)),
            None => Lookup::Unknown,
        })
    }

    /// `find_ref` then `record`: the session's fields as a record reads them (a live
    /// one touched first), or `None` if it is not stored.
    fn find_record(&mut self, id: &str, now: u64) -> R<Option<RecordFields>> {
        check_id(id)?;
        self.enter(now, id);
        let now = self.clock;
        if let Some(s) = self.sessions.iter_mut().find(|s| s.id == id && !s.handle) {
            s.last = now;
        }
        Ok(self.record_of(id))
    }

    /// What `record` reads of a stored session now, without touching it.
    fn record_of(&self, id: &str) -> Option<RecordFields> {
        if let Some(s) = self.sessions.iter().find(|s| s.id == id && !s.handle) {
            return Some(RecordFields {
                status: Status::Live(s.phase),
                id: s.id.clone(),
                version: s.data.version,
                state_bytes: s.data.state.to_string().len(),
                state: s.data.state.clone(),
                client_info: s.data.client_info.clone(),
                capabilities: s.data.capabilities.clone(),
                principal: s.data.principal.clone(),
                protocol_version: s.data.protocol_version.clone(),
                created_at: s.created,
                last_activity: s.last,
                expires_at: self.deadline(s).map(|d| d.0),
                in_flight: Some(s.in_flight),
                idle_timeout_ms: s.idle.unwrap_or(self.config.idle_timeout_ms),
                renewed_to: None,
            });
        }
        let e = self.ended.iter().find(|e| e.id == id && !e.handle)?;
        Some(RecordFields {
            status: Status::Ended(e.reason),
            id: e.id.clone(),
            version: e.data.version,
            state_bytes: e.data.state.to_string().len(),
            state: e.data.state.clone(),
            client_info: e.data.client_info.clone(),
            capabilities: e.data.capabilities.clone(),
            principal: e.data.principal.clone(),
            protocol_version: e.data.protocol_version.clone(),
            created_at: e.created,
            last_activity: e.last,
            expires_at: Some(e.ended_at),
            in_flight: None,
            idle_timeout_ms: e.idle.unwrap_or(self.config.idle_timeout_ms),
            renewed_to: e.renewed_to.clone(),
        })
    }

    // ----- persistence

    /// A live session as a snapshot taken at `taken_at` writes it: requests in
    /// flight do not survive, so a busy session is written as active at `taken_at`.
    fn image(s: &MSession, taken_at: u64) -> MSession {
        let mut s = s.clone();
        if s.in_flight > 0 {
            s.last = s.last.max(taken_at);
        }
        s.in_flight = 0;
        s
    }

    /// What a snapshot at `now` holds: the live sessions not past their deadline
    /// and the remembered ended ones.
    fn images(&self, now: u64) -> Images {
        let at = now.max(self.clock);
        let retention = self.config.ended_retention_ms;
        Images {
            sessions: self
                .sessions
                .iter()
                .filter(|s| self.deadline(s).is_none_or(|d| d.0 > at))
                .map(|s| (s.id.clone(), Self::image(s, at)))
                .collect(),
            ended: self
                .ended
                .iter()
                .filter(|e| e.ended_at + retention > at)
                .map(|e| (e.id.clone(), e.clone()))
                .collect(),
            redeemed: self
                .redeemed
                .iter()
                .filter(|(_, expires)| *expires > at)
                .copied()
                .collect(),
        }
    }

    /// `export`: the images of just these sessions, live or ended (unknown IDs left
    /// out), each ID checked first.
    fn export(&self, ids: &[String], now: u64) -> R<Images> {
        for id in ids {
            check_id(id)?;
        }
        let all = self.images(now);
        let mut out = Images::default();
        for id in ids {
            if let Some(s) = all.sessions.get(id) {
                out.sessions.insert(id.clone(), s.clone());
            } else if let Some(e) = all.ended.get(id) {
                out.ended.insert(id.clone(), e.clone());
            }
        }
        Ok(out)
    }

    /// `restore` of these images into this (fresh) model at `now`: times after the
    /// store's are brought back to it; sessions due are skipped, IDs already held
    /// refused, and when the store fills the most recently active win; restored
    /// sessions are idle and take their numbers in that order; ended records come
    /// back in ID order while remembered.
    fn restore(&mut self, images: Images, now: u64) -> RestoreReport {
        self.advance(now);
        let now = self.clock;
        let mut report = RestoreReport::default();
        let mut sessions: Vec<MSession> = images.sessions.into_values().collect();
        for s in &mut sessions {
            s.created = s.created.min(now);
            s.last = s.last.min(now);
            s.in_flight = 0;
        }
        sessions.sort_by(|a, b| (b.last, &a.id).cmp(&(a.last, &b.id)));
        for s in sessions {
            let held = self.sessions.iter().any(|h| h.id == s.id)
                || self.ended.iter().any(|e| e.id == s.id);
            if self.deadline(&s).is_some_and(|(at, _)| at <= now) {
                report.skipped_expired += 1;
            } else if held {
                report.refused_existing += 1;
            } else if if s.handle {
                self.live_handles() >= self.config.max_handles
            } else {
                self.live_sessions() >= self.config.max_sessions
            } {
                report.refused_capacity += 1;
            } else {
                let (id, handle) = (s.id.clone(), s.handle);
                self.take(s);
                if !handle {
                    self.emit(Event::Restored {
                        session_id: id,
                        at: now,
                    });
                }
                report.restored += 1;
            }
        }
        for mut e in images.ended.into_values() {
            e.created = e.created.min(now);
            e.last = e.last.min(now);
            e.ended_at = e.ended_at.min(now);
            let held = self.sessions.iter().any(|h| h.id == e.id)
                || self.ended.iter().any(|h| h.id == e.id);
            if e.ended_at + self.config.ended_retention_ms > now && !held {
                self.remember(e);
                report.ended_restored += 1;
            }
        }
        for (id, expires_at) in images.redeemed {
            if expires_at <= now || self.redeemed.iter().any(|(i, _)| *i == id) {
                continue;
            }
            if self.redeemed.len() < self.config.max_redeemed_tokens {
                self.redeemed.push((id, expires_at));
                report.redeemed_restored += 1;
            } else {
                report.refused_capacity += 1;
            }
        }
        report
    }
}

/// What a snapshot holds, by ID.
#[derive(Debug, Clone, Default)]
struct Images {
    sessions: BTreeMap<String, MSession>,
    ended: BTreeMap<String, MEnded>,
    /// Redeemed tokens: ID -> expires at. (Restores never fill the ledger here,
    /// so the order they take entries in does not show.)
    redeemed: BTreeMap<[u8; 16], u64>,
}

impl Images {
    /// Journal records laid over a snapshot: the newer image of a session replaces
    /// the older, live or ended.
    fn newest_wins(mut self, newer: Images) -> Images {
        for (id, s) in newer.sessions {
            self.ended.remove(&id);
            self.sessions.insert(id, s);
        }
        self.redeemed.extend(newer.redeemed);
        for (id, e) in newer.ended {
            self.sessions.remove(&id);
            self.ended.insert(id, e);
        }
        self
    }
}

/// Every field `record` reads (in flight only for a live session).
#[derive(Debug, Clone, PartialEq)]
struct RecordFields {
    status: Status,
    id: String,
    version: u64,
    state: Value,
    state_bytes: usize,
    client_info: Option<Value>,
    capabilities: Option<Value>,
    principal: Option<String>,
    protocol_version: String,
    created_at: u64,
    last_activity: u64,
    expires_at: Option<u64>,
    in_flight: Option<u32>,
    idle_timeout_ms: u64,
    renewed_to: Option<String>,
}

impl RecordFields {
    fn of(r: &Record<'_>) -> Self {
        let live = matches!(r.status(), Status::Live(_));
        RecordFields {
            status: r.status(),
            id: r.id(),
            version: r.version(),
            state: r.state().clone(),
            state_bytes: r.state_bytes(),
            client_info: r.client_info().cloned(),
            capabilities: r.capabilities().cloned(),
            principal: r.principal().map(str::to_owned),
            protocol_version: r.protocol_version().to_owned(),
            created_at: r.created_at(),
            last_activity: r.last_activity(),
            expires_at: r.expires_at(),
            in_flight: live.then(|| r.in_flight()),
            idle_timeout_ms: r.idle_timeout_ms(),
            renewed_to: r.renewed_to(),
        }
    }
}

/// The event of a record that ended by its deadline.
fn expired_event(id: &str, reason: EndReason, at: u64, handle: bool) -> Event {
    if handle {
        Event::HandleExpired {
            handle_id: id.into(),
            reason,
            at,
        }
    } else {
        Event::Expired {
            session_id: id.into(),
            reason,
            at,
        }
    }
}

// ---------------------------------------------------------------- operations

#[derive(Debug, Clone)]
enum Target {
    /// One of the last few IDs handed out: most operations should meet a live one.
    Recent(usize),
    Known(usize),
    Unknown,
    /// A raw header value: malformed by the spec's rule, at its bounds, or
    /// well-formed and unknown.
    Raw(String),
    Absent,
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Owner,
    Nobody,
    Alice,
    Bob,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        principal: Option<Who>,
        handshake: Option<usize>,
        idle: Option<u64>,
        state: Option<Value>,
    },
    Initialized(Target),
    Begin {
        target: Target,
        who: Who,
        kind: RequestKind,
        version: Option<usize>,
    },
    End(Target),
    Get(Target),
    Peek(Target),
    Update {
        target: Target,
        patch: Value,
        expected: Option<u64>,
    },
    Replace {
        target: Target,
        state: Value,
        expected: Option<u64>,
    },
    Disconnect(Target),
    Resume(Target, Who),
    Close(Target),
    Expire(Target),
    ClearAll,
    Renew(Target, Who),
    Sweep,
    Forward(u64),
    Back(u64),
    Find(Target),
    /// `find_ref`, then every field through `record`; the reference is kept.
    FindRef(Target),
    /// Reads a reference kept by an earlier `FindRef`, which may be stale by now.
    ReadRef(usize),
    /// A restart: snapshot, restore into a fresh store, and go on with that one.
    Reload,
    /// Keeps a snapshot for later `Export`s to be replayed over.
    Checkpoint,
    /// Exports these IDs and replays them newest-wins over the last checkpoint.
    Export(Vec<Target>),
    /// Records only these event kinds (`None`: all of them).
    Filter(Option<Vec<EventKind>>),
    HandleCreate {
        principal: Option<Who>,
        state: Option<Value>,
    },
    HandleGet(Target, Who),
    HandleUpdate {
        target: Target,
        who: Who,
        patch: Value,
        expected: Option<u64>,
    },
    HandleReplace {
        target: Target,
        who: Who,
        state: Value,
        expected: Option<u64>,
    },
    HandleDestroy(Target, Who),
    /// A `requestState` token minted now, valid for this long (ms).
    Mint(u64),
    /// A minted token presented for redemption (again, maybe).
    Redeem(prop::sample::Index),
}

const VERSIONS: [&str; 4] = ["2025-03-26", "2025-06-18", "2025-11-25", "1999-01-01"];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..100).prop_map(|n| json!(n)),
        "[a-c]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-c]", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", json_value(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        12 => (0usize..3).prop_map(Target::Recent),
        4 => any::<prop::sample::Index>().prop_map(|i| Target::Known(i.index(usize::MAX))),
        1 => Just(Target::Unknown),
        1 => raw_id().prop_map(Target::Raw),
        1 => Just(Target::Absent),
    ]
}

/// Header values around the spec's rule: empty, a space, a control byte or DEL,
/// non-ASCII, exactly at and just over `MAX_SESSION_ID_BYTES`, both too long and
/// bad, and well-formed ones (visible ASCII from `!` to `~`) that name no session.
fn raw_id() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[!-~]{0,3} [!-~]{0,3}",
        "[!-~]{0,3}[\\x00-\\x1f\\x7f][!-~]{0,3}",
        "[!-~]{0,3}[\u{80}-\u{10ffff}][!-~]{0,3}",
        "[!-~]{1,8}",
        Just("~".repeat(MAX_SESSION_ID_BYTES)),
        Just("!".repeat(MAX_SESSION_ID_BYTES + 1)),
        Just(" ".repeat(MAX_SESSION_ID_BYTES + 1)),
    ]
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![6 => Just(Who::Owner), 1 => Just(Who::Nobody), 1 => Just(Who::Alice), 1 => Just(Who::Bob)]
}

fn kind() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        1 => Just(RequestKind::Initialize),
        2 => Just(RequestKind::Initialized),
        6 => Just(RequestKind::Other),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        9 => (
            prop::option::of(prop_oneof![Just(Who::Alice), Just(Who::Bob), Just(Who::Nobody)]),
            prop::option::of(0..VERSIONS.len()),
            prop::option::weighted(0.2, prop_oneof![Just(0u64), 1u64..400]),
            prop::option::weighted(0.3, prop_oneof![object(), json_value()]),
        )
            .prop_map(|(principal, handshake, idle, state)| Op::Create { principal, handshake, idle, state }),
        3 => target().prop_map(Op::Initialized),
        8 => (target(), who(), kind(), prop::option::weighted(0.2, 0..VERSIONS.len()))
            .prop_map(|(target, who, kind, version)| Op::Begin { target, who, kind, version }),
        6 => target().prop_map(Op::End),
        2 => target().prop_map(Op::Get),
        2 => target().prop_map(Op::Peek),
        5 => (target(), json_value(), prop::option::weighted(0.4, 0u64..6))
            .prop_map(|(target, patch, expected)| Op::Update { target, patch, expected }),
        2 => (target(), prop_oneof![4 => object(), 1 => json_value()], prop::option::weighted(0.4, 0u64..6))
            .prop_map(|(target, state, expected)| Op::Replace { target, state, expected }),
        2 => target().prop_map(Op::Disconnect),
        2 => (target(), who()).prop_map(|(t, w)| Op::Resume(t, w)),
        2 => target().prop_map(Op::Close),
        1 => target().prop_map(Op::Expire),
        1 => Just(Op::ClearAll),
        2 => (target(), who()).prop_map(|(t, w)| Op::Renew(t, w)),
        2 => Just(Op::Sweep),
        6 => prop_oneof![8 => 1u64..50, 3 => 50u64..500, 1 => Just(5_000u64)].prop_map(Op::Forward),
        1 => (1u64..300).prop_map(Op::Back),
        2 => target().prop_map(Op::Find),
        2 => target().prop_map(Op::FindRef),
        1 => any::<prop::sample::Index>().prop_map(|i| Op::ReadRef(i.index(usize::MAX))),
        1 => Just(Op::Reload),
        1 => Just(Op::Checkpoint),
        2 => prop::collection::vec(target(), 0..4).prop_map(Op::Export),
        1 => prop::option::of(prop::sample::subsequence(EventKind::ALL.to_vec(), 0..=EventKind::ALL.len()))
            .prop_map(Op::Filter),
        5 => (
            prop::option::of(prop_oneof![Just(Who::Alice), Just(Who::Bob), Just(Who::Nobody)]),
            prop::option::weighted(0.3, prop_oneof![object(), json_value()]),
        )
            .prop_map(|(principal, state)| Op::HandleCreate { principal, state }),
        4 => (target(), who()).prop_map(|(t, w)| Op::HandleGet(t, w)),
        4 => (target(), who(), json_value(), prop::option::weighted(0.4, 0u64..6))
            .prop_map(|(target, who, patch, expected)| Op::HandleUpdate { target, who, patch, expected }),
        1 => (target(), who(), prop_oneof![4 => object(), 1 => json_value()], prop::option::weighted(0.4, 0u64..6))
            .prop_map(|(target, who, state, expected)| Op::HandleReplace { target, who, state, expected }),
        2 => (target(), who()).prop_map(|(t, w)| Op::HandleDestroy(t, w)),
        2 => prop_oneof![1u64..100, 100u64..2_000].prop_map(Op::Mint),
        4 => any::<prop::sample::Index>().prop_map(Op::Redeem),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        (
            20u64..200,
            20u64..400,
            prop::option::weighted(0.3, 100u64..2_000),
        ),
        (
            1usize..8,
            prop::bool::ANY,
            prop::option::weighted(0.4, 1usize..4),
        ),
        (
            8usize..128,
            50u64..1_000,
            1usize..8,
            prop_oneof![Just(3usize), Just(10_000usize)],
        ),
        // Small batches make sweeps stop with sessions still due.
        (
            prop_oneof![Just(1usize), Just(2usize), Just(10_000usize)],
            prop_oneof![Just(2u32), Just(32u32)],
        ),
        // State handles: idle timeout, lifetime, caps.
        (
            20u64..400,
            100u64..2_000,
            1usize..6,
            prop::option::weighted(0.5, 1usize..4),
            prop_oneof![1usize..4, Just(100_000usize)],
        ),
    )
        .prop_map(
            |(
                (init, idle, life),
                (max, evict, per),
                (state, retention, ended, events),
                (batch, in_flight),
                (handle_idle, handle_life, max_handles, handles_per, max_redeemed),
            )| {
                Config {
                    init_timeout_ms: init,
                    idle_timeout_ms: idle,
                    absolute_lifetime_ms: life,
                    max_sessions: max,
                    capacity_policy: if evict {
                        CapacityPolicy::EvictIdlest
                    } else {
                        CapacityPolicy::Reject
                    },
                    max_sessions_per_principal: per,
                    max_state_bytes: state,
                    supported_protocol_versions: VERSIONS[..3]
                        .iter()
                        .map(|v| v.to_string())
                        .collect(),
                    ended_retention_ms: retention,
                    max_ended_remembered: ended,
                    max_pending_events: events,
                    sweep_batch_size: batch,
                    max_in_flight_per_session: in_flight,
                    handle_idle_timeout_ms: handle_idle,
                    handle_lifetime_ms: handle_life,
                    max_handles,
                    max_handles_per_principal: handles_per,
                    max_redeemed_tokens: max_redeemed,
                    ..Config::default()
                }
            },
        )
}

// ---------------------------------------------------------------- the harness

/// Errors compared by code and structured details; free-text reasons are not part
/// of the contract.
fn norm<T: std::fmt::Debug>(r: &R<T>) -> String {
    match r {
        Ok(v) => format!("ok {v:?}"),
        Err(
            e @ (SessionError::InvalidArgument { .. }
            | SessionError::InvalidState { .. }
            | SessionError::IdSourceFailed { .. }),
        ) => format!("err {}", e.code()),
        Err(e) => format!("err {e:?}"),
    }
}

struct Run {
    store: SessionStore,
    model: Model,
    ids: Vec<String>,
    now: u64,
    versions: HashMap<String, u64>,
    /// References from `FindRef`, with the ID each was found for and whether it
    /// was an ended record brought back by a restore.
    refs: Vec<(String, SessionRef)>,
    /// The last checkpoint: the store's snapshot and the model's images.
    base: Option<(String, Images)>,
    reloads: u64,
    /// Minted `requestState` tokens: (ID, expires at).
    tokens: Vec<([u8; 16], u64)>,
}

/// Stats without the byte estimates, which the model does not keep.
fn counts(stats: Stats) -> Stats {
    Stats {
        approximate_bytes: 0,
        total_bytes: 0,
        ..stats
    }
}

impl Run {
    fn new(config: Config) -> Self {
        let store =
            SessionStore::with_id_source(config.clone(), Box::new(InsecureSeededIds::new(SEED)))
                .unwrap();
        Run {
            store,
            model: Model::new(config),
            ids: vec![],
            now: START,
            versions: HashMap::new(),
            refs: vec![],
            base: None,
            reloads: 0,
            tokens: Vec::new(),
        }
    }

    fn fresh(&self, seed: u64) -> (SessionStore, Model) {
        let config = self.store.config().clone();
        let store =
            SessionStore::with_id_source(config.clone(), Box::new(InsecureSeededIds::new(seed)))
                .unwrap();
        (store, Model::seeded(config, seed))
    }

    /// Journal replay: an export laid newest-wins over the last checkpoint (or on
    /// its own), restored line by line into a fresh store, against a fresh model
    /// restored from the same images. The run's own store is left alone.
    fn replay(&mut self, export: &str, images: Images, now: u64) -> Result<(), TestCaseError> {
        let mut staging = Staging::default();
        if let Some((text, _)) = &self.base {
            staging.add(text, false).unwrap();
        }
        staging.add(export, true).unwrap();
        let (mut store, mut model) = self.fresh(SEED + 50);
        let got = store.restore_staged(staging, now);
        let merged = self
            .base
            .clone()
            .map_or_else(Images::default, |(_, base)| base)
            .newest_wins(images);
        let want: R<RestoreReport> = Ok(model.restore(merged, now));
        prop_assert_eq!(norm(&got), norm(&want), "replayed restore");
        prop_assert_eq!(store.drain_events(), std::mem::take(&mut model.events));
        prop_assert_eq!(store.list(now).unwrap(), model.list(now));
        for p in [None, Some("alice"), Some("bob")] {
            prop_assert_eq!(
                store.list_handles(p, now).unwrap(),
                model.list_handles(p, now).unwrap()
            );
        }
        prop_assert_eq!(counts(store.stats(now).unwrap()), counts(model.stats(now)));
        prop_assert_eq!(store.next_deadline(), model.next_deadline());
        for id in &self.ids {
            prop_assert_eq!(
                norm(&store.find(id, now)),
                norm(&model.find(id, now)),
                "find {} after the replay",
                id
            );
        }
        Ok(())
    }

    fn id(&self, t: &Target) -> Option<String> {
        match t {
            Target::Recent(back) if *back < self.ids.len() => {
                Some(self.ids[self.ids.len() - 1 - back].clone())
            }
            Target::Known(i) if !self.ids.is_empty() => Some(self.ids[i % self.ids.len()].clone()),
            Target::Recent(_) | Target::Known(_) | Target::Unknown => {
                Some("unknown-session".into())
            }
            Target::Raw(raw) => Some(raw.clone()),
            Target::Absent => None,
        }
    }

    fn principal(&self, who: Who, id: Option<&str>) -> Option<String> {
        match who {
            Who::Owner => id.and_then(|id| {
                let live = self
                    .model
                    .sessions
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| &s.data);
                let ended = self
                    .model
                    .ended
                    .iter()
                    .find(|e| e.id == id)
                    .map(|e| &e.data);
                live.or(ended).and_then(|d| d.principal.clone())
            }),
            Who::Nobody => None,
            Who::Alice => Some("alice".into()),
            Who::Bob => Some("bob".into()),
        }
    }

    fn learn(&mut self, r: &R<SessionView>) {
        if let Ok(v) = r {
            if !self.ids.contains(&v.id) {
                self.ids.push(v.id.clone());
            }
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let now = self.now;
        let (got, want) = match op {
            Op::Forward(d) => {
                self.now += d;
                return self.check();
            }
            Op::Back(d) => {
                self.now = self.now.saturating_sub(*d);
                return self.check();
            }
            Op::Create {
                principal,
                handshake,
                idle,
                state,
            } => {
                let params = CreateParams {
                    principal: principal.and_then(|w| match w {
                        Who::Alice => Some("alice".into()),
                        Who::Bob => Some("bob".into()),
                        _ => None,
                    }),
                    requested_protocol_version: handshake.map(|i| VERSIONS[i].into()),
                    client_info: handshake.map(|_| json!({"name": "c", "version": "1"})),
                    capabilities: handshake.map(|_| json!({})),
                    idle_timeout_ms: *idle,
                    state: state.clone(),
                    ..CreateParams::default()
                };
                let (g, w) = (
                    self.store.create(params.clone(), now),
                    self.model.create(&params, now),
                );
                prop_assert_eq!(norm(&g), norm(&w));
                self.learn(&g);
                return self.check();
            }
            Op::Renew(t, who) => {
                let Some(id) = self.id(t) else { return Ok(()) };
                let p = self.principal(*who, Some(&id));
                let (g, w) = (
                    self.store.renew(&id, p.as_deref(), now),
                    self.model.renew(&id, p.as_deref(), now),
                );
                prop_assert_eq!(norm(&g), norm(&w));
                self.learn(&g);
                return self.check();
            }
            Op::Begin {
                target,
                who,
                kind,
                version,
            } => {
                let id = self.id(target);
                let p = self.principal(*who, id.as_deref());
                let head = RequestHead {
                    session_id: id.as_deref(),
                    principal: p.as_deref(),
                    kind: *kind,
                    protocol_version: version.map(|i| VERSIONS[i]),
                };
                (
                    norm(&self.store.begin_request(&head, now)),
                    norm(&self.model.begin(&head, now)),
                )
            }
            Op::ClearAll => (
                norm(&self.store.clear_all(now)),
                norm(&self.model.clear_all(now)),
            ),
            Op::Find(t) => {
                let Some(id) = self.id(t) else { return Ok(()) };
                (
                    norm(&self.store.find(&id, now)),
                    norm(&self.model.find(&id, now)),
                )
            }
            Op::FindRef(t) => {
                let Some(id) = self.id(t) else { return Ok(()) };
                let found = self.store.find_ref(&id, now);
                if let Ok(Some(r)) = &found {
                    self.refs.push((id.clone(), *r));
                }
                let store = &self.store;
                let got = found.map(|r| {
                    r.map(|r| {
                        RecordFields::of(&store.record(r).expect("a reference just found reads"))
                    })
                });
                (norm(&got), norm(&self.model.find_record(&id, now)))
            }
            Op::ReadRef(i) => {
                if !self.refs.is_empty() {
                    let (id, r) = self.refs[i % self.refs.len()].clone();
                    let got = self.store.record(r).map(|r| RecordFields::of(&r));
                    let want = self.model.record_of(&id);
                    prop_assert_eq!(
                        got,
                        want,
                        "a reference kept for {} reads the session while it is stored, then nothing",
                        id
                    );
                }
                return self.check();
            }
            Op::Reload => {
                let text = self.store.snapshot(now).unwrap();
                let images = self.model.images(now);
                self.reloads += 1;
                let (mut store, mut model) = self.fresh(SEED + 100 + self.reloads);
                let got = store.restore(&text, now);
                let want: R<RestoreReport> = Ok(model.restore(images, now));
                // References name slots of the old store.
                self.refs.clear();
                self.store = store;
                self.model = model;
                (norm(&got), norm(&want))
            }
            Op::Checkpoint => {
                self.base = Some((self.store.snapshot(now).unwrap(), self.model.images(now)));
                return self.check();
            }
            Op::Export(targets) => {
                let ids: Vec<String> = targets.iter().filter_map(|t| self.id(t)).collect();
                let got = self.store.export(&ids, now);
                let want = self.model.export(&ids, now);
                prop_assert_eq!(
                    norm(&got.clone().map(|_| ())),
                    norm(&want.clone().map(|_| ())),
                    "export of {:?}",
                    ids
                );
                if let (Ok(text), Ok(images)) = (got, want) {
                    self.replay(&text, images, now)?;
                }
                return self.check();
            }
            Op::Filter(kinds) => {
                self.store
                    .set_event_filter(kinds.as_deref().unwrap_or(&EventKind::ALL[..]));
                self.model.filter = kinds.clone();
                return self.check();
            }
            Op::HandleCreate { principal, state } => {
                let p = principal.and_then(|w| self.principal(w, None));
                let (g, w) = (
                    self.store.create_handle(p.as_deref(), state.clone(), now),
                    self.model.create_handle(p.as_deref(), state.clone(), now),
                );
                prop_assert_eq!(norm(&g), norm(&w));
                if let Ok(v) = &g {
                    self.ids.push(v.handle_id.clone());
                }
                return self.check();
            }
            Op::HandleGet(t, who) => {
                let Some(id) = self.id(t) else { return Ok(()) };
                let p = self.principal(*who, Some(&id));
                (
                    norm(&self.store.get_handle(&id, p.as_deref(), now)),
                    norm(&self.model.get_handle(&id, p.as_deref(), now)),
                )
            }
            Op::HandleUpdate {
                target,
                who,
                patch,
                expected,
            } => {
                let Some(id) = self.id(target) else {
                    return Ok(());
                };
                let p = self.principal(*who, Some(&id));
                (
                    norm(&self.store.update_handle(
                        &id,
                        p.as_deref(),
                        patch.clone(),
                        *expected,
                        now,
                    )),
                    norm(
                        &self
                            .model
                            .update_handle(&id, p.as_deref(), patch, *expected, now),
                    ),
                )
            }
            Op::HandleReplace {
                target,
                who,
                state,
                expected,
            } => {
                let Some(id) = self.id(target) else {
                    return Ok(());
                };
                let p = self.principal(*who, Some(&id));
                (
                    norm(&self.store.replace_handle_state(
                        &id,
                        p.as_deref(),
                        state.clone(),
                        *expected,
                        now,
                    )),
                    norm(
                        &self
                            .model
                            .replace_handle(&id, p.as_deref(), state, *expected, now),
                    ),
                )
            }
            Op::Mint(lifetime) => {
                let n = self.tokens.len() as u128 + 1;
                self.tokens.push((n.to_be_bytes(), now + lifetime));
                return self.check();
            }
            Op::Redeem(i) => {
                if self.tokens.is_empty() {
                    return Ok(());
                }
                let (id, expires_at) = self.tokens[i.index(self.tokens.len())];
                (
                    format!("{:?}", self.store.consume(id, expires_at, now)),
                    format!("{:?}", self.model.redeem(id, expires_at, now)),
                )
            }
            Op::HandleDestroy(t, who) => {
                let Some(id) = self.id(t) else { return Ok(()) };
                let p = self.principal(*who, Some(&id));
                (
                    norm(&self.store.destroy_handle(&id, p.as_deref(), now)),
                    norm(&self.model.destroy_handle(&id, p.as_deref(), now)),
                )
            }
            Op::Sweep => {
                let g = self.store.sweep(now).map(|v| {
                    v.into_iter()
                        .map(|e| (e.session_id, e.reason, e.at))
                        .collect::<Vec<_>>()
                });
                let w: R<_> = Ok(self.model.advance_limit(now, usize::MAX));
                let r = (norm(&g), norm(&w));
                let clock = self.store.clock();
                for v in self.store.list(clock).unwrap() {
                    prop_assert!(
                        v.expires_at.is_none_or(|at| at > clock),
                        "live past deadline after sweep"
                    );
                }
                r
            }
            _ => {
                let Some(id) = self.id(target_of(op)) else {
                    return Ok(());
                };
                let id = id.as_str();
                let resume_as = match op {
                    Op::Resume(_, who) => self.principal(*who, Some(id)),
                    _ => None,
                };
                let (s, m) = (&mut self.store, &mut self.model);
                match op {
                    Op::Initialized(_) => {
                        (norm(&s.initialized(id, now)), norm(&m.initialized(id, now)))
                    }
                    Op::End(_) => (norm(&s.end_request(id, now)), norm(&m.end_request(id, now))),
                    Op::Get(_) => (norm(&s.get(id, now)), norm(&m.get(id, now))),
                    Op::Peek(_) => (norm(&s.peek(id, now)), norm(&m.peek(id, now))),
                    Op::Update {
                        patch, expected, ..
                    } => (
                        norm(&s.update_state(id, patch, *expected, now)),
                        norm(&m.update(id, patch, *expected, now)),
                    ),
                    Op::Replace {
                        state, expected, ..
                    } => (
                        norm(&s.replace_state(id, state.clone(), *expected, now)),
                        norm(&m.replace(id, state, *expected, now)),
                    ),
                    Op::Disconnect(_) => {
                        (norm(&s.disconnect(id, now)), norm(&m.disconnect(id, now)))
                    }
                    Op::Resume(..) => (
                        norm(&s.resume(id, resume_as.as_deref(), now)),
                        norm(&m.resume(id, resume_as.as_deref(), now)),
                    ),
                    Op::Close(_) => (norm(&s.close(id, now)), norm(&m.close(id, now))),
                    Op::Expire(_) => (norm(&s.expire(id, now)), norm(&m.expire(id, now))),
                    _ => unreachable!(),
                }
            }
        };
        prop_assert_eq!(got, want, "result of {:?}", op);
        self.model.refile();
        self.check()
    }

    /// Events, listings, counts and deadlines agree; invariants hold.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let now = self.now;
        let events = self.store.drain_events();
        let want: Vec<Event> = std::mem::take(&mut self.model.events);
        if let Some(kinds) = &self.model.filter {
            for e in &events {
                prop_assert!(kinds.contains(&e.kind()), "{:?} drained, filtered out", e);
            }
        }
        let stats = self.store.stats(now).unwrap();
        prop_assert_eq!(&events, &want);
        prop_assert_eq!(self.store.clock(), self.model.clock);
        let list = self.store.list(now).unwrap();
        prop_assert_eq!(&list, &self.model.list(now));
        for p in [None, Some("alice"), Some("bob")] {
            prop_assert_eq!(
                self.store.list_handles(p, now).unwrap(),
                self.model.list_handles(p, now).unwrap(),
                "the handles of {:?}",
                p
            );
        }
        prop_assert_eq!(
            stats.total_bytes,
            self.store.recount_bytes(),
            "the running byte count agrees with a recount"
        );
        prop_assert_eq!(
            counts(stats),
            Stats {
                pending_events: 0,
                ..self.model.stats(now)
            }
        );
        let next = self.store.next_deadline();
        prop_assert_eq!(next, self.model.next_deadline());
        let clock = self.store.clock();
        let earliest = self
            .store
            .list(clock)
            .unwrap()
            .iter()
            .filter_map(|v| v.expires_at)
            .chain(
                [None, Some("alice"), Some("bob")]
                    .into_iter()
                    .flat_map(|p| self.store.list_handles(p, clock).unwrap())
                    .map(|h| h.expires_at),
            )
            .chain(self.model.redeemed.iter().map(|(_, at)| *at))
            .min();
        // While a bounded sweep left sessions due, next_deadline says so by being
        // due already (the listing leaves those sessions out).
        if next.is_none_or(|at| at > clock) {
            prop_assert_eq!(
                next,
                earliest,
                "next_deadline is the earliest live deadline"
            );
        }
        for e in &events {
            if let Event::StateChanged {
                session_id,
                version,
                ..
            } = e
            {
                let last = self.versions.insert(session_id.clone(), *version);
                prop_assert!(
                    last.is_none_or(|l| l < *version),
                    "versions strictly increase"
                );
            }
            if let Event::Renewed {
                session_id,
                previous_session_id,
                ..
            } = e
            {
                if let Some(v) = self.versions.get(previous_session_id).copied() {
                    self.versions.insert(session_id.clone(), v);
                }
            }
        }
        Ok(())
    }
}

fn target_of(op: &Op) -> &Target {
    match op {
        Op::Initialized(t)
        | Op::End(t)
        | Op::Get(t)
        | Op::Peek(t)
        | Op::Update { target: t, .. }
        | Op::Replace { target: t, .. }
        | Op::Disconnect(t)
        | Op::Resume(t, _)
        | Op::Close(t)
        | Op::Expire(t)
        | Op::Renew(t, _)
        | Op::Begin { target: t, .. } => t,
        _ => &Target::Absent,
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// A reference to an ended session brought back by `restore` never reads a later
/// session that takes its slot once it is forgotten: a restored ended record takes
/// a sequence number of its own. (Found by the model test: `FindRef` after a
/// `Reload`, then `ReadRef`.)
#[test]
fn a_reference_to_a_restored_ended_session_never_reads_another() {
    let config = Config {
        ended_retention_ms: 100,
        ..Config::default()
    };
    let mut old =
        SessionStore::with_id_source(config.clone(), Box::new(InsecureSeededIds::new(SEED)))
            .unwrap();
    let a = old.create(CreateParams::default(), START).unwrap().id;
    old.close(&a, START).unwrap();
    let text = old.snapshot(START).unwrap();
    let mut s =
        SessionStore::with_id_source(config, Box::new(InsecureSeededIds::new(SEED + 1))).unwrap();
    s.restore(&text, START).unwrap();
    let r = s
        .find_ref(&a, START)
        .unwrap()
        .expect("the ended session is remembered");
    assert_eq!(s.record(r).map(|r| r.id()), Some(a.clone()));
    // Past its retention it is forgotten, and a new session may take its slot.
    let b = s.create(CreateParams::default(), START + 100).unwrap().id;
    let read = s.record(r).map(|r| r.id());
    assert_eq!(read, None, "the reference to {a}, forgotten, reads {b}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_store_behaves_like_the_model(config in config(), ops in prop::collection::vec(op(), 1..200)) {
        let mut run = Run::new(config.clone());
        for op in &ops {
            run.step(op)?;
        }

        // Snapshot -> restore -> snapshot is byte-identical.
        let clock = run.store.clock();
        let bytes = run.store.snapshot(clock).unwrap();
        let mut restored = SessionStore::with_id_source(config.clone(), Box::new(InsecureSeededIds::new(SEED + 1))).unwrap();
        restored.restore(&bytes, clock).unwrap();
        prop_assert_eq!(restored.snapshot(clock).unwrap(), bytes.clone());

        // The same seed and the same calls give the same bytes.
        let mut again = Run::new(config);
        for op in &ops {
            again.step(op)?;
        }
        prop_assert_eq!(again.store.snapshot(clock).unwrap(), bytes);
    }
}
