//! A member's profile fields in the console's forms and pages, from the one
//! list in core (`portier_core::profile::FIELDS`,
//! docs/ARCHITECTURE.md#adding-a-member-field): a field added there appears
//! on Add user, on the member's page and in its Change details form, with
//! its label in the reader's language.

#[allow(unused_imports)]
use super::*;

use std::collections::BTreeMap;

use portier_core::accounts::Account;
use portier_core::members::{DetailsPatch, MemberDetails, Membership};
use portier_core::profile::{DETAIL_FIELDS, FIELDS, Field, Holder, Kind, NAME_FIELDS};

/// One profile field as a form shows it.
#[derive(Debug, Clone)]
pub struct FieldInput {
    /// The form field's name: the field's key.
    pub key: &'static str,
    pub label: &'static str,
    pub value: String,
    /// `text`, `tel` or `textarea`.
    pub kind: &'static str,
    /// The browser's autofill hint, or empty.
    pub auto: &'static str,
}

/// The profile fields as a form holds them, by key: what was sent, or what
/// the member has.
#[derive(Debug, Clone, Default)]
pub struct ProfileValues(BTreeMap<&'static str, String>);

/// The profile fields among a form's fields (`#[serde(flatten)]`), by key.
impl<'de> serde::Deserialize<'de> for ProfileValues {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ProfileValues, D::Error> {
        let sent = crate::console::form::Others::deserialize(d)?;
        Ok(ProfileValues::sent(|k| sent.get(k)))
    }
}

impl ProfileValues {
    /// What a form sent, read with `get` by each field's key.
    pub fn sent(mut get: impl FnMut(&str) -> Option<String>) -> ProfileValues {
        ProfileValues(
            FIELDS
                .iter()
                .filter_map(|f| Some((f.key, get(f.key)?)))
                .collect(),
        )
    }

    /// What the member has: the name of the account, the rest of the
    /// membership.
    pub fn of(account: &Account, membership: &Membership) -> ProfileValues {
        let details = membership.details.values().map(|(_, v)| v);
        ProfileValues(
            FIELDS
                .iter()
                .zip(account.name.parts().into_iter().chain(details))
                .filter_map(|(f, v)| Some((f.key, v?.to_owned())))
                .collect(),
        )
    }

    /// The value of the field `key` as entered; empty when none.
    pub fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    /// The value sent for `key`, blank as none.
    fn entered(&self, key: &str) -> Option<String> {
        optional(self.get(key))
    }

    /// The form's inputs for `fields`, labelled in `i18n`'s language.
    pub fn inputs<'a>(
        &self,
        i18n: &I18n,
        fields: impl Iterator<Item = &'a Field>,
    ) -> Vec<FieldInput> {
        fields
            .map(|f| FieldInput {
                key: f.key,
                label: f.label(i18n.locale),
                value: self.get(f.key).to_owned(),
                kind: match f.kind {
                    Kind::Line => "text",
                    Kind::Paragraphs => "textarea",
                    Kind::Phone => "tel",
                },
                auto: if f.key == "salutation" {
                    "honorific-prefix"
                } else {
                    "off"
                },
            })
            .collect()
    }

    /// The person's own fields (their name, their numbers): on Add user
    /// the profile step, on a member's page only before activation.
    pub fn personal(&self, i18n: &I18n) -> Vec<FieldInput> {
        self.inputs(i18n, FIELDS.iter().filter(|f| f.personal))
    }

    /// The fields that are the organization's own (job title, staff code…).
    pub fn organizational(&self, i18n: &I18n) -> Vec<FieldInput> {
        self.inputs(i18n, FIELDS.iter().filter(|f| !f.personal))
    }

    /// The membership's fields with their values, for a member's page.
    pub fn shown(&self, i18n: &I18n) -> Vec<FieldInput> {
        self.inputs(
            i18n,
            FIELDS.iter().filter(|f| f.holder == Holder::Membership),
        )
    }

    /// The name as entered: salutation, given name, infix, family name.
    pub fn name(&self) -> [Option<String>; 4] {
        NAME_FIELDS.map(|f| self.entered(f.key))
    }

    /// The membership's fields as entered (checked by the use case).
    pub fn details(&self) -> MemberDetails {
        let mut details = MemberDetails::default();
        for f in &DETAIL_FIELDS {
            if let Some(slot) = details.slot(f.key) {
                *slot = self.entered(f.key);
            }
        }
        details
    }

    /// A change of the membership's fields: those the form sent, emptied
    /// when blank; those it left out stay.
    pub fn details_patch(&self) -> DetailsPatch {
        let mut patch = DetailsPatch::default();
        for f in &DETAIL_FIELDS {
            if let (Some(slot), Some(v)) = (patch.slot(f.key), self.0.get(f.key)) {
                *slot = Some(optional(v));
            }
        }
        patch
    }

    /// A change of a part of the name: `None` when the form left it out.
    pub fn name_patch(&self, key: &str) -> Option<Option<String>> {
        self.0.get(key).map(|v| optional(v))
    }
}

/// The keys of every profile field, for the refusals a form shows next to
/// its fields.
pub fn profile_keys() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|f| f.key)
}
