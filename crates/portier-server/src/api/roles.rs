//! `/organizations/{org}/roles`: the roles that can be granted in an
//! organization (docs/RULES.md#roles-and-permissions), custom roles with the
//! product's permissions, and `/organizations/{org}/members/{id}/roles` to
//! change what a member holds.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use portier_core::ids::AccountId;
use portier_core::registrations::Register;
use portier_core::rights::{MembersRead, RolesAssign, RolesManage};
use portier_core::roles::{
    LocalizedName, Role, RoleDefinition, RoleInput, RoleKey, RoleKind, RolePatchInput,
};
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Line, string_schema};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, object, path_id, present};
use crate::{ApiError, AppState};

/// A role and what it allows.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleView {
    pub key: String,
    pub name: LocalizedName,
    /// `admin` roles manage the organization, `content` roles say what a
    /// member does in the product; the two are granted apart.
    pub kind: RoleKind,
    pub permissions: Vec<String>,
    /// The register a holder needs a number in (`"BIG"`), or `null`.
    pub requires_registration: Option<String>,
    /// The portfolio types a holder may be given.
    pub portfolio_types: Vec<String>,
    /// Built-in roles exist in every organization and cannot be changed.
    pub builtin: bool,
    /// The organization that defines the role; `null` for a built-in.
    pub defined_by: Option<Uuid>,
}

impl From<&Role> for RoleView {
    fn from(r: &Role) -> Self {
        RoleView {
            key: r.key.as_str().to_owned(),
            name: r.name.clone(),
            kind: r.kind,
            permissions: r
                .permissions
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            requires_registration: r.requires_registration.clone(),
            portfolio_types: r.portfolio_types.clone(),
            builtin: r.organization_id.is_none(),
            defined_by: r.organization_id.map(|o| o.0),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RoleList {
    pub items: Vec<RoleView>,
}

/// A role key: lower-case letters, digits and hyphens.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct KeyText(pub String);

impl utoipa::PartialSchema for KeyText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            64,
            "^[ ]*[a-z0-9][a-z0-9-]{0,63}[ ]*$",
            "A key: 1 to 64 lower-case letters, digits and hyphens.",
        )
    }
}

impl utoipa::ToSchema for KeyText {}

/// A permission: two to five dotted parts of lower-case letters, digits,
/// `_` and `-` (`members.read`, `documents.send`).
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct PermissionName(pub String);

impl utoipa::PartialSchema for PermissionName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            128,
            "^[ ]*[a-z0-9_-]+(\\.[a-z0-9_-]+){1,4}[ ]*$",
            "A permission such as members.read or documents.send.",
        )
    }
}

impl utoipa::ToSchema for PermissionName {}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameInput {
    pub en: Line<100>,
    /// The English name when absent.
    pub nl: Option<Line<100>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamePatch {
    pub en: Option<Line<100>>,
    pub nl: Option<Line<100>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRole {
    /// Unique in the environment; the built-ins' keys are taken.
    pub key: KeyText,
    pub name: NameInput,
    pub kind: RoleKind,
    /// At most 100. A content role carries only the product's permissions;
    /// Portier's own (`members.invite` …) belong to admin roles.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub permissions: Vec<PermissionName>,
    /// `"BIG"`: a holder needs a BIG number.
    pub requires_registration: Option<Register>,
    #[serde(default)]
    #[schema(max_items = 20)]
    pub portfolio_types: Vec<KeyText>,
}

/// What to change; an absent field keeps its value. The key and the kind
/// never change.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRole {
    #[serde(default, deserialize_with = "object")]
    pub name: Option<NamePatch>,
    #[schema(max_items = 100)]
    pub permissions: Option<Vec<PermissionName>>,
    /// `null` removes the requirement.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Register>)]
    pub requires_registration: Option<Option<Register>>,
    #[schema(max_items = 20)]
    pub portfolio_types: Option<Vec<KeyText>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRoles {
    /// Role keys; `["member"]` (no rights) when empty.
    pub roles: Vec<KeyText>,
    /// The person's registration number, when a new role needs one they do
    /// not have yet.
    #[serde(default, deserialize_with = "crate::extract::some_object")]
    #[schema(nullable = false)]
    pub registration: Option<super::members::RegistrationInput>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberRoles {
    pub account_id: Uuid,
    /// The roles the member now holds, each with its permissions.
    pub roles: Vec<RoleView>,
}

pub(crate) fn keys_of(field: &str, raw: &[KeyText]) -> Result<Vec<RoleKey>, ApiError> {
    raw.iter()
        .enumerate()
        .map(|(i, k)| Ok(RoleKey::parse(&format!("{field}[{i}]"), &k.0)?))
        .collect()
}

fn key_in_path(raw: &str) -> Result<RoleKey, ApiError> {
    RoleKey::parse("key", raw)
        .map_err(|_| ApiError::from(portier_core::Error::NotFound { what: "role" }))
}

/// The roles that can be granted in the organization: the built-ins and the
/// custom roles defined on it or above it, each with its permissions.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "roles_list", path = "/organizations/{org}/roles", tag = "roles",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = RoleList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<RoleList>, ApiError> {
    let roles = portier_store::roles::list(&state.store, &auth).await?;
    Ok(Json(RoleList {
        items: roles.iter().map(RoleView::from).collect(),
    }))
}

/// Define a role for this organization and every organization below it.
///
/// *Permissions*: `roles.manage`; `admins.manage` for an admin role; the
/// Portier permissions it carries must be the caller's own.
#[utoipa::path(post, operation_id = "roles_create", path = "/organizations/{org}/roles", tag = "roles", request_body = CreateRole,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 201, body = RoleView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<RolesManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreateRole>,
) -> Result<impl IntoResponse, ApiError> {
    let org = auth.organization();
    let def = RoleDefinition::parse(RoleInput {
        key: body.key.0,
        name_en: Some(body.name.en.0),
        name_nl: body.name.nl.map(|n| n.0),
        kind: body.kind.as_str().to_owned(),
        permissions: body.permissions.into_iter().map(|p| p.0).collect(),
        requires_registration: body.requires_registration.map(|r| r.as_str().to_owned()),
        portfolio_types: body.portfolio_types.into_iter().map(|t| t.0).collect(),
    })?;
    let role =
        portier_store::roles::create(&state.store, &caller.0, &auth, def, &Origin::now(client))
            .await?;
    let location = format!(
        "/api/v1/organizations/{}/roles/{}",
        org.id,
        role.key.as_str()
    );
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(RoleView::from(&role)),
    ))
}

/// One role that can be granted in the organization.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "roles_get_one", path = "/organizations/{org}/roles/{key}", tag = "roles",
    params(("org" = Uuid, Path, description = "The organization's id"), ("key" = String, Path, description = "The role's key")),
    responses(
        (status = 200, body = RoleView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, key)): Path<(String, String)>,
) -> Result<Json<RoleView>, ApiError> {
    let key = key_in_path(&key)?;
    let role = portier_store::roles::get(&state.store, &auth, &key)
        .await?
        .ok_or(portier_core::Error::NotFound { what: "role" })?;
    Ok(Json(RoleView::from(&role)))
}

/// Change a custom role of this organization: its names, permissions,
/// registration requirement or portfolio types. Everyone holding it holds
/// the new permissions at once.
///
/// *Permissions*: as for defining it.
#[utoipa::path(patch, operation_id = "roles_update", path = "/organizations/{org}/roles/{key}", tag = "roles", request_body = UpdateRole,
    params(("org" = Uuid, Path, description = "The organization's id"), ("key" = String, Path, description = "The role's key")),
    responses(
        (status = 200, body = RoleView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<RolesManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, key)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateRole>,
) -> Result<Json<RoleView>, ApiError> {
    let key = key_in_path(&key)?;
    let (name_en, name_nl) = match body.name {
        Some(n) => (n.en.map(|l| l.0), n.nl.map(|l| l.0)),
        None => (None, None),
    };
    let patch = RolePatchInput {
        name_en,
        name_nl,
        permissions: body
            .permissions
            .map(|ps| ps.into_iter().map(|p| p.0).collect()),
        requires_registration: body
            .requires_registration
            .map(|r| r.map(|r| r.as_str().to_owned())),
        portfolio_types: body
            .portfolio_types
            .map(|ts| ts.into_iter().map(|t| t.0).collect()),
    };
    let role = portier_store::roles::update(
        &state.store,
        &caller.0,
        &auth,
        &key,
        patch,
        &Origin::now(client),
    )
    .await?;
    Ok(Json(RoleView::from(&role)))
}

/// Delete a custom role of this organization. A role somebody holds (a
/// member or a group) is not deleted: the answer says where it is used.
///
/// *Permissions*: `roles.manage`.
#[utoipa::path(delete, operation_id = "roles_delete", path = "/organizations/{org}/roles/{key}", tag = "roles",
    params(("org" = Uuid, Path, description = "The organization's id"), ("key" = String, Path, description = "The role's key")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<RolesManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let key = key_in_path(&key)?;
    portier_store::roles::delete(&state.store, &caller.0, &auth, &key, &Origin::now(client))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a member's roles (the console's "Change role"): the answer shows each
/// role now held with its permissions.
///
/// *Permissions*: `roles.assign`; `admins.manage` to give or take an admin
/// role. The environment's last administrator keeps theirs (409).
#[utoipa::path(put, operation_id = "roles_set_member_roles", path = "/organizations/{org}/members/{account_id}/roles", tag = "members", request_body = SetRoles,
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 200, body = MemberRoles),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn set_member_roles(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<RolesAssign, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
    ApiJson(body): ApiJson<SetRoles>,
) -> Result<Json<MemberRoles>, ApiError> {
    let account: AccountId = path_id("account_id", &account)?;
    let keys = keys_of("roles", &body.roles)?;
    let roles = crate::service::members::set_roles(
        &state,
        &caller.0,
        &auth,
        account,
        keys,
        body.registration.map(|r| r.pair()),
        client,
    )
    .await?;
    Ok(Json(MemberRoles {
        account_id: account.0,
        roles: roles.iter().map(RoleView::from).collect(),
    }))
}

/// Someone with administrative rights here, as the console's *Administrators*
/// list shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdministratorView {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// The membership's state where the roles are held.
    pub status: portier_core::members::MemberStatus,
    /// The admin roles held.
    pub roles: Vec<String>,
    /// Where they are held: this organization, or one above it.
    pub organization_id: Uuid,
    /// True when held on an organization above this one (rights reach down).
    pub inherited: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdministratorList {
    pub items: Vec<AdministratorView>,
}

/// Everyone who holds an administrator role on this organization or above it.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "roles_administrators", path = "/organizations/{org}/administrators", tag = "roles",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = AdministratorList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn administrators(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<AdministratorList>, ApiError> {
    let org = auth.organization();
    let admins = portier_store::members::administrators(&state.store, &auth).await?;
    Ok(Json(AdministratorList {
        items: admins
            .iter()
            .map(|a| AdministratorView {
                account_id: a.account.id.0,
                email: a.account.email.to_string(),
                display_name: a.account.display_name(),
                status: portier_core::members::MemberStatus::of(
                    a.account.status,
                    a.membership_active,
                ),
                roles: a.roles.clone(),
                organization_id: a.organization_id.0,
                inherited: a.organization_id != org.id,
            })
            .collect(),
    }))
}
