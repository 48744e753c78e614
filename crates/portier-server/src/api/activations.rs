//! `/activations/{token}`: the link of the invitation mail
//! (docs/RULES.md#invitations-and-activation).
//! It works once, for `PORTIER_ACTIVATION_TTL`; a used, replaced or expired link
//! answers 410 and says how to get a new one.

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use portier_core::locale::Locale;
use portier_core::members::parse_phone;
use portier_core::passwords::PasswordPolicy;
use portier_core::secrets::TokenKind;
use portier_store::accounts::ProfileFill;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::service::accounts::{locale_of, open};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ActivationView {
    pub email: String,
    /// The name of the organization that sent the invitation.
    pub organization: Option<String>,
    pub organization_id: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    /// The rules the new password must meet: the strictest of the person's
    /// organizations.
    pub password_policy: PasswordPolicy,
    /// Profile fields still empty, which the person may fill in now.
    pub missing_profile: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Activate {
    #[schema(min_length = 1, max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub password: String,
    pub salutation: Option<super::Text<32>>,
    pub given_name: Option<super::Text<100>>,
    pub infix: Option<super::Text<32>>,
    pub family_name: Option<super::Text<100>>,
    pub phone: Option<super::PhoneNumber>,
    pub mobile: Option<super::PhoneNumber>,
    pub locale: Option<Locale>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Activated {
    pub account_id: Uuid,
    pub email: String,
    /// Always `active`.
    pub status: String,
}

/// What an activation link is for.
#[utoipa::path(get, operation_id = "activations_show", path = "/activations/{token}", tag = "activations", security(()),
    params(("token" = String, Path, description = "The token from the activation link")),
    responses(
        (status = 200, body = ActivationView),
        (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<ActivationView>, ApiError> {
    let info = open(&state, TokenKind::Activation, &token).await?;
    let a = &info.account;
    let missing = [
        ("salutation", a.name.salutation.is_none()),
        ("given_name", a.name.given_name.is_none()),
        ("infix", a.name.infix.is_none()),
        ("family_name", a.name.family_name.is_none()),
        ("phone", a.phone.is_none()),
        ("mobile", a.mobile.is_none()),
        ("locale", a.locale.is_none()),
    ]
    .into_iter()
    .filter(|(_, empty)| *empty)
    .map(|(f, _)| f.to_owned())
    .collect();
    Ok(Json(ActivationView {
        email: a.email.to_string(),
        organization: info.organization.as_ref().map(|o| o.name.clone()),
        organization_id: info.organization.as_ref().map(|o| o.id.0),
        expires_at: info.expires_at,
        password_policy: PasswordPolicy::strictest(&info.policies),
        missing_profile: missing,
    }))
}

/// Choose a password and activate the account.
///
/// The password must meet the strictest policy of the person's
/// organizations, must not be easy to guess and must not contain their name
/// or address; a refusal lists every unmet rule in the person's language.
#[utoipa::path(post, operation_id = "activations_activate", path = "/activations/{token}", tag = "activations", security(()), request_body = Activate,
    params(("token" = String, Path, description = "The token from the activation link")),
    responses(
        (status = 200, body = Activated),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 410, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn activate(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
    ApiJson(body): ApiJson<Activate>,
) -> Result<Json<Activated>, ApiError> {
    let info = open(&state, TokenKind::Activation, &token).await?;
    let locale = locale_of(&info, body.locale);
    let text = |field: &str, v: Option<String>, max| {
        portier_core::accounts::profile_text(field, v.as_deref(), max)
    };
    let fill = ProfileFill {
        salutation: text("salutation", super::inner(body.salutation), 32)?,
        given_name: text("given_name", super::inner(body.given_name), 100)?,
        infix: text("infix", super::inner(body.infix), 32)?,
        family_name: text("family_name", super::inner(body.family_name), 100)?,
        phone: parse_phone("phone", super::inner(body.phone).as_deref())?,
        mobile: parse_phone("mobile", super::inner(body.mobile).as_deref())?,
        locale: body.locale,
    };
    let password = crate::service::accounts::new_password(
        &info,
        body.password,
        fill.given_name.as_deref(),
        fill.family_name.as_deref(),
    )
    .map_err(|e| super::auth::password_refused(e, locale))?;
    crate::service::accounts::finish_activation(&state, &info, password, &fill, client).await?;
    let a = &info.account;
    Ok(Json(Activated {
        account_id: a.id.0,
        email: a.email.to_string(),
        status: "active".into(),
    }))
}
