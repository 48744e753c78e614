//! `/me`: the signed-in person's own account. Once activated, only the person
//! changes their name (docs/RULES.md#changing-a-members-details); changing
//! the password asks for the current one and ends the person's other
//! sessions.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::AccountStatus;
use portier_core::locale::Locale;
use portier_store::accounts::ProfilePatch;
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Person;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyOrganization {
    pub id: Uuid,
    pub name: String,
    /// False when this organization deactivated the membership.
    pub active: bool,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Me {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<Locale>,
    pub status: AccountStatus,
    pub created_at: DateTime<Utc>,
    pub organizations: Vec<MyOrganization>,
}

/// A change to one's own account. Absent fields stay; `null` empties a field.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::Text<32>>)]
    pub salutation: Option<Option<super::Text<32>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::Text<100>>)]
    pub given_name: Option<Option<super::Text<100>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::Text<32>>)]
    pub infix: Option<Option<super::Text<32>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::Text<100>>)]
    pub family_name: Option<Option<super::Text<100>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::PhoneNumber>)]
    pub phone: Option<Option<super::PhoneNumber>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::PhoneNumber>)]
    pub mobile: Option<Option<super::PhoneNumber>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Locale>)]
    pub locale: Option<Option<Locale>>,
    /// Required with `new_password`.
    #[schema(max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub current_password: Option<String>,
    #[schema(max_length = 1024, pattern = r"^[^\u0000]*$")]
    pub new_password: Option<String>,
    /// Never changeable here, not even by the person themselves: 403 when
    /// sent; a platform operator changes it.
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Object>)]
    pub registration: Option<Option<serde_json::Value>>,
}

async fn me_of(state: &AppState, account: portier_core::ids::AccountId) -> Result<Me, ApiError> {
    let a = portier_store::accounts::get(&state.store, account)
        .await?
        .ok_or(DomainError::NotFound { what: "account" })?;
    let orgs = portier_store::members::memberships_of(&state.store, account).await?;
    Ok(Me {
        account_id: a.id.0,
        email: a.email.to_string(),
        display_name: a.display_name(),
        salutation: a.name.salutation.clone(),
        given_name: a.name.given_name.clone(),
        infix: a.name.infix.clone(),
        family_name: a.name.family_name.clone(),
        phone: a.phone.clone(),
        mobile: a.mobile.clone(),
        locale: a.locale,
        status: a.status,
        created_at: a.created_at,
        organizations: orgs
            .into_iter()
            .map(|m| MyOrganization {
                id: m.organization_id.0,
                name: m.organization,
                active: m.active,
                roles: m.roles,
            })
            .collect(),
    })
}

/// The signed-in account, with its organizations and roles there.
#[utoipa::path(get, operation_id = "me_get_me", path = "/me", tag = "me", security(("session" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_me(
    State(state): State<AppState>,
    Person(session): Person,
) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_of(&state, session.account_id).await?))
}

/// Change one's own profile or password.
#[utoipa::path(patch, operation_id = "me_update_me", path = "/me", tag = "me", security(("session" = [])), request_body = UpdateMe,
    responses(
        (status = 200, body = Me),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn update_me(
    State(state): State<AppState>,
    Person(session): Person,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<UpdateMe>,
) -> Result<Json<Me>, ApiError> {
    if body.registration.is_some() {
        return Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "registration_locked",
            "you cannot change your registration number yourself; ask the platform operator",
        )
        .with_field("registration"));
    }
    let account = portier_store::accounts::get(&state.store, session.account_id)
        .await?
        .ok_or(DomainError::NotFound { what: "account" })?;
    let patch = crate::service::accounts::profile_patch(ProfilePatch {
        salutation: super::inner2(body.salutation),
        given_name: super::inner2(body.given_name),
        infix: super::inner2(body.infix),
        family_name: super::inner2(body.family_name),
        phone: super::inner2(body.phone),
        mobile: super::inner2(body.mobile),
        locale: body.locale,
    })?;
    let new_password = match (body.new_password, body.current_password) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "current_password_required",
                "give your current password to choose a new one",
            )
            .with_field("current_password"));
        }
        (Some(new), Some(current)) => {
            let locale = account.locale.unwrap_or_default();
            let client = client.as_deref();
            match crate::service::accounts::password_change(&state, &account, client, current, new)
                .await?
            {
                Ok(hash) => Some(hash),
                Err(rejected) => {
                    return Err(ApiError::field(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        rejected.into_field_error_in("new_password", locale),
                    ));
                }
            }
        }
    };
    let origin = Origin::now(client);
    let password = new_password
        .as_deref()
        .map(|hash| portier_store::accounts::NewPassword {
            hash,
            keep_session: Some(&session.id_hash),
        });
    portier_store::accounts::update_profile(&state.store, &account, patch, password, &origin)
        .await?;
    Ok(Json(me_of(&state, account.id).await?))
}
