//! Changing members: details (the account's only with the right in every
//! organization of the person, docs/RULES.md#shared-accounts), roles, active
//! or not, a new invitation, removal.

#[allow(unused_imports)]
use super::*;

/// The membership of `account` in `org`, read inside a write transaction.
/// An environment keeps someone who can hand out administrator roles: taking
/// away (removing, deactivating) the last member of the environment itself
/// who holds `admins.manage`, and has activated their account and may sign
/// in, is a 409. The caller holds the organization's row lock
/// ([`organizations::get_for_update`]), so two such changes at once cannot
/// both pass.
pub(crate) async fn ensure_not_last_administrator(
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

/// The account of a member of `org`, read in a transaction; the domain's
/// 404 when there is no such member.
pub(crate) async fn member_account(
    tx: &mut Tx,
    org: OrganizationId,
    account: AccountId,
) -> Result<Account> {
    Ok(membership_in(tx, org, account).await?.0)
}

pub(crate) async fn membership_in(
    tx: &mut Tx,
    org: OrganizationId,
    account: AccountId,
) -> Result<(Account, Membership)> {
    let account = accounts::get(&mut *tx, account)
        .await?
        .ok_or(DomainError::NotFound { what: "member" })?;
    let row: Option<MembershipRow> = in_tx!(tx, |c| {
        sqlx::query_as(concat!(
            "SELECT id, active, ",
            portier_core::detail_columns!(),
            ", labels, invited_by, created_at, require_two_factor
                 FROM memberships WHERE organization_id = $1 AND account_id = $2"
        ))
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
        details: r.details.into(),
        labels: r.labels.0,
        invited_by: r.invited_by.map(Into::into),
        created_at: r.created_at,
        require_two_factor: r.require_two_factor,
    };
    Ok((account, m))
}

pub(crate) fn member_event(
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
pub(crate) async fn may_give_again(
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
    next_m.details.apply(&patch.details);
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
        owner = accounts::find_by_email(&mut tx, email).await?;
        match owner {
            None => next_account.email = email.clone(),
            // The name that goes with that address is its owner's.
            Some(_) => next_account.name = account.name.clone(),
        }
    }
    if next_m.details.staff_code != m.details.staff_code {
        ensure_staff_code_free(
            &mut tx,
            org.id,
            next_m.details.staff_code.as_deref(),
            Some(m.id),
        )
        .await?;
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
        let mut update = sqlx::query(UPDATE_MEMBERSHIP.as_str())
            .bind(Json(&next_m.labels))
            .bind(origin.now)
            .bind(next_m.require_two_factor)
            .bind(m.id.0);
        for (_, value) in next_m.details.values() {
            update = update.bind(value);
        }
        update.execute(c).await.map(|r| r.rows_affected())
    })?;
    if next_m.labels != m.labels {
        set_labels(&mut tx, m.id, org.id, &next_m.labels).await?;
    }
    if next_m.require_two_factor && !m.require_two_factor && m.active {
        crate::two_factor::require_now(&mut tx, None, Some(account.id), origin.now).await?;
    }
    let found_as = |a: &Account, m: &Membership| {
        (
            a.name.clone(),
            a.email.clone(),
            m.details.staff_code.clone(),
        )
    };
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
pub(crate) async fn move_memberships(
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
    let changes = serde_json::json!({"email": account.email, "staff_code": m.details.staff_code, "labels": m.labels});
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

/// A person with no active membership left cannot sign in
/// (docs/RULES.md#deactivating-and-removing-members), so their open sessions
/// end at once.
pub(crate) async fn end_sessions_without_membership(tx: &mut Tx, account: AccountId) -> Result<()> {
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

/// Writes what a membership holds: the labels, the two-step requirement and
/// every profile field, by name ([`portier_core::profile::DETAIL_FIELDS`]).
static UPDATE_MEMBERSHIP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let details: Vec<String> = portier_core::profile::DETAIL_FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} = ${}", f.key, i + 5))
        .collect();
    format!(
        "UPDATE memberships SET labels = $1, updated_at = $2, require_two_factor = $3, {}
         WHERE id = $4",
        details.join(", ")
    )
});

#[derive(sqlx::FromRow)]
pub(crate) struct MembershipRow {
    id: Uuid,
    active: bool,
    #[sqlx(flatten)]
    details: RowDetails,
    labels: Json<Vec<String>>,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    require_two_factor: bool,
}
