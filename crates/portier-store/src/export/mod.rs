//! The members of an organization, read out for an export
//! (docs/RULES.md#export: labels and staff codes included), handed on in
//! batches so a million members never sit in memory at once: one organization
//! of more than a page in pages read side by side on one snapshot, otherwise
//! one query read as a stream. Each batch takes its members as [`Member`]s that
//! borrow the text of the rows they were read from, on the task that read them:
//! a PostgreSQL page is written out (as CSV, say) by its reader, without a
//! string made for each field of each member.
//!
//! On SQLite each member comes as one JSON array that SQLite builds itself:
//! sqlx's SQLite driver copies every value of a row into an allocation of
//! its own on its worker thread, so 27 columns cost far more there than the
//! query does; one text a row, parsed here, is several times faster.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use portier_core::organizations::Organization;
use portier_core::profile::DETAIL_FIELDS;
use portier_core::rights::{Authorized, MembersRead};
use sqlx::types::Json;
use tokio::sync::mpsc::Sender;
use uuid::Uuid;

use crate::audit::{self, Origin};
pub use crate::members::RowDetails;
use crate::{Result, Store};

/// How many profile fields a membership holds.
const DETAILS: usize = DETAIL_FIELDS.len();

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
    #[sqlx(flatten)]
    pub details: RowDetails,
    pub labels: Json<Vec<String>>,
    /// Role keys, each after the first preceded by U+001F (a group's name
    /// may hold a comma), in any order: [`ExportRow::member`] orders them.
    pub roles: Option<String>,
    /// Group names, separated as the roles are.
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

/// One member as an export hands it on, borrowing the text of the row it
/// was read from: a million members are not a million sets of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member<'a> {
    pub account_id: Uuid,
    pub organization: &'a str,
    pub email: &'a str,
    pub salutation: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub infix: Option<&'a str>,
    pub family_name: Option<&'a str>,
    /// The membership's profile fields, in [`DETAIL_FIELDS`] order.
    pub details: [Option<&'a str>; DETAILS],
    pub labels: Vec<std::borrow::Cow<'a, str>>,
    /// Role keys, in order.
    pub roles: Vec<&'a str>,
    /// Group names, in order.
    pub groups: Vec<&'a str>,
    pub register: Option<&'a str>,
    pub registration_number: Option<&'a str>,
    pub registration_state: Option<&'a str>,
    pub portfolio: Option<&'a str>,
    pub two_factor: bool,
    pub active: bool,
    pub account_status: &'a str,
    pub disabled: bool,
    pub awaiting_approval: bool,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
}

/// Names joined with unit separators, in order (the order of bytes, as
/// the one query's `COLLATE "C"` sorts).
fn in_order(list: &Option<String>) -> Vec<&str> {
    let mut names: Vec<&str> = list
        .as_deref()
        .map_or_else(Vec::new, |l| l.split('\u{1f}').collect());
    names.sort_unstable();
    names
}

impl<'a> Member<'a> {
    /// Every profile field's value, in [`portier_core::profile::FIELDS`]
    /// order: the name's, then the membership's.
    pub fn profile(&self) -> [Option<&'a str>; portier_core::profile::FIELDS.len()] {
        let name = [
            self.salutation,
            self.given_name,
            self.infix,
            self.family_name,
        ];
        let mut out = [None; portier_core::profile::FIELDS.len()];
        for (value, v) in out.iter_mut().zip(name.into_iter().chain(self.details)) {
            *value = v;
        }
        out
    }
}

impl ExportRow {
    /// The row as the export hands it on.
    pub fn member(&self) -> Member<'_> {
        Member {
            account_id: self.account_id,
            organization: &self.organization,
            email: &self.email,
            salutation: self.salutation.as_deref(),
            given_name: self.given_name.as_deref(),
            infix: self.infix.as_deref(),
            family_name: self.family_name.as_deref(),
            details: self.details.0.each_ref().map(Option::as_deref),
            labels: self
                .labels
                .0
                .iter()
                .map(|l| std::borrow::Cow::Borrowed(l.as_str()))
                .collect(),
            roles: in_order(&self.roles),
            groups: in_order(&self.groups),
            register: self.register.as_deref(),
            registration_number: self.registration_number.as_deref(),
            registration_state: self.registration_state.as_deref(),
            portfolio: self.portfolio.as_deref(),
            two_factor: self.two_factor,
            active: self.active,
            account_status: &self.account_status,
            disabled: self.disabled,
            awaiting_approval: self.awaiting_approval,
            created_at: self.created_at,
            activated_at: self.activated_at,
        }
    }
}

/// What an export hands its members on in: each batch takes its members
/// as they are read (written out as text, say, on the reader's own task),
/// and goes on whole, in order.
pub trait Batch: Send + 'static {
    fn add(&mut self, member: &Member<'_>);
    /// How many members it holds.
    fn members(&self) -> usize;
}

/// The tables an export reads its members from; [`joins`] adds the
/// registrations.
macro_rules! member_joins {
    () => {
        " FROM memberships m
           JOIN organizations o ON o.id = m.organization_id
           JOIN accounts a ON a.id = m.account_id "
    };
}

/// The tables an export reads its members and their registrations from.
macro_rules! joins {
    () => {
        concat!(
            member_joins!(),
            "LEFT JOIN registrations g ON g.account_id = a.id "
        )
    };
}

/// The members of `$1` (and with `$2` of the organizations below, whose
/// paths begin with `$3`), in the order of the users list.
macro_rules! members_of {
    () => {
        "WHERE (m.organization_id = $1
                OR ($2 AND substr(o.path, 1, length($3)) = $3))
         ORDER BY o.path, m.sort_key, m.account_id"
    };
}

/// PostgreSQL: the members with their fields as columns, a template whose
/// roles, groups and portfolio [`postgres_columns`] fills in.
macro_rules! postgres_columns {
    () => {
        concat!(
        "SELECT a.id AS account_id, o.name AS organization, a.email, a.salutation, a.given_name,
        a.infix, a.family_name, ", portier_core::detail_columns!("m"), ", m.labels,
        {roles} AS roles, {groups} AS groups,
        g.register, g.number AS registration_number, g.state AS registration_state,
        {portfolio} AS portfolio,
        EXISTS (SELECT 1 FROM credentials cr
                 WHERE cr.account_id = a.id AND cr.kind IN ('totp', 'webauthn')) AS two_factor,
        m.active, a.status AS account_status, a.disabled, m.awaiting_approval,
        m.created_at, a.activated_at")
    };
}

/// PostgreSQL's pages: the members' own fields, read by the positions of
/// their names ([`Names::add`]). Registrations and two-step verification are asked for
/// once a page: a lookup per member costs the server more than the
/// member's own fields do.
macro_rules! page_columns {
    () => {
        concat!(
            "SELECT a.id AS account_id, o.name AS organization, a.email, a.salutation,
        a.given_name, a.infix, a.family_name, ",
            portier_core::detail_columns!("m"),
            ", m.labels,
        {roles} AS roles, {groups} AS groups, {portfolio} AS portfolio,
        m.active, a.status AS account_status, a.disabled, m.awaiting_approval, m.created_at,
        a.activated_at"
        )
    };
}

/// A member's role keys, in order, joined.
const ROLE_KEYS: &str = "(SELECT string_agg(r.key, chr(31) ORDER BY r.key COLLATE \"C\")
    FROM membership_roles mr JOIN roles r ON r.id = mr.role_id WHERE mr.membership_id = m.id)";
/// A member's group names, in order, joined.
const GROUP_NAMES: &str = "(SELECT string_agg(gr.name, chr(31) ORDER BY gr.name COLLATE \"C\")
    FROM group_members gm JOIN groups gr ON gr.id = gm.group_id WHERE gm.membership_id = m.id)";
/// A member's roles by id, for pages, as its own row keeps them:
/// [`Names`] names them. Joining each member's roles to their keys and
/// sorting them cost the server more than all the rest of the member, and
/// looking up their ids in `membership_roles` a third of it.
const ROLE_IDS: &str = "m.role_ids";
/// A member's groups by id, likewise.
const GROUP_IDS: &str =
    "ARRAY(SELECT gm.group_id FROM group_members gm WHERE gm.membership_id = m.id)";
/// No groups: in an organization without any, each member's lookup would
/// find none (a member is only ever in its own organization's groups).
const NO_GROUPS: &str = "'{}'::uuid[]";
/// The type of the member's portfolio active in its organization.
const PORTFOLIO: &str = "(SELECT p.type_key FROM portfolios p
    WHERE p.account_id = a.id AND p.organization_id = m.organization_id
      AND p.state = 'active' ORDER BY p.id LIMIT 1)";
/// No portfolio: the organization has no active one.
const NO_PORTFOLIO: &str = "NULL::text";

/// PostgreSQL in one query: roles and groups named in order.
static POSTGRES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        postgres_columns!(),
        roles = ROLE_KEYS,
        groups = GROUP_NAMES,
        portfolio = PORTFOLIO
    ) + joins!()
        + members_of!()
});

/// The columns and tables of PostgreSQL's pages, `[groups][portfolios]` by
/// whether the organization has any.
static POSTGRES_PAGE_COLUMNS: std::sync::LazyLock<[[String; 2]; 2]> =
    std::sync::LazyLock::new(|| {
        [NO_GROUPS, GROUP_IDS].map(|groups| {
            [NO_PORTFOLIO, PORTFOLIO].map(|portfolio| {
                format!(
                    page_columns!(),
                    roles = ROLE_IDS,
                    groups = groups,
                    portfolio = portfolio
                ) + member_joins!()
            })
        })
    });

/// SQLite: every member as one JSON array of [`ExportRow`]'s fields in
/// order. Roles and groups come unsorted ([`ExportRow::member`] orders them): an
/// ordered subquery would sort in a temporary b-tree per member. The
/// portfolio is found by account (`+` keeps SQLite from scanning all of the
/// organization's portfolios per member).
macro_rules! sqlite_columns {
    () => {
        concat!(
        "SELECT json_array(lower(hex(a.id)), o.name, a.email, a.salutation, a.given_name,
        a.infix, a.family_name, json_array(", portier_core::detail_columns!("m"), "),
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
        json(iif(m.awaiting_approval, 'true', 'false')), m.created_at, a.activated_at)")
    };
}
const SQLITE_SQL: &str = concat!(sqlite_columns!(), joins!(), members_of!());

// After the SQL macros above, which the pages' queries use too.
mod pages;

pub use pages::READERS;
use pages::{in_pages, unpack};

/// Members of one query handed on at once: one wake-up of the receiver per
/// batch, not per member.
pub const BATCH: usize = 256;

/// Sends every member of `org` (and, with `children`, of the organizations
/// below it) to `out` in batches that `batch` begins, in the order of the
/// users list; stops early when the receiver is gone. Returns how many
/// were sent.
///
/// One organization of more than a page (`pages::PAGE`) of members is
/// read in pages on [`READERS`] connections at once, each in a transaction
/// on the same snapshot, so the export is one moment's members as a single
/// query would give them.
pub async fn members<B: Batch>(
    store: &Store,
    auth: &Authorized<MembersRead>,
    children: bool,
    batch: impl Fn() -> B + Clone + Send + Sync + 'static,
    out: Sender<B>,
) -> Result<u64> {
    let org = auth.organization();
    if !children && let Some(sent) = in_pages(store, org, &batch, &out).await? {
        return Ok(sent);
    }
    in_one_query(store, org, children, batch, out).await
}

/// [`members`] in one query.
async fn in_one_query<B: Batch>(
    store: &Store,
    org: &Organization,
    children: bool,
    batch: impl Fn() -> B,
    out: Sender<B>,
) -> Result<u64> {
    /// Adds the rows of `$rows` (a stream of results), each made into an
    /// [`ExportRow`] by `$row`, to batches of [`BATCH`] members handed to
    /// `out`.
    macro_rules! send_all {
        ($rows:expr, |$r:ident| $row:expr) => {{
            let mut rows = $rows;
            let mut sent = 0u64;
            let mut full = batch();
            loop {
                match rows.try_next().await {
                    Ok(Some($r)) => {
                        full.add(&$row.member());
                        if full.members() == BATCH {
                            if out
                                .send(std::mem::replace(&mut full, batch()))
                                .await
                                .is_err()
                            {
                                break Ok(sent);
                            }
                            sent += BATCH as u64;
                        }
                    }
                    Ok(None) => {
                        let rest = full.members() as u64;
                        if rest > 0 && out.send(full).await.is_ok() {
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
                |packed| match unpack(&packed) {
                    Ok(row) => row,
                    Err(e) => break Err(e),
                }
            )
        }),
        crate::db::Db::Postgres { pool, .. } => crate::with_conn!(pool, |c| send_all!(
            sqlx::query_as::<_, ExportRow>(sqlx::AssertSqlSafe(POSTGRES_SQL.as_str()))
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
    auth: &Authorized<MembersRead>,
    format: portier_core::export::Format,
    children: bool,
    origin: &Origin,
) -> Result<()> {
    let org = auth.organization();
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
