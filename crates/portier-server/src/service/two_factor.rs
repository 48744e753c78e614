//! Two-step verification with an authenticator app and recovery codes: a
//! person sets it up and renews the codes; an administrator takes it away
//! from a member (with the right in every organization of the person,
//! docs/RULES.md#shared-accounts).

use crate::{ApiError, AppState};
use axum::http::StatusCode;
use portier_core::ids::AccountId;
use portier_core::rights::{Authorized, MembersUpdate};
use portier_core::two_factor::TotpSecret;
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32, to type into an app by hand.
    pub secret: String,
    /// The same as an `otpauth://` URL (what the QR code carries).
    pub otpauth_url: String,
}

#[derive(Clone, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten codes, each usable once instead of the app's code. Shown only now.
    pub recovery_codes: Vec<String>,
}

impl From<Vec<portier_core::two_factor::RecoveryCode>> for RecoveryCodes {
    fn from(codes: Vec<portier_core::two_factor::RecoveryCode>) -> Self {
        RecoveryCodes {
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        }
    }
}

pub(crate) fn code_field(code: &str) -> Result<&str, ApiError> {
    if code.len() > 16 {
        return Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            portier_core::FieldError::new("code", "too_long", "this is longer than any code"),
        ));
    }
    Ok(code)
}

/// Runs a change that checks a code of the person's, within the limits of
/// wrong second factors (`api::auth::second_factor_guarded`).
pub(crate) async fn with_code<T>(
    state: &AppState,
    person: &portier_store::sessions::Session,
    client: Option<&str>,
    change: impl std::future::Future<Output = portier_store::Result<T>>,
) -> Result<T, ApiError> {
    super::throttles::second_factor_guarded(state, person.account_id, client, change).await
}

/// A new secret, waiting to be confirmed, for the API and the console.
pub(crate) async fn start_enrolment(
    state: &AppState,
    session: &portier_store::sessions::Session,
) -> Result<TotpEnrolment, ApiError> {
    crate::auth::recent_sign_in(state, session)?;
    let account = portier_store::accounts::get(&state.store, session.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("unauthenticated", "sign in again"))?;
    let secret = TotpSecret::from_random(rand::random());
    portier_store::two_factor::start_totp(&state.store, account.id, &secret, chrono::Utc::now())
        .await?;
    Ok(TotpEnrolment {
        secret: secret.to_base32(),
        otpauth_url: secret.otpauth_url(&account.email),
    })
}

/// What shows it is you before new recovery codes: one of the two.
#[derive(Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeOrPasskey {
    /// The current code of the authenticator app (6 digits).
    #[schema(max_length = 16)]
    pub code: Option<String>,
    /// A passkey's answer to the options of `POST /me/passkeys/verify`.
    pub passkey: Option<crate::service::passkeys::PasskeyAnswer>,
}

/// New recovery codes once the person showed it is them, for the API and
/// the console; within the limits of wrong second factors.
pub(crate) async fn renew(
    state: &AppState,
    session: &portier_store::sessions::Session,
    client: Option<String>,
    body: CodeOrPasskey,
) -> Result<Vec<portier_core::two_factor::RecoveryCode>, ApiError> {
    use portier_store::two_factor::{Confirmed, regenerate_recovery_codes};
    let origin = Origin::now(client.clone());
    let (account, store) = (session.account_id, &state.store);
    match (body.code, body.passkey) {
        (Some(code), None) => {
            let code = code_field(&code)?;
            let renewed = regenerate_recovery_codes(store, account, Confirmed::Code(code), &origin);
            with_code(state, session, client.as_deref(), renewed).await
        }
        (None, Some(answer)) => {
            let renewed = async {
                let purpose = portier_store::passkeys::Purpose::Confirm;
                crate::service::passkeys::verify_in_session(state, session, purpose, &answer)
                    .await?;
                regenerate_recovery_codes(store, account, Confirmed::Passkey, &origin).await
            };
            with_code(state, session, client.as_deref(), renewed).await
        }
        _ => Err(ApiError::field(
            StatusCode::UNPROCESSABLE_ENTITY,
            portier_core::FieldError::new(
                "code",
                "one_of",
                "send either code (from the authenticator app) or passkey",
            ),
        )),
    }
}

/// Takes a member's second factors away, for the API and the console.
/// False when there was nothing to take.
pub(crate) async fn reset_member(
    state: &AppState,
    auth: &Authorized<MembersUpdate>,
    account: AccountId,
    client: Option<String>,
) -> Result<bool, ApiError> {
    Ok(portier_store::two_factor::reset(
        &state.store,
        auth,
        account,
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await?)
}
