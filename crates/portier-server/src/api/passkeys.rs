//! Passkeys (docs/RULES.md#two-step-verification): `/me/passkeys` to add,
//! list, rename and remove them; `/auth/mfa/passkey` for the second step of
//! a sign-in; `/auth/passkey` to sign in with a passkey alone. Each ceremony
//! is two requests: the first answers `{ceremony_id, options}` (the options
//! go to `navigator.credentials.create` or `.get`), the second brings the
//! browser's answer with the ceremony id. The ceremony's state waits in the
//! database, so the second request may reach another node; it works once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use portier_store::passkeys::Purpose;
use portier_store::sessions::Stage;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Enrollee, Person};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::service::passkeys::{
    Ceremony, NewPasskey, PasskeyAdded, PasskeyAnswer, PasskeyView, add, remove_passkey,
    rename_passkey, session_ceremony, sign_in, sign_in_ceremony, start_registration,
};
use crate::service::sign_in::{pending_sign_in, start_session};
use crate::{ApiError, AppState};

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyList {
    pub items: Vec<PasskeyView>,
}

/// My passkeys, oldest first.
#[utoipa::path(get, operation_id = "me_passkeys", path = "/me/passkeys", tag = "me",
    responses((status = 200, body = PasskeyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Enrollee { session, .. }: Enrollee,
) -> Result<Json<PasskeyList>, ApiError> {
    let items = portier_store::passkeys::list(&state.store, session.account_id).await?;
    Ok(Json(PasskeyList {
        items: items.into_iter().map(PasskeyView::from).collect(),
    }))
}

/// Start adding a passkey.
///
/// Hand `options` to `navigator.credentials.create`, then send its answer to
/// `POST /me/passkeys/confirm`. Open also to a person who must set up
/// two-step verification first. Only within 15 minutes of signing in (403
/// `recent_sign_in_required`): a session taken over later cannot add a way
/// in. 409 `passkeys_unavailable` when Portier's public address is an IP
/// address (browsers refuse passkeys there).
#[utoipa::path(post, operation_id = "me_passkeys_start", path = "/me/passkeys", tag = "me",
    responses((status = 201, body = Ceremony), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Enrollee { session, .. }: Enrollee,
) -> Result<impl IntoResponse, ApiError> {
    crate::auth::recent_sign_in(&state, &session)?;
    let ceremony = start_registration(&state, session.account_id).await?;
    Ok((StatusCode::CREATED, no_store(), Json(ceremony)))
}

fn no_store() -> [(header::HeaderName, header::HeaderValue); 1] {
    [(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    )]
}

/// Add the passkey the browser made.
///
/// With the answer of `navigator.credentials.create` to the options of
/// `POST /me/passkeys`. From now on signing in asks for a second factor,
/// which this passkey gives, and the passkey alone signs in
/// (`POST /auth/passkey`). The first second factor comes with ten recovery
/// codes, shown only now. The person is told by mail. A session that had to
/// set up two-step verification first becomes a signed-in one, under a new
/// cookie.
#[utoipa::path(post, operation_id = "me_passkeys_confirm", path = "/me/passkeys/confirm", tag = "me", request_body = NewPasskey,
    responses((status = 201, body = PasskeyAdded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Enrollee { session, enrolling }: Enrollee,
    ApiJson(body): ApiJson<NewPasskey>,
) -> Result<axum::response::Response, ApiError> {
    let added = add(&state, client.clone(), &headers, &session, body).await?;
    let answer = (StatusCode::CREATED, no_store(), Json(added));
    if !enrolling {
        return Ok(answer.into_response());
    }
    let signed = start_session(&state, &headers, session.account_id, client, Stage::Full).await?;
    Ok(([(SET_COOKIE, signed.cookie)], answer).into_response())
}

/// Rename one of my passkeys.
#[utoipa::path(patch, operation_id = "me_passkeys_rename", path = "/me/passkeys/{id}", tag = "me", request_body = PasskeyName,
    params(("id" = Uuid, Path, description = "The passkey's id")),
    responses((status = 200, body = PasskeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn rename(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PasskeyName>,
) -> Result<Json<PasskeyView>, ApiError> {
    let id = crate::extract::path_id("id", &id)?;
    let info = rename_passkey(&state, client, &session, id, &body.name).await?;
    Ok(Json(info.into()))
}

/// Remove one of my passkeys.
///
/// It stops working at once. Only within 15 minutes of signing in (403
/// `recent_sign_in_required`). 409 `two_factor_required` when it is the
/// last second factor and an organization requires one; removing the last
/// one also removes the recovery codes.
#[utoipa::path(delete, operation_id = "me_passkeys_remove", path = "/me/passkeys/{id}", tag = "me",
    params(("id" = Uuid, Path, description = "The passkey's id")),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = crate::extract::path_id("id", &id)?;
    remove_passkey(&state, client, &session, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start the second step of a sign-in with a passkey.
///
/// With the cookie of a sign-in that answered `mfa_required: true`. Hand
/// `options` to `navigator.credentials.get`, then send its answer to
/// `POST /auth/mfa` as `{passkey: {ceremony_id, credential}}`.
#[utoipa::path(post, operation_id = "auth_mfa_passkey", path = "/auth/mfa/passkey", tag = "auth", security(()),
    responses((status = 200, body = Ceremony), (status = 401, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_second_factor(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let pending = pending_sign_in(&state, &headers).await?;
    let ceremony = session_ceremony(&state, &pending, Purpose::SecondFactor).await?;
    Ok((no_store(), Json(ceremony)))
}

/// Start showing it is you with a passkey.
///
/// Before a change to your second factors that asks for one
/// (`POST /me/recovery-codes` with `{passkey: {ceremony_id, credential}}`):
/// hand `options` to `navigator.credentials.get` and send its answer there.
/// 409 `no_passkey` without one.
#[utoipa::path(post, operation_id = "me_passkeys_verify", path = "/me/passkeys/verify", tag = "me",
    responses((status = 200, body = Ceremony), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn start_confirmation(
    State(state): State<AppState>,
    Person(session): Person,
) -> Result<impl IntoResponse, ApiError> {
    let ceremony = session_ceremony(&state, &session, Purpose::Confirm).await?;
    Ok((no_store(), Json(ceremony)))
}

/// Start signing in with a passkey alone.
///
/// No address needed: the browser offers the passkeys it has for Portier.
/// Hand `options` to `navigator.credentials.get`, then send its answer to
/// `POST /auth/passkey/finish`. Limited per client (429 with `Retry-After`).
#[utoipa::path(post, operation_id = "auth_passkey_start", path = "/auth/passkey", tag = "auth", security(()),
    responses((status = 200, body = Ceremony), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn start_sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
) -> Result<impl IntoResponse, ApiError> {
    let ceremony = sign_in_ceremony(&state, client.as_deref()).await?;
    Ok((no_store(), Json(ceremony)))
}

/// Finish signing in with a passkey alone.
///
/// With the answer of `navigator.credentials.get` to the options of
/// `POST /auth/passkey`. The passkey verified the person on their device, so
/// this is a whole sign-in (two factors in one): it sets the session cookie.
/// A refused answer counts against the client like a wrong password.
#[utoipa::path(post, operation_id = "auth_passkey_finish", path = "/auth/passkey/finish", tag = "auth", security(()), request_body = PasskeyAnswer,
    responses(
        (status = 200, body = super::auth::SignedIn),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn finish_sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PasskeyAnswer>,
) -> Result<impl IntoResponse, ApiError> {
    let signed = sign_in(&state, client, &headers, &body).await?;
    Ok(signed.answer())
}
