//! A restore read a piece at a time: a snapshot's records (version 2 lines, or
//! version 3 pieces), then (newest winning) the journal records written since,
//! without ever holding them as one string.
//!
//! Each record is checked as it is added (see `validate`), so what is staged is
//! the sessions themselves, ready to store, and a bad record is refused with its
//! line or piece and field; the state's size alone is checked against the store's
//! limit when the whole is applied.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use hashbrown::HashTable;

use serde_json::Value;

use crate::config::Settings;
use crate::error::SessionError;
use crate::request_state::codec::TokenId;
use crate::session::Session;
use crate::table::IdHasher;

use super::binary::{self, Record};
use super::validate::{self, EndIn, Fields, IdIn, Metadata, Origin, Strings};
use super::{
    Chunks, EndedRecord, RecordLine, RedeemedRecord, SessionRecord, ValidSnapshot, BINARY_VERSION,
    RECORDS_VERSION, SNAPSHOT_FORMAT, SNAPSHOT_VERSION,
};

/// A restore read one line or piece at a time. Nothing is applied until
/// [`crate::SessionStore::restore_staged`], which refuses the whole if one record is
/// invalid, as `restore` does.
#[derive(Debug)]
pub struct Staging {
    /// Every session staged, checked, in the order first seen; a newer image of a
    /// session takes the place of the older. Each is `Some` here: the option lets
    /// `validate` and `apply` take sessions out in place.
    records: Chunks<Option<Session>>,
    /// Where each of `records` came from, for the error that refuses it.
    origins: Chunks<Origin>,
    /// Where each ID is in `records`, with its hash (so that growing the table
    /// reads no record).
    by_id: HashTable<(u64, usize)>,
    /// Keyed at random: a snapshot cannot aim its IDs at one bucket.
    hasher: IdHasher,
    /// Redeemed token ID -> its latest expiry.
    redeemed: BTreeMap<TokenId, u64>,
    lines: usize,
    pieces: usize,
    /// A version 3 header was read: its pieces may follow.
    binary: bool,
    /// Client metadata values read, by their JSON text: each distinct value is
    /// checked once, and every session that has it shares one copy.
    metadata: BTreeMap<String, Arc<Metadata>>,
    /// The metadata values of the last JSON records, newest first (at most
    /// `RECENT_METADATA`): journal records of one client program carry the same
    /// values again and again, and comparing is cheaper than writing each out as
    /// text to look it up in `metadata`.
    recent: Vec<(Value, Arc<Metadata>)>,
    strings: Strings,
}

/// How many metadata values `Staging::recent` keeps: a client's info and its
/// capabilities, for a couple of client programs.
const RECENT_METADATA: usize = 4;

impl Default for Staging {
    fn default() -> Self {
        // The standard library's per-process random keys: the store's own ID
        // source is not at hand (a staging belongs to no store until applied).
        let keys = RandomState::new();
        let seed = (u128::from(keys.hash_one(0u8)) << 64) | u128::from(keys.hash_one(1u8));
        Staging {
            records: Chunks::default(),
            origins: Chunks::default(),
            by_id: HashTable::new(),
            hasher: IdHasher::new(seed),
            strings: Strings::keyed(seed as u64),
            redeemed: BTreeMap::new(),
            lines: 0,
            pieces: 0,
            binary: false,
            metadata: BTreeMap::new(),
            recent: Vec::new(),
        }
    }
}

impl Staging {
    /// Adds one line: a version 2 header (`format`, `version` 2, `takenAt`), a live
    /// session (`session`), an ended one (`endedSession`), a redeemed token
    /// (`redeemedToken`), or a whole version 1 document (`sessions` and `ended`
    /// arrays, as `snapshot` and `export` write). With `newest_wins` (journal
    /// records replayed over a snapshot) a later image of a session replaces an
    /// earlier one, live or ended; without it, a session that appears twice is
    /// refused.
    pub fn add(&mut self, text: &str, newest_wins: bool) -> Result<(), SessionError> {
        self.lines += 1;
        let line = self.lines;
        let origin = Origin::Line(line);
        let record: RecordLine =
            serde_json::from_str(text).map_err(|e| origin.invalid("", e.to_string()))?;
        if let Some(format) = &record.format {
            if format != SNAPSHOT_FORMAT {
                return Err(origin.invalid("format", format!("expected {SNAPSHOT_FORMAT:?}")));
            }
            origin.time("takenAt", record.taken_at.unwrap_or(0))?;
            return match (record.version, record.sessions, record.ended) {
                (Some(RECORDS_VERSION), None, None) if record.redeemed.is_none() => Ok(()),
                (Some(SNAPSHOT_VERSION), Some(sessions), Some(ended)) => self.add_document(
                    Some(line),
                    sessions,
                    ended,
                    record.redeemed.unwrap_or_default(),
                    newest_wins,
                ),
                (version, _, _) => Err(origin.invalid(
                    "version",
                    format!(
                        "{version:?} is not a snapshot version this build reads in a line (1 or 2)"
                    ),
                )),
            };
        }
        match (record.session, record.ended_session, record.redeemed_token) {
            (Some(s), None, None) if record.redeemed.is_none() => {
                self.add_session(origin, s, newest_wins)
            }
            (None, Some(e), None) if record.redeemed.is_none() => {
                self.add_ended(origin, e, newest_wins)
            }
            (None, None, Some(r)) if record.redeemed.is_none() => {
                let (expires_at, id) = r.entry(origin)?;
                self.put_redeemed(id, expires_at);
                Ok(())
            }
            _ => Err(origin.invalid(
                "",
                "expected a header, a session, an ended session or a redeemed token",
            )),
        }
    }

    /// Adds one piece of a version 3 snapshot (see `binary`), as
    /// [`crate::SessionStore::snapshot_pieces`] wrote it; the first holds the
    /// header. With `newest_wins` (the pieces of a snapshot taken across turns
    /// while sessions changed, where one that moved in the table is met twice) a
    /// later image of a session replaces an earlier one; without it, a session
    /// that appears twice is refused.
    pub fn add_piece(&mut self, bytes: &[u8], newest_wins: bool) -> Result<(), SessionError> {
        self.pieces += 1;
        let piece = self.pieces;
        // This piece's metadata values, by number.
        let mut metadata: Vec<Arc<Metadata>> = Vec::new();
        let (mut rest, mut record) = (bytes, 0);
        while !rest.is_empty() {
            record += 1;
            let origin = Origin::Piece { piece, record };
            let (read, next) =
                binary::take(rest).map_err(|(field, why)| origin.invalid(&field, why))?;
            rest = next;
            match read {
                Record::Header(header) => {
                    if self.binary {
                        return Err(origin.invalid("", "a second header"));
                    }
                    if header.format != SNAPSHOT_FORMAT {
                        return Err(
                            origin.invalid("format", format!("expected {SNAPSHOT_FORMAT:?}"))
                        );
                    }
                    if header.version != BINARY_VERSION {
                        return Err(origin.invalid(
                            "version",
                            format!(
                                "{} is not a snapshot version this build reads in pieces ({BINARY_VERSION})",
                                header.version
                            ),
                        ));
                    }
                    origin.time("takenAt", header.taken_at)?;
                    self.binary = true;
                }
                _ if !self.binary => {
                    return Err(origin.invalid("", "expected the header of a version 3 snapshot"))
                }
                Record::Metadata(text) => metadata.push(self.metadata_text(text)),
                Record::Session(s) => {
                    let session = validate::live(origin, s.fields(&metadata), &mut self.strings)?;
                    self.put(origin, session, newest_wins)?;
                }
                Record::Ended(e) => {
                    let (fields, end) = e.fields(&metadata);
                    let session = validate::ended(origin, fields, end, &mut self.strings)?;
                    self.put(origin, session, newest_wins)?;
                }
                Record::Redeemed(r) => {
                    origin.time("expiresAt", r.expires_at)?;
                    self.put_redeemed(r.id, r.expires_at);
                }
            }
        }
        Ok(())
    }

    /// Adds a version 1 document's records (`line`: the line that held it).
    pub(crate) fn add_document(
        &mut self,
        line: Option<usize>,
        sessions: Vec<SessionRecord>,
        ended: Vec<EndedRecord>,
        redeemed: Vec<RedeemedRecord>,
        newest_wins: bool,
    ) -> Result<(), SessionError> {
        let origin = |list, index| Origin::Doc { line, list, index };
        for (i, s) in sessions.into_iter().enumerate() {
            self.add_session(origin("sessions", i), s, newest_wins)?;
        }
        for (i, e) in ended.into_iter().enumerate() {
            self.add_ended(origin("ended", i), e, newest_wins)?;
        }
        for (i, r) in redeemed.into_iter().enumerate() {
            let (expires_at, id) = r.entry(origin("redeemed", i))?;
            self.put_redeemed(id, expires_at);
        }
        Ok(())
    }

    fn add_session(
        &mut self,
        origin: Origin,
        r: SessionRecord,
        newest_wins: bool,
    ) -> Result<(), SessionError> {
        let session = with_fields(r, &mut self.metadata, &mut self.recent, |fields| {
            validate::live(origin, fields, &mut self.strings)
        })?;
        self.put(origin, session, newest_wins)
    }

    fn add_ended(
        &mut self,
        origin: Origin,
        e: EndedRecord,
        newest_wins: bool,
    ) -> Result<(), SessionError> {
        let end = EndIn {
            reason: e.reason,
            ended_at: e.ended_at,
            renewed_to: e.renewed_to.as_deref().map(IdIn::Text),
        };
        let session = with_fields(e.session, &mut self.metadata, &mut self.recent, |fields| {
            validate::ended(origin, fields, end, &mut self.strings)
        })?;
        self.put(origin, session, newest_wins)
    }

    /// Stages a checked session; see `add` for `newest_wins`.
    fn put(
        &mut self,
        origin: Origin,
        session: Session,
        newest_wins: bool,
    ) -> Result<(), SessionError> {
        let hash = self.hasher.hash_id(&session.id);
        let records = &self.records;
        // One probe finds the ID or the place for it.
        let entry = self.by_id.entry(
            hash,
            |&(h, at)| {
                h == hash
                    && records
                        .get(at)
                        .and_then(Option::as_ref)
                        .is_some_and(|r| r.id == session.id)
            },
            |&(h, _)| h,
        );
        match entry {
            Entry::Occupied(found) => {
                if !newest_wins {
                    let field = if session.end.is_some() {
                        "session.id"
                    } else {
                        "id"
                    };
                    return Err(origin.invalid(field, "appears twice in the snapshot"));
                }
                let (_, at) = *found.get();
                if let (Some(record), Some(from)) =
                    (self.records.get_mut(at), self.origins.get_mut(at))
                {
                    (*record, *from) = (Some(session), origin);
                }
            }
            Entry::Vacant(place) => {
                place.insert((hash, self.records.len()));
                self.records.push(Some(session));
                self.origins.push(origin);
            }
        }
        Ok(())
    }

    /// A redeemed token: the same ID twice (a journal record and a snapshot)
    /// keeps the later expiry (they are one token, so they are equal).
    fn put_redeemed(&mut self, id: TokenId, expires_at: u64) {
        let at = self.redeemed.entry(id).or_insert(expires_at);
        *at = (*at).max(expires_at);
    }

    /// The checked metadata value whose JSON text is `text`.
    fn metadata_text(&mut self, text: &str) -> Arc<Metadata> {
        if let Some(checked) = self.metadata.get(text) {
            return checked.clone();
        }
        let checked = Arc::new(Metadata::check(binary::metadata_value(text)));
        self.metadata.insert(text.to_owned(), checked.clone());
        checked
    }

    /// Checks every staged session's state against the store's limit, and hands
    /// the whole over to be applied.
    pub(crate) fn validate(self, settings: &Settings) -> Result<ValidSnapshot, SessionError> {
        let limit = settings.config.max_state_bytes;
        let staged = self.records.iter().zip(self.origins.iter());
        for (s, origin) in staged.filter_map(|(s, origin)| Some((s.as_ref()?, origin))) {
            let size = s.data.state_bytes;
            if size > limit {
                let field = if s.end.is_some() {
                    "session.state"
                } else {
                    "state"
                };
                let reason = SessionError::StateTooLarge { size, limit }.to_string();
                return Err(origin.invalid(field, reason));
            }
        }
        let mut sessions = self.records;
        // Ended sessions are few: taken out in place (the order does not matter,
        // `apply` sorts both), so a large restore holds its sessions once.
        let ended = sessions
            .iter_mut()
            .filter_map(|s| s.take_if(|s| s.end.is_some()))
            .collect();
        Ok(ValidSnapshot {
            sessions,
            ended,
            redeemed: self
                .redeemed
                .into_iter()
                .map(|(id, expires_at)| (expires_at, id))
                .collect(),
        })
    }
}

/// Calls `check` with the fields of a JSON record, its metadata shared through
/// `metadata` (by JSON text) and `recent`.
fn with_fields<T>(
    r: SessionRecord,
    metadata: &mut BTreeMap<String, Arc<Metadata>>,
    recent: &mut Vec<(Value, Arc<Metadata>)>,
    check: impl FnOnce(Fields<'_>) -> Result<T, SessionError>,
) -> Result<T, SessionError> {
    let mut shared = |value: Value| {
        if let Some((_, checked)) = recent.iter().find(|(seen, _)| same(seen, &value)) {
            return checked.clone();
        }
        let text = value.to_string();
        let checked = match metadata.get(&text) {
            Some(checked) => checked.clone(),
            None => {
                let checked = Arc::new(Metadata::check(Ok(value.clone())));
                metadata.insert(text, checked.clone());
                checked
            }
        };
        recent.truncate(RECENT_METADATA - 1);
        recent.insert(0, (value, checked.clone()));
        checked
    };
    let fields = Fields {
        id: IdIn::Text(&r.id),
        kind: r.kind.unwrap_or_default(),
        phase: r.phase,
        principal: r.principal.as_deref(),
        protocol_version: &r.protocol_version,
        client_info: r.client_info.map(|v| shared(v).client_info()),
        capabilities: r.capabilities.map(|v| shared(v).capabilities()),
        state: Ok(r.state),
        version: r.version,
        created_at: r.created_at,
        last_activity: r.last_activity,
        idle_timeout_ms: r.idle_timeout_ms,
    };
    check(fields)
}

/// True if two values are written out as the same JSON text: equal, with a
/// number's sign of zero told apart too (`0.0` and `-0.0` are equal numbers).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((k, x), (l, y))| k == l && same(x, y))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_are_the_same_when_their_text_is() {
        let a = json!({"name": "x", "v": [1, 2.5, {"z": null}]});
        assert!(same(&a, &a.clone()));
        assert!(!same(
            &a,
            &json!({"name": "x", "v": [1, 2.5, {"z": false}]})
        ));
        assert!(!same(&a, &json!({"name": "x", "w": [1, 2.5, {"z": null}]})));
        assert!(!same(&json!(1), &json!(1.0)));
        // Equal numbers, written differently.
        assert_eq!(json!(0.0), json!(-0.0));
        assert!(!same(&json!({"a": 0.0}), &json!({"a": -0.0})));
    }
}
