//! Professional registrations (docs/RULES.md#professional-registrations):
//! some roles need a number in a professional register, checked against that
//! register. The Dutch BIG register is the one Portier knows; its numbers
//! have 11 digits.

use serde::{Deserialize, Serialize};

use crate::FieldError;

/// A professional register a role can require a number in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Register {
    /// The Dutch register of health-care professionals (CIBG).
    #[serde(rename = "BIG")]
    Big,
}

impl Register {
    pub fn as_str(self) -> &'static str {
        match self {
            Register::Big => "BIG",
        }
    }

    pub fn parse(field: &str, raw: &str) -> Result<Register, FieldError> {
        match raw.trim() {
            "BIG" | "big" => Ok(Register::Big),
            other => Err(FieldError::new(
                field,
                "register_unknown",
                format!(
                    "\"{other}\" is not a register Portier knows; use \"BIG\" (the Dutch BIG register)"
                ),
            )),
        }
    }

    /// Where an administrator looks a person up by hand: the register's
    /// public search (docs/RULES.md#professional-registrations).
    pub fn lookup_url(self) -> &'static str {
        match self {
            Register::Big => "https://zoeken.bigregister.nl/",
        }
    }
}

/// A well-formed number in a register: for BIG, 11 digits (spaces and dots
/// between them, as people copy numbers, are taken out).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RegistrationNumber {
    pub register: Register,
    pub number: String,
}

impl RegistrationNumber {
    pub fn parse(field: &str, register: &str, number: &str) -> Result<Self, FieldError> {
        let register = Register::parse(&format!("{field}.register"), register)?;
        let digits: String = number
            .chars()
            .filter(|c| !matches!(c, ' ' | '.' | '-'))
            .collect();
        match register {
            Register::Big if digits.len() == 11 && digits.bytes().all(|b| b.is_ascii_digit()) => {
                Ok(RegistrationNumber {
                    register,
                    number: digits,
                })
            }
            Register::Big => Err(FieldError::new(
                format!("{field}.number"),
                "registration_number_invalid",
                "a BIG number has 11 digits",
            )),
        }
    }
}

/// What the register said about a number
/// (docs/RULES.md#professional-registrations).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Found, and registered today.
    Verified,
    /// The register does not know the number.
    NotFound,
    /// Found, but the registration has ended.
    Expired,
    /// The register could not be asked yet (unreachable); asked again later.
    Pending,
    /// No register service is configured: nobody checked.
    Unchecked,
}

impl RegistrationState {
    /// Every state, for lists and texts that must name each one.
    pub const ALL: [RegistrationState; 5] = [
        RegistrationState::Verified,
        RegistrationState::NotFound,
        RegistrationState::Expired,
        RegistrationState::Pending,
        RegistrationState::Unchecked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Verified => "verified",
            RegistrationState::NotFound => "not_found",
            RegistrationState::Expired => "expired",
            RegistrationState::Pending => "pending",
            RegistrationState::Unchecked => "unchecked",
        }
    }

    pub fn parse(s: &str) -> Option<RegistrationState> {
        Some(match s {
            "verified" => RegistrationState::Verified,
            "not_found" => RegistrationState::NotFound,
            "expired" => RegistrationState::Expired,
            "pending" => RegistrationState::Pending,
            "unchecked" => RegistrationState::Unchecked,
            _ => return None,
        })
    }
}

/// One registration the register lists for a number (an entry of the
/// answer to the register's `ListHcpApprox4` operation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterEntry {
    /// The name the register knows ("J. van der Berg").
    pub name: String,
    /// The profession's code (`01` = physician).
    pub profession: Option<String>,
    pub start: Option<chrono::NaiveDate>,
    /// `None`: no end date.
    pub end: Option<chrono::NaiveDate>,
    /// Public judgment provisions and limitations, worth an administrator's eye.
    pub notes: Vec<String>,
}

/// What the register's answer means on `today`: nothing listed is
/// `not_found`; a registration without an end date, or ending today or
/// later, is `verified`; only ended ones is `expired`.
pub fn state_of(entries: &[RegisterEntry], today: chrono::NaiveDate) -> RegistrationState {
    if entries.is_empty() {
        RegistrationState::NotFound
    } else if entries.iter().any(|e| e.end.is_none_or(|end| end >= today)) {
        RegistrationState::Verified
    } else {
        RegistrationState::Expired
    }
}

/// How long to wait before asking an unreachable register again, after
/// `attempts` failed tries: one minute, doubling, at most six hours.
pub fn retry_after(attempts: u32) -> std::time::Duration {
    let minutes = 1u64 << attempts.min(9);
    std::time::Duration::from_secs((minutes * 60).min(6 * 3600))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_state_reads_back_from_its_name() {
        for state in super::RegistrationState::ALL {
            assert_eq!(super::RegistrationState::parse(state.as_str()), Some(state));
        }
        assert_eq!(super::RegistrationState::parse("not-found"), None);
        assert_eq!(super::RegistrationState::parse(""), None);
    }

    use super::*;

    #[test]
    fn a_big_number_has_eleven_digits_and_may_be_written_with_spaces() {
        let n = RegistrationNumber::parse("registration", "BIG", "1906 1234 501").unwrap();
        assert_eq!(n.number, "19061234501");
        assert_eq!(n.register, Register::Big);
        let short = RegistrationNumber::parse("registration", "BIG", "1234567890").unwrap_err();
        assert_eq!(short.field, "registration.number");
        let letters = RegistrationNumber::parse("registration", "BIG", "1234567890a").unwrap_err();
        assert_eq!(letters.code, "registration_number_invalid");
    }

    #[test]
    fn only_known_registers_are_accepted() {
        let e = RegistrationNumber::parse("registration", "SKJ", "12345678901").unwrap_err();
        assert_eq!(e.field, "registration.register");
        assert_eq!(
            Register::parse("requires_registration", "BIG").unwrap(),
            Register::Big
        );
    }

    #[test]
    fn states_read_back_as_written() {
        for s in [
            RegistrationState::Verified,
            RegistrationState::NotFound,
            RegistrationState::Expired,
            RegistrationState::Pending,
            RegistrationState::Unchecked,
        ] {
            assert_eq!(RegistrationState::parse(s.as_str()), Some(s));
        }
    }

    fn entry(end: Option<&str>) -> RegisterEntry {
        RegisterEntry {
            name: "J. van der Berg".into(),
            profession: Some("01".into()),
            start: None,
            end: end.map(|e| e.parse().unwrap()),
            notes: vec![],
        }
    }

    #[test]
    fn the_registers_answer_reads_as_found_ended_or_unknown() {
        let today: chrono::NaiveDate = "2026-11-28".parse().unwrap();
        assert_eq!(state_of(&[], today), RegistrationState::NotFound);
        assert_eq!(state_of(&[entry(None)], today), RegistrationState::Verified);
        assert_eq!(
            state_of(&[entry(Some("2026-11-28"))], today),
            RegistrationState::Verified
        );
        assert_eq!(
            state_of(&[entry(Some("2020-01-01"))], today),
            RegistrationState::Expired
        );
        assert_eq!(
            state_of(&[entry(Some("2020-01-01")), entry(None)], today),
            RegistrationState::Verified
        );
    }

    #[test]
    fn an_unreachable_register_is_asked_again_later_and_later() {
        assert_eq!(retry_after(0).as_secs(), 60);
        assert_eq!(retry_after(3).as_secs(), 480);
        assert_eq!(retry_after(50).as_secs(), 6 * 3600);
    }

    #[test]
    fn every_register_reads_back_from_its_name() {
        use super::Register;
        let register = Register::Big;
        // A new register fails to compile here: check it below too.
        match register {
            Register::Big => {}
        }
        assert_eq!(Register::parse("r", register.as_str()), Ok(register));
        assert_eq!(serde_json::to_value(register).unwrap(), register.as_str());
        assert_eq!(register.as_str(), "BIG");
        assert_eq!(Register::parse("r", " big "), Ok(Register::Big));
        let e = Register::parse("r", "SKJ").unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("r", "register_unknown"));
        assert_eq!(
            Register::parse("r", "").unwrap_err().code,
            "register_unknown"
        );
    }

    #[test]
    fn every_registration_state_is_written_by_its_name() {
        for state in super::RegistrationState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }
}
