//! Importing members from a CSV or XLSX file: a dry run by default,
//! reporting per row what would happen; the real run all or nothing in one
//! transaction for files up to `import_sync_rows` rows, a job committing in
//! chunks for larger ones (`GET …/imports/{id}` follows it). Invitations go
//! through the outbox, or are held back to be sent later
//! (`POST …/imports/{id}/invitations`). The file is read and checked a
//! chunk of rows at a time, and a report is written out as it is sent
//! (docs/IMPORTS.md).

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use portier_core::import::FileKind;
use portier_core::rights::{MembersInvite, MembersRead};
use portier_store::audit::Origin;
use portier_store::import::{Counts, Import, Outcome, Report, ReportLine, RowReport};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorBody;
use crate::extract::flag;
use crate::extract::{ClientAddr, path_id};
use crate::imports::Turn;
use crate::service::imports::{self, Started, file_too_large};
use crate::{ApiError, AppState};

/// How many rows of each outcome a report holds.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct ImportCounts {
    pub new: i64,
    pub reused: i64,
    pub already_member: i64,
    pub invalid: i64,
}

impl From<Counts> for ImportCounts {
    fn from(c: Counts) -> ImportCounts {
        ImportCounts {
            new: c.new,
            reused: c.reused,
            already_member: c.already_member,
            invalid: c.invalid,
        }
    }
}

/// What happens (or happened) to one row of the file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportRowView {
    /// The row in the file; the header is row 1.
    pub row: u64,
    /// new, reused, already_member or invalid.
    pub outcome: String,
    /// The column concerned, as the file names it.
    pub field: Option<String>,
    pub message: Option<String>,
}

impl From<&RowReport> for ImportRowView {
    fn from(r: &RowReport) -> ImportRowView {
        ImportRowView {
            row: r.row,
            outcome: r.outcome.as_str().to_owned(),
            field: r.field.clone(),
            message: r.message.clone(),
        }
    }
}

/// The report of a dry run, or of an import run at once. Written out as it
/// is sent, in this shape ([`Pieces`]).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// The import, when it ran.
    pub import_id: Option<Uuid>,
    pub counts: ImportCounts,
    /// Columns of the file that were not recognised, and so not read.
    pub ignored_columns: Vec<String>,
    pub rows: Vec<ImportRowView>,
}

/// A large import, queued to run as a job.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportQueued {
    pub job_id: Uuid,
    /// Where to follow it.
    pub location: String,
}

/// An import with its progress and its report so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportView {
    pub id: Uuid,
    /// planned, running, done or failed.
    pub state: String,
    pub file_name: Option<String>,
    pub invite: bool,
    pub skip_invalid: bool,
    pub total_rows: i64,
    pub done_rows: i64,
    /// done_rows / total_rows, from 0 to 1.
    pub progress: f64,
    pub counts: ImportCounts,
    /// Invitations were held back and can still be sent.
    pub invitations_held: bool,
    /// Why it failed: `invalid_rows` (nothing was written), or what stopped it.
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The report so far, in the order of the file: a page of it.
    pub rows: Vec<ImportRowView>,
    /// When the report goes on beyond this page: the `cursor` that asks
    /// for the next.
    pub next_cursor: Option<u64>,
}

impl ImportView {
    pub fn of(i: Import, rows: &[RowReport], next_cursor: Option<u64>) -> ImportView {
        ImportView {
            id: i.id,
            progress: if i.total_rows == 0 {
                1.0
            } else {
                i.done_rows as f64 / i.total_rows as f64
            },
            state: i.state,
            file_name: i.file_name,
            invite: i.invite,
            skip_invalid: i.skip_invalid,
            total_rows: i.total_rows,
            done_rows: i.done_rows,
            counts: i.counts.into(),
            invitations_held: i.invitations_held,
            error: i.error,
            created_at: i.created_at,
            finished_at: i.finished_at,
            rows: rows.iter().map(ImportRowView::from).collect(),
            next_cursor,
        }
    }
}

/// Invitations sent for an import.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationsSent {
    pub sent: i64,
}

/// A report line as the answers write it.
#[derive(Serialize)]
struct LineView<'a> {
    row: u64,
    outcome: &'static str,
    field: Option<&'a str>,
    message: Option<&'a str>,
}

/// What a report's answer says before its rows.
#[derive(Serialize)]
struct ReportHead<'a> {
    dry_run: bool,
    import_id: Option<Uuid>,
    counts: ImportCounts,
    ignored_columns: &'a [String],
}

/// The lines of a report written with each piece of its answer.
const LINES_PER_PIECE: usize = 1_000;

/// A report's answer, written a thousand lines at a time as the body is
/// sent, so that it is never held a second time as JSON
/// (docs/IMPORTS.md#reports): `head` (a JSON object whose last key is
/// `rows`) and the lines. It holds the import's turn until it is sent.
struct Pieces {
    head: Option<Vec<u8>>,
    report: Report,
    at: usize,
    ended: bool,
    _turn: Option<Turn>,
}

impl Iterator for Pieces {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ended {
            return None;
        }
        let mut out = self.head.take().unwrap_or_default();
        let end = (self.at + LINES_PER_PIECE).min(self.report.len());
        for i in self.at..end {
            if i > 0 {
                out.push(b',');
            }
            if let Some(line) = self.report.get(i) {
                // Into memory: cannot fail.
                let _ = serde_json::to_writer(&mut out, &line_view(line));
            }
        }
        self.at = end;
        if end == self.report.len() {
            out.extend_from_slice(b"]}");
            self.ended = true;
        }
        Some(Ok(Bytes::from(out)))
    }
}

fn line_view(line: ReportLine<'_>) -> LineView<'_> {
    LineView {
        row: line.row,
        outcome: line.outcome.as_str(),
        field: line.field,
        message: line.message,
    }
}

/// An answer of `status` with `head` and then the lines of `report` as
/// `rows`.
fn report_answer(
    status: StatusCode,
    head: &impl Serialize,
    report: Report,
    turn: Option<Turn>,
) -> Response {
    let mut start = serde_json::to_vec(head).unwrap_or_else(|_| b"{}".to_vec());
    // The object stays open for its rows.
    start.pop();
    if start.len() > 1 {
        start.push(b',');
    }
    start.extend_from_slice(b"\"rows\":[");
    let pieces = Pieces {
        head: Some(start),
        report,
        at: 0,
        ended: false,
        _turn: turn,
    };
    let mut response = Response::new(Body::from_stream(futures_util::stream::iter(pieces)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The 422 of an all-or-nothing import with invalid rows: the error, and
/// the report saying which rows.
fn refused(report: Report, turn: Option<Turn>) -> Response {
    let counts: ImportCounts = report.counts().into();
    let head = serde_json::json!({
        "error": {
            "code": "import_invalid",
            "message": format!(
                "{} rows cannot be imported, so nothing was: correct them, or import the others with skip_invalid=true",
                counts.invalid
            ),
            "field": "file",
        },
        "counts": counts,
    });
    report_answer(StatusCode::UNPROCESSABLE_ENTITY, &head, report, turn)
}

/// Reads the uploaded file, refusing what is too large (413) or of another
/// kind (415). The file is read into one buffer of the size the request
/// declares (or the limit), a piece at a time as it comes.
pub async fn read_upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(FileKind, Vec<u8>), ApiError> {
    let limit = state.config.import_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(file_too_large(limit));
    }
    let mut bytes = portier_store::import::file_buffer(declared.unwrap_or(limit));
    let mut pieces = body.into_data_stream();
    while let Some(piece) = pieces.next().await {
        let piece = piece.map_err(|_| file_too_large(limit))?;
        if bytes.len() + piece.len() > limit {
            return Err(file_too_large(limit));
        }
        bytes.extend_from_slice(&piece);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let kind = FileKind::detect(content_type, &bytes).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file",
            "send the file as text/csv or as XLSX (application/vnd.openxmlformats-officedocument.spreadsheetml.sheet)",
        )
        .with_field("file")
    })?;
    Ok((kind, bytes))
}

/// Import members from a file.
///
/// The body is the file: CSV (`text/csv`; comma, semicolon or tab
/// separated; UTF-8, with or without a byte-order mark, or Windows-1252) or
/// XLSX (the first sheet). The first row names the columns, in English or
/// Dutch: `E-mail` (required), `Aanhef`/`salutation`, `Voornaam`/`given_name`,
/// `Tussenvoegsel`/`infix`, `Achternaam`/`family_name`, `Telefoon`/`phone`,
/// `Mobiel`/`mobile`, `Functie`/`job_title`, `Omschrijving`/`description`,
/// `Personeelsnummer`/`staff_code`, `Labels`, `Rol`/`roles` (keys or names,
/// separated by commas), `Groepen`/`groups` (names), `Register`,
/// `BIG-nummer`/`registration_number`, `Status` (`deactivated` imports an
/// inactive membership). The export's columns are read back as they are.
///
/// `dry_run` (default true) writes nothing and reports per row what would
/// happen: `new` (a new account, invited), `reused` (the address has an
/// account, which joins), `already_member`, or `invalid` with the column
/// and the reason. The real run (`dry_run=false`) is all or nothing: with
/// an invalid row nothing is written (422 `import_invalid` with the
/// report), unless `skip_invalid=true` imports the others. Up to the
/// configured number of rows it runs at once in one transaction (200);
/// larger files run as a job committing in chunks (202, follow
/// `GET …/imports/{job_id}`). `invite=false` holds the invitations back, to
/// send with `POST …/imports/{id}/invitations`. Needs `members.invite`.
///
/// A file holds at most the configured number of bytes
/// (`PORTIER_IMPORT_MAX_BYTES`, 20 MB; 413 `file_too_large` beyond). An
/// organization has one large import (a file above 1 MB, or a job) under
/// way at a time: another large file meanwhile is refused (409
/// `import_running`).
#[utoipa::path(post, operation_id = "members_import", path = "/organizations/{org}/members/import", tag = "members",
    params(("org" = uuid::Uuid, Path, description = "The organization's id"),
        ("dry_run" = Option<bool>, Query, description = "Only report what would happen (default true)"),
        ("invite" = Option<bool>, Query, description = "Queue the invitations (default true); false holds them back"),
        ("skip_invalid" = Option<bool>, Query, description = "Import the valid rows when others are invalid (default false: nothing)"),
        ("file_name" = Option<String>, Query, description = "The file's name, for the list of imports")),
    request_body(content(
        (String = "text/csv"),
        (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    )),
    responses(
        (status = 200, body = ImportReport, description = "The report of the dry run, or of the import done at once"),
        (status = 202, body = ImportQueued, description = "A large file: the import runs as a job"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Another large import of this organization is under way"),
        (status = 413, body = ErrorBody, description = "The file is larger than the configured limit"),
        (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The file cannot be read, or rows are invalid (with the report)"),
    ))]
pub async fn import(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersInvite, Api>,
    ClientAddr(client): ClientAddr,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let org = auth.organization();
    let dry_run = flag(&q, "dry_run", true)?;
    let invite = flag(&q, "invite", true)?;
    let skip_invalid = flag(&q, "skip_invalid", false)?;
    let file_name = match q.get("file_name") {
        Some(n) => portier_core::accounts::profile_text("file_name", Some(n), 200)?,
        None => None,
    };
    let (kind, source) = read_upload(&state, &headers, body).await?;
    // The report is answered when it is a dry run's, or a refusal's.
    let keep_report = dry_run || !skip_invalid;
    let mut report = Report::default();
    let (mut turn, checked) = imports::check(&state, &auth, kind, &source, |line| {
        if keep_report {
            report.push(line);
        }
    })
    .await?;
    let ignored = checked.columns.ignored();
    if dry_run {
        drop(source);
        if let Some(t) = turn.as_mut() {
            t.checked();
        }
        let head = ReportHead {
            dry_run: true,
            import_id: None,
            counts: checked.counts.into(),
            ignored_columns: &ignored,
        };
        return Ok(report_answer(StatusCode::OK, &head, report, turn));
    }
    if !skip_invalid && checked.counts.invalid > 0 {
        drop(source);
        if let Some(t) = turn.as_mut() {
            t.checked();
        }
        return Ok(refused(report, turn));
    }
    drop(report);
    let request = portier_store::import::Request {
        file_name,
        kind,
        source,
        invite,
        skip_invalid,
    };
    let origin = Origin::now(client);
    let mut report = Report::default();
    let started = imports::start(&state, &auth, &request, checked.rows(), &origin, |line| {
        report.push(line)
    })
    .await?;
    let import = match started {
        Started::Done(import) => import,
        Started::Queued(id) => {
            let location = format!("/api/v1/organizations/{}/imports/{id}", org.id);
            let mut response = (
                StatusCode::ACCEPTED,
                Json(ImportQueued {
                    job_id: id,
                    location: location.clone(),
                }),
            )
                .into_response();
            if let Ok(v) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            return Ok(response);
        }
    };
    drop(request);
    if let Some(t) = turn.as_mut() {
        t.checked();
    }
    let head = ReportHead {
        dry_run: false,
        import_id: Some(import.id),
        counts: import.counts.into(),
        ignored_columns: &ignored,
    };
    Ok(report_answer(StatusCode::OK, &head, report, turn))
}

/// The most report lines one answer holds (docs/IMPORTS.md#reports).
const REPORT_PAGE: i64 = 100_000;

/// One import: its state, progress, counts and report so far.
///
/// The report comes a page at a time, in the order of the file: `limit`
/// lines (1 to 100,000, the default), from the row after `cursor` (the
/// `next_cursor` of the previous page); `outcome` narrows it to one
/// outcome (`invalid`, say). Needs `members.read`.
#[utoipa::path(get, operation_id = "imports_get", path = "/organizations/{org}/imports/{id}", tag = "members",
    params(("org" = uuid::Uuid, Path, description = "The organization's id"),
        ("id" = uuid::Uuid, Path, description = "The import's id"),
        ("outcome" = Option<String>, Query, description = "new, reused, already_member or invalid"),
        ("limit" = Option<i64>, Query, description = "At most this many report rows (1 to 100,000; default 100,000)"),
        ("cursor" = Option<u64>, Query, description = "Only the rows after this one: the next_cursor of the previous page")),
    responses(
        (status = 200, body = ImportView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<ImportView>, ApiError> {
    let id = path_id("id", &id)?;
    let outcome = match q.get("outcome") {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            portier_core::FieldError::new(
                "outcome",
                "invalid",
                "one of new, reused, already_member, invalid",
            )
        })?),
    };
    let limit = match q.get("limit") {
        None => REPORT_PAGE,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=REPORT_PAGE).contains(l))
            .ok_or_else(|| {
                portier_core::FieldError::new("limit", "invalid", "a number from 1 to 100000")
            })?,
    };
    let cursor = match q.get("cursor") {
        None => 0,
        Some(c) => c.parse::<u64>().map_err(|_| {
            portier_core::FieldError::new(
                "cursor",
                "invalid",
                "the next_cursor of the previous page",
            )
        })?,
    };
    let import = portier_store::import::get(&state.store, &auth, id)
        .await?
        .ok_or_else(|| ApiError::from(portier_core::Error::NotFound { what: "import" }))?;
    // One more than the page, to know whether another follows.
    let mut rows =
        portier_store::import::report(&state.store, &auth, id, outcome, cursor, limit + 1).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.row)
    } else {
        None
    };
    Ok(Json(ImportView::of(import, &rows, next_cursor)))
}

/// The organization's imports, newest first (without their reports).
/// Needs `members.read`.
#[utoipa::path(get, operation_id = "imports_list", path = "/organizations/{org}/imports", tag = "members",
    params(("org" = uuid::Uuid, Path, description = "The organization's id")),
    responses(
        (status = 200, body = Vec<ImportView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<Vec<ImportView>>, ApiError> {
    let imports = portier_store::import::list(&state.store, &auth, 100).await?;
    Ok(Json(
        imports
            .into_iter()
            .map(|i| ImportView::of(i, &[], None))
            .collect(),
    ))
}

/// Send the invitations an import held back (`invite=false`): to each
/// person it added who is still invited and an active member here. Once.
/// Needs `members.invite`.
#[utoipa::path(post, operation_id = "imports_send_invitations", path = "/organizations/{org}/imports/{id}/invitations", tag = "members",
    params(("org" = uuid::Uuid, Path, description = "The organization's id"),
        ("id" = uuid::Uuid, Path, description = "The import's id")),
    responses(
        (status = 200, body = InvitationsSent),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "It holds no invitations back"),
    ))]
pub async fn send_invitations(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersInvite, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<InvitationsSent>, ApiError> {
    let id = path_id("id", &id)?;
    portier_store::import::get(&state.store, &auth, id)
        .await?
        .ok_or_else(|| ApiError::from(portier_core::Error::NotFound { what: "import" }))?;
    let sent = imports::send_held_invitations(&state, &auth, id, &Origin::now(client)).await?;
    Ok(Json(InvitationsSent { sent }))
}
