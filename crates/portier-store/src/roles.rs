//! Roles and their permissions. The built-ins are written from
//! `portier_core::roles::builtins()` at every migration, so the code is the one
//! place that defines them.

use chrono::Utc;
use portier_core::ids::RoleId;
use portier_core::roles::{Role, builtins};
use sqlx::types::Json;

use crate::{Result, Tx, in_tx};

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
