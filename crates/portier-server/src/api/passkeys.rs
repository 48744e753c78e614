//! Passkeys (issue 6): `/me/passkeys` to add, list, rename and remove them;
//! `/auth/mfa/passkey` for the second step of a sign-in; `/auth/passkey` to
//! sign in with a passkey alone. Each ceremony is two requests: the first
//! answers `{ceremony_id, options}` (the options go to
//! `navigator.credentials.create` or `.get`), the second brings the
//! browser's answer with the ceremony id. The ceremony's state waits in the
//! database, so the second request may reach another node; it works once.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::FieldError;
use portier_core::ids::AccountId;
use portier_core::passkeys::{Asserted, Unavailable};
use portier_core::throttle;
use portier_store::audit::Origin;
use portier_store::passkeys::{PasskeyInfo, Purpose, Stored};
use portier_store::sessions::{Session, Stage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Enrollee, Person};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::{ApiError, AppState};

/// The first half of a ceremony.
#[derive(Clone, Serialize, ToSchema)]
pub struct Ceremony {
    /// Send it back with the browser's answer (works once, for 6 minutes).
    pub ceremony_id: String,
    /// For the browser: `{publicKey: …}`, binary values in base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

/// The browser's answer to a ceremony.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswer {
    #[schema(max_length = 128)]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` as JSON (binary values in base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

impl PasskeyAnswer {
    /// The answer as a console form carries it: the credential as JSON
    /// text, filled in by the page's script (anything else is no
    /// credential, which the ceremony then refuses).
    pub(crate) fn from_form(ceremony_id: String, credential: &str) -> PasskeyAnswer {
        PasskeyAnswer {
            ceremony_id,
            credential: serde_json::from_str(credential).unwrap_or_default(),
        }
    }
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasskey {
    #[schema(max_length = 128)]
    pub ceremony_id: String,
    /// The `PublicKeyCredential` that `navigator.credentials.create` made.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// What to call it ("Work laptop"); by default the device it was made on.
    #[schema(max_length = 64)]
    pub name: Option<String>,
}

#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyName {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyInfo> for PasskeyView {
    fn from(p: PasskeyInfo) -> Self {
        PasskeyView {
            id: p.id,
            name: p.name,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyList {
    pub items: Vec<PasskeyView>,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct PasskeyAdded {
    pub passkey: PasskeyView,
    /// Ten recovery codes when this is the first second factor (shown only
    /// now), else null.
    pub recovery_codes: Option<Vec<String>>,
}

fn unavailable(e: Unavailable) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "passkeys_unavailable", e.to_string())
}

/// A ceremony id that names no ceremony under way (unknown, used, too old).
fn no_ceremony() -> portier_store::Error {
    FieldError::new(
        "ceremony_id",
        "ceremony_unknown",
        "this passkey request has run out of time or was answered already: start again",
    )
    .into()
}

fn ceremony_id_field(id: &str) -> Result<&str, ApiError> {
    if id.len() > 128 {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            FieldError::new(
                "ceremony_id",
                "too_long",
                "this is longer than any ceremony id",
            ),
        ));
    }
    Ok(id)
}

fn name_field(name: Option<&str>) -> Result<Option<String>, ApiError> {
    name.map_or(Ok(None), portier_core::passkeys::name)
        .map_err(|e| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, e))
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

/// A registration ceremony for `account`, for the API and the console.
pub(crate) async fn start_registration(
    state: &AppState,
    account: AccountId,
) -> Result<Ceremony, ApiError> {
    let account = portier_store::accounts::get(&state.store, account)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unauthenticated", "sign in again"))?;
    let existing: Vec<_> = portier_store::passkeys::records(&state.store, account.id)
        .await?
        .into_iter()
        .map(|s| s.record)
        .collect();
    let display = account
        .name
        .display_name()
        .unwrap_or_else(|| account.email.to_string());
    let started = state
        .config
        .passkeys
        .start_registration(account.id.0, account.email.as_str(), &display, &existing)
        .map_err(unavailable)?;
    begin(state, Purpose::Register, Some(account.id), None, started).await
}

async fn begin(
    state: &AppState,
    purpose: Purpose,
    account: Option<AccountId>,
    session: Option<&Session>,
    started: portier_core::passkeys::Started,
) -> Result<Ceremony, ApiError> {
    let id = portier_store::passkeys::begin(
        &state.store,
        purpose,
        account,
        session.map(|s| s.id_hash.as_str()),
        &started.state,
        Utc::now(),
    )
    .await?;
    Ok(Ceremony {
        ceremony_id: id.expose().to_owned(),
        options: started.options,
    })
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
    let signed =
        super::auth::start_session(&state, &headers, session.account_id, client, Stage::Full)
            .await?;
    Ok(([(SET_COOKIE, signed.cookie)], answer).into_response())
}

/// Checks a registration's answer and keeps the passkey, for the API and
/// the console.
pub(crate) async fn add(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    session: &Session,
    body: NewPasskey,
) -> Result<PasskeyAdded, ApiError> {
    let name = name_field(body.name.as_deref())?;
    let id = ceremony_id_field(&body.ceremony_id)?;
    crate::auth::recent_sign_in(state, session)?;
    let ceremony = portier_store::passkeys::take(&state.store, Purpose::Register, id, Utc::now())
        .await?
        .filter(|c| c.account_id == Some(session.account_id))
        .ok_or_else(no_ceremony)?;
    let registered = state
        .config
        .passkeys
        .finish_registration(&ceremony.state, &body.credential)
        .map_err(|e| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, e.in_field("credential")))?;
    let account = portier_store::accounts::get(&state.store, session.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unauthenticated", "sign in again"))?;
    let device = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(portier_core::sessions::device)
        .unwrap_or_else(|| "Passkey".to_owned());
    let (info, codes) = portier_store::passkeys::add(
        &state.store,
        &account,
        name.as_deref(),
        &device,
        &registered,
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await?;
    Ok(PasskeyAdded {
        passkey: info.into(),
        recovery_codes: codes.map(|c| c.iter().map(|c| c.expose().to_owned()).collect()),
    })
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

/// Renames a passkey of the person's, for the API and the console.
pub(crate) async fn rename_passkey(
    state: &AppState,
    client: Option<String>,
    session: &Session,
    id: Uuid,
    name: &str,
) -> Result<PasskeyInfo, ApiError> {
    let name = name_field(Some(name))?.ok_or_else(|| {
        ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            FieldError::new("name", "required", "give the passkey a name"),
        )
    })?;
    Ok(portier_store::passkeys::rename(
        &state.store,
        session.account_id,
        id,
        &name,
        &Origin::now(client),
    )
    .await?)
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

/// Removes a passkey of the person's, for the API and the console.
pub(crate) async fn remove_passkey(
    state: &AppState,
    client: Option<String>,
    session: &Session,
    id: Uuid,
) -> Result<(), ApiError> {
    crate::auth::recent_sign_in(state, session)?;
    portier_store::passkeys::remove(&state.store, session.account_id, id, &Origin::now(client))
        .await?;
    Ok(())
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
    let pending = super::auth::pending_sign_in(&state, &headers).await?;
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

/// A ceremony with one of `session`'s person's passkeys, bound to that
/// session, for the API and the console. 409 `no_passkey` when the person
/// has none.
pub(crate) async fn session_ceremony(
    state: &AppState,
    session: &Session,
    purpose: Purpose,
) -> Result<Ceremony, ApiError> {
    let passkeys: Vec<_> = portier_store::passkeys::records(&state.store, session.account_id)
        .await?
        .into_iter()
        .map(|s| s.record)
        .collect();
    if passkeys.is_empty() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_passkey",
            "this account has no passkey: give a code of the authenticator app or a recovery code",
        ));
    }
    let started = state
        .config
        .passkeys
        .start_authentication(&passkeys)
        .map_err(unavailable)?;
    begin(
        state,
        purpose,
        Some(session.account_id),
        Some(session),
        started,
    )
    .await
}

/// Checks a passkey's answer to a ceremony of `purpose` that `session`
/// started (an `Invalid` error when it does not hold, which counts as a
/// wrong second factor).
pub(crate) async fn verify_in_session(
    state: &AppState,
    session: &Session,
    purpose: Purpose,
    answer: &PasskeyAnswer,
) -> portier_store::Result<()> {
    let ceremony =
        portier_store::passkeys::take(&state.store, purpose, &answer.ceremony_id, Utc::now())
            .await?
            .filter(|c| {
                c.account_id == Some(session.account_id)
                    && c.session_hash.as_deref() == Some(session.id_hash.as_str())
            })
            .ok_or_else(no_ceremony)?;
    let stored = portier_store::passkeys::records(&state.store, session.account_id).await?;
    let records: Vec<_> = stored.iter().map(|s| s.record.clone()).collect();
    let asserted = state
        .config
        .passkeys
        .finish_authentication(&ceremony.state, &answer.credential, &records)
        .map_err(|e| e.in_field("credential"))?;
    used(state, &stored, &asserted).await
}

async fn used(
    state: &AppState,
    stored: &[Stored],
    asserted: &Asserted,
) -> portier_store::Result<()> {
    let Some(passkey) = stored
        .iter()
        .find(|s| portier_core::passkeys::credential_id_of(&s.record) == asserted.credential_id)
    else {
        return Err(no_ceremony());
    };
    portier_store::passkeys::used(
        &state.store,
        passkey.id,
        asserted.updated_record.as_deref(),
        Utc::now(),
    )
    .await
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

/// A ceremony for signing in with a passkey alone, for the API and the
/// console. Each start stores a row, so starts are limited per client.
pub(crate) async fn sign_in_ceremony(
    state: &AppState,
    client: Option<&str>,
) -> Result<Ceremony, ApiError> {
    let started = state
        .config
        .passkeys
        .start_discoverable()
        .map_err(unavailable)?;
    let key = format!("passkey:client:{}", client.unwrap_or("unknown"));
    let limit = throttle::PASSKEY_CEREMONIES_PER_CLIENT;
    let now = Utc::now();
    let (n, since) = portier_store::throttles::hit(&state.store, &key, &limit, now).await?;
    if let Some(wait) = limit.retry_after(n - 1, since, now) {
        return Err(ApiError::throttled(wait));
    }
    begin(state, Purpose::SignIn, None, None, started).await
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

/// Signs in with a passkey alone, for the API and the console.
pub(crate) async fn sign_in(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    body: &PasskeyAnswer,
) -> Result<super::auth::SignIn, ApiError> {
    ceremony_id_field(&body.ceremony_id)?;
    let limits = [(
        format!("login:client:{}", client.as_deref().unwrap_or("unknown")),
        throttle::LOGIN_PER_CLIENT,
    )];
    super::auth::enforce(state, &limits).await?;
    let account = match identify(state, body).await {
        Ok(account) => account,
        Err(e) => {
            super::auth::count(state, &limits).await?;
            return Err(e);
        }
    };
    super::auth::start_session(state, headers, account, client, Stage::Full).await
}

/// The account whose passkey answered a sign-in ceremony, when the answer
/// holds and the account may sign in.
async fn identify(state: &AppState, body: &PasskeyAnswer) -> Result<AccountId, ApiError> {
    let ceremony =
        portier_store::passkeys::take(&state.store, Purpose::SignIn, &body.ceremony_id, Utc::now())
            .await?
            .ok_or_else(no_ceremony)?;
    let rp = &state.config.passkeys;
    let refused = |e: portier_core::passkeys::Refused| {
        ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, e.in_field("credential"))
    };
    let (user, credential_id) = rp.identify(&body.credential).map_err(refused)?;
    // The passkey must be known, and the person it says must be its owner.
    let stored = portier_store::passkeys::by_credential_id(&state.store, &credential_id)
        .await?
        .filter(|s| s.account_id.0 == user)
        .ok_or_else(|| refused(portier_core::passkeys::Refused))?;
    let asserted = rp
        .finish_discoverable(&ceremony.state, &body.credential, &stored.record)
        .map_err(refused)?;
    let account = portier_store::accounts::signing_in(&state.store, stored.account_id)
        .await?
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "account_inactive",
                "this account cannot sign in: it is deactivated, or no organization it belongs to has it active",
            )
        })?;
    used(state, std::slice::from_ref(&stored), &asserted).await?;
    Ok(account.id)
}
