//! Accounts: one row per person, keyed by the normalized e-mail address.

use chrono::{DateTime, Utc};
use portier_core::accounts::{Account, AccountStatus, PersonName};
use portier_core::email::Email;
use portier_core::ids::AccountId;
use portier_core::locale::Locale;
use uuid::Uuid;

use crate::db::On;
use crate::{Error, Result, Store, Tx, in_tx, on, reader};

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) salutation: Option<String>,
    pub(crate) given_name: Option<String>,
    pub(crate) infix: Option<String>,
    pub(crate) family_name: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) mobile: Option<String>,
    pub(crate) locale: Option<String>,
    pub(crate) status: String,
    pub(crate) disabled: bool,
    pub(crate) created_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = Error;
    fn try_from(r: AccountRow) -> Result<Account> {
        Ok(Account {
            id: r.id.into(),
            email: Email::parse(&r.email)
                .map_err(|e| Error::Corrupt(format!("account e-mail: {e}")))?,
            name: PersonName {
                salutation: r.salutation,
                given_name: r.given_name,
                infix: r.infix,
                family_name: r.family_name,
            },
            phone: r.phone,
            mobile: r.mobile,
            locale: r
                .locale
                .as_deref()
                .and_then(|l| Locale::parse("locale", l).ok()),
            status: AccountStatus::parse(&r.status)
                .ok_or_else(|| Error::Corrupt(format!("account status {:?}", r.status)))?,
            disabled: r.disabled,
            created_at: r.created_at,
        })
    }
}

macro_rules! select_accounts {
    ($rest:literal) => {
        select_accounts!("", $rest)
    };
    ($extra:literal, $rest:literal) => {
        concat!(
            "SELECT id, email, salutation, given_name, infix, family_name, phone, mobile, locale,
                    status, disabled, created_at",
            $extra,
            " FROM accounts ",
            $rest
        )
    };
}

/// The account `id`, read on the store or inside a transaction.
pub async fn get(on: impl Into<On<'_>>, id: AccountId) -> Result<Option<Account>> {
    let row: Option<AccountRow> = on!(on.into(), |c| {
        sqlx::query_as(select_accounts!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(TryInto::try_into).transpose()
}

/// The e-mail addresses of `ids`, in one read per hundred.
pub async fn emails_of(
    store: &Store,
    ids: &[AccountId],
) -> Result<std::collections::HashMap<AccountId, String>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, email FROM accounts WHERE id IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(Uuid, String)> = reader!(store, |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for id in chunk {
                q = q.bind(id.0);
            }
            q.fetch_all(c).await
        })?;
        out.extend(rows.into_iter().map(|(id, email)| (AccountId(id), email)));
    }
    Ok(out)
}

/// The account of `email`, read on the store or inside a transaction.
pub async fn find_by_email(on: impl Into<On<'_>>, email: &Email) -> Result<Option<Account>> {
    let row: Option<AccountRow> = on!(on.into(), |c| {
        sqlx::query_as(select_accounts!("WHERE email = $1"))
            .bind(email.as_str())
            .fetch_optional(c)
            .await
    })?;
    row.map(TryInto::try_into).transpose()
}

/// The account of `new.email`, created (state `invited`, with the profile the
/// administrator entered) when there is none. The insert gives way to one
/// made at the same moment by another transaction, so concurrent adds of one
/// address end with one account (docs/RULES.md#shared-accounts). Returns
/// whether it already existed.
pub(crate) async fn find_or_create(
    tx: &mut Tx,
    new: &portier_core::members::NewMember,
    now: DateTime<Utc>,
) -> Result<(Account, bool)> {
    let account = Account {
        id: AccountId::new(),
        email: new.email.clone(),
        name: new.name.clone(),
        // The numbers an administrator types are their organization's
        // (the membership's); the account's are only what the person
        // gives themselves (docs/RULES.md#shared-accounts).
        phone: None,
        mobile: None,
        locale: None,
        status: AccountStatus::Invited,
        disabled: false,
        created_at: now,
    };
    // The new row comes back when it was written; an address that already
    // has an account is read in a second statement (the rarer case).
    let inserted: Option<Uuid> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "INSERT INTO accounts (id, email, salutation, given_name, infix, family_name, sort_key,
                phone, mobile, status, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $11)
             ON CONFLICT (email) DO NOTHING
             RETURNING id",
        )
        .bind(account.id.0)
        .bind(account.email.as_str())
        .bind(&account.name.salutation)
        .bind(&account.name.given_name)
        .bind(&account.name.infix)
        .bind(&account.name.family_name)
        .bind(account.name.sort_key(&account.email))
        .bind(&account.phone)
        .bind(&account.mobile)
        .bind(account.status.as_str())
        .bind(now)
        .fetch_optional(c)
        .await
    })?;
    if inserted.is_some() {
        return Ok((account, false));
    }
    // The account is read and held (PostgreSQL: FOR SHARE) in one step: a
    // change of its address by another organization, under way, is waited
    // for, and an account whose address just changed is not this one. Its
    // new membership then cannot land on an account another organization
    // moved meanwhile (docs/RULES.md#shared-accounts).
    let held: Option<AccountRow> = match tx.backend() {
        crate::Backend::Postgres => in_tx!(tx, |c| {
            sqlx::query_as(select_accounts!("WHERE email = $1 FOR SHARE"))
                .bind(new.email.as_str())
                .fetch_optional(c)
                .await
        })?,
        crate::Backend::Sqlite => in_tx!(tx, |c| {
            sqlx::query_as(select_accounts!("WHERE email = $1"))
                .bind(new.email.as_str())
                .fetch_optional(c)
                .await
        })?,
    };
    match held {
        Some(row) => Ok((row.try_into()?, true)),
        // Its address changed while this waited: the address is free again.
        None => Box::pin(find_or_create(tx, new, now)).await,
    }
}

/// A new account in state `invited`, with only its address known.
pub(crate) async fn insert_invited(
    tx: &mut Tx,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Account> {
    let account = Account {
        id: AccountId::new(),
        email: email.clone(),
        name: PersonName::default(),
        phone: None,
        mobile: None,
        locale: None,
        status: AccountStatus::Invited,
        disabled: false,
        created_at: now,
    };
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO accounts (id, email, sort_key, status, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, FALSE, $5, $5)",
        )
        .bind(account.id.0)
        .bind(account.email.as_str())
        .bind(account.name.sort_key(&account.email))
        .bind(account.status.as_str())
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(account)
}

/// The password policies of the organizations the account belongs to.
pub async fn password_policies(
    store: &Store,
    id: AccountId,
) -> Result<Vec<portier_core::passwords::PasswordPolicy>> {
    let rows: Vec<sqlx::types::Json<portier_core::passwords::PasswordPolicy>> = reader!(
        store,
        |c| {
            sqlx::query_scalar(
            "SELECT o.password_policy FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = $1",
        )
        .bind(id.0)
        .fetch_all(c)
        .await
        }
    )?;
    Ok(rows.into_iter().map(|j| j.0).collect())
}

/// Profile fields a person fills in at activation; each only where still empty.
#[derive(Debug, Clone, Default)]
pub struct ProfileFill {
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<portier_core::locale::Locale>,
}

/// Activates the account behind an activation token: uses the token (once,
/// also under concurrent calls), sets the password hash, completes the empty
/// profile fields and records it, in one transaction. `Ok(false)` when the
/// token was used or replaced in the meantime.
pub async fn activate(
    store: &Store,
    token: &crate::links::TokenInfo,
    password_hash: &str,
    fill: &ProfileFill,
    origin: &crate::audit::Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    if !crate::links::consume(&mut tx, token.id, origin.now).await? {
        return Ok(false);
    }
    let account = &token.account;
    // The links other organizations sent stop working: the account is
    // activated, and a password is set once this way.
    crate::links::replace_all(
        &mut tx,
        account.id,
        Some(portier_core::secrets::TokenKind::Activation),
        origin.now,
    )
    .await?;
    let name = &account.name;
    let pick =
        |have: &Option<String>, given: &Option<String>| have.clone().or_else(|| given.clone());
    let next = portier_core::accounts::PersonName {
        salutation: pick(&name.salutation, &fill.salutation),
        given_name: pick(&name.given_name, &fill.given_name),
        infix: pick(&name.infix, &fill.infix),
        family_name: pick(&name.family_name, &fill.family_name),
    };
    let activated = in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE accounts SET status = 'active', activated_at = $1, updated_at = $1,
                salutation = $2, given_name = $3, infix = $4, family_name = $5, sort_key = $6,
                phone = $7, mobile = $8, locale = $9
             WHERE id = $10 AND status = 'invited'",
        )
        .bind(origin.now)
        .bind(&next.salutation)
        .bind(&next.given_name)
        .bind(&next.infix)
        .bind(&next.family_name)
        .bind(next.sort_key(&account.email))
        .bind(pick(&account.phone, &fill.phone))
        .bind(pick(&account.mobile, &fill.mobile))
        .bind(account.locale.or(fill.locale).map(|l| l.as_str()))
        .bind(account.id.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if activated == 0 {
        // Activated already, through a link that was used at the same
        // moment: this one sets no second password.
        return Ok(false);
    }
    // Only what the person typed reaches their memberships.
    if fill.phone.is_some() && account.phone.is_none() {
        share_number(
            &mut tx,
            account.id,
            Number::Phone,
            &fill.phone,
            origin.now,
            true,
        )
        .await?;
    }
    if fill.mobile.is_some() && account.mobile.is_none() {
        share_number(
            &mut tx,
            account.id,
            Number::Mobile,
            &fill.mobile,
            origin.now,
            true,
        )
        .await?;
    }
    if next != *name {
        crate::search::reindex_account(&mut tx, account.id, &next, &account.email).await?;
    }
    set_password(&mut tx, account.id, password_hash, origin.now).await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account.id },
        action: "account.activated",
        organization_id: token.organization.as_ref().map(|o| o.id),
        target_type: "account",
        target_id: account.id.to_string(),
        // Never the password or its hash.
        changes: serde_json::json!({"status": {"before": "invited", "after": "active"}}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(&mut tx, account.id, None, event, origin.now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Locks the account's row until the transaction ends (PostgreSQL; SQLite
/// has one writer), so that what is decided about the person (their
/// memberships, their factors) holds until the change commits: no
/// membership is added to them meanwhile, no factor taken.
pub(crate) async fn lock(tx: &mut Tx, account: AccountId) -> Result<()> {
    if tx.backend() == crate::Backend::Postgres {
        in_tx!(tx, |c| {
            sqlx::query("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
                .bind(account.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// One of a person's numbers.
#[derive(Clone, Copy)]
enum Number {
    Phone,
    Mobile,
}

/// A number the person gave themselves, given to their memberships: to
/// every one, or with `only_missing` to those that have none of their own
/// (at activation).
async fn share_number(
    tx: &mut Tx,
    account: AccountId,
    which: Number,
    value: &Option<String>,
    now: DateTime<Utc>,
    only_missing: bool,
) -> Result<()> {
    let sql = match which {
        Number::Phone => {
            "UPDATE memberships SET phone = CASE WHEN $3 THEN COALESCE(phone, $2) ELSE $2 END,
                updated_at = $4 WHERE account_id = $1"
        }
        Number::Mobile => {
            "UPDATE memberships SET mobile = CASE WHEN $3 THEN COALESCE(mobile, $2) ELSE $2 END,
                updated_at = $4 WHERE account_id = $1"
        }
    };
    in_tx!(tx, |c| {
        sqlx::query(sql)
            .bind(account.0)
            .bind(value)
            .bind(only_missing)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

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

/// What sign-in needs to know about an address: the account, its password
/// hash, and whether it may sign in now (active, not disabled, and an active
/// member somewhere).
pub struct LoginCandidate {
    pub account: Account,
    pub password_hash: Option<String>,
    pub may_sign_in: bool,
    /// An authenticator app is set up: the sign-in needs a second step.
    pub second_factor: bool,
    /// Two-step verification is required of the person
    /// (docs/RULES.md#two-step-verification).
    pub two_factor_required: bool,
}

/// The account's password hash, if it has set a password.
pub async fn password_hash(store: &Store, account: AccountId) -> Result<Option<String>> {
    Ok(reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT secret FROM credentials WHERE account_id = $1 AND kind = 'password'",
        )
        .bind(account.0)
        .fetch_optional(c)
        .await
    })?)
}

/// What a sign-in needs to know before it hashes: the account behind
/// `email`, if any, and the throttle counters of `keys` (as
/// [`crate::throttles::read`] gives them).
pub struct LoginRead {
    pub candidate: Option<LoginCandidate>,
    pub counters: Vec<Option<(i64, DateTime<Utc>)>>,
}

/// One read for everything a sign-in looks up (sign-in is bounded by
/// Argon2id, so the rest must be small: docs/RULES.md#password-hashing).
/// Also one read when the address has no account, so the two take the same
/// time (docs/RULES.md#signing-in-and-sessions).
pub async fn login_candidate(store: &Store, email: &Email, keys: [&str; 3]) -> Result<LoginRead> {
    // Every column may be empty: the row comes from the address asked for,
    // whether or not an account has it.
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Option<Uuid>,
        email: Option<String>,
        salutation: Option<String>,
        given_name: Option<String>,
        infix: Option<String>,
        family_name: Option<String>,
        phone: Option<String>,
        mobile: Option<String>,
        locale: Option<String>,
        status: Option<String>,
        disabled: Option<bool>,
        created_at: Option<DateTime<Utc>>,
        password_hash: Option<String>,
        active_memberships: Option<i64>,
        second_factor: Option<bool>,
        two_factor_required: Option<bool>,
        count_1: Option<i64>,
        since_1: Option<DateTime<Utc>>,
        count_2: Option<i64>,
        since_2: Option<DateTime<Utc>>,
        count_3: Option<i64>,
        since_3: Option<DateTime<Utc>>,
    }
    let row: Row = reader!(store, |c| {
        sqlx::query_as(concat!(
            "SELECT a.id, a.email, a.salutation, a.given_name, a.infix, a.family_name, a.phone, a.mobile,
                    a.locale, a.status, a.disabled, a.created_at,
                    (SELECT secret FROM credentials WHERE account_id = a.id AND kind = 'password') AS password_hash,
                    (SELECT COUNT(*) FROM memberships WHERE account_id = a.id AND active = TRUE) AS active_memberships,
                    EXISTS (SELECT 1 FROM credentials WHERE account_id = a.id AND kind IN ('totp', 'webauthn')) AS second_factor,
                    ",
            crate::two_factor_required!("a.id"),
            " AS two_factor_required,
                    t1.count AS count_1, t1.window_start AS since_1,
                    t2.count AS count_2, t2.window_start AS since_2,
                    t3.count AS count_3, t3.window_start AS since_3
             FROM (SELECT CAST($1 AS TEXT) AS wanted) w
             LEFT JOIN accounts a ON a.email = w.wanted
             LEFT JOIN throttles t1 ON t1.key = $2
             LEFT JOIN throttles t2 ON t2.key = $3
             LEFT JOIN throttles t3 ON t3.key = $4"
        ))
        .bind(email.as_str())
        .bind(keys[0])
        .bind(keys[1])
        .bind(keys[2])
        .fetch_one(c)
        .await
    })?;
    let counters = vec![
        row.count_1.zip(row.since_1),
        row.count_2.zip(row.since_2),
        row.count_3.zip(row.since_3),
    ];
    let (Some(id), Some(stored_email), Some(status), Some(disabled), Some(created_at)) =
        (row.id, row.email, row.status, row.disabled, row.created_at)
    else {
        return Ok(LoginRead {
            candidate: None,
            counters,
        });
    };
    let account: Account = AccountRow {
        id,
        email: stored_email,
        salutation: row.salutation,
        given_name: row.given_name,
        infix: row.infix,
        family_name: row.family_name,
        phone: row.phone,
        mobile: row.mobile,
        locale: row.locale,
        status,
        disabled,
        created_at,
    }
    .try_into()?;
    let may_sign_in = may_sign_in(&account, row.active_memberships.unwrap_or(0));
    Ok(LoginRead {
        candidate: Some(LoginCandidate {
            account,
            password_hash: row.password_hash,
            may_sign_in,
            second_factor: row.second_factor.unwrap_or(false),
            two_factor_required: row.two_factor_required.unwrap_or(false),
        }),
        counters,
    })
}

/// An account signs in when it is active, not disabled, and active in at
/// least one organization.
fn may_sign_in(account: &Account, active_memberships: i64) -> bool {
    account.status == AccountStatus::Active && !account.disabled && active_memberships > 0
}

/// The account `id` when it may sign in now (a passkey named it).
pub async fn signing_in(store: &Store, id: AccountId) -> Result<Option<Account>> {
    let Some(account) = get(store, id).await? else {
        return Ok(None);
    };
    let active: i64 = reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND active = TRUE",
        )
        .bind(id.0)
        .fetch_one(c)
        .await
    })?;
    Ok(may_sign_in(&account, active).then_some(account))
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
    set_password(&mut tx, account, password_hash, origin.now).await?;
    let ended = crate::sessions::end_all_in(&mut tx, account, keep_session).await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account },
        action: "account.password_changed",
        organization_id: None,
        target_type: "account",
        target_id: account.to_string(),
        changes: serde_json::json!({"other_sessions_ended": ended}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(&mut tx, account, None, event, origin.now).await?;
    tx.commit().await
}

/// A person's change to their own profile; `None` keeps a field, `Some(None)`
/// empties it.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub salutation: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub infix: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub mobile: Option<Option<String>>,
    pub locale: Option<Option<Locale>>,
}

/// Applies the person's own profile change, recording before and after.
pub async fn update_profile(
    store: &Store,
    account: &Account,
    patch: ProfilePatch,
    origin: &crate::audit::Origin,
) -> Result<Account> {
    let mut next = account.clone();
    let set = |field: &mut Option<String>, v: Option<Option<String>>| {
        if let Some(v) = v {
            *field = v;
        }
    };
    set(&mut next.name.salutation, patch.salutation);
    set(&mut next.name.given_name, patch.given_name);
    set(&mut next.name.infix, patch.infix);
    set(&mut next.name.family_name, patch.family_name);
    set(&mut next.phone, patch.phone);
    set(&mut next.mobile, patch.mobile);
    if let Some(l) = patch.locale {
        next.locale = l;
    }
    let mut changes = serde_json::Map::new();
    portier_core::organizations::diff(
        "",
        &serde_json::to_value(account).unwrap_or_default(),
        &serde_json::to_value(&next).unwrap_or_default(),
        &mut changes,
    );
    if changes.is_empty() {
        return Ok(next);
    }
    let mut tx = store.begin().await?;
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE accounts SET salutation = $1, given_name = $2, infix = $3, family_name = $4, sort_key = $5,
                phone = $6, mobile = $7, locale = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(&next.name.salutation)
        .bind(&next.name.given_name)
        .bind(&next.name.infix)
        .bind(&next.name.family_name)
        .bind(next.name.sort_key(&next.email))
        .bind(&next.phone)
        .bind(&next.mobile)
        .bind(next.locale.map(|l| l.as_str()))
        .bind(origin.now)
        .bind(next.id.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if next.name != account.name {
        crate::search::reindex_account(&mut tx, account.id, &next.name, &next.email).await?;
    }
    // The person's own numbers reach every organization they belong to:
    // each number they changed, and only that one.
    if next.phone != account.phone {
        share_number(
            &mut tx,
            account.id,
            Number::Phone,
            &next.phone,
            origin.now,
            false,
        )
        .await?;
    }
    if next.mobile != account.mobile {
        share_number(
            &mut tx,
            account.id,
            Number::Mobile,
            &next.mobile,
            origin.now,
            false,
        )
        .await?;
    }
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account.id },
        action: "account.updated",
        organization_id: None,
        target_type: "account",
        target_id: account.id.to_string(),
        changes: serde_json::Value::Object(changes),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(&mut tx, account.id, None, event, origin.now).await?;
    tx.commit().await?;
    Ok(next)
}

/// The accounts of these addresses (those that have one), with one
/// statement per few thousand addresses.
///
/// With `hold` (rows about to be written), PostgreSQL holds the accounts
/// (FOR SHARE) until the commit, as `find_or_create` does: one whose address
/// another organization is changing is waited for, and is not found if its
/// address changed; its row then makes an account of its own.
pub(crate) async fn by_emails(tx: &mut Tx, emails: &[&str], hold: bool) -> Result<Vec<Account>> {
    let lock = if hold && tx.backend() == crate::Backend::Postgres {
        " FOR SHARE"
    } else {
        ""
    };
    let mut out = Vec::with_capacity(emails.len());
    for chunk in emails.chunks(2000) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{}({}){lock}",
            select_accounts!("WHERE email IN "),
            marks.join(", ")
        );
        let args: Vec<crate::db::Arg> = chunk
            .iter()
            .map(|e| crate::db::Arg::Text((*e).to_owned()))
            .collect();
        let rows: Vec<AccountRow> = in_tx!(tx, |c| {
            // Placeholders only; the addresses are bound.
            crate::bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), &args)
                .fetch_all(c)
                .await
        })?;
        for row in rows {
            out.push(row.try_into()?);
        }
    }
    Ok(out)
}

/// Writes new accounts (state `invited`) unless their address was taken
/// meanwhile; returns the ids written.
pub(crate) async fn insert_many(tx: &mut Tx, accounts: &[&Account]) -> Result<Vec<Uuid>> {
    let mut args = Vec::with_capacity(accounts.len() * 13);
    for a in accounts {
        args.extend([
            crate::db::Arg::Id(a.id.0),
            crate::db::Arg::Text(a.email.as_str().to_owned()),
            crate::db::Arg::OptText(a.name.salutation.clone()),
            crate::db::Arg::OptText(a.name.given_name.clone()),
            crate::db::Arg::OptText(a.name.infix.clone()),
            crate::db::Arg::OptText(a.name.family_name.clone()),
            crate::db::Arg::Text(a.name.sort_key(&a.email)),
            crate::db::Arg::OptText(a.phone.clone()),
            crate::db::Arg::OptText(a.mobile.clone()),
            crate::db::Arg::Text(a.status.as_str().to_owned()),
            crate::db::Arg::Bool(a.disabled),
            crate::db::Arg::Time(a.created_at),
            crate::db::Arg::Time(a.created_at),
        ]);
    }
    crate::db::insert_many(
        tx,
        "INSERT INTO accounts (id, email, salutation, given_name, infix, family_name, sort_key,
            phone, mobile, status, disabled, created_at, updated_at)",
        13,
        "ON CONFLICT (email) DO NOTHING RETURNING id",
        args,
    )
    .await
}
