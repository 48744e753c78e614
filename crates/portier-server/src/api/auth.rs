//! `/auth`: sign-in, sign-out and password reset. Answers never reveal whether
//! an address has an account: a wrong password and an unknown address are the
//! same 401 in status, body and time (both cost one Argon2id verification);
//! a reset request is always 202.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use portier_core::secrets::TokenKind;
use portier_store::sessions::Stage;
use portier_store::two_factor::Proof;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::service::accounts::{locale_of, open};
use crate::service::sign_in::{SecondProof, SignIn, second_step, sign_in, start_reset};
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
    pub passkey: Option<crate::service::passkeys::PasskeyAnswer>,
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
    let password = crate::service::accounts::new_password(&info, body.password, None, None)
        .map_err(|e| password_refused(e, locale))?;
    crate::service::accounts::finish_reset(&state, &info, password, client).await?;
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
