//! The rules and use cases of the Brokkr deployment broker, free of any I/O.
//!
//! CI/CD pipelines ("generators") authenticate with Pre-Authentication Keys and create
//! stacks, templates and deployment objects that only they can see; an admin manages
//! generators. This crate decides everything; storage and transport live in adapters.
//!
//! A tour of the parts:
//!
//! - [`principal`]: who calls (admin, generator, agent) and who owns what;
//! - [`pak`]: the PAK text format, issuing, argon2id hashing and verification;
//! - [`auth`] and [`cache`]: from a presented PAK to a principal, warm or cold;
//! - [`access`]: the access-control table and [`authorize`], the only place that
//!   decides who may do what;
//! - [`template`]: sandboxed minijinja rendering with JSON Schema parameters;
//! - [`store`]: the [`Store`] trait that adapters implement, and [`memory`], one in
//!   memory;
//! - [`broker`]: the use cases, each authorized, checked, then stored.
//!
//! ```
//! use std::sync::Arc;
//! use brokkr_core::{Broker, BrokerConfig, GeneratorSpec, HashParams, MemoryStore};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let config = BrokerConfig { hash_params: HashParams::INSECURE_FOR_TESTS, ..Default::default() };
//! let broker = Broker::new(Arc::new(MemoryStore::new()), config);
//!
//! let admin_pak = broker.bootstrap_admin().await?.expect("a new store has no admin");
//! let admin = broker.authenticate(admin_pak.expose_secret()).await?;
//! let spec = GeneratorSpec { name: "ci".into(), description: None, expires_at: None };
//! let created = broker.create_generator(&admin, spec).await?;
//!
//! let generator = broker.authenticate(created.pak.expose_secret()).await?;
//! assert_eq!(generator.id, created.record.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

pub mod access;
pub mod auth;
pub mod broker;
pub mod cache;
pub mod clock;
pub mod error;
pub mod memory;
pub mod model;
pub mod pak;
pub mod principal;
pub mod store;
pub mod template;

pub use access::{Denied, Operation, authorize};
pub use auth::{AuthError, ThrottleLimits};
pub use broker::{Broker, BrokerConfig, GeneratorSpec, StackSpec, TemplateSpec, WithPak};
pub use cache::VerificationCache;
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use memory::MemoryStore;
pub use model::{DeploymentObject, Generator, Stack, Template};
pub use pak::{HashParams, Pak};
pub use principal::{Owner, Principal, PrincipalKind};
pub use store::{Store, StoreError};
pub use template::{TemplateError, TemplateLimits};
