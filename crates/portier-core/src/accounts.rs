//! Accounts: one per person, platform-wide, keyed by normalized e-mail
//! (docs/RULES.md#shared-accounts). The name has four parts: salutation,
//! given name, infix (the Dutch *tussenvoegsel*, "van der") and family name.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::email::Email;
use crate::ids::AccountId;
use crate::locale::Locale;

/// `invited` until the person has set a password through the activation link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Invited,
    Active,
}

impl AccountStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Invited => "invited",
            AccountStatus::Active => "active",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "invited" => Some(AccountStatus::Invited),
            "active" => Some(AccountStatus::Active),
            _ => None,
        }
    }
}

/// A person's name in the four parts the add-user form asks for. Every part
/// is optional until the person completes it at activation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonName {
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
}

impl PersonName {
    /// The parts in the order of [`crate::profile::NAME_FIELDS`]:
    /// salutation, given name, infix, family name.
    pub fn parts(&self) -> [Option<&str>; 4] {
        [
            &self.salutation,
            &self.given_name,
            &self.infix,
            &self.family_name,
        ]
        .map(Option::as_deref)
    }

    /// "Jan van der Berg": given name, infix, family name, in reading order.
    /// `None` when no part of the name is known yet.
    pub fn display_name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.given_name, &self.infix, &self.family_name]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// The key lists sort by: "berg, jan van der". Dutch lists sort by the family
    /// name without its infix, so Jan van der Berg stands under B. Falls back to
    /// the e-mail address when no name is known. Case and accents do not count
    /// (Çelik stands under C, beside Celik).
    pub fn sort_key(&self, email: &Email) -> String {
        let rest: Vec<&str> = [&self.given_name, &self.infix]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect();
        let key = match (&self.family_name, rest.is_empty()) {
            (Some(family), true) => family.clone(),
            (Some(family), false) => format!("{family}, {}", rest.join(" ")),
            (None, false) => rest.join(" "),
            (None, true) => email.as_str().to_owned(),
        };
        crate::search::fold(&key)
    }
}

/// Like [`profile_text`], but line breaks are allowed (a description that
/// contacts read may have paragraphs).
pub fn multiline_text(
    field: &str,
    raw: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    let one_line = raw.replace(['\n', '\r'], " ");
    // Lines end in a line feed, however the sender ended them (a browser's
    // text area sends CR LF): exports and comparisons see one form.
    Ok(profile_text(field, Some(&one_line), max_chars)?
        .map(|_| raw.trim().replace("\r\n", "\n").replace('\r', "\n")))
}

/// Cleans one free-text profile field: trimmed, empty means absent, bounded in
/// length, and no control characters (they break exports and mail headers).
pub fn profile_text(
    field: &str,
    raw: Option<&str>,
    max_chars: usize,
) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    // Both limits read what was sent, so they agree with the `maxLength` and
    // `pattern` the API documents: a tab or line break is refused, not trimmed.
    if raw.chars().count() > max_chars {
        return Err(FieldError::new(
            field,
            "too_long",
            format!("use at most {max_chars} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "control_character",
            "remove the line break or control character",
        ));
    }
    let text = raw.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Ok(Some(text.to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub id: AccountId,
    pub email: Email,
    #[serde(flatten)]
    pub name: PersonName,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<Locale>,
    pub status: AccountStatus,
    /// Set by a platform operator to lock the account out everywhere
    /// (docs/RULES.md#signing-in-and-sessions).
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl Account {
    pub fn display_name(&self) -> String {
        self.name
            .display_name()
            .unwrap_or_else(|| self.email.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_shows_its_name_or_else_its_address() {
        let mut account = Account {
            id: AccountId::new(),
            email: Email::parse("jan@example.nl").unwrap(),
            name: PersonName::default(),
            phone: None,
            mobile: None,
            locale: None,
            status: AccountStatus::Invited,
            disabled: false,
            created_at: chrono::Utc::now(),
        };
        assert_eq!(account.display_name(), "jan@example.nl");
        account.name.given_name = Some("Jan".into());
        account.name.infix = Some("van der".into());
        account.name.family_name = Some("Berg".into());
        assert_eq!(account.display_name(), "Jan van der Berg");
    }

    fn name(g: Option<&str>, i: Option<&str>, f: Option<&str>) -> PersonName {
        PersonName {
            salutation: Some("dhr.".into()),
            given_name: g.map(Into::into),
            infix: i.map(Into::into),
            family_name: f.map(Into::into),
        }
    }

    #[test]
    fn a_dutch_name_reads_in_order_and_sorts_under_the_family_name() {
        let jan = name(Some("Jan"), Some("van der"), Some("Berg"));
        assert_eq!(jan.display_name().as_deref(), Some("Jan van der Berg"));
        let email = Email::parse("jan@example.nl").unwrap();
        assert_eq!(jan.sort_key(&email), "berg, jan van der");
        let anna = name(Some("Anna"), None, Some("Aalders"));
        assert!(anna.sort_key(&email) < jan.sort_key(&email));
    }

    #[test]
    fn without_a_name_the_address_stands_in() {
        let email = Email::parse("jan@example.nl").unwrap();
        let none = name(None, None, None);
        assert_eq!(none.display_name(), None);
        assert_eq!(none.sort_key(&email), "jan@example.nl");
        assert_eq!(name(Some("Jan"), None, None).sort_key(&email), "jan");
    }

    #[test]
    fn accents_and_case_do_not_move_a_name_in_the_list() {
        let email = Email::parse("a@example.nl").unwrap();
        let celik = name(Some("Ömer"), None, Some("Çelik"));
        assert_eq!(celik.sort_key(&email), "celik, omer");
        let dijk = name(None, None, Some("Dijk"));
        assert!(celik.sort_key(&email) < dijk.sort_key(&email));
    }

    #[test]
    fn a_description_may_have_paragraphs_but_no_other_control_characters() {
        assert_eq!(
            multiline_text("description", Some(" Dinsdag.\n\nWoensdag. "), 100)
                .unwrap()
                .as_deref(),
            Some("Dinsdag.\n\nWoensdag.")
        );
        assert_eq!(
            multiline_text(
                "description",
                Some("Dinsdag.\r\nWoensdag.\rDonderdag."),
                100
            )
            .unwrap()
            .as_deref(),
            Some("Dinsdag.\nWoensdag.\nDonderdag."),
            "lines end in a line feed, however they were sent"
        );
        assert_eq!(
            multiline_text("description", Some("a\u{1}b"), 100)
                .unwrap_err()
                .code,
            "control_character"
        );
        assert_eq!(
            multiline_text("description", Some(" \n "), 100).unwrap(),
            None
        );
    }

    #[test]
    fn profile_text_is_trimmed_and_bounded() {
        assert_eq!(
            profile_text("phone", Some("  06 123 "), 10)
                .unwrap()
                .as_deref(),
            Some("06 123")
        );
        assert_eq!(profile_text("phone", Some("   "), 10).unwrap(), None);
        assert_eq!(
            profile_text("phone", Some("12345678901"), 10)
                .unwrap_err()
                .code,
            "too_long"
        );
        assert_eq!(
            profile_text("job_title", Some("a\nb"), 10)
                .unwrap_err()
                .field,
            "job_title"
        );
    }

    #[test]
    fn every_account_status_reads_back_from_its_name() {
        let all = [AccountStatus::Invited, AccountStatus::Active];
        for status in all {
            // A new status fails to compile here until it is listed above.
            match status {
                AccountStatus::Invited | AccountStatus::Active => {}
            }
            assert_eq!(AccountStatus::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                status.as_str(),
                "the contract's name is the stored one"
            );
        }
        assert_eq!(all.map(AccountStatus::as_str), ["invited", "active"]);
        assert_eq!(AccountStatus::parse("Active"), None);
        assert_eq!(AccountStatus::parse(""), None);
    }
}
