//! The broker's resources as callers see them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::principal::Owner;

/// A CI/CD pipeline identity. Never carries its PAK or the PAK's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generator {
    /// Stable id.
    pub id: Uuid,
    /// Unique among live generators.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name or description last changed.
    pub updated_at: DateTime<Utc>,
}

/// A named group of deployment objects, owned by a generator or the admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stack {
    /// Stable id.
    pub id: Uuid,
    /// Unique among its owner's live stacks.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The owning generator, or `None` when the admin owns it.
    pub generator_id: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When its name or description last changed.
    pub updated_at: DateTime<Utc>,
}

impl Stack {
    /// Who owns the stack.
    pub fn owner(&self) -> Owner {
        Owner::from_generator_id(self.generator_id)
    }
}

/// One immutable version of a stack's desired state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeploymentObject {
    /// Stable id.
    pub id: Uuid,
    /// The stack it belongs to.
    pub stack_id: Uuid,
    /// Assigned by the store, strictly increasing within the stack.
    pub sequence_id: i64,
    /// The YAML documents.
    pub yaml_content: String,
    /// SHA-256 of `yaml_content`, lowercase hex.
    pub yaml_checksum: String,
    /// Whether this object marks the stack's resources for deletion.
    pub is_deletion_marker: bool,
    /// When it was appended.
    pub created_at: DateTime<Utc>,
}

/// A minijinja template with the JSON Schema of its parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    /// Stable id.
    pub id: Uuid,
    /// Shared by every version of the template.
    pub name: String,
    /// 1 for the first upload of a name by an owner, then one more per upload.
    pub version: i64,
    /// Free text.
    pub description: Option<String>,
    /// The minijinja source.
    pub template_yaml: String,
    /// The JSON Schema the parameters must satisfy.
    pub schema_json: serde_json::Value,
    /// The owning generator, or `None` for a shared template owned by the admin.
    pub generator_id: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl Template {
    /// Who owns the template.
    pub fn owner(&self) -> Owner {
        Owner::from_generator_id(self.generator_id)
    }
}
