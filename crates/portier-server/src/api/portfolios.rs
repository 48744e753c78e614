//! Portfolios and billing (docs/PORTFOLIOS.md): the portfolio types of
//! an environment, a member's portfolio and its states, the organization's
//! portfolios, and the billing report: per month the portfolios active on
//! its last day. Actions that start a portfolio answer `warnings` when that
//! bills the current month because it starts on its last day.

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::NaiveDate;
use portier_core::organizations::BillingCycle;
use portier_core::portfolios::{self, Month, PortfolioState, PortfolioType, Warning};
use portier_core::rights::{Authorized, BillingRead, MembersRead, PortfoliosManage};
use portier_store::audit::Origin;
use portier_store::portfolios::{Change, PortfolioView as Stored};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::roles::{KeyText, NameInput};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioTypeView {
    pub key: String,
    #[schema(value_type = Object)]
    pub name: portier_core::roles::LocalizedName,
}

impl From<PortfolioType> for PortfolioTypeView {
    fn from(t: PortfolioType) -> Self {
        PortfolioTypeView {
            key: t.key,
            name: t.name,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioTypeList {
    pub items: Vec<PortfolioTypeView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortfolioType {
    /// Unique in the environment; roles name it in `portfolio_types`.
    pub key: KeyText,
    pub name: NameInput,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePortfolio {
    /// A portfolio type of the environment that one of the member's roles
    /// allows.
    #[serde(rename = "type")]
    pub type_key: KeyText,
    /// `YYYY-MM-DD`, today or later; today when absent.
    #[schema(max_length = 10)]
    pub start_date: Option<String>,
}

/// A heads-up about billing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WarningView {
    /// `billed_for_this_month`.
    pub code: String,
    pub message: String,
    /// The month billed because of it (`YYYY-MM`).
    pub month: String,
    /// Start on this date instead to avoid it.
    pub avoid_by_starting_on: NaiveDate,
}

impl From<Warning> for WarningView {
    fn from(w: Warning) -> Self {
        WarningView {
            code: w.code.to_owned(),
            message: w.message,
            month: w.month,
            avoid_by_starting_on: w.avoid_by_starting_on,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioView {
    pub id: Uuid,
    pub account_id: Uuid,
    #[serde(rename = "type")]
    pub type_key: String,
    /// `active`, `deactivated` or `completed`.
    pub state: String,
    pub start_date: NaiveDate,
    /// The organization that manages it and pays for it.
    pub organization_id: Uuid,
    /// Said when the action bills the current month because it falls on the
    /// month's last day.
    pub warnings: Vec<WarningView>,
}

impl PortfolioView {
    pub(crate) fn of(p: &Stored, warning: Option<Warning>) -> PortfolioView {
        PortfolioView {
            id: p.id,
            account_id: p.account_id.0,
            type_key: p.type_key.clone(),
            state: p.state.as_str().to_owned(),
            start_date: p.start_date,
            organization_id: p.organization_id,
            warnings: warning.into_iter().map(WarningView::from).collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioList {
    pub items: Vec<PortfolioView>,
}

/// The portfolio types of the organization's environment.
#[utoipa::path(get, operation_id = "portfolio_types_list", path = "/organizations/{org}/portfolio-types", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id")),
    responses((status = 200, body = PortfolioTypeList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_types(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<PortfolioTypeList>, ApiError> {
    let items = portier_store::portfolios::types(&state.store, &auth).await?;
    Ok(Json(PortfolioTypeList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Add a portfolio type to the organization's environment.
///
/// Needs `portfolios.manage` on the environment itself: a type holds in all
/// of it, so an administrator of a part of it cannot add one. 409 when the
/// key is taken.
#[utoipa::path(post, operation_id = "portfolio_types_create", path = "/organizations/{org}/portfolio-types", tag = "portfolios", request_body = CreatePortfolioType,
    params(("org" = Uuid, Path, description = "Organization id")),
    responses((status = 201, body = PortfolioTypeView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_type(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreatePortfolioType>,
) -> Result<(StatusCode, Json<PortfolioTypeView>), ApiError> {
    let new = PortfolioType::parse(
        &body.key.0,
        Some(&body.name.en.0),
        body.name.nl.as_ref().map(|n| n.0.as_str()),
    )?;
    let created =
        crate::service::portfolios::create_type(&state, &auth, new, &Origin::now(client)).await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Give a member a portfolio.
///
/// Needs `portfolios.manage`. The type must be one of the environment's and
/// allowed by one of the member's roles here (422 on `type`); a person has
/// one active portfolio at a time (409 `active_portfolio_exists`). Billing
/// counts portfolios active on the last day of each month: starting on such
/// a day answers a warning naming the month billed and the date to start on
/// instead.
#[utoipa::path(post, operation_id = "portfolios_create", path = "/organizations/{org}/members/{account_id}/portfolios", tag = "portfolios", request_body = CreatePortfolio,
    params(("org" = Uuid, Path, description = "Organization id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses((status = 201, body = PortfolioView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
    ApiJson(body): ApiJson<CreatePortfolio>,
) -> Result<(StatusCode, Json<PortfolioView>), ApiError> {
    let account = path_id("account_id", &account)?;
    let origin = Origin::now(client);
    let start = portfolios::start_date(body.start_date.as_deref(), origin.now.date_naive())?;
    let (created, warning) = crate::service::portfolios::create(
        &state,
        &auth,
        account,
        body.type_key.0.trim(),
        start,
        &origin,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(PortfolioView::of(&created, warning)),
    ))
}

/// The portfolios of this organization and those below it.
///
/// Needs `portfolios.manage`. `state` filters (`active`, `deactivated`,
/// `completed`), as does `type` (a portfolio type's key); the newest
/// first, at most `limit` (1–500, default 100).
#[utoipa::path(get, operation_id = "portfolios_list", path = "/organizations/{org}/portfolios", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"),
        ("state" = Option<String>, Query, description = "active, deactivated or completed"),
        ("type" = Option<String>, Query, description = "A portfolio type's key"),
        ("limit" = Option<i64>, Query, description = "1 to 500")),
    responses((status = 200, body = PortfolioList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<PortfolioList>, ApiError> {
    let wanted = q
        .get("state")
        .map(|s| {
            PortfolioState::parse(s).ok_or_else(|| {
                portier_core::FieldError::new(
                    "state",
                    "invalid",
                    "a state is active, deactivated or completed",
                )
            })
        })
        .transpose()?;
    let limit = super::Page::limit(&q)?;
    let type_key = q.get("type").map(String::as_str);
    let items =
        portier_store::portfolios::list(&state.store, &auth, wanted, type_key, limit).await?;
    Ok(Json(PortfolioList {
        items: items
            .iter()
            .map(|l| PortfolioView::of(&l.portfolio, None))
            .collect(),
    }))
}

async fn change(
    state: &AppState,
    auth: &Authorized<PortfoliosManage>,
    client: Option<String>,
    id: &str,
    change: Change,
) -> Result<Json<PortfolioView>, ApiError> {
    let id: Uuid = path_id("id", id)?;
    let origin = Origin::now(client);
    let today = origin.now.date_naive();
    let (changed, warning) =
        crate::service::portfolios::change(state, auth, id, change, today, &origin).await?;
    Ok(Json(PortfolioView::of(&changed, warning)))
}

/// Temporarily deactivate a portfolio.
///
/// It is not billed from today on, and can be reactivated. Needs
/// `portfolios.manage`; 409 unless it is active.
#[utoipa::path(post, operation_id = "portfolios_deactivate", path = "/organizations/{org}/portfolios/{id}/deactivate", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn deactivate(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<PortfolioView>, ApiError> {
    change(&state, &auth, client, &id, Change::Deactivate).await
}

/// Complete a portfolio: final, not billed from today on.
///
/// Needs `portfolios.manage`; 409 when completed already.
#[utoipa::path(post, operation_id = "portfolios_complete", path = "/organizations/{org}/portfolios/{id}/complete", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn complete(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<PortfolioView>, ApiError> {
    change(&state, &auth, client, &id, Change::Complete).await
}

/// Reactivate a temporarily deactivated portfolio.
///
/// Active, and billed, from today. Needs `portfolios.manage`; 409 unless it
/// is deactivated, or when the person has another active one. Answers a
/// warning on the last day of a month.
#[utoipa::path(post, operation_id = "portfolios_reactivate", path = "/organizations/{org}/portfolios/{id}/reactivate", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reactivate(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<PortfolioView>, ApiError> {
    change(&state, &auth, client, &id, Change::Reactivate).await
}

/// A stretch of days a portfolio was active, and who paid for it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaidStretch {
    pub organization_id: Uuid,
    pub from: NaiveDate,
    /// The first day no longer paid for by it; null while it still is.
    pub until: Option<NaiveDate>,
    /// The months it pays for: those whose last day lies in the stretch.
    pub months: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortfolioDetail {
    #[serde(flatten)]
    pub portfolio: PortfolioView,
    /// Which organization paid for which months, oldest first.
    pub history: Vec<PaidStretch>,
}

/// A portfolio, with which organization paid for which months.
///
/// Needs `portfolios.manage`; 404 unless this organization or one below it
/// manages it. The months listed for a stretch still open end with the
/// current one.
#[utoipa::path(get, operation_id = "portfolios_get", path = "/organizations/{org}/portfolios/{id}", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<PortfolioDetail>, ApiError> {
    let id: Uuid = path_id("id", &id)?;
    let (portfolio, history) =
        portier_store::portfolios::get_with_history(&state.store, &auth, id).await?;
    let this_month = Month::of(chrono::Utc::now().date_naive());
    Ok(Json(PortfolioDetail {
        portfolio: PortfolioView::of(&portfolio, None),
        history: history
            .into_iter()
            .map(|s| PaidStretch {
                organization_id: s.organization_id,
                from: s.from_date,
                until: s.until_date,
                months: s.months(this_month).iter().map(Month::to_string).collect(),
            })
            .collect(),
    }))
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The organization that manages and pays for it from today.
    pub to_organization_id: Uuid,
}

/// A transfer that waits for, or was given, the other organization's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransferRequestView {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub account_id: Uuid,
    #[serde(rename = "type")]
    pub type_key: String,
    /// The organization that manages it now.
    pub from_organization_id: Uuid,
    /// The organization that would manage and pay for it.
    pub to_organization_id: Uuid,
    /// `from` (offered by the managing side) or `to` (asked by the receiving
    /// side).
    pub asked_by: String,
    /// The organization whose answer it waits for.
    pub awaiting_organization_id: Uuid,
    /// Reactivated there when accepted (it was deactivated when its member
    /// left the managing organization).
    pub resume: bool,
    /// `pending`, `accepted`, `declined` or `withdrawn`.
    pub state: String,
    pub requested_at: chrono::DateTime<chrono::Utc>,
    pub decided_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<portier_store::portfolios::TransferRequest> for TransferRequestView {
    fn from(t: portier_store::portfolios::TransferRequest) -> Self {
        TransferRequestView {
            awaiting_organization_id: t.awaiting(),
            id: t.id,
            portfolio_id: t.portfolio_id,
            account_id: t.account_id.0,
            type_key: t.type_key,
            from_organization_id: t.from_organization_id,
            to_organization_id: t.to_organization_id,
            asked_by: t.asked_by.as_str().to_owned(),
            resume: t.resume,
            state: t.state,
            requested_at: t.requested_at,
            decided_at: t.decided_at,
        }
    }
}

/// A transfer done at once (200, the portfolio) or asked of the other
/// organization (202, the request).
pub enum TransferOutcome {
    Done(Json<PortfolioView>),
    Asked(Json<TransferRequestView>),
}

impl From<portier_store::portfolios::Transferred> for TransferOutcome {
    fn from(t: portier_store::portfolios::Transferred) -> Self {
        use portier_store::portfolios::Transferred;
        match t {
            Transferred::Done(p, warning) => {
                TransferOutcome::Done(Json(PortfolioView::of(&p, warning)))
            }
            Transferred::Asked(r) => TransferOutcome::Asked(Json(r.into())),
        }
    }
}

impl axum::response::IntoResponse for TransferOutcome {
    fn into_response(self) -> axum::response::Response {
        match self {
            TransferOutcome::Done(p) => (StatusCode::OK, p).into_response(),
            TransferOutcome::Asked(r) => (StatusCode::ACCEPTED, r).into_response(),
        }
    }
}

/// Whether `caller` may manage portfolios in an organization: a transfer
/// between two it manages happens at once.
pub(crate) fn manages(
    caller: &Caller,
) -> impl Fn(&portier_core::organizations::Organization) -> bool + Sync + '_ {
    |o| caller.0.authorize::<PortfoliosManage>(o).is_ok()
}

/// Transfer a portfolio to another organization.
///
/// The receiving organization, of the same environment and with the person
/// as a member (422 on `to_organization_id`), manages it and pays for it
/// from today (a warning on a month's last day). Needs `portfolios.manage`
/// here. When the caller has it in the receiving organization too, the
/// portfolio moves at once (200); otherwise that organization is asked
/// (202, a transfer request it accepts or declines). 409 for a completed
/// portfolio, or when a request is open already.
#[utoipa::path(post, operation_id = "portfolios_transfer", path = "/organizations/{org}/portfolios/{id}/transfer", tag = "portfolios", request_body = Transfer,
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioView, description = "Moved"), (status = 202, body = TransferRequestView, description = "Asked of the receiving organization"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transfer(
    State(state): State<AppState>,
    OrgAccess { caller, auth: from }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<Transfer>,
) -> Result<TransferOutcome, ApiError> {
    let id: Uuid = path_id("id", &id)?;
    let origin = Origin::now(client);
    let today = origin.now.date_naive();
    let done = crate::service::portfolios::transfer(
        &state,
        &from,
        body.to_organization_id.into(),
        &manages(&caller),
        id,
        today,
        &origin,
    )
    .await?;
    Ok(done.into())
}

/// A member's portfolios in this environment, also those another
/// organization manages (which this one can take over).
///
/// Needs `portfolios.manage`; 404 unless the person is a member here.
#[utoipa::path(get, operation_id = "member_portfolios_list", path = "/organizations/{org}/members/{account_id}/portfolios", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses((status = 200, body = PortfolioList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn of_member(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<PortfolioList>, ApiError> {
    let account = path_id("account_id", &account)?;
    if portier_store::members::get(&state.store, &auth, account)
        .await?
        .is_none()
    {
        return Err(portier_core::Error::NotFound { what: "member" }.into());
    }
    let items = portier_store::portfolios::of_member(&state.store, &auth, account).await?;
    Ok(Json(PortfolioList {
        items: items.iter().map(|p| PortfolioView::of(p, None)).collect(),
    }))
}

/// Take over a member's portfolio from the organization that manages it
/// (an organization that adds a person who has a portfolio elsewhere can
/// take over its management and billing).
///
/// From today this organization manages and pays for it (a warning on a
/// month's last day). Needs `portfolios.manage` here. When the caller has
/// it in the managing organization too, it moves at once (200); otherwise
/// that organization is asked (202, a transfer request). 404 unless it is
/// the member's and managed by another organization of the environment.
#[utoipa::path(post, operation_id = "member_portfolios_take_over", path = "/organizations/{org}/members/{account_id}/portfolios/{id}/take-over", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("account_id" = Uuid, Path, description = "The member's account id"), ("id" = Uuid, Path, description = "Portfolio id")),
    responses((status = 200, body = PortfolioView, description = "Moved"), (status = 202, body = TransferRequestView, description = "Asked of the managing organization"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn take_over(
    State(state): State<AppState>,
    OrgAccess { caller, auth: to }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account, id)): Path<(String, String, String)>,
) -> Result<TransferOutcome, ApiError> {
    let account = path_id("account_id", &account)?;
    let id: Uuid = path_id("id", &id)?;
    let origin = Origin::now(client);
    let today = origin.now.date_naive();
    let done = portier_store::portfolios::take_over(
        &state.store,
        &to,
        account,
        id,
        &manages(&caller),
        today,
        &origin,
    )
    .await?;
    Ok(done.into())
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransferRequestList {
    pub items: Vec<TransferRequestView>,
}

/// The transfer requests to or from this organization and those below it.
///
/// Needs `portfolios.manage`. `state` filters (`pending`, `accepted`,
/// `declined`, `withdrawn`); the newest first, at most 500.
#[utoipa::path(get, operation_id = "portfolio_transfers_list", path = "/organizations/{org}/portfolio-transfers", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"),
        ("state" = Option<String>, Query, description = "pending, accepted, declined or withdrawn")),
    responses((status = 200, body = TransferRequestList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transfer_requests(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<TransferRequestList>, ApiError> {
    let wanted = match q.get("state").map(String::as_str) {
        None => None,
        Some(s @ ("pending" | "accepted" | "declined" | "withdrawn")) => Some(s),
        Some(_) => {
            return Err(portier_core::FieldError::new(
                "state",
                "invalid",
                "a state is pending, accepted, declined or withdrawn",
            )
            .into());
        }
    };
    let items = portier_store::portfolios::transfer_requests(&state.store, &auth, wanted).await?;
    Ok(Json(TransferRequestList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// A transfer request as answered, with the portfolio when it moved.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TransferAnswered {
    pub request: TransferRequestView,
    /// The portfolio, now managed by the receiving organization (accepted).
    pub portfolio: Option<PortfolioView>,
}

async fn answer(
    state: &AppState,
    auth: &Authorized<PortfoliosManage>,
    client: Option<String>,
    id: &str,
    answer: portier_store::portfolios::Answer,
) -> Result<Json<TransferAnswered>, ApiError> {
    let id: Uuid = path_id("id", id)?;
    let origin = Origin::now(client);
    let today = origin.now.date_naive();
    let (request, moved) =
        portier_store::portfolios::answer(&state.store, auth, id, answer, today, &origin).await?;
    Ok(Json(TransferAnswered {
        request: request.into(),
        portfolio: moved.map(|(p, warning)| PortfolioView::of(&p, warning)),
    }))
}

/// Accept a transfer request: the portfolio moves now.
///
/// For the organization asked (or one above it), with `portfolios.manage`;
/// the receiving organization pays from today (a warning on a month's last
/// day). 409 when it is answered already or waits for the other side.
#[utoipa::path(post, operation_id = "portfolio_transfers_accept", path = "/organizations/{org}/portfolio-transfers/{id}/accept", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Transfer request id")),
    responses((status = 200, body = TransferAnswered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn accept_transfer(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<TransferAnswered>, ApiError> {
    use portier_store::portfolios::Answer;
    answer(&state, &auth, client, &id, Answer::Accept).await
}

/// Decline a transfer request; the side that asked withdraws it this way.
///
/// Needs `portfolios.manage` on either side. The portfolio stays where it
/// is. 409 when it is answered already.
#[utoipa::path(post, operation_id = "portfolio_transfers_decline", path = "/organizations/{org}/portfolio-transfers/{id}/decline", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"), ("id" = Uuid, Path, description = "Transfer request id")),
    responses((status = 200, body = TransferAnswered), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn decline_transfer(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<PortfoliosManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<TransferAnswered>, ApiError> {
    use portier_store::portfolios::Answer;
    answer(&state, &auth, client, &id, Answer::Decline).await
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BilledPortfolio {
    pub id: Uuid,
    pub account_id: Uuid,
    #[serde(rename = "type")]
    pub type_key: String,
    /// The organization (this one or one below it) that paid that month.
    pub organization_id: Uuid,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BilledMonth {
    /// `YYYY-MM`.
    pub month: String,
    /// The day counted: the month's last.
    pub reference_date: NaiveDate,
    pub billed: usize,
    /// Why each counts: active on the reference date, paid for by this
    /// organization or one below it.
    pub portfolios: Vec<BilledPortfolio>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillingReport {
    pub billing_cycle: BillingCycle,
    /// For an annually billed organization: why no month counts.
    pub note: Option<String>,
    pub months: Vec<BilledMonth>,
}

/// What the organization is billed for, per month.
///
/// Per month from `from` to `to` (`YYYY-MM`, both included, at most 120
/// months): the portfolios of this organization and those below it that
/// were active on the month's last day. Quarterly invoices count the same
/// months; an annually billed organization is not counted monthly. With
/// `detail=false` each month gives its count only (an overview of many
/// months of a large organization). Needs `billing.read`.
#[utoipa::path(get, operation_id = "billing_report", path = "/organizations/{org}/billing", tag = "portfolios",
    params(("org" = Uuid, Path, description = "Organization id"),
        ("from" = String, Query, description = "First month, YYYY-MM"),
        ("to" = String, Query, description = "Last month, YYYY-MM"),
        ("detail" = Option<bool>, Query, description = "List the portfolios counted (default true)")),
    responses((status = 200, body = BillingReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn billing(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<BillingRead, Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<BillingReport>, ApiError> {
    let org = auth.organization();
    let month = |name: &str| -> Result<Month, ApiError> {
        let raw = q.get(name).ok_or_else(|| {
            portier_core::FieldError::new(name, "required", "give the month as YYYY-MM")
        })?;
        Ok(Month::parse(name, raw)?)
    };
    let months = Month::range(month("from")?, month("to")?)?;
    let detail = match q.get("detail").map(String::as_str) {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(portier_core::FieldError::new("detail", "invalid", "true or false").into());
        }
    };
    let month_of = |month: Month, billed: usize, portfolios: Vec<BilledPortfolio>| BilledMonth {
        month: month.to_string(),
        reference_date: month.last_day(),
        billed,
        portfolios,
    };
    let months: Vec<BilledMonth> = if detail {
        let bills = portier_store::portfolios::report(&state.store, &auth, &months).await?;
        bills
            .into_iter()
            .map(|(month, counted)| {
                let listed = counted
                    .iter()
                    .map(|p| BilledPortfolio {
                        id: p.portfolio,
                        account_id: p.account,
                        type_key: p.type_key.clone(),
                        organization_id: p.organization,
                    })
                    .collect();
                month_of(month, counted.len(), listed)
            })
            .collect()
    } else {
        let counts = portier_store::portfolios::counts(&state.store, &auth, &months).await?;
        counts
            .into_iter()
            .map(|(month, n)| month_of(month, usize::try_from(n).unwrap_or(0), Vec::new()))
            .collect()
    };
    let cycle = org.settings.billing_cycle;
    Ok(Json(BillingReport {
        billing_cycle: cycle,
        note: (!cycle.counted_monthly()).then(|| {
            "this organization is billed annually: its portfolios are not counted per month"
                .to_owned()
        }),
        months,
    }))
}
