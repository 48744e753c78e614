//! Importing members from a file (docs/IMPORTS.md). The file is read and
//! checked a chunk of rows at a time, never whole: every row against the
//! organization's roles and groups, the caller's rights and the rows before
//! it, then looked up (new account, existing account reused, already a
//! member, invalid, with the column and the reason) ([`check`]). A dry run
//! stops there and writes nothing.
//!
//! The real run reads the file again and writes the rows that can be
//! imported in chunks ([`write`], [`jobs`]). Each chunk is one transaction
//! holding its accounts, memberships, roles, labels, groups, registrations,
//! audit events, invitation mails (through the outbox), its lines of the
//! report and the import's progress, so a process killed in the middle
//! leaves whole chunks and a job that resumes where the last commit
//! stopped. A small import is one transaction: all or nothing. Each chunk
//! looks its rows up again inside its transaction, so what changed since
//! the check (an address that became a member) is reported, not written
//! twice.

mod check;
mod jobs;
mod report;
mod write;

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::ids::OrganizationId;
use portier_core::rights::{Authorized, Right};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Result, Store, reader};

pub use check::{Checked, check};
pub use jobs::{
    Claimed, Waiting, claim, confirm, enqueue, expire_planned, give_up, run_job,
    send_held_invitations,
};
pub use report::{Report, ReportLine};
pub use write::run_now;

/// A buffer for a file to import of `len` bytes (as its upload declares,
/// or as it is kept). A large file's asks the allocator for 33 MiB at
/// least: above the largest threshold (32 MiB) from which glibc always
/// maps an allocation of its own, so that dropping it gives its pages back
/// at once, and leaves that threshold where it was; a smaller mapped block,
/// dropped, raises it, and the allocator then keeps in its arenas what
/// later imports free (docs/IMPORTS.md#memory). Pages never written are
/// never resident.
pub fn file_buffer(len: usize) -> Vec<u8> {
    const MAPPED: usize = 33 * 1024 * 1024;
    const LARGE: usize = 1024 * 1024;
    Vec::with_capacity(if len > LARGE { len.max(MAPPED) } else { len })
}

/// What happens (or happened) to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new account, invited.
    New,
    /// The address had an account, which joins.
    Reused,
    /// Already a member of this organization: left as it is.
    AlreadyMember,
    /// Cannot be imported; `field` and `message` say why.
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::New => "new",
            Outcome::Reused => "reused",
            Outcome::AlreadyMember => "already_member",
            Outcome::Invalid => "invalid",
        }
    }

    /// The outcome [`Outcome::as_str`] names.
    pub fn parse(s: &str) -> Option<Outcome> {
        [
            Outcome::New,
            Outcome::Reused,
            Outcome::AlreadyMember,
            Outcome::Invalid,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The counts of a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub new: i64,
    pub reused: i64,
    pub already_member: i64,
    pub invalid: i64,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::New => self.new += 1,
            Outcome::Reused => self.reused += 1,
            Outcome::AlreadyMember => self.already_member += 1,
            Outcome::Invalid => self.invalid += 1,
        }
    }

    pub fn rows(&self) -> i64 {
        self.new + self.reused + self.already_member + self.invalid
    }
}

/// One line of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowReport {
    /// The row in the file (the header is row 1).
    pub row: u64,
    pub outcome: Outcome,
    /// The column concerned, as the file names it.
    pub field: Option<String>,
    pub message: Option<String>,
    #[serde(skip)]
    pub account_id: Option<Uuid>,
}

impl RowReport {
    /// The line as a report keeps it.
    pub fn line(&self) -> ReportLine<'_> {
        ReportLine {
            row: self.row,
            outcome: self.outcome,
            field: self.field.as_deref(),
            message: self.message.as_deref(),
            account_id: self.account_id,
        }
    }
}

/// An import as stored, with its progress.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub id: Uuid,
    pub organization_id: Uuid,
    /// planned, running, done, failed
    pub state: String,
    pub file_name: Option<String>,
    pub invite: bool,
    pub skip_invalid: bool,
    pub total_rows: i64,
    pub done_rows: i64,
    pub counts: Counts,
    /// Invitations were held back and not yet sent.
    pub invitations_held: bool,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ImportRow {
    id: Uuid,
    organization_id: Uuid,
    state: String,
    file_name: Option<String>,
    invite: bool,
    skip_invalid: bool,
    total_rows: i64,
    done_rows: i64,
    new_count: i64,
    reused_count: i64,
    member_count: i64,
    invalid_count: i64,
    invitations_held: bool,
    error: Option<String>,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

impl From<ImportRow> for Import {
    fn from(r: ImportRow) -> Import {
        Import {
            id: r.id,
            organization_id: r.organization_id,
            state: r.state,
            file_name: r.file_name,
            invite: r.invite,
            skip_invalid: r.skip_invalid,
            total_rows: r.total_rows,
            done_rows: r.done_rows,
            counts: Counts {
                new: r.new_count,
                reused: r.reused_count,
                already_member: r.member_count,
                invalid: r.invalid_count,
            },
            invitations_held: r.invitations_held,
            error: r.error,
            created_at: r.created_at,
            finished_at: r.finished_at,
        }
    }
}

const IMPORT_COLUMNS: &str =
    "id, organization_id, state, file_name, invite, skip_invalid, total_rows,
    done_rows, new_count, reused_count, member_count, invalid_count, invitations_held, error,
    created_at, finished_at";

/// What an import is asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    pub file_name: Option<String>,
    pub kind: portier_core::import::FileKind,
    pub source: Vec<u8>,
    /// Queue invitations (else held back, to send later).
    pub invite: bool,
    /// Import the valid rows and report the others, rather than nothing
    /// when any row is invalid.
    pub skip_invalid: bool,
}

/// An import this code has just written or read, read again.
async fn known(store: &Store, org: OrganizationId, id: Uuid) -> Result<Import> {
    get_in(store, org, id)
        .await?
        .ok_or(DomainError::NotFound { what: "import" }.into())
}

/// One import of an organization.
pub async fn get<R: Right>(
    store: &Store,
    auth: &Authorized<R>,
    id: Uuid,
) -> Result<Option<Import>> {
    get_in(store, auth.organization_id(), id).await
}

/// [`get`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn get_in(store: &Store, org: OrganizationId, id: Uuid) -> Result<Option<Import>> {
    let sql =
        format!("SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1 AND organization_id = $2");
    let row: Option<ImportRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(org.0)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.map(Import::from))
}

/// The imports of an organization, newest first.
pub async fn list<R: Right>(
    store: &Store,
    auth: &Authorized<R>,
    limit: i64,
) -> Result<Vec<Import>> {
    let org = auth.organization_id();
    let sql = format!(
        "SELECT {IMPORT_COLUMNS} FROM imports WHERE organization_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2"
    );
    let rows: Vec<ImportRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.0)
            .bind(limit)
            .fetch_all(c)
            .await
    })?;
    Ok(rows.into_iter().map(Import::from).collect())
}

/// A stored line of a report: row, outcome, field, message, account.
type StoredLine = (i64, String, Option<String>, Option<String>, Option<Uuid>);

/// A page of the report of an import so far, in the order of the file:
/// at most `limit` lines of rows after the row `after` (0: from the
/// start); `outcome` narrows it (docs/IMPORTS.md#reports). Empty for an
/// import of another organization than the proof's.
pub async fn report<R: Right>(
    store: &Store,
    auth: &Authorized<R>,
    id: Uuid,
    outcome: Option<Outcome>,
    after: u64,
    limit: i64,
) -> Result<Vec<RowReport>> {
    let after = i64::try_from(after).unwrap_or(i64::MAX);
    let rows: Vec<StoredLine> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT r.row_number, r.outcome, r.field, r.message, r.account_id FROM import_rows r
                 JOIN imports i ON i.id = r.import_id AND i.organization_id = $5
                 WHERE r.import_id = $1 AND ($2 IS NULL OR r.outcome = $2) AND r.row_number > $3
                 ORDER BY r.row_number LIMIT $4",
        )
        .bind(id)
        .bind(outcome.map(Outcome::as_str))
        .bind(after)
        .bind(limit)
        .bind(auth.organization_id().0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(row, outcome, field, message, account_id)| RowReport {
            row: row as u64,
            outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Invalid),
            field,
            message,
            account_id,
        })
        .collect())
}

/// Whether a job of `org` is running (or waiting to resume): a large
/// import under way (docs/IMPORTS.md#limits).
pub async fn running(store: &Store, org: OrganizationId) -> Result<bool> {
    let found: Option<bool> = reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT TRUE FROM imports WHERE organization_id = $1 AND state = 'running' LIMIT 1",
        )
        .bind(org.0)
        .fetch_optional(c)
        .await
    })?;
    Ok(found.is_some())
}

/// The futures a server spawns or answers with are `Send` for every
/// lifetime: this compiles only while they are.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(store: Store, job: Claimed, bytes: Vec<u8>) {
    let lifecycle = crate::lifecycle::Lifecycle::new("http://localhost");
    let (org, caller) = (job.organization.clone(), job.principal.clone());
    let kind = portier_core::import::FileKind::Csv;
    let other = store.clone();
    tokio::spawn(async move {
        let Ok(auth) = caller.authorize::<portier_core::rights::MembersInvite>(&org) else {
            return;
        };
        let _ = check(&other, &auth, kind, &bytes, |_| {}).await;
    });
    tokio::spawn(async move {
        let _ = run_job(&store, job, false, 1, &lifecycle, |_, _| {}).await;
    });
}
