//! Bad input over HTTP: credentials, bodies, content types, routes, methods, names, and
//! slow or departing clients. Each is a clear 4xx JSON answer, never a crash.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_http::ServerLimits;
use bytes::Bytes;
use common::{Backend, Options, Reply, TestServer};
use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_every_backend!(
    missing_authorization_is_unauthorized,
    bad_paks_are_unauthorized,
    oversized_body_is_refused,
    malformed_json_is_refused,
    wrong_content_type_is_refused,
    unknown_route_is_not_found,
    wrong_method_is_refused_with_allow,
    names_are_checked,
    health_and_readiness_need_no_pak,
    rotate_pak_as_curl_sends_it,
);

const ONE_MIB: usize = 1024 * 1024;

fn assert_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(
        (reply.status, reply.code()),
        (status, code),
        "{}",
        reply.text
    );
    let message = reply.json["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "a message: {}", reply.text);
    let content_type = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some("application/json"));
}

/// Sends `body` with `content_type` (or none) to `path` with `pak`.
async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    pak: &str,
    content_type: Option<&str>,
    body: impl Into<Bytes>,
) -> Reply {
    let mut request = server
        .request(method, path)
        .header("authorization", format!("Bearer {pak}"));
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    server
        .send(request.body(Full::new(body.into())).expect("request"))
        .await
}

/// `host:port` of the server.
fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// Writes `head` and then `body` in pieces on a raw connection while reading the answer;
/// write failures are ignored, since the server may stop reading once it has answered.
async fn raw_exchange(server: &TestServer, head: String, body: Vec<Vec<u8>>) -> String {
    let stream = TcpStream::connect(address(server)).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        writer.write_all(head.as_bytes()).await?;
        for piece in body {
            writer.write_all(&piece).await?;
        }
        writer.flush().await?;
        Ok::<_, std::io::Error>(writer)
    });
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut reader))
        .await
        .expect("an answer in time");
    writing.abort();
    answer
}

/// Reads one HTTP/1.1 response with a `content-length`, or up to the end of the stream.
async fn read_response(reader: &mut (impl AsyncReadExt + Unpin)) -> String {
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, value)| value.trim().parse::<usize>().ok());
            if length.is_some_and(|length| body.len() >= length) {
                return text;
            }
        }
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return text,
            Ok(n) => answer.extend_from_slice(&buffer[..n]),
        }
    }
}

async fn missing_authorization_is_unauthorized(server: TestServer) {
    let reply = server.call(Method::GET, "/api/v1/stacks", None, None).await;
    assert_error(&reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // a scheme other than Bearer is no credential
    let basic = server
        .send(
            server
                .request(Method::GET, "/api/v1/auth/whoami")
                .header("authorization", format!("Basic {}", server.admin_pak))
                .body(Full::new(Bytes::new()))
                .expect("request"),
        )
        .await;
    assert_error(&basic, StatusCode::UNAUTHORIZED, "unauthorized");

    // a body is not read before the caller is known
    let create = server
        .call(
            Method::POST,
            "/api/v1/stacks",
            None,
            Some(json!({"name": "anonymous"})),
        )
        .await;
    assert_error(&create, StatusCode::UNAUTHORIZED, "unauthorized");
    let listed = server.get("/api/v1/stacks", &server.admin_pak).await;
    assert_eq!(listed.json, json!([]));
}

async fn bad_paks_are_unauthorized(server: TestServer) {
    let (_, pak) = server.generator("g").await;
    let middle = pak.len() / 2;
    let flipped = if pak.as_bytes()[middle] == b'a' {
        "b"
    } else {
        "a"
    };
    let mistyped = format!("{}{flipped}{}", &pak[..middle], &pak[middle + 1..]);
    let cases = [
        ("one character changed", mistyped),
        ("truncated", pak[..pak.len() - 1].to_owned()),
        ("half", pak[..middle].to_owned()),
        ("nonsense", "nonsense".to_owned()),
        ("wrong prefix", pak.replacen("brk_", "bkr_", 1)),
        ("wrong kind", pak.replacen("brk_gen_", "brk_agt_", 1)),
        ("admin kind", pak.replacen("brk_gen_", "brk_adm_", 1)),
        ("extra character", format!("{pak}x")),
        ("empty", String::new()),
    ];
    for (what, presented) in cases {
        assert_ne!(presented, pak, "{what}");
        let reply = server.get("/api/v1/auth/whoami", &presented).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNAUTHORIZED, "unauthorized"),
            "{what}: {}",
            reply.text
        );
        assert!(
            !reply.text.contains(&presented) || presented.is_empty(),
            "{what} echoed"
        );
    }

    // the real one still works: the failures above did not lock it out
    let me = server.get("/api/v1/auth/whoami", &pak).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
}

async fn oversized_body_is_refused(server: TestServer) {
    let admin = server.admin_pak.clone();
    let padding = "x".repeat(ONE_MIB);
    let oversized = json!({"name": "big", "description": padding}).to_string();
    assert!(oversized.len() > ONE_MIB);

    // an honest Content-Length, refused before the body is read
    let head = format!(
        "POST /api/v1/generators HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {admin}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        oversized.len()
    );
    let answer = raw_exchange(&server, head, vec![oversized.clone().into_bytes()]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );

    // a chunked body with no length, refused once it passes the limit
    let head = format!(
        "POST /api/v1/generators HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {admin}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let chunks: Vec<Vec<u8>> = oversized
        .as_bytes()
        .chunks(64 * 1024)
        .map(|chunk| {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            framed
        })
        .chain(std::iter::once(b"0\r\n\r\n".to_vec()))
        .collect();
    let answer = raw_exchange(&server, head, chunks).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );

    // nothing was created, and a body just under the limit is read
    let listed = server.get("/api/v1/generators", &admin).await;
    assert_eq!(listed.json, json!([]), "{}", listed.text);
    let (_, pak) = server.generator("g").await;
    let stack = server
        .post("/api/v1/stacks", &pak, json!({"name": "s"}))
        .await;
    let content = format!("a: 1\n# {}\n", "y".repeat(ONE_MIB - 1024));
    let path = format!("/api/v1/stacks/{}/deployment-objects", stack.str("id"));
    let accepted = server
        .post(&path, &pak, json!({"yaml_content": content}))
        .await;
    assert_eq!(accepted.status, StatusCode::CREATED, "{}", accepted.status);
}

async fn malformed_json_is_refused(server: TestServer) {
    let admin = server.admin_pak.clone();
    let cases: [(&str, &str); 5] = [
        ("not json", "{not json"),
        ("truncated", "{\"name\": \"a\""),
        ("trailing garbage", "{\"name\": \"a\"} x"),
        ("empty", ""),
        ("bare word", "name=a"),
    ];
    for (what, body) in cases {
        let reply = raw(
            &server,
            Method::POST,
            "/api/v1/generators",
            &admin,
            Some("application/json"),
            body.to_owned(),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "malformed_json"),
            "{what}: {}",
            reply.text
        );
    }

    // well-formed JSON of the wrong shape is an invalid request
    let shapes = [json!([1]), json!({"name": 5}), json!({}), json!("name")];
    for body in shapes {
        let reply = server
            .post("/api/v1/generators", &admin, body.clone())
            .await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
    }

    // nesting far past the parser's depth limit, where any JSON value may go, is refused
    // rather than overflowing the stack
    let deep = format!(
        "{{\"name\": \"deep\", \"template_name\": \"t\", \"parameters\": {}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let reply = raw(
        &server,
        Method::POST,
        "/api/v1/stacks",
        &admin,
        Some("application/json"),
        deep,
    )
    .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "malformed_json");

    let listed = server.get("/api/v1/generators", &admin).await;
    assert_eq!(listed.json, json!([]));
}

async fn wrong_content_type_is_refused(server: TestServer) {
    let admin = server.admin_pak.clone();
    let body = json!({"name": "typed"}).to_string();
    let content_types = [
        Some("text/plain"),
        // what `curl -d` sends when no content type is given
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        None,
    ];
    for content_type in content_types {
        let reply = raw(
            &server,
            Method::POST,
            "/api/v1/generators",
            &admin,
            content_type,
            body.clone(),
        )
        .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            "{content_type:?}: {}",
            reply.text
        );
    }

    // parameters and case of the media type are fine
    let charset = raw(
        &server,
        Method::POST,
        "/api/v1/generators",
        &admin,
        Some("Application/JSON; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(charset.status, StatusCode::CREATED, "{}", charset.text);
}

async fn unknown_route_is_not_found(server: TestServer) {
    let paths = [
        "/",
        "/api/v1/nothing",
        "/api/v2/generators",
        "/api/v1/generators/not-a-uuid",
        "/api/v1/stacks/00000000-0000-4000-8000-000000000000/nothing",
        "/healthz/extra",
    ];
    for path in paths {
        let reply = server.get(path, &server.admin_pak).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}: {}",
            reply.text
        );
        let anonymous = server.call(Method::GET, path, None, None).await;
        assert_eq!(
            anonymous.status,
            StatusCode::NOT_FOUND,
            "{path} without a pak"
        );
    }
}

async fn wrong_method_is_refused_with_allow(server: TestServer) {
    let cases: [(Method, &str, &[&str]); 4] = [
        (Method::PATCH, "/api/v1/generators", &["GET", "POST"]),
        (Method::DELETE, "/api/v1/stacks", &["GET", "POST"]),
        (Method::POST, "/healthz", &["GET"]),
        (
            Method::GET,
            "/api/v1/generators/00000000-0000-4000-8000-000000000000/rotate-pak",
            &["POST"],
        ),
    ];
    for (method, path, allowed) in cases {
        let reply = server
            .call(method.clone(), path, Some(&server.admin_pak), None)
            .await;
        assert_error(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        let allow = reply
            .headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, allowed, "{method} {path}");
    }
}

async fn names_are_checked(server: TestServer) {
    let admin = server.admin_pak.clone();
    let (_, pak) = server.generator("g").await;
    let template = |name: &str| json!({"name": name, "template_yaml": "a: 1", "schema_json": {}});
    let create = |name: &str| -> [(&'static str, String, Value); 3] {
        [
            ("/api/v1/generators", admin.clone(), json!({"name": name})),
            ("/api/v1/stacks", pak.clone(), json!({"name": name})),
            ("/api/v1/templates", pak.clone(), template(name)),
        ]
    };

    let bad_names = [
        String::new(),
        "n".repeat(256),
        "bell\u{7}".to_owned(),
        "new\nline".to_owned(),
        "tab\there".to_owned(),
        "nul\u{0}".to_owned(),
        "del\u{7f}".to_owned(),
    ];
    for name in &bad_names {
        for (path, key, body) in create(name) {
            let reply = server.post(path, &key, body).await;
            assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
            assert_eq!(reply.json["details"]["field"], "name", "{path} {name:?}");
        }
    }

    // descriptions are bounded too
    let long = "d".repeat(4097);
    let cases = [
        (
            "/api/v1/generators",
            &admin,
            json!({"name": "described", "description": long}),
        ),
        (
            "/api/v1/stacks",
            &pak,
            json!({"name": "described", "description": long}),
        ),
    ];
    for (path, key, body) in cases {
        let reply = server.post(path, key, body).await;
        assert_error(&reply, StatusCode::BAD_REQUEST, "invalid_request");
        assert_eq!(reply.json["details"]["field"], "description", "{path}");
    }

    // 255 characters, and characters beyond ASCII, are names
    for name in [
        "n".repeat(255),
        "ü".repeat(255),
        "déploiement 日本".to_owned(),
    ] {
        for (path, key, body) in create(&name) {
            let reply = server.post(path, &key, body).await;
            assert_eq!(
                reply.status,
                StatusCode::CREATED,
                "{path} {name:?}: {}",
                reply.text
            );
            let stored = reply.json.get("generator").unwrap_or(&reply.json);
            assert_eq!(stored["name"], name.as_str());
        }
    }
}

async fn health_and_readiness_need_no_pak(server: TestServer) {
    let health = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK, "{}", health.text);
    assert_eq!(health.json["status"], "ok");
    let ready = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
    assert_eq!(ready.json["status"], "ready");

    // a bad PAK is not looked at either
    let with_bad_pak = server.get("/healthz", "brk_gen_nonsense").await;
    assert_eq!(with_bad_pak.status, StatusCode::OK);
}

async fn rotate_pak_as_curl_sends_it(server: TestServer) {
    let (id, pak) = server.generator("g").await;
    let path = format!("/api/v1/generators/{id}/rotate-pak");

    // `curl -X POST ... -H "Authorization: Bearer $PAK"`: no body, no content type
    let rotated = server.call(Method::POST, &path, Some(&pak), None).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text);
    let new_pak = rotated.str("pak");
    assert!(new_pak.starts_with("brk_gen_"), "{}", rotated.text);

    // the same bytes as curl 8 puts on the wire: no content-length either
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
         Authorization: Bearer {new_pak}\r\n\r\n",
        address(&server)
    );
    let answer = raw_exchange(&server, head, Vec::new()).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"pak\":\"brk_gen_"), "{answer}");

    // an empty body under any content type is no body
    for content_type in ["application/x-www-form-urlencoded", "application/json"] {
        let reply = raw(
            &server,
            Method::POST,
            &path,
            &server.admin_pak,
            Some(content_type),
            "",
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{content_type}: {}",
            reply.text
        );
    }

    // but a body that is not JSON is refused
    let form = raw(
        &server,
        Method::POST,
        &path,
        &server.admin_pak,
        Some("application/x-www-form-urlencoded"),
        "expires_at=never",
    )
    .await;
    assert_error(
        &form,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_is_cut_off() {
    let options = Options {
        server_limits: ServerLimits {
            header_read_timeout: Duration::from_millis(200),
            ..ServerLimits::DEFAULT
        },
        ..Options::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, options)
        .await
        .expect("sqlite is always available");
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");

    let started = Instant::now();
    stream.write_all(b"GET /healthz HT").await.expect("write");
    let mut buffer = [0_u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;

    let elapsed = started.elapsed();
    match read {
        Err(_) => panic!("the connection was still open after {elapsed:?}"),
        Ok(Ok(0) | Err(_)) => {}
        Ok(Ok(n)) => {
            let answer = String::from_utf8_lossy(&buffer[..n]);
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }
    assert!(
        elapsed >= Duration::from_millis(150),
        "closed before the timeout: {elapsed:?}"
    );

    // the server goes on serving others
    let health = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_sent_too_slowly_is_answered_408() {
    let options = Options {
        body_read_timeout: Some(Duration::from_millis(200)),
        ..Options::default()
    };
    let server = TestServer::start_with(Backend::Sqlite, options)
        .await
        .expect("sqlite is always available");
    let mut stream = TcpStream::connect(address(&server)).await.expect("connect");

    let started = Instant::now();
    let head = format!(
        "POST /api/v1/stacks HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"name\"",
        server.admin_pak
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut buffer = [0_u8; 1024];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer)).await;

    let answer = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&buffer[..n]).into_owned(),
        other => panic!("no answer within 2 s: {other:?}"),
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    let stacks = server.get("/api/v1/stacks", &server.admin_pak).await;
    assert_eq!(stacks.json, serde_json::json!([]), "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_in_flight_completes_when_the_server_stops() {
    let server = TestServer::start(Backend::Sqlite)
        .await
        .expect("sqlite is always available");
    let address = address(&server);
    let cache = Arc::clone(server.broker.cache());
    assert!(cache.is_empty(), "no PAK was verified yet");
    let body = json!({"name": "drained"}).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);

    // a request whose body is half sent is in flight
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /api/v1/generators HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{first_half}",
        server.admin_pak,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    // the request was authenticated, so it is being handled and now awaits its body
    let deadline = Instant::now() + Duration::from_secs(5);
    while cache.is_empty() {
        assert!(
            Instant::now() < deadline,
            "the request was never authenticated"
        );
        tokio::task::yield_now().await;
    }

    let stopping = tokio::spawn(server.stop());
    // the listener closes first: then the server is draining
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(&address).await.is_ok() {
        assert!(Instant::now() < deadline, "the listener stayed open");
        tokio::task::yield_now().await;
    }
    assert!(
        !stopping.is_finished(),
        "the server ended with a request in flight"
    );

    stream
        .write_all(second_half.as_bytes())
        .await
        .expect("write rest");
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("answer in time");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"pak\":\"brk_gen_"), "{answer}");

    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("the server stops once drained")
        .expect("stop task");
}
