//! Exporting an organization's members (issue 9; seed 002): every field of
//! the users list with roles, groups, labels, staff code, registration,
//! portfolio, two-step verification, status and dates, as CSV (RFC 4180,
//! formula-safe, with a byte-order mark for spreadsheets when asked) or
//! JSON. The answer streams: rows go out as the database reads them.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portier_core::export::{COLUMNS, Format, csv_record};
use portier_core::rights::MembersRead;
use portier_store::audit::Origin;
use portier_store::export::ExportRow;

use super::authorized;
use crate::auth::Caller;
use crate::error::ErrorBody;
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

/// Rows per chunk of the answer: large enough to keep the writes few.
const ROWS_PER_CHUNK: usize = 512;

/// The member's state as the users list names it.
pub fn status_of(r: &ExportRow) -> &'static str {
    if r.awaiting_approval {
        "awaiting_approval"
    } else if r.disabled {
        "disabled"
    } else if !r.active {
        "deactivated"
    } else if r.account_status == "invited" {
        "invited"
    } else {
        "active"
    }
}

/// The cells of a row, in [`COLUMNS`] order.
pub fn cells(r: &ExportRow) -> [Cow<'_, str>; COLUMNS.len()] {
    fn text(v: &Option<String>) -> Cow<'_, str> {
        Cow::Borrowed(v.as_deref().unwrap_or(""))
    }
    // Borrowed where the row holds the text already: an export writes
    // every cell of every member.
    [
        Cow::Borrowed(r.email.as_str()),
        text(&r.salutation),
        text(&r.given_name),
        text(&r.infix),
        text(&r.family_name),
        text(&r.phone),
        text(&r.mobile),
        text(&r.job_title),
        text(&r.staff_code),
        Cow::Owned(r.labels.0.join(", ")),
        text(&r.roles),
        text(&r.groups),
        text(&r.register),
        text(&r.registration_number),
        text(&r.registration_state),
        text(&r.portfolio),
        Cow::Borrowed(if r.two_factor { "true" } else { "false" }),
        Cow::Borrowed(status_of(r)),
        Cow::Borrowed(r.organization.as_str()),
        Cow::Owned(r.created_at.to_rfc3339()),
        r.activated_at
            .map_or(Cow::Borrowed(""), |a| Cow::Owned(a.to_rfc3339())),
    ]
}

/// A row as a JSON object.
pub fn json_of(r: &ExportRow) -> serde_json::Value {
    let list = |v: &Option<String>| -> Vec<String> {
        v.as_deref()
            .map(|s| s.split(", ").map(str::to_owned).collect())
            .unwrap_or_default()
    };
    serde_json::json!({
        "account_id": r.account_id,
        "email": r.email,
        "salutation": r.salutation,
        "given_name": r.given_name,
        "infix": r.infix,
        "family_name": r.family_name,
        "phone": r.phone,
        "mobile": r.mobile,
        "job_title": r.job_title,
        "staff_code": r.staff_code,
        "labels": r.labels.0,
        "roles": list(&r.roles),
        "groups": list(&r.groups),
        "registration": r.registration_number.as_ref().map(|n| serde_json::json!({
            "register": r.register, "number": n, "state": r.registration_state,
        })),
        "portfolio": r.portfolio,
        "two_factor": r.two_factor,
        "status": status_of(r),
        "organization": r.organization,
        "created_at": r.created_at,
        "activated_at": r.activated_at,
    })
}

/// What an export begins with: the CSV header (after a byte-order mark
/// when asked), or the JSON array's opening.
pub fn opening(format: Format, bom: bool) -> String {
    let mut head = String::new();
    match format {
        Format::Csv => {
            if bom {
                head.push('\u{FEFF}');
            }
            csv_record(&mut head, COLUMNS);
        }
        Format::Json => head.push('['),
    }
    head
}

/// Appends `row` to `out`; `first` says whether it is the export's first.
pub fn write_row(out: &mut String, format: Format, row: &ExportRow, first: bool) {
    match format {
        Format::Csv => {
            let cells = cells(row);
            csv_record(out, cells.iter().map(|c| c.as_ref()));
        }
        Format::Json => {
            if !first {
                out.push(',');
            }
            out.push_str(&json_of(row).to_string());
        }
    }
}

/// What an export ends with.
pub fn closing(format: Format) -> &'static str {
    match format {
        Format::Csv => "",
        Format::Json => "]",
    }
}

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
        ("format" = Option<String>, Query, description = "csv (default) or json"),
        ("children" = Option<bool>, Query, description = "Include the organizations below"),
        ("bom" = Option<bool>, Query, description = "CSV: start with a UTF-8 byte-order mark")),
    responses(
        (status = 200, description = "The members, streamed", content(
            (String = "text/csv"),
            (Vec<Object> = "application/json"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ClientAddr(client): ClientAddr,
    Path(org): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (org, auth) = authorized::<MembersRead>(&state, &caller, &org).await?;
    let flag = |name: &str| -> Result<bool, ApiError> {
        match q.get(name).map(String::as_str) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(portier_core::FieldError::new(name, "invalid", "true or false").into()),
        }
    };
    let format = match q.get("format") {
        None => Format::Csv,
        Some(f) => Format::parse(f).ok_or_else(|| {
            portier_core::FieldError::new("format", "invalid", "the formats are csv and json")
        })?,
    };
    let (children, bom) = (flag("children")?, flag("bom")?);
    let origin = Origin::now(client);
    portier_store::export::record(&state.store, auth.actor(), &org, format, children, &origin)
        .await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<ExportRow>(ROWS_PER_CHUNK * 2);
    let store = state.store.clone();
    let reading = tokio::spawn({
        let org = org.clone();
        async move { portier_store::export::members(&store, &org, children, tx).await }
    });
    let head = opening(format, bom);
    struct Reading {
        rx: tokio::sync::mpsc::Receiver<ExportRow>,
        task: Option<tokio::task::JoinHandle<portier_store::Result<u64>>>,
        head: Option<String>,
        first: bool,
    }
    let start = Reading {
        rx,
        task: Some(reading),
        head: Some(head),
        first: true,
    };
    let stream = futures_util::stream::unfold(start, move |mut r| async move {
        let mut chunk = r.head.take().unwrap_or_default();
        let mut rows = 0;
        while rows < ROWS_PER_CHUNK {
            let Some(row) = r.rx.recv().await else { break };
            rows += 1;
            write_row(&mut chunk, format, &row, r.first);
            r.first = false;
        }
        if rows == 0 {
            // All read: the reading ended well, or the answer is cut short
            // (an error, not a truncated file that looks whole).
            let task = r.task.take()?;
            match task.await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "export failed");
                    return Some((Err(std::io::Error::other("export failed")), r));
                }
                Err(e) => {
                    tracing::error!(error = %e, "export task failed");
                    return Some((Err(std::io::Error::other("export failed")), r));
                }
            }
            chunk.push_str(closing(format));
            if chunk.is_empty() {
                return None;
            }
        }
        Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), r))
    });
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    let mut response = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"members-{}.{extension}\"",
        org.id
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
