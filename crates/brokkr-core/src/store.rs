//! The `Store` trait: what the broker needs from persistence, in domain words.
//!
//! Implementations keep the rules out: they never decide who may do what, they only
//! keep records, make each method atomic and turn backend facts (a unique violation, a
//! missing row) into [`StoreError`]s.

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{DeploymentObject, Generator, Stack, Template};
use crate::pak::{KeyId, PakHash};
use crate::principal::{Owner, Principal};

/// A boxed backend error, kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Failures of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist, or is deleted.
    #[error("record not found")]
    NotFound,
    /// A uniqueness rule refused the write; the string names what collided.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The backend could not be reached in time.
    #[error("store unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else the backend reported.
    #[error("store failure")]
    Backend(#[source] BoxError),
}

/// What the store keeps of a principal's live PAK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Whose PAK it is.
    pub principal: Principal,
    /// The public key id, unique across all credentials.
    pub key_id: KeyId,
    /// The argon2id PHC string of the secret.
    pub hash: PakHash,
    /// After this instant the PAK is refused with `pak_expired`.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A generator to insert.
#[derive(Debug, Clone)]
pub struct NewGenerator {
    /// Its id, chosen by the broker.
    pub id: Uuid,
    /// Validated name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Creation instant.
    pub now: DateTime<Utc>,
}

/// Changes to a generator or stack; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Rename {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// A stack to insert.
#[derive(Debug, Clone)]
pub struct NewStack {
    /// Its id, chosen by the broker.
    pub id: Uuid,
    /// Who owns it.
    pub owner: Owner,
    /// Validated name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Creation instant.
    pub now: DateTime<Utc>,
}

/// A deployment object to append; the store assigns its sequence id.
#[derive(Debug, Clone)]
pub struct NewDeploymentObject {
    /// Its id, chosen by the broker.
    pub id: Uuid,
    /// Validated YAML.
    pub yaml_content: String,
    /// SHA-256 of the content, lowercase hex.
    pub yaml_checksum: String,
    /// Whether it is a deletion marker.
    pub is_deletion_marker: bool,
    /// Creation instant.
    pub now: DateTime<Utc>,
}

/// A template to insert; the store assigns its version.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    /// Its id, chosen by the broker.
    pub id: Uuid,
    /// Who owns it.
    pub owner: Owner,
    /// Validated name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Checked minijinja source.
    pub template_yaml: String,
    /// Checked JSON Schema.
    pub schema_json: serde_json::Value,
    /// Creation instant.
    pub now: DateTime<Utc>,
}

/// Changes to a template; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TemplateChange {
    /// New description.
    pub description: Option<String>,
    /// New, checked minijinja source.
    pub template_yaml: Option<String>,
    /// New, checked JSON Schema.
    pub schema_json: Option<serde_json::Value>,
}

/// Which stacks or templates a listing returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// Every live record.
    All,
    /// Those owned by this owner.
    OwnedBy(Owner),
    /// Those owned by this owner, and those owned by the admin.
    OwnedByOrShared(Owner),
}

/// Persistence for the broker. Every method is atomic.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The live credential with this key id.
    async fn find_credential(&self, key_id: &KeyId) -> Result<Option<Credential>, StoreError>;

    /// The live credential of this principal.
    async fn credential_of(&self, principal_id: Uuid) -> Result<Option<Credential>, StoreError>;

    /// Stores the admin's first credential, unless an admin exists already.
    ///
    /// Returns whether it was stored.
    async fn bootstrap_admin(&self, credential: Credential) -> Result<bool, StoreError>;

    /// The admin's id, if an admin exists.
    async fn admin_id(&self) -> Result<Option<Uuid>, StoreError>;

    /// Replaces the credential of `credential.principal`, atomically: the old key id and
    /// hash stop existing in the same write that stores the new ones.
    ///
    /// [`StoreError::NotFound`] when the principal has no live credential.
    async fn replace_credential(&self, credential: Credential) -> Result<(), StoreError>;

    /// Inserts a generator together with its first credential.
    ///
    /// [`StoreError::Conflict`] when a live generator has the name.
    async fn create_generator(
        &self,
        generator: NewGenerator,
        credential: Credential,
    ) -> Result<Generator, StoreError>;

    /// Every live generator, oldest first.
    async fn list_generators(&self) -> Result<Vec<Generator>, StoreError>;

    /// The live generator with this id.
    async fn get_generator(&self, id: Uuid) -> Result<Option<Generator>, StoreError>;

    /// Renames a live generator or changes its description.
    async fn update_generator(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Generator, StoreError>;

    /// Soft-deletes a live generator and deletes its credential in one write. Its
    /// stacks and templates stay.
    async fn delete_generator(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Inserts a stack and, when given, its first deployment object, in one write.
    ///
    /// [`StoreError::Conflict`] when the owner has a live stack of that name.
    async fn create_stack(
        &self,
        stack: NewStack,
        first_object: Option<NewDeploymentObject>,
    ) -> Result<(Stack, Option<DeploymentObject>), StoreError>;

    /// Live stacks, oldest first.
    async fn list_stacks(&self, listing: Listing) -> Result<Vec<Stack>, StoreError>;

    /// The live stack with this id.
    async fn get_stack(&self, id: Uuid) -> Result<Option<Stack>, StoreError>;

    /// Renames a live stack or changes its description.
    async fn update_stack(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Stack, StoreError>;

    /// Soft-deletes a live stack.
    async fn delete_stack(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Appends a deployment object to a live stack, with the next sequence id.
    async fn append_deployment_object(
        &self,
        stack_id: Uuid,
        object: NewDeploymentObject,
    ) -> Result<DeploymentObject, StoreError>;

    /// A stack's deployment objects, newest first.
    async fn list_deployment_objects(
        &self,
        stack_id: Uuid,
    ) -> Result<Vec<DeploymentObject>, StoreError>;

    /// The deployment object with this id, whatever its stack's state.
    async fn get_deployment_object(&self, id: Uuid)
    -> Result<Option<DeploymentObject>, StoreError>;

    /// Inserts a template as the next version of its owner's template of that name.
    async fn create_template(&self, template: NewTemplate) -> Result<Template, StoreError>;

    /// Live templates, oldest first.
    async fn list_templates(&self, listing: Listing) -> Result<Vec<Template>, StoreError>;

    /// The live template with this id.
    async fn get_template(&self, id: Uuid) -> Result<Option<Template>, StoreError>;

    /// The newest live version of `owner`'s template called `name`.
    async fn find_template(&self, owner: Owner, name: &str)
    -> Result<Option<Template>, StoreError>;

    /// Changes a live template.
    async fn update_template(
        &self,
        id: Uuid,
        change: TemplateChange,
        now: DateTime<Utc>,
    ) -> Result<Template, StoreError>;

    /// Soft-deletes a live template.
    async fn delete_template(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError>;
}
