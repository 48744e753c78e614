//! Reading a file of people to import (issue 9): CSV (RFC 4180, comma,
//! semicolon or tab separated, UTF-8 with or without a byte-order mark, or
//! Windows-1252 as older spreadsheets save it) or XLSX (the first sheet).
//! Columns are matched by their header, in English or Dutch; each row
//! becomes a [`MemberInput`] or the reason it cannot be one, naming the
//! column as the file names it.

use std::collections::HashMap;

use crate::FieldError;
use crate::members::MemberInput;

/// The most rows one file may hold (XLSX holds at most 1,048,575 below its
/// header anyway).
pub const MAX_ROWS: usize = 1_048_575;

/// What a column of the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Email,
    Salutation,
    GivenName,
    Infix,
    FamilyName,
    Phone,
    Mobile,
    JobTitle,
    Description,
    StaffCode,
    Labels,
    Roles,
    Groups,
    Register,
    RegistrationNumber,
    Status,
    /// Written by the export, not read back: the account keeps its own
    /// (registration state, portfolio, two-step verification, organization,
    /// dates).
    ExportOnly,
}

/// Header names, compared after [`normalize`]: the export's own names first,
/// then English and Dutch ones people write.
const NAMES: &[(Column, &[&str])] = &[
    (
        Column::Email,
        &[
            "email",
            "e mail",
            "e mailadres",
            "emailadres",
            "email address",
            "e mail address",
            "mail",
            "mailadres",
        ],
    ),
    (Column::Salutation, &["salutation", "aanhef", "title"]),
    (
        Column::GivenName,
        &[
            "given name",
            "first name",
            "firstname",
            "voornaam",
            "roepnaam",
        ],
    ),
    (
        Column::Infix,
        &["infix", "tussenvoegsel", "tussenvoegsels", "prefix"],
    ),
    (
        Column::FamilyName,
        &[
            "family name",
            "last name",
            "lastname",
            "surname",
            "achternaam",
        ],
    ),
    (
        Column::Phone,
        &["phone", "telephone", "telefoon", "telefoonnummer"],
    ),
    (
        Column::Mobile,
        &[
            "mobile",
            "mobile phone",
            "mobiel",
            "mobiel nummer",
            "mobiele telefoon",
        ],
    ),
    (Column::JobTitle, &["job title", "function", "functie"]),
    (
        Column::Description,
        &["description", "omschrijving", "beschrijving"],
    ),
    (
        Column::StaffCode,
        &[
            "staff code",
            "employee number",
            "personeelsnummer",
            "identificatiecode",
        ],
    ),
    (Column::Labels, &["labels", "label"]),
    (Column::Roles, &["roles", "role", "rol", "rollen"]),
    (Column::Groups, &["groups", "group", "groep", "groepen"]),
    (Column::Register, &["register"]),
    (
        Column::RegistrationNumber,
        &[
            "registration number",
            "big",
            "big nummer",
            "big number",
            "big registratienummer",
            "registratienummer",
        ],
    ),
    (Column::Status, &["status"]),
    (
        Column::ExportOnly,
        &[
            "registration state",
            "portfolio",
            "two factor",
            "organization",
            "created at",
            "activated at",
        ],
    ),
];

/// Lower case, `_` and `-` as spaces, runs of spaces as one, trimmed.
fn normalize(header: &str) -> String {
    header
        .trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The header of a file, matched to what Portier reads.
#[derive(Debug, Clone)]
pub struct Columns {
    /// The header as the file writes it.
    pub header: Vec<String>,
    /// Per column of the file, what it holds (`None`: not recognised).
    pub kinds: Vec<Option<Column>>,
    /// Where each recognised column is.
    at: HashMap<Column, usize>,
}

impl Columns {
    /// Matches a header row. An e-mail column is required; a column named
    /// twice, or two columns meaning the same, is refused.
    pub fn parse(header: Vec<String>) -> Result<Columns, FieldError> {
        let mut kinds = Vec::with_capacity(header.len());
        let mut at = HashMap::new();
        for (i, h) in header.iter().enumerate() {
            let n = normalize(h);
            let kind = NAMES
                .iter()
                .find(|(_, names)| names.contains(&n.as_str()))
                .map(|(c, _)| *c);
            if let Some(k) = kind.filter(|k| *k != Column::ExportOnly)
                && let Some(first) = at.insert(k, i)
            {
                return Err(FieldError::new(
                    "file",
                    "column_twice",
                    format!(
                        "the columns \"{}\" and \"{}\" mean the same; keep one",
                        header[first], h
                    ),
                ));
            }
            kinds.push(kind);
        }
        if !at.contains_key(&Column::Email) {
            return Err(FieldError::new(
                "file",
                "email_column_missing",
                "the first row must name the columns, one of them E-mail (or email, E-mailadres)",
            ));
        }
        Ok(Columns { header, kinds, at })
    }

    /// Headers that were not recognised, as the file writes them.
    pub fn ignored(&self) -> Vec<String> {
        self.header
            .iter()
            .zip(&self.kinds)
            .filter(|(h, k)| k.is_none() && !h.trim().is_empty())
            .map(|(h, _)| h.clone())
            .collect()
    }

    /// The file's name for a column Portier knows, or Portier's own.
    pub fn name_of(&self, column: Column) -> String {
        match self.at.get(&column) {
            Some(i) => self.header[*i].clone(),
            None => NAMES
                .iter()
                .find(|(c, _)| *c == column)
                .map(|(_, n)| n[0].replace(' ', "_"))
                .unwrap_or_default(),
        }
    }

    /// A row's value in `column`: trimmed, without the apostrophe an export
    /// put before a formula-looking cell, `None` when empty.
    fn get<'a>(&self, cells: &'a [String], column: Column) -> Option<&'a str> {
        let cell = cells.get(*self.at.get(&column)?)?.trim();
        let cell = match cell.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@']) => rest,
            _ => cell,
        };
        (!cell.is_empty()).then_some(cell)
    }

    /// Reads one row into what an administrator would have entered. Roles
    /// and groups are kept as written (keys or names): the organization
    /// decides what they mean.
    pub fn read(&self, cells: &[String]) -> Result<Candidate, RowError> {
        let text = |c: Column| self.get(cells, c).map(str::to_owned);
        let list = |c: Column| -> Vec<String> {
            self.get(cells, c)
                .map(|v| {
                    v.split([',', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        // A cell that a spreadsheet would run as a formula is no name.
        for column in [
            Column::Salutation,
            Column::GivenName,
            Column::Infix,
            Column::FamilyName,
            Column::JobTitle,
            Column::Description,
            Column::StaffCode,
            Column::Labels,
            Column::Groups,
            Column::Roles,
        ] {
            if let Some(v) = self.get(cells, column)
                && v.starts_with(['=', '+', '-', '@'])
            {
                return Err(RowError {
                    field: self.name_of(column),
                    code: "formula",
                    message: format!(
                        "\"{}\" looks like a spreadsheet formula, not a value",
                        v.chars().take(40).collect::<String>()
                    ),
                });
            }
        }
        let email = text(Column::Email).ok_or_else(|| RowError {
            field: self.name_of(Column::Email),
            code: "required",
            message: "the e-mail address is missing".into(),
        })?;
        let active = match self.get(cells, Column::Status).map(normalize).as_deref() {
            None | Some("active" | "invited" | "actief" | "uitgenodigd") => true,
            Some("deactivated" | "inactive" | "gedeactiveerd" | "inactief") => false,
            // Account states the import cannot set: the account keeps its own.
            Some("disabled" | "awaiting approval" | "geblokkeerd" | "wacht op goedkeuring") => true,
            Some(_) => {
                return Err(RowError {
                    field: self.name_of(Column::Status),
                    code: "status_unknown",
                    message: "use active or deactivated (actief of gedeactiveerd)".into(),
                });
            }
        };
        let registration = match (text(Column::Register), text(Column::RegistrationNumber)) {
            (_, None) => None,
            (register, Some(number)) => Some((register.unwrap_or_else(|| "BIG".into()), number)),
        };
        Ok(Candidate {
            input: MemberInput {
                email,
                roles: list(Column::Roles),
                salutation: text(Column::Salutation),
                given_name: text(Column::GivenName),
                infix: text(Column::Infix),
                family_name: text(Column::FamilyName),
                phone: text(Column::Phone),
                mobile: text(Column::Mobile),
                job_title: text(Column::JobTitle),
                staff_code: text(Column::StaffCode),
                description: text(Column::Description),
                labels: list(Column::Labels),
                groups: Vec::new(),
                registration,
                active,
            },
            groups: list(Column::Groups),
        })
    }

    /// The column a refusal of [`crate::members::NewMember::parse`] is
    /// about, as the file names it.
    pub fn column_of(&self, field: &str) -> String {
        let base = field.split('[').next().unwrap_or(field);
        let column = match base {
            "email" => Column::Email,
            "salutation" => Column::Salutation,
            "given_name" => Column::GivenName,
            "infix" => Column::Infix,
            "family_name" => Column::FamilyName,
            "phone" => Column::Phone,
            "mobile" => Column::Mobile,
            "job_title" => Column::JobTitle,
            "description" => Column::Description,
            "staff_code" => Column::StaffCode,
            "labels" => Column::Labels,
            "roles" => Column::Roles,
            "groups" => Column::Groups,
            "registration.register" => Column::Register,
            "registration" | "registration.number" => Column::RegistrationNumber,
            _ => return base.to_owned(),
        };
        self.name_of(column)
    }
}

/// One row as read: the fields, and the groups by name.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub input: MemberInput,
    pub groups: Vec<String>,
}

/// Why a row cannot be imported: the column (as the file names it) and the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

/// A file read into its header and its rows, each with its line number in
/// the file (the header being row 1; for CSV, the record's number).
#[derive(Debug, Clone)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<(u64, Vec<String>)>,
}

/// The kinds of file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Xlsx,
}

pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

impl FileKind {
    /// From the upload's content type; XLSX is also known by its first
    /// bytes (a ZIP archive), as browsers sometimes send no type.
    pub fn detect(content_type: Option<&str>, bytes: &[u8]) -> Option<FileKind> {
        let essence = content_type.map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        match essence.as_deref() {
            Some(XLSX_TYPE) => Some(FileKind::Xlsx),
            Some("text/csv" | "text/plain" | "application/csv" | "text/comma-separated-values") => {
                Some(FileKind::Csv)
            }
            Some("application/octet-stream") | None | Some("") => {
                if bytes.starts_with(b"PK\x03\x04") {
                    Some(FileKind::Xlsx)
                } else {
                    Some(FileKind::Csv)
                }
            }
            Some(_) => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            FileKind::Csv => "text/csv",
            FileKind::Xlsx => XLSX_TYPE,
        }
    }
}

fn file_error(code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new("file", code, message)
}

/// Reads a file of either kind.
pub fn read(kind: FileKind, bytes: &[u8]) -> Result<Table, FieldError> {
    let table = match kind {
        FileKind::Csv => read_csv(bytes)?,
        FileKind::Xlsx => read_xlsx(bytes)?,
    };
    if table.rows.len() > MAX_ROWS {
        return Err(file_error(
            "too_many_rows",
            format!("a file holds at most {MAX_ROWS} rows; split it"),
        ));
    }
    Ok(table)
}

/// CSV: the separator is the one of `,`, `;` and tab that the header line
/// holds most of (Dutch spreadsheets write `;`).
pub fn read_csv(bytes: &[u8]) -> Result<Table, FieldError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(t) => t.into(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0,
    };
    let first_line = text.lines().next().unwrap_or("");
    let separator = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|s| first_line.bytes().filter(|b| b == s).count())
        .unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(separator)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        None => return Err(file_error("empty", "the file is empty")),
        Some(r) => r
            .map_err(|e| file_error("csv", format!("the header cannot be read: {e}")))?
            .iter()
            .map(str::to_owned)
            .collect(),
    };
    let mut rows = Vec::new();
    // A record is a spreadsheet's row, also when a cell holds a line break.
    for (i, record) in records.enumerate() {
        let row = i as u64 + 2;
        let record = record.map_err(|e| file_error("csv", format!("row {row}: {e}")))?;
        if record.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push((row, record.iter().map(str::to_owned).collect()));
    }
    Ok(Table { header, rows })
}

/// The most a workbook may unpack to, by the sizes its archive declares.
const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

/// The most columns a sheet to import may use.
const MAX_COLUMNS: u32 = 256;

/// XLSX: the first sheet; numbers as written without a needless `.0`. The
/// cells are read one by one, so a sheet that declares a vast range (a cell
/// at A1 and one at XFD1048576) costs only the cells it holds; a workbook
/// that would unpack beyond 256 MB, a cell beyond column 256 or a row beyond
/// [`MAX_ROWS`] is refused.
pub fn read_xlsx(bytes: &[u8]) -> Result<Table, FieldError> {
    use calamine::{Data, Reader};
    let not_xlsx =
        |e: &dyn std::fmt::Display| file_error("xlsx", format!("this is not an XLSX file: {e}"));
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| not_xlsx(&e))?;
    let mut unpacked: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| not_xlsx(&e))?;
        unpacked = unpacked.saturating_add(entry.size());
    }
    if unpacked > MAX_UNPACKED {
        return Err(file_error(
            "too_large",
            "the workbook unpacks to more than 256 MB; export the sheet as CSV",
        ));
    }
    let mut book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| not_xlsx(&e))?;
    let name = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| file_error("empty", "the workbook has no sheet"))?;
    let text = |d: Data| -> String {
        match d {
            Data::Empty => String::new(),
            Data::String(s) => s,
            Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            Data::Float(f) => f.to_string(),
            Data::Int(i) => i.to_string(),
            Data::Bool(b) => b.to_string(),
            Data::DateTimeIso(s) | Data::DurationIso(s) => s,
            other => other.to_string(),
        }
    };
    let unreadable = |e: &dyn std::fmt::Display| {
        file_error("xlsx", format!("the first sheet cannot be read: {e}"))
    };
    let mut cells = book
        .worksheet_cells_reader(&name)
        .map_err(|e| unreadable(&e))?;
    let mut rows: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
    while let Some(cell) = cells.next_cell().map_err(|e| unreadable(&e))? {
        let (row, col) = cell.get_position();
        let value = text(Data::from(cell.get_value().clone()));
        if value.is_empty() {
            continue;
        }
        if col >= MAX_COLUMNS {
            return Err(file_error(
                "too_many_columns",
                format!("a sheet to import uses at most {MAX_COLUMNS} columns"),
            ));
        }
        if row as usize > MAX_ROWS {
            return Err(file_error(
                "too_many_rows",
                format!("a file holds at most {MAX_ROWS} rows; split it"),
            ));
        }
        let line = rows.entry(row).or_default();
        if line.len() <= col as usize {
            line.resize(col as usize + 1, String::new());
        }
        line[col as usize] = value;
    }
    let mut rows = rows.into_iter();
    let header = match rows.next() {
        None => return Err(file_error("empty", "the first sheet is empty")),
        Some((_, r)) => r,
    };
    // Rows as the spreadsheet numbers them: the first is 1.
    let rows = rows.map(|(r, cells)| (u64::from(r) + 1, cells)).collect();
    Ok(Table { header, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(h: &[&str]) -> Columns {
        Columns::parse(h.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dutch_and_english_headers_are_matched() {
        let c = columns(&[
            "E-mail",
            "Voornaam",
            "Tussenvoegsel",
            "Achternaam",
            "Rol",
            "Notes",
        ]);
        let row = c
            .read(&cells(&[
                "a@example.nl",
                "Jan",
                "van der",
                "Berg",
                "admin; Lid",
                "x",
            ]))
            .unwrap();
        assert_eq!(row.input.email, "a@example.nl");
        assert_eq!(row.input.infix.as_deref(), Some("van der"));
        assert_eq!(row.input.roles, vec!["admin", "Lid"]);
        assert_eq!(c.ignored(), vec!["Notes"]);
        assert_eq!(c.column_of("roles[1]"), "Rol");
        assert_eq!(c.column_of("registration"), "registration_number");
    }

    #[test]
    fn the_email_column_is_required_and_columns_come_once() {
        assert_eq!(
            Columns::parse(cells(&["Naam"])).unwrap_err().code,
            "email_column_missing"
        );
        assert_eq!(
            Columns::parse(cells(&["email", "E-mailadres"]))
                .unwrap_err()
                .code,
            "column_twice"
        );
    }

    #[test]
    fn formulas_are_refused_and_the_exports_apostrophe_is_taken_off() {
        let c = columns(&["email", "given_name", "phone"]);
        let err = c
            .read(&cells(&["a@example.nl", "=HYPERLINK(\"x\")", ""]))
            .unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("given_name", "formula"));
        let row = c
            .read(&cells(&["a@example.nl", "Jan", "'+31 6 1234 5678"]))
            .unwrap();
        assert_eq!(row.input.phone.as_deref(), Some("+31 6 1234 5678"));
    }

    #[test]
    fn csv_separators_and_encodings_are_recognised() {
        let t =
            read_csv(b"\xEF\xBB\xBFE-mail;Achternaam\r\na@example.nl;\"Berg; van den\"\r\n\r\n")
                .unwrap();
        assert_eq!(t.header, vec!["E-mail", "Achternaam"]);
        assert_eq!(t.rows, vec![(2, cells(&["a@example.nl", "Berg; van den"]))]);
        // Windows-1252, as older spreadsheets save it.
        let t = read_csv(b"email,family_name\na@example.nl,M\xfcller\n").unwrap();
        assert_eq!(t.rows[0].1[1], "Müller");
    }

    #[test]
    fn status_deactivated_makes_an_inactive_membership() {
        let c = columns(&["email", "status"]);
        assert!(
            !c.read(&cells(&["a@example.nl", "deactivated"]))
                .unwrap()
                .input
                .active
        );
        assert!(
            c.read(&cells(&["a@example.nl", "invited"]))
                .unwrap()
                .input
                .active
        );
        assert_eq!(
            c.read(&cells(&["a@example.nl", "x"])).unwrap_err().code,
            "status_unknown"
        );
    }
}
