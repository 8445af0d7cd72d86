//! The access-control table and `authorize`, the one place that decides who may do what.
//!
//! Each [`Operation`] has one row saying, per principal kind, how far it reaches. The
//! outcome of a denial is part of the rule: a kind that may never perform an operation is
//! [`Denied::Forbidden`]; a kind that may, but not on this resource, is
//! [`Denied::NotFound`], so that another generator's resources never reveal that they
//! exist.

use crate::principal::{Owner, Principal, PrincipalKind};

/// Everything a principal can ask the broker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    /// Create a generator and its first PAK.
    CreateGenerator,
    /// List every live generator.
    ListGenerators,
    /// Read one generator.
    ReadGenerator,
    /// Change a generator's description.
    UpdateGenerator,
    /// Change a generator's name. Admin only: names are unique across generators, so a
    /// refused rename would tell a generator that another one has that name.
    RenameGenerator,
    /// Soft-delete a generator and kill its PAK.
    DeleteGenerator,
    /// Replace a generator's PAK.
    RotateGeneratorPak,
    /// Create a stack.
    CreateStack,
    /// List the stacks the caller may see.
    ListStacks,
    /// Read one stack.
    ReadStack,
    /// Change a stack's name or description.
    UpdateStack,
    /// Soft-delete a stack.
    DeleteStack,
    /// Append a deployment object to a stack.
    CreateDeploymentObject,
    /// List a stack's deployment objects.
    ListDeploymentObjects,
    /// Read one deployment object.
    ReadDeploymentObject,
    /// Create a template, or the next version of one.
    CreateTemplate,
    /// List the templates the caller may see.
    ListTemplates,
    /// Read one template.
    ReadTemplate,
    /// Render a template without storing anything.
    RenderTemplate,
    /// Change a template.
    UpdateTemplate,
    /// Soft-delete a template.
    DeleteTemplate,
    /// Create, change, target or delete agents.
    ManageAgents,
    /// Create, change or delete webhooks.
    ManageWebhooks,
    /// Ask who the presented PAK belongs to.
    WhoAmI,
}

impl Operation {
    /// Every operation, in table order.
    pub const ALL: [Operation; 24] = [
        Self::CreateGenerator,
        Self::ListGenerators,
        Self::ReadGenerator,
        Self::UpdateGenerator,
        Self::RenameGenerator,
        Self::DeleteGenerator,
        Self::RotateGeneratorPak,
        Self::CreateStack,
        Self::ListStacks,
        Self::ReadStack,
        Self::UpdateStack,
        Self::DeleteStack,
        Self::CreateDeploymentObject,
        Self::ListDeploymentObjects,
        Self::ReadDeploymentObject,
        Self::CreateTemplate,
        Self::ListTemplates,
        Self::ReadTemplate,
        Self::RenderTemplate,
        Self::UpdateTemplate,
        Self::DeleteTemplate,
        Self::ManageAgents,
        Self::ManageWebhooks,
        Self::WhoAmI,
    ];
}

/// How far one principal kind reaches with one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Never: the kind is forbidden the operation.
    Never,
    /// Everything, whoever owns it.
    All,
    /// Only what the principal owns (for generators: the generator itself, or what it
    /// created).
    Own,
    /// What the principal owns, and what the admin owns (shared templates).
    OwnOrShared,
}

/// One row of the table: the reach of each principal kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// The operation this row governs.
    pub operation: Operation,
    /// The admin's reach.
    pub admin: Reach,
    /// A generator's reach.
    pub generator: Reach,
    /// An agent's reach.
    pub agent: Reach,
}

impl Rule {
    /// The reach of `kind` under this rule.
    pub fn reach(&self, kind: PrincipalKind) -> Reach {
        match kind {
            PrincipalKind::Admin => self.admin,
            PrincipalKind::Generator => self.generator,
            PrincipalKind::Agent => self.agent,
        }
    }
}

const fn rule(operation: Operation, admin: Reach, generator: Reach, agent: Reach) -> Rule {
    Rule {
        operation,
        admin,
        generator,
        agent,
    }
}

use Operation as Op;
use Reach::{All, Never, Own, OwnOrShared};

/// The access-control table of the guide, one row per operation.
pub const RULES: &[Rule] = &[
    // generators: admin manages all; a generator sees and manages only itself
    rule(Op::CreateGenerator, All, Never, Never),
    rule(Op::ListGenerators, All, Never, Never),
    rule(Op::ReadGenerator, All, Own, Never),
    rule(Op::UpdateGenerator, All, Own, Never),
    rule(Op::RenameGenerator, All, Never, Never),
    rule(Op::DeleteGenerator, All, Own, Never),
    rule(Op::RotateGeneratorPak, All, Own, Never),
    // stacks and their deployment objects belong to their creator
    rule(Op::CreateStack, All, Own, Never),
    rule(Op::ListStacks, All, Own, Never),
    rule(Op::ReadStack, All, Own, Never),
    rule(Op::UpdateStack, All, Own, Never),
    rule(Op::DeleteStack, All, Own, Never),
    rule(Op::CreateDeploymentObject, All, Own, Never),
    rule(Op::ListDeploymentObjects, All, Own, Never),
    rule(Op::ReadDeploymentObject, All, Own, Never),
    // templates: the admin's are shared for reading, a generator's are private
    rule(Op::CreateTemplate, All, Own, Never),
    rule(Op::ListTemplates, All, OwnOrShared, Never),
    rule(Op::ReadTemplate, All, OwnOrShared, Never),
    rule(Op::RenderTemplate, All, OwnOrShared, Never),
    rule(Op::UpdateTemplate, All, Own, Never),
    rule(Op::DeleteTemplate, All, Own, Never),
    // administration
    rule(Op::ManageAgents, All, Never, Never),
    rule(Op::ManageWebhooks, All, Never, Never),
    // identity: every principal may read its own
    rule(Op::WhoAmI, All, Own, Own),
];

/// The row governing `operation`, if the table has one.
pub fn rule_for(operation: Operation) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.operation == operation)
}

/// Why `authorize` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The principal's kind may never perform the operation.
    #[error("this credential may not perform this operation")]
    Forbidden,
    /// The resource does not exist as far as this principal may know.
    #[error("resource not found")]
    NotFound,
}

/// Decides whether `principal` may perform `operation` on a resource owned by `owner`.
///
/// `owner` is `None` for operations on a collection (create, list), where only the
/// principal's kind matters; a use case that is about to fetch a resource may also call
/// with `None` first, so that a forbidden kind is refused before any store query.
///
/// # Errors
///
/// [`Denied::Forbidden`] when the kind may never perform the operation (or the table
/// has no row for it); [`Denied::NotFound`] when it may, but not on this resource.
pub fn authorize(
    principal: &Principal,
    operation: Operation,
    owner: Option<&Owner>,
) -> Result<(), Denied> {
    let reach = rule_for(operation).map_or(Never, |rule| rule.reach(principal.kind));

    match (reach, owner) {
        (Never, _) => Err(Denied::Forbidden),
        (All, _) | (_, None) => Ok(()),
        (Own, Some(owner)) if owns(principal, owner) => Ok(()),
        (OwnOrShared, Some(owner)) if owns(principal, owner) || *owner == Owner::Admin => Ok(()),
        (Own | OwnOrShared, Some(_)) => Err(Denied::NotFound),
    }
}

fn owns(principal: &Principal, owner: &Owner) -> bool {
    match (principal.kind, owner) {
        (PrincipalKind::Generator, Owner::Generator(id)) => *id == principal.id,
        (PrincipalKind::Admin, Owner::Admin) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn principal(kind: PrincipalKind, id: u128) -> Principal {
        Principal {
            kind,
            id: Uuid::from_u128(id),
        }
    }

    fn check(who: Principal, op: Operation, owner: Option<Owner>) -> Result<(), Denied> {
        authorize(&who, op, owner.as_ref())
    }

    #[test]
    fn every_operation_has_exactly_one_row() {
        for op in Operation::ALL {
            let rows = RULES.iter().filter(|rule| rule.operation == op).count();
            assert_eq!(rows, 1, "{op:?}");
        }
        assert_eq!(RULES.len(), Operation::ALL.len());
    }

    #[test]
    fn guide_table() {
        let admin = principal(PrincipalKind::Admin, 1);
        let gen_a = principal(PrincipalKind::Generator, 2);
        let a = Some(Owner::Generator(gen_a.id));
        let b = Some(Owner::Generator(Uuid::from_u128(3)));
        let forbidden = Err(Denied::Forbidden);
        let not_found = Err(Denied::NotFound);

        // create and list generators
        assert_eq!(check(admin, Op::CreateGenerator, None), Ok(()));
        assert_eq!(check(gen_a, Op::CreateGenerator, None), forbidden);
        assert_eq!(check(admin, Op::ListGenerators, None), Ok(()));
        assert_eq!(check(gen_a, Op::ListGenerators, None), forbidden);
        // view, update, delete, rotate own generator
        for op in [
            Op::ReadGenerator,
            Op::UpdateGenerator,
            Op::DeleteGenerator,
            Op::RotateGeneratorPak,
        ] {
            assert_eq!(check(admin, op, b), Ok(()), "{op:?}");
            assert_eq!(check(gen_a, op, a), Ok(()), "{op:?}");
            assert_eq!(check(gen_a, op, b), not_found, "{op:?}");
        }
        // create stacks, view own stacks, not others'
        assert_eq!(check(gen_a, Op::CreateStack, None), Ok(()));
        assert_eq!(check(gen_a, Op::ReadStack, a), Ok(()));
        assert_eq!(check(gen_a, Op::ReadStack, b), not_found);
        assert_eq!(check(gen_a, Op::ReadStack, Some(Owner::Admin)), not_found);
        assert_eq!(check(admin, Op::ReadStack, b), Ok(()));
        // shared templates are readable, not writable
        assert_eq!(check(gen_a, Op::ReadTemplate, Some(Owner::Admin)), Ok(()));
        assert_eq!(
            check(gen_a, Op::UpdateTemplate, Some(Owner::Admin)),
            not_found
        );
        assert_eq!(check(gen_a, Op::ReadTemplate, b), not_found);
        // manage agents and webhooks
        assert_eq!(check(admin, Op::ManageAgents, None), Ok(()));
        assert_eq!(check(gen_a, Op::ManageAgents, None), forbidden);
        assert_eq!(check(gen_a, Op::ManageWebhooks, None), forbidden);
    }

    #[test]
    fn agents_reach_nothing_but_whoami() {
        let agent = principal(PrincipalKind::Agent, 9);
        for op in Operation::ALL {
            let expected = if op == Op::WhoAmI {
                Ok(())
            } else {
                Err(Denied::Forbidden)
            };
            assert_eq!(check(agent, op, None), expected, "{op:?}");
        }
    }
}
