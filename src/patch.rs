//! Session state: a JSON object, bounded in size and depth, changed by RFC 7396 merge
//! patches.
//!
//! Depth is checked without recursion before anything recursive (merge, size count,
//! drop) touches a value, so a hostile, deeply nested value cannot overflow the
//! stack, which in wasm would kill the instance.

use std::io;

use serde_json::Value;

use crate::error::SessionError;

/// The deepest nesting of arrays and objects accepted in state and metadata.
pub const MAX_DEPTH: usize = 64;

/// The largest client info or capabilities object a snapshot may hold, serialized
/// (what a store accepts at creation is `max_client_metadata_bytes`, at most this).
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// Checks nesting without recursion: true if no container is nested deeper than `max`.
pub(crate) fn depth_within(value: &Value, max: usize) -> bool {
    let nested = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
    // The common case, a flat object or list (most patches), needs no stack.
    let flat = match value {
        Value::Object(map) => !map.values().any(nested),
        Value::Array(items) => !items.iter().any(nested),
        _ => true,
    };
    if flat {
        return max >= 1 || !nested(value);
    }
    let mut stack: Vec<(&Value, usize)> = vec![(value, 1)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(_) | Value::Object(_) if depth > max => return false,
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    true
}

/// Serialized JSON size of `value`, counted without building the string.
pub(crate) fn json_size(value: &Value) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to an infallible writer cannot fail; a failure would only
    // under-count, and the depth check has already bounded the work.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Validates a whole state: an object, nested at most [`MAX_DEPTH`], at most `limit`
/// bytes. Returns its serialized size.
pub(crate) fn check_state(state: &Value, limit: usize) -> Result<usize, SessionError> {
    if !state.is_object() {
        return Err(SessionError::InvalidState {
            reason: "state must be a JSON object".into(),
        });
    }
    check_depth(state)?;
    let size = json_size(state);
    if size > limit {
        return Err(SessionError::StateTooLarge { size, limit });
    }
    Ok(size)
}

fn check_depth(value: &Value) -> Result<(), SessionError> {
    if depth_within(value, MAX_DEPTH) {
        Ok(())
    } else {
        Err(SessionError::InvalidState {
            reason: format!("nested deeper than {MAX_DEPTH} levels"),
        })
    }
}

/// Applies an RFC 7396 merge patch to `state` (`size` bytes as JSON text) and
/// answers the new size; on an error `state` is unchanged. A merge writes each patch
/// value where the patch has it, so the result is no deeper than the state or the
/// patch (both checked) and at most their sizes added: when that sum is within the
/// limit the patch is applied in place, else to a copy that replaces the state only
/// if it fits.
pub(crate) fn merge_into(
    state: &mut Value,
    size: usize,
    patch: Value,
    limit: usize,
) -> Result<usize, SessionError> {
    check_depth(&patch)?;
    if !patch.is_object() || !state.is_object() {
        return Err(SessionError::InvalidState {
            reason: "state must be a JSON object".into(),
        });
    }
    let patch_size = json_size(&patch);
    if size.saturating_add(patch_size) <= limit {
        merge_owned(state, patch);
        let next_size = json_size(state);
        debug_assert!(
            next_size <= size + patch_size,
            "a merge grew past its bound"
        );
        return Ok(next_size);
    }
    let mut next = state.clone();
    merge_owned(&mut next, patch);
    let next_size = json_size(&next);
    if next_size > limit {
        return Err(SessionError::StateTooLarge {
            size: next_size,
            limit,
        });
    }
    *state = next;
    Ok(next_size)
}

/// RFC 7396 merge of `patch` into `target`, moving the patch's values in rather
/// than copying them. Recursion follows the patch's nesting, which the caller has
/// bounded by [`MAX_DEPTH`].
fn merge_owned(target: &mut Value, patch: Value) {
    let Value::Object(members) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let Value::Object(object) = target else {
        return;
    };
    for (key, value) in members {
        if value.is_null() {
            object.remove(&key);
        } else if let Some(existing) = object.get_mut(&key) {
            merge_owned(existing, value);
        } else {
            let mut fresh = Value::Null;
            merge_owned(&mut fresh, value);
            object.insert(key, fresh);
        }
    }
}

/// Checks client metadata (client info, capabilities): an object within the depth
/// bound and `limit` bytes. Capabilities may also be a list of names, as
/// the seed API passes them (`['tools', 'resources']`): they are kept as given.
pub(crate) fn check_metadata(
    argument: &str,
    value: &Value,
    limit: usize,
) -> Result<(), SessionError> {
    let names = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    if argument == "capabilities" && !(value.is_object() || names(value)) {
        return Err(SessionError::invalid_argument(
            argument,
            "must be a JSON object or a list of names",
        ));
    }
    if argument != "capabilities" && !value.is_object() {
        return Err(SessionError::invalid_argument(
            argument,
            "must be a JSON object",
        ));
    }
    if !depth_within(value, MAX_DEPTH) {
        return Err(SessionError::invalid_argument(
            argument,
            format!("nested deeper than {MAX_DEPTH} levels"),
        ));
    }
    let size = json_size(value);
    if size > limit {
        return Err(SessionError::invalid_argument(
            argument,
            format!("{size} bytes, limit {limit}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(depth: usize) -> Value {
        let mut v = json!({});
        for _ in 1..depth {
            v = json!({ "a": v });
        }
        v
    }

    #[test]
    fn merge_patch_follows_rfc_7396_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
        ];
        for (state, patch, want) in cases {
            // In place (room to spare) and on a copy (at the limit) alike.
            for limit in [1024, json_size(&want)] {
                let mut merged = state.clone();
                let size =
                    merge_into(&mut merged, json_size(&state), patch.clone(), limit).unwrap();
                assert_eq!(merged, want);
                assert_eq!(size, json_size(&want));
            }
        }
    }

    #[test]
    fn a_patch_that_does_not_fit_changes_nothing() {
        let mut state = json!({"a": "x"});
        let err = merge_into(&mut state, 9, json!({"b": "yyyyyyyy"}), 12).unwrap_err();
        assert_eq!(err.code(), "STATE_TOO_LARGE");
        assert_eq!(state, json!({"a": "x"}));
    }

    #[test]
    fn a_patch_that_leaves_no_object_is_invalid_state() {
        for patch in [json!(["c"]), json!(null), json!("x"), json!(1)] {
            let mut state = json!({"a": 1});
            let err = merge_into(&mut state, 7, patch.clone(), 1024).unwrap_err();
            assert_eq!(err.code(), "INVALID_STATE", "{patch}");
            assert_eq!(state, json!({"a": 1}));
        }
    }

    #[test]
    fn size_is_the_serialized_length_and_is_enforced() {
        let state = json!({"k": "vvvv"});
        assert_eq!(json_size(&state), r#"{"k":"vvvv"}"#.len());
        assert_eq!(check_state(&state, 12).unwrap(), 12);
        assert_eq!(
            check_state(&state, 11).unwrap_err(),
            SessionError::StateTooLarge {
                size: 12,
                limit: 11
            }
        );
    }

    #[test]
    fn depth_is_bounded_without_recursion() {
        assert!(check_state(&nested(MAX_DEPTH), 1 << 20).is_ok());
        assert_eq!(
            check_state(&nested(MAX_DEPTH + 1), 1 << 20)
                .unwrap_err()
                .code(),
            "INVALID_STATE"
        );
        assert!(depth_within(&json!([[1], 2]), 2));
        assert!(!depth_within(&json!([[[1]]]), 2));
        let deep_patch = nested(MAX_DEPTH + 1);
        assert_eq!(
            merge_into(&mut json!({}), 2, deep_patch, 1 << 20)
                .unwrap_err()
                .code(),
            "INVALID_STATE"
        );
    }

    #[test]
    fn metadata_must_be_a_bounded_object() {
        assert!(check_metadata("clientInfo", &json!({"name": "x"}), MAX_METADATA_BYTES).is_ok());
        assert!(check_metadata(
            "capabilities",
            &json!(["tools", "resources"]),
            MAX_METADATA_BYTES
        )
        .is_ok());
        assert!(check_metadata("capabilities", &json!(["tools", 1]), MAX_METADATA_BYTES).is_err());
        assert!(check_metadata("clientInfo", &json!(["x"]), MAX_METADATA_BYTES).is_err());
        assert_eq!(
            check_metadata("clientInfo", &json!("x"), MAX_METADATA_BYTES)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            check_metadata(
                "capabilities",
                &json!({"k": "x".repeat(MAX_METADATA_BYTES)}),
                MAX_METADATA_BYTES
            )
            .unwrap_err()
            .code(),
            "INVALID_ARGUMENT"
        );
    }
}
