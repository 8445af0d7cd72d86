//! Generators over HTTP: the guide's flow, the access table's generator rows, rotation,
//! deletion and expiry, on every backend.

mod common;

use std::sync::Arc;

use brokkr_core::ManualClock;
use chrono::{Duration, TimeZone, Utc};
use common::{Backend, Options, TestServer};
use http::{Method, StatusCode};
use serde_json::json;

on_every_backend!(
    create_generator_as_in_the_guide,
    generator_sees_and_manages_only_itself,
    rotation_by_self_kills_the_old_pak_at_once,
    rotation_by_admin_recovers_a_lost_pak,
    deletion_kills_the_pak_and_keeps_the_stacks,
    names_are_unique_among_live_generators,
    whoami_names_the_principal,
    only_the_admin_renames,
    forbidden_kind_is_refused_before_its_body_is_read,
);

async fn create_generator_as_in_the_guide(server: TestServer) {
    let reply = server
        .post(
            "/api/v1/generators",
            &server.admin_pak,
            json!({"name": "github-actions-prod", "description": "Production deployment pipeline"}),
        )
        .await;

    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let generator = &reply.json["generator"];
    assert_eq!(generator["name"], "github-actions-prod");
    assert_eq!(generator["description"], "Production deployment pipeline");
    for field in ["id", "created_at", "updated_at"] {
        assert!(generator[field].is_string(), "{field} in {}", reply.text);
    }
    assert!(reply.str("pak").starts_with("brk_gen_"), "{}", reply.text);

    // the PAK is shown once: never in any later answer
    let id = generator["id"].as_str().expect("id");
    let listed = server.get("/api/v1/generators", &server.admin_pak).await;
    let read = server
        .get(&format!("/api/v1/generators/{id}"), &server.admin_pak)
        .await;
    for later in [&listed, &read] {
        assert_eq!(later.status, StatusCode::OK);
        assert!(!later.text.contains(&reply.str("pak")), "{}", later.text);
        assert!(!later.text.contains("argon2"), "{}", later.text);
    }
    assert_eq!(listed.json.as_array().map(Vec::len), Some(1));
}

async fn generator_sees_and_manages_only_itself(server: TestServer) {
    let (id_a, pak_a) = server.generator("a").await;
    let (id_b, _) = server.generator("b").await;
    let own = format!("/api/v1/generators/{id_a}");
    let other = format!("/api/v1/generators/{id_b}");

    // create and list generators: admin only
    let created = server
        .post("/api/v1/generators", &pak_a, json!({"name": "c"}))
        .await;
    assert_eq!(
        (created.status, created.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let listed = server.get("/api/v1/generators", &pak_a).await;
    assert_eq!(listed.status, StatusCode::FORBIDDEN);

    // view, update own
    let read = server.get(&own, &pak_a).await;
    assert_eq!(
        (read.status, read.str("id")),
        (StatusCode::OK, id_a.clone())
    );
    let updated = server
        .put(&own, &pak_a, json!({"description": "Updated description"}))
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.json["description"], "Updated description");
    assert_eq!(updated.json["name"], "a");

    // another generator's record does not exist, whatever the operation
    let cases = [
        (Method::GET, other.clone(), None),
        (
            Method::PUT,
            other.clone(),
            Some(json!({"description": "x"})),
        ),
        (Method::DELETE, other.clone(), None),
        (Method::POST, format!("{other}/rotate-pak"), None),
    ];
    for (method, path, body) in cases {
        let reply = server.call(method.clone(), &path, Some(&pak_a), body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{method} {path}"
        );
    }
    let untouched = server.get(&other, &server.admin_pak).await;
    assert_eq!(untouched.status, StatusCode::OK);

    // admin reaches both
    let admin_update = server
        .put(&other, &server.admin_pak, json!({"name": "b2"}))
        .await;
    assert_eq!(admin_update.json["name"], "b2");

    // delete own
    let deleted = server.delete(&own, &pak_a).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let after = server.get(&own, &server.admin_pak).await;
    assert_eq!(after.status, StatusCode::NOT_FOUND);
}

async fn rotation_by_self_kills_the_old_pak_at_once(server: TestServer) {
    let (id, old_pak) = server.generator("rotating").await;
    let path = format!("/api/v1/generators/{id}");
    assert_eq!(
        server.get(&path, &old_pak).await.status,
        StatusCode::OK,
        "warm the cache"
    );

    let rotated = server
        .call(
            Method::POST,
            &format!("{path}/rotate-pak"),
            Some(&old_pak),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    assert_eq!(rotated.json["generator"]["id"], id.as_str());
    let new_pak = rotated.str("pak");
    assert!(new_pak.starts_with("brk_gen_") && new_pak != old_pak);

    let old = server.get(&path, &old_pak).await;
    assert_eq!(
        (old.status, old.code()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert_eq!(server.get(&path, &new_pak).await.status, StatusCode::OK);
}

async fn rotation_by_admin_recovers_a_lost_pak(server: TestServer) {
    let (id, lost) = server.generator("lost").await;
    let path = format!("/api/v1/generators/{id}");

    let rotated = server
        .call(
            Method::POST,
            &format!("{path}/rotate-pak"),
            Some(&server.admin_pak),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);

    assert_eq!(
        server.get(&path, &lost).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        server.get(&path, &rotated.str("pak")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server.get(&path, &server.admin_pak).await.status,
        StatusCode::OK
    );
}

async fn deletion_kills_the_pak_and_keeps_the_stacks(server: TestServer) {
    let (id, pak) = server.generator("doomed").await;
    let stack = server
        .post("/api/v1/stacks", &pak, json!({"name": "kept"}))
        .await;
    assert_eq!(stack.status, StatusCode::CREATED, "{}", stack.text);
    let stack_path = format!("/api/v1/stacks/{}", stack.str("id"));
    assert_eq!(
        server.get(&stack_path, &pak).await.status,
        StatusCode::OK,
        "warm the cache"
    );

    let deleted = server
        .delete(&format!("/api/v1/generators/{id}"), &server.admin_pak)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);

    assert_eq!(
        server.get(&stack_path, &pak).await.status,
        StatusCode::UNAUTHORIZED
    );
    let kept = server.get(&stack_path, &server.admin_pak).await;
    assert_eq!(kept.status, StatusCode::OK);
    assert_eq!(kept.json["generator_id"], id.as_str());
    let again = server
        .delete(&format!("/api/v1/generators/{id}"), &server.admin_pak)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

async fn names_are_unique_among_live_generators(server: TestServer) {
    let (id, _) = server.generator("github-actions-prod").await;
    let taken = server
        .post(
            "/api/v1/generators",
            &server.admin_pak,
            json!({"name": "github-actions-prod"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    server
        .delete(&format!("/api/v1/generators/{id}"), &server.admin_pak)
        .await;
    server.generator("github-actions-prod").await;
}

async fn whoami_names_the_principal(server: TestServer) {
    let (id, pak) = server.generator("me").await;

    let me = server.get("/api/v1/auth/whoami", &pak).await;
    assert_eq!(me.json, json!({"kind": "generator", "id": id}));
    let admin = server.get("/api/v1/auth/whoami", &server.admin_pak).await;
    assert_eq!(admin.json["kind"], "admin");
}

async fn expired_pak_is_refused_with_its_own_code(backend: Backend) {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("instant");
    let clock = Arc::new(ManualClock::new(start));
    let options = Options {
        clock: Some(clock.clone()),
        ..Options::default()
    };
    let server = TestServer::start_with(backend, options)
        .await
        .expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES);

    let expires_at = (start + Duration::hours(1)).to_rfc3339();
    let created = server
        .post(
            "/api/v1/generators",
            &server.admin_pak,
            json!({"name": "short-lived", "expires_at": expires_at}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let pak = created.str("pak");
    assert_eq!(
        server.get("/api/v1/auth/whoami", &pak).await.status,
        StatusCode::OK
    );

    clock.advance(Duration::hours(2));
    let expired = server.get("/api/v1/auth/whoami", &pak).await;
    assert_eq!(
        (expired.status, expired.code()),
        (StatusCode::UNAUTHORIZED, "pak_expired")
    );

    // an expiry in the past is refused
    let past = server
        .post(
            "/api/v1/generators",
            &server.admin_pak,
            json!({"name": "stillborn", "expires_at": start.to_rfc3339()}),
        )
        .await;
    assert_eq!(past.status, StatusCode::BAD_REQUEST, "{}", past.text);

    // rotation can renew it
    let id = created.json["generator"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let renewed = server
        .post(
            &format!("/api/v1/generators/{id}/rotate-pak"),
            &server.admin_pak,
            json!({"expires_at": (start + Duration::days(30)).to_rfc3339()}),
        )
        .await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let whoami = server.get("/api/v1/auth/whoami", &renewed.str("pak")).await;
    assert_eq!(whoami.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_pak_is_refused_with_its_own_code_on_sqlite() {
    expired_pak_is_refused_with_its_own_code(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn expired_pak_is_refused_with_its_own_code_on_postgres() {
    expired_pak_is_refused_with_its_own_code(Backend::Postgres).await;
}

async fn only_the_admin_renames(server: TestServer) {
    let (id, pak) = server.generator("named").await;
    server.generator("taken").await;
    let path = format!("/api/v1/generators/{id}");

    // a generator may not rename itself, so it cannot probe other generators' names
    let probe = server.put(&path, &pak, json!({"name": "taken"})).await;
    assert_eq!(
        (probe.status, probe.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let free = server.put(&path, &pak, json!({"name": "free"})).await;
    assert_eq!(free.status, StatusCode::FORBIDDEN);

    let renamed = server
        .put(&path, &server.admin_pak, json!({"name": "free"}))
        .await;
    assert_eq!(
        (renamed.status, renamed.str("name")),
        (StatusCode::OK, "free".to_owned())
    );
    let taken = server
        .put(&path, &server.admin_pak, json!({"name": "taken"}))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
}

async fn forbidden_kind_is_refused_before_its_body_is_read(server: TestServer) {
    let (_, pak) = server.generator("pipeline").await;
    let cases = [
        ("application/json", "{not json"),
        ("text/plain", "hello"),
        ("application/json", r#"{"name": "x", "owner": "me"}"#),
    ];
    for (content_type, body) in cases {
        let request = server
            .request(Method::POST, "/api/v1/generators")
            .header("authorization", format!("Bearer {pak}"))
            .header("content-type", content_type)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("request");
        let reply = server.send(request).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{content_type} {body}"
        );
    }
}
