//! `/organizations`: the tree the caller may see, creating organizations below
//! one the caller administers, reading and changing one. An organization the
//! caller has no right on answers 404, as if it did not exist.

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::FieldError;
use portier_core::ids::OrganizationId;
use portier_core::locale::Locale;
use portier_core::organizations::{
    BillingCycle, Organization, OrganizationPatch, OrganizationSettings,
};
use portier_core::passwords::{PasswordPolicy, PolicyPreset};
use portier_core::rights::{OrgCreate, OrgUpdate};
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{Page, visible};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, object, path_id};
use crate::service::organizations::share;
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    /// `null` for an environment (a root organization).
    pub parent_id: Option<Uuid>,
    pub environment_id: Uuid,
    pub settings: OrganizationSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationList {
    pub items: Vec<OrganizationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<Uuid>,
}

/// Settings to change; an absent field keeps its value.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub require_two_factor: Option<bool>,
    pub billing_cycle: Option<BillingCycle>,
    /// Allow a person more than one active portfolio at a time.
    pub allow_parallel_portfolios: Option<bool>,
    /// People who join by signing up at one of the environment's proven
    /// domains wait for an administrator's approval.
    pub signup_approval: Option<bool>,
    pub locale: Option<Locale>,
    #[serde(default, deserialize_with = "object")]
    pub password_policy: Option<PasswordPolicy>,
    /// Sets `password_policy` to a named preset: `standard` (the default: 8
    /// characters with a digit, a lower-case and an upper-case letter) or
    /// `nist` (NIST SP 800-63B: 15 characters, no composition rules). Give
    /// either this or `password_policy`.
    pub password_preset: Option<PolicyPreset>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// 1 to 200 characters on one line, not only spaces; spaces around it are
    /// removed.
    pub name: super::Line<200>,
    /// The organization to create it under; the caller needs `org.create` there.
    pub parent_id: Uuid,
    /// Starts from the parent's settings; what is given here overrides them.
    #[serde(default, deserialize_with = "object")]
    pub settings: Option<SettingsInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganization {
    /// As when creating.
    pub name: Option<super::Line<200>>,
    /// Members must set up two-step verification: the
    /// same as `settings.require_two_factor`; give one of the two.
    pub require_two_factor: Option<bool>,
    #[serde(default, deserialize_with = "object")]
    pub settings: Option<SettingsInput>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        OrganizationView {
            id: o.id.0,
            name: o.name.clone(),
            parent_id: o.parent_id.map(|p| p.0),
            environment_id: o.environment_id.0,
            settings: o.settings.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl SettingsInput {
    fn into_patch(self, name: Option<String>) -> Result<OrganizationPatch, FieldError> {
        let password_policy = match (self.password_policy, self.password_preset) {
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "settings.password_preset",
                    "conflict",
                    "give either a preset or the rules of a password policy, not both",
                ));
            }
            (rules, preset) => rules.or(preset.map(PolicyPreset::policy)),
        };
        Ok(OrganizationPatch {
            name,
            require_two_factor: self.require_two_factor,
            billing_cycle: self.billing_cycle,
            allow_parallel_portfolios: self.allow_parallel_portfolios,
            signup_approval: self.signup_approval,
            locale: self.locale,
            password_policy,
        })
    }
}

/// The organizations the caller may see.
///
/// Those on which the caller holds any grant, and everything below them.
#[utoipa::path(get, operation_id = "organizations_list", path = "/organizations", tag = "organizations", params(ListQuery),
    responses(
        (status = 200, body = OrganizationList),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<OrganizationList>, ApiError> {
    let page = Page::from_query(&q)?;
    let roots: Vec<_> = caller.0.grants.iter().map(|g| g.path.clone()).collect();
    let orgs = portier_store::organizations::list_within(
        &state.store,
        &roots,
        page.cursor.map(OrganizationId),
        page.limit + 1,
    )
    .await?;
    let more = orgs.len() as i64 > page.limit;
    let items: Vec<OrganizationView> = orgs
        .iter()
        .take(page.limit as usize)
        .map(Into::into)
        .collect();
    let next_cursor = if more {
        items.last().map(|o| o.id)
    } else {
        None
    };
    Ok(Json(OrganizationList { items, next_cursor }))
}

/// Create an organization below another.
///
/// *Permissions*: `org.create` on the parent (or one of its ancestors).
#[utoipa::path(post, operation_id = "organizations_create", path = "/organizations", tag = "organizations", request_body = CreateOrganization,
    responses(
        (status = 201, body = OrganizationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreateOrganization>,
) -> Result<impl IntoResponse, ApiError> {
    let parent = visible(&state, &caller, OrganizationId(body.parent_id))
        .await
        .map_err(|e| e.with_field("parent_id"))?;
    let auth = caller
        .0
        .authorize::<OrgCreate>(&parent)
        .map_err(|e| ApiError::from(e).with_field("parent_id"))?;
    let settings = match body.settings {
        None => None,
        Some(input) => {
            // Start from the parent's settings and apply what was given.
            let (merged, _) = parent.apply(input.into_patch(None)?, Utc::now())?;
            Some(merged.settings)
        }
    };
    let origin = Origin::now(client);
    let org = portier_store::organizations::create_child(
        &state.store,
        &auth,
        &body.name.0,
        settings,
        &origin,
    )
    .await?;
    let location = format!("/api/v1/organizations/{}", org.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(OrganizationView::from(&org)),
    ))
}

/// One organization.
///
/// *Permissions*: any grant on the organization or an ancestor.
#[utoipa::path(get, operation_id = "organizations_get_one", path = "/organizations/{org}", tag = "organizations",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = OrganizationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<Json<OrganizationView>, ApiError> {
    let org = visible(&state, &caller, path_id("org", &org)?).await?;
    Ok(Json(OrganizationView::from(&org)))
}

/// Change an organization's name or settings.
///
/// *Permissions*: `org.update` on the organization or an ancestor.
#[utoipa::path(patch, operation_id = "organizations_update", path = "/organizations/{org}", tag = "organizations", request_body = UpdateOrganization,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = OrganizationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<OrgUpdate, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<UpdateOrganization>,
) -> Result<Json<OrganizationView>, ApiError> {
    let mut settings = body.settings.unwrap_or_default();
    if let Some(required) = body.require_two_factor {
        if settings.require_two_factor.is_some_and(|s| s != required) {
            return Err(FieldError::new(
                "require_two_factor",
                "conflict",
                "give require_two_factor once: here or in settings",
            )
            .into());
        }
        settings.require_two_factor = Some(required);
    }
    let patch = settings.into_patch(body.name.map(|n| n.0))?;
    let updated =
        portier_store::organizations::update(&state.store, &auth, patch, &Origin::now(client))
            .await?;
    Ok(Json(OrganizationView::from(&updated)))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganizationStatistics {
    /// Members of this organization (not of those below it).
    pub members: i64,
    pub invited: i64,
    pub active: i64,
    pub deactivated: i64,
    /// Members with two-step verification set up.
    pub two_factor: i64,
    /// `two_factor` as a share of `members`, 0 to 1 (0 without members).
    pub two_factor_share: f64,
}

/// How many members, in which state, and how many use two-step verification.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "organizations_statistics", path = "/organizations/{org}/statistics", tag = "organizations",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = OrganizationStatistics),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn statistics(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<portier_core::rights::MembersRead, Api>,
) -> Result<Json<OrganizationStatistics>, ApiError> {
    let s = portier_store::members::statistics(&state.store, &auth).await?;
    Ok(Json(OrganizationStatistics {
        members: s.members,
        invited: s.invited,
        active: s.active,
        deactivated: s.deactivated,
        two_factor: s.two_factor,
        two_factor_share: share(s.two_factor, s.members),
    }))
}
