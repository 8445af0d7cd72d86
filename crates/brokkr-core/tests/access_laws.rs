//! Laws of the access-control table: what `authorize` allows and how it refuses,
//! over arbitrary principals, owners and operations.

use brokkr_core::access::{Reach, rule_for};
use brokkr_core::{Denied, Operation, Owner, Principal, PrincipalKind, authorize};
use proptest::prelude::*;
use uuid::Uuid;

fn reach(operation: Operation, kind: PrincipalKind) -> Reach {
    rule_for(operation).map_or(Reach::Never, |rule| rule.reach(kind))
}

/// Ids from a small range, so that principals and owners often coincide.
fn arb_id() -> impl Strategy<Value = Uuid> {
    (0u128..4).prop_map(Uuid::from_u128)
}

fn arb_kind() -> impl Strategy<Value = PrincipalKind> {
    prop::sample::select(PrincipalKind::ALL.to_vec())
}

fn arb_principal() -> impl Strategy<Value = Principal> {
    (arb_kind(), arb_id()).prop_map(|(kind, id)| Principal { kind, id })
}

fn arb_non_admin() -> impl Strategy<Value = Principal> {
    let kinds = vec![PrincipalKind::Generator, PrincipalKind::Agent];
    (prop::sample::select(kinds), arb_id()).prop_map(|(kind, id)| Principal { kind, id })
}

fn arb_owner() -> impl Strategy<Value = Owner> {
    prop_oneof![Just(Owner::Admin), arb_id().prop_map(Owner::Generator)]
}

fn arb_operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

fn arb_resource_operation() -> impl Strategy<Value = Operation> {
    prop::sample::select(Operation::ALL.to_vec())
}

fn arb_admin_only_operation() -> impl Strategy<Value = Operation> {
    let operations = Operation::ALL
        .into_iter()
        .filter(|&op| reach(op, PrincipalKind::Generator) == Reach::Never)
        .collect::<Vec<_>>();
    prop::sample::select(operations)
}

/// Two generators with different ids.
fn arb_two_generators() -> impl Strategy<Value = (Principal, Uuid)> {
    (any::<u128>(), any::<u128>())
        .prop_filter("distinct generators", |(a, b)| a != b)
        .prop_map(|(a, b)| {
            let generator = Principal {
                kind: PrincipalKind::Generator,
                id: Uuid::from_u128(a),
            };
            (generator, Uuid::from_u128(b))
        })
}

/// The law below skips resourceless operations; this keeps that list honest.
#[test]
fn no_operation_reaches_every_owner_for_a_generator() {
    for op in Operation::ALL {
        assert_ne!(reach(op, PrincipalKind::Generator), Reach::All, "{op:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generator_never_reaches_another_generators_resource(
        (generator, other) in arb_two_generators(),
        op in arb_resource_operation(),
    ) {
        let outcome = authorize(&generator, op, Some(&Owner::Generator(other)));

        prop_assert!(
            matches!(outcome, Err(Denied::NotFound | Denied::Forbidden)),
            "{op:?}: {outcome:?}"
        );
    }

    #[test]
    fn generator_reaches_its_own_resource_unless_forbidden(
        id in arb_id(),
        op in arb_resource_operation(),
    ) {
        let generator = Principal { kind: PrincipalKind::Generator, id };
        let outcome = authorize(&generator, op, Some(&Owner::Generator(id)));

        let expected = match reach(op, PrincipalKind::Generator) {
            Reach::Never => Err(Denied::Forbidden),
            _ => Ok(()),
        };
        prop_assert_eq!(outcome, expected, "{:?}", op);
    }

    #[test]
    fn admin_only_operation_forbids_generators_and_agents(
        principal in arb_non_admin(),
        op in arb_admin_only_operation(),
        owner in proptest::option::of(arb_owner()),
    ) {
        prop_assert_eq!(
            authorize(&principal, op, owner.as_ref()),
            Err(Denied::Forbidden),
            "{:?} on {:?}",
            op,
            owner
        );
    }

    #[test]
    fn admin_is_allowed_everything(
        id in arb_id(),
        op in arb_operation(),
        owner in proptest::option::of(arb_owner()),
    ) {
        let admin = Principal { kind: PrincipalKind::Admin, id };

        prop_assert_eq!(authorize(&admin, op, owner.as_ref()), Ok(()), "{:?} on {:?}", op, owner);
    }

    #[test]
    fn collection_access_is_forbidden_iff_reach_is_never(
        principal in arb_principal(),
        op in arb_operation(),
    ) {
        let never = reach(op, principal.kind) == Reach::Never;
        let outcome = authorize(&principal, op, None);

        prop_assert_eq!(outcome == Err(Denied::Forbidden), never, "{:?}: {:?}", op, outcome);
        prop_assert!(never || outcome.is_ok(), "{op:?}: {outcome:?}");
    }

    #[test]
    fn generator_reaches_admin_resources_only_where_shared(
        id in arb_id(),
        op in arb_resource_operation(),
    ) {
        let generator = Principal { kind: PrincipalKind::Generator, id };
        let outcome = authorize(&generator, op, Some(&Owner::Admin));

        let expected = match reach(op, PrincipalKind::Generator) {
            Reach::Never => Err(Denied::Forbidden),
            Reach::All | Reach::OwnOrShared => Ok(()),
            Reach::Own => Err(Denied::NotFound),
        };
        prop_assert_eq!(outcome, expected, "{:?}", op);
    }
}
