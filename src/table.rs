//! The session table: every session the store knows, live or ended, by ID.
//!
//! Sessions live in fixed-size chunks and are named by a [`Handle`] (their slot), so
//! the indexes refer to them with four bytes and reach them without hashing. The ID
//! map is a `hashbrown` table of handles alone: the ID is stored once, in the slot,
//! and compared there. Chunks are never moved or copied, so growing the table never
//! holds the old and the new copy at once (WebAssembly memory never shrinks, so a
//! peak is paid for good). A live session that ends stays in its slot, marked
//! ended: ending one costs no move from one map to another.

use std::hash::{Hash, Hasher};

use foldhash::fast::FoldHasher;
use foldhash::SharedSeed;
use hashbrown::HashTable;

use crate::session::{Session, SessionData};
use crate::session_id::SessionId;

/// A session's slot in the table; stable for as long as the session is stored.
pub(crate) type Handle = u32;

pub(crate) const CHUNK_BITS: u32 = 12;
/// Sessions per chunk (also the staging's, so that a restore can hand its chunks'
/// memory over: see `offer_chunk`).
pub(crate) const CHUNK: usize = 1 << CHUNK_BITS;

/// How session IDs are hashed: foldhash (several times faster than SipHash on
/// ID-sized keys, which matters on every request), keyed per store by 128 bits from
/// the store's ID source, so that clients cannot aim IDs at one bucket. Both of
/// foldhash's seeds come from those bits, not from its process-wide random seed:
/// the store's randomness comes in through its ID source only.
pub(crate) struct IdHasher {
    per_hasher: u64,
    shared: SharedSeed,
}

/// Shows no key: they decide where IDs land.
impl std::fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdHasher")
    }
}

impl IdHasher {
    /// A hasher keyed by `seed` (from [`crate::IdSource::hash_seed`]): the high half
    /// makes foldhash's shared seed, the low half its per-hasher seed.
    pub fn new(seed: u128) -> Self {
        let (high, low) = ((seed >> 64) as u64, seed as u64);
        IdHasher {
            per_hasher: low,
            shared: SharedSeed::from_u64(high),
        }
    }

    pub fn hash_id(&self, id: &SessionId) -> u64 {
        let mut hasher = FoldHasher::with_seed(self.per_hasher, &self.shared);
        id.hash(&mut hasher);
        hasher.finish()
    }
}

pub(crate) struct SessionTable {
    chunks: Vec<Vec<Option<Session>>>,
    /// An emptied chunk's memory, for the next chunk the table makes (see
    /// `offer_chunk`); kept until then, or until the restore that offered it ends.
    spare: Option<Vec<Option<Session>>>,
    free: Vec<Handle>,
    by_id: HashTable<Handle>,
    hasher: IdHasher,
    ended: usize,
    /// How many stored records are live state handles (counted apart: sessions'
    /// and handles' caps are separate).
    live_handles: usize,
    /// What the stored sessions hold, as `footprint` counts it.
    bytes: usize,
}

/// The ID map is made for this many sessions at once (or `max_sessions`, if fewer):
/// growing it rehashes every entry, which a new store would otherwise do a dozen
/// times in its first thousands of sessions. Four bytes and a control byte each.
const RESERVED_IDS: usize = 16_384;

impl SessionTable {
    /// An empty table whose IDs are hashed with `hasher`.
    pub fn new(hasher: IdHasher) -> Self {
        SessionTable {
            chunks: Vec::new(),
            spare: None,
            free: Vec::new(),
            by_id: HashTable::new(),
            hasher,
            ended: 0,
            live_handles: 0,
            bytes: 0,
        }
    }

    /// A table whose ID map has room for `expected` sessions (at most
    /// `RESERVED_IDS`) before it grows.
    pub fn with_capacity(hasher: IdHasher, expected: usize) -> Self {
        let mut table = SessionTable::new(hasher);
        table.by_id.reserve(expected.min(RESERVED_IDS), |_| 0);
        table
    }
}

/// The fixed part of a session's snapshot record (keys, ID, times, phase, version).
pub(crate) const RECORD_BYTES: usize = 256;

/// What a session holds, in bytes: about the size of its snapshot record (its
/// state and client metadata as JSON, its principal, and the fixed part). What
/// `max_total_bytes` bounds, so that the snapshot's size is bounded.
pub(crate) fn footprint(session: &Session) -> usize {
    footprint_of(&session.data)
}

/// `footprint` of a session's data.
pub(crate) fn footprint_of(data: &SessionData) -> usize {
    RECORD_BYTES
        + data.state_bytes
        + data.principal.as_deref().map_or(0, str::len)
        + data.client_info.as_ref().map_or(0, |m| m.bytes)
        + data.capabilities.as_ref().map_or(0, |m| m.bytes)
}

fn is_handle(session: &Session) -> bool {
    session.kind == crate::session::RecordKind::Handle
}

fn is_live_handle(session: &Session) -> bool {
    is_handle(session) && session.end.is_none()
}

fn slot(chunks: &[Vec<Option<Session>>], handle: Handle) -> Option<&Session> {
    let chunk = chunks.get((handle >> CHUNK_BITS) as usize)?;
    chunk.get(handle as usize & (CHUNK - 1))?.as_ref()
}

impl SessionTable {
    /// How many stored sessions are live (state handles not counted).
    pub fn live(&self) -> usize {
        self.by_id.len() - self.ended - self.live_handles
    }

    /// True if no session is stored, live or ended.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// How many stored state handles are live.
    pub fn live_handles(&self) -> usize {
        self.live_handles
    }

    pub fn get(&self, handle: Handle) -> Option<&Session> {
        slot(&self.chunks, handle)
    }

    pub fn get_mut(&mut self, handle: Handle) -> Option<&mut Session> {
        let chunk = self.chunks.get_mut((handle >> CHUNK_BITS) as usize)?;
        chunk.get_mut(handle as usize & (CHUNK - 1))?.as_mut()
    }

    /// The handle of the session with this ID, live or ended.
    pub fn find(&self, id: &SessionId) -> Option<Handle> {
        let hash = self.hasher.hash_id(id);
        let chunks = &self.chunks;
        self.by_id
            .find(hash, |&h| slot(chunks, h).is_some_and(|s| s.id == *id))
            .copied()
    }

    /// The session with this ID as text, live or ended.
    pub fn lookup(&self, id: &str) -> Option<(Handle, &Session)> {
        let handle = self.find(&SessionId::new(id))?;
        Some((handle, self.get(handle)?))
    }

    pub fn lookup_mut(&mut self, id: &str) -> Option<(Handle, &mut Session)> {
        let handle = self.find(&SessionId::new(id))?;
        Some((handle, self.get_mut(handle)?))
    }

    /// Stores a session whose ID is not stored yet (the caller checks).
    pub fn insert(&mut self, session: Session) -> Handle {
        self.bytes += footprint(&session);
        let hash = self.hasher.hash_id(&session.id);
        if session.end.is_some() {
            self.ended += 1;
        } else if is_handle(&session) {
            self.live_handles += 1;
        }
        let handle = match self.free.pop() {
            Some(handle) => {
                if let Some(place) = self
                    .chunks
                    .get_mut((handle >> CHUNK_BITS) as usize)
                    .and_then(|c| c.get_mut(handle as usize & (CHUNK - 1)))
                {
                    *place = Some(session);
                }
                handle
            }
            None => {
                if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
                    // The first chunk grows as needed (a small store stays small);
                    // later ones are made whole, so filling them never reallocates.
                    let chunk = match self.spare.take() {
                        Some(spare) if !self.chunks.is_empty() => spare,
                        spare => {
                            self.spare = spare;
                            let capacity = if self.chunks.is_empty() { 0 } else { CHUNK };
                            Vec::with_capacity(capacity)
                        }
                    };
                    self.chunks.push(chunk);
                }
                let full = (self.chunks.len() - 1) * CHUNK;
                let last = self.chunks.len() - 1;
                let chunk = self.chunks.get_mut(last);
                let index = chunk.as_ref().map_or(0, |c| c.len());
                if let Some(chunk) = chunk {
                    chunk.push(Some(session));
                }
                Handle::try_from(full + index).unwrap_or(Handle::MAX)
            }
        };
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.by_id.insert_unique(hash, handle, |&h| {
            slot(chunks, h).map_or(0, |s| hasher.hash_id(&s.id))
        });
        handle
    }

    /// Offers an emptied chunk of `CHUNK` slots for the next chunk the table
    /// makes: a restore hands over the staging's chunks as it has read them, so
    /// that the table fills memory the staging held rather than new memory (a
    /// million sessions are some 200 MB). One is kept; others are dropped.
    pub fn offer_chunk(&mut self, mut chunk: Vec<Option<Session>>) {
        if self.spare.is_none() && chunk.capacity() == CHUNK {
            chunk.clear();
            self.spare = Some(chunk);
        }
    }

    /// Drops an offered chunk the table did not need: a small restore leaves no
    /// chunk's worth of memory (some 800 KB) held for a growth that may never come.
    pub fn release_spare(&mut self) {
        self.spare = None;
    }

    /// Takes a session out of the table; its handle may be reused.
    pub fn remove(&mut self, handle: Handle) -> Option<Session> {
        let id_hash = self.hasher.hash_id(&self.get(handle)?.id);
        if let Ok(entry) = self.by_id.find_entry(id_hash, |&h| h == handle) {
            entry.remove();
        }
        let session = self
            .chunks
            .get_mut((handle >> CHUNK_BITS) as usize)?
            .get_mut(handle as usize & (CHUNK - 1))?
            .take()?;
        if session.end.is_some() {
            self.ended -= 1;
        } else if is_handle(&session) {
            self.live_handles -= 1;
        }
        self.bytes = self.bytes.saturating_sub(footprint(&session));
        self.free.push(handle);
        Some(session)
    }

    /// Puts `session` (with the same ID) in place of the one in `handle`: an undone
    /// change puts back what was there before it.
    pub fn replace(&mut self, handle: Handle, session: Session) {
        let (was_ended, is_ended) = (
            self.get(handle).is_some_and(|s| s.end.is_some()),
            session.end.is_some(),
        );
        let (before, after) = (self.get(handle).map_or(0, footprint), footprint(&session));
        let was_live_handle = self.get(handle).is_some_and(is_live_handle);
        let is_live = is_live_handle(&session);
        if let Some(place) = self.get_mut(handle) {
            *place = session;
            match (was_live_handle, is_live) {
                (false, true) => self.live_handles += 1,
                (true, false) => self.live_handles -= 1,
                _ => {}
            }
            self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
            match (was_ended, is_ended) {
                (false, true) => self.ended += 1,
                (true, false) => self.ended -= 1,
                _ => {}
            }
        }
    }

    /// Records that a live session ended: it stays, answering for its ID.
    pub fn mark_ended(&mut self, handle: Handle, end: crate::session::Ending) {
        let mut was_live_handle = false;
        if let Some(session) = self.get_mut(handle) {
            if session.end.is_none() {
                was_live_handle = is_handle(session);
                session.end = Some(end);
                self.ended += 1;
            }
        }
        if was_live_handle {
            self.live_handles -= 1;
        }
    }

    /// What every stored session holds, in bytes (see `footprint`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Records that a stored session's footprint went from `before` to `after` bytes
    /// (its state changed, or it dropped its data when it ended).
    pub fn resized(&mut self, before: usize, after: usize) {
        self.bytes = self.bytes.saturating_sub(before).saturating_add(after);
    }

    /// Makes room in the ID map for `more` sessions, so that a restore grows it
    /// once instead of rehashing every entry at each doubling.
    pub fn reserve(&mut self, more: usize) {
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.by_id.reserve(more, |&h| {
            slot(chunks, h).map_or(0, |s| hasher.hash_id(&s.id))
        });
    }

    /// Every stored session in slot `from` or after, with its slot, in slot order.
    pub fn iter_from(&self, from: usize) -> impl Iterator<Item = (usize, &Session)> {
        let (first, skip) = (from >> CHUNK_BITS, from & (CHUNK - 1));
        self.chunks
            .iter()
            .enumerate()
            .skip(first)
            .flat_map(move |(c, chunk)| {
                let skip = if c == first { skip } else { 0 };
                chunk
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .filter_map(move |(i, s)| s.as_ref().map(|s| ((c << CHUNK_BITS) | i, s)))
            })
    }

    /// Every stored session with its handle, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &Session)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, s)| {
                let handle = Handle::try_from((c << CHUNK_BITS) | i).unwrap_or(Handle::MAX);
                s.as_ref().map(|s| (handle, s))
            })
        })
    }
}
