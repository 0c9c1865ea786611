//! The single-use ledger: which tokens have been redeemed and are not yet expired.
//!
//! Integrity, expiry and binding bound where and when a token can be replayed, but
//! not how often; the spec leaves single use to the server. Redeeming a token
//! records its ID until the token's own expiry, so a second redemption is refused
//! (`replayed`). Past its expiry a token is refused as `expired` before the ledger is
//! asked, so the entry is no longer needed and is forgotten.
//!
//! Entries are kept in deadline order, `(expires_at, id)`, in a `BTreeSet` (tokens'
//! lifetimes differ, so the per-timeout lists of the session expiry index do not
//! fit), beside a hash set for the membership test. Forgetting takes the earliest
//! entries while they are due: a call costs O(log n) plus O(log n) per entry that
//! expired, never a scan of the whole ledger.
//!
//! Memory is bounded by `max_entries`. A full ledger refuses the redemption
//! (`ledger_full`) rather than forget an unexpired entry: forgetting one would let
//! that token be replayed, so the ledger fails closed.

use std::collections::{BTreeSet, HashSet};

use super::codec::TokenId;
use super::Refusal;

/// Where a codec records a redeemed token: its own in-process [`Ledger`], or a
/// [`crate::SessionStore`], whose ledger is journaled, snapshotted and swept with
/// its sessions (so single use survives a restart, and a shared store can share it).
pub trait SingleUse {
    /// True if `id` has been redeemed and its token has not yet expired.
    fn redeemed(&self, id: &TokenId) -> bool;
    /// Records `id` (a token valid until `expires_at`) as redeemed at `now`: refuses
    /// a second redemption (`replayed`), a token already expired (`expired`), and
    /// any redemption while full of unexpired entries (`ledger_full`).
    fn consume(&mut self, id: TokenId, expires_at: u64, now: u64) -> Result<(), Refusal>;
}

/// The redeemed, unexpired token IDs.
#[derive(Debug, Clone)]
pub struct Ledger {
    by_deadline: BTreeSet<(u64, TokenId)>,
    ids: HashSet<TokenId>,
    max_entries: usize,
}

impl Ledger {
    /// An empty ledger that holds at most `max_entries` IDs.
    pub fn new(max_entries: usize) -> Self {
        Ledger {
            by_deadline: BTreeSet::new(),
            ids: HashSet::new(),
            max_entries,
        }
    }

    /// Records `id` (a token valid until `expires_at`) as redeemed at `now`, first
    /// forgetting what expired. Refuses a second redemption, and refuses when full.
    pub fn consume(&mut self, id: TokenId, expires_at: u64, now: u64) -> Result<(), Refusal> {
        self.sweep(now);
        self.record(id, expires_at, now)
    }

    /// `consume` without the sweep (the store has swept already).
    pub(crate) fn record(&mut self, id: TokenId, expires_at: u64, now: u64) -> Result<(), Refusal> {
        if self.ids.contains(&id) {
            return Err(Refusal::Replayed);
        }
        if expires_at <= now {
            // Already refused as expired by the codec; never kept.
            return Err(Refusal::Expired);
        }
        if self.ids.len() >= self.max_entries {
            return Err(Refusal::LedgerFull);
        }
        self.ids.insert(id);
        self.by_deadline.insert((expires_at, id));
        Ok(())
    }

    /// Takes back an entry `record` made (a store undoing a batch it could not
    /// make durable).
    pub(crate) fn remove(&mut self, id: &TokenId, expires_at: u64) {
        if self.by_deadline.remove(&(expires_at, *id)) {
            self.ids.remove(id);
        }
    }

    /// Every entry, `(expires_at, id)`, earliest first (for snapshots).
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, TokenId)> + '_ {
        self.by_deadline.iter().copied()
    }

    /// True if `id` is recorded (and not yet forgotten).
    pub fn contains(&self, id: &TokenId) -> bool {
        self.ids.contains(id)
    }

    /// Forgets every entry whose token has expired at `now`; returns how many.
    pub fn sweep(&mut self, now: u64) -> usize {
        self.sweep_with(now, |_| {})
    }

    /// `sweep`, handing each forgotten entry `(expires_at, id)` to `forgot`.
    pub(crate) fn sweep_with(&mut self, now: u64, mut forgot: impl FnMut((u64, TokenId))) -> usize {
        let mut forgotten = 0;
        while let Some(&(deadline, id)) = self.by_deadline.first() {
            if deadline > now {
                break;
            }
            self.by_deadline.pop_first();
            self.ids.remove(&id);
            forgot((deadline, id));
            forgotten += 1;
        }
        forgotten
    }

    /// Puts back an entry a sweep forgot (a store undoing a batch).
    pub(crate) fn unforget(&mut self, expires_at: u64, id: TokenId) {
        if self.ids.insert(id) {
            self.by_deadline.insert((expires_at, id));
        }
    }

    /// When the earliest entry can be forgotten: the host's next `sweep`, if it
    /// wants memory back without waiting for the next redemption.
    pub fn next_deadline(&self) -> Option<u64> {
        self.by_deadline.first().map(|&(deadline, _)| deadline)
    }

    /// How many IDs are recorded.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True if nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The most IDs the ledger holds.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }
}

impl SingleUse for Ledger {
    fn redeemed(&self, id: &TokenId) -> bool {
        self.contains(id)
    }

    fn consume(&mut self, id: TokenId, expires_at: u64, now: u64) -> Result<(), Refusal> {
        Ledger::consume(self, id, expires_at, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> TokenId {
        [n; 16]
    }

    #[test]
    fn a_second_redemption_is_refused_until_expiry() {
        let mut l = Ledger::new(10);
        assert_eq!(l.consume(id(1), 100, 0), Ok(()));
        assert_eq!(l.consume(id(1), 100, 50), Err(Refusal::Replayed));
        assert_eq!(l.next_deadline(), Some(100));
        assert_eq!(l.sweep(99), 0);
        assert_eq!(l.sweep(100), 1);
        assert!(l.is_empty());
        assert_eq!(l.next_deadline(), None);
    }

    #[test]
    fn a_full_ledger_fails_closed_and_expiry_frees_room() {
        let mut l = Ledger::new(2);
        assert_eq!(l.consume(id(1), 100, 0), Ok(()));
        assert_eq!(l.consume(id(2), 200, 0), Ok(()));
        assert_eq!(l.consume(id(3), 300, 10), Err(Refusal::LedgerFull));
        // Nothing unexpired was forgotten to make room.
        assert!(l.contains(&id(1)) && l.contains(&id(2)));
        assert_eq!(l.consume(id(1), 100, 10), Err(Refusal::Replayed));
        // At 100 the first entry's token has expired: its room is free.
        assert_eq!(l.consume(id(3), 300, 100), Ok(()));
        assert!(!l.contains(&id(1)));
        assert_eq!(l.len(), 2);
    }

    #[test]
    fn sweeps_take_entries_in_deadline_order_whatever_the_insertion_order() {
        let mut l = Ledger::new(10);
        for (n, deadline) in [(1, 500), (2, 100), (3, 300), (4, 200)] {
            l.consume(id(n), deadline, 0).unwrap();
        }
        assert_eq!(l.sweep(250), 2);
        assert!(l.contains(&id(1)) && l.contains(&id(3)));
        assert_eq!(l.next_deadline(), Some(300));
    }

    #[test]
    fn an_expired_token_is_never_recorded() {
        let mut l = Ledger::new(1);
        assert_eq!(l.consume(id(1), 100, 100), Err(Refusal::Expired));
        assert!(l.is_empty());
    }
}
