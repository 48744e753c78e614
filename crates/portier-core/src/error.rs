//! The domain's one error type. A rule that refuses input names the field it
//! refuses, a stable code (the message key for the user's language) and an English
//! message; the server turns it into the contract's JSON body in one place.

use std::fmt;

/// One refused value: which field, why (a stable code), and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code,
            message: message.into(),
        }
    }

    /// The same refusal, reported under another field name (`email` inside a
    /// larger form, say).
    pub fn in_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A value that breaks a rule (HTTP 422).
    #[error("{0}")]
    Invalid(FieldError),
    /// The caller may see the target but lacks the permission (HTTP 403).
    #[error("you lack the permission {permission} on this organization")]
    Forbidden {
        permission: crate::permissions::Permission,
    },
    /// The change reaches a person's account, which is theirs in every
    /// organization they belong to, and the caller does not hold the right
    /// in all of them (HTTP 403 `member_elsewhere`,
    /// docs/RULES.md#shared-accounts).
    #[error(
        "this person also belongs to organizations you do not manage, and their name, e-mail address and sign-in are the same in all of them: only someone who manages all those organizations can change them (once activated, the person changes their own name under My account)"
    )]
    MemberElsewhere,
    /// The target does not exist or the caller may not see it (HTTP 404); the
    /// two are one answer so that nobody learns what exists elsewhere.
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// The change clashes with the current state (HTTP 409).
    #[error("{message}")]
    Conflict {
        code: &'static str,
        field: Option<String>,
        message: String,
    },
}

impl From<FieldError> for Error {
    fn from(e: FieldError) -> Self {
        Error::Invalid(e)
    }
}
