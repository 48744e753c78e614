//! Activation and password-reset tokens. Issuing one replaces the account's
//! earlier tokens of that kind from the same organization (a resend makes
//! the old link stop working), never another organization's: one
//! environment cannot cancel the invitation another sent the same person
//! (docs/RULES.md#shared-accounts). Activating the account uses up all of
//! its activation links.

use std::time::Duration;

use portier_core::ids::{AccountId, OrganizationId, TokenId};
use portier_core::secrets::{SecretToken, TokenKind, expires_at};

use crate::audit::Origin;
use crate::{Result, Tx, in_tx};

pub async fn issue(
    tx: &mut Tx,
    kind: TokenKind,
    account_id: AccountId,
    organization_id: Option<OrganizationId>,
    ttl: Duration,
    origin: &Origin,
) -> Result<SecretToken> {
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE tokens SET replaced_at = $1
             WHERE account_id = $2 AND kind = $3 AND used_at IS NULL AND replaced_at IS NULL
               AND organization_id IS NOT DISTINCT FROM $4",
        )
        .bind(origin.now)
        .bind(account_id.0)
        .bind(kind.as_str())
        .bind(organization_id.map(|o| o.0))
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    issue_first(tx, kind, account_id, organization_id, ttl, origin).await
}

/// Makes every link of `kind` the account has stop working, whichever
/// organization sent it (all of them, with `None`): after the account is
/// activated, or once its address changed and the links went to the old one.
pub(crate) async fn replace_all(
    tx: &mut Tx,
    account_id: AccountId,
    kind: Option<TokenKind>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<u64> {
    Ok(in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE tokens SET replaced_at = $1
             WHERE account_id = $2 AND ($3 IS NULL OR kind = $3)
               AND used_at IS NULL AND replaced_at IS NULL",
        )
        .bind(now)
        .bind(account_id.0)
        .bind(kind.map(|k| k.as_str()))
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?)
}

/// [`issue`] for an account created in this same transaction: it has no
/// earlier tokens to replace, so the statement that would is skipped.
pub async fn issue_first(
    tx: &mut Tx,
    kind: TokenKind,
    account_id: AccountId,
    organization_id: Option<OrganizationId>,
    ttl: Duration,
    origin: &Origin,
) -> Result<SecretToken> {
    let token = SecretToken::from_random(rand::random(), "");
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO tokens (id, kind, token_hash, account_id, organization_id, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(TokenId::new().0)
        .bind(kind.as_str())
        .bind(token.hash())
        .bind(account_id.0)
        .bind(organization_id.map(|o| o.0))
        .bind(origin.now)
        .bind(expires_at(origin.now, ttl))
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(token)
}

/// What a link's token stands for, for the page that opens it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: TokenId,
    pub kind: TokenKind,
    pub account: portier_core::accounts::Account,
    pub organization: Option<portier_core::organizations::Organization>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The password policies of every organization the person belongs to;
    /// a new password meets the strictest (docs/RULES.md#passwords).
    pub policies: Vec<portier_core::passwords::PasswordPolicy>,
}

/// Why a presented link does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// Never issued (or not of this kind): 404.
    Unknown,
    /// Used, replaced or expired: 410.
    Gone(portier_core::secrets::TokenUnusable),
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: uuid::Uuid,
    account_id: uuid::Uuid,
    organization_id: Option<uuid::Uuid>,
    expires_at: chrono::DateTime<chrono::Utc>,
    used_at: Option<chrono::DateTime<chrono::Utc>>,
    replaced_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Looks a presented token up and checks the single-use rule.
pub async fn lookup(
    store: &crate::Store,
    kind: TokenKind,
    presented: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Result<TokenInfo, LinkProblem>> {
    // Our tokens are 64 hex digits; anything else was never issued.
    if presented.len() != 64 || !presented.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Err(LinkProblem::Unknown));
    }
    let hash = SecretToken::presented(presented).hash();
    let row: Option<TokenRow> = crate::reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, account_id, organization_id, expires_at, used_at, replaced_at
             FROM tokens WHERE token_hash = $1 AND kind = $2",
        )
        .bind(&hash)
        .bind(kind.as_str())
        .fetch_optional(c)
        .await
    })?;
    let Some(row) = row else {
        return Ok(Err(LinkProblem::Unknown));
    };
    if let Err(e) =
        portier_core::secrets::check_usable(now, row.expires_at, row.used_at.or(row.replaced_at))
    {
        return Ok(Err(LinkProblem::Gone(e)));
    }
    let Some(account) = crate::accounts::get(store, row.account_id.into()).await? else {
        return Ok(Err(LinkProblem::Unknown));
    };
    let organization = match row.organization_id {
        Some(id) => crate::organizations::get(store, id.into()).await?,
        None => None,
    };
    let policies = crate::accounts::password_policies(store, account.id).await?;
    Ok(Ok(TokenInfo {
        id: row.id.into(),
        kind,
        account,
        organization,
        expires_at: row.expires_at,
        policies,
    }))
}

/// Uses a token up: true when this call was the one that did (a concurrent or
/// earlier use, a replacement or expiry make it false).
pub(crate) async fn consume(
    tx: &mut Tx,
    id: TokenId,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<bool> {
    let n = in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE tokens SET used_at = $1
             WHERE id = $2 AND used_at IS NULL AND replaced_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(id.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
