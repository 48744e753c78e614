//! `GET /organizations/{org}/members/export`: the export of
//! `service::export` for an API caller.

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use portier_core::rights::MembersRead;

use crate::error::ErrorBody;
use crate::extract::ClientAddr;
use crate::service::export::{Request, members};
use crate::{ApiError, AppState};

/// Export the organization's members.
///
/// `format` is `csv` (the default; RFC 4180, cells that would start a
/// formula are preceded by an apostrophe, `bom=true` adds a UTF-8
/// byte-order mark for spreadsheets) or `json` (an array of objects).
/// `children=true` includes the organizations below this one (the
/// `organization` column says which). Every member field of the list, roles,
/// groups, labels, staff code, registration and its state, the active
/// portfolio, two-step verification, status and dates. Streams, in the
/// users list's order. Needs `members.read`; audited.
#[utoipa::path(get, operation_id = "members_export", path = "/organizations/{org}/members/export", tag = "members",
    params(("org" = uuid::Uuid, Path, description = "The organization's id"),
        ("format" = Option<String>, Query, description = "csv (default), json or xlsx"),
        ("children" = Option<bool>, Query, description = "Include the organizations below"),
        ("bom" = Option<bool>, Query, description = "CSV: start with a UTF-8 byte-order mark"),
        ("columns" = Option<String>, Query, description = "The columns to write, comma-separated (default: all)")),
    responses(
        (status = 200, description = "The members, streamed", content(
            (String = "text/csv"),
            (Vec<Object> = "application/json"),
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    members(&state, &auth, Request::from_query(&q)?, client).await
}
