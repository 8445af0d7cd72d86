//! One conformance suite for the `Store` trait, run against every backend: memory,
//! SQLite, and PostgreSQL when `DATABASE_URL` names a server.

use std::sync::Arc;

use brokkr_core::pak::{self, HashParams};
use brokkr_core::store::{
    Credential, Listing, NewDeploymentObject, NewGenerator, NewStack, NewTemplate, Rename, Store,
    StoreError, TemplateChange,
};
use brokkr_core::{Owner, Principal, PrincipalKind};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;
use uuid::Uuid;

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 2, 10, 0, second)
        .single()
        .expect("valid instant")
}

fn credential(kind: PrincipalKind, id: Uuid) -> Credential {
    let issued = pak::issue(kind, HashParams::INSECURE_FOR_TESTS).expect("cheap params");
    Credential {
        principal: Principal { kind, id },
        key_id: issued.key_id,
        hash: issued.hash,
        expires_at: None,
    }
}

fn new_generator(name: &str) -> NewGenerator {
    NewGenerator {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        description: Some("pipeline".to_owned()),
        now: at(0),
    }
}

async fn generator(store: &dyn Store, name: &str) -> Uuid {
    let new = new_generator(name);
    let id = new.id;
    store
        .create_generator(new, credential(PrincipalKind::Generator, id))
        .await
        .expect("generator created");
    id
}

fn new_stack(owner: Owner, name: &str) -> NewStack {
    NewStack {
        id: Uuid::new_v4(),
        owner,
        name: name.to_owned(),
        description: None,
        now: at(1),
    }
}

fn object(content: &str) -> NewDeploymentObject {
    NewDeploymentObject {
        id: Uuid::new_v4(),
        yaml_content: content.to_owned(),
        yaml_checksum: "00".repeat(32),
        is_deletion_marker: false,
        now: at(2),
    }
}

fn new_template(owner: Owner, name: &str) -> NewTemplate {
    NewTemplate {
        id: Uuid::new_v4(),
        owner,
        name: name.to_owned(),
        description: None,
        template_yaml: "a: {{ b }}".to_owned(),
        schema_json: json!({"type": "object", "properties": {"b": {"type": "string"}}}),
        now: at(3),
    }
}

pub async fn generators_live_and_die(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let id = generator(store, "github-actions-prod").await;

    let found = store
        .get_generator(id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(found.name, "github-actions-prod");
    assert_eq!(found.description.as_deref(), Some("pipeline"));
    assert_eq!(found.created_at, at(0));
    assert_eq!(store.list_generators().await.expect("list").len(), 1);

    // a live name is taken; a deleted one is free again
    let again = new_generator("github-actions-prod");
    let again_id = again.id;
    let taken = store
        .create_generator(again, credential(PrincipalKind::Generator, again_id))
        .await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    let renamed = store
        .update_generator(
            id,
            Rename {
                name: None,
                description: Some("new".into()),
            },
            at(9),
        )
        .await
        .expect("updated");
    assert_eq!(renamed.description.as_deref(), Some("new"));
    assert_eq!(renamed.name, "github-actions-prod");
    assert_eq!(renamed.updated_at, at(9));

    let key_id = store
        .list_generators()
        .await
        .expect("list")
        .first()
        .map(|g| g.id)
        .expect("one generator");
    assert_eq!(key_id, id);

    store.delete_generator(id, at(10)).await.expect("deleted");
    assert_eq!(store.get_generator(id).await.expect("read"), None);
    assert!(store.list_generators().await.expect("list").is_empty());
    assert!(matches!(
        store.delete_generator(id, at(11)).await,
        Err(StoreError::NotFound)
    ));
    let missing = store.update_generator(id, Rename::default(), at(11)).await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");

    generator(store, "github-actions-prod").await;
}

pub async fn generator_rename_conflicts(store: Arc<dyn Store>) {
    let store = store.as_ref();
    generator(store, "a").await;
    let b = generator(store, "b").await;

    let change = Rename {
        name: Some("a".into()),
        description: None,
    };
    let outcome = store.update_generator(b, change, at(5)).await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict(_))),
        "{outcome:?}"
    );
}

pub async fn credentials_are_replaced_and_deleted_atomically(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let new = new_generator("rotating");
    let id = new.id;
    let first = credential(PrincipalKind::Generator, id);
    store
        .create_generator(new, first.clone())
        .await
        .expect("created");

    let found = store.find_credential(&first.key_id).await.expect("read");
    assert_eq!(found.as_ref(), Some(&first));

    let mut second = credential(PrincipalKind::Generator, id);
    second.expires_at = Some(at(30));
    store
        .replace_credential(second.clone())
        .await
        .expect("replaced");
    assert_eq!(
        store.find_credential(&first.key_id).await.expect("read"),
        None
    );
    assert_eq!(
        store.find_credential(&second.key_id).await.expect("read"),
        Some(second.clone())
    );

    store.delete_generator(id, at(40)).await.expect("deleted");
    assert_eq!(
        store.find_credential(&second.key_id).await.expect("read"),
        None
    );

    let orphan = credential(PrincipalKind::Generator, id);
    let outcome = store.replace_credential(orphan).await;
    assert!(matches!(outcome, Err(StoreError::NotFound)), "{outcome:?}");
}

pub async fn admin_is_bootstrapped_once(store: Arc<dyn Store>) {
    let store = store.as_ref();
    assert_eq!(store.admin_id().await.expect("read"), None);

    let first = credential(PrincipalKind::Admin, Uuid::new_v4());
    assert!(store.bootstrap_admin(first.clone()).await.expect("stored"));
    let second = credential(PrincipalKind::Admin, Uuid::new_v4());
    assert!(
        !store
            .bootstrap_admin(second.clone())
            .await
            .expect("refused")
    );

    assert_eq!(
        store.admin_id().await.expect("read"),
        Some(first.principal.id)
    );
    assert_eq!(
        store.find_credential(&second.key_id).await.expect("read"),
        None
    );
    let found = store
        .find_credential(&first.key_id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(found.principal.kind, PrincipalKind::Admin);
}

pub async fn stacks_and_objects(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let gen_a = generator(store, "a").await;
    let gen_b = generator(store, "b").await;
    let a = Owner::Generator(gen_a);

    let (stack, first) = store
        .create_stack(new_stack(a, "web"), Some(object("x: 1")))
        .await
        .expect("created");
    assert_eq!(stack.generator_id, Some(gen_a));
    assert_eq!(first.as_ref().map(|o| o.sequence_id), Some(1));

    // names are unique per owner
    let clash = store.create_stack(new_stack(a, "web"), None).await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
    store
        .create_stack(new_stack(Owner::Generator(gen_b), "web"), None)
        .await
        .expect("another owner may reuse the name");
    store
        .create_stack(new_stack(Owner::Admin, "web"), None)
        .await
        .expect("admin's own");
    let clash = store
        .create_stack(new_stack(Owner::Admin, "web"), None)
        .await;
    assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");

    // listings
    assert_eq!(
        store.list_stacks(Listing::All).await.expect("list").len(),
        3
    );
    let own = store.list_stacks(Listing::OwnedBy(a)).await.expect("list");
    assert_eq!(own.iter().map(|s| s.id).collect::<Vec<_>>(), [stack.id]);
    let admins = store
        .list_stacks(Listing::OwnedBy(Owner::Admin))
        .await
        .expect("list");
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].generator_id, None);

    // deployment objects are numbered and listed newest first
    let second = store
        .append_deployment_object(stack.id, object("x: 2"))
        .await
        .expect("2");
    let third = store
        .append_deployment_object(stack.id, object("x: 3"))
        .await
        .expect("3");
    assert_eq!((second.sequence_id, third.sequence_id), (2, 3));
    let listed = store.list_deployment_objects(stack.id).await.expect("list");
    let sequence: Vec<i64> = listed.iter().map(|o| o.sequence_id).collect();
    assert_eq!(sequence, [3, 2, 1]);
    assert_eq!(listed[0].yaml_content, "x: 3");
    assert_eq!(
        store.get_deployment_object(second.id).await.expect("read"),
        Some(second)
    );

    // updates and deletion
    let change = Rename {
        name: Some("api".into()),
        description: Some("d".into()),
    };
    let renamed = store
        .update_stack(stack.id, change, at(20))
        .await
        .expect("renamed");
    assert_eq!(
        (renamed.name.as_str(), renamed.description.as_deref()),
        ("api", Some("d"))
    );
    store.delete_stack(stack.id, at(21)).await.expect("deleted");
    assert_eq!(store.get_stack(stack.id).await.expect("read"), None);
    let late = store
        .append_deployment_object(stack.id, object("x: 4"))
        .await;
    assert!(matches!(late, Err(StoreError::NotFound)), "{late:?}");
    store
        .create_stack(new_stack(a, "api"), None)
        .await
        .expect("deleted name is free");
}

pub async fn stacks_outlive_their_generator(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let gen_a = generator(store, "a").await;
    let (stack, _) = store
        .create_stack(new_stack(Owner::Generator(gen_a), "web"), None)
        .await
        .expect("created");

    store.delete_generator(gen_a, at(5)).await.expect("deleted");

    let kept = store
        .get_stack(stack.id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.generator_id, Some(gen_a));
}

pub async fn templates_are_versioned_per_owner(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let gen_a = generator(store, "a").await;
    let a = Owner::Generator(gen_a);

    let v1 = store
        .create_template(new_template(a, "web"))
        .await
        .expect("v1");
    let v2 = store
        .create_template(new_template(a, "web"))
        .await
        .expect("v2");
    let shared = store
        .create_template(new_template(Owner::Admin, "web"))
        .await
        .expect("s1");
    assert_eq!((v1.version, v2.version, shared.version), (1, 2, 1));
    assert_eq!(v1.schema_json, new_template(a, "web").schema_json);

    let newest = store
        .find_template(a, "web")
        .await
        .expect("read")
        .expect("found");
    assert_eq!(newest.id, v2.id);
    let newest_shared = store
        .find_template(Owner::Admin, "web")
        .await
        .expect("read");
    assert_eq!(newest_shared.map(|t| t.id), Some(shared.id));
    assert_eq!(store.find_template(a, "nope").await.expect("read"), None);

    let gen_b = Owner::Generator(generator(store, "b").await);
    store
        .create_template(new_template(gen_b, "private"))
        .await
        .expect("b's");
    let visible = store
        .list_templates(Listing::OwnedByOrShared(a))
        .await
        .expect("list");
    let mut ids: Vec<Uuid> = visible.iter().map(|t| t.id).collect();
    ids.sort();
    let mut expected = vec![v1.id, v2.id, shared.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        store
            .list_templates(Listing::All)
            .await
            .expect("list")
            .len(),
        4
    );

    let change = TemplateChange {
        description: Some("d".into()),
        template_yaml: Some("c: 1".into()),
        schema_json: Some(json!({"type": "object"})),
    };
    let changed = store
        .update_template(v2.id, change, at(50))
        .await
        .expect("updated");
    assert_eq!(changed.template_yaml, "c: 1");
    assert_eq!(changed.schema_json, json!({"type": "object"}));
    assert_eq!(changed.version, 2);

    store.delete_template(v2.id, at(51)).await.expect("deleted");
    assert_eq!(store.get_template(v2.id).await.expect("read"), None);
    let newest = store
        .find_template(a, "web")
        .await
        .expect("read")
        .expect("v1 left");
    assert_eq!(newest.id, v1.id);
    let v3 = store
        .create_template(new_template(a, "web"))
        .await
        .expect("v3");
    assert_eq!(v3.version, 3, "versions are never reused");
}

pub async fn concurrent_appends_number_strictly(store: Arc<dyn Store>) {
    let owner = Owner::Generator(generator(store.as_ref(), "a").await);
    let (stack, _) = store
        .create_stack(new_stack(owner, "s"), None)
        .await
        .expect("stack");

    let writers: Vec<_> = (0..16)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .append_deployment_object(stack.id, object(&format!("n: {n}")))
                    .await
                    .expect("appended")
                    .sequence_id
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for writer in writers {
        numbers.push(writer.await.expect("writer finished"));
    }

    numbers.sort_unstable();
    assert_eq!(numbers, (1..=16).collect::<Vec<i64>>());
    let listed = store.list_deployment_objects(stack.id).await.expect("list");
    assert!(
        listed
            .windows(2)
            .all(|pair| pair[0].sequence_id > pair[1].sequence_id)
    );
}

pub async fn concurrent_creations_of_one_name_give_one_conflict(store: Arc<dyn Store>) {
    let attempts: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let new = new_generator("same");
                let id = new.id;
                store
                    .create_generator(new, credential(PrincipalKind::Generator, id))
                    .await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("finished"));
    }

    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let conflicts = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Conflict(_))))
        .count();
    assert_eq!((created, conflicts), (1, 1), "{outcomes:?}");
}

pub async fn concurrent_rotations_leave_one_credential(store: Arc<dyn Store>) {
    let id = generator(store.as_ref(), "rotating").await;
    let candidates: Vec<Credential> = (0..2)
        .map(|_| credential(PrincipalKind::Generator, id))
        .collect();

    let rotations: Vec<_> = candidates
        .iter()
        .cloned()
        .map(|candidate| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.replace_credential(candidate).await })
        })
        .collect();
    for rotation in rotations {
        rotation.await.expect("finished").expect("rotated");
    }

    let mut live = 0;
    for candidate in &candidates {
        if store
            .find_credential(&candidate.key_id)
            .await
            .expect("read")
            .is_some()
        {
            live += 1;
        }
    }
    assert_eq!(live, 1);
}

macro_rules! conformance {
    ($open:path $(, $postgres:ident)?) => {
        conformance!(@cases $open $(, $postgres)?;
            generators_live_and_die,
            generator_rename_conflicts,
            credentials_are_replaced_and_deleted_atomically,
            admin_is_bootstrapped_once,
            stacks_and_objects,
            stacks_outlive_their_generator,
            templates_are_versioned_per_owner,
            concurrent_appends_number_strictly,
            concurrent_creations_of_one_name_give_one_conflict,
            concurrent_rotations_leave_one_credential,
        );
    };
    (@cases $open:path; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                super::$case($open().await).await;
            }
        )*
    };
    (@cases $open:path, postgres; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(postgres_tests), ignore = "needs DATABASE_URL=postgres://...")]
            async fn $case() {
                super::$case($open().await).await;
            }
        )*
    };
}

mod memory {
    use super::*;

    async fn open() -> Arc<dyn Store> {
        Arc::new(brokkr_core::MemoryStore::new())
    }

    conformance!(open);
}

mod sqlite {
    use super::*;
    use brokkr_store_sqlx::{Database, PoolSettings, testing};

    async fn open() -> Arc<dyn Store> {
        let url = testing::fresh_sqlite_url();
        let database = Database::connect(&url, &PoolSettings::DEFAULT)
            .await
            .expect("open");
        database.migrate().await.expect("migrate");
        database.store()
    }

    conformance!(open);
}

mod postgres {
    use super::*;
    use brokkr_store_sqlx::{Database, PoolSettings, testing};

    async fn open() -> Arc<dyn Store> {
        let url = testing::fresh_postgres_url()
            .await
            .expect(testing::NEEDS_POSTGRES);
        let database = Database::connect(&url, &PoolSettings::DEFAULT)
            .await
            .expect("open");
        database.migrate().await.expect("migrate");
        database.store()
    }

    conformance!(open, postgres);
}
