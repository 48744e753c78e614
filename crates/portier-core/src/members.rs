//! Memberships: one account's place in one organization. Deactivation is per
//! membership, so one organization cannot lock a person out of another
//! (docs/RULES.md#deactivating-and-removing-members).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::accounts::{AccountStatus, PersonName, profile_text};
use crate::email::Email;
use crate::ids::{AccountId, MembershipId, OrganizationId};
use crate::profile::NAME_FIELDS;
pub use crate::profile::{DetailsPatch, MemberDetails};
use crate::roles::{MEMBER, RoleKey};

/// What the members list shows: invited, active or deactivated
/// (docs/RULES.md#invitations-and-activation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Invited,
    Active,
    Deactivated,
}

impl MemberStatus {
    /// A deactivated membership reads as deactivated whatever the account's
    /// state; otherwise the account's state shows.
    pub fn of(account: AccountStatus, membership_active: bool) -> MemberStatus {
        match (membership_active, account) {
            (false, _) => MemberStatus::Deactivated,
            (true, AccountStatus::Invited) => MemberStatus::Invited,
            (true, AccountStatus::Active) => MemberStatus::Active,
        }
    }

    pub const ALL: [MemberStatus; 3] = [
        MemberStatus::Invited,
        MemberStatus::Active,
        MemberStatus::Deactivated,
    ];

    /// The name in the contract (`invited`, `active`, `deactivated`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Invited => "invited",
            MemberStatus::Active => "active",
            MemberStatus::Deactivated => "deactivated",
        }
    }

    /// The state of that name, if any.
    pub fn from_name(name: &str) -> Option<MemberStatus> {
        MemberStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub id: MembershipId,
    pub account_id: AccountId,
    pub organization_id: OrganizationId,
    pub active: bool,
    /// The profile fields this organization holds (never shown to another
    /// environment, docs/RULES.md#shared-accounts).
    #[serde(flatten)]
    pub details: MemberDetails,
    /// Labels tell institutions apart and are included in exports
    /// (docs/RULES.md#adding-members).
    pub labels: Vec<String>,
    pub invited_by: Option<AccountId>,
    pub created_at: DateTime<Utc>,
    /// This member must use two-step verification, whatever the
    /// organization requires of everyone (docs/RULES.md#two-step-verification).
    pub require_two_factor: bool,
}

/// Something accepted that deserves a second look, shown with the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

/// What an administrator enters to add a person, before it is checked
/// (docs/RULES.md#adding-members).
#[derive(Debug, Clone, Default)]
pub struct MemberInput {
    pub email: String,
    pub roles: Vec<String>,
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    /// As entered, unchecked.
    pub details: MemberDetails,
    pub labels: Vec<String>,
    /// Groups of the organization to put the person in (docs/RULES.md#groups).
    pub groups: Vec<crate::ids::GroupId>,
    /// The number in a professional register, `(register, number)`
    /// (docs/RULES.md#professional-registrations).
    pub registration: Option<(String, String)>,
    pub active: bool,
}

/// A checked request to add a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub email: Email,
    /// At least one; `member` (no rights) when none was chosen.
    pub roles: Vec<RoleKey>,
    pub name: PersonName,
    pub details: MemberDetails,
    pub labels: Vec<String>,
    /// Each once, in the order given.
    pub groups: Vec<crate::ids::GroupId>,
    pub registration: Option<crate::registrations::RegistrationNumber>,
    /// Unchecked makes a membership that cannot be used until an
    /// administrator reactivates it (docs/RULES.md#adding-members).
    pub active: bool,
    pub warnings: Vec<Warning>,
    /// The portfolio, last; set by the caller once it holds the right to
    /// give one (docs/PORTFOLIOS.md#giving-a-portfolio).
    pub portfolio: Option<crate::portfolios::NewPortfolio>,
}

impl NewMember {
    /// Checks the fields in the order of docs/RULES.md#adding-members: role
    /// first, then e-mail, then the rest. The first refusal is returned,
    /// naming its field.
    pub fn parse(input: MemberInput) -> Result<NewMember, FieldError> {
        let mut roles: Vec<RoleKey> = Vec::new();
        for (i, raw) in input.roles.iter().enumerate() {
            let key = RoleKey::parse(&format!("roles[{i}]"), raw)?;
            if !roles.contains(&key) {
                roles.push(key);
            }
        }
        if roles.is_empty() {
            roles.push(RoleKey::parse("roles", MEMBER)?);
        }
        let email = Email::parse(&input.email).map_err(|e| e.in_field("email"))?;
        // Then the registration number (docs/RULES.md#adding-members).
        let registration = input
            .registration
            .as_ref()
            .map(|(register, number)| {
                crate::registrations::RegistrationNumber::parse("registration", register, number)
            })
            .transpose()?;
        let mut warnings = Vec::new();
        if email.mixes_scripts() {
            // docs/RULES.md#addresses: a look-alike makes a second account
            // for one person.
            warnings.push(Warning {
                code: "mixed_scripts",
                message: format!(
                    "{email} mixes letters of different alphabets (Latin and Cyrillic, say), as a look-alike of another address would; check that it is the person's own"
                ),
            });
        }
        if email.is_shared_mailbox() {
            // docs/RULES.md#adding-members: an account on a shared address
            // makes changes untraceable to a person.
            warnings.push(Warning {
                code: "shared_mailbox",
                message: format!(
                    "{email} looks like a shared mailbox; changes made with this account cannot be traced to one person. Use the person's own address."
                ),
            });
        }
        Ok(NewMember {
            portfolio: None,
            email,
            roles,
            name: PersonName {
                salutation: name_field(0, &input.salutation)?,
                given_name: name_field(1, &input.given_name)?,
                infix: name_field(2, &input.infix)?,
                family_name: name_field(3, &input.family_name)?,
            },
            details: MemberDetails::parse(&input.details)?,
            labels: parse_labels(&input.labels)?,
            registration,
            groups: input
                .groups
                .iter()
                .enumerate()
                .filter(|(i, g)| !input.groups[..*i].contains(g))
                .map(|(_, g)| *g)
                .collect(),
            active: input.active,
            warnings,
        })
    }
}

/// A telephone number as people write it: digits with `+`, spaces, hyphens,
/// dots, slashes and parentheses; 6 to 20 digits; at most 32 characters. Only
/// spaces are trimmed, so the rule is exactly the pattern the API documents.
pub fn parse_phone(field: &str, raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.chars().count() > 32 {
        return Err(FieldError::new(
            field,
            "too_long",
            "use at most 32 characters",
        ));
    }
    if let Some(c) = raw
        .chars()
        .find(|c| !(c.is_ascii_digit() || " +-./()".contains(*c)))
    {
        return Err(FieldError::new(
            field,
            "phone_character",
            format!(
                "\"{}\" does not belong in a telephone number",
                c.escape_default()
            ),
        ));
    }
    let text = raw.trim_matches(' ');
    if text.is_empty() {
        return Ok(None);
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if !(6..=20).contains(&digits) {
        return Err(FieldError::new(
            field,
            "phone_length",
            "a telephone number has 6 to 20 digits",
        ));
    }
    Ok(Some(text.to_owned()))
}

/// A part of the name as entered, checked as [`NAME_FIELDS`] says.
fn name_field(at: usize, raw: &Option<String>) -> Result<Option<String>, FieldError> {
    NAME_FIELDS[at].parse(raw.as_deref())
}

/// The most labels one member carries: enough to tell institutions apart,
/// few enough that every export and page stays readable.
pub const MAX_LABELS: usize = 50;

/// Labels: each trimmed, 1 to 64 characters, no duplicates, at most
/// [`MAX_LABELS`]; order kept.
pub fn parse_labels(raw: &[String]) -> Result<Vec<String>, FieldError> {
    if raw.len() > MAX_LABELS {
        return Err(FieldError::new(
            "labels",
            "too_many",
            format!("a member has at most {MAX_LABELS} labels"),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let field = format!("labels[{i}]");
        let label = profile_text(&field, Some(l), 64)?
            .ok_or_else(|| FieldError::new(&field, "required", "a label cannot be empty"))?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&label)) {
            out.push(label);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deactivation_shows_whatever_the_account_state() {
        assert_eq!(
            MemberStatus::of(AccountStatus::Active, false),
            MemberStatus::Deactivated
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Invited, false),
            MemberStatus::Deactivated
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Invited, true),
            MemberStatus::Invited
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Active, true),
            MemberStatus::Active
        );
    }

    fn input(email: &str) -> MemberInput {
        MemberInput {
            email: email.into(),
            active: true,
            ..Default::default()
        }
    }

    #[test]
    fn roles_come_first_and_default_to_member() {
        let m = NewMember::parse(input(" Jan@Example.nl ")).unwrap();
        assert_eq!(m.roles, vec![RoleKey::parse("r", MEMBER).unwrap()]);
        assert_eq!(m.email.as_str(), "jan@example.nl");
        let e = NewMember::parse(MemberInput {
            roles: vec!["Bad Role".into()],
            ..input("not an address")
        })
        .unwrap_err();
        assert_eq!(e.field, "roles[0]", "the role is checked before the e-mail");
        let m = NewMember::parse(MemberInput {
            roles: vec!["user-manager".into(), "user-manager".into()],
            ..input("jan@example.nl")
        })
        .unwrap();
        assert_eq!(
            m.roles,
            vec![RoleKey::parse("r", "user-manager").unwrap()],
            "once, and not replaced by member"
        );
    }

    #[test]
    fn an_invalid_address_is_refused_on_the_email_field() {
        let e = NewMember::parse(input("jan@")).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("email", "email_domain_empty"));
    }

    #[test]
    fn shared_mailboxes_are_accepted_with_a_warning() {
        let m = NewMember::parse(input("info@huisartsen.nl")).unwrap();
        assert_eq!(m.warnings.len(), 1);
        assert_eq!(m.warnings[0].code, "shared_mailbox");
        assert!(
            NewMember::parse(input("jan@huisartsen.nl"))
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn profile_fields_are_cleaned_and_checked_by_name() {
        let m = NewMember::parse(MemberInput {
            given_name: Some(" Jan ".into()),
            infix: Some("van der".into()),
            family_name: Some("Berg".into()),
            details: MemberDetails {
                phone: Some("+31 (0)20-123 4567".into()),
                staff_code: Some(" P-0042 ".into()),
                ..Default::default()
            },
            ..input("jan@example.nl")
        })
        .unwrap();
        assert_eq!(m.name.display_name().as_deref(), Some("Jan van der Berg"));
        assert_eq!(m.details.staff_code.as_deref(), Some("P-0042"));
        let e = NewMember::parse(MemberInput {
            details: MemberDetails {
                mobile: Some("06-abc".into()),
                ..Default::default()
            },
            ..input("jan@example.nl")
        })
        .unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("mobile", "phone_character"));
        let e = NewMember::parse(MemberInput {
            details: MemberDetails {
                phone: Some("123".into()),
                ..Default::default()
            },
            ..input("jan@example.nl")
        })
        .unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("phone", "phone_length"));
        let e = NewMember::parse(MemberInput {
            family_name: Some("x".repeat(101)),
            ..input("jan@example.nl")
        })
        .unwrap_err();
        assert_eq!(e.field, "family_name");
    }

    #[test]
    fn groups_are_kept_once_each_in_the_order_given() {
        let (a, b) = (crate::ids::GroupId::new(), crate::ids::GroupId::new());
        let m = NewMember::parse(MemberInput {
            groups: vec![a, b, a],
            ..input("jan@example.nl")
        })
        .unwrap();
        assert_eq!(m.groups, vec![a, b]);
    }

    #[test]
    fn a_telephone_number_has_at_most_32_characters() {
        let at_limit = format!("{}{}", "1".repeat(20), " ".repeat(12));
        assert_eq!(at_limit.chars().count(), 32);
        assert_eq!(
            parse_phone("phone", Some(&at_limit)).unwrap().as_deref(),
            Some("1".repeat(20).as_str())
        );
        let over = format!("{at_limit} ");
        assert_eq!(
            parse_phone("phone", Some(&over)).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn a_member_has_at_most_fifty_labels() {
        let many: Vec<String> = (0..=MAX_LABELS).map(|i| format!("L{i}")).collect();
        let e = parse_labels(&many).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("labels", "too_many"));
        assert_eq!(parse_labels(&many[..MAX_LABELS]).unwrap().len(), MAX_LABELS);
    }

    #[test]
    fn labels_are_trimmed_and_deduplicated() {
        let l = parse_labels(&[
            "  Huisartsen Noord ".into(),
            "huisartsen noord".into(),
            "GGZ".into(),
        ])
        .unwrap();
        assert_eq!(l, vec!["Huisartsen Noord", "GGZ"]);
        assert_eq!(
            parse_labels(&["ok".into(), " ".into()]).unwrap_err().field,
            "labels[1]"
        );
    }

    #[test]
    fn every_member_status_reads_back_from_its_name() {
        for status in MemberStatus::ALL {
            // A new status fails to compile here until ALL lists it.
            match status {
                MemberStatus::Invited | MemberStatus::Active | MemberStatus::Deactivated => {}
            }
            assert_eq!(MemberStatus::from_name(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(
            MemberStatus::ALL.map(MemberStatus::as_str),
            ["invited", "active", "deactivated"]
        );
        assert_eq!(MemberStatus::from_name("Deactivated"), None);
        assert_eq!(MemberStatus::from_name("inactive"), None);
        assert_eq!(MemberStatus::from_name(""), None);
    }
}

/// An administrator's change to a member; `None` keeps a field, `Some(None)`
/// empties it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPatch {
    pub email: Option<Email>,
    pub salutation: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub infix: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub details: DetailsPatch,
    pub labels: Option<Vec<String>>,
    pub require_two_factor: Option<bool>,
}

/// The same, as sent.
#[derive(Debug, Clone, Default)]
pub struct MemberPatchInput {
    pub email: Option<String>,
    pub salutation: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub infix: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub details: DetailsPatch,
    pub labels: Option<Vec<String>>,
    pub require_two_factor: Option<bool>,
}

impl MemberPatch {
    pub fn parse(input: MemberPatchInput) -> Result<MemberPatch, FieldError> {
        fn name(
            at: usize,
            v: Option<Option<String>>,
        ) -> Result<Option<Option<String>>, FieldError> {
            v.map(|v| name_field(at, &v)).transpose()
        }
        Ok(MemberPatch {
            email: input
                .email
                .map(|e| Email::parse(&e).map_err(|e| e.in_field("email")))
                .transpose()?,
            salutation: name(0, input.salutation)?,
            given_name: name(1, input.given_name)?,
            infix: name(2, input.infix)?,
            family_name: name(3, input.family_name)?,
            details: DetailsPatch::parse(&input.details)?,
            labels: input.labels.map(|l| parse_labels(&l)).transpose()?,
            require_two_factor: input.require_two_factor,
        })
    }

    /// The first personal field the patch touches: name, address, telephone.
    fn first_personal_field(&self) -> Option<&'static str> {
        [
            ("email", self.email.is_some()),
            ("salutation", self.salutation.is_some()),
            ("given_name", self.given_name.is_some()),
            ("infix", self.infix.is_some()),
            ("family_name", self.family_name.is_some()),
        ]
        .into_iter()
        .find(|(_, touched)| *touched)
        .map(|(f, _)| f)
        .or_else(|| self.details.first_personal())
    }

    /// Administrators may change a member's name, e-mail address and numbers
    /// only until the member has activated the account; afterwards only the
    /// member can. Organization fields (job title, staff code, labels) stay
    /// theirs (docs/RULES.md#changing-a-members-details).
    pub fn check_allowed(&self, account: AccountStatus) -> Result<(), crate::Error> {
        match (account, self.first_personal_field()) {
            (AccountStatus::Active, Some(field)) => Err(crate::Error::Conflict {
                code: "member_owns_profile",
                field: Some(field.to_owned()),
                message: "this person has activated their account; only they can change their name, e-mail address and telephone numbers now".into(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod patch_tests {
    use super::*;

    #[test]
    fn personal_details_are_the_members_own_once_activated() {
        let rename = MemberPatch::parse(MemberPatchInput {
            family_name: Some(Some("Berg".into())),
            ..Default::default()
        })
        .unwrap();
        assert!(rename.check_allowed(AccountStatus::Invited).is_ok());
        let e = rename.check_allowed(AccountStatus::Active).unwrap_err();
        assert!(
            matches!(e, crate::Error::Conflict { code: "member_owns_profile", field: Some(ref f), .. } if f == "family_name")
        );
        let org_fields = MemberPatch::parse(MemberPatchInput {
            details: DetailsPatch {
                job_title: Some(Some("Arts".into())),
                ..Default::default()
            },
            labels: Some(vec!["Oost".into()]),
            ..Default::default()
        })
        .unwrap();
        assert!(org_fields.check_allowed(AccountStatus::Active).is_ok());
    }

    #[test]
    fn a_corrected_address_is_normalized_and_checked() {
        let p = MemberPatch::parse(MemberPatchInput {
            email: Some(" Jan@Example.NL ".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(p.email.unwrap().as_str(), "jan@example.nl");
        let e = MemberPatch::parse(MemberPatchInput {
            email: Some("jan@".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "email");
    }
}
