//! The verification cache: the warm path that answers a known PAK without argon2 or
//! any store query.
//!
//! Entries are keyed by a SHA-256 digest of the whole presented PAK, so the cache never
//! holds a PAK's text, and map to the principal it proved. An entry dies when its
//! principal's PAK is rotated or the principal deleted ([`VerificationCache::invalidate`]),
//! and is refused once its PAK has expired.
//!
//! An instance that cannot hear about changes made by other instances (its
//! invalidation feed is down) marks the cache untrusted: every request then takes the
//! cold path until the feed is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::pak::PakHash;
use crate::principal::Principal;

/// What a cache hit yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedPrincipal {
    /// The principal the PAK proved.
    pub principal: Principal,
    /// When the PAK stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// The stored hash the PAK was verified against, to confirm later that it is still
    /// the live one without hashing again.
    pub hash: PakHash,
    /// When the PAK was last confirmed against the store.
    pub verified_at: DateTime<Utc>,
}

/// A point in the cache's history, taken before a cold verification reads the store.
///
/// An insert made with a ticket older than the latest invalidation is dropped, so a
/// verification that raced a rotation can never put the old PAK back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Debug, Default)]
struct Entries {
    by_digest: HashMap<[u8; 32], CachedPrincipal>,
    by_principal: HashMap<Uuid, [u8; 32]>,
    generation: u64,
}

/// Digest-of-PAK to principal, shared by every request of one instance.
pub struct VerificationCache {
    entries: RwLock<Entries>,
    trusted: AtomicBool,
    capacity: usize,
}

impl std::fmt::Debug for VerificationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationCache")
            .field("len", &self.len())
            .field("trusted", &self.is_trusted())
            .finish_non_exhaustive()
    }
}

impl VerificationCache {
    /// How many PAKs the cache remembers by default.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty, trusted cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: RwLock::default(),
            trusted: AtomicBool::new(true),
            capacity,
        }
    }

    /// The principal a PAK with this digest proved, if known and the cache is trusted.
    pub fn get(&self, digest: &[u8; 32]) -> Option<CachedPrincipal> {
        if !self.is_trusted() {
            return None;
        }
        self.read().by_digest.get(digest).cloned()
    }

    /// The ticket to present when inserting the outcome of a cold verification.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.read().generation)
    }

    /// Remembers a verified PAK, unless an invalidation happened since `ticket`.
    ///
    /// Returns whether the entry was stored.
    pub fn insert(&self, digest: [u8; 32], entry: CachedPrincipal, ticket: Ticket) -> bool {
        if !self.is_trusted() {
            return false;
        }
        let mut entries = self.write();
        if entries.generation != ticket.0 {
            return false;
        }

        // Full: start over rather than track recency; a miss only costs one cold path.
        if entries.by_digest.len() >= self.capacity {
            entries.by_digest.clear();
            entries.by_principal.clear();
        }
        if let Some(old) = entries.by_principal.insert(entry.principal.id, digest) {
            entries.by_digest.remove(&old);
        }
        entries.by_digest.insert(digest, entry);
        true
    }

    /// Forgets the PAK of this principal: it was rotated, or the principal deleted.
    pub fn invalidate(&self, principal_id: Uuid) {
        let mut entries = self.write();
        entries.generation += 1;
        if let Some(digest) = entries.by_principal.remove(&principal_id) {
            entries.by_digest.remove(&digest);
        }
    }

    /// Forgets every entry.
    pub fn flush(&self) {
        let mut entries = self.write();
        entries.generation += 1;
        entries.by_digest.clear();
        entries.by_principal.clear();
    }

    /// Marks whether the cache may be used. Both directions flush it: entries from
    /// before an outage may be stale, and none may be added during one.
    pub fn set_trusted(&self, trusted: bool) {
        self.flush();
        self.trusted.store(trusted, Ordering::SeqCst);
        self.flush();
    }

    /// Whether the cache is in use.
    pub fn is_trusted(&self) -> bool {
        self.trusted.load(Ordering::SeqCst)
    }

    /// How many PAKs are remembered.
    pub fn len(&self) -> usize {
        self.read().by_digest.len()
    }

    /// Whether no PAK is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> RwLockReadGuard<'_, Entries> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Entries> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Default for VerificationCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::principal::PrincipalKind;

    fn entry(id: u128) -> CachedPrincipal {
        CachedPrincipal {
            principal: Principal {
                kind: PrincipalKind::Generator,
                id: Uuid::from_u128(id),
            },
            expires_at: None,
            hash: PakHash::from_stored(format!("hash-{id}")),
            verified_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn invalidation_removes_the_principals_entry() {
        let cache = VerificationCache::default();
        assert!(cache.insert([1; 32], entry(1), cache.ticket()));
        assert!(cache.insert([2; 32], entry(2), cache.ticket()));

        cache.invalidate(Uuid::from_u128(1));

        assert_eq!(cache.get(&[1; 32]), None);
        assert_eq!(cache.get(&[2; 32]), Some(entry(2)));
    }

    #[test]
    fn insert_with_a_ticket_older_than_an_invalidation_is_dropped() {
        let cache = VerificationCache::default();
        let ticket = cache.ticket();

        cache.invalidate(Uuid::from_u128(7));

        assert!(!cache.insert([1; 32], entry(1), ticket));
        assert_eq!(cache.get(&[1; 32]), None);
    }

    #[test]
    fn a_new_pak_of_the_same_principal_replaces_the_old_entry() {
        let cache = VerificationCache::default();
        assert!(cache.insert([1; 32], entry(1), cache.ticket()));
        assert!(cache.insert([9; 32], entry(1), cache.ticket()));

        assert_eq!(cache.get(&[1; 32]), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn untrusted_cache_answers_nothing_and_stores_nothing() {
        let cache = VerificationCache::default();
        assert!(cache.insert([1; 32], entry(1), cache.ticket()));

        cache.set_trusted(false);
        assert_eq!(cache.get(&[1; 32]), None);
        assert!(!cache.insert([2; 32], entry(2), cache.ticket()));

        cache.set_trusted(true);
        assert!(cache.is_empty());
    }

    #[test]
    fn capacity_is_never_exceeded() {
        let cache = VerificationCache::new(3);
        for id in 0..10u8 {
            assert!(cache.insert([id; 32], entry(u128::from(id)), cache.ticket()));
            assert!(cache.len() <= 3);
        }
    }
}
