//! A portfolio's life: given (one active at a time per person), deactivated,
//! reactivated, completed, and settled when its member leaves
//! (docs/PORTFOLIOS.md#states).

#[allow(unused_imports)]
use super::*;

/// A change refused because the person has an active portfolio already
/// (generally one at a time, unless the organization allows several side by
/// side: docs/PORTFOLIOS.md#one-active-portfolio-at-a-time).
pub(crate) fn one_at_a_time() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "active_portfolio_exists",
        field: None,
        message: "this person has an active portfolio already: deactivate or complete it first, or allow parallel portfolios in the organization's settings"
            .into(),
    })
}

pub(crate) async fn has_active(
    tx: &mut Tx,
    account: AccountId,
    except: Option<Uuid>,
) -> Result<bool> {
    let found: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT 1 FROM portfolios WHERE account_id = $1 AND state = 'active'
               AND ($2 IS NULL OR id <> $2) LIMIT 1",
        )
        .bind(account.0)
        .bind(except)
        .fetch_optional(c)
        .await
    })?;
    Ok(found.is_some())
}

/// Gives the member `account` of the organization `auth` was given for a
/// portfolio of type `type_key`, active from `start` (today or later). The
/// type must exist in the environment and one of the member's roles there
/// must allow it; the person must have no other active one
/// (docs/PORTFOLIOS.md#giving-a-portfolio).
/// Returns it with the warning of a start on a month's last day.
pub async fn create(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    account: AccountId,
    type_key: &str,
    start: NaiveDate,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>)> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let new = NewPortfolio {
        type_key: type_key.to_owned(),
        start,
    };
    let created = create_in(&mut tx, &org, auth.actor(), account, &new, "type", origin).await?;
    tx.commit().await?;
    Ok(created)
}

/// [`create`] within `tx`, for the member `account` of `org` (also one
/// added in this same transaction); refusals of the type name `field`.
pub(crate) async fn create_in(
    tx: &mut Tx,
    org: &Organization,
    actor: &Actor,
    account: AccountId,
    new: &NewPortfolio,
    field: &str,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>)> {
    let (type_key, start) = (new.type_key.as_str(), new.start);
    // The member's roles here, and what they allow.
    let allowed: Vec<Json<Vec<String>>> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT r.portfolio_types FROM memberships m
               JOIN membership_roles mr ON mr.membership_id = m.id
               JOIN roles r ON r.id = mr.role_id
             WHERE m.organization_id = $1 AND m.account_id = $2",
        )
        .bind(org.id.0)
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    let member: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(org.id.0)
        .bind(account.0)
        .fetch_optional(c)
        .await
    })?;
    if member.is_none() {
        return Err(DomainError::NotFound { what: "member" }.into());
    }
    let known: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar("SELECT 1 FROM portfolio_types WHERE environment_id = $1 AND key = $2")
            .bind(org.environment_id.0)
            .bind(type_key)
            .fetch_optional(c)
            .await
    })?;
    if known.is_none() {
        return Err(FieldError::new(
            field,
            "unknown_portfolio_type",
            format!("this environment has no portfolio type \"{type_key}\""),
        )
        .into());
    }
    if !allowed
        .iter()
        .any(|types| types.0.iter().any(|t| t == type_key))
    {
        return Err(FieldError::new(
            field,
            "not_allowed_by_role",
            format!("none of this member's roles here allows a portfolio of type \"{type_key}\""),
        )
        .into());
    }
    if !org.settings.allow_parallel_portfolios && has_active(tx, account, None).await? {
        return Err(one_at_a_time());
    }
    let id = Uuid::now_v7();
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO portfolios (id, account_id, environment_id, type_key, organization_id, state,
                                     start_date, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7)",
        )
        .bind(id)
        .bind(account.0)
        .bind(org.environment_id.0)
        .bind(type_key)
        .bind(org.id.0)
        .bind(start)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    open_period(tx, id, org.id.0, start).await?;
    let changes = serde_json::json!({"account_id": account, "type": type_key, "start_date": start});
    let e = event(
        actor,
        "portfolio.created",
        org,
        "portfolio",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, org.environment_id, e, origin.now).await?;
    let view = get_tx(tx, id).await?;
    let warning = portier_core::portfolios::start_warning(start, org.settings.billing_cycle);
    Ok((view, warning))
}

pub(crate) async fn open_period(
    tx: &mut Tx,
    portfolio: Uuid,
    org: Uuid,
    from: NaiveDate,
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO portfolio_periods (id, portfolio_id, organization_id, from_date, until_date)
             VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(Uuid::now_v7())
        .bind(portfolio)
        .bind(org)
        .bind(from)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Ends the portfolio's open stretch on `day` (not active from then on); a
/// stretch that would not have begun by then goes altogether.
pub(crate) async fn close_period(tx: &mut Tx, portfolio: Uuid, day: NaiveDate) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "DELETE FROM portfolio_periods WHERE portfolio_id = $1 AND until_date IS NULL AND from_date >= $2",
        )
        .bind(portfolio)
        .bind(day)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolio_periods SET until_date = $2 WHERE portfolio_id = $1 AND until_date IS NULL")
            .bind(portfolio)
            .bind(day)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// What can happen to a portfolio (docs/PORTFOLIOS.md#states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Temporarily deactivate: billing stops from today; it can come back.
    Deactivate,
    /// Complete: final; billing stops from today.
    Complete,
    /// Active again from today (billed from this month on).
    Reactivate,
}

impl Change {
    fn action(self) -> &'static str {
        match self {
            Change::Deactivate => "portfolio.deactivated",
            Change::Complete => "portfolio.completed",
            Change::Reactivate => "portfolio.reactivated",
        }
    }
}

pub(crate) fn cannot(state: PortfolioState, change: Change) -> Error {
    Error::Domain(DomainError::Conflict {
        code: "portfolio_state",
        field: None,
        message: format!(
            "a portfolio that is {} cannot be {}",
            state.as_str(),
            match change {
                Change::Deactivate => "deactivated",
                Change::Complete => "completed",
                Change::Reactivate => "reactivated",
            }
        ),
    })
}

/// Portfolio `id` and the organization managing it, when that is the one
/// `auth` was given for or one below it; else the domain's 404.
pub(crate) async fn managed_within(
    tx: &mut Tx,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
) -> Result<(PortfolioView, Organization)> {
    let org = organizations::get_in_tx(tx, auth.organization_id()).await?;
    let current = get_tx(tx, id).await?;
    let manager = organizations::get_in_tx(tx, current.organization_id.into()).await?;
    if !manager.path.as_str().starts_with(org.path.as_str()) {
        return Err(DomainError::NotFound { what: "portfolio" }.into());
    }
    Ok((current, manager))
}

/// Changes the state of portfolio `id`, managed by the organization `auth`
/// was given for or one below it, as of `today`. Returns it with the
/// warning of a reactivation on a month's last day.
pub async fn change(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
    change: Change,
    today: NaiveDate,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>)> {
    let mut tx = store.begin().await?;
    let (current, manager) = managed_within(&mut tx, auth, id).await?;
    let warning = apply(
        &mut tx,
        auth.actor(),
        &manager,
        &current,
        change,
        today,
        origin,
    )
    .await?;
    let view = get_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok((view, warning))
}

/// Applies `change` to `current` (managed by `manager`) as of `today`, with
/// its audit event; the warning of a reactivation on a month's last day.
pub(crate) async fn apply(
    tx: &mut Tx,
    actor: &Actor,
    manager: &Organization,
    current: &PortfolioView,
    change: Change,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Option<Warning>> {
    let id = current.id;
    let (next, warning) = match (current.state, change) {
        (PortfolioState::Active, Change::Deactivate) => {
            close_period(tx, id, today).await?;
            (PortfolioState::Deactivated, None)
        }
        (PortfolioState::Active, Change::Complete) => {
            close_period(tx, id, today).await?;
            (PortfolioState::Completed, None)
        }
        (PortfolioState::Deactivated, Change::Complete) => (PortfolioState::Completed, None),
        (PortfolioState::Deactivated, Change::Reactivate) => {
            if !manager.settings.allow_parallel_portfolios
                && has_active(tx, current.account_id, Some(id)).await?
            {
                return Err(one_at_a_time());
            }
            let from = today.max(current.start_date);
            open_period(tx, id, manager.id.0, from).await?;
            let cycle = manager.settings.billing_cycle;
            (
                PortfolioState::Active,
                portier_core::portfolios::start_warning(from, cycle),
            )
        }
        (state, change) => return Err(cannot(state, change)),
    };
    if next == PortfolioState::Completed {
        lapse_requests(tx, id, origin).await?;
    }
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolios SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(next.as_str())
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let changes = serde_json::json!({"state": {"before": current.state.as_str(), "after": next.as_str()}, "on": today});
    let e = event(
        actor,
        change.action(),
        manager,
        "portfolio",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, manager.environment_id, e, origin.now).await?;
    Ok(warning)
}

/// What becomes of a leaving member's active portfolios
/// (docs/PORTFOLIOS.md#when-a-member-leaves).
#[derive(Clone, Copy)]
pub enum OnRemoval<'a> {
    /// Temporarily deactivated: they can come back.
    Deactivate,
    /// Completed: final.
    Complete,
    /// Moved to organization `to` of the environment, where the person is a
    /// member: at once when the caller may manage portfolios there
    /// (`manages`); else deactivated (this organization stops paying) and
    /// offered to it, to be reactivated there when it accepts.
    Transfer {
        to: portier_core::ids::OrganizationId,
        manages: ManagesThere<'a>,
    },
}

/// Before `account` leaves `org`: its portfolios active there, settled by
/// `then` as of `today`. Without `then`, a 409 when there is one: removing
/// asks what to do with it (docs/PORTFOLIOS.md#when-a-member-leaves).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn settle_on_removal(
    tx: &mut Tx,
    org: &Organization,
    actor: &Actor,
    account: AccountId,
    then: Option<OnRemoval<'_>>,
    today: NaiveDate,
    origin: &Origin,
) -> Result<()> {
    let sql = format!(
        "{SELECT} WHERE p.account_id = $1 AND p.organization_id = $2 AND p.state = 'active'"
    );
    let rows: Vec<PortfolioRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.0)
            .bind(org.id.0)
            .fetch_all(c)
            .await
    })?;
    let active: Vec<PortfolioView> = rows.into_iter().map(view).collect::<Result<_>>()?;
    if active.is_empty() {
        return Ok(());
    }
    let Some(then) = then else {
        return Err(Error::Domain(DomainError::Conflict {
            code: "active_portfolio",
            field: Some("portfolio".into()),
            message: "this member has an active portfolio here: say whether to deactivate, complete or transfer it (portfolio=deactivate, portfolio=complete, or portfolio=transfer with to_organization_id)".into(),
        }));
    };
    let dest = match then {
        OnRemoval::Transfer { to, .. } => Some(organizations::get_in_tx(tx, to).await.map_err(
            |e| match e {
                Error::Domain(DomainError::NotFound { .. }) => {
                    unknown_organization("to_organization_id")
                }
                e => e,
            },
        )?),
        _ => None,
    };
    for p in &active {
        match (then, &dest) {
            (OnRemoval::Transfer { manages, .. }, Some(dest)) => {
                check_destination(tx, p, org, dest, "to_organization_id").await?;
                if manages(dest) {
                    move_to(tx, actor, p, org, dest, today, None, origin).await?;
                } else {
                    apply(tx, actor, org, p, Change::Deactivate, today, origin).await?;
                    let paused = get_tx(tx, p.id).await?;
                    ask(tx, actor, &paused, org, dest, Side::From, true, origin).await?;
                }
            }
            (OnRemoval::Complete, _) => {
                apply(tx, actor, org, p, Change::Complete, today, origin).await?;
            }
            _ => {
                apply(tx, actor, org, p, Change::Deactivate, today, origin).await?;
            }
        }
    }
    Ok(())
}
