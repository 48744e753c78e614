//! A member's profile fields, defined once (docs/ARCHITECTURE.md#adding-a-member-field).
//!
//! Every front end reads this list instead of naming the fields again: the
//! API's views, the console's forms and labels (English and Dutch), the
//! import's header names, the export's columns, the checks that name a
//! refused field, and the store's SQL. A field the organization holds is one
//! line of [`member_details!`] below and a column of `memberships` in both
//! migration folders.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::accounts::{multiline_text, profile_text};
use crate::locale::Locale;

/// Who keeps a field: the account is one per person and shared by every
/// organization the person belongs to (docs/RULES.md#shared-accounts); a
/// membership's fields are that organization's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Account,
    Membership,
}

/// What a field holds, and so how it is checked and entered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One line of text, no control characters.
    Line,
    /// Text that may span lines.
    Paragraphs,
    /// A telephone number ([`crate::members::parse_phone`]).
    Phone,
}

/// One profile field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The name in the API, the export and the form (`job_title`).
    pub key: &'static str,
    pub holder: Holder,
    pub kind: Kind,
    /// The most characters it holds.
    pub max: usize,
    /// The person's own once the account is activated: an administrator
    /// changes it only before (docs/RULES.md#changing-a-members-details).
    pub personal: bool,
    /// The label and export header in English and in Dutch.
    pub en: &'static str,
    pub nl: &'static str,
    /// Further header names an import recognises, beyond the key and the
    /// two labels (lower case, words separated by one space).
    pub aliases: &'static [&'static str],
}

impl Field {
    /// The label in `locale`.
    pub fn label(&self, locale: Locale) -> &'static str {
        match locale {
            Locale::En => self.en,
            Locale::Nl => self.nl,
        }
    }

    /// Checks a value as entered; blank means none. A refusal names the
    /// field by its key.
    pub fn parse(&self, raw: Option<&str>) -> Result<Option<String>, FieldError> {
        match self.kind {
            Kind::Line => profile_text(self.key, raw, self.max),
            Kind::Paragraphs => multiline_text(self.key, raw, self.max),
            Kind::Phone => crate::members::parse_phone(self.key, raw),
        }
    }

    /// The field of that key, if any.
    pub fn of(key: &str) -> Option<&'static Field> {
        FIELDS.iter().find(|f| f.key == key)
    }
}

/// The person's name, kept on the account ([`crate::accounts::PersonName`]).
pub const NAME_FIELDS: [Field; 4] = [
    Field {
        key: "salutation",
        holder: Holder::Account,
        kind: Kind::Line,
        max: 32,
        personal: true,
        en: "Salutation",
        nl: "Aanhef",
        aliases: &["title"],
    },
    Field {
        key: "given_name",
        holder: Holder::Account,
        kind: Kind::Line,
        max: 100,
        personal: true,
        en: "Given name",
        nl: "Voornaam",
        aliases: &["first name", "firstname", "roepnaam"],
    },
    Field {
        key: "infix",
        holder: Holder::Account,
        kind: Kind::Line,
        max: 32,
        personal: true,
        en: "Infix",
        nl: "Tussenvoegsel",
        aliases: &["tussenvoegsels", "prefix"],
    },
    Field {
        key: "family_name",
        holder: Holder::Account,
        kind: Kind::Line,
        max: 100,
        personal: true,
        en: "Family name",
        nl: "Achternaam",
        aliases: &["last name", "lastname", "surname"],
    },
];

/// Column names joined by commas, each after `alias.` when an alias is
/// given; for [`detail_columns!`].
#[doc(hidden)]
#[macro_export]
macro_rules! join_columns {
    (""; $first:ident $(, $rest:ident)*) => {
        concat!(stringify!($first) $(, ", ", stringify!($rest))*)
    };
    ($alias:literal; $first:ident $(, $rest:ident)*) => {
        concat!($alias, ".", stringify!($first) $(, ", ", $alias, ".", stringify!($rest))*)
    };
}

/// Defines the fields a membership holds: the [`MemberDetails`] value, its
/// change [`DetailsPatch`] and their entries of [`FIELDS`], from one list.
macro_rules! member_details {
    ($d:tt $(
        $(#[doc = $doc:literal])*
        $key:ident: $kind:ident($max:literal), personal: $personal:literal,
            en: $en:literal, nl: $nl:literal, aliases: [$($alias:literal),*];
    )*) => {
        /// What a membership holds of the person's profile, this
        /// organization's own (never shown to another environment).
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct MemberDetails {
            $( $(#[doc = $doc])* pub $key: Option<String>, )*
        }

        /// A change to [`MemberDetails`]: `None` keeps a field, `Some(None)`
        /// empties it.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct DetailsPatch {
            $( pub $key: Option<Option<String>>, )*
        }

        /// The columns of [`MemberDetails`] in `memberships`, separated by
        /// commas, for the store's SQL: `detail_columns!()` or, with a
        /// table's alias, `detail_columns!("m")`.
        #[macro_export]
        macro_rules! detail_columns {
            () => { $crate::join_columns!(""; $($key),*) };
            ($d alias:literal) => { $crate::join_columns!($d alias; $($key),*) };
        }

        /// The fields of [`MemberDetails`], in order.
        pub const DETAIL_FIELDS: [Field; [$(stringify!($key)),*].len()] = [$(
            Field {
                key: stringify!($key),
                holder: Holder::Membership,
                kind: Kind::$kind,
                max: $max,
                personal: $personal,
                en: $en,
                nl: $nl,
                aliases: &[$($alias),*],
            },
        )*];

        impl MemberDetails {
            /// The value of the field `key`, if it is one of these.
            pub fn get(&self, key: &str) -> Option<&str> {
                match key {
                    $( stringify!($key) => self.$key.as_deref(), )*
                    _ => None,
                }
            }

            /// Where the field `key` is kept.
            pub fn slot(&mut self, key: &str) -> Option<&mut Option<String>> {
                match key {
                    $( stringify!($key) => Some(&mut self.$key), )*
                    _ => None,
                }
            }

            /// Checks every field as entered, in order; the first refusal
            /// names its field.
            #[allow(unused_assignments)]
            pub fn parse(raw: &MemberDetails) -> Result<MemberDetails, FieldError> {
                let mut at = 0;
                $(
                    let $key = DETAIL_FIELDS[at].parse(raw.$key.as_deref())?;
                    at += 1;
                )*
                Ok(MemberDetails { $($key),* })
            }

            /// Applies a change.
            pub fn apply(&mut self, patch: &DetailsPatch) {
                $(
                    if let Some(v) = &patch.$key {
                        self.$key.clone_from(v);
                    }
                )*
            }
        }

        impl DetailsPatch {
            /// Where the change of the field `key` is kept.
            pub fn slot(&mut self, key: &str) -> Option<&mut Option<Option<String>>> {
                match key {
                    $( stringify!($key) => Some(&mut self.$key), )*
                    _ => None,
                }
            }

            /// Checks every changed field as entered, in order; the first
            /// refusal names its field.
            #[allow(unused_assignments)]
            pub fn parse(raw: &DetailsPatch) -> Result<DetailsPatch, FieldError> {
                let mut at = 0;
                $(
                    let $key = raw
                        .$key
                        .as_ref()
                        .map(|v| DETAIL_FIELDS[at].parse(v.as_deref()))
                        .transpose()?;
                    at += 1;
                )*
                Ok(DetailsPatch { $($key),* })
            }

            /// The change of the field `key`, if it is one of these.
            pub fn get(&self, key: &str) -> Option<&Option<Option<String>>> {
                match key {
                    $( stringify!($key) => Some(&self.$key), )*
                    _ => None,
                }
            }
        }
    };
}

member_details! { $
    /// The numbers this organization reaches the person by.
    phone: Phone(32), personal: true,
        en: "Telephone", nl: "Telefoon", aliases: ["phone", "telefoonnummer"];
    mobile: Phone(32), personal: true,
        en: "Mobile", nl: "Mobiel", aliases: ["mobile phone", "mobiel nummer", "mobiele telefoon"];
    job_title: Line(100), personal: false,
        en: "Job title", nl: "Functie", aliases: ["function"];
    /// Meant for the member's contacts in the product.
    description: Paragraphs(1000), personal: false,
        en: "Description", nl: "Omschrijving", aliases: ["beschrijving"];
    /// A staff identification code, unique in the organization, searchable
    /// and exported (docs/RULES.md#adding-members).
    staff_code: Line(64), personal: false,
        en: "Staff code", nl: "Personeelsnummer", aliases: ["employee number", "identificatiecode"];
}

/// Every profile field: the name's, then the membership's.
pub const FIELDS: [Field; NAME_FIELDS.len() + DETAIL_FIELDS.len()] = {
    let mut out = [NAME_FIELDS[0]; NAME_FIELDS.len() + DETAIL_FIELDS.len()];
    let mut i = 0;
    while i < DETAIL_FIELDS.len() {
        out[NAME_FIELDS.len() + i] = DETAIL_FIELDS[i];
        i += 1;
    }
    let mut i = 0;
    while i < NAME_FIELDS.len() {
        out[i] = NAME_FIELDS[i];
        i += 1;
    }
    out
};

impl MemberDetails {
    /// Each field with its value, in order.
    pub fn values(&self) -> impl Iterator<Item = (&'static Field, Option<&str>)> {
        DETAIL_FIELDS.iter().map(|f| (f, self.get(f.key)))
    }
}

impl DetailsPatch {
    /// The first changed field that is the person's own, if any.
    pub fn first_personal(&self) -> Option<&'static str> {
        DETAIL_FIELDS
            .iter()
            .find(|f| f.personal && matches!(self.get(f.key), Some(Some(_))))
            .map(|f| f.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_one_key_and_its_own_labels() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|g| g.key != f.key),
                "{} twice",
                f.key
            );
            for g in &FIELDS[..i] {
                assert_ne!(f.en, g.en, "two fields labelled {}", f.en);
                assert_ne!(f.nl, g.nl, "two fields labelled {}", f.nl);
            }
            assert_eq!(Field::of(f.key), Some(f));
        }
        assert_eq!(Field::of("labels"), None);
    }

    #[test]
    fn the_store_columns_are_the_fields_in_order() {
        let keys: Vec<&str> = DETAIL_FIELDS.iter().map(|f| f.key).collect();
        assert_eq!(detail_columns!(), keys.join(", "));
        let aliased: Vec<String> = keys.iter().map(|k| format!("m.{k}")).collect();
        assert_eq!(detail_columns!("m"), aliased.join(", "));
    }

    #[test]
    fn each_field_is_checked_by_its_kind_and_named_when_refused() {
        let raw = MemberDetails {
            phone: Some(" 020-123 4567 ".into()),
            description: Some(" Nacht\nOost ".into()),
            job_title: Some("  ".into()),
            ..Default::default()
        };
        let parsed = MemberDetails::parse(&raw).unwrap();
        assert_eq!(parsed.phone.as_deref(), Some("020-123 4567"));
        assert_eq!(parsed.description.as_deref(), Some("Nacht\nOost"));
        assert_eq!(parsed.job_title, None, "blank is none");
        for (field, value, code) in [
            ("phone", "12", "phone_length"),
            ("mobile", "06-abc-12345", "phone_character"),
            ("job_title", "a\nb", "control_character"),
            ("staff_code", &"x".repeat(65), "too_long"),
            ("description", &"x".repeat(1001), "too_long"),
        ] {
            let mut raw = MemberDetails::default();
            *raw.slot(field).unwrap() = Some(value.to_owned());
            let e = MemberDetails::parse(&raw).unwrap_err();
            assert_eq!((e.field.as_str(), e.code), (field, code));
        }
        let mut at_limit = MemberDetails::default();
        for f in &DETAIL_FIELDS {
            let value = match f.kind {
                Kind::Phone => "1".repeat(20),
                _ => "x".repeat(f.max),
            };
            *at_limit.slot(f.key).unwrap() = Some(value);
        }
        assert!(MemberDetails::parse(&at_limit).is_ok());
    }

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_empties_what_it_clears() {
        let mut details = MemberDetails {
            phone: Some("020 1234567".into()),
            job_title: Some("Arts".into()),
            ..Default::default()
        };
        let patch = DetailsPatch::parse(&DetailsPatch {
            job_title: Some(None),
            staff_code: Some(Some(" P-1 ".into())),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(patch.first_personal(), None);
        details.apply(&patch);
        assert_eq!(details.phone.as_deref(), Some("020 1234567"));
        assert_eq!(details.job_title, None);
        assert_eq!(details.staff_code.as_deref(), Some("P-1"));
        let personal = DetailsPatch {
            mobile: Some(None),
            ..Default::default()
        };
        assert_eq!(personal.first_personal(), Some("mobile"));
        let e = DetailsPatch::parse(&DetailsPatch {
            phone: Some(Some("x".into())),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "phone");
    }

    #[test]
    fn values_and_slots_agree() {
        let mut details = MemberDetails::default();
        for (i, f) in DETAIL_FIELDS.iter().enumerate() {
            *details.slot(f.key).unwrap() = Some(i.to_string());
        }
        assert_eq!(details.values().count(), DETAIL_FIELDS.len());
        for (i, (f, v)) in details.values().enumerate() {
            assert_eq!(f.key, DETAIL_FIELDS[i].key);
            assert_eq!(v, Some(i.to_string().as_str()));
            assert_eq!(details.get(f.key), v);
        }
        assert_eq!(details.get("email"), None);
        assert!(details.slot("email").is_none());
        assert_eq!(Field::of("phone").unwrap().label(Locale::Nl), "Telefoon");
        assert_eq!(Field::of("phone").unwrap().label(Locale::En), "Telephone");
    }
}
