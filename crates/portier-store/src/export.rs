//! The members of an organization, read out for an export (issue 9, seed
//! 002: labels and identification codes included). One query, read as a
//! stream and handed on in batches, so a million members never sit in
//! memory at once.
//!
//! On SQLite each member comes as one JSON array that SQLite builds itself:
//! sqlx's SQLite driver copies every value of a row into an allocation of
//! its own on its worker thread, so 27 columns cost far more there than the
//! query does; one text a row, parsed here, is several times faster.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use portier_core::organizations::Organization;
use sqlx::types::Json;
use tokio::sync::mpsc::Sender;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Result, Store};

/// One member as exported. On SQLite read from a JSON array of the fields
/// in this order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Deserialize)]
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
    /// Role keys, in order, each after the first preceded by U+001F (a
    /// group's name may hold a comma).
    pub roles: Option<String>,
    /// Group names, in order, separated as the roles are.
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

/// The members of `$1` (and with `$2` of the organizations below, whose
/// paths begin with `$3`), in the order of the users list.
macro_rules! members_of {
    () => {
        "FROM memberships m
           JOIN organizations o ON o.id = m.organization_id
           JOIN accounts a ON a.id = m.account_id
           LEFT JOIN registrations g ON g.account_id = a.id
         WHERE (m.organization_id = $1
                OR ($2 AND substr(o.path, 1, length($3)) = $3))
         ORDER BY o.path, m.sort_key, m.account_id"
    };
}

/// PostgreSQL: the members with their fields as columns.
const POSTGRES_SQL: &str = concat!(
    "SELECT a.id AS account_id, o.name AS organization, a.email, a.salutation, a.given_name,
        a.infix, a.family_name, a.phone, a.mobile, m.job_title, m.description, m.staff_code, m.labels,
        (SELECT string_agg(r.key, chr(31) ORDER BY r.key) FROM membership_roles mr
          JOIN roles r ON r.id = mr.role_id WHERE mr.membership_id = m.id) AS roles,
        (SELECT string_agg(gr.name, chr(31) ORDER BY gr.name) FROM group_members gm
          JOIN groups gr ON gr.id = gm.group_id WHERE gm.membership_id = m.id) AS groups,
        g.register, g.number AS registration_number, g.state AS registration_state,
        (SELECT p.type_key FROM portfolios p
          WHERE p.account_id = a.id AND p.organization_id = m.organization_id
            AND p.state = 'active' ORDER BY p.id LIMIT 1) AS portfolio,
        EXISTS (SELECT 1 FROM credentials cr
                 WHERE cr.account_id = a.id AND cr.kind IN ('totp', 'webauthn')) AS two_factor,
        m.active, a.status AS account_status, a.disabled, m.awaiting_approval,
        m.created_at, a.activated_at ",
    members_of!()
);

/// SQLite: every member as one JSON array of [`ExportRow`]'s fields in
/// order. Roles and groups come unsorted ([`sorted_list`] orders them): an
/// ordered subquery would sort in a temporary b-tree per member. The
/// portfolio is found by account (`+` keeps SQLite from scanning all of the
/// organization's portfolios per member).
const SQLITE_SQL: &str = concat!(
    "SELECT json_array(lower(hex(a.id)), o.name, a.email, a.salutation, a.given_name,
        a.infix, a.family_name, a.phone, a.mobile, m.job_title, m.description, m.staff_code,
        json(m.labels),
        (SELECT group_concat(r.key, char(31)) FROM membership_roles mr
          JOIN roles r ON r.id = mr.role_id WHERE mr.membership_id = m.id),
        (SELECT group_concat(gr.name, char(31)) FROM group_members gm
          JOIN groups gr ON gr.id = gm.group_id WHERE gm.membership_id = m.id),
        g.register, g.number, g.state,
        (SELECT p.type_key FROM portfolios p
          WHERE p.account_id = a.id AND +p.organization_id = m.organization_id
            AND p.state = 'active' ORDER BY p.id LIMIT 1),
        json(iif(EXISTS (SELECT 1 FROM credentials cr
                          WHERE cr.account_id = a.id AND cr.kind IN ('totp', 'webauthn')), 'true', 'false')),
        json(iif(m.active, 'true', 'false')), a.status, json(iif(a.disabled, 'true', 'false')),
        json(iif(m.awaiting_approval, 'true', 'false')), m.created_at, a.activated_at) ",
    members_of!()
);

/// A list SQLite joined with unit separators, in order.
fn sorted_list(list: &mut Option<String>) {
    if let Some(l) = list.as_mut()
        && l.contains('\u{1f}')
    {
        let mut items: Vec<&str> = l.split('\u{1f}').collect();
        items.sort_unstable();
        *l = items.join("\u{1f}");
    }
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
    /// Hands the rows of `$rows` (a stream of results), each made into an
    /// [`ExportRow`] by `$row`, to `out` in batches.
    macro_rules! send_all {
        ($rows:expr, |$r:ident| $row:expr) => {{
            let mut rows = $rows;
            let mut sent = 0u64;
            let mut batch = Vec::with_capacity(BATCH);
            loop {
                match rows.try_next().await {
                    Ok(Some($r)) => {
                        batch.push($row);
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
            send_all!(
                sqlx::query_scalar::<_, String>(SQLITE_SQL)
                    .bind(org.id.0)
                    .bind(children)
                    .bind(org.path.as_str())
                    .fetch(c),
                |packed| {
                    let mut row: ExportRow = match serde_json::from_str(&packed) {
                        Ok(row) => row,
                        Err(e) => break Err(sqlx::Error::Decode(Box::new(e))),
                    };
                    sorted_list(&mut row.roles);
                    sorted_list(&mut row.groups);
                    row
                }
            )
        }),
        crate::db::Db::Postgres { pool, .. } => crate::with_conn!(pool, |c| send_all!(
            sqlx::query_as::<_, ExportRow>(POSTGRES_SQL)
                .bind(org.id.0)
                .bind(children)
                .bind(org.path.as_str())
                .fetch(c),
            |row| row
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
