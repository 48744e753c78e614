//! Imports that outlive a request: jobs that commit in chunks, survive a
//! restart and move from node to node by lease; planned imports waiting
//! for a confirmation; invitations held back (docs/IMPORTS.md#writing).

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::AccountStatus;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::import::File;
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, Grant, MembersInvite, Principal};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use super::check::{CHECK_ROWS, Pass, look_up};
use super::write::{Chunk, finish, forget_file, insert_import, stored_file, write_report};
use super::{Import, Outcome, Report, Request, get_in, known};
use crate::audit::Origin;
use crate::lifecycle::Lifecycle;
use crate::{Result, Store, Tx, in_tx, reader};

/// The rights a job keeps from the caller who started it: a resumed job
/// grants no more than they could.
#[derive(Serialize, Deserialize)]
struct StoredGrant {
    organization_id: Uuid,
    path: String,
    permissions: Vec<String>,
}

pub(super) fn store_grants(caller: &Principal) -> serde_json::Value {
    serde_json::json!(
        caller
            .grants
            .iter()
            .map(|g| StoredGrant {
                organization_id: g.organization_id.0,
                path: g.path.as_str().to_owned(),
                permissions: g
                    .permissions
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
            })
            .collect::<Vec<_>>()
    )
}

fn load_principal(actor: Actor, grants: serde_json::Value) -> Principal {
    let grants: Vec<StoredGrant> = serde_json::from_value(grants).unwrap_or_default();
    Principal {
        actor,
        grants: grants
            .into_iter()
            .map(|g| Grant {
                organization_id: OrganizationId(g.organization_id),
                path: OrgPath::from_stored(g.path),
                permissions: g
                    .permissions
                    .iter()
                    .filter_map(|p| Permission::parse("permission", p).ok())
                    .collect::<PermissionSet>(),
            })
            .collect(),
    }
}

/// Where an import waits.
#[derive(Debug, Clone, Copy)]
pub enum Waiting<'a> {
    /// A job, for a node to run now.
    ToRun,
    /// For a confirmation (the console's dry run), with the report of its
    /// check to show meanwhile.
    ForConfirmation(&'a Report),
}

/// Stores an import of a file of `rows` rows (as its check counted them)
/// to run as a job, or to wait for a confirmation. The file is kept until
/// the job is done.
pub async fn enqueue(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    request: &Request,
    rows: u64,
    waiting: Waiting<'_>,
    origin: &Origin,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let state = match waiting {
        Waiting::ToRun => "running",
        Waiting::ForConfirmation(_) => "planned",
    };
    let (org, caller) = (auth.organization(), auth.principal());
    let mut tx = store.begin().await?;
    insert_import(&mut tx, id, org, caller, request, state, rows, true, origin).await?;
    if let Waiting::ForConfirmation(report) = waiting {
        write_report(&mut tx, id, report.iter(), 0, origin.now).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// How long a dry run waits for its confirmation.
const PLANNED_FOR: chrono::Duration = chrono::Duration::hours(24);

/// Confirms a planned import: it runs as a job, as `confirmer` (whose
/// rights it is checked with again, and who is audited), not as whoever
/// uploaded it. Returns false when it was not waiting for a confirmation
/// (confirmed already, or uploaded more than a day ago).
pub async fn confirm(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let (org, confirmer) = (auth.organization_id(), auth.principal());
    let actor = serde_json::json!({"actor": confirmer.actor, "grants": store_grants(confirmer)});
    let mut tx = store.begin().await?;
    let changed = in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE imports SET state = 'running', actor = $4, new_count = 0, reused_count = 0,
                member_count = 0, invalid_count = 0, updated_at = $3
             WHERE id = $1 AND organization_id = $2 AND state = 'planned' AND created_at > $5",
        )
        .bind(id)
        .bind(org.0)
        .bind(now)
        .bind(Json(&actor))
        .bind(now - PLANNED_FOR)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if changed == 1 {
        in_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM import_rows WHERE import_id = $1")
                .bind(id)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

/// Removes the planned imports nobody confirmed within [`PLANNED_FOR`],
/// with their file and report: an upload of personal data that was never
/// imported is not kept. Returns how many went.
pub async fn expire_planned(store: &Store, now: DateTime<Utc>) -> Result<u64> {
    Ok(crate::writer!(store, |c| {
        sqlx::query("DELETE FROM imports WHERE state = 'planned' AND created_at <= $1")
            .bind(now - PLANNED_FOR)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

/// How long a node holds a job it runs before another may take it over.
const LEASE: chrono::Duration = chrono::Duration::seconds(15);

/// A job taken to run: its import, the file and the rights of its starter.
pub struct Claimed {
    /// The lease this node took, until when; also its token: a node that
    /// finds another lease on the job has lost it and stops.
    pub lease: DateTime<Utc>,
    pub import: Import,
    pub organization: Organization,
    pub principal: Principal,
    pub request: Request,
    pub client_addr: Option<String>,
}

/// A lease taken or renewed at `now`: to the microsecond, which both
/// databases store exactly, so that it can be compared as a token.
fn lease_from(now: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    (now + LEASE).trunc_subsecs(6)
}

/// Takes one running import whose lease has lapsed (or `id`, when given and
/// free), for this node to run.
pub async fn claim(store: &Store, id: Option<Uuid>, now: DateTime<Utc>) -> Result<Option<Claimed>> {
    let lease = lease_from(now);
    let row: Option<(Uuid,)> = crate::writer!(store, |c| {
        sqlx::query_as(
            "UPDATE imports SET lease_until = $2
             WHERE id = (SELECT id FROM imports
                          WHERE state = 'running' AND (lease_until IS NULL OR lease_until < $1)
                            AND ($3 IS NULL OR id = $3)
                          ORDER BY created_at LIMIT 1)
               AND state = 'running' AND (lease_until IS NULL OR lease_until < $1)
             RETURNING id",
        )
        .bind(now)
        .bind(lease)
        .bind(id)
        .fetch_optional(c)
        .await
    })?;
    let Some((id,)) = row else { return Ok(None) };
    type Source = (
        Uuid,
        Json<serde_json::Value>,
        Option<String>,
        Option<String>,
        String,
        Option<Vec<u8>>,
    );
    let (org_id, actor, client_addr, file_name, content_type, source): Source =
        reader!(store, |c| {
            sqlx::query_as(
                "SELECT organization_id, actor, client_addr, file_name, content_type, source
             FROM imports WHERE id = $1",
            )
            .bind(id)
            .fetch_one(c)
            .await
        })?;
    let import = get_in(store, OrganizationId(org_id), id)
        .await?
        .ok_or(DomainError::NotFound { what: "import" })?;
    let organization = crate::organizations::get(store, OrganizationId(org_id))
        .await?
        .ok_or(DomainError::NotFound {
            what: "organization",
        })?;
    let stored_actor: Actor = serde_json::from_value(actor.0["actor"].clone())
        .map_err(|e| crate::Error::Corrupt(format!("import {id}: {e}")))?;
    let started = load_principal(stored_actor, actor.0["grants"].clone());
    let principal = held_now(store, started, now).await?;
    // In pieces; as one value for an import stored before they were.
    let source = match stored_file(store, id).await? {
        Some(file) => file,
        None => source.unwrap_or_default(),
    };
    let kind = if content_type == portier_core::import::XLSX_TYPE {
        portier_core::import::FileKind::Xlsx
    } else {
        portier_core::import::FileKind::Csv
    };
    Ok(Some(Claimed {
        lease,
        request: Request {
            file_name,
            kind,
            source,
            invite: import.invite,
            skip_invalid: import.skip_invalid,
        },
        import,
        organization,
        principal,
        client_addr,
    }))
}

/// The rights a job runs with: its starter's as they are now, not as they
/// were when it started, hours or a restart ago, and never more than
/// then. A token revoked or expired since holds nothing, nor does an
/// account disabled or taken out of the organization; a member whose roles
/// changed holds what they hold now. The command line's operator keeps
/// what it had (everything).
async fn held_now(store: &Store, started: Principal, now: DateTime<Utc>) -> Result<Principal> {
    let current = match &started.actor {
        Actor::Account { id } => crate::members::principal_for_account(store, *id).await?,
        Actor::ApiToken { id, .. } => crate::api_tokens::principal_of(store, *id, now)
            .await?
            .unwrap_or(Principal {
                actor: started.actor.clone(),
                grants: Vec::new(),
            }),
        Actor::Cli | Actor::System => return Ok(started),
    };
    Ok(Principal {
        grants: current
            .grants
            .into_iter()
            .map(|mut grant| {
                let path = &grant.path;
                grant.permissions.retain(|p| started.holds(p, path));
                grant
            })
            .collect(),
        actor: started.actor,
    })
}

/// Refuses to go on with a job whose starter no longer holds the right to
/// add people to `org` ([`held_now`]): nothing more is written.
fn may_still_invite(principal: &Principal, org: &Organization) -> Result<()> {
    let invite = portier_core::permissions::MEMBERS_INVITE;
    if principal.holds(&invite, &org.path) {
        Ok(())
    } else {
        Err(DomainError::Forbidden { permission: invite }.into())
    }
}

/// Renews a job's lease when a third of it has passed since `renewed`;
/// false when the job is no longer this node's (cancelled, or taken over
/// after the lease lapsed).
async fn keep_lease(
    store: &Store,
    id: Uuid,
    lease: &mut DateTime<Utc>,
    renewed: &mut DateTime<Utc>,
) -> Result<bool> {
    let now = Origin::now(None).now;
    if now - *renewed < LEASE / 3 {
        return Ok(true);
    }
    let next = lease_from(now);
    let changed = crate::writer!(store, |c| {
        sqlx::query(
            "UPDATE imports SET lease_until = $2
             WHERE id = $1 AND state = 'running' AND lease_until = $3",
        )
        .bind(id)
        .bind(next)
        .bind(*lease)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    *lease = next;
    *renewed = now;
    Ok(changed == 1)
}

/// Runs a claimed job to its end, reading its file again: unless the job
/// skips invalid rows, or `checked` says its starter has just checked the
/// whole file and found none, the whole file is checked first (all or
/// nothing: with an invalid row nothing is written, and the job fails
/// with the report of those rows). Then the rows are written in chunks of
/// `chunk_rows` from where the last commit stopped (the rows before are
/// read again, only to know their addresses and staff codes), each chunk
/// renewing the lease. `progress` hears the rows done after each chunk.
pub async fn run_job(
    store: &Store,
    job: Claimed,
    checked: bool,
    chunk_rows: usize,
    lifecycle: &Lifecycle,
    mut progress: impl FnMut(u64, u64),
) -> Result<Import> {
    let id = job.import.id;
    let mut lease = job.lease;
    let mut renewed = Origin::now(None).now;
    let org = &job.organization;
    let origin = |now| Origin {
        client_addr: job.client_addr.clone(),
        now,
    };
    may_still_invite(&job.principal, org)?;
    let total = u64::try_from(job.import.total_rows).unwrap_or(0);
    let start = u64::try_from(job.import.done_rows).unwrap_or(0);
    let (kind, source) = (job.request.kind, job.request.source.as_slice());
    if start == 0 && !job.request.skip_invalid && !checked {
        let mut invalid = Report::default();
        {
            let mut file = File::open(kind, source).map_err(DomainError::Invalid)?;
            let mut pass = Pass::start(store, org, &job.principal, &mut file).await?;
            let mut tx = store.begin_read().await?;
            loop {
                let mut rows = pass.next(CHECK_ROWS)?;
                if rows.is_empty() {
                    break;
                }
                look_up(&mut tx, org, pass.columns(), &mut rows, false).await?;
                for p in rows.iter().filter(|p| p.report.outcome == Outcome::Invalid) {
                    invalid.push(&p.report);
                }
                if !keep_lease(store, id, &mut lease, &mut renewed).await? {
                    return known(store, org.id, id).await;
                }
            }
        }
        if !invalid.is_empty() {
            let now = Origin::now(None).now;
            let mut tx = store.begin().await?;
            write_report(&mut tx, id, invalid.iter(), invalid.len() as i64, now).await?;
            fail(&mut tx, id, "invalid_rows", now).await?;
            tx.commit().await?;
            progress(total, total);
            return known(store, org.id, id).await;
        }
    }
    let mut file = File::open(kind, source).map_err(DomainError::Invalid)?;
    let mut pass = Pass::start(store, org, &job.principal, &mut file).await?;
    // The rows a commit already wrote: read again for the addresses and
    // staff codes later rows may repeat.
    let mut at = 0;
    while at < start {
        let skipped = pass.next((start - at).min(CHECK_ROWS as u64) as usize)?;
        if skipped.is_empty() {
            break;
        }
        at += skipped.len() as u64;
        if !keep_lease(store, id, &mut lease, &mut renewed).await? {
            return known(store, org.id, id).await;
        }
    }
    let chunk = Chunk {
        org,
        actor: &job.principal.actor,
        import_id: id,
        invite: job.request.invite,
        lifecycle,
    };
    progress(at, total);
    loop {
        let mut rows = pass.next(chunk_rows.max(1))?;
        let last = pass.at_end()?;
        let o = origin(Origin::now(None).now);
        if at > start {
            // Revoked while the job runs: the chunks written stay, whole.
            may_still_invite(&held_now(store, job.principal.clone(), o.now).await?, org)?;
        }
        let mut tx = store.begin().await?;
        chunk.write(&mut tx, pass.columns(), &mut rows, &o).await?;
        let renewed_until = lease_from(o.now);
        let still_ours = in_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE imports SET lease_until = $2
                 WHERE id = $1 AND state = 'running' AND lease_until = $3",
            )
            .bind(id)
            .bind(renewed_until)
            .bind(lease)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        if still_ours == 0 {
            // Cancelled meanwhile, or the lease lapsed and another node
            // took the job over: this chunk is not written, and that node
            // goes on from the last commit.
            drop(tx);
            break;
        }
        lease = renewed_until;
        if last {
            finish(&mut tx, id, org, &job.principal.actor, &o).await?;
        }
        tx.commit().await?;
        at += rows.len() as u64;
        progress(at, total);
        if last {
            break;
        }
    }
    known(store, org.id, id).await
}

async fn fail(tx: &mut Tx, id: Uuid, error: &str, now: DateTime<Utc>) -> Result<()> {
    forget_file(tx, id).await?;
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE imports SET state = 'failed', error = $2, source = NULL, lease_until = NULL,
                finished_at = $3, updated_at = $3
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Gives up a job that cannot run (its file no longer reads, say): it
/// fails with the reason, and what committed stays.
pub async fn give_up(store: &Store, id: Uuid, error: &str, now: DateTime<Utc>) -> Result<()> {
    let mut tx = store.begin().await?;
    fail(&mut tx, id, error, now).await?;
    tx.commit().await?;
    Ok(())
}

/// Sends the invitations an import held back: to each person it added who
/// is still an invited member here. Returns how many went out.
pub async fn send_held_invitations(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    id: Uuid,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<i64> {
    let (org, actor) = (auth.organization(), auth.actor());
    let mut tx = store.begin().await?;
    let held: bool = in_tx!(&mut tx, |c| {
        sqlx::query_scalar(
            "UPDATE imports SET invitations_held = FALSE, updated_at = $3
             WHERE id = $1 AND organization_id = $2 AND state IN ('done', 'failed')
               AND invitations_held
             RETURNING TRUE",
        )
        .bind(id)
        .bind(org.id.0)
        .bind(origin.now)
        .fetch_optional(c)
        .await
    })?
    .unwrap_or(false);
    if !held {
        return Err(DomainError::Conflict {
            code: "no_invitations_held",
            field: None,
            message: "this import holds no invitations back".into(),
        }
        .into());
    }
    let ids: Vec<(Uuid, String)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT r.account_id, r.outcome FROM import_rows r
               JOIN memberships m ON m.account_id = r.account_id AND m.organization_id = $2
             WHERE r.import_id = $1 AND r.account_id IS NOT NULL AND m.active
             ORDER BY r.row_number",
        )
        .bind(id)
        .bind(org.id.0)
        .fetch_all(c)
        .await
    })?;
    let mut sent = 0;
    for (account_id, outcome) in ids {
        let Some(account) = crate::accounts::get(&mut tx, AccountId(account_id)).await? else {
            continue;
        };
        if account.status != AccountStatus::Invited {
            continue;
        }
        crate::members::send_invitation(
            &mut tx,
            &account,
            org,
            lifecycle,
            origin,
            outcome == "new",
        )
        .await?;
        sent += 1;
    }
    let event = NewAuditEvent {
        actor: actor.clone(),
        action: "members.import_invited",
        organization_id: Some(org.id),
        target_type: "import",
        target_id: id.to_string(),
        changes: serde_json::json!({"invitations": sent}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    tx.commit().await?;
    Ok(sent)
}
