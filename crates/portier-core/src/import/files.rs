//! Opening a file to import and reading its rows: CSV (any of three
//! separators, UTF-8 or Windows-1252) or the first sheet of an XLSX
//! workbook, within the limits docs/IMPORTS.md gives.

#[allow(unused_imports)]
use super::*;

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

pub(crate) fn file_error(code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError::new("file", code, message)
}

pub(crate) fn too_many_rows() -> FieldError {
    file_error(
        "too_many_rows",
        format!("a file holds at most {MAX_ROWS} rows; split it"),
    )
}

/// A file opened to be read row by row ([`File::rows`]): never read whole
/// into memory, so that what an import holds does not grow with the file
/// (docs/IMPORTS.md#streaming).
pub struct File<'a>(Opened<'a>);

pub(crate) enum Opened<'a> {
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
pub(crate) const MAX_UNPACKED: u64 = 256 * 1024 * 1024;

/// The most columns a sheet to import may use.
pub(crate) const MAX_COLUMNS: u32 = 256;

/// The most a workbook's shared strings (the text its cells share, which
/// the reader holds whole while the sheet is read) may unpack to: a few
/// times as much memory, for a file far smaller (docs/IMPORTS.md#limits).
pub(crate) const MAX_SHARED_STRINGS: u64 = 32 * 1024 * 1024;

pub(crate) fn not_xlsx(e: &dyn std::fmt::Display) -> FieldError {
    file_error("xlsx", format!("this is not an XLSX file: {e}"))
}

pub(crate) fn unreadable_sheet(e: &dyn std::fmt::Display) -> FieldError {
    file_error("xlsx", format!("the first sheet cannot be read: {e}"))
}

pub(crate) fn open_xlsx(bytes: &[u8]) -> Result<File<'_>, FieldError> {
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

pub(crate) enum Source<'f> {
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
pub(crate) fn next_record(
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
pub(crate) enum Text<'a> {
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
pub(crate) struct Sheet<'f> {
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
