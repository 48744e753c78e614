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
use axum::extract::{Path, Query, State};
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

use super::form::Posted;
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, optional};
use super::roles::name_in;
use super::{I18n, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

mod member;
mod overview;
mod show;

pub(crate) use member::*;
pub(crate) use overview::*;
pub(crate) use show::*;

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

/// The forms that give, change, transfer or take over a portfolio, and
/// accept a transfer: what each sends of these, and whether the billing
/// warning was seen (docs/PORTFOLIOS.md#the-reference-date).
#[derive(Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct PortfolioForm {
    /// The type of a portfolio to give.
    #[serde(rename = "type")]
    pub kind: String,
    pub start_date: String,
    /// The organization a transfer goes to.
    pub to: String,
    #[serde(deserialize_with = "crate::console::form::ticked")]
    pub billing_ok: bool,
}

impl PortfolioForm {
    /// What the confirmation sends again, besides the start date and the
    /// billing warning seen.
    fn carried(&self) -> Vec<(String, String)> {
        [("type", &self.kind), ("to", &self.to)]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| (n.to_owned(), v.clone()))
            .collect()
    }
}

/// The warning for billing `payer` from `day` on, unless the form says it
/// was seen (`billing_ok`).
pub(crate) fn unconfirmed(
    form: &PortfolioForm,
    day: NaiveDate,
    payer: &Organization,
) -> Option<Warning> {
    if form.billing_ok {
        return None;
    }
    start_warning(day, payer.settings.billing_cycle)
}

pub(crate) fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The environment's portfolio types: (key, name in the viewer's language).
pub(crate) async fn type_names(
    state: &AppState,
    auth: &portier_core::rights::Authorized<impl portier_core::rights::Right>,
    i18n: &I18n,
) -> Result<Vec<(String, String)>, ApiError> {
    Ok(portier_store::portfolios::types(&state.store, auth)
        .await?
        .into_iter()
        .map(|t| {
            let name = name_in(i18n, &t.name);
            (t.key, name)
        })
        .collect())
}

pub(crate) fn type_name(types: &[(String, String)], key: &str) -> String {
    types
        .iter()
        .find(|(k, _)| k == key)
        .map_or_else(|| key.to_owned(), |(_, n)| n.clone())
}

pub(crate) fn state_text(i18n: &I18n, state: PortfolioState) -> String {
    i18n.t(&format!("portfolio-state-{}", state.as_str()))
}

pub(crate) async fn org_name(state: &AppState, id: Uuid) -> Result<String, ApiError> {
    Ok(portier_store::organizations::get(&state.store, id.into())
        .await?
        .map(|o| o.name)
        .unwrap_or_default())
}

/// Within `org` or below it.
pub(crate) fn within(org: &Organization, other: &Organization) -> bool {
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
pub(crate) struct Confirm<'a> {
    warning: &'a Warning,
    day: NaiveDate,
    action: String,
    fields: &'a PortfolioForm,
    dated: bool,
    back: String,
}

pub(crate) fn confirm(
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    section: Section,
    c: Confirm<'_>,
) -> Response {
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
            .carried()
            .into_iter()
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
