//! Signing in and out, activating an account from the invitation mail, and
//! choosing a new password with a reset link: the pages a person meets before
//! anything else. They use the same sign-in, throttles and password rules as
//! the API (`crate::service::sign_in`, `crate::service::accounts`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::passwords::{PasswordPolicy, PasswordRejected};
use portier_core::secrets::{TokenKind, TokenUnusable};
use portier_store::accounts::ProfileFill;
use portier_store::links::{LinkProblem, TokenInfo};
use portier_store::sessions::Stage;
use serde::Deserialize;

use super::{I18n, Page, Viewer, local_path};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route(
            "/login/second-step",
            get(second_step_form).post(second_step),
        )
        .route("/login/second-step/passkey", post(second_step_passkey))
        .route("/login/passkey", post(login_passkey))
        .route("/logout", post(logout))
        .route("/activate/{token}", get(activate_form).post(activate))
        .route("/reset", get(reset_form).post(reset_request))
        .route("/reset/{token}", get(new_password_form).post(new_password))
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub page: Page,
    pub email: String,
    pub next: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// Offer signing in with a passkey (with JavaScript, in a browser that can).
    pub passkeys: bool,
    /// The platform takes sign-ups (docs/RULES.md#self-sign-up-and-e-mail-domains):
    /// a link to `/signup`.
    pub signup: bool,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

async fn login_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<LoginQuery>,
) -> Response {
    if viewer.session.is_some() && q.signed_out.is_none() {
        return Redirect::to(&local_path(q.next.as_deref())).into_response();
    }
    LoginPage {
        notice: q.signed_out.map(|_| viewer.i18n.t("login-signed-out")),
        page: viewer.page(),
        email: String::new(),
        next: local_path(q.next.as_deref()),
        error: None,
        passkeys: state.config.passkeys.available(),
        signup: state.config.signup.mode != portier_core::domains::SignupMode::Off,
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// What a refused sign-in says, in the viewer's language.
fn sign_in_refusal(i18n: &I18n, e: &ApiError) -> String {
    match (e.status, e.body.error.code.as_str()) {
        (StatusCode::TOO_MANY_REQUESTS, _) => {
            let minutes = e.retry_after.unwrap_or(60).div_ceil(60).to_string();
            i18n.t1("login-throttled", "minutes", &minutes)
        }
        (_, "account_inactive") => i18n.t("login-inactive"),
        (_, "passkey_refused") => i18n.t("passkeys-refused"),
        (_, "ceremony_unknown") | (_, "passkeys_unavailable") => i18n.t("passkeys-failed"),
        _ => i18n.t("login-failed"),
    }
}

async fn login(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    match crate::service::sign_in::sign_in(&state, client, &headers, &form.email, form.password)
        .await
    {
        Ok(signed) => onwards(signed, &next),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let status = if e.status == StatusCode::TOO_MANY_REQUESTS {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            refused_login(&state, &viewer, &e, status, form.email.trim(), next)
        }
    }
}

/// The sign-in page again, saying why it did not pass.
fn refused_login(
    state: &AppState,
    viewer: &Viewer,
    e: &ApiError,
    status: StatusCode,
    email: &str,
    next: String,
) -> Response {
    let page = LoginPage {
        error: Some(sign_in_refusal(&viewer.i18n, e)),
        page: viewer.page(),
        email: email.to_owned(),
        next,
        notice: None,
        passkeys: state.config.passkeys.available(),
        signup: state.config.signup.mode != portier_core::domains::SignupMode::Off,
    };
    (status, page).into_response()
}

/// A passkey's answer, carried by a console form (the page's script filled
/// it in from `navigator.credentials`).
#[derive(Deserialize)]
pub struct PasskeyForm {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    next: Option<String>,
}

impl PasskeyForm {
    fn answer(&self) -> crate::service::passkeys::PasskeyAnswer {
        crate::service::passkeys::PasskeyAnswer::from_form(
            self.ceremony_id.clone(),
            &self.credential,
        )
    }
}

/// Signing in with a passkey alone.
async fn login_passkey(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    match crate::service::passkeys::sign_in(&state, client, &headers, &form.answer()).await {
        Ok(signed) => onwards(signed, &next),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => refused_login(&state, &viewer, &e, e.status, "", next),
    }
}

/// After the password: on to `next`, or first to the second step.
fn onwards(signed: crate::service::sign_in::SignIn, next: &str) -> Response {
    let next_q = form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>();
    let to = match signed.stage {
        Stage::SecondFactor => format!("/login/second-step?next={next_q}"),
        Stage::Enrol => format!("/account/two-factor?next={next_q}"),
        Stage::Full => next.to_owned(),
    };
    let mut response = Redirect::to(&to).into_response();
    response.headers_mut().insert(SET_COOKIE, signed.cookie);
    response
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/second_step.html")]
pub struct SecondStepPage {
    pub page: Page,
    pub next: String,
    /// The recovery-code form is the one to show (chosen, or refused).
    pub recovery: bool,
    /// The person has an authenticator app.
    pub app: bool,
    /// The person has a passkey.
    pub passkey: bool,
    pub error: Option<String>,
}

impl SecondStepPage {
    /// The page for the sign-in of `account`, offering what they have.
    async fn of(
        state: &AppState,
        viewer: &Viewer,
        account: portier_core::ids::AccountId,
        next: String,
        recovery: bool,
        error: Option<String>,
    ) -> Result<SecondStepPage, ApiError> {
        let status = portier_store::two_factor::status(&state.store, account).await?;
        let passkey = status.passkeys > 0 && state.config.passkeys.available();
        Ok(SecondStepPage {
            page: viewer.page(),
            next,
            recovery: recovery || (!status.totp && !passkey),
            app: status.totp,
            passkey,
            error,
        })
    }
}

#[derive(Deserialize)]
pub struct SecondStepQuery {
    next: Option<String>,
    recovery: Option<String>,
}

async fn second_step_form(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(q): Query<SecondStepQuery>,
) -> Response {
    let pending = crate::auth::session_at(
        &state,
        &headers,
        portier_store::sessions::Stage::SecondFactor,
    )
    .await;
    let next = local_path(q.next.as_deref());
    let page = match pending {
        Ok(Some(session)) => {
            let recovery = q.recovery.is_some();
            SecondStepPage::of(&state, &viewer, session.account_id, next, recovery, None).await
        }
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => Err(e),
    };
    match page {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct SecondStepForm {
    code: Option<String>,
    recovery_code: Option<String>,
    next: Option<String>,
}

async fn second_step(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<SecondStepForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let recovery = form.recovery_code.is_some();
    let proof = match (form.code, form.recovery_code) {
        (_, Some(r)) => portier_store::two_factor::Proof::RecoveryCode(r),
        (Some(c), None) => portier_store::two_factor::Proof::Code(c),
        (None, None) => portier_store::two_factor::Proof::Code(String::new()),
    };
    match crate::service::sign_in::second_step(
        &state,
        client,
        &headers,
        Ok(crate::service::sign_in::SecondProof::Code(proof)),
    )
    .await
    {
        Ok(signed) => onwards(signed, &next),
        Err(e) if e.status.is_server_error() => e.into_response(),
        // Too late, or signed out meanwhile: from the start.
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Redirect::to("/login").into_response(),
        Err(e) => {
            let error = if e.status == StatusCode::TOO_MANY_REQUESTS {
                sign_in_refusal(&viewer.i18n, &e)
            } else if e.body.error.code == "code_used" {
                viewer.i18n.t("second-step-used")
            } else if recovery {
                viewer.i18n.t("second-step-wrong-recovery")
            } else {
                viewer.i18n.t("second-step-wrong")
            };
            refused_second_step(&state, &viewer, &headers, next, recovery, error, e.status).await
        }
    }
}

/// The second step's page again, saying why it did not pass.
async fn refused_second_step(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    next: String,
    recovery: bool,
    error: String,
    status: StatusCode,
) -> Response {
    let page = match crate::service::sign_in::pending_sign_in(state, headers).await {
        Ok(pending) => {
            SecondStepPage::of(
                state,
                viewer,
                pending.account_id,
                next,
                recovery,
                Some(error),
            )
            .await
        }
        Err(_) => return Redirect::to("/login").into_response(),
    };
    match page {
        Ok(page) => (status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The second step with a passkey.
async fn second_step_passkey(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<PasskeyForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let proof = crate::service::sign_in::SecondProof::Passkey(form.answer());
    match crate::service::sign_in::second_step(&state, client, &headers, Ok(proof)).await {
        Ok(signed) => onwards(signed, &next),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Redirect::to("/login").into_response(),
        Err(e) => {
            let error = sign_in_refusal(&viewer.i18n, &e);
            refused_second_step(&state, &viewer, &headers, next, false, error, e.status).await
        }
    }
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    // Whatever stage the sign-in had reached.
    for stage in Stage::ALL {
        match crate::auth::session_at(&state, &headers, stage).await {
            Ok(Some(session)) => {
                if let Err(e) = portier_store::sessions::end(&state.store, &session.id_hash).await {
                    return ApiError::from(e).into_response();
                }
            }
            Ok(None) => {}
            Err(e) => return e.into_response(),
        }
    }
    let mut response = Redirect::to("/login?signed_out=1").into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, state.config.cookie.clear());
    response
}

/// The rules a new password must meet, as the page lists them (and the
/// script checks them as the person types).
pub struct Rules {
    pub min_length: u16,
    pub digit: bool,
    pub lower: bool,
    pub upper: bool,
    pub symbol: bool,
}

impl Rules {
    pub fn of(policies: &[PasswordPolicy]) -> Rules {
        let p = PasswordPolicy::strictest(policies);
        Rules {
            min_length: p.min_length,
            digit: p.require_digit,
            lower: p.require_lower,
            upper: p.require_upper,
            symbol: p.require_symbol,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/activate.html")]
pub struct ActivatePage {
    pub page: Page,
    pub intro: String,
    pub expires: String,
    pub rules: Rules,
    /// Every rule the refused password missed, in the viewer's language.
    pub refused: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/link_problem.html")]
pub struct LinkProblemPage {
    pub page: Page,
    pub title: String,
    pub explanation: String,
    pub again: String,
    /// A reset link that failed offers to ask for a new one.
    pub offer_reset: bool,
}

fn link_problem(viewer: &Viewer, problem: LinkProblem, kind: TokenKind) -> Response {
    let t = &viewer.i18n;
    let (status, title, explanation) = match problem {
        LinkProblem::Unknown => (
            StatusCode::NOT_FOUND,
            t.t("link-unknown-title"),
            String::new(),
        ),
        LinkProblem::Gone(TokenUnusable::Used) => {
            (StatusCode::GONE, t.t("link-used-title"), t.t("link-used"))
        }
        LinkProblem::Gone(TokenUnusable::Expired) => (
            StatusCode::GONE,
            t.t("link-expired-title"),
            t.t("link-expired"),
        ),
    };
    let again = match kind {
        TokenKind::Activation => t.t("link-again-activation"),
        TokenKind::PasswordReset => t.t("link-again-reset"),
    };
    let page = LinkProblemPage {
        page: viewer.page(),
        title,
        explanation,
        again,
        offer_reset: kind == TokenKind::PasswordReset,
    };
    (status, page).into_response()
}

/// The link's token, or the page that says what is wrong with it.
async fn open_link(
    state: &AppState,
    viewer: &Viewer,
    kind: TokenKind,
    token: &str,
) -> Result<TokenInfo, Response> {
    match portier_store::links::lookup(&state.store, kind, token, chrono::Utc::now()).await {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(problem)) => Err(link_problem(viewer, problem, kind)),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn activate_page(viewer: &Viewer, info: &TokenInfo, refused: Vec<String>) -> ActivatePage {
    let t = &viewer.i18n;
    let email = info.account.email.to_string();
    let intro = match &info.organization {
        Some(org) => t.tn(
            "activate-intro",
            &[("organization", &org.name), ("email", &email)],
        ),
        None => t.t1("activate-intro-no-org", "email", &email),
    };
    ActivatePage {
        page: viewer.page(),
        intro,
        expires: t.t1("activate-expires", "date", &t.date(info.expires_at)),
        rules: Rules::of(&info.policies),
        refused,
    }
}

async fn activate_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Response {
    match open_link(&state, &viewer, TokenKind::Activation, &token).await {
        Ok(info) => activate_page(&viewer, &info, Vec::new()).into_response(),
        Err(page) => page,
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub fn refused(i18n: &I18n, e: &PasswordRejected) -> Vec<String> {
    e.0.iter().map(|v| v.message_in(i18n.locale)).collect()
}

async fn activate(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let info = match open_link(&state, &viewer, TokenKind::Activation, &token).await {
        Ok(info) => info,
        Err(page) => return page,
    };
    let password = form.password.clone();
    let checked = match crate::service::accounts::new_password(&info, form.password, None, None) {
        Ok(p) => p,
        Err(e) => {
            let page = activate_page(&viewer, &info, refused(&viewer.i18n, &e));
            return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
    };
    let fill = ProfileFill {
        locale: Some(viewer.i18n.locale).filter(|_| info.account.locale.is_none()),
        ..ProfileFill::default()
    };
    if let Err(e) =
        crate::service::accounts::finish_activation(&state, &info, checked, &fill, client.clone())
            .await
    {
        if e.status == StatusCode::GONE {
            return link_problem(
                &viewer,
                LinkProblem::Gone(TokenUnusable::Used),
                TokenKind::Activation,
            );
        }
        return e.into_response();
    }
    // Activated: signed in at once, on to the dashboard.
    let email = info.account.email.to_string();
    match crate::service::sign_in::sign_in(&state, client, &headers, &email, password).await {
        Ok(signed) => onwards(signed, "/"),
        // The account is active all the same (a membership deactivated
        // meanwhile, say): the sign-in page says why.
        Err(_) => Redirect::to("/login").into_response(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/reset_request.html")]
pub struct ResetRequestPage {
    pub page: Page,
    pub email: String,
    pub sent: Option<String>,
    pub error: Option<String>,
}

async fn reset_form(viewer: Viewer) -> Response {
    ResetRequestPage {
        page: viewer.page(),
        email: String::new(),
        sent: None,
        error: None,
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct ResetForm {
    email: String,
}

async fn reset_request(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    Form(form): Form<ResetForm>,
) -> Response {
    match crate::service::sign_in::start_reset(&state, client, &form.email).await {
        // Always the same answer: it says nothing about whether the
        // address has an account.
        Ok(()) => ResetRequestPage {
            sent: Some(viewer.i18n.t1("reset-sent", "email", form.email.trim())),
            page: viewer.page(),
            email: form.email.trim().to_owned(),
            error: None,
        }
        .into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let error = if e.status == StatusCode::TOO_MANY_REQUESTS {
                let minutes = e.retry_after.unwrap_or(60).div_ceil(60).to_string();
                viewer.i18n.t1("login-throttled", "minutes", &minutes)
            } else {
                e.body.error.message.clone()
            };
            let page = ResetRequestPage {
                page: viewer.page(),
                email: form.email.trim().to_owned(),
                sent: None,
                error: Some(error),
            };
            (e.status, page).into_response()
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "auth/reset.html")]
pub struct NewPasswordPage {
    pub page: Page,
    pub intro: String,
    pub rules: Rules,
    pub refused: Vec<String>,
    pub done: bool,
}

fn new_password_page(viewer: &Viewer, info: &TokenInfo, refused: Vec<String>) -> NewPasswordPage {
    NewPasswordPage {
        page: viewer.page(),
        intro: viewer
            .i18n
            .t1("reset-new-intro", "email", info.account.email.as_str()),
        rules: Rules::of(&info.policies),
        refused,
        done: false,
    }
}

async fn new_password_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(token): Path<String>,
) -> Response {
    match open_link(&state, &viewer, TokenKind::PasswordReset, &token).await {
        Ok(info) => new_password_page(&viewer, &info, Vec::new()).into_response(),
        Err(page) => page,
    }
}

async fn new_password(
    State(state): State<AppState>,
    viewer: Viewer,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
    Form(form): Form<PasswordForm>,
) -> Response {
    let info = match open_link(&state, &viewer, TokenKind::PasswordReset, &token).await {
        Ok(info) => info,
        Err(page) => return page,
    };
    let checked = match crate::service::accounts::new_password(&info, form.password, None, None) {
        Ok(p) => p,
        Err(e) => {
            let page = new_password_page(&viewer, &info, refused(&viewer.i18n, &e));
            return (StatusCode::UNPROCESSABLE_ENTITY, page).into_response();
        }
    };
    if let Err(e) = crate::service::accounts::finish_reset(&state, &info, checked, client).await {
        if e.status == StatusCode::GONE {
            return link_problem(
                &viewer,
                LinkProblem::Gone(TokenUnusable::Used),
                TokenKind::PasswordReset,
            );
        }
        return e.into_response();
    }
    let mut page = new_password_page(&viewer, &info, Vec::new());
    page.done = true;
    page.into_response()
}
