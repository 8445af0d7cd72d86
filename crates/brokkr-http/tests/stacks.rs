//! Stacks and their deployment objects over HTTP: the guide's CI steps, the access
//! table's stack rows, names, updates and soft deletion, on every backend.

mod common;

use std::sync::Arc;

use common::{Reply, TestServer};
use http::{Method, StatusCode};
use serde_json::{Value, json};

on_every_backend!(
    github_actions_step_creates_a_stack_and_appends_objects,
    gitlab_ci_step_creates_a_stack,
    invalid_yaml_is_refused_and_nothing_is_stored,
    deletion_marker_may_be_empty,
    another_generator_finds_nothing,
    admin_sees_every_stack_and_filters_by_generator,
    admin_creates_stacks_for_generators_and_for_itself,
    generator_cannot_create_for_another_generator,
    names_are_unique_per_generator,
    update_and_soft_delete,
    unknown_body_fields_are_refused,
    concurrent_writes_keep_sequences_and_names_straight,
);

const COMMIT_SHA: &str = "3f2a9c1d8e7b6a5f4c3b2a1908f7e6d5c4b3a291";

/// A manifest and its SHA-256, computed with `sha256sum`.
const CONFIG_MAP: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: my-app\ndata:\n  commit: \"3f2a9c1\"\n";
const CONFIG_MAP_SHA256: &str = "b8391849d968c63210ec68f894b22c03f6dd7a0fb86b8d72a20ead688bc57e17";
/// SHA-256 of the empty string.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Creates a stack named `name` with `pak`; returns its id.
async fn stack(server: &TestServer, pak: &str, name: &str) -> String {
    let reply = server
        .post("/api/v1/stacks", pak, json!({"name": name}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.str("id")
}

/// Posts a deployment object to stack `id`.
async fn object(server: &TestServer, pak: &str, id: &str, body: Value) -> Reply {
    let path = format!("/api/v1/stacks/{id}/deployment-objects");
    server.post(&path, pak, body).await
}

/// The names of the stacks `pak` lists at `path`.
async fn listed_names(server: &TestServer, pak: &str, path: &str) -> Vec<String> {
    let reply = server.get(path, pak).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let stacks = reply.json.as_array().expect("a list of stacks");
    let mut names: Vec<String> = stacks
        .iter()
        .map(|stack| stack["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

fn assert_not_found(reply: &Reply, what: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::NOT_FOUND, "not_found"),
        "{what}: {}",
        reply.text
    );
}

async fn github_actions_step_creates_a_stack_and_appends_objects(server: TestServer) {
    let (generator_id, pak) = server.generator("github-actions-prod").await;

    // step "Create Stack"
    let name = format!("my-app-{COMMIT_SHA}");
    let description = format!("Deployed from commit {COMMIT_SHA}");
    let created = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": name, "description": description}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let stack_id = created.str("id");
    assert_eq!(stack_id.len(), 36, "a uuid: {}", created.text);
    assert_eq!(created.json["name"], name.as_str());
    assert_eq!(created.json["description"], description.as_str());
    assert_eq!(created.json["generator_id"], generator_id.as_str());

    // step "Add Deployment Objects": `-d @deployment.json`
    let first = object(
        &server,
        &pak,
        &stack_id,
        json!({"yaml_content": CONFIG_MAP}),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json["sequence_id"], 1);
    assert_eq!(first.json["stack_id"], stack_id.as_str());
    assert_eq!(first.json["yaml_content"], CONFIG_MAP);
    assert_eq!(first.json["yaml_checksum"], CONFIG_MAP_SHA256);
    assert_eq!(first.json["is_deletion_marker"], false);

    let second_yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: my-app\n";
    let second = object(
        &server,
        &pak,
        &stack_id,
        json!({"yaml_content": second_yaml}),
    )
    .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    assert_eq!(second.json["sequence_id"], 2);
    let checksum = second.str("yaml_checksum");
    assert_eq!(checksum.len(), 64, "{checksum}");
    assert!(
        checksum
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(checksum, CONFIG_MAP_SHA256);

    // newest first
    let listed = server
        .get(
            &format!("/api/v1/stacks/{stack_id}/deployment-objects"),
            &pak,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let sequence: Vec<&Value> = listed
        .json
        .as_array()
        .expect("a list")
        .iter()
        .map(|object| &object["sequence_id"])
        .collect();
    assert_eq!(sequence, [&json!(2), &json!(1)]);

    let read = server
        .get(
            &format!("/api/v1/deployment-objects/{}", first.str("id")),
            &pak,
        )
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json, first.json);

    // the generator sees its own stack
    let own = server
        .get(&format!("/api/v1/stacks/{stack_id}"), &pak)
        .await;
    assert_eq!((own.status, own.str("id")), (StatusCode::OK, stack_id));
    assert_eq!(listed_names(&server, &pak, "/api/v1/stacks").await, [name]);
}

async fn gitlab_ci_step_creates_a_stack(server: TestServer) {
    let (generator_id, pak) = server.generator("gitlab-ci-staging").await;
    let name = format!("my-app-{COMMIT_SHA}");

    let created = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": name, "description": "Pipeline 1234"}),
        )
        .await;

    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(created.json["description"], "Pipeline 1234");
    assert_eq!(created.json["generator_id"], generator_id.as_str());
    let read = server
        .get(&format!("/api/v1/stacks/{}", created.str("id")), &pak)
        .await;
    assert_eq!(read.json, created.json);
}

async fn invalid_yaml_is_refused_and_nothing_is_stored(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let stack_id = stack(&server, &pak, "s").await;
    let stored = object(&server, &pak, &stack_id, json!({"yaml_content": "a: 1"})).await;
    assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.text);

    for bad in ["a: [1, 2", "a: b: c", ""] {
        let refused = object(&server, &pak, &stack_id, json!({"yaml_content": bad})).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{bad:?}: {}",
            refused.text
        );
        assert_eq!(
            refused.json["details"]["field"], "yaml_content",
            "{}",
            refused.text
        );
    }

    let listed = server
        .get(
            &format!("/api/v1/stacks/{stack_id}/deployment-objects"),
            &pak,
        )
        .await;
    assert_eq!(
        listed.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.text
    );
    // a refused object does not use up a sequence number
    let next = object(&server, &pak, &stack_id, json!({"yaml_content": "b: 2"})).await;
    assert_eq!(next.json["sequence_id"], 2, "{}", next.text);
}

async fn deletion_marker_may_be_empty(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let stack_id = stack(&server, &pak, "s").await;
    object(
        &server,
        &pak,
        &stack_id,
        json!({"yaml_content": CONFIG_MAP}),
    )
    .await;

    let marker = object(
        &server,
        &pak,
        &stack_id,
        json!({"yaml_content": "", "is_deletion_marker": true}),
    )
    .await;

    assert_eq!(marker.status, StatusCode::CREATED, "{}", marker.text);
    assert_eq!(marker.json["is_deletion_marker"], true);
    assert_eq!(marker.json["yaml_content"], "");
    assert_eq!(marker.json["yaml_checksum"], EMPTY_SHA256);
    assert_eq!(marker.json["sequence_id"], 2);
}

async fn another_generator_finds_nothing(server: TestServer) {
    let (_, owner) = server.generator("owner").await;
    let (_, other) = server.generator("other").await;
    let stack_id = stack(&server, &owner, "private").await;
    let object_id = object(
        &server,
        &owner,
        &stack_id,
        json!({"yaml_content": CONFIG_MAP}),
    )
    .await
    .str("id");
    let stack_path = format!("/api/v1/stacks/{stack_id}");
    let objects_path = format!("{stack_path}/deployment-objects");

    let cases = [
        (Method::GET, stack_path.clone(), None),
        (
            Method::PUT,
            stack_path.clone(),
            Some(json!({"name": "taken-over"})),
        ),
        (Method::DELETE, stack_path.clone(), None),
        (Method::GET, objects_path.clone(), None),
        (
            Method::POST,
            objects_path.clone(),
            Some(json!({"yaml_content": "a: 1"})),
        ),
        (
            Method::GET,
            format!("/api/v1/deployment-objects/{object_id}"),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let reply = server.call(method.clone(), &path, Some(&other), body).await;
        assert_not_found(&reply, &format!("{method} {path}"));
    }
    assert!(
        listed_names(&server, &other, "/api/v1/stacks")
            .await
            .is_empty()
    );

    // nothing changed for the owner
    let read = server.get(&stack_path, &owner).await;
    assert_eq!(
        (read.status, read.str("name")),
        (StatusCode::OK, "private".to_owned())
    );
    let objects = server.get(&objects_path, &owner).await;
    assert_eq!(
        objects.json.as_array().map(Vec::len),
        Some(1),
        "{}",
        objects.text
    );

    // an id that names nothing answers the same as one that belongs to someone else
    let unknown = "/api/v1/stacks/00000000-0000-4000-8000-000000000000";
    assert_not_found(&server.get(unknown, &owner).await, "unknown stack");
}

async fn admin_sees_every_stack_and_filters_by_generator(server: TestServer) {
    let (id_a, pak_a) = server.generator("a").await;
    let (id_b, pak_b) = server.generator("b").await;
    let stack_a = stack(&server, &pak_a, "stack-a").await;
    stack(&server, &pak_b, "stack-b").await;
    stack(&server, &server.admin_pak, "stack-admin").await;
    let admin = &server.admin_pak;

    let all = listed_names(&server, admin, "/api/v1/stacks").await;
    assert_eq!(all, ["stack-a", "stack-admin", "stack-b"]);
    let only_a = listed_names(
        &server,
        admin,
        &format!("/api/v1/stacks?generator_id={id_a}"),
    )
    .await;
    assert_eq!(only_a, ["stack-a"]);
    let only_b = listed_names(
        &server,
        admin,
        &format!("/api/v1/stacks?generator_id={id_b}"),
    )
    .await;
    assert_eq!(only_b, ["stack-b"]);

    // a generator's filter cannot widen its view
    let widened = listed_names(
        &server,
        &pak_a,
        &format!("/api/v1/stacks?generator_id={id_b}"),
    )
    .await;
    assert_eq!(widened, ["stack-a"]);

    let bad = server.get("/api/v1/stacks?generator_id=nope", admin).await;
    assert_eq!(
        (bad.status, bad.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // admin acts on a generator's stack
    let read = server
        .get(&format!("/api/v1/stacks/{stack_a}"), admin)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    let appended = object(&server, admin, &stack_a, json!({"yaml_content": "a: 1"})).await;
    assert_eq!(appended.status, StatusCode::CREATED, "{}", appended.text);
    let seen_by_owner = server
        .get(
            &format!("/api/v1/deployment-objects/{}", appended.str("id")),
            &pak_a,
        )
        .await;
    assert_eq!(
        seen_by_owner.status,
        StatusCode::OK,
        "{}",
        seen_by_owner.text
    );
}

async fn admin_creates_stacks_for_generators_and_for_itself(server: TestServer) {
    let (id, pak) = server.generator("g").await;
    let admin = &server.admin_pak;

    // for a generator: the generator owns it
    let for_generator = server
        .post(
            "/api/v1/stacks",
            admin,
            json!({"name": "given", "generator_id": id}),
        )
        .await;
    assert_eq!(
        for_generator.status,
        StatusCode::CREATED,
        "{}",
        for_generator.text
    );
    assert_eq!(for_generator.json["generator_id"], id.as_str());
    let path = format!("/api/v1/stacks/{}", for_generator.str("id"));
    assert_eq!(server.get(&path, &pak).await.status, StatusCode::OK);
    assert_eq!(
        listed_names(&server, &pak, "/api/v1/stacks").await,
        ["given"]
    );

    // without generator_id: the admin's own, which no generator can see
    let own = server
        .post("/api/v1/stacks", admin, json!({"name": "admin-only"}))
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    assert_eq!(own.json["generator_id"], Value::Null, "{}", own.text);
    let own_path = format!("/api/v1/stacks/{}", own.str("id"));
    assert_eq!(server.get(&own_path, admin).await.status, StatusCode::OK);
    let cases = [
        (Method::GET, own_path.clone(), None),
        (
            Method::PUT,
            own_path.clone(),
            Some(json!({"description": "mine now"})),
        ),
        (Method::DELETE, own_path.clone(), None),
        (Method::GET, format!("{own_path}/deployment-objects"), None),
        (
            Method::POST,
            format!("{own_path}/deployment-objects"),
            Some(json!({"yaml_content": "a: 1"})),
        ),
    ];
    for (method, path, body) in cases {
        let reply = server.call(method.clone(), &path, Some(&pak), body).await;
        assert_not_found(&reply, &format!("{method} {path}"));
    }
    assert_eq!(
        listed_names(&server, &pak, "/api/v1/stacks").await,
        ["given"]
    );

    // for a generator that does not exist
    let unknown = server
        .post(
            "/api/v1/stacks",
            admin,
            json!({"name": "orphan", "generator_id": "00000000-0000-4000-8000-000000000000"}),
        )
        .await;
    assert_not_found(&unknown, "unknown generator");
}

async fn generator_cannot_create_for_another_generator(server: TestServer) {
    let (id_a, pak_a) = server.generator("a").await;
    let (id_b, pak_b) = server.generator("b").await;

    let planted = server
        .post(
            "/api/v1/stacks",
            &pak_a,
            json!({"name": "planted", "generator_id": id_b}),
        )
        .await;
    assert_not_found(&planted, "generator_id of another generator");
    assert!(
        listed_names(&server, &pak_b, "/api/v1/stacks")
            .await
            .is_empty()
    );
    assert!(
        listed_names(&server, &pak_a, "/api/v1/stacks")
            .await
            .is_empty()
    );

    // naming itself is the same as naming no one
    let own = server
        .post(
            "/api/v1/stacks",
            &pak_a,
            json!({"name": "own", "generator_id": id_a}),
        )
        .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.text);
    assert_eq!(own.json["generator_id"], id_a.as_str());
}

async fn names_are_unique_per_generator(server: TestServer) {
    let (_, pak_a) = server.generator("a").await;
    let (_, pak_b) = server.generator("b").await;
    let first = stack(&server, &pak_a, "my-app").await;

    let taken = server
        .post("/api/v1/stacks", &pak_a, json!({"name": "my-app"}))
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        taken.text
    );

    // another generator, and the admin, may use the name
    stack(&server, &pak_b, "my-app").await;
    stack(&server, &server.admin_pak, "my-app").await;

    // renaming onto a taken name conflicts too
    let second = stack(&server, &pak_a, "other-app").await;
    let renamed = server
        .put(
            &format!("/api/v1/stacks/{second}"),
            &pak_a,
            json!({"name": "my-app"}),
        )
        .await;
    assert_eq!(
        (renamed.status, renamed.code()),
        (StatusCode::CONFLICT, "conflict")
    );

    // a deleted stack frees its name
    let deleted = server
        .delete(&format!("/api/v1/stacks/{first}"), &pak_a)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    stack(&server, &pak_a, "my-app").await;
}

async fn update_and_soft_delete(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let created = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "before", "description": "old"}),
        )
        .await;
    let id = created.str("id");
    let path = format!("/api/v1/stacks/{id}");
    let object_id = object(&server, &pak, &id, json!({"yaml_content": CONFIG_MAP}))
        .await
        .str("id");

    let renamed = server.put(&path, &pak, json!({"name": "after"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    assert_eq!(
        (renamed.str("name"), renamed.str("description")),
        ("after".into(), "old".into())
    );
    let described = server.put(&path, &pak, json!({"description": "new"})).await;
    assert_eq!(
        (described.str("name"), described.str("description")),
        ("after".into(), "new".into())
    );
    assert_eq!(described.str("created_at"), created.str("created_at"));
    let read = server.get(&path, &pak).await;
    assert_eq!(read.json, described.json);

    let bad_name = server.put(&path, &pak, json!({"name": ""})).await;
    assert_eq!(
        (bad_name.status, bad_name.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let deleted = server.delete(&path, &pak).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert!(deleted.text.is_empty(), "{}", deleted.text);

    assert_not_found(&server.get(&path, &pak).await, "deleted stack");
    assert_not_found(
        &server.get(&path, &server.admin_pak).await,
        "deleted stack, admin",
    );
    assert_not_found(&server.delete(&path, &pak).await, "deleted twice");
    let objects_path = format!("{path}/deployment-objects");
    assert_not_found(
        &server.get(&objects_path, &pak).await,
        "objects of a deleted stack",
    );
    let late = object(&server, &pak, &id, json!({"yaml_content": "a: 1"})).await;
    assert_not_found(&late, "object appended to a deleted stack");
    let old_object = server
        .get(&format!("/api/v1/deployment-objects/{object_id}"), &pak)
        .await;
    assert_not_found(&old_object, "object of a deleted stack");
    assert!(
        listed_names(&server, &pak, "/api/v1/stacks")
            .await
            .is_empty()
    );
}

async fn unknown_body_fields_are_refused(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let stack_id = stack(&server, &pak, "s").await;
    let stack_path = format!("/api/v1/stacks/{stack_id}");
    let objects_path = format!("{stack_path}/deployment-objects");
    let planted_id = "00000000-0000-4000-8000-000000000001";

    let cases = [
        // create stack
        (
            Method::POST,
            "/api/v1/stacks",
            json!({"name": "x", "id": planted_id}),
        ),
        (
            Method::POST,
            "/api/v1/stacks",
            json!({"name": "x", "owner": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/stacks",
            json!({"name": "x", "created_at": "2020-01-01T00:00:00Z"}),
        ),
        // update stack
        (
            Method::PUT,
            stack_path.as_str(),
            json!({"generator_id": planted_id}),
        ),
        (Method::PUT, stack_path.as_str(), json!({"id": planted_id})),
        // create deployment object
        (
            Method::POST,
            objects_path.as_str(),
            json!({"yaml_content": "a: 1", "sequence_id": 7}),
        ),
        (
            Method::POST,
            objects_path.as_str(),
            json!({"yaml_content": "a: 1", "yaml_checksum": "00"}),
        ),
        (
            Method::POST,
            objects_path.as_str(),
            json!({"yaml_content": "a: 1", "stack_id": planted_id}),
        ),
    ];
    for (method, path, body) in cases {
        let reply = server
            .call(method.clone(), path, Some(&pak), Some(body.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{method} {path} {body}: {}",
            reply.text
        );
        assert!(
            !reply.json["message"].as_str().unwrap_or("").is_empty(),
            "{}",
            reply.text
        );
    }

    // nothing was created or changed
    assert_eq!(listed_names(&server, &pak, "/api/v1/stacks").await, ["s"]);
    let objects = server.get(&objects_path, &pak).await;
    assert_eq!(objects.json, json!([]));
    let read = server.get(&stack_path, &pak).await;
    assert_eq!(read.str("id"), stack_id);
}

async fn concurrent_writes_keep_sequences_and_names_straight(server: TestServer) {
    let server = Arc::new(server);
    let (_, pak) = server.generator("g").await;
    let stack_id = stack(&server, &pak, "busy").await;

    // appends racing on one stack each get their own sequence number
    let mut appends = tokio::task::JoinSet::new();
    for n in 0..12 {
        let (server, pak, stack_id) = (Arc::clone(&server), pak.clone(), stack_id.clone());
        appends.spawn(async move {
            let body = json!({"yaml_content": format!("n: {n}")});
            object(&server, &pak, &stack_id, body).await
        });
    }
    let mut sequence_ids = Vec::new();
    while let Some(reply) = appends.join_next().await {
        let reply = reply.expect("append task");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        sequence_ids.push(reply.json["sequence_id"].as_i64().expect("sequence_id"));
    }
    sequence_ids.sort_unstable();
    assert_eq!(sequence_ids, (1..=12).collect::<Vec<i64>>());

    // creates racing on one name: one wins, the others conflict
    let mut creates = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (server, pak) = (Arc::clone(&server), pak.clone());
        creates.spawn(async move {
            let reply = server
                .post("/api/v1/stacks", &pak, json!({"name": "raced"}))
                .await;
            (reply.status, reply.code().to_owned())
        });
    }
    let mut outcomes = Vec::new();
    while let Some(outcome) = creates.join_next().await {
        outcomes.push(outcome.expect("create task"));
    }
    let created = outcomes
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED);
    assert_eq!(created.count(), 1, "{outcomes:?}");
    let conflicts = outcomes
        .iter()
        .filter(|outcome| **outcome == (StatusCode::CONFLICT, "conflict".to_owned()));
    assert_eq!(conflicts.count(), 7, "{outcomes:?}");
    assert_eq!(
        listed_names(&server, &pak, "/api/v1/stacks").await,
        ["busy", "raced"]
    );
}
