//! Password policy. The default is seed 004's: at least 8 characters with a
//! digit, a lower-case and an upper-case letter. Each organization may set its
//! own; a person in several organizations meets the strictest of them
//! (DESIGN §2). A [`Password`] exists only once a policy accepted it.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::FieldError;

/// The longest password accepted: long passphrases are welcome, but hashing
/// megabytes on request would be a denial of service.
pub const MAX_LENGTH: usize = 256;

/// The password rules of an organization (seed 004 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordPolicy {
    /// 8 to 128.
    #[cfg_attr(feature = "openapi", schema(minimum = 8, maximum = 128))]
    #[serde(deserialize_with = "crate::json::whole_number")]
    pub min_length: u16,
    pub require_digit: bool,
    pub require_lower: bool,
    pub require_upper: bool,
    pub require_symbol: bool,
}

impl Default for PasswordPolicy {
    /// seed 004: "minimaal 8 karakters lang … minimaal 1 cijfer, 1 kleine letter
    /// en 1 hoofdletter".
    fn default() -> Self {
        PasswordPolicy {
            min_length: 8,
            require_digit: true,
            require_lower: true,
            require_upper: true,
            require_symbol: false,
        }
    }
}

/// One unmet rule; the console lists every one of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Violation {
    TooShort { min_length: u16 },
    TooLong,
    NoDigit,
    NoLower,
    NoUpper,
    NoSymbol,
}

impl Violation {
    pub fn code(&self) -> &'static str {
        match self {
            Violation::TooShort { .. } => "password_too_short",
            Violation::TooLong => "password_too_long",
            Violation::NoDigit => "password_needs_digit",
            Violation::NoLower => "password_needs_lower",
            Violation::NoUpper => "password_needs_upper",
            Violation::NoSymbol => "password_needs_symbol",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Violation::TooShort { min_length } => format!("use at least {min_length} characters"),
            Violation::TooLong => format!("use at most {MAX_LENGTH} characters"),
            Violation::NoDigit => "add a digit".into(),
            Violation::NoLower => "add a lower-case letter".into(),
            Violation::NoUpper => "add an upper-case letter".into(),
            Violation::NoSymbol => "add a symbol such as ! or #".into(),
        }
    }
}

impl PasswordPolicy {
    /// Refuses a policy nobody could meet or that protects nothing.
    pub fn validate(self, field: &str) -> Result<Self, FieldError> {
        if !(8..=128).contains(&self.min_length) {
            return Err(FieldError::new(
                format!("{field}.min_length"),
                "policy_min_length",
                "the minimum length must be between 8 and 128",
            ));
        }
        Ok(self)
    }

    /// Every rule the candidate breaks, empty when it passes.
    pub fn violations(&self, candidate: &str) -> Vec<Violation> {
        let mut v = Vec::new();
        let length = candidate.chars().count();
        if length < usize::from(self.min_length) {
            v.push(Violation::TooShort {
                min_length: self.min_length,
            });
        }
        if length > MAX_LENGTH {
            v.push(Violation::TooLong);
        }
        if self.require_digit && !candidate.chars().any(|c| c.is_numeric()) {
            v.push(Violation::NoDigit);
        }
        if self.require_lower && !candidate.chars().any(char::is_lowercase) {
            v.push(Violation::NoLower);
        }
        if self.require_upper && !candidate.chars().any(char::is_uppercase) {
            v.push(Violation::NoUpper);
        }
        if self.require_symbol
            && !candidate
                .chars()
                .any(|c| !c.is_alphanumeric() && !c.is_whitespace())
        {
            v.push(Violation::NoSymbol);
        }
        v
    }

    /// The policy that demands everything any of the given policies demands.
    pub fn strictest<'a>(policies: impl IntoIterator<Item = &'a PasswordPolicy>) -> PasswordPolicy {
        let mut out = PasswordPolicy {
            min_length: 0,
            require_digit: false,
            require_lower: false,
            require_upper: false,
            require_symbol: false,
        };
        let mut any = false;
        for p in policies {
            any = true;
            out.min_length = out.min_length.max(p.min_length);
            out.require_digit |= p.require_digit;
            out.require_lower |= p.require_lower;
            out.require_upper |= p.require_upper;
            out.require_symbol |= p.require_symbol;
        }
        if any { out } else { PasswordPolicy::default() }
    }
}

/// A password that met a policy. It never prints and is wiped from memory when
/// dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Password(String);

/// The refusal of a password, with every rule it missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordRejected(pub Vec<Violation>);

impl PasswordRejected {
    pub fn into_field_error(self, field: &str) -> FieldError {
        let messages: Vec<String> = self.0.iter().map(Violation::message).collect();
        let code = self
            .0
            .first()
            .map(Violation::code)
            .unwrap_or("password_invalid");
        FieldError::new(field, code, messages.join("; "))
    }
}

impl Password {
    pub fn new(candidate: String, policy: &PasswordPolicy) -> Result<Password, PasswordRejected> {
        let mut candidate = candidate;
        let violations = policy.violations(&candidate);
        if violations.is_empty() {
            Ok(Password(candidate))
        } else {
            candidate.zeroize();
            Err(PasswordRejected(violations))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_004_default_needs_eight_characters_digit_lower_and_upper() {
        let p = PasswordPolicy::default();
        assert!(p.violations("Welkom2026").is_empty());
        assert_eq!(
            p.violations("welkom"),
            vec![
                Violation::TooShort { min_length: 8 },
                Violation::NoDigit,
                Violation::NoUpper
            ]
        );
        assert_eq!(p.violations("WELKOM2026"), vec![Violation::NoLower]);
    }

    #[test]
    fn every_unmet_rule_is_explained_at_once() {
        let e = Password::new("abc".into(), &PasswordPolicy::default())
            .unwrap_err()
            .into_field_error("password");
        assert_eq!(e.field, "password");
        assert_eq!(e.code, "password_too_short");
        assert_eq!(
            e.message,
            "use at least 8 characters; add a digit; add an upper-case letter"
        );
    }

    #[test]
    fn a_person_in_several_organizations_meets_the_strictest_policy() {
        let lenient = PasswordPolicy {
            min_length: 8,
            require_digit: false,
            ..PasswordPolicy::default()
        };
        let strict = PasswordPolicy {
            min_length: 14,
            require_symbol: true,
            ..PasswordPolicy::default()
        };
        let s = PasswordPolicy::strictest([&lenient, &strict]);
        assert_eq!(s.min_length, 14);
        assert!(s.require_digit && s.require_symbol && s.require_upper);
        assert_eq!(PasswordPolicy::strictest([]), PasswordPolicy::default());
    }

    #[test]
    fn passwords_never_print() {
        let pw = Password::new("Geheim123!".into(), &PasswordPolicy::default()).unwrap();
        assert_eq!(format!("{pw:?}"), "Password(***)");
    }

    #[test]
    fn an_unreasonable_policy_is_refused() {
        let p = PasswordPolicy {
            min_length: 4,
            ..PasswordPolicy::default()
        };
        assert_eq!(
            p.validate("password_policy").unwrap_err().field,
            "password_policy.min_length"
        );
    }

    #[test]
    fn overlong_passwords_are_refused() {
        let long = format!("Aa1{}", "x".repeat(MAX_LENGTH));
        assert_eq!(
            PasswordPolicy::default().violations(&long),
            vec![Violation::TooLong]
        );
    }
}
