//! API tokens: for the applications that ask Portier (the check API, the
//! REST API). Each carries at most the permissions of whoever made it, is
//! shown once, is stored only as a hash, and can be revoked.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, NaiveDate, Utc};
use portier_core::organizations::Organization;
use portier_core::permissions::{CATALOGUE, parse_list};
use portier_core::rights::TokensManage;
use portier_store::audit::Origin;

use super::form::{Posted, many};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, labels};
use super::roles::permission_text;
use super::{Done, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/tokens", get(list).post(create))
        .route("/orgs/{org}/tokens/{token}/revoke", post(revoke))
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub permissions: String,
    pub created: String,
    pub expires: String,
    pub last_used: String,
    /// `active`, `expired` or `revoked`.
    pub state: &'static str,
    pub state_text: String,
}

/// One of Portier's permissions on the form: only those the person holds.
pub struct Choice {
    pub permission: String,
    pub what: String,
    pub chosen: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "tokens.html")]
pub struct TokensPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub tokens: Vec<TokenRow>,
    pub choices: Vec<Choice>,
    /// The form: name, product permissions, expiry date.
    pub name: String,
    pub product: String,
    pub expires: String,
    /// A token just made: its name and secret, shown this once.
    pub created: Option<(String, String)>,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for TokensPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl TokensPage {
    fn general(&self) -> String {
        self.general_error(&["name", "permissions", "expires_at"])
    }
}

/// What was sent with the form.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct Sent {
    name: String,
    /// Portier's permissions, ticked.
    #[serde(rename = "permissions", deserialize_with = "many")]
    portier: Vec<String>,
    product: String,
    expires: String,
}

impl Sent {
    fn permissions(&self) -> Vec<String> {
        let mut all = self.portier.clone();
        all.extend(labels(&self.product.replace('\n', ",")));
        all
    }

    /// The moment the token stops working: the end of the chosen day (UTC).
    fn expires_at(&self) -> Result<Option<DateTime<Utc>>, ApiError> {
        let day = self.expires.trim();
        if day.is_empty() {
            return Ok(None);
        }
        let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| {
            ApiError::from(portier_core::FieldError::new(
                "expires_at",
                "date_invalid",
                "give the date as year-month-day, such as 2027-12-31",
            ))
        })?;
        Ok(date
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc()))
    }
}

async fn tokens_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    sent: Sent,
    created: Option<(String, String)>,
    problem: Option<Problem>,
    notice: Option<String>,
) -> Result<TokensPage, ApiError> {
    let i18n = person.viewer.i18n;
    let now = Utc::now();
    let never = i18n.t("tokens-never");
    let tokens = portier_store::api_tokens::list(
        &state.store,
        &ctx.and::<portier_core::rights::TokensManage>()?,
    )
    .await?
    .into_iter()
    .map(|t| {
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        };
        TokenRow {
            id: t.id.to_string(),
            name: t.name,
            permissions: t.permissions.join(", "),
            created: i18n.date(t.created_at),
            // Stored as the first moment it no longer works.
            expires: t
                .expires_at
                .map(|e| i18n.date(e - chrono::Duration::seconds(1)))
                .unwrap_or_else(|| never.clone()),
            last_used: t
                .last_used_at
                .map(|u| i18n.moment(u))
                .unwrap_or_else(|| never.clone()),
            state,
            state_text: i18n.t(&format!("tokens-{state}")),
        }
    })
    .collect();
    let held = ctx.principal.permissions_on(&ctx.org.path);
    Ok(TokensPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Tokens),
        org: ctx.org.clone(),
        tokens,
        choices: CATALOGUE
            .iter()
            .filter(|(p, _)| held.contains(p))
            .map(|(p, _)| Choice {
                permission: p.as_str().to_owned(),
                what: permission_text(&i18n, p),
                chosen: sent.portier.iter().any(|c| c == p.as_str()),
            })
            .collect(),
        name: sent.name,
        product: sent.product,
        expires: sent.expires,
        created,
        problem,
        notice,
    })
}

async fn list(
    State(state): State<AppState>,
    access: OrgAccess<TokensManage, Console>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let notice = person.viewer.i18n.done(q.done.as_deref());
    tokens_page(&state, &person, &ctx, Sent::default(), None, None, notice)
        .await
        .into_response()
}

async fn create(
    State(state): State<AppState>,
    access: OrgAccess<TokensManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(sent): Posted<Sent>,
) -> Response {
    let (person, ctx) = access.page();
    let issued = async {
        let permissions = parse_list("permissions", &sent.permissions())?;
        let expires_at = sent.expires_at()?;
        let auth = ctx.auth.and::<TokensManage>()?;
        Ok::<_, ApiError>(
            portier_store::api_tokens::issue(
                &state.store,
                &ctx.principal,
                &auth,
                &sent.name,
                &permissions,
                expires_at,
                &Origin::now(client),
            )
            .await?,
        )
    }
    .await;
    match issued {
        // Shown once, on this answer only (never cached: see the console's
        // headers); the list below it already holds the token.
        Ok(token) => {
            let created = Some((
                sent.name.trim().to_owned(),
                token.secret.expose().to_owned(),
            ));
            tokens_page(&state, &person, &ctx, Sent::default(), created, None, None)
                .await
                .into_response()
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            match tokens_page(&state, &person, &ctx, sent, None, Some(problem), None).await {
                Ok(page) => (e.status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}

async fn revoke(
    State(state): State<AppState>,
    access: OrgAccess<TokensManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, token)): Path<(String, String)>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(id) = token.parse() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let revoked = async {
        let auth = ctx.auth.and::<TokensManage>()?;
        portier_store::api_tokens::revoke(&state.store, &auth, id, &Origin::now(client)).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match revoked {
        Ok(()) => {
            Redirect::to(&format!("/orgs/{}/tokens?done=token-revoked", ctx.org.id)).into_response()
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found")
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            match tokens_page(
                &state,
                &person,
                &ctx,
                Sent::default(),
                None,
                Some(problem),
                None,
            )
            .await
            {
                Ok(page) => (e.status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}
