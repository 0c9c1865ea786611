//! The session store as JS sees it (`SessionCore`): each method reads its arguments
//! (see `convert`), calls the core and converts the answer; a core error is thrown
//! with `?` (see `error`).

use mcp_session_core::json::{self, Input};
use mcp_session_core::{
    Admission, CreateParams, EndReason, InsecureSeededIds, Named, Phase, RequestHead, RequestKind,
    SessionError, SessionRef, SessionStore, Staging, Status, MAX_SESSION_ID_BYTES, MAX_TIME_MS,
};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::convert::{
    create_params, json_text, named_times, output, read_config, read_state, time, version, walk,
    whole,
};
use crate::error::JsResult;

/// The session store, as JS sees it.
#[wasm_bindgen(js_name = SessionCore)]
pub struct WasmSessionStore {
    pub(crate) store: SessionStore,
    /// Where `lookup` leaves a session's numbers for JS to read in place: one call
    /// answers them all without building an object.
    scratch: Box<Scratch>,
    /// Where the create calls leave the new ID's text (visible ASCII) for JS to
    /// read in place: cheaper than returning a string through the glue.
    id_text: Box<[u8; MAX_SESSION_ID_BYTES]>,
    /// Strings JS registered once and then names by number (client IDs, capability
    /// lists): a create in the seed's shape passes no string at all.
    texts: Vec<String>,
    /// A restore read line by line (`restoreBegin` .. `restoreCommit`).
    staging: Option<Staging>,
    /// Where the next `snapshotRecords` piece starts; none when the last was the end.
    snapshot_next: Option<usize>,
}

/// The request kinds by the number `beginRequest` takes for each (a number, not a
/// string, on the hot path of every request); `requestKinds()` tells JS this order.
pub const REQUEST_KINDS: [RequestKind; 3] = [
    RequestKind::Initialize,
    RequestKind::Initialized,
    RequestKind::Other,
];

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

/// A status's number in the scratch area: the live phases, then how an ended
/// session ended, each in the order of `Phase::ALL` and `EndReason::ALL`
/// (`lookupStatuses()` tells JS which number is which).
fn status_code(status: Status) -> f64 {
    match status {
        Status::Live(phase) => f64::from(phase as u8),
        Status::Ended(reason) => (Phase::ALL.len() + reason as usize) as f64,
    }
}

/// Every status by its number (see [`status_code`]): the phase of a live session or
/// why an ended one ended.
pub fn statuses() -> Vec<(Option<Phase>, Option<EndReason>)> {
    let live = Phase::ALL.into_iter().map(|phase| (Some(phase), None));
    let ended = EndReason::ALL
        .into_iter()
        .map(|reason| (None, Some(reason)));
    live.chain(ended).collect()
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
        let store = SessionStore::new(read_config(&config)?)?;
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
        let store = SessionStore::with_id_source(read_config(&config)?, ids)?;
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
        output(&self.store.create(params, now)?)
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
        Ok(self.store.create_id(params, now)?)
    }

    /// `createId` taking the parameters as JSON text, which the TypeScript layer
    /// makes with `JSON.stringify` in JS: cheaper than calling out to it from here.
    /// The new ID is left at `idTextPtr`, its length answered.
    #[wasm_bindgen(js_name = createIdFromJson)]
    pub fn create_id_from_json(&mut self, params: Option<String>, now: f64) -> JsResult<u32> {
        let now = time(now)?;
        let id = match params {
            Some(text) => self.store.create_id_json(&text, now),
            None => self.store.create_id(CreateParams::default(), now),
        }?;
        Ok(self.id_out(&id))
    }

    /// `createId` for the seed API's shape without JSON: see
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
        let named = Named {
            principal: principal.as_deref(),
            client_id: client_id.as_deref(),
            capability_names: capability_names.as_deref(),
            idle_timeout_ms,
        };
        let id = self.store.create_id_named(named, now)?;
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
                None => {
                    Err(SessionError::invalid_argument(argument, "is not a registered text").into())
                }
            }
        };
        let named = Named {
            principal: principal.as_deref(),
            client_id: text(client_id, "clientId")?,
            capability_names: text(capability_names, "capabilities")?,
            idle_timeout_ms,
        };
        let id = self.store.create_id_named(named, now)?;
        Ok(self.id_out(&id))
    }

    /// Where the create calls leave the new ID's bytes.
    #[wasm_bindgen(js_name = idTextPtr)]
    pub fn id_text_ptr(&self) -> u32 {
        self.id_text.as_ptr() as usize as u32
    }

    pub fn initialized(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.initialized(id, now)?)
    }

    /// The per-request gate, on the hot path of every request, so it takes plain
    /// arguments and answers a number instead of building objects: `kind` is the
    /// kind's number, its place in [`REQUEST_KINDS`] (`requestKinds()`); the answer
    /// is 0 (an `initialize` without a session: create one) or 1 (admitted,
    /// counted in flight until `endRequest`).
    #[wasm_bindgen(js_name = beginRequest, unchecked_return_type = "0 | 1")]
    pub fn begin_request(
        &mut self,
        session_id: Option<String>,
        principal: Option<String>,
        kind: u8,
        protocol_version: Option<String>,
        now: f64,
    ) -> JsResult<u32> {
        let now = time(now)?;
        let Some(&kind) = REQUEST_KINDS.get(usize::from(kind)) else {
            return Err(SessionError::invalid_argument(
                "kind",
                "is not the number of a request kind (see requestKinds)",
            )
            .into());
        };
        let head = RequestHead {
            session_id: session_id.as_deref(),
            principal: principal.as_deref(),
            kind,
            protocol_version: protocol_version.as_deref(),
        };
        match self.store.begin_request(&head, now)? {
            Admission::Initialize => Ok(0),
            Admission::Admitted { .. } => Ok(1),
        }
    }

    #[wasm_bindgen(js_name = endRequest)]
    pub fn end_request(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.end_request(id, now)?)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn get(&mut self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.get(id, now)?)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn peek(&self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.peek(id, now)?)
    }

    #[wasm_bindgen(unchecked_return_type = "Lookup")]
    pub fn find(&mut self, id: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.find(id, now)?)
    }

    /// `find` without a copy: the session's slot (its numbers written to the
    /// scratch area at `scratchPtr`), or -1 when no session has this ID (an ID no
    /// session could have included). Touches a live session, as `find`.
    pub fn lookup(&mut self, id: &str, now: f64) -> JsResult<f64> {
        let now = time(now)?;
        if mcp_session_core::check_session_id(id).is_err() {
            return Ok(-1.0);
        }
        let Some(found) = self.store.find_ref(id, now)? else {
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
            .map_err(|e| SessionError::invalid_argument("state", e.to_string()))?;
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
        let text = serde_json::to_string(&metadata)
            .map_err(|e| SessionError::invalid_argument("metadata", e.to_string()))?;
        Ok(Some(text))
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView[]")]
    pub fn list(&self, now: f64) -> JsResult<JsValue> {
        output(&self.store.list(time(now)?)?)
    }

    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self, now: f64) -> JsResult<JsValue> {
        output(&self.store.stats(time(now)?)?)
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
        let patch = read_state(&patch)?;
        let v = self.store.update_state_owned(id, patch, expected, now)?;
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
        let patch = json::state(patch)?;
        let v = self.store.update_state_owned(id, patch, expected, now)?;
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
        let state = read_state(&state)?;
        let v = self.store.replace_state(id, state, expected, now)?;
        Ok(v as f64)
    }

    pub fn disconnect(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.disconnect(id, now)?)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn resume(&mut self, id: &str, principal: Option<String>, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.resume(id, principal.as_deref(), now)?)
    }

    pub fn close(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.close(id, now)?)
    }

    pub fn expire(&mut self, id: &str, now: f64) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.expire(id, now)?)
    }

    #[wasm_bindgen(js_name = clearAll)]
    pub fn clear_all(&mut self, now: f64) -> JsResult<f64> {
        let n = self.store.clear_all(time(now)?)?;
        Ok(n as f64)
    }

    #[wasm_bindgen(unchecked_return_type = "SessionView")]
    pub fn renew(&mut self, id: &str, principal: Option<String>, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.renew(id, principal.as_deref(), now)?)
    }

    /// A new state handle (MCP 2026-07-28) for `principal` (absent: anonymous),
    /// holding `state` (absent: `{}`).
    #[wasm_bindgen(js_name = createHandle, unchecked_return_type = "HandleView")]
    pub fn create_handle(
        &mut self,
        principal: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "JsonObject | undefined")] state: JsValue,
        now: f64,
    ) -> JsResult<JsValue> {
        let now = time(now)?;
        let state = if state.is_undefined() || state.is_null() {
            None
        } else {
            Some(read_state(&state)?)
        };
        output(&self.store.create_handle(principal.as_deref(), state, now)?)
    }

    /// The live handle `id` of `principal` (a read is use: its idle deadline moves).
    #[wasm_bindgen(js_name = getHandle, unchecked_return_type = "HandleView")]
    pub fn get_handle(
        &mut self,
        id: &str,
        principal: Option<String>,
        now: f64,
    ) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.get_handle(id, principal.as_deref(), now)?)
    }

    /// RFC 7396 merge patch on a handle's state; returns the new version.
    #[wasm_bindgen(js_name = updateHandle)]
    pub fn update_handle(
        &mut self,
        id: &str,
        principal: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "Json")] patch: JsValue,
        #[wasm_bindgen(js_name = "expectedVersion")] expected_version: Option<f64>,
        now: f64,
    ) -> JsResult<f64> {
        let now = time(now)?;
        let expected = version(expected_version)?;
        let patch = read_state(&patch)?;
        let v = self
            .store
            .update_handle(id, principal.as_deref(), patch, expected, now)?;
        Ok(v as f64)
    }

    /// Replaces a handle's whole state; returns the new version.
    #[wasm_bindgen(js_name = replaceHandleState)]
    pub fn replace_handle_state(
        &mut self,
        id: &str,
        principal: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "JsonObject")] state: JsValue,
        #[wasm_bindgen(js_name = "expectedVersion")] expected_version: Option<f64>,
        now: f64,
    ) -> JsResult<f64> {
        let now = time(now)?;
        let expected = version(expected_version)?;
        let state = read_state(&state)?;
        let v = self
            .store
            .replace_handle_state(id, principal.as_deref(), state, expected, now)?;
        Ok(v as f64)
    }

    #[wasm_bindgen(js_name = destroyHandle)]
    pub fn destroy_handle(
        &mut self,
        id: &str,
        principal: Option<String>,
        now: f64,
    ) -> JsResult<()> {
        let now = time(now)?;
        Ok(self.store.destroy_handle(id, principal.as_deref(), now)?)
    }

    /// The live handles of `principal` (absent: the anonymous ones), oldest first.
    #[wasm_bindgen(js_name = listHandles, unchecked_return_type = "HandleView[]")]
    pub fn list_handles(&self, principal: Option<String>, now: f64) -> JsResult<JsValue> {
        output(&self.store.list_handles(principal.as_deref(), time(now)?)?)
    }

    /// Every live handle, whoever holds it, oldest first (for operators).
    #[wasm_bindgen(js_name = listAllHandles, unchecked_return_type = "HandleView[]")]
    pub fn list_all_handles(&self, now: f64) -> JsResult<JsValue> {
        output(&self.store.all_handles(time(now)?)?)
    }

    #[wasm_bindgen(unchecked_return_type = "Expiry[]")]
    pub fn sweep(&mut self, now: f64) -> JsResult<JsValue> {
        output(&self.store.sweep(time(now)?)?)
    }

    /// `sweep` answering only the IDs, one string with a newline after each (IDs
    /// are visible ASCII, so never contain one): a sweep that ends thousands of
    /// sessions crosses the boundary once instead of building an object for each.
    /// With `limit`, it ends at most that many (a timer's batch).
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
        }?;
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
        let kinds = json::event_kinds(&json_text(&kinds, Input::EventKinds)?)?;
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
        Ok(self.store.snapshot(time(now)?)?)
    }

    /// A snapshot of just these sessions (live or ended), for journals.
    pub fn export(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
        now: f64,
    ) -> JsResult<String> {
        let now = time(now)?;
        let ids = json::session_ids(&json_text(&ids, Input::SessionIds)?)?;
        Ok(self.store.export(&ids, now)?)
    }

    /// Takes records fetched from a shared store in place of local copies, and
    /// drops the copies of the other `ids` (see the core's `shared` module).
    #[wasm_bindgen(unchecked_return_type = "RestoreReport")]
    pub fn adopt(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
        text: &str,
        now: f64,
    ) -> JsResult<JsValue> {
        let now = time(now)?;
        let ids = json::session_ids(&json_text(&ids, Input::SessionIds)?)?;
        output(&self.store.adopt(&ids, text, now)?)
    }

    /// Drops the local copies of `ids` (working copies of a shared store).
    pub fn release(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] ids: JsValue,
    ) -> JsResult<()> {
        let ids = json::session_ids(&json_text(&ids, Input::SessionIds)?)?;
        Ok(self.store.release(&ids)?)
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
        Ok(self.store.journal_export(time(now)?)?)
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
        Ok(self.store.activity_export(time(now)?)?)
    }

    #[wasm_bindgen(js_name = activityCommit)]
    pub fn activity_commit(&mut self) {
        self.store.activity_commit();
    }

    /// Starts a restore read line by line (see `Staging`); a restore already
    /// started is dropped.
    #[wasm_bindgen(js_name = restoreBegin)]
    pub fn restore_begin(&mut self) {
        self.staging = Some(Staging::default());
    }

    /// Adds one line to the restore begun; with `newestWins` (journal records) a
    /// later image of a session replaces an earlier one.
    #[wasm_bindgen(js_name = restoreAdd)]
    pub fn restore_add(&mut self, line: &str, newest_wins: bool) -> JsResult<()> {
        match self.staging.as_mut() {
            Some(staging) => Ok(staging.add(line, newest_wins)?),
            None => {
                Err(SessionError::invalid_argument("restore", "restoreBegin was not called").into())
            }
        }
    }

    /// Adds one piece of a version 3 snapshot (as `snapshotPieces` gave it) to the
    /// restore begun; with `newestWins` (a snapshot taken across turns) a later
    /// image of a session replaces an earlier one.
    #[wasm_bindgen(js_name = restoreAddPiece)]
    pub fn restore_add_piece(&mut self, piece: &[u8], newest_wins: bool) -> JsResult<()> {
        match self.staging.as_mut() {
            Some(staging) => Ok(staging.add_piece(piece, newest_wins)?),
            None => {
                Err(SessionError::invalid_argument("restore", "restoreBegin was not called").into())
            }
        }
    }

    /// Validates and applies the lines added (all or nothing), as `restore` does.
    #[wasm_bindgen(js_name = restoreCommit, unchecked_return_type = "RestoreReport")]
    pub fn restore_commit(&mut self, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        let Some(staging) = self.staging.take() else {
            return Err(
                SessionError::invalid_argument("restore", "restoreBegin was not called").into(),
            );
        };
        output(&self.store.restore_staged(staging, now)?)
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
        let (now, from, max_bytes) = walk(now, from, max_bytes)?;
        let (piece, next) = self.store.snapshot_records(now, from, max_bytes)?;
        self.snapshot_next = next;
        Ok(piece)
    }

    /// A piece of the snapshot in version 3, binary (see
    /// `SessionStore::snapshot_pieces`), as `snapshotRecords` gives lines; where the
    /// next starts is then `snapshotNext()`.
    #[wasm_bindgen(js_name = snapshotPieces)]
    pub fn snapshot_pieces(&mut self, now: f64, from: f64, max_bytes: f64) -> JsResult<Vec<u8>> {
        let (now, from, max_bytes) = walk(now, from, max_bytes)?;
        let (piece, next) = self.store.snapshot_pieces(now, from, max_bytes)?;
        self.snapshot_next = next;
        Ok(piece)
    }

    /// Where the next `snapshotRecords` or `snapshotPieces` piece starts, or -1
    /// after the last.
    #[wasm_bindgen(js_name = snapshotNext)]
    pub fn snapshot_next(&self) -> f64 {
        self.snapshot_next.map_or(-1.0, |n| n as f64)
    }

    #[wasm_bindgen(unchecked_return_type = "RestoreReport")]
    pub fn restore(&mut self, text: &str, now: f64) -> JsResult<JsValue> {
        let now = time(now)?;
        output(&self.store.restore(text, now)?)
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
            id_text: Box::new([0; MAX_SESSION_ID_BYTES]),
            texts: Vec::new(),
            staging: None,
            snapshot_next: None,
        }
    }
}
