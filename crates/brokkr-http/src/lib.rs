//! The HTTP API of the Brokkr broker over raw hyper 1.x, and the reference server.
//!
//! - [`routes`]: method and path to a route, each naming one row of core's access
//!   table;
//! - [`api`]: the handler: bearer authentication, body limits and content type, JSON
//!   bodies that refuse unknown fields, dispatch to [`brokkr_core::Broker`];
//! - [`error`]: the `{"code", "message", "details"}` error body;
//! - [`server`]: the accept loop with a header-read timeout and graceful drain;
//! - [`bootstrap`]: the admin PAK file written on first start.
//!
//! Embedding the API in another hyper service takes an [`Api`] and calls
//! [`Api::handle`] for each request.

pub mod api;
pub mod bootstrap;
pub mod error;
pub mod routes;
pub mod server;

pub use api::{Api, DEFAULT_MAX_BODY_BYTES};
pub use error::ApiError;
pub use server::{ServerLimits, serve};
