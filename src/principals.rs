//! Live sessions per principal, for `max_sessions_per_principal`.
//!
//! Anonymous sessions (no principal) count together as one principal: otherwise a
//! client with no credentials could hold as many sessions as the whole store.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub(crate) struct PrincipalCounts {
    named: HashMap<Arc<str>, usize>,
    anonymous: usize,
}

impl PrincipalCounts {
    /// Live sessions `principal` holds (`None`: every anonymous session).
    pub fn held(&self, principal: Option<&str>) -> usize {
        match principal {
            Some(p) => self.named.get(p).copied().unwrap_or(0),
            None => self.anonymous,
        }
    }

    pub fn add(&mut self, principal: Option<&Arc<str>>) {
        match principal {
            Some(p) => *self.named.entry(p.clone()).or_insert(0) += 1,
            None => self.anonymous += 1,
        }
    }

    pub fn remove(&mut self, principal: Option<&str>) {
        match principal {
            Some(p) => {
                if let Some(count) = self.named.get_mut(p) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        self.named.remove(p);
                    }
                }
            }
            None => self.anonymous = self.anonymous.saturating_sub(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_sessions_share_one_count() {
        let mut counts = PrincipalCounts::default();
        let alice: Arc<str> = Arc::from("alice");
        counts.add(None);
        counts.add(None);
        counts.add(Some(&alice));
        assert_eq!(counts.held(None), 2);
        assert_eq!(counts.held(Some("alice")), 1);
        counts.remove(None);
        counts.remove(Some("alice"));
        assert_eq!((counts.held(None), counts.held(Some("alice"))), (1, 0));
        assert!(
            counts.named.is_empty(),
            "no entry is kept for a principal with none"
        );
    }
}
