//! Adding members: a new or reused account, its membership, roles, groups,
//! labels and portfolio in one transaction, and the invitation it sends
//! (docs/RULES.md#adding-members).

#[allow(unused_imports)]
use super::*;

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
    ensure_staff_code_free(&mut tx, org.id, new.details.staff_code.as_deref(), None).await?;
    let membership = Membership {
        id: MembershipId::new(),
        account_id: account.id,
        organization_id: org.id,
        active: new.active,
        details: new.details.clone(),
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
    .map_err(|e| lost_race(e, &account, &org, membership.details.staff_code.as_deref()))?;
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
            "staff_code": membership.details.staff_code,
            "job_title": membership.details.job_title,
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

pub(crate) async fn has_second_factor(tx: &mut Tx, account: AccountId) -> Result<bool> {
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
pub(crate) fn lost_race(
    e: Error,
    account: &Account,
    org: &Organization,
    staff_code: Option<&str>,
) -> Error {
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
pub(crate) async fn ensure_staff_code_free(
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

pub(crate) async fn insert_membership(
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
    const WIDTH: usize = 10 + portier_core::profile::DETAIL_FIELDS.len();
    let mut args = Vec::with_capacity(items.len() * WIDTH);
    for (m, account, roles) in items {
        args.extend([
            Arg::Id(m.id.0),
            Arg::Id(m.account_id.0),
            Arg::Id(m.organization_id.0),
            Arg::Bool(m.active),
        ]);
        args.extend(
            m.details
                .values()
                .map(|(_, v)| Arg::OptText(v.map(str::to_owned))),
        );
        args.extend([
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
        concat!(
            "INSERT INTO memberships (id, account_id, organization_id, active, ",
            portier_core::detail_columns!(),
            ", labels, invited_by, created_at, updated_at, sort_key, role_ids)"
        ),
        WIDTH,
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
            m.details.staff_code.as_deref(),
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
pub(crate) async fn set_labels(
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
pub(crate) fn role_ids(roles: &[RoleId]) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = roles.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Gives `membership` exactly `roles`: its rows in `membership_roles` and
/// the ids on its own row, which must always agree.
pub(crate) async fn replace_membership_roles(
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

pub(crate) async fn insert_role_rows(tx: &mut Tx, rows: Vec<Arg>) -> Result<()> {
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
        details: Default::default(),
        labels: Vec::new(),
        invited_by,
        created_at: now,
        require_two_factor: false,
    };
    insert_membership(tx, &m, account, roles).await?;
    Ok(m)
}
