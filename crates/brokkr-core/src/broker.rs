//! The broker's use cases: each authorizes its caller through [`authorize`], checks its
//! input, then asks the store.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::access::{Operation, Reach, authorize, rule_for};
use crate::auth::{AuthError, Authenticator, ThrottleLimits};
use crate::cache::VerificationCache;
use crate::clock::{Clock, SystemClock};
use crate::error::Error;
use crate::model::{DeploymentObject, Generator, Stack, Template};
use crate::pak::{self, HashParams, Pak};
use crate::principal::{Owner, Principal, PrincipalKind};
use crate::store::{
    Credential, Listing, NewDeploymentObject, NewGenerator, NewStack, NewTemplate, Rename, Store,
    StoreError, TemplateChange,
};
use crate::template::{CheckedTemplate, TemplateError, TemplateLimits, check_yaml};

/// Longest name of a generator, stack or template, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4096;

/// How a [`Broker`] is set up.
#[derive(Clone)]
pub struct BrokerConfig {
    /// Cost of the argon2id hash of new PAKs.
    pub hash_params: HashParams,
    /// Argon2 verifications allowed to run at once.
    pub max_concurrent_hashes: usize,
    /// Failure throttle of the cold verification path.
    pub throttle: ThrottleLimits,
    /// Bounds on templates and renders.
    pub template_limits: TemplateLimits,
    /// Capacity of the verification cache.
    pub cache_capacity: usize,
    /// How long a cached PAK is trusted before one store read (no hash) confirms it.
    pub revalidate_after: chrono::Duration,
    /// The source of the current instant.
    pub clock: Arc<dyn Clock>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            hash_params: HashParams::DEFAULT,
            max_concurrent_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            throttle: ThrottleLimits::DEFAULT,
            template_limits: TemplateLimits::DEFAULT,
            cache_capacity: VerificationCache::DEFAULT_CAPACITY,
            revalidate_after: Authenticator::DEFAULT_REVALIDATE_AFTER,
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("hash_params", &self.hash_params)
            .field("max_concurrent_hashes", &self.max_concurrent_hashes)
            .field("throttle", &self.throttle)
            .field("template_limits", &self.template_limits)
            .field("cache_capacity", &self.cache_capacity)
            .field("revalidate_after", &self.revalidate_after)
            .finish_non_exhaustive()
    }
}

/// A generator to create.
#[derive(Debug, Clone)]
pub struct GeneratorSpec {
    /// 1 to 255 characters, no control characters, unique among live generators.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// When its PAK stops working.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A stack to create.
#[derive(Debug, Clone, Default)]
pub struct StackSpec {
    /// 1 to 255 characters, unique among the owner's live stacks.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Render this template as the stack's first deployment object.
    pub template_name: Option<String>,
    /// Parameters of the template.
    pub parameters: Option<Value>,
    /// The generator to own the stack; only the admin may name another.
    pub generator_id: Option<Uuid>,
}

/// A template to create.
#[derive(Debug, Clone)]
pub struct TemplateSpec {
    /// Shared by all versions.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// minijinja source.
    pub template_yaml: String,
    /// JSON Schema of the parameters.
    pub schema_json: Value,
}

/// A generator with the PAK that was just issued for it.
#[derive(Debug)]
pub struct WithPak<T> {
    /// The principal's record.
    pub record: T,
    /// The plain-text PAK, shown once.
    pub pak: Pak,
}

/// The broker: every use case, for any transport.
pub struct Broker {
    store: Arc<dyn Store>,
    auth: Authenticator,
    renders: Arc<tokio::sync::Semaphore>,
    config: BrokerConfig,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker over `store`.
    pub fn new(store: Arc<dyn Store>, config: BrokerConfig) -> Self {
        let cache = Arc::new(VerificationCache::new(config.cache_capacity));
        Self::with_cache(store, config, cache)
    }

    /// A broker over `store` sharing `cache` with whoever invalidates it (for example
    /// a store that hears about rotations made by other instances).
    pub fn with_cache(
        store: Arc<dyn Store>,
        config: BrokerConfig,
        cache: Arc<VerificationCache>,
    ) -> Self {
        let auth = Authenticator::new(
            Arc::clone(&store),
            cache,
            Arc::clone(&config.clock),
            config.max_concurrent_hashes,
            config.throttle,
        )
        .with_revalidate_after(config.revalidate_after);
        let renders = Arc::new(tokio::sync::Semaphore::new(
            config.max_concurrent_hashes.max(1),
        ));
        Self {
            store,
            auth,
            renders,
            config,
        }
    }

    /// The verification cache.
    pub fn cache(&self) -> &Arc<VerificationCache> {
        self.auth.cache()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Finds the principal a presented PAK proves.
    ///
    /// # Errors
    ///
    /// [`AuthError`] with the exact reason, for the operator; callers learn less.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        self.auth.authenticate(presented).await
    }

    /// Whether the store answers.
    ///
    /// # Errors
    ///
    /// The store's failure.
    pub async fn ping(&self) -> Result<(), Error> {
        Ok(self.store.ping().await?)
    }

    // ---- admin ----

    /// Mints the admin's PAK if the store has no admin yet; otherwise `None`.
    ///
    /// # Errors
    ///
    /// Store or hashing failures.
    pub async fn bootstrap_admin(&self) -> Result<Option<Pak>, Error> {
        if self.store.admin_id().await?.is_some() {
            return Ok(None);
        }
        let admin = Principal {
            kind: PrincipalKind::Admin,
            id: Uuid::new_v4(),
        };
        let (pak, credential) = self.issue(admin, None).await?;
        let stored = self.store.bootstrap_admin(credential).await?;
        Ok(stored.then_some(pak))
    }

    /// Replaces the admin's PAK (minting the first one if there is no admin yet).
    ///
    /// # Errors
    ///
    /// Store or hashing failures.
    pub async fn rotate_admin_pak(&self) -> Result<Pak, Error> {
        let Some(admin_id) = self.store.admin_id().await? else {
            let minted = self.bootstrap_admin().await?;
            return minted.ok_or(Error::Conflict("admin"));
        };
        let admin = Principal {
            kind: PrincipalKind::Admin,
            id: admin_id,
        };
        let (pak, credential) = self.issue(admin, None).await?;
        self.store.replace_credential(credential).await?;
        self.cache().invalidate(admin_id);
        Ok(pak)
    }

    /// Who the caller is.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] only if the table denies it.
    pub fn whoami(&self, caller: &Principal) -> Result<Principal, Error> {
        authorize(caller, Operation::WhoAmI, None).map_err(|d| Error::denied(d, "principal"))?;
        Ok(*caller)
    }

    // ---- generators ----

    /// Creates a generator and returns its PAK, the only time it is shown.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for non-admins, [`Error::Invalid`], [`Error::Conflict`] on a
    /// taken name.
    pub async fn create_generator(
        &self,
        caller: &Principal,
        spec: GeneratorSpec,
    ) -> Result<WithPak<Generator>, Error> {
        check(caller, Operation::CreateGenerator, None, "generator")?;
        let name = valid_name(spec.name)?;
        let description = valid_description(spec.description)?;
        let expires_at = self.valid_expiry(spec.expires_at)?;

        let id = Uuid::new_v4();
        let principal = Principal {
            kind: PrincipalKind::Generator,
            id,
        };
        let (pak, credential) = self.issue(principal, expires_at).await?;
        let generator = NewGenerator {
            id,
            name,
            description,
            now: self.now(),
        };
        let record = self.store.create_generator(generator, credential).await?;
        Ok(WithPak { record, pak })
    }

    /// Every live generator.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for non-admins.
    pub async fn list_generators(&self, caller: &Principal) -> Result<Vec<Generator>, Error> {
        check(caller, Operation::ListGenerators, None, "generator")?;
        Ok(self.store.list_generators().await?)
    }

    /// One generator.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it does not exist or is not the caller.
    pub async fn get_generator(&self, caller: &Principal, id: Uuid) -> Result<Generator, Error> {
        self.reach_generator(caller, Operation::ReadGenerator, id)
            .await
    }

    /// Changes a generator's name or description.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_generator`], plus [`Error::Invalid`] and [`Error::Conflict`].
    pub async fn update_generator(
        &self,
        caller: &Principal,
        id: Uuid,
        change: Rename,
    ) -> Result<Generator, Error> {
        self.reach_generator(caller, Operation::UpdateGenerator, id)
            .await?;
        if change.name.is_some() {
            let owner = Owner::Generator(id);
            check(
                caller,
                Operation::RenameGenerator,
                Some(&owner),
                "generator",
            )?;
        }
        let change = valid_rename(change)?;
        self.store
            .update_generator(id, change, self.now())
            .await
            .map_err(not_found("generator"))
    }

    /// Soft-deletes a generator; its PAK stops working at once, its resources stay.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_generator`].
    pub async fn delete_generator(&self, caller: &Principal, id: Uuid) -> Result<(), Error> {
        self.reach_generator(caller, Operation::DeleteGenerator, id)
            .await?;
        self.store
            .delete_generator(id, self.now())
            .await
            .map_err(not_found("generator"))?;
        self.cache().invalidate(id);
        Ok(())
    }

    /// Replaces a generator's PAK; the old one stops working at once.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_generator`], plus [`Error::Invalid`] for a past expiry.
    pub async fn rotate_generator_pak(
        &self,
        caller: &Principal,
        id: Uuid,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<WithPak<Generator>, Error> {
        let record = self
            .reach_generator(caller, Operation::RotateGeneratorPak, id)
            .await?;
        let mut expires_at = self.valid_expiry(expires_at)?;
        if !caller.is_admin() {
            // A generator renews its secret, not its lifetime: the new PAK expires no
            // later than the one it replaces.
            let current = self.store.credential_of(id).await?;
            expires_at = earliest(expires_at, current.and_then(|c| c.expires_at));
        }
        let principal = Principal {
            kind: PrincipalKind::Generator,
            id,
        };
        let (pak, credential) = self.issue(principal, expires_at).await?;
        self.store
            .replace_credential(credential)
            .await
            .map_err(not_found("generator"))?;
        self.cache().invalidate(id);
        Ok(WithPak { record, pak })
    }

    async fn reach_generator(
        &self,
        caller: &Principal,
        operation: Operation,
        id: Uuid,
    ) -> Result<Generator, Error> {
        check(caller, operation, None, "generator")?;
        check(caller, operation, Some(&Owner::Generator(id)), "generator")?;
        self.store
            .get_generator(id)
            .await?
            .ok_or(Error::NotFound("generator"))
    }

    // ---- stacks ----

    /// Creates a stack; with a template, renders it as the stack's first deployment
    /// object in the same write, so that on any failure nothing is stored.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`], [`Error::Conflict`], [`Error::NotFound`] for an unknown
    /// template or generator, [`Error::Template`] for parameters or renders.
    pub async fn create_stack(
        &self,
        caller: &Principal,
        spec: StackSpec,
    ) -> Result<(Stack, Option<DeploymentObject>), Error> {
        check(caller, Operation::CreateStack, None, "stack")?;
        let owner = spec
            .generator_id
            .map_or(caller.as_owner(), Owner::Generator);
        check(caller, Operation::CreateStack, Some(&owner), "generator")?;
        if let Owner::Generator(id) = owner {
            if self.store.get_generator(id).await?.is_none() {
                return Err(Error::NotFound("generator"));
            }
        }
        let name = valid_name(spec.name)?;
        let description = valid_description(spec.description)?;

        let first_object = match (spec.template_name, spec.parameters) {
            (Some(template_name), parameters) => {
                let template = self.resolve_template(owner, &template_name).await?;
                let parameters = parameters.unwrap_or_else(|| Value::Object(Default::default()));
                let content = self.render(&template, &parameters).await?;
                Some(self.new_object(content, false))
            }
            (None, Some(_)) => {
                return Err(Error::invalid(
                    "parameters",
                    "parameters need a `template_name`",
                ));
            }
            (None, None) => None,
        };

        let stack = NewStack {
            id: Uuid::new_v4(),
            owner,
            name,
            description,
            now: self.now(),
        };
        Ok(self.store.create_stack(stack, first_object).await?)
    }

    /// The stacks the caller may see; the admin sees all, or one owner's with `owner`.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for agents.
    pub async fn list_stacks(
        &self,
        caller: &Principal,
        owner: Option<Owner>,
    ) -> Result<Vec<Stack>, Error> {
        check(caller, Operation::ListStacks, None, "stack")?;
        let listing = listing_for(caller, Operation::ListStacks, owner);
        Ok(self.store.list_stacks(listing).await?)
    }

    /// One stack.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it does not exist or the caller may not see it.
    pub async fn get_stack(&self, caller: &Principal, id: Uuid) -> Result<Stack, Error> {
        self.reach_stack(caller, Operation::ReadStack, id).await
    }

    /// Changes a stack's name or description.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_stack`], plus [`Error::Invalid`] and [`Error::Conflict`].
    pub async fn update_stack(
        &self,
        caller: &Principal,
        id: Uuid,
        change: Rename,
    ) -> Result<Stack, Error> {
        self.reach_stack(caller, Operation::UpdateStack, id).await?;
        let change = valid_rename(change)?;
        self.store
            .update_stack(id, change, self.now())
            .await
            .map_err(not_found("stack"))
    }

    /// Soft-deletes a stack.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_stack`].
    pub async fn delete_stack(&self, caller: &Principal, id: Uuid) -> Result<(), Error> {
        self.reach_stack(caller, Operation::DeleteStack, id).await?;
        self.store
            .delete_stack(id, self.now())
            .await
            .map_err(not_found("stack"))
    }

    async fn reach_stack(
        &self,
        caller: &Principal,
        operation: Operation,
        id: Uuid,
    ) -> Result<Stack, Error> {
        check(caller, operation, None, "stack")?;
        let stack = self
            .store
            .get_stack(id)
            .await?
            .ok_or(Error::NotFound("stack"))?;
        check(caller, operation, Some(&stack.owner()), "stack")?;
        Ok(stack)
    }

    // ---- deployment objects ----

    /// Appends a deployment object to a stack. Content must be YAML unless the object
    /// is a deletion marker.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_stack`], plus [`Error::Invalid`] for content that is not YAML.
    pub async fn create_deployment_object(
        &self,
        caller: &Principal,
        stack_id: Uuid,
        yaml_content: String,
        is_deletion_marker: bool,
    ) -> Result<DeploymentObject, Error> {
        self.reach_stack(caller, Operation::CreateDeploymentObject, stack_id)
            .await?;
        if !is_deletion_marker {
            check_yaml(&yaml_content).map_err(|e| Error::invalid("yaml_content", e.to_string()))?;
        }
        let object = self.new_object(yaml_content, is_deletion_marker);
        self.store
            .append_deployment_object(stack_id, object)
            .await
            .map_err(not_found("stack"))
    }

    /// A stack's deployment objects, newest first.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_stack`].
    pub async fn list_deployment_objects(
        &self,
        caller: &Principal,
        stack_id: Uuid,
    ) -> Result<Vec<DeploymentObject>, Error> {
        self.reach_stack(caller, Operation::ListDeploymentObjects, stack_id)
            .await?;
        Ok(self.store.list_deployment_objects(stack_id).await?)
    }

    /// One deployment object of a live stack.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it, or its stack, does not exist or the caller may not
    /// see it.
    pub async fn get_deployment_object(
        &self,
        caller: &Principal,
        id: Uuid,
    ) -> Result<DeploymentObject, Error> {
        let operation = Operation::ReadDeploymentObject;
        check(caller, operation, None, "deployment object")?;
        let object = self
            .store
            .get_deployment_object(id)
            .await?
            .ok_or(Error::NotFound("deployment object"))?;
        let stack = self
            .store
            .get_stack(object.stack_id)
            .await?
            .ok_or(Error::NotFound("deployment object"))?;
        check(caller, operation, Some(&stack.owner()), "deployment object")?;
        Ok(object)
    }

    fn new_object(&self, yaml_content: String, is_deletion_marker: bool) -> NewDeploymentObject {
        let yaml_checksum = hex(&Sha256::digest(yaml_content.as_bytes()));
        NewDeploymentObject {
            id: Uuid::new_v4(),
            yaml_content,
            yaml_checksum,
            is_deletion_marker,
            now: self.now(),
        }
    }

    // ---- templates ----

    /// Creates a template, or the next version of the caller's template of that name.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`], or [`Error::Template`] for a template or schema that does not
    /// compile.
    pub async fn create_template(
        &self,
        caller: &Principal,
        spec: TemplateSpec,
    ) -> Result<Template, Error> {
        check(caller, Operation::CreateTemplate, None, "template")?;
        let name = valid_name(spec.name)?;
        let description = valid_description(spec.description)?;
        CheckedTemplate::check(&spec.template_yaml, &spec.schema_json, self.limits())?;

        let template = NewTemplate {
            id: Uuid::new_v4(),
            owner: caller.as_owner(),
            name,
            description,
            template_yaml: spec.template_yaml,
            schema_json: spec.schema_json,
            now: self.now(),
        };
        Ok(self.store.create_template(template).await?)
    }

    /// The templates the caller may see: a generator's own and the shared ones.
    ///
    /// # Errors
    ///
    /// [`Error::Forbidden`] for agents.
    pub async fn list_templates(&self, caller: &Principal) -> Result<Vec<Template>, Error> {
        check(caller, Operation::ListTemplates, None, "template")?;
        let listing = listing_for(caller, Operation::ListTemplates, None);
        Ok(self.store.list_templates(listing).await?)
    }

    /// One template.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] when it does not exist or the caller may not see it.
    pub async fn get_template(&self, caller: &Principal, id: Uuid) -> Result<Template, Error> {
        self.reach_template(caller, Operation::ReadTemplate, id)
            .await
    }

    /// Changes a template in place, checking any new source or schema.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_template`], plus template and schema failures.
    pub async fn update_template(
        &self,
        caller: &Principal,
        id: Uuid,
        change: TemplateChange,
    ) -> Result<Template, Error> {
        let current = self
            .reach_template(caller, Operation::UpdateTemplate, id)
            .await?;
        let change = TemplateChange {
            description: change.description.map(valid_text).transpose()?,
            ..change
        };
        let source = change
            .template_yaml
            .as_ref()
            .unwrap_or(&current.template_yaml);
        let schema = change.schema_json.as_ref().unwrap_or(&current.schema_json);
        CheckedTemplate::check(source, schema, self.limits())?;
        self.store
            .update_template(id, change, self.now())
            .await
            .map_err(not_found("template"))
    }

    /// Soft-deletes a template version.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_template`].
    pub async fn delete_template(&self, caller: &Principal, id: Uuid) -> Result<(), Error> {
        self.reach_template(caller, Operation::DeleteTemplate, id)
            .await?;
        self.store
            .delete_template(id, self.now())
            .await
            .map_err(not_found("template"))
    }

    /// Renders a template with `parameters` without storing anything.
    ///
    /// # Errors
    ///
    /// As [`Broker::get_template`], plus parameter and render failures.
    pub async fn render_template(
        &self,
        caller: &Principal,
        id: Uuid,
        parameters: &Value,
    ) -> Result<String, Error> {
        let template = self
            .reach_template(caller, Operation::RenderTemplate, id)
            .await?;
        self.render(&template, parameters).await
    }

    async fn reach_template(
        &self,
        caller: &Principal,
        operation: Operation,
        id: Uuid,
    ) -> Result<Template, Error> {
        check(caller, operation, None, "template")?;
        let template = self
            .store
            .get_template(id)
            .await?
            .ok_or(Error::NotFound("template"))?;
        check(caller, operation, Some(&template.owner()), "template")?;
        Ok(template)
    }

    /// The newest version of `name` that `owner` may use: its own before the shared one.
    async fn resolve_template(&self, owner: Owner, name: &str) -> Result<Template, Error> {
        if let Some(own) = self.store.find_template(owner, name).await? {
            return Ok(own);
        }
        if owner != Owner::Admin {
            if let Some(shared) = self.store.find_template(Owner::Admin, name).await? {
                return Ok(shared);
            }
        }
        Err(Error::NotFound("template"))
    }

    /// Renders on a blocking thread, a bounded number at a time: a slow render holds
    /// neither an async worker nor more than its share of the CPU.
    async fn render(&self, template: &Template, parameters: &Value) -> Result<String, Error> {
        let source = template.template_yaml.clone();
        let schema = template.schema_json.clone();
        let parameters = parameters.clone();
        let limits = self.config.template_limits;

        // INVARIANT: the semaphore is never closed.
        let _permit = Arc::clone(&self.renders)
            .acquire_owned()
            .await
            .map_err(|_| {
                Error::Template(TemplateError::Render {
                    line: None,
                    message: "renderer shut down".to_owned(),
                })
            })?;
        let rendered = tokio::task::spawn_blocking(move || {
            CheckedTemplate::check(&source, &schema, &limits)?.render(&parameters, &limits)
        })
        .await
        .map_err(|_| {
            Error::Template(TemplateError::Render {
                line: None,
                message: "the template engine failed on this template".to_owned(),
            })
        })?;
        Ok(rendered?)
    }

    // ---- helpers ----

    fn now(&self) -> DateTime<Utc> {
        self.config.clock.now()
    }

    fn limits(&self) -> &TemplateLimits {
        &self.config.template_limits
    }

    fn valid_expiry(
        &self,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, Error> {
        match expires_at {
            Some(at) if at <= self.now() => {
                Err(Error::invalid("expires_at", "must be in the future"))
            }
            other => Ok(other),
        }
    }

    async fn issue(
        &self,
        principal: Principal,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<(Pak, Credential), Error> {
        let params = self.config.hash_params;
        let issued = tokio::task::spawn_blocking(move || pak::issue(principal.kind, params))
            .await
            .map_err(|_| Error::Pak(pak::PakError::Hashing))??;
        let credential = Credential {
            principal,
            key_id: issued.key_id,
            hash: issued.hash,
            expires_at,
        };
        Ok((issued.pak, credential))
    }
}

fn check(
    caller: &Principal,
    operation: Operation,
    owner: Option<&Owner>,
    resource: &'static str,
) -> Result<(), Error> {
    authorize(caller, operation, owner).map_err(|denied| Error::denied(denied, resource))
}

fn not_found(resource: &'static str) -> impl Fn(StoreError) -> Error {
    move |error| match error {
        StoreError::NotFound => Error::NotFound(resource),
        other => other.into(),
    }
}

/// Checks a name of a generator, stack or template.
///
/// # Errors
///
/// [`Error::Invalid`] for an empty or over-long name, or one with control characters.
pub fn valid_name(name: String) -> Result<String, Error> {
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME_CHARS {
        return Err(Error::invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name)
}

fn valid_text(description: String) -> Result<String, Error> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(Error::invalid(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(description)
}

fn valid_description(description: Option<String>) -> Result<Option<String>, Error> {
    description.map(valid_text).transpose()
}

fn valid_rename(change: Rename) -> Result<Rename, Error> {
    Ok(Rename {
        name: change.name.map(valid_name).transpose()?,
        description: valid_description(change.description)?,
    })
}

fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// How a listing is scoped for `caller`, read from the access table's reach.
fn listing_for(caller: &Principal, operation: Operation, owner: Option<Owner>) -> Listing {
    let reach = rule_for(operation).map_or(Reach::Never, |rule| rule.reach(caller.kind));
    match (reach, owner) {
        (Reach::All, None) => Listing::All,
        (Reach::All, Some(owner)) => Listing::OwnedBy(owner),
        (Reach::OwnOrShared, _) => Listing::OwnedByOrShared(caller.as_owner()),
        // INVARIANT: `Never` was refused by `authorize` before a listing is built.
        (Reach::Own | Reach::Never, _) => Listing::OwnedBy(caller.as_owner()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
