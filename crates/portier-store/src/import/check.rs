//! Checking a file's rows a chunk at a time: each row read against the
//! organization's roles and groups, the caller's rights and the rows before
//! it ([`Pass`]), then looked up in the database ([`look_up`]): what
//! importing it would do, or why it cannot be imported
//! (docs/IMPORTS.md#streaming).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

use portier_core::Error as DomainError;
use portier_core::accounts::Account;
use portier_core::ids::{GroupId, OrganizationId};
use portier_core::import::{Column, Columns, File, FileKind, Row, RowError, Rows};
use portier_core::members::NewMember;
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, MembersInvite, Principal};
use portier_core::roles::Role;
use uuid::Uuid;

use super::{Counts, Outcome, RowReport};
use crate::db::Arg;
use crate::{Result, Store, Tx, in_tx};

/// Rows checked together: one look-up of their addresses, accounts and
/// staff codes, then their report lines are handed on and they go.
pub(super) const CHECK_ROWS: usize = 2_000;

/// A row that can be written, as checked.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) member: NewMember,
    pub(super) roles: Vec<Role>,
    pub(super) groups: Vec<GroupId>,
    pub(super) group_names: Vec<String>,
    /// The account of the address, when it has one.
    pub(super) account: Option<Account>,
}

/// One row as checked: its report line, and what to write when it can be
/// imported.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub(super) report: RowReport,
    pub(super) item: Option<Item>,
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

    pub(super) fn refuse(&mut self, field: String, message: String) {
        self.report.outcome = Outcome::Invalid;
        self.report.field = Some(field);
        self.report.message = Some(message);
        self.item = None;
    }
}

/// Values met so far in a file (e-mail addresses, staff codes), each kept
/// as a 128-bit keyed hash with the first row that held it: 24 bytes a
/// value whatever its length (docs/IMPORTS.md#streaming). The two halves
/// are SipHash with this set's own random key over two different inputs,
/// so two values taken for one another would take about 2^64 values. The
/// hashes are spread over [`SHARDS`] tables that grow on their own, each
/// below 128 KiB up to a million values (docs/IMPORTS.md#memory).
struct Seen {
    key: RandomState,
    shards: Vec<HashMap<Hashed, u64, BuildHasherDefault<FirstHalf>>>,
}

/// The tables of a [`Seen`].
const SHARDS: usize = 512;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hashed(u64, u64);

impl Hash for Hashed {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The table's own hash of a [`Hashed`]: its first half, already as good
/// as a hash gets. (The second half chooses the table.)
#[derive(Default)]
struct FirstHalf(u64);

impl Hasher for FirstHalf {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Seen {
    fn new() -> Seen {
        Seen {
            key: RandomState::new(),
            shards: (0..SHARDS).map(|_| HashMap::default()).collect(),
        }
    }

    fn hashed(&self, value: &str) -> Hashed {
        Hashed(self.key.hash_one(value), self.key.hash_one((1u8, value)))
    }

    fn shard(&mut self, value: Hashed) -> &mut HashMap<Hashed, u64, BuildHasherDefault<FirstHalf>> {
        let i = (value.1 % SHARDS as u64) as usize;
        &mut self.shards[i]
    }

    /// The first row that held the value.
    fn first(&mut self, value: Hashed) -> Option<u64> {
        self.shard(value).get(&value).copied()
    }

    fn insert(&mut self, value: Hashed, row: u64) {
        self.shard(value).entry(value).or_insert(row);
    }
}

/// The groups a caller may put people in, by lower-cased name, or why not.
type GroupChoices = HashMap<String, std::result::Result<(GroupId, String), String>>;

/// What every row of one file is checked against, and the rows before it.
pub(super) struct Checker {
    org: Organization,
    caller: Principal,
    pub(super) columns: Columns,
    roles: Vec<Role>,
    /// Each role's names in English and Dutch, lower-cased.
    role_names: Vec<(String, String)>,
    groups: GroupChoices,
    emails: Seen,
    codes: Seen,
}

impl Checker {
    /// Refuses the whole file (on the field `file`) only when its header
    /// cannot be used.
    async fn new(
        store: &Store,
        org: &Organization,
        caller: &Principal,
        header: &[String],
    ) -> Result<Checker> {
        let columns = Columns::parse(header.to_vec()).map_err(DomainError::Invalid)?;
        let roles = crate::roles::list_in(store, org).await?;
        let groups = crate::groups::list_in(store, org.id).await?;
        let may_group = caller.holds(&portier_core::permissions::GROUPS_MANAGE, &org.path);
        let mut allowed = GroupChoices::new();
        let mut tx = store.begin_read().await?;
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
        Ok(Checker {
            org: org.clone(),
            caller: caller.clone(),
            columns,
            role_names: roles
                .iter()
                .map(|r| (r.name.en.to_lowercase(), r.name.nl.to_lowercase()))
                .collect(),
            roles,
            groups: allowed,
            emails: Seen::new(),
            codes: Seen::new(),
        })
    }

    /// Reads `row` and checks it against the organization and the rows
    /// before it (an address or a staff code twice), not the database.
    fn check(&mut self, row: Row) -> Planned {
        let item = match self.read_row(&row) {
            Err(e) => return Planned::invalid(row.number, e),
            Ok(item) => item,
        };
        let email = self.emails.hashed(item.member.email.as_str());
        let code = item
            .member
            .details
            .staff_code
            .as_deref()
            .map(|c| self.codes.hashed(c));
        if let Some(first) = self.emails.first(email) {
            return Planned::invalid(
                row.number,
                RowError {
                    field: self.columns.name_of(Column::Email),
                    code: "duplicate",
                    message: format!("{} is also on row {first}", item.member.email),
                },
            );
        }
        if let Some(first) = code.and_then(|c| self.codes.first(c)) {
            return Planned::invalid(
                row.number,
                RowError {
                    field: self.columns.name_of(Column::STAFF_CODE),
                    code: "duplicate",
                    message: format!(
                        "the staff code {} is also on row {first}",
                        item.member
                            .details
                            .staff_code
                            .as_deref()
                            .unwrap_or_default()
                    ),
                },
            );
        }
        self.emails.insert(email, row.number);
        if let Some(code) = code {
            self.codes.insert(code, row.number);
        }
        Planned {
            report: RowReport {
                row: row.number,
                outcome: Outcome::New,
                field: None,
                message: None,
                account_id: None,
            },
            item: Some(item),
        }
    }
    /// One row read and checked against the organization, without the
    /// database.
    fn read_row(&self, row: &Row) -> std::result::Result<Item, RowError> {
        let Checker {
            org,
            caller,
            columns,
            roles,
            role_names,
            groups,
            ..
        } = self;
        let mut candidate = columns.read(&row.cells)?;
        // A role by its key or by its name in either language.
        let mut given = Vec::with_capacity(candidate.input.roles.len());
        for raw in &candidate.input.roles {
            let lower = raw.to_lowercase();
            let role = roles
                .iter()
                .zip(role_names)
                .find(|(r, (en, nl))| r.key.as_str() == raw || *en == lower || *nl == lower)
                .map(|(r, _)| r);
            match role {
                Some(r) => given.push(r.key.as_str().to_owned()),
                None => {
                    return Err(RowError {
                        field: columns.name_of(Column::Roles),
                        code: "role_unknown",
                        message: format!(
                            "there is no role \"{}\" in this organization",
                            portier_core::import::shown(raw)
                        ),
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
                        message: format!(
                            "there is no group \"{}\" in this organization",
                            portier_core::import::shown(name)
                        ),
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
}

/// Decides, for the rows still to write, between a new account, an account
/// reused and a member already, and refuses what the database forbids: a
/// staff code another member holds, a registration number other than the
/// one recorded, a missing number that a role needs. `hold`, when the rows
/// are about to be written: the accounts reused are held until the commit
/// (see `accounts::by_emails`).
pub(super) async fn look_up(
    tx: &mut Tx,
    org: &Organization,
    columns: &Columns,
    rows: &mut [Planned],
    hold: bool,
) -> Result<()> {
    let emails: Vec<&str> = rows
        .iter()
        .filter_map(|p| p.item.as_ref())
        .map(|i| i.member.email.as_str())
        .collect();
    let accounts: HashMap<String, Account> = crate::accounts::by_emails(tx, &emails, hold)
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
        .filter_map(|p| p.item.as_ref()?.member.details.staff_code.clone())
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
pub(super) async fn members_among(
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
    if account.is_some_and(|a| members.contains(&a.id.0)) {
        return Ok(Outcome::AlreadyMember);
    }
    if let Some(code) = &item.member.details.staff_code
        && taken.contains_key(code)
    {
        return Err((
            Column::STAFF_CODE,
            format!("another member of this organization already has the code {code}"),
        ));
    }
    let recorded = account.and_then(|a| registered.get(&a.id.0));
    match (recorded, item.member.registration.as_ref()) {
        // A number is the person's in every organization they belong to:
        // an import records one only for an account it creates
        // (docs/RULES.md#registrations).
        (None, Some(_)) if account.is_some() => {
            return Err((
                Column::RegistrationNumber,
                format!(
                    "{} already has an account, and their registration number is recorded by a platform operator or by someone who manages all their organizations",
                    item.member.email
                ),
            ));
        }
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

/// A file being read and checked, a chunk of rows at a time.
pub(super) struct Pass<'f> {
    rows: Rows<'f>,
    checker: Checker,
}

impl<'f> Pass<'f> {
    /// Reads the header of `file`, and what rows are checked against.
    pub(super) async fn start(
        store: &Store,
        org: &Organization,
        caller: &Principal,
        file: &'f mut File<'f>,
    ) -> Result<Pass<'f>> {
        let rows = file.rows().map_err(DomainError::Invalid)?;
        let checker = Checker::new(store, org, caller, rows.header()).await?;
        Ok(Pass { rows, checker })
    }

    pub(super) fn columns(&self) -> &Columns {
        &self.checker.columns
    }

    /// The next `n` rows (fewer at the end), checked without the database.
    pub(super) fn next(&mut self, n: usize) -> Result<Vec<Planned>> {
        let rows = self.rows.next_rows(n).map_err(DomainError::Invalid)?;
        Ok(rows.into_iter().map(|r| self.checker.check(r)).collect())
    }

    pub(super) fn at_end(&mut self) -> Result<bool> {
        Ok(self.rows.at_end().map_err(DomainError::Invalid)?)
    }
}

/// What checking a whole file found.
#[derive(Debug, Clone)]
pub struct Checked {
    pub columns: Columns,
    pub counts: Counts,
}

impl Checked {
    /// The rows of the file with a value: one report line each.
    pub fn rows(&self) -> u64 {
        self.counts.rows() as u64
    }
}

/// Reads the file and decides, row by row, what importing it into the
/// organization of the proof would do for its caller; writes nothing. Each line of the report goes to
/// `line` as soon as its chunk is checked. Refuses the whole file (on the
/// field `file`) when it cannot be read or its header cannot be used.
pub async fn check(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    kind: FileKind,
    source: &[u8],
    mut line: impl FnMut(&RowReport),
) -> Result<Checked> {
    let (org, caller) = (auth.organization(), auth.principal());
    let mut file = File::open(kind, source).map_err(DomainError::Invalid)?;
    let mut pass = Pass::start(store, org, caller, &mut file).await?;
    let mut tx = store.begin_read().await?;
    let mut counts = Counts::default();
    loop {
        let mut rows = pass.next(CHECK_ROWS)?;
        if rows.is_empty() {
            break;
        }
        look_up(&mut tx, org, pass.columns(), &mut rows, false).await?;
        for p in &rows {
            counts.add(p.report.outcome);
            line(&p.report);
        }
    }
    Ok(Checked {
        columns: pass.checker.columns,
        counts,
    })
}
