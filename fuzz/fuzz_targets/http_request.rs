//! Property: whatever the method, path, Authorization header, content type and body, the
//! API answers with a JSON error or success and never a 5xx, over an in-memory store.
//!
//! Input layout: byte 0 picks the method; then the path, the Authorization value, the
//! content type and the body, separated by `\n`. A `$ADMIN` in the Authorization value
//! is replaced by a real admin PAK, so the fuzzer also reaches past authentication.
#![no_main]

use std::sync::{Arc, OnceLock};

use brokkr_core::{Broker, BrokerConfig, HashParams, MemoryStore};
use brokkr_http::{Api, DEFAULT_MAX_BODY_BYTES};
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;

struct World {
    runtime: tokio::runtime::Runtime,
    api: Api,
    admin_pak: String,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let config = BrokerConfig {
            hash_params: HashParams::INSECURE_FOR_TESTS,
            ..BrokerConfig::default()
        };
        let broker = Arc::new(Broker::new(Arc::new(MemoryStore::new()), config));
        let admin_pak = runtime
            .block_on(broker.bootstrap_admin())
            .expect("bootstrap")
            .expect("fresh store")
            .expose_secret()
            .to_owned();
        World {
            runtime,
            api: Api::new(broker, DEFAULT_MAX_BODY_BYTES),
            admin_pak,
        }
    })
}

const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(4, '\n');
    let path = parts.next().unwrap_or("/");
    let authorization = parts.next().unwrap_or("");
    let content_type = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("").to_owned();

    let world = world();
    let authorization = authorization.replace("$ADMIN", &world.admin_pak);
    let uri = if path.starts_with('/') { path.to_owned() } else { format!("/{path}") };
    let mut request = Request::builder()
        .method(METHODS[usize::from(pick) % METHODS.len()].clone())
        .uri(uri);
    if let Ok(value) = http::HeaderValue::from_str(&authorization) {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        request = request.header(http::header::CONTENT_TYPE, value);
    }
    let Ok(request) = request.body(Full::new(Bytes::from(body))) else {
        return;
    };

    let response = world.runtime.block_on(world.api.handle(request));
    assert!(!response.status().is_server_error(), "{}", response.status());
});
