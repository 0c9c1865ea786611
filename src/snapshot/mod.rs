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
//!
//! The file store writes version 3 ([`BINARY_VERSION`], see `binary`): the same
//! records in a compact binary form, in pieces, several times faster to write and
//! to read back. Every version is read back through [`Staging`], with the same
//! checks (see `validate`).

mod binary;
mod staging;
mod validate;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Settings;
use crate::error::EndReason;
use crate::error::SessionError;
use crate::request_state::codec::{TokenId, TOKEN_ID_BYTES};
use crate::session::{copy_of, session_copy, Phase, RecordKind, Session};
use crate::table::{CHUNK, CHUNK_BITS};

pub(crate) use binary::PieceWriter;
pub use staging::Staging;
use validate::{invalid, Origin};

/// The `format` field of every snapshot.
pub const SNAPSHOT_FORMAT: &str = "mcp-session-core/snapshot";
/// The newest snapshot version this crate writes and reads.
pub const SNAPSHOT_VERSION: u32 = 1;
/// The version of a snapshot written as records, one per line (see [`Staging`]):
/// a header, then one line per session, so that neither writing nor reading a
/// store ever holds its whole snapshot as one string.
pub const RECORDS_VERSION: u32 = 2;
/// The version of a snapshot written as binary records in pieces (see `binary`):
/// what the file store writes.
pub const BINARY_VERSION: u32 = 3;

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
    fn entry(&self, origin: Origin) -> Result<(u64, TokenId), SessionError> {
        let id = URL_SAFE_NO_PAD
            .decode(&self.id)
            .ok()
            .and_then(|bytes| TokenId::try_from(bytes.as_slice()).ok())
            .ok_or_else(|| {
                origin.invalid(
                    "id",
                    format!("expected {TOKEN_ID_BYTES} bytes in base64url"),
                )
            })?;
        origin.time("expiresAt", self.expires_at)?;
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
        let last_activity = activity_at(session, taken_at);
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

/// When a live session was last active, as a snapshot taken at `taken_at` writes
/// it: a busy session restores idle from that moment.
pub(crate) fn activity_at(session: &Session, taken_at: u64) -> u64 {
    if session.in_flight > 0 {
        taken_at.max(session.last_activity)
    } else {
        session.last_activity
    }
}

/// One line of a snapshot written as records: its header (`format`, `version` 2,
/// `takenAt`), a live session (`session`) or an ended one (`endedSession`). A whole
/// version 1 document (`sessions` and `ended` arrays, as `snapshot` and `export`
/// write) reads as one line too.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RecordLine {
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

/// A snapshot that passed validation, ready to apply.
pub(crate) struct ValidSnapshot {
    /// Live sessions, in the order staged; `None` where an ended one was taken
    /// out. `apply` takes each out again in the order it stores them.
    pub sessions: Chunks<Option<Session>>,
    /// Ended sessions, each with its `end`.
    pub ended: Vec<Session>,
    /// Redeemed tokens: `(expires_at, id)`.
    pub redeemed: Vec<(u64, TokenId)>,
}

/// A sequence in chunks that are made whole and never move: a million staged
/// sessions are held without being copied each time a `Vec` of them would grow
/// (and holding the old copy and the new at once).
#[derive(Debug)]
pub(crate) struct Chunks<T> {
    chunks: Vec<Vec<T>>,
}

impl<T> Default for Chunks<T> {
    fn default() -> Self {
        Chunks { chunks: Vec::new() }
    }
}

impl<T> Chunks<T> {
    /// How many items there are.
    pub fn len(&self) -> usize {
        let full = self.chunks.len().saturating_sub(1) * CHUNK;
        full + self.chunks.last().map_or(0, Vec::len)
    }

    pub fn push(&mut self, item: T) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < CHUNK => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(item);
                self.chunks.push(chunk);
            }
        }
    }

    /// The item at `at` (counted from 0, in the order pushed).
    pub fn get(&self, at: usize) -> Option<&T> {
        self.chunks.get(at >> CHUNK_BITS)?.get(at & (CHUNK - 1))
    }

    pub fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        self.chunks
            .get_mut(at >> CHUNK_BITS)?
            .get_mut(at & (CHUNK - 1))
    }

    /// Every item, in the order pushed.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flatten()
    }

    /// The chunks themselves, in order: each is `CHUNK` items (the last, up to
    /// that) in a `Vec` made for `CHUNK`.
    pub fn into_chunks(self) -> Vec<Vec<T>> {
        self.chunks
    }
}

impl<T: Default> Chunks<T> {
    /// Moves the item at each place `at` to `to[at]`, in place: `to` must be a
    /// permutation of the places (it is left as the identity). Each cycle of the
    /// permutation is followed with one item in hand, so each item is moved once,
    /// straight to its place; a place past the end stops the cycle there.
    pub fn permute(&mut self, to: &mut [usize]) {
        for start in 0..to.len() {
            if to.get(start).is_none_or(|&dest| dest == start) {
                continue;
            }
            let Some(mut hand) = self.get_mut(start).map(std::mem::take) else {
                return;
            };
            let mut from = start;
            // Moves the item in hand to where it goes, picking up the one there.
            while let Some(dest) = to.get_mut(from).map(|d| std::mem::replace(d, from)) {
                if dest == start || dest >= to.len() {
                    break;
                }
                let Some(place) = self.get_mut(dest) else {
                    break;
                };
                hand = std::mem::replace(place, hand);
                from = dest;
            }
            if let Some(place) = self.get_mut(start) {
                *place = hand;
            }
        }
    }
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

/// Parses and validates a snapshot against the store's settings. Nothing is applied.
pub(crate) fn parse(text: &str, settings: &Settings) -> Result<ValidSnapshot, SessionError> {
    let doc = parse_doc(text)?;
    let mut staging = Staging::default();
    staging.add_document(None, doc.sessions, doc.ended, doc.redeemed, false)?;
    staging.validate(settings)
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
    if doc.taken_at > crate::config::MAX_TIME_MS {
        return Err(invalid(None, "takenAt", "is over the largest time"));
    }
    Ok(doc)
}

#[cfg(test)]
mod chunk_tests {
    use super::*;

    #[test]
    fn permute_moves_each_item_to_its_place_across_chunks() {
        let n = CHUNK * 2 + 5;
        let mut items = Chunks::default();
        for i in 0..n {
            items.push(Some(i));
        }
        // A permutation with long cycles (5 and n have no common factor).
        let mut to: Vec<usize> = (0..n).map(|i| (i * 5 + 3) % n).collect();
        let expected = {
            let mut out = vec![None; n];
            for (i, &t) in to.iter().enumerate() {
                out[t] = Some(i);
            }
            out
        };
        items.permute(&mut to);
        assert!(to.iter().enumerate().all(|(i, &t)| i == t));
        assert_eq!(items.iter().copied().collect::<Vec<_>>(), expected);
        assert_eq!(items.len(), n);
        assert_eq!(items.into_chunks().len(), 3);
    }
}
