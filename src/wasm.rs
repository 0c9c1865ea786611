//! The wasm-bindgen facade: converts between JS values and the core, never decides.
//!
//! Inputs that are JSON-like (config, create parameters, state, patches) cross by
//! `JSON.stringify` inside the engine and `serde_json` here. That keeps a hostile
//! value harmless: a cyclic or absurdly deep object makes `JSON.stringify` throw
//! (caught, and answered as a typed error) and `serde_json` has a recursion limit, so
//! nothing recursive in wasm can overflow the stack. Outputs are plain JS objects
//! (JSON text parsed by the engine), typed by the TypeScript section below.
//!
//! Every error is thrown as a JS `Error` named `SessionError` with `code`,
//! `httpStatus`, `jsonRpcCode` and the variant's details as properties.

use js_sys::{Error as JsError, Object, Reflect, JSON};
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::{
    Admission, Config, CreateParams, EndReason, InsecureSeededIds, Phase, RequestHead, RequestKind,
    SessionError, SessionRef, SessionStore, Status, MAX_TIME_MS,
};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type CapacityPolicy = "reject" | "evict-idlest";

/** Core configuration; every field is optional and has a default. */
export interface CoreConfig {
  initTimeoutMs?: number;
  idleTimeoutMs?: number;
  absoluteLifetimeMs?: number | null;
  maxSessions?: number;
  capacityPolicy?: CapacityPolicy;
  maxSessionsPerPrincipal?: number | null;
  maxStateBytes?: number;
  supportedProtocolVersions?: string[];
  endedRetentionMs?: number;
  maxEndedRemembered?: number;
  maxPendingEvents?: number;
  /** The most sessions one call ends for their deadlines (10,000); the manager's
   * timer ends the rest in later turns of the event loop. */
  sweepBatchSize?: number;
  /** Requests one session may have in flight at once (32); one more is 429. */
  maxInFlightPerSession?: number;
  /** The largest clientInfo, and the largest capabilities, a session keeps (8 KiB). */
  maxClientMetadataBytes?: number;
  /** The most bytes all sessions may hold together (256 MiB; null: no limit). */
  maxTotalBytes?: number | null;
}

export type Phase = "initializing" | "active" | "disconnected";
export type EndReason = "init" | "idle" | "lifetime" | "requested" | "evicted";
export type EndReason = "closed" | EndReason;

export interface CreateParams {
  principal?: string | null;
  /** Set for an MCP `initialize`: the session starts `initializing`. */
  requestedProtocolVersion?: string | null;
  clientInfo?: JsonObject | null;
  /** The seed brief's `clientId`: kept as `clientInfo: { name }` when no `clientInfo` is given. */
  clientId?: string | null;
  /** An MCP capabilities object, or a list of names (the seed brief's form); kept as given. */
  capabilities?: Capabilities | null;
  idleTimeoutMs?: number | null;
  /** The seed brief's name for `idleTimeoutMs`. */
  timeout?: number | null;
  state?: JsonObject | null;
}

/** Client capabilities: the MCP object, or a list of capability names. */
export type Capabilities = JsonObject | string[];

export interface SessionView {
  id: string;
  principal: string | null;
  protocolVersion: string;
  clientInfo: JsonObject | null;
  capabilities: Capabilities | null;
  phase: Phase;
  state: JsonObject;
  version: number;
  createdAt: number;
  lastActivity: number;
  /** null while a request is in flight and no absolute lifetime applies. */
  expiresAt: number | null;
  idleTimeoutMs: number;
  inFlight: number;
}

export interface EndedView {
  id: string;
  principal: string | null;
  protocolVersion: string;
  clientInfo: JsonObject | null;
  capabilities: Capabilities | null;
  state: JsonObject;
  version: number;
  createdAt: number;
  lastActivity: number;
  reason: EndReason;
  endedAt: number;
  renewedTo: string | null;
}

export type Lookup =
  | { status: "live"; session: SessionView }
  | { status: "ended"; session: EndedView }
  | { status: "unknown" };

export type RequestKind = "initialize" | "initialized" | "other";

export interface RequestHead {
  /** The raw `Mcp-Session-Id` header, undefined/null when absent. */
  sessionId?: string | null;
  principal?: string | null;
  kind: RequestKind;
  /** The raw `MCP-Protocol-Version` header, if present. */
  protocolVersion?: string | null;
}

export type Admission = { outcome: "initialize" } | { outcome: "admitted"; phase: Phase };

export interface Expiry { sessionId: string; reason: EndReason; at: number }

export interface Stats {
  live: number;
  initializing: number;
  active: number;
  disconnected: number;
  inFlight: number;
  endedRemembered: number;
  pendingEvents: number;
  droppedEvents: number;
  approximateBytes: number;
  /** What the stored sessions hold, as `maxTotalBytes` counts it. */
  totalBytes: number;
}

export interface RestoreReport {
  restored: number;
  skippedExpired: number;
  refusedExisting: number;
  refusedCapacity: number;
  endedRestored: number;
}

export type CoreEvent =
  | { type: "created"; sessionId: string; phase: Phase; at: number }
  | { type: "initialized"; sessionId: string; at: number }
  | { type: "stateChanged"; sessionId: string; version: number; at: number }
  | { type: "disconnected"; sessionId: string; at: number }
  | { type: "resumed"; sessionId: string; at: number }
  | { type: "closed"; sessionId: string; at: number }
  | { type: "expired"; sessionId: string; reason: EndReason; at: number }
  | { type: "evicted"; sessionId: string; at: number }
  | { type: "restored"; sessionId: string; at: number }
  | { type: "renewed"; sessionId: string; previousSessionId: string; at: number }
  /** A call ended `ended` sessions and stopped at `sweepBatchSize` with more due. */
  | { type: "sweepPaused"; ended: number; at: number };

export type SessionErrorCode =
  | "MISSING_SESSION_ID" | "INVALID_SESSION_ID" | "SESSION_NOT_FOUND" | "SESSION_EXPIRED"
  | "SESSION_CLOSED" | "PRINCIPAL_MISMATCH" | "NOT_INITIALIZED" | "ALREADY_INITIALIZED"
  | "UNSUPPORTED_PROTOCOL_VERSION" | "VERSION_CONFLICT" | "STATE_TOO_LARGE" | "INVALID_STATE"
  | "CAPACITY_EXCEEDED" | "PRINCIPAL_LIMIT_EXCEEDED" | "INVALID_SNAPSHOT" | "INVALID_CONFIG"
  | "INVALID_ARGUMENT" | "ID_SOURCE_FAILED" | "TOO_MANY_REQUESTS" | "NOT_ACCEPTABLE"
  | "UNSUPPORTED_MEDIA_TYPE" | "INVALID_REQUEST" | "STORAGE_LIMIT_EXCEEDED";

/** What a session keeps of a well-formed `initialize` request. */
export interface Handshake {
  protocolVersion: string;
  clientInfo: JsonObject;
  capabilities: JsonObject;
}
"#;

/// The error thrown to JS: an `Error` named `SessionError` carrying the code, the
/// HTTP and JSON-RPC codes and the variant's details (camelCase).
fn js_error(error: SessionError) -> JsValue {
    let js = JsError::new(&error.to_string());
    js.set_name("SessionError");
    let object: &Object = js.as_ref();
    if let Ok(details) = serde_json::to_string(&error).map(|text| JSON::parse(&text)) {
        if let Some(details) = details.ok().as_ref().and_then(|d| d.dyn_ref::<Object>()) {
            Object::assign(object, details);
        }
    }
    let _ = Reflect::set(object, &"code".into(), &error.code().into());
    let _ = Reflect::set(object, &"httpStatus".into(), &error.http_status().into());
    let _ = Reflect::set(object, &"jsonRpcCode".into(), &error.json_rpc_code().into());
    js.into()
}

type JsResult<T> = Result<T, JsValue>;

fn fail<T>(error: SessionError) -> JsResult<T> {
    Err(js_error(error))
}

/// A JS number that must be a whole number from 0 to `max`.
fn whole(value: f64, argument: &str, max: f64) -> JsResult<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= max {
        Ok(value as u64)
    } else {
        fail(SessionError::invalid_argument(
            argument,
            format!("must be a whole number from 0 to {max}, got {value}"),
        ))
    }
}

/// A JS time (ms since the epoch): a whole number from 0 to 2^53 - 1.
fn time(now: f64) -> JsResult<u64> {
    whole(now, "now", MAX_TIME_MS as f64)
}

/// An optional version (`expectedVersion`): undefined/null, or a whole number.
/// The idle timeout and the time of a create in the seed's shape.
fn named_times(idle_timeout_ms: Option<f64>, now: f64) -> JsResult<(Option<u64>, u64)> {
    let idle = idle_timeout_ms
        .map(|ms| whole(ms, "idleTimeoutMs", MAX_TIME_MS as f64))
        .transpose()?;
    Ok((idle, time(now)?))
}

fn version(value: Option<f64>) -> JsResult<Option<u64>> {
    value
        .map(|v| whole(v, "expectedVersion", MAX_TIME_MS as f64))
        .transpose()
}

/// Reads a JSON-like JS value through `JSON.stringify` and `serde_json`; `wrap`
/// turns a failure into the right typed error.
fn json<T: DeserializeOwned>(
    value: &JsValue,
    wrap: impl Fn(String) -> SessionError,
) -> JsResult<T> {
    let text = JSON::stringify(value)
        .map_err(|e| {
            let why = e
                .dyn_ref::<JsError>()
                .map(|e| String::from(e.message()))
                .unwrap_or_else(|| "it cannot be serialized as JSON".into());
            js_error(wrap(why))
        })?
        .as_string()
        .ok_or_else(|| js_error(wrap("it is not a JSON value".into())))?;
    parse_json(&text, wrap)
}

/// Reads JSON text that JS made; errors name the path of the bad field.
fn parse_json<T: DeserializeOwned>(
    text: &str,
    wrap: impl Fn(String) -> SessionError,
) -> JsResult<T> {
    // The plain parser first: tracking the path costs on every call, and is only
    // needed to explain a failure.
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        js_error(wrap(match path.as_str() {
            "." | "" => inner.to_string(),
            path => format!("{path}: {inner}"),
        }))
    })
}

fn state_json<T: DeserializeOwned>(value: &JsValue) -> JsResult<T> {
    json(value, |reason| SessionError::InvalidState { reason })
}

/// Results cross as JSON text parsed by the engine: one string copy and V8's
/// `JSON.parse`, several times faster than building the object property by
/// property across the boundary.
fn output<T: Serialize>(value: &T) -> JsResult<JsValue> {
    let text = serde_json::to_string(value)
        .map_err(|e| js_error(SessionError::invalid_argument("result", e.to_string())))?;
    JSON::parse(&text)
}

fn create_params(value: &JsValue) -> JsResult<CreateParams> {
    if value.is_undefined() || value.is_null() {
        return Ok(CreateParams::default());
    }
    json(value, params_error).map_err(|error| {
        // The whole params could not be serialized: if the state is what JSON cannot
        // hold (a cycle, a BigInt, too deep for the engine), say so as `updateState` does.
        let state = Reflect::get(value, &JsValue::from_str("state")).unwrap_or(JsValue::UNDEFINED);
        match state_json::<serde_json::Value>(&state) {
            Err(state_error) if !state.is_undefined() => state_error,
            _ => error,
        }
    })
}

/// A bad field of create params: `INVALID_STATE` inside the state (as for the
/// state operations), `INVALID_ARGUMENT` elsewhere.
fn params_error(reason: String) -> SessionError {
    if reason.starts_with("state.") || reason.starts_with("state:") {
        SessionError::InvalidState { reason }
    } else {
        SessionError::invalid_argument("params", reason)
    }
}

fn read_config(value: &JsValue) -> JsResult<Config> {
    if value.is_undefined() || value.is_null() {
        return Ok(Config::default());
    }
    json(value, |reason| SessionError::InvalidConfig {
        field: "config".into(),
        reason,
    })
}

/// The session store, as JS sees it.
#[wasm_bindgen(js_name = SessionCore)]
pub struct WasmSessionStore {
    store: SessionStore,
    /// Where `lookup` leaves a session's numbers for JS to read in place: one call
    /// answers them all without building an object.
    scratch: Box<Scratch>,
    /// Where the create calls leave the new ID's text (visible ASCII) for JS to
    /// read in place: cheaper than returning a string through the glue.
    id_text: Box<[u8; crate::MAX_SESSION_ID_BYTES]>,
    /// Strings JS registered once and then names by number (client IDs, capability
    /// lists): a create in the seed's shape passes no string at all.
    texts: Vec<String>,
    /// A restore read line by line (`restoreBegin` .. `restoreCommit`).
    staging: Option<crate::Staging>,
    /// Where the next `snapshotRecords` piece starts; none when the last was the end.
    snapshot_next: Option<usize>,
}

/// How many strings one store registers; past that, JS passes them as strings.
const MAX_TEXTS: usize = 1024;
/// "No string" where a registered string's number goes.
const NO_TEXT: u32 = u32::MAX;

/// The numbers `lookup` writes, read from JS as a `Float64Array` of 8 in this order.
#[repr(C)]
#[derive(Default)]
struct Scratch {
    status: f64,
    order: f64,
    created_at: f64,
    last_activity: f64,
    /// NaN: none.
    expires_at: f64,
    in_flight: f64,
    /// The state's size as JSON text: 2 is the empty state, which JS makes itself.
    state_bytes: f64,
    version: f64,
}

/// Status codes in the scratch area: live phases, then how an ended session ended.
fn status_code(status: Status) -> f64 {
    match status {
        Status::Live(Phase::Initializing) => 0.0,
        Status::Live(Phase::Active) => 1.0,
        Status::Live(Phase::Disconnected) => 2.0,
        Status::Ended(EndReason::Closed) => 3.0,
        Status::Ended(EndReason::Init) => 4.0,
        Status::Ended(EndReason::Idle) => 5.0,
        Status::Ended(EndReason::Lifetime) => 6.0,
        Status::Ended(EndReason::Requested) => 7.0,
        Status::Ended(EndReason::Evicted) => 8.0,
    }
}

/// The metadata of a session, as `metadataText` answers it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'a> {
    principal: Option<&'a str>,
    protocol_version: &'a str,
    client_info: Option<&'a serde_json::Value>,
    capabilities: Option<&'a serde_json::Value>,
    renewed_to: Option<String>,
}

#[wasm_bindgen(js_class = SessionCore)]
impl WasmSessionStore {
    /// A store with secure random IDs (`crypto.getRandomValues`).
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_param_type = "CoreConfig | undefined")] config: JsValue,
    ) -> JsResult<WasmSessionStore> {
        let store = SessionStore::new(read_config(&config)?).map_err(js_error)?;
        Ok(WasmSessionStore::wrap(store))
    }

    /// A store whose IDs are predictable from `seed`: for tests and simulations only.
    #[wasm_bindgen(js_name = withInsecureSeed)]
    pub fn with_insecure_seed(
        #[wasm_bindgen(unchecked_param_type = "CoreConfig | undefined")] config: JsValue,
        seed: f64,
    ) -> JsResult<WasmSessionStore> {
        let seed = whole(seed, "seed", f64::MAX)?;
        let ids = Box::new(InsecureSeededIds::new(seed));
        let store = SessionStore::with_id_source(read_config(&config)?, ids).map_err(js_error)?;
        Ok(WasmSessionStore::wrap(store))
    }

    /// The configuration in force, with every default filled in.
    #[wasm_bindgen(unchecked_return_type = "Required<CoreConfig>")]
    pub fn config(&self) -> JsResult<JsValue> {
        output(self.store.config())
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn create(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "CreateParams | undefined")] params: JsValue,
        now: f64,
    ) -> JsResult<JsValue> {
        let now = time(now)?;
        let params = create_params(&params)?;
        output(&self.store.create(params, now).map_err(js_error)?)
    }

    /// `create` answering only the new session's ID: what `createSession` needs,
    /// without building the whole session object.
    #[wasm_bindgen(js_name = createId)]
    pub fn create_id(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "CreateParams | undefined")] params: JsValue,
        now: f64,
    ) -> JsResult<String> {
        let now = time(now)?;
        let params = create_params(&params)?;
        self.store.create_id(params, now).map_err(js_error)
    }

    /// `createId` taking the parameters as JSON text, which the TypeScript layer
    /// makes with `JSON.stringify` in JS: cheaper than calling out to it from here.
    /// `createId` from JSON text; the new ID is left at `idTextPtr`, its length
    /// answered.
    #[wasm_bindgen(js_name = createIdFromJson)]
    pub fn create_id_from_json(&mut self, params: Option<String>, now: f64) -> JsResult<u32> {
        let now = time(now)?;
        let id = match params {
            Some(text) => self.store.create_id_json(&text, now),
            None => self.store.create_id(CreateParams::default(), now),
        }
        .map_err(js_error)?;
        Ok(self.id_out(&id))
    }

    /// `createId` for the seed brief's shape without JSON: see
    /// `SessionStore::create_id_named` (capability names separated by NUL). The new
    /// ID is left at `idTextPtr`, its length answered.
    #[wasm_bindgen(js_name = createIdNamed)]
    pub fn create_id_named(
        &mut self,
        client_id: Option<String>,
        capability_names: Option<String>,
        principal: Option<String>,
        idle_timeout_ms: Option<f64>,
        now: f64,
    ) -> JsResult<u32> {
        let (idle_timeout_ms, now) = named_times(idle_timeout_ms, now)?;
        let named = crate::Named {
            principal: principal.as_deref(),
            client_id: client_id.as_deref(),
            capability_names: capability_names.as_deref(),
            idle_timeout_ms,
        };
        let id = self.store.create_id_named(named, now).map_err(js_error)?;
        Ok(self.id_out(&id))
    }

    /// Registers `text` for `createIdNamedTexts`: its number, or `NO_TEXT` (2^32 - 1)
    /// when the store holds its limit of registered strings.
    #[wasm_bindgen(js_name = registerText)]
    pub fn register_text(&mut self, text: String) -> u32 {
        if self.texts.len() >= MAX_TEXTS {
            return NO_TEXT;
        }
        self.texts.push(text);
        u32::try_from(self.texts.len() - 1).unwrap_or(NO_TEXT)
    }

    /// `createIdNamed` with the client ID and the capability names given by the
    /// numbers `registerText` answered (`NO_TEXT`: none).
    #[wasm_bindgen(js_name = createIdNamedTexts)]
    pub fn create_id_named_texts(
        &mut self,
        client_id: u32,
        capability_names: u32,
        principal: Option<String>,
        idle_timeout_ms: Option<f64>,
        now: f64,
    ) -> JsResult<u32> {
        let (idle_timeout_ms, now) = named_times(idle_timeout_ms, now)?;
        let text = |n: u32, argument: &str| -> JsResult<Option<&str>> {
            if n == NO_TEXT {
                return Ok(None);
            }
            match self.texts.get(n as usize) {
                Some(text) => Ok(Some(text.as_str())),
                None => fail(SessionError::invalid_argument(
                    argument,
                    "is not a registered text",
                )),
            }
        };
        let named = crate::Named {
            principal: principal.as_deref(),
            client_id: text(client_id, "clientId")?,
            capability_names: text(capability_names, "capabilities")?,
            idle_timeout_ms,
        };
        let id = self.store.create_id_named(named, now).map_err(js_error)?;
        Ok(self.id_out(&id))
    }

    /// Where the create calls leave the new ID's bytes.
    #[wasm_bindgen(js_name = idTextPtr)]
    pub fn id_text_ptr(&self) -> u32 {
        self.id_text.as_ptr() as usize as u32
    }

    pub fn initialized(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        self.store.initialized(id, now).map_err(js_error)
    }

    /// The per-request gate, on the hot path of every request, so it takes plain
    /// arguments and answers a number instead of building objects: `kind` is 0 for
    /// `initialize`, 1 for `notifications/initialized`, 2 for anything else; the
    /// answer is 0 (an `initialize` without a session: create one) or 1 (admitted,
    /// counted in flight until `endRequest`).
    #[wasm_bindgen(js_name = beginRequest, unchecked_return_type = "0 | 1")]
    pub fn begin_request(
        &mut self,
        session_id: Option<String>,
        principal: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "0 | 1 | 2")] kind: u8,
        protocol_version: Option<String>,
        now: f64,
    ) -> JsResult<u32> {
        let now = time(now)?;
        let kind = match kind {
            0 => RequestKind::Initialize,
            1 => RequestKind::Initialized,
            2 => RequestKind::Other,
            _ => {
                return fail(SessionError::invalid_argument(
                    "kind",
                    "must be 0 (initialize), 1 (initialized) or 2 (other)",
                ))
            }
        };
        let head = RequestHead {
            session_id: session_id.as_deref(),
            principal: principal.as_deref(),
            kind,
            protocol_version: protocol_version.as_deref(),
        };
        match self.store.begin_request(&head, now).map_err(js_error)? {
            Admission::Initialize => Ok(0),
            Admission::Admitted { .. } => Ok(1),
        }
    }

    #[wasm_bindgen(js_name = endRequest)]
    pub fn end_request(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        self.store.end_request(id, now).map_err(js_error)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn get(&mut self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.get(id, now).map_err(js_error)?)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn peek(&self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.peek(id, now).map_err(js_error)?)
    }

    #[wasm_bindgen(unchecked_return_type = "Lookup")]
    pub fn find(&mut self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.find(id, now).map_err(js_error)?)
    }

    /// `find` without a copy: the session's slot (its numbers written to the
    /// scratch area at `scratchPtr`), or -1 when no session has this ID (an ID no
    /// session could have included). Touches a live session, as `find`.
    pub fn lookup(&mut self, id: &str, now: f64) -> JsResult<f64> {
        let now = time(now)?;
        if crate::check_session_id(id).is_err() {
            return Ok(-1.0);
        }
        let Some(found) = self.store.find_ref(id, now).map_err(js_error)? else {
            return Ok(-1.0);
        };
        let Some(record) = self.store.record(found) else {
            return Ok(-1.0);
        };
        *self.scratch = Scratch {
            status: status_code(record.status()),
            order: found.order as f64,
            created_at: record.created_at() as f64,
            last_activity: record.last_activity() as f64,
            expires_at: record.expires_at().map_or(f64::NAN, |at| at as f64),
            in_flight: f64::from(record.in_flight()),
            state_bytes: record.state_bytes() as f64,
            version: record.version() as f64,
        };
        Ok(f64::from(found.slot))
    }

    /// Where `lookup` writes (a `Float64Array` of 8 over the module's memory):
    /// status, order, createdAt, lastActivity, expiresAt (NaN: none), inFlight,
    /// stateBytes, version.
    #[wasm_bindgen(js_name = scratchPtr)]
    pub fn scratch_ptr(&self) -> u32 {
        std::ptr::from_ref::<Scratch>(&self.scratch) as usize as u32
    }

    /// The state of the session `lookup` found (slot and order), as JSON text;
    /// undefined if it is no longer stored.
    #[wasm_bindgen(js_name = stateText)]
    pub fn state_text(&self, slot: u32, order: f64) -> JsResult<Option<String>> {
        let order = whole(order, "order", MAX_TIME_MS as f64)?;
        let Some(record) = self.store.record(SessionRef { slot, order }) else {
            return Ok(None);
        };
        let text = serde_json::to_string(record.state())
            .map_err(|e| js_error(SessionError::invalid_argument("state", e.to_string())))?;
        Ok(Some(text))
    }

    /// The principal, protocol version, client info, capabilities and successor of
    /// the session `lookup` found, as JSON text; undefined if no longer stored.
    #[wasm_bindgen(js_name = metadataText)]
    pub fn metadata_text(&self, slot: u32, order: f64) -> JsResult<Option<String>> {
        let order = whole(order, "order", MAX_TIME_MS as f64)?;
        let Some(record) = self.store.record(SessionRef { slot, order }) else {
            return Ok(None);
        };
        let metadata = Metadata {
            principal: record.principal(),
            protocol_version: record.protocol_version(),
            client_info: record.client_info(),
            capabilities: record.capabilities(),
            renewed_to: record.renewed_to(),
        };
        serde_json::to_string(&metadata)
            .map(Some)
            .map_err(|e| js_error(SessionError::invalid_argument("metadata", e.to_string())))
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView[]")]
    pub fn list(&self, now: f64) -> JsResult<JsValue> {
        output(&self.store.list(time(now)?).map_err(js_error)?)
    }

    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self, now: f64) -> JsResult<JsValue> {
        output(&self.store.stats(time(now)?).map_err(js_error)?)
    }

    /// RFC 7396 merge patch; returns the new version.
    #[wasm_bindgen(js_name = updateState)]
    pub fn update_state(
        &mut self,
        id: &str,
        #[wasm_bindgen(unchecked_param_type = "Json")] patch: JsValue,
        #[wasm_bindgen(js_name = "expectedVersion")] expected_version: Option<f64>,
        now: f64,
    ) -> JsResult<f64> {
        let now = time(now)?;
        let expected = version(expected_version)?;
        let patch: serde_json::Value = state_json(&patch)?;
        let v = self
            .store
            .update_state_owned(id, patch, expected, now)
            .map_err(js_error)?;
        Ok(v as f64)
    }

    /// `updateState` with the patch as JSON text made in JS (no call back out of
    /// WebAssembly to serialize it).
    #[wasm_bindgen(js_name = updateStateFromJson)]
    pub fn update_state_from_json(
        &mut self,
        id: &str,
        patch: &str,
        #[wasm_bindgen(js_name = "expectedVersion")] expected_version: Option<f64>,
        now: f64,
    ) -> JsResult<f64> {
        let now = time(now)?;
        let expected = version(expected_version)?;
        let patch: serde_json::Value =
            parse_json(patch, |reason| SessionError::InvalidState { reason })?;
        let v = self
            .store
            .update_state_owned(id, patch, expected, now)
            .map_err(js_error)?;
        Ok(v as f64)
    }

    #[wasm_bindgen(js_name = replaceState)]
    pub fn replace_state(
        &mut self,
        id: &str,
        #[wasm_bindgen(unchecked_param_type = "JsonObject")] state: JsValue,
        #[wasm_bindgen(js_name = "expectedVersion")] expected_version: Option<f64>,
        now: f64,
    ) -> JsResult<f64> {
        let now = time(now)?;
        let expected = version(expected_version)?;
        let state: serde_json::Value = state_json(&state)?;
        let v = self
            .store
            .replace_state(id, state, expected, now)
            .map_err(js_error)?;
        Ok(v as f64)
    }

    pub fn disconnect(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        self.store.disconnect(id, now).map_err(js_error)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn resume(&mut self, id: &str, principal: Option<String>, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(
            &self
                .store
                .resume(id, principal.as_deref(), now)
                .map_err(js_error)?,
        )
    }

    pub fn close(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        self.store.close(id, now).map_err(js_error)
    }

    pub fn expire(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        self.store.expire(id, now).map_err(js_error)
    }

    #[wasm_bindgen(js_name = clearAll)]
    pub fn clear_all(&mut self, now: f64) -> JsResult<f64> {
        let n = self.store.clear_all(time(now)?).map_err(js_error)?;
        Ok(n as f64)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn renew(&mut self, id: &str, principal: Option<String>, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(
            &self
                .store
                .renew(id, principal.as_deref(), now)
                .map_err(js_error)?,
        )
    }

    #[wasm_bindgen(unchecked_return_type = "Expiry[]")]
    pub fn sweep(&mut self, now: f64) -> JsResult<JsValue> {
        output(&self.store.sweep(time(now)?).map_err(js_error)?)
    }

    /// `sweep` answering only the IDs, one string with a newline after each (IDs
    /// are visible ASCII, so never contain one): a sweep that ends thousands of
    /// sessions crosses the boundary once instead of building an object for each.
    /// The IDs a sweep ended, each followed by a newline; with `limit`, at most that
    /// many (a timer's batch).
    #[wasm_bindgen(js_name = sweepIds)]
    pub fn sweep_ids(&mut self, now: f64, limit: Option<f64>) -> JsResult<String> {
        let now = time(now)?;
        let mut ids = String::new();
        let push = |id: &str, _, _| {
            ids.push_str(id);
            ids.push('\n');
        };
        match limit {
            None => self.store.sweep_with(now, push),
            Some(limit) => {
                let limit = whole(limit, "limit", f64::MAX)?;
                let limit = usize::try_from(limit).unwrap_or(usize::MAX);
                self.store.sweep_batch_with(now, limit, push)
            }
        }
        .map_err(js_error)?;
        Ok(ids)
    }

    /// When `sweep` must run next (ms since the epoch), or undefined.
    #[wasm_bindgen(js_name = nextDeadline)]
    pub fn next_deadline(&mut self) -> Option<f64> {
        self.store.next_deadline().map(|at| at as f64)
    }

    /// The earliest deadline if it is before `bound` (any when `bound` is
    /// undefined): what a host with a timer armed at `bound` must re-arm for.
    #[wasm_bindgen(js_name = nextDeadlineBefore)]
    pub fn next_deadline_before(&mut self, bound: Option<f64>) -> JsResult<Option<f64>> {
        let bound = bound.map(time).transpose()?;
        Ok(self.store.next_deadline_before(bound).map(|at| at as f64))
    }

    #[wasm_bindgen(js_name = drainEvents, unchecked_return_type = "CoreEvent[]")]
    pub fn drain_events(&mut self) -> JsResult<JsValue> {
        output(&self.store.drain_events())
    }

    /// Records only these event kinds (`CoreEvent["type"]` names) from now on.
    #[wasm_bindgen(js_name = setEventFilter)]
    pub fn set_event_filter(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "CoreEvent[\"type\"][]")] kinds: JsValue,
    ) -> JsResult<()> {
        let kinds: Vec<crate::EventKind> = json(&kinds, |reason| {
            SessionError::invalid_argument("kinds", reason)
        })?;
        self.store.set_event_filter(&kinds);
        Ok(())
    }

    /// How many events wait to be drained (cheap: lets a host skip `drainEvents`).
    #[wasm_bindgen(js_name = pendingEvents)]
    pub fn pending_events(&self) -> u32 {
        u32::try_from(self.store.pending_events()).unwrap_or(u32::MAX)
    }

    /// The latest time the store has seen.
    pub fn clock(&self) -> f64 {
        self.store.clock() as f64
    }

    pub fn snapshot(&self, now: f64) -> JsResult<String> {
        self.store.snapshot(time(now)?).map_err(js_error)
    }

    /// A snapshot of just these sessions (live or ended), for journals.
    pub fn export(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
        now: f64,
    ) -> JsResult<String> {
        let now = time(now)?;
        let ids: Vec<String> = json(&ids, |reason| SessionError::invalid_argument("ids", reason))?;
        self.store.export(&ids, now).map_err(js_error)
    }

    /// Journals durable changes from now on (see the core's `journal` module).
    #[wasm_bindgen(js_name = setJournaling)]
    pub fn set_journaling(&mut self, on: bool) {
        self.store.set_journaling(on);
    }

    /// Whether journaled changes wait to be committed or reverted.
    #[wasm_bindgen(js_name = journalPending)]
    pub fn journal_pending(&self) -> bool {
        self.store.journal_pending()
    }

    /// The changed sessions' records (an `export` document).
    #[wasm_bindgen(js_name = journalExport)]
    pub fn journal_export(&self, now: f64) -> JsResult<String> {
        self.store.journal_export(time(now)?).map_err(js_error)
    }

    #[wasm_bindgen(js_name = journalCommit)]
    pub fn journal_commit(&mut self) {
        self.store.journal_commit();
    }

    /// Undoes the journaled changes and takes back their events.
    #[wasm_bindgen(js_name = journalRevert)]
    pub fn journal_revert(&mut self) {
        self.store.journal_revert();
    }

    /// The touched live sessions' records, or undefined if none were touched.
    #[wasm_bindgen(js_name = activityExport)]
    pub fn activity_export(&mut self, now: f64) -> JsResult<Option<String>> {
        self.store.activity_export(time(now)?).map_err(js_error)
    }

    #[wasm_bindgen(js_name = activityCommit)]
    pub fn activity_commit(&mut self) {
        self.store.activity_commit();
    }

    /// Starts a restore read line by line (see `Staging`); a restore already
    /// started is dropped.
    #[wasm_bindgen(js_name = restoreBegin)]
    pub fn restore_begin(&mut self) {
        self.staging = Some(crate::Staging::default());
    }

    /// Adds one line to the restore begun; with `newestWins` (journal records) a
    /// later image of a session replaces an earlier one.
    #[wasm_bindgen(js_name = restoreAdd)]
    pub fn restore_add(&mut self, line: &str, newest_wins: bool) -> JsResult<()> {
        match self.staging.as_mut() {
            Some(staging) => staging.add(line, newest_wins).map_err(js_error),
            None => fail(SessionError::invalid_argument(
                "restore",
                "restoreBegin was not called",
            )),
        }
    }

    /// Validates and applies the lines added (all or nothing), as `restore` does.
    #[wasm_bindgen(js_name = restoreCommit, unchecked_return_type = "RestoreReport")]
    pub fn restore_commit(&mut self, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        let Some(staging) = self.staging.take() else {
            return fail(SessionError::invalid_argument(
                "restore",
                "restoreBegin was not called",
            ));
        };
        output(&self.store.restore_staged(staging, now).map_err(js_error)?)
    }

    /// Drops a restore begun.
    #[wasm_bindgen(js_name = restoreAbort)]
    pub fn restore_abort(&mut self) {
        self.staging = None;
    }

    /// A piece of the snapshot as lines (see `SessionStore::snapshot_records`),
    /// starting at slot `from` (0: the first piece, with the header); where the
    /// next starts is then `snapshotNext()`.
    #[wasm_bindgen(js_name = snapshotRecords)]
    pub fn snapshot_records(&mut self, now: f64, from: f64, max_bytes: f64) -> JsResult<String> {
        let now = time(now)?;
        let from = usize::try_from(whole(from, "from", f64::from(u32::MAX))?).unwrap_or(usize::MAX);
        let max_bytes = usize::try_from(whole(max_bytes, "maxBytes", f64::from(u32::MAX))?)
            .unwrap_or(usize::MAX);
        let (piece, next) = self
            .store
            .snapshot_records(now, from, max_bytes)
            .map_err(js_error)?;
        self.snapshot_next = next;
        Ok(piece)
    }

    /// Where the next `snapshotRecords` piece starts, or -1 after the last.
    #[wasm_bindgen(js_name = snapshotNext)]
    pub fn snapshot_next(&self) -> f64 {
        self.snapshot_next.map_or(-1.0, |n| n as f64)
    }

    #[wasm_bindgen(unchecked_return_type = "RestoreReport")]
    pub fn restore(&mut self, text: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.restore(text, now).map_err(js_error)?)
    }
}

impl WasmSessionStore {
    /// Leaves `id` at `idTextPtr` and answers its length.
    fn id_out(&mut self, id: &str) -> u32 {
        let bytes = id.as_bytes();
        let n = bytes.len().min(self.id_text.len());
        for (to, from) in self.id_text.iter_mut().zip(bytes) {
            *to = *from;
        }
        u32::try_from(n).unwrap_or(0)
    }

    fn wrap(store: SessionStore) -> Self {
        WasmSessionStore {
            store,
            scratch: Box::default(),
            id_text: Box::new([0; crate::MAX_SESSION_ID_BYTES]),
            texts: Vec::new(),
            staging: None,
            snapshot_next: None,
        }
    }
}

/// The longest session ID accepted, in bytes.
#[wasm_bindgen(js_name = maxSessionIdBytes)]
pub fn max_session_id_bytes() -> u32 {
    u32::try_from(crate::MAX_SESSION_ID_BYTES).unwrap_or(u32::MAX)
}

/// The module's memory, for reading a store's scratch area in place.
#[wasm_bindgen(js_name = wasmMemory, unchecked_return_type = "{ readonly buffer: ArrayBuffer }")]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// Admission before allocation for an `initialize` POST: the parts a session keeps,
/// or the 406, 415 or 400 the transport would answer (see `admit_initialize`).
#[wasm_bindgen(js_name = admitInitialize, unchecked_return_type = "Handshake")]
pub fn admit_initialize_js(
    accept: Option<String>,
    content_type: Option<String>,
    body: &str,
) -> JsResult<JsValue> {
    let post = crate::InitializePost {
        accept: accept.as_deref(),
        content_type: content_type.as_deref(),
        body,
    };
    output(&crate::admit_initialize(&post).map_err(js_error)?)
}

/// The size of this module's linear memory in bytes: what a leak check watches.
/// WebAssembly memory only grows, so a flat figure under load means no leak.
#[wasm_bindgen(js_name = wasmMemoryBytes)]
pub fn wasm_memory_bytes() -> f64 {
    (core::arch::wasm32::memory_size(0) as f64) * 65_536.0
}
