//! A stateful law: random sequences of use cases by random callers against a `Broker`
//! over a `MemoryStore` agree, step by step, with a small plain model of ownership,
//! uniqueness and PAK rotation.

use std::sync::Arc;

use brokkr_core::store::Rename;
use brokkr_core::{
    Broker, BrokerConfig, Error, GeneratorSpec, HashParams, MemoryStore, Owner, Principal,
    PrincipalKind, StackSpec, TemplateSpec,
};
use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

const GENERATOR_NAMES: [&str; 3] = ["alpha", "beta", "gamma"];
const STACK_NAMES: [&str; 2] = ["web", "db"];
const TEMPLATE_NAMES: [&str; 2] = ["base", "svc"];

/// An id no record ever has: the broker draws random v4 ids.
const GHOST_ID: Uuid = Uuid::from_u128(0x0bad_0bad);
/// Agents cannot be created through the broker; this one is made up.
const AGENT_ID: Uuid = Uuid::from_u128(0xa6e7);

// ---- the plain model ----

#[derive(Debug)]
struct ModelGenerator {
    id: Uuid,
    name: String,
    live: bool,
    /// The PAK issued last; dead once the generator is deleted.
    pak: String,
    /// Every PAK replaced by a rotation.
    retired: Vec<String>,
}

#[derive(Debug)]
struct ModelStack {
    id: Uuid,
    owner: Owner,
    name: String,
    objects: i64,
}

#[derive(Debug)]
struct ModelObject {
    id: Uuid,
    stack: usize,
}

#[derive(Debug)]
struct ModelTemplate {
    id: Uuid,
    owner: Owner,
    name: String,
    version: i64,
}

#[derive(Debug, Default)]
struct Model {
    generators: Vec<ModelGenerator>,
    stacks: Vec<ModelStack>,
    objects: Vec<ModelObject>,
    templates: Vec<ModelTemplate>,
}

/// What a use case did, as far as the model predicts it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Done,
    Forbidden,
    NotFound(&'static str),
    Conflict(&'static str),
    Other(String),
}

fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Done,
        Err(Error::Forbidden) => Outcome::Forbidden,
        Err(Error::NotFound(what)) => Outcome::NotFound(what),
        Err(Error::Conflict(what)) => Outcome::Conflict(what),
        Err(other) => Outcome::Other(format!("{other:?}")),
    }
}

impl Model {
    fn generator_name_taken(&self, name: &str, except: Uuid) -> bool {
        self.generators
            .iter()
            .any(|g| g.live && g.name == name && g.id != except)
    }

    fn is_live_generator(&self, id: Uuid) -> bool {
        self.generators.iter().any(|g| g.live && g.id == id)
    }

    /// Reading or changing generator `target`: the admin reaches every live one, a
    /// generator only itself.
    fn reach_generator(&self, caller: &Principal, target: Option<usize>) -> Outcome {
        let target = target.map(|j| &self.generators[j]);
        match (caller.kind, target) {
            (PrincipalKind::Agent, _) => Outcome::Forbidden,
            (PrincipalKind::Admin, Some(g)) if g.live => Outcome::Done,
            (PrincipalKind::Generator, Some(g)) if g.live && g.id == caller.id => Outcome::Done,
            _ => Outcome::NotFound("generator"),
        }
    }

    /// Reaching a record owned by `owner` (`None`: no such record). Shared records are
    /// the admin's, readable by every generator.
    fn reach_record(
        caller: &Principal,
        owner: Option<Owner>,
        shared: bool,
        resource: &'static str,
    ) -> Outcome {
        match (caller.kind, owner) {
            (PrincipalKind::Agent, _) => Outcome::Forbidden,
            (_, None) => Outcome::NotFound(resource),
            (PrincipalKind::Admin, Some(_)) => Outcome::Done,
            (PrincipalKind::Generator, Some(owner)) => {
                let own = owner == Owner::Generator(caller.id);
                if own || (shared && owner == Owner::Admin) {
                    Outcome::Done
                } else {
                    Outcome::NotFound(resource)
                }
            }
        }
    }

    fn create_generator(&self, caller: &Principal, name: &str) -> Outcome {
        match caller.kind {
            PrincipalKind::Admin if self.generator_name_taken(name, GHOST_ID) => {
                Outcome::Conflict("generator")
            }
            PrincipalKind::Admin => Outcome::Done,
            PrincipalKind::Generator | PrincipalKind::Agent => Outcome::Forbidden,
        }
    }

    /// Renaming generator `target`: only the admin renames, since a refused name would
    /// tell a generator that another generator holds it.
    fn update_generator(&self, caller: &Principal, target: Option<usize>, name: &str) -> Outcome {
        match self.reach_generator(caller, target) {
            Outcome::Done if caller.kind != PrincipalKind::Admin => Outcome::Forbidden,
            Outcome::Done => {
                let id = target.map_or(GHOST_ID, |j| self.generators[j].id);
                if self.generator_name_taken(name, id) {
                    Outcome::Conflict("generator")
                } else {
                    Outcome::Done
                }
            }
            refused => refused,
        }
    }

    fn create_stack(&self, caller: &Principal, owner: Owner, name: &str) -> Outcome {
        let conflict = self
            .stacks
            .iter()
            .any(|s| s.owner == owner && s.name == name);
        match (caller.kind, owner) {
            (PrincipalKind::Agent, _) => Outcome::Forbidden,
            (PrincipalKind::Generator, _) if owner != Owner::Generator(caller.id) => {
                Outcome::NotFound("generator")
            }
            (_, Owner::Generator(id)) if !self.is_live_generator(id) => {
                Outcome::NotFound("generator")
            }
            _ if conflict => Outcome::Conflict("stack"),
            _ => Outcome::Done,
        }
    }

    fn next_template_version(&self, owner: Owner, name: &str) -> i64 {
        let versions = self
            .templates
            .iter()
            .filter(|t| t.owner == owner && t.name == name);
        versions.map(|t| t.version).max().unwrap_or(0) + 1
    }
}

// ---- operations ----

#[derive(Debug, Clone)]
enum Caller {
    Admin,
    /// One of the generators created so far, live or deleted.
    Generator(Index),
    Agent,
}

/// A pick among the records of one kind created so far, or one that never existed.
type Pick = Index;

#[derive(Debug, Clone)]
enum Step {
    CreateGenerator {
        caller: Caller,
        name: usize,
    },
    RotateGeneratorPak {
        caller: Caller,
        target: Pick,
    },
    DeleteGenerator {
        caller: Caller,
        target: Pick,
    },
    UpdateGenerator {
        caller: Caller,
        target: Pick,
        name: usize,
    },
    ReadGenerator {
        caller: Caller,
        target: Pick,
    },
    CreateStack {
        caller: Caller,
        name: usize,
        owner: Option<Pick>,
    },
    ReadStack {
        caller: Caller,
        target: Pick,
    },
    ListStacks {
        caller: Caller,
    },
    CreateDeploymentObject {
        caller: Caller,
        stack: Pick,
    },
    ReadDeploymentObject {
        caller: Caller,
        target: Pick,
    },
    CreateTemplate {
        caller: Caller,
        name: usize,
    },
    ReadTemplate {
        caller: Caller,
        target: Pick,
    },
    ListTemplates {
        caller: Caller,
    },
}

fn arb_caller() -> impl Strategy<Value = Caller> {
    prop_oneof![
        2 => Just(Caller::Admin),
        3 => any::<Index>().prop_map(Caller::Generator),
        1 => Just(Caller::Agent),
    ]
}

fn arb_step() -> impl Strategy<Value = Step> {
    let pick = any::<Pick>;
    let generator_name = 0..GENERATOR_NAMES.len();
    prop_oneof![
        // generators
        2 => (arb_caller(), generator_name.clone())
            .prop_map(|(caller, name)| Step::CreateGenerator { caller, name }),
        2 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::RotateGeneratorPak { caller, target }),
        1 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::DeleteGenerator { caller, target }),
        2 => (arb_caller(), pick(), generator_name).prop_map(|(caller, target, name)| {
            Step::UpdateGenerator { caller, target, name }
        }),
        1 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::ReadGenerator { caller, target }),
        // stacks and their deployment objects
        3 => (arb_caller(), 0..STACK_NAMES.len(), proptest::option::of(pick()))
            .prop_map(|(caller, name, owner)| Step::CreateStack { caller, name, owner }),
        2 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::ReadStack { caller, target }),
        1 => arb_caller().prop_map(|caller| Step::ListStacks { caller }),
        3 => (arb_caller(), pick())
            .prop_map(|(caller, stack)| Step::CreateDeploymentObject { caller, stack }),
        2 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::ReadDeploymentObject { caller, target }),
        // templates
        2 => (arb_caller(), 0..TEMPLATE_NAMES.len())
            .prop_map(|(caller, name)| Step::CreateTemplate { caller, name }),
        2 => (arb_caller(), pick())
            .prop_map(|(caller, target)| Step::ReadTemplate { caller, target }),
        1 => arb_caller().prop_map(|caller| Step::ListTemplates { caller }),
    ]
}

/// The record `pick` names among `len`, or now and then (always, when there are none)
/// `None` for one that never existed.
fn resolve(pick: &Pick, len: usize) -> Option<usize> {
    let chosen = pick.index(4 * len + 1);
    (chosen < 4 * len).then(|| chosen % len)
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

// ---- the broker under test, beside the model ----

struct World {
    broker: Broker,
    admin_pak: String,
    model: Model,
}

impl World {
    async fn new() -> Self {
        let config = BrokerConfig {
            hash_params: HashParams::INSECURE_FOR_TESTS,
            ..BrokerConfig::default()
        };
        let broker = Broker::new(Arc::new(MemoryStore::new()), config);
        let admin_pak = broker
            .bootstrap_admin()
            .await
            .expect("bootstrap")
            .expect("a new store has no admin");
        Self {
            broker,
            admin_pak: admin_pak.expose_secret().to_owned(),
            model: Model::default(),
        }
    }

    /// Whom `caller` authenticates as, checking its PAK against the model; `None` for
    /// a deleted generator, whose PAK must fail.
    async fn principal(&self, caller: &Caller) -> Result<Option<Principal>, TestCaseError> {
        match caller {
            Caller::Admin => {
                let admin = self.broker.authenticate(&self.admin_pak).await;
                let admin = admin.map_err(|e| TestCaseError::fail(format!("admin: {e:?}")))?;
                prop_assert_eq!(admin.kind, PrincipalKind::Admin);
                Ok(Some(admin))
            }
            Caller::Agent => Ok(Some(Principal {
                kind: PrincipalKind::Agent,
                id: AGENT_ID,
            })),
            Caller::Generator(pick) => {
                // INVARIANT: `seed` creates generators before any step, and none is
                // ever removed from the model.
                let generator = &self.model.generators[pick.index(self.model.generators.len())];
                let proved = self.broker.authenticate(&generator.pak).await.ok();
                let expected = generator.live.then_some(Principal {
                    kind: PrincipalKind::Generator,
                    id: generator.id,
                });
                prop_assert_eq!(proved, expected, "pak of {}", generator.name);
                Ok(proved)
            }
        }
    }

    /// Checks that `old` no longer authenticates and `new` (if any) proves generator `j`.
    async fn check_paks(
        &self,
        old: &str,
        new: Option<&str>,
        j: usize,
    ) -> Result<(), TestCaseError> {
        let stale = self.broker.authenticate(old).await;
        prop_assert!(stale.is_err(), "old pak still proves {stale:?}");
        if let Some(new) = new {
            let proved = self.broker.authenticate(new).await.ok();
            let expected = Principal {
                kind: PrincipalKind::Generator,
                id: self.model.generators[j].id,
            };
            prop_assert_eq!(proved, Some(expected));
        }
        Ok(())
    }

    /// Puts generator `j`'s PAK in the verification cache, so that a rotation or deletion
    /// must also evict it from there.
    async fn warm(&self, target: Option<usize>) -> Result<(), TestCaseError> {
        if let Some(generator) = target.map(|j| &self.model.generators[j]) {
            let proved = self.broker.authenticate(&generator.pak).await;
            prop_assert_eq!(proved.is_ok(), generator.live);
        }
        Ok(())
    }

    async fn create_generator(
        &mut self,
        caller: &Principal,
        name: &str,
    ) -> Result<(), TestCaseError> {
        let expected = self.model.create_generator(caller, name);
        let spec = GeneratorSpec {
            name: name.to_owned(),
            description: None,
            expires_at: None,
        };
        let result = self.broker.create_generator(caller, spec).await;
        prop_assert_eq!(outcome(&result), expected);

        if let Ok(created) = result {
            prop_assert_eq!(&created.record.name, name);
            self.model.generators.push(ModelGenerator {
                id: created.record.id,
                name: name.to_owned(),
                live: true,
                pak: created.pak.expose_secret().to_owned(),
                retired: Vec::new(),
            });
        }
        Ok(())
    }

    async fn apply(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let caller = match step {
            Step::CreateGenerator { caller, .. }
            | Step::RotateGeneratorPak { caller, .. }
            | Step::DeleteGenerator { caller, .. }
            | Step::UpdateGenerator { caller, .. }
            | Step::ReadGenerator { caller, .. }
            | Step::CreateStack { caller, .. }
            | Step::ReadStack { caller, .. }
            | Step::ListStacks { caller }
            | Step::CreateDeploymentObject { caller, .. }
            | Step::ReadDeploymentObject { caller, .. }
            | Step::CreateTemplate { caller, .. }
            | Step::ReadTemplate { caller, .. }
            | Step::ListTemplates { caller } => caller,
        };
        let Some(p) = self.principal(caller).await? else {
            return Ok(());
        };
        let model = &self.model;

        match step {
            Step::CreateGenerator { name, .. } => {
                self.create_generator(&p, GENERATOR_NAMES[*name]).await
            }
            Step::RotateGeneratorPak { target, .. } => {
                let target = resolve(target, model.generators.len());
                self.rotate_generator_pak(&p, target).await
            }
            Step::DeleteGenerator { target, .. } => {
                let target = resolve(target, model.generators.len());
                self.delete_generator(&p, target).await
            }
            Step::UpdateGenerator { target, name, .. } => {
                let target = resolve(target, model.generators.len());
                self.update_generator(&p, target, GENERATOR_NAMES[*name])
                    .await
            }
            Step::ReadGenerator { target, .. } => {
                let target = resolve(target, model.generators.len());
                self.read_generator(&p, target).await
            }
            Step::CreateStack { name, owner, .. } => {
                let generator_id = owner.as_ref().map(|pick| {
                    let chosen = resolve(pick, model.generators.len());
                    chosen.map_or(GHOST_ID, |j| model.generators[j].id)
                });
                self.create_stack(&p, generator_id, STACK_NAMES[*name])
                    .await
            }
            Step::ReadStack { target, .. } => {
                let target = resolve(target, model.stacks.len());
                self.read_stack(&p, target).await
            }
            Step::ListStacks { .. } => self.list_stacks(&p).await,
            Step::CreateDeploymentObject { stack, .. } => {
                let target = resolve(stack, model.stacks.len());
                self.create_deployment_object(&p, target).await
            }
            Step::ReadDeploymentObject { target, .. } => {
                let target = resolve(target, model.objects.len());
                self.read_deployment_object(&p, target).await
            }
            Step::CreateTemplate { name, .. } => {
                self.create_template(&p, TEMPLATE_NAMES[*name]).await
            }
            Step::ReadTemplate { target, .. } => {
                let target = resolve(target, model.templates.len());
                self.read_template(&p, target).await
            }
            Step::ListTemplates { .. } => self.list_templates(&p).await,
        }
    }

    fn generator_id(&self, target: Option<usize>) -> Uuid {
        target.map_or(GHOST_ID, |j| self.model.generators[j].id)
    }

    async fn rotate_generator_pak(
        &mut self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let id = self.generator_id(target);
        self.warm(target).await?;
        let expected = self.model.reach_generator(p, target);
        let result = self.broker.rotate_generator_pak(p, id, None).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(rotated), Some(j)) = (result, target) {
            prop_assert_eq!(rotated.record.id, id);
            let new = rotated.pak.expose_secret().to_owned();
            let generator = &mut self.model.generators[j];
            let old = std::mem::replace(&mut generator.pak, new.clone());
            generator.retired.push(old.clone());
            self.check_paks(&old, Some(&new), j).await?;
        }
        Ok(())
    }

    async fn delete_generator(
        &mut self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let id = self.generator_id(target);
        self.warm(target).await?;
        let expected = self.model.reach_generator(p, target);
        let result = self.broker.delete_generator(p, id).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(()), Some(j)) = (result, target) {
            self.model.generators[j].live = false;
            let old = self.model.generators[j].pak.clone();
            self.check_paks(&old, None, j).await?;
        }
        Ok(())
    }

    async fn update_generator(
        &mut self,
        p: &Principal,
        target: Option<usize>,
        name: &str,
    ) -> Result<(), TestCaseError> {
        let id = self.generator_id(target);
        let expected = self.model.update_generator(p, target, name);
        let change = Rename {
            name: Some(name.to_owned()),
            description: None,
        };
        let result = self.broker.update_generator(p, id, change).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(updated), Some(j)) = (result, target) {
            prop_assert_eq!(updated.id, id);
            prop_assert_eq!(&updated.name, name);
            self.model.generators[j].name = name.to_owned();
        }
        Ok(())
    }

    async fn read_generator(
        &self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let id = self.generator_id(target);
        let expected = self.model.reach_generator(p, target);
        let result = self.broker.get_generator(p, id).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(read), Some(j)) = (result, target) {
            prop_assert_eq!(read.id, id);
            prop_assert_eq!(&read.name, &self.model.generators[j].name);
        }
        Ok(())
    }

    async fn create_stack(
        &mut self,
        p: &Principal,
        generator_id: Option<Uuid>,
        name: &str,
    ) -> Result<(), TestCaseError> {
        let owner = generator_id.map_or(p.as_owner(), Owner::Generator);
        let expected = self.model.create_stack(p, owner, name);
        let spec = StackSpec {
            name: name.to_owned(),
            generator_id,
            ..StackSpec::default()
        };
        let result = self.broker.create_stack(p, spec).await;
        prop_assert_eq!(outcome(&result), expected);

        if let Ok((stack, first_object)) = result {
            prop_assert_eq!(stack.owner(), owner);
            prop_assert_eq!(&stack.name, name);
            prop_assert!(first_object.is_none());
            self.model.stacks.push(ModelStack {
                id: stack.id,
                owner,
                name: name.to_owned(),
                objects: 0,
            });
        }
        Ok(())
    }

    async fn read_stack(&self, p: &Principal, target: Option<usize>) -> Result<(), TestCaseError> {
        let stack = target.map(|j| &self.model.stacks[j]);
        let id = stack.map_or(GHOST_ID, |s| s.id);
        let expected = Model::reach_record(p, stack.map(|s| s.owner), false, "stack");
        let result = self.broker.get_stack(p, id).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(read), Some(stack)) = (result, stack) {
            prop_assert_eq!(read.id, id);
            prop_assert_eq!(&read.name, &stack.name);
        }
        Ok(())
    }

    async fn list_stacks(&self, p: &Principal) -> Result<(), TestCaseError> {
        let visible = self
            .model
            .stacks
            .iter()
            .filter(|s| p.is_admin() || s.owner == Owner::Generator(p.id));
        let expected_ids = sorted(visible.map(|s| s.id).collect());
        let expected = match p.kind {
            PrincipalKind::Agent => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        let result = self.broker.list_stacks(p, None).await;
        prop_assert_eq!(outcome(&result), expected);

        if let Ok(listed) = result {
            let listed_ids = sorted(listed.iter().map(|s| s.id).collect());
            prop_assert_eq!(listed_ids, expected_ids);
        }
        Ok(())
    }

    async fn create_deployment_object(
        &mut self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let stack = target.map(|j| &self.model.stacks[j]);
        let stack_id = stack.map_or(GHOST_ID, |s| s.id);
        let expected = Model::reach_record(p, stack.map(|s| s.owner), false, "stack");
        let content = "kind: ConfigMap\n".to_owned();
        let result = self
            .broker
            .create_deployment_object(p, stack_id, content, false)
            .await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(object), Some(j)) = (result, target) {
            let stack = &mut self.model.stacks[j];
            stack.objects += 1;
            prop_assert_eq!(object.stack_id, stack_id);
            prop_assert_eq!(object.sequence_id, stack.objects);
            self.model.objects.push(ModelObject {
                id: object.id,
                stack: j,
            });
        }
        Ok(())
    }

    async fn read_deployment_object(
        &self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let object = target.map(|j| &self.model.objects[j]);
        let id = object.map_or(GHOST_ID, |o| o.id);
        let stack = object.map(|o| &self.model.stacks[o.stack]);
        let owner = stack.map(|s| s.owner);
        let expected = Model::reach_record(p, owner, false, "deployment object");
        let result = self.broker.get_deployment_object(p, id).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(read), Some(stack)) = (result, stack) {
            prop_assert_eq!(read.id, id);
            prop_assert_eq!(read.stack_id, stack.id);
        }
        Ok(())
    }

    async fn create_template(&mut self, p: &Principal, name: &str) -> Result<(), TestCaseError> {
        // A template is private to the generator that made it, shared if the admin did.
        let owner = p.as_owner();
        let expected = match p.kind {
            PrincipalKind::Agent => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        let spec = TemplateSpec {
            name: name.to_owned(),
            description: None,
            template_yaml: "name: {{ name }}\n".to_owned(),
            schema_json: serde_json::json!({ "type": "object" }),
        };
        let result = self.broker.create_template(p, spec).await;
        prop_assert_eq!(outcome(&result), expected);

        if let Ok(template) = result {
            let version = self.model.next_template_version(owner, name);
            prop_assert_eq!(template.owner(), owner);
            prop_assert_eq!(template.version, version);
            self.model.templates.push(ModelTemplate {
                id: template.id,
                owner,
                name: name.to_owned(),
                version,
            });
        }
        Ok(())
    }

    async fn read_template(
        &self,
        p: &Principal,
        target: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let template = target.map(|j| &self.model.templates[j]);
        let id = template.map_or(GHOST_ID, |t| t.id);
        let expected = Model::reach_record(p, template.map(|t| t.owner), true, "template");
        let result = self.broker.get_template(p, id).await;
        prop_assert_eq!(outcome(&result), expected);

        if let (Ok(read), Some(template)) = (result, template) {
            prop_assert_eq!(read.id, id);
            prop_assert_eq!(read.version, template.version);
        }
        Ok(())
    }

    async fn list_templates(&self, p: &Principal) -> Result<(), TestCaseError> {
        let visible = self.model.templates.iter().filter(|t| {
            p.is_admin() || t.owner == Owner::Generator(p.id) || t.owner == Owner::Admin
        });
        let expected_ids = sorted(visible.map(|t| t.id).collect());
        let expected = match p.kind {
            PrincipalKind::Agent => Outcome::Forbidden,
            _ => Outcome::Done,
        };
        let result = self.broker.list_templates(p).await;
        prop_assert_eq!(outcome(&result), expected);

        if let Ok(listed) = result {
            let listed_ids = sorted(listed.iter().map(|t| t.id).collect());
            prop_assert_eq!(listed_ids, expected_ids);
        }
        Ok(())
    }

    /// Two generators, and for each of them and the admin a stack with one deployment
    /// object and a template, so that short runs still meet other owners' records.
    async fn seed(&mut self) -> Result<(), TestCaseError> {
        let admin = self.principal(&Caller::Admin).await?;
        let admin = admin.expect("the admin authenticates");
        for name in &GENERATOR_NAMES[..2] {
            self.create_generator(&admin, name).await?;
        }

        let mut owners = vec![admin];
        for generator in &self.model.generators {
            owners.push(Principal {
                kind: PrincipalKind::Generator,
                id: generator.id,
            });
        }
        for p in &owners {
            self.create_stack(p, None, STACK_NAMES[0]).await?;
            let stack = self.model.stacks.len() - 1;
            self.create_deployment_object(p, Some(stack)).await?;
            self.create_template(p, TEMPLATE_NAMES[0]).await?;
        }
        Ok(())
    }

    /// After the run: every retired PAK stays dead, every live generator's PAK works.
    async fn check_every_pak(&self) -> Result<(), TestCaseError> {
        for generator in &self.model.generators {
            for retired in &generator.retired {
                let proved = self.broker.authenticate(retired).await;
                prop_assert!(
                    proved.is_err(),
                    "{} retired pak: {proved:?}",
                    generator.name
                );
            }
            let proved = self.broker.authenticate(&generator.pak).await;
            prop_assert_eq!(proved.is_ok(), generator.live, "{}", generator.name);
        }
        Ok(())
    }
}

async fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut world = World::new().await;
    world.seed().await?;

    for (i, step) in steps.iter().enumerate() {
        world
            .apply(step)
            .await
            .map_err(|e| TestCaseError::fail(format!("step {i}: {step:?}\n{e}")))?;
    }

    world.check_every_pak().await
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn broker_agrees_with_the_model(steps in prop::collection::vec(arb_step(), 1..=30)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        runtime.block_on(run(&steps))?;
    }
}
