//! Resources of an organization and the relations members and groups are
//! granted on them (docs/RULES.md#resources). Every change is one
//! transaction with its audit event and tells the caches of rights.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, GroupId, OrganizationId, ResourceGrantId, ResourceId};
use portier_core::organizations::Organization;
use portier_core::resources::NewResource;
use portier_core::rights::{Authorized, ResourcesManage, Right};
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Error, Result, Store, Tx, in_tx, organizations, reader};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    pub id: ResourceId,
    pub organization_id: OrganizationId,
    pub kind: String,
    pub key: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Who holds a relation on a resource: a member, or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    Account(AccountId),
    Group(GroupId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceGrant {
    pub id: ResourceGrantId,
    pub relation: String,
    pub holder: Holder,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct ResourceRow {
    id: Uuid,
    organization_id: Uuid,
    r#type: String,
    key: String,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<ResourceRow> for Resource {
    fn from(r: ResourceRow) -> Self {
        Resource {
            id: r.id.into(),
            organization_id: r.organization_id.into(),
            kind: r.r#type,
            key: r.key,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

const SELECT: &str = "SELECT id, organization_id, type, key, name, created_at FROM resources ";

/// The organization's resources by type and name.
pub async fn list<R: Right>(store: &Store, auth: &Authorized<R>) -> Result<Vec<Resource>> {
    let org = auth.organization_id();
    let rows: Vec<ResourceRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE organization_id = $1 ORDER BY type, name, key"
        )))
        .bind(org.0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// One resource of the organization with its grants.
pub async fn get<R: Right>(
    store: &Store,
    auth: &Authorized<R>,
    kind: &str,
    key: &str,
) -> Result<Option<(Resource, Vec<ResourceGrant>)>> {
    let org = auth.organization_id();
    let row: Option<ResourceRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE organization_id = $1 AND type = $2 AND key = $3"
        )))
        .bind(org.0)
        .bind(kind)
        .bind(key)
        .fetch_optional(c)
        .await
    })?;
    let Some(resource) = row.map(Resource::from) else {
        return Ok(None);
    };
    /// A grant's row: its id, relation, the member's account or the group, when.
    type GrantRow = (Uuid, String, Option<Uuid>, Option<Uuid>, DateTime<Utc>);
    let grants: Vec<GrantRow> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT g.id, g.relation, m.account_id, g.group_id, g.created_at
             FROM resource_grants g LEFT JOIN memberships m ON m.id = g.membership_id
             WHERE g.resource_id = $1 ORDER BY g.relation, g.created_at, g.id",
        )
        .bind(resource.id.0)
        .fetch_all(c)
        .await
    })?;
    let grants = grants
        .into_iter()
        .filter_map(|(id, relation, account, group, created_at)| {
            let holder = match (account, group) {
                (Some(a), _) => Holder::Account(a.into()),
                (None, Some(g)) => Holder::Group(g.into()),
                (None, None) => return None,
            };
            Some(ResourceGrant {
                id: id.into(),
                relation,
                holder,
                created_at,
            })
        })
        .collect();
    Ok(Some((resource, grants)))
}

async fn get_tx(tx: &mut Tx, org: OrganizationId, kind: &str, key: &str) -> Result<Resource> {
    let row: Option<ResourceRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE organization_id = $1 AND type = $2 AND key = $3"
        )))
        .bind(org.0)
        .bind(kind)
        .bind(key)
        .fetch_optional(c)
        .await
    })?;
    row.map(Resource::from)
        .ok_or_else(|| DomainError::NotFound { what: "resource" }.into())
}

fn event(
    actor: &Actor,
    action: &'static str,
    org: &Organization,
    resource: &Resource,
    changes: serde_json::Value,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.clone(),
        action,
        organization_id: Some(org.id),
        target_type: "resource",
        target_id: format!("{}/{}", resource.kind, resource.key),
        changes,
        client_addr: origin.client_addr.clone(),
    }
}

/// Registers a resource of the organization the proof is for; its type and
/// id are unique there (409).
pub async fn create(
    store: &Store,
    auth: &Authorized<ResourcesManage>,
    new: NewResource,
    origin: &Origin,
) -> Result<Resource> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let resource = Resource {
        id: ResourceId::new(),
        organization_id: org.id,
        kind: new.kind,
        key: new.key,
        name: new.name,
        created_at: origin.now,
    };
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO resources (id, organization_id, type, key, name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(resource.id.0)
        .bind(org.id.0)
        .bind(&resource.kind)
        .bind(&resource.key)
        .bind(&resource.name)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| {
        Error::from(e).unique_as(|| {
            DomainError::Conflict {
                code: "resource_taken",
                field: Some("id".into()),
                message: format!(
                    "this organization already has a {} with the id {}",
                    resource.kind, resource.key
                ),
            }
            .into()
        })
    })?;
    let changes =
        serde_json::json!({"type": resource.kind, "id": resource.key, "name": resource.name});
    audit::record(
        &mut tx,
        org.environment_id,
        event(
            auth.actor(),
            "resource.created",
            &org,
            &resource,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(resource)
}

/// Removes a resource and every grant on it.
pub async fn delete(
    store: &Store,
    auth: &Authorized<ResourcesManage>,
    kind: &str,
    key: &str,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let resource = get_tx(&mut tx, org.id, kind, key).await?;
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM resources WHERE id = $1")
            .bind(resource.id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let changes =
        serde_json::json!({"type": resource.kind, "id": resource.key, "name": resource.name});
    audit::record(
        &mut tx,
        org.environment_id,
        event(
            auth.actor(),
            "resource.deleted",
            &org,
            &resource,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await
}

/// Grants a member of the organization, or one of its groups, a relation on
/// one of its resources. Granting it again changes nothing.
pub async fn grant(
    store: &Store,
    auth: &Authorized<ResourcesManage>,
    kind: &str,
    key: &str,
    relation: &str,
    holder: &Holder,
    origin: &Origin,
) -> Result<ResourceGrant> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let resource = get_tx(&mut tx, org.id, kind, key).await?;
    let (membership, group) = match holder {
        Holder::Account(account) => {
            let m: Option<Uuid> = in_tx!(&mut tx, |c| {
                sqlx::query_scalar(
                    "SELECT id FROM memberships WHERE organization_id = $1 AND account_id = $2",
                )
                .bind(org.id.0)
                .bind(account.0)
                .fetch_optional(c)
                .await
            })?;
            let m = m.ok_or_else(|| {
                portier_core::FieldError::new(
                    "account_id",
                    "not_a_member",
                    "only members of this organization can be granted its resources",
                )
            })?;
            // docs/RULES.md#administrators
            auth.over_member(&crate::members::seats_of(&mut tx, *account).await?)?;
            (Some(m), None)
        }
        Holder::Group(group) => {
            let g: Option<Uuid> = in_tx!(&mut tx, |c| {
                sqlx::query_scalar("SELECT id FROM groups WHERE organization_id = $1 AND id = $2")
                    .bind(org.id.0)
                    .bind(group.0)
                    .fetch_optional(c)
                    .await
            })?;
            let g = g.ok_or_else(|| {
                portier_core::FieldError::new(
                    "group_id",
                    "group_unknown",
                    "there is no such group in this organization",
                )
            })?;
            (None, Some(g))
        }
    };
    let id = ResourceGrantId::new();
    // A grant made again, also by someone else at the same moment, is the
    // one already there.
    let inserted = in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO resource_grants (id, resource_id, relation, membership_id, group_id, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(resource.id.0)
        .bind(relation)
        .bind(membership)
        .bind(group)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| {
        let e = Error::from(e);
        if e.is_foreign_key_violation() {
            // Removed meanwhile.
            DomainError::NotFound { what: "member" }.into()
        } else {
            e
        }
    })?;
    if inserted == 0 {
        let (id, created_at): (Uuid, DateTime<Utc>) = in_tx!(&mut tx, |c| {
            sqlx::query_as(
                "SELECT id, created_at FROM resource_grants
                 WHERE resource_id = $1 AND relation = $2
                   AND (membership_id = $3 OR group_id = $4)",
            )
            .bind(resource.id.0)
            .bind(relation)
            .bind(membership)
            .bind(group)
            .fetch_one(c)
            .await
        })?;
        return Ok(ResourceGrant {
            id: id.into(),
            relation: relation.to_owned(),
            holder: holder.clone(),
            created_at,
        });
    }
    let changes = serde_json::json!({"relation": relation, "holder": holder_json(holder)});
    audit::record(
        &mut tx,
        org.environment_id,
        event(
            auth.actor(),
            "resource.granted",
            &org,
            &resource,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await?;
    Ok(ResourceGrant {
        id,
        relation: relation.to_owned(),
        holder: holder.clone(),
        created_at: origin.now,
    })
}

fn holder_json(holder: &Holder) -> serde_json::Value {
    match holder {
        Holder::Account(a) => serde_json::json!({"account_id": a}),
        Holder::Group(g) => serde_json::json!({"group_id": g}),
    }
}

/// Takes a grant away.
pub async fn revoke(
    store: &Store,
    auth: &Authorized<ResourcesManage>,
    kind: &str,
    key: &str,
    grant: ResourceGrantId,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let resource = get_tx(&mut tx, org.id, kind, key).await?;
    let row: Option<(String, Option<Uuid>, Option<Uuid>)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT g.relation, m.account_id, g.group_id FROM resource_grants g
             LEFT JOIN memberships m ON m.id = g.membership_id
             WHERE g.id = $1 AND g.resource_id = $2",
        )
        .bind(grant.0)
        .bind(resource.id.0)
        .fetch_optional(c)
        .await
    })?;
    let (relation, account, group) = row.ok_or(DomainError::NotFound { what: "grant" })?;
    if let Some(account) = account {
        // docs/RULES.md#administrators
        auth.over_member(&crate::members::seats_of(&mut tx, account.into()).await?)?;
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM resource_grants WHERE id = $1")
            .bind(grant.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let changes =
        serde_json::json!({"relation": relation, "account_id": account, "group_id": group});
    audit::record(
        &mut tx,
        org.environment_id,
        event(
            auth.actor(),
            "resource.revoked",
            &org,
            &resource,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await
}
