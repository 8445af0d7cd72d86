//! Templates over HTTP: the guide's "Using Templates" flow, versions, sharing, schema
//! checks of parameters, sandboxed renders, on every backend.

mod common;

use std::sync::Arc;

use common::{Backend, Reply, TestServer};
use http::{Method, StatusCode};
use serde_json::{Value, json};

on_every_backend!(
    guide_creates_a_template_and_a_stack_from_it,
    schema_may_be_sent_as_an_object,
    posting_a_name_again_makes_the_next_version,
    own_template_wins_over_shared_one,
    shared_templates_are_readable_but_not_writable,
    private_templates_are_invisible_to_other_generators,
    invalid_parameters_are_refused_and_nothing_is_stored,
    runaway_template_runs_out_of_fuel_and_nothing_is_stored,
    remote_schema_reference_is_refused,
    template_syntax_error_names_its_line,
    output_that_is_not_yaml_is_refused,
    other_render_failures_have_their_own_codes,
    render_answers_yaml_and_stores_nothing,
);

/// A template body whose output carries `marker`, to tell versions and owners apart.
fn marked(name: &str, marker: &str) -> Value {
    json!({
        "name": name,
        "template_yaml": format!("{}# {marker}\n", common::WEB_SERVICE),
        "schema_json": common::web_service_schema(),
    })
}

/// Uploads a template; returns its answer after checking it was created.
async fn template(server: &TestServer, pak: &str, body: Value) -> Reply {
    let reply = server.post("/api/v1/templates", pak, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply
}

/// Creates a stack from `template_name` with the guide's parameters.
async fn stack_from(server: &TestServer, pak: &str, name: &str, template_name: &str) -> Reply {
    let body = json!({
        "name": name,
        "template_name": template_name,
        "parameters": {"replicas": 3, "image": "myapp:v1.2.3"},
    });
    server.post("/api/v1/stacks", pak, body).await
}

/// The deployment objects of stack `id`.
async fn objects(server: &TestServer, pak: &str, id: &str) -> Vec<Value> {
    let reply = server
        .get(&format!("/api/v1/stacks/{id}/deployment-objects"), pak)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json.as_array().expect("a list").clone()
}

/// The only deployment object's content of the stack in `created`.
async fn only_content(server: &TestServer, pak: &str, created: &Reply) -> String {
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let objects = objects(server, pak, &created.str("id")).await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    objects[0]["yaml_content"]
        .as_str()
        .expect("content")
        .to_owned()
}

/// The names of the stacks `pak` can list.
async fn stack_names(server: &TestServer, pak: &str) -> Vec<String> {
    let reply = server.get("/api/v1/stacks", pak).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let stacks = reply.json.as_array().expect("a list");
    stacks
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The ids of the templates `pak` can list.
async fn template_ids(server: &TestServer, pak: &str) -> Vec<String> {
    let reply = server.get("/api/v1/templates", pak).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let templates = reply.json.as_array().expect("a list");
    templates
        .iter()
        .map(|t| t["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{}",
        reply.text
    );
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{}",
        reply.text
    );
}

async fn guide_creates_a_template_and_a_stack_from_it(server: TestServer) {
    let (generator_id, pak) = server.generator("github-actions-prod").await;

    // the guide sends `schema_json` as a string
    let created = template(
        &server,
        &pak,
        json!({
            "name": "web-service",
            "description": "Standard web service deployment",
            "template_yaml": common::WEB_SERVICE,
            "schema_json": common::web_service_schema().to_string(),
        }),
    )
    .await;
    assert_eq!(created.json["version"], 1);
    assert_eq!(created.json["name"], "web-service");
    assert_eq!(
        created.json["description"],
        "Standard web service deployment"
    );
    assert_eq!(created.json["template_yaml"], common::WEB_SERVICE);
    assert_eq!(created.json["schema_json"], common::web_service_schema());
    assert_eq!(created.json["generator_id"], generator_id.as_str());

    let stack = stack_from(&server, &pak, "my-web-service", "web-service").await;
    assert_eq!(stack.json["name"], "my-web-service");
    assert_eq!(stack.json["generator_id"], generator_id.as_str());
    let content = only_content(&server, &pak, &stack).await;
    assert!(content.contains("replicas: 3"), "{content}");
    assert!(content.contains("image: \"myapp:v1.2.3\""), "{content}");
    assert!(!content.contains("{{"), "{content}");

    // schema defaults fill what is left out
    let defaulted = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "defaulted", "template_name": "web-service",
                   "parameters": {"image": "myapp:v2"}}),
        )
        .await;
    let content = only_content(&server, &pak, &defaulted).await;
    assert!(content.contains("replicas: 1"), "{content}");
}

async fn schema_may_be_sent_as_an_object(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let body = json!({
        "name": "web-service",
        "template_yaml": common::WEB_SERVICE,
        "schema_json": common::web_service_schema(),
    });
    let created = template(&server, &pak, body).await;
    assert_eq!(created.json["schema_json"], common::web_service_schema());

    let stack = stack_from(&server, &pak, "s", "web-service").await;
    assert!(
        only_content(&server, &pak, &stack)
            .await
            .contains("replicas: 3")
    );

    // a string that holds no JSON is refused, and so is a schema that is not one
    for schema in [
        json!("{not json"),
        json!(["not", "a", "schema"]),
        json!({"type": 12}),
    ] {
        let body = json!({"name": "broken", "template_yaml": "a: 1", "schema_json": schema});
        let refused = server.post("/api/v1/templates", &pak, body).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{schema}: {}",
            refused.text
        );
    }
    assert_eq!(template_ids(&server, &pak).await, [created.str("id")]);
}

async fn posting_a_name_again_makes_the_next_version(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let (_, other) = server.generator("other").await;

    let first = template(&server, &pak, marked("web-service", "first")).await;
    let second = template(&server, &pak, marked("web-service", "second")).await;
    assert_eq!(
        (
            first.json["version"].clone(),
            second.json["version"].clone()
        ),
        (json!(1), json!(2))
    );
    assert_ne!(first.str("id"), second.str("id"));

    // both versions stay readable; the newest is the one used by name
    let listed = template_ids(&server, &pak).await;
    assert!(listed.contains(&first.str("id")) && listed.contains(&second.str("id")));
    let stack = stack_from(&server, &pak, "s", "web-service").await;
    let content = only_content(&server, &pak, &stack).await;
    assert!(content.contains("# second"), "{content}");

    // versions count per owner
    let theirs = template(&server, &other, marked("web-service", "theirs")).await;
    assert_eq!(theirs.json["version"], 1);

    // with the newest version deleted, the name resolves to the one before
    let newest = format!("/api/v1/templates/{}", second.str("id"));
    assert_eq!(
        server.delete(&newest, &pak).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &server.get(&newest, &pak).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let stack = stack_from(&server, &pak, "after-delete", "web-service").await;
    let content = only_content(&server, &pak, &stack).await;
    assert!(content.contains("# first"), "{content}");
    // and a version number is never handed out twice
    let third = template(&server, &pak, marked("web-service", "third")).await;
    assert_eq!(third.json["version"], 3, "{}", third.text);
}

async fn own_template_wins_over_shared_one(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let (_, plain) = server.generator("plain").await;
    let shared = template(&server, &server.admin_pak, marked("web-service", "shared")).await;
    assert_eq!(shared.json["generator_id"], Value::Null, "{}", shared.text);
    template(&server, &pak, marked("web-service", "own")).await;
    // a newer shared version does not beat the generator's own
    template(
        &server,
        &server.admin_pak,
        marked("web-service", "shared-newer"),
    )
    .await;

    let own = stack_from(&server, &pak, "s", "web-service").await;
    let content = only_content(&server, &pak, &own).await;
    assert!(content.contains("# own"), "{content}");

    // a generator without its own uses the newest shared one
    let from_shared = stack_from(&server, &plain, "s", "web-service").await;
    let content = only_content(&server, &plain, &from_shared).await;
    assert!(content.contains("# shared-newer"), "{content}");
}

async fn shared_templates_are_readable_but_not_writable(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let shared = template(&server, &server.admin_pak, marked("web-service", "shared")).await;
    let path = format!("/api/v1/templates/{}", shared.str("id"));

    let read = server.get(&path, &pak).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.json, shared.json);
    assert!(
        template_ids(&server, &pak)
            .await
            .contains(&shared.str("id"))
    );
    let rendered = server
        .post(
            &format!("{path}/render"),
            &pak,
            json!({"parameters": {"image": "a:1"}}),
        )
        .await;
    assert_eq!(rendered.status, StatusCode::OK, "{}", rendered.text);

    let update = server
        .put(&path, &pak, json!({"description": "hijacked"}))
        .await;
    assert_error(&update, StatusCode::NOT_FOUND, "not_found");
    let delete = server.delete(&path, &pak).await;
    assert_error(&delete, StatusCode::NOT_FOUND, "not_found");

    let after = server.get(&path, &server.admin_pak).await;
    assert_eq!(after.json, shared.json, "the shared template is untouched");
}

async fn private_templates_are_invisible_to_other_generators(server: TestServer) {
    let (_, owner) = server.generator("owner").await;
    let (_, other) = server.generator("other").await;
    let private = template(&server, &owner, marked("web-service", "private")).await;
    let path = format!("/api/v1/templates/{}", private.str("id"));

    let cases = [
        (Method::GET, path.clone(), None),
        (
            Method::PUT,
            path.clone(),
            Some(json!({"description": "mine"})),
        ),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}/render"),
            Some(json!({"parameters": {"image": "a"}})),
        ),
    ];
    for (method, path, body) in cases {
        let reply = server.call(method.clone(), &path, Some(&other), body).await;
        assert_error(&reply, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(template_ids(&server, &other).await.is_empty());

    let by_name = stack_from(&server, &other, "stolen", "web-service").await;
    assert_error(&by_name, StatusCode::NOT_FOUND, "not_found");
    assert!(stack_names(&server, &other).await.is_empty());

    // the admin sees it; the owner still has it
    assert_eq!(
        server.get(&path, &server.admin_pak).await.status,
        StatusCode::OK
    );
    assert_eq!(server.get(&path, &owner).await.json, private.json);
}

async fn invalid_parameters_are_refused_and_nothing_is_stored(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let created = template(&server, &pak, marked("web-service", "v")).await;

    let refused = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "my-web-service", "template_name": "web-service",
                   "parameters": {"replicas": 0, "image": 5}}),
        )
        .await;
    assert_error(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameters",
    );
    let issues = refused.json["details"]["parameters"]
        .as_array()
        .expect("issues");
    let mut paths: Vec<&str> = issues
        .iter()
        .map(|i| i["path"].as_str().unwrap_or("?"))
        .collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/image", "/replicas"], "{}", refused.text);
    assert!(
        issues
            .iter()
            .all(|i| i["message"].as_str().is_some_and(|m| !m.is_empty()))
    );

    // a missing required parameter is reported on the parameter object
    let missing = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "my-web-service", "template_name": "web-service",
                   "parameters": {"replicas": 2}}),
        )
        .await;
    assert_error(
        &missing,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameters",
    );
    let issues = missing.json["details"]["parameters"]
        .as_array()
        .expect("issues");
    assert!(
        issues
            .iter()
            .any(|i| i["path"] == "" && i["message"].as_str().unwrap_or("").contains("image")),
        "{}",
        missing.text
    );

    // the same through render
    let render = server
        .post(
            &format!("/api/v1/templates/{}/render", created.str("id")),
            &pak,
            json!({"parameters": {"replicas": "three", "image": "a"}}),
        )
        .await;
    assert_error(
        &render,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_parameters",
    );
    assert_eq!(render.json["details"]["parameters"][0]["path"], "/replicas");

    // nothing was stored: the name is still free
    assert!(stack_names(&server, &pak).await.is_empty());
    let retry = stack_from(&server, &pak, "my-web-service", "web-service").await;
    assert!(
        only_content(&server, &pak, &retry)
            .await
            .contains("replicas: 3")
    );
}

async fn runaway_template_runs_out_of_fuel_and_nothing_is_stored(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let runaway = "{% for i in range(100000) %}{% for j in range(100000) %}\
                   {% endfor %}{% endfor %}a: 1\n";
    let created = template(
        &server,
        &pak,
        json!({"name": "runaway", "template_yaml": runaway, "schema_json": {}}),
    )
    .await;

    let stack = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "doomed", "template_name": "runaway"}),
        )
        .await;
    assert_error(
        &stack,
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_out_of_fuel",
    );
    assert!(stack_names(&server, &pak).await.is_empty());

    let render = server
        .call(
            Method::POST,
            &format!("/api/v1/templates/{}/render", created.str("id")),
            Some(&pak),
            None,
        )
        .await;
    assert_error(
        &render,
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_out_of_fuel",
    );
}

async fn remote_schema_reference_is_refused(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let schemas = [
        json!({"$ref": "https://example.com/s.json"}),
        json!({"properties": {"image": {"$ref": "https://example.com/s.json#/image"}}}),
        // as a string, the way the guide sends schemas
        json!(r#"{"$ref": "https://example.com/s.json"}"#),
    ];
    for schema in schemas {
        let body = json!({"name": "remote", "template_yaml": "a: 1", "schema_json": schema});
        let refused = server.post("/api/v1/templates", &pak, body).await;
        assert_error(&refused, StatusCode::BAD_REQUEST, "schema_external_ref");
    }
    assert!(template_ids(&server, &pak).await.is_empty());
}

async fn template_syntax_error_names_its_line(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let body = json!({
        "name": "broken",
        "template_yaml": "a: 1\nb: 2\nc: {% if %}\n",
        "schema_json": {},
    });

    let refused = server.post("/api/v1/templates", &pak, body).await;

    assert_error(&refused, StatusCode::BAD_REQUEST, "invalid_template");
    assert_eq!(refused.json["details"]["line"], 3, "{}", refused.text);
    assert!(template_ids(&server, &pak).await.is_empty());
}

async fn output_that_is_not_yaml_is_refused(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let created = template(
        &server,
        &pak,
        json!({"name": "not-yaml", "template_yaml": "a: [{{ n }}", "schema_json": {}}),
    )
    .await;

    let stack = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "s", "template_name": "not-yaml", "parameters": {"n": 1}}),
        )
        .await;
    assert_error(
        &stack,
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_output_not_yaml",
    );
    assert!(stack_names(&server, &pak).await.is_empty());

    let render = server
        .post(
            &format!("/api/v1/templates/{}/render", created.str("id")),
            &pak,
            json!({"parameters": {"n": 1}}),
        )
        .await;
    assert_error(
        &render,
        StatusCode::UNPROCESSABLE_ENTITY,
        "render_output_not_yaml",
    );
}

async fn render_answers_yaml_and_stores_nothing(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let created = template(
        &server,
        &pak,
        json!({"name": "web-service", "template_yaml": common::WEB_SERVICE,
               "schema_json": common::web_service_schema()}),
    )
    .await;
    let path = format!("/api/v1/templates/{}/render", created.str("id"));

    let rendered = server
        .post(
            &path,
            &pak,
            json!({"parameters": {"replicas": 3, "image": "myapp:v1.2.3"}}),
        )
        .await;

    assert_eq!(rendered.status, StatusCode::OK, "{}", rendered.text);
    let content = rendered.str("yaml_content");
    assert!(content.contains("replicas: 3"), "{}", rendered.text);
    assert!(
        content.contains("image: \"myapp:v1.2.3\""),
        "{}",
        rendered.text
    );
    assert_eq!(
        rendered.json.as_object().map(|o| o.len()),
        Some(1),
        "{}",
        rendered.text
    );

    assert!(stack_names(&server, &pak).await.is_empty());
    assert_eq!(template_ids(&server, &pak).await, [created.str("id")]);
    let unchanged = server
        .get(&format!("/api/v1/templates/{}", created.str("id")), &pak)
        .await;
    assert_eq!(unchanged.json, created.json);

    // unknown fields of the render body are refused too
    let extra = server
        .post(
            &path,
            &pak,
            json!({"parameters": {"image": "a"}, "store": true}),
        )
        .await;
    assert_error(&extra, StatusCode::BAD_REQUEST, "invalid_request");
}

async fn other_render_failures_have_their_own_codes(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let cases = [
        // an undefined variable
        (
            "undefined",
            "a: 1\nb: {{ missing }}\n",
            json!({}),
            "render_failed",
        ),
        // output over the size limit
        (
            "huge",
            "{% for i in range(10000) %}{{ 'y' * 1000 }}{% endfor %}",
            json!({}),
            "render_output_too_large",
        ),
        // parameters that are not an object, under a schema that allows anything
        ("listed", "a: 1", json!([1, 2]), "invalid_parameters"),
    ];
    for (name, source, parameters, code) in cases {
        let body = json!({"name": name, "template_yaml": source, "schema_json": {}});
        let created = template(&server, &pak, body).await;
        let stack = server
            .post(
                "/api/v1/stacks",
                &pak,
                json!({"name": name, "template_name": name, "parameters": parameters}),
            )
            .await;
        assert_error(&stack, StatusCode::UNPROCESSABLE_ENTITY, code);
        let render = server
            .post(
                &format!("/api/v1/templates/{}/render", created.str("id")),
                &pak,
                json!({"parameters": parameters}),
            )
            .await;
        assert_error(&render, StatusCode::UNPROCESSABLE_ENTITY, code);
    }
    assert!(stack_names(&server, &pak).await.is_empty());

    // parameters without a template are a mistake, not something to ignore
    let stray = server
        .post(
            "/api/v1/stacks",
            &pak,
            json!({"name": "stray", "parameters": {"replicas": 3}}),
        )
        .await;
    assert_error(&stray, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(stray.json["details"]["field"], "parameters");
    // and an unknown template name is not found
    let unknown = stack_from(&server, &pak, "unknown", "no-such-template").await;
    assert_error(&unknown, StatusCode::NOT_FOUND, "not_found");
    assert!(stack_names(&server, &pak).await.is_empty());
}

/// Uploads racing on one name each get their own version; none is refused.
async fn concurrent_uploads_of_one_name_get_distinct_versions(backend: Backend) {
    let server = TestServer::start(backend)
        .await
        .expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES);
    let server = Arc::new(server);
    let (_, pak) = server.generator("g").await;

    let mut uploads = tokio::task::JoinSet::new();
    for n in 0..16 {
        let (server, pak) = (Arc::clone(&server), pak.clone());
        uploads.spawn(async move {
            let body = marked("web-service", &format!("upload {n}"));
            server.post("/api/v1/templates", &pak, body).await
        });
    }
    let mut versions = Vec::new();
    while let Some(reply) = uploads.join_next().await {
        let reply = reply.expect("upload task");
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        versions.push(reply.json["version"].as_i64().expect("version"));
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=16).collect::<Vec<i64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uploads_of_one_name_get_distinct_versions_on_sqlite() {
    concurrent_uploads_of_one_name_get_distinct_versions(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn concurrent_uploads_of_one_name_get_distinct_versions_on_postgres() {
    concurrent_uploads_of_one_name_get_distinct_versions(Backend::Postgres).await;
}
