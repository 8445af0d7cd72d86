//! The SQL both backends share, written once and instantiated per backend.
//!
//! Every statement here is valid on SQLite and PostgreSQL alike (`$n` parameters,
//! `RETURNING`, partial unique indexes); the column types differ only in the
//! migrations. A backend supplies its store type, its sqlx database, and the statement
//! (if any) that tells other instances a credential changed.

use brokkr_core::StoreError;

/// Turns a sqlx error into the domain's, identically for both backends.
pub(crate) fn store_error(error: sqlx::Error, conflict: &'static str) -> StoreError {
    match error {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(conflict),
        sqlx::Error::Database(db) if is_unreachable(db.code().as_deref()) => {
            StoreError::Unavailable(Box::new(sqlx::Error::Database(db)))
        }
        sqlx::Error::RowNotFound => StoreError::NotFound,
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            StoreError::Unavailable(Box::new(error))
        }
        other => StoreError::Backend(Box::new(other)),
    }
}

/// Whether a database error code means "cannot serve now" rather than "failed":
/// SQLite busy or locked past its timeout; PostgreSQL connection loss, shutdown, or
/// too many connections.
fn is_unreachable(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    let sqlite_busy = matches!(code, "5" | "6" | "261" | "262" | "517");
    let postgres_gone =
        code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300");
    sqlite_busy || postgres_gone
}

/// Reads a stored JSON Schema back; it was serialized by this crate, so a failure is
/// the store's.
pub(crate) fn schema_from_text(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|error| StoreError::Backend(Box::new(error)))
}

macro_rules! sql_store {
    ($store:ty, $db:ty) => {
        use async_trait::async_trait;
        use brokkr_core::model::{DeploymentObject, Generator, Stack, Template};
        use brokkr_core::pak::{KeyId, PakHash};
        use brokkr_core::store::{
            Credential, Listing, NewDeploymentObject, NewGenerator, NewStack, NewTemplate, Rename,
            Store, StoreError, TemplateChange,
        };
        use brokkr_core::{Owner, Principal, PrincipalKind};
        use chrono::{DateTime, Utc};
        use sqlx::Row;
        use uuid::Uuid;

        use crate::shared::{schema_from_text, store_error};

        type DbRow = <$db as sqlx::Database>::Row;

        const GENERATOR_COLUMNS: &str = "id, name, description, created_at, updated_at";
        const STACK_COLUMNS: &str = "id, generator_id, name, description, created_at, updated_at";
        const OBJECT_COLUMNS: &str = "id, stack_id, sequence_id, yaml_content, yaml_checksum, \
             is_deletion_marker, created_at";
        const TEMPLATE_COLUMNS: &str = "id, generator_id, name, version, description, \
             template_yaml, schema_json, created_at, updated_at";

        fn generator_row(row: &DbRow) -> Result<Generator, sqlx::Error> {
            Ok(Generator {
                id: row.try_get("id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn stack_row(row: &DbRow) -> Result<Stack, sqlx::Error> {
            Ok(Stack {
                id: row.try_get("id")?,
                generator_id: row.try_get("generator_id")?,
                name: row.try_get("name")?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
                updated_at: row.try_get("updated_at")?,
            })
        }

        fn object_row(row: &DbRow) -> Result<DeploymentObject, sqlx::Error> {
            Ok(DeploymentObject {
                id: row.try_get("id")?,
                stack_id: row.try_get("stack_id")?,
                sequence_id: row.try_get("sequence_id")?,
                yaml_content: row.try_get("yaml_content")?,
                yaml_checksum: row.try_get("yaml_checksum")?,
                is_deletion_marker: row.try_get("is_deletion_marker")?,
                created_at: row.try_get("created_at")?,
            })
        }

        fn template_row(row: &DbRow) -> Result<Template, StoreError> {
            let read = |e| store_error(e, "template");
            let schema: String = row.try_get("schema_json").map_err(read)?;
            Ok(Template {
                id: row.try_get("id").map_err(read)?,
                generator_id: row.try_get("generator_id").map_err(read)?,
                name: row.try_get("name").map_err(read)?,
                version: row.try_get("version").map_err(read)?,
                description: row.try_get("description").map_err(read)?,
                template_yaml: row.try_get("template_yaml").map_err(read)?,
                schema_json: schema_from_text(&schema)?,
                created_at: row.try_get("created_at").map_err(read)?,
                updated_at: row.try_get("updated_at").map_err(read)?,
            })
        }

        fn credential_row(row: &DbRow) -> Result<Credential, StoreError> {
            let read = |e| store_error(e, "credential");
            let kind: String = row.try_get("kind").map_err(read)?;
            let kind = PrincipalKind::parse(&kind).ok_or_else(|| {
                StoreError::Backend(format!("unknown principal kind `{kind}`").into())
            })?;
            Ok(Credential {
                principal: Principal {
                    kind,
                    id: row.try_get("principal_id").map_err(read)?,
                },
                key_id: KeyId::from_stored(row.try_get("key_id").map_err(read)?),
                hash: PakHash::from_stored(row.try_get("phc").map_err(read)?),
                expires_at: row.try_get("expires_at").map_err(read)?,
            })
        }

        /// The `WHERE` clause of a listing, binding the owner's generator id as `$1`.
        fn listing_filter(listing: Listing) -> (&'static str, Option<Uuid>, bool) {
            match listing {
                Listing::All => ("deleted_at IS NULL", None, false),
                Listing::OwnedBy(Owner::Admin) => {
                    ("deleted_at IS NULL AND generator_id IS NULL", None, false)
                }
                Listing::OwnedBy(Owner::Generator(id)) => {
                    ("deleted_at IS NULL AND generator_id = $1", Some(id), true)
                }
                Listing::OwnedByOrShared(owner) => match owner.generator_id() {
                    Some(id) => (
                        "deleted_at IS NULL AND (generator_id = $1 OR generator_id IS NULL)",
                        Some(id),
                        true,
                    ),
                    None => ("deleted_at IS NULL AND generator_id IS NULL", None, false),
                },
            }
        }

        impl $store {
            async fn insert_credential<'c>(
                tx: &mut sqlx::Transaction<'c, $db>,
                credential: &Credential,
                now: DateTime<Utc>,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO credentials \
                     (principal_id, kind, key_id, phc, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(credential.principal.id)
                .bind(credential.principal.kind.as_str())
                .bind(credential.key_id.as_str())
                .bind(credential.hash.as_phc())
                .bind(credential.expires_at)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Tells other instances that `principal_id`'s credential changed, in the
            /// same transaction as the change.
            async fn announce<'c>(
                tx: &mut sqlx::Transaction<'c, $db>,
                principal_id: Uuid,
            ) -> Result<(), sqlx::Error> {
                if let Some(statement) = Self::ANNOUNCE_SQL {
                    sqlx::query(statement)
                        .bind(principal_id.to_string())
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }

            /// The live row of `table` with this id. `table` and `columns` are constants
            /// of this module, never input.
            async fn live_by_id<T>(
                &self,
                table: &str,
                columns: &str,
                id: Uuid,
                read: fn(&DbRow) -> Result<T, sqlx::Error>,
                what: &'static str,
            ) -> Result<Option<T>, StoreError> {
                let fail = |e| store_error(e, what);
                let row = sqlx::query(&format!(
                    "SELECT {columns} FROM {table} WHERE id = $1 AND deleted_at IS NULL"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(fail)?;
                row.as_ref().map(read).transpose().map_err(fail)
            }

            /// Changes the name or description of a live row of `table`.
            #[expect(
                clippy::too_many_arguments,
                reason = "one call per table, all constants"
            )]
            async fn rename<T>(
                &self,
                table: &str,
                columns: &str,
                id: Uuid,
                change: Rename,
                now: DateTime<Utc>,
                read: fn(&DbRow) -> Result<T, sqlx::Error>,
                what: &'static str,
            ) -> Result<T, StoreError> {
                let fail = |e| store_error(e, what);
                let row = sqlx::query(&format!(
                    "UPDATE {table} SET name = COALESCE($2, name), \
                     description = COALESCE($3, description), updated_at = $4 \
                     WHERE id = $1 AND deleted_at IS NULL RETURNING {columns}"
                ))
                .bind(id)
                .bind(change.name)
                .bind(change.description)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(fail)?;
                read(&row.ok_or(StoreError::NotFound)?).map_err(fail)
            }

            /// Marks a live row of `table` deleted.
            async fn soft_delete(
                &self,
                table: &str,
                id: Uuid,
                now: DateTime<Utc>,
                what: &'static str,
            ) -> Result<(), StoreError> {
                let deleted = sqlx::query(&format!(
                    "UPDATE {table} SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL"
                ))
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(|e| store_error(e, what))?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn insert_object<'c>(
                tx: &mut sqlx::Transaction<'c, $db>,
                stack_id: Uuid,
                sequence_id: i64,
                object: NewDeploymentObject,
            ) -> Result<DeploymentObject, sqlx::Error> {
                let row = sqlx::query(&format!(
                    "INSERT INTO deployment_objects ({OBJECT_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {OBJECT_COLUMNS}"
                ))
                .bind(object.id)
                .bind(stack_id)
                .bind(sequence_id)
                .bind(object.yaml_content)
                .bind(object.yaml_checksum)
                .bind(object.is_deletion_marker)
                .bind(object.now)
                .fetch_one(&mut **tx)
                .await?;
                object_row(&row)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(|e| store_error(e, "ping"))?;
                Ok(())
            }

            async fn find_credential(
                &self,
                key_id: &KeyId,
            ) -> Result<Option<Credential>, StoreError> {
                let row = sqlx::query(
                    "SELECT principal_id, kind, key_id, phc, expires_at \
                     FROM credentials WHERE key_id = $1",
                )
                .bind(key_id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(e, "credential"))?;
                row.as_ref().map(credential_row).transpose()
            }

            async fn credential_of(
                &self,
                principal_id: Uuid,
            ) -> Result<Option<Credential>, StoreError> {
                let row = sqlx::query(
                    "SELECT principal_id, kind, key_id, phc, expires_at \
                     FROM credentials WHERE principal_id = $1",
                )
                .bind(principal_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(e, "credential"))?;
                row.as_ref().map(credential_row).transpose()
            }

            async fn bootstrap_admin(&self, credential: Credential) -> Result<bool, StoreError> {
                let outcome = sqlx::query(
                    "INSERT INTO credentials \
                     (principal_id, kind, key_id, phc, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(credential.principal.id)
                .bind(PrincipalKind::Admin.as_str())
                .bind(credential.key_id.as_str())
                .bind(credential.hash.as_phc())
                .bind(credential.expires_at)
                .bind(Utc::now())
                .execute(&self.pool)
                .await;
                match outcome.map_err(|e| store_error(e, "admin")) {
                    Ok(_) => Ok(true),
                    Err(StoreError::Conflict(_)) => Ok(false),
                    Err(other) => Err(other),
                }
            }

            async fn admin_id(&self) -> Result<Option<Uuid>, StoreError> {
                sqlx::query_scalar("SELECT principal_id FROM credentials WHERE kind = $1")
                    .bind(PrincipalKind::Admin.as_str())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(|e| store_error(e, "admin"))
            }

            async fn replace_credential(&self, credential: Credential) -> Result<(), StoreError> {
                let fail = |e| store_error(e, "key id");
                let mut tx = self.begin_write().await.map_err(fail)?;
                let replaced = sqlx::query(
                    "UPDATE credentials SET key_id = $2, phc = $3, expires_at = $4 \
                     WHERE principal_id = $1",
                )
                .bind(credential.principal.id)
                .bind(credential.key_id.as_str())
                .bind(credential.hash.as_phc())
                .bind(credential.expires_at)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
                if replaced.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Self::announce(&mut tx, credential.principal.id)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)
            }

            async fn create_generator(
                &self,
                generator: NewGenerator,
                credential: Credential,
            ) -> Result<Generator, StoreError> {
                let fail = |e| store_error(e, "generator");
                let mut tx = self.begin_write().await.map_err(fail)?;
                let row = sqlx::query(&format!(
                    "INSERT INTO generators ({GENERATOR_COLUMNS}) VALUES ($1, $2, $3, $4, $4) \
                     RETURNING {GENERATOR_COLUMNS}"
                ))
                .bind(generator.id)
                .bind(&generator.name)
                .bind(&generator.description)
                .bind(generator.now)
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
                let record = generator_row(&row).map_err(fail)?;
                Self::insert_credential(&mut tx, &credential, generator.now)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                Ok(record)
            }

            async fn list_generators(&self) -> Result<Vec<Generator>, StoreError> {
                let fail = |e| store_error(e, "generator");
                let rows = sqlx::query(&format!(
                    "SELECT {GENERATOR_COLUMNS} FROM generators WHERE deleted_at IS NULL \
                     ORDER BY created_at, id"
                ))
                .fetch_all(&self.pool)
                .await
                .map_err(fail)?;
                rows.iter()
                    .map(|row| generator_row(row).map_err(fail))
                    .collect()
            }

            async fn get_generator(&self, id: Uuid) -> Result<Option<Generator>, StoreError> {
                self.live_by_id(
                    "generators",
                    GENERATOR_COLUMNS,
                    id,
                    generator_row,
                    "generator",
                )
                .await
            }

            async fn update_generator(
                &self,
                id: Uuid,
                change: Rename,
                now: DateTime<Utc>,
            ) -> Result<Generator, StoreError> {
                self.rename(
                    "generators",
                    GENERATOR_COLUMNS,
                    id,
                    change,
                    now,
                    generator_row,
                    "generator",
                )
                .await
            }

            async fn delete_generator(
                &self,
                id: Uuid,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let fail = |e| store_error(e, "generator");
                let mut tx = self.begin_write().await.map_err(fail)?;
                let deleted = sqlx::query(
                    "UPDATE generators SET deleted_at = $2 WHERE id = $1 AND deleted_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
                if deleted.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                sqlx::query("DELETE FROM credentials WHERE principal_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(fail)?;
                Self::announce(&mut tx, id).await.map_err(fail)?;
                tx.commit().await.map_err(fail)
            }

            async fn create_stack(
                &self,
                stack: NewStack,
                first_object: Option<NewDeploymentObject>,
            ) -> Result<(Stack, Option<DeploymentObject>), StoreError> {
                let fail = |e| store_error(e, "stack");
                let mut tx = self.begin_write().await.map_err(fail)?;
                let row = sqlx::query(&format!(
                    "INSERT INTO stacks ({STACK_COLUMNS}, last_sequence_id) \
                     VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING {STACK_COLUMNS}"
                ))
                .bind(stack.id)
                .bind(stack.owner.generator_id())
                .bind(&stack.name)
                .bind(&stack.description)
                .bind(stack.now)
                .bind(i64::from(first_object.is_some()))
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
                let record = stack_row(&row).map_err(fail)?;
                let object = match first_object {
                    Some(object) => Some(
                        Self::insert_object(&mut tx, record.id, 1, object)
                            .await
                            .map_err(fail)?,
                    ),
                    None => None,
                };
                tx.commit().await.map_err(fail)?;
                Ok((record, object))
            }

            async fn list_stacks(&self, listing: Listing) -> Result<Vec<Stack>, StoreError> {
                let fail = |e| store_error(e, "stack");
                let (filter, owner, binds) = listing_filter(listing);
                let sql = format!(
                    "SELECT {STACK_COLUMNS} FROM stacks WHERE {filter} ORDER BY created_at, id"
                );
                let mut query = sqlx::query(&sql);
                if binds {
                    query = query.bind(owner);
                }
                let rows = query.fetch_all(&self.pool).await.map_err(fail)?;
                rows.iter()
                    .map(|row| stack_row(row).map_err(fail))
                    .collect()
            }

            async fn get_stack(&self, id: Uuid) -> Result<Option<Stack>, StoreError> {
                self.live_by_id("stacks", STACK_COLUMNS, id, stack_row, "stack")
                    .await
            }

            async fn update_stack(
                &self,
                id: Uuid,
                change: Rename,
                now: DateTime<Utc>,
            ) -> Result<Stack, StoreError> {
                self.rename("stacks", STACK_COLUMNS, id, change, now, stack_row, "stack")
                    .await
            }

            async fn delete_stack(&self, id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
                self.soft_delete("stacks", id, now, "stack").await
            }

            async fn append_deployment_object(
                &self,
                stack_id: Uuid,
                object: NewDeploymentObject,
            ) -> Result<DeploymentObject, StoreError> {
                let fail = |e| store_error(e, "deployment object");
                let mut tx = self.begin_write().await.map_err(fail)?;
                // The stack row is the counter: bumping it locks it until commit, so
                // concurrent appends take strictly increasing numbers.
                let sequence_id: Option<i64> = sqlx::query_scalar(
                    "UPDATE stacks SET last_sequence_id = last_sequence_id + 1 \
                     WHERE id = $1 AND deleted_at IS NULL RETURNING last_sequence_id",
                )
                .bind(stack_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(fail)?;
                let sequence_id = sequence_id.ok_or(StoreError::NotFound)?;
                let object = Self::insert_object(&mut tx, stack_id, sequence_id, object)
                    .await
                    .map_err(fail)?;
                tx.commit().await.map_err(fail)?;
                Ok(object)
            }

            async fn list_deployment_objects(
                &self,
                stack_id: Uuid,
            ) -> Result<Vec<DeploymentObject>, StoreError> {
                let fail = |e| store_error(e, "deployment object");
                let rows = sqlx::query(&format!(
                    "SELECT {OBJECT_COLUMNS} FROM deployment_objects WHERE stack_id = $1 \
                     ORDER BY sequence_id DESC"
                ))
                .bind(stack_id)
                .fetch_all(&self.pool)
                .await
                .map_err(fail)?;
                rows.iter()
                    .map(|row| object_row(row).map_err(fail))
                    .collect()
            }

            async fn get_deployment_object(
                &self,
                id: Uuid,
            ) -> Result<Option<DeploymentObject>, StoreError> {
                let fail = |e| store_error(e, "deployment object");
                let row = sqlx::query(&format!(
                    "SELECT {OBJECT_COLUMNS} FROM deployment_objects WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(fail)?;
                row.as_ref().map(object_row).transpose().map_err(fail)
            }

            async fn create_template(&self, template: NewTemplate) -> Result<Template, StoreError> {
                let fail = |e| store_error(e, "template version");
                let mut tx = self.begin_write().await.map_err(fail)?;
                // Uploads of one owner's name take turns, so each computes its version
                // after the previous one committed.
                if let Some(statement) = Self::SERIALIZE_NAME_SQL {
                    let owner = template.owner.generator_id().map(|id| id.to_string());
                    let key = format!("{}/{}", owner.unwrap_or_default(), template.name);
                    sqlx::query(statement)
                        .bind(key)
                        .execute(&mut *tx)
                        .await
                        .map_err(fail)?;
                }
                let row = sqlx::query(&format!(
                    "INSERT INTO templates ({TEMPLATE_COLUMNS}) \
                     SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4, $5, $6, $7, $7 \
                     FROM templates WHERE name = $3 \
                     AND (generator_id = $2 OR (generator_id IS NULL AND $8)) \
                     RETURNING {TEMPLATE_COLUMNS}"
                ))
                .bind(template.id)
                .bind(template.owner.generator_id())
                .bind(&template.name)
                .bind(&template.description)
                .bind(&template.template_yaml)
                .bind(template.schema_json.to_string())
                .bind(template.now)
                .bind(template.owner == Owner::Admin)
                .fetch_one(&mut *tx)
                .await
                .map_err(fail)?;
                let created = template_row(&row)?;
                tx.commit().await.map_err(fail)?;
                Ok(created)
            }

            async fn list_templates(&self, listing: Listing) -> Result<Vec<Template>, StoreError> {
                let (filter, owner, binds) = listing_filter(listing);
                let sql = format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE {filter} \
                     ORDER BY created_at, id"
                );
                let mut query = sqlx::query(&sql);
                if binds {
                    query = query.bind(owner);
                }
                let rows = query
                    .fetch_all(&self.pool)
                    .await
                    .map_err(|e| store_error(e, "template"))?;
                rows.iter().map(template_row).collect()
            }

            async fn get_template(&self, id: Uuid) -> Result<Option<Template>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates WHERE id = $1 AND deleted_at IS NULL"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(e, "template"))?;
                row.as_ref().map(template_row).transpose()
            }

            async fn find_template(
                &self,
                owner: Owner,
                name: &str,
            ) -> Result<Option<Template>, StoreError> {
                let row = sqlx::query(&format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates \
                     WHERE name = $1 AND deleted_at IS NULL \
                     AND (generator_id = $2 OR (generator_id IS NULL AND $3)) \
                     ORDER BY version DESC LIMIT 1"
                ))
                .bind(name)
                .bind(owner.generator_id())
                .bind(owner == Owner::Admin)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(e, "template"))?;
                row.as_ref().map(template_row).transpose()
            }

            async fn update_template(
                &self,
                id: Uuid,
                change: TemplateChange,
                now: DateTime<Utc>,
            ) -> Result<Template, StoreError> {
                let row = sqlx::query(&format!(
                    "UPDATE templates SET description = COALESCE($2, description), \
                     template_yaml = COALESCE($3, template_yaml), \
                     schema_json = COALESCE($4, schema_json), updated_at = $5 \
                     WHERE id = $1 AND deleted_at IS NULL RETURNING {TEMPLATE_COLUMNS}"
                ))
                .bind(id)
                .bind(change.description)
                .bind(change.template_yaml)
                .bind(change.schema_json.map(|schema| schema.to_string()))
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| store_error(e, "template"))?;
                template_row(&row.ok_or(StoreError::NotFound)?)
            }

            async fn delete_template(
                &self,
                id: Uuid,
                now: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                self.soft_delete("templates", id, now, "template").await
            }
        }
    };
}

pub(crate) use sql_store;
