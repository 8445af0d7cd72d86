//! The request handler: authentication, body reading, dispatch to the broker, and JSON
//! answers.

use std::sync::Arc;
use std::time::Instant;

use brokkr_core::store::{Rename, TemplateChange};
use brokkr_core::{Broker, GeneratorSpec, Owner, Principal, StackSpec, TemplateSpec};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;
use crate::routes::{self, Body, NoRoute, Route};

/// Largest request body accepted, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long a client may take to send a request body once its headers are in.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The API over one broker.
#[derive(Debug)]
pub struct Api {
    broker: Arc<Broker>,
    max_body_bytes: usize,
    body_read_timeout: std::time::Duration,
}

type Answer = Result<Response<Full<Bytes>>, ApiError>;

impl Api {
    /// The API over `broker`, refusing bodies over `max_body_bytes`.
    pub fn new(broker: Arc<Broker>, max_body_bytes: usize) -> Self {
        Self {
            broker,
            max_body_bytes,
            body_read_timeout: BODY_READ_TIMEOUT,
        }
    }

    /// Sets how long a client may take to send a body once its headers are in.
    pub fn with_body_read_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// The broker behind the API.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// Answers one request. Never fails: every error becomes a JSON error body.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let started = Instant::now();
        let span = tracing::debug_span!(
            "request",
            http.method = %request.method(),
            http.path = %request.uri().path(),
            http.status = tracing::field::Empty,
            principal.kind = tracing::field::Empty,
            principal.id = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        let response = self
            .answer(request)
            .instrument(span.clone())
            .await
            .unwrap_or_else(error_response);

        span.record("http.status", response.status().as_u16());
        span.record("elapsed_ms", started.elapsed().as_secs_f64() * 1000.0);
        span.in_scope(|| tracing::debug!("request answered"));
        response
    }

    async fn answer<B>(&self, request: Request<B>) -> Answer
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let route = match routes::route(request.method(), request.uri().path()) {
            Ok(route) => route,
            Err(NoRoute::NotFound) => return Err(ApiError::no_route()),
            Err(NoRoute::MethodNotAllowed(allowed)) => return Ok(method_not_allowed(allowed)),
        };

        match route {
            Route::Health => return Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),
            Route::Ready => return self.ready().await,
            _ => {}
        }

        let caller = self.authenticate(request.headers()).await?;
        // A kind that may never perform the route's operation is refused before its body
        // is read; a route whose operation has no row in the table is refused too.
        if let Some(operation) = route.operation() {
            brokkr_core::authorize(&caller, operation, None)
                .map_err(|denied| brokkr_core::Error::denied(denied, "resource"))?;
        }
        let query = request.uri().query().map(str::to_owned);
        let body = self.read_body(route, request).await?;
        self.dispatch(route, &caller, query.as_deref(), body).await
    }

    async fn ready(&self) -> Answer {
        match self.broker.ping().await {
            Ok(()) => Ok(json_response(StatusCode::OK, &json!({"status": "ready"}))),
            Err(error) => {
                tracing::warn!(error = %error, "readiness check failed: store unreachable");
                Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "store unreachable",
                ))
            }
        }
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let presented = bearer(headers);
        let outcome = match presented {
            Some(pak) => self.broker.authenticate(pak).await,
            None => Err(brokkr_core::AuthError::Missing),
        };
        match outcome {
            Ok(principal) => {
                let span = tracing::Span::current();
                span.record("principal.kind", principal.kind.as_str());
                span.record("principal.id", tracing::field::display(principal.id));
                Ok(principal)
            }
            Err(error) => {
                if error.is_store_failure() {
                    tracing::error!(error = %error, "authentication could not reach the store");
                } else {
                    // The exact reason and the public key id, for the operator; never the
                    // credential itself.
                    let key_id = presented
                        .and_then(|pak| brokkr_core::pak::parse(pak).ok())
                        .map(|parsed| parsed.key_id.to_string())
                        .unwrap_or_default();
                    tracing::info!(reason = %error, pak.key_id = %key_id, "authentication failed");
                }
                Err(ApiError::from_auth(&error))
            }
        }
    }

    async fn read_body<B>(
        &self,
        route: Route,
        request: Request<B>,
    ) -> Result<Option<Bytes>, ApiError>
    where
        B: hyper::body::Body<Data = Bytes> + Send,
        B::Error: std::error::Error + Send + Sync + 'static,
    {
        let kind = route.body();
        if kind == Body::None {
            return Ok(None);
        }

        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body_bytes as u64) {
            return Err(too_large(self.max_body_bytes));
        }
        let is_json = request.headers().get(CONTENT_TYPE).is_some_and(is_json);

        let collect = Limited::new(request.into_body(), self.max_body_bytes).collect();
        let bytes = tokio::time::timeout(self.body_read_timeout, collect)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "request body was not received in time",
                )
            })?
            .map_err(|error| {
                if error
                    .downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    too_large(self.max_body_bytes)
                } else {
                    ApiError::invalid_request("request body could not be read")
                }
            })?
            .to_bytes();

        match (kind, bytes.is_empty(), is_json) {
            (Body::Optional, true, _) => Ok(None),
            (_, _, false) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be sent as `content-type: application/json`",
            )),
            (_, true, true) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                "request body is empty; a json object is required",
            )),
            (_, false, true) => Ok(Some(bytes)),
        }
    }

    async fn dispatch(
        &self,
        route: Route,
        caller: &Principal,
        query: Option<&str>,
        body: Option<Bytes>,
    ) -> Answer {
        let broker = &self.broker;
        match route {
            Route::Health | Route::Ready => Err(ApiError::internal()),
            Route::WhoAmI => {
                let me = broker.whoami(caller)?;
                ok(&json!({"kind": me.kind, "id": me.id}))
            }

            Route::CreateGenerator => {
                let body: CreateGenerator = parse(body)?;
                let spec = GeneratorSpec {
                    name: body.name,
                    description: body.description,
                    expires_at: body.expires_at,
                };
                let created = broker.create_generator(caller, spec).await?;
                created_with_pak(&created.record, &created.pak)
            }
            Route::ListGenerators => ok(&broker.list_generators(caller).await?),
            Route::ReadGenerator(id) => ok(&broker.get_generator(caller, id).await?),
            Route::UpdateGenerator(id) => {
                let body: Update = parse(body)?;
                ok(&broker.update_generator(caller, id, body.into()).await?)
            }
            Route::DeleteGenerator(id) => {
                broker.delete_generator(caller, id).await?;
                Ok(no_content())
            }
            Route::RotateGeneratorPak(id) => {
                let body: Rotate = parse_optional(body)?;
                let rotated = broker
                    .rotate_generator_pak(caller, id, body.expires_at)
                    .await?;
                let answer =
                    json!({"generator": rotated.record, "pak": rotated.pak.expose_secret()});
                ok(&answer)
            }

            Route::CreateStack => {
                let body: CreateStack = parse(body)?;
                let spec = StackSpec {
                    name: body.name,
                    description: body.description,
                    template_name: body.template_name,
                    parameters: body.parameters,
                    generator_id: body.generator_id,
                };
                let (stack, _) = broker.create_stack(caller, spec).await?;
                Ok(json_response(StatusCode::CREATED, &stack))
            }
            Route::ListStacks => {
                let owner = generator_filter(query)?;
                ok(&broker.list_stacks(caller, owner).await?)
            }
            Route::ReadStack(id) => ok(&broker.get_stack(caller, id).await?),
            Route::UpdateStack(id) => {
                let body: Update = parse(body)?;
                ok(&broker.update_stack(caller, id, body.into()).await?)
            }
            Route::DeleteStack(id) => {
                broker.delete_stack(caller, id).await?;
                Ok(no_content())
            }

            Route::CreateDeploymentObject(stack_id) => {
                let body: CreateObject = parse(body)?;
                let object = broker
                    .create_deployment_object(
                        caller,
                        stack_id,
                        body.yaml_content,
                        body.is_deletion_marker,
                    )
                    .await?;
                Ok(json_response(StatusCode::CREATED, &object))
            }
            Route::ListDeploymentObjects(stack_id) => {
                ok(&broker.list_deployment_objects(caller, stack_id).await?)
            }
            Route::ReadDeploymentObject(id) => {
                ok(&broker.get_deployment_object(caller, id).await?)
            }

            Route::CreateTemplate => {
                let body: CreateTemplate = parse(body)?;
                let spec = TemplateSpec {
                    name: body.name,
                    description: body.description,
                    template_yaml: body.template_yaml,
                    schema_json: schema_value(body.schema_json)?,
                };
                Ok(json_response(
                    StatusCode::CREATED,
                    &broker.create_template(caller, spec).await?,
                ))
            }
            Route::ListTemplates => ok(&broker.list_templates(caller).await?),
            Route::ReadTemplate(id) => ok(&broker.get_template(caller, id).await?),
            Route::UpdateTemplate(id) => {
                let body: UpdateTemplate = parse(body)?;
                let change = TemplateChange {
                    description: body.description,
                    template_yaml: body.template_yaml,
                    schema_json: body.schema_json.map(schema_value).transpose()?,
                };
                ok(&broker.update_template(caller, id, change).await?)
            }
            Route::DeleteTemplate(id) => {
                broker.delete_template(caller, id).await?;
                Ok(no_content())
            }
            Route::RenderTemplate(id) => {
                let body: Render = parse_optional(body)?;
                let parameters = body.parameters.unwrap_or_else(|| json!({}));
                let yaml_content = broker.render_template(caller, id, &parameters).await?;
                ok(&json!({"yaml_content": yaml_content}))
            }
        }
    }
}

// ---- request bodies: unknown fields are refused, so ids, owners and timestamps can
// never be set by a caller ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateGenerator {
    name: String,
    description: Option<String>,
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Update {
    name: Option<String>,
    description: Option<String>,
}

impl From<Update> for Rename {
    fn from(update: Update) -> Self {
        Rename {
            name: update.name,
            description: update.description,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotate {
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateStack {
    name: String,
    description: Option<String>,
    template_name: Option<String>,
    parameters: Option<Value>,
    generator_id: Option<Uuid>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateObject {
    yaml_content: String,
    #[serde(default)]
    is_deletion_marker: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTemplate {
    name: String,
    description: Option<String>,
    template_yaml: String,
    schema_json: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateTemplate {
    description: Option<String>,
    template_yaml: Option<String>,
    schema_json: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Render {
    parameters: Option<Value>,
}

fn parse<T: DeserializeOwned>(body: Option<Bytes>) -> Result<T, ApiError> {
    let body = body.unwrap_or_default();
    serde_json::from_slice(&body).map_err(|error| {
        let message = error.to_string();
        if error.is_syntax() || error.is_eof() {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("malformed json: {message}"),
            )
        } else {
            ApiError::invalid_request(message)
        }
    })
}

fn parse_optional<T: DeserializeOwned + Default>(body: Option<Bytes>) -> Result<T, ApiError> {
    match body {
        Some(bytes) => parse(Some(bytes)),
        None => Ok(T::default()),
    }
}

/// A schema sent as a JSON object, or as a string holding one.
fn schema_value(schema: Value) -> Result<Value, ApiError> {
    match schema {
        Value::String(text) => serde_json::from_str(&text).map_err(|error| ApiError {
            details: Some(json!({"field": "schema_json"})),
            ..ApiError::invalid_request(format!("invalid `schema_json`: {error}"))
        }),
        other => Ok(other),
    }
}

fn generator_filter(query: Option<&str>) -> Result<Option<Owner>, ApiError> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut owner = None;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "generator_id" => {
                let id = Uuid::parse_str(value).map_err(|_| {
                    ApiError::invalid_request(format!(
                        "invalid `generator_id`: `{value}` is not a uuid"
                    ))
                })?;
                owner = Some(Owner::Generator(id));
            }
            other => {
                return Err(ApiError::invalid_request(format!(
                    "unknown query parameter `{other}`"
                )));
            }
        }
    }
    Ok(owner)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

fn is_json(value: &HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .and_then(|text| text.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body is larger than {limit} bytes"),
    )
}

fn ok<T: serde::Serialize>(value: &T) -> Answer {
    Ok(json_response(StatusCode::OK, value))
}

fn created_with_pak(generator: &brokkr_core::Generator, pak: &brokkr_core::Pak) -> Answer {
    let answer = json!({"generator": generator, "pak": pak.expose_secret()});
    Ok(json_response(StatusCode::CREATED, &answer))
}

fn no_content() -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn method_not_allowed(allowed: &[Method]) -> Response<Full<Bytes>> {
    let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("method not allowed; use {}", list.join(", ")),
    );
    let mut response = error_response(error);
    if let Ok(value) = HeaderValue::from_str(&list.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
}

/// A JSON response with `status`.
pub fn json_response<T: serde::Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Response<Full<Bytes>> {
    let (status, body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            br#"{"code":"internal","message":"internal error"}"#.to_vec(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The JSON error body of `error`.
pub fn error_response(error: ApiError) -> Response<Full<Bytes>> {
    let mut response = json_response(error.status, &error);
    if let Some(seconds) = error.retry_after_secs {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
