//! `/organizations/{org}/groups`: teams of an organization's members (seeds
//! 002, 004); a group carries content roles that its members hold there.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::groups::{GroupInput, GroupPatch, GroupPatchInput, NewGroup};
use portier_core::ids::{AccountId, GroupId};
use portier_core::members::MemberStatus;
use portier_core::rights::{Authorized, GroupsManage, MembersRead};
use portier_store::audit::Origin;
use portier_store::groups::GroupView as Stored;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::roles::KeyText;
use super::{Line, Paragraphs};
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id, present};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// Keys of the roles its members hold through it.
    pub roles: Vec<String>,
    pub member_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Stored> for GroupView {
    fn from(g: &Stored) -> Self {
        GroupView {
            id: g.id.0,
            name: g.name.clone(),
            description: g.description.clone(),
            roles: g.roles.clone(),
            member_count: g.member_count,
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupList {
    pub items: Vec<GroupView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Unique in the organization.
    pub name: Line<100>,
    pub description: Option<Paragraphs<1000>>,
    /// Content roles only: administrator roles go to people one by one.
    #[serde(default)]
    pub roles: Vec<KeyText>,
}

/// What to change; an absent field keeps its value, `roles` replaces them all.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    pub name: Option<Line<100>>,
    /// `null` empties it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Paragraphs<1000>>)]
    pub description: Option<Option<Paragraphs<1000>>>,
    pub roles: Option<Vec<KeyText>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupMemberView {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub status: MemberStatus,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GroupMemberList {
    pub items: Vec<GroupMemberView>,
}

fn group_in_path(raw: &str) -> Result<GroupId, ApiError> {
    path_id("group_id", raw)
}

/// The organization's groups.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "groups_list", path = "/organizations/{org}/groups", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = GroupList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<GroupList>, ApiError> {
    let groups = portier_store::groups::list(&state.store, &auth).await?;
    Ok(Json(GroupList {
        items: groups.iter().map(Into::into).collect(),
    }))
}

/// Create a group.
///
/// *Permissions*: `groups.manage`; `roles.assign` when it carries roles
/// beyond `member`.
#[utoipa::path(post, operation_id = "groups_create", path = "/organizations/{org}/groups", tag = "groups", request_body = CreateGroup,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 201, body = GroupView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<GroupsManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Result<impl IntoResponse, ApiError> {
    let org = auth.organization();
    let new = NewGroup::parse(GroupInput {
        name: body.name.0,
        description: body.description.map(|d| d.0),
        roles: body.roles.into_iter().map(|k| k.0).collect(),
    })?;
    let group =
        portier_store::groups::create(&state.store, &caller.0, &auth, new, &Origin::now(client))
            .await?;
    let location = format!("/api/v1/organizations/{}/groups/{}", org.id, group.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(GroupView::from(&group)),
    ))
}

/// One group.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "groups_get_one", path = "/organizations/{org}/groups/{group_id}", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id")),
    responses(
        (status = 200, body = GroupView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<GroupView>, ApiError> {
    let group = portier_store::groups::get(&state.store, &auth, group_in_path(&group)?)
        .await?
        .ok_or(portier_core::Error::NotFound { what: "group" })?;
    Ok(Json(GroupView::from(&group)))
}

/// Change a group's name, description or roles; its members hold the new
/// roles at once.
///
/// *Permissions*: `groups.manage`; `roles.assign` to change its roles.
#[utoipa::path(patch, operation_id = "groups_update", path = "/organizations/{org}/groups/{group_id}", tag = "groups", request_body = UpdateGroup,
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id")),
    responses(
        (status = 200, body = GroupView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<GroupsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, group)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> Result<Json<GroupView>, ApiError> {
    let id = group_in_path(&group)?;
    let patch = GroupPatch::parse(GroupPatchInput {
        name: body.name.map(|n| n.0),
        description: body.description.map(|d| d.map(|d| d.0)),
        roles: body.roles.map(|ks| ks.into_iter().map(|k| k.0).collect()),
    })?;
    let group = portier_store::groups::update(
        &state.store,
        &caller.0,
        &auth,
        id,
        patch,
        &Origin::now(client),
    )
    .await?;
    Ok(Json(GroupView::from(&group)))
}

/// Delete a group; its members keep their own roles and lose the group's.
///
/// *Permissions*: `groups.manage`; `roles.assign` when it has members and
/// carries roles beyond `member`.
#[utoipa::path(delete, operation_id = "groups_delete", path = "/organizations/{org}/groups/{group_id}", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<GroupsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, group)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = group_in_path(&group)?;
    portier_store::groups::delete(&state.store, &caller.0, &auth, id, &Origin::now(client)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The group's members.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "groups_members", path = "/organizations/{org}/groups/{group_id}/members", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id")),
    responses(
        (status = 200, body = GroupMemberList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn members(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, group)): Path<(String, String)>,
) -> Result<Json<GroupMemberList>, ApiError> {
    let id = group_in_path(&group)?;
    portier_store::groups::get(&state.store, &auth, id)
        .await?
        .ok_or(portier_core::Error::NotFound { what: "group" })?;
    let members = portier_store::groups::members(&state.store, &auth, id).await?;
    Ok(Json(GroupMemberList {
        items: members
            .iter()
            .map(|m| GroupMemberView {
                account_id: m.account.id.0,
                email: m.account.email.to_string(),
                display_name: m.account.display_name(),
                status: m.status,
            })
            .collect(),
    }))
}

async fn set_member(
    state: &AppState,
    (caller, auth): (&Caller, &Authorized<GroupsManage>),
    client: Option<String>,
    group: &str,
    account: &str,
    join: bool,
) -> Result<StatusCode, ApiError> {
    let id = group_in_path(group)?;
    let account: AccountId = path_id("account_id", account)?;
    portier_store::groups::set_member(
        &state.store,
        &caller.0,
        auth,
        id,
        account,
        join,
        &Origin::now(client),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Put a member of the organization in the group (nothing changes when
/// already in it).
///
/// *Permissions*: `groups.manage`; `roles.assign` when the group carries
/// roles beyond `member`.
#[utoipa::path(put, operation_id = "groups_add_member", path = "/organizations/{org}/groups/{group_id}/members/{account_id}", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id"),
        ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 204, description = "In the group"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn add_member(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<GroupsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, group, account)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    set_member(&state, (&caller, &auth), client, &group, &account, true).await
}

/// Take a member out of the group (nothing changes when not in it).
///
/// *Permissions*: as for putting them in.
#[utoipa::path(delete, operation_id = "groups_remove_member", path = "/organizations/{org}/groups/{group_id}/members/{account_id}", tag = "groups",
    params(("org" = Uuid, Path, description = "The organization's id"), ("group_id" = Uuid, Path, description = "The group's id"),
        ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 204, description = "Not in the group"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove_member(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<GroupsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, group, account)): Path<(String, String, String)>,
) -> Result<StatusCode, ApiError> {
    set_member(&state, (&caller, &auth), client, &group, &account, false).await
}
