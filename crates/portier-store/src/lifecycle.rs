//! What changes in a person's lifecycle need beyond the database: where links
//! point, how long they work, and the mail templates.

use std::sync::Arc;
use std::time::Duration;

use portier_core::mail::MailTemplates;
use portier_core::secrets::TokenKind;

#[derive(Clone)]
pub struct Lifecycle {
    /// `PORTIER_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    pub activation_ttl: Duration,
    pub reset_ttl: Duration,
    pub templates: Arc<MailTemplates>,
    /// A register service is configured (`PORTIER_BIG_REGISTER_URL`): new
    /// registration numbers start `pending` until checked, else `unchecked`.
    pub register_checks: bool,
}

impl Lifecycle {
    /// The defaults (an activation link works 7 days, a reset link an hour:
    /// `TokenKind::default_ttl`) with the built-in templates.
    pub fn new(public_url: &str) -> Lifecycle {
        Lifecycle {
            public_url: public_url.trim_end_matches('/').to_owned(),
            activation_ttl: TokenKind::Activation.default_ttl(),
            reset_ttl: TokenKind::PasswordReset.default_ttl(),
            templates: Arc::new(MailTemplates::builtin()),
            register_checks: false,
        }
    }
}

impl std::fmt::Debug for Lifecycle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lifecycle")
            .field("public_url", &self.public_url)
            .field("activation_ttl", &self.activation_ttl)
            .field("reset_ttl", &self.reset_ttl)
            .field("register_checks", &self.register_checks)
            .finish_non_exhaustive()
    }
}
