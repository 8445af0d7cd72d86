//! The SQLite store: the embedded default, one file, WAL journal.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::migrations;
use crate::shared::sql_store;
use crate::{OpenError, PoolSettings};

/// A [`Store`](brokkr_core::Store) on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    const ANNOUNCE_SQL: Option<&'static str> = None;
    // BEGIN IMMEDIATE already makes writers take turns.
    const SERIALIZE_NAME_SQL: Option<&'static str> = None;

    /// Opens (creating if missing) the database at `url`, such as `sqlite://brokkr.db`
    /// or `sqlite::memory:`.
    ///
    /// # Errors
    ///
    /// [`OpenError`] when the URL is not SQLite's or the file cannot be opened.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, OpenError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(OpenError::Connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);

        // An in-memory database lives as long as its one connection.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(settings.max_connections)
        };
        let pool = pool
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
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
        migrations::sqlite()
            .run(&self.pool)
            .await
            .map_err(OpenError::Migrate)
    }

    /// The connection pool, for an embedder's own queries.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Sqlite>, sqlx::Error> {
        // Taking the write lock up front means a transaction never has to upgrade a read
        // lock, which SQLite can refuse under concurrency instead of waiting.
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

sql_store!(SqliteStore, Sqlite);
