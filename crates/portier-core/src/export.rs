//! What an export of members holds and how its CSV is written
//! (docs/RULES.md#export: labels and staff codes are included). RFC 4180,
//! and safe to open in a spreadsheet: a cell that would start a formula
//! (`=`, `+`, `-`, `@`, a tab or a carriage return) is preceded by an
//! apostrophe, as OWASP advises against CSV injection.

use std::borrow::Cow;

use crate::profile::FIELDS;

/// The columns after the address and the profile fields.
const AFTER_PROFILE: [&str; 12] = [
    "labels",
    "roles",
    "groups",
    "register",
    "registration_number",
    "registration_state",
    "portfolio",
    "two_factor",
    "status",
    "organization",
    "created_at",
    "activated_at",
];

/// How many columns an export has.
pub const COLUMN_COUNT: usize = 1 + FIELDS.len() + AFTER_PROFILE.len();

/// The columns of an export, in order: the address, every profile field
/// ([`crate::profile::FIELDS`]), then what the membership and the account
/// keep. The import reads the same names.
pub const COLUMNS: [&str; COLUMN_COUNT] = {
    let mut out = ["email"; COLUMN_COUNT];
    let mut i = 0;
    while i < FIELDS.len() {
        out[1 + i] = FIELDS[i].key;
        i += 1;
    }
    let mut i = 0;
    while i < AFTER_PROFILE.len() {
        out[1 + FIELDS.len() + i] = AFTER_PROFILE[i];
        i += 1;
    }
    out
};

/// The export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    /// A workbook for spreadsheets: every cell a string, never a formula.
    Xlsx,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" => Some(Format::Csv),
            "json" => Some(Format::Json),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Xlsx => "xlsx",
        }
    }
}

/// One cell: a leading formula character defused, quoted when it holds a
/// comma, a quote or a line break (quotes doubled).
pub fn csv_cell(value: &str) -> Cow<'_, str> {
    let defused = matches!(
        value.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    );
    let quoted = value.contains([',', '"', '\n', '\r']);
    match (defused, quoted) {
        (false, false) => Cow::Borrowed(value),
        (true, false) => Cow::Owned(format!("'{value}")),
        (defused, true) => {
            let inner = value.replace('"', "\"\"");
            Cow::Owned(format!("\"{}{inner}\"", if defused { "'" } else { "" }))
        }
    }
}

/// Appends one CSV record (CRLF-terminated, as RFC 4180 has it) to `out`.
pub fn csv_record<'a>(out: &mut String, cells: impl IntoIterator<Item = &'a str>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&csv_cell(cell));
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_columns_are_the_address_the_profile_and_the_rest() {
        use super::{COLUMNS, FIELDS};
        assert_eq!(COLUMNS[0], "email");
        let profile: Vec<&str> = FIELDS.iter().map(|f| f.key).collect();
        assert_eq!(COLUMNS[1..=FIELDS.len()], profile[..]);
        assert_eq!(
            COLUMNS[1..6],
            ["salutation", "given_name", "infix", "family_name", "phone"]
        );
        assert_eq!(
            COLUMNS[FIELDS.len() + 1..],
            [
                "labels",
                "roles",
                "groups",
                "register",
                "registration_number",
                "registration_state",
                "portfolio",
                "two_factor",
                "status",
                "organization",
                "created_at",
                "activated_at",
            ]
        );
    }

    use super::*;

    #[test]
    fn cells_are_quoted_when_needed_and_formulas_defused() {
        assert_eq!(csv_cell("Jan"), "Jan");
        assert_eq!(csv_cell("Berg, van den"), "\"Berg, van den\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_cell("+31 6 1234"), "'+31 6 1234");
        assert_eq!(csv_cell("-1"), "'-1");
        assert_eq!(csv_cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_cell("a\nb"), "\"a\nb\"");
        assert_eq!(csv_cell(""), "");
        let mut out = String::new();
        csv_record(&mut out, ["a", "b,c", ""]);
        assert_eq!(out, "a,\"b,c\",\r\n");
    }

    #[test]
    fn every_format_reads_back_from_its_name() {
        let all = [Format::Csv, Format::Json, Format::Xlsx];
        for format in all {
            // A new format fails to compile here until it is listed above.
            match format {
                Format::Csv | Format::Json | Format::Xlsx => {}
            }
            assert_eq!(Format::parse(format.as_str()), Some(format));
        }
        assert_eq!(all.map(Format::as_str), ["csv", "json", "xlsx"]);
        assert_eq!(Format::parse("xls"), None);
        assert_eq!(Format::parse(""), None);
    }
}
