//! The user guide, run as written: every `curl` of `docs/working-with-generators.md` is
//! taken from the guide's own text and run by `bash` and `curl` against a real server.
//!
//! The only rewrites are the ones a reader makes: `http://broker:3000` becomes the test
//! server's address, the GitHub Actions expressions get values, and the template's `...`
//! placeholders get a real template and schema.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Backend, TestServer};
use serde_json::{Value, json};

const GUIDE: &str = include_str!("../../../docs/working-with-generators.md");
const COMMIT_SHA: &str = "3f2c1b0a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b";

/// The fenced blocks of the guide in `language`, in order.
fn blocks(language: &str) -> Vec<String> {
    let opening = format!("```{language}");
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in GUIDE.lines() {
        match &mut current {
            None if line.trim_end() == opening => current = Some(String::new()),
            Some(block) if line.trim_end() == "```" => {
                found.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    found
}

/// The one bash block containing every one of `needles`.
fn bash_block(needles: &[&str]) -> String {
    let matching: Vec<String> = blocks("bash")
        .into_iter()
        .filter(|block| needles.iter().all(|needle| block.contains(needle)))
        .collect();
    assert_eq!(matching.len(), 1, "guide blocks containing {needles:?}");
    matching.into_iter().next().unwrap_or_default()
}

/// The shell scripts of a CI YAML block: the indented body after each `run: |` or `- |`.
fn ci_scripts(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut scripts = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim();
        index += 1;
        if !(line == "run: |" || line == "- |") {
            continue;
        }
        let body: Vec<&str> = lines[index..]
            .iter()
            .take_while(|next| next.trim().is_empty() || indent(next) > indent(lines[index - 1]))
            .copied()
            .collect();
        index += body.len();
        let depth = body
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| indent(l))
            .min();
        let depth = depth.unwrap_or(0);
        let script: Vec<&str> = body.iter().map(|l| l.get(depth..).unwrap_or("")).collect();
        scripts.push(script.join("\n"));
    }
    scripts
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// What one run of guide commands printed: each curl's body and HTTP status.
struct Run {
    calls: Vec<(u16, Value)>,
}

impl Run {
    fn only(&self) -> (u16, &Value) {
        assert_eq!(self.calls.len(), 1, "one curl expected");
        (self.calls[0].0, &self.calls[0].1)
    }
}

/// Runs `script` with bash in `dir`, with `curl` printing its status after each body.
fn run(server: &TestServer, dir: &Path, env: &[(&str, &str)], script: &str) -> Run {
    let script = script.replace("http://broker:3000", &server.base);
    let wrapped = format!(
        "set -euo pipefail\n\
         curl() {{ command curl --silent --show-error \\\n\
             --write-out '\\n@@status %{{http_code}}\\n' \"$@\"; }}\n\
         {script}"
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(&wrapped)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "guide commands failed:\n{script}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut calls = Vec::new();
    let mut body = String::new();
    for line in stdout.lines() {
        if let Some(status) = line.strip_prefix("@@status ") {
            let status = status.trim().parse().expect("numeric status");
            calls.push((
                status,
                serde_json::from_str(body.trim()).unwrap_or(Value::Null),
            ));
            body.clear();
        } else {
            body.push_str(line);
            body.push('\n');
        }
    }
    Run { calls }
}

fn workdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("brokkr-guide-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

async fn guide_runs_as_written(server: TestServer) {
    let dir = workdir();
    let admin = server.admin_pak.clone();

    // Creating a Generator, step 1
    let created = run(
        &server,
        &dir,
        &[("ADMIN_PAK", &admin)],
        &bash_block(&["POST", "/generators\""]),
    );
    let (status, body) = created.only();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["generator"]["name"], "github-actions-prod");
    assert_eq!(
        body["generator"]["description"],
        "Production deployment pipeline"
    );
    let generator_pak = body["pak"].as_str().expect("pak").to_owned();
    let generator_id = body["generator"]["id"].as_str().expect("id").to_owned();
    assert!(generator_pak.starts_with("brk_gen_"));

    // CI/CD Integration: GitHub Actions, both steps
    let github = blocks("yaml")
        .into_iter()
        .find(|block| block.contains("runs-on"))
        .expect("github actions example");
    let github = github.replace("${{ github.sha }}", COMMIT_SHA);
    let steps = ci_scripts(&github);
    assert_eq!(steps.len(), 2, "{steps:?}");
    let ci_env = [
        ("BROKKR_PAK", generator_pak.as_str()),
        ("BROKKR_URL", server.base.as_str()),
    ];
    let stack = run(&server, &dir, &ci_env, &steps[0]);
    let (status, stack) = stack.only();
    assert_eq!(status, 201, "{stack}");
    assert_eq!(stack["name"], format!("my-app-{COMMIT_SHA}"));
    assert_eq!(
        stack["description"],
        format!("Deployed from commit {COMMIT_SHA}")
    );
    // The pipeline keeps the response for its next step, as the guide's second step reads.
    std::fs::write(dir.join("stack-response.json"), stack.to_string()).expect("saved");
    let deployment =
        json!({"yaml_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n"});
    std::fs::write(dir.join("deployment.json"), deployment.to_string()).expect("saved");
    let object = run(&server, &dir, &ci_env, &steps[1]);
    let (status, object) = object.only();
    assert_eq!(status, 201, "{object}");
    assert_eq!(object["stack_id"], stack["id"]);
    assert_eq!(object["sequence_id"], 1);

    // CI/CD Integration: GitLab CI
    let gitlab = blocks("yaml")
        .into_iter()
        .find(|block| block.contains("stage: deploy"))
        .expect("gitlab example");
    let scripts = ci_scripts(&gitlab);
    assert_eq!(scripts.len(), 1, "{scripts:?}");
    let gitlab_env = [
        ("BROKKR_URL", server.base.as_str()),
        ("BROKKR_GENERATOR_PAK", generator_pak.as_str()),
        ("CI_COMMIT_SHA", "9b8c7d"),
        ("CI_PIPELINE_ID", "4242"),
    ];
    let pipeline = run(&server, &dir, &gitlab_env, &scripts[0]);
    let (status, pipeline) = pipeline.only();
    assert_eq!(status, 201, "{pipeline}");
    assert_eq!(pipeline["name"], "my-app-9b8c7d");
    assert_eq!(pipeline["description"], "Pipeline 4242");

    // Using Templates: the placeholders become a real template and schema
    let templates = bash_block(&["/templates", "template_name"])
        .replace(
            "\"template_yaml\": \"...\"",
            &format!(
                "\"template_yaml\": {}",
                shell_quoted_json(&json!(common::WEB_SERVICE))
            ),
        )
        .replace(
            "\"schema_json\": \"...\"",
            &format!(
                "\"schema_json\": {}",
                shell_quoted_json(&json!(common::web_service_schema().to_string()))
            ),
        );
    let generator_env = [("GENERATOR_PAK", generator_pak.as_str())];
    let used = run(&server, &dir, &generator_env, &templates);
    assert_eq!(used.calls.len(), 2);
    let (status, template) = &used.calls[0];
    assert_eq!(*status, 201, "{template}");
    assert_eq!(template["version"], 1);
    let (status, web) = &used.calls[1];
    assert_eq!(*status, 201, "{web}");
    let objects = server
        .get(
            &format!(
                "/api/v1/stacks/{}/deployment-objects",
                web["id"].as_str().expect("id")
            ),
            &generator_pak,
        )
        .await;
    let rendered = objects.json[0]["yaml_content"].as_str().unwrap_or_default();
    assert!(rendered.contains("replicas: 3"), "{}", objects.text);
    assert!(rendered.contains("myapp:v1.2.3"), "{}", objects.text);

    // Managing Generators
    let generator_env = [
        ("ADMIN_PAK", admin.as_str()),
        ("GENERATOR_PAK", generator_pak.as_str()),
        ("GENERATOR_ID", generator_id.as_str()),
    ];
    let listed = run(
        &server,
        &dir,
        &generator_env,
        &bash_block(&["curl \"http://broker:3000/api/v1/generators\""]),
    );
    let (status, list) = listed.only();
    assert_eq!(status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    let details = bash_block(&["/generators/$GENERATOR_ID\"", "GENERATOR_PAK\"\n"]);
    let (status, own) = run(&server, &dir, &generator_env, &details).calls[0].clone();
    assert_eq!(
        (status, own["id"].as_str()),
        (200, Some(generator_id.as_str()))
    );

    let update = run(&server, &dir, &generator_env, &bash_block(&["-X PUT"]));
    let (status, updated) = update.only();
    assert_eq!(status, 200);
    assert_eq!(updated["description"], "Updated description");

    // PAK Rotation by the generator itself; the old PAK dies at once
    let rotation = run(&server, &dir, &generator_env, &bash_block(&["rotate-pak"]));
    let (status, rotated) = rotation.only();
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["generator"]["name"], "github-actions-prod");
    let new_pak = rotated["pak"].as_str().expect("new pak").to_owned();
    let stale = run(&server, &dir, &generator_env, &details);
    assert_eq!(stale.only().0, 401);
    let fresh_env = [
        ("GENERATOR_PAK", new_pak.as_str()),
        ("GENERATOR_ID", generator_id.as_str()),
    ];
    assert_eq!(run(&server, &dir, &fresh_env, &details).only().0, 200);

    // Access Control: a generator may not list generators
    let forbidden = bash_block(&["curl \"http://broker:3000/api/v1/generators\""])
        .replace("ADMIN_PAK", "GENERATOR_PAK");
    assert_eq!(run(&server, &dir, &fresh_env, &forbidden).only().0, 403);

    // Delete Generator, by the admin; its stacks stay for the admin
    let delete = run(&server, &dir, &generator_env, &bash_block(&["-X DELETE"]));
    assert_eq!(delete.only().0, 204);
    assert_eq!(run(&server, &dir, &fresh_env, &details).only().0, 401);
    let stacks = server.get("/api/v1/stacks", &admin).await;
    assert_eq!(
        stacks.json.as_array().map(Vec::len),
        Some(3),
        "{}",
        stacks.text
    );

    let _ = std::fs::remove_dir_all(&dir);
}

/// JSON text that can stand inside the guide's single-quoted `-d '...'` bodies.
fn shell_quoted_json(value: &Value) -> String {
    value.to_string().replace('\'', "'\\''")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_runs_as_written_on_sqlite() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    guide_runs_as_written(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
async fn guide_runs_as_written_on_postgres() {
    let server = TestServer::start(Backend::Postgres).await;
    guide_runs_as_written(server.expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES)).await;
}

#[test]
fn guide_in_docs_matches_the_shared_spec() {
    // The guide is kept in this repository so the test above runs anywhere; when the
    // shared spec is beside the checkout, the copy must not drift from it.
    let spec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/spec/working-with-generators.md");
    if let Ok(text) = std::fs::read_to_string(&spec) {
        assert_eq!(
            text, GUIDE,
            "docs/working-with-generators.md differs from {spec:?}"
        );
    }
}
