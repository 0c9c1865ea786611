//! The sealed `requestState` codec as JS sees it (`RequestStateCore`): converts
//! arguments and throws the core's answers, never decides.
//!
//! A refused token is thrown as an `Error` whose message is the reason code alone
//! (`malformed`, `mac`, `expired`, `bind`, `replayed`, `ledger_full`), as the v2
//! SDK's `RequestStateCodec.verify` does, named `RequestStateRefusal` with the code
//! in `reason`. A host mistake (a bad key, config or lifetime) is an `Error` named
//! `RequestStateError` with the code in `code`.

use js_sys::{Error, Reflect};
use mcp_session_core::{
    Binding, CodecConfig, InsecureSeededIds, KeyRing, Opened, Refusal, RequestStateCodec,
    RequestStateError, MAX_TIME_MS,
};
use wasm_bindgen::prelude::*;

use crate::convert::whole;
use crate::store::WasmSessionStore;

fn refusal(reason: Refusal) -> JsValue {
    let js = Error::new(reason.code());
    js.set_name("RequestStateRefusal");
    let _ = Reflect::set(&js, &"reason".into(), &reason.code().into());
    js.into()
}

fn failure(error: &RequestStateError) -> JsValue {
    let js = Error::new(&error.to_string());
    js.set_name("RequestStateError");
    let _ = Reflect::set(&js, &"code".into(), &error.code().into());
    js.into()
}

fn argument(name: &'static str) -> JsValue {
    failure(&RequestStateError::InvalidConfig { field: name })
}

fn key_bytes(key: &[u8]) -> Result<[u8; 32], JsValue> {
    key.try_into().map_err(|_| argument("key (32 bytes)"))
}

fn millis(value: f64, name: &'static str) -> Result<u64, JsValue> {
    whole(value, name, MAX_TIME_MS as f64).map_err(|_| argument(name))
}

fn count(value: Option<f64>, name: &'static str, default: usize) -> Result<usize, JsValue> {
    match value {
        None => Ok(default),
        Some(v) => usize::try_from(millis(v, name)?).map_err(|_| argument(name)),
    }
}

/// Mints and redeems sealed, bound, single-use `requestState` tokens.
#[wasm_bindgen(js_name = RequestStateCore)]
pub struct WasmRequestStateCodec {
    inner: RequestStateCodec,
}

#[wasm_bindgen(js_class = RequestStateCore)]
impl WasmRequestStateCodec {
    /// A codec whose current key is `key` (32 bytes) named `keyId`; nonces and token
    /// IDs from `crypto.getRandomValues`, or from `insecureSeed` (tests only).
    /// Limits left undefined take the core's defaults.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        key_id: &str,
        key: &[u8],
        default_lifetime_ms: Option<f64>,
        max_lifetime_ms: Option<f64>,
        max_payload_bytes: Option<f64>,
        max_ledger_entries: Option<f64>,
        insecure_seed: Option<f64>,
    ) -> Result<WasmRequestStateCodec, JsValue> {
        let d = CodecConfig::default();
        let config = CodecConfig {
            default_lifetime_ms: default_lifetime_ms
                .map(|v| millis(v, "defaultLifetimeMs"))
                .transpose()?
                .unwrap_or(d.default_lifetime_ms),
            max_lifetime_ms: max_lifetime_ms
                .map(|v| millis(v, "maxLifetimeMs"))
                .transpose()?
                .unwrap_or(d.max_lifetime_ms),
            max_payload_bytes: count(max_payload_bytes, "maxPayloadBytes", d.max_payload_bytes)?,
            max_ledger_entries: count(
                max_ledger_entries,
                "maxLedgerEntries",
                d.max_ledger_entries,
            )?,
        };
        let ring = KeyRing::new(key_id, &key_bytes(key)?).map_err(|e| failure(&e))?;
        let inner = match insecure_seed {
            None => RequestStateCodec::new(config, ring),
            Some(seed) => RequestStateCodec::with_id_source(
                config,
                ring,
                Box::new(InsecureSeededIds::new(millis(seed, "insecureSeed")?)),
            ),
        }
        .map_err(|e| failure(&e))?;
        Ok(WasmRequestStateCodec { inner })
    }

    /// Makes `key` the current key; the previous one still opens tokens.
    pub fn rotate(&mut self, key_id: &str, key: &[u8]) -> Result<(), JsValue> {
        let key = key_bytes(key)?;
        self.inner
            .keys_mut()
            .rotate(key_id, &key)
            .map_err(|e| failure(&e))
    }

    /// Adds `key` as an older key, accepted for opening only.
    pub fn accept(&mut self, key_id: &str, key: &[u8]) -> Result<(), JsValue> {
        let key = key_bytes(key)?;
        self.inner
            .keys_mut()
            .accept(key_id, &key)
            .map_err(|e| failure(&e))
    }

    /// Removes an older key: its tokens are refused (`mac`) from now on.
    #[wasm_bindgen(js_name = removeKey)]
    pub fn remove_key(&mut self, key_id: &str) -> Result<(), JsValue> {
        self.inner
            .keys_mut()
            .remove(key_id)
            .map_err(|e| failure(&e))
    }

    /// The key IDs, the current one first.
    #[wasm_bindgen(js_name = keyIds)]
    pub fn key_ids(&self) -> Vec<String> {
        self.inner
            .keys()
            .key_ids()
            .into_iter()
            .map(str::to_owned)
            .collect()
    }

    /// Seals `payload` (text) for `principal` (or anonymous) and `request`.
    pub fn mint(
        &mut self,
        payload: &str,
        principal: Option<String>,
        request: &str,
        lifetime_ms: Option<f64>,
        now: f64,
    ) -> Result<String, JsValue> {
        let binding = bound(&principal, request);
        let lifetime = lifetime_ms.map(|v| millis(v, "lifetimeMs")).transpose()?;
        let now = millis(now, "now")?;
        self.inner
            .mint(payload.as_bytes(), binding, lifetime, now)
            .map_err(|e| failure(&e))
    }

    /// Opens, checks and redeems a token; returns its payload. Throws the reason.
    pub fn redeem(
        &mut self,
        token: &str,
        principal: Option<String>,
        request: &str,
        now: f64,
    ) -> Result<String, JsValue> {
        let binding = bound(&principal, request);
        payload(self.inner.redeem(token, binding, millis(now, "now")?))
    }

    /// Opens, checks and redeems a token in `store`'s ledger (journaled and
    /// snapshotted with its sessions, so single use survives a restart); returns
    /// its payload. Throws the reason.
    #[wasm_bindgen(js_name = redeemIn)]
    pub fn redeem_in(
        &self,
        store: &mut WasmSessionStore,
        token: &str,
        principal: Option<String>,
        request: &str,
        now: f64,
    ) -> Result<String, JsValue> {
        let binding = bound(&principal, request);
        let now = millis(now, "now")?;
        payload(self.inner.redeem_in(token, binding, now, &mut store.store))
    }

    /// Opens and checks a token without redeeming it; returns its payload.
    pub fn open(
        &self,
        token: &str,
        principal: Option<String>,
        request: &str,
        now: f64,
    ) -> Result<String, JsValue> {
        let binding = bound(&principal, request);
        payload(self.inner.open(token, binding, millis(now, "now")?))
    }

    /// The longest token text this codec can have minted.
    #[wasm_bindgen(js_name = maxTokenChars)]
    pub fn max_token_chars(&self) -> u32 {
        u32::try_from(self.inner.max_token_chars()).unwrap_or(u32::MAX)
    }

    /// How many redeemed, unexpired token IDs the ledger holds.
    #[wasm_bindgen(js_name = ledgerSize)]
    pub fn ledger_size(&self) -> u32 {
        u32::try_from(self.inner.ledger().len()).unwrap_or(u32::MAX)
    }
}

/// What a token is bound to, from the JS arguments.
fn bound<'a>(principal: &'a Option<String>, request: &'a str) -> Binding<'a> {
    Binding {
        principal: principal.as_deref(),
        request,
    }
}

/// A checked token's payload as text, or its refusal thrown.
fn payload(opened: Result<Opened, Refusal>) -> Result<String, JsValue> {
    let opened = opened.map_err(refusal)?;
    String::from_utf8(opened.payload).map_err(|_| refusal(Refusal::Malformed))
}
