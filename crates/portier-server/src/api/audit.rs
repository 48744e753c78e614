//! `/organizations/{org}/audit`: every change in an organization and below it,
//! attributable to a person or token (docs/RULES.md#audit-trail), newest first.

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use portier_core::rights::AuditRead;
use portier_store::audit::AuditFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Page;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditActor {
    /// `account`, `api_token`, `cli` or `system`.
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<Uuid>,
    /// The person behind the change, also when it came through their API token.
    pub account_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditTarget {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditItem {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: AuditActor,
    pub action: String,
    pub organization_id: Option<Uuid>,
    pub target: AuditTarget,
    /// `{field: {before, after}}` for changes; the new state for creations.
    /// Never a secret.
    #[schema(value_type = Object)]
    pub changes: serde_json::Value,
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditList {
    pub items: Vec<AuditItem>,
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditQuery {
    /// The account behind the changes.
    actor: Option<Uuid>,
    /// An action such as `member.added`.
    action: Option<String>,
    /// The id of the changed thing.
    target: Option<String>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<Uuid>,
}

/// The audit trail of the organization and everything below it.
///
/// *Permissions*: `audit.read`.
#[utoipa::path(get, operation_id = "audit_list", path = "/organizations/{org}/audit", tag = "audit",
    params(("org" = Uuid, Path, description = "The organization's id"), AuditQuery),
    responses(
        (status = 200, body = AuditList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<AuditRead, Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<AuditList>, ApiError> {
    let page = Page::from_query(&q)?;
    let actor = match q.get("actor") {
        None => None,
        Some(raw) => Some(raw.parse::<Uuid>().map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_actor",
                "actor must be an account id",
            )
            .with_field("actor")
        })?),
    };
    let filter = AuditFilter {
        actor,
        action: q.get("action").cloned(),
        target: q.get("target").cloned(),
    };
    let events =
        portier_store::audit::list(&state.store, &auth, &filter, page.cursor, page.limit + 1)
            .await?;
    let more = events.len() as i64 > page.limit;
    let items: Vec<AuditItem> = events
        .into_iter()
        .take(page.limit as usize)
        .map(|e| AuditItem {
            id: e.id.0,
            at: e.at,
            actor: AuditActor {
                kind: e.actor.kind().to_owned(),
                id: e.actor.id(),
                account_id: e.actor.account_id().map(|a| a.0),
            },
            action: e.action,
            organization_id: e.organization_id.map(|o| o.0),
            target: AuditTarget {
                kind: e.target_type,
                id: e.target_id,
            },
            changes: e.changes,
            client_addr: e.client_addr,
        })
        .collect();
    let next_cursor = if more {
        items.last().map(|i| i.id)
    } else {
        None
    };
    Ok(Json(AuditList { items, next_cursor }))
}
