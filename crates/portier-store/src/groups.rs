//! Groups of one organization's members and the roles they carry
//! (docs/RULES.md#groups). Every change is one transaction with its audit
//! event, and tells the caches of rights (a group's roles are its members'
//! roles).

use portier_core::rights::{Authorized, GroupsManage, MembersRead, Principal, Right};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::Account;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::groups::{GroupPatch, NewGroup, check_roles};
use portier_core::ids::{AccountId, GroupId, MembershipId, OrganizationId};
use portier_core::members::MemberStatus;
use portier_core::organizations::Organization;
use portier_core::roles::Role;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::db::On;
use crate::{Error, Result, Store, Tx, accounts, in_tx, on, organizations, reader, roles};

/// A group as lists and its page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub id: GroupId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub description: Option<String>,
    /// Keys of the roles it carries.
    pub roles: Vec<String>,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: Uuid,
    organization_id: Uuid,
    name: String,
    description: Option<String>,
    member_count: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

macro_rules! select_groups {
    ($rest:literal) => {
        concat!(
            "SELECT g.id, g.organization_id, g.name, g.description, g.created_at, g.updated_at,
                    (SELECT COUNT(*) FROM group_members gm WHERE gm.group_id = g.id) AS member_count
             FROM groups g ",
            $rest
        )
    };
}

/// The roles of the groups of an organization (or of one group), by group.
macro_rules! select_group_roles {
    ($rest:literal) => {
        concat!(
            "SELECT gr.group_id, r.key FROM group_roles gr JOIN groups g ON g.id = gr.group_id
             JOIN roles r ON r.id = gr.role_id ",
            $rest,
            " ORDER BY r.key"
        )
    };
}

fn views(rows: Vec<GroupRow>, role_rows: Vec<(Uuid, String)>) -> Vec<GroupView> {
    let mut by_group: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for (group, key) in role_rows {
        by_group.entry(group).or_default().push(key);
    }
    rows.into_iter()
        .map(|r| GroupView {
            id: r.id.into(),
            organization_id: r.organization_id.into(),
            roles: by_group.remove(&r.id).unwrap_or_default(),
            name: r.name,
            description: r.description,
            member_count: r.member_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
        .collect()
}

/// The organization's groups by name.
pub async fn list<R: Right>(store: &Store, auth: &Authorized<R>) -> Result<Vec<GroupView>> {
    list_in(store, auth.organization_id()).await
}

/// [`list`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn list_in(store: &Store, org: OrganizationId) -> Result<Vec<GroupView>> {
    let rows: Vec<GroupRow> = reader!(store, |c| {
        sqlx::query_as(select_groups!(
            "WHERE g.organization_id = $1 ORDER BY g.name, g.id"
        ))
        .bind(org.0)
        .fetch_all(c)
        .await
    })?;
    let role_rows: Vec<(Uuid, String)> = reader!(store, |c| {
        sqlx::query_as(select_group_roles!("WHERE g.organization_id = $1"))
            .bind(org.0)
            .fetch_all(c)
            .await
    })?;
    Ok(views(rows, role_rows))
}

/// One group of the organization.
pub async fn get<R: Right>(
    on: impl Into<On<'_>>,
    auth: &Authorized<R>,
    id: GroupId,
) -> Result<Option<GroupView>> {
    get_in(on, auth.organization_id(), id).await
}

/// [`get`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn get_in(
    on: impl Into<On<'_>>,
    org: OrganizationId,
    id: GroupId,
) -> Result<Option<GroupView>> {
    let mut on = on.into();
    let rows: Vec<GroupRow> = on!(on.again(), |c| {
        sqlx::query_as(select_groups!("WHERE g.organization_id = $1 AND g.id = $2"))
            .bind(org.0)
            .bind(id.0)
            .fetch_all(c)
            .await
    })?;
    let role_rows: Vec<(Uuid, String)> = on!(on, |c| {
        sqlx::query_as(select_group_roles!(
            "WHERE g.organization_id = $1 AND g.id = $2"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await
    })?;
    Ok(views(rows, role_rows).pop())
}

/// Group `id` inside a transaction; 404 when there is none.
async fn get_tx(tx: &mut Tx, org: OrganizationId, id: GroupId) -> Result<GroupView> {
    get_in(tx, org, id)
        .await?
        .ok_or_else(|| DomainError::NotFound { what: "group" }.into())
}

/// Whoever puts someone in a group, or takes them out, gives or takes what
/// the group carries: the right to give its roles, and `resources.manage`
/// when it holds grants on resources.
pub(crate) async fn may_change_membership(
    tx: &mut Tx,
    caller: &Principal,
    org: &Organization,
    group: &GroupView,
) -> Result<()> {
    caller.may_grant(&roles_of(tx, org, group).await?, &org.path)?;
    let grants: i64 = in_tx!(tx, |c| {
        sqlx::query_scalar("SELECT COUNT(*) FROM resource_grants WHERE group_id = $1")
            .bind(group.id.0)
            .fetch_one(c)
            .await
    })?;
    if grants > 0 && !caller.holds(&portier_core::permissions::RESOURCES_MANAGE, &org.path) {
        return Err(DomainError::Forbidden {
            permission: portier_core::permissions::RESOURCES_MANAGE,
        }
        .into());
    }
    Ok(())
}

/// Changing what a group gives its members (its roles, or the group itself
/// going) acts on each of them: when one administers this organization (an
/// administrator role here, above or below), it needs `admins.manage`, as
/// acting on them one by one does (docs/RULES.md#administrators).
async fn administrators_are_administrators_business(
    tx: &mut Tx,
    caller: &Principal,
    org: &Organization,
    group: GroupId,
) -> Result<()> {
    let admins_manage = portier_core::permissions::ADMINS_MANAGE;
    if caller.holds(&admins_manage, &org.path) {
        return Ok(());
    }
    let administrator: bool = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT EXISTS (
               SELECT 1 FROM group_members gm
               JOIN memberships m ON m.id = gm.membership_id
               JOIN memberships seat ON seat.account_id = m.account_id
               JOIN organizations o ON o.id = seat.organization_id
               JOIN membership_roles mr ON mr.membership_id = seat.id
               JOIN roles r ON r.id = mr.role_id
               WHERE gm.group_id = $1 AND r.kind = 'admin'
                 AND (substr($2, 1, length(o.path)) = o.path
                      OR substr(o.path, 1, length($2)) = $2))",
        )
        .bind(group.0)
        .bind(org.path.as_str())
        .fetch_one(c)
        .await
    })?;
    if administrator {
        return Err(DomainError::Forbidden {
            permission: admins_manage,
        }
        .into());
    }
    Ok(())
}

/// The roles a group carries, as `roles::resolve` reads them.
async fn roles_of(tx: &mut Tx, org: &Organization, group: &GroupView) -> Result<Vec<Role>> {
    let keys = group
        .roles
        .iter()
        .map(|k| {
            portier_core::roles::RoleKey::parse("roles", k).map_err(|e| Error::Corrupt(e.message))
        })
        .collect::<Result<Vec<_>>>()?;
    roles::resolve(tx, org, &keys).await
}

fn name_taken(name: &str) -> Error {
    DomainError::Conflict {
        code: "group_name_taken",
        field: Some("name".into()),
        message: format!("this organization already has a group called {name}"),
    }
    .into()
}

fn group_event(
    actor: &Actor,
    action: &'static str,
    org: &Organization,
    group: GroupId,
    changes: serde_json::Value,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.clone(),
        action,
        organization_id: Some(org.id),
        target_type: "group",
        target_id: group.to_string(),
        changes,
        client_addr: origin.client_addr.clone(),
    }
}

async fn set_roles(tx: &mut Tx, group: GroupId, roles: &[Role]) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM group_roles WHERE group_id = $1")
            .bind(group.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    for role in roles {
        in_tx!(tx, |c| {
            sqlx::query("INSERT INTO group_roles (group_id, role_id) VALUES ($1, $2)")
                .bind(group.0)
                .bind(role.id.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// Creates a group in the organization the proof is for. Giving it roles
/// beyond `member` needs `roles.assign` too.
pub async fn create(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    new: NewGroup,
    origin: &Origin,
) -> Result<GroupView> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let roles = roles::resolve(&mut tx, &org, &new.roles).await?;
    check_roles(&roles)?;
    caller.may_grant(&roles, &org.path)?;
    let id = GroupId::new();
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO groups (id, organization_id, name, description, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(id.0)
        .bind(org.id.0)
        .bind(&new.name)
        .bind(&new.description)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| Error::from(e).unique_as(|| name_taken(&new.name)))?;
    set_roles(&mut tx, id, &roles).await?;
    let keys: Vec<&str> = roles.iter().map(|r| r.key.as_str()).collect();
    let changes =
        serde_json::json!({"name": new.name, "description": new.description, "roles": keys});
    audit::record(
        &mut tx,
        org.environment_id,
        group_event(auth.actor(), "group.created", &org, id, changes, origin),
        origin.now,
    )
    .await?;
    let view = get_tx(&mut tx, org.id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Changes a group's name, description or roles. Its members hold the new
/// roles from the commit on.
pub async fn update(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    id: GroupId,
    patch: GroupPatch,
    origin: &Origin,
) -> Result<GroupView> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let before = get_tx(&mut tx, org.id, id).await?;
    let mut changes = serde_json::Map::new();
    if let Some(name) = patch.name.filter(|n| *n != before.name) {
        in_tx!(&mut tx, |c| {
            sqlx::query("UPDATE groups SET name = $1 WHERE id = $2")
                .bind(&name)
                .bind(id.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(|e| Error::from(e).unique_as(|| name_taken(&name)))?;
        changes.insert(
            "name".into(),
            serde_json::json!({"before": before.name, "after": name}),
        );
    }
    if let Some(description) = patch.description.filter(|d| *d != before.description) {
        in_tx!(&mut tx, |c| {
            sqlx::query("UPDATE groups SET description = $1 WHERE id = $2")
                .bind(&description)
                .bind(id.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        changes.insert(
            "description".into(),
            serde_json::json!({"before": before.description, "after": description}),
        );
    }
    if let Some(keys) = patch.roles {
        let now_held = roles_of(&mut tx, &org, &before).await?;
        let next = roles::resolve(&mut tx, &org, &keys).await?;
        check_roles(&next)?;
        let touched: Vec<Role> = next
            .iter()
            .filter(|r| !now_held.iter().any(|b| b.id == r.id))
            .chain(
                now_held
                    .iter()
                    .filter(|b| !next.iter().any(|r| r.id == b.id)),
            )
            .cloned()
            .collect();
        if !touched.is_empty() {
            caller.may_grant(&touched, &org.path)?;
            administrators_are_administrators_business(&mut tx, caller, &org, id).await?;
            set_roles(&mut tx, id, &next).await?;
            let mut after: Vec<&str> = next.iter().map(|r| r.key.as_str()).collect();
            after.sort();
            changes.insert(
                "roles".into(),
                serde_json::json!({"before": before.roles, "after": after}),
            );
            crate::rights::changed(&mut tx, org.environment_id).await?;
        }
    }
    if changes.is_empty() {
        return Ok(before);
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE groups SET updated_at = $1 WHERE id = $2")
            .bind(origin.now)
            .bind(id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    audit::record(
        &mut tx,
        org.environment_id,
        group_event(
            auth.actor(),
            "group.updated",
            &org,
            id,
            serde_json::Value::Object(changes),
            origin,
        ),
        origin.now,
    )
    .await?;
    let view = get_tx(&mut tx, org.id, id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Deletes a group; its members keep their own roles and lose the group's.
pub async fn delete(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    id: GroupId,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let group = get_tx(&mut tx, org.id, id).await?;
    let held = roles_of(&mut tx, &org, &group).await?;
    if group.member_count > 0 {
        caller.may_grant(&held, &org.path)?;
        administrators_are_administrators_business(&mut tx, caller, &org, id).await?;
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let changes = serde_json::json!({"name": group.name, "roles": group.roles, "members": group.member_count});
    audit::record(
        &mut tx,
        org.environment_id,
        group_event(auth.actor(), "group.deleted", &org, id, changes, origin),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await
}

/// A member of a group.
#[derive(Debug, Clone)]
pub struct GroupMember {
    pub account: Account,
    pub status: MemberStatus,
}

/// The members of a group, by name.
pub async fn members(
    store: &Store,
    auth: &Authorized<MembersRead>,
    id: GroupId,
) -> Result<Vec<GroupMember>> {
    let org = auth.organization_id();
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: accounts::AccountRow,
        active: bool,
    }
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT a.id, a.email, a.salutation, a.given_name, a.infix, a.family_name, a.phone,
                    a.mobile, a.locale, a.status, a.disabled, a.created_at, m.active
             FROM group_members gm JOIN groups g ON g.id = gm.group_id
             JOIN memberships m ON m.id = gm.membership_id
             JOIN accounts a ON a.id = m.account_id
             WHERE g.organization_id = $1 AND g.id = $2
             ORDER BY m.sort_key, a.id",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_all(c)
        .await
    })?;
    rows.into_iter()
        .map(|r| {
            let account: Account = r.account.try_into()?;
            Ok(GroupMember {
                status: MemberStatus::of(account.status, r.active),
                account,
            })
        })
        .collect()
}

/// Puts a membership into groups of its organization inside a transaction
/// (adding a member with `groups`): the caller needs `groups.manage`, each
/// group must be one of the organization's (refused on `groups[i]`
/// otherwise), and the caller must be allowed to give what the groups carry.
pub(crate) async fn join(
    tx: &mut Tx,
    caller: &Principal,
    org: &Organization,
    membership: MembershipId,
    groups: &[GroupId],
) -> Result<Vec<String>> {
    if !groups.is_empty() && !caller.holds(&portier_core::permissions::GROUPS_MANAGE, &org.path) {
        return Err(DomainError::Forbidden {
            permission: portier_core::permissions::GROUPS_MANAGE,
        }
        .into());
    }
    let mut names = Vec::with_capacity(groups.len());
    for (i, id) in groups.iter().enumerate() {
        let group = get_tx(tx, org.id, *id).await.map_err(|e| match e {
            Error::Domain(DomainError::NotFound { .. }) => portier_core::FieldError::new(
                format!("groups[{i}]"),
                "group_unknown",
                format!("there is no group {id} in this organization"),
            )
            .into(),
            other => other,
        })?;
        may_change_membership(tx, caller, org, &group).await?;
        insert_member(tx, *id, membership).await?;
        names.push(group.name);
    }
    Ok(names)
}

async fn insert_member(tx: &mut Tx, group: GroupId, membership: MembershipId) -> Result<u64> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO group_members (group_id, membership_id) VALUES ($1, $2)
             ON CONFLICT (group_id, membership_id) DO NOTHING",
        )
        .bind(group.0)
        .bind(membership.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| {
        let e = Error::from(e);
        if e.is_foreign_key_violation() {
            // The member or the group was removed meanwhile.
            DomainError::NotFound { what: "member" }.into()
        } else {
            e
        }
    })
}

/// Puts the member `account` in the group (`join`) or takes them out; false
/// when they already were (or were not) in it.
pub async fn set_member(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    id: GroupId,
    account: AccountId,
    join: bool,
    origin: &Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let membership = membership_of(&mut tx, &org, account).await?;
    // docs/RULES.md#administrators
    auth.over_member(&crate::members::seats_of(&mut tx, account).await?)?;
    let changed = change_member(
        &mut tx, caller, auth, &org, id, membership, account, join, origin,
    )
    .await?;
    if changed {
        crate::rights::changed(&mut tx, org.environment_id).await?;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Puts the member `account` in exactly the groups `wanted` of the
/// organization, in one transaction: each join and leave checked and
/// audited as [`set_member`] does, all or nothing.
pub async fn set_groups_of(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    account: AccountId,
    wanted: &[GroupId],
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let membership = membership_of(&mut tx, &org, account).await?;
    // docs/RULES.md#administrators
    auth.over_member(&crate::members::seats_of(&mut tx, account).await?)?;
    let current: Vec<Uuid> = in_tx!(&mut tx, |c| {
        sqlx::query_scalar("SELECT group_id FROM group_members WHERE membership_id = $1")
            .bind(membership.0)
            .fetch_all(c)
            .await
    })?;
    let mut changed = false;
    for id in wanted.iter().filter(|g| !current.contains(&g.0)) {
        changed |= change_member(
            &mut tx, caller, auth, &org, *id, membership, account, true, origin,
        )
        .await?;
    }
    for id in current
        .iter()
        .map(|g| GroupId(*g))
        .filter(|g| !wanted.contains(g))
    {
        changed |= change_member(
            &mut tx, caller, auth, &org, id, membership, account, false, origin,
        )
        .await?;
    }
    if changed {
        crate::rights::changed(&mut tx, org.environment_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The membership of `account` in `org`, or "member not found".
async fn membership_of(
    tx: &mut Tx,
    org: &Organization,
    account: AccountId,
) -> Result<MembershipId> {
    let membership: Option<Uuid> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT id FROM memberships WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.id.0)
        .bind(account.0)
        .fetch_optional(c)
        .await
    })?;
    Ok(membership
        .ok_or(DomainError::NotFound { what: "member" })?
        .into())
}

/// One join or leave inside a transaction, checked and audited.
#[allow(clippy::too_many_arguments)]
async fn change_member(
    tx: &mut Tx,
    caller: &Principal,
    auth: &Authorized<GroupsManage>,
    org: &Organization,
    id: GroupId,
    membership: MembershipId,
    account: AccountId,
    join: bool,
    origin: &Origin,
) -> Result<bool> {
    let group = get_tx(tx, org.id, id).await?;
    may_change_membership(tx, caller, org, &group).await?;
    let changed = if join {
        insert_member(tx, id, membership).await?
    } else {
        in_tx!(tx, |c| {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND membership_id = $2")
                .bind(id.0)
                .bind(membership.0)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?
    };
    if changed == 0 {
        return Ok(false);
    }
    let action = if join {
        "group.member_added"
    } else {
        "group.member_removed"
    };
    let changes = serde_json::json!({"group": group.name, "account_id": account});
    audit::record(
        tx,
        org.environment_id,
        group_event(auth.actor(), action, org, id, changes, origin),
        origin.now,
    )
    .await?;
    Ok(true)
}

/// The names of the groups each of `memberships` belongs to, for a page of
/// the member list.
pub async fn names_of(
    store: &Store,
    memberships: &[MembershipId],
) -> Result<BTreeMap<MembershipId, Vec<String>>> {
    let mut out: BTreeMap<MembershipId, Vec<String>> = BTreeMap::new();
    for chunk in memberships.chunks(100) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT gm.membership_id, g.name FROM group_members gm JOIN groups g ON g.id = gm.group_id
             WHERE gm.membership_id IN ({}) ORDER BY g.name",
            placeholders.join(", ")
        );
        let rows: Vec<(Uuid, String)> = reader!(store, |c| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
            for m in chunk {
                q = q.bind(m.0);
            }
            q.fetch_all(c).await
        })?;
        for (m, name) in rows {
            out.entry(m.into()).or_default().push(name);
        }
    }
    Ok(out)
}
