//! Signing up in the console (docs/RULES.md#self-sign-up-and-e-mail-domains),
//! and the page behind a domain's proof link. A mailed link opens a page
//! with a button: following it changes nothing, so a mail scanner that opens
//! links cannot confirm anything for the person.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portier_core::domains::SignupMode;

use super::form::Posted;
use super::{Page, Viewer, error_page};
use crate::extract::ClientAddr;
use crate::service::signups::SignupInput;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signup", get(form).post(submit))
        .route("/signup/{token}", get(confirm_form).post(confirm))
        .route(
            "/domains/confirm/{token}",
            get(domain_form).post(domain_confirm),
        )
}

/// What the form holds.
#[derive(Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Values {
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub organization_name: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/signup.html")]
pub struct SignupPage {
    pub page: Page,
    pub values: Values,
    /// Open to anyone (else only addresses at a proven domain).
    pub open: bool,
    /// The mail is on its way to this address.
    pub sent: Option<String>,
    pub error: Option<String>,
    /// The field the refusal is about.
    pub error_field: String,
}

fn closed(viewer: &Viewer) -> Response {
    error_page(viewer, StatusCode::NOT_FOUND, "error-not-found")
}

fn page(state: &AppState, viewer: &Viewer, values: Values) -> SignupPage {
    SignupPage {
        page: viewer.page(),
        values,
        open: state.config.signup.mode == SignupMode::Open,
        sent: None,
        error: None,
        error_field: String::new(),
    }
}

async fn form(State(state): State<AppState>, viewer: Viewer) -> Response {
    if state.config.signup.mode == SignupMode::Off {
        return closed(&viewer);
    }
    page(&state, &viewer, Values::default()).into_response()
}

/// The sign-up form: what the page shows again, and the password.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct SignupForm {
    #[serde(flatten)]
    values: Values,
    password: String,
}

async fn submit(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    Posted(sent): Posted<SignupForm>,
) -> Response {
    if state.config.signup.mode == SignupMode::Off {
        return closed(&viewer);
    }
    let values = Values {
        email: sent.values.email.trim().to_owned(),
        ..sent.values
    };
    let input = SignupInput {
        email: values.email.clone(),
        given_name: values.given_name.clone(),
        family_name: values.family_name.clone(),
        password: sent.password,
        organization_name: Some(values.organization_name.clone()),
        locale: Some(viewer.i18n.locale),
    };
    match crate::service::signups::start_signup(&state, client, input).await {
        // The same answer whether or not the address has an account.
        Ok(()) => SignupPage {
            sent: Some(viewer.i18n.t1("signup-sent", "email", &values.email)),
            ..page(&state, &viewer, values)
        }
        .into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let error = if e.status == StatusCode::TOO_MANY_REQUESTS {
                let minutes = e.retry_after.unwrap_or(60).div_ceil(60).to_string();
                viewer.i18n.t1("login-throttled", "minutes", &minutes)
            } else {
                viewer.i18n.error(&e.body.error.code, &e.body.error.message)
            };
            let refused = SignupPage {
                error: Some(error),
                error_field: e.body.error.field.clone().unwrap_or_default(),
                ..page(&state, &viewer, values)
            };
            (e.status, refused).into_response()
        }
    }
}

/// The page a mailed link opens, and what following it did.
#[derive(Template, WebTemplate)]
#[template(path = "auth/confirm_link.html")]
pub struct ConfirmPage {
    pub page: Page,
    pub title: String,
    /// Before: what the button does. After: what happened.
    pub message: String,
    /// The button, before it is pressed.
    pub button: Option<String>,
    pub action: String,
    pub error: bool,
}

fn confirm_page(
    viewer: &Viewer,
    title: &str,
    message: String,
    button: Option<&str>,
    action: String,
) -> ConfirmPage {
    ConfirmPage {
        page: viewer.page(),
        title: viewer.i18n.t(title),
        message,
        button: button.map(|b| viewer.i18n.t(b)),
        action,
        error: false,
    }
}

fn link_refused(viewer: &Viewer, title: &str, e: ApiError) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let message = viewer.i18n.error(&e.body.error.code, &e.body.error.message);
    let page = ConfirmPage {
        error: true,
        ..confirm_page(viewer, title, message, None, String::new())
    };
    (e.status, page).into_response()
}

async fn confirm_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Response {
    if state.config.signup.mode == SignupMode::Off {
        return closed(&viewer);
    }
    confirm_page(
        &viewer,
        "signup-confirm-title",
        viewer.i18n.t("signup-confirm-intro"),
        Some("signup-confirm-button"),
        format!("/signup/{}", super::url_encode(&token)),
    )
    .into_response()
}

async fn confirm(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
) -> Response {
    match crate::service::signups::finish_signup(&state, client, &token).await {
        Ok(done) => {
            let org = done.organization.name.as_str();
            let key = format!("signup-done-{}", done.outcome.as_str().replace('_', "-"));
            let message = viewer.i18n.t1(&key, "organization", org);
            confirm_page(&viewer, "signup-done-title", message, None, String::new()).into_response()
        }
        Err(e) => link_refused(&viewer, "signup-confirm-title", e),
    }
}

async fn domain_form(viewer: Viewer, Path(token): Path<String>) -> Response {
    confirm_page(
        &viewer,
        "domain-confirm-title",
        viewer.i18n.t("domain-confirm-intro"),
        Some("domain-confirm-button"),
        format!("/domains/confirm/{}", super::url_encode(&token)),
    )
    .into_response()
}

async fn domain_confirm(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
) -> Response {
    match crate::service::domains::confirm_domain(&state, &token, client).await {
        Ok((claim, env)) => {
            let message = viewer.i18n.tn(
                "domain-confirmed",
                &[
                    ("domain", claim.domain.as_str()),
                    ("organization", &env.name),
                ],
            );
            confirm_page(
                &viewer,
                "domain-confirm-title",
                message,
                None,
                String::new(),
            )
            .into_response()
        }
        Err(e) => link_refused(&viewer, "domain-confirm-title", e),
    }
}
