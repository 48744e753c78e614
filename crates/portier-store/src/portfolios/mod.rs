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
use portier_core::rights::{Authorized, PortfoliosManage, Right};
use portier_core::roles::LocalizedName;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::db::On;
use crate::{Error, Result, Store, Tx, in_tx, on, organizations, reader};

/// The portfolio types of the environment `org` belongs to, by key.
pub async fn types<R: Right>(store: &Store, auth: &Authorized<R>) -> Result<Vec<PortfolioType>> {
    let org = auth.organization();
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

pub(crate) fn event(
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

pub(crate) type PortfolioRow = (Uuid, Uuid, String, String, NaiveDate, Uuid, DateTime<Utc>);

pub(crate) fn view(
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

pub(crate) const SELECT: &str =
    "SELECT p.id, p.account_id, p.type_key, p.state, p.start_date, p.organization_id, p.created_at
     FROM portfolios p";

pub(crate) async fn get_tx(tx: &mut Tx, id: Uuid) -> Result<PortfolioView> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    let row: Option<PortfolioRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    view(row.ok_or(DomainError::NotFound { what: "portfolio" })?)
}

/// Portfolio `id`, when `org` or an organization below it manages it;
/// else the domain's 404.
pub async fn get_within(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
) -> Result<PortfolioView> {
    get_within_in(store, auth.organization(), id).await
}

/// A transfer request with the organizations on its two sides and the
/// portfolio it moves, read for either side: `None` unless the caller
/// manages the portfolios of the organization that gives it, of the one
/// that receives it, or of one above either.
pub async fn requested(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
) -> Result<Option<Requested>> {
    let Some(request) = transfers::transfer_request(store, id).await? else {
        return Ok(None);
    };
    let from = crate::organizations::get(store, request.from_organization_id.into()).await?;
    let to = crate::organizations::get(store, request.to_organization_id.into()).await?;
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(None);
    };
    let here = &auth.organization().path;
    if !from.path.is_within(here) && !to.path.is_within(here) {
        return Ok(None);
    }
    let portfolio = get_within_in(store, &from, request.portfolio_id).await?;
    Ok(Some(Requested {
        request,
        from,
        to,
        portfolio,
    }))
}

/// What [`requested`] reads.
#[derive(Debug, Clone)]
pub struct Requested {
    pub request: TransferRequest,
    pub from: Organization,
    pub to: Organization,
    pub portfolio: PortfolioView,
}

/// [`get_within`] for the store's own callers.
pub(crate) async fn get_within_in(
    store: &Store,
    org: &Organization,
    id: Uuid,
) -> Result<PortfolioView> {
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
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
) -> Result<(PortfolioView, Vec<Stretch>)> {
    let portfolio = get_within(store, auth, id).await?;
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

mod billing;
mod lifecycle;
mod transfers;

pub use billing::*;
pub use lifecycle::*;
pub use transfers::*;
