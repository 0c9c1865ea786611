//! Version 3 of the snapshot ([`BINARY_VERSION`]): the records of version 2 in a
//! compact binary form, written and read in pieces.
//!
//! JSON spends most of a large snapshot on what does not change from one session
//! to the next: field names, the same client metadata a million times, IDs as hex
//! text, and on a restore one allocation per key and value of all of it. Here a
//! record is a [postcard] value (varint integers, length-prefixed strings, enums as
//! their variant number), chosen because it borrows strings from the input (a
//! record is decoded without allocating), writes into a `Vec` with no
//! intermediate, and has a stable, documented wire format. A piece is a sequence of
//! records, nothing else:
//!
//! - `Header { format, version: 3, takenAt }`: the first record of the first
//!   piece. It is variant 0 in every version, so any reader can tell which
//!   version it was handed.
//! - `Metadata(json)`: a `clientInfo` or `capabilities` value as JSON text, written
//!   once per piece before the first record that uses it. Records of the same
//!   piece refer to it by number (0 for the piece's first, and so on), so a piece
//!   stands alone, and each distinct value is read and checked once.
//! - `Session { id, kind, phase, principal, protocolVersion, clientInfo,
//!   capabilities, state, version, createdAt, lastActivity, idleTimeoutMs }`: an
//!   ID of 32 lowercase hex digits is written as its 16 bytes, any other as text;
//!   the metadata as numbers; the state as JSON text (it is JSON, its size is
//!   what the limits count, and a number reads back exactly).
//! - `Ended { session, reason, endedAt, renewedTo }`.
//! - `Redeemed { expiresAt, id }`: a token ID's 16 bytes.
//!
//! The variant numbers of `Phase`, `RecordKind` and `EndReason` are part of the
//! format: a test below pins a record's bytes.

use std::sync::Arc;

use foldhash::fast::FixedState;
use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{EndReason, SessionError};
use crate::intern::Shared;
use crate::request_state::codec::TokenId;
use crate::session::{Ending, Phase, RecordKind, Session};
use crate::session_id::SessionId;

use super::validate::{EndIn, Fields, IdIn, Metadata};
use super::{BINARY_VERSION, SNAPSHOT_FORMAT};

/// One record of a piece.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Record<'a> {
    #[serde(borrow)]
    Header(Header<'a>),
    Metadata(&'a str),
    #[serde(borrow)]
    Session(SessionBin<'a>),
    #[serde(borrow)]
    Ended(EndedBin<'a>),
    Redeemed(RedeemedBin),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header<'a> {
    pub format: &'a str,
    pub version: u32,
    pub taken_at: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Id<'a> {
    Hex([u8; 16]),
    Text(&'a str),
}

impl<'a> Id<'a> {
    fn of(id: &'a SessionId) -> Self {
        match id {
            SessionId::Hex(bytes) => Id::Hex(*bytes),
            SessionId::Text(text) => Id::Text(text),
        }
    }

    fn read(self) -> IdIn<'a> {
        match self {
            Id::Hex(bytes) => IdIn::Hex(bytes),
            Id::Text(text) => IdIn::Text(text),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionBin<'a> {
    #[serde(borrow)]
    id: Id<'a>,
    kind: RecordKind,
    phase: Phase,
    #[serde(borrow)]
    principal: Option<&'a str>,
    protocol_version: &'a str,
    client_info: Option<u32>,
    capabilities: Option<u32>,
    state: &'a str,
    version: u64,
    created_at: u64,
    last_activity: u64,
    idle_timeout_ms: Option<u64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EndedBin<'a> {
    #[serde(borrow)]
    session: SessionBin<'a>,
    reason: EndReason,
    ended_at: u64,
    #[serde(borrow)]
    renewed_to: Option<Id<'a>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RedeemedBin {
    pub expires_at: u64,
    pub id: TokenId,
}

impl<'a> SessionBin<'a> {
    /// The fields to check, the metadata numbers looked up in the piece's values.
    pub fn fields(self, metadata: &[Arc<Metadata>]) -> Fields<'a> {
        let value = |number: u32, as_field: fn(&Metadata) -> Result<Arc<Shared>, String>| {
            usize::try_from(number)
                .ok()
                .and_then(|i| metadata.get(i))
                .map_or_else(
                    || Err(format!("refers to value {number}, not among its piece's")),
                    |m| as_field(m),
                )
        };
        Fields {
            id: self.id.read(),
            kind: self.kind,
            phase: self.phase,
            principal: self.principal,
            protocol_version: self.protocol_version,
            client_info: self.client_info.map(|n| value(n, Metadata::client_info)),
            capabilities: self.capabilities.map(|n| value(n, Metadata::capabilities)),
            state: state_value(self.state),
            version: self.version,
            created_at: self.created_at,
            last_activity: self.last_activity,
            idle_timeout_ms: self.idle_timeout_ms,
        }
    }
}

impl<'a> EndedBin<'a> {
    pub fn fields(self, metadata: &[Arc<Metadata>]) -> (Fields<'a>, EndIn<'a>) {
        let end = EndIn {
            reason: self.reason,
            ended_at: self.ended_at,
            renewed_to: self.renewed_to.map(Id::read),
        };
        (self.session.fields(metadata), end)
    }
}

/// A state's JSON text, read. The empty object (the state of every session that
/// never set one) is made without running the parser.
fn state_value(text: &str) -> Result<Value, String> {
    if text == "{}" {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// Reads the record at the start of `bytes`: the record and the bytes after it,
/// or the field that could not be read (as a snapshot error names it) and why.
pub(crate) fn take(bytes: &[u8]) -> Result<(Record<'_>, &[u8]), (String, String)> {
    postcard::take_from_bytes(bytes).map_err(|_| explain(bytes))
}

/// Why the record at the start of `bytes` cannot be read, and in which field:
/// read again, tracking the path, only once it failed.
fn explain(bytes: &[u8]) -> (String, String) {
    let mut reader = postcard::Deserializer::from_bytes(bytes);
    match serde_path_to_error::deserialize::<_, Record<'_>>(&mut reader) {
        Ok(_) => (String::new(), "unreadable record".to_owned()),
        Err(e) => {
            let field = field_name(e.path());
            let reason = match e.into_inner() {
                postcard::Error::DeserializeUnexpectedEnd => "the piece ends inside it".to_owned(),
                other => other.to_string(),
            };
            (field, reason)
        }
    }
}

/// The fields of each record, in their order on the wire (postcard writes a
/// struct as its fields in order, so a path through one is of field numbers).
const HEADER_FIELDS: &[&str] = &["format", "version", "takenAt"];
const SESSION_FIELDS: &[&str] = &[
    "id",
    "kind",
    "phase",
    "principal",
    "protocolVersion",
    "clientInfo",
    "capabilities",
    "state",
    "version",
    "createdAt",
    "lastActivity",
    "idleTimeoutMs",
];
const ENDED_FIELDS: &[&str] = &["session", "reason", "endedAt", "renewedTo"];
const REDEEMED_FIELDS: &[&str] = &["expiresAt", "id"];

/// A path through a record as a snapshot error names the field (`session.state`).
fn field_name(path: &serde_path_to_error::Path) -> String {
    let mut fields: &[&str] = &[];
    let mut name = Vec::new();
    for segment in path {
        match segment {
            // postcard names a variant by its number (see `Record`).
            serde_path_to_error::Segment::Enum { variant } => {
                fields = match variant.as_str() {
                    "0" => HEADER_FIELDS,
                    "2" => SESSION_FIELDS,
                    "3" => ENDED_FIELDS,
                    "4" => REDEEMED_FIELDS,
                    _ => &[],
                };
            }
            serde_path_to_error::Segment::Seq { index } => {
                let Some(field) = fields.get(*index) else {
                    break;
                };
                name.push(*field);
                fields = if *field == "session" {
                    SESSION_FIELDS
                } else {
                    &[]
                };
            }
            _ => break,
        }
    }
    name.join(".")
}

/// Writes one piece.
pub(crate) struct PieceWriter {
    out: Vec<u8>,
    /// The numbers of the metadata values this piece holds, by the address of the
    /// store's shared copy (the store is not changed while a piece is written).
    numbers: HashMap<usize, u32, FixedState>,
    /// A session's state as JSON text, reused from one session to the next.
    state: Vec<u8>,
}

impl PieceWriter {
    pub fn new(capacity: usize) -> Self {
        PieceWriter {
            out: Vec::with_capacity(capacity),
            numbers: HashMap::default(),
            state: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    pub fn finish(self) -> Vec<u8> {
        self.out
    }

    pub fn header(&mut self, taken_at: u64) -> Result<(), SessionError> {
        self.write(&Record::Header(Header {
            format: SNAPSHOT_FORMAT,
            version: BINARY_VERSION,
            taken_at,
        }))
    }

    /// A live session, as active last at `last_activity` (see
    /// `SessionRecord::from_session`).
    pub fn session(&mut self, session: &Session, last_activity: u64) -> Result<(), SessionError> {
        let client_info = self.metadata(session.data.client_info.as_ref())?;
        let capabilities = self.metadata(session.data.capabilities.as_ref())?;
        let mut state = std::mem::take(&mut self.state);
        let record = record(
            session,
            last_activity,
            client_info,
            capabilities,
            &mut state,
        )
        .and_then(|record| self.write(&Record::Session(record)));
        self.state = state;
        record
    }

    pub fn ended(&mut self, session: &Session, end: &Ending) -> Result<(), SessionError> {
        let client_info = self.metadata(session.data.client_info.as_ref())?;
        let capabilities = self.metadata(session.data.capabilities.as_ref())?;
        let mut state = std::mem::take(&mut self.state);
        let record = record(
            session,
            session.last_activity,
            client_info,
            capabilities,
            &mut state,
        )
        .and_then(|record| {
            self.write(&Record::Ended(EndedBin {
                session: record,
                reason: end.reason,
                ended_at: end.at,
                renewed_to: end.renewed_to.as_deref().map(Id::of),
            }))
        });
        self.state = state;
        record
    }

    pub fn redeemed(&mut self, expires_at: u64, id: TokenId) -> Result<(), SessionError> {
        self.write(&Record::Redeemed(RedeemedBin { expires_at, id }))
    }

    /// The number of `value` in this piece, written first if it is new here.
    fn metadata(&mut self, value: Option<&Arc<Shared>>) -> Result<Option<u32>, SessionError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let address = Arc::as_ptr(value) as usize;
        if let Some(&number) = self.numbers.get(&address) {
            return Ok(Some(number));
        }
        let number = u32::try_from(self.numbers.len()).map_err(|_| unwritable("metadata"))?;
        let text = value.value.to_string();
        self.write(&Record::Metadata(&text))?;
        self.numbers.insert(address, number);
        Ok(Some(number))
    }

    fn write(&mut self, record: &Record<'_>) -> Result<(), SessionError> {
        self.out = postcard::to_extend(record, std::mem::take(&mut self.out))
            .map_err(|e| unwritable(&e.to_string()))?;
        Ok(())
    }
}

fn record<'a>(
    session: &'a Session,
    last_activity: u64,
    client_info: Option<u32>,
    capabilities: Option<u32>,
    state: &'a mut Vec<u8>,
) -> Result<SessionBin<'a>, SessionError> {
    state.clear();
    serde_json::to_writer(&mut *state, &session.data.state)
        .map_err(|e| unwritable(&e.to_string()))?;
    let data = &session.data;
    Ok(SessionBin {
        id: Id::of(&session.id),
        kind: session.kind,
        phase: session.phase,
        principal: data.principal.as_deref(),
        protocol_version: &data.protocol_version,
        client_info,
        capabilities,
        state: std::str::from_utf8(state).map_err(|e| unwritable(&e.to_string()))?,
        version: data.version,
        created_at: session.created_at,
        last_activity,
        idle_timeout_ms: session.idle_timeout_ms,
    })
}

fn unwritable(why: &str) -> SessionError {
    SessionError::InvalidState {
        reason: format!("snapshot could not be written: {why}"),
    }
}

/// The JSON text of a metadata value, read: the value, or why it is not one.
pub(crate) fn metadata_value(text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_lists_follow_the_records() {
        // serde_json writes fields in the order postcard does: declared.
        let keys = |json: String| -> Vec<String> {
            let mut keys = Vec::new();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            if let Some(map) = value.as_object() {
                let mut at: Vec<(usize, String)> = map
                    .keys()
                    .map(|k| (json.find(&format!("\"{k}\":")).unwrap(), k.clone()))
                    .collect();
                at.sort();
                keys = at.into_iter().map(|(_, k)| k).collect();
            }
            keys
        };
        let session = Session::sample("s", 1);
        let mut state = Vec::new();
        let record = record(&session, 1, None, None, &mut state).unwrap();
        assert_eq!(
            keys(serde_json::to_string(&record).unwrap()),
            SESSION_FIELDS
        );
        let header = Header {
            format: "f",
            version: 3,
            taken_at: 0,
        };
        assert_eq!(keys(serde_json::to_string(&header).unwrap()), HEADER_FIELDS);
        let ended = EndedBin {
            session: record,
            reason: EndReason::Idle,
            ended_at: 0,
            renewed_to: None,
        };
        assert_eq!(keys(serde_json::to_string(&ended).unwrap()), ENDED_FIELDS);
        let redeemed = RedeemedBin {
            expires_at: 0,
            id: [0; 16],
        };
        assert_eq!(
            keys(serde_json::to_string(&redeemed).unwrap()),
            REDEEMED_FIELDS
        );
    }

    #[test]
    fn a_record_s_bytes_are_pinned() {
        // The wire format of version 3: changing an enum's variant order or a
        // field's place changes these bytes, and needs a new version.
        let mut session = Session::sample("0123456789abcdef0123456789abcdef", 7);
        session.phase = Phase::Disconnected;
        let end = Ending {
            reason: EndReason::Evicted,
            at: 9,
            renewed_to: None,
        };
        let mut piece = PieceWriter::new(0);
        piece.header(300).unwrap();
        piece.redeemed(1, [2; 16]).unwrap();
        piece.ended(&session, &end).unwrap();
        let hex: String = piece.finish().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                // Header: format, version 3, takenAt 300.
                "00",
                "19",
                "6d63702d73657373696f6e2d636f72652f736e617073686f74",
                "03",
                "ac02",
                // Redeemed: expiresAt 1, the ID's 16 bytes.
                "04",
                "01",
                "02020202020202020202020202020202",
                // Ended: a hex ID's 16 bytes, kind session, phase disconnected, no
                // principal, protocol version, no metadata, state `{}`, version 0,
                // createdAt 0, lastActivity 7, no idle timeout; evicted at 9, not renewed.
                "03",
                "00",
                "0123456789abcdef0123456789abcdef",
                "00",
                "02",
                "00",
                "0a",
                "323032352d30362d3138",
                "00",
                "00",
                "02",
                "7b7d",
                "00",
                "00",
                "07",
                "00",
                "05",
                "09",
                "00",
            )
        );
    }
}
