//! The deadline index: which session ends next, without work on every request.
//!
//! Sessions are filed in a `BTreeSet` under `(deadline, id)`. A request moves a
//! session's idle deadline later; re-filing it each time would rebalance the tree on
//! every request. Instead an entry may be *early*: it records a deadline no later
//! than the real one. Whenever an entry reaches the front it is re-checked against
//! the session; if the real deadline is later it is re-filed there (once, however
//! many requests came in between), and if there is none (a request is in flight) it
//! is dropped until the session becomes idle again. So a touch is O(1), `front` is
//! O(log n) amortised, and a sweep costs in proportion to what ends.
//!
//! Invariant: every session with a deadline has exactly one entry, filed at
//! `session.indexed_deadline`, which is at most its real deadline.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use crate::config::Config;
use crate::session::Session;

pub(crate) type Sessions = HashMap<Arc<str>, Session, IdHasher>;

/// Session IDs are hashed with foldhash (several times faster than SipHash on
/// 32-byte keys, which matters on every request), seeded per store from the OS
/// CSPRNG so that clients cannot aim IDs at one bucket.
pub(crate) type IdHasher = foldhash::fast::SeedableRandomState;

pub(crate) fn id_hasher() -> IdHasher {
    let mut seed = [0u8; 8];
    // Without entropy the per-process seed of foldhash still applies.
    let _ = getrandom::fill(&mut seed);
    IdHasher::with_seed(
        u64::from_le_bytes(seed),
        foldhash::SharedSeed::global_random(),
    )
}

#[derive(Debug, Default)]
pub(crate) struct DeadlineIndex {
    entries: BTreeSet<(u64, Arc<str>)>,
}

impl DeadlineIndex {
    /// Files `session` after a change. Only a deadline that moved earlier, or a
    /// session that had no entry, costs a tree operation.
    pub fn file(&mut self, session: &mut Session, config: &Config) {
        let actual = session.deadline_ms(config);
        match (session.indexed_deadline, actual) {
            (Some(filed), Some(due)) if due < filed => {
                self.entries.remove(&(filed, session.id.clone()));
                self.entries.insert((due, session.id.clone()));
                session.indexed_deadline = Some(due);
            }
            (None, Some(due)) => {
                self.entries.insert((due, session.id.clone()));
                session.indexed_deadline = Some(due);
            }
            _ => {}
        }
    }

    /// Drops the entry of a session that is leaving the store.
    pub fn remove(&mut self, session: &Session) {
        if let Some(filed) = session.indexed_deadline {
            self.entries.remove(&(filed, session.id.clone()));
        }
    }

    /// The earliest filed deadline: never later than the real earliest deadline, so
    /// if it is in the future nothing is due (checked without touching a session).
    pub fn earliest_filed(&self) -> Option<u64> {
        self.entries.first().map(|(at, _)| *at)
    }

    /// The session that ends first, with its exact deadline.
    pub fn front(&mut self, sessions: &mut Sessions, config: &Config) -> Option<(u64, Arc<str>)> {
        self.first_exact(sessions, config, |_| true)
    }

    /// The session with nothing in flight whose deadline is nearest: the one the
    /// `evict-idlest` policy ends.
    pub fn idlest(&mut self, sessions: &mut Sessions, config: &Config) -> Option<Arc<str>> {
        self.first_exact(sessions, config, |s| s.in_flight == 0)
            .map(|(_, id)| id)
    }

    /// Walks entries in deadline order, re-filing early ones, and returns the first
    /// exact entry whose session `accept`s. Entries are visited in order of their
    /// exact deadlines because a re-filed entry only moves later.
    fn first_exact(
        &mut self,
        sessions: &mut Sessions,
        config: &Config,
        accept: impl Fn(&Session) -> bool,
    ) -> Option<(u64, Arc<str>)> {
        let mut after: Option<(u64, Arc<str>)> = None;
        loop {
            let entry = match &after {
                None => self.entries.first().cloned(),
                Some(seen) => self
                    .entries
                    .range((Bound::Excluded(seen.clone()), Bound::Unbounded))
                    .next()
                    .cloned(),
            }?;
            let Some(session) = sessions.get_mut(&entry.1) else {
                self.entries.remove(&entry);
                continue;
            };
            let actual = session.deadline_ms(config);
            if actual == Some(entry.0) {
                if accept(session) {
                    return Some(entry);
                }
                after = Some(entry);
                continue;
            }
            self.entries.remove(&entry);
            session.indexed_deadline = actual;
            if let Some(due) = actual {
                self.entries.insert((due, entry.1));
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{empty_state, Phase, SessionData};

    fn add(
        sessions: &mut Sessions,
        index: &mut DeadlineIndex,
        id: &str,
        last: u64,
        config: &Config,
    ) {
        let mut s = Session {
            id: Arc::from(id),
            data: SessionData {
                principal: None,
                protocol_version: Arc::from("v"),
                client_info: None,
                capabilities: None,
                state: empty_state(),
                state_bytes: 2,
                version: 0,
            },
            phase: Phase::Active,
            created_at: 0,
            last_activity: last,
            idle_timeout_ms: None,
            in_flight: 0,
            indexed_deadline: None,
        };
        index.file(&mut s, config);
        sessions.insert(s.id.clone(), s);
    }

    fn config() -> Config {
        Config {
            idle_timeout_ms: 100,
            ..Config::default()
        }
    }

    #[test]
    fn touches_do_not_refile_until_the_entry_reaches_the_front() {
        let (mut sessions, mut index) =
            (Sessions::with_hasher(id_hasher()), DeadlineIndex::default());
        add(&mut sessions, &mut index, "a", 0, &config());
        add(&mut sessions, &mut index, "b", 10, &config());
        for t in 1..50 {
            let a = sessions.get_mut("a").unwrap();
            a.last_activity = t;
            index.file(a, &config());
            assert_eq!(
                a.indexed_deadline,
                Some(100),
                "a touch left the entry alone"
            );
        }
        assert_eq!(
            index.front(&mut sessions, &config()),
            Some((110, Arc::from("b")))
        );
        assert_eq!(sessions["a"].indexed_deadline, Some(149));
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn busy_sessions_leave_the_index_and_come_back_when_idle() {
        let (mut sessions, mut index) =
            (Sessions::with_hasher(id_hasher()), DeadlineIndex::default());
        add(&mut sessions, &mut index, "a", 0, &config());
        add(&mut sessions, &mut index, "b", 50, &config());
        sessions.get_mut("a").unwrap().in_flight = 1;
        assert_eq!(
            index.front(&mut sessions, &config()).unwrap().1.as_ref(),
            "b"
        );
        assert_eq!(index.len(), 1);
        let a = sessions.get_mut("a").unwrap();
        a.in_flight = 0;
        a.last_activity = 20;
        index.file(a, &config());
        assert_eq!(
            index.front(&mut sessions, &config()),
            Some((120, Arc::from("a")))
        );
    }

    #[test]
    fn idlest_skips_busy_sessions() {
        let config = Config {
            idle_timeout_ms: 100,
            absolute_lifetime_ms: Some(60),
            ..Config::default()
        };
        let (mut sessions, mut index) =
            (Sessions::with_hasher(id_hasher()), DeadlineIndex::default());
        add(&mut sessions, &mut index, "a", 0, &config);
        add(&mut sessions, &mut index, "b", 0, &config);
        sessions.get_mut("a").unwrap().in_flight = 1;
        assert_eq!(index.idlest(&mut sessions, &config).as_deref(), Some("b"));
        sessions.get_mut("b").unwrap().in_flight = 1;
        assert_eq!(index.idlest(&mut sessions, &config), None);
    }
}
