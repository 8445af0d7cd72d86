//! A real server on a loopback port, over SQLite or PostgreSQL, and a small client.

#![allow(dead_code)]

use std::sync::Arc;

use brokkr_core::{Broker, BrokerConfig, Clock, HashParams};
use brokkr_http::{Api, DEFAULT_MAX_BODY_BYTES, ServerLimits};
use brokkr_store_sqlx::{Database, PoolSettings, testing};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio::sync::oneshot;

/// Which store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server with its admin PAK.
pub struct TestServer {
    pub backend: Backend,
    pub base: String,
    pub admin_pak: String,
    pub broker: Arc<Broker>,
    pub database_url: String,
    pub database: Database,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

/// An answer, with its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Reply {
    /// The error body's `code`.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }

    /// Field `key` of the JSON body as a string.
    pub fn str(&self, key: &str) -> String {
        self.json[key].as_str().unwrap_or_default().to_owned()
    }
}

/// Options of a test server.
#[derive(Clone)]
pub struct Options {
    pub clock: Option<Arc<dyn Clock>>,
    pub server_limits: ServerLimits,
    pub database_url: Option<String>,
    pub pool: PoolSettings,
    pub body_read_timeout: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: None,
            server_limits: ServerLimits::DEFAULT,
            database_url: None,
            pool: PoolSettings::DEFAULT,
            body_read_timeout: None,
        }
    }
}

impl TestServer {
    /// A server on a fresh database of `backend`, or `None` when that backend is not
    /// available (PostgreSQL without `DATABASE_URL`).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, Options::default()).await
    }

    pub async fn start_with(backend: Backend, options: Options) -> Option<TestServer> {
        let url = match (&options.database_url, backend) {
            (Some(url), _) => url.clone(),
            (None, Backend::Sqlite) => testing::fresh_sqlite_url(),
            (None, Backend::Postgres) => testing::fresh_postgres_url().await?,
        };
        let database = Database::connect(&url, &options.pool).await.expect("open");
        database.migrate().await.expect("migrate");

        let mut config = BrokerConfig {
            hash_params: HashParams::INSECURE_FOR_TESTS,
            ..BrokerConfig::default()
        };
        if let Some(clock) = options.clock {
            config.clock = clock;
        }
        let broker = Arc::new(Broker::new(database.store(), config));
        let listener_task = database.listen_for_invalidations(Arc::clone(broker.cache()));
        let admin_pak = match broker.bootstrap_admin().await.expect("bootstrap") {
            Some(pak) => pak.expose_secret().to_owned(),
            None => String::new(),
        };

        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", tcp.local_addr().expect("address"));
        let mut api = Api::new(Arc::clone(&broker), DEFAULT_MAX_BODY_BYTES);
        if let Some(timeout) = options.body_read_timeout {
            api = api.with_body_read_timeout(timeout);
        }
        let api = Arc::new(api);
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = options.server_limits;
        let task = tokio::spawn(async move {
            brokkr_http::serve(tcp, api, limits, async {
                let _ = stopped.await;
            })
            .await;
        });

        let server = TestServer {
            backend,
            base,
            admin_pak,
            broker,
            database_url: url,
            database,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop: Some(stop),
            task: Some(task),
            listener: listener_task,
        };
        if backend == Backend::Postgres {
            server.wait_for_listener().await;
        }
        Some(server)
    }

    /// Waits until the cache invalidation listener is connected.
    pub async fn wait_for_listener(&self) {
        for _ in 0..200 {
            if self.broker.cache().is_trusted() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("cache invalidation listener did not connect");
    }

    /// Sends `method path` with an optional bearer PAK and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        pak: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(pak) = pak {
            request = request.header("authorization", format!("Bearer {pak}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Bytes::from(json.to_string())
            }
            None => Bytes::new(),
        };
        self.send(request.body(Full::new(body)).expect("request"))
            .await
    }

    /// Sends a request built by the test.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        let response = self.client.request(request).await.expect("server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    /// A request builder aimed at this server.
    pub fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
    }

    pub async fn get(&self, path: &str, pak: &str) -> Reply {
        self.call(Method::GET, path, Some(pak), None).await
    }

    pub async fn post(&self, path: &str, pak: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(pak), Some(body)).await
    }

    pub async fn put(&self, path: &str, pak: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(pak), Some(body)).await
    }

    pub async fn delete(&self, path: &str, pak: &str) -> Reply {
        self.call(Method::DELETE, path, Some(pak), None).await
    }

    /// Creates a generator as admin; returns `(id, pak)`.
    pub async fn generator(&self, name: &str) -> (String, String) {
        let reply = self
            .post(
                "/api/v1/generators",
                &self.admin_pak,
                serde_json::json!({"name": name}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.json["generator"]["id"]
                .as_str()
                .expect("id")
                .to_owned(),
            reply.str("pak"),
        )
    }

    /// Rotates generator `id`'s PAK as `pak` would with the guide's bodiless curl.
    pub async fn rotate(&self, id: &str, pak: &str) -> Reply {
        let path = format!("/api/v1/generators/{id}/rotate-pak");
        self.call(Method::POST, &path, Some(pak), None).await
    }

    /// Stops accepting, drains, and waits for the server to end.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

/// Declares each listed `async fn case(server: TestServer)` as one test per backend,
/// in modules `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let server = $crate::common::TestServer::start($crate::common::Backend::Sqlite)
                        .await
                        .expect("sqlite is always available");
                    super::$case(server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
                async fn $case() {
                    let server =
                        $crate::common::TestServer::start($crate::common::Backend::Postgres)
                            .await
                            .expect(brokkr_store_sqlx::testing::NEEDS_POSTGRES);
                    super::$case(server).await;
                }
            )*
        }
    };
}

/// The guide's example template: a Deployment with `replicas` and `image`.
pub const WEB_SERVICE: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-service
spec:
  replicas: {{ replicas }}
  template:
    spec:
      containers:
        - name: web
          image: \"{{ image }}\"
";

/// The schema of [`WEB_SERVICE`]: `image` required, `replicas` at least 1, default 1.
pub fn web_service_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["image"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 1, "default": 1},
            "image": {"type": "string", "minLength": 1}
        }
    })
}
