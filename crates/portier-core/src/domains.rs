//! E-mail domains and self sign-up
//! (docs/RULES.md#self-sign-up-and-e-mail-domains): a person who signs up with
//! an address at a domain an environment has proven joins that environment
//! without rights; shared mail providers never count, and no one can claim
//! them; otherwise the person starts an environment of their own and
//! administers it.

use crate::FieldError;
use crate::email::Email;

/// A domain as stored: lower case, its ASCII (IDNA) form, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

impl DomainName {
    /// A domain typed by an administrator (`Example.NL`, `bücher.de.`).
    pub fn parse(field: &str, raw: &str) -> Result<DomainName, FieldError> {
        let raw = raw.trim().trim_start_matches('@');
        crate::email::parse_domain(raw)
            .map(DomainName)
            .map_err(|e| e.in_field(field))
    }

    /// The domain of an address.
    pub fn of(email: &Email) -> DomainName {
        DomainName(email.domain().to_owned())
    }

    /// A domain as read back from storage.
    pub fn from_stored(s: String) -> DomainName {
        DomainName(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name whose TXT record proves the domain: `_portier-challenge.<domain>`.
    pub fn challenge_name(&self) -> String {
        format!("_portier-challenge.{}", self.0)
    }

    /// A shared mail provider's domain (gmail.com, ziggo.nl, any gmx.*):
    /// many unrelated people use it, so it joins nobody to anything and
    /// cannot be claimed. `extra` adds the operator's own, in stored form
    /// (see [`DomainName::parse`]).
    pub fn is_public(&self, extra: &[String]) -> bool {
        let d = self.0.as_str();
        let labels: Vec<&str> = d.split('.').collect();
        // GMX's own: gmx.de, gmx.net, gmx.co.uk, gmx.com.tr …
        let gmx = labels[0] == "gmx"
            && (labels.len() == 2 || labels.len() == 3 && matches!(labels[1], "co" | "com"));
        PUBLIC_MAIL_DOMAINS.contains(&d) || gmx || extra.iter().any(|e| e == d)
    }
}

impl std::fmt::Display for DomainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Shared mail providers, international and Dutch (gmx.* is matched apart).
pub const PUBLIC_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "outlook.nl",
    "hotmail.com",
    "hotmail.nl",
    "live.com",
    "live.nl",
    "msn.com",
    "yahoo.com",
    "yahoo.nl",
    "ymail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "tutanota.com",
    "tuta.io",
    "zoho.com",
    "mail.com",
    "fastmail.com",
    "yandex.com",
    "web.de",
    "t-online.de",
    "ziggo.nl",
    "kpnmail.nl",
    "kpnplanet.nl",
    "planet.nl",
    "hetnet.nl",
    "home.nl",
    "xs4all.nl",
    "upcmail.nl",
    "chello.nl",
    "casema.nl",
    "quicknet.nl",
    "telfort.nl",
    "tele2.nl",
    "online.nl",
    "caiway.nl",
    "solcon.nl",
    "zeelandnet.nl",
    "freedom.nl",
    "onsbrabantnet.nl",
];

/// The addresses of a domain that can receive its proof by mail: those the
/// domain's owner controls by convention (RFC 2142), never an ordinary
/// person's mailbox.
pub const PROOF_MAILBOXES: [&str; 4] = ["admin", "postmaster", "webmaster", "hostmaster"];

/// How a domain was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The TXT record `_portier-challenge.<domain>` holds the claim's value.
    Dns,
    /// A link mailed to one of [`PROOF_MAILBOXES`] was followed.
    Mail,
}

impl Proof {
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::Dns => "dns",
            Proof::Mail => "mail",
        }
    }
}

/// The platform's sign-up setting (`PORTIER_SIGNUP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignupMode {
    /// Anyone: joins an environment by its proven domain, else starts one.
    Open,
    /// Only addresses at a domain an environment has proven.
    DomainsOnly,
    /// No self sign-up (the default: nothing changes for an installation).
    #[default]
    Off,
}

impl SignupMode {
    pub fn parse(s: &str) -> Option<SignupMode> {
        match s.trim() {
            "open" => Some(SignupMode::Open),
            "domains-only" => Some(SignupMode::DomainsOnly),
            "off" | "" => Some(SignupMode::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SignupMode::Open => "open",
            SignupMode::DomainsOnly => "domains-only",
            SignupMode::Off => "off",
        }
    }
}

/// Whether a TXT lookup proves a claim: one of the strings is its value
/// (surrounding spaces and quotes, which some DNS panels add, aside).
pub fn txt_proves(found: &[String], value: &str) -> bool {
    found
        .iter()
        .any(|t| t.trim().trim_matches('"').trim() == value)
}

/// An environment's name for someone who starts one without naming it:
/// their name, within the 200 characters an organization's name may have.
pub fn default_environment_name(given: &str, family: &str, email: &Email) -> String {
    let name = format!("{} {}", given.trim(), family.trim());
    let name = name.trim();
    let name = if name.is_empty() {
        email.as_str()
    } else {
        name
    };
    name.chars().take(200).collect::<String>().trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_stored_lower_case_in_ascii() {
        assert_eq!(
            DomainName::parse("domain", " Example.NL. ")
                .unwrap()
                .as_str(),
            "example.nl"
        );
        assert_eq!(
            DomainName::parse("domain", "@zorg.nl").unwrap().as_str(),
            "zorg.nl"
        );
        assert_eq!(
            DomainName::parse("domain", "bücher.de").unwrap().as_str(),
            "xn--bcher-kva.de"
        );
        let e = DomainName::parse("domain", "localhost").unwrap_err();
        assert_eq!(e.field, "domain");
        assert!(DomainName::parse("domain", "a..nl").is_err());
        assert_eq!(
            DomainName::parse("domain", "zorg.nl")
                .unwrap()
                .challenge_name(),
            "_portier-challenge.zorg.nl"
        );
    }

    #[test]
    fn shared_mail_providers_are_public_and_the_operator_adds_more() {
        let d = |s: &str| DomainName::parse("domain", s).unwrap();
        for public in [
            "gmail.com",
            "Outlook.com",
            "ziggo.nl",
            "gmx.de",
            "gmx.net",
            "xs4all.nl",
        ] {
            assert!(d(public).is_public(&[]), "{public}");
        }
        for public in ["gmx.co.uk", "gmx.com.tr"] {
            assert!(d(public).is_public(&[]), "{public}");
        }
        for own in ["ziekenhuis.nl", "gmx.example.nl", "mail.gmail.com.evil.nl"] {
            assert!(!d(own).is_public(&[]), "{own}");
        }
        assert!(d("kliniek-mail.nl").is_public(&["kliniek-mail.nl".to_owned()]));
        let long = "x".repeat(150);
        let email = Email::parse("a@b.nl").unwrap();
        assert_eq!(
            default_environment_name(&long, &long, &email)
                .chars()
                .count(),
            200
        );
        assert_eq!(default_environment_name(" ", "", &email), "a@b.nl");
    }

    #[test]
    fn a_txt_record_proves_only_its_own_value() {
        let found = vec!["v=spf1 -all".to_owned(), "\"abc123\"".to_owned()];
        assert!(txt_proves(&found, "abc123"));
        assert!(!txt_proves(&found, "abc12"));
        assert!(!txt_proves(&[], "abc123"));
    }

    #[test]
    fn the_sign_up_setting_is_off_unless_said() {
        assert_eq!(SignupMode::default(), SignupMode::Off);
        assert_eq!(
            SignupMode::parse("domains-only"),
            Some(SignupMode::DomainsOnly)
        );
        assert_eq!(SignupMode::parse("yes"), None);
    }

    #[test]
    fn every_sign_up_setting_reads_back_from_its_name() {
        let all = [SignupMode::Open, SignupMode::DomainsOnly, SignupMode::Off];
        for mode in all {
            // A new setting fails to compile here until it is listed above.
            match mode {
                SignupMode::Open | SignupMode::DomainsOnly | SignupMode::Off => {}
            }
            assert_eq!(SignupMode::parse(mode.as_str()), Some(mode));
            assert_eq!(
                SignupMode::parse(&format!(" {} ", mode.as_str())),
                Some(mode)
            );
        }
        assert_eq!(all.map(SignupMode::as_str), ["open", "domains-only", "off"]);
        assert_eq!(SignupMode::parse(""), Some(SignupMode::Off), "unset");
        assert_eq!(SignupMode::parse("domains_only"), None);
        assert_eq!(SignupMode::parse("Open"), None);
    }

    #[test]
    fn each_kind_of_proof_has_its_own_name() {
        let all = [Proof::Dns, Proof::Mail];
        for proof in all {
            // A new kind fails to compile here until it is listed above.
            match proof {
                Proof::Dns | Proof::Mail => {}
            }
        }
        assert_eq!(all.map(Proof::as_str), ["dns", "mail"]);
    }
}
