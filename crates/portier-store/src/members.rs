//! Memberships and the roles they hold, and the grants an account derives from
//! them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use portier_core::audit::Actor;
use portier_core::ids::{AccountId, MembershipId, OrganizationId, RoleId};
use portier_core::members::Membership;
use portier_core::organizations::OrgPath;
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Grant, Principal};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx, in_tx, reader};

/// Adds `account` to `organization` with `roles`, active.
pub(crate) async fn insert(
    tx: &mut Tx,
    account_id: AccountId,
    organization_id: OrganizationId,
    roles: &[RoleId],
    invited_by: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<Membership> {
    let m = Membership {
        id: MembershipId::new(),
        account_id,
        organization_id,
        active: true,
        staff_code: None,
        description: None,
        job_title: None,
        labels: Vec::new(),
        invited_by,
        created_at: now,
    };
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO memberships (id, account_id, organization_id, active, labels, invited_by,
                created_at, updated_at)
             VALUES ($1, $2, $3, TRUE, $4, $5, $6, $6)",
        )
        .bind(m.id.0)
        .bind(account_id.0)
        .bind(organization_id.0)
        .bind(Json(&m.labels))
        .bind(invited_by.map(|a| a.0))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    for role in roles {
        in_tx!(tx, |c| {
            sqlx::query("INSERT INTO membership_roles (membership_id, role_id) VALUES ($1, $2)")
                .bind(m.id.0)
                .bind(role.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(m)
}

/// Everything an account holds: one grant per active membership (possibly
/// without permissions: a member sees their organization), none at all when
/// the account is disabled.
pub async fn principal_for_account(store: &Store, account_id: AccountId) -> Result<Principal> {
    let rows: Vec<(Uuid, String, Option<String>)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT o.id, o.path, rp.permission
             FROM memberships m
             JOIN accounts a ON a.id = m.account_id
             JOIN organizations o ON o.id = m.organization_id
             LEFT JOIN membership_roles mr ON mr.membership_id = m.id
             LEFT JOIN role_permissions rp ON rp.role_id = mr.role_id
             WHERE m.account_id = $1 AND m.active = TRUE AND a.disabled = FALSE",
        )
        .bind(account_id.0)
        .fetch_all(c)
        .await
    })?;
    let mut grants: BTreeMap<Uuid, Grant> = BTreeMap::new();
    for (org, path, permission) in rows {
        let grant = grants.entry(org).or_insert_with(|| Grant {
            organization_id: org.into(),
            path: OrgPath::from_stored(path),
            permissions: PermissionSet::new(),
        });
        if let Some(p) = permission {
            grant.permissions.insert(
                Permission::parse("permission", &p).map_err(|e| Error::Corrupt(e.message))?,
            );
        }
    }
    Ok(Principal {
        actor: Actor::Account { id: account_id },
        grants: grants.into_values().collect(),
    })
}
