//! The portfolios overview: the active portfolios counted for billing, the
//! chart of the last months, transfer requests, and portfolio types.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

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

pub(crate) const CHART_MONTHS: i32 = 24;

impl Chart {
    pub(crate) fn of(i18n: &I18n, counts: &[(Month, i64)]) -> Chart {
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
pub(crate) fn last_months(today: NaiveDate) -> Vec<Month> {
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

pub(crate) async fn transfer_rows(
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
pub(crate) const SHOWN: i64 = 500;

pub(crate) async fn overview_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    q: OverviewQuery,
    type_form: (String, String, String),
    problem: Option<Problem>,
) -> Result<OverviewPage, ApiError> {
    let i18n = person.viewer.i18n;
    let types = type_names(state, &ctx.auth, &i18n).await?;
    let state_filter = q.state.unwrap_or_else(|| "active".to_owned());
    let wanted = PortfolioState::parse(&state_filter);
    let type_filter = q.type_key.unwrap_or_default();
    let listed = portier_store::portfolios::list(
        &state.store,
        &ctx.and::<portier_core::rights::PortfoliosManage>()?,
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
        let counts = portier_store::portfolios::counts(
            &state.store,
            &ctx.and::<portier_core::rights::BillingRead>()?,
            &months,
        )
        .await?;
        Some(Chart::of(&i18n, &counts))
    } else {
        None
    };
    let pending = portier_store::portfolios::transfer_requests(
        &state.store,
        &ctx.and::<portier_core::rights::PortfoliosManage>()?,
        Some("pending"),
    )
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

pub(crate) async fn overview(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    Query(q): Query<OverviewQuery>,
) -> Response {
    let (person, ctx) = access.page();
    overview_page(&state, &person, &ctx, q, Default::default(), None)
        .await
        .into_response()
}

/// The overview again with a refusal (a new type, or a transfer's answer).
pub(crate) async fn overview_refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
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

/// The form that defines a portfolio type.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct TypeForm {
    key: String,
    name_en: String,
    name_nl: String,
}

pub(crate) async fn create_type(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(TypeForm {
        key,
        name_en,
        name_nl,
    }): Posted<TypeForm>,
) -> Response {
    let (person, ctx) = access.page();
    let form = (key, name_en, name_nl);
    let created = async {
        let auth = ctx.auth.and::<PortfoliosManage>()?;
        let new = PortfolioType::parse(
            form.0.trim(),
            Some(form.1.as_str()),
            optional(&form.2).as_deref(),
        )?;
        crate::service::portfolios::create_type(&state, &auth, new, &Origin::now(client)).await?;
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
