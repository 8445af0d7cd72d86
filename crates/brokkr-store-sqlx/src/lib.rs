//! SQLite and PostgreSQL storage for the Brokkr broker, behind one [`Database`].
//!
//! Both backends run the same SQL (see `shared.rs`) and map backend facts to the same
//! [`StoreError`](brokkr_core::StoreError)s: a unique violation is a conflict, a
//! missing row is not-found, a pool that cannot hand out a connection in time is
//! unavailable. Migrations are embedded and run by [`Database::migrate`].
//!
//! With PostgreSQL, several broker instances can share one database: each credential
//! change is announced with `NOTIFY` in the same transaction, and
//! [`Database::listen_for_invalidations`] applies other instances' announcements to
//! the local verification cache.

use std::sync::Arc;
use std::time::Duration;

use brokkr_core::{Store, VerificationCache};

mod migrations;
mod postgres;
mod shared;
mod sqlite;

pub use postgres::{INVALIDATION_CHANNEL, PgStore};
pub use sqlite::SqliteStore;

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL names no supported backend.
    #[error("unsupported database url `{0}`: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// The database could not be reached or opened.
    #[error("cannot open the database")]
    Connect(#[source] sqlx::Error),
    /// A migration failed.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections held at once. On PostgreSQL the cache invalidation listener
    /// keeps one of them.
    pub max_connections: u32,
    /// How long a query waits for a connection before the store answers unavailable.
    pub acquire_timeout: Duration,
}

impl PoolSettings {
    /// Ten connections, three seconds' wait.
    pub const DEFAULT: PoolSettings = PoolSettings {
        max_connections: 10,
        acquire_timeout: Duration::from_secs(3),
    };
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// An open database of either backend.
#[derive(Debug, Clone)]
pub enum Database {
    /// Embedded SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL server.
    Postgres(PgStore),
}

impl Database {
    /// Opens the database that `url` names: `sqlite:...` or `postgres://...`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] for an unknown scheme or an unreachable database.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect(url, settings).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url, settings).await?))
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(OpenError::UnsupportedUrl(format!("{scheme}:")))
        }
    }

    /// Applies pending migrations.
    ///
    /// # Errors
    ///
    /// [`OpenError::Migrate`].
    pub async fn migrate(&self) -> Result<(), OpenError> {
        match self {
            Self::Sqlite(store) => store.migrate().await,
            Self::Postgres(store) => store.migrate().await,
        }
    }

    /// The store, for a [`Broker`](brokkr_core::Broker).
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Self::Sqlite(store) => Arc::new(store.clone()),
            Self::Postgres(store) => Arc::new(store.clone()),
        }
    }

    /// Which backend this is: `sqlite` or `postgres`.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Keeps `cache` coherent with other instances on the same database. SQLite is
    /// single-instance, so there is nothing to listen to and `None` is returned.
    pub fn listen_for_invalidations(
        &self,
        cache: Arc<VerificationCache>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres(store) => Some(store.listen_for_invalidations(cache)),
        }
    }
}

pub mod testing;
