//! API tokens: bearer credentials scoped to one organization (and so its
//! descendants) with a fixed set of permissions. Shown once; only the SHA-256
//! hash is stored.

use chrono::{DateTime, Utc};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, ApiTokenId};
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, Grant, Principal, TokensManage};
use portier_core::tokens::{API_TOKEN_PREFIX, SecretToken};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Result, Store, Tx, in_tx, reader};

pub struct CreatedApiToken {
    pub id: ApiTokenId,
    /// The only time the secret exists outside the client.
    pub secret: SecretToken,
}

pub(crate) async fn create(
    tx: &mut Tx,
    organization: &Organization,
    account_id: Option<AccountId>,
    name: &str,
    permissions: &PermissionSet,
    actor: Actor,
    origin: &Origin,
) -> Result<CreatedApiToken> {
    let id = ApiTokenId::new();
    let secret = SecretToken::from_random(rand::random(), API_TOKEN_PREFIX);
    let permission_names: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO api_tokens (id, organization_id, account_id, name, token_hash, permissions, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id.0)
        .bind(organization.id.0)
        .bind(account_id.map(|a| a.0))
        .bind(name)
        .bind(secret.hash())
        .bind(Json(&permission_names))
        .bind(origin.now)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    let event = NewAuditEvent {
        actor,
        action: "api_token.created",
        organization_id: Some(organization.id),
        target_type: "api_token",
        target_id: id.to_string(),
        // The hash stays out of the trail too: the trail is readable by auditors.
        changes: serde_json::json!({"name": name, "permissions": permission_names, "account_id": account_id}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(tx, organization.environment_id, event, origin.now).await?;
    Ok(CreatedApiToken { id, secret })
}

/// Issues a token on the organization the proof is for, carrying at most the
/// permissions the issuer holds there.
pub async fn issue(
    store: &Store,
    issuer: &Principal,
    auth: &Authorized<TokensManage>,
    name: &str,
    permissions: &PermissionSet,
    origin: &Origin,
) -> Result<CreatedApiToken> {
    let name = portier_core::accounts::profile_text("name", Some(name), 100)?.ok_or_else(|| {
        portier_core::FieldError::new("name", "required", "give the token a name")
    })?;
    let mut tx = store.begin().await?;
    let org = crate::organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    issuer.may_delegate(permissions, &org.path, "permissions")?;
    let created = create(
        &mut tx,
        &org,
        auth.actor().account_id(),
        &name,
        permissions,
        auth.actor().clone(),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    account_id: Option<Uuid>,
    permissions: Json<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    organization_id: Uuid,
    path: String,
}

/// The stored form of a presented token (its SHA-256), for caches.
pub fn hash_of(presented: &str) -> String {
    SecretToken::presented(presented).hash()
}

/// A token that may be used now.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub id: ApiTokenId,
    pub principal: Principal,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The principal a presented bearer token stands for, or `None` when it is
/// unknown, revoked or expired (the caller answers 401 alike for all three).
pub async fn authenticate(
    store: &Store,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<Option<Authenticated>> {
    if !presented.starts_with(API_TOKEN_PREFIX) || presented.len() > 128 {
        return Ok(None);
    }
    let hash = hash_of(presented);
    let row: Option<TokenRow> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT t.id, t.account_id, t.permissions, t.expires_at, t.revoked_at,
                    o.id AS organization_id, o.path
             FROM api_tokens t JOIN organizations o ON o.id = t.organization_id
             WHERE t.token_hash = $1",
        )
        .bind(&hash)
        .fetch_optional(c)
        .await
    })?;
    let Some(row) = row else { return Ok(None) };
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    // Names that no longer parse are dropped rather than trusted.
    let permissions: PermissionSet = row
        .permissions
        .0
        .iter()
        .filter_map(|p| Permission::parse("permission", p).ok())
        .collect();
    Ok(Some(Authenticated {
        id: row.id.into(),
        expires_at: row.expires_at,
        principal: Principal {
            actor: Actor::ApiToken {
                id: row.id.into(),
                account_id: row.account_id.map(Into::into),
            },
            grants: vec![Grant {
                organization_id: row.organization_id.into(),
                path: OrgPath::from_stored(row.path),
                permissions,
            }],
        },
    }))
}

/// Records that a token was used (at most once a minute, by the caller): a
/// lost write costs only the precision of "last used".
pub async fn touch(store: &Store, id: ApiTokenId, now: DateTime<Utc>) -> Result<()> {
    crate::relaxed!(store, |c| {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}
