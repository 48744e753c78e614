//! Password policy and hashing (docs/RULES.md#passwords). The default policy
//! asks for at least 8 characters with a digit, a lower-case and an
//! upper-case letter; on top, always, passwords that are easy to guess
//! (zxcvbn's dictionaries of common and breached passwords) or built from the
//! person's own name or address are refused. Each organization may set its
//! own policy; a person in several organizations meets the strictest of them.
//! A [`Password`] exists only once a policy accepted it. Hashes are Argon2id,
//! m=19456 KiB, t=2, p=1.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::PasswordVerifier;
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::FieldError;
use crate::locale::Locale;

/// The longest password accepted, never truncated: long passphrases are
/// welcome, but hashing megabytes on request would be a denial of service.
pub const MAX_LENGTH: usize = 128;

/// The password rules of an organization (docs/RULES.md#passwords).
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
    /// At least 8 characters with a digit, a lower-case and an upper-case
    /// letter (docs/RULES.md#passwords).
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

/// A policy by name, for organizations that would rather choose one than
/// spell out the rules (`settings.password_preset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyPreset {
    /// The default: 8 characters with a digit, a lower-case and an
    /// upper-case letter.
    Standard,
    /// NIST SP 800-63B: 15 characters (accounts sign in with a password
    /// alone), no composition rules.
    Nist,
}

impl PolicyPreset {
    pub fn policy(self) -> PasswordPolicy {
        match self {
            PolicyPreset::Standard => PasswordPolicy::default(),
            PolicyPreset::Nist => PasswordPolicy::nist(),
        }
    }
}

impl PasswordPolicy {
    /// NIST SP 800-63B: length only, no composition rules; 15 characters for
    /// accounts that sign in with a password alone.
    pub fn nist() -> PasswordPolicy {
        PasswordPolicy {
            min_length: 15,
            require_digit: false,
            require_lower: false,
            require_upper: false,
            require_symbol: false,
        }
    }
}

/// One unmet rule; the console lists every one of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Violation {
    TooShort {
        min_length: u16,
    },
    TooLong,
    NoDigit,
    NoLower,
    NoUpper,
    NoSymbol,
    /// Found in the dictionaries of common and breached passwords, or made of
    /// patterns guessed early (`Welkom2026!`, `qwerty123`).
    TooGuessable,
    /// Contains the person's own name or e-mail address.
    ContainsPersonalInfo,
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
            Violation::TooGuessable => "password_too_guessable",
            Violation::ContainsPersonalInfo => "password_personal",
        }
    }

    pub fn message(&self) -> String {
        self.message_in(Locale::En)
    }

    pub fn message_in(&self, locale: Locale) -> String {
        match (locale, self) {
            (Locale::En, Violation::TooShort { min_length }) => format!("use at least {min_length} characters"),
            (Locale::Nl, Violation::TooShort { min_length }) => format!("gebruik minstens {min_length} tekens"),
            (Locale::En, Violation::TooLong) => format!("use at most {MAX_LENGTH} characters"),
            (Locale::Nl, Violation::TooLong) => format!("gebruik hoogstens {MAX_LENGTH} tekens"),
            (Locale::En, Violation::NoDigit) => "add a digit".into(),
            (Locale::Nl, Violation::NoDigit) => "voeg een cijfer toe".into(),
            (Locale::En, Violation::NoLower) => "add a lower-case letter".into(),
            (Locale::Nl, Violation::NoLower) => "voeg een kleine letter toe".into(),
            (Locale::En, Violation::NoUpper) => "add an upper-case letter".into(),
            (Locale::Nl, Violation::NoUpper) => "voeg een hoofdletter toe".into(),
            (Locale::En, Violation::NoSymbol) => "add a symbol such as ! or #".into(),
            (Locale::Nl, Violation::NoSymbol) => "voeg een leesteken toe, zoals ! of #".into(),
            (Locale::En, Violation::TooGuessable) => {
                "this password is too easy to guess: it is common, appears in breaches or follows a predictable pattern".into()
            }
            (Locale::Nl, Violation::TooGuessable) => {
                "dit wachtwoord is te makkelijk te raden: het is veelgebruikt, komt voor in gelekte lijsten of volgt een voorspelbaar patroon".into()
            }
            (Locale::En, Violation::ContainsPersonalInfo) => "do not use your own name or e-mail address".into(),
            (Locale::Nl, Violation::ContainsPersonalInfo) => "gebruik niet je eigen naam of e-mailadres".into(),
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

    /// Every rule the candidate breaks, empty when it passes; `personal` holds
    /// the person's own name parts and address, which the password may not
    /// contain.
    pub fn check(&self, candidate: &str, personal: &[&str]) -> Vec<Violation> {
        let mut v = self.violations(candidate);
        let lowered = candidate.to_lowercase();
        let personal_words: Vec<String> = personal
            .iter()
            .flat_map(|p| p.split(['@', '.', ' ', '-', '_', '+']))
            .map(str::to_lowercase)
            .filter(|w| w.chars().count() >= 3)
            .collect();
        if personal_words.iter().any(|w| lowered.contains(w.as_str())) {
            v.push(Violation::ContainsPersonalInfo);
        }
        // zxcvbn's cost grows with length; beyond the limit the answer is
        // already "too long".
        if candidate.chars().count() <= MAX_LENGTH {
            let inputs: Vec<&str> = personal_words.iter().map(String::as_str).collect();
            let score = u8::from(zxcvbn::zxcvbn(candidate, &inputs).score());
            // 3: "safely unguessable: moderate protection from offline attacks".
            if score < 3 {
                v.push(Violation::TooGuessable);
            }
        }
        v
    }

    /// The composition and length rules alone (what the console can show live).
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
        self.into_field_error_in(field, Locale::En)
    }

    /// Every unmet rule in one message, in the person's language.
    pub fn into_field_error_in(self, field: &str, locale: Locale) -> FieldError {
        let messages: Vec<String> = self.0.iter().map(|v| v.message_in(locale)).collect();
        let code = self
            .0
            .first()
            .map(Violation::code)
            .unwrap_or("password_invalid");
        FieldError::new(field, code, messages.join("; "))
    }
}

impl Password {
    /// Checks a new password against `policy`, the guessability check and the
    /// person's own details.
    pub fn new(
        candidate: String,
        policy: &PasswordPolicy,
        personal: &[&str],
    ) -> Result<Password, PasswordRejected> {
        let mut candidate = candidate;
        let violations = policy.check(&candidate, personal);
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

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

fn params() -> Params {
    // docs/RULES.md#password-hashing: Argon2id, m=19456 KiB, t=2, p=1
    // (OWASP's recommendation).
    Params::new(19_456, 2, 1, None).unwrap_or_default()
}

/// The working memory of one Argon2 computation (19 MiB with Portier's
/// parameters), kept by whoever computes many so that each does not map
/// and zero fresh pages (docs/RULES.md#password-hashing).
#[derive(Default)]
pub struct Argon2Memory(Vec<argon2::Block>);

/// Blocks asked of the allocator for each working memory, whatever fewer
/// the parameters use: 33 MiB, above the largest threshold from which glibc
/// always maps an allocation of its own (32 MiB), so that dropping one
/// gives its pages back to the system at once instead of leaving them in
/// the allocating thread's arena. Pages never written are never resident.
const ALLOCATED_BLOCKS: usize = 33 * 1024;

impl Argon2Memory {
    fn blocks(&mut self, n: usize) -> &mut [argon2::Block] {
        if self.0.len() < n {
            let mut memory = Vec::with_capacity(n.max(ALLOCATED_BLOCKS));
            memory.resize(n, argon2::Block::default());
            self.0 = memory;
        }
        &mut self.0[..n]
    }
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a password, with a
/// salt the caller draws at random, computed in `memory`.
pub fn hash_password_with(
    password: &Password,
    salt: [u8; 16],
    memory: &mut Argon2Memory,
) -> String {
    use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
    let params = params();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = memory.blocks(params.block_count());
    let hashed = argon2()
        .hash_password_into_with_memory(password.expose().as_bytes(), &salt, &mut out, blocks)
        .ok()
        .and_then(|()| {
            Some(PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(&params).ok()?,
                salt: Some(Salt::new(&salt).ok()?),
                hash: Some(Output::new(&out).ok()?),
            })
        });
    hashed.map(|h| h.to_string()).unwrap_or_default()
}

/// [`hash_password_with`] in memory of its own, given back at once.
pub fn hash_password(password: &Password, salt: [u8; 16]) -> String {
    hash_password_with(password, salt, &mut Argon2Memory::default())
}

/// True when `candidate` matches `hash`, computed in `memory`. A malformed
/// hash matches nothing.
pub fn verify_password_with(hash: &str, candidate: &str, memory: &mut Argon2Memory) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        // Not one of ours: the library's general path.
        return argon2().verify_password(candidate.as_bytes(), hash).is_ok();
    }
    let (Ok(params), Ok(version)) = (
        Params::try_from(&parsed),
        Version::try_from(parsed.version.unwrap_or(0x13)),
    ) else {
        return false;
    };
    let blocks = memory.blocks(params.block_count());
    let argon = Argon2::new(Algorithm::Argon2id, version, params);
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let computed =
        argon.hash_password_into_with_memory(candidate.as_bytes(), salt.as_ref(), &mut out, blocks);
    // Constant time: the comparison must not tell how much of it matched.
    computed.is_ok()
        && out.len() == expected.len()
        && out
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// [`verify_password_with`] in memory of its own, given back at once.
pub fn verify_password(hash: &str, candidate: &str) -> bool {
    verify_password_with(hash, candidate, &mut Argon2Memory::default())
}

/// A hash of a fixed password, verified against when the address is unknown
/// so that the answer takes as long as for a known one
/// (docs/RULES.md#signing-in-and-sessions).
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&Password("portier dummy password".into()), [7; 16]))
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
    fn every_unmet_rule_is_explained_at_once_in_the_persons_language() {
        let e = Password::new("abc".into(), &PasswordPolicy::default(), &[]).unwrap_err();
        let en = e.clone().into_field_error("password");
        assert_eq!(en.field, "password");
        assert_eq!(en.code, "password_too_short");
        assert!(en.message.starts_with("use at least 8 characters; add a digit; add an upper-case letter; this password is too easy to guess"), "{}", en.message);
        let nl = e.into_field_error_in("password", Locale::Nl);
        assert!(
            nl.message
                .starts_with("gebruik minstens 8 tekens; voeg een cijfer toe"),
            "{}",
            nl.message
        );
    }

    #[test]
    fn common_and_breached_passwords_are_refused_even_when_they_meet_the_rules() {
        let p = PasswordPolicy::default();
        for common in ["Password1", "Welkom01", "Qwerty123", "Summer2024"] {
            assert!(
                p.violations(common).is_empty(),
                "{common} meets the composition rules"
            );
            assert!(
                p.check(common, &[]).contains(&Violation::TooGuessable),
                "{common} must be refused"
            );
        }
        assert!(p.check("Kw8!vLp2#rTq", &[]).is_empty());
    }

    #[test]
    fn the_persons_own_name_and_address_are_refused() {
        let p = PasswordPolicy::default();
        let v = p.check(
            "Jansen#Lp29!vx",
            &["jan.jansen@ziekenhuis.nl", "Jan", "Jansen"],
        );
        assert_eq!(v, vec![Violation::ContainsPersonalInfo]);
    }

    #[test]
    fn the_nist_preset_asks_only_for_length() {
        let p = PasswordPolicy::nist();
        assert_eq!(
            p.violations("correct horse"),
            vec![Violation::TooShort { min_length: 15 }]
        );
        assert!(p.check("stapler gravel orbit lantern", &[]).is_empty());
    }

    #[test]
    fn hashes_are_argon2id_with_the_design_parameters_and_verify() {
        let pw = Password::new("Kw8!vLp2#rTq".into(), &PasswordPolicy::default(), &[]).unwrap();
        let h = hash_password(&pw, [1; 16]);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, "Kw8!vLp2#rTq"));
        assert!(!verify_password(&h, "Kw8!vLp2#rTQ"));
        assert!(!verify_password("not a hash", "x"));
        assert!(!verify_password(dummy_hash(), "Kw8!vLp2#rTq"));
    }

    #[test]
    fn hashing_in_kept_memory_gives_the_librarys_own_hash() {
        use argon2::password_hash::PasswordHasher;
        let pw = Password::new("Kw8!vLp2#rTq".into(), &PasswordPolicy::default(), &[]).unwrap();
        let mut memory = Argon2Memory::default();
        let ours = hash_password_with(&pw, [3; 16], &mut memory);
        let library = argon2()
            .hash_password_with_salt(pw.expose().as_bytes(), &[3; 16])
            .unwrap()
            .to_string();
        assert_eq!(ours, library);
        // The same memory serves the next computation, a verification too.
        assert_ne!(hash_password_with(&pw, [4; 16], &mut memory), ours);
        assert!(verify_password_with(&ours, "Kw8!vLp2#rTq", &mut memory));
        assert!(!verify_password_with(&ours, "Kw8!vLp2#rTQ", &mut memory));
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
        let pw = Password::new("Kw8!vLp2#rTq".into(), &PasswordPolicy::default(), &[]).unwrap();
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
