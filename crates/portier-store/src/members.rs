//! Memberships and the roles they hold, and the grants an account derives from
//! them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::{Account, AccountStatus};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, MembershipId, OrganizationId, RoleId};
use portier_core::mail::{MailContext, MailKind};
use portier_core::members::{Membership, NewMember, Warning};
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, Grant, MembersInvite, Principal};
use portier_core::roles::Role;
use portier_core::secrets::TokenKind;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::db::Arg;
use crate::lifecycle::Lifecycle;
use crate::{
    Error, Result, Store, Tx, accounts, bind_all, in_tx, links, mail, organizations, reader, roles,
};

/// The outcome of adding a person, as the API answers it.
#[derive(Debug)]
pub struct Added {
    pub account: Account,
    /// The address already had an account, which was kept
    /// (docs/RULES.md#adding-members).
    pub account_reused: bool,
    pub membership: Membership,
    pub roles: Vec<Role>,
    /// An activation mail was queued (a new or not yet activated account).
    pub invitation_sent: bool,
    pub warnings: Vec<Warning>,
    /// The account has a second factor (only a reused one can).
    pub two_factor: bool,
    /// Names of the groups the member joined.
    pub groups: Vec<String>,
    /// The portfolio given with the membership
    /// (docs/PORTFOLIOS.md#giving-a-portfolio).
    pub portfolio: Option<crate::portfolios::PortfolioView>,
}

impl Added {
    /// The new member as lists show it: what was just written, without
    /// reading it back.
    pub fn view(&self) -> MemberView {
        let mut roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| r.key.as_str().to_owned())
            .collect();
        roles.sort();
        MemberView {
            account: self.account.clone(),
            membership: self.membership.clone(),
            roles,
            groups: self.groups.clone(),
            two_factor: self.two_factor,
            sort_key: self.account.name.sort_key(&self.account.email),
        }
    }
}

/// Adds a person to the organization the proof is for: finds or creates the
/// account (one per address, also when two administrators add it at the same
/// moment), creates the membership with its roles and fields, and queues the
/// invitation, all in one transaction with its audit event.
pub async fn add(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<MembersInvite>,
    new: NewMember,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Added> {
    let mut tx = store.begin().await?;
    // No lock on the organization: adds to one organization run side by side;
    // the unique constraints on memberships and staff codes settle races.
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let roles = roles::resolve(&mut tx, &org, &new.roles).await?;
    caller.may_grant(&roles, &org.path)?;
    let (account, reused) = accounts::find_or_create(&mut tx, &new, origin.now).await?;
    // An account created just now belongs nowhere yet.
    let already: Option<i32> = if reused {
        in_tx!(&mut tx, |c| {
            sqlx::query_scalar(
                "SELECT 1 FROM memberships WHERE account_id = $1 AND organization_id = $2",
            )
            .bind(account.id.0)
            .bind(org.id.0)
            .fetch_optional(c)
            .await
        })?
    } else {
        None
    };
    if already.is_some() {
        return Err(DomainError::Conflict {
            code: "already_member",
            field: Some("email".into()),
            message: format!("{} is already a member of {}", account.email, org.name),
        }
        .into());
    }
    // Then the registration number, when the role needs one
    // (docs/RULES.md#adding-members).
    crate::registrations::may_record(&mut tx, caller, &account, new.registration.as_ref()).await?;
    crate::registrations::settle(
        &mut tx,
        &account,
        new.registration.as_ref(),
        portier_core::roles::needed_register(&roles),
        lifecycle.register_checks,
        auth.actor(),
        org.id,
        org.environment_id,
        origin,
    )
    .await?;
    ensure_staff_code_free(&mut tx, org.id, new.staff_code.as_deref(), None).await?;
    let membership = Membership {
        id: MembershipId::new(),
        account_id: account.id,
        organization_id: org.id,
        active: new.active,
        phone: new.phone.clone(),
        mobile: new.mobile.clone(),
        staff_code: new.staff_code.clone(),
        description: new.description.clone(),
        job_title: new.job_title.clone(),
        labels: new.labels.clone(),
        invited_by: auth.actor().account_id(),
        created_at: origin.now,
        require_two_factor: false,
    };
    insert_membership(
        &mut tx,
        &membership,
        &account,
        &roles.iter().map(|r| r.id).collect::<Vec<_>>(),
    )
    .await
    .map_err(|e| lost_race(e, &account, &org, membership.staff_code.as_deref()))?;
    let groups = crate::groups::join(&mut tx, caller, &org, membership.id, &new.groups).await?;
    let invitation_sent = if new.active {
        welcome(&mut tx, &account, &org, lifecycle, origin, !reused).await?
    } else {
        false
    };
    // The portfolio last, once the member holds the roles that allow it
    // (docs/RULES.md#adding-members).
    let mut warnings = new.warnings;
    let portfolio = match &new.portfolio {
        Some(p) => {
            let (view, warning) = crate::portfolios::create_in(
                &mut tx,
                &org,
                auth.actor(),
                account.id,
                p,
                "portfolio.type",
                origin,
            )
            .await?;
            warnings.extend(warning.map(|w| Warning {
                code: w.code,
                message: w.message,
            }));
            Some(view)
        }
        None => None,
    };
    // An account created just now has no second factor yet.
    let two_factor = reused && has_second_factor(&mut tx, account.id).await?;
    let event = NewAuditEvent {
        actor: auth.actor().clone(),
        action: "member.added",
        organization_id: Some(org.id),
        target_type: "account",
        target_id: account.id.to_string(),
        changes: serde_json::json!({
            "email": account.email,
            "account_created": !reused,
            "roles": roles.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(),
            "active": membership.active,
            "staff_code": membership.staff_code,
            "job_title": membership.job_title,
            "labels": membership.labels,
            "groups": groups,
            "invitation_sent": invitation_sent,
        }),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    if reused || !groups.is_empty() {
        // A brand-new account with no group cannot be in anyone's cache of
        // rights yet.
        crate::rights::changed(&mut tx, org.environment_id).await?;
    }
    tx.commit().await?;
    Ok(Added {
        account,
        account_reused: reused,
        membership,
        roles,
        invitation_sent,
        warnings,
        two_factor,
        groups,
        portfolio,
    })
}

/// Tells a person they were added to `org`: an invitation with an
/// activation link while the account is not active yet, else a note that
/// they were added. True when an invitation went out.
pub(crate) async fn welcome(
    tx: &mut Tx,
    account: &Account,
    org: &Organization,
    lifecycle: &Lifecycle,
    origin: &Origin,
    new_account: bool,
) -> Result<bool> {
    if account.status == AccountStatus::Invited {
        send_invitation(tx, account, org, lifecycle, origin, new_account).await?;
        return Ok(true);
    }
    let ctx = MailContext {
        name: account.name.display_name(),
        email: account.email.to_string(),
        organization: org.name.clone(),
        link: format!("{}/login", lifecycle.public_url),
        expires_at: None,
    };
    mail::enqueue_rendered(
        tx,
        lifecycle,
        MailKind::Added,
        account,
        Some(org),
        &ctx,
        origin.now,
    )
    .await?;
    Ok(false)
}

/// The credentials that count as a second factor: written once for the
/// member query and for [`has_second_factor`].
macro_rules! second_factor {
    ($account:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM credentials cr WHERE cr.account_id = ",
            $account,
            " AND cr.kind IN ('totp', 'webauthn'))"
        )
    };
}

async fn has_second_factor(tx: &mut Tx, account: AccountId) -> Result<bool> {
    let found: bool = in_tx!(tx, |c| {
        sqlx::query_scalar(concat!("SELECT ", second_factor!("$1")))
            .bind(account.0)
            .fetch_one(c)
            .await
    })?;
    Ok(found)
}

/// A concurrent add that won the race for the same membership or staff code
/// answers like the check before it would have.
fn lost_race(e: Error, account: &Account, org: &Organization, staff_code: Option<&str>) -> Error {
    if !e.is_unique_violation() {
        return e;
    }
    if let (true, Some(code)) = (e.to_string().contains("staff_code"), staff_code) {
        return DomainError::Conflict {
            code: "staff_code_taken",
            field: Some("staff_code".into()),
            message: format!("another member of this organization already has the code {code}"),
        }
        .into();
    }
    DomainError::Conflict {
        code: "already_member",
        field: Some("email".into()),
        message: format!("{} is already a member of {}", account.email, org.name),
    }
    .into()
}

/// Issues an activation token (replacing earlier ones, unless the account
/// was created in this transaction) and queues its mail.
pub(crate) async fn send_invitation(
    tx: &mut Tx,
    account: &Account,
    org: &Organization,
    lifecycle: &Lifecycle,
    origin: &Origin,
    new_account: bool,
) -> Result<portier_core::secrets::SecretToken> {
    let (kind, ttl) = (TokenKind::Activation, lifecycle.activation_ttl);
    let token = if new_account {
        links::issue_first(tx, kind, account.id, Some(org.id), ttl, origin).await?
    } else {
        links::issue(tx, kind, account.id, Some(org.id), ttl, origin).await?
    };
    let ctx = MailContext {
        name: account.name.display_name(),
        email: account.email.to_string(),
        organization: org.name.clone(),
        link: format!(
            "{}/{}/{}",
            lifecycle.public_url,
            TokenKind::Activation.link_path(),
            token.expose()
        ),
        expires_at: Some(portier_core::secrets::expires_at(
            origin.now,
            lifecycle.activation_ttl,
        )),
    };
    mail::enqueue_rendered(
        tx,
        lifecycle,
        MailKind::Invitation,
        account,
        Some(org),
        &ctx,
        origin.now,
    )
    .await?;
    Ok(token)
}

/// The staff identification code is unique within the organization
/// (docs/RULES.md#adding-members).
async fn ensure_staff_code_free(
    tx: &mut Tx,
    org: OrganizationId,
    code: Option<&str>,
    except: Option<MembershipId>,
) -> Result<()> {
    let Some(code) = code else { return Ok(()) };
    let holder: Option<Uuid> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT id FROM memberships WHERE organization_id = $1 AND staff_code = $2",
        )
        .bind(org.0)
        .bind(code)
        .fetch_optional(c)
        .await
    })?;
    match holder {
        Some(id) if Some(MembershipId(id)) != except => Err(DomainError::Conflict {
            code: "staff_code_taken",
            field: Some("staff_code".into()),
            message: format!("another member of this organization already has the code {code}"),
        }
        .into()),
        _ => Ok(()),
    }
}

async fn insert_membership(
    tx: &mut Tx,
    m: &Membership,
    account: &Account,
    roles: &[RoleId],
) -> Result<()> {
    insert_memberships(tx, &[(m, account, roles)], "").await?;
    Ok(())
}

/// Writes memberships with their search terms, labels and roles, each table
/// with as few statements as the bind limits allow. `on_conflict` follows
/// the values (an import's `ON CONFLICT DO NOTHING`); the ids of the
/// memberships written come back, and only those get the rest.
pub(crate) async fn insert_memberships(
    tx: &mut Tx,
    items: &[(&Membership, &Account, &[RoleId])],
    on_conflict: &str,
) -> Result<Vec<MembershipId>> {
    let mut args = Vec::with_capacity(items.len() * 15);
    for (m, account, roles) in items {
        args.extend([
            Arg::Id(m.id.0),
            Arg::Id(m.account_id.0),
            Arg::Id(m.organization_id.0),
            Arg::Bool(m.active),
            Arg::OptText(m.phone.clone()),
            Arg::OptText(m.mobile.clone()),
            Arg::OptText(m.staff_code.clone()),
            Arg::OptText(m.description.clone()),
            Arg::OptText(m.job_title.clone()),
            Arg::Json(serde_json::json!(m.labels)),
            Arg::OptId(m.invited_by.map(|a| a.0)),
            Arg::Time(m.created_at),
            Arg::Time(m.created_at),
            Arg::Text(account.name.sort_key(&account.email)),
            Arg::Ids(role_ids(roles)),
        ]);
    }
    let tail = format!("{on_conflict} RETURNING id");
    let written: std::collections::HashSet<Uuid> = crate::db::insert_many(
        tx,
        "INSERT INTO memberships (id, account_id, organization_id, active, phone, mobile, staff_code,
            description, job_title, labels, invited_by, created_at, updated_at, sort_key, role_ids)",
        15,
        &tail,
        args,
    )
    .await?
    .into_iter()
    .collect();
    let items: Vec<_> = items
        .iter()
        .filter(|(m, _, _)| written.contains(&m.id.0))
        .collect();
    let (mut terms, mut labels, mut roles) = (Vec::new(), Vec::new(), Vec::new());
    for (m, account, role_ids) in &items {
        terms.extend(crate::search::term_rows(
            m.id,
            m.organization_id,
            m.account_id,
            &account.name,
            &account.email,
            m.staff_code.as_deref(),
        ));
        for label in &m.labels {
            labels.extend([
                Arg::Id(m.id.0),
                Arg::Id(m.organization_id.0),
                Arg::Text(label.clone()),
            ]);
        }
        for role in role_ids.iter() {
            roles.extend([Arg::Id(m.id.0), Arg::Id(role.0)]);
        }
    }
    crate::search::insert_term_rows(tx, terms).await?;
    crate::db::insert_many(
        tx,
        "INSERT INTO membership_labels (membership_id, organization_id, label)",
        3,
        "ON CONFLICT (membership_id, label) DO NOTHING",
        labels,
    )
    .await?;
    insert_role_rows(tx, roles).await?;
    Ok(items.iter().map(|(m, _, _)| m.id).collect())
}

/// The rows that let a label find its members (`membership_labels`).
async fn set_labels(
    tx: &mut Tx,
    membership: MembershipId,
    organization: OrganizationId,
    labels: &[String],
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM membership_labels WHERE membership_id = $1")
            .bind(membership.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    for label in labels {
        in_tx!(tx, |c| {
            sqlx::query(
                "INSERT INTO membership_labels (membership_id, organization_id, label) VALUES ($1, $2, $3)
                 ON CONFLICT (membership_id, label) DO NOTHING",
            )
            .bind(membership.0)
            .bind(organization.0)
            .bind(label)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

/// A membership's role ids as its own row keeps them (`role_ids`, for the
/// export's pages): sorted, each once, as the migration that added them
/// wrote them.
fn role_ids(roles: &[RoleId]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = roles.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Gives `membership` exactly `roles`: its rows in `membership_roles` and
/// the ids on its own row, which must always agree.
async fn replace_membership_roles(
    tx: &mut Tx,
    membership: MembershipId,
    roles: &[RoleId],
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM membership_roles WHERE membership_id = $1")
            .bind(membership.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let ids = role_ids(roles);
    in_tx!(tx, |c| {
        sqlx::query("UPDATE memberships SET role_ids = $2 WHERE id = $1")
            .bind(membership.0)
            .bind(crate::db::IdList(&ids))
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let rows = ids
        .iter()
        .flat_map(|role| [Arg::Id(membership.0), Arg::Id(*role)])
        .collect();
    insert_role_rows(tx, rows).await
}

async fn insert_role_rows(tx: &mut Tx, rows: Vec<Arg>) -> Result<()> {
    crate::db::insert_many(
        tx,
        "INSERT INTO membership_roles (membership_id, role_id)",
        2,
        "",
        rows,
    )
    .await?;
    Ok(())
}

/// Adds `account` to `organization` with `roles`, active, with no other field.
pub(crate) async fn insert(
    tx: &mut Tx,
    account: &Account,
    organization_id: OrganizationId,
    roles: &[RoleId],
    invited_by: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<Membership> {
    let m = Membership {
        id: MembershipId::new(),
        account_id: account.id,
        organization_id,
        active: true,
        phone: None,
        mobile: None,
        staff_code: None,
        description: None,
        job_title: None,
        labels: Vec::new(),
        invited_by,
        created_at: now,
        require_two_factor: false,
    };
    insert_membership(tx, &m, account, roles).await?;
    Ok(m)
}

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
pub async fn administrators(store: &Store, org: &Organization) -> Result<Vec<Administrator>> {
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

/// One member as lists and detail pages show it.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub account: Account,
    pub membership: Membership,
    pub roles: Vec<String>,
    /// Names of the groups the member belongs to in this organization.
    pub groups: Vec<String>,
    pub two_factor: bool,
    pub sort_key: String,
}

impl MemberView {
    pub fn status(&self) -> portier_core::members::MemberStatus {
        portier_core::members::MemberStatus::of(self.account.status, self.membership.active)
    }
}

/// What a member list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// The beginning of a search term: e-mail address, name (as read, as
    /// sorted, family name with infix) or staff code (portier_core::search).
    pub q: Option<String>,
    pub role: Option<String>,
    /// Members of this group.
    pub group: Option<portier_core::ids::GroupId>,
    pub label: Option<String>,
    pub status: Option<portier_core::members::MemberStatus>,
    /// Members with (true) or without (false) two-step verification set up.
    pub two_factor: Option<bool>,
}

/// Where a page starts: after this sort key and account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCursor {
    pub sort_key: String,
    pub account_id: AccountId,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    account_id: Uuid,
    email: String,
    salutation: Option<String>,
    given_name: Option<String>,
    infix: Option<String>,
    family_name: Option<String>,
    sort_key: String,
    locale: Option<String>,
    status: String,
    disabled: bool,
    account_created_at: DateTime<Utc>,
    membership_id: Uuid,
    organization_id: Uuid,
    active: bool,
    phone: Option<String>,
    mobile: Option<String>,
    staff_code: Option<String>,
    description: Option<String>,
    job_title: Option<String>,
    labels: Json<Vec<String>>,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    require_two_factor: bool,
    two_factor: bool,
    role_keys: Option<String>,
}

impl MemberRow {
    fn into_view(self) -> Result<MemberView> {
        use portier_core::accounts::PersonName;
        let email = portier_core::email::Email::parse(&self.email)
            .map_err(|e| Error::Corrupt(format!("e-mail: {e}")))?;
        let mut roles: Vec<String> = self
            .role_keys
            .map(|k| {
                k.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        Ok(MemberView {
            account: Account {
                id: self.account_id.into(),
                email,
                name: PersonName {
                    salutation: self.salutation,
                    given_name: self.given_name,
                    infix: self.infix,
                    family_name: self.family_name,
                },
                // The person's own numbers are theirs; this organization
                // sees the membership's.
                phone: None,
                mobile: None,
                locale: self
                    .locale
                    .as_deref()
                    .and_then(|l| portier_core::locale::Locale::parse("locale", l).ok()),
                status: AccountStatus::parse(&self.status)
                    .ok_or_else(|| Error::Corrupt(format!("account status {:?}", self.status)))?,
                disabled: self.disabled,
                created_at: self.account_created_at,
            },
            membership: Membership {
                id: self.membership_id.into(),
                account_id: self.account_id.into(),
                organization_id: self.organization_id.into(),
                active: self.active,
                phone: self.phone,
                mobile: self.mobile,
                staff_code: self.staff_code,
                description: self.description,
                job_title: self.job_title,
                labels: self.labels.0,
                invited_by: self.invited_by.map(Into::into),
                created_at: self.created_at,
                require_two_factor: self.require_two_factor,
            },
            roles,
            groups: Vec::new(),
            two_factor: self.two_factor,
            sort_key: self.sort_key,
        })
    }
}

/// The member query, written once; only the function that joins the role keys
/// differs between the dialects.
macro_rules! select_members {
    ($agg:literal, $rest:literal) => {
        concat!(
            "SELECT a.id AS account_id, a.email, a.salutation, a.given_name, a.infix, a.family_name,
                    m.sort_key, a.locale, a.status, a.disabled,
                    a.created_at AS account_created_at, m.id AS membership_id, m.organization_id,
                    m.active, m.phone, m.mobile, m.staff_code, m.description, m.job_title, m.labels, m.invited_by,
                    m.created_at, m.require_two_factor,
                    ", second_factor!("a.id"), " AS two_factor,
                    (SELECT ", $agg, " FROM membership_roles mr JOIN roles r ON r.id = mr.role_id
                     WHERE mr.membership_id = m.id) AS role_keys
             FROM memberships m JOIN accounts a ON a.id = m.account_id ",
            $rest
        )
    };
}

/// A search reads the members whose sort key begins with it as one stretch of
/// the listing index, in order. Of the other terms that match (names as read,
/// addresses, staff codes), below this many it reads them all and sorts them;
/// from it on they are dense enough among the terms that begin with the same
/// character that walking those in the members' order fills a page soon
/// (docs/BENCHMARKS.md).
const FEW_MATCHES: i64 = 5_000;

/// [`FEW_MATCHES`] for a search of one character: every term the walk passes
/// then matches but the members' own sort keys, so the walk is short from far
/// fewer matches on (reading and sorting 2,500 took 3-9 ms at 100,000
/// members; the walk under 1 ms).
const FEW_MATCHES_OF_ONE: i64 = 500;

/// A filter as a way into the members: the ids it matches, as a subquery of
/// the list (its value at the list's placeholder) and of a count (at `$2`).
struct Driver {
    list: String,
    count: String,
    value: Arg,
}

impl Driver {
    fn new(list: String, count: String, value: Arg) -> Driver {
        Driver { list, count, value }
    }
}

/// Below this many matches a filter's members are read by its index and
/// sorted; above it, the listing index is walked, where they are dense
/// enough to fill a page soon.
const FEW_FILTERED: i64 = 2_000;

/// The subquery of the first filter that matches few, if any.
async fn few_by(
    store: &Store,
    org: OrganizationId,
    drivers: Vec<Driver>,
) -> Result<Option<String>> {
    for d in drivers {
        let sql = format!(
            "SELECT COUNT(*) FROM ({} LIMIT {FEW_FILTERED}) AS matches",
            d.count
        );
        let args = [Arg::Id(org.0), d.value];
        let n: i64 = reader!(store, |c| {
            // Fixed text and placeholders only; the values are bound.
            bind_all!(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())),
                &args
            )
            .fetch_one(c)
            .await
        })?;
        if n < FEW_FILTERED {
            return Ok(Some(d.list));
        }
    }
    Ok(None)
}

/// How many terms of the organization other than sort keys begin with the
/// search, counted up to `few` (index entries only).
async fn count_matches(store: &Store, args: &[Arg], range: &str, few: i64) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM member_terms t
                               WHERE t.organization_id = $1 AND {range} AND t.term <> t.sort_key
                               LIMIT {few}) AS matches"
    );
    Ok(reader!(store, |c| {
        // Fixed text and placeholders only; the values are bound.
        bind_all!(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())),
            args
        )
        .fetch_one(c)
        .await
    })?)
}

/// A page of an organization's members, sorted by family name ignoring the
/// infix (Jan van der Berg under B), then by account id.
///
/// Two steps, so that 100,000 members cost little more than fifty: the page's
/// memberships are picked from indexes (the listing index in order, or the
/// search terms as a range), then only those are read in full. The SQL holds
/// only the conditions asked for, so each combination gets its own plan.
pub async fn list(
    store: &Store,
    organization_id: OrganizationId,
    filter: &MemberFilter,
    after: Option<&MemberCursor>,
    limit: i64,
) -> Result<Vec<MemberView>> {
    list_by(store, organization_id, filter, after, limit, None).await
}

/// How a search picks its page from the terms: by reading every match and
/// sorting (`Sorted`), or by walking the terms that begin with the search's
/// first character in the members' order (`Walk`, index
/// `member_terms_initial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Sorted,
    Walk,
}

/// [`list`], with the strategy chosen by the count of matches unless given.
pub(crate) async fn list_by(
    store: &Store,
    organization_id: OrganizationId,
    filter: &MemberFilter,
    after: Option<&MemberCursor>,
    limit: i64,
    strategy: Option<Strategy>,
) -> Result<Vec<MemberView>> {
    let mut args = vec![Arg::Id(organization_id.0)];
    let next = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    // The search first: its placeholders come right after the organization,
    // so the count below binds a prefix of the same arguments.
    // `{col} >= $2 AND {col} < $3`, for the terms and for the sort key.
    let query = filter.q.as_deref().and_then(portier_core::search::query);
    let initial = query
        .as_ref()
        .and_then(|q| q.chars().next())
        .map(String::from);
    let one_character = query.as_ref().is_some_and(|q| q.chars().count() == 1);
    let bounds = match query {
        None => None,
        Some(q) => {
            let end = portier_core::search::range_end(&q);
            let from = next(&mut args, Arg::Text(q));
            let to = end.map(|end| next(&mut args, Arg::Text(end)));
            Some((from, to))
        }
    };
    let range = |col: &str| {
        bounds.as_ref().map(|(from, to)| match to {
            Some(to) => format!("{col} >= {from} AND {col} < {to}"),
            None => format!("{col} >= {from}"),
        })
    };
    let (range_t, range_m) = (range("t.term"), range("m.sort_key"));
    // The same range, in a form no index answers: walking the terms of one
    // initial in order, it filters them, and PostgreSQL must not trade the
    // walk for reading the whole range and sorting it.
    let range_t_filter = range("(t.term || '')");
    let few = if one_character {
        FEW_MATCHES_OF_ONE
    } else {
        FEW_MATCHES
    };
    let forced = strategy;
    let strategy = match (&range_t, forced) {
        (None, _) => Strategy::Walk,
        (Some(_), Some(s)) => s,
        (Some(range), None) if count_matches(store, &args, range, few).await? < few => {
            Strategy::Sorted
        }
        (Some(_), None) => Strategy::Walk,
    };
    let mut joins = String::new();
    let mut conditions = Vec::new();
    // Each narrowing filter is also a way in: the members it matches, read
    // by its index, when they are few (below).
    let mut drivers: Vec<Driver> = Vec::new();
    if let Some(role) = &filter.role {
        let p = next(&mut args, Arg::Text(role.clone()));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM membership_roles fr JOIN roles f ON f.id = fr.role_id
                     WHERE fr.membership_id = m.id AND f.key = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fr.membership_id AS id FROM roles f
                 JOIN membership_roles fr ON fr.role_id = f.id
                 JOIN memberships fm ON fm.id = fr.membership_id
                 WHERE fm.organization_id = $1 AND f.key = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text(role.clone())));
    }
    if let Some(group) = &filter.group {
        let p = next(&mut args, Arg::Id(group.0));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM group_members fg WHERE fg.membership_id = m.id AND fg.group_id = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fg.membership_id AS id FROM groups g
                 JOIN group_members fg ON fg.group_id = g.id
                 WHERE g.organization_id = $1 AND g.id = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Id(group.0)));
    }
    if let Some(label) = &filter.label {
        let p = next(&mut args, Arg::Text(label.clone()));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM membership_labels fl WHERE fl.membership_id = m.id AND fl.label = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fl.membership_id AS id FROM membership_labels fl
                 WHERE fl.organization_id = $1 AND fl.label = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text(label.clone())));
    }
    match filter.two_factor {
        None => {}
        Some(false) => conditions.push(concat!("NOT ", second_factor!("m.account_id")).into()),
        Some(true) => {
            // Few have it, as a rule: read by the credentials' kind. (The
            // kind is bound, so the list and the count share the text.)
            let p = next(&mut args, Arg::Text("totp".into()));
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM credentials cr WHERE cr.account_id = m.account_id
                         AND cr.kind IN ({p}, 'webauthn'))"
            ));
            let sub = |p: &str| {
                format!(
                    "SELECT fm.id FROM credentials cr JOIN memberships fm ON fm.account_id = cr.account_id
                     WHERE fm.organization_id = $1 AND cr.kind IN ({p}, 'webauthn')
                     GROUP BY fm.id"
                )
            };
            drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text("totp".into())));
        }
    }
    match filter.status {
        None => {}
        Some(portier_core::members::MemberStatus::Deactivated) => {
            conditions.push("m.active = FALSE".into());
        }
        Some(status) => {
            joins += " JOIN accounts a ON a.id = m.account_id";
            let status = match status {
                portier_core::members::MemberStatus::Invited => AccountStatus::Invited,
                _ => AccountStatus::Active,
            };
            conditions.push(format!(
                "m.active = TRUE AND a.status = {}",
                next(&mut args, Arg::Text(status.as_str().into()))
            ));
        }
    }
    let keyset = after.map(|c| {
        let key = next(&mut args, Arg::Text(c.sort_key.clone()));
        let id = next(&mut args, Arg::Id(c.account_id.0));
        move |alias: &str| format!("({alias}.sort_key, {alias}.account_id) > ({key}, {id})")
    });
    let limit = next(&mut args, Arg::Int(limit));
    let all = |mut parts: Vec<String>| {
        parts.extend(conditions.iter().cloned());
        parts.join(" AND ")
    };
    let page = match (&range_t, &range_m) {
        (Some(range_t), Some(range_m)) => {
            // The members whose sort key begins with the search are one
            // stretch of the listing index, already in order. Those matched
            // by another term: when few, read in full and sorted; when many,
            // found by walking the terms with the search's first character
            // in the members' order, where they are dense. The page is the
            // first of both together.
            let mut by_key = vec!["m.organization_id = $1".to_owned(), range_m.clone()];
            let mut by_term = vec!["t.organization_id = $1".to_owned()];
            let mut terms = "member_terms t".to_owned();
            match (strategy, &initial, &range_t_filter) {
                (Strategy::Walk, Some(initial), Some(filter)) => {
                    by_term.push(format!(
                        "substr(t.term, 1, 1) = {}",
                        next(&mut args, Arg::Text(initial.clone()))
                    ));
                    if !one_character {
                        by_term.push(filter.clone());
                    }
                    if store.backend() == crate::Backend::Sqlite {
                        // Its planner would rather read the range and sort.
                        terms += " INDEXED BY member_terms_initial";
                    }
                }
                _ => by_term.push(range_t.clone()),
            }
            by_term.push("t.term <> t.sort_key".to_owned());
            if let Some(k) = &keyset {
                by_key.push(k("m"));
                by_term.push(k("t"));
            }
            let term_joins = if conditions.is_empty() {
                String::new()
            } else {
                format!(" JOIN memberships m ON m.id = t.membership_id{joins}")
            };
            format!(
                "SELECT id FROM (
                   SELECT * FROM (SELECT m.id, m.sort_key, m.account_id FROM memberships m{joins}
                                  WHERE {} ORDER BY m.sort_key, m.account_id LIMIT {limit}) AS by_key
                   UNION
                   SELECT * FROM (SELECT t.membership_id AS id, t.sort_key, t.account_id
                                  FROM {terms}{term_joins} WHERE {}
                                  GROUP BY t.sort_key, t.account_id, t.membership_id
                                  ORDER BY t.sort_key, t.account_id, t.membership_id LIMIT {limit}) AS by_term
                 ) AS matches ORDER BY sort_key, account_id LIMIT {limit}",
                all(by_key),
                all(by_term),
            )
        }
        _ => {
            // No search: the list in order; when a filter matches few, those
            // few read by its index and sorted, else the listing index walked.
            let mut wher = vec!["m.organization_id = $1".to_owned()];
            if let Some(k) = &keyset {
                wher.push(k("m"));
            }
            // Tests force the walk to compare both ways.
            let driven = match forced {
                Some(Strategy::Walk) => None,
                _ => few_by(store, organization_id, drivers).await?,
            };
            match driven {
                Some(sub) => format!(
                    "SELECT m.id FROM ({sub}) AS f CROSS JOIN memberships m{joins}
                     WHERE m.id = f.id AND {}
                     ORDER BY m.sort_key, m.account_id LIMIT {limit}",
                    all(wher)
                ),
                None => format!(
                    "SELECT m.id FROM memberships m{joins} WHERE {}
                     ORDER BY m.sort_key, m.account_id LIMIT {limit}",
                    all(wher)
                ),
            }
        }
    };
    let page = format!("WHERE m.id IN ({page}) ORDER BY m.sort_key, m.account_id");
    macro_rules! run {
        ($agg:literal, $c:ident) => {{
            let sql = format!("{}{page}", select_members!($agg, ""));
            // Only fixed text and placeholders are put together; every
            // value the caller gave is bound.
            bind_all!(
                sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql)),
                &args
            )
            .fetch_all($c)
            .await
        }};
    }
    let rows: Vec<MemberRow> = match &store.db {
        crate::db::Db::Sqlite { read, .. } => {
            crate::with_conn!(read, |c| run!("group_concat(r.key, ',')", c))?
        }
        crate::db::Db::Postgres { pool, .. } => {
            crate::with_conn!(pool, |c| run!("string_agg(r.key, ',')", c))?
        }
    };
    let mut views = rows
        .into_iter()
        .map(MemberRow::into_view)
        .collect::<Result<Vec<_>>>()?;
    with_groups(store, &mut views).await?;
    Ok(views)
}

/// Fills in the groups of each member of a page, in one read.
async fn with_groups(store: &Store, views: &mut [MemberView]) -> Result<()> {
    let ids: Vec<MembershipId> = views.iter().map(|v| v.membership.id).collect();
    let mut names = crate::groups::names_of(store, &ids).await?;
    for v in views {
        v.groups = names.remove(&v.membership.id).unwrap_or_default();
    }
    Ok(())
}

/// One member of an organization, or `None`.
pub async fn get(
    store: &Store,
    organization_id: OrganizationId,
    account_id: AccountId,
) -> Result<Option<MemberView>> {
    macro_rules! run {
        ($sql:expr, $c:ident) => {
            sqlx::query_as::<_, MemberRow>($sql)
                .bind(organization_id.0)
                .bind(account_id.0)
                .fetch_optional($c)
                .await
        };
    }
    let row: Option<MemberRow> = match &store.db {
        crate::db::Db::Sqlite { read, .. } => crate::with_conn!(read, |c| run!(
            select_members!(
                "group_concat(r.key, ',')",
                "WHERE m.organization_id = $1 AND m.account_id = $2"
            ),
            c
        ))?,
        crate::db::Db::Postgres { pool, .. } => crate::with_conn!(pool, |c| run!(
            select_members!(
                "string_agg(r.key, ',')",
                "WHERE m.organization_id = $1 AND m.account_id = $2"
            ),
            c
        ))?,
    };
    let mut views = row
        .map(MemberRow::into_view)
        .transpose()?
        .into_iter()
        .collect::<Vec<_>>();
    with_groups(store, &mut views).await?;
    Ok(views.pop())
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

#[derive(sqlx::FromRow)]
struct MembershipRow {
    id: Uuid,
    active: bool,
    phone: Option<String>,
    mobile: Option<String>,
    staff_code: Option<String>,
    description: Option<String>,
    job_title: Option<String>,
    labels: Json<Vec<String>>,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    require_two_factor: bool,
}

/// The membership of `account` in `org`, read inside a write transaction.
/// An environment keeps someone who can hand out administrator roles: taking
/// away (removing, deactivating) the last member of the environment itself
/// who holds `admins.manage`, and has activated their account and may sign
/// in, is a 409. The caller holds the organization's row lock
/// ([`organizations::get_for_update`]), so two such changes at once cannot
/// both pass.
async fn ensure_not_last_administrator(
    tx: &mut Tx,
    org: &Organization,
    account: &Account,
    m: &Membership,
) -> Result<()> {
    if org.id != org.environment_id {
        // Administrators of a part of the environment are not its last.
        return Ok(());
    }
    let (is_admin, others): (bool, i64) = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT EXISTS (SELECT 1 FROM membership_roles mr
                            JOIN role_permissions rp ON rp.role_id = mr.role_id
                            WHERE mr.membership_id = $1 AND rp.permission = $3),
                    (SELECT COUNT(DISTINCT o.id) FROM memberships o
                     JOIN accounts a ON a.id = o.account_id
                     JOIN membership_roles mr ON mr.membership_id = o.id
                     JOIN role_permissions rp ON rp.role_id = mr.role_id
                     WHERE o.organization_id = $2 AND o.id <> $1 AND o.active = TRUE
                       AND a.status = $4 AND a.disabled = FALSE AND rp.permission = $3)",
        )
        .bind(m.id.0)
        .bind(org.id.0)
        .bind(portier_core::permissions::ADMINS_MANAGE.as_str())
        .bind(AccountStatus::Active.as_str())
        .fetch_one(c)
        .await
    })?;
    if is_admin && others == 0 {
        return Err(DomainError::Conflict {
            code: "last_administrator",
            field: None,
            message: format!(
                "{} is the last administrator of {}: first make someone else administrator, and let them activate their account",
                account.email, org.name
            ),
        }
        .into());
    }
    Ok(())
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

/// The account of a member of `org`, read in a transaction; the domain's
/// 404 when there is no such member.
pub(crate) async fn member_account(
    tx: &mut Tx,
    org: OrganizationId,
    account: AccountId,
) -> Result<Account> {
    Ok(membership_in(tx, org, account).await?.0)
}

async fn membership_in(
    tx: &mut Tx,
    org: OrganizationId,
    account: AccountId,
) -> Result<(Account, Membership)> {
    let account = accounts::get_tx(tx, account)
        .await?
        .ok_or(DomainError::NotFound { what: "member" })?;
    let row: Option<MembershipRow> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT id, active, phone, mobile, staff_code, description, job_title, labels, invited_by,
                    created_at, require_two_factor
             FROM memberships WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.0)
        .bind(account.id.0)
        .fetch_optional(c)
        .await
    })?;
    let r = row.ok_or(DomainError::NotFound { what: "member" })?;
    let m = Membership {
        id: r.id.into(),
        account_id: account.id,
        organization_id: org,
        active: r.active,
        phone: r.phone,
        mobile: r.mobile,
        staff_code: r.staff_code,
        description: r.description,
        job_title: r.job_title,
        labels: r.labels.0,
        invited_by: r.invited_by.map(Into::into),
        created_at: r.created_at,
        require_two_factor: r.require_two_factor,
    };
    Ok((account, m))
}

fn member_event(
    auth_actor: &Actor,
    action: &'static str,
    org: OrganizationId,
    account: AccountId,
    changes: serde_json::Value,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: auth_actor.clone(),
        action,
        organization_id: Some(org),
        target_type: "account",
        target_id: account.to_string(),
        changes,
        client_addr: origin.client_addr.clone(),
    }
}

/// Whether `caller` could give what `membership` holds: its roles, its
/// groups and its grants on resources.
async fn may_give_again(
    tx: &mut Tx,
    caller: &Principal,
    org: &Organization,
    membership: MembershipId,
) -> Result<()> {
    caller.may_grant(&roles_held(tx, org, membership).await?, &org.path)?;
    let (groups, grants): (i64, i64) = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM group_members WHERE membership_id = $1),
                    (SELECT COUNT(*) FROM resource_grants WHERE membership_id = $1)",
        )
        .bind(membership.0)
        .fetch_one(c)
        .await
    })?;
    for (held, permission) in [
        (groups, portier_core::permissions::GROUPS_MANAGE),
        (grants, portier_core::permissions::RESOURCES_MANAGE),
    ] {
        if held > 0 && !caller.holds(&permission, &org.path) {
            return Err(DomainError::Forbidden { permission }.into());
        }
    }
    Ok(())
}

/// What an administrator's change of a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Updated {
    /// An activation mail was queued.
    pub invitation_sent: bool,
    /// The member's account now: another one when the corrected address
    /// already had an account, which the membership moved to.
    pub account_id: AccountId,
}

/// An administrator's change to a member: name and address only before
/// activation, and a corrected address gets a new invitation
/// (docs/RULES.md#changing-a-members-details).
///
/// The address and the name are the account's, shared by every
/// organization of the person (docs/RULES.md#shared-accounts). A corrected
/// address that already belongs to an account does not say so: the
/// person's memberships move to that account, as if the right address had
/// been added (docs/RULES.md#corrected-addresses).
pub async fn update(
    store: &Store,
    auth: &Authorized<portier_core::rights::MembersUpdate>,
    account_id: AccountId,
    patch: portier_core::members::MemberPatch,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Updated> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    // Before the account is read: what is decided from it (activated or
    // not, where the person belongs) holds until the change commits.
    accounts::lock(&mut tx, account_id).await?;
    let (account, m) = membership_in(&mut tx, org.id, account_id).await?;
    let mut next_account = account.clone();
    let mut next_m = m.clone();
    let set = |field: &mut Option<String>, v: &Option<Option<String>>| {
        if let Some(v) = v {
            field.clone_from(v);
        }
    };
    set(&mut next_account.name.salutation, &patch.salutation);
    set(&mut next_account.name.given_name, &patch.given_name);
    set(&mut next_account.name.infix, &patch.infix);
    set(&mut next_account.name.family_name, &patch.family_name);
    set(&mut next_m.phone, &patch.phone);
    set(&mut next_m.mobile, &patch.mobile);
    set(&mut next_m.job_title, &patch.job_title);
    set(&mut next_m.staff_code, &patch.staff_code);
    set(&mut next_m.description, &patch.description);
    if let Some(labels) = &patch.labels {
        next_m.labels.clone_from(labels);
    }
    if let Some(required) = patch.require_two_factor {
        next_m.require_two_factor = required;
    }
    let email_changed = patch.email.as_ref().is_some_and(|e| *e != account.email);
    // The address and the name are the person's in every organization they
    // belong to; the rest is this membership's.
    let shared = email_changed || next_account.name != account.name;
    let seats = seats_of(&mut tx, account.id).await?;
    if shared {
        auth.over_account(&seats)?;
    } else {
        auth.over_member(&seats)?;
    }
    if email_changed {
        // A corrected address is a new invitation to what the membership
        // holds: only who could give all of it sends one.
        may_give_again(&mut tx, auth.principal(), &org, m.id).await?;
    }
    // Rights first: who may not change the person learns nothing more.
    patch.check_allowed(account.status)?;
    let mut owner = None;
    if let (true, Some(email)) = (email_changed, &patch.email) {
        owner = accounts::find_by_email_tx(&mut tx, email).await?;
        match owner {
            None => next_account.email = email.clone(),
            // The name that goes with that address is its owner's.
            Some(_) => next_account.name = account.name.clone(),
        }
    }
    if next_m.staff_code != m.staff_code {
        ensure_staff_code_free(&mut tx, org.id, next_m.staff_code.as_deref(), Some(m.id)).await?;
    }
    let mut changes = serde_json::Map::new();
    portier_core::organizations::diff(
        "",
        &serde_json::json!({"account": account, "membership": m}),
        &serde_json::json!({"account": next_account, "membership": next_m}),
        &mut changes,
    );
    if changes.is_empty() && owner.is_none() {
        return Ok(Updated {
            invitation_sent: false,
            account_id: account.id,
        });
    }
    if next_account != account {
        in_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE accounts SET email = $1, salutation = $2, given_name = $3, infix = $4,
                    family_name = $5, sort_key = $6, updated_at = $7 WHERE id = $8",
            )
            .bind(next_account.email.as_str())
            .bind(&next_account.name.salutation)
            .bind(&next_account.name.given_name)
            .bind(&next_account.name.infix)
            .bind(&next_account.name.family_name)
            .bind(next_account.name.sort_key(&next_account.email))
            .bind(origin.now)
            .bind(account.id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
    }
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE memberships SET job_title = $1, staff_code = $2, description = $3, labels = $4, updated_at = $5,
                require_two_factor = $7, phone = $8, mobile = $9
             WHERE id = $6",
        )
        .bind(&next_m.job_title)
        .bind(&next_m.staff_code)
        .bind(&next_m.description)
        .bind(Json(&next_m.labels))
        .bind(origin.now)
        .bind(m.id.0)
        .bind(next_m.require_two_factor)
        .bind(&next_m.phone)
        .bind(&next_m.mobile)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if next_m.labels != m.labels {
        set_labels(&mut tx, m.id, org.id, &next_m.labels).await?;
    }
    if next_m.require_two_factor && !m.require_two_factor && m.active {
        crate::two_factor::require_now(&mut tx, None, Some(account.id), origin.now).await?;
    }
    let found_as =
        |a: &Account, m: &Membership| (a.name.clone(), a.email.clone(), m.staff_code.clone());
    if owner.is_none() && found_as(&account, &m) != found_as(&next_account, &next_m) {
        crate::search::reindex_account(
            &mut tx,
            account.id,
            &next_account.name,
            &next_account.email,
        )
        .await?;
    }
    if email_changed {
        // Every link went to the old address, whichever organization sent
        // it: none of them may work any more.
        links::replace_all(&mut tx, account.id, None, origin.now).await?;
    }
    let (member, invitation_sent) = match &owner {
        None => {
            // A mistyped address never received the link; the corrected one
            // does (docs/RULES.md#changing-a-members-details).
            let invited = email_changed && account.status == AccountStatus::Invited && m.active;
            if invited {
                send_invitation(&mut tx, &next_account, &org, lifecycle, origin, false).await?;
            }
            if shared {
                // The person's other organizations see the change to what
                // they share, and nothing of this membership.
                let mut changes = serde_json::Map::new();
                portier_core::organizations::diff(
                    "",
                    &serde_json::json!({"account": account}),
                    &serde_json::json!({"account": next_account}),
                    &mut changes,
                );
                let event = NewAuditEvent {
                    organization_id: None,
                    ..member_event(
                        auth.actor(),
                        "account.updated",
                        org.id,
                        account.id,
                        serde_json::Value::Object(changes),
                        origin,
                    )
                };
                audit::record_for_account(&mut tx, account.id, Some(org.id), event, origin.now)
                    .await?;
            }
            (account.id, invited)
        }
        Some(owner) => {
            move_memberships(&mut tx, auth.actor(), &account, owner, org.id, origin).await?;
            changes.insert(
                "account_id".into(),
                serde_json::json!({"before": account.id, "after": owner.id}),
            );
            changes.insert(
                "account.email".into(),
                serde_json::json!({"before": account.email, "after": owner.email}),
            );
            // As if the right address had been added: an invitation, or a
            // note that they were added.
            let invited =
                m.active && welcome(&mut tx, owner, &org, lifecycle, origin, false).await?;
            (owner.id, invited)
        }
    };
    let event = member_event(
        auth.actor(),
        "member.updated",
        org.id,
        member,
        serde_json::Value::Object(changes),
        origin,
    );
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    tx.commit().await?;
    Ok(Updated {
        invitation_sent,
        account_id: member,
    })
}

/// Moves every membership of `from` (an invited account whose address was
/// mistyped, in organizations the caller manages all of) to `to`, the
/// account of the corrected address, with the portfolios those
/// organizations manage. A registration number stays where it was: the
/// account of the corrected address is its owner's, and only they (or an
/// operator) record theirs. Each organization but `recorded_in` (which
/// records the change itself) records the move.
async fn move_memberships(
    tx: &mut Tx,
    actor: &Actor,
    from: &Account,
    to: &Account,
    recorded_in: OrganizationId,
    origin: &Origin,
) -> Result<()> {
    let clash: Option<String> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = $2 AND m.organization_id IN
                   (SELECT organization_id FROM memberships WHERE account_id = $1)
             ORDER BY o.path LIMIT 1",
        )
        .bind(from.id.0)
        .bind(to.id.0)
        .fetch_optional(c)
        .await
    })?;
    if let Some(name) = clash {
        return Err(DomainError::Conflict {
            code: "already_member",
            field: Some("email".into()),
            message: format!("{} is already a member of {name}", to.email),
        }
        .into());
    }
    let moved: Vec<(Uuid, Uuid)> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT o.id, o.environment_id FROM memberships m
             JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = $1 ORDER BY o.environment_id, o.id",
        )
        .bind(from.id.0)
        .fetch_all(c)
        .await
    })?;
    in_tx!(tx, |c| {
        // The portfolios the moving memberships' organizations manage, not
        // those another organization keeps of a membership that ended.
        sqlx::query(
            "UPDATE portfolios SET account_id = $2, updated_at = $3
             WHERE account_id = $1
               AND organization_id IN (SELECT organization_id FROM memberships WHERE account_id = $1)",
        )
        .bind(from.id.0)
        .bind(to.id.0)
        .bind(origin.now)
        .execute(&mut *c)
        .await?;
        sqlx::query("UPDATE memberships SET account_id = $2, updated_at = $3 WHERE account_id = $1")
            .bind(from.id.0)
            .bind(to.id.0)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    crate::search::reindex_account(tx, to.id, &to.name, &to.email).await?;
    let mut environments: Vec<OrganizationId> = Vec::new();
    for (org, environment) in moved {
        let (org, environment) = (OrganizationId(org), OrganizationId(environment));
        if !environments.contains(&environment) {
            environments.push(environment);
            crate::rights::changed(tx, environment).await?;
        }
        if org == recorded_in {
            continue;
        }
        let changes = serde_json::json!({
            "account_id": {"before": from.id, "after": to.id},
            "account.email": {"before": from.email, "after": to.email},
        });
        let event = member_event(actor, "member.updated", org, to.id, changes, origin);
        audit::record(tx, environment, event, origin.now).await?;
    }
    Ok(())
}

/// Ends a membership and its rights; the account and its history stay
/// (docs/RULES.md#deactivating-and-removing-members).
pub async fn remove(
    store: &Store,
    auth: &Authorized<portier_core::rights::MembersRemove>,
    account_id: AccountId,
    portfolio: Option<crate::portfolios::OnRemoval<'_>>,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let (account, m) = membership_in(&mut tx, org.id, account_id).await?;
    auth.over_member(&seats_of(&mut tx, account.id).await?)?;
    ensure_not_last_administrator(&mut tx, &org, &account, &m).await?;
    let today = origin.now.date_naive();
    crate::portfolios::settle_on_removal(
        &mut tx,
        &org,
        auth.actor(),
        account.id,
        portfolio,
        today,
        origin,
    )
    .await?;
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM memberships WHERE id = $1")
            .bind(m.id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    end_sessions_without_membership(&mut tx, account.id).await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    let changes =
        serde_json::json!({"email": account.email, "staff_code": m.staff_code, "labels": m.labels});
    let event = member_event(
        auth.actor(),
        "member.removed",
        org.id,
        account.id,
        changes,
        origin,
    );
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    tx.commit().await
}

/// Deactivates or reactivates a membership; nothing is deleted
/// (docs/RULES.md#deactivating-and-removing-members). A reactivated member
/// who never activated their account gets a new invitation. Returns whether
/// one was sent.
pub async fn set_active(
    store: &Store,
    auth: &Authorized<portier_core::rights::MembersUpdate>,
    account_id: AccountId,
    active: bool,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let (account, m) = membership_in(&mut tx, org.id, account_id).await?;
    auth.over_member(&seats_of(&mut tx, account.id).await?)?;
    let waiting: Option<i32> = in_tx!(&mut tx, |c| {
        sqlx::query_scalar("SELECT 1 FROM memberships WHERE id = $1 AND awaiting_approval = TRUE")
            .bind(m.id.0)
            .fetch_optional(c)
            .await
    })?;
    if waiting.is_some() {
        return Err(Error::Domain(DomainError::Conflict {
            code: "awaiting_approval",
            field: None,
            message: "this person waits for approval to join: approve them instead".into(),
        }));
    }
    if m.active == active {
        return Ok(false);
    }
    if !active {
        ensure_not_last_administrator(&mut tx, &org, &account, &m).await?;
    }
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE memberships SET active = $1, updated_at = $2 WHERE id = $3")
            .bind(active)
            .bind(origin.now)
            .bind(m.id.0)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let invited = active && account.status == AccountStatus::Invited;
    if invited {
        send_invitation(&mut tx, &account, &org, lifecycle, origin, false).await?;
    }
    if !active {
        end_sessions_without_membership(&mut tx, account.id).await?;
    }
    crate::rights::changed(&mut tx, org.environment_id).await?;
    let action = if active {
        "member.reactivated"
    } else {
        "member.deactivated"
    };
    let changes = serde_json::json!({"active": {"before": m.active, "after": active}});
    audit::record(
        &mut tx,
        org.environment_id,
        member_event(auth.actor(), action, org.id, account.id, changes, origin),
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(invited)
}

/// A new activation link; the previous one stops working
/// (docs/RULES.md#invitations-and-activation).
pub async fn resend_invitation(
    store: &Store,
    auth: &Authorized<MembersInvite>,
    account_id: AccountId,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    let (account, m) = membership_in(&mut tx, org.id, account_id).await?;
    auth.over_member(&seats_of(&mut tx, account.id).await?)?;
    if account.status == AccountStatus::Active {
        return Err(DomainError::Conflict {
            code: "already_active",
            field: None,
            message: "this person has already activated their account; they can use \"Forgot password\" if needed".into(),
        }
        .into());
    }
    if !m.active {
        return Err(DomainError::Conflict {
            code: "member_deactivated",
            field: None,
            message: "this membership is deactivated; reactivate it to send a new invitation"
                .into(),
        }
        .into());
    }
    send_invitation(&mut tx, &account, &org, lifecycle, origin, false).await?;
    let changes = serde_json::json!({"email": account.email});
    audit::record(
        &mut tx,
        org.environment_id,
        member_event(
            auth.actor(),
            "member.invitation_resent",
            org.id,
            account.id,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    tx.commit().await
}

/// Replaces a member's roles ("Change role",
/// docs/RULES.md#roles-and-permissions). Giving or taking an administrator
/// role needs `admins.manage`, any other role beyond `member`
/// `roles.assign`; the environment's last administrator keeps theirs.
/// Returns the roles now held.
#[allow(clippy::too_many_arguments)]
pub async fn set_roles(
    store: &Store,
    caller: &Principal,
    auth: &Authorized<portier_core::rights::RolesAssign>,
    account_id: AccountId,
    keys: &[portier_core::roles::RoleKey],
    registration: Option<&portier_core::registrations::RegistrationNumber>,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Vec<Role>> {
    let mut tx = store.begin().await?;
    let org = organizations::get_for_update(&mut tx, auth.organization_id()).await?;
    // Giving or taking an administrator role waits for (and holds off) a
    // change of what the account shares, which depends on it.
    accounts::lock(&mut tx, account_id).await?;
    let (account, m) = membership_in(&mut tx, org.id, account_id).await?;
    auth.over_member(&seats_of(&mut tx, account.id).await?)?;
    let before = roles_held(&mut tx, &org, m.id).await?;
    let after = roles::resolve(&mut tx, &org, keys).await?;
    // Taking a role away needs the same right as giving it.
    let touched: Vec<Role> = after
        .iter()
        .filter(|r| !before.iter().any(|b| b.id == r.id))
        .chain(
            before
                .iter()
                .filter(|b| !after.iter().any(|r| r.id == b.id)),
        )
        .cloned()
        .collect();
    caller.may_grant(&touched, &org.path)?;
    crate::registrations::may_record(&mut tx, caller, &account, registration).await?;
    let registered = crate::registrations::settle(
        &mut tx,
        &account,
        registration,
        portier_core::roles::needed_register(&after),
        lifecycle.register_checks,
        auth.actor(),
        org.id,
        org.environment_id,
        origin,
    )
    .await?;
    if touched.is_empty() {
        if registered {
            tx.commit().await?;
        }
        return Ok(after);
    }
    let keeps_admin = after
        .iter()
        .any(|r| r.grants(&portier_core::permissions::ADMINS_MANAGE));
    if !keeps_admin {
        ensure_not_last_administrator(&mut tx, &org, &account, &m).await?;
    }
    replace_membership_roles(
        &mut tx,
        m.id,
        &after.iter().map(|r| r.id).collect::<Vec<_>>(),
    )
    .await?;
    let keys_of = |roles: &[Role]| {
        roles
            .iter()
            .map(|r| r.key.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let changes =
        serde_json::json!({"roles": {"before": keys_of(&before), "after": keys_of(&after)}});
    audit::record(
        &mut tx,
        org.environment_id,
        member_event(
            auth.actor(),
            "member.roles_changed",
            org.id,
            account.id,
            changes,
            origin,
        ),
        origin.now,
    )
    .await?;
    crate::rights::changed(&mut tx, org.environment_id).await?;
    tx.commit().await?;
    Ok(after)
}

/// The roles a membership holds directly, as `resolve` reads them.
async fn roles_held(
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

/// A person with no active membership left cannot sign in
/// (docs/RULES.md#deactivating-and-removing-members), so their open sessions
/// end at once.
async fn end_sessions_without_membership(tx: &mut Tx, account: AccountId) -> Result<()> {
    let active: i64 = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE account_id = $1 AND active = TRUE",
        )
        .bind(account.0)
        .fetch_one(c)
        .await
    })?;
    if active == 0 {
        crate::sessions::end_all_in(tx, account, None).await?;
    }
    Ok(())
}

/// How many members an organization has, by state, and how many of them
/// have two-step verification set up (docs/RULES.md#two-step-verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statistics {
    pub members: i64,
    pub invited: i64,
    pub active: i64,
    pub deactivated: i64,
    pub two_factor: i64,
}

pub async fn statistics(store: &Store, org: OrganizationId) -> Result<Statistics> {
    let (members, two_factor) = two_factor_share(store, org).await?;
    let (deactivated, invited): (i64, i64) = reader!(store, |c| {
        sqlx::query_as(
            "SELECT
               (SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND active = FALSE),
               (SELECT COUNT(*) FROM memberships m JOIN accounts a ON a.id = m.account_id
                WHERE m.organization_id = $1 AND m.active = TRUE AND a.status = 'invited')",
        )
        .bind(org.0)
        .fetch_one(c)
        .await
    })?;
    Ok(Statistics {
        members,
        invited,
        active: members - deactivated - invited,
        deactivated,
        two_factor,
    })
}

/// The members of an organization, and how many of them have two-step
/// verification set up: counted from indexes (the listing index, then the
/// credentials by kind), cheap enough for every view of the users list.
pub async fn two_factor_share(store: &Store, org: OrganizationId) -> Result<(i64, i64)> {
    Ok(reader!(store, |c| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM memberships WHERE organization_id = $1),
                    (SELECT COUNT(DISTINCT m.id) FROM credentials cr
                     JOIN memberships m ON m.account_id = cr.account_id
                     WHERE m.organization_id = $1 AND cr.kind IN ('totp', 'webauthn'))",
        )
        .bind(org.0)
        .fetch_one(c)
        .await
    })?)
}
