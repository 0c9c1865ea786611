//! The deadline index: which session ends next, with O(1) work on every request.
//!
//! A session has at most two deadlines: its *phase* deadline (the init timeout while
//! initializing, else the idle timeout while nothing is in flight) and its absolute
//! *lifetime*. Every deadline of one kind grows the same way: a touch sets it to
//! `now + timeout` with the same timeout, and the store's clock never goes back. So
//! sessions that share a timeout are kept in one intrusive doubly-linked list in
//! deadline order, and a touch moves a session to the back of its list in O(1): no
//! tree, no heap, no stale entries for a later call to re-file in bulk. There is one
//! list for the init timeout, one for the lifetime, and one per distinct idle timeout
//! (the store's, plus any per-session one). The earliest deadline is the earliest of
//! the lists' heads, and a sweep takes heads in order, so its cost is proportional to
//! what expires, whatever happened before.
//!
//! Entries are ordered by `(deadline, seq)`, where `seq` is the store's sequence
//! number taken when the deadline was set: sessions with equal deadlines end in the
//! order their deadlines were set. Appends are in that order by construction; an
//! entry that is not (a restored session) walks back from the tail to its place.
//!
//! Nodes live in vectors indexed by the session's table handle, beside the table
//! rather than inside the session: the index links and unlinks without touching the
//! session's memory, and a store without an absolute lifetime holds no lifetime nodes.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::session::{Phase, RecordKind, Session};
use crate::table::Handle;

const NIL: u32 = u32::MAX;
/// The list of initializing sessions (init timeout).
const INIT: u32 = 0;
/// The list of every session's absolute lifetime (when configured).
const LIFETIME: u32 = 1;
/// The list of every state handle's lifetime (always set).
const HANDLE_LIFETIME: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    prev: u32,
    next: u32,
    /// The list this node is in, or `NIL` when unlinked.
    list: u32,
    deadline: u64,
    seq: u64,
}

/// What one deadline of a session costs the index, in bytes (for `stats`).
pub(crate) const NODE_BYTES: usize = std::mem::size_of::<Node>();

const UNLINKED: Node = Node {
    prev: NIL,
    next: NIL,
    list: NIL,
    deadline: 0,
    seq: 0,
};

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// A node vector and operations on the lists whose nodes it holds.
#[derive(Debug, Default)]
struct Nodes(Vec<Node>);

impl Nodes {
    fn get(&self, handle: u32) -> Option<&Node> {
        self.0.get(handle as usize)
    }

    fn linked(&self, handle: u32) -> Option<&Node> {
        self.get(handle).filter(|n| n.list != NIL)
    }

    fn set_prev(&mut self, handle: u32, prev: u32) {
        if let Some(n) = self.0.get_mut(handle as usize) {
            n.prev = prev;
        }
    }

    fn set_next(&mut self, handle: u32, next: u32) {
        if let Some(n) = self.0.get_mut(handle as usize) {
            n.next = next;
        }
    }

    /// Takes `handle` out of whichever list holds it.
    fn unlink(&mut self, lists: &mut [List], handle: u32) {
        let Some(node) = self.linked(handle).copied() else {
            return;
        };
        let Some(list) = lists.get_mut(node.list as usize) else {
            return;
        };
        if node.prev == NIL {
            list.head = node.next;
        } else {
            self.set_next(node.prev, node.next);
        }
        if node.next == NIL {
            list.tail = node.prev;
        } else {
            self.set_prev(node.next, node.prev);
        }
        if let Some(n) = self.0.get_mut(handle as usize) {
            *n = UNLINKED;
        }
    }

    /// Puts `handle` (unlinked) into `list` at its place by `(deadline, seq)`:
    /// the back, unless the tail is later (then it walks back).
    fn link(&mut self, lists: &mut [List], list_id: u32, handle: u32, deadline: u64, seq: u64) {
        let Some(list) = lists.get_mut(list_id as usize) else {
            return;
        };
        if self.0.len() <= handle as usize {
            self.0.resize(handle as usize + 1, UNLINKED);
        }
        let mut after = list.tail;
        while let Some(n) = self.get(after) {
            if (n.deadline, n.seq) <= (deadline, seq) {
                break;
            }
            after = n.prev;
        }
        let before = match self.get(after) {
            Some(n) => n.next,
            None => list.head,
        };
        if let Some(n) = self.0.get_mut(handle as usize) {
            *n = Node {
                prev: after,
                next: before,
                list: list_id,
                deadline,
                seq,
            };
        }
        if after == NIL {
            list.head = handle;
        } else {
            self.set_next(after, handle);
        }
        if before == NIL {
            list.tail = handle;
        } else {
            self.set_prev(before, handle);
        }
    }
}

/// A session's phase deadline: `(idle timeout, deadline)` for an idle session,
/// `(None, deadline)` for an initializing one, `None` while a request is in flight.
pub(crate) fn phase_deadline(session: &Session, config: &Config) -> Option<(Option<u64>, u64)> {
    if session.kind == RecordKind::Handle {
        let timeout = config.handle_idle_timeout_ms;
        return Some((Some(timeout), session.last_activity.saturating_add(timeout)));
    }
    match session.phase {
        Phase::Initializing => Some((
            None,
            session.created_at.saturating_add(config.init_timeout_ms),
        )),
        Phase::Active | Phase::Disconnected if session.in_flight == 0 => {
            let timeout = session.idle_timeout_ms.unwrap_or(config.idle_timeout_ms);
            Some((Some(timeout), session.last_activity.saturating_add(timeout)))
        }
        Phase::Active | Phase::Disconnected => None,
    }
}

/// A record's absolute lifetime: `(list, deadline)`. A session has one only when
/// `absolute_lifetime_ms` is set; a state handle always has one.
pub(crate) fn lifetime_deadline(session: &Session, config: &Config) -> Option<(u32, u64)> {
    let (list, lifetime) = match session.kind {
        RecordKind::Handle => (HANDLE_LIFETIME, config.handle_lifetime_ms),
        RecordKind::Session => (LIFETIME, config.absolute_lifetime_ms?),
    };
    Some((list, session.created_at.saturating_add(lifetime)))
}

#[derive(Debug)]
pub(crate) struct DeadlineIndex {
    /// Phase deadline nodes, by handle.
    phase: Nodes,
    /// Lifetime nodes, by handle (empty without an absolute lifetime).
    life: Nodes,
    /// `INIT`, `LIFETIME`, `HANDLE_LIFETIME`, then one list per idle timeout and
    /// kind.
    lists: Vec<List>,
    /// Idle timeout -> its list, for sessions.
    idle_lists: BTreeMap<u64, u32>,
    /// Idle timeout -> its list, for state handles: apart from the sessions'
    /// lists, so that `idlest` (which evicts sessions) never meets a handle.
    handle_idle_lists: BTreeMap<u64, u32>,
}

impl Default for DeadlineIndex {
    fn default() -> Self {
        DeadlineIndex {
            phase: Nodes::default(),
            life: Nodes::default(),
            lists: vec![EMPTY, EMPTY, EMPTY],
            idle_lists: BTreeMap::new(),
            handle_idle_lists: BTreeMap::new(),
        }
    }
}

impl DeadlineIndex {
    /// Files `session` after a change: its phase deadline moves to its place when it
    /// changed (a touch: to the back of its list, O(1)), and its lifetime is filed
    /// once. Entries made here take `seq`; answers whether any did.
    pub fn file(&mut self, handle: Handle, session: &Session, config: &Config, seq: u64) -> bool {
        let phase = self.file_phase(handle, session, config, seq);
        let life = self.file_lifetime(handle, session, config, seq);
        phase || life
    }

    /// The phase half of [`file`](Self::file).
    pub fn file_phase(
        &mut self,
        handle: Handle,
        session: &Session,
        config: &Config,
        seq: u64,
    ) -> bool {
        let place = phase_deadline(session, config).map(|(timeout, deadline)| {
            let list = match timeout {
                None => INIT,
                Some(timeout) => {
                    let lists = if session.kind == RecordKind::Handle {
                        &mut self.handle_idle_lists
                    } else {
                        &mut self.idle_lists
                    };
                    *lists.entry(timeout).or_insert_with(|| {
                        self.lists.push(EMPTY);
                        u32::try_from(self.lists.len() - 1).unwrap_or(NIL)
                    })
                }
            };
            (list, deadline)
        });
        let current = self.phase.linked(handle).map(|n| (n.list, n.deadline));
        if current == place {
            return false;
        }
        self.phase.unlink(&mut self.lists, handle);
        match place {
            Some((list, deadline)) => {
                self.phase
                    .link(&mut self.lists, list, handle, deadline, seq);
                true
            }
            None => false,
        }
    }

    /// The lifetime half of [`file`](Self::file): a lifetime never moves.
    pub fn file_lifetime(
        &mut self,
        handle: Handle,
        session: &Session,
        config: &Config,
        seq: u64,
    ) -> bool {
        let Some((list, deadline)) = lifetime_deadline(session, config) else {
            return false;
        };
        if self.life.linked(handle).is_some() {
            return false;
        }
        self.life.link(&mut self.lists, list, handle, deadline, seq);
        true
    }

    /// Drops every entry of a session that is ending.
    pub fn remove(&mut self, handle: Handle) {
        self.phase.unlink(&mut self.lists, handle);
        self.life.unlink(&mut self.lists, handle);
    }

    fn nodes(&self, list: u32) -> &Nodes {
        if list == LIFETIME || list == HANDLE_LIFETIME {
            &self.life
        } else {
            &self.phase
        }
    }

    /// The head of every list: `(deadline, seq, handle)`.
    fn heads(&self) -> impl Iterator<Item = (u64, u64, Handle)> + '_ {
        self.lists.iter().enumerate().filter_map(|(i, list)| {
            let id = u32::try_from(i).ok()?;
            let n = self.nodes(id).get(list.head)?;
            Some((n.deadline, n.seq, list.head))
        })
    }

    /// The earliest deadline of any session. O(number of lists).
    pub fn earliest(&self) -> Option<u64> {
        self.heads().map(|(at, _, _)| at).min()
    }

    /// The earliest deadline of a record of `kind`. O(number of lists).
    pub fn earliest_of(&self, kind: RecordKind) -> Option<u64> {
        let handle_lists: Vec<u32> = std::iter::once(HANDLE_LIFETIME)
            .chain(self.handle_idle_lists.values().copied())
            .collect();
        self.lists
            .iter()
            .enumerate()
            .filter_map(|(i, list)| {
                let id = u32::try_from(i).ok()?;
                let of_handles = handle_lists.contains(&id);
                if of_handles != (kind == RecordKind::Handle) {
                    return None;
                }
                self.nodes(id).get(list.head).map(|n| n.deadline)
            })
            .min()
    }

    /// Takes the session that ends first out of the index if its deadline is at or
    /// before `now`: `(deadline, handle)`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u64, Handle)> {
        let (at, _, handle) = self.heads().min()?;
        if at > now {
            return None;
        }
        self.remove(handle);
        Some((at, handle))
    }

    /// The session with nothing in flight that ends first: the one the
    /// `evict-idlest` policy ends. A session in flight has no phase entry; its
    /// lifetime entry is passed over (few sessions are in flight at once). State
    /// handles are never evicted: their lists are passed over.
    pub fn idlest(&self) -> Option<Handle> {
        let by_phase = self
            .lists
            .iter()
            .enumerate()
            .filter(|&(i, _)| {
                i != LIFETIME as usize
                    && i != HANDLE_LIFETIME as usize
                    && !self.handle_idle_lists.values().any(|&l| l as usize == i)
            })
            .filter_map(|(_, list)| {
                let n = self.phase.get(list.head)?;
                Some((n.deadline, n.seq, list.head))
            })
            .min();
        let mut at = self.lists.get(LIFETIME as usize).map_or(NIL, |l| l.head);
        let mut by_lifetime = None;
        while let Some(n) = self.life.get(at) {
            if self.phase.linked(at).is_some() {
                by_lifetime = Some((n.deadline, n.seq, at));
                break;
            }
            at = n.next;
        }
        by_phase
            .into_iter()
            .chain(by_lifetime)
            .min()
            .map(|(_, _, h)| h)
    }

    #[cfg(test)]
    fn order(&self, list: u32) -> Vec<Handle> {
        let nodes = self.nodes(list);
        let mut out = vec![];
        let mut at = self.lists[list as usize].head;
        while let Some(n) = nodes.get(at) {
            out.push(at);
            at = n.next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            idle_timeout_ms: 100,
            ..Config::default()
        }
    }

    fn session(last: u64) -> Session {
        Session::sample("s", last)
    }

    #[test]
    fn a_touch_moves_the_session_to_the_back_of_its_list() {
        let mut index = DeadlineIndex::default();
        let c = config();
        assert!(index.file(0, &session(0), &c, 0));
        assert!(index.file(1, &session(10), &c, 1));
        assert!(index.file(2, &session(20), &c, 2));
        assert_eq!(index.earliest(), Some(100));
        assert!(index.file(0, &session(30), &c, 3));
        assert_eq!(index.earliest(), Some(110));
        let list = index.idle_lists[&100];
        assert_eq!(index.order(list), vec![1, 2, 0]);
        assert!(
            !index.file(0, &session(30), &c, 4),
            "same deadline: no move"
        );
    }

    #[test]
    fn pop_due_takes_heads_in_deadline_order_across_lists() {
        let mut index = DeadlineIndex::default();
        let c = config();
        let mut own = session(0);
        own.idle_timeout_ms = Some(50);
        index.file(0, &session(0), &c, 0);
        index.file(1, &own, &c, 1);
        let mut init = session(0);
        init.phase = Phase::Initializing;
        init.created_at = 0;
        index.file(
            2,
            &init,
            &Config {
                init_timeout_ms: 70,
                ..c.clone()
            },
            2,
        );
        assert_eq!(index.pop_due(200), Some((50, 1)));
        assert_eq!(index.pop_due(200), Some((70, 2)));
        assert_eq!(index.pop_due(99), None);
        assert_eq!(index.pop_due(100), Some((100, 0)));
        assert_eq!(index.earliest(), None);
    }

    #[test]
    fn busy_sessions_leave_their_list_and_come_back_at_the_back() {
        let mut index = DeadlineIndex::default();
        let c = config();
        index.file(0, &session(0), &c, 0);
        index.file(1, &session(5), &c, 1);
        let mut busy = session(10);
        busy.in_flight = 1;
        assert!(!index.file(0, &busy, &c, 2));
        assert_eq!(index.earliest(), Some(105));
        index.file(0, &session(20), &c, 3);
        assert_eq!(index.order(index.idle_lists[&100]), vec![1, 0]);
    }

    #[test]
    fn an_entry_filed_out_of_order_walks_back_to_its_place() {
        let mut index = DeadlineIndex::default();
        let c = config();
        index.file(5, &session(50), &c, 0);
        index.file(6, &session(60), &c, 1);
        index.file(7, &session(10), &c, 2);
        index.file(8, &session(60), &c, 3);
        index.file(9, &session(60), &c, 0);
        assert_eq!(index.order(index.idle_lists[&100]), vec![7, 5, 9, 6, 8]);
    }

    #[test]
    fn idlest_passes_over_sessions_in_flight() {
        let c = Config {
            idle_timeout_ms: 100,
            absolute_lifetime_ms: Some(60),
            ..Config::default()
        };
        let mut index = DeadlineIndex::default();
        let mut busy = session(0);
        busy.in_flight = 1;
        index.file(0, &busy, &c, 0);
        index.file(1, &session(0), &c, 1);
        assert_eq!(index.idlest(), Some(1));
        assert_eq!(index.earliest(), Some(60));
        index.remove(1);
        assert_eq!(index.idlest(), None);
        assert_eq!(index.pop_due(60), Some((60, 0)));
    }
}
