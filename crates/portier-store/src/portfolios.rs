//! Portfolios (issue 7): the types an environment offers, a member's
//! portfolios and their states, and the stretches of days each was active
//! and paid for by one organization (`portfolio_periods`), from which the
//! billing report counts. Every change commits with its audit event.

use chrono::{DateTime, NaiveDate, Utc};
use portier_core::Error as DomainError;
use portier_core::FieldError;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::AccountId;
use portier_core::organizations::Organization;
use portier_core::portfolios::{
    ActivePeriod, NewPortfolio, PortfolioState, PortfolioType, Warning,
};
use portier_core::rights::{Authorized, PortfoliosManage};
use portier_core::roles::LocalizedName;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Error, Result, Store, Tx, in_tx, organizations, reader};

/// The portfolio types of the environment `org` belongs to, by key.
pub async fn types(store: &Store, org: &Organization) -> Result<Vec<PortfolioType>> {
    let rows: Vec<(String, String, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT key, name_en, name_nl FROM portfolio_types WHERE environment_id = $1 ORDER BY key",
        )
        .bind(org.environment_id.0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(key, en, nl)| PortfolioType {
            key,
            name: LocalizedName { en, nl },
        })
        .collect())
}

fn event(
    actor: &Actor,
    action: &'static str,
    org: &Organization,
    target_type: &'static str,
    target_id: String,
    changes: serde_json::Value,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.clone(),
        action,
        organization_id: Some(org.id),
        target_type,
        target_id,
        changes,
        client_addr: origin.client_addr.clone(),
    }
}

/// Adds a portfolio type to the environment of the organization `auth`
/// was given for. 409 when the key is taken there.
pub async fn create_type(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    new: PortfolioType,
    origin: &Origin,
) -> Result<PortfolioType> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let inserted = in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO portfolio_types (id, environment_id, key, name_en, name_nl, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(org.environment_id.0)
        .bind(&new.key)
        .bind(&new.name.en)
        .bind(&new.name.nl)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    });
    if let Err(e) = inserted {
        let e = Error::from(e);
        return Err(if e.is_unique_violation() {
            Error::Domain(DomainError::Conflict {
                code: "portfolio_type_exists",
                field: Some("key".into()),
                message: format!(
                    "this environment has a portfolio type \"{}\" already",
                    new.key
                ),
            })
        } else {
            e
        });
    }
    let changes = serde_json::json!({"key": new.key, "name": new.name});
    let e = event(
        auth.actor(),
        "portfolio_type.created",
        &org,
        "portfolio_type",
        new.key.clone(),
        changes,
        origin,
    );
    audit::record(&mut tx, org.environment_id, e, origin.now).await?;
    tx.commit().await?;
    Ok(new)
}

/// A portfolio as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortfolioView {
    pub id: Uuid,
    pub account_id: AccountId,
    pub type_key: String,
    pub state: PortfolioState,
    pub start_date: NaiveDate,
    pub organization_id: Uuid,
    pub created_at: DateTime<Utc>,
}

type PortfolioRow = (Uuid, Uuid, String, String, NaiveDate, Uuid, DateTime<Utc>);

fn view(
    (id, account, type_key, state, start_date, organization_id, created_at): PortfolioRow,
) -> Result<PortfolioView> {
    Ok(PortfolioView {
        id,
        account_id: AccountId(account),
        type_key,
        state: PortfolioState::parse(&state)
            .ok_or_else(|| Error::Corrupt(format!("portfolio {id}: state {state:?}")))?,
        start_date,
        organization_id,
        created_at,
    })
}

const SELECT: &str =
    "SELECT p.id, p.account_id, p.type_key, p.state, p.start_date, p.organization_id, p.created_at
     FROM portfolios p";

/// A change refused because the person has an active portfolio already
/// (seed 001: generally one at a time, unless the organization allows
/// several side by side).
fn one_at_a_time() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "active_portfolio_exists",
        field: None,
        message: "this person has an active portfolio already: deactivate or complete it first, or allow parallel portfolios in the organization's settings"
            .into(),
    })
}

async fn has_active(tx: &mut Tx, account: AccountId, except: Option<Uuid>) -> Result<bool> {
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
/// must allow it (seed 001); the person must have no other active one.
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

async fn open_period(tx: &mut Tx, portfolio: Uuid, org: Uuid, from: NaiveDate) -> Result<()> {
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
async fn close_period(tx: &mut Tx, portfolio: Uuid, day: NaiveDate) -> Result<()> {
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

async fn get_tx(tx: &mut Tx, id: Uuid) -> Result<PortfolioView> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    let row: Option<PortfolioRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    view(row.ok_or(DomainError::NotFound { what: "portfolio" })?)
}

/// What can happen to a portfolio (seed 001).
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

fn cannot(state: PortfolioState, change: Change) -> Error {
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
async fn managed_within(
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
async fn apply(
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

/// Moves portfolio `id`, managed by the organization `from` was given for
/// or one below it, to the one `to` was given for (seed 001: so that its
/// costs are billed to the right place), as of `today`: the new
/// organization pays from today. The person must be a member there, and it
/// must lie in the same environment (the portfolio's type is the
/// environment's). A completed portfolio stays where it is. Returns it with
/// the warning of a move on a month's last day.
pub async fn transfer(
    store: &Store,
    from: &Authorized<PortfoliosManage>,
    to: &Authorized<PortfoliosManage>,
    id: Uuid,
    today: NaiveDate,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>)> {
    let mut tx = store.begin().await?;
    let (current, manager) = managed_within(&mut tx, from, id).await?;
    let dest = organizations::get_in_tx(&mut tx, to.organization_id()).await?;
    if dest.environment_id != manager.environment_id {
        return Err(FieldError::new(
            "to_organization_id",
            "other_environment",
            "a portfolio moves between organizations of its own environment",
        )
        .into());
    }
    if dest.id == manager.id {
        return Err(FieldError::new(
            "to_organization_id",
            "same_organization",
            "this organization manages the portfolio already",
        )
        .into());
    }
    let member: Option<i32> = in_tx!(&mut tx, |c| {
        sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(dest.id.0)
        .bind(current.account_id.0)
        .fetch_optional(c)
        .await
    })?;
    if member.is_none() {
        return Err(FieldError::new(
            "to_organization_id",
            "not_a_member",
            "the person is not a member of that organization: add them there first",
        )
        .into());
    }
    let warning = match current.state {
        PortfolioState::Completed => {
            return Err(Error::Domain(DomainError::Conflict {
                code: "portfolio_state",
                field: None,
                message: "a completed portfolio is not transferred".into(),
            }));
        }
        PortfolioState::Deactivated => None,
        PortfolioState::Active => {
            let from_day = today.max(current.start_date);
            close_period(&mut tx, id, from_day).await?;
            open_period(&mut tx, id, dest.id.0, from_day).await?;
            portier_core::portfolios::start_warning(from_day, dest.settings.billing_cycle)
        }
    };
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE portfolios SET organization_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(dest.id.0)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let changes = serde_json::json!({
        "organization_id": {"before": manager.id, "after": dest.id},
        "on": today,
    });
    let e = event(
        from.actor(),
        "portfolio.transferred",
        &dest,
        "portfolio",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(&mut tx, dest.environment_id, e, origin.now).await?;
    let view = get_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok((view, warning))
}

/// One stretch of a portfolio's history: who paid from `from` (included)
/// until `until` (excluded; `None`: still).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stretch {
    pub organization_id: Uuid,
    pub from_date: NaiveDate,
    pub until_date: Option<NaiveDate>,
}

/// Portfolio `id`, managed by `org` or one below it, with its history: the
/// stretches it was active and who paid for them, oldest first.
pub async fn get_with_history(
    store: &Store,
    org: &Organization,
    id: Uuid,
) -> Result<(PortfolioView, Vec<Stretch>)> {
    let sql = format!(
        "{SELECT} JOIN organizations o ON o.id = p.organization_id
         WHERE p.id = $1 AND substr(o.path, 1, length($2)) = $2"
    );
    let row: Option<PortfolioRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(org.path.as_str())
            .fetch_optional(c)
            .await
    })?;
    let portfolio = view(row.ok_or(DomainError::NotFound { what: "portfolio" })?)?;
    let history: Vec<Stretch> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT organization_id, from_date, until_date FROM portfolio_periods
             WHERE portfolio_id = $1 ORDER BY from_date, id",
        )
        .bind(id)
        .fetch_all(c)
        .await
    })?;
    Ok((portfolio, history))
}

/// Before `account` leaves `org`: its portfolios active there, ended by
/// `then` (deactivated or completed) as of `today`. Without `then`, a 409
/// when there is one (seed 001: removing asks what to do with it).
pub(crate) async fn settle_on_removal(
    tx: &mut Tx,
    org: &Organization,
    actor: &Actor,
    account: AccountId,
    then: Option<Change>,
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
    match then {
        _ if active.is_empty() => Ok(()),
        None | Some(Change::Reactivate) => Err(Error::Domain(DomainError::Conflict {
            code: "active_portfolio",
            field: Some("portfolio".into()),
            message: "this member has an active portfolio here: say whether to deactivate or complete it (portfolio=deactivate or portfolio=complete)".into(),
        })),
        Some(change) => {
            for p in &active {
                apply(tx, actor, org, p, change, today, origin).await?;
            }
            Ok(())
        }
    }
}

/// The portfolios managed by `org` and the organizations below it, in
/// `state` when given, newest first (at most `limit`).
pub async fn list(
    store: &Store,
    org: &Organization,
    state: Option<PortfolioState>,
    limit: i64,
) -> Result<Vec<PortfolioView>> {
    let sql = format!(
        "{SELECT} JOIN organizations o ON o.id = p.organization_id
         WHERE substr(o.path, 1, length($1)) = $1 AND ($2 IS NULL OR p.state = $2)
         ORDER BY p.id DESC LIMIT $3"
    );
    let rows: Vec<PortfolioRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.path.as_str())
            .bind(state.map(PortfolioState::as_str))
            .bind(limit)
            .fetch_all(c)
            .await
    })?;
    rows.into_iter().map(view).collect()
}

/// The active stretches paid for by `org` or an organization below it that
/// touch `first` to `last` (both included), for the billing report.
pub async fn billing_periods(
    store: &Store,
    org: &Organization,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<ActivePeriod>> {
    type Row = (Uuid, Uuid, String, Uuid, NaiveDate, Option<NaiveDate>);
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT p.id, p.account_id, p.type_key, pp.organization_id, pp.from_date, pp.until_date
             FROM portfolio_periods pp JOIN portfolios p ON p.id = pp.portfolio_id
             WHERE pp.organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
               AND pp.from_date <= $3 AND (pp.until_date IS NULL OR pp.until_date > $2)",
        )
        .bind(org.path.as_str())
        .bind(first)
        .bind(last)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(portfolio, account, type_key, organization, from, until)| ActivePeriod {
                portfolio,
                account,
                type_key,
                organization,
                from,
                until,
            },
        )
        .collect())
}

/// What `org` is billed for in `months` (in order, at least one): per
/// month the stretches of its portfolios (and those below it) active on the
/// month's last day; none for an annually billed organization.
pub async fn report(
    store: &Store,
    org: &Organization,
    months: &[portier_core::portfolios::Month],
) -> Result<Vec<(portier_core::portfolios::Month, Vec<ActivePeriod>)>> {
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let periods = billing_periods(store, org, first.first_day(), last.last_day()).await?;
    let cycle = org.settings.billing_cycle;
    Ok(portier_core::portfolios::billed(months, &periods, cycle)
        .into_iter()
        .map(|b| (b.month, b.portfolios.into_iter().cloned().collect()))
        .collect())
}

/// The counts of [`report`] without the portfolios: per month of `months`
/// (in order, at least one) how many were billed. The database counts the
/// stretches in groups of equal dates, so a large organization costs a few
/// thousand groups, not a row per portfolio.
pub async fn counts(
    store: &Store,
    org: &Organization,
    months: &[portier_core::portfolios::Month],
) -> Result<Vec<(portier_core::portfolios::Month, i64)>> {
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let groups: Vec<(NaiveDate, Option<NaiveDate>, i64)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT pp.from_date, pp.until_date, COUNT(*) FROM portfolio_periods pp
             WHERE pp.organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
               AND pp.from_date <= $3 AND (pp.until_date IS NULL OR pp.until_date > $2)
             GROUP BY pp.from_date, pp.until_date",
        )
        .bind(org.path.as_str())
        .bind(first.first_day())
        .bind(last.last_day())
        .fetch_all(c)
        .await
    })?;
    Ok(portier_core::portfolios::counted(
        months,
        &groups,
        org.settings.billing_cycle,
    ))
}
