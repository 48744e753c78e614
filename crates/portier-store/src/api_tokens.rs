//! API tokens: bearer credentials scoped to one organization (and so its
//! descendants) with a fixed set of permissions. Shown once; only the SHA-256
//! hash is stored.

use chrono::{DateTime, Utc};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, ApiTokenId};
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, Grant, Principal, TokensManage};
use portier_core::secrets::{API_TOKEN_PREFIX, SecretToken};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Result, Store, Tx, in_tx, reader};

pub struct CreatedApiToken {
    pub id: ApiTokenId,
    /// The only time the secret exists outside the client.
    pub secret: SecretToken,
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn create(
    tx: &mut Tx,
    organization: &Organization,
    account_id: Option<AccountId>,
    name: &str,
    permissions: &PermissionSet,
    expires_at: Option<DateTime<Utc>>,
    actor: Actor,
    origin: &Origin,
) -> Result<CreatedApiToken> {
    let id = ApiTokenId::new();
    let secret = SecretToken::from_random(rand::random(), API_TOKEN_PREFIX);
    let permission_names: Vec<&str> = permissions.iter().map(Permission::as_str).collect();
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO api_tokens (id, organization_id, account_id, name, token_hash, permissions, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id.0)
        .bind(organization.id.0)
        .bind(account_id.map(|a| a.0))
        .bind(name)
        .bind(secret.hash())
        .bind(Json(&permission_names))
        .bind(origin.now)
        .bind(expires_at)
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
        changes: serde_json::json!({"name": name, "permissions": permission_names, "account_id": account_id, "expires_at": expires_at}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(tx, organization.environment_id, event, origin.now).await?;
    Ok(CreatedApiToken { id, secret })
}

/// Issues a token on the organization the proof is for, carrying at most the
/// permissions the issuer holds there, working until `expires_at` (which
/// must lie ahead) or until revoked.
pub async fn issue(
    store: &Store,
    issuer: &Principal,
    auth: &Authorized<TokensManage>,
    name: &str,
    permissions: &PermissionSet,
    expires_at: Option<DateTime<Utc>>,
    origin: &Origin,
) -> Result<CreatedApiToken> {
    let name = portier_core::accounts::profile_text("name", Some(name), 100)?.ok_or_else(|| {
        portier_core::FieldError::new("name", "required", "give the token a name")
    })?;
    if permissions.is_empty() {
        return Err(portier_core::FieldError::new(
            "permissions",
            "required",
            "give the token at least one permission",
        )
        .into());
    }
    if expires_at.is_some_and(|e| e <= origin.now) {
        return Err(portier_core::FieldError::new(
            "expires_at",
            "in_the_past",
            "a token's expiry must lie in the future",
        )
        .into());
    }
    let mut tx = store.begin().await?;
    let org = crate::organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    issuer.may_delegate(permissions, &org.path, "permissions")?;
    let created = create(
        &mut tx,
        &org,
        auth.actor().account_id(),
        &name,
        permissions,
        expires_at,
        auth.actor().clone(),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// A token as its organization's list shows it (never its secret).
#[derive(Debug, Clone)]
pub struct TokenView {
    pub id: ApiTokenId,
    pub name: String,
    pub permissions: Vec<String>,
    /// The person who created it, if a person did.
    pub created_by: Option<AccountId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// The tokens of an organization, newest first.
pub async fn list(store: &Store, auth: &Authorized<TokensManage>) -> Result<Vec<TokenView>> {
    let org = auth.organization_id();
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        name: String,
        permissions: Json<Vec<String>>,
        account_id: Option<Uuid>,
        created_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        last_used_at: Option<DateTime<Utc>>,
        revoked_at: Option<DateTime<Utc>>,
    }
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, name, permissions, account_id, created_at, expires_at, last_used_at, revoked_at
             FROM api_tokens WHERE organization_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(org.0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|r| TokenView {
            id: r.id.into(),
            name: r.name,
            permissions: r.permissions.0,
            created_by: r.account_id.map(Into::into),
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
        })
        .collect())
}

/// Revokes a token of the organization the proof is for: it stops working
/// on this node at once and on the others as soon as they hear of it.
pub async fn revoke(
    store: &Store,
    auth: &Authorized<TokensManage>,
    id: ApiTokenId,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = crate::organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let row: Option<(String, Option<DateTime<Utc>>)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT name, revoked_at FROM api_tokens WHERE id = $1 AND organization_id = $2",
        )
        .bind(id.0)
        .bind(org.id.0)
        .fetch_optional(c)
        .await
    })?;
    let (name, revoked) = row.ok_or(portier_core::Error::NotFound { what: "token" })?;
    if revoked.is_some() {
        return Ok(());
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2")
            .bind(origin.now)
            .bind(id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let event = NewAuditEvent {
        actor: auth.actor().clone(),
        action: "api_token.revoked",
        organization_id: Some(org.id),
        target_type: "api_token",
        target_id: id.to_string(),
        changes: serde_json::json!({"name": name}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    account_id: Option<Uuid>,
    permissions: Json<Vec<String>>,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
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
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A token's row with its organization, for [`TokenRow`]; the caller adds
/// which token. A literal, so that each query is one static string.
macro_rules! token_row {
    () => {
        "SELECT t.id, t.account_id, t.permissions, t.expires_at, t.last_used_at, t.revoked_at,
                o.id AS organization_id, o.path
         FROM api_tokens t JOIN organizations o ON o.id = t.organization_id"
    };
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
        sqlx::query_as(concat!(token_row!(), " WHERE t.token_hash = $1"))
            .bind(&hash)
            .fetch_optional(c)
            .await
    })?;
    match row.and_then(|row| usable(row, now)) {
        Some(token) => within_creator(store, token).await,
        None => Ok(None),
    }
}

/// A token never holds more than the person who created it holds now
/// (docs/RULES.md#api-tokens): its permissions are cut to theirs on the
/// token's organization, and a creator who no longer reaches it (removed,
/// deactivated, disabled) leaves the token nothing: `None`, as if revoked.
/// Tokens the command line made (no creator) hold what they were given.
async fn within_creator(store: &Store, mut token: Authenticated) -> Result<Option<Authenticated>> {
    let Some(creator) = token.principal.actor.account_id() else {
        return Ok(Some(token));
    };
    let holds = crate::members::principal_for_account(store, creator).await?;
    for grant in &mut token.principal.grants {
        if !holds.sees(&grant.path) {
            return Ok(None);
        }
        let now = holds.permissions_on(&grant.path);
        grant.permissions.retain(|p| now.contains(p));
    }
    Ok(Some(token))
}

/// What the token `id` may do now, as [`authenticate`] would find it when
/// presented: `None` when it is gone, revoked or expired (a job its holder
/// started, say, then stops).
pub async fn principal_of(
    store: &Store,
    id: ApiTokenId,
    now: DateTime<Utc>,
) -> Result<Option<Principal>> {
    let row: Option<TokenRow> = reader!(store, |c| {
        sqlx::query_as(concat!(token_row!(), " WHERE t.id = $1"))
            .bind(id.0)
            .fetch_optional(c)
            .await
    })?;
    match row.and_then(|row| usable(row, now)) {
        Some(token) => Ok(within_creator(store, token).await?.map(|a| a.principal)),
        None => Ok(None),
    }
}

/// The token of `row`, unless it is revoked or expired at `now`.
fn usable(row: TokenRow, now: DateTime<Utc>) -> Option<Authenticated> {
    if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
        return None;
    }
    // Names that no longer parse are dropped rather than trusted.
    let permissions: PermissionSet = row
        .permissions
        .0
        .iter()
        .filter_map(|p| Permission::parse("permission", p).ok())
        .collect();
    Some(Authenticated {
        id: row.id.into(),
        expires_at: row.expires_at,
        last_used_at: row.last_used_at,
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
    })
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
