//! Shared copies of client metadata.
//!
//! Every session keeps its client's `clientInfo` and `capabilities`, and nearly all
//! sessions of a server hold the same few values (one per client program and
//! version). Each distinct value is stored once and sessions point at it, so the
//! metadata costs a pointer per session instead of a JSON tree, and its size (what
//! `max_total_bytes` counts) is measured once.

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::fast::FixedState;
use hashbrown::HashMap;

use serde_json::Value;

use crate::patch::json_size;

/// One shared value and its size as JSON text (counted once, not per session).
#[derive(Debug, PartialEq)]
pub(crate) struct Shared {
    pub value: Value,
    pub bytes: usize,
}

impl Shared {
    pub fn new(value: Value) -> Arc<Shared> {
        let bytes = json_size(&value);
        Arc::new(Shared { value, bytes })
    }
}

/// Distinct values seen, by their JSON text; values no session holds any more are
/// dropped each time the table has doubled, so it stays proportional to what is in use.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    by_text: BTreeMap<String, Arc<Shared>>,
    prune_at: usize,
}

/// Restored copies already adopted by one restore (see `Interner::adopt`), by
/// address: the restored copy and this store's.
#[derive(Default)]
pub(crate) struct Adopted(HashMap<usize, (Arc<Shared>, Arc<Shared>), FixedState>);

/// The table is pruned when it reaches this size at the least.
const MIN_PRUNE_AT: usize = 64;

impl Interner {
    /// The shared copy of the value whose JSON text is `text`; `make` builds (and
    /// checks) it the first time that text is seen.
    pub fn intern_text<E>(
        &mut self,
        text: &str,
        make: impl FnOnce() -> Result<Value, E>,
    ) -> Result<Arc<Shared>, E> {
        if let Some(shared) = self.by_text.get(text) {
            return Ok(shared.clone());
        }
        let shared = Shared::new(make()?);
        self.prune();
        self.by_text.insert(text.to_owned(), shared.clone());
        Ok(shared)
    }

    /// The shared copy of `value`.
    pub fn intern(&mut self, value: Value) -> Arc<Shared> {
        let text = value.to_string();
        if let Some(shared) = self.by_text.get(&text) {
            return shared.clone();
        }
        let shared = Shared::new(value);
        self.prune();
        self.by_text.insert(text, shared.clone());
        shared
    }

    /// The shared copy of a restored value. A restore shares one copy of each
    /// distinct value among its records (see `Staging`), so `adopted` maps each
    /// restored copy to this table's at the first record that holds it, and the
    /// rest cost a lookup by address instead of writing the value out as text.
    pub fn adopt(&mut self, restored: Arc<Shared>, adopted: &mut Adopted) -> Arc<Shared> {
        let address = Arc::as_ptr(&restored) as usize;
        if let Some((_, ours)) = adopted.0.get(&address) {
            return ours.clone();
        }
        let ours = self.intern(restored.value.clone());
        // The restored copy is kept with the entry, so its address is not reused
        // for another value while the map holds it.
        adopted.0.insert(address, (restored, ours.clone()));
        ours
    }

    /// Drops the values no session holds, each time the table has doubled.
    fn prune(&mut self) {
        if self.by_text.len() >= self.prune_at.max(MIN_PRUNE_AT) {
            self.by_text.retain(|_, v| Arc::strong_count(v) > 1);
            self.prune_at = self.by_text.len() * 2;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_values_share_one_copy_and_unused_ones_go() {
        let mut interner = Interner::default();
        let a = interner.intern(json!({"name": "x", "v": 1}));
        let b = interner.intern(json!({"v": 1, "name": "x"}));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.bytes, r#"{"name":"x","v":1}"#.len());
        drop((a, b));
        for i in 0..MIN_PRUNE_AT + 1 {
            interner.intern(json!(i));
        }
        assert!(interner.by_text.len() <= 2, "unheld values were dropped");
    }
}
