//! The mail outbox: a message is a row written in the same transaction as the
//! change that causes it; a worker delivers it later (DESIGN §3).

use chrono::{DateTime, Utc};
use portier_core::email::Email;
use portier_core::ids::{AccountId, MailId, OrganizationId};
use portier_core::locale::Locale;

use crate::{Result, Tx, in_tx};

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
