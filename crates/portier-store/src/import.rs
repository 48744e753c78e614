//! Importing members from a file (issue 9). An import is planned first:
//! every row is read, checked against the organization's roles and groups
//! and the caller's rights, and looked up (new account, existing account
//! reused, already a member, invalid, with the column and the reason). A
//! dry run stops there and writes nothing.
//!
//! The real run writes the rows that can be imported in chunks. Each chunk
//! is one transaction holding its accounts, memberships, roles, labels,
//! groups, registrations, audit events, invitation mails (through the
//! outbox), its lines of the report and the import's progress, so a
//! process killed in the middle leaves whole chunks and a job that resumes
//! where the last commit stopped. A small import is one chunk: all or
//! nothing. Each chunk looks its rows up again inside its transaction, so
//! what changed since the plan (an address that became a member) is
//! reported, not written twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::{Account, AccountStatus};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, GroupId, MembershipId, OrganizationId};
use portier_core::import::{Columns, RowError, Table};
use portier_core::members::{Membership, NewMember};
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Grant, Principal};
use portier_core::roles::Role;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::Origin;
use crate::db::Arg;
use crate::lifecycle::Lifecycle;
use crate::{Result, Store, Tx, in_tx, reader};

/// What happens (or happened) to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new account, invited.
    New,
    /// The address had an account, which joins (seed 000).
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
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::New => self.new += 1,
            Outcome::Reused => self.reused += 1,
            Outcome::AlreadyMember => self.already_member += 1,
            Outcome::Invalid => self.invalid += 1,
        }
    }

    pub fn of<'a>(rows: impl IntoIterator<Item = &'a RowReport>) -> Counts {
        let mut counts = Counts::default();
        for r in rows {
            counts.add(r.outcome);
        }
        counts
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

/// A row that can be written, as planned.
#[derive(Debug, Clone)]
struct Item {
    member: NewMember,
    roles: Vec<Role>,
    groups: Vec<GroupId>,
    group_names: Vec<String>,
    /// The account of the address, when it has one.
    account: Option<Account>,
}

/// One row of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    pub report: RowReport,
    item: Option<Item>,
}

impl Planned {
    fn invalid(row: u64, e: RowError) -> Planned {
        Planned {
            report: RowReport {
                row,
                outcome: Outcome::Invalid,
                field: Some(e.field),
                message: Some(e.message),
                account_id: None,
            },
            item: None,
        }
    }

    fn refuse(&mut self, field: String, message: String) {
        self.report.outcome = Outcome::Invalid;
        self.report.field = Some(field);
        self.report.message = Some(message);
        self.item = None;
    }
}

/// What an import would do, row by row.
#[derive(Debug, Clone)]
pub struct Plan {
    pub columns: Columns,
    pub rows: Vec<Planned>,
}

impl Plan {
    pub fn counts(&self) -> Counts {
        Counts::of(self.rows.iter().map(|p| &p.report))
    }

    pub fn reports(&self) -> impl Iterator<Item = &RowReport> {
        self.rows.iter().map(|p| &p.report)
    }
}

/// Reads `table` and decides, row by row, what importing it into `org`
/// would do for `caller`. Refuses the whole file (on the field `file`) only
/// when its header cannot be used.
pub async fn plan(
    store: &Store,
    org: &Organization,
    caller: &Principal,
    table: Table,
) -> Result<Plan> {
    let columns = Columns::parse(table.header).map_err(DomainError::Invalid)?;
    let roles = crate::roles::list(store, org).await?;
    let groups = crate::groups::list(store, org.id).await?;
    let mut tx = store.begin_read().await?;
    // The groups this caller may put people in, by lower-cased name.
    let may_group = caller.holds(&portier_core::permissions::GROUPS_MANAGE, &org.path);
    let mut allowed: HashMap<String, std::result::Result<(GroupId, String), String>> =
        HashMap::new();
    for g in &groups {
        let verdict = if !may_group {
            Err("you may not put people in groups here (groups.manage)".to_owned())
        } else {
            match crate::groups::may_change_membership(&mut tx, caller, org, g).await {
                Ok(()) => Ok((g.id, g.name.clone())),
                Err(crate::Error::Domain(e)) => Err(format!(
                    "you may not put people in the group {}: {e}",
                    g.name
                )),
                Err(e) => return Err(e),
            }
        };
        allowed.insert(g.name.to_lowercase(), verdict);
    }
    let mut rows = Vec::with_capacity(table.rows.len());
    let mut emails: HashMap<String, u64> = HashMap::new();
    let mut codes: HashMap<String, u64> = HashMap::new();
    for (row, cells) in &table.rows {
        let planned = match read_row(&columns, cells, &roles, &allowed, caller, org) {
            Err(e) => Planned::invalid(*row, e),
            Ok(item) => {
                let email = item.member.email.as_str().to_owned();
                let code = item.member.staff_code.clone();
                if let Some(first) = emails.get(&email) {
                    Planned::invalid(
                        *row,
                        RowError {
                            field: columns.name_of(portier_core::import::Column::Email),
                            code: "duplicate",
                            message: format!("{email} is also on row {first}"),
                        },
                    )
                } else if let Some(first) = code.as_ref().and_then(|c| codes.get(c)) {
                    Planned::invalid(
                        *row,
                        RowError {
                            field: columns.name_of(portier_core::import::Column::StaffCode),
                            code: "duplicate",
                            message: format!(
                                "the staff code {} is also on row {first}",
                                code.unwrap_or_default()
                            ),
                        },
                    )
                } else {
                    emails.insert(email, *row);
                    if let Some(code) = code {
                        codes.insert(code, *row);
                    }
                    Planned {
                        report: RowReport {
                            row: *row,
                            outcome: Outcome::New,
                            field: None,
                            message: None,
                            account_id: None,
                        },
                        item: Some(item),
                    }
                }
            }
        };
        rows.push(planned);
    }
    look_up(&mut tx, org, &columns, &mut rows).await?;
    Ok(Plan { columns, rows })
}

/// One row read and checked against the organization, without the
/// database.
fn read_row(
    columns: &Columns,
    cells: &[String],
    roles: &[Role],
    groups: &HashMap<String, std::result::Result<(GroupId, String), String>>,
    caller: &Principal,
    org: &Organization,
) -> std::result::Result<Item, RowError> {
    use portier_core::import::Column;
    let mut candidate = columns.read(cells)?;
    // A role by its key or by its name in either language.
    let mut given = Vec::with_capacity(candidate.input.roles.len());
    for raw in &candidate.input.roles {
        let lower = raw.to_lowercase();
        let role = roles.iter().find(|r| {
            r.key.as_str() == raw
                || r.name.en.to_lowercase() == lower
                || r.name.nl.to_lowercase() == lower
        });
        match role {
            Some(r) => given.push(r.key.as_str().to_owned()),
            None => {
                return Err(RowError {
                    field: columns.name_of(Column::Roles),
                    code: "role_unknown",
                    message: format!("there is no role \"{raw}\" in this organization"),
                });
            }
        }
    }
    candidate.input.roles = given;
    let member = NewMember::parse(candidate.input).map_err(|e| RowError {
        field: columns.column_of(&e.field),
        code: e.code,
        message: e.message,
    })?;
    let chosen: Vec<Role> = member
        .roles
        .iter()
        .filter_map(|k| roles.iter().find(|r| r.key == *k).cloned())
        .collect();
    caller.may_grant(&chosen, &org.path).map_err(|e| RowError {
        field: columns.name_of(Column::Roles),
        code: "role_not_allowed",
        message: e.to_string(),
    })?;
    let mut group_ids = Vec::new();
    let mut group_names = Vec::new();
    for name in &candidate.groups {
        match groups.get(&name.to_lowercase()) {
            None => {
                return Err(RowError {
                    field: columns.name_of(Column::Groups),
                    code: "group_unknown",
                    message: format!("there is no group \"{name}\" in this organization"),
                });
            }
            Some(Err(why)) => {
                return Err(RowError {
                    field: columns.name_of(Column::Groups),
                    code: "group_not_allowed",
                    message: why.clone(),
                });
            }
            Some(Ok((id, name))) => {
                if !group_ids.contains(id) {
                    group_ids.push(*id);
                    group_names.push(name.clone());
                }
            }
        }
    }
    Ok(Item {
        member,
        roles: chosen,
        groups: group_ids,
        group_names,
        account: None,
    })
}

/// Decides, for the rows still to write, between a new account, an account
/// reused and a member already, and refuses what the database forbids: a
/// staff code another member holds, a registration number other than the
/// one recorded, a missing number that a role needs.
async fn look_up(
    tx: &mut Tx,
    org: &Organization,
    columns: &Columns,
    rows: &mut [Planned],
) -> Result<()> {
    use portier_core::import::Column;
    let emails: Vec<&str> = rows
        .iter()
        .filter_map(|p| p.item.as_ref())
        .map(|i| i.member.email.as_str())
        .collect();
    let accounts: HashMap<String, Account> = crate::accounts::by_emails(tx, &emails)
        .await?
        .into_iter()
        .map(|a| (a.email.as_str().to_owned(), a))
        .collect();
    let ids: Vec<Uuid> = accounts.values().map(|a| a.id.0).collect();
    let members = members_among(tx, org.id, &ids).await?;
    let registered: HashMap<Uuid, String> = in_list(
        tx,
        &Lookup {
            columns: "g.account_id, g.number",
            table: "registrations g",
            on: "g.account_id = v.column1",
        },
        None,
        ids.iter().map(|i| Arg::Id(*i)),
    )
    .await?
    .into_iter()
    .map(|(id, n)| (id, n.unwrap_or_default()))
    .collect();
    let codes: Vec<String> = rows
        .iter()
        .filter_map(|p| p.item.as_ref()?.member.staff_code.clone())
        .collect();
    let taken: HashMap<String, Uuid> = in_list(
        tx,
        &Lookup {
            columns: "m.account_id, m.staff_code",
            table: "memberships m",
            on: "m.organization_id = $1 AND m.staff_code = v.column1",
        },
        Some(org.id),
        codes.into_iter().map(Arg::Text),
    )
    .await?
    .into_iter()
    .map(|(id, code)| (code.unwrap_or_default(), id))
    .collect();
    for planned in rows.iter_mut() {
        let Some(item) = planned.item.as_ref() else {
            continue;
        };
        let account = accounts.get(item.member.email.as_str()).cloned();
        let verdict = judge(item, account.as_ref(), &members, &registered, &taken);
        planned.report.account_id = account.as_ref().map(|a| a.id.0);
        match verdict {
            Ok(outcome) => {
                planned.report.outcome = outcome;
                if outcome == Outcome::AlreadyMember {
                    planned.report.field = Some(columns.name_of(Column::Email));
                    planned.report.message = Some("already a member of this organization".into());
                    planned.item = None;
                } else if let Some(item) = planned.item.as_mut() {
                    item.account = account;
                }
            }
            Err((column, message)) => planned.refuse(columns.name_of(column), message),
        }
    }
    Ok(())
}

/// Which of these accounts are members of `org`.
async fn members_among(
    tx: &mut Tx,
    org: OrganizationId,
    accounts: &[Uuid],
) -> Result<HashSet<Uuid>> {
    Ok(in_list(
        tx,
        &Lookup {
            columns: "m.account_id, CAST(NULL AS TEXT)",
            table: "memberships m",
            on: "m.organization_id = $1 AND m.account_id = v.column1",
        },
        Some(org),
        accounts.iter().map(|a| Arg::Id(*a)),
    )
    .await?
    .into_iter()
    .map(|(id, _)| id)
    .collect())
}

/// What [`look_up`] found means for one row.
fn judge(
    item: &Item,
    account: Option<&Account>,
    members: &HashSet<Uuid>,
    registered: &HashMap<Uuid, String>,
    taken: &HashMap<String, Uuid>,
) -> std::result::Result<Outcome, (portier_core::import::Column, String)> {
    use portier_core::import::Column;
    if account.is_some_and(|a| members.contains(&a.id.0)) {
        return Ok(Outcome::AlreadyMember);
    }
    if let Some(code) = &item.member.staff_code
        && taken.contains_key(code)
    {
        return Err((
            Column::StaffCode,
            format!("another member of this organization already has the code {code}"),
        ));
    }
    let recorded = account.and_then(|a| registered.get(&a.id.0));
    match (recorded, item.member.registration.as_ref()) {
        (Some(r), Some(g)) if *r != g.number => {
            return Err((
                Column::RegistrationNumber,
                format!(
                    "{} already has another {} number; only a platform operator can change it",
                    item.member.email,
                    g.register.as_str()
                ),
            ));
        }
        (None, None) => {
            if let Some((register, role)) = portier_core::roles::needed_register(&item.roles) {
                return Err((
                    Column::RegistrationNumber,
                    format!("the role {role} needs a {} number", register.as_str()),
                ));
            }
        }
        _ => {}
    }
    Ok(if account.is_some() {
        Outcome::Reused
    } else {
        Outcome::New
    })
}

/// What [`in_list`] looks up for each value: `columns` (an id and an
/// optional text) of the rows of `table` that match `on`, where `v.column1`
/// is the value and `$1` the organization when one is given.
struct Lookup {
    columns: &'static str,
    table: &'static str,
    on: &'static str,
}

/// Runs `lookup` for `values`, a few thousand at a time, each value one
/// probe of an index whatever the size of the organization. Listed after
/// `IN`, PostgreSQL would read all of the organization's members and test
/// each against the list; and joined to a table of the values, it does
/// much the same when its statistics lag behind an import (autovacuum off:
/// an organization of 400,000 members taken for one of a thousand, 145 ms
/// a chunk where probes take 3). So on PostgreSQL each value looks its row
/// up in a subquery of its own (`LATERAL`, kept whole by `OFFSET 0`).
async fn in_list(
    tx: &mut Tx,
    lookup: &Lookup,
    org: Option<OrganizationId>,
    values: impl Iterator<Item = Arg>,
) -> Result<Vec<(Uuid, Option<String>)>> {
    let values: Vec<Arg> = values.collect();
    let mut out = Vec::new();
    let mut rest = values.into_iter().peekable();
    while rest.peek().is_some() {
        let mut args: Vec<Arg> = org.map(|o| Arg::Id(o.0)).into_iter().collect();
        let first = args.len() + 1;
        args.extend(rest.by_ref().take(2000));
        let marks: Vec<String> = (first..=args.len()).map(|i| format!("(${i})")).collect();
        let Lookup { columns, table, on } = lookup;
        let values = format!("(VALUES {}) AS v", marks.join(", "));
        let sql = match tx.backend() {
            crate::Backend::Postgres => format!(
                "SELECT x.* FROM {values} CROSS JOIN LATERAL
                   (SELECT {columns} FROM {table} WHERE {on} OFFSET 0) AS x"
            ),
            crate::Backend::Sqlite => {
                format!("SELECT {columns} FROM {values} JOIN {table} ON {on}")
            }
        };
        let rows: Vec<(Uuid, Option<String>)> = in_tx!(tx, |c| {
            // Placeholders only; the values are bound.
            crate::bind_all!(sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())), &args)
                .fetch_all(c)
                .await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

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
    look_up(tx, org, columns, rows).await?;
    // New accounts, unless another transaction created one meanwhile.
    let fresh: Vec<Account> = rows
        .iter()
        .filter(|p| p.report.outcome == Outcome::New)
        .filter_map(|p| p.item.as_ref())
        .map(|i| Account {
            id: AccountId::new(),
            email: i.member.email.clone(),
            name: i.member.name.clone(),
            phone: i.member.phone.clone(),
            mobile: i.member.mobile.clone(),
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
                let a = crate::accounts::find_by_email_tx(tx, &item.member.email).await?;
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
                    phone: item.member.phone.clone(),
                    mobile: item.member.mobile.clone(),
                    staff_code: item.member.staff_code.clone(),
                    description: item.member.description.clone(),
                    job_title: item.member.job_title.clone(),
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
                columns.name_of(portier_core::import::Column::StaffCode),
                format!(
                    "another member of this organization took the code {} meanwhile",
                    m.staff_code.as_deref().unwrap_or_default()
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
        // seed 000: the registration number, recorded (and checked) as an
        // administrator's add records it; a number a role needs but the row
        // lacks was refused by the plan.
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
                "staff_code": m.staff_code,
                "job_title": m.job_title,
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

/// The rights a job keeps from the caller who started it: a resumed job
/// grants no more than they could.
#[derive(Serialize, Deserialize)]
struct StoredGrant {
    organization_id: Uuid,
    path: String,
    permissions: Vec<String>,
}

fn store_grants(caller: &Principal) -> serde_json::Value {
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

/// What every chunk of one import is written with.
struct Chunk<'a> {
    org: &'a Organization,
    columns: &'a Columns,
    actor: &'a Actor,
    import_id: Uuid,
    invite: bool,
    lifecycle: &'a Lifecycle,
}

impl Chunk<'_> {
    /// Writes `rows` ([`write`]) and their report lines and progress
    /// ([`record_progress`]), in the caller's transaction.
    async fn write(&self, tx: &mut Tx, rows: &mut [Planned], origin: &Origin) -> Result<()> {
        write(
            tx,
            self.org,
            self.columns,
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

/// An import this code has just written or read, read again.
async fn known(store: &Store, org: OrganizationId, id: Uuid) -> Result<Import> {
    get(store, org, id)
        .await?
        .ok_or(DomainError::NotFound { what: "import" }.into())
}

/// Refused when rows are invalid and the import is all or nothing: the
/// plan says which.
#[derive(Debug)]
pub struct Refused(pub Plan);

/// Runs a planned import whole, in one transaction (all or nothing), and
/// stores it as done with its report.
pub async fn run_now(
    store: &Store,
    org: &Organization,
    caller: &Principal,
    request: &Request,
    mut plan: Plan,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<std::result::Result<(Import, Plan), Refused>> {
    if !request.skip_invalid && plan.counts().invalid > 0 {
        return Ok(Err(Refused(plan)));
    }
    let id = Uuid::now_v7();
    let mut tx = store.begin().await?;
    insert_import(
        &mut tx,
        id,
        org,
        caller,
        request,
        "running",
        plan.rows.len(),
        false,
        origin,
    )
    .await?;
    let Plan { columns, rows } = &mut plan;
    let chunk = Chunk {
        org,
        columns,
        actor: &caller.actor,
        import_id: id,
        invite: request.invite,
        lifecycle,
    };
    chunk.write(&mut tx, rows, origin).await?;
    finish(&mut tx, id, org, &caller.actor, origin).await?;
    tx.commit().await?;
    Ok(Ok((known(store, org.id, id).await?, plan)))
}

#[allow(clippy::too_many_arguments)]
async fn insert_import(
    tx: &mut Tx,
    id: Uuid,
    org: &Organization,
    caller: &Principal,
    request: &Request,
    state: &str,
    total: usize,
    keep_source: bool,
    origin: &Origin,
) -> Result<()> {
    let actor = serde_json::json!({"actor": caller.actor, "grants": store_grants(caller)});
    let source = keep_source.then_some(request.source.as_slice());
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
        .bind(source)
        .bind(state)
        .bind(request.invite)
        .bind(request.skip_invalid)
        .bind(total as i64)
        .bind(!request.invite)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Writes the report lines of `rows` and moves the import's progress past
/// them, in the chunk's transaction.
async fn record_progress(
    tx: &mut Tx,
    id: Uuid,
    rows: &[Planned],
    now: DateTime<Utc>,
) -> Result<()> {
    write_report(
        tx,
        id,
        rows.iter().map(|p| &p.report),
        rows.len() as i64,
        now,
    )
    .await
}

/// Adds report lines to an import, with their counts, and `done` rows to
/// its progress.
async fn write_report<'a>(
    tx: &mut Tx,
    id: Uuid,
    reports: impl Iterator<Item = &'a RowReport>,
    done: i64,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut args = Vec::new();
    let mut c = Counts::default();
    for r in reports {
        c.add(r.outcome);
        args.extend([
            Arg::Id(id),
            Arg::Int(r.row as i64),
            Arg::Text(r.outcome.as_str().to_owned()),
            Arg::OptText(r.field.clone()),
            Arg::OptText(r.message.clone()),
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
async fn finish(
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

/// Stores an import to run as a job (`running`), or to wait for a
/// confirmation (`planned`, the console's dry run). The file is kept until
/// the job is done.
pub async fn enqueue(
    store: &Store,
    org: &Organization,
    caller: &Principal,
    request: &Request,
    plan: &Plan,
    state: &'static str,
    origin: &Origin,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let mut tx = store.begin().await?;
    insert_import(
        &mut tx,
        id,
        org,
        caller,
        request,
        state,
        plan.rows.len(),
        true,
        origin,
    )
    .await?;
    if state == "planned" {
        // The dry run's report, to show until it is confirmed.
        write_report(&mut tx, id, plan.reports(), 0, origin.now).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// How long a dry run waits for its confirmation.
const PLANNED_FOR: chrono::Duration = chrono::Duration::hours(24);

/// Confirms a planned import: it runs as a job, as `confirmer` (whose
/// rights it plans with again, and who is audited), not as whoever
/// uploaded it. Returns false when it was not waiting for a confirmation
/// (confirmed already, or uploaded more than a day ago).
pub async fn confirm(
    store: &Store,
    org: OrganizationId,
    id: Uuid,
    confirmer: &Principal,
    now: DateTime<Utc>,
) -> Result<bool> {
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

/// One import of an organization.
pub async fn get(store: &Store, org: OrganizationId, id: Uuid) -> Result<Option<Import>> {
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
pub async fn list(store: &Store, org: OrganizationId, limit: i64) -> Result<Vec<Import>> {
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
type ReportLine = (i64, String, Option<String>, Option<String>, Option<Uuid>);

/// The report of an import so far, in the order of the file; `outcomes`
/// narrows it.
pub async fn report(
    store: &Store,
    id: Uuid,
    outcome: Option<Outcome>,
    limit: i64,
) -> Result<Vec<RowReport>> {
    let rows: Vec<ReportLine> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT row_number, outcome, field, message, account_id FROM import_rows
                 WHERE import_id = $1 AND ($2 IS NULL OR outcome = $2)
                 ORDER BY row_number LIMIT $3",
        )
        .bind(id)
        .bind(outcome.map(Outcome::as_str))
        .bind(limit)
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
    let import = get(store, OrganizationId(org_id), id)
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
            source: source.unwrap_or_default(),
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

/// Runs a claimed job to its end: plans the file (again, unless `planned`
/// is the plan its starter just made), then writes it in
/// chunks of `chunk_rows` from where the last commit stopped, each chunk
/// renewing the lease. `progress` hears the rows done after each chunk.
/// When rows are invalid and the import is all or nothing, nothing is
/// written: the job fails with the report.
pub async fn run_job(
    store: &Store,
    job: Claimed,
    planned: Option<Plan>,
    chunk_rows: usize,
    lifecycle: &Lifecycle,
    mut progress: impl FnMut(u64, u64),
) -> Result<Import> {
    let id = job.import.id;
    let mut lease = job.lease;
    let org = &job.organization;
    let origin = |now| Origin {
        client_addr: job.client_addr.clone(),
        now,
    };
    may_still_invite(&job.principal, org)?;
    let mut plan = match planned {
        // Its starter planned it a moment ago: each chunk looks its rows up
        // again anyway.
        Some(p) if job.import.done_rows == 0 => p,
        _ => {
            let table = portier_core::import::read(job.request.kind, &job.request.source)
                .map_err(DomainError::Invalid)?;
            plan(store, org, &job.principal, table).await?
        }
    };
    let total = plan.rows.len() as u64;
    let start = usize::try_from(job.import.done_rows)
        .unwrap_or(0)
        .min(plan.rows.len());
    if start == 0 && !job.request.skip_invalid && plan.counts().invalid > 0 {
        let now = Origin::now(None).now;
        let mut tx = store.begin().await?;
        let invalid: Vec<Planned> = plan
            .rows
            .iter()
            .filter(|p| p.report.outcome == Outcome::Invalid)
            .cloned()
            .collect();
        record_progress(&mut tx, id, &invalid, now).await?;
        fail(&mut tx, id, "invalid_rows", now).await?;
        tx.commit().await?;
        progress(total, total);
        return known(store, org.id, id).await;
    }
    let Plan { columns, rows } = &mut plan;
    let chunk = Chunk {
        org,
        columns,
        actor: &job.principal.actor,
        import_id: id,
        invite: job.request.invite,
        lifecycle,
    };
    progress(start as u64, total);
    let mut at = start;
    while at < rows.len() {
        let end = (at + chunk_rows.max(1)).min(rows.len());
        let o = origin(Origin::now(None).now);
        if at > start {
            // Revoked while the job runs: the chunks written stay, whole.
            may_still_invite(&held_now(store, job.principal.clone(), o.now).await?, org)?;
        }
        let mut tx = store.begin().await?;
        chunk.write(&mut tx, &mut rows[at..end], &o).await?;
        let renewed = lease_from(o.now);
        let still_ours = in_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE imports SET lease_until = $2
                 WHERE id = $1 AND state = 'running' AND lease_until = $3",
            )
            .bind(id)
            .bind(renewed)
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
        lease = renewed;
        if end == rows.len() {
            finish(&mut tx, id, org, &job.principal.actor, &o).await?;
        }
        tx.commit().await?;
        at = end;
        progress(at as u64, total);
    }
    known(store, org.id, id).await
}

async fn fail(tx: &mut Tx, id: Uuid, error: &str, now: DateTime<Utc>) -> Result<()> {
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
    org: &Organization,
    actor: &Actor,
    id: Uuid,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<i64> {
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
        let Some(account) = crate::accounts::get_tx(&mut tx, AccountId(account_id)).await? else {
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
