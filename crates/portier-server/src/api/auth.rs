//! `/auth`: sign-in, sign-out and password reset. Answers never reveal whether
//! an address has an account: a wrong password and an unknown address are the
//! same 401 in status, body and time (both cost one Argon2id verification);
//! a reset request is always 202.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use portier_core::email::Email;
use portier_core::throttle::{self, Limit};
use portier_core::tokens::{TokenKind, digest};
use portier_store::audit::Origin;
use portier_store::sessions::Stage;
use portier_store::two_factor::Proof;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::activations::{locale_of, open};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::{ApiError, AppState};

/// No `Debug`: it holds a password.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub email: super::EmailAddress,
    #[schema(max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedIn {
    pub account_id: Uuid,
    /// True when a second factor must still be given (two-step verification):
    /// `POST /auth/mfa` completes the sign-in.
    pub mfa_required: bool,
    /// True when an organization of the person's requires two-step
    /// verification they have not set up: until `POST /me/totp/confirm`, the
    /// session opens nothing but `/me/totp` and `/me/two-factor`.
    pub two_factor_setup_required: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub email: super::EmailAddress,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000]*$")]
    pub password: String,
}

/// Checks every limit in one read; the first one reached answers 429.
/// Returns which keys have a counter at all (those worth clearing later).
pub(crate) async fn enforce(
    state: &AppState,
    limits: &[(String, Limit)],
) -> Result<Vec<bool>, ApiError> {
    let keys: Vec<&str> = limits.iter().map(|(k, _)| k.as_str()).collect();
    let counters = portier_store::throttles::read(&state.store, &keys).await?;
    check_limits(limits, &counters)
}

/// The first limit reached among `counters` (one per limit) answers 429.
/// Returns which keys have a counter at all (those worth clearing later).
fn check_limits(
    limits: &[(String, Limit)],
    counters: &[Option<(i64, chrono::DateTime<Utc>)>],
) -> Result<Vec<bool>, ApiError> {
    let now = Utc::now();
    for ((_, limit), counter) in limits.iter().zip(counters) {
        if let Some(wait) = counter.and_then(|(n, start)| limit.retry_after(n, start, now)) {
            return Err(ApiError::throttled(wait));
        }
    }
    Ok(counters.iter().map(Option::is_some).collect())
}

pub(crate) async fn count(state: &AppState, limits: &[(String, Limit)]) -> Result<(), ApiError> {
    for (key, limit) in limits {
        portier_store::throttles::hit(&state.store, key, limit, Utc::now()).await?;
    }
    Ok(())
}

/// Sign in with e-mail address and password.
///
/// Sets the session cookie. Failed attempts are limited per address, per
/// client and per pair of both (429 with `Retry-After`); the limits lift after
/// their window, so nobody can be locked out for good.
#[utoipa::path(post, operation_id = "auth_login", path = "/auth/login", tag = "auth", security(()), request_body = Login,
    responses(
        (status = 200, body = SignedIn),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Login>,
) -> Result<impl IntoResponse, ApiError> {
    let signed = sign_in(&state, client, &headers, &body.email.0, body.password).await?;
    Ok(signed.answer())
}

/// A person who just signed in, and the cookie of their new session.
pub(crate) struct SignIn {
    pub account_id: portier_core::ids::AccountId,
    pub cookie: header::HeaderValue,
    /// How far the sign-in has come: `SecondFactor` waits for
    /// `POST /auth/mfa`, `Enrol` for two-step verification to be set up.
    pub stage: Stage,
}

impl SignIn {
    /// The API's answer: the cookie, never cached, and who signed in.
    pub(crate) fn answer(self) -> impl IntoResponse {
        (
            [
                (header::SET_COOKIE, self.cookie),
                (
                    header::CACHE_CONTROL,
                    header::HeaderValue::from_static("no-store"),
                ),
            ],
            Json(SignedIn {
                account_id: self.account_id.0,
                mfa_required: self.stage == Stage::SecondFactor,
                two_factor_setup_required: self.stage == Stage::Enrol,
            }),
        )
    }
}

/// Signs a person in, for the API and the console alike: the throttles, one
/// Argon2id verification (also for an unknown address), a new session.
pub(crate) async fn sign_in(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    address: &str,
    password: String,
) -> Result<SignIn, ApiError> {
    let email = Email::parse(address).map_err(|e| ApiError::from(e.in_field("email")))?;
    let client_key = client.clone().unwrap_or_else(|| "unknown".into());
    let who = digest(email.as_str());
    let pair = (
        format!("login:pair:{who}:{client_key}"),
        throttle::LOGIN_PER_ACCOUNT_AND_CLIENT,
    );
    let account_limit = (format!("login:account:{who}"), throttle::LOGIN_PER_ACCOUNT);
    let client_limit = (
        format!("login:client:{client_key}"),
        throttle::LOGIN_PER_CLIENT,
    );
    let limits = [pair, account_limit, client_limit];
    let read = portier_store::accounts::login_candidate(
        &state.store,
        &email,
        [&limits[0].0, &limits[1].0, &limits[2].0],
    )
    .await?;
    check_limits(&limits, &read.counters)?;
    // This attempt counts against the person before the password is
    // checked, each count one atomic step: guesses sent in parallel all
    // count, and those past the limit are refused unchecked.
    let now = Utc::now();
    let person = [limits[0].0.as_str(), limits[1].0.as_str()];
    // Both limits count over the same window (one statement for both).
    let window = limits[0].1.window.max(limits[1].1.window);
    let counts = portier_store::throttles::hit_all(&state.store, &person, window, now).await?;
    for ((_, limit), (n, start)) in limits[..2].iter().zip(counts) {
        if let Some(wait) = limit.retry_after(n - 1, start, now) {
            return Err(ApiError::throttled(wait));
        }
    }
    let candidate = read.candidate;
    let hash = candidate.as_ref().and_then(|c| c.password_hash.clone());
    let verified = state.hasher.verify(hash, password).await;
    let Some(candidate) = candidate.filter(|_| verified) else {
        count(state, &limits[2..]).await?;
        return Err(ApiError::unauthenticated(
            "invalid_credentials",
            "the e-mail address or the password is not right",
        ));
    };
    if !candidate.may_sign_in {
        // Only someone who knows the password learns this.
        return Err(ApiError::unauthenticated(
            "account_inactive",
            "this account cannot sign in: it is deactivated, or no organization it belongs to has it active",
        ));
    }
    // A success forgets this person's failures (not the client's: spraying
    // across accounts stays counted).
    portier_store::throttles::clear_all(&state.store, &[&limits[0].0, &limits[1].0]).await?;
    let stage = if candidate.second_factor {
        Stage::SecondFactor
    } else if candidate.two_factor_required {
        Stage::Enrol
    } else {
        Stage::Full
    };
    start_session(state, headers, candidate.account.id, client, stage).await
}

/// A new session for `account` at `stage`, ending the one the request came
/// with: a new id at every step, so a session fixed before is worthless.
pub(crate) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    account: portier_core::ids::AccountId,
    client: Option<String>,
    stage: Stage,
) -> Result<SignIn, ApiError> {
    for old_stage in Stage::ALL {
        if let Some(old) = crate::auth::session_at(state, headers, old_stage).await? {
            portier_store::sessions::end(&state.store, &old.id_hash).await?;
        }
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let secret = portier_store::sessions::create(
        &state.store,
        account,
        user_agent,
        client.as_deref(),
        &state.config.sessions,
        stage,
        Utc::now(),
    )
    .await?;
    Ok(SignIn {
        account_id: account,
        cookie: state.config.cookie.set(secret.expose()),
        stage,
    })
}

/// The second step of a sign-in: one of the three.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondStep {
    /// The current code of the authenticator app.
    #[schema(max_length = 16)]
    pub code: Option<String>,
    /// One of the recovery codes, instead (each works once).
    #[schema(max_length = 40)]
    pub recovery_code: Option<String>,
    /// A passkey's answer, instead: `navigator.credentials.get` with the
    /// options of `POST /auth/mfa/passkey`.
    pub passkey: Option<super::passkeys::PasskeyAnswer>,
}

/// A second factor as given.
pub(crate) enum SecondProof {
    /// A code, or a recovery code.
    Code(Proof),
    /// A passkey's answer.
    Passkey(super::passkeys::PasskeyAnswer),
}

impl SecondStep {
    pub(crate) fn proof(self) -> Result<SecondProof, ApiError> {
        let long = |field: &str| {
            ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                portier_core::FieldError::new(field, "too_long", "this is longer than any code"),
            )
        };
        match (self.code, self.recovery_code, self.passkey) {
            (Some(c), None, None) if c.len() > 16 => Err(long("code")),
            (Some(c), None, None) => Ok(SecondProof::Code(Proof::Code(c))),
            (None, Some(r), None) if r.len() > 40 => Err(long("recovery_code")),
            (None, Some(r), None) => Ok(SecondProof::Code(Proof::RecoveryCode(r))),
            (None, None, Some(p)) => Ok(SecondProof::Passkey(p)),
            _ => Err(ApiError::field(
                StatusCode::UNPROCESSABLE_ENTITY,
                portier_core::FieldError::new(
                    "code",
                    "one_of",
                    "send one of code (from the authenticator app), recovery_code or passkey",
                ),
            )),
        }
    }
}

/// Complete a sign-in that answered `mfa_required: true`.
///
/// With the session cookie that sign-in set (valid for 10 minutes) and a
/// current code of the authenticator app, a recovery code, or a passkey's
/// answer (`POST /auth/mfa/passkey` first). A code works once; a recovery
/// code is used up, audited and mailed to the person. Wrong ones are
/// limited like passwords (429 with `Retry-After`).
#[utoipa::path(post, operation_id = "auth_mfa", path = "/auth/mfa", tag = "auth", security(()), request_body = SecondStep,
    responses(
        (status = 200, body = SignedIn),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn mfa(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SecondStep>,
) -> Result<impl IntoResponse, ApiError> {
    let signed = second_step(&state, client, &headers, body.proof()).await?;
    Ok(signed.answer())
}

/// The second step, for the API and the console alike: the half-signed-in
/// session, the throttles, the proof used up, a new signed-in session.
pub(crate) async fn second_step(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    proof: Result<SecondProof, ApiError>,
) -> Result<SignIn, ApiError> {
    // Who first: without a sign-in under way, what was sent does not matter.
    let pending = pending_sign_in(state, headers).await?;
    let proof = &proof?;
    let account = portier_store::accounts::get(&state.store, pending.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("no_sign_in_started", "sign in again"))?;
    let origin = Origin::now(client.clone());
    match proof {
        SecondProof::Code(proof) => {
            second_factor_guarded(
                state,
                account.id,
                client.as_deref(),
                portier_store::two_factor::verify(
                    &state.store,
                    &account,
                    proof,
                    &state.config.lifecycle,
                    &origin,
                ),
            )
            .await?;
        }
        SecondProof::Passkey(answer) => {
            second_factor_guarded(
                state,
                account.id,
                client.as_deref(),
                super::passkeys::verify_in_session(
                    state,
                    &pending,
                    portier_store::passkeys::Purpose::SecondFactor,
                    answer,
                ),
            )
            .await?;
        }
    }
    start_session(state, headers, account.id, client, Stage::Full).await
}

/// The half-signed-in session of the request: the password was right, the
/// second step is due.
pub(crate) async fn pending_sign_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<portier_store::sessions::Session, ApiError> {
    crate::auth::session_at(state, headers, Stage::SecondFactor)
        .await?
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "no_sign_in_started",
                "sign in with your password first; the second step must follow within 10 minutes",
            )
        })
}

/// Runs a check of a person's second factor within its limits
/// ([`guarded`]).
pub(crate) async fn second_factor_guarded<T>(
    state: &AppState,
    account: portier_core::ids::AccountId,
    client: Option<&str>,
    check: impl std::future::Future<Output = portier_store::Result<T>>,
) -> Result<T, ApiError> {
    let limits = second_factor_limits(account, client);
    guarded(state, &limits, async {
        check.await.map_err(ApiError::from)
    })
    .await
}

/// Runs a check of one of a person's secrets (a code, their current
/// password) within `limits`, per account and per client. The attempt
/// counts against the account before the secret is checked, in one atomic
/// step, so that guesses sent in parallel all count; a right one clears the
/// count. A wrong one (a 422) also counts against the client (spraying
/// across accounts).
pub(crate) async fn guarded<T>(
    state: &AppState,
    [per_account, per_client]: &[(String, Limit); 2],
    check: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    enforce(state, std::slice::from_ref(per_client)).await?;
    let now = Utc::now();
    let (n, start) =
        portier_store::throttles::hit(&state.store, &per_account.0, &per_account.1, now).await?;
    if let Some(wait) = per_account.1.retry_after(n - 1, start, now) {
        return Err(ApiError::throttled(wait));
    }
    match check.await {
        Ok(v) => {
            portier_store::throttles::clear(&state.store, &per_account.0).await?;
            Ok(v)
        }
        Err(e) => {
            if e.status == StatusCode::UNPROCESSABLE_ENTITY {
                count(state, std::slice::from_ref(per_client)).await?;
            }
            Err(e)
        }
    }
}

/// The limits of checking a signed-in person's current password (before a
/// new one is chosen): a session that is not its owner's must not get to
/// guess it.
pub(crate) fn current_password_limits(
    account: portier_core::ids::AccountId,
    client: Option<&str>,
) -> [(String, Limit); 2] {
    [
        (
            format!("current_password:account:{account}"),
            throttle::CURRENT_PASSWORD_PER_ACCOUNT,
        ),
        (
            format!("current_password:client:{}", client.unwrap_or("unknown")),
            throttle::LOGIN_PER_CLIENT,
        ),
    ]
}

pub(crate) fn second_factor_limits(
    account: portier_core::ids::AccountId,
    client: Option<&str>,
) -> [(String, Limit); 2] {
    [
        (
            format!("second_factor:account:{account}"),
            throttle::SECOND_FACTOR_PER_ACCOUNT,
        ),
        (
            format!("second_factor:client:{}", client.unwrap_or("unknown")),
            throttle::LOGIN_PER_CLIENT,
        ),
    ]
}

/// Sign out: ends this session.
#[utoipa::path(post, operation_id = "auth_logout", path = "/auth/logout", tag = "auth", security(()),
    responses((status = 204, description = "Signed out (also when no session was open)")))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    for stage in Stage::ALL {
        if let Some(session) = crate::auth::session_at(&state, &headers, stage).await? {
            portier_store::sessions::end(&state.store, &session.id_hash).await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.config.cookie.clear())],
    ))
}

/// Ask for a password-reset link.
///
/// Always 202, whether or not the address has an account; the mail goes out
/// only when it does. Limited per client and per address.
#[utoipa::path(post, operation_id = "auth_request_reset", path = "/auth/password-reset", tag = "auth", security(()), request_body = ResetRequest,
    responses(
        (status = 202, description = "If the address has an account, a link is on its way"),
        (status = 400, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn request_reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<ResetRequest>,
) -> Result<StatusCode, ApiError> {
    start_reset(&state, client, &body.email.0).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Asks for a reset link, for the API and the console alike: limited per
/// client at once, and per address after the answer, where the lookup and
/// the mail happen too, so the answer's timing says nothing about whether
/// the address has an account.
pub(crate) async fn start_reset(
    state: &AppState,
    client: Option<String>,
    address: &str,
) -> Result<(), ApiError> {
    let email = Email::parse(address).map_err(|e| ApiError::from(e.in_field("email")))?;
    let client_limit = [(
        format!("reset:client:{}", client.clone().unwrap_or_default()),
        throttle::RESET_PER_CLIENT,
    )];
    enforce(state, &client_limit).await?;
    count(state, &client_limit).await?;
    let task_state = state.clone();
    tokio::spawn(async move {
        let state = task_state;
        let account_limit = [(
            format!("reset:account:{}", digest(email.as_str())),
            throttle::RESET_PER_ACCOUNT,
        )];
        if enforce(&state, &account_limit).await.is_err() {
            return;
        }
        let _ = count(&state, &account_limit).await;
        let origin = Origin::now(client);
        if let Err(e) = portier_store::accounts::request_reset(
            &state.store,
            &email,
            &state.config.lifecycle,
            &origin,
        )
        .await
        {
            tracing::warn!(error = %e, "password reset request failed");
        }
    });
    Ok(())
}

/// Choose a new password with a reset link.
///
/// The link works once, for `PORTIER_RESET_TTL`; every session of the account
/// ends. An account that was never activated is activated by it.
#[utoipa::path(post, operation_id = "auth_complete_reset", path = "/auth/password-reset/{token}", tag = "auth", security(()), request_body = NewPassword,
    params(("token" = String, Path, description = "The token from the reset link")),
    responses(
        (status = 200, description = "The password is changed"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn complete_reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let info = open(&state, TokenKind::PasswordReset, &token).await?;
    let locale = locale_of(&info, None);
    let password = crate::accounts::new_password(&info, body.password, None, None)
        .map_err(|e| password_refused(e, locale))?;
    crate::accounts::finish_reset(&state, &info, password, client).await?;
    Ok(Json(
        serde_json::json!({"account_id": info.account.id, "status": "active"}),
    ))
}

/// A refused password as the contract's 422 on `password`.
pub(crate) fn password_refused(
    e: portier_core::passwords::PasswordRejected,
    locale: portier_core::locale::Locale,
) -> ApiError {
    ApiError::field(
        StatusCode::UNPROCESSABLE_ENTITY,
        e.into_field_error_in("password", locale),
    )
}
