//! Organization settings: the name, the language of its mails, the password
//! policy (a preset or rules of its own), and the organizations below it.
//! Changed by holders of `org.update`; child organizations made by holders
//! of `org.create`.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::locale::Locale;
use portier_core::organizations::{BillingCycle, Organization, OrganizationPatch};
use portier_core::passwords::{PasswordPolicy, PolicyPreset};
use portier_core::rights::{OrgCreate, OrgUpdate};
use portier_store::audit::Origin;

use super::form::{Posted, ticked};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section};
use super::{Done, Page, Person};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/settings", get(show).post(update))
        .route("/orgs/{org}/settings/children", post(create_child))
}

/// What the settings form holds (a checkbox is ticked when sent).
#[derive(Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct Values {
    pub name: String,
    pub locale: String,
    /// `standard`, `nist` or `custom`.
    pub preset: String,
    pub min_length: String,
    #[serde(deserialize_with = "ticked")]
    pub digit: bool,
    #[serde(deserialize_with = "ticked")]
    pub lower: bool,
    #[serde(deserialize_with = "ticked")]
    pub upper: bool,
    #[serde(deserialize_with = "ticked")]
    pub symbol: bool,
    #[serde(deserialize_with = "ticked")]
    pub require_two_factor: bool,
    /// `monthly`, `quarterly` or `annual`.
    pub billing_cycle: String,
    #[serde(deserialize_with = "ticked")]
    pub allow_parallel_portfolios: bool,
}

fn preset_of(policy: &PasswordPolicy) -> &'static str {
    if *policy == PolicyPreset::Standard.policy() {
        "standard"
    } else if *policy == PolicyPreset::Nist.policy() {
        "nist"
    } else {
        "custom"
    }
}

impl Values {
    fn of(org: &Organization) -> Values {
        let p = &org.settings.password_policy;
        Values {
            name: org.name.clone(),
            locale: org.settings.locale.as_str().to_owned(),
            preset: preset_of(p).to_owned(),
            min_length: p.min_length.to_string(),
            digit: p.require_digit,
            lower: p.require_lower,
            upper: p.require_upper,
            symbol: p.require_symbol,
            require_two_factor: org.settings.require_two_factor,
            billing_cycle: org.settings.billing_cycle.as_str().to_owned(),
            allow_parallel_portfolios: org.settings.allow_parallel_portfolios,
        }
    }

    /// The change the form asks for.
    fn patch(&self) -> Result<OrganizationPatch, ApiError> {
        let policy = match self.preset.as_str() {
            "standard" => PolicyPreset::Standard.policy(),
            "nist" => PolicyPreset::Nist.policy(),
            _ => PasswordPolicy {
                min_length: self.min_length.trim().parse().map_err(|_| {
                    ApiError::from(portier_core::FieldError::new(
                        "settings.password_policy.min_length",
                        "policy_min_length",
                        "the minimum length must be between 8 and 128",
                    ))
                })?,
                require_digit: self.digit,
                require_lower: self.lower,
                require_upper: self.upper,
                require_symbol: self.symbol,
            },
        };
        Ok(OrganizationPatch {
            name: Some(self.name.clone()),
            locale: Some(Locale::parse("settings.locale", &self.locale)?),
            password_policy: Some(policy),
            require_two_factor: Some(self.require_two_factor),
            billing_cycle: super::org::optional(&self.billing_cycle)
                .map(|c| BillingCycle::parse("settings.billing_cycle", &c))
                .transpose()?,
            allow_parallel_portfolios: Some(self.allow_parallel_portfolios),
            ..OrganizationPatch::default()
        })
    }

    pub fn is_preset(&self, name: &str) -> bool {
        self.preset == name
    }

    pub fn is_cycle(&self, name: &str) -> bool {
        self.billing_cycle == name
    }

    pub fn is_locale(&self, name: &str) -> bool {
        self.locale == name
    }
}

pub struct Child {
    pub id: String,
    pub name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub values: Values,
    pub children: Vec<Child>,
    pub may_create: bool,
    /// The name typed for a new child organization.
    pub child_name: String,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for SettingsPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl SettingsPage {
    fn general(&self) -> String {
        self.general_error(&["name", "settings", "child_name"])
    }
}

async fn settings_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    values: Option<Values>,
    child_name: String,
    problem: Option<Problem>,
    notice: Option<String>,
) -> Result<SettingsPage, ApiError> {
    let children = portier_store::organizations::list_within(
        &state.store,
        std::slice::from_ref(&ctx.org.path),
        None,
        1000,
    )
    .await?
    .into_iter()
    .filter(|o| o.parent_id == Some(ctx.org.id))
    .map(|o| Child {
        id: o.id.to_string(),
        name: o.name,
    })
    .collect();
    Ok(SettingsPage {
        page: person.viewer.page(),
        nav: ctx.nav(&person.viewer.i18n, Section::Settings),
        values: values.unwrap_or_else(|| Values::of(&ctx.org)),
        org: ctx.org.clone(),
        children,
        may_create: ctx.may::<OrgCreate>(),
        child_name,
        problem,
        notice,
    })
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccess<OrgUpdate, Console>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let notice = person.viewer.i18n.done(q.done.as_deref());
    settings_page(&state, &person, &ctx, None, String::new(), None, notice)
        .await
        .into_response()
}

/// The page again with a refusal, or the error page when it is ours.
async fn refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    values: Option<Values>,
    child_name: String,
    e: ApiError,
) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let problem = Problem::of(&person.viewer.i18n, &e);
    match settings_page(state, person, ctx, values, child_name, Some(problem), None).await {
        Ok(page) => (e.status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn update(
    State(state): State<AppState>,
    access: OrgAccess<OrgUpdate, Console>,
    ClientAddr(client): ClientAddr,
    Posted(values): Posted<Values>,
) -> Response {
    let (person, ctx) = access.page();
    let updated = async {
        let patch = values.patch()?;
        let auth = ctx.auth.and::<OrgUpdate>()?;
        portier_store::organizations::update(&state.store, &auth, patch, &Origin::now(client))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match updated {
        Ok(()) => {
            Redirect::to(&format!("/orgs/{}/settings?done=settings", ctx.org.id)).into_response()
        }
        Err(e) => refused(&state, &person, &ctx, Some(values), String::new(), e).await,
    }
}

/// The form that creates an organization below this one.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct ChildForm {
    child_name: String,
}

async fn create_child(
    State(state): State<AppState>,
    access: OrgAccess<OrgCreate, Console>,
    ClientAddr(client): ClientAddr,
    Posted(ChildForm { child_name: name }): Posted<ChildForm>,
) -> Response {
    let (person, ctx) = access.page();
    let created = async {
        let auth = ctx.auth.and::<OrgCreate>()?;
        let child = portier_store::organizations::create_child(
            &state.store,
            &auth,
            &name,
            None,
            &Origin::now(client),
        )
        .await
        .map_err(|e| ApiError::from(e).renamed("name", "child_name"))?;
        Ok::<_, ApiError>(child)
    }
    .await;
    match created {
        Ok(child) => Redirect::to(&format!(
            "/orgs/{}/members?done=organization-created",
            child.id
        ))
        .into_response(),
        Err(e) => refused(&state, &person, &ctx, None, name, e).await,
    }
}
