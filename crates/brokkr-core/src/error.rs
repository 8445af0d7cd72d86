//! Failures of the broker's use cases.

use crate::access::Denied;
use crate::pak::PakError;
use crate::store::StoreError;
use crate::template::TemplateError;

/// Why a use case did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's kind may never perform the operation.
    #[error("this credential may not perform this operation")]
    Forbidden,
    /// The resource does not exist, or belongs to someone the caller may not see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule refused the change; the string names what collided.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A field of the request is unacceptable.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The field, as the caller named it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A template, schema or render failed.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A new PAK could not be issued.
    #[error("issuing a pak failed")]
    Pak(#[from] PakError),
    /// The store failed.
    #[error("store failure")]
    Store(#[source] StoreError),
}

impl Error {
    /// The error for a denial by `authorize`, naming the resource for a not-found.
    pub fn denied(denied: Denied, resource: &'static str) -> Self {
        match denied {
            Denied::Forbidden => Self::Forbidden,
            Denied::NotFound => Self::NotFound(resource),
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    /// Whether the store could not be reached, as opposed to failing.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Store(StoreError::Unavailable(_)))
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(what) => Self::Conflict(what),
            other => Self::Store(other),
        }
    }
}
