//! Writing checked rows: a chunk at a time, each in the caller's
//! transaction with its report lines and the import's progress; and an
//! import small enough to run at once, whole in one transaction
//! (docs/IMPORTS.md#writing).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use portier_core::accounts::{Account, AccountStatus};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, MembershipId};
use portier_core::import::{Columns, File};
use portier_core::members::Membership;
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, MembersInvite, Principal};
use sqlx::types::Json;
use uuid::Uuid;

use super::check::{CHECK_ROWS, Pass, Planned, look_up, members_among};
use super::jobs::store_grants;
use super::{
    Counts, IMPORT_COLUMNS, Import, ImportRow, Outcome, ReportLine, Request, RowReport, known,
};
use crate::audit::Origin;
use crate::db::Arg;
use crate::lifecycle::Lifecycle;
use crate::{Result, Store, Tx, in_tx};

/// Writes the rows of `rows` that can be imported, in the caller's
/// transaction, and returns the report of those rows as written.
#[allow(clippy::too_many_arguments)]
async fn write(
    tx: &mut Tx,
    org: &Organization,
    columns: &Columns,
    actor: &Actor,
    import_id: Uuid,
    rows: &mut [Planned],
    invite: bool,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<()> {
    look_up(tx, org, columns, rows, true).await?;
    // New accounts, unless another transaction created one meanwhile.
    let fresh: Vec<Account> = rows
        .iter()
        .filter(|p| p.report.outcome == Outcome::New)
        .filter_map(|p| p.item.as_ref())
        .map(|i| Account {
            id: AccountId::new(),
            email: i.member.email.clone(),
            name: i.member.name.clone(),
            // The numbers typed are the membership's, not the person's own
            // (docs/RULES.md#shared-accounts).
            phone: None,
            mobile: None,
            locale: None,
            status: AccountStatus::Invited,
            disabled: false,
            created_at: origin.now,
        })
        .collect();
    let written: HashSet<Uuid> =
        crate::accounts::insert_many(tx, &fresh.iter().collect::<Vec<_>>())
            .await?
            .into_iter()
            .collect();
    let mut fresh: HashMap<String, Account> = fresh
        .into_iter()
        .map(|a| (a.email.as_str().to_owned(), a))
        .collect();
    for planned in rows.iter_mut() {
        let Some(item) = planned.item.as_mut() else {
            continue;
        };
        if planned.report.outcome != Outcome::New {
            continue;
        }
        let account = fresh.remove(item.member.email.as_str());
        match account {
            Some(a) if written.contains(&a.id.0) => {
                planned.report.account_id = Some(a.id.0);
                item.account = Some(a);
            }
            _ => {
                // Created by someone else just now: that account joins.
                let a = crate::accounts::find_by_email(&mut *tx, &item.member.email).await?;
                planned.report.outcome = Outcome::Reused;
                planned.report.account_id = a.as_ref().map(|a| a.id.0);
                item.account = a;
            }
        }
    }
    // The memberships; one that appeared meanwhile is reported, not doubled.
    let memberships: Vec<(usize, Membership)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let item = p.item.as_ref()?;
            let account = item.account.as_ref()?;
            Some((
                i,
                Membership {
                    id: MembershipId::new(),
                    account_id: account.id,
                    organization_id: org.id,
                    active: item.member.active,
                    details: item.member.details.clone(),
                    labels: item.member.labels.clone(),
                    invited_by: actor.account_id(),
                    created_at: origin.now,
                    require_two_factor: false,
                },
            ))
        })
        .collect();
    let role_ids: Vec<Vec<portier_core::ids::RoleId>> = memberships
        .iter()
        .map(|(i, _)| {
            rows[*i]
                .item
                .as_ref()
                .map(|item| item.roles.iter().map(|r| r.id).collect())
                .unwrap_or_default()
        })
        .collect();
    let inserted: HashSet<MembershipId> = {
        let items: Vec<_> = memberships
            .iter()
            .zip(&role_ids)
            .filter_map(|((i, m), r)| {
                let account = rows[*i].item.as_ref()?.account.as_ref()?;
                Some((m, account, r.as_slice()))
            })
            .collect();
        crate::members::insert_memberships(tx, &items, "ON CONFLICT DO NOTHING")
            .await?
            .into_iter()
            .collect()
    };
    let mut group_rows = Vec::new();
    // A membership not written lost a race since the lookup: to another
    // add of the same person (a member now), or to another member taking
    // its staff code (then the row is refused, and an account made for it
    // just now goes again).
    let lost: Vec<Uuid> = memberships
        .iter()
        .filter(|(_, m)| !inserted.contains(&m.id))
        .map(|(_, m)| m.account_id.0)
        .collect();
    let now_members = members_among(tx, org.id, &lost).await?;
    let mut events = Vec::new();
    for (i, m) in &memberships {
        let planned = &mut rows[*i];
        if !inserted.contains(&m.id) {
            if now_members.contains(&m.account_id.0) {
                planned.report.outcome = Outcome::AlreadyMember;
                planned.report.field = Some(columns.name_of(portier_core::import::Column::Email));
                planned.report.message = Some("already a member of this organization".into());
                planned.item = None;
                continue;
            }
            if planned.report.outcome == Outcome::New {
                in_tx!(tx, |c| {
                    sqlx::query("DELETE FROM accounts WHERE id = $1")
                        .bind(m.account_id.0)
                        .execute(c)
                        .await
                        .map(|r| r.rows_affected())
                })?;
            }
            planned.report.account_id = None;
            planned.refuse(
                columns.name_of(portier_core::import::Column::STAFF_CODE),
                format!(
                    "another member of this organization took the code {} meanwhile",
                    m.details.staff_code.as_deref().unwrap_or_default()
                ),
            );
            continue;
        }
        let Some(item) = planned.item.as_ref() else {
            continue;
        };
        let Some(account) = item.account.as_ref() else {
            continue;
        };
        for g in &item.groups {
            group_rows.extend([Arg::Id(g.0), Arg::Id(m.id.0)]);
        }
        // The registration number, recorded (and checked) as an
        // administrator's add records it; a number a role needs but the row
        // lacks was refused by the check.
        if item.member.registration.is_some() {
            crate::registrations::settle(
                tx,
                account,
                item.member.registration.as_ref(),
                None,
                lifecycle.register_checks,
                actor,
                org.id,
                org.environment_id,
                origin,
            )
            .await?;
        }
        let reused = planned.report.outcome == Outcome::Reused;
        let invitation_sent = if invite && m.active {
            crate::members::welcome(tx, account, org, lifecycle, origin, !reused).await?
        } else {
            false
        };
        events.push(NewAuditEvent {
            actor: actor.clone(),
            action: "member.added",
            organization_id: Some(org.id),
            target_type: "account",
            target_id: account.id.to_string(),
            changes: serde_json::json!({
                "email": account.email,
                "account_created": !reused,
                "roles": item.roles.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
                "active": m.active,
                "staff_code": m.details.staff_code,
                "job_title": m.details.job_title,
                "labels": m.labels,
                "groups": item.group_names,
                "invitation_sent": invitation_sent,
                "import_id": import_id,
            }),
            client_addr: origin.client_addr.clone(),
        });
    }
    crate::db::insert_many(
        tx,
        "INSERT INTO group_members (group_id, membership_id)",
        2,
        "ON CONFLICT (group_id, membership_id) DO NOTHING",
        group_rows,
    )
    .await?;
    if !events.is_empty() {
        crate::audit::record_many(tx, org.environment_id, events, origin.now).await?;
        crate::rights::changed(tx, org.environment_id).await?;
    }
    Ok(())
}

/// What every chunk of one import is written with.
pub(super) struct Chunk<'a> {
    pub(super) org: &'a Organization,
    pub(super) actor: &'a Actor,
    pub(super) import_id: Uuid,
    pub(super) invite: bool,
    pub(super) lifecycle: &'a Lifecycle,
}

impl Chunk<'_> {
    /// Writes `rows` ([`write`]) and their report lines and progress
    /// ([`record_progress`]), in the caller's transaction.
    pub(super) async fn write(
        &self,
        tx: &mut Tx,
        columns: &Columns,
        rows: &mut [Planned],
        origin: &Origin,
    ) -> Result<()> {
        write(
            tx,
            self.org,
            columns,
            self.actor,
            self.import_id,
            rows,
            self.invite,
            self.lifecycle,
            origin,
        )
        .await?;
        record_progress(tx, self.import_id, rows, origin.now).await
    }
}

/// Runs an import whole, in one transaction (all or nothing), and stores
/// it as done with its report; each line goes to `line` as its chunk is
/// written. The caller has checked the file ([`super::check`]): its `rows`,
/// and no invalid one unless the request skips them (rows that turn
/// invalid meanwhile are reported, not written).
pub async fn run_now(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    request: &Request,
    rows: u64,
    lifecycle: &Lifecycle,
    origin: &Origin,
    mut line: impl FnMut(&RowReport),
) -> Result<Import> {
    let (org, caller) = (auth.organization(), auth.principal());
    let mut file =
        File::open(request.kind, &request.source).map_err(portier_core::Error::Invalid)?;
    let mut pass = Pass::start(store, org, caller, &mut file).await?;
    let id = Uuid::now_v7();
    let mut tx = store.begin().await?;
    insert_import(
        &mut tx, id, org, caller, request, "running", rows, false, origin,
    )
    .await?;
    let chunk = Chunk {
        org,
        actor: &caller.actor,
        import_id: id,
        invite: request.invite,
        lifecycle,
    };
    loop {
        let mut rows = pass.next(CHECK_ROWS)?;
        if rows.is_empty() {
            break;
        }
        chunk
            .write(&mut tx, pass.columns(), &mut rows, origin)
            .await?;
        for p in &rows {
            line(&p.report);
        }
    }
    finish(&mut tx, id, org, &caller.actor, origin).await?;
    tx.commit().await?;
    known(store, org.id, id).await
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn insert_import(
    tx: &mut Tx,
    id: Uuid,
    org: &Organization,
    caller: &Principal,
    request: &Request,
    state: &str,
    total: u64,
    keep_source: bool,
    origin: &Origin,
) -> Result<()> {
    let actor = serde_json::json!({"actor": caller.actor, "grants": store_grants(caller)});
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO imports (id, organization_id, environment_id, actor, client_addr, file_name,
                content_type, source, state, invite, skip_invalid, total_rows, invitations_held,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)",
        )
        .bind(id)
        .bind(org.id.0)
        .bind(org.environment_id.0)
        .bind(Json(&actor))
        .bind(&origin.client_addr)
        .bind(&request.file_name)
        .bind(request.kind.content_type())
        .bind(None::<Vec<u8>>)
        .bind(state)
        .bind(request.invite)
        .bind(request.skip_invalid)
        .bind(i64::try_from(total).unwrap_or(i64::MAX))
        .bind(!request.invite)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if keep_source {
        for (n, piece) in request.source.chunks(PIECE).enumerate() {
            in_tx!(tx, |c| {
                sqlx::query(
                    "INSERT INTO import_pieces (import_id, piece, bytes) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(n as i64)
                .bind(piece)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
            })?;
        }
    }
    Ok(())
}

/// The pieces a file is kept in: no statement, connection buffer or value
/// of the database holds more (docs/IMPORTS.md#memory).
const PIECE: usize = 64 * 1024;

/// Pieces read with one statement.
const PIECES_AT_ONCE: i64 = 16;

/// The file kept for an import (`None` when none is), into one buffer
/// ([`super::file_buffer`]) a few pieces at a time.
pub(super) async fn stored_file(store: &Store, id: Uuid) -> Result<Option<Vec<u8>>> {
    let (pieces, len): (i64, i64) = crate::reader!(store, |c| {
        sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(bytes)), 0) FROM import_pieces
             WHERE import_id = $1",
        )
        .bind(id)
        .fetch_one(c)
        .await
    })?;
    if pieces == 0 {
        return Ok(None);
    }
    let mut file = super::file_buffer(usize::try_from(len).unwrap_or(0));
    let mut next: i64 = 0;
    loop {
        let read: Vec<(i64, Vec<u8>)> = crate::reader!(store, |c| {
            sqlx::query_as(
                "SELECT piece, bytes FROM import_pieces WHERE import_id = $1 AND piece >= $2
                 ORDER BY piece LIMIT $3",
            )
            .bind(id)
            .bind(next)
            .bind(PIECES_AT_ONCE)
            .fetch_all(c)
            .await
        })?;
        let Some((last, _)) = read.last() else { break };
        next = last + 1;
        for (_, piece) in &read {
            file.extend_from_slice(piece);
        }
    }
    Ok(Some(file))
}

/// Forgets the file kept for an import: once it is done, or has failed.
pub(super) async fn forget_file(tx: &mut Tx, id: Uuid) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM import_pieces WHERE import_id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Writes the report lines of `rows` and moves the import's progress past
/// them, in the chunk's transaction.
pub(super) async fn record_progress(
    tx: &mut Tx,
    id: Uuid,
    rows: &[Planned],
    now: DateTime<Utc>,
) -> Result<()> {
    write_report(tx, id, PlannedLines(rows.iter()), rows.len() as i64, now).await
}

/// The report lines of checked rows. (A named iterator: a closure's here
/// would keep [`write_report`]'s future from being `Send` for every
/// lifetime, as a spawned task needs.)
struct PlannedLines<'a>(std::slice::Iter<'a, Planned>);

impl<'a> Iterator for PlannedLines<'a> {
    type Item = ReportLine<'a>;

    fn next(&mut self) -> Option<ReportLine<'a>> {
        self.0.next().map(|p| p.report.line())
    }
}

/// Report lines bound to one statement: six values each.
const LINES_AT_ONCE: usize = 4_000;

/// Adds report lines to an import, with their counts, and `done` rows to
/// its progress; a few thousand lines to a statement, so that a long
/// report is never held twice.
pub(super) async fn write_report<'a>(
    tx: &mut Tx,
    id: Uuid,
    lines: impl Iterator<Item = ReportLine<'a>>,
    done: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut c = Counts::default();
    let mut lines = lines.peekable();
    while lines.peek().is_some() {
        let mut args = Vec::with_capacity(LINES_AT_ONCE * 6);
        for r in lines.by_ref().take(LINES_AT_ONCE) {
            c.add(r.outcome);
            args.extend([
                Arg::Id(id),
                Arg::Int(i64::try_from(r.row).unwrap_or(i64::MAX)),
                Arg::Text(r.outcome.as_str().to_owned()),
                Arg::OptText(r.field.map(str::to_owned)),
                Arg::OptText(r.message.map(str::to_owned)),
                Arg::OptId(
                    r.account_id
                        .filter(|_| matches!(r.outcome, Outcome::New | Outcome::Reused)),
                ),
            ]);
        }
        crate::db::insert_many(
            tx,
            "INSERT INTO import_rows (import_id, row_number, outcome, field, message, account_id)",
            6,
            "",
            args,
        )
        .await?;
    }
    in_tx!(tx, |conn| {
        sqlx::query(
            "UPDATE imports SET done_rows = done_rows + $2, new_count = new_count + $3,
                reused_count = reused_count + $4, member_count = member_count + $5,
                invalid_count = invalid_count + $6, updated_at = $7
             WHERE id = $1",
        )
        .bind(id)
        .bind(done)
        .bind(c.new)
        .bind(c.reused)
        .bind(c.already_member)
        .bind(c.invalid)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Marks an import done (its source is no longer needed) and audits it.
pub(super) async fn finish(
    tx: &mut Tx,
    id: Uuid,
    org: &Organization,
    actor: &Actor,
    origin: &Origin,
) -> Result<()> {
    let (counts, file): (Counts, Option<String>) = {
        let row: ImportRow = in_tx!(tx, |c| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {IMPORT_COLUMNS} FROM imports WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(c)
            .await
        })?;
        let file = row.file_name.clone();
        (Import::from(row).counts, file)
    };
    forget_file(tx, id).await?;
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE imports SET state = 'done', source = NULL, lease_until = NULL,
                finished_at = $2, updated_at = $2
             WHERE id = $1",
        )
        .bind(id)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    let event = NewAuditEvent {
        actor: actor.clone(),
        action: "members.imported",
        organization_id: Some(org.id),
        target_type: "import",
        target_id: id.to_string(),
        changes: serde_json::json!({"file": file, "counts": counts}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record(tx, org.environment_id, event, origin.now).await
}
