//! An in-memory [`Store`], for tests, benches, fuzzing and embedders' own tests.
//!
//! It keeps everything in one mutex-guarded map per record type and forgets it all on
//! drop. It follows the same rules as the SQL stores, checked by the same conformance
//! suite.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::model::{DeploymentObject, Generator, Stack, Template};
use crate::pak::KeyId;
use crate::principal::{Owner, PrincipalKind};
use crate::store::{
    Credential, Listing, NewDeploymentObject, NewGenerator, NewStack, NewTemplate, Rename, Store,
    StoreError, TemplateChange,
};

#[derive(Debug, Default)]
struct State {
    credentials: HashMap<Uuid, Credential>,
    generators: Vec<(Generator, Option<DateTime<Utc>>)>,
    stacks: Vec<(Stack, Option<DateTime<Utc>>, i64)>,
    objects: Vec<DeploymentObject>,
    templates: Vec<(Template, Option<DateTime<Utc>>)>,
}

/// A [`Store`] that lives in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn listed(listing: Listing, owner: Owner) -> bool {
    match listing {
        Listing::All => true,
        Listing::OwnedBy(wanted) => owner == wanted,
        Listing::OwnedByOrShared(wanted) => owner == wanted || owner == Owner::Admin,
    }
}

impl State {
    fn key_id_taken(&self, key_id: &KeyId, except: Uuid) -> bool {
        self.credentials
            .values()
            .any(|c| c.key_id == *key_id && c.principal.id != except)
    }

    fn live_generator(&mut self, id: Uuid) -> Option<&mut Generator> {
        self.generators
            .iter_mut()
            .find(|(g, deleted)| g.id == id && deleted.is_none())
            .map(|(g, _)| g)
    }

    fn generator_name_taken(&self, name: &str, except: Uuid) -> bool {
        self.generators
            .iter()
            .any(|(g, deleted)| deleted.is_none() && g.name == name && g.id != except)
    }

    fn live_stack(&mut self, id: Uuid) -> Option<(&mut Stack, &mut i64)> {
        self.stacks
            .iter_mut()
            .find(|(s, deleted, _)| s.id == id && deleted.is_none())
            .map(|(s, _, sequence)| (s, sequence))
    }

    fn stack_name_taken(&self, owner: Owner, name: &str, except: Uuid) -> bool {
        self.stacks.iter().any(|(s, deleted, _)| {
            deleted.is_none() && s.owner() == owner && s.name == name && s.id != except
        })
    }

    fn live_template(&mut self, id: Uuid) -> Option<&mut Template> {
        self.templates
            .iter_mut()
            .find(|(t, deleted)| t.id == id && deleted.is_none())
            .map(|(t, _)| t)
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn find_credential(&self, key_id: &KeyId) -> Result<Option<Credential>, StoreError> {
        let state = self.state();
        Ok(state
            .credentials
            .values()
            .find(|c| c.key_id == *key_id)
            .cloned())
    }

    async fn credential_of(&self, principal_id: Uuid) -> Result<Option<Credential>, StoreError> {
        Ok(self.state().credentials.get(&principal_id).cloned())
    }

    async fn bootstrap_admin(&self, credential: Credential) -> Result<bool, StoreError> {
        let mut state = self.state();
        let has_admin = state
            .credentials
            .values()
            .any(|c| c.principal.kind == PrincipalKind::Admin);
        if has_admin {
            return Ok(false);
        }
        state
            .credentials
            .insert(credential.principal.id, credential);
        Ok(true)
    }

    async fn admin_id(&self) -> Result<Option<Uuid>, StoreError> {
        let state = self.state();
        Ok(state
            .credentials
            .values()
            .find(|c| c.principal.kind == PrincipalKind::Admin)
            .map(|c| c.principal.id))
    }

    async fn replace_credential(&self, credential: Credential) -> Result<(), StoreError> {
        let mut state = self.state();
        if !state.credentials.contains_key(&credential.principal.id) {
            return Err(StoreError::NotFound);
        }
        if state.key_id_taken(&credential.key_id, credential.principal.id) {
            return Err(StoreError::Conflict("key id"));
        }
        state
            .credentials
            .insert(credential.principal.id, credential);
        Ok(())
    }

    async fn create_generator(
        &self,
        generator: NewGenerator,
        credential: Credential,
    ) -> Result<Generator, StoreError> {
        let mut state = self.state();
        if state.generator_name_taken(&generator.name, generator.id) {
            return Err(StoreError::Conflict("generator"));
        }
        if state.key_id_taken(&credential.key_id, generator.id) {
            return Err(StoreError::Conflict("key id"));
        }
        let record = Generator {
            id: generator.id,
            name: generator.name,
            description: generator.description,
            created_at: generator.now,
            updated_at: generator.now,
        };
        state.generators.push((record.clone(), None));
        state.credentials.insert(generator.id, credential);
        Ok(record)
    }

    async fn list_generators(&self) -> Result<Vec<Generator>, StoreError> {
        let state = self.state();
        Ok(state
            .generators
            .iter()
            .filter(|(_, deleted)| deleted.is_none())
            .map(|(g, _)| g.clone())
            .collect())
    }

    async fn get_generator(&self, id: Uuid) -> Result<Option<Generator>, StoreError> {
        Ok(self.state().live_generator(id).cloned())
    }

    async fn update_generator(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Generator, StoreError> {
        let mut state = self.state();
        if let Some(name) = &change.name {
            if state.generator_name_taken(name, id) {
                return Err(StoreError::Conflict("generator"));
            }
        }
        let generator = state.live_generator(id).ok_or(StoreError::NotFound)?;
        if let Some(name) = change.name {
            generator.name = name;
        }
        if let Some(description) = change.description {
            generator.description = Some(description);
        }
        generator.updated_at = now;
        Ok(generator.clone())
    }

    async fn delete_generator(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let (_, deleted) = state
            .generators
            .iter_mut()
            .find(|(g, deleted)| g.id == id && deleted.is_none())
            .ok_or(StoreError::NotFound)?;
        *deleted = Some(now);
        state.credentials.remove(&id);
        Ok(())
    }

    async fn create_stack(
        &self,
        stack: NewStack,
        first_object: Option<NewDeploymentObject>,
    ) -> Result<(Stack, Option<DeploymentObject>), StoreError> {
        let mut state = self.state();
        if state.stack_name_taken(stack.owner, &stack.name, stack.id) {
            return Err(StoreError::Conflict("stack"));
        }
        let record = Stack {
            id: stack.id,
            name: stack.name,
            description: stack.description,
            generator_id: stack.owner.generator_id(),
            created_at: stack.now,
            updated_at: stack.now,
        };
        let object = first_object.map(|object| deployment_object(record.id, 1, object));
        let sequence = i64::from(object.is_some());
        state.stacks.push((record.clone(), None, sequence));
        state.objects.extend(object.clone());
        Ok((record, object))
    }

    async fn list_stacks(&self, listing: Listing) -> Result<Vec<Stack>, StoreError> {
        let state = self.state();
        Ok(state
            .stacks
            .iter()
            .filter(|(s, deleted, _)| deleted.is_none() && listed(listing, s.owner()))
            .map(|(s, _, _)| s.clone())
            .collect())
    }

    async fn get_stack(&self, id: Uuid) -> Result<Option<Stack>, StoreError> {
        Ok(self.state().live_stack(id).map(|(s, _)| s.clone()))
    }

    async fn update_stack(
        &self,
        id: Uuid,
        change: Rename,
        now: DateTime<Utc>,
    ) -> Result<Stack, StoreError> {
        let mut state = self.state();
        let owner = state.live_stack(id).ok_or(StoreError::NotFound)?.0.owner();
        if let Some(name) = &change.name {
            if state.stack_name_taken(owner, name, id) {
                return Err(StoreError::Conflict("stack"));
            }
        }
        let (stack, _) = state.live_stack(id).ok_or(StoreError::NotFound)?;
        if let Some(name) = change.name {
            stack.name = name;
        }
        if let Some(description) = change.description {
            stack.description = Some(description);
        }
        stack.updated_at = now;
        Ok(stack.clone())
    }

    async fn delete_stack(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let (_, deleted, _) = state
            .stacks
            .iter_mut()
            .find(|(s, deleted, _)| s.id == id && deleted.is_none())
            .ok_or(StoreError::NotFound)?;
        *deleted = Some(now);
        Ok(())
    }

    async fn append_deployment_object(
        &self,
        stack_id: Uuid,
        object: NewDeploymentObject,
    ) -> Result<DeploymentObject, StoreError> {
        let mut state = self.state();
        let (_, sequence) = state.live_stack(stack_id).ok_or(StoreError::NotFound)?;
        *sequence += 1;
        let object = deployment_object(stack_id, *sequence, object);
        state.objects.push(object.clone());
        Ok(object)
    }

    async fn list_deployment_objects(
        &self,
        stack_id: Uuid,
    ) -> Result<Vec<DeploymentObject>, StoreError> {
        let state = self.state();
        let mut objects: Vec<DeploymentObject> = state
            .objects
            .iter()
            .filter(|o| o.stack_id == stack_id)
            .cloned()
            .collect();
        objects.sort_by_key(|o| std::cmp::Reverse(o.sequence_id));
        Ok(objects)
    }

    async fn get_deployment_object(
        &self,
        id: Uuid,
    ) -> Result<Option<DeploymentObject>, StoreError> {
        Ok(self.state().objects.iter().find(|o| o.id == id).cloned())
    }

    async fn create_template(&self, template: NewTemplate) -> Result<Template, StoreError> {
        let mut state = self.state();
        let version = state
            .templates
            .iter()
            .filter(|(t, _)| t.owner() == template.owner && t.name == template.name)
            .map(|(t, _)| t.version)
            .max()
            .unwrap_or(0)
            + 1;
        let record = Template {
            id: template.id,
            name: template.name,
            version,
            description: template.description,
            template_yaml: template.template_yaml,
            schema_json: template.schema_json,
            generator_id: template.owner.generator_id(),
            created_at: template.now,
            updated_at: template.now,
        };
        state.templates.push((record.clone(), None));
        Ok(record)
    }

    async fn list_templates(&self, listing: Listing) -> Result<Vec<Template>, StoreError> {
        let state = self.state();
        Ok(state
            .templates
            .iter()
            .filter(|(t, deleted)| deleted.is_none() && listed(listing, t.owner()))
            .map(|(t, _)| t.clone())
            .collect())
    }

    async fn get_template(&self, id: Uuid) -> Result<Option<Template>, StoreError> {
        Ok(self.state().live_template(id).cloned())
    }

    async fn find_template(
        &self,
        owner: Owner,
        name: &str,
    ) -> Result<Option<Template>, StoreError> {
        let state = self.state();
        Ok(state
            .templates
            .iter()
            .filter(|(t, deleted)| deleted.is_none() && t.owner() == owner && t.name == name)
            .map(|(t, _)| t)
            .max_by_key(|t| t.version)
            .cloned())
    }

    async fn update_template(
        &self,
        id: Uuid,
        change: TemplateChange,
        now: DateTime<Utc>,
    ) -> Result<Template, StoreError> {
        let mut state = self.state();
        let template = state.live_template(id).ok_or(StoreError::NotFound)?;
        if let Some(description) = change.description {
            template.description = Some(description);
        }
        if let Some(source) = change.template_yaml {
            template.template_yaml = source;
        }
        if let Some(schema) = change.schema_json {
            template.schema_json = schema;
        }
        template.updated_at = now;
        Ok(template.clone())
    }

    async fn delete_template(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state();
        let (_, deleted) = state
            .templates
            .iter_mut()
            .find(|(t, deleted)| t.id == id && deleted.is_none())
            .ok_or(StoreError::NotFound)?;
        *deleted = Some(now);
        Ok(())
    }
}

fn deployment_object(
    stack_id: Uuid,
    sequence_id: i64,
    new: NewDeploymentObject,
) -> DeploymentObject {
    DeploymentObject {
        id: new.id,
        stack_id,
        sequence_id,
        yaml_content: new.yaml_content,
        yaml_checksum: new.yaml_checksum,
        is_deletion_marker: new.is_deletion_marker,
        created_at: new.now,
    }
}
