//! One portfolio's page: its history and the changes made there (deactivate,
//! reactivate, complete, transfer), and answers to transfer requests.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

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
pub(crate) async fn destinations(
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

pub(crate) async fn show_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    id: Uuid,
    notice: Option<String>,
    problem: Option<Problem>,
) -> Result<ShowPage, ApiError> {
    let i18n = person.viewer.i18n;
    let (p, stretches) = portier_store::portfolios::get_with_history(
        &state.store,
        &ctx.and::<portier_core::rights::PortfoliosManage>()?,
        id,
    )
    .await?;
    let types = type_names(state, &ctx.auth, &i18n).await?;
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
    let requests = portier_store::portfolios::transfer_requests(
        &state.store,
        &ctx.and::<portier_core::rights::PortfoliosManage>()?,
        Some("pending"),
    )
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

pub(crate) fn not_found(person: &Person) -> Response {
    error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found")
}

pub(crate) async fn show(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let (person, ctx) = access.page();
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
pub(crate) async fn act(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, id, action)): Path<(String, String, String)>,
    Posted(fields): Posted<PortfolioForm>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(id) = id.parse::<Uuid>() else {
        return not_found(&person);
    };
    let here = format!("/orgs/{}/portfolios/{id}", ctx.org.id);
    let p = match portier_store::portfolios::get_within(&state.store, &ctx.auth, id).await {
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
        let auth = ctx.auth.and::<PortfoliosManage>()?;
        let today = origin.now.date_naive();
        let change = match action.as_str() {
            "deactivate" => Change::Deactivate,
            "complete" => Change::Complete,
            "reactivate" => Change::Reactivate,
            "transfer" => {
                let to: portier_core::ids::OrganizationId =
                    crate::extract::path_id("to_organization_id", &fields.to)?;
                let dest = portier_store::organizations::get(&state.store, to).await?;
                if let Some(dest) = dest.filter(|d| manages(d))
                    && let Some(w) = unconfirmed(&fields, day, &dest)
                {
                    return Ok(Err(w));
                }
                let moved = crate::service::portfolios::transfer(
                    &state, &auth, to, &manages, id, today, &origin,
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
        crate::service::portfolios::change(&state, &auth, id, change, today, &origin).await?;
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
pub(crate) async fn answer(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, id, answer)): Path<(String, String, String)>,
    Posted(fields): Posted<PortfolioForm>,
) -> Response {
    let (person, ctx) = access.page();
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
        let auth = ctx.auth.and::<PortfoliosManage>()?;
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
pub(crate) async fn accept_warning(
    state: &AppState,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    id: Uuid,
    fields: &PortfolioForm,
    today: NaiveDate,
) -> Result<Option<(Warning, NaiveDate)>, ApiError> {
    let Some(requested) =
        portier_store::portfolios::requested(&state.store, &ctx.and::<PortfoliosManage>()?, id)
            .await?
    else {
        return Ok(None);
    };
    let (request, to, p) = (requested.request, requested.to, requested.portfolio);
    let starts = p.state == PortfolioState::Active
        || (request.resume && p.state == PortfolioState::Deactivated);
    let day = today.max(p.start_date);
    Ok(starts
        .then(|| unconfirmed(fields, day, &to))
        .flatten()
        .map(|w| (w, day)))
}
