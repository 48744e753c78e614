//! Passwords: setting one, a reset by mail, and a change by the person.

#[allow(unused_imports)]
use super::*;

/// Replaces the account's password hash.
pub(crate) async fn set_password(
    tx: &mut Tx,
    id: AccountId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM credentials WHERE account_id = $1 AND kind = 'password'")
            .bind(id.0)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "INSERT INTO credentials (id, account_id, kind, secret, created_at) VALUES ($1, $2, 'password', $3, $4)",
        )
        .bind(uuid::Uuid::now_v7())
        .bind(id.0)
        .bind(hash)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Queues a password-reset link for `email` if it belongs to an account that
/// may use one; does nothing otherwise. The caller answers the same either way.
pub async fn request_reset(
    store: &Store,
    email: &Email,
    lifecycle: &crate::lifecycle::Lifecycle,
    origin: &crate::audit::Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let Some(account) = find_by_email(&mut tx, email).await? else {
        return Ok(false);
    };
    if account.disabled {
        return Ok(false);
    }
    let token = crate::links::issue(
        &mut tx,
        portier_core::secrets::TokenKind::PasswordReset,
        account.id,
        None,
        lifecycle.reset_ttl,
        origin,
    )
    .await?;
    let ctx = portier_core::mail::MailContext {
        name: account.name.display_name(),
        email: account.email.to_string(),
        organization: String::new(),
        link: format!("{}/reset/{}", lifecycle.public_url, token.expose()),
        expires_at: Some(portier_core::secrets::expires_at(
            origin.now,
            lifecycle.reset_ttl,
        )),
    };
    crate::mail::enqueue_rendered(
        &mut tx,
        lifecycle,
        portier_core::mail::MailKind::PasswordReset,
        &account,
        None,
        &ctx,
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Completes a reset: uses the token once, sets the new hash, ends every
/// session of the account, and, for an account that was never activated,
/// activates it: "Forgot password" also serves someone whose invitation went
/// astray (docs/RULES.md#invitations-and-activation). `Ok(false)` when the
/// token was used meanwhile.
pub async fn complete_reset(
    store: &Store,
    token: &crate::links::TokenInfo,
    password_hash: &str,
    origin: &crate::audit::Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    if !crate::links::consume(&mut tx, token.id, origin.now).await? {
        return Ok(false);
    }
    let account = &token.account;
    set_password(&mut tx, account.id, password_hash, origin.now).await?;
    if account.status == AccountStatus::Invited {
        in_tx!(&mut tx, |c| {
            sqlx::query("UPDATE accounts SET status = 'active', activated_at = $1, updated_at = $1 WHERE id = $2")
                .bind(origin.now)
                .bind(account.id.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    let ended = crate::sessions::end_all_in(&mut tx, account.id, None).await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account.id },
        action: "account.password_reset",
        organization_id: None,
        target_type: "account",
        target_id: account.id.to_string(),
        changes: serde_json::json!({"sessions_ended": ended, "activated": account.status == AccountStatus::Invited}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(&mut tx, account.id, None, event, origin.now).await?;
    tx.commit().await?;
    Ok(true)
}

/// The person changes their own password; their other sessions end.
pub async fn change_password(
    store: &Store,
    account: AccountId,
    password_hash: &str,
    keep_session: Option<&str>,
    origin: &crate::audit::Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    change_password_in(&mut tx, account, password_hash, keep_session, origin).await?;
    tx.commit().await
}

/// [`change_password`] inside a transaction of the caller's.
pub(crate) async fn change_password_in(
    tx: &mut Tx,
    account: AccountId,
    password_hash: &str,
    keep_session: Option<&str>,
    origin: &crate::audit::Origin,
) -> Result<()> {
    set_password(tx, account, password_hash, origin.now).await?;
    let ended = crate::sessions::end_all_in(tx, account, keep_session).await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account },
        action: "account.password_changed",
        organization_id: None,
        target_type: "account",
        target_id: account.to_string(),
        changes: serde_json::json!({"other_sessions_ended": ended}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(tx, account, None, event, origin.now).await
}
