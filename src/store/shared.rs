//! A store shared by several instances (Redis): each instance's core holds
//! working copies.
//!
//! The shared store holds the records; each instance's core still makes every
//! lifecycle decision. Before a call the host fetches the records it is about
//! (one round trip) and [`SessionStore::adopt`]s them in place of whatever copies
//! it held, since another instance may have changed them; the call runs as ever;
//! the host writes the journal's export with a compare-and-set on the revisions it
//! fetched, then commits, or reverts and tries again from a fresh fetch; and it
//! [`SessionStore::release`]s the copies, so that a stale one never answers a
//! later call. The caps count live records fleet-wide, which only the shared store
//! sees: it refuses the write that would pass them, and the host answers with the
//! core's limit error.

use crate::error::SessionError;
use crate::ids::check_session_id;
use crate::snapshot::{self, RestoreReport};

use super::persistence::Applying;
use super::{check_now, SessionStore};

impl SessionStore {
    /// Takes the records of `text` (an [`Self::export`] document fetched from the
    /// shared store) in place of any local copies of them, and drops the local
    /// copies of the other `ids` (fetched, and not there: gone fleet-wide). A record
    /// already past its deadline is taken too: the call that follows ends it, as
    /// expired. Nothing is announced or journaled; the local caps are not applied.
    /// Invalid input changes nothing.
    pub fn adopt(
        &mut self,
        ids: &[String],
        text: &str,
        now: u64,
    ) -> Result<RestoreReport, SessionError> {
        check_now(now)?;
        for id in ids {
            check_session_id(id)?;
        }
        let valid = snapshot::parse(text, &self.settings)?;
        let fetched: Vec<String> = valid
            .sessions
            .iter()
            .flatten()
            .chain(valid.ended.iter())
            .map(|s| s.id.to_string())
            .collect();
        // Requests in flight here are this instance's own fact, not the shared
        // store's: the fresh copy keeps them (and so has no idle deadline yet).
        let in_flight: Vec<(String, u32)> = fetched
            .iter()
            .filter_map(|id| {
                let (_, s) = self.sessions.lookup(id)?;
                (s.end.is_none() && s.in_flight > 0).then(|| (id.clone(), s.in_flight))
            })
            .collect();
        Ok(self.unjournaled(|store| {
            store.drop_copies(ids.iter().chain(fetched.iter()));
            let report = store.apply(valid, now, Applying::Adopt);
            for (id, n) in in_flight {
                store.keep_in_flight(&id, n);
            }
            report
        }))
    }

    /// Gives the adopted live copy of `id` the requests in flight its replaced
    /// copy had, and files its deadlines again (none while busy).
    fn keep_in_flight(&mut self, id: &str, n: u32) {
        let config = &self.settings.config;
        let Some((handle, session)) = self.sessions.lookup_mut(id) else {
            return;
        };
        if session.end.is_some() {
            return;
        }
        session.in_flight = n;
        if self.index.file(handle, session, config, self.taken) {
            self.taken += 1;
        }
    }

    /// Drops the local copies of `ids`, live or ended, as if never held: no event,
    /// nothing journaled. Unknown IDs are passed over.
    pub fn release(&mut self, ids: &[String]) -> Result<(), SessionError> {
        for id in ids {
            check_session_id(id)?;
        }
        self.unjournaled(|store| store.drop_copies(ids.iter()));
        Ok(())
    }

    fn drop_copies<'a>(&mut self, ids: impl Iterator<Item = &'a String>) {
        for id in ids {
            let Some((handle, s)) = self.sessions.lookup(id) else {
                continue;
            };
            let (ended_at, principal, kind) = (
                s.end.as_ref().map(|e| e.at),
                s.data.principal.clone(),
                s.kind,
            );
            match ended_at {
                None => {
                    self.index.remove(handle);
                    self.uncount_live(kind, principal.as_deref(), handle);
                }
                Some(at) => self.ended.unremember(handle, at),
            }
            self.sessions.remove(handle);
        }
    }
}
