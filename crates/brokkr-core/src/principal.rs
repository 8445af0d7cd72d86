//! Who is calling: the three principal kinds and an authenticated principal.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

/// The kind of a principal, which decides what it may ever do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    /// The single operator principal; reaches every resource.
    Admin,
    /// A CI/CD pipeline; reaches only what it created.
    Generator,
    /// A cluster agent; fetches what it is targeted at.
    Agent,
}

impl PrincipalKind {
    /// Every kind, for tables and tests.
    pub const ALL: [PrincipalKind; 3] = [Self::Admin, Self::Generator, Self::Agent];

    /// The kind as stored and shown (`admin`, `generator`, `agent`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Generator => "generator",
            Self::Agent => "agent",
        }
    }

    /// Parses the stored form written by [`PrincipalKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "generator" => Some(Self::Generator),
            "agent" => Some(Self::Agent),
            _ => None,
        }
    }

    /// The three-letter tag that a PAK of this kind carries (`adm`, `gen`, `agt`).
    pub fn pak_tag(self) -> &'static str {
        match self {
            Self::Admin => "adm",
            Self::Generator => "gen",
            Self::Agent => "agt",
        }
    }

    /// The kind whose PAKs carry `tag`.
    pub fn from_pak_tag(tag: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.pak_tag() == tag)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated caller: what kind it is and which one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Principal {
    /// What the principal may ever do.
    pub kind: PrincipalKind,
    /// The principal's id: the generator's or agent's id, or the admin's own.
    pub id: Uuid,
}

impl Principal {
    /// Whether this is the admin.
    pub fn is_admin(&self) -> bool {
        self.kind == PrincipalKind::Admin
    }

    /// The owner that resources created by this principal get.
    ///
    /// Agents own nothing; the access table never lets them create.
    pub fn as_owner(&self) -> Owner {
        match self.kind {
            PrincipalKind::Generator => Owner::Generator(self.id),
            PrincipalKind::Admin | PrincipalKind::Agent => Owner::Admin,
        }
    }
}

/// Who owns a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// Owned by the admin: shared with every generator for templates, private for stacks.
    Admin,
    /// Owned by the generator with this id.
    Generator(Uuid),
}

impl Owner {
    /// The owning generator's id, or `None` for the admin.
    pub fn generator_id(&self) -> Option<Uuid> {
        match self {
            Self::Admin => None,
            Self::Generator(id) => Some(*id),
        }
    }

    /// The owner whose generator id is `generator_id` (`None` for the admin).
    pub fn from_generator_id(generator_id: Option<Uuid>) -> Self {
        generator_id.map_or(Self::Admin, Self::Generator)
    }
}
