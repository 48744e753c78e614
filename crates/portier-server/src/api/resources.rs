//! `/organizations/{org}/resources`: the mailboxes, administrations and other
//! things of an organization that its members or groups are granted a
//! relation on (docs/RULES.md#resources); `POST /check` answers
//! `<type>.<relation>` for them.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::ids::ResourceGrantId;
use portier_core::resources::{NewResource, ResourceInput, parse_relation};
use portier_core::rights::{MembersRead, ResourcesManage};
use portier_store::audit::Origin;
use portier_store::resources::{Holder, Resource, ResourceGrant};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Line;
use super::check::ResourceKey;
use super::roles::KeyText;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id};
use crate::service::resources::{resource_in_path, url_segment};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceView {
    #[serde(rename = "type")]
    pub kind: String,
    /// The product's id for it.
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<&Resource> for ResourceView {
    fn from(r: &Resource) -> Self {
        ResourceView {
            kind: r.kind.clone(),
            id: r.key.clone(),
            name: r.name.clone(),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GrantView {
    pub id: Uuid,
    /// `use`, `manage`, or any relation the product uses.
    pub relation: String,
    /// The member who holds it, or `null` for a group's.
    pub account_id: Option<Uuid>,
    /// The group that holds it, or `null` for a member's.
    pub group_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<&ResourceGrant> for GrantView {
    fn from(g: &ResourceGrant) -> Self {
        let (account_id, group_id) = match g.holder {
            Holder::Account(a) => (Some(a.0), None),
            Holder::Group(g) => (None, Some(g.0)),
        };
        GrantView {
            id: g.id.0,
            relation: g.relation.clone(),
            account_id,
            group_id,
            created_at: g.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceDetail {
    #[serde(flatten)]
    pub resource: ResourceView,
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResourceList {
    pub items: Vec<ResourceView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateResource {
    /// A key (`mailbox`, `administration`).
    #[serde(rename = "type")]
    pub kind: KeyText,
    /// The product's id for it; unique per type in the organization.
    pub id: ResourceKey,
    pub name: Line<200>,
}

/// A relation for a member (`account_id`) or a group (`group_id`): one of the two.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrant {
    pub relation: KeyText,
    pub account_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
}

/// The organization's resources.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "resources_list", path = "/organizations/{org}/resources", tag = "resources",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = ResourceList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<ResourceList>, ApiError> {
    let items = portier_store::resources::list(&state.store, &auth).await?;
    Ok(Json(ResourceList {
        items: items.iter().map(Into::into).collect(),
    }))
}

/// Register a resource.
///
/// *Permissions*: `resources.manage`.
#[utoipa::path(post, operation_id = "resources_create", path = "/organizations/{org}/resources", tag = "resources", request_body = CreateResource,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 201, body = ResourceView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<ResourcesManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreateResource>,
) -> Result<impl IntoResponse, ApiError> {
    let org = auth.organization();
    let new = NewResource::parse(ResourceInput {
        kind: body.kind.0,
        key: body.id.0,
        name: body.name.0,
    })?;
    let resource =
        portier_store::resources::create(&state.store, &auth, new, &Origin::now(client)).await?;
    let location = format!(
        "/api/v1/organizations/{}/resources/{}/{}",
        org.id,
        resource.kind,
        url_segment(&resource.key)
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(ResourceView::from(&resource)),
    ))
}

/// One resource with its grants.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "resources_get_one", path = "/organizations/{org}/resources/{type}/{id}", tag = "resources",
    params(("org" = Uuid, Path, description = "The organization's id"), ("type" = String, Path, description = "The resource's type"),
        ("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 200, body = ResourceDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, kind, key)): Path<(String, String, String)>,
) -> Result<Json<ResourceDetail>, ApiError> {
    let (kind, key) = resource_in_path(&kind, &key)?;
    let (resource, grants) = portier_store::resources::get(&state.store, &auth, &kind, &key)
        .await?
        .ok_or(portier_core::Error::NotFound { what: "resource" })?;
    Ok(Json(ResourceDetail {
        resource: (&resource).into(),
        grants: grants.iter().map(Into::into).collect(),
    }))
}

/// Remove a resource and every grant on it.
///
/// *Permissions*: `resources.manage`.
#[utoipa::path(delete, operation_id = "resources_delete", path = "/organizations/{org}/resources/{type}/{id}", tag = "resources",
    params(("org" = Uuid, Path, description = "The organization's id"), ("type" = String, Path, description = "The resource's type"),
        ("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<ResourcesManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, kind, key)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (kind, key) = resource_in_path(&kind, &key)?;
    portier_store::resources::delete(&state.store, &auth, &kind, &key, &Origin::now(client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Grant a member of the organization, or one of its groups, a relation on
/// the resource (granting it again changes nothing).
///
/// *Permissions*: `resources.manage`.
#[utoipa::path(post, operation_id = "resources_grant", path = "/organizations/{org}/resources/{type}/{id}/grants", tag = "resources", request_body = CreateGrant,
    params(("org" = Uuid, Path, description = "The organization's id"), ("type" = String, Path, description = "The resource's type"),
        ("id" = String, Path, description = "The resource's id")),
    responses(
        (status = 201, body = GrantView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn grant(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<ResourcesManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, kind, key)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<CreateGrant>,
) -> Result<impl IntoResponse, ApiError> {
    let (kind, key) = resource_in_path(&kind, &key)?;
    let relation = parse_relation("relation", &body.relation.0)?;
    let holder = match (body.account_id, body.group_id) {
        (Some(a), None) => Holder::Account(a.into()),
        (None, Some(g)) => Holder::Group(g.into()),
        _ => {
            return Err(portier_core::FieldError::new(
                "account_id",
                "one_holder",
                "name either a member (account_id) or a group (group_id)",
            )
            .into());
        }
    };
    let grant = portier_store::resources::grant(
        &state.store,
        &auth,
        &kind,
        &key,
        &relation,
        &holder,
        &Origin::now(client),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(GrantView::from(&grant))))
}

/// Take a grant away.
///
/// *Permissions*: `resources.manage`.
#[utoipa::path(delete, operation_id = "resources_revoke", path = "/organizations/{org}/resources/{type}/{id}/grants/{grant_id}", tag = "resources",
    params(("org" = Uuid, Path, description = "The organization's id"), ("type" = String, Path, description = "The resource's type"),
        ("id" = String, Path, description = "The resource's id"), ("grant_id" = Uuid, Path, description = "The grant's id")),
    responses(
        (status = 204, description = "Taken away"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<ResourcesManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, kind, key, grant)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (kind, key) = resource_in_path(&kind, &key)?;
    let grant: ResourceGrantId = path_id("grant_id", &grant)?;
    portier_store::resources::revoke(
        &state.store,
        &auth,
        &kind,
        &key,
        grant,
        &Origin::now(client),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
