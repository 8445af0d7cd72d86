//! The PostgreSQL store, and the listener that carries cache invalidations between
//! instances sharing one database.

use std::sync::Arc;
use std::time::Duration;

use brokkr_core::VerificationCache;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use crate::migrations;
use crate::shared::sql_store;
use crate::{OpenError, PoolSettings};

/// The channel on which credential changes are announced.
pub const INVALIDATION_CHANNEL: &str = "brokkr_credentials";

/// A [`Store`](brokkr_core::Store) on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const ANNOUNCE_SQL: Option<&'static str> = Some("SELECT pg_notify('brokkr_credentials', $1)");
    const SERIALIZE_NAME_SQL: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtext($1))");

    /// Connects to the database at `url` (`postgres://...`).
    ///
    /// # Errors
    ///
    /// [`OpenError::Connect`] when the server cannot be reached.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect(url)
            .await
            .map_err(OpenError::Connect)?;
        Ok(Self { pool })
    }

    /// Applies the embedded migrations that have not run yet.
    ///
    /// # Errors
    ///
    /// [`OpenError::Migrate`] when a migration fails.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        migrations::postgres()
            .run(&self.pool)
            .await
            .map_err(OpenError::Migrate)
    }

    /// The connection pool, for an embedder's own queries.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    /// Keeps `cache` coherent with changes made by other instances, until the task is
    /// aborted.
    ///
    /// The cache is untrusted (every request takes the cold path) until the listener is
    /// connected, and again whenever its connection drops; it is flushed each time the
    /// listener comes back, so nothing missed while it was away survives.
    pub fn listen_for_invalidations(
        &self,
        cache: Arc<VerificationCache>,
    ) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        cache.set_trusted(false);
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match listen(&pool, &cache).await {
                    Ok(()) => backoff = Duration::from_millis(100),
                    Err(error) => {
                        tracing::warn!(
                            error = %error,
                            retry_in_ms = backoff.as_millis() as u64,
                            "cache invalidation listener is down; verifying every pak cold"
                        );
                    }
                }
                cache.set_trusted(false);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        })
    }
}

/// Listens until the connection drops. Returns `Ok` when it was up and then lost.
async fn listen(pool: &PgPool, cache: &VerificationCache) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(INVALIDATION_CHANNEL).await?;
    cache.set_trusted(true);
    tracing::info!("cache invalidation listener connected");

    while let Some(notification) = listener.try_recv().await? {
        match notification.payload().parse() {
            Ok(principal_id) => cache.invalidate(principal_id),
            Err(_) => cache.flush(),
        }
    }
    tracing::warn!("cache invalidation listener lost its connection");
    Ok(())
}

sql_store!(PgStore, Postgres);
