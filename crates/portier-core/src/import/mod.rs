//! Reading a file of people to import: CSV (RFC 4180, comma, semicolon or
//! tab separated, UTF-8 with or without a byte-order mark, or Windows-1252
//! as older spreadsheets save it) or XLSX (the first sheet), row by row.
//! Columns are matched by their header, in English or Dutch; each row
//! becomes a [`MemberInput`] or the reason it cannot be one, naming the
//! column as the file names it (docs/IMPORTS.md).

use crate::FieldError;
use crate::members::MemberInput;

mod columns;
mod files;

pub use columns::*;
pub use files::*;

/// The most rows one file may hold (XLSX holds at most 1,048,575 below its
/// header anyway).
pub const MAX_ROWS: usize = 1_048_575;

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
