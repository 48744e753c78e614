//! Reading a file of people to import: CSV (RFC 4180, comma, semicolon or
//! tab separated, UTF-8 with or without a byte-order mark, or Windows-1252
//! as older spreadsheets save it) or XLSX (the first sheet), row by row.
//! Columns are matched by their header, in English or Dutch; each row
//! becomes a [`MemberInput`] or the reason it cannot be one, naming the
//! column as the file names it (docs/IMPORTS.md).

use std::collections::HashMap;

use crate::FieldError;
use crate::members::{MemberDetails, MemberInput};
use crate::profile::{DETAIL_FIELDS, FIELDS, Field, Kind};

/// The most rows one file may hold (XLSX holds at most 1,048,575 below its
/// header anyway).
pub const MAX_ROWS: usize = 1_048_575;

/// What a column of the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    Email,
    /// A profile field, by its key ([`crate::profile::FIELDS`]).
    Field(&'static str),
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

impl Column {
    /// The staff code, unique in the organization.
    pub const STAFF_CODE: Column = Column::Field("staff_code");
}

/// The column a header names, compared after [`normalize`]: a profile
/// field by its key, its English or Dutch label or another name people
/// write ([`crate::profile::Field::aliases`]), or one of [`NAMES`].
fn column_named(normalized: &str) -> Option<Column> {
    let field = FIELDS.iter().find(|f| {
        [f.key, f.en, f.nl]
            .iter()
            .any(|n| normalize(n) == normalized)
            || f.aliases.contains(&normalized)
    });
    match field {
        Some(f) => Some(Column::Field(f.key)),
        None => NAMES
            .iter()
            .find(|(_, names)| names.contains(&normalized))
            .map(|(c, _)| *c),
    }
}

/// Header names of the other columns, compared after [`normalize`]: the
/// export's own names first, then English and Dutch ones people write.
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
            let kind = column_named(&n);
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
            None => match column {
                Column::Field(key) => key.to_owned(),
                _ => NAMES
                    .iter()
                    .find(|(c, _)| *c == column)
                    .map(|(_, n)| n[0].replace(' ', "_"))
                    .unwrap_or_default(),
            },
        }
    }

    /// A row's value in `column`: trimmed, without the apostrophe an export
    /// put before a formula-looking cell, `None` when empty.
    fn get<'a>(&self, cells: &'a Cells, column: Column) -> Option<&'a str> {
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
    pub fn read(&self, cells: &Cells) -> Result<Candidate, RowError> {
        // No one means a NUL character, and PostgreSQL stores none in text:
        // the row is refused by its column (docs/IMPORTS.md#cells).
        for (i, kind) in self.kinds.iter().enumerate() {
            if kind.is_some_and(|k| k != Column::ExportOnly)
                && cells.get(i).is_some_and(|c| c.contains('\0'))
            {
                return Err(RowError {
                    field: self.header[i].clone(),
                    code: "nul_character",
                    message:
                        "the cell holds a NUL character (\\0), which cannot be stored; remove it"
                            .into(),
                });
            }
        }
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
        // A cell that a spreadsheet would run as a formula is no name (a
        // telephone number may start with `+`).
        let texts = FIELDS
            .iter()
            .filter(|f| f.kind != Kind::Phone)
            .map(|f| Column::Field(f.key));
        for column in texts.chain([Column::Labels, Column::Groups, Column::Roles]) {
            if let Some(v) = self.get(cells, column)
                && v.starts_with(['=', '+', '-', '@'])
            {
                return Err(RowError {
                    field: self.name_of(column),
                    code: "formula",
                    message: format!(
                        "\"{}\" looks like a spreadsheet formula, not a value",
                        shown(v)
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
        let mut details = MemberDetails::default();
        for f in &DETAIL_FIELDS {
            if let Some(slot) = details.slot(f.key) {
                *slot = text(Column::Field(f.key));
            }
        }
        Ok(Candidate {
            input: MemberInput {
                email,
                roles: list(Column::Roles),
                salutation: text(Column::Field("salutation")),
                given_name: text(Column::Field("given_name")),
                infix: text(Column::Field("infix")),
                family_name: text(Column::Field("family_name")),
                details,
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
        if let Some(f) = Field::of(base) {
            return self.name_of(Column::Field(f.key));
        }
        let column = match base {
            "email" => Column::Email,
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

/// A value of the file as a message repeats it: its first 40 characters,
/// so that a report line stays short whatever the cell holds.
pub fn shown(value: &str) -> String {
    let mut chars = value.chars();
    let mut shown: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        shown.push('…');
    }
    shown
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

/// One row's cells, as the file holds them (kept together in one buffer,
/// not a `String` each).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells(csv::StringRecord);

impl Cells {
    /// The cell in column `i` (from 0), if the row reaches it.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_blank(&self) -> bool {
        self.0.iter().all(|c| c.trim().is_empty())
    }
}

impl<S: AsRef<str>> FromIterator<S> for Cells {
    fn from_iter<I: IntoIterator<Item = S>>(cells: I) -> Cells {
        Cells(cells.into_iter().collect())
    }
}

/// A row of the file with its number: the header is row 1; for CSV the
/// record's number, for XLSX the spreadsheet's row. Rows without a value
/// are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub number: u64,
    pub cells: Cells,
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

fn too_many_rows() -> FieldError {
    file_error(
        "too_many_rows",
        format!("a file holds at most {MAX_ROWS} rows; split it"),
    )
}

/// A file opened to be read row by row ([`File::rows`]): never read whole
/// into memory, so that what an import holds does not grow with the file
/// (docs/IMPORTS.md#streaming).
pub struct File<'a>(Opened<'a>);

enum Opened<'a> {
    Csv {
        bytes: &'a [u8],
        windows_1252: bool,
        separator: u8,
    },
    Xlsx {
        book: Box<calamine::Xlsx<std::io::Cursor<&'a [u8]>>>,
        sheet: String,
    },
}

impl<'a> File<'a> {
    /// Opens a file of either kind. CSV: UTF-8 with or without a
    /// byte-order mark, else Windows-1252 as older spreadsheets save it;
    /// the separator is the one of `,`, `;` and tab that the header line
    /// holds most of (Dutch spreadsheets write `;`). XLSX: the first sheet;
    /// a workbook that would unpack beyond 256 MB is refused.
    pub fn open(kind: FileKind, bytes: &'a [u8]) -> Result<File<'a>, FieldError> {
        match kind {
            FileKind::Csv => {
                let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
                let windows_1252 = std::str::from_utf8(bytes).is_err();
                // Both encodings write the separators and the line feed as
                // ASCII does.
                let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or(b"");
                let separator = [b',', b';', b'\t']
                    .into_iter()
                    .max_by_key(|s| first_line.iter().filter(|b| *b == s).count())
                    .unwrap_or(b',');
                Ok(File(Opened::Csv {
                    bytes,
                    windows_1252,
                    separator,
                }))
            }
            FileKind::Xlsx => open_xlsx(bytes),
        }
    }

    /// The file's header and then its rows, one by one.
    pub fn rows(&'a mut self) -> Result<Rows<'a>, FieldError> {
        let (header, source) = match &mut self.0 {
            Opened::Csv {
                bytes,
                windows_1252,
                separator,
            } => {
                let text = if *windows_1252 {
                    Text::Windows1252 {
                        rest: bytes,
                        decoded: Vec::new(),
                        at: 0,
                    }
                } else {
                    Text::Utf8(bytes)
                };
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(*separator)
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(text);
                let mut record = csv::StringRecord::new();
                match reader.read_record(&mut record) {
                    Ok(true) => {}
                    Ok(false) => return Err(file_error("empty", "the file is empty")),
                    Err(e) => {
                        return Err(file_error("csv", format!("the header cannot be read: {e}")));
                    }
                }
                let header = record.iter().map(str::to_owned).collect();
                (header, Source::Csv { reader, number: 1 })
            }
            Opened::Xlsx { book, sheet } => {
                let cells = book
                    .worksheet_cells_reader(sheet)
                    .map_err(|e| unreadable_sheet(&e))?;
                let mut sheet = Sheet {
                    cells,
                    next: None,
                    ended: false,
                };
                let header = match sheet.next_line()? {
                    None => return Err(file_error("empty", "the first sheet is empty")),
                    Some((_, cells)) => cells.0.iter().map(str::to_owned).collect(),
                };
                (header, Source::Xlsx(Box::new(sheet)))
            }
        };
        Ok(Rows {
            header,
            source,
            peeked: None,
            read: 0,
        })
    }
}

/// The most a workbook may unpack to, by the sizes its archive declares.
const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

/// The most columns a sheet to import may use.
const MAX_COLUMNS: u32 = 256;

/// The most a workbook's shared strings (the text its cells share, which
/// the reader holds whole while the sheet is read) may unpack to: a few
/// times as much memory, for a file far smaller (docs/IMPORTS.md#limits).
const MAX_SHARED_STRINGS: u64 = 32 * 1024 * 1024;

fn not_xlsx(e: &dyn std::fmt::Display) -> FieldError {
    file_error("xlsx", format!("this is not an XLSX file: {e}"))
}

fn unreadable_sheet(e: &dyn std::fmt::Display) -> FieldError {
    file_error("xlsx", format!("the first sheet cannot be read: {e}"))
}

fn open_xlsx(bytes: &[u8]) -> Result<File<'_>, FieldError> {
    use calamine::Reader;
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| not_xlsx(&e))?;
    let mut unpacked: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| not_xlsx(&e))?;
        unpacked = unpacked.saturating_add(entry.size());
        if entry.size() > MAX_SHARED_STRINGS
            && entry
                .name_raw()
                .to_ascii_lowercase()
                .ends_with(b"sharedstrings.xml")
        {
            return Err(file_error(
                "too_large",
                "the workbook's shared text unpacks to more than 32 MB; export the sheet as CSV",
            ));
        }
    }
    if unpacked > MAX_UNPACKED {
        return Err(file_error(
            "too_large",
            "the workbook unpacks to more than 256 MB; export the sheet as CSV",
        ));
    }
    let book = calamine::Xlsx::new(std::io::Cursor::new(bytes)).map_err(|e| not_xlsx(&e))?;
    let sheet = book
        .sheet_names()
        .first()
        .cloned()
        .ok_or_else(|| file_error("empty", "the workbook has no sheet"))?;
    Ok(File(Opened::Xlsx {
        book: Box::new(book),
        sheet,
    }))
}

/// The rows of an opened file, read one at a time; the header first.
pub struct Rows<'f> {
    header: Vec<String>,
    source: Source<'f>,
    /// A row read ahead by [`Rows::at_end`].
    peeked: Option<Row>,
    /// Rows given out so far, to stop at [`MAX_ROWS`].
    read: usize,
}

enum Source<'f> {
    Csv {
        reader: csv::Reader<Text<'f>>,
        /// The last record's number; the header's is 1.
        number: u64,
    },
    Xlsx(Box<Sheet<'f>>),
}

impl Rows<'_> {
    /// The header as the file writes it.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The next row with a value, or `None` at the end of the file. A file
    /// of more than [`MAX_ROWS`] such rows is refused when the next is read.
    pub fn next_row(&mut self) -> Result<Option<Row>, FieldError> {
        if let Some(row) = self.peeked.take() {
            return Ok(Some(row));
        }
        let row = match &mut self.source {
            Source::Csv { reader, number } => next_record(reader, number)?,
            Source::Xlsx(sheet) => sheet.next_line()?.map(|(r, cells)| Row {
                // Rows as the spreadsheet numbers them: the first is 1.
                number: u64::from(r) + 1,
                cells,
            }),
        };
        if row.is_some() {
            self.read += 1;
            if self.read > MAX_ROWS {
                return Err(too_many_rows());
            }
        }
        Ok(row)
    }

    /// Up to `n` rows; fewer only at the end of the file.
    pub fn next_rows(&mut self, n: usize) -> Result<Vec<Row>, FieldError> {
        let mut rows = Vec::with_capacity(n.min(4096));
        while rows.len() < n {
            match self.next_row()? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }

    /// Whether no row is left (reading one ahead to know).
    pub fn at_end(&mut self) -> Result<bool, FieldError> {
        if self.peeked.is_none() {
            self.peeked = self.next_row()?;
        }
        Ok(self.peeked.is_none())
    }
}

/// The next CSV record with a value. A record is a spreadsheet's row, also
/// when a cell holds a line break.
fn next_record(
    reader: &mut csv::Reader<Text<'_>>,
    number: &mut u64,
) -> Result<Option<Row>, FieldError> {
    let mut record = csv::StringRecord::new();
    loop {
        let row = *number + 1;
        let more = reader
            .read_record(&mut record)
            .map_err(|e| file_error("csv", format!("row {row}: {e}")))?;
        if !more {
            return Ok(None);
        }
        *number = row;
        let cells = Cells(record);
        if !cells.is_blank() {
            return Ok(Some(Row { number: row, cells }));
        }
        record = cells.0;
    }
}

/// A CSV file's text for the reader: UTF-8 as it is, Windows-1252 decoded
/// a piece at a time (one byte is one character, so any piece decodes on
/// its own).
enum Text<'a> {
    Utf8(&'a [u8]),
    Windows1252 {
        rest: &'a [u8],
        decoded: Vec<u8>,
        at: usize,
    },
}

impl std::io::Read for Text<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Text::Utf8(rest) => rest.read(buf),
            Text::Windows1252 { rest, decoded, at } => {
                if *at == decoded.len() {
                    let (piece, after) = rest.split_at(rest.len().min(8 * 1024));
                    *rest = after;
                    let (text, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(piece);
                    decoded.clear();
                    decoded.extend_from_slice(text.as_bytes());
                    *at = 0;
                }
                let n = buf.len().min(decoded.len() - *at);
                buf[..n].copy_from_slice(&decoded[*at..*at + n]);
                *at += n;
                Ok(n)
            }
        }
    }
}

/// The first sheet of a workbook, read cell by cell: a sheet that declares
/// a vast range (a cell at A1 and one at XFD1048576) costs only the cells
/// it holds. Its rows come in order, each cell once, so a row is whole when
/// a cell of a later one comes.
struct Sheet<'f> {
    cells: calamine::XlsxCellReader<'f, std::io::Cursor<&'f [u8]>>,
    /// The first cell of the next row, read while finishing this one.
    next: Option<(u32, u32, String)>,
    /// The last cell has been read: the reader is not asked again.
    ended: bool,
}

impl Sheet<'_> {
    /// The next row with a value: its index (from 0) and its cells. A cell
    /// beyond column 256 or below row [`MAX_ROWS`] (the header being the
    /// first) is refused, as is a row that comes after a later one.
    fn next_line(&mut self) -> Result<Option<(u32, Cells)>, FieldError> {
        let mut line: Option<(u32, Vec<(u32, String)>)> = None;
        loop {
            let cell = match self.next.take() {
                Some(cell) => Some(cell),
                None => self.next_cell()?,
            };
            let Some((row, col, value)) = cell else { break };
            match &mut line {
                None => line = Some((row, vec![(col, value)])),
                Some((at, cells)) if *at == row => cells.push((col, value)),
                Some((at, _)) if row > *at => {
                    self.next = Some((row, col, value));
                    break;
                }
                Some(_) => {
                    return Err(file_error(
                        "xlsx",
                        "the first sheet's rows are out of order; save it again or export it as CSV",
                    ));
                }
            }
        }
        Ok(line.map(|(row, mut cells)| {
            // The last of a column written twice counts, as a sheet shows it.
            cells.sort_by_key(|(col, _)| *col);
            let mut record = csv::StringRecord::new();
            let mut cells = cells.into_iter().peekable();
            while let Some((col, value)) = cells.next() {
                if cells.peek().is_some_and(|(next, _)| *next == col) {
                    continue;
                }
                while record.len() < col as usize {
                    record.push_field("");
                }
                record.push_field(&value);
            }
            (row, Cells(record))
        }))
    }

    /// The next cell with a value: numbers as written without a needless
    /// `.0`.
    fn next_cell(&mut self) -> Result<Option<(u32, u32, String)>, FieldError> {
        use calamine::Data;
        loop {
            if self.ended {
                return Ok(None);
            }
            let Some(cell) = self.cells.next_cell().map_err(|e| unreadable_sheet(&e))? else {
                self.ended = true;
                return Ok(None);
            };
            let (row, col) = cell.get_position();
            let value = match Data::from(cell.get_value().clone()) {
                Data::Empty => String::new(),
                Data::String(s) => s,
                Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
                Data::Float(f) => f.to_string(),
                Data::Int(i) => i.to_string(),
                Data::Bool(b) => b.to_string(),
                Data::DateTimeIso(s) | Data::DurationIso(s) => s,
                other => other.to_string(),
            };
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
                return Err(too_many_rows());
            }
            return Ok(Some((row, col, value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(h: &[&str]) -> Columns {
        Columns::parse(h.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    fn cells(v: &[&str]) -> Cells {
        v.iter().collect()
    }

    /// The header and every row of a file.
    fn read_all(kind: FileKind, bytes: &[u8]) -> Result<(Vec<String>, Vec<Row>), FieldError> {
        let mut file = File::open(kind, bytes)?;
        let mut rows = file.rows()?;
        let header = rows.header().to_vec();
        let mut all = Vec::new();
        while let Some(row) = rows.next_row()? {
            all.push(row);
        }
        Ok((header, all))
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
        let header = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Columns::parse(header(&["Naam"])).unwrap_err().code,
            "email_column_missing"
        );
        assert_eq!(
            Columns::parse(header(&["email", "E-mailadres"]))
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
        assert_eq!(row.input.details.phone.as_deref(), Some("+31 6 1234 5678"));
    }

    #[test]
    fn csv_separators_and_encodings_are_recognised() {
        let (header, rows) = read_all(
            FileKind::Csv,
            b"\xEF\xBB\xBFE-mail;Achternaam\r\na@example.nl;\"Berg; van den\"\r\n\r\n;\r\nb@example.nl;B\r\n",
        )
        .unwrap();
        assert_eq!(header, vec!["E-mail", "Achternaam"]);
        // Rows without a value are left out; the others keep their number.
        assert_eq!(
            rows,
            vec![
                Row {
                    number: 2,
                    cells: cells(&["a@example.nl", "Berg; van den"])
                },
                Row {
                    number: 4,
                    cells: cells(&["b@example.nl", "B"])
                },
            ]
        );
        // Windows-1252, as older spreadsheets save it, decoded a piece at a
        // time: a file longer than one piece reads the same.
        let mut old = b"email,family_name\n".to_vec();
        for i in 0..2_000 {
            old.extend_from_slice(format!("p{i}@example.nl,M").as_bytes());
            old.extend_from_slice(b"\xfcller\n");
        }
        let (_, rows) = read_all(FileKind::Csv, &old).unwrap();
        assert_eq!(rows.len(), 2_000);
        assert!(rows.iter().all(|r| r.cells.get(1) == Some("Müller")));
        assert_eq!(rows[1_999].cells.get(0), Some("p1999@example.nl"));
        assert_eq!(read_all(FileKind::Csv, b"").unwrap_err().code, "empty");
    }

    #[test]
    fn rows_are_read_one_by_one_and_the_end_is_seen_ahead() {
        let mut file = File::open(FileKind::Csv, b"email\na@example.nl\nb@example.nl\n").unwrap();
        let mut rows = file.rows().unwrap();
        assert!(!rows.at_end().unwrap());
        assert_eq!(rows.next_rows(1).unwrap().len(), 1);
        assert!(!rows.at_end().unwrap());
        let last = rows.next_rows(5).unwrap();
        assert_eq!((last.len(), last[0].number), (1, 3));
        assert!(rows.at_end().unwrap());
        assert!(rows.next_row().unwrap().is_none());
    }

    #[test]
    fn a_nul_character_in_a_cell_refuses_the_row_by_its_column() {
        let c = columns(&["email", "Voornaam", "Notes"]);
        let err = c.read(&cells(&["a@example.nl", "Jan\0", "x"])).unwrap_err();
        assert_eq!(
            (err.field.as_str(), err.code),
            ("Voornaam", "nul_character")
        );
        assert!(!err.message.contains('\0'));
        // A column that is not read may hold anything.
        assert!(c.read(&cells(&["a@example.nl", "Jan", "\0"])).is_ok());
    }

    #[test]
    fn a_workbook_whose_shared_text_unpacks_beyond_32_mb_is_refused() {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        let megabyte = vec![b' '; 1 << 20];
        for _ in 0..=(MAX_SHARED_STRINGS >> 20) {
            zip.write_all(&megabyte).unwrap();
        }
        let bytes = zip.finish().unwrap().into_inner();
        assert!(bytes.len() < 1 << 20, "a small file");
        let refused = File::open(FileKind::Xlsx, &bytes).err().unwrap();
        assert_eq!(
            (refused.field.as_str(), refused.code),
            ("file", "too_large")
        );
    }

    #[test]
    fn a_long_value_is_shown_shortened() {
        assert_eq!(shown("Arts"), "Arts");
        let long = "x".repeat(1000);
        assert_eq!(shown(&long).chars().count(), 41);
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
