//! Signing in: the account and its password hash read in one go, and who may sign in at all.

#[allow(unused_imports)]
use super::*;

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
pub(crate) fn may_sign_in(account: &Account, active_memberships: i64) -> bool {
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
