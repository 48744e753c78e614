//! My account → Two-step verification: set up an authenticator app (a QR
//! code drawn by the server as SVG, and the secret as text), confirm it
//! with a code, see the ten recovery codes once, renew them or turn it off
//! with a current code; add, rename and remove passkeys (the page's script
//! asks the browser to make one, `navigator.credentials.create`, with
//! options from the API, and the form carries its answer here). The same
//! rules and limits as the API (`crate::service::two_factor`,
//! `crate::service::passkeys`).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use portier_store::audit::Origin;
use portier_store::sessions::Stage;
use serde::Deserialize;

use super::{Enrollee, I18n, Page, local_path};
use crate::extract::ClientAddr;
use crate::service::two_factor::{RecoveryCodes, TotpEnrolment, with_code};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/two-factor", get(show))
        .route("/account/two-factor/start", post(start))
        .route("/account/two-factor/confirm", post(confirm))
        .route("/account/two-factor/recovery-codes", post(renew))
        .route("/account/two-factor/off", post(turn_off))
        .route("/account/passkeys", post(add_passkey))
        .route("/account/passkeys/{id}/rename", post(rename_passkey))
        .route("/account/passkeys/{id}/remove", post(remove_passkey))
}

/// What the page shows besides the state.
pub enum Mode {
    Overview,
    /// Setting up: the QR code (SVG) and the secret as text.
    Enrol {
        qr: String,
        secret: String,
    },
    /// Recovery codes, shown this once.
    Codes(Vec<String>),
}

#[derive(Template, WebTemplate)]
#[template(path = "two_factor.html")]
pub struct TwoFactorPage {
    pub page: Page,
    /// Made to set it up before anything else (an organization requires it).
    pub enrolling: bool,
    /// Where to go on once it is set up.
    pub next: String,
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: Vec<portier_store::passkeys::PasskeyInfo>,
    /// Passkeys can be made here (the public address has a host name).
    pub passkeys_available: bool,
    pub mode: Mode,
    pub error: Option<String>,
    pub notice: Option<String>,
}

/// The secret spaced in fours, as apps ask for it typed by hand.
fn spaced(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The otpauth URL as a QR code in SVG, to sit in the page.
fn qr_svg(url: &str, label: &str) -> String {
    let Ok(code) = qrcode::QrCode::new(url.as_bytes()) else {
        return String::new();
    };
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let svg = svg.split_once("?>").map_or(svg.as_str(), |(_, s)| s);
    let label = askama::filters::escape(label, askama::filters::Html)
        .map(|l| l.to_string())
        .unwrap_or_default();
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" "),
        1,
    )
}

fn enrol_mode(i18n: &I18n, e: &TotpEnrolment) -> Mode {
    Mode::Enrol {
        qr: qr_svg(&e.otpauth_url, &i18n.t("two-factor-qr-label")),
        secret: spaced(&e.secret),
    }
}

/// Where to go on after setting up, from the query or the form.
#[derive(Deserialize, Default)]
pub struct Next {
    next: Option<String>,
}

async fn page(
    state: &AppState,
    who: &Enrollee,
    next: &Next,
    mode: Mode,
    error: Option<String>,
    notice: Option<String>,
) -> Result<TwoFactorPage, ApiError> {
    let person = &who.person;
    let status = portier_store::two_factor::status(&state.store, person.account.id).await?;
    let passkeys = portier_store::passkeys::list(&state.store, person.account.id).await?;
    Ok(TwoFactorPage {
        passkeys,
        passkeys_available: state.config.passkeys.available(),
        enrolling: who.enrolling,
        next: local_path(next.next.as_deref()),
        page: person.viewer.page(),
        totp: status.totp,
        recovery_codes_left: status.recovery_codes_left,
        mode,
        error,
        notice,
    })
}

fn respond(p: Result<TwoFactorPage, ApiError>, status: StatusCode) -> Response {
    match p {
        Ok(p) => (status, p).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A refused code, in the person's language.
fn refusal(i18n: &I18n, e: &ApiError) -> String {
    match (e.status, e.body.error.code.as_str()) {
        (StatusCode::TOO_MANY_REQUESTS, _) => {
            let minutes = e.retry_after.unwrap_or(60).div_ceil(60).to_string();
            i18n.t1("login-throttled", "minutes", &minutes)
        }
        (_, "code_used") => i18n.t("second-step-used"),
        (_, "two_factor_active") => i18n.t("two-factor-already-on"),
        (_, "two_factor_required") => i18n.t("two-factor-cannot-turn-off"),
        (_, "passkey_refused") => i18n.t("passkeys-refused"),
        (_, "recent_sign_in_required") => i18n.t("two-factor-sign-in-again"),
        (_, "ceremony_unknown") | (_, "passkeys_unavailable") => i18n.t("passkeys-failed"),
        (_, "passkey_registered") => i18n.t("passkeys-registered"),
        (_, "too_long") | (_, "invalid") | (_, "required") => i18n.t("passkeys-name-invalid"),
        (StatusCode::NOT_FOUND, _) => i18n.t("passkeys-gone"),
        (_, "no_enrolment") | (_, "two_factor_inactive") => i18n.t("two-factor-start-again"),
        _ => i18n.t("second-step-wrong"),
    }
}

async fn show(State(state): State<AppState>, who: Enrollee, Query(next): Query<Next>) -> Response {
    respond(
        page(&state, &who, &next, Mode::Overview, None, None).await,
        StatusCode::OK,
    )
}

async fn start(State(state): State<AppState>, who: Enrollee, Query(next): Query<Next>) -> Response {
    let person = &who.person;
    let i18n = person.viewer.i18n;
    match crate::service::two_factor::start_enrolment(&state, &person.session).await {
        Ok(e) => respond(
            page(&state, &who, &next, enrol_mode(&i18n, &e), None, None).await,
            StatusCode::OK,
        ),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => respond(
            page(
                &state,
                &who,
                &next,
                Mode::Overview,
                Some(refusal(&i18n, &e)),
                None,
            )
            .await,
            e.status,
        ),
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

async fn confirm(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let person = &who.person;
    let i18n = person.viewer.i18n;
    if let Err(e) = crate::auth::recent_sign_in(&state, &person.session) {
        return refused_overview(&state, &who, &next, e).await;
    }
    let origin = Origin::now(client.clone());
    let confirmed = with_code(
        &state,
        &person.session,
        client.as_deref(),
        portier_store::two_factor::confirm_totp(
            &state.store,
            person.account.id,
            &form.code,
            &origin,
        ),
    )
    .await;
    match confirmed {
        Ok(codes) => {
            let codes = RecoveryCodes::from(codes).recovery_codes;
            let notice = Some(i18n.t("two-factor-on"));
            let shown = respond(
                page(&state, &who, &next, Mode::Codes(codes), None, notice).await,
                StatusCode::OK,
            );
            signed_in_if_enrolling(&state, &who, &headers, client, shown).await
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            // The same QR code again, with what was wrong.
            let pending = portier_store::two_factor::pending(&state.store, person.account.id).await;
            let mode = match pending {
                Ok(Some(secret)) => enrol_mode(
                    &i18n,
                    &TotpEnrolment {
                        secret: secret.to_base32(),
                        otpauth_url: secret.otpauth_url(&person.account.email),
                    },
                ),
                Ok(None) => Mode::Overview,
                Err(e) => return ApiError::from(e).into_response(),
            };
            respond(
                page(&state, &who, &next, mode, Some(refusal(&i18n, &e)), None).await,
                e.status,
            )
        }
    }
}

/// A second factor was just set up: a session that had to set one up
/// first becomes a signed-in one, under a new id.
async fn signed_in_if_enrolling(
    state: &AppState,
    who: &Enrollee,
    headers: &axum::http::HeaderMap,
    client: Option<String>,
    mut shown: Response,
) -> Response {
    if !who.enrolling {
        return shown;
    }
    let account = who.person.account.id;
    match crate::service::sign_in::start_session(state, headers, account, client, Stage::Full).await
    {
        Ok(signed) => {
            shown.headers_mut().insert(SET_COOKIE, signed.cookie);
            shown
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
pub struct NewPasskeyForm {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
}

/// The overview again, after a refusal.
async fn refused_overview(state: &AppState, who: &Enrollee, next: &Next, e: ApiError) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let error = Some(refusal(&who.person.viewer.i18n, &e));
    respond(
        page(state, who, next, Mode::Overview, error, None).await,
        e.status,
    )
}

/// Keeps the passkey the browser made (its answer came in the form).
async fn add_passkey(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    headers: axum::http::HeaderMap,
    Form(form): Form<NewPasskeyForm>,
) -> Response {
    let i18n = who.person.viewer.i18n;
    let answer =
        crate::service::passkeys::PasskeyAnswer::from_form(form.ceremony_id, &form.credential);
    let body = crate::service::passkeys::NewPasskey {
        ceremony_id: answer.ceremony_id,
        credential: answer.credential,
        name: Some(form.name),
    };
    let session = &who.person.session;
    match crate::service::passkeys::add(&state, client.clone(), &headers, session, body).await {
        Ok(added) => {
            let notice = Some(i18n.t("passkeys-added-notice"));
            let mode = added.recovery_codes.map_or(Mode::Overview, Mode::Codes);
            let shown = respond(
                page(&state, &who, &next, mode, None, notice).await,
                StatusCode::OK,
            );
            signed_in_if_enrolling(&state, &who, &headers, client, shown).await
        }
        Err(e) => refused_overview(&state, &who, &next, e).await,
    }
}

#[derive(Deserialize)]
pub struct PasskeyNameForm {
    #[serde(default)]
    name: String,
}

async fn rename_passkey(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(form): Form<PasskeyNameForm>,
) -> Response {
    let Some(id) = full_sign_in(&who, &id) else {
        return axum::response::Redirect::to("/account/two-factor").into_response();
    };
    let session = &who.person.session;
    let renamed = crate::service::passkeys::rename_passkey(&state, client, session, id, &form.name);
    overview_after(
        &state,
        &who,
        &next,
        renamed.await.map(drop),
        "passkeys-renamed",
    )
    .await
}

/// The passkey `raw` names, when the person is signed in in full (a
/// sign-in still setting up a second factor only adds one); `None` sends
/// back to the overview.
fn full_sign_in(who: &Enrollee, raw: &str) -> Option<uuid::Uuid> {
    (!who.enrolling).then(|| raw.parse().ok()).flatten()
}

/// The overview after a change: saying it is done, or why it was refused.
async fn overview_after(
    state: &AppState,
    who: &Enrollee,
    next: &Next,
    done: Result<(), ApiError>,
    notice: &str,
) -> Response {
    match done {
        Ok(()) => {
            let notice = Some(who.person.viewer.i18n.t(notice));
            respond(
                page(state, who, next, Mode::Overview, None, notice).await,
                StatusCode::OK,
            )
        }
        Err(e) => refused_overview(state, who, next, e).await,
    }
}

async fn remove_passkey(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let Some(id) = full_sign_in(&who, &id) else {
        return axum::response::Redirect::to("/account/two-factor").into_response();
    };
    let session = &who.person.session;
    let removed = crate::service::passkeys::remove_passkey(&state, client, session, id).await;
    overview_after(&state, &who, &next, removed, "passkeys-removed").await
}

#[derive(Deserialize)]
pub struct RenewForm {
    code: Option<String>,
    /// A passkey's answer instead (the page's script filled these in).
    ceremony_id: Option<String>,
    credential: Option<String>,
}

/// New recovery codes, for a current code or a passkey.
async fn renew(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<RenewForm>,
) -> Response {
    if who.enrolling {
        // Nothing set up yet to renew.
        return axum::response::Redirect::to("/account/two-factor").into_response();
    }
    let passkey = form.ceremony_id.map(|ceremony_id| {
        let credential = form.credential.as_deref().unwrap_or("");
        crate::service::passkeys::PasskeyAnswer::from_form(ceremony_id, credential)
    });
    let body = crate::service::two_factor::CodeOrPasskey {
        code: passkey.is_none().then(|| form.code.unwrap_or_default()),
        passkey,
    };
    match crate::service::two_factor::renew(&state, &who.person.session, client, body).await {
        Ok(codes) => {
            let codes = RecoveryCodes::from(codes).recovery_codes;
            let notice = Some(who.person.viewer.i18n.t("two-factor-renewed"));
            respond(
                page(&state, &who, &next, Mode::Codes(codes), None, notice).await,
                StatusCode::OK,
            )
        }
        Err(e) => refused_overview(&state, &who, &next, e).await,
    }
}

/// Turns the authenticator app off, for a current code of it.
async fn turn_off(
    State(state): State<AppState>,
    who: Enrollee,
    Query(next): Query<Next>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<CodeForm>,
) -> Response {
    if who.enrolling {
        // Nothing set up yet to turn off.
        return axum::response::Redirect::to("/account/two-factor").into_response();
    }
    let origin = Origin::now(client.clone());
    let off = portier_store::two_factor::disable(
        &state.store,
        who.person.account.id,
        &form.code,
        &origin,
    );
    let done = with_code(&state, &who.person.session, client.as_deref(), off).await;
    overview_after(&state, &who, &next, done, "two-factor-off").await
}
