//! Several servers on one PostgreSQL database: a rotation or deletion made through one
//! reaches the warm cache of every other within a second, and a database that cannot
//! hand out a connection in time answers 503 rather than hanging.

mod common;

use std::time::{Duration, Instant};

use brokkr_store_sqlx::{Database, PoolSettings};
use common::{Backend, Options, TestServer};
use http::{Method, StatusCode};

const WITHIN: Duration = Duration::from_secs(1);

async fn pair() -> (TestServer, TestServer) {
    let first = TestServer::start(Backend::Postgres)
        .await
        .expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES);
    let options = Options {
        database_url: Some(first.database_url.clone()),
        ..Options::default()
    };
    let second = TestServer::start_with(Backend::Postgres, options)
        .await
        .expect("second");
    assert!(
        second.admin_pak.is_empty(),
        "only the first instance mints the admin pak"
    );
    (first, second)
}

/// Has `server` verify `pak` once, so that it then answers it from its cache.
async fn warm(server: &TestServer, pak: &str) {
    let reply = server.get("/api/v1/auth/whoami", pak).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(server.broker.cache().len(), 1);
}

/// Polls `server` with `pak` until it is refused; returns how long that took.
async fn time_until_refused(server: &TestServer, pak: &str) -> Duration {
    let started = Instant::now();
    while started.elapsed() < WITHIN * 3 {
        let reply = server.get("/api/v1/auth/whoami", pak).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the old pak still works on the other instance after {:?}",
        WITHIN * 3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn rotation_on_one_instance_reaches_the_others_cache() {
    let (a, b) = pair().await;
    let (id, old_pak) = a.generator("shared").await;

    // b verifies the pak once, then serves it from its cache
    warm(&b, &old_pak).await;

    let rotated = a.rotate(&id, &old_pak).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    let took = time_until_refused(&b, &old_pak).await;
    assert!(
        took < WITHIN,
        "old pak refused by the other instance only after {took:?}"
    );
    let new_pak = rotated.str("pak");
    assert_eq!(
        b.get("/api/v1/auth/whoami", &new_pak).await.status,
        StatusCode::OK
    );
    assert_eq!(
        a.get("/api/v1/auth/whoami", &new_pak).await.status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn deletion_on_one_instance_reaches_the_others_cache() {
    let (a, b) = pair().await;
    let (id, pak) = a.generator("doomed").await;
    assert_eq!(
        b.get("/api/v1/auth/whoami", &pak).await.status,
        StatusCode::OK
    );

    let deleted = b
        .delete(&format!("/api/v1/generators/{id}"), &a.admin_pak)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    let took = time_until_refused(&a, &pak).await;
    assert!(
        took < WITHIN,
        "deleted pak refused by the other instance only after {took:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn lost_listener_means_no_cache_until_it_is_back() {
    let (a, b) = pair().await;
    let (id, old_pak) = a.generator("watched").await;
    warm(&b, &old_pak).await;

    // Cut every LISTEN connection to this database, the way a network blip would.
    let Database::Postgres(store) = &a.database else {
        panic!("postgres test on another backend");
    };
    let cut: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_all(store.pool())
    .await
    .expect("listeners");
    assert!(!cut.is_empty(), "no listener connection found");
    for pid in cut {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(store.pool())
            .await
            .expect("terminated");
    }

    // b notices the loss and flushes its cache: nothing it missed can survive.
    let noticed = Instant::now();
    while !b.broker.cache().is_empty() {
        assert!(
            noticed.elapsed() < WITHIN * 3,
            "the lost listener went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // A rotation made meanwhile counts at once on b.
    let rotated = a.rotate(&id, &old_pak).await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_eq!(
        b.get("/api/v1/auth/whoami", &old_pak).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Once the listener is back, b caches again.
    b.wait_for_listener().await;
    let new_pak = rotated.str("pak");
    assert_eq!(
        b.get("/api/v1/auth/whoami", &new_pak).await.status,
        StatusCode::OK
    );
    assert!(b.broker.cache().is_trusted());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn starved_pool_answers_503_instead_of_hanging() {
    let options = Options {
        pool: PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_millis(300),
        },
        ..Options::default()
    };
    let server = TestServer::start_with(Backend::Postgres, options)
        .await
        .expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES);
    let Database::Postgres(store) = &server.database else {
        panic!("postgres test on another backend");
    };

    // Hold every connection the pool will hand out (the cache listener keeps one).
    let mut held = Vec::new();
    while let Ok(connection) = store.pool().acquire().await {
        held.push(connection);
    }
    assert!(!held.is_empty());

    let started = Instant::now();
    let ready = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        ready.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        ready.text
    );
    let listed = server.get("/api/v1/generators", &server.admin_pak).await;
    assert_eq!(
        (listed.status, listed.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );

    drop(held);
    let listed = server.get("/api/v1/generators", &server.admin_pak).await;
    assert_eq!(listed.status, StatusCode::OK);
}
