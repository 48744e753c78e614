//! Secret tokens: activation links (valid 7 days,
//! docs/RULES.md#invitations-and-activation), password-reset links (valid 1
//! hour, docs/RULES.md#signing-in-and-sessions) and API tokens. A token is
//! shown once and only its SHA-256 hash is stored; the token carries 256
//! random bits, so a fast hash is enough and lets a lookup be one indexed
//! read.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Activation,
    PasswordReset,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Activation => "activation",
            TokenKind::PasswordReset => "password_reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "activation" => Some(TokenKind::Activation),
            "password_reset" => Some(TokenKind::PasswordReset),
            _ => None,
        }
    }

    /// The lifetime when configuration says nothing (`PORTIER_ACTIVATION_TTL`,
    /// `PORTIER_RESET_TTL`).
    pub fn default_ttl(self) -> Duration {
        match self {
            // Seven days (docs/RULES.md#invitations-and-activation).
            TokenKind::Activation => Duration::from_secs(7 * 86_400),
            // One hour (docs/RULES.md#signing-in-and-sessions).
            TokenKind::PasswordReset => Duration::from_secs(3_600),
        }
    }

    /// The path of the link that carries the token, below the public URL.
    pub fn link_path(self) -> &'static str {
        match self {
            TokenKind::Activation => "activate",
            TokenKind::PasswordReset => "reset",
        }
    }
}

/// Why a token no longer works. Both answer 410 Gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenUnusable {
    #[error("this link has already been used or was replaced by a newer one")]
    Used,
    #[error("this link has expired")]
    Expired,
}

/// The single-use rule: a token works once, before it expires, and not after a
/// newer one replaced it.
pub fn check_usable(
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    used_or_replaced_at: Option<DateTime<Utc>>,
) -> Result<(), TokenUnusable> {
    if used_or_replaced_at.is_some() {
        Err(TokenUnusable::Used)
    } else if now >= expires_at {
        Err(TokenUnusable::Expired)
    } else {
        Ok(())
    }
}

pub fn expires_at(now: DateTime<Utc>, ttl: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(3650))
}

/// A raw secret as handed to a person once. No `Debug` that prints it; wiped on
/// drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SecretToken(String);

/// API tokens start with this, so secret scanners and people recognize them.
pub const API_TOKEN_PREFIX: &str = "ptk_";

impl SecretToken {
    /// Builds a token from 32 random bytes supplied by the caller (the domain
    /// does no I/O, randomness included).
    pub fn from_random(bytes: [u8; 32], prefix: &str) -> SecretToken {
        SecretToken(format!("{prefix}{}", hex::encode(bytes)))
    }

    /// Wraps a token a client presented, for hashing.
    pub fn presented(raw: &str) -> SecretToken {
        SecretToken(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The only form that is stored or compared.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

/// SHA-256 in hex of any text that should not be stored as it is (throttle
/// keys hold e-mail addresses).
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl fmt::Debug for SecretToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_token_works_until_it_expires() {
        let issued = at("2026-01-01T12:00:00Z");
        let exp = expires_at(issued, TokenKind::Activation.default_ttl());
        assert_eq!(exp, at("2026-01-08T12:00:00Z"));
        assert_eq!(check_usable(at("2026-01-08T11:59:59Z"), exp, None), Ok(()));
        assert_eq!(
            check_usable(at("2026-01-08T12:00:00Z"), exp, None),
            Err(TokenUnusable::Expired)
        );
    }

    #[test]
    fn a_used_token_stays_used_even_before_expiry() {
        let exp = at("2026-01-08T12:00:00Z");
        assert_eq!(
            check_usable(
                at("2026-01-02T00:00:00Z"),
                exp,
                Some(at("2026-01-01T13:00:00Z"))
            ),
            Err(TokenUnusable::Used)
        );
    }

    #[test]
    fn the_reset_link_lives_one_hour() {
        assert_eq!(
            TokenKind::PasswordReset.default_ttl(),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn only_the_hash_is_comparable_and_the_secret_never_prints() {
        let t = SecretToken::from_random([7; 32], API_TOKEN_PREFIX);
        assert!(t.expose().starts_with("ptk_"));
        assert_eq!(t.expose().len(), 4 + 64);
        assert_eq!(t.hash(), SecretToken::presented(t.expose()).hash());
        assert_ne!(t.hash(), t.expose());
        assert_eq!(format!("{t:?}"), "SecretToken(***)");
    }

    #[test]
    fn every_token_kind_reads_back_from_its_name() {
        let all = [TokenKind::Activation, TokenKind::PasswordReset];
        for kind in all {
            // A new kind fails to compile here until it is listed above.
            match kind {
                TokenKind::Activation | TokenKind::PasswordReset => {}
            }
            assert_eq!(TokenKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(all.map(TokenKind::as_str), ["activation", "password_reset"]);
        assert_eq!(TokenKind::parse("password-reset"), None);
        assert_eq!(
            TokenKind::parse("reset"),
            None,
            "the link's path is not its name"
        );
        assert_eq!(TokenKind::parse(""), None);
    }
}
