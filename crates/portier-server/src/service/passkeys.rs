//! Passkeys: the ceremonies that add one to an account, confirm a person
//! with one, or sign in with one alone. Each ceremony is two requests; its
//! state waits in the database, so the second may reach another node, and
//! it works once.

use crate::{ApiError, AppState};
use axum::http::{HeaderMap, StatusCode, header};
use chrono::{DateTime, Utc};
use portier_core::FieldError;
use portier_core::ids::AccountId;
use portier_core::passkeys::{Asserted, Unavailable};
use portier_core::throttles;
use portier_store::audit::Origin;
use portier_store::passkeys::{PasskeyInfo, Purpose, Stored};
use portier_store::sessions::{Session, Stage};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

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
    let limit = throttles::PASSKEY_CEREMONIES_PER_CLIENT;
    let now = Utc::now();
    let (n, since) = portier_store::throttles::hit(&state.store, &key, &limit, now).await?;
    if let Some(wait) = limit.retry_after(n - 1, since, now) {
        return Err(ApiError::throttled(wait));
    }
    begin(state, Purpose::SignIn, None, None, started).await
}

/// Signs in with a passkey alone, for the API and the console.
pub(crate) async fn sign_in(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    body: &PasskeyAnswer,
) -> Result<super::sign_in::SignIn, ApiError> {
    ceremony_id_field(&body.ceremony_id)?;
    let limits = [(
        format!("login:client:{}", client.as_deref().unwrap_or("unknown")),
        throttles::LOGIN_PER_CLIENT,
    )];
    super::throttles::enforce(state, &limits).await?;
    let account = match identify(state, body).await {
        Ok(account) => account,
        Err(e) => {
            super::throttles::count(state, &limits).await?;
            return Err(e);
        }
    };
    super::sign_in::start_session(state, headers, account, client, Stage::Full).await
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
