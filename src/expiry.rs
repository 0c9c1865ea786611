//! The deadline index: which session ends next, without work on every request.
//!
//! Sessions are filed in a `BTreeSet` under `(deadline, order, handle)`. A request moves a
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

use std::collections::BTreeSet;
use std::ops::Bound;

use crate::config::Config;
use crate::error::ExpiryReason;
use crate::session::Session;
use crate::session_id::SessionId;
use crate::table::{Handle, SessionTable};

/// An entry: the filed deadline, then the session's `order` (ties end in the order
/// the store took the sessions in), then where the session is. Entries are numbers
/// only: comparing two never leaves the tree, and new sessions, whose deadlines are
/// the latest, are filed at its right edge.
type Entry = (u64, u64, Handle);

/// How many due entries a sweep takes from the index before reading their sessions.
const LOOKUP_BATCH: usize = 32;

/// A session that a sweep found due.
#[derive(Debug, PartialEq)]
pub(crate) struct Due {
    pub at: u64,
    pub order: u64,
    pub id: SessionId,
    pub reason: ExpiryReason,
    pub handle: Handle,
}

#[derive(Debug, Default)]
pub(crate) struct DeadlineIndex {
    entries: BTreeSet<Entry>,
}

impl DeadlineIndex {
    /// Files `session` after a change. Only a deadline that moved earlier, or a
    /// session that had no entry, costs a tree operation.
    pub fn file(&mut self, handle: Handle, session: &mut Session, config: &Config) {
        let actual = session.deadline_ms(config);
        match (session.indexed_deadline, actual) {
            (Some(filed), Some(due)) if due < filed => {
                self.entries.remove(&(filed, session.order, handle));
                self.entries.insert((due, session.order, handle));
                session.indexed_deadline = Some(due);
            }
            (None, Some(due)) => {
                self.entries.insert((due, session.order, handle));
                session.indexed_deadline = Some(due);
            }
            _ => {}
        }
    }

    /// Drops the entry of a session that is ending.
    pub fn remove(&mut self, handle: Handle, session: &mut Session) {
        if let Some(filed) = session.indexed_deadline.take() {
            self.entries.remove(&(filed, session.order, handle));
        }
    }

    /// The earliest filed deadline: never later than the real earliest deadline, so
    /// if it is in the future nothing is due (checked without touching a session).
    pub fn earliest_filed(&self) -> Option<u64> {
        self.entries.first().map(|(at, _, _)| *at)
    }

    /// The session that ends first, with its exact deadline.
    pub fn front(&mut self, table: &mut SessionTable, config: &Config) -> Option<(u64, Handle)> {
        self.first_exact(table, config, |_| true)
    }

    /// Takes every session due by `now` out of the index and hands each to
    /// `on_due` while it is in cache; returns them in the order they end
    /// (deadline, then `order`) with their exact deadlines, for what must happen in
    /// order. Due entries leave from the front of the tree (no search; the front
    /// path stays in cache). Early entries among them are re-filed at their real
    /// deadline or, if that is due too, put in order. (Splitting the tree at `now`
    /// would walk every node of the part that stays, to count it.)
    pub fn take_due(
        &mut self,
        table: &mut SessionTable,
        config: &Config,
        now: u64,
        mut on_due: impl FnMut(&mut SessionTable, Handle, ExpiryReason, u64),
    ) -> Vec<Due> {
        let mut due: Vec<Due> = Vec::new();
        let mut in_order = true;
        let mut batch: Vec<Entry> = Vec::with_capacity(LOOKUP_BATCH);
        loop {
            batch.clear();
            while batch.len() < LOOKUP_BATCH && self.earliest_filed().is_some_and(|at| at <= now) {
                match self.entries.pop_first() {
                    Some(entry) => batch.push(entry),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            // The batch's sessions are read in one tight pass: the loads do not depend
            // on each other, so the processor overlaps their cache misses (sessions
            // that end together were made at different times and lie far apart)
            // instead of waiting for each in turn. Each session has one entry, and
            // ending one changes no other, so these deadlines stay exact below.
            let mut deadlines = [None; LOOKUP_BATCH];
            for (slot, &(_, _, handle)) in deadlines.iter_mut().zip(&batch) {
                *slot = table.get(handle).map(|s| s.deadline(config));
            }
            for (&(_, order, handle), deadline) in batch.iter().zip(deadlines) {
                let Some(deadline) = deadline else {
                    continue;
                };
                let Some(session) = table.get_mut(handle) else {
                    continue;
                };
                match deadline {
                    Some((at, reason)) if at <= now => {
                        session.indexed_deadline = None;
                        let id = session.id.clone();
                        on_due(table, handle, reason, at);
                        in_order &= due
                            .last()
                            .is_none_or(|last| (last.at, last.order) <= (at, order));
                        due.push(Due {
                            at,
                            order,
                            id,
                            reason,
                            handle,
                        });
                    }
                    Some((at, _)) => {
                        session.indexed_deadline = Some(at);
                        self.entries.insert((at, order, handle));
                    }
                    None => session.indexed_deadline = None,
                }
            }
        }
        if !in_order {
            due.sort_by_key(|d| (d.at, d.order));
        }
        due
    }

    /// The session with nothing in flight whose deadline is nearest: the one the
    /// `evict-idlest` policy ends.
    pub fn idlest(&mut self, table: &mut SessionTable, config: &Config) -> Option<Handle> {
        self.first_exact(table, config, |s| s.in_flight == 0)
            .map(|(_, handle)| handle)
    }

    /// Walks entries in deadline order, re-filing early ones, and returns the first
    /// exact entry whose session `accept`s. Entries are visited in order of their
    /// exact deadlines because a re-filed entry only moves later.
    fn first_exact(
        &mut self,
        table: &mut SessionTable,
        config: &Config,
        accept: impl Fn(&Session) -> bool,
    ) -> Option<(u64, Handle)> {
        let mut after: Option<Entry> = None;
        loop {
            let entry = *match &after {
                None => self.entries.first(),
                Some(seen) => self
                    .entries
                    .range((Bound::Excluded(seen), Bound::Unbounded))
                    .next(),
            }?;
            let (filed, handle) = (entry.0, entry.2);
            let Some(session) = table.get_mut(handle) else {
                self.entries.remove(&entry);
                continue;
            };
            let actual = session.deadline_ms(config);
            if actual == Some(filed) {
                if accept(session) {
                    return Some((filed, handle));
                }
                after = Some(entry);
                continue;
            }
            self.entries.remove(&entry);
            session.indexed_deadline = actual;
            if let Some(due) = actual {
                self.entries.insert((due, entry.1, handle));
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

    fn add(table: &mut SessionTable, index: &mut DeadlineIndex, id: &str, last: u64) -> Handle {
        let order = index.len() as u64;
        let handle = table.insert(Session {
            order,
            ..Session::sample(id, last)
        });
        let session = table.get_mut(handle).unwrap();
        index.file(handle, session, &config());
        handle
    }

    fn config() -> Config {
        Config {
            idle_timeout_ms: 100,
            ..Config::default()
        }
    }

    #[test]
    fn touches_do_not_refile_until_the_entry_reaches_the_front() {
        let (mut table, mut index) = (SessionTable::default(), DeadlineIndex::default());
        let a = add(&mut table, &mut index, "a", 0);
        let b = add(&mut table, &mut index, "b", 10);
        for t in 1..50 {
            let s = table.get_mut(a).unwrap();
            s.last_activity = t;
            index.file(a, s, &config());
            assert_eq!(
                s.indexed_deadline,
                Some(100),
                "a touch left the entry alone"
            );
        }
        assert_eq!(index.front(&mut table, &config()), Some((110, b)));
        assert_eq!(table.get(a).unwrap().indexed_deadline, Some(149));
        assert_eq!(index.len(), 2);
    }

    #[test]
    fn ties_go_in_the_order_sessions_were_taken() {
        let (mut table, mut index) = (SessionTable::default(), DeadlineIndex::default());
        let b = add(&mut table, &mut index, "b", 0);
        add(&mut table, &mut index, "a", 0);
        assert_eq!(index.front(&mut table, &config()), Some((100, b)));
    }

    #[test]
    fn busy_sessions_leave_the_index_and_come_back_when_idle() {
        let (mut table, mut index) = (SessionTable::default(), DeadlineIndex::default());
        let a = add(&mut table, &mut index, "a", 0);
        let b = add(&mut table, &mut index, "b", 50);
        table.get_mut(a).unwrap().in_flight = 1;
        assert_eq!(index.front(&mut table, &config()).unwrap().1, b);
        assert_eq!(index.len(), 1);
        let s = table.get_mut(a).unwrap();
        s.in_flight = 0;
        s.last_activity = 20;
        index.file(a, s, &config());
        assert_eq!(index.front(&mut table, &config()), Some((120, a)));
    }

    #[test]
    fn take_due_puts_early_entries_in_order_and_refiles_the_rest() {
        let (mut table, mut index) = (SessionTable::default(), DeadlineIndex::default());
        let a = add(&mut table, &mut index, "a", 0);
        let b = add(&mut table, &mut index, "b", 10);
        let c = add(&mut table, &mut index, "c", 20);
        let d = add(&mut table, &mut index, "d", 30);
        // Touches leave a, c and d filed early: a is now due after b, c not yet.
        for (handle, last) in [(a, 15), (c, 200)] {
            let s = table.get_mut(handle).unwrap();
            s.last_activity = last;
            index.file(handle, s, &config());
        }
        table.get_mut(d).unwrap().in_flight = 1;
        let mut seen = vec![];
        let due = index.take_due(&mut table, &config(), 130, |_, h, _, at| seen.push((h, at)));
        assert_eq!(seen, vec![(a, 115), (b, 110)], "handed over as found");
        let due: Vec<_> = due.iter().map(|d| (d.at, d.reason, d.handle)).collect();
        assert_eq!(
            due,
            vec![(110, ExpiryReason::Idle, b), (115, ExpiryReason::Idle, a)]
        );
        assert_eq!(index.len(), 1, "c re-filed, d dropped while busy");
        assert_eq!(table.get(c).unwrap().indexed_deadline, Some(300));
        assert_eq!(table.get(d).unwrap().indexed_deadline, None);
        assert!(index
            .take_due(&mut table, &config(), 299, |_, _, _, _| {})
            .is_empty());
        assert_eq!(index.front(&mut table, &config()), Some((300, c)));
    }

    #[test]
    fn idlest_skips_busy_sessions() {
        let config = Config {
            idle_timeout_ms: 100,
            absolute_lifetime_ms: Some(60),
            ..Config::default()
        };
        let (mut table, mut index) = (SessionTable::default(), DeadlineIndex::default());
        let a = add(&mut table, &mut index, "a", 0);
        let b = add(&mut table, &mut index, "b", 0);
        table.get_mut(a).unwrap().in_flight = 1;
        assert_eq!(index.idlest(&mut table, &config), Some(b));
        table.get_mut(b).unwrap().in_flight = 1;
        assert_eq!(index.idlest(&mut table, &config), None);
    }
}
