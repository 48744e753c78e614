//! Roles and their permissions. The built-ins are written from
//! `portier_core::roles::builtins()` at every migration, so the code is the one
//! place that defines them.

use chrono::{DateTime, Utc};
use portier_core::FieldError;
use portier_core::ids::RoleId;
use portier_core::organizations::Organization;
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::roles::{LocalizedName, Role, RoleKey, RoleKind, builtins};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Error, Result, Tx, in_tx};

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

/// Reads the roles that can be granted in `org`, by key, in the order asked:
/// the built-ins and the roles defined on `org` or one of its ancestors (the
/// nearest definition wins). An unknown key is refused on its field
/// (`roles[2]`).
pub async fn resolve(tx: &mut Tx, org: &Organization, keys: &[RoleKey]) -> Result<Vec<Role>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        role: RoleRow,
        permission: Option<String>,
    }
    let mut out = Vec::with_capacity(keys.len());
    for (i, key) in keys.iter().enumerate() {
        // Every definition in reach with its permissions, one row per
        // permission: one statement per role, as adding members runs it.
        let rows: Vec<Row> = in_tx!(tx, |c| {
            sqlx::query_as(
                "SELECT r.id, r.organization_id, r.key, r.name_en, r.name_nl, r.kind,
                        r.requires_registration, r.portfolio_types, r.created_at, rp.permission
                 FROM roles r LEFT JOIN organizations o ON o.id = r.organization_id
                 LEFT JOIN role_permissions rp ON rp.role_id = r.id
                 WHERE r.key = $1 AND (r.organization_id IS NULL OR substr($2, 1, length(o.path)) = o.path)",
            )
            .bind(key.as_str())
            .bind(org.path.as_str())
            .fetch_all(c)
            .await
        })?;
        // The nearest definition: a role of the organization itself beats its
        // parent's (its id stands later in the path), which beats a built-in.
        let depth = |r: &RoleRow| match r.organization_id {
            None => 0,
            Some(id) => org
                .path
                .as_str()
                .find(&id.to_string())
                .map(|i| i + 1)
                .unwrap_or(0),
        };
        let Some(nearest) = rows
            .iter()
            .map(|r| &r.role)
            .max_by_key(|r| depth(r))
            .map(|r| r.id)
        else {
            return Err(FieldError::new(
                format!("roles[{i}]"),
                "role_unknown",
                format!("there is no role \"{}\" in this organization", key.as_str()),
            )
            .into());
        };
        let mut permissions = Vec::new();
        let mut role = None;
        for row in rows.into_iter().filter(|r| r.role.id == nearest) {
            permissions.extend(row.permission);
            role.get_or_insert(row.role);
        }
        let role = role.ok_or_else(|| Error::Corrupt("a role row vanished".into()))?;
        out.push(role_from(role, permissions)?);
    }
    Ok(out)
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
