//! The snapshot format: everything needed to rebuild the sessions after a restart.
//!
//! A snapshot is one JSON document (format `mcp-session-core/snapshot`, version 1):
//!
//! ```json
//! { "format": "mcp-session-core/snapshot", "version": 1, "takenAt": 1700000000000,
//!   "sessions": [ { "id": "…", "principal": "alice", "protocolVersion": "2025-06-18",
//!                   "clientInfo": {…}, "capabilities": {…}, "phase": "active",
//!                   "state": {…}, "version": 3, "createdAt": …, "lastActivity": …,
//!                   "idleTimeoutMs": null, "expiresAt": … } ],
//!   "ended": [ { "session": { …as above… }, "reason": "idle", "endedAt": …,
//!                "renewedTo": null } ] }
//! ```
//!
//! A store that keeps the single-use ledger of `requestState` tokens adds
//! `"redeemed": [ { "expiresAt": …, "id": "<token ID, base64url>" } ]` (left out
//! when empty): a token redeemed before a restart is refused after it.
//!
//! Sessions and ended records are sorted by ID and object keys are sorted, so the
//! same store gives the same bytes. `expiresAt` is informational: restore recomputes
//! deadlines from the configuration in force. Requests in flight do not survive a
//! restart, so a busy session is written with `lastActivity` = `takenAt` and restored
//! idle from that moment. Restore validates every record before it applies any.
//!
//! A store too large for one string is written as records instead (version 2,
//! [`RECORDS_VERSION`]): a header line `{"format", "version": 2, "takenAt"}`, then a
//! line `{"session": {…}}` or `{"endedSession": {…}}` per session, in slot order,
//! then a line `{"redeemedToken": {…}}` per ledger entry, read back one line at a
//! time through [`Staging`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{check_protocol_version, Settings, MAX_TIME_MS};
use crate::error::EndReason;
use crate::error::SessionError;
use crate::ids::check_session_id;
use crate::intern::Shared;
use crate::patch::{check_metadata, check_state, MAX_METADATA_BYTES};
use crate::request::check_principal;
use crate::request_state::codec::{TokenId, TOKEN_ID_BYTES};
use crate::session::{copy_of, session_copy, Ending, Phase, RecordKind, Session, SessionData};
use crate::session_id::SessionId;

/// The `format` field of every snapshot.
pub const SNAPSHOT_FORMAT: &str = "mcp-session-core/snapshot";
/// The newest snapshot version this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// The version of a snapshot written as records, one per line (see [`Staging`]):
/// a header, then one line per session, so that neither writing nor reading a
/// store ever holds its whole snapshot as one string.
pub const RECORDS_VERSION: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SnapshotDoc {
    pub format: String,
    pub version: u32,
    pub taken_at: u64,
    pub sessions: Vec<SessionRecord>,
    pub ended: Vec<EndedRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redeemed: Vec<RedeemedRecord>,
}

/// A redeemed `requestState` token the single-use ledger remembers until it
/// expires: its ID (16 bytes, base64url without padding) and its expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RedeemedRecord {
    pub expires_at: u64,
    pub id: String,
}

impl RedeemedRecord {
    pub fn of(expires_at: u64, id: &TokenId) -> Self {
        RedeemedRecord {
            expires_at,
            id: URL_SAFE_NO_PAD.encode(id),
        }
    }

    /// The entry, or what is wrong with it.
    fn entry(&self, record: Option<&str>) -> Result<(u64, TokenId), SessionError> {
        let id = URL_SAFE_NO_PAD
            .decode(&self.id)
            .ok()
            .and_then(|bytes| TokenId::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| {
                invalid(
                    record,
                    "id",
                    format!("expected {TOKEN_ID_BYTES} bytes in base64url"),
                )
            })?;
        time(record, "expiresAt", self.expires_at)?;
        Ok((self.expires_at, id))
    }
}

session_copy! {
    /// A session as a snapshot keeps it (live, or inside an ended record).
    #[derive(Debug, Serialize, Deserialize)]
    #[cfg_attr(test, derive(ts_rs::TS))]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    pub(crate) struct SessionRecord {
        pub phase: Phase,
        pub idle_timeout_ms: Option<u64>,
        #[serde(default)]
        pub expires_at: Option<u64>,
        /// `handle` for a state handle; absent for a session (so a session's record,
        /// and every snapshot written before handles existed, reads as a session).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(test, ts(optional))]
        pub kind: Option<RecordKind>,
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EndedRecord {
    pub session: SessionRecord,
    pub reason: EndReason,
    pub ended_at: u64,
    pub renewed_to: Option<String>,
}

/// What a restore did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(test, derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Sessions now live again.
    pub restored: usize,
    /// Sessions already past their deadline at the time of the restore.
    pub skipped_expired: usize,
    /// Sessions whose ID is already live or remembered as ended here.
    pub refused_existing: usize,
    /// Sessions left out because the store was full (the most recently active are
    /// restored first).
    pub refused_capacity: usize,
    /// Ended sessions remembered again (for 404 reasons, renewal, no reuse).
    pub ended_restored: usize,
    /// Redeemed `requestState` tokens remembered again (still unexpired, and not
    /// over `max_redeemed_tokens`): a replay after the restart is refused.
    pub redeemed_restored: usize,
}

impl SessionRecord {
    pub fn from_session(session: &Session, settings: &Settings, taken_at: u64) -> Self {
        let last_activity = if session.in_flight > 0 {
            taken_at.max(session.last_activity)
        } else {
            session.last_activity
        };
        let expires_at = session
            .deadline_given(&settings.config, last_activity, 0)
            .map(|(at, _)| at);
        Self::of(session, last_activity, expires_at)
    }

    /// The record of an ended session: as it was when it ended.
    pub fn from_ended(session: &Session) -> Self {
        Self::of(session, session.last_activity, None)
    }

    fn of(session: &Session, last_activity: u64, expires_at: Option<u64>) -> Self {
        copy_of!(SessionRecord, session, last_activity, {
            phase: session.phase,
            idle_timeout_ms: session.idle_timeout_ms,
            expires_at: expires_at,
            kind: match session.kind {
                RecordKind::Session => None,
                RecordKind::Handle => Some(RecordKind::Handle),
            },
        })
    }
}

/// One line of a snapshot written as records: its header (`format`, `version` 2,
/// `takenAt`), a live session (`session`) or an ended one (`endedSession`). A whole
/// version 1 document (`sessions` and `ended` arrays, as `snapshot` and `export`
/// write) reads as one line too.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    taken_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sessions: Option<Vec<SessionRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended: Option<Vec<EndedRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<SessionRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ended_session: Option<EndedRecord>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redeemed: Option<Vec<RedeemedRecord>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redeemed_token: Option<RedeemedRecord>,
}

/// The header line of a snapshot written as records.
pub(crate) fn records_header(taken_at: u64) -> Result<String, SessionError> {
    line(RecordLine {
        format: Some(SNAPSHOT_FORMAT.to_owned()),
        version: Some(RECORDS_VERSION),
        taken_at: Some(taken_at),
        ..RecordLine::default()
    })
}

/// The line of a live session.
pub(crate) fn session_line(record: SessionRecord) -> Result<String, SessionError> {
    line(RecordLine {
        session: Some(record),
        ..RecordLine::default()
    })
}

/// The line of an ended session.
pub(crate) fn ended_line(record: EndedRecord) -> Result<String, SessionError> {
    line(RecordLine {
        ended_session: Some(record),
        ..RecordLine::default()
    })
}

/// The line of a redeemed token.
pub(crate) fn redeemed_line(record: RedeemedRecord) -> Result<String, SessionError> {
    line(RecordLine {
        redeemed_token: Some(record),
        ..RecordLine::default()
    })
}

fn line(record: RecordLine) -> Result<String, SessionError> {
    serde_json::to_string(&record).map_err(|e| SessionError::InvalidState {
        reason: format!("snapshot could not be written: {e}"),
    })
}

/// A restore read one line at a time: a snapshot's records, then (newest winning)
/// the journal records written since, without ever holding them as one string.
/// Nothing is validated against a store or applied until
/// [`crate::SessionStore::restore_staged`], which refuses the whole if one record is
/// invalid, as `restore` does.
#[derive(Debug, Default)]
pub struct Staging {
    taken_at: u64,
    sessions: BTreeMap<String, SessionRecord>,
    ended: BTreeMap<String, EndedRecord>,
    /// Redeemed token ID -> its latest expiry.
    redeemed: BTreeMap<String, u64>,
    lines: usize,
}

impl Staging {
    /// Adds one line (see `RecordLine`). With `newest_wins` (journal records replayed
    /// over a snapshot) a later image of a session replaces an earlier one, live or
    /// ended; without it, a session that appears twice is refused.
    pub fn add(&mut self, text: &str, newest_wins: bool) -> Result<(), SessionError> {
        self.lines += 1;
        let name = format!("line {}", self.lines);
        let record = Some(name.as_str());
        let line: RecordLine =
            serde_json::from_str(text).map_err(|e| invalid(record, "", e.to_string()))?;
        if let Some(format) = &line.format {
            if format != SNAPSHOT_FORMAT {
                return Err(invalid(
                    record,
                    "format",
                    format!("expected {SNAPSHOT_FORMAT:?}"),
                ));
            }
            let taken_at = line.taken_at.unwrap_or(0);
            time(record, "takenAt", taken_at)?;
            self.taken_at = self.taken_at.max(taken_at);
            return match (line.version, line.sessions, line.ended) {
                (Some(RECORDS_VERSION), None, None) if line.redeemed.is_none() => Ok(()),
                (Some(SNAPSHOT_VERSION), Some(sessions), Some(ended)) => {
                    for s in sessions {
                        self.put_session(s, newest_wins, record)?;
                    }
                    for e in ended {
                        self.put_ended(e, newest_wins, record)?;
                    }
                    for r in line.redeemed.unwrap_or_default() {
                        self.put_redeemed(r);
                    }
                    Ok(())
                }
                (version, _, _) => Err(invalid(
                    record,
                    "version",
                    format!("{version:?} is not a snapshot version this build reads (1 or 2)"),
                )),
            };
        }
        match (line.session, line.ended_session, line.redeemed_token) {
            (Some(s), None, None) if line.redeemed.is_none() => {
                self.put_session(s, newest_wins, record)
            }
            (None, Some(e), None) if line.redeemed.is_none() => {
                self.put_ended(e, newest_wins, record)
            }
            (None, None, Some(r)) if line.redeemed.is_none() => {
                self.put_redeemed(r);
                Ok(())
            }
            _ => Err(invalid(
                record,
                "",
                "expected a header, a session, an ended session or a redeemed token",
            )),
        }
    }

    /// A redeemed token: the same ID twice (a journal record and a snapshot)
    /// keeps the later expiry (they are one token, so they are equal).
    fn put_redeemed(&mut self, r: RedeemedRecord) {
        let at = self.redeemed.entry(r.id).or_insert(r.expires_at);
        *at = (*at).max(r.expires_at);
    }

    fn put_session(
        &mut self,
        s: SessionRecord,
        newest_wins: bool,
        record: Option<&str>,
    ) -> Result<(), SessionError> {
        let seen = self.ended.remove(&s.id).is_some() | self.sessions.contains_key(&s.id);
        if seen && !newest_wins {
            return Err(invalid(record, "id", "appears twice in the snapshot"));
        }
        self.sessions.insert(s.id.clone(), s);
        Ok(())
    }

    fn put_ended(
        &mut self,
        e: EndedRecord,
        newest_wins: bool,
        record: Option<&str>,
    ) -> Result<(), SessionError> {
        let id = e.session.id.clone();
        let seen = self.sessions.remove(&id).is_some() | self.ended.contains_key(&id);
        if seen && !newest_wins {
            return Err(invalid(
                record,
                "session.id",
                "appears twice in the snapshot",
            ));
        }
        self.ended.insert(id, e);
        Ok(())
    }

    /// Validates every staged record against `settings`.
    pub(crate) fn validate(self, settings: &Settings) -> Result<ValidSnapshot, SessionError> {
        let doc = SnapshotDoc {
            format: SNAPSHOT_FORMAT.to_owned(),
            version: SNAPSHOT_VERSION,
            taken_at: self.taken_at,
            sessions: self.sessions.into_values().collect(),
            ended: self.ended.into_values().collect(),
            redeemed: self
                .redeemed
                .into_iter()
                .map(|(id, expires_at)| RedeemedRecord { id, expires_at })
                .collect(),
        };
        validate(doc, settings)
    }
}

/// A snapshot that passed validation, ready to apply.
pub(crate) struct ValidSnapshot {
    pub sessions: Vec<Session>,
    /// Ended sessions, each with its `end`.
    pub ended: Vec<Session>,
    /// Redeemed tokens: `(expires_at, id)`.
    pub redeemed: Vec<(u64, TokenId)>,
}

/// Serializes a snapshot document, records sorted by ID so equal stores give equal
/// bytes.
pub(crate) fn document(
    taken_at: u64,
    mut sessions: Vec<SessionRecord>,
    mut ended: Vec<EndedRecord>,
    mut redeemed: Vec<RedeemedRecord>,
) -> Result<String, SessionError> {
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    ended.sort_by(|a, b| a.session.id.cmp(&b.session.id));
    redeemed.sort_by(|a, b| a.id.cmp(&b.id));
    let doc = SnapshotDoc {
        format: SNAPSHOT_FORMAT.to_owned(),
        version: SNAPSHOT_VERSION,
        taken_at,
        sessions,
        ended,
        redeemed,
    };
    serde_json::to_string(&doc).map_err(|e| SessionError::InvalidState {
        reason: format!("snapshot could not be written: {e}"),
    })
}

fn invalid(record: Option<&str>, field: &str, reason: impl Into<String>) -> SessionError {
    SessionError::InvalidSnapshot {
        record: record.map(str::to_owned),
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// Parses and validates a snapshot against the store's settings. Nothing is applied.
pub(crate) fn parse(text: &str, settings: &Settings) -> Result<ValidSnapshot, SessionError> {
    validate(parse_doc(text)?, settings)
}

/// Parses a snapshot document (format version 1) without validating its records.
fn parse_doc(text: &str) -> Result<SnapshotDoc, SessionError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let doc: SnapshotDoc = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let reason = e.into_inner().to_string();
        match path.split_once("].") {
            Some((record, field)) => invalid(Some(&format!("{record}]")), field, reason),
            None => invalid(None, &path, reason),
        }
    })?;
    de.end()
        .map_err(|e| invalid(None, "", format!("trailing data: {e}")))?;
    if doc.format != SNAPSHOT_FORMAT {
        return Err(invalid(
            None,
            "format",
            format!("expected {SNAPSHOT_FORMAT:?}"),
        ));
    }
    if doc.version != SNAPSHOT_VERSION {
        return Err(invalid(
            None,
            "version",
            format!(
                "version {} is not supported (this build reads {SNAPSHOT_VERSION})",
                doc.version
            ),
        ));
    }
    time(None, "takenAt", doc.taken_at)?;
    Ok(doc)
}

/// Validates every record of a parsed snapshot: nothing invalid reaches a store.
fn validate(doc: SnapshotDoc, settings: &Settings) -> Result<ValidSnapshot, SessionError> {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut sessions = Vec::with_capacity(doc.sessions.len());
    for (i, record) in doc.sessions.iter().enumerate() {
        let name = format!("sessions[{i}]");
        if !seen.insert(record.id.as_str()) {
            return Err(invalid(Some(&name), "id", "appears twice in the snapshot"));
        }
        sessions.push(session(&name, record, settings)?);
    }
    let mut ended = Vec::with_capacity(doc.ended.len());
    for (i, record) in doc.ended.iter().enumerate() {
        let name = format!("ended[{i}]");
        if !seen.insert(record.session.id.as_str()) {
            return Err(invalid(
                Some(&name),
                "session.id",
                "appears twice in the snapshot",
            ));
        }
        let s =
            session(&name, &record.session, settings).map_err(|e| prefix_field(e, "session."))?;
        time(Some(&name), "endedAt", record.ended_at)?;
        let renewed_to = match &record.renewed_to {
            Some(to) => {
                check_session_id(to)
                    .map_err(|e| invalid(Some(&name), "renewedTo", e.to_string()))?;
                Some(Box::new(SessionId::new(to)))
            }
            None => None,
        };
        ended.push(Session {
            end: Some(Ending {
                reason: record.reason,
                at: record.ended_at,
                renewed_to,
            }),
            ..s
        });
    }
    let redeemed = doc
        .redeemed
        .iter()
        .enumerate()
        .map(|(i, r)| r.entry(Some(&format!("redeemed[{i}]"))))
        .collect::<Result<_, _>>()?;
    Ok(ValidSnapshot {
        sessions,
        ended,
        redeemed,
    })
}

fn prefix_field(error: SessionError, prefix: &str) -> SessionError {
    match error {
        SessionError::InvalidSnapshot {
            record,
            field,
            reason,
        } => SessionError::InvalidSnapshot {
            record,
            field: format!("{prefix}{field}"),
            reason,
        },
        other => other,
    }
}

fn time(record: Option<&str>, field: &str, value: u64) -> Result<(), SessionError> {
    if value > MAX_TIME_MS {
        return Err(invalid(
            record,
            field,
            format!("{value} is over {MAX_TIME_MS}"),
        ));
    }
    Ok(())
}

fn session(name: &str, r: &SessionRecord, settings: &Settings) -> Result<Session, SessionError> {
    let record = Some(name);
    check_session_id(&r.id).map_err(|e| invalid(record, "id", e.to_string()))?;
    if let Some(p) = &r.principal {
        check_principal(p).map_err(|e| invalid(record, "principal", e.to_string()))?;
    }
    check_protocol_version(&r.protocol_version)
        .map_err(|why| invalid(record, "protocolVersion", why))?;
    let limit = settings.config.max_state_bytes;
    for (field, value) in [
        ("clientInfo", &r.client_info),
        ("capabilities", &r.capabilities),
    ] {
        if let Some(v) = value {
            check_metadata(field, v, MAX_METADATA_BYTES)
                .map_err(|e| invalid(record, field, e.to_string()))?;
        }
    }
    let state_bytes =
        check_state(&r.state, limit).map_err(|e| invalid(record, "state", e.to_string()))?;
    time(record, "createdAt", r.created_at)?;
    time(record, "lastActivity", r.last_activity)?;
    if r.last_activity < r.created_at {
        return Err(invalid(record, "lastActivity", "is before createdAt"));
    }
    if let Some(idle) = r.idle_timeout_ms {
        if idle == 0 || idle > MAX_TIME_MS {
            return Err(invalid(
                record,
                "idleTimeoutMs",
                format!("must be 1 to {MAX_TIME_MS}"),
            ));
        }
    }
    let data = SessionData {
        principal: r.principal.as_deref().map(Arc::from),
        protocol_version: settings.intern(&r.protocol_version),
        client_info: r.client_info.clone().map(Shared::new),
        capabilities: r.capabilities.clone().map(Shared::new),
        state: r.state.clone(),
        state_bytes,
        version: r.version,
    };
    let id = SessionId::new(&r.id);
    let kind = r.kind.unwrap_or_default();
    if kind == RecordKind::Handle && (r.phase != Phase::Active || r.idle_timeout_ms.is_some()) {
        return Err(invalid(
            record,
            "kind",
            "a handle is always active, with the store's handle timeouts",
        ));
    }
    Ok(Session {
        // Restored idle: requests in flight did not survive.
        last_activity: r.last_activity,
        kind,
        ..Session::new(id, data, r.phase, r.created_at, r.idle_timeout_ms)
    })
}
