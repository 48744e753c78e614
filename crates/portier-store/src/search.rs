//! Keeps the member list's sort keys and search terms (portier_core::search)
//! in step with the accounts and memberships they come from. Every write that
//! changes a name, an address or a staff code calls in here in its own
//! transaction, so a list never shows a member under an old name.

use portier_core::accounts::PersonName;
use portier_core::email::Email;
use portier_core::ids::{AccountId, MembershipId, OrganizationId};
use uuid::Uuid;

use crate::db::Arg;
use crate::{Error, Result, Tx, in_tx};

/// Writes the terms of a membership that has none yet. Each carries the
/// member's sort key, so a search with few matches sorts them without
/// reading the memberships.
pub(crate) async fn insert_terms(
    tx: &mut Tx,
    membership: MembershipId,
    organization: OrganizationId,
    account: AccountId,
    name: &PersonName,
    email: &Email,
    staff_code: Option<&str>,
) -> Result<()> {
    let args = term_rows(membership, organization, account, name, email, staff_code);
    insert_term_rows(tx, args).await
}

/// The rows of `member_terms` for one membership, as [`insert_term_rows`]
/// takes them.
pub(crate) fn term_rows(
    membership: MembershipId,
    organization: OrganizationId,
    account: AccountId,
    name: &PersonName,
    email: &Email,
    staff_code: Option<&str>,
) -> Vec<Arg> {
    let sort_key = name.sort_key(email);
    portier_core::search::terms(name, email, staff_code)
        .into_iter()
        .flat_map(|term| {
            [
                Arg::Id(organization.0),
                Arg::Text(term),
                Arg::Id(membership.0),
                Arg::Text(sort_key.clone()),
                Arg::Id(account.0),
            ]
        })
        .collect()
}

/// Writes terms (one statement for many: adding members is a hot path).
pub(crate) async fn insert_term_rows(tx: &mut Tx, rows: Vec<Arg>) -> Result<()> {
    crate::db::insert_many(
        tx,
        "INSERT INTO member_terms (organization_id, term, membership_id, sort_key, account_id)",
        5,
        "",
        rows,
    )
    .await?;
    Ok(())
}

/// After a change to an account's name or address (or a membership's staff
/// code): new sort key and terms for every membership it has. The account's
/// own row is the caller's: it writes the new name and sort key there.
pub(crate) async fn reindex_account(
    tx: &mut Tx,
    account: AccountId,
    name: &PersonName,
    email: &Email,
) -> Result<()> {
    let memberships: Vec<(Uuid, Uuid, Option<String>)> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT id, organization_id, staff_code FROM memberships WHERE account_id = $1",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    let sort_key = name.sort_key(email);
    in_tx!(tx, |c| {
        sqlx::query("UPDATE memberships SET sort_key = $1 WHERE account_id = $2")
            .bind(&sort_key)
            .bind(account.0)
            .execute(&mut *c)
            .await?;
        sqlx::query(
            "DELETE FROM member_terms WHERE membership_id IN
                 (SELECT id FROM memberships WHERE account_id = $1)",
        )
        .bind(account.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    for (id, org, staff_code) in memberships {
        insert_terms(
            tx,
            id.into(),
            org.into(),
            account,
            name,
            email,
            staff_code.as_deref(),
        )
        .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Indexable {
    account_id: Uuid,
    email: String,
    salutation: Option<String>,
    given_name: Option<String>,
    infix: Option<String>,
    family_name: Option<String>,
}

/// Runs the work migrations left for the binary (the `maintenance` table),
/// once: the first node to get here does it, the others find it done.
pub(crate) async fn run_pending(tx: &mut Tx) -> Result<()> {
    let claimed = in_tx!(tx, |c| {
        sqlx::query("DELETE FROM maintenance WHERE task = 'member_search'")
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if claimed == 0 {
        return Ok(());
    }
    // Every account that has a membership, a page at a time.
    let mut after = Uuid::nil();
    loop {
        let page: Vec<Indexable> = in_tx!(tx, |c| {
            sqlx::query_as(
                "SELECT id AS account_id, email, salutation, given_name, infix, family_name
                 FROM accounts
                 WHERE id > $1 AND id IN (SELECT account_id FROM memberships)
                 ORDER BY id LIMIT 500",
            )
            .bind(after)
            .fetch_all(c)
            .await
        })?;
        let Some(last) = page.last() else { break };
        after = last.account_id;
        for row in page {
            let email = Email::parse(&row.email)
                .map_err(|e| Error::Corrupt(format!("e-mail {:?}: {e}", row.email)))?;
            let name = PersonName {
                salutation: row.salutation,
                given_name: row.given_name,
                infix: row.infix,
                family_name: row.family_name,
            };
            // Sort keys are folded since this migration (Çelik under C).
            in_tx!(tx, |c| {
                sqlx::query("UPDATE accounts SET sort_key = $1 WHERE id = $2")
                    .bind(name.sort_key(&email))
                    .bind(row.account_id)
                    .execute(c)
                    .await
                    .map(|r| r.rows_affected())
            })?;
            reindex_account(tx, row.account_id.into(), &name, &email).await?;
        }
    }
    Ok(())
}
