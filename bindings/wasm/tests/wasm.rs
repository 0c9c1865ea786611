//! The wasm-bindgen facade, exercised inside wasm (`wasm-pack test --node
//! bindings/wasm`): values cross as plain JS objects, errors are JS `Error` objects
//! with their codes, hostile inputs are typed errors, and IDs come from
//! `crypto.getRandomValues`.

#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;

use js_sys::{Array, Error as JsError, Object, Reflect, JSON};
use mcp_session_core_wasm::{
    forbidden_error, lookup_statuses, parse_error, payload_too_large_error, request_kind_of,
    request_kinds, session_ending_events, storage_failed_error, JsResult, WasmRequestStateCodec,
    WasmSessionStore,
};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::*;

const T0: f64 = 1_700_000_000_000.0;

fn obj(json: &str) -> JsValue {
    JSON::parse(json).unwrap()
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap()
}

fn text(value: &JsValue, key: &str) -> String {
    get(value, key).as_string().unwrap_or_default()
}

/// What a method threw, as JS sees it.
fn thrown<T>(result: JsResult<T>) -> JsValue {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(error) => error.into(),
    }
}

fn code_of(error: JsValue) -> String {
    assert!(
        error.is_instance_of::<JsError>(),
        "errors are JS Error objects"
    );
    assert_eq!(
        String::from(error.dyn_ref::<JsError>().unwrap().name()),
        "SessionError"
    );
    text(&error, "code")
}

fn store() -> WasmSessionStore {
    WasmSessionStore::new(obj(r#"{"idleTimeoutMs": 1000, "maxStateBytes": 64}"#)).unwrap()
}

#[wasm_bindgen_test]
fn sessions_cross_as_plain_objects() {
    let mut s = store();
    let view = s
        .create(obj(r#"{"principal": "alice", "state": {"n": 1}}"#), T0)
        .unwrap();
    assert!(view.is_object());
    assert_eq!(text(&view, "principal"), "alice");
    assert_eq!(text(&view, "phase"), "active");
    assert_eq!(get(&view, "expiresAt").as_f64(), Some(T0 + 1000.0));
    assert_eq!(JSON::stringify(&get(&view, "state")).unwrap(), "{\"n\":1}");
    let id = text(&view, "id");
    let version = s.update_state(&id, obj(r#"{"m": 2}"#), Some(0.0), T0 + 1.0);
    assert_eq!(version.unwrap(), 1.0);
    let lookup = s.find(&id, T0 + 2.0).unwrap();
    assert_eq!(text(&lookup, "status"), "live");
    let events = Array::from(&s.drain_events().unwrap());
    let types: Vec<String> = events.iter().map(|e| text(&e, "type")).collect();
    assert_eq!(types, ["created", "stateChanged"]);
    assert_eq!(s.next_deadline(), Some(T0 + 1002.0));
}

#[wasm_bindgen_test]
fn errors_are_js_errors_with_code_status_and_details() {
    let mut s = store();
    let id = text(&s.create(JsValue::UNDEFINED, T0).unwrap(), "id");
    s.update_state(&id, obj("{}"), None, T0).unwrap();
    let conflict = thrown(s.update_state(&id, obj("{}"), Some(0.0), T0));
    assert_eq!(code_of(conflict.clone()), "VERSION_CONFLICT");
    assert_eq!(get(&conflict, "httpStatus").as_f64(), Some(409.0));
    assert_eq!(get(&conflict, "jsonRpcCode").as_f64(), Some(-32000.0));
    assert_eq!(get(&conflict, "expectedVersion").as_f64(), Some(0.0));
    assert_eq!(get(&conflict, "actualVersion").as_f64(), Some(1.0));

    let missing = thrown(s.get("nope", T0));
    assert_eq!(code_of(missing.clone()), "SESSION_NOT_FOUND");
    assert_eq!(get(&missing, "httpStatus").as_f64(), Some(404.0));

    let mut full = WasmSessionStore::new(obj(r#"{"maxSessions": 1}"#)).unwrap();
    full.create(JsValue::UNDEFINED, T0).unwrap();
    let capacity = thrown(full.create(JsValue::UNDEFINED, T0 + 10.0));
    assert_eq!(code_of(capacity.clone()), "CAPACITY_EXCEEDED");
    assert_eq!(
        get(&capacity, "retryAfterMs").as_f64(),
        Some(1_800_000.0 - 10.0)
    );

    let missing_header = thrown(s.begin_request(None, None, 2, None, T0));
    assert_eq!(code_of(missing_header), "MISSING_SESSION_ID");
    assert_eq!(s.begin_request(None, None, 0, None, T0).unwrap(), 0);
    let invalid = thrown(s.begin_request(Some("a b".into()), None, 2, None, T0));
    assert_eq!(code_of(invalid.clone()), "INVALID_SESSION_ID");
    assert_eq!(text(&invalid, "reason"), "invalidCharacter");
    assert_eq!(
        s.begin_request(Some(id.clone()), None, 2, None, T0)
            .unwrap(),
        1
    );
    s.end_request(&id, T0).unwrap();
}

#[wasm_bindgen_test]
fn bad_js_input_is_a_typed_error_never_a_panic() {
    let mut s = store();
    let id = text(&s.create(JsValue::UNDEFINED, T0).unwrap(), "id");
    let id = id.as_str();
    for now in [f64::NAN, f64::INFINITY, -1.0, 1.5, 2f64.powi(60)] {
        assert_eq!(code_of(thrown(s.get(id, now))), "INVALID_ARGUMENT");
    }
    assert_eq!(code_of(thrown(s.get("", T0))), "INVALID_SESSION_ID");
    let bad_version = thrown(s.update_state(id, obj("{}"), Some(-1.0), T0));
    assert_eq!(code_of(bad_version), "INVALID_ARGUMENT");

    // A cyclic object, a deeply nested one, and a non-object state.
    let cyclic = Object::new();
    Reflect::set(&cyclic, &"self".into(), &cyclic).unwrap();
    let err = thrown(s.update_state(id, cyclic.clone().into(), None, T0));
    assert_eq!(code_of(err), "INVALID_STATE");
    let deep = JSON::parse(&format!("{}{}", "[".repeat(5_000), "]".repeat(5_000))).unwrap();
    assert_eq!(
        code_of(thrown(s.update_state(id, deep, None, T0))),
        "INVALID_STATE"
    );
    let array = thrown(s.replace_state(id, obj("[1]"), None, T0));
    assert_eq!(code_of(array), "INVALID_STATE");
    let big = obj(&format!(r#"{{"k": "{}"}}"#, "x".repeat(100)));
    assert_eq!(
        code_of(thrown(s.update_state(id, big, None, T0))),
        "STATE_TOO_LARGE"
    );

    // Create params: the state is read on its own, so a state JSON cannot hold is
    // INVALID_STATE, and anything else wrong is INVALID_ARGUMENT.
    let params = Object::new();
    Reflect::set(&params, &"state".into(), &cyclic).unwrap();
    assert_eq!(
        code_of(thrown(s.create(params.clone().into(), T0))),
        "INVALID_STATE"
    );
    Reflect::set(&params, &"state".into(), &obj("[1]")).unwrap();
    assert_eq!(
        code_of(thrown(s.create(params.into(), T0))),
        "INVALID_STATE"
    );
    let stateless = thrown(s.create(obj(r#"{"stateless": {"a": 1}, "state": {}}"#), T0));
    assert_eq!(code_of(stateless), "INVALID_ARGUMENT");
    let text_params = thrown(s.create("state".into(), T0));
    assert_eq!(code_of(text_params), "INVALID_ARGUMENT");
    let view = s
        .create(obj(r#"{"principal": "p", "state": {"n": 1}}"#), T0)
        .unwrap();
    assert_eq!(JSON::stringify(&get(&view, "state")).unwrap(), "{\"n\":1}");

    let unknown_field = thrown(s.create(obj(r#"{"bogus": 1}"#), T0));
    assert_eq!(code_of(unknown_field), "INVALID_ARGUMENT");
    let fractional = thrown(s.create(obj(r#"{"idleTimeoutMs": 1.5}"#), T0));
    assert_eq!(code_of(fractional), "INVALID_ARGUMENT");
    let bad_kind = thrown(s.begin_request(None, None, 7, None, T0));
    assert_eq!(code_of(bad_kind), "INVALID_ARGUMENT");
    assert_eq!(code_of(thrown(s.restore("{", T0))), "INVALID_SNAPSHOT");

    for config in [
        r#"{"idleTimeoutMs": 0}"#,
        r#"{"nope": 1}"#,
        r#"{"maxSessions": -1}"#,
        "5",
    ] {
        let err = thrown(WasmSessionStore::new(obj(config)));
        assert_eq!(code_of(err), "INVALID_CONFIG", "{config}");
    }
    // The store is intact and still serves the session.
    assert_eq!(text(&s.get(id, T0 + 1.0).unwrap(), "phase"), "active");
}

#[wasm_bindgen_test]
fn every_error_carries_what_a_client_is_told() {
    let mut s = store();
    let id = text(
        &s.create(obj(r#"{"principal": "alice"}"#), T0).unwrap(),
        "id",
    );
    let theirs = thrown(s.begin_request(Some(id.clone()), Some("bob".into()), 2, None, T0));
    assert_eq!(code_of(theirs.clone()), "PRINCIPAL_MISMATCH");
    assert!(
        text(&theirs, "message").contains(&id),
        "operators see the ID"
    );
    let answer = get(&theirs, "clientAnswer");
    assert_eq!(
        JSON::stringify(&answer).unwrap(),
        r#"{"httpStatus":404,"jsonRpcCode":-32001,"message":"Session not found","retryAfterSecs":null}"#
    );

    let mut full = WasmSessionStore::new(obj(r#"{"maxSessions": 1}"#)).unwrap();
    full.create(JsValue::UNDEFINED, T0).unwrap();
    let capacity = thrown(full.create(JsValue::UNDEFINED, T0 + 10.0));
    let answer = get(&capacity, "clientAnswer");
    assert_eq!(get(&answer, "retryAfterSecs").as_f64(), Some(1_800.0));
}

#[wasm_bindgen_test]
fn the_typescript_layer_makes_errors_through_the_core() {
    let fields = payload_too_large_error(10.0).unwrap();
    assert_eq!(text(&fields, "code"), "PAYLOAD_TOO_LARGE");
    assert_eq!(get(&fields, "limit").as_f64(), Some(10.0));
    assert_eq!(get(&fields, "httpStatus").as_f64(), Some(413.0));
    assert_eq!(get(&fields, "jsonRpcCode").as_f64(), Some(-32600.0));
    assert_eq!(
        text(&fields, "message"),
        "Request body too large (limit 10 bytes)"
    );
    assert_eq!(
        code_of(thrown(payload_too_large_error(-1.0))),
        "INVALID_ARGUMENT"
    );
    let storage = storage_failed_error("ENOSPC", "disk /dev/sda1 full");
    assert_eq!(text(&storage, "detail"), "disk /dev/sda1 full");
    let answer = get(&storage, "clientAnswer");
    assert_eq!(get(&answer, "httpStatus").as_f64(), Some(503.0));
    assert_eq!(get(&answer, "retryAfterSecs").as_f64(), Some(1.0));
    assert!(!text(&answer, "message").contains("sda1"));
    assert_eq!(get(&parse_error(), "jsonRpcCode").as_f64(), Some(-32700.0));
    let forbidden = forbidden_error("origin".into()).unwrap();
    assert_eq!(text(&forbidden, "message"), "Forbidden: origin not allowed");
    assert_eq!(get(&forbidden, "httpStatus").as_f64(), Some(403.0));
    for bad in ["nope".into(), JsValue::from_f64(1.0), JsValue::UNDEFINED] {
        assert_eq!(code_of(thrown(forbidden_error(bad))), "INVALID_ARGUMENT");
    }
}

#[wasm_bindgen_test]
fn the_core_classifies_a_batch_and_names_the_ending_events() {
    let kind = |methods: &[JsValue]| request_kind_of(methods.to_vec()).unwrap().as_string();
    let m = |method: &str| JsValue::from_str(method);
    assert_eq!(kind(&[]).as_deref(), Some("other"));
    assert_eq!(
        kind(&[m("tools/list"), JsValue::from_f64(1.0)]).as_deref(),
        Some("other")
    );
    assert_eq!(
        kind(&[m("ping"), m("notifications/initialized")]).as_deref(),
        Some("initialized")
    );
    assert_eq!(
        kind(&[
            JsValue::NULL,
            m("initialize"),
            m("notifications/initialized")
        ])
        .as_deref(),
        Some("initialize")
    );
    let statuses = JSON::stringify(&lookup_statuses().unwrap()).unwrap();
    assert_eq!(
        statuses,
        r#"[["initializing",null],["active",null],["disconnected",null],[null,"closed"],[null,"init"],[null,"idle"],[null,"lifetime"],[null,"requested"],[null,"evicted"]]"#
    );
    let kinds = JSON::stringify(&request_kinds().unwrap()).unwrap();
    assert_eq!(kinds, r#"["initialize","initialized","other"]"#);
    let ending = JSON::stringify(&session_ending_events().unwrap()).unwrap();
    assert_eq!(ending, r#"["closed","expired","evicted"]"#);
}

#[wasm_bindgen_test]
fn ids_come_from_crypto_get_random_values() {
    let mut s = store();
    let ids: HashSet<String> = (0..1_000)
        .map(|i| {
            text(
                &s.create(JsValue::UNDEFINED, T0 + f64::from(i)).unwrap(),
                "id",
            )
        })
        .collect();
    assert_eq!(ids.len(), 1_000);
    assert!(ids
        .iter()
        .all(|id| id.len() == 32 && id.as_bytes()[12] == b'4'));
    let mut a = WasmSessionStore::with_insecure_seed(JsValue::UNDEFINED, 9.0).unwrap();
    let mut b = WasmSessionStore::with_insecure_seed(JsValue::UNDEFINED, 9.0).unwrap();
    assert_eq!(
        text(&a.create(JsValue::UNDEFINED, T0).unwrap(), "id"),
        text(&b.create(JsValue::UNDEFINED, T0).unwrap(), "id")
    );
}

#[wasm_bindgen_test]
fn snapshot_round_trips_inside_wasm() {
    let mut s = WasmSessionStore::with_insecure_seed(JsValue::UNDEFINED, 1.0).unwrap();
    let view = s.create(obj(r#"{"state": {"k": [1, 2]}}"#), T0).unwrap();
    s.disconnect(&text(&view, "id"), T0 + 1.0).unwrap();
    let bytes = s.snapshot(T0 + 2.0).unwrap();
    let mut restored = WasmSessionStore::new(JsValue::UNDEFINED).unwrap();
    let report = restored.restore(&bytes, T0 + 2.0).unwrap();
    assert_eq!(get(&report, "restored").as_f64(), Some(1.0));
    assert_eq!(restored.snapshot(T0 + 2.0).unwrap(), bytes);
}

#[wasm_bindgen_test]
fn version_3_pieces_cross_as_bytes_and_restore_inside_wasm() {
    let mut s = WasmSessionStore::with_insecure_seed(JsValue::UNDEFINED, 1.0).unwrap();
    for _ in 0..3 {
        let meta = r#"{"clientInfo": {"name": "c", "version": "1"}, "state": {"k": 1}}"#;
        s.create(obj(meta), T0).unwrap();
    }
    let mut restored = WasmSessionStore::new(JsValue::UNDEFINED).unwrap();
    restored.restore_begin();
    let mut from = 0.0;
    while from >= 0.0 {
        let piece = s.snapshot_pieces(T0, from, 1.0).unwrap();
        restored.restore_add_piece(&piece, false).unwrap();
        from = s.snapshot_next();
    }
    let report = restored.restore_commit(T0).unwrap();
    assert_eq!(get(&report, "restored").as_f64(), Some(3.0));
    assert_eq!(restored.snapshot(T0).unwrap(), s.snapshot(T0).unwrap());
    restored.restore_begin();
    let err = thrown(restored.restore_add_piece(&[0, 1, 2], false));
    assert_eq!(code_of(err), "INVALID_SNAPSHOT");
}

/// The sealed requestState codec inside wasm: nonces and token IDs from
/// `crypto.getRandomValues`, refusals thrown with the reason as the message.
#[wasm_bindgen_test]
fn request_state_tokens_seal_and_redeem_once_with_secure_randomness() {
    let key = [9u8; 32];
    let mut codec = WasmRequestStateCodec::new("k1", &key, None, None, None, None, None).unwrap();
    let alice = Some("alice".to_owned());
    let a = codec
        .mint("{\"n\":1}", alice.clone(), "r", None, T0)
        .unwrap();
    let b = codec
        .mint("{\"n\":1}", alice.clone(), "r", None, T0)
        .unwrap();
    assert_ne!(a, b, "fresh nonce and token ID per mint");
    assert_eq!(
        codec.redeem(&a, alice.clone(), "r", T0).unwrap(),
        "{\"n\":1}"
    );
    let refusal = |r: Result<String, JsValue>| {
        let e = r.unwrap_err();
        assert_eq!(text(&e, "name"), "RequestStateRefusal");
        text(&e, "message")
    };
    assert_eq!(
        refusal(codec.redeem(&a, alice.clone(), "r", T0)),
        "replayed"
    );
    assert_eq!(refusal(codec.redeem(&b, None, "r", T0)), "bind");
    assert_eq!(
        refusal(codec.redeem("rs1.k1.AAAA", alice.clone(), "r", T0)),
        "malformed"
    );
    assert_eq!(
        refusal(codec.redeem(&b, alice.clone(), "r", T0 + 600_000.0)),
        "expired"
    );
    let bad = WasmRequestStateCodec::new("k1", &key[..31], None, None, None, None, None);
    assert_eq!(text(&bad.err().unwrap(), "code"), "INVALID_CONFIG");
    assert_eq!(codec.ledger_size(), 1);

    // Redeemed in a store's ledger instead: swept by the store's deadline, kept
    // in its snapshot, refused after a restore.
    let mut store = WasmSessionStore::new(obj("{}")).unwrap();
    let c = codec
        .mint("{\"n\":2}", alice.clone(), "r", None, T0)
        .unwrap();
    assert_eq!(
        codec
            .redeem_in(&mut store, &c, alice.clone(), "r", T0)
            .unwrap(),
        "{\"n\":2}"
    );
    assert_eq!(
        refusal(codec.redeem_in(&mut store, &c, alice.clone(), "r", T0)),
        "replayed"
    );
    assert_eq!(store.next_deadline(), Some(T0 + 600_000.0));
    let snapshot = store.snapshot(T0).unwrap();
    let mut restarted = WasmSessionStore::new(obj("{}")).unwrap();
    restarted.restore(&snapshot, T0).unwrap();
    assert_eq!(
        refusal(codec.redeem_in(&mut restarted, &c, alice.clone(), "r", T0 + 1.0)),
        "replayed"
    );
}

#[wasm_bindgen_test]
fn state_handles_cross_as_plain_objects_and_bind_to_their_principal() {
    let mut s = WasmSessionStore::new(obj(r#"{"handleIdleTimeoutMs": 1000}"#)).unwrap();
    let h = s
        .create_handle(Some("alice".into()), obj(r#"{"basket": []}"#), T0)
        .unwrap();
    let id = text(&h, "handleId");
    assert!(id.starts_with("h_"));
    assert_eq!(get(&h, "expiresAt").as_f64(), Some(T0 + 1000.0));
    let v = s
        .update_handle(
            &id,
            Some("alice".into()),
            obj(r#"{"n": 1}"#),
            Some(0.0),
            T0 + 1.0,
        )
        .unwrap();
    assert_eq!(v, 1.0);
    let read = s.get_handle(&id, Some("alice".into()), T0 + 2.0).unwrap();
    assert_eq!(
        JSON::stringify(&get(&read, "state")).unwrap(),
        r#"{"basket":[],"n":1}"#
    );
    assert_eq!(
        code_of(thrown(s.get_handle(&id, Some("bob".into()), T0 + 2.0))),
        "HANDLE_NOT_FOUND"
    );
    assert_eq!(code_of(thrown(s.get(&id, T0 + 2.0))), "SESSION_NOT_FOUND");
    assert_eq!(
        Array::from(&s.list_handles(Some("alice".into()), T0 + 2.0).unwrap()).length(),
        1
    );
    let anonymous = s.create_handle(None, JsValue::UNDEFINED, T0 + 2.0).unwrap();
    assert_eq!(JSON::stringify(&get(&anonymous, "state")).unwrap(), "{}");
    s.destroy_handle(&id, Some("alice".into()), T0 + 3.0)
        .unwrap();
    assert_eq!(
        code_of(thrown(s.get_handle(&id, Some("alice".into()), T0 + 3.0))),
        "HANDLE_DESTROYED"
    );
    let other = text(&anonymous, "handleId");
    let error = thrown(s.get_handle(&other, None, T0 + 5_000.0));
    assert_eq!(text(&error, "reason"), "idle");
    assert_eq!(code_of(error), "HANDLE_EXPIRED");
    assert_eq!(
        code_of(thrown(s.create_handle(None, obj("[1]"), T0))),
        "INVALID_STATE"
    );
}
