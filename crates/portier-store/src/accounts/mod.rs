//! Accounts: one row per person, keyed by the normalized e-mail address.

use chrono::{DateTime, Utc};
use portier_core::accounts::{Account, AccountStatus, PersonName};
use portier_core::email::Email;
use portier_core::ids::AccountId;
use portier_core::locale::Locale;
use uuid::Uuid;

use crate::db::On;
use crate::{Error, Result, Store, Tx, in_tx, on, reader};

mod passwords;
mod profile;
mod sign_in;

pub use passwords::*;
pub use profile::*;
pub use sign_in::*;

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
