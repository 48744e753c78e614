//! `/me/sessions`: a person's signed-in sessions (device, address, started,
//! last seen), and ending any or all others; and an administrator ending
//! every session of a member (`…/members/{id}/end-sessions`).

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portier_core::rights::MembersUpdate;
use portier_store::audit::Origin;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Person;
use crate::error::ErrorBody;
use crate::extract::ClientAddr;
use crate::service::sessions::{SessionView, end_member_sessions, of};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionsEnded {
    pub ended: u64,
}

/// My sessions, the most recently used first.
#[utoipa::path(get, operation_id = "me_sessions", path = "/me/sessions", tag = "me",
    responses((status = 200, body = SessionList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Person(session): Person,
) -> Result<Json<SessionList>, ApiError> {
    Ok(Json(SessionList {
        items: of(&state, &session).await?,
    }))
}

/// End one of my sessions (this one too: that signs out here).
#[utoipa::path(delete, operation_id = "me_sessions_end", path = "/me/sessions/{id}", tag = "me",
    params(("id" = String, Path, description = "A session's id from GET /me/sessions")),
    responses((status = 204, description = "Ended"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let ended = portier_store::sessions::end_of_account(
        &state.store,
        session.account_id,
        Some(&id),
        None,
        &Origin::now(client),
    )
    .await?;
    if ended == 0 {
        return Err(portier_core::Error::NotFound { what: "session" }.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// End all my other sessions (a lost laptop); this one stays.
#[utoipa::path(delete, operation_id = "me_sessions_end_others", path = "/me/sessions", tag = "me",
    responses((status = 200, body = SessionsEnded), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn end_others(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Person(session): Person,
) -> Result<Json<SessionsEnded>, ApiError> {
    let ended = portier_store::sessions::end_of_account(
        &state.store,
        session.account_id,
        None,
        Some(&session.id_hash),
        &Origin::now(client),
    )
    .await?;
    Ok(Json(SessionsEnded { ended }))
}

/// End every session of a member (signed out everywhere at once).
///
/// *Permissions*: `members.update`, and `admins.manage` for a member who
/// holds an administrator role. Audited here.
#[utoipa::path(post, operation_id = "members_end_sessions", path = "/organizations/{org}/members/{account_id}/end-sessions", tag = "members",
    params(("org" = Uuid, Path, description = "Organization id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses((status = 200, body = SessionsEnded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn end_of_member(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let account = crate::extract::path_id("account_id", &account)?;
    let ended = end_member_sessions(&state, &auth, account, client).await?;
    Ok(Json(SessionsEnded { ended }))
}
