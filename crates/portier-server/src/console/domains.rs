//! An environment's e-mail domains in the console
//! (docs/RULES.md#self-sign-up-and-e-mail-domains): claim one, publish the
//! TXT record it shows and check it now, or prove it by a link mailed to one
//! of its administrative mailboxes; whether people who join by the domain
//! wait for approval.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::domains::PROOF_MAILBOXES;
use portier_core::organizations::{Organization, OrganizationPatch};
use portier_core::rights::{DomainsManage, MembersUpdate, OrgUpdate};
use portier_store::audit::Origin;
use uuid::Uuid;

use super::form::{Posted, ticked};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section};
use super::{Done, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::service::domains::VerifyDomain;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/domains", get(show).post(claim))
        .route("/orgs/{org}/domains/settings", post(settings))
        .route("/orgs/{org}/domains/{id}/verify", post(verify))
        .route("/orgs/{org}/domains/{id}/remove", post(remove))
        .route("/orgs/{org}/approvals/{account}", post(approve))
}

/// One claimed domain as the page shows it.
pub struct DomainRow {
    pub id: String,
    pub domain: String,
    pub verified: bool,
    /// How and when it was proven, or when it was last checked (empty
    /// before the first check).
    pub state: String,
    pub txt_name: String,
    pub txt_value: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "domains.html")]
pub struct DomainsPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub domains: Vec<DomainRow>,
    pub mailboxes: &'static [&'static str],
    /// The claim form.
    pub domain: String,
    /// The environment's setting, for those who may change it.
    pub approval: Option<bool>,
    pub notice: Option<String>,
    pub problem: Option<Problem>,
}

impl Refusal for DomainsPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl DomainsPage {
    fn general(&self) -> String {
        self.general_error(&["domain"])
    }
}

async fn domains_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    domain: String,
    notice: Option<String>,
    problem: Option<Problem>,
) -> Result<DomainsPage, ApiError> {
    let i18n = person.viewer.i18n;
    let claims = portier_store::domains::list(
        &state.store,
        &ctx.and::<portier_core::rights::DomainsManage>()?,
    )
    .await?;
    Ok(DomainsPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Domains),
        org: ctx.org.clone(),
        domains: claims
            .into_iter()
            .map(|c| DomainRow {
                id: c.id.to_string(),
                verified: c.verified_at.is_some(),
                state: match (c.verified_at, &c.proof, c.last_checked_at) {
                    (Some(at), proof, _) => i18n.tn(
                        "domains-proven",
                        &[
                            ("date", &i18n.date(at)),
                            (
                                "how",
                                &i18n.t(&format!(
                                    "domains-proof-{}",
                                    proof.as_deref().unwrap_or("dns")
                                )),
                            ),
                        ],
                    ),
                    (None, _, Some(at)) => i18n.t1("domains-checked", "moment", &i18n.moment(at)),
                    // The record to publish says what to do.
                    (None, _, None) => String::new(),
                },
                txt_name: c.domain.challenge_name(),
                domain: c.domain.to_string(),
                txt_value: c.txt_value,
            })
            .collect(),
        mailboxes: &PROOF_MAILBOXES,
        domain,
        approval: ctx
            .may::<OrgUpdate>()
            .then_some(ctx.org.settings.signup_approval),
        notice,
        problem,
    })
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccess<DomainsManage, Console>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let notice = person.viewer.i18n.done(q.done.as_deref());
    domains_page(&state, &person, &ctx, String::new(), notice, None)
        .await
        .into_response()
}

/// The page again with a refusal.
async fn refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    e: ApiError,
    domain: String,
) -> Response {
    if e.status.is_server_error() && e.status != StatusCode::BAD_GATEWAY {
        return e.into_response();
    }
    let problem = Problem::of(&person.viewer.i18n, &e);
    match domains_page(state, person, ctx, domain, None, Some(problem)).await {
        Ok(page) => (e.status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

fn done(org: &Organization, key: &str) -> Response {
    Redirect::to(&format!("/orgs/{}/domains?done={key}", org.id)).into_response()
}

/// The form that claims a domain.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct DomainForm {
    domain: String,
}

/// The form that proves a domain: by DNS (the default) or by mail to one
/// of the mailboxes.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct ProofForm {
    method: String,
    mailbox: String,
}

/// The form of how sign-ups with a proven domain are let in.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct SignupSettingsForm {
    #[serde(deserialize_with = "ticked")]
    signup_approval: bool,
}

async fn claim(
    State(state): State<AppState>,
    access: OrgAccess<DomainsManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(DomainForm { domain }): Posted<DomainForm>,
) -> Response {
    let (person, ctx) = access.page();
    let claimed = async {
        let auth = ctx.auth.and::<DomainsManage>()?;
        crate::service::domains::claim_domain(&state, &auth, &domain, client).await
    }
    .await;
    match claimed {
        Ok(_) => done(&ctx.org, "domain-claimed"),
        Err(e) => refused(&state, &person, &ctx, e, domain).await,
    }
}

async fn verify(
    State(state): State<AppState>,
    access: OrgAccess<DomainsManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
    Posted(form): Posted<ProofForm>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let how = VerifyDomain {
        method: Some(form.method).filter(|m| !m.is_empty()),
        mailbox: Some(form.mailbox).filter(|m| !m.is_empty()),
    };
    let checked = async {
        let auth = ctx.auth.and::<DomainsManage>()?;
        crate::service::domains::verify_domain(&state, &auth, id, &how, client).await
    }
    .await;
    match checked {
        Ok((StatusCode::ACCEPTED, _)) => done(&ctx.org, "domain-proof-mailed"),
        Ok(_) => done(&ctx.org, "domain-verified"),
        Err(e) => refused(&state, &person, &ctx, e, String::new()).await,
    }
}

async fn remove(
    State(state): State<AppState>,
    access: OrgAccess<DomainsManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(id) = id.parse::<Uuid>() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let removed = async {
        let auth = ctx.auth.and::<DomainsManage>()?;
        portier_store::domains::remove(&state.store, &auth, id, &Origin::now(client)).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match removed {
        Ok(()) => done(&ctx.org, "domain-removed"),
        Err(e) => refused(&state, &person, &ctx, e, String::new()).await,
    }
}

async fn settings(
    State(state): State<AppState>,
    access: OrgAccess<OrgUpdate, Console>,
    ClientAddr(client): ClientAddr,
    Posted(form): Posted<SignupSettingsForm>,
) -> Response {
    let (person, ctx) = access.page();
    let patch = OrganizationPatch {
        signup_approval: Some(form.signup_approval),
        ..OrganizationPatch::default()
    };
    let saved = async {
        let auth = ctx.auth.and::<OrgUpdate>()?;
        portier_store::organizations::update(&state.store, &auth, patch, &Origin::now(client))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match saved {
        Ok(()) => done(&ctx.org, "settings"),
        Err(e) => refused(&state, &person, &ctx, e, String::new()).await,
    }
}

/// Approve someone waiting to join (from the users list).
async fn approve(
    State(state): State<AppState>,
    access: OrgAccess<MembersUpdate, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(account) = account.parse() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let approved = async {
        let auth = ctx.auth.and::<MembersUpdate>()?;
        crate::service::domains::approve_member(&state, &auth, account, client).await
    }
    .await;
    match approved {
        Ok(()) => {
            Redirect::to(&format!("/orgs/{}/members?done=approved", ctx.org.id)).into_response()
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(_) => error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found"),
    }
}
