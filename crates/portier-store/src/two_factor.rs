//! Two-step verification: a person's TOTP authenticator and recovery codes,
//! kept as `credentials` rows (`totp_pending` until confirmed with a code,
//! then `totp`; `recovery`, one row per unused code, holding its digest).
//! Every change commits with its audit event, and with its mail when the
//! person must hear of it.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::Account;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::AccountId;
use portier_core::mail::{MailContext, MailKind};
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, MembersUpdate};
use portier_core::two_factor::{self, CodeRefused, RecoveryCode, TotpSecret};
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::lifecycle::Lifecycle;
use crate::{Error, Result, Store, Tx, in_tx, reader};

/// What a person has set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// An authenticator app, confirmed.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Passkeys.
    pub passkeys: i64,
}

pub async fn status(store: &Store, account: AccountId) -> Result<Status> {
    let rows: Vec<(String, i64)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT kind, COUNT(*) FROM credentials
             WHERE account_id = $1 AND kind IN ('totp', 'recovery', 'webauthn') GROUP BY kind",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    let n = |k: &str| rows.iter().find(|(kind, _)| kind == k).map_or(0, |r| r.1);
    Ok(Status {
        totp: n("totp") > 0,
        recovery_codes_left: n("recovery"),
        passkeys: n("webauthn"),
    })
}

/// One row when two-step verification is required of the account `$1`.
const REQUIRED: &str = concat!("SELECT 1 WHERE ", crate::two_factor_required!("$1"));

/// Whether the person must have two-step verification: one of their
/// active memberships is in an organization that requires it (or lies below
/// one that does), or requires it of them in particular. The strictest of
/// their organizations applies.
pub async fn required(store: &Store, account: AccountId) -> Result<bool> {
    let found: Option<i32> = reader!(store, |c| {
        sqlx::query_scalar(REQUIRED)
            .bind(account.0)
            .fetch_optional(c)
            .await
    })?;
    Ok(found.is_some())
}

/// A requirement just switched on: the signed-in sessions of those it now
/// applies to (active members of the organizations under `path`, or the one
/// `account`) who have no second factor go back to setting it up first.
pub(crate) async fn require_now(
    tx: &mut Tx,
    path: Option<&str>,
    account: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let until = now + crate::sessions::ENROL_WITHIN;
    Ok(in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE sessions SET stage = 'enrol', expires_at = CASE WHEN expires_at < $3 THEN expires_at ELSE $3 END
             WHERE stage = 'full'
               AND account_id IN (
                 SELECT m.account_id FROM memberships m JOIN organizations o ON o.id = m.organization_id
                 WHERE m.active = TRUE
                   AND ($1 IS NULL OR substr(o.path, 1, length($1)) = $1)
                   AND ($2 IS NULL OR m.account_id = $2))
               AND NOT EXISTS (SELECT 1 FROM credentials cr WHERE cr.account_id = sessions.account_id
                               AND cr.kind IN ('totp', 'webauthn'))",
        )
        .bind(path)
        .bind(account.map(|a| a.0))
        .bind(until)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?)
}

fn already_on() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "two_factor_active",
        field: None,
        message: "an authenticator app is set up already: turn it off first to set up another"
            .into(),
    })
}

fn nothing_to_confirm() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "no_enrolment",
        field: None,
        message: "no authenticator app is being set up: start again".into(),
    })
}

fn not_on() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "two_factor_inactive",
        field: None,
        message: "no authenticator app is set up".into(),
    })
}

/// A code refused, as the 422 of the field it was sent in.
pub fn refused(field: &str, why: CodeRefused) -> Error {
    let code = match why {
        CodeRefused::Wrong => "wrong_code",
        CodeRefused::Replayed => "code_used",
    };
    portier_core::FieldError::new(field, code, why.to_string()).into()
}

async fn insert(
    tx: &mut Tx,
    account: AccountId,
    kind: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO credentials (id, account_id, kind, secret, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(account.0)
        .bind(kind)
        .bind(secret)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

async fn delete(tx: &mut Tx, account: AccountId, kinds: &str) -> Result<u64> {
    // `kinds` is fixed text of this module, never input.
    let sql = format!("DELETE FROM credentials WHERE account_id = $1 AND kind IN ({kinds})");
    Ok(in_tx!(tx, |c| {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

/// Records a change to a person's sign-in, which is theirs in every
/// organization they belong to: in each of them
/// ([`audit::record_for_account`]), whoever made it.
pub(crate) async fn record(
    tx: &mut Tx,
    actor: Actor,
    action: &'static str,
    account: AccountId,
    changes: serde_json::Value,
    origin: &Origin,
) -> Result<()> {
    let event = NewAuditEvent {
        actor,
        action,
        organization_id: None,
        target_type: "account",
        target_id: account.to_string(),
        changes,
        client_addr: origin.client_addr.clone(),
    };
    audit::record_for_account(tx, account, None, event, origin.now).await
}

/// A change to a person's sign-in they must hear of.
pub(crate) struct Told<'a> {
    pub actor: Actor,
    pub action: &'static str,
    pub account: &'a Account,
    /// The organization whose administrator made it, if one did.
    pub org: Option<&'a Organization>,
    pub changes: serde_json::Value,
    pub mail: MailKind,
}

/// Records `change` and queues its mail to the person, in `tx`.
pub(crate) async fn record_and_tell(
    tx: &mut Tx,
    change: Told<'_>,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<()> {
    let account = change.account;
    record(
        tx,
        change.actor,
        change.action,
        account.id,
        change.changes,
        origin,
    )
    .await?;
    let ctx = notice(lifecycle, account, change.org);
    crate::mail::enqueue_rendered(
        tx,
        lifecycle,
        change.mail,
        account,
        change.org,
        &ctx,
        origin.now,
    )
    .await?;
    Ok(())
}

/// Starts setting up an authenticator app: a new secret, not in force until
/// confirmed with a code. A second start replaces the first.
pub async fn start_totp(
    store: &Store,
    account: AccountId,
    secret: &TotpSecret,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = store.begin().await?;
    if kind_exists(&mut tx, account, "totp").await? {
        return Err(already_on());
    }
    delete(&mut tx, account, "'totp_pending'").await?;
    insert(&mut tx, account, "totp_pending", &secret.to_base32(), now).await?;
    tx.commit().await
}

async fn kind_exists(tx: &mut Tx, account: AccountId, kind: &str) -> Result<bool> {
    let found: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar("SELECT 1 FROM credentials WHERE account_id = $1 AND kind = $2 LIMIT 1")
            .bind(account.0)
            .bind(kind)
            .fetch_optional(c)
            .await
    })?;
    Ok(found.is_some())
}

/// The secret of `kind` (`totp` or `totp_pending`) with its last step.
async fn secret_of(
    tx: &mut Tx,
    account: AccountId,
    kind: &str,
) -> Result<Option<(Uuid, TotpSecret, Option<i64>)>> {
    let row: Option<(Uuid, String, Option<i64>)> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT id, secret, last_step FROM credentials WHERE account_id = $1 AND kind = $2
             ORDER BY created_at DESC LIMIT 1",
        )
        .bind(account.0)
        .bind(kind)
        .fetch_optional(c)
        .await
    })?;
    row.map(|(id, s, last)| {
        TotpSecret::from_base32(&s)
            .map(|secret| (id, secret, last))
            .ok_or_else(|| Error::Corrupt(format!("credential {id}: not a TOTP secret")))
    })
    .transpose()
}

/// Remembers `step` as used, unless another request used it (or a later
/// one) first: true when this one won.
async fn use_step(tx: &mut Tx, id: Uuid, step: i64, now: DateTime<Utc>) -> Result<bool> {
    let n = in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE credentials SET last_step = $2, last_used_at = $3
             WHERE id = $1 AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(id)
        .bind(step)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

fn unix(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp()).unwrap_or(0)
}

/// New recovery codes in place of any old ones; the codes, to show once.
pub(crate) async fn new_recovery_codes(
    tx: &mut Tx,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<Vec<RecoveryCode>> {
    delete(tx, account, "'recovery'").await?;
    let codes: Vec<RecoveryCode> = (0..two_factor::RECOVERY_CODES)
        .map(|_| RecoveryCode::from_random(rand::random()))
        .collect();
    for code in &codes {
        insert(tx, account, "recovery", &code.hash(), now).await?;
    }
    Ok(codes)
}

/// The secret of the authenticator app being set up, if any (to show its
/// QR code again after a wrong code).
pub async fn pending(store: &Store, account: AccountId) -> Result<Option<TotpSecret>> {
    let mut tx = store.begin().await?;
    let found = secret_of(&mut tx, account, "totp_pending").await?;
    tx.commit().await?;
    Ok(found.map(|(_, secret, _)| secret))
}

/// Confirms the authenticator app being set up with one of its codes: it is
/// in force from now on, and ten recovery codes replace any earlier ones.
pub async fn confirm_totp(
    store: &Store,
    account: AccountId,
    code: &str,
    origin: &Origin,
) -> Result<Vec<RecoveryCode>> {
    let mut tx = store.begin().await?;
    lock_factors(&mut tx, account).await?;
    if kind_exists(&mut tx, account, "totp").await? {
        return Err(already_on());
    }
    let (id, secret, last) = secret_of(&mut tx, account, "totp_pending")
        .await?
        .ok_or_else(nothing_to_confirm)?;
    let step = two_factor::accept(&secret, code, unix(origin.now), last)
        .map_err(|e| refused("code", e))?;
    if !use_step(&mut tx, id, step, origin.now).await? {
        return Err(refused("code", CodeRefused::Replayed));
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE credentials SET kind = 'totp' WHERE id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let codes = new_recovery_codes(&mut tx, account, origin.now).await?;
    end_enrolments(&mut tx, account).await?;
    record(
        &mut tx,
        Actor::Account { id: account },
        "account.two_factor_enabled",
        account,
        serde_json::json!({"method": "totp"}),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Checks a current code of the person's authenticator app and uses it up.
async fn use_code(
    tx: &mut Tx,
    account: AccountId,
    code: &str,
    field: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let (id, secret, last) = secret_of(tx, account, "totp").await?.ok_or_else(not_on)?;
    let step = two_factor::accept(&secret, code, unix(now), last).map_err(|e| refused(field, e))?;
    if use_step(tx, id, step, now).await? {
        Ok(())
    } else {
        Err(refused(field, CodeRefused::Replayed))
    }
}

/// How a person showed it is them before a change to their second factors.
pub enum Confirmed<'a> {
    /// A current code of their authenticator app, checked and used up here.
    Code(&'a str),
    /// One of their passkeys signed a challenge of this session; the caller
    /// checked it (`crate::passkeys::take` with `Purpose::Confirm`).
    Passkey,
}

/// New recovery codes, for a current code of the authenticator app or a
/// passkey.
pub async fn regenerate_recovery_codes(
    store: &Store,
    account: AccountId,
    confirmed: Confirmed<'_>,
    origin: &Origin,
) -> Result<Vec<RecoveryCode>> {
    let mut tx = store.begin().await?;
    match confirmed {
        Confirmed::Code(code) => use_code(&mut tx, account, code, "code", origin.now).await?,
        Confirmed::Passkey => {
            if !kind_exists(&mut tx, account, "webauthn").await? {
                return Err(not_on());
            }
        }
    }
    let codes = new_recovery_codes(&mut tx, account, origin.now).await?;
    record(
        &mut tx,
        Actor::Account { id: account },
        "account.recovery_codes_renewed",
        account,
        serde_json::json!({}),
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(codes)
}

/// Starts a change to the person's second factors in `tx`: locks their
/// account row on PostgreSQL (SQLite's `BEGIN IMMEDIATE` excludes other
/// writers already), so two changes at once cannot both take "another
/// factor is left" for true. Returns whether an organization of theirs
/// requires a second factor, as of now.
pub(crate) async fn lock_factors(tx: &mut Tx, account: AccountId) -> Result<bool> {
    crate::accounts::lock(tx, account).await?;
    let found: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar(REQUIRED)
            .bind(account.0)
            .fetch_optional(c)
            .await
    })?;
    Ok(found.is_some())
}

/// A second factor was just set up: sign-ins still waiting to set one up
/// (stage `enrol`, which opened with the password alone) end, so none of
/// them can add another factor now that there is one.
pub(crate) async fn end_enrolments(tx: &mut Tx, account: AccountId) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND stage = 'enrol'")
            .bind(account.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Refused: an organization of the person's requires a second factor, and
/// this is their last.
pub(crate) fn still_required() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "two_factor_required",
        field: None,
        message: "an organization you belong to requires two-step verification: your last second factor cannot be removed"
            .into(),
    })
}

/// The person turns their authenticator app off, with a current code; not
/// while an organization of theirs requires two-step verification and no
/// passkey stays. Without a passkey the recovery codes go too.
pub async fn disable(store: &Store, account: AccountId, code: &str, origin: &Origin) -> Result<()> {
    let mut tx = store.begin().await?;
    let required = lock_factors(&mut tx, account).await?;
    let passkeys = kind_exists(&mut tx, account, "webauthn").await?;
    if required && !passkeys {
        return Err(still_required());
    }
    use_code(&mut tx, account, code, "code", origin.now).await?;
    let kinds = if passkeys {
        "'totp', 'totp_pending'"
    } else {
        "'totp', 'totp_pending', 'recovery'"
    };
    delete(&mut tx, account, kinds).await?;
    record(
        &mut tx,
        Actor::Account { id: account },
        "account.two_factor_disabled",
        account,
        serde_json::json!({"method": "totp"}),
        origin,
    )
    .await?;
    tx.commit().await
}

/// The second step of a sign-in (no `Debug`: it holds a code).
#[derive(Clone)]
pub enum Proof {
    /// A code of the authenticator app.
    Code(String),
    /// One of the recovery codes.
    RecoveryCode(String),
}

/// Checks the second step of a sign-in and uses it up: a code of the
/// authenticator app once, a recovery code for good (that use is audited and
/// the person is told by mail). Returns the recovery codes left when one was
/// used.
pub async fn verify(
    store: &Store,
    account: &Account,
    proof: &Proof,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Option<i64>> {
    let mut tx = store.begin().await?;
    match proof {
        Proof::Code(code) => {
            use_code(&mut tx, account.id, code, "code", origin.now).await?;
            tx.commit().await?;
            Ok(None)
        }
        Proof::RecoveryCode(typed) => {
            let wrong = || {
                portier_core::FieldError::new(
                    "recovery_code",
                    "wrong_code",
                    "this recovery code is not right, or it has been used",
                )
            };
            let digest = two_factor::typed_recovery_digest(typed).ok_or_else(wrong)?;
            let used = in_tx!(&mut tx, |c| {
                sqlx::query("DELETE FROM credentials WHERE account_id = $1 AND kind = 'recovery' AND secret = $2")
                    .bind(account.id.0)
                    .bind(&digest)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
            if used != 1 {
                return Err(wrong().into());
            }
            let left: i64 = in_tx!(&mut tx, |c| {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM credentials WHERE account_id = $1 AND kind = 'recovery'",
                )
                .bind(account.id.0)
                .fetch_one(c)
                .await
            })?;
            let told = Told {
                actor: Actor::Account { id: account.id },
                action: "account.recovery_code_used",
                account,
                org: None,
                changes: serde_json::json!({"recovery_codes_left": left}),
                mail: MailKind::RecoveryCodeUsed,
            };
            record_and_tell(&mut tx, told, lifecycle, origin).await?;
            tx.commit().await?;
            Ok(Some(left))
        }
    }
}

pub(crate) fn notice(
    lifecycle: &Lifecycle,
    account: &Account,
    org: Option<&Organization>,
) -> MailContext {
    MailContext {
        name: account.name.display_name(),
        email: account.email.to_string(),
        organization: org.map(|o| o.name.clone()).unwrap_or_default(),
        link: format!("{}/account/two-factor", lifecycle.public_url),
        expires_at: None,
    }
}

/// An administrator takes a member's second factors away (they lost their
/// phone), passkeys included: audited in every organization the person
/// belongs to and mailed to the person. The factors are the person's in all
/// of them, so this needs the right in all of them
/// (`Authorized::over_account`), checked in the transaction that takes
/// them. Returns false when there was nothing to take.
pub async fn reset(
    store: &Store,
    auth: &Authorized<MembersUpdate>,
    account: AccountId,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let org = crate::organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    crate::accounts::lock(&mut tx, account).await?;
    let account = crate::members::member_account(&mut tx, org.id, account).await?;
    auth.over_account(&crate::members::seats_of(&mut tx, account.id).await?)?;
    let removed = delete(
        &mut tx,
        account.id,
        "'totp', 'totp_pending', 'recovery', 'webauthn'",
    )
    .await?;
    if removed == 0 {
        return Ok(false);
    }
    let told = Told {
        actor: auth.actor().clone(),
        action: "member.two_factor_reset",
        account: &account,
        org: Some(&org),
        changes: serde_json::json!({}),
        mail: MailKind::TwoFactorReset,
    };
    record_and_tell(&mut tx, told, lifecycle, origin).await?;
    tx.commit().await?;
    Ok(true)
}
