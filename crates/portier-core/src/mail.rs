//! The mail Portier sends, rendered from templates in English and Dutch, as
//! plain text and HTML. The templates ship in the binary; an operator may
//! replace any of them (`<kind>.<locale>.<subject|txt|html>`). Rendering is pure:
//! storage queues the result in the outbox with the change that caused it.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serialize;

use crate::locale::Locale;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailKind {
    /// The activation link for a new account
    /// (docs/RULES.md#invitations-and-activation).
    Invitation,
    /// An existing, active account was added to another organization.
    Added,
    /// The password-reset link (docs/RULES.md#signing-in-and-sessions).
    PasswordReset,
    /// A recovery code was used to sign in (docs/RULES.md#two-step-verification).
    RecoveryCodeUsed,
    /// An administrator took the person's second factors away
    /// (docs/RULES.md#two-step-verification).
    TwoFactorReset,
    /// A passkey was added to the person's account
    /// (docs/RULES.md#two-step-verification): if it was not them, someone
    /// else can now sign in as them.
    PasskeyAdded,
    /// The link that confirms a sign-up's address
    /// (docs/RULES.md#self-sign-up-and-e-mail-domains).
    SignupConfirm,
    /// Someone signed up with an address that has an account already: the
    /// owner is told, and nothing else happens (no enumeration).
    SignupExists,
    /// Self sign-up is only for addresses at an organization's proven domain.
    SignupUnavailable,
    /// The link that proves a domain, to one of its administrative mailboxes.
    DomainProof,
    /// To an environment's administrators: someone joined by their domain
    /// (`email` holds the newcomer's address).
    MemberJoined,
}

impl MailKind {
    pub const ALL: [MailKind; 11] = [
        MailKind::Invitation,
        MailKind::Added,
        MailKind::PasswordReset,
        MailKind::RecoveryCodeUsed,
        MailKind::TwoFactorReset,
        MailKind::PasskeyAdded,
        MailKind::SignupConfirm,
        MailKind::SignupExists,
        MailKind::SignupUnavailable,
        MailKind::DomainProof,
        MailKind::MemberJoined,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Invitation => "invitation",
            MailKind::Added => "added",
            MailKind::PasswordReset => "password_reset",
            MailKind::RecoveryCodeUsed => "recovery_code_used",
            MailKind::TwoFactorReset => "two_factor_reset",
            MailKind::PasskeyAdded => "passkey_added",
            MailKind::SignupConfirm => "signup_confirm",
            MailKind::SignupExists => "signup_exists",
            MailKind::SignupUnavailable => "signup_unavailable",
            MailKind::DomainProof => "domain_proof",
            MailKind::MemberJoined => "member_joined",
        }
    }
}

/// What a template may use.
#[derive(Debug, Clone, Serialize)]
pub struct MailContext {
    /// The person's name, when known.
    pub name: Option<String>,
    pub email: String,
    pub organization: String,
    pub link: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A message ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/mail/", $name)))),*]
    };
}

const BUILTIN: &[(&str, &str)] = builtin![
    "invitation.en.subject",
    "invitation.en.txt",
    "invitation.en.html",
    "invitation.nl.subject",
    "invitation.nl.txt",
    "invitation.nl.html",
    "added.en.subject",
    "added.en.txt",
    "added.en.html",
    "added.nl.subject",
    "added.nl.txt",
    "added.nl.html",
    "password_reset.en.subject",
    "password_reset.en.txt",
    "password_reset.en.html",
    "password_reset.nl.subject",
    "password_reset.nl.txt",
    "password_reset.nl.html",
    "recovery_code_used.en.subject",
    "recovery_code_used.en.txt",
    "recovery_code_used.en.html",
    "recovery_code_used.nl.subject",
    "recovery_code_used.nl.txt",
    "recovery_code_used.nl.html",
    "two_factor_reset.en.subject",
    "two_factor_reset.en.txt",
    "two_factor_reset.en.html",
    "two_factor_reset.nl.subject",
    "two_factor_reset.nl.txt",
    "two_factor_reset.nl.html",
    "passkey_added.en.subject",
    "passkey_added.en.txt",
    "passkey_added.en.html",
    "passkey_added.nl.subject",
    "passkey_added.nl.txt",
    "passkey_added.nl.html",
    "signup_confirm.en.subject",
    "signup_confirm.en.txt",
    "signup_confirm.en.html",
    "signup_confirm.nl.subject",
    "signup_confirm.nl.txt",
    "signup_confirm.nl.html",
    "signup_exists.en.subject",
    "signup_exists.en.txt",
    "signup_exists.en.html",
    "signup_exists.nl.subject",
    "signup_exists.nl.txt",
    "signup_exists.nl.html",
    "signup_unavailable.en.subject",
    "signup_unavailable.en.txt",
    "signup_unavailable.en.html",
    "signup_unavailable.nl.subject",
    "signup_unavailable.nl.txt",
    "signup_unavailable.nl.html",
    "domain_proof.en.subject",
    "domain_proof.en.txt",
    "domain_proof.en.html",
    "domain_proof.nl.subject",
    "domain_proof.nl.txt",
    "domain_proof.nl.html",
    "member_joined.en.subject",
    "member_joined.en.txt",
    "member_joined.en.html",
    "member_joined.nl.subject",
    "member_joined.nl.txt",
    "member_joined.nl.html",
];

/// The template set: the built-ins, with any overrides an operator supplied.
pub struct MailTemplates {
    env: minijinja::Environment<'static>,
}

impl MailTemplates {
    pub fn builtin() -> MailTemplates {
        MailTemplates::with_overrides(Vec::new()).unwrap_or_else(|_| MailTemplates {
            env: minijinja::Environment::new(),
        })
    }

    /// Built-ins replaced by `overrides` (name, source). An unknown name or a
    /// template that does not parse is refused with the name and the reason.
    pub fn with_overrides(overrides: Vec<(String, String)>) -> Result<MailTemplates, String> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // `.html` templates escape what they insert; text and subjects do not.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        for (name, source) in BUILTIN {
            env.add_template(name, source)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        for (name, source) in overrides {
            if !BUILTIN.iter().any(|(n, _)| *n == name) {
                return Err(format!(
                    "{name}: no such template (names are <kind>.<en|nl>.<subject|txt|html>)"
                ));
            }
            env.add_template_owned(name.clone(), source)
                .map_err(|e| format!("{name}: {e}"))?;
        }
        let templates = MailTemplates { env };
        // Render every template once with sample values, so a broken override
        // stops the start instead of a mail.
        for kind in MailKind::ALL {
            for locale in Locale::ALL {
                templates.render(kind, locale, &MailContext::sample())?;
            }
        }
        Ok(templates)
    }

    pub fn render(
        &self,
        kind: MailKind,
        locale: Locale,
        ctx: &MailContext,
    ) -> Result<Rendered, String> {
        let expires = ctx.expires_at.map(|t| format_moment(t, locale));
        let value = minijinja::context! {
            name => &ctx.name, email => &ctx.email, organization => &ctx.organization,
            link => &ctx.link, expires_at => expires,
        };
        let part = |ext: &str| -> Result<String, String> {
            let name = format!("{}.{}.{ext}", kind.as_str(), locale.as_str());
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&value))
                .map_err(|e| format!("{name}: {e}"))
        };
        // A subject is one line whatever a template or a name contains.
        let subject = part("subject")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Rendered {
            subject,
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

impl MailContext {
    fn sample() -> MailContext {
        MailContext {
            name: Some("Jan van der Berg".into()),
            email: "jan@example.nl".into(),
            organization: "Example".into(),
            link: "https://portier.example/activate/x".into(),
            expires_at: Some(DateTime::<Utc>::UNIX_EPOCH),
        }
    }
}

/// How many delivery attempts a message gets before it is marked failed,
/// which administrators see as "invitation not delivered".
pub const MAX_ATTEMPTS: i32 = 8;

/// When to try again after failed attempt number `attempts` (1-based):
/// 30 s, 1 min, 2 min, … doubling up to an hour; `None` after the last.
pub fn retry_delay(attempts: i32) -> Option<std::time::Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = u32::try_from(attempts.max(1) - 1).unwrap_or(0).min(12);
    Some(std::time::Duration::from_secs(
        (30u64 << doublings).min(3600),
    ))
}

/// "29 November 2026, 17:00 UTC" or "29 november 2026, 17:00 UTC".
pub fn format_moment(t: DateTime<Utc>, locale: Locale) -> String {
    const EN: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const NL: [&str; 12] = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    let months = match locale {
        Locale::En => EN,
        Locale::Nl => NL,
    };
    let month = months[t.month0() as usize];
    format!(
        "{} {month} {}, {:02}:{:02} UTC",
        t.day(),
        t.year(),
        t.hour(),
        t.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(name: Option<&str>) -> MailContext {
        MailContext {
            name: name.map(Into::into),
            email: "jan@example.nl".into(),
            organization: "Ziekenhuis <Oost>".into(),
            link: "https://id.example.nl/activate/abc".into(),
            expires_at: Some("2026-11-29T17:00:00Z".parse().unwrap()),
        }
    }

    #[test]
    fn the_invitation_carries_the_link_and_expiry_in_the_persons_language() {
        let t = MailTemplates::builtin();
        let en = t
            .render(MailKind::Invitation, Locale::En, &ctx(Some("Jan")))
            .unwrap();
        assert_eq!(en.subject, "Activate your account at Ziekenhuis <Oost>");
        assert!(en.text.contains("https://id.example.nl/activate/abc"));
        assert!(en.text.contains("29 November 2026, 17:00 UTC"));
        assert!(en.text.starts_with("Hello Jan,"));
        let nl = t
            .render(MailKind::Invitation, Locale::Nl, &ctx(None))
            .unwrap();
        assert_eq!(nl.subject, "Activeer je account bij Ziekenhuis <Oost>");
        assert!(nl.text.starts_with("Hallo,"));
        assert!(nl.text.contains("29 november 2026"));
    }

    #[test]
    fn html_escapes_what_it_inserts_and_text_does_not() {
        let r = MailTemplates::builtin()
            .render(MailKind::Added, Locale::En, &ctx(Some("<script>")))
            .unwrap();
        assert!(r.html.contains("Ziekenhuis &lt;Oost&gt;"));
        assert!(r.html.contains("&lt;script&gt;"));
        assert!(r.text.contains("Ziekenhuis <Oost>"));
    }

    #[test]
    fn operators_can_replace_a_template_but_not_break_one() {
        let t = MailTemplates::with_overrides(vec![(
            "password_reset.en.subject".into(),
            "Reset for {{ email }}".into(),
        )])
        .unwrap();
        assert_eq!(
            t.render(MailKind::PasswordReset, Locale::En, &ctx(None))
                .unwrap()
                .subject,
            "Reset for jan@example.nl"
        );
        let e = MailTemplates::with_overrides(vec![("invitation.fr.txt".into(), "x".into())])
            .err()
            .unwrap();
        assert!(e.contains("invitation.fr.txt"));
        let e = MailTemplates::with_overrides(vec![(
            "invitation.en.txt".into(),
            "{{ nonsense }}".into(),
        )])
        .err()
        .unwrap();
        assert!(e.starts_with("invitation.en.txt"), "{e}");
        let e =
            MailTemplates::with_overrides(vec![("invitation.en.txt".into(), "{% if %}".into())])
                .err()
                .unwrap();
        assert!(e.starts_with("invitation.en.txt"), "{e}");
    }

    #[test]
    fn failed_deliveries_back_off_exponentially_then_give_up() {
        let secs: Vec<u64> = (1..MAX_ATTEMPTS)
            .map(|n| retry_delay(n).unwrap().as_secs())
            .collect();
        assert_eq!(secs, vec![30, 60, 120, 240, 480, 960, 1920]);
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
        assert_eq!(retry_delay(0).unwrap().as_secs(), 30);
    }

    #[test]
    fn a_subject_is_always_one_line() {
        let t = MailTemplates::with_overrides(vec![(
            "added.en.subject".into(),
            "Welcome\n{{ organization }}\r\nBcc: x@y".into(),
        )])
        .unwrap();
        assert_eq!(
            t.render(MailKind::Added, Locale::En, &ctx(None))
                .unwrap()
                .subject,
            "Welcome Ziekenhuis <Oost> Bcc: x@y"
        );
    }

    /// A kind's name is its templates' name (`<kind>.<locale>.<part>`), the
    /// one an operator's override uses.
    #[test]
    fn every_kind_of_mail_has_its_own_name_and_templates() {
        for kind in MailKind::ALL {
            // A new kind fails to compile here until ALL lists it.
            match kind {
                MailKind::Invitation
                | MailKind::Added
                | MailKind::PasswordReset
                | MailKind::RecoveryCodeUsed
                | MailKind::TwoFactorReset
                | MailKind::PasskeyAdded
                | MailKind::SignupConfirm
                | MailKind::SignupExists
                | MailKind::SignupUnavailable
                | MailKind::DomainProof
                | MailKind::MemberJoined => {}
            }
            for locale in Locale::ALL {
                for part in ["subject", "txt", "html"] {
                    let name = format!("{}.{}.{part}", kind.as_str(), locale.as_str());
                    assert!(BUILTIN.iter().any(|(n, _)| *n == name), "{name}");
                }
            }
        }
        assert_eq!(
            MailKind::ALL.map(MailKind::as_str),
            [
                "invitation",
                "added",
                "password_reset",
                "recovery_code_used",
                "two_factor_reset",
                "passkey_added",
                "signup_confirm",
                "signup_exists",
                "signup_unavailable",
                "domain_proof",
                "member_joined",
            ]
        );
        assert_eq!(BUILTIN.len(), MailKind::ALL.len() * Locale::ALL.len() * 3);
    }
}
