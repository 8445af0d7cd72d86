//! The HTTP error body, and the mapping of domain errors onto it.
//!
//! Every failure answers `{"code", "message", "details"?}`. `code` is stable snake case
//! that clients may match on; `message` is one lowercase line for people and may
//! change.

use brokkr_core::{AuthError, Error, TemplateError};
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// A failure as the API reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// One lowercase line.
    pub message: String,
    /// Structured particulars, such as failing parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// Seconds to wait, for 429 answers.
    #[serde(skip)]
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
        }
    }

    /// 400 for a body or query that does not fit the operation.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 404 for a path that names nothing.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 500, with the cause left to the log.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// 503 when the store cannot be reached.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "store unavailable",
        )
    }

    /// The answer to a refused credential. The caller learns only that it was refused,
    /// expired, or throttled; the exact reason goes to the operator's log.
    pub fn from_auth(error: &AuthError) -> Self {
        match error {
            AuthError::Expired => Self::new(
                StatusCode::UNAUTHORIZED,
                "pak_expired",
                "the pak has expired",
            ),
            AuthError::Throttled { retry_after_secs } => Self {
                retry_after_secs: Some(*retry_after_secs),
                ..Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many failed attempts with this key; try again later",
                )
            },
            AuthError::Store(store) => Self::from(Error::Store(clone_kind(store))),
            AuthError::Missing => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing `authorization: bearer <pak>` header",
            ),
            _ => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "invalid pak"),
        }
    }
}

fn clone_kind(error: &brokkr_core::StoreError) -> brokkr_core::StoreError {
    use brokkr_core::StoreError;
    match error {
        StoreError::Unavailable(_) => StoreError::Unavailable("store unavailable".into()),
        _ => StoreError::Backend("store failure".into()),
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        match error {
            Error::Forbidden => Self::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this credential may not perform this operation",
            ),
            Error::NotFound(what) => Self::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
            ),
            Error::Conflict(what) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{what} already exists"),
            ),
            Error::Invalid { field, reason } => Self {
                details: Some(serde_json::json!({ "field": field })),
                ..Self::invalid_request(format!("invalid `{field}`: {reason}"))
            },
            Error::Template(template) => template_error(template),
            Error::Store(brokkr_core::StoreError::Unavailable(ref cause)) => {
                tracing::warn!(error = %chain(cause.as_ref()), "store unavailable");
                Self::unavailable()
            }
            Error::Store(_) | Error::Pak(_) => {
                // Logged once, here, with its causes; the caller sees only `internal`.
                tracing::error!(error = %chain(&error), "request failed inside the broker");
                Self::internal()
            }
        }
    }
}

/// An error and its sources, on one line. Store and hashing errors carry no secrets:
/// sqlx errors never include bound values.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn template_error(error: TemplateError) -> ApiError {
    let status = if error.is_upload_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let details = match &error {
        TemplateError::InvalidParameters(issues) => {
            Some(serde_json::json!({ "parameters": issues }))
        }
        TemplateError::Syntax { line, .. } | TemplateError::Render { line, .. } => {
            line.map(|line| serde_json::json!({ "line": line }))
        }
        TemplateError::OutputNotYaml(yaml) => {
            yaml.line.map(|line| serde_json::json!({ "line": line }))
        }
        _ => None,
    };
    ApiError {
        details,
        ..ApiError::new(status, error.code(), error.to_string())
    }
}
