//! Accounts: one row per person, keyed by the normalized e-mail address.

use chrono::{DateTime, Utc};
use portier_core::accounts::{Account, AccountStatus, PersonName};
use portier_core::email::Email;
use portier_core::ids::AccountId;
use portier_core::locale::Locale;
use uuid::Uuid;

use crate::{Error, Result, Store, Tx, in_tx, reader};

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: Uuid,
    email: String,
    salutation: Option<String>,
    given_name: Option<String>,
    infix: Option<String>,
    family_name: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    locale: Option<String>,
    status: String,
    disabled: bool,
    created_at: DateTime<Utc>,
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
        concat!(
            "SELECT id, email, salutation, given_name, infix, family_name, phone, mobile, locale,
                    status, disabled, created_at FROM accounts ",
            $rest
        )
    };
}

pub async fn get(store: &Store, id: AccountId) -> Result<Option<Account>> {
    let row: Option<AccountRow> = reader!(store, |c| {
        sqlx::query_as(select_accounts!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(TryInto::try_into).transpose()
}

pub async fn find_by_email_tx(tx: &mut Tx, email: &Email) -> Result<Option<Account>> {
    let row: Option<AccountRow> = in_tx!(tx, |c| {
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
/// address end with one account (seed 000). Returns whether it already existed.
pub(crate) async fn find_or_create(
    tx: &mut Tx,
    new: &portier_core::members::NewMember,
    now: DateTime<Utc>,
) -> Result<(Account, bool)> {
    let id = AccountId::new();
    let inserted = in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO accounts (id, email, salutation, given_name, infix, family_name, sort_key,
                phone, mobile, status, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, FALSE, $11, $11)
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(id.0)
        .bind(new.email.as_str())
        .bind(&new.name.salutation)
        .bind(&new.name.given_name)
        .bind(&new.name.infix)
        .bind(&new.name.family_name)
        .bind(new.name.sort_key(&new.email))
        .bind(&new.phone)
        .bind(&new.mobile)
        .bind(AccountStatus::Invited.as_str())
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    let account = find_by_email_tx(tx, &new.email)
        .await?
        .ok_or_else(|| Error::Corrupt(format!("the account of {} vanished", new.email)))?;
    Ok((account, inserted == 0))
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
