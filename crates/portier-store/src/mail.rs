//! The mail outbox: a message is a row written in the same transaction as the
//! change that causes it, so that both happen or neither does; a worker
//! delivers it later, with retries (docs/ARCHITECTURE.md#crates-and-layers).

use chrono::{DateTime, Utc};
use portier_core::accounts::Account;
use portier_core::email::Email;
use portier_core::ids::{AccountId, MailId, OrganizationId};
use portier_core::locale::Locale;
use portier_core::mail::{MailContext, MailKind};
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, MembersRead, OnMembers};

use crate::lifecycle::Lifecycle;
use crate::{Error, Result, Tx, in_tx, writer};

/// A message ready to be queued, already rendered in the recipient's language.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub kind: &'static str,
    pub to: Email,
    pub account_id: Option<AccountId>,
    pub organization_id: Option<OrganizationId>,
    pub locale: Locale,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
}

pub async fn enqueue(tx: &mut Tx, mail: &NewMail, now: DateTime<Utc>) -> Result<MailId> {
    let id = MailId::new();
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO mail_outbox (id, kind, to_address, account_id, organization_id, locale,
                subject, body_text, body_html, status, attempts, next_attempt_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, $10)",
        )
        .bind(id.0)
        .bind(mail.kind)
        .bind(mail.to.as_str())
        .bind(mail.account_id.map(|a| a.0))
        .bind(mail.organization_id.map(|o| o.0))
        .bind(mail.locale.as_str())
        .bind(&mail.subject)
        .bind(&mail.body_text)
        .bind(&mail.body_html)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(id)
}

/// Renders `kind` in the person's language (the account's, else the
/// organization's) and queues it.
pub(crate) async fn enqueue_rendered(
    tx: &mut Tx,
    lifecycle: &Lifecycle,
    kind: MailKind,
    account: &Account,
    org: Option<&Organization>,
    ctx: &MailContext,
    now: DateTime<Utc>,
) -> Result<MailId> {
    let to = Recipient {
        address: &account.email,
        account: Some(account.id),
        locale: account.locale,
    };
    render_and_enqueue(tx, lifecycle, kind, to, org, ctx, now).await
}

/// Renders `kind` for an address that may have no account (a sign-up's
/// confirmation, a domain's proof) and queues it in `tx`: in `locale` (the
/// language of the form it came from), else the organization's, else the
/// platform's.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn enqueue_in(
    tx: &mut Tx,
    lifecycle: &Lifecycle,
    kind: MailKind,
    to: &Email,
    org: Option<&Organization>,
    locale: Option<Locale>,
    ctx: &MailContext,
    now: DateTime<Utc>,
) -> Result<MailId> {
    let to = Recipient {
        address: to,
        account: None,
        locale,
    };
    render_and_enqueue(tx, lifecycle, kind, to, org, ctx, now).await
}

/// Whom a message goes to, and in which language they asked for it.
struct Recipient<'a> {
    address: &'a Email,
    account: Option<AccountId>,
    locale: Option<Locale>,
}

async fn render_and_enqueue(
    tx: &mut Tx,
    lifecycle: &Lifecycle,
    kind: MailKind,
    to: Recipient<'_>,
    org: Option<&Organization>,
    ctx: &MailContext,
    now: DateTime<Utc>,
) -> Result<MailId> {
    let locale = to
        .locale
        .or(org.map(|o| o.settings.locale))
        .unwrap_or_default();
    let rendered = lifecycle
        .templates
        .render(kind, locale, ctx)
        .map_err(Error::Corrupt)?;
    let mail = NewMail {
        kind: kind.as_str(),
        to: to.address.clone(),
        account_id: to.account,
        organization_id: org.map(|o| o.id),
        locale,
        subject: rendered.subject,
        body_text: rendered.text,
        body_html: Some(rendered.html),
    };
    enqueue(tx, &mail, now).await
}

/// A queued or delivered message, as operators see the outbox.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct OutboxMail {
    pub id: uuid::Uuid,
    pub kind: String,
    pub to_address: String,
    pub account_id: Option<uuid::Uuid>,
    pub organization_id: Option<uuid::Uuid>,
    pub locale: String,
    pub subject: String,
    pub body_text: String,
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The newest messages first (ids are time-ordered UUIDv7, so the primary
/// key gives the order); with `to`, only those to that address.
pub async fn recent(
    store: &crate::Store,
    to: Option<&Email>,
    limit: i64,
) -> Result<Vec<OutboxMail>> {
    let to = to.map(Email::as_str);
    Ok(crate::reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, kind, to_address, account_id, organization_id, locale, subject, body_text,
                    status, attempts, last_error, created_at, sent_at
             FROM mail_outbox WHERE ($1 IS NULL OR to_address = $1)
             ORDER BY id DESC LIMIT $2",
        )
        .bind(to)
        .bind(limit)
        .fetch_all(c)
        .await
    })?)
}

/// A message claimed for delivery by one worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claimed {
    pub id: uuid::Uuid,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    /// This attempt's number, from 1.
    pub attempts: i32,
}

/// Claims up to `limit` messages that are due, for `lease`: a worker that dies
/// mid-delivery leaves them to be claimed again when the lease ends. On
/// PostgreSQL, workers on several nodes skip each other's rows.
pub async fn claim_due(
    store: &crate::Store,
    now: DateTime<Utc>,
    lease: std::time::Duration,
    limit: i64,
) -> Result<Vec<Claimed>> {
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    let mut tx = store.begin().await?;
    let claimed: Vec<Claimed> = match tx.backend() {
        crate::Backend::Sqlite => in_tx!(&mut tx, |c| {
            sqlx::query_as(
                "UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $2
                 WHERE id IN (SELECT id FROM mail_outbox
                              WHERE status IN ('pending', 'retry', 'sending') AND next_attempt_at <= $1
                              ORDER BY next_attempt_at LIMIT $3)
                 RETURNING id, to_address, subject, body_text, body_html, attempts",
            )
            .bind(now)
            .bind(until)
            .bind(limit)
            .fetch_all(c)
            .await
        })?,
        crate::Backend::Postgres => in_tx!(&mut tx, |c| {
            sqlx::query_as(
                "UPDATE mail_outbox SET status = 'sending', attempts = attempts + 1, next_attempt_at = $2
                 WHERE id IN (SELECT id FROM mail_outbox
                              WHERE status IN ('pending', 'retry', 'sending') AND next_attempt_at <= $1
                              ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING id, to_address, subject, body_text, body_html, attempts",
            )
            .bind(now)
            .bind(until)
            .bind(limit)
            .fetch_all(c)
            .await
        })?,
    };
    tx.commit().await?;
    Ok(claimed)
}

/// How one delivery attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Accepted by the SMTP server.
    Sent,
    /// Kept in the development mailbox (no SMTP configured).
    DevMailbox,
    /// Refused or unreachable; tried again at `retry_at`, or never again.
    Failed {
        error: String,
        retry_at: Option<DateTime<Utc>>,
    },
}

pub async fn record_outcome(
    store: &crate::Store,
    id: uuid::Uuid,
    outcome: &Outcome,
    now: DateTime<Utc>,
) -> Result<()> {
    let (status, sent_at, error, next) = match outcome {
        Outcome::Sent => ("sent", Some(now), None, now),
        Outcome::DevMailbox => ("dev_mailbox", Some(now), None, now),
        Outcome::Failed {
            error,
            retry_at: Some(at),
        } => ("retry", None, Some(error.as_str()), *at),
        Outcome::Failed {
            error,
            retry_at: None,
        } => ("failed", None, Some(error.as_str()), now),
    };
    // Once a message has left for good (sent, or given up on), its body is
    // erased: it held a single-use link whose token is otherwise stored only
    // as a hash, and a copy in the database (or a backup of it) would be a
    // way in. The development mailbox keeps it: there the row is the mail.
    let erase = matches!(
        outcome,
        Outcome::Sent | Outcome::Failed { retry_at: None, .. }
    );
    let sql = if erase {
        "UPDATE mail_outbox SET status = $1, sent_at = $2, last_error = $3, next_attempt_at = $4,
                body_text = $6, body_html = NULL WHERE id = $5"
    } else {
        "UPDATE mail_outbox SET status = $1, sent_at = $2, last_error = $3, next_attempt_at = $4
         WHERE id = $5"
    };
    writer!(store, |c| {
        let query = sqlx::query(sql)
            .bind(status)
            .bind(sent_at)
            .bind(error)
            .bind(next)
            .bind(id);
        let query = if erase {
            query.bind(ERASED_BODY)
        } else {
            query
        };
        query.execute(c).await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// What a delivered message's body becomes.
pub const ERASED_BODY: &str = "(removed after delivery: it may have held a single-use link)";

/// The latest invitation to `account` from `org`, for "invitation not
/// delivered" on the member's page.
pub async fn latest_invitation(
    store: &crate::Store,
    account: AccountId,
    auth: &Authorized<impl OnMembers>,
) -> Result<Option<OutboxMail>> {
    let org = auth.organization_id();
    Ok(crate::reader!(store, |c| {
        sqlx::query_as(
            "SELECT id, kind, to_address, account_id, organization_id, locale, subject, body_text,
                    status, attempts, last_error, created_at, sent_at
             FROM mail_outbox WHERE account_id = $1 AND organization_id = $2 AND kind = 'invitation'
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(account.0)
        .bind(org.0)
        .fetch_optional(c)
        .await
    })?)
}

/// Of `accounts`, those whose latest invitation from `org` could not be
/// delivered ("invitation not delivered" in the list of members).
pub async fn undelivered_invitations(
    store: &crate::Store,
    auth: &Authorized<MembersRead>,
    accounts: &[AccountId],
) -> Result<std::collections::HashSet<AccountId>> {
    let org = auth.organization_id();
    let mut undelivered = std::collections::HashSet::new();
    for chunk in accounts.chunks(100) {
        let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT account_id, status FROM mail_outbox
             WHERE organization_id = $1 AND kind = 'invitation' AND account_id IN ({})
             ORDER BY created_at, id",
            placeholders.join(", ")
        );
        let rows: Vec<(uuid::Uuid, String)> = crate::reader!(store, |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(org.0);
            for a in chunk {
                q = q.bind(a.0);
            }
            q.fetch_all(c).await
        })?;
        // The latest of each account decides.
        for (account, status) in rows {
            if status == "failed" {
                undelivered.insert(AccountId(account));
            } else {
                undelivered.remove(&AccountId(account));
            }
        }
    }
    Ok(undelivered)
}
