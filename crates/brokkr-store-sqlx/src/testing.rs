//! Fresh databases for tests: a new SQLite file, or a new database on the PostgreSQL
//! server that `DATABASE_URL` names.
//!
//! Each call makes a database of its own, so tests can run in parallel. Databases made
//! on PostgreSQL are named `brokkr_test_*` and are left behind for inspection; drop
//! them with `psql -c "DROP DATABASE ..."` when done.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Why a PostgreSQL test cannot run: the message of its failure when run by hand
/// without a server.
pub const NEEDS_POSTGRES: &str =
    "DATABASE_URL must name a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres";

/// The PostgreSQL server named by `DATABASE_URL`, if it names one.
pub fn postgres_server_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// Creates an empty database on the `DATABASE_URL` server and returns its URL, or
/// `None` when `DATABASE_URL` names no PostgreSQL server.
///
/// # Panics
///
/// When `DATABASE_URL` names a server that cannot be reached: a test run that was
/// asked to use PostgreSQL must not pass without it.
pub async fn fresh_postgres_url() -> Option<String> {
    let server = postgres_server_url()?;

    let name = format!("brokkr_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|error| panic!("DATABASE_URL names an unreachable server: {error}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
    let _ = admin.close().await;

    Some(replace_database(&server, &name))
}

/// A URL for a new SQLite file in the system's temporary folder.
pub fn fresh_sqlite_url() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let path: PathBuf = std::env::temp_dir().join(format!(
        "brokkr-test-{}-{n}-{}.db",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    format!("sqlite://{}", path.display())
}

fn replace_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_end = base
        .find("://")
        .map(|scheme| scheme + 3)
        .and_then(|start| base[start..].find('/').map(|slash| start + slash))
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn database_name_is_replaced() {
        let cases = [
            ("postgres://u@h:5432/postgres", "postgres://u@h:5432/x"),
            ("postgres://u@h:5432", "postgres://u@h:5432/x"),
            (
                "postgres://u@h/db?sslmode=disable",
                "postgres://u@h/x?sslmode=disable",
            ),
        ];
        for (server, expected) in cases {
            assert_eq!(replace_database(server, "x"), expected, "{server}");
        }
    }
}
