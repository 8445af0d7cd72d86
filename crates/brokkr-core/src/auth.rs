//! Authentication: from a presented PAK to a [`Principal`], warm or cold.
//!
//! The warm path is a [`VerificationCache`] hit: no argon2, no store query. The cold
//! path reads the credential by key id and runs argon2 on a blocking thread, behind a
//! bound on how many hashes run at once. Repeated failures against one key id are
//! throttled, so a flood of wrong secrets cannot take the CPU from honest callers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Semaphore;

use crate::cache::{CachedPrincipal, VerificationCache};
use crate::clock::Clock;
use crate::pak::{self, KeyId, MalformedPak};
use crate::principal::Principal;
use crate::store::{Store, StoreError};

/// Why a presented credential was refused.
///
/// Callers learn only [`AuthError::is_expired`] and [`AuthError::is_throttled`]; the
/// exact reason is for the operator's log.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented.
    #[error("no credential presented")]
    Missing,
    /// The text is not a PAK.
    #[error(transparent)]
    Malformed(#[from] MalformedPak),
    /// No live credential has the PAK's key id.
    #[error("no live credential has this key id")]
    UnknownKey,
    /// The PAK's tag names a different kind than its credential's principal.
    #[error("credential kind does not match its principal")]
    KindMismatch,
    /// The secret does not match the stored hash.
    #[error("credential secret does not match")]
    WrongSecret,
    /// The PAK is genuine but past its expiry.
    #[error("credential expired")]
    Expired,
    /// Too many recent failures against this key id.
    #[error("too many failed attempts for this key id")]
    Throttled {
        /// Seconds until attempts are accepted again.
        retry_after_secs: u64,
    },
    /// The store could not be asked.
    #[error("credential lookup failed")]
    Store(#[source] StoreError),
}

impl AuthError {
    /// Whether the PAK was genuine but expired.
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired)
    }

    /// Whether the caller must wait before trying again.
    pub fn is_throttled(&self) -> bool {
        matches!(self, Self::Throttled { .. })
    }

    /// Whether the failure was the store's, not the caller's.
    pub fn is_store_failure(&self) -> bool {
        matches!(self, Self::Store(_))
    }
}

/// Limits of the failure throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleLimits {
    /// Failures allowed per key id within one window.
    pub max_failures: u32,
    /// Length of the window.
    pub window: Duration,
    /// Key ids tracked at once; past this, finished windows are dropped first.
    pub max_tracked: usize,
}

impl ThrottleLimits {
    /// Ten failures a minute per key id.
    pub const DEFAULT: ThrottleLimits = ThrottleLimits {
        max_failures: 10,
        window: Duration::seconds(60),
        max_tracked: 100_000,
    };
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[derive(Debug)]
struct Throttle {
    limits: ThrottleLimits,
    failures: Mutex<HashMap<KeyId, (u32, DateTime<Utc>)>>,
}

impl Throttle {
    fn check(&self, key_id: &KeyId, now: DateTime<Utc>) -> Result<(), AuthError> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(key_id) {
            Some(&(count, started))
                if count >= self.limits.max_failures && now < started + self.limits.window =>
            {
                let wait = (started + self.limits.window - now).num_seconds().max(1);
                Err(AuthError::Throttled {
                    retry_after_secs: wait.unsigned_abs(),
                })
            }
            _ => Ok(()),
        }
    }

    fn record_failure(&self, key_id: &KeyId, now: DateTime<Utc>) {
        let window = self.limits.window;
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= self.limits.max_tracked {
            failures.retain(|_, (_, started)| now < *started + window);
            if failures.len() >= self.limits.max_tracked {
                failures.clear();
            }
        }

        let slot = failures.entry(key_id.clone()).or_insert((0, now));
        if now >= slot.1 + window {
            *slot = (0, now);
        }
        slot.0 += 1;
    }

    fn forget(&self, key_id: &KeyId) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_id);
    }
}

/// Turns presented PAKs into principals.
pub struct Authenticator {
    store: Arc<dyn Store>,
    cache: Arc<VerificationCache>,
    clock: Arc<dyn Clock>,
    hashing: Semaphore,
    throttle: Throttle,
    revalidate_after: Duration,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").finish_non_exhaustive()
    }
}

impl Authenticator {
    /// How long a cached PAK is trusted before one indexed read confirms it is still
    /// live. This bounds how long a change made where no invalidation reaches this
    /// instance (another process on the same SQLite file, a silently dead listener)
    /// can go unseen.
    pub const DEFAULT_REVALIDATE_AFTER: Duration = Duration::seconds(5);

    /// An authenticator reading `store`, remembering in `cache`, running at most
    /// `max_concurrent_hashes` argon2 verifications at once.
    pub fn new(
        store: Arc<dyn Store>,
        cache: Arc<VerificationCache>,
        clock: Arc<dyn Clock>,
        max_concurrent_hashes: usize,
        throttle: ThrottleLimits,
    ) -> Self {
        Self {
            revalidate_after: Self::DEFAULT_REVALIDATE_AFTER,
            store,
            cache,
            clock,
            hashing: Semaphore::new(max_concurrent_hashes.max(1)),
            throttle: Throttle {
                limits: throttle,
                failures: Mutex::default(),
            },
        }
    }

    /// Sets how long a cached PAK is trusted without a store read.
    pub fn with_revalidate_after(mut self, after: Duration) -> Self {
        self.revalidate_after = after;
        self
    }

    /// The cache this authenticator fills.
    pub fn cache(&self) -> &Arc<VerificationCache> {
        &self.cache
    }

    /// Finds the principal that `presented` proves.
    ///
    /// # Errors
    ///
    /// [`AuthError`] says why; a malformed PAK is refused before any store query or
    /// hash.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        let parsed = pak::parse(presented)?;
        let digest = pak::digest(presented);
        let now = self.clock.now();

        if let Some(hit) = self.cache.get(&digest) {
            if now < hit.verified_at + self.revalidate_after {
                return live(&hit, now);
            }
            if let Some(confirmed) = self.revalidate(&parsed.key_id, digest, hit, now).await? {
                return live(&confirmed, now);
            }
        }

        self.throttle.check(&parsed.key_id, now)?;
        let ticket = self.cache.ticket();
        let credential = self
            .store
            .find_credential(&parsed.key_id)
            .await
            .map_err(AuthError::Store)?;
        // An unknown key id costs one indexed lookup and no hash, so it is not counted:
        // a flood of made-up key ids must not crowd real ones out of the throttle.
        let Some(credential) = credential else {
            return Err(AuthError::UnknownKey);
        };
        if credential.principal.kind != parsed.kind {
            self.throttle.record_failure(&parsed.key_id, now);
            return Err(AuthError::KindMismatch);
        }

        if !self
            .verify_off_thread(presented, &parsed.key_id, credential.hash.clone())
            .await?
        {
            self.throttle
                .record_failure(&parsed.key_id, self.clock.now());
            return Err(AuthError::WrongSecret);
        }
        self.throttle.forget(&parsed.key_id);

        let now = self.clock.now();
        let entry = CachedPrincipal {
            principal: credential.principal,
            expires_at: credential.expires_at,
            hash: credential.hash,
            verified_at: now,
        };
        let outcome = live(&entry, now);
        if outcome.is_ok() {
            self.cache.insert(digest, entry, ticket);
        }
        outcome
    }

    /// Confirms with one indexed read (no argon2) that a cached PAK is still its
    /// principal's live one. `None` when it is not: the entry is dropped and the caller
    /// takes the cold path.
    async fn revalidate(
        &self,
        key_id: &KeyId,
        digest: [u8; 32],
        hit: CachedPrincipal,
        now: DateTime<Utc>,
    ) -> Result<Option<CachedPrincipal>, AuthError> {
        let ticket = self.cache.ticket();
        let current = self
            .store
            .find_credential(key_id)
            .await
            .map_err(AuthError::Store)?;
        match current {
            Some(current) if current.principal == hit.principal && current.hash == hit.hash => {
                let entry = CachedPrincipal {
                    expires_at: current.expires_at,
                    verified_at: now,
                    ..hit
                };
                self.cache.insert(digest, entry.clone(), ticket);
                Ok(Some(entry))
            }
            _ => {
                self.cache.invalidate(hit.principal.id);
                Ok(None)
            }
        }
    }

    async fn verify_off_thread(
        &self,
        presented: &str,
        key_id: &KeyId,
        hash: pak::PakHash,
    ) -> Result<bool, AuthError> {
        // INVARIANT: the semaphore is never closed, so acquiring only waits.
        let Ok(_permit) = self.hashing.acquire().await else {
            return Ok(false);
        };
        // Checked again with the permit held: a burst of wrong secrets that all passed
        // the first check while queued must not all reach argon2.
        self.throttle.check(key_id, self.clock.now())?;

        let presented = presented.to_owned();
        Ok(tokio::task::spawn_blocking(move || {
            pak::parse(&presented).is_ok_and(|parsed| pak::verify(&parsed, &hash))
        })
        .await
        .unwrap_or(false))
    }
}

fn live(entry: &CachedPrincipal, now: DateTime<Utc>) -> Result<Principal, AuthError> {
    match entry.expires_at {
        Some(expires_at) if now >= expires_at => Err(AuthError::Expired),
        _ => Ok(entry.principal),
    }
}
