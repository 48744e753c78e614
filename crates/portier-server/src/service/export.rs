//! Exporting an organization's members (docs/RULES.md#export): every field of
//! the users list with roles, groups, labels, staff code, registration,
//! portfolio, two-step verification, status and dates, as CSV (RFC 4180,
//! formula-safe, with a byte-order mark for spreadsheets when asked) or
//! JSON. The answer streams: rows go out as the database reads them, each
//! batch written as text by the task that read it ([`Text`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portier_core::export::{COLUMNS, Format, csv_record};
use portier_core::rights::MembersRead;
use portier_store::audit::Origin;
use portier_store::export::{Batch, Member};

use crate::extract::flag;
use crate::{ApiError, AppState};
use portier_core::rights::Authorized;

/// The member's state as the users list names it.
pub fn status_of(r: &Member<'_>) -> &'static str {
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

/// A list (labels, roles, groups) as one cell: "a, b".
fn list_cell<S: AsRef<str>>(items: &[S]) -> Cow<'_, str> {
    match items {
        [] => Cow::Borrowed(""),
        [one] => Cow::Borrowed(one.as_ref()),
        more => {
            let mut cell = String::new();
            for (i, item) in more.iter().enumerate() {
                if i > 0 {
                    cell.push_str(", ");
                }
                cell.push_str(item.as_ref());
            }
            Cow::Owned(cell)
        }
    }
}

/// The cells of a member, in [`COLUMNS`] order.
pub fn cells<'a>(r: &'a Member<'a>) -> [Cow<'a, str>; COLUMNS.len()] {
    fn text<'a>(v: Option<&'a str>) -> Cow<'a, str> {
        Cow::Borrowed(v.unwrap_or(""))
    }
    // Borrowed where the member holds the text already: an export writes
    // every cell of every member.
    let rest = [
        list_cell(&r.labels),
        list_cell(&r.roles),
        list_cell(&r.groups),
        text(r.register),
        text(r.registration_number),
        text(r.registration_state),
        text(r.portfolio),
        Cow::Borrowed(if r.two_factor { "true" } else { "false" }),
        Cow::Borrowed(status_of(r)),
        Cow::Borrowed(r.organization),
        Cow::Owned(r.created_at.to_rfc3339()),
        r.activated_at
            .map_or(Cow::Borrowed(""), |a| Cow::Owned(a.to_rfc3339())),
    ];
    let mut cells: [Cow<'a, str>; COLUMNS.len()] = std::array::from_fn(|_| Cow::Borrowed(""));
    let values = std::iter::once(Cow::Borrowed(r.email))
        .chain(r.profile().into_iter().map(text))
        .chain(rest);
    for (cell, value) in cells.iter_mut().zip(values) {
        *cell = value;
    }
    cells
}

/// The columns an export writes: indexes into [`COLUMNS`], in its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection(Vec<usize>);

impl Selection {
    pub fn all() -> Selection {
        Selection((0..COLUMNS.len()).collect())
    }

    /// `columns=email,given_name,…` (any order; written in the export's);
    /// all of them when absent.
    pub fn parse(raw: Option<&str>) -> Result<Selection, portier_core::FieldError> {
        let Some(raw) = raw else {
            return Ok(Selection::all());
        };
        let mut chosen = Vec::new();
        for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let i = COLUMNS.iter().position(|c| *c == name).ok_or_else(|| {
                portier_core::FieldError::new(
                    "columns",
                    "unknown_column",
                    format!(
                        "there is no column \"{}\"; the columns are {}",
                        name.chars().take(40).collect::<String>(),
                        COLUMNS.join(", ")
                    ),
                )
            })?;
            chosen.push(i);
        }
        if chosen.is_empty() {
            return Err(portier_core::FieldError::new(
                "columns",
                "required",
                "choose at least one column",
            ));
        }
        chosen.sort_unstable();
        chosen.dedup();
        Ok(Selection(chosen))
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().map(|i| COLUMNS[*i])
    }

    /// The cells of `row` this selection writes.
    fn pick<'a>(&'a self, cells: &'a [Cow<'a, str>]) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().map(|i| cells[*i].as_ref())
    }
}

/// Appends `s` as a JSON string.
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if !s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if u32::from(c) < 0x20 => {
                    out.push_str(&format!("\\u{:04x}", u32::from(c)));
                }
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// Appends `v` as a JSON string, or `null`.
fn json_opt(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => json_str(out, s),
        None => out.push_str("null"),
    }
}

/// Appends the items as a JSON array of strings.
fn json_list<'a>(out: &mut String, items: impl Iterator<Item = &'a str>) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, item);
    }
    out.push(']');
}

/// Appends a row as a JSON object: the account's id, which identifies it,
/// and the chosen columns, in the export's order; the registration's three
/// columns are one object (`null` without a number). Written directly,
/// not through `serde_json::Value`: an export writes a million of these.
fn json_row(out: &mut String, r: &Member<'_>, columns: &Selection) {
    fn time(out: &mut String, t: &chrono::DateTime<chrono::Utc>) {
        // chrono's own form in JSON: RFC 3339 with a Z.
        out.push_str(&serde_json::to_string(t).unwrap_or_else(|_| "null".into()));
    }
    out.push_str("{\"account_id\":\"");
    out.push_str(&r.account_id.to_string());
    out.push('"');
    let mut registration = false;
    let profile = r.profile();
    for &column in &columns.0 {
        let key = match COLUMNS[column] {
            "register" | "registration_number" | "registration_state" if registration => continue,
            "register" | "registration_number" | "registration_state" => {
                registration = true;
                "registration"
            }
            other => other,
        };
        out.push_str(",\"");
        out.push_str(key);
        out.push_str("\":");
        // The profile's columns follow the address, in the order of
        // `Member::profile` (both are core's `profile::FIELDS`).
        if let Some(value) = column.checked_sub(1).and_then(|at| profile.get(at)) {
            json_opt(out, *value);
            continue;
        }
        match key {
            "email" => json_str(out, r.email),
            "labels" => json_list(out, r.labels.iter().map(|l| l.as_ref())),
            "roles" => json_list(out, r.roles.iter().copied()),
            "groups" => json_list(out, r.groups.iter().copied()),
            "registration" => match r.registration_number {
                None => out.push_str("null"),
                Some(number) => {
                    out.push_str("{\"register\":");
                    json_opt(out, r.register);
                    out.push_str(",\"number\":");
                    json_str(out, number);
                    out.push_str(",\"state\":");
                    json_opt(out, r.registration_state);
                    out.push('}');
                }
            },
            "portfolio" => json_opt(out, r.portfolio),
            "two_factor" => out.push_str(if r.two_factor { "true" } else { "false" }),
            "status" => json_str(out, status_of(r)),
            "organization" => json_str(out, r.organization),
            "created_at" => time(out, &r.created_at),
            "activated_at" => match &r.activated_at {
                Some(t) => time(out, t),
                None => out.push_str("null"),
            },
            _ => out.push_str("null"),
        }
    }
    out.push('}');
}

/// What an export begins with: the CSV header (after a byte-order mark
/// when asked), or the JSON array's opening.
pub fn opening(format: Format, bom: bool, columns: &Selection) -> String {
    let mut head = String::new();
    match format {
        Format::Csv => {
            if bom {
                head.push('\u{FEFF}');
            }
            csv_record(&mut head, columns.names());
        }
        Format::Json => head.push('['),
        Format::Xlsx => {}
    }
    head
}

/// A batch of an export's text (CSV or JSON), written on the task that
/// read its members.
pub struct Text {
    text: String,
    members: usize,
    format: Format,
    columns: Arc<Selection>,
}

impl Text {
    /// What begins each batch of an export in `format` of `columns`.
    pub fn batches(
        format: Format,
        columns: &Arc<Selection>,
    ) -> impl Fn() -> Text + Clone + Send + Sync + 'static {
        let columns = Arc::clone(columns);
        move || Text {
            text: String::new(),
            members: 0,
            format,
            columns: Arc::clone(&columns),
        }
    }

    /// The text to send; `first` says whether it comes before every other
    /// member's (JSON separates members with commas, written before each).
    pub fn into_text(self, first: &mut bool) -> String {
        let mut text = self.text;
        if self.members > 0 {
            if *first && self.format == Format::Json {
                text.remove(0);
            }
            *first = false;
        }
        text
    }
}

impl Batch for Text {
    fn add(&mut self, member: &Member<'_>) {
        match self.format {
            Format::Csv => {
                let cells = cells(member);
                csv_record(&mut self.text, self.columns.pick(&cells));
            }
            Format::Json => {
                self.text.push(',');
                json_row(&mut self.text, member, &self.columns);
            }
            // A workbook takes its members as [`Cells`].
            Format::Xlsx => {}
        }
        self.members += 1;
    }

    fn members(&self) -> usize {
        self.members
    }
}

/// A batch of members' chosen cells, for a workbook.
pub struct Cells {
    rows: Vec<Vec<String>>,
    columns: Arc<Selection>,
}

impl Cells {
    /// What begins each batch of a workbook of `columns`.
    pub fn batches(columns: &Arc<Selection>) -> impl Fn() -> Cells + Clone + Send + Sync + 'static {
        let columns = Arc::clone(columns);
        move || Cells {
            rows: Vec::new(),
            columns: Arc::clone(&columns),
        }
    }
}

impl Batch for Cells {
    fn add(&mut self, member: &Member<'_>) {
        let cells = cells(member);
        self.rows
            .push(self.columns.pick(&cells).map(str::to_owned).collect());
    }

    fn members(&self) -> usize {
        self.rows.len()
    }
}

/// What an export ends with.
pub fn closing(format: Format) -> &'static str {
    match format {
        Format::Csv | Format::Xlsx => "",
        Format::Json => "]",
    }
}

/// Writes the rows as they come to an XLSX workbook (one sheet, the
/// header in bold, every cell a string so none is ever run as a formula)
/// in a temporary file, with rust_xlsxwriter's constant-memory mode: a row
/// is on disk once written. The file comes back open and already unlinked,
/// so it disappears when closed. A sheet holds at most 1,048,575 rows.
pub async fn write_xlsx(
    mut rx: tokio::sync::mpsc::Receiver<Cells>,
    columns: Arc<Selection>,
) -> std::io::Result<std::fs::File> {
    tokio::task::spawn_blocking(move || {
        use rust_xlsxwriter::{Format as Style, Workbook};
        let io = |e: rust_xlsxwriter::XlsxError| std::io::Error::other(e.to_string());
        let mut book = Workbook::new();
        let sheet = book.add_worksheet_with_constant_memory().map_err(io)?;
        sheet.set_name("Members").map_err(io)?;
        let bold = Style::new().set_bold();
        for (c, name) in columns.names().enumerate() {
            sheet
                .write_string_with_format(0, c as u16, name, &bold)
                .map_err(io)?;
        }
        let mut row: u32 = 0;
        while let Some(batch) = rx.blocking_recv() {
            for cells in batch.rows {
                row += 1;
                if row > 1_048_575 {
                    return Err(std::io::Error::other(
                        "an XLSX sheet holds at most 1,048,575 members: export CSV or JSON",
                    ));
                }
                for (c, cell) in cells.iter().enumerate() {
                    if !cell.is_empty() {
                        sheet.write_string(row, c as u16, cell).map_err(io)?;
                    }
                }
            }
        }
        let path =
            std::env::temp_dir().join(format!("portier-export-{}.xlsx", uuid::Uuid::new_v4()));
        book.save(&path).map_err(io)?;
        let file = std::fs::File::open(&path);
        let _ = std::fs::remove_file(&path);
        file
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Starts reading the members of `org` (and with `children` of the
/// organizations below) into batches that `make` begins: the batches as
/// they come, in order, and the reading, which ends with how many members
/// it read.
pub fn start<B: Batch>(
    store: &portier_store::Store,
    auth: &Authorized<MembersRead>,
    children: bool,
    make: impl Fn() -> B + Clone + Send + Sync + 'static,
) -> (
    tokio::sync::mpsc::Receiver<B>,
    tokio::task::JoinHandle<portier_store::Result<u64>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let (store, auth) = (store.clone(), auth.clone());
    let reading = tokio::spawn(async move {
        portier_store::export::members(&store, &auth, children, make, tx).await
    });
    (rx, reading)
}

/// The answer: the body as a file to save.
fn attachment(
    body: Body,
    format: Format,
    org: &portier_core::organizations::Organization,
) -> Response {
    let content_type = match format {
        Format::Csv => "text/csv; charset=utf-8",
        Format::Json => "application/json",
        Format::Xlsx => portier_core::import::XLSX_TYPE,
    };
    let extension = format.as_str();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"members-{}.{extension}\"",
        org.id
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// What to export, as a query string names it (the API's, and the
/// console's form, which sends the same names).
#[derive(Debug, Clone)]
pub struct Request {
    pub format: Format,
    /// The organizations below too.
    pub children: bool,
    /// CSV: a UTF-8 byte-order mark first, for spreadsheets.
    pub bom: bool,
    pub columns: Selection,
}

impl Request {
    /// Reads `format`, `children`, `bom` and `columns`; a bad value is a
    /// 422 naming its parameter.
    pub fn from_query(q: &HashMap<String, String>) -> Result<Request, ApiError> {
        let format = match q.get("format") {
            None => Format::Csv,
            Some(f) => Format::parse(f).ok_or_else(|| {
                portier_core::FieldError::new(
                    "format",
                    "invalid",
                    "the formats are csv, json and xlsx",
                )
            })?,
        };
        Ok(Request {
            format,
            children: flag(q, "children", false)?,
            bom: flag(q, "bom", false)?,
            columns: Selection::parse(q.get("columns").map(String::as_str))?,
        })
    }
}

/// Exports the members of the organization of `auth` as `request` asks:
/// audited, then streamed as the database reads them (an XLSX workbook is
/// written whole first).
pub async fn members(
    state: &AppState,
    auth: &Authorized<MembersRead>,
    request: Request,
    client: Option<String>,
) -> Result<Response, ApiError> {
    let Request {
        format,
        children,
        bom,
        columns,
    } = request;
    let origin = Origin::now(client);
    portier_store::export::record(&state.store, auth.actor(), auth, format, children, &origin)
        .await?;
    let columns = Arc::new(columns);
    if format == Format::Xlsx {
        let (rx, reading) = start(&state.store, auth, children, Cells::batches(&columns));
        let file = write_xlsx(rx, columns).await.map_err(|e| {
            tracing::error!(error = %e, "export failed");
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "export_failed",
                e.to_string(),
            )
            .with_field("format")
        })?;
        reading
            .await
            .map_err(|e| portier_store::Error::Corrupt(format!("the export stopped: {e}")))??;
        let file = tokio::fs::File::from_std(file);
        let stream = futures_util::stream::unfold(file, |mut f| async move {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 1 << 16];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), f))
                }
                Err(e) => Some((Err(e), f)),
            }
        });
        return Ok(attachment(
            Body::from_stream(stream),
            format,
            auth.organization(),
        ));
    }
    let head = opening(format, bom, &columns);
    let (rx, reading) = start(
        &state.store,
        auth,
        children,
        Text::batches(format, &columns),
    );
    struct Reading {
        rx: tokio::sync::mpsc::Receiver<Text>,
        task: Option<tokio::task::JoinHandle<portier_store::Result<u64>>>,
        head: Option<String>,
        first: bool,
    }
    let reading = Reading {
        rx,
        task: Some(reading),
        head: Some(head),
        first: true,
    };
    // Each batch goes out as it comes, as one chunk: the readers wrote it.
    let stream = futures_util::stream::unfold(reading, move |mut r| async move {
        if let Some(head) = r.head.take() {
            return Some((Ok(Bytes::from(head)), r));
        }
        while let Some(batch) = r.rx.recv().await {
            let text = batch.into_text(&mut r.first);
            if !text.is_empty() {
                return Some((Ok(Bytes::from(text)), r));
            }
        }
        // All read: the reading ended well, or the answer is cut short (an
        // error, not a truncated file that looks whole).
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
        let end = closing(format);
        (!end.is_empty()).then(|| (Ok(Bytes::from_static(end.as_bytes())), r))
    });
    Ok(attachment(
        Body::from_stream(stream),
        format,
        auth.organization(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The membership's fields of the row: a description and a staff code.
    fn details() -> Vec<serde_json::Value> {
        portier_core::profile::DETAIL_FIELDS
            .iter()
            .map(|f| match f.key {
                "description" => json!("Nacht\nOost"),
                "staff_code" => json!("P-0042"),
                _ => serde_json::Value::Null,
            })
            .collect()
    }

    fn row() -> portier_store::export::ExportRow {
        serde_json::from_value(json!({
            "account_id": uuid::Uuid::nil(), "organization": "Zorg \"Oost\"",
            "email": "eva@example.nl", "salutation": null, "given_name": "Eva\\n\t\u{1}é",
            "infix": "de", "family_name": "Vries, van",
            "details": details(),
            "labels": ["Oost", "Nacht"], "roles": "doctor\u{1f}member", "groups": null,
            "register": "BIG", "registration_number": "19061234501",
            "registration_state": "unchecked", "portfolio": null, "two_factor": true,
            "active": true, "account_status": "active", "disabled": false,
            "awaiting_approval": false, "created_at": "2026-11-29T13:16:46.723384Z",
            "activated_at": null,
        }))
        .unwrap()
    }

    #[test]
    fn a_json_row_holds_the_chosen_columns_escaped() {
        let mut out = String::new();
        json_row(&mut out, &row().member(), &Selection::all());
        let value: serde_json::Value = serde_json::from_str(&out).expect(&out);
        let mut expected = json!({
                "account_id": "00000000-0000-0000-0000-000000000000",
                "email": "eva@example.nl", "salutation": null, "given_name": "Eva\\n\t\u{1}é",
                "infix": "de", "family_name": "Vries, van",
                "labels": ["Oost", "Nacht"], "roles": ["doctor", "member"], "groups": [],
                "registration": {"register": "BIG", "number": "19061234501", "state": "unchecked"},
                "portfolio": null, "two_factor": true, "status": "active",
                "organization": "Zorg \"Oost\"", "created_at": "2026-11-29T13:16:46.723384Z",
                "activated_at": null,
        });
        for (f, v) in portier_core::profile::DETAIL_FIELDS.iter().zip(details()) {
            expected[f.key] = v;
        }
        assert_eq!(value, expected);
        let mut some = String::new();
        json_row(
            &mut some,
            &row().member(),
            &Selection::parse(Some("registration_state,email")).unwrap(),
        );
        let value: serde_json::Value = serde_json::from_str(&some).unwrap();
        assert_eq!(
            value,
            json!({"account_id": "00000000-0000-0000-0000-000000000000", "email": "eva@example.nl",
                "registration": {"register": "BIG", "number": "19061234501", "state": "unchecked"}})
        );
    }
}
