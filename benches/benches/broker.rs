//! Measures the broker against a bare hyper responder on the same machine, in one run,
//! and reports every figure as a ratio to that ceiling.
//!
//! Run with `cargo bench -p brokkr-benches`. Each line varies one thing: the transport
//! (bare hyper vs the API), the verification path (warm cache vs cold argon2 at the
//! default cost), or the work behind the route.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use brokkr_core::access::{Operation, authorize};
use brokkr_core::template::{CheckedTemplate, TemplateLimits};
use brokkr_core::{Broker, BrokerConfig, GeneratorSpec, HashParams, Owner, StackSpec};
use brokkr_http::{Api, DEFAULT_MAX_BODY_BYTES, ServerLimits};
use brokkr_store_sqlx::{Database, PoolSettings, testing};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;

const TEMPLATE: &str = concat!(
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n",
    "  replicas: {{ replicas }}\n  template:\n    spec:\n      containers:\n",
    "        - name: web\n          image: \"{{ image }}\"\n",
);

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

/// Mean time per iteration of `f` over `iterations` runs, after a short warm-up.
async fn mean<F, Fut>(iterations: u32, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iterations.div_ceil(10) {
        f().await;
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f().await;
    }
    started.elapsed() / iterations
}

fn mean_sync(iterations: u32, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations.div_ceil(10) {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed() / iterations
}

async fn bare_hyper() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_request: Request<hyper::body::Incoming>| async {
                    let mut response = Response::new(Full::new(Bytes::from_static(b"{}")));
                    response.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("application/json"),
                    );
                    Ok::<_, Infallible>(response)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    format!("http://{address}")
}

async fn request(client: &HttpClient, url: &str, pak: Option<&str>) {
    let mut request = Request::get(url);
    if let Some(pak) = pak {
        request = request.header("authorization", format!("Bearer {pak}"));
    }
    let response = client
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("answer");
    assert!(response.status().is_success(), "{}", response.status());
    black_box(response.into_body().collect().await.expect("body"));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The ceiling: a hyper responder that does nothing.
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let bare = bare_hyper().await;
    let ceiling_before = mean(4000, || request(&client, &bare, None)).await;

    // The broker on SQLite, with a generator and a stack, default argon2 cost.
    let database = Database::connect(&testing::fresh_sqlite_url(), &PoolSettings::DEFAULT)
        .await
        .expect("open");
    database.migrate().await.expect("migrate");
    let config = BrokerConfig {
        hash_params: HashParams::DEFAULT,
        ..BrokerConfig::default()
    };
    let broker = Arc::new(Broker::new(database.store(), config));
    let admin_pak = broker
        .bootstrap_admin()
        .await
        .expect("bootstrap")
        .expect("new");
    let admin = broker
        .authenticate(admin_pak.expose_secret())
        .await
        .expect("admin");
    let spec = GeneratorSpec {
        name: "bench".into(),
        description: None,
        expires_at: None,
    };
    let created = broker
        .create_generator(&admin, spec)
        .await
        .expect("generator");
    let pak = created.pak.expose_secret().to_owned();
    let generator = broker.authenticate(&pak).await.expect("generator pak");
    let stack_spec = StackSpec {
        name: "web".into(),
        ..StackSpec::default()
    };
    let (stack, _) = broker
        .create_stack(&generator, stack_spec)
        .await
        .expect("stack");

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", tcp.local_addr().expect("address"));
    let api = Arc::new(Api::new(Arc::clone(&broker), DEFAULT_MAX_BODY_BYTES));
    tokio::spawn(brokkr_http::serve(
        tcp,
        api,
        ServerLimits::DEFAULT,
        std::future::pending(),
    ));

    let whoami = format!("{base}/api/v1/auth/whoami");
    let read_stack = format!("{base}/api/v1/stacks/{}", stack.id);
    let http_whoami = mean(4000, || request(&client, &whoami, Some(&pak))).await;
    let http_stack = mean(2000, || request(&client, &read_stack, Some(&pak))).await;
    let health = format!("{base}/healthz");
    let http_health = mean(4000, || request(&client, &health, None)).await;

    // The ceiling again, now that the machine is as warm as for the API: the faster of
    // the two runs is the one every figure is divided by.
    let ceiling_after = mean(4000, || request(&client, &bare, None)).await;
    let ceiling = ceiling_before.min(ceiling_after);

    // Verification paths, without HTTP.
    let warm = mean(20_000, || async {
        black_box(broker.authenticate(&pak).await.expect("warm"));
    })
    .await;
    let cold = mean(20, || async {
        broker.cache().flush();
        black_box(broker.authenticate(&pak).await.expect("cold"));
    })
    .await;
    let mut typo = pak.clone().into_bytes();
    typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).expect("ascii");
    let refused = mean(20_000, || async {
        black_box(broker.authenticate(&typo).await.is_err());
    })
    .await;

    // Pure rules and rendering.
    let owner = Owner::Generator(generator.id);
    let authorized = mean_sync(1_000_000, || {
        black_box(authorize(black_box(&generator), Operation::ReadStack, Some(&owner)).is_ok());
    });
    let schema = json!({
        "type": "object",
        "properties": {"replicas": {"type": "integer"}, "image": {"type": "string"}}
    });
    let limits = TemplateLimits::DEFAULT;
    let template = CheckedTemplate::check(TEMPLATE, &schema, &limits).expect("template");
    let parameters = json!({"replicas": 3, "image": "myapp:v1.2.3"});
    let rendered = mean_sync(5_000, || {
        black_box(template.render(&parameters, &limits).expect("renders"));
    });

    println!("ratios to a bare hyper responder's round trip on this machine (lower is faster)");
    let rows = [
        (
            "bare hyper responder, GET over keep-alive (the ceiling)",
            ceiling,
        ),
        ("GET /healthz through the API", http_health),
        ("GET /api/v1/auth/whoami, warm PAK", http_whoami),
        ("GET /api/v1/stacks/{id}, warm PAK, SQLite read", http_stack),
        ("authenticate, warm cache (no HTTP)", warm),
        (
            "authenticate, cold: store read + argon2id 19 MiB/t=2 (no HTTP)",
            cold,
        ),
        (
            "authenticate, mistyped PAK refused by checksum (no HTTP)",
            refused,
        ),
        ("authorize, one table lookup", authorized),
        ("render the guide's template with schema check", rendered),
    ];
    for (name, took) in rows {
        let ratio = took.as_secs_f64() / ceiling.as_secs_f64();
        println!("{ratio:>12.5}x  {name}");
    }
}
