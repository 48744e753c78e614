//! `/me/totp` and `/me/recovery-codes`: a person sets up two-step
//! verification with an authenticator app, gets ten recovery codes, renews
//! them and turns it off; and `…/members/{id}/reset-two-factor`, an
//! administrator taking it away from a member who lost their phone.
//! Wrong codes count against the same limits as wrong codes at sign-in.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use portier_core::rights::MembersUpdate;

use axum::http::header::SET_COOKIE;
use axum::response::IntoResponse;
use portier_store::sessions::Stage;

use crate::auth::{Enrollee, Person};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::service::sign_in::start_session;
use crate::service::two_factor::{
    CodeOrPasskey, RecoveryCodes, TotpEnrolment, code_field, renew, reset_member, start_enrolment,
    with_code,
};
use crate::{ApiError, AppState};

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CurrentCode {
    /// The current code of the authenticator app (6 digits).
    #[schema(max_length = 16)]
    pub code: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TwoFactorStatus {
    /// An authenticator app is set up.
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Passkeys (`GET /me/passkeys` lists them).
    pub passkeys: i64,
}

/// An answer that carries a secret (a TOTP key, recovery codes): never
/// kept by a cache.
fn secret(answer: impl IntoResponse) -> axum::response::Response {
    (
        [(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        )],
        answer,
    )
        .into_response()
}

/// Whether two-step verification is set up.
#[utoipa::path(get, operation_id = "me_two_factor", path = "/me/two-factor", tag = "me",
    responses((status = 200, body = TwoFactorStatus), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn status(
    State(state): State<AppState>,
    Enrollee { session, .. }: Enrollee,
) -> Result<Json<TwoFactorStatus>, ApiError> {
    let s = portier_store::two_factor::status(&state.store, session.account_id).await?;
    Ok(Json(TwoFactorStatus {
        totp: s.totp,
        recovery_codes_left: s.recovery_codes_left,
        passkeys: s.passkeys,
    }))
}

/// Start setting up an authenticator app.
///
/// Not in force until confirmed with a code (`POST /me/totp/confirm`); a
/// second start replaces the first. 409 when one is set up already; 403
/// `recent_sign_in_required` more than 15 minutes after signing in.
#[utoipa::path(post, operation_id = "me_totp_start", path = "/me/totp", tag = "me",
    responses((status = 201, body = TotpEnrolment), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Enrollee { session, .. }: Enrollee,
) -> Result<axum::response::Response, ApiError> {
    let enrolment = start_enrolment(&state, &session).await?;
    Ok(secret((StatusCode::CREATED, Json(enrolment))))
}

/// Confirm the authenticator app with a code it shows.
///
/// From now on signing in asks for a code. Answers ten recovery codes, shown
/// only now; they replace any earlier ones. A session that had to set it up
/// first (`two_factor_setup_required` at sign-in) becomes a signed-in one,
/// under a new cookie.
#[utoipa::path(post, operation_id = "me_totp_confirm", path = "/me/totp/confirm", tag = "me", request_body = CurrentCode,
    responses((status = 200, body = RecoveryCodes), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: axum::http::HeaderMap,
    Enrollee { session, enrolling }: Enrollee,
    ApiJson(body): ApiJson<CurrentCode>,
) -> Result<axum::response::Response, ApiError> {
    let code = code_field(&body.code)?;
    crate::auth::recent_sign_in(&state, &session)?;
    let origin = Origin::now(client.clone());
    let codes = with_code(
        &state,
        &session,
        client.as_deref(),
        portier_store::two_factor::confirm_totp(&state.store, session.account_id, code, &origin),
    )
    .await?;
    let codes = Json(RecoveryCodes::from(codes));
    if !enrolling {
        return Ok(secret(codes));
    }
    // Set up as required: signed in from now on, with a new session id.
    let signed = start_session(&state, &headers, session.account_id, client, Stage::Full).await?;
    Ok(secret(([(SET_COOKIE, signed.cookie)], codes)))
}

/// Turn two-step verification off, with a current code.
///
/// The app and every recovery code stop working.
#[utoipa::path(delete, operation_id = "me_totp_remove", path = "/me/totp", tag = "me", request_body = CurrentCode,
    responses((status = 204, description = "Turned off"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
    ApiJson(body): ApiJson<CurrentCode>,
) -> Result<StatusCode, ApiError> {
    let code = code_field(&body.code)?;
    let origin = Origin::now(client.clone());
    with_code(
        &state,
        &session,
        client.as_deref(),
        portier_store::two_factor::disable(&state.store, session.account_id, code, &origin),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes, with a current code or a passkey; the old ones stop
/// working.
#[utoipa::path(post, operation_id = "me_recovery_codes_renew", path = "/me/recovery-codes", tag = "me", request_body = CodeOrPasskey,
    responses((status = 200, body = RecoveryCodes), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn renew_recovery_codes(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
    ApiJson(body): ApiJson<CodeOrPasskey>,
) -> Result<axum::response::Response, ApiError> {
    let codes = renew(&state, &session, client, body).await?;
    Ok(secret(Json(RecoveryCodes::from(codes))))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TwoFactorReset {
    /// False when the member had nothing set up (nothing changed).
    pub reset: bool,
}

/// Take a member's two-step verification away (a lost phone).
///
/// The member signs in with their password alone until they set it up
/// again; audited here and mailed to them. Needs `members.update`, and
/// `admins.manage` for a member holding an administrator role. Their codes
/// are never shown to anyone.
#[utoipa::path(post, operation_id = "members_reset_two_factor", path = "/organizations/{org}/members/{account_id}/reset-two-factor", tag = "members",
    params(("org" = Uuid, Path, description = "Organization id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses((status = 200, body = TwoFactorReset), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<TwoFactorReset>, ApiError> {
    let account = crate::extract::path_id("account_id", &account)?;
    let reset = reset_member(&state, &auth, account, client).await?;
    Ok(Json(TwoFactorReset { reset }))
}
