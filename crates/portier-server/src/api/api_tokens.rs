//! `/organizations/{org}/tokens`: API tokens an organization gives the
//! products that call Portier. A token carries a chosen set of permissions
//! (never more than its creator holds there), works on the organization and
//! below, is shown once, is stored as a hash, and is revocable; every change
//! made with it names it in the audit trail.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::ids::ApiTokenId;
use portier_core::permissions::parse_list;
use portier_core::rights::TokensManage;
use portier_store::api_tokens::TokenView as Stored;
use portier_store::audit::Origin;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Line;
use super::roles::PermissionName;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
    /// The person who created it; `null` for one made at the command line.
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Written at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<&Stored> for TokenView {
    fn from(t: &Stored) -> Self {
        TokenView {
            id: t.id.0,
            name: t.name.clone(),
            permissions: t.permissions.clone(),
            created_by: t.created_by.map(|a| a.0),
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<TokenView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: Line<100>,
    /// What it may do, each a permission the caller holds here.
    #[schema(min_items = 1, max_items = 100)]
    pub permissions: Vec<PermissionName>,
    /// When it stops working; absent for never (until revoked).
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub view: TokenView,
    /// The secret, shown this once: send it as `Authorization: Bearer <token>`.
    pub token: String,
}

/// The organization's API tokens, newest first (never their secrets).
///
/// *Permissions*: `tokens.manage`.
#[utoipa::path(get, operation_id = "tokens_list", path = "/organizations/{org}/tokens", tag = "tokens",
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = TokenList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<TokensManage, Api>,
) -> Result<Json<TokenList>, ApiError> {
    let items = portier_store::api_tokens::list(&state.store, &auth).await?;
    Ok(Json(TokenList {
        items: items.iter().map(Into::into).collect(),
    }))
}

/// Create an API token; its secret is in this answer only.
///
/// *Permissions*: `tokens.manage`, and every permission given to it.
#[utoipa::path(post, operation_id = "tokens_create", path = "/organizations/{org}/tokens", tag = "tokens", request_body = CreateToken,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 201, body = CreatedToken),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<TokensManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<CreateToken>,
) -> Result<impl IntoResponse, ApiError> {
    let raw: Vec<String> = body.permissions.into_iter().map(|p| p.0).collect();
    let permissions = parse_list("permissions", &raw)?;
    let origin = Origin::now(client);
    let created = portier_store::api_tokens::issue(
        &state.store,
        &caller.0,
        &auth,
        &body.name.0,
        &permissions,
        body.expires_at,
        &origin,
    )
    .await?;
    let stored = portier_store::api_tokens::list(&state.store, &auth)
        .await?
        .into_iter()
        .find(|t| t.id == created.id)
        .ok_or(portier_core::Error::NotFound { what: "token" })?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(CreatedToken {
            view: (&stored).into(),
            token: created.secret.expose().to_owned(),
        }),
    ))
}

/// Revoke a token: it stops working at once.
///
/// *Permissions*: `tokens.manage`.
#[utoipa::path(delete, operation_id = "tokens_revoke", path = "/organizations/{org}/tokens/{token_id}", tag = "tokens",
    params(("org" = Uuid, Path, description = "The organization's id"), ("token_id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<TokensManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, token)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: ApiTokenId = path_id("token_id", &token)?;
    portier_store::api_tokens::revoke(&state.store, &auth, id, &Origin::now(client)).await?;
    Ok(StatusCode::NO_CONTENT)
}
