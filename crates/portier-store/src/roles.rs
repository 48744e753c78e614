//! Roles and their permissions. The built-ins are written from
//! `portier_core::roles::builtins()` at every migration, so the code is the one
//! place that defines them.

use chrono::{DateTime, Utc};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, RoleId};
use portier_core::organizations::Organization;
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, OnMembers, Principal, Right, RolesManage};
use portier_core::roles::{
    LocalizedName, Role, RoleDefinition, RoleKey, RoleKind, RolePatchInput, builtins,
};
use portier_core::{Error as DomainError, FieldError};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Error, Result, Store, Tx, in_tx, organizations, reader};

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: Uuid,
    organization_id: Option<Uuid>,
    key: String,
    name_en: String,
    name_nl: String,
    kind: String,
    requires_registration: Option<String>,
    portfolio_types: Json<Vec<String>>,
    #[allow(dead_code)]
    created_at: DateTime<Utc>,
}

/// Every role in reach of an organization (the built-ins, and the roles
/// defined on it or one of its ancestors), one row per permission; `$1` is
/// the organization's path. Callers add the rest of the `WHERE` and an order.
macro_rules! roles_in_reach {
    ($rest:literal) => {
        concat!(
            "SELECT r.id, r.organization_id, r.key, r.name_en, r.name_nl, r.kind,
                    r.requires_registration, r.portfolio_types, r.created_at, rp.permission
             FROM roles r LEFT JOIN organizations o ON o.id = r.organization_id
             LEFT JOIN role_permissions rp ON rp.role_id = r.id
             WHERE (r.organization_id IS NULL OR substr($1, 1, length(o.path)) = o.path) ",
            $rest
        )
    };
}

#[derive(sqlx::FromRow)]
struct RolePermissionRow {
    #[sqlx(flatten)]
    role: RoleRow,
    permission: Option<String>,
}

/// Folds rows of one role per permission into roles, in the rows' order.
fn fold_roles(rows: Vec<RolePermissionRow>) -> Result<Vec<Role>> {
    let mut out: Vec<(RoleRow, Vec<String>)> = Vec::new();
    for row in rows {
        match out.last_mut() {
            Some((role, permissions)) if role.id == row.role.id => {
                permissions.extend(row.permission)
            }
            _ => out.push((row.role, row.permission.into_iter().collect())),
        }
    }
    out.into_iter().map(|(r, p)| role_from(r, p)).collect()
}

/// Reads the roles that can be granted in `org`, by key, in the order asked.
/// A key names one role in reach: a built-in, or the environment's one
/// custom role with that key. An unknown key is refused on its field
/// (`roles[2]`).
pub async fn resolve(tx: &mut Tx, org: &Organization, keys: &[RoleKey]) -> Result<Vec<Role>> {
    let mut out = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        // One statement per role, as adding members runs it.
        let rows: Vec<RolePermissionRow> = in_tx!(tx, |c| {
            sqlx::query_as(roles_in_reach!("AND r.key = $2 ORDER BY r.id"))
                .bind(org.path.as_str())
                .bind(key.as_str())
                .fetch_all(c)
                .await
        })?;
        let role = fold_roles(rows)?.into_iter().next().ok_or_else(|| {
            Error::from(FieldError::new(
                format!("roles[{i}]"),
                "role_unknown",
                format!("there is no role \"{}\" in this organization", key.as_str()),
            ))
        })?;
        out.push(role);
    }
    Ok(out)
}

/// The roles that can be granted in `org`: the built-ins first, then the
/// custom ones by key.
pub async fn list<R: Right>(store: &Store, auth: &Authorized<R>) -> Result<Vec<Role>> {
    list_in(store, auth.organization()).await
}

/// [`list`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn list_in(store: &Store, org: &Organization) -> Result<Vec<Role>> {
    let rows: Vec<RolePermissionRow> = reader!(store, |c| {
        sqlx::query_as(roles_in_reach!(
            "ORDER BY r.organization_id IS NOT NULL, r.key, r.id"
        ))
        .bind(org.path.as_str())
        .fetch_all(c)
        .await
    })?;
    fold_roles(rows)
}

/// One role in reach of `org`, by key.
pub async fn get<R: Right>(
    store: &Store,
    auth: &Authorized<R>,
    key: &RoleKey,
) -> Result<Option<Role>> {
    let org = auth.organization();
    let rows: Vec<RolePermissionRow> = reader!(store, |c| {
        sqlx::query_as(roles_in_reach!("AND r.key = $2 ORDER BY r.id"))
            .bind(org.path.as_str())
            .bind(key.as_str())
            .fetch_all(c)
            .await
    })?;
    Ok(fold_roles(rows)?.into_iter().next())
}

/// The roles a member holds directly in an organization, with their
/// permissions, as "Change role" shows them
/// (docs/RULES.md#roles-and-permissions).
pub async fn of_member(
    store: &Store,
    auth: &Authorized<impl OnMembers>,
    account: AccountId,
) -> Result<Vec<Role>> {
    let org = auth.organization_id();
    let rows: Vec<RolePermissionRow> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT r.id, r.organization_id, r.key, r.name_en, r.name_nl, r.kind,
                    r.requires_registration, r.portfolio_types, r.created_at, rp.permission
             FROM memberships m JOIN membership_roles mr ON mr.membership_id = m.id
             JOIN roles r ON r.id = mr.role_id
             LEFT JOIN role_permissions rp ON rp.role_id = r.id
             WHERE m.organization_id = $1 AND m.account_id = $2
             ORDER BY r.key, r.id",
        )
        .bind(org.0)
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    fold_roles(rows)
}

/// Defines a custom role on the organization the proof is for; it can be
/// granted there and in every organization below.
pub async fn create(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<RolesManage>,
    def: RoleDefinition,
    origin: &Origin,
) -> Result<Role> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    caller.may_define(def.kind, &def.permissions, &org.path)?;
    let key = def.key.as_str().to_owned();
    let taken = move || {
        Error::from(DomainError::Conflict {
            code: "role_key_taken",
            field: Some("key".into()),
            message: format!("this environment already has a role \"{key}\"; choose another key"),
        })
    };
    if portier_core::roles::is_builtin_key(&def.key) {
        return Err(taken());
    }
    let role = Role {
        id: RoleId::new(),
        organization_id: Some(org.id),
        key: def.key,
        name: def.name,
        kind: def.kind,
        permissions: def.permissions,
        requires_registration: def.requires_registration.map(|r| r.as_str().to_owned()),
        portfolio_types: def.portfolio_types,
    };
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO roles (id, organization_id, environment_id, key, name_en, name_nl, kind,
                requires_registration, portfolio_types, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(role.id.0)
        .bind(org.id.0)
        .bind(org.environment_id.0)
        .bind(role.key.as_str())
        .bind(&role.name.en)
        .bind(&role.name.nl)
        .bind(role.kind.as_str())
        .bind(&role.requires_registration)
        .bind(Json(&role.portfolio_types))
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| Error::from(e).unique_as(taken))?;
    insert_permissions(&mut tx, &role).await?;
    audit::record(
        &mut tx,
        org.environment_id,
        role_event(
            auth.actor(),
            "role.created",
            &org,
            &role,
            described(&role),
            origin,
        ),
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(role)
}

/// How a role reads in the audit trail.
fn described(role: &Role) -> serde_json::Value {
    serde_json::json!({
        "key": role.key.as_str(),
        "name": role.name,
        "kind": role.kind.as_str(),
        "permissions": role.permissions,
        "requires_registration": role.requires_registration,
        "portfolio_types": role.portfolio_types,
    })
}

fn role_event(
    actor: &Actor,
    action: &'static str,
    org: &Organization,
    role: &Role,
    changes: serde_json::Value,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.clone(),
        action,
        organization_id: Some(org.id),
        target_type: "role",
        target_id: role.key.as_str().to_owned(),
        changes,
        client_addr: origin.client_addr.clone(),
    }
}

/// The custom role `key` as defined on `org` itself, locked for a change. A
/// built-in, or a role defined on an ancestor, is a conflict that says where
/// it can be changed instead.
async fn defined_on(tx: &mut Tx, org: &Organization, key: &RoleKey) -> Result<Role> {
    let rows: Vec<RolePermissionRow> = in_tx!(tx, |c| {
        sqlx::query_as(roles_in_reach!("AND r.key = $2 ORDER BY r.id"))
            .bind(org.path.as_str())
            .bind(key.as_str())
            .fetch_all(c)
            .await
    })?;
    let role = fold_roles(rows)?
        .into_iter()
        .next()
        .ok_or(DomainError::NotFound { what: "role" })?;
    match role.organization_id {
        None => Err(DomainError::Conflict {
            code: "builtin_role",
            field: None,
            message: format!(
                "\"{}\" is a built-in role; it cannot be changed or deleted (define a role of your own instead)",
                key.as_str()
            ),
        }
        .into()),
        // Not naming it: the caller may have no right to know its name.
        Some(id) if id != org.id => Err(DomainError::Conflict {
            code: "role_defined_elsewhere",
            field: None,
            message: format!(
                "\"{}\" is defined by an organization above this one; change it there",
                key.as_str()
            ),
        }
        .into()),
        Some(_) => Ok(role),
    }
}

/// Changes a custom role of the organization the proof is for. Everyone
/// holding it holds the new permissions from the commit on.
pub async fn update(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<RolesManage>,
    key: &RoleKey,
    patch: RolePatchInput,
    origin: &Origin,
) -> Result<Role> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let before = defined_on(&mut tx, &org, key).await?;
    let after = patch.apply(&before)?;
    caller.may_define(after.kind, &after.permissions, &org.path)?;
    if after == before {
        return Ok(before);
    }
    let manage = &portier_core::permissions::ADMINS_MANAGE;
    if before.grants(manage) && !after.grants(manage) {
        ensure_administrators_remain_without(&mut tx, &org, &before).await?;
    }
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE roles SET name_en = $1, name_nl = $2, requires_registration = $3,
                portfolio_types = $4, updated_at = $5 WHERE id = $6",
        )
        .bind(&after.name.en)
        .bind(&after.name.nl)
        .bind(&after.requires_registration)
        .bind(Json(&after.portfolio_types))
        .bind(origin.now)
        .bind(after.id.0)
        .execute(&mut *c)
        .await?;
        sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
            .bind(after.id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    insert_permissions(&mut tx, &after).await?;
    let mut changes = serde_json::Map::new();
    portier_core::organizations::diff("", &described(&before), &described(&after), &mut changes);
    let changes = serde_json::Value::Object(changes);
    audit::record(
        &mut tx,
        org.environment_id,
        role_event(auth.actor(), "role.updated", &org, &after, changes, origin),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await?;
    Ok(after)
}

/// Taking `admins.manage` out of a role must leave the environment someone
/// who holds it another way (an activated member at the environment
/// itself), or nobody could manage administrators again.
async fn ensure_administrators_remain_without(
    tx: &mut Tx,
    org: &Organization,
    role: &Role,
) -> Result<()> {
    let (holders, others): (i64, i64) = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM memberships m JOIN membership_roles mr ON mr.membership_id = m.id
                     WHERE m.organization_id = $1 AND mr.role_id = $2),
                    (SELECT COUNT(DISTINCT m.id) FROM memberships m
                     JOIN accounts a ON a.id = m.account_id
                     JOIN membership_roles mr ON mr.membership_id = m.id
                     JOIN role_permissions rp ON rp.role_id = mr.role_id
                     WHERE m.organization_id = $1 AND mr.role_id <> $2 AND m.active = TRUE
                       AND a.status = 'active' AND a.disabled = FALSE AND rp.permission = $3)",
        )
        .bind(org.environment_id.0)
        .bind(role.id.0)
        .bind(portier_core::permissions::ADMINS_MANAGE.as_str())
        .fetch_one(c)
        .await
    })?;
    if holders > 0 && others == 0 {
        return Err(DomainError::Conflict {
            code: "last_administrator",
            field: Some("permissions".into()),
            message: format!(
                "without admins.manage in \"{}\" nobody could manage the environment's administrators: first give someone else an administrator role, and let them activate their account",
                role.key.as_str()
            ),
        }
        .into());
    }
    Ok(())
}

/// Deletes a custom role nobody holds; one in use is a conflict that says where
/// (which members and groups hold it), so nobody loses rights unawares. An
/// administrator role needs `admins.manage` to delete, as to define.
pub async fn delete(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<RolesManage>,
    key: &RoleKey,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let role = defined_on(&mut tx, &org, key).await?;
    caller.may_define(role.kind, &role.permissions, &org.path)?;
    let holders: Vec<(String, i64)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT o.name, COUNT(*) FROM membership_roles mr
             JOIN memberships m ON m.id = mr.membership_id
             JOIN organizations o ON o.id = m.organization_id
             WHERE mr.role_id = $1 GROUP BY o.name ORDER BY o.name",
        )
        .bind(role.id.0)
        .fetch_all(c)
        .await
    })?;
    let groups: Vec<(String, String)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT g.name, o.name FROM group_roles gr JOIN groups g ON g.id = gr.group_id
             JOIN organizations o ON o.id = g.organization_id
             WHERE gr.role_id = $1 ORDER BY o.name, g.name",
        )
        .bind(role.id.0)
        .fetch_all(c)
        .await
    })?;
    if !holders.is_empty() || !groups.is_empty() {
        let mut places: Vec<String> = holders
            .iter()
            .map(|(org, n)| format!("{n} member{} of {org}", if *n == 1 { "" } else { "s" }))
            .collect();
        places.extend(
            groups
                .iter()
                .map(|(g, org)| format!("the group {g} of {org}")),
        );
        return Err(DomainError::Conflict {
            code: "role_in_use",
            field: None,
            message: format!(
                "\"{}\" is still held by {}; give them another role first",
                key.as_str(),
                places.join(", ")
            ),
        }
        .into());
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM roles WHERE id = $1")
            .bind(role.id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })
    .map_err(|e| {
        let e = Error::from(e);
        if e.is_foreign_key_violation() {
            // Given to someone while this was being deleted.
            DomainError::Conflict {
                code: "role_in_use",
                field: None,
                message: format!(
                    "\"{}\" was just given to someone; give them another role first",
                    key.as_str()
                ),
            }
            .into()
        } else {
            e
        }
    })?;
    audit::record(
        &mut tx,
        org.environment_id,
        role_event(
            auth.actor(),
            "role.deleted",
            &org,
            &role,
            described(&role),
            origin,
        ),
        origin.now,
    )
    .await?;
    tx.commit().await
}

fn role_from(r: RoleRow, permissions: Vec<String>) -> Result<Role> {
    let corrupt = |e: FieldError| Error::Corrupt(e.message);
    Ok(Role {
        id: r.id.into(),
        organization_id: r.organization_id.map(Into::into),
        key: RoleKey::parse("key", &r.key).map_err(corrupt)?,
        name: LocalizedName {
            en: r.name_en,
            nl: r.name_nl,
        },
        kind: RoleKind::parse("kind", &r.kind).map_err(corrupt)?,
        permissions: permissions
            .iter()
            .map(|p| Permission::parse("permission", p))
            .collect::<Result<PermissionSet, _>>()
            .map_err(corrupt)?,
        requires_registration: r.requires_registration,
        portfolio_types: r.portfolio_types.0,
    })
}

/// Makes the stored built-in roles match their definition in `portier-core`.
/// The role row's upsert locks it, so nodes starting together take turns.
pub(crate) async fn sync_builtins(tx: &mut Tx) -> Result<()> {
    let now = Utc::now();
    for role in builtins() {
        in_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO roles (id, organization_id, key, name_en, name_nl, kind,
                    requires_registration, portfolio_types, created_at, updated_at)
                 VALUES ($1, NULL, $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (id) DO UPDATE SET key = excluded.key, name_en = excluded.name_en,
                    name_nl = excluded.name_nl, kind = excluded.kind,
                    requires_registration = excluded.requires_registration,
                    portfolio_types = excluded.portfolio_types",
            )
            .bind(role.id.0)
            .bind(role.key.as_str())
            .bind(&role.name.en)
            .bind(&role.name.nl)
            .bind(role.kind.as_str())
            .bind(&role.requires_registration)
            .bind(Json(&role.portfolio_types))
            .bind(now)
            .execute(&mut *c)
            .await?;
            sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
                .bind(role.id.0)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected())
        })?;
        insert_permissions(tx, &role).await?;
    }
    Ok(())
}

async fn insert_permissions(tx: &mut Tx, role: &Role) -> Result<()> {
    for p in &role.permissions {
        in_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO role_permissions (role_id, permission) VALUES ($1, $2)
                 ON CONFLICT (role_id, permission) DO NOTHING",
            )
            .bind(role.id.0)
            .bind(p.as_str())
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// The id of a built-in role by its key.
pub fn builtin_id(key: &str) -> Option<RoleId> {
    builtins()
        .into_iter()
        .find(|r| r.key.as_str() == key)
        .map(|r| r.id)
}
