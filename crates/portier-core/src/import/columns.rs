//! The header of a file to import, matched to what Portier reads: the
//! profile fields by their keys, labels and other names
//! ([`crate::profile::FIELDS`]), the other columns by [`NAMES`]; and one row
//! read into what an administrator would have entered (docs/IMPORTS.md).

#[allow(unused_imports)]
use super::*;

use std::collections::HashMap;

use crate::members::MemberDetails;
use crate::profile::{DETAIL_FIELDS, FIELDS, Field, Kind};

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
pub(crate) fn column_named(normalized: &str) -> Option<Column> {
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
pub(crate) const NAMES: &[(Column, &[&str])] = &[
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
pub(crate) fn normalize(header: &str) -> String {
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
