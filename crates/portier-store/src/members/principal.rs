//! What an account holds: its grants in every organization (the
//! `Principal`), its memberships, who administers an organization, and the
//! seats a person holds that decide who may act on them
//! (docs/RULES.md#administrators).

use super::*;
#[allow(unused_imports)]
use portier_core::rights::{Authorized, MembersRead};

/// Everything an account holds: one grant per active membership (possibly
/// without permissions: a member sees their organization), none at all when
/// the account is disabled.
pub async fn principal_for_account(store: &Store, account_id: AccountId) -> Result<Principal> {
    let rows: Vec<(Uuid, String, Option<String>)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT o.id, o.path, rp.permission
             FROM memberships m
             JOIN accounts a ON a.id = m.account_id
             JOIN organizations o ON o.id = m.organization_id
             LEFT JOIN membership_roles mr ON mr.membership_id = m.id
             LEFT JOIN role_permissions rp ON rp.role_id = mr.role_id
             WHERE m.account_id = $1 AND m.active = TRUE AND a.disabled = FALSE
             UNION ALL
             SELECT o.id, o.path, rp.permission
             FROM memberships m
             JOIN accounts a ON a.id = m.account_id
             JOIN organizations o ON o.id = m.organization_id
             JOIN group_members gm ON gm.membership_id = m.id
             JOIN group_roles gr ON gr.group_id = gm.group_id
             JOIN role_permissions rp ON rp.role_id = gr.role_id
             WHERE m.account_id = $1 AND m.active = TRUE AND a.disabled = FALSE",
        )
        .bind(account_id.0)
        .fetch_all(c)
        .await
    })?;
    let mut grants: BTreeMap<Uuid, Grant> = BTreeMap::new();
    for (org, path, permission) in rows {
        let grant = grants.entry(org).or_insert_with(|| Grant {
            organization_id: org.into(),
            path: OrgPath::from_stored(path),
            permissions: PermissionSet::new(),
        });
        if let Some(p) = permission {
            grant.permissions.insert(
                Permission::parse("permission", &p).map_err(|e| Error::Corrupt(e.message))?,
            );
        }
    }
    Ok(Principal {
        actor: Actor::Account { id: account_id },
        grants: grants.into_values().collect(),
    })
}

/// Someone who holds an administrator role on an organization or above it
/// (the console's Administrators overview, docs/RULES.md#administrators).
#[derive(Debug, Clone)]
pub struct Administrator {
    pub account: Account,
    /// Where the roles are held: the organization itself or an ancestor.
    pub organization_id: OrganizationId,
    pub membership_active: bool,
    /// The admin-kind roles held there.
    pub roles: Vec<String>,
}

/// Everyone who administers `org`: holders of an admin-kind role on it or on
/// one of its ancestors (rights reach down the tree), nearest organization
/// first, then by name.
pub async fn administrators(
    store: &Store,
    auth: &Authorized<MembersRead>,
) -> Result<Vec<Administrator>> {
    administrators_in(store, auth.organization()).await
}

/// [`administrators`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn administrators_in(
    store: &Store,
    org: &Organization,
) -> Result<Vec<Administrator>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        account: accounts::AccountRow,
        organization_id: Uuid,
        active: bool,
        role_id: Uuid,
    }
    // The organization and those above it, nearest first.
    let path: Vec<Arg> = org.path.ids().map(|o| Arg::Id(o.0)).collect();
    let list = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The admin-kind roles there: few, and named one by one below, so that
    // PostgreSQL estimates their holders as few, not as a share of all.
    let sql = format!(
        "SELECT id, key FROM roles WHERE kind = 'admin'
           AND (organization_id IS NULL OR organization_id IN ({}))",
        list(1, path.len())
    );
    let roles: Vec<(Uuid, String)> = reader!(store, |c| {
        // Fixed text and placeholders only; the values are bound.
        bind_all!(
            sqlx::query_as::<_, (Uuid, String)>(sqlx::AssertSqlSafe(sql.as_str())),
            &path
        )
        .fetch_all(c)
        .await
    })?;
    let key_of: BTreeMap<Uuid, String> = roles.into_iter().collect();
    let depth = (1..=path.len())
        .map(|i| format!("WHEN ${i} THEN {i}"))
        .collect::<Vec<_>>()
        .join(" ");
    // From those roles to their holders (CROSS JOIN: SQLite keeps that
    // order, rather than reading every member of the organization).
    let sql = format!(
        "SELECT a.id, a.email, a.salutation, a.given_name, a.infix, a.family_name, a.phone,
                a.mobile, a.locale, a.status, a.disabled, a.created_at,
                m.organization_id, m.active, mr.role_id
         FROM membership_roles mr CROSS JOIN memberships m
         JOIN accounts a ON a.id = m.account_id
         WHERE m.id = mr.membership_id AND m.organization_id IN ({})
           AND mr.role_id IN ({})
         ORDER BY CASE m.organization_id {depth} END DESC, m.sort_key, a.id",
        list(1, path.len()),
        list(path.len() + 1, key_of.len()),
    );
    let args: Vec<Arg> = path
        .into_iter()
        .chain(key_of.keys().map(|r| Arg::Id(*r)))
        .collect();
    let rows: Vec<Row> = if key_of.is_empty() {
        Vec::new()
    } else {
        reader!(store, |c| {
            // Fixed text and placeholders only; the values are bound.
            bind_all!(
                sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql.as_str())),
                &args
            )
            .fetch_all(c)
            .await
        })?
    };
    let mut out: Vec<Administrator> = Vec::new();
    for row in rows {
        let org_id: OrganizationId = row.organization_id.into();
        let key = key_of.get(&row.role_id).cloned().unwrap_or_default();
        match out.last_mut() {
            Some(last) if last.account.id.0 == row.account.id && last.organization_id == org_id => {
                last.roles.push(key)
            }
            _ => out.push(Administrator {
                account: row.account.try_into()?,
                organization_id: org_id,
                membership_active: row.active,
                roles: vec![key],
            }),
        }
    }
    for a in &mut out {
        a.roles.sort();
    }
    Ok(out)
}

/// One of a person's memberships, for `/me`.
#[derive(Debug, Clone)]
pub struct OwnMembership {
    pub organization_id: OrganizationId,
    pub organization: String,
    pub active: bool,
    pub roles: Vec<String>,
}

/// Every organization the person belongs to, with their roles there.
pub async fn memberships_of(store: &Store, account: AccountId) -> Result<Vec<OwnMembership>> {
    let rows: Vec<(Uuid, String, bool, Option<String>)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT o.id, o.name, m.active, r.key
             FROM memberships m JOIN organizations o ON o.id = m.organization_id
             LEFT JOIN membership_roles mr ON mr.membership_id = m.id
             LEFT JOIN roles r ON r.id = mr.role_id
             WHERE m.account_id = $1 ORDER BY o.name, o.id, r.key",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    let mut out: Vec<OwnMembership> = Vec::new();
    for (org, name, active, role) in rows {
        if out.last().is_none_or(|m| m.organization_id.0 != org) {
            out.push(OwnMembership {
                organization_id: org.into(),
                organization: name,
                active,
                roles: Vec::new(),
            });
        }
        if let (Some(m), Some(role)) = (out.last_mut(), role) {
            m.roles.push(role);
        }
    }
    Ok(out)
}

/// Every organization `account` belongs to (in any state), and whether they
/// hold an administrator role there: what the rules about acting on a
/// person look at ([`Authorized::over_member`],
/// [`Authorized::over_account`]), read in the transaction of the change.
/// A change of what the account shares locks the account's row first
/// ([`accounts::lock`]), so that nobody joins the person to another
/// environment, nor makes them an administrator, between the check and the
/// change.
pub(crate) async fn seats_of(
    tx: &mut Tx,
    account: AccountId,
) -> Result<Vec<portier_core::rights::Seat>> {
    let rows: Vec<(String, bool)> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT o.path, EXISTS (SELECT 1 FROM membership_roles mr JOIN roles r ON r.id = mr.role_id
                                    WHERE mr.membership_id = m.id AND r.kind = 'admin')
             FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = $1",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(path, administrator)| portier_core::rights::Seat {
            path: OrgPath::from_stored(path),
            administrator,
        })
        .collect())
}

/// The roles a membership holds directly, as `resolve` reads them.
pub(crate) async fn roles_held(
    tx: &mut Tx,
    org: &Organization,
    membership: MembershipId,
) -> Result<Vec<Role>> {
    let keys: Vec<String> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT r.key FROM membership_roles mr JOIN roles r ON r.id = mr.role_id
             WHERE mr.membership_id = $1 ORDER BY r.key",
        )
        .bind(membership.0)
        .fetch_all(c)
        .await
    })?;
    let keys = keys
        .iter()
        .map(|k| {
            portier_core::roles::RoleKey::parse("roles", k).map_err(|e| Error::Corrupt(e.message))
        })
        .collect::<Result<Vec<_>>>()?;
    roles::resolve(tx, org, &keys).await
}
