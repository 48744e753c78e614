//! Passkeys (docs/RULES.md#two-step-verification): `credentials` rows of kind
//! `webauthn`, and the ceremonies under way (`webauthn_ceremonies`) between the
//! request that starts one and the one that answers it, which may reach another
//! node. Adding a passkey commits with its audit event and its mail.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::Account;
use portier_core::audit::Actor;
use portier_core::ids::AccountId;
use portier_core::mail::MailKind;
use portier_core::passkeys::{self, Registered};
use portier_core::secrets::SecretToken;
use portier_core::two_factor::RecoveryCode;
use uuid::Uuid;

use crate::audit::Origin;
use crate::lifecycle::Lifecycle;
use crate::two_factor::{
    Told, end_enrolments, lock_factors, new_recovery_codes, record, record_and_tell,
};
use crate::{Error, Result, Store, Tx, in_tx, reader, writer};

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A new passkey for a signed-in person.
    Register,
    /// The second step of a sign-in, after the password.
    SecondFactor,
    /// A whole sign-in, nobody named yet.
    SignIn,
    /// A signed-in person showing it is them again, before a change to
    /// their second factors (new recovery codes).
    Confirm,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::SecondFactor => "second_factor",
            Purpose::SignIn => "sign_in",
            Purpose::Confirm => "confirm",
        }
    }
}

/// A ceremony taken back by the request that answers it.
pub struct Ceremony {
    pub account_id: Option<AccountId>,
    pub session_hash: Option<String>,
    pub state: String,
}

/// Keeps a ceremony's state until its answer; the id to hand the client
/// (only its digest is stored). Ceremonies past their time go at the same
/// moment, and so does the person's earlier one of the same purpose, so the
/// table holds only those under way.
pub async fn begin(
    store: &Store,
    purpose: Purpose,
    account: Option<AccountId>,
    session_hash: Option<&str>,
    state: &str,
    now: DateTime<Utc>,
) -> Result<SecretToken> {
    let id = SecretToken::from_random(rand::random(), "");
    let expires = portier_core::secrets::expires_at(now, passkeys::CEREMONY_TTL);
    let mut tx = store.begin().await?;
    // Gone too: an earlier ceremony of the same purpose for the same person
    // (and session), so repeated starts keep one row, not one each.
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "DELETE FROM webauthn_ceremonies WHERE expires_at < $1
                OR (purpose = $2 AND account_id = $3 AND ($4 IS NULL OR session_hash = $4))",
        )
        .bind(now)
        .bind(purpose.as_str())
        .bind(account.map(|a| a.0))
        .bind(session_hash)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO webauthn_ceremonies (id_hash, purpose, account_id, session_hash, state, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.hash())
        .bind(purpose.as_str())
        .bind(account.map(|a| a.0))
        .bind(session_hash)
        .bind(state)
        .bind(expires)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    tx.commit().await?;
    Ok(id)
}

/// Takes the ceremony `id` of `purpose` back, once: a second answer to the
/// same challenge finds nothing. `None` also when it ran out of time.
pub async fn take(
    store: &Store,
    purpose: Purpose,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Ceremony>> {
    type Row = (Option<Uuid>, Option<String>, String, DateTime<Utc>);
    let row: Option<Row> = writer!(store, |c| {
        sqlx::query_as(
            "DELETE FROM webauthn_ceremonies WHERE id_hash = $1 AND purpose = $2
             RETURNING account_id, session_hash, state, expires_at",
        )
        .bind(SecretToken::presented(id).hash())
        .bind(purpose.as_str())
        .fetch_optional(c)
        .await
    })?;
    Ok(row
        .filter(|(_, _, _, expires)| *expires > now)
        .map(|(account, session_hash, state, _)| Ceremony {
            account_id: account.map(AccountId),
            session_hash,
            state,
        }))
}

/// A passkey as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PasskeyInfo {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The person's passkeys, oldest first.
pub async fn list(store: &Store, account: AccountId) -> Result<Vec<PasskeyInfo>> {
    Ok(reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, COALESCE(label, '') AS name, created_at, last_used_at FROM credentials
             WHERE account_id = $1 AND kind = 'webauthn' ORDER BY created_at, id",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?)
}

/// A stored passkey: its row id and webauthn-rs's record.
pub struct Stored {
    pub id: Uuid,
    pub account_id: AccountId,
    pub record: passkeys::Passkey,
}

fn stored(rows: Vec<(Uuid, Uuid, String)>) -> Result<Vec<Stored>> {
    rows.into_iter()
        .map(|(id, account, text)| {
            passkeys::record_of(&text)
                .map(|record| Stored {
                    id,
                    account_id: AccountId(account),
                    record,
                })
                .ok_or_else(|| Error::Corrupt(format!("credential {id}: not a passkey record")))
        })
        .collect()
}

/// The person's passkeys with their records (to sign in with one, or to
/// keep a device from registering twice).
pub async fn records(store: &Store, account: AccountId) -> Result<Vec<Stored>> {
    let rows: Vec<(Uuid, Uuid, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, account_id, secret FROM credentials WHERE account_id = $1 AND kind = 'webauthn'",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    stored(rows)
}

/// The passkey the browser names by `credential_id`, whoever's it is.
pub async fn by_credential_id(store: &Store, credential_id: &str) -> Result<Option<Stored>> {
    let rows: Vec<(Uuid, Uuid, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, account_id, secret FROM credentials WHERE credential_id = $1 AND kind = 'webauthn'",
        )
        .bind(credential_id)
        .fetch_all(c)
        .await
    })?;
    Ok(stored(rows)?.pop())
}

/// Whether the person has a second factor other than `except` (a passkey's
/// row id), within `tx`.
async fn other_factor(tx: &mut Tx, account: AccountId, except: Option<Uuid>) -> Result<bool> {
    let found: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT 1 FROM credentials WHERE account_id = $1 AND kind IN ('totp', 'webauthn')
               AND ($2 IS NULL OR id <> $2) LIMIT 1",
        )
        .bind(account.0)
        .bind(except)
        .fetch_optional(c)
        .await
    })?;
    Ok(found.is_some())
}

/// Adds a checked passkey to the person's account, named `name` (`None`:
/// `fallback`, the device it was made on). When it is their first second
/// factor they also get ten recovery codes, returned to show once. The
/// person is told by mail: a passkey signs in, so one they did not add must
/// not go unnoticed.
pub async fn add(
    store: &Store,
    account: &Account,
    name: Option<&str>,
    fallback: &str,
    passkey: &Registered,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<(PasskeyInfo, Option<Vec<RecoveryCode>>)> {
    let mut tx = store.begin().await?;
    lock_factors(&mut tx, account.id).await?;
    let first = !other_factor(&mut tx, account.id, None).await?;
    let info = PasskeyInfo {
        id: Uuid::now_v7(),
        name: name.unwrap_or(fallback).to_owned(),
        created_at: origin.now,
        last_used_at: None,
    };
    let inserted = in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO credentials (id, account_id, kind, label, secret, credential_id, created_at)
             VALUES ($1, $2, 'webauthn', $3, $4, $5, $6)",
        )
        .bind(info.id)
        .bind(account.id.0)
        .bind(&info.name)
        .bind(&passkey.record)
        .bind(&passkey.credential_id)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    });
    inserted.map_err(|e| {
        Error::from(e).unique_as(|| {
            Error::Domain(DomainError::Conflict {
                code: "passkey_registered",
                field: Some("credential".into()),
                message: "this passkey is registered already".into(),
            })
        })
    })?;
    let codes = if first {
        Some(new_recovery_codes(&mut tx, account.id, origin.now).await?)
    } else {
        None
    };
    end_enrolments(&mut tx, account.id).await?;
    let told = Told {
        actor: Actor::Account { id: account.id },
        action: "account.passkey_added",
        account,
        org: None,
        changes: serde_json::json!({"passkey": info.id, "name": info.name}),
        mail: MailKind::PasskeyAdded,
    };
    record_and_tell(&mut tx, told, lifecycle, origin).await?;
    tx.commit().await?;
    Ok((info, codes))
}

fn no_such_passkey() -> Error {
    Error::Domain(DomainError::NotFound { what: "passkey" })
}

/// Renames one of the person's passkeys.
pub async fn rename(
    store: &Store,
    account: AccountId,
    id: Uuid,
    name: &str,
    origin: &Origin,
) -> Result<PasskeyInfo> {
    let mut tx = store.begin().await?;
    let found: Option<PasskeyInfo> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "UPDATE credentials SET label = $3 WHERE id = $1 AND account_id = $2 AND kind = 'webauthn'
             RETURNING id, COALESCE(label, '') AS name, created_at, last_used_at",
        )
        .bind(id)
        .bind(account.0)
        .bind(name)
        .fetch_optional(c)
        .await
    })?;
    let info = found.ok_or_else(no_such_passkey)?;
    record(
        &mut tx,
        Actor::Account { id: account },
        "account.passkey_renamed",
        account,
        serde_json::json!({"passkey": id, "name": name}),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(info)
}

/// Removes one of the person's passkeys; not the last second factor of
/// someone an organization requires it of. Removing the last one takes the
/// recovery codes along (they stand in for a second factor there is no
/// more).
pub async fn remove(store: &Store, account: AccountId, id: Uuid, origin: &Origin) -> Result<()> {
    let mut tx = store.begin().await?;
    let required = lock_factors(&mut tx, account).await?;
    let name: Option<Option<String>> = in_tx!(&mut tx, |c| {
        sqlx::query_scalar(
            "SELECT label FROM credentials WHERE id = $1 AND account_id = $2 AND kind = 'webauthn'",
        )
        .bind(id)
        .bind(account.0)
        .fetch_optional(c)
        .await
    })?;
    let name = name.ok_or_else(no_such_passkey)?;
    let others = other_factor(&mut tx, account, Some(id)).await?;
    if required && !others {
        return Err(crate::two_factor::still_required());
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM credentials WHERE id = $1 OR ($2 AND account_id = $3 AND kind = 'recovery')")
            .bind(id)
            .bind(!others)
            .bind(account.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    record(
        &mut tx,
        Actor::Account { id: account },
        "account.passkey_removed",
        account,
        serde_json::json!({"passkey": id, "name": name, "two_factor": others}),
        origin,
    )
    .await?;
    tx.commit().await
}

/// A passkey signed in: when it was used, and its record when the
/// ceremony moved its counter.
pub async fn used(
    store: &Store,
    id: Uuid,
    updated_record: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    writer!(store, |c| {
        sqlx::query(
            "UPDATE credentials SET last_used_at = $2, secret = COALESCE($3, secret) WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(updated_record)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}
