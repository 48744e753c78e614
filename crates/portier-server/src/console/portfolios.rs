//! Portfolios in the console (docs/PORTFOLIOS.md): the organization's
//! portfolios with a chart of what it was billed for over two years, one
//! portfolio with who paid for which months and what can happen to it, the
//! transfers that wait for an answer, the environment's portfolio types, and
//! a member's portfolios on their page. Whatever would start billing on the
//! last day of a month (the reference date) is said before it is saved, with
//! the way to avoid it.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use portier_core::ids::AccountId;
use portier_core::organizations::Organization;
use portier_core::portfolios::{Month, PortfolioState, PortfolioType, Warning, start_warning};
use portier_core::rights::{BillingRead, PortfoliosManage};
use portier_store::audit::Origin;
use portier_store::portfolios::{Answer, Change, TransferRequest, Transferred};
use serde::Deserialize;
use uuid::Uuid;

use super::org::{
    FormFields, NavLink, OrgContext, Problem, Refusal, Section, optional, org_context,
};
use super::roles::name_in;
use super::{I18n, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/portfolios", get(overview))
        .route("/orgs/{org}/portfolios/types", post(create_type))
        .route("/orgs/{org}/portfolios/{id}", get(show))
        .route("/orgs/{org}/portfolios/{id}/{action}", post(act))
        .route(
            "/orgs/{org}/portfolio-transfers/{id}/{answer}",
            post(answer),
        )
        .route("/orgs/{org}/members/{account}/portfolios", post(give))
        .route(
            "/orgs/{org}/members/{account}/portfolios/{id}/take-over",
            post(take_over),
        )
}

/// The warning of billing that begins on `day`, in the viewer's language.
pub fn warning_text(i18n: &I18n, w: &Warning, day: NaiveDate) -> String {
    let month = Month::of(day);
    i18n.tn(
        "warn-billed-for-this-month",
        &[
            ("day", &i18n.day(day)),
            ("month", &i18n.month(month)),
            ("next", &i18n.month(month.next())),
            ("tomorrow", &i18n.day(w.avoid_by_starting_on)),
        ],
    )
}

/// The warning for billing `payer` from `day` on, unless the form says it
/// was seen (`billing_ok`).
fn unconfirmed(fields: &FormFields, day: NaiveDate, payer: &Organization) -> Option<Warning> {
    if fields.has("billing_ok") {
        return None;
    }
    start_warning(day, payer.settings.billing_cycle)
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The environment's portfolio types: (key, name in the viewer's language).
pub(super) async fn type_names(
    state: &AppState,
    org: &Organization,
    i18n: &I18n,
) -> Result<Vec<(String, String)>, ApiError> {
    Ok(portier_store::portfolios::types(&state.store, org)
        .await?
        .into_iter()
        .map(|t| {
            let name = name_in(i18n, &t.name);
            (t.key, name)
        })
        .collect())
}

fn type_name(types: &[(String, String)], key: &str) -> String {
    types
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| key.to_owned(), |(_, n)| n.clone())
}

fn state_text(i18n: &I18n, state: PortfolioState) -> String {
    i18n.t(&format!("portfolio-state-{}", state.as_str()))
}

async fn org_name(state: &AppState, id: Uuid) -> Result<String, ApiError> {
    Ok(portier_store::organizations::get(&state.store, id.into())
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// Within `org` or below it.
fn within(org: &Organization, other: &Organization) -> bool {
    other.path.as_str().starts_with(org.path.as_str())
}

/// The confirmation asked before something starts billing on a month's last
/// day: go ahead (billed), or start the next day instead.
#[derive(Template, WebTemplate)]
#[template(path = "portfolios/confirm.html")]
pub struct ConfirmPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub warning: String,
    /// Where the form goes, and what it carried.
    pub action: String,
    pub fields: Vec<(String, String)>,
    /// Another start date that avoids it, where the action takes one.
    pub instead: Option<String>,
    pub instead_label: String,
    pub back: String,
}

/// What a confirmation is about: the warning for billing from `day`, the
/// form to send again (to `action`, with `fields`), whether the action takes
/// a start date (then another one is offered), and where cancelling goes.
struct Confirm<'a> {
    warning: &'a Warning,
    day: NaiveDate,
    action: String,
    fields: &'a FormFields,
    dated: bool,
    back: String,
}

fn confirm(person: &Person, ctx: &OrgContext, section: Section, c: Confirm<'_>) -> Response {
    let Confirm {
        warning,
        day,
        action,
        fields,
        dated,
        back,
    } = c;
    let i18n = person.viewer.i18n;
    ConfirmPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, section),
        org: ctx.org.clone(),
        warning: warning_text(&i18n, warning, day),
        action,
        fields: fields
            .pairs()
            .iter()
            .filter(|(n, _)| n != "billing_ok" && n != "start_date")
            .cloned()
            .chain(dated.then(|| ("start_date".to_owned(), day.to_string())))
            .collect(),
        instead: dated.then(|| warning.avoid_by_starting_on.to_string()),
        instead_label: i18n.t1(
            "portfolio-start-instead",
            "date",
            &i18n.day(warning.avoid_by_starting_on),
        ),
        back,
    }
    .into_response()
}

/// A portfolio in a list.
pub struct Row {
    pub id: String,
    pub person: String,
    pub email: String,
    pub account_id: String,
    pub type_name: String,
    pub organization: String,
    pub start: String,
    pub state: &'static str,
    pub state_text: String,
}

/// One bar of the chart, with its place in the drawing.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub value: i64,
    /// What hovering it (and a screen reader) says.
    pub title: String,
    /// The month under it, on every third bar counted back from the last.
    pub label: Option<String>,
    pub label_x: u32,
}

/// Billed portfolios per month over 24 months, drawn on the server.
pub struct Chart {
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    /// Lines across at (y, value).
    pub ticks: Vec<(u32, i64)>,
    pub baseline: u32,
    pub title: String,
    /// The same figures as a table: (month, billed).
    pub months: Vec<(String, i64)>,
}

const CHART_MONTHS: i32 = 24;

impl Chart {
    fn of(i18n: &I18n, counts: &[(Month, i64)]) -> Chart {
        let (width, height, left, top, baseline) = (720u32, 230u32, 44u32, 12u32, 196u32);
        let max = counts.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
        let n = u32::try_from(counts.len().max(1)).unwrap_or(1);
        let slot = (width - left - 8) / n;
        let plot = baseline - top;
        let scale = |v: i64| -> u32 {
            let v = u64::try_from(v.max(0)).unwrap_or(0);
            u32::try_from(v * u64::from(plot) / u64::try_from(max).unwrap_or(1)).unwrap_or(plot)
        };
        let last = counts.len().saturating_sub(1);
        let bars = counts
            .iter()
            .enumerate()
            .map(|(i, (month, value))| {
                let h = scale(*value);
                let x = left + u32::try_from(i).unwrap_or(0) * slot + 2;
                Bar {
                    x,
                    y: baseline - h,
                    width: slot.saturating_sub(4).max(1),
                    height: h,
                    value: *value,
                    title: i18n.tn(
                        "portfolios-chart-bar",
                        &[
                            ("month", &i18n.month(*month)),
                            ("count", &value.to_string()),
                        ],
                    ),
                    label: (last - i)
                        .is_multiple_of(3)
                        .then(|| i18n.month_short(*month)),
                    label_x: x + slot.saturating_sub(4) / 2,
                }
            })
            .collect();
        let ticks = [0, max / 2, max]
            .into_iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|v| (baseline - scale(v), v))
            .collect();
        Chart {
            width,
            height,
            bars,
            ticks,
            baseline,
            title: i18n.t("portfolios-chart-title"),
            months: counts
                .iter()
                .rev()
                .map(|(m, v)| (i18n.month(*m), *v))
                .collect(),
        }
    }
}

/// The 24 months up to and including this one.
fn last_months(today: NaiveDate) -> Vec<Month> {
    let this = Month::of(today);
    let index = this.year * 12 + i32::try_from(this.month).unwrap_or(1) - 1 - (CHART_MONTHS - 1);
    let first = Month {
        year: index.div_euclid(12),
        month: u32::try_from(index.rem_euclid(12)).unwrap_or(0) + 1,
    };
    Month::range(first, this).unwrap_or_default()
}

/// A transfer waiting for an answer.
pub struct TransferRow {
    pub id: String,
    /// Whose portfolio, of which type, from where to where.
    pub line: String,
    /// This organization (or one below it) is the side asked.
    pub ours_to_answer: bool,
    pub resume: bool,
    pub requested: String,
}

async fn transfer_rows(
    state: &AppState,
    org: &Organization,
    i18n: &I18n,
    types: &[(String, String)],
    requests: Vec<TransferRequest>,
) -> Result<Vec<TransferRow>, ApiError> {
    let mut rows = Vec::new();
    for r in requests {
        let asked = portier_store::organizations::get(&state.store, r.awaiting().into()).await?;
        let person = portier_store::accounts::get(&state.store, r.account_id)
            .await?
            .map(|a| a.display_name())
            .unwrap_or_default();
        let (from, to) = (
            org_name(state, r.from_organization_id).await?,
            org_name(state, r.to_organization_id).await?,
        );
        rows.push(TransferRow {
            id: r.id.to_string(),
            line: i18n.tn(
                "portfolios-transfer-line",
                &[
                    ("person", &person),
                    ("type", &type_name(types, &r.type_key)),
                    ("from", &from),
                    ("to", &to),
                ],
            ),
            ours_to_answer: asked.is_some_and(|a| within(org, &a)),
            resume: r.resume,
            requested: i18n.moment(r.requested_at),
        });
    }
    Ok(rows)
}

#[derive(Deserialize, Default)]
pub struct OverviewQuery {
    state: Option<String>,
    #[serde(rename = "type")]
    type_key: Option<String>,
    done: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolios/overview.html")]
pub struct OverviewPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    /// `active` (the default), `deactivated`, `completed` or `all`.
    pub state_filter: String,
    pub type_filter: String,
    pub types: Vec<(String, String)>,
    pub rows: Vec<Row>,
    /// Shown to those who may read what the organization is billed for.
    pub chart: Option<Chart>,
    /// Billed annually: no month is counted.
    pub annual: bool,
    pub transfers: Vec<TransferRow>,
    /// The new-type form: key, English name, Dutch name.
    pub type_form: (String, String, String),
    pub notice: Option<String>,
    pub problem: Option<Problem>,
}

impl Refusal for OverviewPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl OverviewPage {
    fn general(&self) -> String {
        self.general_error(&["key", "name"])
    }

    fn states(&self) -> Vec<(&'static str, String)> {
        ["active", "deactivated", "completed", "all"]
            .into_iter()
            .map(|s| (s, self.page.i18n.t(&format!("portfolio-state-{s}"))))
            .collect()
    }
}

/// At most this many portfolios on the overview; filters narrow it.
const SHOWN: i64 = 500;

async fn overview_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext,
    q: OverviewQuery,
    type_form: (String, String, String),
    problem: Option<Problem>,
) -> Result<OverviewPage, ApiError> {
    let i18n = person.viewer.i18n;
    let types = type_names(state, &ctx.org, &i18n).await?;
    let state_filter = q.state.unwrap_or_else(|| "active".to_owned());
    let wanted = PortfolioState::parse(&state_filter);
    let type_filter = q.type_key.unwrap_or_default();
    let listed = portier_store::portfolios::list(
        &state.store,
        &ctx.org,
        wanted,
        optional(&type_filter).as_deref(),
        SHOWN,
    )
    .await?;
    let rows = listed
        .into_iter()
        .map(|l| Row {
            id: l.portfolio.id.to_string(),
            account_id: l.portfolio.account_id.to_string(),
            type_name: type_name(&types, &l.portfolio.type_key),
            organization: l.organization_name,
            start: i18n.day(l.portfolio.start_date),
            state: l.portfolio.state.as_str(),
            state_text: state_text(&i18n, l.portfolio.state),
            person: l.person,
            email: l.email,
        })
        .collect();
    let annual = !ctx.org.settings.billing_cycle.counted_monthly();
    let chart = if ctx.may::<BillingRead>() && !annual {
        let months = last_months(today());
        let counts = portier_store::portfolios::counts(&state.store, &ctx.org, &months).await?;
        Some(Chart::of(&i18n, &counts))
    } else {
        None
    };
    let pending =
        portier_store::portfolios::transfer_requests(&state.store, &ctx.org, Some("pending"))
            .await?;
    let transfers = transfer_rows(state, &ctx.org, &i18n, &types, pending).await?;
    Ok(OverviewPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Portfolios),
        org: ctx.org.clone(),
        state_filter,
        type_filter,
        types,
        rows,
        chart,
        annual,
        transfers,
        type_form,
        notice: i18n.done(q.done.as_deref()),
        problem,
    })
}

async fn overview(
    State(state): State<AppState>,
    person: Person,
    Path(org): Path<String>,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    overview_page(&state, &person, &ctx, q, Default::default(), None)
        .await
        .into_response()
}

/// The overview again with a refusal (a new type, or a transfer's answer).
async fn overview_refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext,
    e: ApiError,
    type_form: (String, String, String),
) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let problem = Problem::of(&person.viewer.i18n, &e);
    match overview_page(
        state,
        person,
        ctx,
        OverviewQuery::default(),
        type_form,
        Some(problem),
    )
    .await
    {
        Ok(page) => (e.status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn create_type(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path(org): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let fields = FormFields::of(&raw);
    let form = (
        fields.one("key"),
        fields.one("name_en"),
        fields.one("name_nl"),
    );
    let created = async {
        let auth = ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
        let new = PortfolioType::parse(
            form.0.trim(),
            Some(form.1.as_str()),
            optional(&form.2).as_deref(),
        )?;
        portier_store::portfolios::create_type(&state.store, &auth, new, &Origin::now(client))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match created {
        Ok(()) => Redirect::to(&format!(
            "/orgs/{}/portfolios?done=portfolio-type-created",
            ctx.org.id
        ))
        .into_response(),
        Err(e) => overview_refused(&state, &person, &ctx, e, form).await,
    }
}

/// One stretch of a portfolio's history.
pub struct HistoryRow {
    pub organization: String,
    pub from: String,
    pub until: String,
    pub months: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "portfolios/show.html")]
pub struct ShowPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub portfolio: Row,
    pub history: Vec<HistoryRow>,
    /// The person's other organizations of the environment: (id, name).
    pub destinations: Vec<(String, String)>,
    pub pending: Vec<TransferRow>,
    pub notice: Option<String>,
    pub problem: Option<Problem>,
}

impl Refusal for ShowPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl ShowPage {
    fn general(&self) -> String {
        self.general_error(&["to_organization_id"])
    }
}

/// The person's organizations in `org`'s environment other than `except`:
/// where a portfolio can go.
async fn destinations(
    state: &AppState,
    org: &Organization,
    account: AccountId,
    except: Uuid,
) -> Result<Vec<(String, String)>, ApiError> {
    let mut found = Vec::new();
    for m in portier_store::members::memberships_of(&state.store, account).await? {
        let Some(o) = portier_store::organizations::get(&state.store, m.organization_id).await?
        else {
            continue;
        };
        if o.environment_id == org.environment_id && o.id.0 != except {
            found.push((o.id.to_string(), o.name));
        }
    }
    Ok(found)
}

async fn show_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext,
    id: Uuid,
    notice: Option<String>,
    problem: Option<Problem>,
) -> Result<ShowPage, ApiError> {
    let i18n = person.viewer.i18n;
    let (p, stretches) =
        portier_store::portfolios::get_with_history(&state.store, &ctx.org, id).await?;
    let types = type_names(state, &ctx.org, &i18n).await?;
    let account = portier_store::accounts::get(&state.store, p.account_id).await?;
    let this_month = Month::of(today());
    let mut history = Vec::new();
    for s in stretches {
        let months: Vec<String> = s
            .months(this_month)
            .into_iter()
            .map(|m| i18n.month(m))
            .collect();
        history.push(HistoryRow {
            organization: org_name(state, s.organization_id).await?,
            from: i18n.day(s.from_date),
            until: s.until_date.map(|u| i18n.day(u)).unwrap_or_default(),
            months: months.join(", "),
        });
    }
    let requests =
        portier_store::portfolios::transfer_requests(&state.store, &ctx.org, Some("pending"))
            .await?
            .into_iter()
            .filter(|r| r.portfolio_id == p.id)
            .collect();
    let pending = transfer_rows(state, &ctx.org, &i18n, &types, requests).await?;
    Ok(ShowPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Portfolios),
        destinations: destinations(state, &ctx.org, p.account_id, p.organization_id).await?,
        portfolio: Row {
            id: p.id.to_string(),
            person: account
                .as_ref()
                .map(|a| a.display_name())
                .unwrap_or_default(),
            email: account.map(|a| a.email.to_string()).unwrap_or_default(),
            account_id: p.account_id.to_string(),
            type_name: type_name(&types, &p.type_key),
            organization: org_name(state, p.organization_id).await?,
            start: i18n.day(p.start_date),
            state: p.state.as_str(),
            state_text: state_text(&i18n, p.state),
        },
        history,
        pending,
        org: ctx.org.clone(),
        notice,
        problem,
    })
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

fn not_found(person: &Person) -> Response {
    error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found")
}

async fn show(
    State(state): State<AppState>,
    person: Person,
    Path((org, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let Ok(id) = id.parse() else {
        return not_found(&person);
    };
    let notice = person.viewer.i18n.done(q.done.as_deref());
    match show_page(&state, &person, &ctx, id, notice, None).await {
        Ok(page) => page.into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND => not_found(&person),
        Err(e) => e.into_response(),
    }
}

/// Deactivate, complete, reactivate or transfer one portfolio.
async fn act(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, id, action)): Path<(String, String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&person);
    };
    let fields = FormFields::of(&raw);
    let here = format!("/orgs/{}/portfolios/{id}", ctx.org.id);
    let p = match portier_store::portfolios::get_within(&state.store, &ctx.org, id).await {
        Ok(found) => found,
        Err(e) => {
            let e = ApiError::from(e);
            return if e.status == StatusCode::NOT_FOUND {
                not_found(&person)
            } else {
                e.into_response()
            };
        }
    };
    let origin = Origin::now(client);
    let day = origin.now.date_naive().max(p.start_date);
    let manages = |o: &Organization| ctx.principal.authorize::<PortfoliosManage>(o).is_ok();
    let done = async {
        let auth = ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
        let today = origin.now.date_naive();
        let change = match action.as_str() {
            "deactivate" => Change::Deactivate,
            "complete" => Change::Complete,
            "reactivate" => Change::Reactivate,
            "transfer" => {
                let to: portier_core::ids::OrganizationId =
                    crate::extract::path_id("to_organization_id", &fields.one("to"))?;
                let dest = portier_store::organizations::get(&state.store, to).await?;
                if let Some(dest) = dest.filter(|d| manages(d))
                    && let Some(w) = unconfirmed(&fields, day, &dest)
                {
                    return Ok(Err(w));
                }
                let moved = portier_store::portfolios::transfer(
                    &state.store,
                    &auth,
                    to,
                    &manages,
                    id,
                    today,
                    &origin,
                )
                .await?;
                return Ok(Ok(match moved {
                    Transferred::Done(..) => "portfolio-transferred",
                    Transferred::Asked(_) => "transfer-asked",
                }));
            }
            _ => return Err(portier_core::Error::NotFound { what: "page" }.into()),
        };
        if change == Change::Reactivate {
            let manager =
                portier_store::organizations::get(&state.store, p.organization_id.into()).await?;
            if let Some(w) = manager.and_then(|m| unconfirmed(&fields, day, &m)) {
                return Ok(Err(w));
            }
        }
        portier_store::portfolios::change(&state.store, &auth, id, change, today, &origin).await?;
        Ok::<_, ApiError>(Ok(match change {
            Change::Deactivate => "portfolio-deactivated",
            Change::Complete => "portfolio-completed",
            Change::Reactivate => "portfolio-reactivated",
        }))
    }
    .await;
    match done {
        Ok(Ok(key)) if key == "portfolio-transferred" => {
            Redirect::to(&format!("/orgs/{}/portfolios?done={key}", ctx.org.id)).into_response()
        }
        Ok(Ok(key)) => Redirect::to(&format!("{here}?done={key}")).into_response(),
        Ok(Err(w)) => confirm(
            &person,
            &ctx,
            Section::Portfolios,
            Confirm {
                warning: &w,
                day,
                action: format!("{here}/{action}"),
                fields: &fields,
                dated: false,
                back: here,
            },
        ),
        Err(e) if e.status == StatusCode::NOT_FOUND && e.body.error.field.is_none() => {
            not_found(&person)
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            match show_page(&state, &person, &ctx, id, None, Some(problem)).await {
                Ok(page) => (e.status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}

/// Accept or decline a transfer request.
async fn answer(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, id, answer)): Path<(String, String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let (Ok(id), Some(answer)) = (
        id.parse::<Uuid>(),
        match answer.as_str() {
            "accept" => Some(Answer::Accept),
            "decline" => Some(Answer::Decline),
            _ => None,
        },
    ) else {
        return not_found(&person);
    };
    let fields = FormFields::of(&raw);
    let origin = Origin::now(client);
    let overview = format!("/orgs/{}/portfolios", ctx.org.id);
    if matches!(answer, Answer::Accept) {
        match accept_warning(&state, &ctx, id, &fields, origin.now.date_naive()).await {
            Ok(Some((w, day))) => {
                let action = format!("/orgs/{}/portfolio-transfers/{id}/accept", ctx.org.id);
                return confirm(
                    &person,
                    &ctx,
                    Section::Portfolios,
                    Confirm {
                        warning: &w,
                        day,
                        action,
                        fields: &fields,
                        dated: false,
                        back: overview,
                    },
                );
            }
            Ok(None) => {}
            Err(e) => return overview_refused(&state, &person, &ctx, e, Default::default()).await,
        }
    }
    let answered = async {
        let auth = ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
        let today = origin.now.date_naive();
        Ok::<_, ApiError>(
            portier_store::portfolios::answer(&state.store, &auth, id, answer, today, &origin)
                .await?,
        )
    }
    .await;
    match answered {
        Ok((request, _)) => {
            Redirect::to(&format!("{overview}?done=transfer-{}", request.state)).into_response()
        }
        Err(e) => overview_refused(&state, &person, &ctx, e, Default::default()).await,
    }
}

/// The warning of accepting request `id` today, unless confirmed: the
/// receiving organization pays from the day it moves.
async fn accept_warning(
    state: &AppState,
    ctx: &OrgContext,
    id: Uuid,
    fields: &FormFields,
    today: NaiveDate,
) -> Result<Option<(Warning, NaiveDate)>, ApiError> {
    let Some(request) = portier_store::portfolios::transfer_request(&state.store, id).await? else {
        return Ok(None);
    };
    let from = portier_store::organizations::get(&state.store, request.from_organization_id.into())
        .await?;
    let to =
        portier_store::organizations::get(&state.store, request.to_organization_id.into()).await?;
    let (Some(from), Some(to)) = (from, to) else {
        return Ok(None);
    };
    if !within(&ctx.org, &from) && !within(&ctx.org, &to) {
        return Ok(None);
    }
    let p =
        portier_store::portfolios::get_within(&state.store, &from, request.portfolio_id).await?;
    let starts = p.state == PortfolioState::Active
        || (request.resume && p.state == PortfolioState::Deactivated);
    let day = today.max(p.start_date);
    Ok(starts
        .then(|| unconfirmed(fields, day, &to))
        .flatten()
        .map(|w| (w, day)))
}

/// A member's portfolios, on their page.
pub struct MemberPortfolio {
    pub id: String,
    pub type_name: String,
    pub state: &'static str,
    pub state_text: String,
    pub start: String,
    pub organization: String,
    /// Managed here or below: its page can be opened.
    pub here: bool,
    /// Managed by another organization of the environment, not completed:
    /// this one can take it over.
    pub take_over: bool,
}

/// What the member page shows and offers about portfolios.
pub struct MemberPortfolios {
    pub items: Vec<MemberPortfolio>,
    pub types: Vec<(String, String)>,
    /// Where an active portfolio can go when the member leaves: (id, name).
    pub destinations: Vec<(String, String)>,
    /// An active portfolio managed by this very organization: removing the
    /// member asks what becomes of it.
    pub active_here: bool,
    /// The earliest start date, `YYYY-MM-DD`.
    pub today: String,
}

/// The member page's portfolio card, for those who manage portfolios here.
pub async fn for_member(
    state: &AppState,
    ctx: &OrgContext,
    i18n: &I18n,
    account: AccountId,
) -> Result<Option<MemberPortfolios>, ApiError> {
    if !ctx.may::<PortfoliosManage>() {
        return Ok(None);
    }
    let types = type_names(state, &ctx.org, i18n).await?;
    let mut items = Vec::new();
    let mut active_here = false;
    for p in portier_store::portfolios::of_member(&state.store, &ctx.org, account).await? {
        let manager = portier_store::organizations::get(&state.store, p.organization_id.into())
            .await?
            .ok_or(portier_core::Error::NotFound {
                what: "organization",
            })?;
        active_here |= manager.id == ctx.org.id && p.state == PortfolioState::Active;
        let here = within(&ctx.org, &manager);
        items.push(MemberPortfolio {
            id: p.id.to_string(),
            type_name: type_name(&types, &p.type_key),
            state: p.state.as_str(),
            state_text: state_text(i18n, p.state),
            start: i18n.day(p.start_date),
            organization: manager.name,
            here,
            take_over: !here && p.state != PortfolioState::Completed,
        });
    }
    Ok(Some(MemberPortfolios {
        items,
        types,
        destinations: destinations(state, &ctx.org, account, ctx.org.id.0).await?,
        active_here,
        today: today().to_string(),
    }))
}

/// Give a member a portfolio, from their page.
async fn give(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let Ok(account) = account.parse::<AccountId>() else {
        return not_found(&person);
    };
    let fields = FormFields::of(&raw);
    let origin = Origin::now(client);
    let start = optional(&fields.one("start_date"));
    let given = async {
        let auth = ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
        let start =
            portier_core::portfolios::start_date(start.as_deref(), origin.now.date_naive())?;
        if let Some(w) = unconfirmed(&fields, start, &ctx.org) {
            return Ok(Err((w, start)));
        }
        portier_store::portfolios::create(
            &state.store,
            &auth,
            account,
            fields.one("type").trim(),
            start,
            &origin,
        )
        .await?;
        Ok::<_, ApiError>(Ok(()))
    }
    .await;
    let page = format!("/orgs/{}/members/{account}", ctx.org.id);
    match given {
        Ok(Err((w, day))) => confirm(
            &person,
            &ctx,
            Section::Members,
            Confirm {
                warning: &w,
                day,
                action: format!("{page}/portfolios"),
                fields: &fields,
                dated: true,
                back: page,
            },
        ),
        Ok(Ok(())) => {
            super::members::after(
                &state,
                &person,
                &org,
                account,
                "portfolio-given",
                Ok(()),
                None,
            )
            .await
        }
        Err(e) => super::members::after(&state, &person, &org, account, "", Err(e), None).await,
    }
}

/// Take over a member's portfolio that another organization manages.
async fn take_over(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account, id)): Path<(String, String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<PortfoliosManage>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let (Ok(account), Ok(id)) = (account.parse::<AccountId>(), id.parse::<Uuid>()) else {
        return not_found(&person);
    };
    let fields = FormFields::of(&raw);
    let origin = Origin::now(client);
    let manages = |o: &Organization| ctx.principal.authorize::<PortfoliosManage>(o).is_ok();
    let done = async {
        let auth = ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
        let today = origin.now.date_naive();
        let theirs = portier_store::portfolios::of_member(&state.store, &ctx.org, account)
            .await?
            .into_iter()
            .find(|p| p.id == id);
        if let Some(p) = theirs.filter(|p| p.state == PortfolioState::Active) {
            let manager =
                portier_store::organizations::get(&state.store, p.organization_id.into()).await?;
            let day = today.max(p.start_date);
            if manager.is_some_and(|m| manages(&m))
                && let Some(w) = unconfirmed(&fields, day, &ctx.org)
            {
                return Ok(Err((w, day)));
            }
        }
        let moved = portier_store::portfolios::take_over(
            &state.store,
            &auth,
            account,
            id,
            &manages,
            today,
            &origin,
        )
        .await?;
        Ok::<_, ApiError>(Ok(match moved {
            Transferred::Done(..) => "portfolio-taken-over",
            Transferred::Asked(_) => "take-over-asked",
        }))
    }
    .await;
    let page = format!("/orgs/{}/members/{account}", ctx.org.id);
    match done {
        Ok(Err((w, day))) => confirm(
            &person,
            &ctx,
            Section::Members,
            Confirm {
                warning: &w,
                day,
                action: format!("{page}/portfolios/{id}/take-over"),
                fields: &fields,
                dated: false,
                back: page,
            },
        ),
        Ok(Ok(key)) => {
            super::members::after(&state, &person, &org, account, key, Ok(()), None).await
        }
        Err(e) => super::members::after(&state, &person, &org, account, "", Err(e), None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_spans_the_24_months_up_to_this_one() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
        let months = last_months(day);
        assert_eq!(months.len(), 24);
        assert_eq!(
            months[0],
            Month {
                year: 2024,
                month: 3
            }
        );
        assert_eq!(
            months[23],
            Month {
                year: 2026,
                month: 2
            }
        );
        let i18n = I18n {
            locale: portier_core::locale::Locale::Nl,
        };
        let counts: Vec<(Month, i64)> = months.iter().map(|m| (*m, i64::from(m.month))).collect();
        let chart = Chart::of(&i18n, &counts);
        // The tallest bar (December) fills the plot; the rest in proportion.
        let tallest = chart.bars.iter().max_by_key(|b| b.height).unwrap();
        assert_eq!((tallest.value, tallest.y), (12, 12));
        let march = &chart.bars[0];
        assert_eq!(march.height, (196 - 12) * 3 / 12);
        assert_eq!(march.label, None);
        assert_eq!(chart.bars[2].label.as_deref(), Some("mei 2024"));
        assert_eq!(chart.bars[23].label.as_deref(), Some("feb 2026"));
        assert_eq!(chart.months[0], ("februari 2026".to_owned(), 2));
        assert!(chart.bars.iter().all(|b| b.y + b.height == chart.baseline));
    }
}
