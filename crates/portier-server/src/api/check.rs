//! `POST /check`: the question every integrating product asks, "may this
//! person do this here?", answered from memory without SQL
//! (docs/RULES.md#the-check-api, `crate::rights_cache`), one at a time or
//! many in one call.

use axum::Json;
use axum::extract::State;
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::permissions::{MEMBERS_READ, Permission};
use portier_core::rights::Question;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::roles::{KeyText, PermissionName};
use super::string_schema;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, object};
use crate::{ApiError, AppState};

/// The most questions one batch may ask.
pub const MAX_BATCH: usize = 1000;

/// A resource's id as the product knows it: 1 to 200 characters of one line.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct ResourceKey(pub String);

const RESOURCE_KEY_PATTERN: &str = r#"^[^\u0000-\u001F\u007F-\u009F]{1,200}$"#;

impl utoipa::PartialSchema for ResourceKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            200,
            RESOURCE_KEY_PATTERN,
            "The resource's id in the product: 1 to 200 characters on one line.",
        )
    }
}

impl utoipa::ToSchema for ResourceKey {}

/// A resource of the organization (a mailbox, an administration).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceRef {
    /// Its type (`mailbox`).
    #[serde(rename = "type")]
    pub kind: KeyText,
    pub id: ResourceKey,
}

/// One question.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub account_id: Uuid,
    /// Any permission (`documents.read`); one nobody holds is not allowed.
    /// With a resource: `<type>.<relation>` (`mailbox.use`).
    pub permission: PermissionName,
    pub organization_id: Uuid,
    #[serde(default, deserialize_with = "object")]
    pub resource: Option<ResourceRef>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct CheckAnswer {
    pub allowed: bool,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1000 questions.
    #[schema(min_items = 1, max_items = 1000)]
    pub checks: Vec<CheckRequest>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchAnswer {
    /// One answer per question, in the order asked.
    pub results: Vec<CheckAnswer>,
}

/// Answers one question; `field` prefixes the names of refused fields
/// (`checks[3].`).
async fn answer(
    state: &AppState,
    caller: &Caller,
    q: &CheckRequest,
    field: &str,
) -> Result<bool, ApiError> {
    let organization = OrganizationId::from(q.organization_id);
    // An organization the caller has no right on is one it cannot know of.
    let path = match state
        .rights
        .organization(&state.store, organization)
        .await?
    {
        Some(path) if caller.0.sees(&path) => path,
        _ => {
            return Err(portier_core::Error::NotFound {
                what: "organization",
            }
            .into());
        }
    };
    if !caller.0.holds(&MEMBERS_READ, &path) {
        return Err(portier_core::Error::Forbidden {
            permission: MEMBERS_READ,
        }
        .into());
    }
    let permission = Permission::parse(&format!("{field}permission"), &q.permission.0)?;
    let resource = match &q.resource {
        None => None,
        Some(r) => {
            let kind =
                portier_core::roles::RoleKey::parse(&format!("{field}resource.type"), &r.kind.0)?;
            let key = portier_core::accounts::profile_text(
                &format!("{field}resource.id"),
                Some(&r.id.0),
                200,
            )?
            .ok_or_else(|| {
                portier_core::FieldError::new(
                    format!("{field}resource.id"),
                    "required",
                    "give the resource's id",
                )
            })?;
            Some((kind.as_str().to_owned(), key))
        }
    };
    let Some(environment) = path.environment_id() else {
        return Ok(false);
    };
    let rights = state
        .rights
        .account_rights(&state.store, AccountId::from(q.account_id), environment)
        .await?;
    Ok(rights.allows(Question {
        permission: permission.as_str(),
        path: &path,
        resource: resource.as_ref().map(|(k, i)| (k.as_str(), i.as_str())),
    }))
}

/// May this person do this in this organization?
///
/// Answers from the person's roles (their own and their groups'), rights
/// held on organizations above this one, and grants on the resource if one
/// is named. A permission nobody holds is `false`, not an error.
///
/// *Permissions*: `members.read` on the organization asked about; an
/// organization the caller has no right on is 404.
#[utoipa::path(post, operation_id = "check_check", path = "/check", tag = "check", request_body = CheckRequest,
    responses(
        (status = 200, body = CheckAnswer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn check(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CheckRequest>,
) -> Result<Json<CheckAnswer>, ApiError> {
    let allowed = answer(&state, &caller, &body, "").await?;
    Ok(Json(CheckAnswer { allowed }))
}

/// Many questions in one call, answered in order.
///
/// *Permissions*: as for one; the first question about an organization the
/// caller may not ask about answers the whole call (404 or 403).
#[utoipa::path(post, operation_id = "check_batch", path = "/check/batch", tag = "check", request_body = BatchRequest,
    responses(
        (status = 200, body = BatchAnswer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn batch(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<Json<BatchAnswer>, ApiError> {
    if body.checks.is_empty() || body.checks.len() > MAX_BATCH {
        return Err(portier_core::FieldError::new(
            "checks",
            "batch_size",
            format!("ask 1 to {MAX_BATCH} questions in one call"),
        )
        .into());
    }
    let mut results = Vec::with_capacity(body.checks.len());
    for (i, q) in body.checks.iter().enumerate() {
        let allowed = answer(&state, &caller, q, &format!("checks[{i}].")).await?;
        results.push(CheckAnswer { allowed });
    }
    Ok(Json(BatchAnswer { results }))
}
