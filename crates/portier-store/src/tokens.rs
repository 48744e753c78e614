//! Activation and password-reset tokens. Issuing one replaces the account's
//! earlier tokens of that kind (seeds 000, 001: a resend makes the old link stop
//! working).

use std::time::Duration;

use portier_core::ids::{AccountId, OrganizationId, TokenId};
use portier_core::tokens::{SecretToken, TokenKind, expires_at};

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
    let token = SecretToken::from_random(rand::random(), "");
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE tokens SET replaced_at = $1
             WHERE account_id = $2 AND kind = $3 AND used_at IS NULL AND replaced_at IS NULL",
        )
        .bind(origin.now)
        .bind(account_id.0)
        .bind(kind.as_str())
        .execute(&mut *c)
        .await?;
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
