//! The members of an organization, read out for an export (issue 9, seed
//! 002: labels and identification codes included). One query, read as a
//! stream and handed on row by row, so a million members never sit in
//! memory at once.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use portier_core::organizations::Organization;
use sqlx::types::Json;
use tokio::sync::mpsc::Sender;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Result, Store};

/// One member as exported.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ExportRow {
    pub account_id: Uuid,
    /// The organization (this one, or one below it with `children`).
    pub organization: String,
    pub email: String,
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub job_title: Option<String>,
    pub description: Option<String>,
    pub staff_code: Option<String>,
    pub labels: Json<Vec<String>>,
    /// Role keys, in order, separated by ", ".
    pub roles: Option<String>,
    /// Group names, in order, separated by ", ".
    pub groups: Option<String>,
    pub register: Option<String>,
    pub registration_number: Option<String>,
    pub registration_state: Option<String>,
    /// The type of the portfolio active here.
    pub portfolio: Option<String>,
    pub two_factor: bool,
    pub active: bool,
    pub account_status: String,
    pub disabled: bool,
    pub awaiting_approval: bool,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
}

macro_rules! export_sql {
    ($roles:literal, $groups:literal) => {
        concat!(
            "SELECT a.id AS account_id, o.name AS organization, a.email, a.salutation, a.given_name,
                    a.infix, a.family_name, a.phone, a.mobile, m.job_title, m.description, m.staff_code, m.labels,
                    (SELECT ", $roles, ") AS roles,
                    (SELECT ", $groups, ") AS groups,
                    g.register, g.number AS registration_number, g.state AS registration_state,
                    (SELECT p.type_key FROM portfolios p
                      WHERE p.account_id = a.id AND p.organization_id = m.organization_id
                        AND p.state = 'active' ORDER BY p.id LIMIT 1) AS portfolio,
                    EXISTS (SELECT 1 FROM credentials cr
                             WHERE cr.account_id = a.id AND cr.kind IN ('totp', 'webauthn')) AS two_factor,
                    m.active, a.status AS account_status, a.disabled, m.awaiting_approval,
                    m.created_at, a.activated_at
             FROM memberships m
               JOIN organizations o ON o.id = m.organization_id
               JOIN accounts a ON a.id = m.account_id
               LEFT JOIN registrations g ON g.account_id = a.id
             WHERE (m.organization_id = $1
                    OR ($2 AND substr(o.path, 1, length($3)) = $3))
             ORDER BY o.path, m.sort_key, m.account_id"
        )
    };
}

/// Rows handed on at once: one wake-up of the receiver per batch, not per
/// member.
pub const BATCH: usize = 256;

/// Sends every member of `org` (and, with `children`, of the organizations
/// below it) to `out` in batches of [`BATCH`], in the order of the users
/// list; stops early when the receiver is gone. Returns how many were sent.
pub async fn members(
    store: &Store,
    org: &Organization,
    children: bool,
    out: Sender<Vec<ExportRow>>,
) -> Result<u64> {
    macro_rules! run {
        ($sql:expr, $c:ident) => {{
            let mut rows = sqlx::query_as::<_, ExportRow>($sql)
                .bind(org.id.0)
                .bind(children)
                .bind(org.path.as_str())
                .fetch($c);
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                match rows.try_next().await {
                    Ok(Some(row)) => {
                        batch.push(row);
                        if batch.len() == BATCH {
                            let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                            if out.send(full).await.is_err() {
                                break Ok(sent);
                            }
                            sent += BATCH as u64;
                        }
                    }
                    Ok(None) => {
                        let rest = batch.len() as u64;
                        if rest > 0 && out.send(batch).await.is_ok() {
                            sent += rest;
                        }
                        break Ok(sent);
                    }
                    Err(e) => break Err(e),
                }
            }
        }};
    }
    let sent: std::result::Result<u64, sqlx::Error> = match &store.db {
        crate::db::Db::Sqlite { read, .. } => crate::with_conn!(read, |c| {
            run!(
            export_sql!(
                "group_concat(k, ', ') FROM (SELECT r.key AS k FROM membership_roles mr
                  JOIN roles r ON r.id = mr.role_id WHERE mr.membership_id = m.id ORDER BY r.key)",
                "group_concat(n, ', ') FROM (SELECT gr.name AS n FROM group_members gm
                  JOIN groups gr ON gr.id = gm.group_id WHERE gm.membership_id = m.id ORDER BY gr.name)"
            ),
            c
        )
        }),
        crate::db::Db::Postgres { pool, .. } => crate::with_conn!(pool, |c| run!(
            export_sql!(
                "string_agg(r.key, ', ' ORDER BY r.key) FROM membership_roles mr
                  JOIN roles r ON r.id = mr.role_id WHERE mr.membership_id = m.id",
                "string_agg(gr.name, ', ' ORDER BY gr.name) FROM group_members gm
                  JOIN groups gr ON gr.id = gm.group_id WHERE gm.membership_id = m.id"
            ),
            c
        )),
    };
    Ok(sent?)
}

/// Records that `actor` exported the members of `org` (personal data
/// leaving the system), and how.
pub async fn record(
    store: &Store,
    actor: &portier_core::audit::Actor,
    org: &Organization,
    format: portier_core::export::Format,
    children: bool,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: actor.clone(),
        action: "members.exported",
        organization_id: Some(org.id),
        target_type: "organization",
        target_id: org.id.to_string(),
        changes: serde_json::json!({"format": format.as_str(), "children": children}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    tx.commit().await
}
