//! Portfolios (docs/PORTFOLIOS.md): the types an environment offers, a member's
//! portfolios and their states, and the stretches of days each was active and
//! paid for by one organization (`portfolio_periods`), from which the billing
//! report counts. Every change commits with its audit event.

use chrono::{DateTime, NaiveDate, Utc};
use portier_core::Error as DomainError;
use portier_core::FieldError;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::AccountId;
use portier_core::organizations::Organization;
use portier_core::portfolios::{
    ActivePeriod, Month, NewPortfolio, PortfolioState, PortfolioType, Warning,
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
    // A type holds in the whole environment: only who manages portfolios
    // there defines one, not an administrator of a part of it.
    let environment = portier_core::organizations::OrgPath::root(auth.environment_id());
    if !auth
        .principal()
        .holds(&portier_core::permissions::PORTFOLIOS_MANAGE, &environment)
    {
        return Err(DomainError::Forbidden {
            permission: portier_core::permissions::PORTFOLIOS_MANAGE,
        }
        .into());
    }
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
    inserted.map_err(|e| {
        Error::from(e).unique_as(|| {
            Error::Domain(DomainError::Conflict {
                code: "portfolio_type_exists",
                field: Some("key".into()),
                message: format!(
                    "this environment has a portfolio type \"{}\" already",
                    new.key
                ),
            })
        })
    })?;
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
/// (generally one at a time, unless the organization allows several side by
/// side: docs/PORTFOLIOS.md#one-active-portfolio-at-a-time).
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

/// Whether the caller may manage portfolios in an organization: a transfer
/// happens at once when they may on both sides, and waits for the other
/// side's consent otherwise (docs/PORTFOLIOS.md#transfers).
pub type ManagesThere<'a> = &'a (dyn Fn(&Organization) -> bool + Sync);

/// Which side of a transfer asked for it; the other one answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The managing organization offers it.
    From,
    /// The receiving organization asks to take it over.
    To,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::From => "from",
            Side::To => "to",
        }
    }
}

/// A transfer waiting for, or given, the other side's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub account_id: AccountId,
    pub type_key: String,
    pub from_organization_id: Uuid,
    pub to_organization_id: Uuid,
    pub asked_by: Side,
    /// Reactivated when accepted (deactivated when its member left).
    pub resume: bool,
    /// `pending`, `accepted`, `declined` or `withdrawn`.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl TransferRequest {
    /// The organization whose answer it waits for.
    pub fn awaiting(&self) -> Uuid {
        match self.asked_by {
            Side::From => self.to_organization_id,
            Side::To => self.from_organization_id,
        }
    }
}

type TransferRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    Uuid,
    Uuid,
    String,
    bool,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

const SELECT_TRANSFER: &str =
    "SELECT t.id, t.portfolio_id, p.account_id, p.type_key, t.from_organization_id,
            t.to_organization_id, t.asked_by, t.resume, t.state, t.requested_at, t.decided_at
     FROM portfolio_transfers t JOIN portfolios p ON p.id = t.portfolio_id";

fn transfer_view(
    (
        id,
        portfolio_id,
        account,
        type_key,
        from,
        to,
        asked_by,
        resume,
        state,
        requested_at,
        decided_at,
    ): TransferRow,
) -> Result<TransferRequest> {
    let asked_by = match asked_by.as_str() {
        "from" => Side::From,
        "to" => Side::To,
        other => return Err(Error::Corrupt(format!("transfer {id}: asked_by {other:?}"))),
    };
    Ok(TransferRequest {
        id,
        portfolio_id,
        account_id: AccountId(account),
        type_key,
        from_organization_id: from,
        to_organization_id: to,
        asked_by,
        resume,
        state,
        requested_at,
        decided_at,
    })
}

/// What a transfer call did: moved it, or asked the other side.
#[derive(Debug, Clone)]
pub enum Transferred {
    /// Moved at once; with the warning of a move on a month's last day.
    Done(PortfolioView, Option<Warning>),
    /// Waits for the other organization's consent.
    Asked(TransferRequest),
}

/// Refuses a move of `current` (managed by `manager`) to `dest`, naming
/// `field`, unless `dest` is another organization of the same environment
/// that has the person as a member, and it is not completed.
async fn check_destination(
    tx: &mut Tx,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    field: &str,
) -> Result<()> {
    if dest.environment_id != manager.environment_id {
        return Err(unknown_organization(field));
    }
    if dest.id == manager.id {
        return Err(FieldError::new(
            field,
            "same_organization",
            "this organization manages the portfolio already",
        )
        .into());
    }
    if current.state == PortfolioState::Completed {
        return Err(Error::Domain(DomainError::Conflict {
            code: "portfolio_state",
            field: None,
            message: "a completed portfolio is not transferred".into(),
        }));
    }
    let member: Option<i32> = in_tx!(tx, |c| {
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
            field,
            "not_a_member_there",
            "the person is not a member of that organization: add them there first",
        )
        .into());
    }
    Ok(())
}

fn unknown_organization(field: &str) -> Error {
    FieldError::new(
        field,
        "unknown_organization",
        "no organization of this environment has that id",
    )
    .into()
}

/// Moves `current` from `manager` to `dest` as of `today` (the new
/// organization pays from then on), with its audit event; other open
/// requests for it lapse. The warning of a move on a month's last day.
#[allow(clippy::too_many_arguments)]
async fn move_to(
    tx: &mut Tx,
    actor: &Actor,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    today: NaiveDate,
    request: Option<Uuid>,
    origin: &Origin,
) -> Result<Option<Warning>> {
    let id = current.id;
    let warning = if current.state == PortfolioState::Active {
        let from_day = today.max(current.start_date);
        close_period(tx, id, from_day).await?;
        open_period(tx, id, dest.id.0, from_day).await?;
        portier_core::portfolios::start_warning(from_day, dest.settings.billing_cycle)
    } else {
        None
    };
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolios SET organization_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(dest.id.0)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    lapse_requests(tx, id, origin).await?;
    let changes = serde_json::json!({
        "organization_id": {"before": manager.id, "after": dest.id},
        "on": today,
        "transfer_request": request,
    });
    let e = event(
        actor,
        "portfolio.transferred",
        dest,
        "portfolio",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, dest.environment_id, e, origin.now).await?;
    Ok(warning)
}

/// Open requests for portfolio `id` are withdrawn: it moved or ended.
async fn lapse_requests(tx: &mut Tx, id: Uuid, origin: &Origin) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE portfolio_transfers SET state = 'withdrawn', decided_at = $2
             WHERE portfolio_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Opens a request to move `current` from `manager` to `dest`, asked by
/// `side`, with its audit event in the asking organization. 409 when one is
/// open already.
#[allow(clippy::too_many_arguments)]
async fn ask(
    tx: &mut Tx,
    actor: &Actor,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    side: Side,
    resume: bool,
    origin: &Origin,
) -> Result<TransferRequest> {
    let id = Uuid::now_v7();
    let inserted = in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO portfolio_transfers (id, portfolio_id, from_organization_id, to_organization_id,
                                              asked_by, resume, state, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
        )
        .bind(id)
        .bind(current.id)
        .bind(manager.id.0)
        .bind(dest.id.0)
        .bind(side.as_str())
        .bind(resume)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    });
    inserted.map_err(|e| {
        Error::from(e).unique_as(|| {
            Error::Domain(DomainError::Conflict {
                code: "transfer_pending",
                field: None,
                message: "a transfer of this portfolio waits for an answer already".into(),
            })
        })
    })?;
    let asking = match side {
        Side::From => manager,
        Side::To => dest,
    };
    let changes = serde_json::json!({
        "portfolio_id": current.id,
        "from_organization_id": manager.id,
        "to_organization_id": dest.id,
        "asked_by": side.as_str(),
    });
    let e = event(
        actor,
        "portfolio.transfer_requested",
        asking,
        "portfolio_transfer",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, asking.environment_id, e, origin.now).await?;
    transfer_tx(tx, id).await
}

async fn transfer_tx(tx: &mut Tx, id: Uuid) -> Result<TransferRequest> {
    let sql = format!("{SELECT_TRANSFER} WHERE t.id = $1");
    let row: Option<TransferRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    transfer_view(row.ok_or(DomainError::NotFound {
        what: "transfer request",
    })?)
}

/// Transfer request `id`, whichever organizations it concerns (the caller
/// checks that it may see one of them).
pub async fn transfer_request(store: &Store, id: Uuid) -> Result<Option<TransferRequest>> {
    let sql = format!("{SELECT_TRANSFER} WHERE t.id = $1");
    let row: Option<TransferRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    row.map(transfer_view).transpose()
}

/// Moves `current` from `manager` to `dest` now when the caller may act
/// for the other side (`consented`), else asks it, as `side`.
async fn move_or_ask(
    tx: &mut Tx,
    actor: &Actor,
    (current, manager, dest): (&PortfolioView, &Organization, &Organization),
    side: Side,
    consented: bool,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    if consented {
        let warning = move_to(tx, actor, current, manager, dest, today, None, origin).await?;
        Ok(Transferred::Done(get_tx(tx, current.id).await?, warning))
    } else {
        let asked = ask(tx, actor, current, manager, dest, side, false, origin).await?;
        Ok(Transferred::Asked(asked))
    }
}

/// Moves portfolio `id`, managed by the organization `from` was given for
/// or one below it, to `to` (so that its costs are billed to the right
/// place, docs/PORTFOLIOS.md#transfers) as of `today`: the new organization
/// pays from then on.
/// The person must be a member there, and it must lie in the same
/// environment (the portfolio's type is the environment's); a completed
/// portfolio stays where it is. When the caller may not manage portfolios
/// in `to` (`manages`), a request waits for its consent instead.
pub async fn transfer(
    store: &Store,
    from: &Authorized<PortfoliosManage>,
    to: portier_core::ids::OrganizationId,
    manages: ManagesThere<'_>,
    id: Uuid,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    let mut tx = store.begin().await?;
    let (current, manager) = managed_within(&mut tx, from, id).await?;
    let dest = organizations::get_in_tx(&mut tx, to)
        .await
        .map_err(|e| match e {
            Error::Domain(DomainError::NotFound { .. }) => {
                unknown_organization("to_organization_id")
            }
            e => e,
        })?;
    check_destination(&mut tx, &current, &manager, &dest, "to_organization_id").await?;
    let done = move_or_ask(
        &mut tx,
        from.actor(),
        (&current, &manager, &dest),
        Side::From,
        manages(&dest),
        today,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// The portfolios of `account` (a member of `org`) in its environment: those
/// managed here and elsewhere (so that an organization that adds a person
/// can take over the one they bring, docs/PORTFOLIOS.md#transfers). Newest
/// first.
pub async fn of_member(
    store: &Store,
    org: &Organization,
    account: AccountId,
) -> Result<Vec<PortfolioView>> {
    let sql =
        format!("{SELECT} WHERE p.account_id = $1 AND p.environment_id = $2 ORDER BY p.id DESC");
    let rows: Vec<PortfolioRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.0)
            .bind(org.environment_id.0)
            .fetch_all(c)
            .await
    })?;
    rows.into_iter().map(view).collect()
}

/// The organization `to` was given for takes over portfolio `id` of its
/// member `account`, managed by another organization of the environment,
/// as of `today`: at once when the caller may manage portfolios there too
/// (`manages`), else by a request that waits for that organization's
/// consent.
pub async fn take_over(
    store: &Store,
    to: &Authorized<PortfoliosManage>,
    account: AccountId,
    id: Uuid,
    manages: ManagesThere<'_>,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    let mut tx = store.begin().await?;
    let dest = organizations::get_in_tx(&mut tx, to.organization_id()).await?;
    let current = get_tx(&mut tx, id).await?;
    if current.account_id != account || current.organization_id == dest.id.0 {
        return Err(DomainError::NotFound { what: "portfolio" }.into());
    }
    let manager = organizations::get_in_tx(&mut tx, current.organization_id.into()).await?;
    if manager.environment_id != dest.environment_id {
        return Err(DomainError::NotFound { what: "portfolio" }.into());
    }
    check_destination(&mut tx, &current, &manager, &dest, "id").await?;
    let done = move_or_ask(
        &mut tx,
        to.actor(),
        (&current, &manager, &dest),
        Side::To,
        manages(&manager),
        today,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// The transfer requests to or from `org` and the organizations below it,
/// in `state` when given (`pending`, …), newest first.
pub async fn transfer_requests(
    store: &Store,
    org: &Organization,
    state: Option<&str>,
) -> Result<Vec<TransferRequest>> {
    let sql = format!(
        "{SELECT_TRANSFER}
         WHERE ($2 IS NULL OR t.state = $2)
           AND (t.from_organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
             OR t.to_organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1))
         ORDER BY t.id DESC LIMIT 500"
    );
    let rows: Vec<TransferRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.path.as_str())
            .bind(state)
            .fetch_all(c)
            .await
    })?;
    rows.into_iter().map(transfer_view).collect()
}

/// How many open transfer requests wait for the answer of `org` or an
/// organization below it.
pub async fn awaiting(store: &Store, org: &Organization) -> Result<i64> {
    reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM portfolio_transfers t
               JOIN organizations o
                 ON o.id = CASE t.asked_by WHEN 'from' THEN t.to_organization_id ELSE t.from_organization_id END
             WHERE t.state = 'pending' AND substr(o.path, 1, length($1)) = $1",
        )
        .bind(org.path.as_str())
        .fetch_one(c)
        .await
    })
    .map_err(Into::into)
}

/// How a transfer request was answered.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The side asked consents: it moves now.
    Accept,
    /// The side asked refuses, or the asking side withdraws it.
    Decline,
}

/// The answer to request `id` by the organization `auth` was given for (or
/// one above the side it names). Accepting is for the side asked, and moves
/// the portfolio as of `today` (reactivating it when the request says so);
/// declining is for either side (the asking side withdraws). Returns the
/// request as answered, and the portfolio with its warning when it moved.
pub async fn answer(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
    answer: Answer,
    today: NaiveDate,
    origin: &Origin,
) -> Result<(TransferRequest, Option<(PortfolioView, Option<Warning>)>)> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let request = transfer_tx(&mut tx, id).await?;
    let from = organizations::get_in_tx(&mut tx, request.from_organization_id.into()).await?;
    let dest = organizations::get_in_tx(&mut tx, request.to_organization_id.into()).await?;
    let within = |o: &Organization| o.path.as_str().starts_with(org.path.as_str());
    let (asked, asking) = match request.asked_by {
        Side::From => (&dest, &from),
        Side::To => (&from, &dest),
    };
    if !within(asked) && !within(asking) {
        return Err(DomainError::NotFound {
            what: "transfer request",
        }
        .into());
    }
    if request.state != "pending" {
        return Err(Error::Domain(DomainError::Conflict {
            code: "transfer_state",
            field: None,
            message: format!("this transfer request is {} already", request.state),
        }));
    }
    let (state, moved) = match answer {
        Answer::Accept if !within(asked) => {
            return Err(Error::Domain(DomainError::Conflict {
                code: "awaiting_other_side",
                field: None,
                message: "the other organization answers this request: it waits for their consent"
                    .into(),
            }));
        }
        Answer::Accept => {
            let current = get_tx(&mut tx, request.portfolio_id).await?;
            if current.organization_id != from.id.0 {
                return Err(Error::Domain(DomainError::Conflict {
                    code: "transfer_state",
                    field: None,
                    message: "the portfolio has moved since this was asked".into(),
                }));
            }
            check_destination(&mut tx, &current, &from, &dest, "id").await?;
            set_answer(&mut tx, id, "accepted", origin).await?;
            let mut warning = move_to(
                &mut tx,
                auth.actor(),
                &current,
                &from,
                &dest,
                today,
                Some(id),
                origin,
            )
            .await?;
            if request.resume && current.state == PortfolioState::Deactivated {
                let moved = get_tx(&mut tx, current.id).await?;
                warning = apply(
                    &mut tx,
                    auth.actor(),
                    &dest,
                    &moved,
                    Change::Reactivate,
                    today,
                    origin,
                )
                .await?;
            }
            let view = get_tx(&mut tx, current.id).await?;
            ("accepted", Some((view, warning)))
        }
        Answer::Decline => {
            let state = if within(asked) {
                "declined"
            } else {
                "withdrawn"
            };
            set_answer(&mut tx, id, state, origin).await?;
            (state, None)
        }
    };
    let answering = if state == "withdrawn" { asking } else { asked };
    let changes = serde_json::json!({"portfolio_id": request.portfolio_id, "state": state});
    let e = event(
        auth.actor(),
        match state {
            "accepted" => "portfolio.transfer_accepted",
            "declined" => "portfolio.transfer_declined",
            _ => "portfolio.transfer_withdrawn",
        },
        answering,
        "portfolio_transfer",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(&mut tx, answering.environment_id, e, origin.now).await?;
    let answered = transfer_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok((answered, moved))
}

async fn set_answer(tx: &mut Tx, id: Uuid, state: &str, origin: &Origin) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolio_transfers SET state = $2, decided_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// One stretch of a portfolio's history: who paid from `from` (included)
/// until `until` (excluded; `None`: still).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stretch {
    pub organization_id: Uuid,
    pub from_date: NaiveDate,
    pub until_date: Option<NaiveDate>,
}

impl Stretch {
    /// The months it pays for: those whose last day it covers, up to
    /// `this_month` while it is still open.
    pub fn months(&self, this_month: Month) -> Vec<Month> {
        let last = self
            .until_date
            .and_then(|u| u.pred_opt())
            .map_or(this_month, Month::of);
        let mut months = Vec::new();
        let mut m = Month::of(self.from_date);
        while m <= last {
            if self.until_date.is_none_or(|u| m.last_day() < u) {
                months.push(m);
            }
            m = m.next();
        }
        months
    }
}

/// Portfolio `id`, when `org` or an organization below it manages it;
/// else the domain's 404.
pub async fn get_within(store: &Store, org: &Organization, id: Uuid) -> Result<PortfolioView> {
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
    view(row.ok_or(DomainError::NotFound { what: "portfolio" })?)
}

/// Portfolio `id`, managed by `org` or one below it, with its history: the
/// stretches it was active and who paid for them, oldest first.
pub async fn get_with_history(
    store: &Store,
    org: &Organization,
    id: Uuid,
) -> Result<(PortfolioView, Vec<Stretch>)> {
    let portfolio = get_within(store, org, id).await?;
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

/// A portfolio in a list, with whose it is and who manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub portfolio: PortfolioView,
    /// The person's name, or their e-mail address when none is known.
    pub person: String,
    pub email: String,
    pub organization_name: String,
}

/// The portfolios managed by `org` and the organizations below it, in
/// `state` and of type `type_key` when given, newest first (at most
/// `limit`).
pub async fn list(
    store: &Store,
    org: &Organization,
    state: Option<PortfolioState>,
    type_key: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>> {
    type Row = (
        Uuid,
        Uuid,
        String,
        String,
        NaiveDate,
        Uuid,
        DateTime<Utc>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT p.id, p.account_id, p.type_key, p.state, p.start_date, p.organization_id, p.created_at,
                    a.email, a.given_name, a.infix, a.family_name, o.name
             FROM portfolios p
               JOIN organizations o ON o.id = p.organization_id
               JOIN accounts a ON a.id = p.account_id
             WHERE substr(o.path, 1, length($1)) = $1 AND ($2 IS NULL OR p.state = $2)
               AND ($3 IS NULL OR p.type_key = $3)
             ORDER BY p.id DESC LIMIT $4",
        )
        .bind(org.path.as_str())
        .bind(state.map(PortfolioState::as_str))
        .bind(type_key)
        .bind(limit)
        .fetch_all(c)
        .await
    })?;
    rows.into_iter()
        .map(
            |(
                id,
                account,
                type_key,
                state,
                start,
                manager,
                created,
                email,
                given,
                infix,
                family,
                org_name,
            )| {
                let name: Vec<String> = [given, infix, family].into_iter().flatten().collect();
                Ok(Listed {
                    portfolio: view((id, account, type_key, state, start, manager, created))?,
                    person: if name.is_empty() {
                        email.clone()
                    } else {
                        name.join(" ")
                    },
                    email,
                    organization_name: org_name,
                })
            },
        )
        .collect()
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
