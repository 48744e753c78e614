//! Importing and exporting an organization's members in the console:
//! upload a CSV or XLSX file, read its dry-run report, confirm it and
//! follow the job; choose a format and download the members
//! (docs/IMPORTS.md).

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::import::FileKind;
use portier_core::organizations::Organization;
use portier_core::rights::{MembersInvite, MembersRead};
use portier_store::audit::Origin;
use portier_store::import::{Import, Outcome, RowReport};
use uuid::Uuid;

use super::org::{NavLink, OrgContext, Problem, Refusal, Section, org_context};
use super::{Done, I18n, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::service::imports;
use crate::{ApiError, AppState};

/// The most report rows a page shows.
const REPORT_ROWS: i64 = 1_000;
/// The imports listed under the upload form.
const RECENT_IMPORTS: i64 = 20;

pub fn router() -> Router<AppState> {
    Router::new()
        // The path ends in /members/import: the server's body limit skips
        // it, and the handler reads up to `import_max_bytes` itself.
        .route(
            "/orgs/{org}/members/import",
            get(show).post(upload).layer(DefaultBodyLimit::disable()),
        )
        .route("/orgs/{org}/members/export", get(export_form))
        .route("/orgs/{org}/members/export/download", get(download))
        .route("/orgs/{org}/imports/{id}", get(show_import))
        .route("/orgs/{org}/imports/{id}/confirm", post(confirm))
        .route("/orgs/{org}/imports/{id}/invitations", post(invitations))
}

/// Counts of a report, as shown.
pub struct CountsView {
    pub new: i64,
    pub reused: i64,
    pub already_member: i64,
    pub invalid: i64,
}

impl From<portier_store::import::Counts> for CountsView {
    fn from(c: portier_store::import::Counts) -> CountsView {
        CountsView {
            new: c.new,
            reused: c.reused,
            already_member: c.already_member,
            invalid: c.invalid,
        }
    }
}

/// One import in the list of recent ones.
pub struct ImportItem {
    pub id: String,
    pub state: String,
    pub state_label: String,
    pub file_name: String,
    pub date: String,
    pub counts: CountsView,
}

fn state_label(i18n: &I18n, state: &str) -> String {
    i18n.or(&format!("import-state-{state}"), state)
}

#[derive(Template, WebTemplate)]
#[template(path = "members/import.html")]
pub struct ImportPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub imports: Vec<ImportItem>,
    pub max_mb: usize,
    pub problem: Option<Problem>,
}

impl Refusal for ImportPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl ImportPage {
    fn general(&self) -> String {
        self.general_error(&["file"])
    }

    fn file_error(&self) -> String {
        self.error_for("file")
    }
}

async fn import_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    problem: Option<Problem>,
) -> Result<ImportPage, ApiError> {
    let i18n = person.viewer.i18n;
    let imports = portier_store::import::list(&state.store, &ctx.auth, RECENT_IMPORTS).await?;
    Ok(ImportPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Members),
        org: ctx.org.clone(),
        imports: imports
            .into_iter()
            .map(|i| ImportItem {
                id: i.id.to_string(),
                state_label: state_label(&i18n, &i.state),
                state: i.state,
                file_name: i.file_name.unwrap_or_default(),
                date: i18n.moment(i.created_at),
                counts: i.counts.into(),
            })
            .collect(),
        max_mb: state.config.import_max_bytes.div_ceil(1024 * 1024),
        problem,
    })
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccess<MembersInvite, Console>,
) -> Response {
    let (person, ctx) = access.page();
    import_page(&state, &person, &ctx, None)
        .await
        .into_response()
}

/// The upload form again with a refusal.
async fn refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    e: ApiError,
) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let problem = Problem::of(&person.viewer.i18n, &e);
    match import_page(state, person, ctx, Some(problem)).await {
        Ok(page) => (e.status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

/// The uploaded file and the choices sent with it.
struct Upload {
    file_name: Option<String>,
    content_type: Option<String>,
    bytes: Vec<u8>,
    invite: bool,
    skip_invalid: bool,
}

fn file_refusal(status: StatusCode, code: &str, message: String) -> ApiError {
    ApiError::new(status, code, message).with_field("file")
}

/// Reads the form, the file up to `import_max_bytes` (into one buffer of
/// the size the request declares).
async fn read_form(
    state: &AppState,
    headers: &HeaderMap,
    mut form: Multipart,
) -> Result<Upload, ApiError> {
    let limit = state.config.import_max_bytes;
    let too_large = || crate::service::imports::file_too_large(limit);
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    // The form's other fields and boundaries add a little to the file.
    if declared.is_some_and(|n| n > limit + 64 * 1024) {
        return Err(too_large());
    }
    let unreadable = || {
        file_refusal(
            StatusCode::BAD_REQUEST,
            "form_unreadable",
            "the form could not be read; choose the file and send it again".into(),
        )
    };
    let mut upload = Upload {
        file_name: None,
        content_type: None,
        bytes: portier_store::import::file_buffer(declared.unwrap_or(limit).min(limit)),
        invite: false,
        skip_invalid: false,
    };
    let mut has_file = false;
    while let Some(mut field) = form.next_field().await.map_err(|_| unreadable())? {
        match field.name() {
            Some("file") => {
                upload.file_name = field
                    .file_name()
                    .map(str::to_owned)
                    .filter(|n| !n.is_empty());
                upload.content_type = field.content_type().map(str::to_owned);
                while let Some(chunk) = field.chunk().await.map_err(|_| unreadable())? {
                    if upload.bytes.len() + chunk.len() > limit {
                        return Err(too_large());
                    }
                    upload.bytes.extend_from_slice(&chunk);
                }
                has_file = upload.file_name.is_some() || !upload.bytes.is_empty();
            }
            Some("invite") => upload.invite = true,
            Some("skip_invalid") => upload.skip_invalid = true,
            _ => {}
        }
    }
    if !has_file || upload.bytes.is_empty() {
        return Err(file_refusal(
            StatusCode::UNPROCESSABLE_ENTITY,
            "file_missing",
            "choose a CSV or XLSX file".into(),
        ));
    }
    Ok(upload)
}

/// The kind of the file: browsers name a CSV file's type in many ways
/// (Excel on Windows says `application/vnd.ms-excel`), so its extension
/// decides first.
fn kind_of(upload: &Upload) -> Result<FileKind, ApiError> {
    let extension = upload
        .file_name
        .as_deref()
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    let by_type = || FileKind::detect(upload.content_type.as_deref(), &upload.bytes);
    let kind = match extension.as_deref() {
        Some("csv" | "txt") => Some(FileKind::Csv),
        Some("xlsx") => Some(FileKind::Xlsx),
        _ => by_type(),
    };
    kind.ok_or_else(|| {
        file_refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file",
            "choose a CSV or XLSX file".into(),
        )
    })
}

async fn upload(
    State(state): State<AppState>,
    access: OrgAccess<MembersInvite, Console>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    form: Multipart,
) -> Response {
    let (person, ctx) = access.page();
    let planned = async {
        let auth = ctx.auth.and::<MembersInvite>()?;
        let upload = read_form(&state, &headers, form).await?;
        let kind = kind_of(&upload)?;
        let file_name = upload
            .file_name
            .as_deref()
            .map(|n| n.chars().take(200).collect::<String>());
        let file_name = portier_core::accounts::profile_text("file", file_name.as_deref(), 200)?;
        let request = portier_store::import::Request {
            file_name,
            kind,
            source: upload.bytes,
            invite: upload.invite,
            skip_invalid: upload.skip_invalid,
        };
        imports::plan(&state, &auth, &request, &Origin::now(client)).await
    }
    .await;
    match planned {
        Ok(id) => Redirect::to(&format!("/orgs/{}/imports/{id}", ctx.org.id)).into_response(),
        Err(e) => refused(&state, &person, &ctx, e).await,
    }
}

/// One row of a report, as shown.
pub struct ReportRow {
    pub row: u64,
    pub outcome: String,
    pub outcome_label: String,
    pub field: String,
    pub message: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "members/import_show.html")]
pub struct ImportShowPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub id: String,
    pub state: String,
    pub state_label: String,
    pub file_name: String,
    pub date: String,
    pub total_rows: i64,
    pub done_rows: i64,
    /// "n of m rows", for a running job.
    pub progress: String,
    pub counts: CountsView,
    pub invite: bool,
    pub skip_invalid: bool,
    pub invitations_held: bool,
    /// Why it failed, in words.
    pub error: Option<String>,
    /// Invalid rows first, then the others in the order of the file.
    pub rows: Vec<ReportRow>,
    /// The person may confirm it and send its invitations.
    pub may_invite: bool,
    pub notice: Option<String>,
}

fn report_rows(i18n: &I18n, mut rows: Vec<RowReport>) -> Vec<ReportRow> {
    rows.sort_by_key(|r| (r.outcome != Outcome::Invalid, r.row));
    rows.into_iter()
        .map(|r| ReportRow {
            row: r.row,
            outcome: r.outcome.as_str().to_owned(),
            outcome_label: i18n.or(
                &format!("import-outcome-{}", r.outcome.as_str()),
                r.outcome.as_str(),
            ),
            field: r.field.unwrap_or_default(),
            message: r.message.unwrap_or_default(),
        })
        .collect()
}

/// The organization (the caller holding `R` there) and one of its imports;
/// the page to answer otherwise.
async fn import_in<R: portier_core::rights::Right>(
    state: &AppState,
    person: &Person,
    org: &str,
    id: &str,
) -> Result<(OrgContext<R>, Import), Box<Response>> {
    let not_found = || {
        Box::new(error_page(
            &person.viewer,
            StatusCode::NOT_FOUND,
            "error-not-found",
        ))
    };
    let ctx = org_context::<R>(state, person, org)
        .await
        .map_err(Box::new)?;
    let id = id.parse::<Uuid>().map_err(|_| not_found())?;
    match portier_store::import::get(&state.store, &ctx.auth, id).await {
        Ok(Some(i)) => Ok((ctx, i)),
        Ok(None) => Err(not_found()),
        Err(e) => Err(Box::new(ApiError::from(e).into_response())),
    }
}

async fn show_import(
    State(state): State<AppState>,
    person: Person,
    Path((org, id)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    let (ctx, import) = match import_in::<MembersRead>(&state, &person, &org, &id).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let i18n = person.viewer.i18n;
    let rows = if import.state == "running" {
        Vec::new()
    } else {
        match portier_store::import::report(
            &state.store,
            &ctx.auth,
            import.id,
            None,
            0,
            REPORT_ROWS,
        )
        .await
        {
            Ok(rows) => rows,
            Err(e) => return ApiError::from(e).into_response(),
        }
    };
    let running = import.state == "running";
    let page = ImportShowPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Members),
        org: ctx.org.clone(),
        id: import.id.to_string(),
        state_label: state_label(&i18n, &import.state),
        state: import.state,
        file_name: import.file_name.unwrap_or_default(),
        date: i18n.moment(import.created_at),
        total_rows: import.total_rows,
        done_rows: import.done_rows,
        progress: i18n.tn(
            "import-progress",
            &[
                ("done", &import.done_rows.to_string()),
                ("total", &import.total_rows.to_string()),
            ],
        ),
        counts: import.counts.into(),
        invite: import.invite,
        skip_invalid: import.skip_invalid,
        invitations_held: import.invitations_held,
        error: import
            .error
            .map(|e| i18n.or(&format!("import-error-{e}"), &e)),
        rows: report_rows(&i18n, rows),
        may_invite: ctx.may::<MembersInvite>(),
        notice: i18n.done(q.done.as_deref()),
    };
    let mut response = page.into_response();
    if running {
        // The page follows the job without script (the meta tag says the
        // same for browsers that read only that).
        response
            .headers_mut()
            .insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    response
}

async fn confirm(
    State(state): State<AppState>,
    person: Person,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let (ctx, id) = match import_in::<MembersInvite>(&state, &person, &org, &id).await {
        Ok((ctx, import)) => (ctx, import.id),
        Err(page) => return *page,
    };
    // Confirmed already (twice sent): the page shows where it is.
    if let Err(e) = imports::confirm(&state, &ctx.auth, id).await {
        return e.into_response();
    }
    Redirect::to(&format!("/orgs/{}/imports/{id}", ctx.org.id)).into_response()
}

async fn invitations(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let (ctx, id) = match import_in::<MembersInvite>(&state, &person, &org, &id).await {
        Ok((ctx, import)) => (ctx, import.id),
        Err(page) => return *page,
    };
    let sent = async {
        let auth = ctx.auth.and::<MembersInvite>()?;
        let sent = imports::send_held_invitations(&state, &auth, id, &Origin::now(client)).await?;
        Ok::<_, ApiError>(sent)
    }
    .await;
    match sent {
        Ok(_) => Redirect::to(&format!(
            "/orgs/{}/imports/{id}?done=import-invitations-sent",
            ctx.org.id
        ))
        .into_response(),
        Err(e) if e.status.is_client_error() => Redirect::to(&format!(
            "/orgs/{}/imports/{id}?done=import-no-invitations",
            ctx.org.id
        ))
        .into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "members/export.html")]
pub struct ExportPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    /// Every column: its name in the file, and what it holds.
    pub columns: Vec<(&'static str, String)>,
}

async fn export_form(access: OrgAccess<MembersRead, Console>) -> Response {
    let (person, ctx) = access.page();
    let i18n = &person.viewer.i18n;
    ExportPage {
        columns: portier_core::export::COLUMNS
            .iter()
            .map(|c| {
                // A profile field is labelled by its definition; the
                // others have texts of their own.
                let label = match portier_core::profile::Field::of(c) {
                    Some(f) => f.label(i18n.locale).to_owned(),
                    None => i18n.t(&format!("export-column-{}", c.replace('_', "-"))),
                };
                (*c, label)
            })
            .collect(),
        page: person.viewer.page(),
        nav: ctx.nav(&person.viewer.i18n, Section::Members),
        org: ctx.org.clone(),
    }
    .into_response()
}

/// The export itself, for the signed-in person (`service::export`).
async fn download(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    client: ClientAddr,
    Query(q): Query<HashMap<String, String>>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Response {
    let (_, ctx) = access.page();
    // The form's column boxes come as one `columns` each: the API takes
    // them as one list.
    let mut q = q;
    let chosen: Vec<String> = form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "column")
        .map(|(_, v)| v.into_owned())
        .collect();
    if !chosen.is_empty() {
        q.insert("columns".into(), chosen.join(","));
    }
    let request = match crate::service::export::Request::from_query(&q) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    crate::service::export::members(&state, &ctx.auth, request, client.0)
        .await
        .into_response()
}
