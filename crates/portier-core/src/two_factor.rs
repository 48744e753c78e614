//! Two-step verification (docs/RULES.md#two-step-verification): time-based
//! one-time passwords (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one
//! step of drift either way) and recovery codes.
//!
//! A code is accepted once: the step it matched is remembered, and a code of
//! that step or an earlier one is refused as a replay (RFC 6238 §5.2).
//! Recovery codes carry over 79 random bits each, so a SHA-256 digest stores them
//! as safely as a slow hash would and lets a lookup be one indexed read.

use serde::Serialize;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::email::Email;
use crate::secrets::digest;

/// Seconds in one step.
pub const STEP: u64 = 30;
/// Digits in a code.
pub const DIGITS: u8 = 6;
/// How many recovery codes a person gets at a time.
pub const RECOVERY_CODES: usize = 10;
/// The name authenticator apps show above the account.
pub const ISSUER: &str = "Portier";

/// A TOTP secret: 160 random bits (RFC 4226 §4 recommends that length).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; 20]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

impl TotpSecret {
    pub fn from_random(bytes: [u8; 20]) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// As typed into an authenticator app by hand: RFC 4648 base32, no padding.
    pub fn to_base32(&self) -> String {
        Secret::new_stack(self.0).to_base32()
    }

    /// Reads a stored secret (its base32 form).
    pub fn from_base32(s: &str) -> Option<TotpSecret> {
        let secret = Secret::try_from_base32(s).ok()?;
        let bytes: [u8; 20] = secret.as_bytes().try_into().ok()?;
        Some(TotpSecret(bytes))
    }

    fn totp(&self, account: &str) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(1)
            .with_step_duration(STEP)
            .with_secret(Secret::new_stack(self.0))
            .with_issuer(Some(ISSUER))
            .with_account_name(account.replace(':', ""))
            .build_noncompliant()
    }

    /// `otpauth://totp/Portier:<address>?secret=…&issuer=Portier&…`, the
    /// text a QR code carries to an authenticator app.
    pub fn otpauth_url(&self, email: &Email) -> String {
        self.totp(email.as_str())
            .to_url()
            .unwrap_or_else(|_| format!("otpauth://totp/?secret={}", self.to_base32()))
    }

    /// The code for a moment (seconds since 1970).
    pub fn code_at(&self, unix: u64) -> String {
        self.totp("").generate(unix).to_string()
    }

    /// The step `code` belongs to, when it is the code of the step of `unix`
    /// or of the one before or after it.
    pub fn step_of(&self, code: &str, unix: u64) -> Option<u64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.totp("").check(&code, unix)
    }
}

/// Why a code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefused {
    #[error("this code is not right: use the current code of your authenticator app")]
    Wrong,
    #[error("this code has been used already: wait for the next one")]
    Replayed,
}

/// Accepts `code` at `unix` once: returns the step to remember as the last
/// one used, or why not.
pub fn accept(
    secret: &TotpSecret,
    code: &str,
    unix: u64,
    last_step: Option<i64>,
) -> Result<i64, CodeRefused> {
    let step = secret.step_of(code, unix).ok_or(CodeRefused::Wrong)?;
    let step = i64::try_from(step).map_err(|_| CodeRefused::Wrong)?;
    match last_step {
        Some(last) if step <= last => Err(CodeRefused::Replayed),
        _ => Ok(step),
    }
}

/// The letters of recovery codes: no 0/o, 1/l/i, so none is misread.
const LETTERS: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";

/// A recovery code as shown once: four groups of four from a 31-letter
/// alphabet (over 79 bits), e.g. `7kqm-x3vd-pw9h-ta2c`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(…)")
    }
}

impl RecoveryCode {
    /// A code from 16 random bytes, a letter each.
    pub fn from_random(bytes: [u8; 16]) -> RecoveryCode {
        let mut s = String::with_capacity(19);
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                s.push('-');
            }
            // 256 = 8 × 31 + 8: the first eight letters are a little more
            // likely (9 in 256 against 8); 4.95 bits a letter all the same.
            s.push(LETTERS[usize::from(*b) % LETTERS.len()] as char);
        }
        RecoveryCode(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the digest of the code as typed, case, spaces and
    /// dashes aside.
    pub fn hash(&self) -> String {
        recovery_digest(&self.0)
    }
}

/// The digest of a typed recovery code, or `None` when it cannot be one.
pub fn typed_recovery_digest(typed: &str) -> Option<String> {
    let letters = normalize(typed);
    (letters.len() == 16 && letters.bytes().all(|b| LETTERS.contains(&b))).then(|| digest(&letters))
}

fn recovery_digest(code: &str) -> String {
    digest(&normalize(code))
}

fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA-1 seed is "12345678901234567890"; its
    /// 8-digit codes end in the 6-digit ones (a code is the value mod 10^d).
    #[test]
    fn the_rfc_6238_test_vectors() {
        let seed = TotpSecret::from_random(*b"12345678901234567890");
        for (unix, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(seed.code_at(unix), eight[2..], "T = {unix}");
        }
    }

    #[test]
    fn a_step_of_drift_either_way_and_no_more() {
        let s = TotpSecret::from_random([7; 20]);
        let now = 1_800_000_015;
        let code = s.code_at(now);
        assert_eq!(s.step_of(&code, now), Some(now / 30));
        assert_eq!(s.step_of(&code, now + 30), Some(now / 30), "one step late");
        assert_eq!(s.step_of(&code, now - 30), Some(now / 30), "one step early");
        assert_eq!(s.step_of(&code, now + 60), None, "two steps late");
        assert_eq!(s.step_of(&code, now - 60), None);
        assert_eq!(
            s.step_of(&format!("{} {}", &code[..3], &code[3..]), now),
            Some(now / 30),
            "spaces as apps show it"
        );
        assert_eq!(s.step_of("12345", now), None);
        assert_eq!(s.step_of("abcdef", now), None);
    }

    #[test]
    fn a_code_is_accepted_once() {
        let s = TotpSecret::from_random([9; 20]);
        let now = 1_800_000_000;
        let code = s.code_at(now);
        let step = accept(&s, &code, now, None).unwrap();
        assert_eq!(
            accept(&s, &code, now, Some(step)),
            Err(CodeRefused::Replayed)
        );
        // The previous step's code, still inside the drift: used up too.
        let before = s.code_at(now - 30);
        assert_eq!(
            accept(&s, &before, now, Some(step)),
            Err(CodeRefused::Replayed)
        );
        let next = s.code_at(now + 30);
        assert_eq!(accept(&s, &next, now + 30, Some(step)), Ok(step + 1));
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_eq!(accept(&s, wrong, now, None), Err(CodeRefused::Wrong));
    }

    #[test]
    fn the_secret_round_trips_and_the_url_names_issuer_and_account() {
        let s = TotpSecret::from_random(*b"12345678901234567890");
        assert_eq!(s.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_base32(&s.to_base32()), Some(s.clone()));
        assert_eq!(TotpSecret::from_base32("GEZDGNBV"), None, "too short");
        let url = s.otpauth_url(&Email::parse("eva@example.nl").unwrap());
        assert!(
            url.starts_with("otpauth://totp/Portier:eva%40example.nl?"),
            "{url}"
        );
        assert!(
            url.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
                && url.contains("issuer=Portier"),
            "{url}"
        );
    }

    #[test]
    fn recovery_codes_are_read_as_typed() {
        let code =
            RecoveryCode::from_random([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 255]);
        assert_eq!(code.expose().len(), 19);
        assert_eq!(code.expose().matches('-').count(), 3);
        let typed = code.expose().to_uppercase().replace('-', " ");
        assert_eq!(typed_recovery_digest(&typed), Some(code.hash()));
        assert_eq!(typed_recovery_digest("abc"), None);
        assert_eq!(
            typed_recovery_digest("0000-0000-0000-0000"),
            None,
            "no 0 in the alphabet"
        );
        assert_ne!(
            RecoveryCode::from_random([1; 16]).hash(),
            RecoveryCode::from_random([2; 16]).hash()
        );
    }
}
