//! Live records per principal: counted for sessions
//! (`max_sessions_per_principal`), and kept as a set for state handles
//! (`max_handles_per_principal`, and `list_handles`, which reads one principal's
//! handles without a scan of the whole store).
//!
//! Anonymous records (no principal) count together as one principal: otherwise a
//! client with no credentials could hold as many sessions as the whole store.

use std::collections::BTreeSet;
use std::sync::Arc;

use foldhash::fast::SeedableRandomState;
use foldhash::SharedSeed;
use hashbrown::HashMap;

use crate::table::Handle;

/// What is kept of one principal's live records.
pub(crate) trait Members: Default {
    fn add(&mut self, handle: Handle);
    fn remove(&mut self, handle: Handle);
    fn len(&self) -> usize;
}

/// A count: all that the session cap needs (a million sessions keep no sets).
impl Members for usize {
    fn add(&mut self, _: Handle) {
        *self += 1;
    }
    fn remove(&mut self, _: Handle) {
        *self = self.saturating_sub(1);
    }
    fn len(&self) -> usize {
        *self
    }
}

/// The records themselves, by table handle: at most `max_handles_per_principal`.
impl Members for BTreeSet<Handle> {
    fn add(&mut self, handle: Handle) {
        self.insert(handle);
    }
    fn remove(&mut self, handle: Handle) {
        BTreeSet::remove(self, &handle);
    }
    fn len(&self) -> usize {
        BTreeSet::len(self)
    }
}

/// Principals are chosen by whoever authenticates, so their map is keyed per
/// store (see `keyed`); foldhash is several times faster than SipHash on such short
/// strings, which a restore of a million sessions counts one by one.
#[derive(Debug)]
pub(crate) struct ByPrincipal<M> {
    named: HashMap<Arc<str>, M, SeedableRandomState>,
    anonymous: M,
}

/// Live sessions per principal.
pub(crate) type PrincipalCounts = ByPrincipal<usize>;
/// Live state handles per principal.
pub(crate) type PrincipalHandles = ByPrincipal<BTreeSet<Handle>>;

impl<M: Members> ByPrincipal<M> {
    /// An empty map whose hash is keyed by `seed` (from the store's ID source,
    /// as the ID map's is: see [`crate::IdSource::hash_seed`]).
    pub fn keyed(seed: u64) -> Self {
        ByPrincipal {
            named: HashMap::with_hasher(SeedableRandomState::with_seed(
                seed,
                SharedSeed::global_fixed(),
            )),
            anonymous: M::default(),
        }
    }

    /// Live records `principal` holds (`None`: every anonymous one).
    pub fn held(&self, principal: Option<&str>) -> usize {
        self.members(principal).map_or(0, M::len)
    }

    /// What is kept of `principal`'s live records, if it has any.
    pub fn members(&self, principal: Option<&str>) -> Option<&M> {
        match principal {
            Some(p) => self.named.get(p),
            None => Some(&self.anonymous),
        }
    }

    pub fn add(&mut self, principal: Option<&Arc<str>>, handle: Handle) {
        match principal {
            // Looked up by text first: a principal seen before (nearly every call)
            // costs no reference count taken and given back.
            Some(p) => match self.named.get_mut(&**p) {
                Some(members) => members.add(handle),
                None => self.named.entry(p.clone()).or_default().add(handle),
            },
            None => self.anonymous.add(handle),
        }
    }

    pub fn remove(&mut self, principal: Option<&str>, handle: Handle) {
        match principal {
            Some(p) => {
                if let Some(members) = self.named.get_mut(p) {
                    members.remove(handle);
                    if members.len() == 0 {
                        self.named.remove(p);
                    }
                }
            }
            None => self.anonymous.remove(handle),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_sessions_share_one_count() {
        let mut counts = PrincipalCounts::keyed(0);
        let alice: Arc<str> = Arc::from("alice");
        counts.add(None, 0);
        counts.add(None, 1);
        counts.add(Some(&alice), 2);
        assert_eq!(counts.held(None), 2);
        assert_eq!(counts.held(Some("alice")), 1);
        counts.remove(None, 0);
        counts.remove(Some("alice"), 2);
        assert_eq!((counts.held(None), counts.held(Some("alice"))), (1, 0));
        assert!(
            counts.named.is_empty(),
            "no entry is kept for a principal with none"
        );
    }

    #[test]
    fn handle_sets_hold_each_principals_records() {
        let mut sets = PrincipalHandles::keyed(0);
        let alice: Arc<str> = Arc::from("alice");
        sets.add(Some(&alice), 7);
        sets.add(Some(&alice), 3);
        sets.add(None, 5);
        let of_alice: Vec<Handle> = sets
            .members(Some("alice"))
            .into_iter()
            .flatten()
            .copied()
            .collect();
        assert_eq!(of_alice, vec![3, 7]);
        assert_eq!(sets.held(None), 1);
        sets.remove(Some("alice"), 3);
        sets.remove(Some("alice"), 7);
        assert!(sets.members(Some("alice")).is_none());
        assert!(sets.named.is_empty());
    }
}
