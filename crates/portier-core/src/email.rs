//! E-mail addresses. An [`Email`] can only be made by [`Email::parse`], which
//! normalizes (trims, lower-cases, turns the domain into its IDNA ASCII form) and
//! refuses with a reason a person can act on. One normalized address is one
//! account (docs/RULES.md#shared-accounts).

use std::fmt;

use serde::{Serialize, Serializer};

use crate::FieldError;

/// A normalized, valid e-mail address.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// Why an address was refused. Each has a stable code and a message that says
/// what to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailError {
    Empty,
    TooLong,
    InnerWhitespace,
    DisplayName,
    MissingAt,
    SeveralAts,
    EmptyLocalPart,
    LocalPartTooLong,
    QuotedLocalPart,
    LocalPartDots,
    LocalPartCharacter(char),
    /// Compatibility forms (full-width letters, ligatures) that Unicode
    /// folds to other characters: the same address could be typed two ways.
    LocalPartLookAlike,
    EmptyDomain,
    DomainLiteral,
    DomainWithoutDot,
    DomainInvalid(String),
}

impl EmailError {
    pub fn code(&self) -> &'static str {
        match self {
            EmailError::Empty => "email_empty",
            EmailError::TooLong => "email_too_long",
            EmailError::InnerWhitespace => "email_whitespace",
            EmailError::DisplayName => "email_display_name",
            EmailError::MissingAt => "email_missing_at",
            EmailError::SeveralAts => "email_several_at",
            EmailError::EmptyLocalPart => "email_local_part_empty",
            EmailError::LocalPartTooLong => "email_local_part_too_long",
            EmailError::QuotedLocalPart => "email_quoted",
            EmailError::LocalPartDots => "email_local_part_dots",
            EmailError::LocalPartCharacter(_) => "email_character",
            EmailError::LocalPartLookAlike => "email_look_alike",
            EmailError::EmptyDomain => "email_domain_empty",
            EmailError::DomainLiteral => "email_domain_literal",
            EmailError::DomainWithoutDot => "email_domain_without_dot",
            EmailError::DomainInvalid(_) => "email_domain_invalid",
        }
    }

    pub fn message(&self) -> String {
        match self {
            EmailError::Empty => "enter an e-mail address".into(),
            EmailError::TooLong => {
                "the address is longer than the 254 characters e-mail allows".into()
            }
            EmailError::InnerWhitespace => "the address contains a space; remove it".into(),
            EmailError::DisplayName => {
                "enter only the address itself, without a name or angle brackets".into()
            }
            EmailError::MissingAt => {
                "the address needs an @ between the name and the domain".into()
            }
            EmailError::SeveralAts => "the address contains more than one @".into(),
            EmailError::EmptyLocalPart => "the part before the @ is missing".into(),
            EmailError::LocalPartTooLong => {
                "the part before the @ is longer than the 64 characters e-mail allows".into()
            }
            EmailError::QuotedLocalPart => "quoted addresses are not supported".into(),
            EmailError::LocalPartDots => {
                "the part before the @ cannot start or end with a dot or have two dots in a row"
                    .into()
            }
            EmailError::LocalPartCharacter(c) => {
                format!("the character \"{c}\" is not allowed before the @")
            }
            EmailError::LocalPartLookAlike => "the part before the @ uses look-alike characters (such as full-width letters); type it with ordinary letters".into(),
            EmailError::EmptyDomain => "the domain after the @ is missing".into(),
            EmailError::DomainLiteral => "use a domain name after the @, not an IP address".into(),
            EmailError::DomainWithoutDot => {
                "the domain after the @ is incomplete (for example example.com)".into()
            }
            EmailError::DomainInvalid(why) => format!("the domain after the @ is not valid: {why}"),
        }
    }

    pub fn in_field(&self, field: &str) -> FieldError {
        FieldError::new(field, self.code(), self.message())
    }
}

impl fmt::Display for EmailError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for EmailError {}

/// The printable ASCII characters RFC 5322 allows in an unquoted local part,
/// besides letters and digits.
const LOCAL_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~.";

impl Email {
    /// Normalizes and validates. Spaces around the address are removed, not
    /// refused: stray spaces are the most common mistake
    /// (docs/RULES.md#addresses).
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        // Zero-width and byte-order marks come along when addresses are pasted.
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{FEFF}'))
            .collect();
        let s = cleaned.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.contains('<') || s.contains('>') {
            return Err(EmailError::DisplayName);
        }
        if s.chars().any(char::is_whitespace) {
            return Err(EmailError::InnerWhitespace);
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(EmailError::MissingAt);
        };
        if local.starts_with('"') {
            return Err(EmailError::QuotedLocalPart);
        }
        if local.contains('@') {
            return Err(EmailError::SeveralAts);
        }
        let local = parse_local_part(local)?;
        let domain = parse_domain(domain)?;
        let address = format!("{local}@{domain}");
        if address.len() > 254 {
            return Err(EmailError::TooLong);
        }
        Ok(Email(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    /// The domain in its ASCII (IDNA) form, as stored.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// True when the part before the @ mixes writing systems (Latin with
    /// Cyrillic, say): often a look-alike of another person's address, so
    /// it is accepted with a warning (docs/RULES.md#addresses).
    pub fn mixes_scripts(&self) -> bool {
        let mut scripts = self.local_part().chars().filter_map(script);
        let Some(first) = scripts.next() else {
            return false;
        };
        scripts.any(|s| s != first)
    }

    /// True for role addresses that several people read (`info@`, `support@` …).
    /// Accounts on a shared address make changes unattributable, so Portier
    /// accepts them with a warning (docs/RULES.md#adding-members).
    pub fn is_shared_mailbox(&self) -> bool {
        let local = self.local_part();
        // `info+team@` is still the info mailbox.
        let base = local.split('+').next().unwrap_or(local);
        SHARED_MAILBOXES.contains(&base)
    }
}

/// Local parts that name a function rather than a person, in English and Dutch.
pub const SHARED_MAILBOXES: &[&str] = &[
    "abuse",
    "accounts",
    "admin",
    "administratie",
    "administrator",
    "billing",
    "contact",
    "finance",
    "financien",
    "hello",
    "help",
    "helpdesk",
    "hostmaster",
    "hr",
    "info",
    "informatie",
    "kantoor",
    "mail",
    "marketing",
    "no-reply",
    "noreply",
    "do-not-reply",
    "donotreply",
    "office",
    "planning",
    "post",
    "postmaster",
    "receptie",
    "reception",
    "sales",
    "secretariaat",
    "secretariat",
    "service",
    "servicedesk",
    "support",
    "team",
    "webmaster",
    "klantenservice",
];

fn parse_local_part(local: &str) -> Result<String, EmailError> {
    if local.is_empty() {
        return Err(EmailError::EmptyLocalPart);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(EmailError::LocalPartDots);
    }
    for c in local.chars() {
        let allowed = c.is_ascii_alphanumeric()
            || LOCAL_SPECIALS.contains(c)
            // RFC 6531: internationalized local parts; letters and digits only.
            || (!c.is_ascii() && c.is_alphanumeric());
        if !allowed {
            return Err(EmailError::LocalPartCharacter(c));
        }
    }
    // docs/RULES.md#addresses: one person, one way to write their address.
    use unicode_normalization::UnicodeNormalization;
    if !local.is_ascii() && local.nfkc().ne(local.chars()) {
        return Err(EmailError::LocalPartLookAlike);
    }
    let lowered = local.to_lowercase();
    if lowered.len() > 64 {
        return Err(EmailError::LocalPartTooLong);
    }
    Ok(lowered)
}

/// The writing system of a letter, broadly: enough to see an address that
/// mixes Latin with Cyrillic or Greek letters that look the same.
fn script(c: char) -> Option<u8> {
    if !c.is_alphabetic() {
        return None;
    }
    Some(match c as u32 {
        0x0000..=0x024F | 0x1E00..=0x1EFF => 0,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => 1,
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => 2,
        // Any other script counts as its own block of 128.
        other => 3 + (other / 128 % 250) as u8,
    })
}

pub(crate) fn parse_domain(domain: &str) -> Result<String, EmailError> {
    // A trailing dot (fully qualified form) names the same domain.
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    if domain.starts_with('[') {
        return Err(EmailError::DomainLiteral);
    }
    let ascii = idna::domain_to_ascii(domain).map_err(|_| {
        EmailError::DomainInvalid("it contains characters a domain cannot hold".into())
    })?;
    if ascii.is_empty() {
        return Err(EmailError::EmptyDomain);
    }
    if ascii.len() > 253 {
        return Err(EmailError::DomainInvalid(
            "it is longer than 253 characters".into(),
        ));
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(EmailError::DomainWithoutDot);
    }
    for label in &labels {
        if label.is_empty() {
            return Err(EmailError::DomainInvalid("it has two dots in a row".into()));
        }
        if label.len() > 63 {
            return Err(EmailError::DomainInvalid(
                "one of its parts is longer than 63 characters".into(),
            ));
        }
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(EmailError::DomainInvalid(format!(
                "\"{label}\" contains a character a domain cannot hold"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailError::DomainInvalid(format!(
                "\"{label}\" starts or ends with a hyphen"
            )));
        }
    }
    let tld = labels[labels.len() - 1];
    if tld.chars().all(|c| c.is_ascii_digit()) {
        return Err(EmailError::DomainLiteral);
    }
    Ok(ascii)
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn letters_of_other_scripts_count_by_their_block_of_128() {
        // Thai (U+0E01) and a CJK letter 256 blocks further on (U+8E00): two
        // writing systems, however the block numbers wrap.
        let two = Email::parse("\u{0E01}\u{8E00}@example.com").unwrap();
        assert!(two.mixes_scripts());
        let one = Email::parse("\u{0E01}\u{0E02}@example.com").unwrap();
        assert!(!one.mixes_scripts());
    }

    use super::*;
    use proptest::prelude::*;

    fn ok(raw: &str) -> String {
        Email::parse(raw)
            .unwrap_or_else(|e| panic!("{raw:?} refused: {e}"))
            .into_string()
    }

    fn refused(raw: &str) -> EmailError {
        Email::parse(raw).expect_err(raw)
    }

    #[test]
    fn look_alike_letters_are_refused_and_mixed_scripts_noticed() {
        // Full-width letters and ligatures fold to ordinary ones.
        assert_eq!(refused("ｊａｎ@example.nl"), EmailError::LocalPartLookAlike);
        assert_eq!(
            refused("\u{FB01}ona@example.nl"),
            EmailError::LocalPartLookAlike
        );
        assert_eq!(refused("jan\u{FF11}@example.nl").code(), "email_look_alike");
        // Cyrillic а (U+0430) beside Latin letters: accepted, but noticed.
        let mixed = Email::parse("j\u{0430}n@example.nl").unwrap();
        assert!(mixed.mixes_scripts());
        for plain in [
            "jan@example.nl",
            "jörg.müller@example.de",
            "\u{0438}\u{0432}\u{0430}\u{043D}@example.ru",
            "jan2@example.nl",
        ] {
            assert!(!Email::parse(plain).unwrap().mixes_scripts(), "{plain}");
        }
    }

    #[test]
    fn spaces_around_the_address_are_removed() {
        assert_eq!(ok("  Jan.Jansen@Example.NL \t"), "jan.jansen@example.nl");
        assert_eq!(ok("\u{200B}jan@example.nl\u{FEFF}"), "jan@example.nl");
    }

    #[test]
    fn international_domains_are_stored_in_ascii_form() {
        assert_eq!(ok("anne@bücher.de"), "anne@xn--bcher-kva.de");
        assert_eq!(ok("anne@BÜCHER.de."), "anne@xn--bcher-kva.de");
    }

    #[test]
    fn plus_tags_and_specials_are_kept() {
        assert_eq!(
            ok("o'brien+portier@example.com"),
            "o'brien+portier@example.com"
        );
    }

    #[test]
    fn each_mistake_gets_its_own_reason() {
        assert_eq!(refused("   "), EmailError::Empty);
        assert_eq!(
            refused("jan jansen@example.nl"),
            EmailError::InnerWhitespace
        );
        assert_eq!(refused("Jan <jan@example.nl>"), EmailError::DisplayName);
        assert_eq!(refused("jan.example.nl"), EmailError::MissingAt);
        assert_eq!(refused("jan@@example.nl"), EmailError::SeveralAts);
        assert_eq!(refused("@example.nl"), EmailError::EmptyLocalPart);
        assert_eq!(refused("jan@"), EmailError::EmptyDomain);
        assert_eq!(refused("jan@localhost"), EmailError::DomainWithoutDot);
        assert_eq!(refused("jan@[127.0.0.1]"), EmailError::DomainLiteral);
        assert_eq!(refused("jan@127.0.0.1"), EmailError::DomainLiteral);
        assert_eq!(refused(".jan@example.nl"), EmailError::LocalPartDots);
        assert_eq!(refused("jan..j@example.nl"), EmailError::LocalPartDots);
        assert_eq!(refused("\"jan\"@example.nl"), EmailError::QuotedLocalPart);
        assert_eq!(
            refused("jan,j@example.nl"),
            EmailError::LocalPartCharacter(',')
        );
        assert!(matches!(
            refused("jan@exa_mple.nl"),
            EmailError::DomainInvalid(_)
        ));
        assert!(matches!(
            refused("jan@-example.nl"),
            EmailError::DomainInvalid(_)
        ));
        assert!(matches!(
            refused("jan@example..nl"),
            EmailError::DomainInvalid(_)
        ));
        assert_eq!(
            refused(&format!("{}@example.nl", "a".repeat(65))),
            EmailError::LocalPartTooLong
        );
        let long_domain = format!("{}.nl", vec!["a".repeat(60); 5].join("."));
        assert_eq!(
            refused(&format!("jan@{long_domain}")),
            EmailError::DomainInvalid("it is longer than 253 characters".into())
        );
    }

    #[test]
    fn refusals_name_the_field_they_concern() {
        let e = refused("jan").in_field("email");
        assert_eq!(e.field, "email");
        assert_eq!(e.code, "email_missing_at");
        assert!(e.message.contains('@'));
    }

    #[test]
    fn shared_mailboxes_are_recognized() {
        for shared in [
            "info@acme.nl",
            "Admin@acme.nl",
            "support+x@acme.nl",
            "noreply@acme.nl",
            "office@acme.nl",
        ] {
            assert!(
                Email::parse(shared).unwrap().is_shared_mailbox(),
                "{shared}"
            );
        }
        for personal in [
            "jan@acme.nl",
            "information.desk.jan@acme.nl",
            "infojan@acme.nl",
        ] {
            assert!(
                !Email::parse(personal).unwrap().is_shared_mailbox(),
                "{personal}"
            );
        }
    }

    /// A domain of exactly `len` characters: labels of 63 (the most one may
    /// have) and a shorter one, ending in `.nl`.
    fn domain_of(len: usize) -> String {
        let mut labels = Vec::new();
        // Each label with the dot after it, then `nl`.
        let mut left = len - "nl".len();
        for letter in ['d', 'e', 'f', 'g'] {
            if left == 0 {
                break;
            }
            let label = (left - 1).min(63);
            labels.push(letter.to_string().repeat(label));
            left -= label + 1;
        }
        let domain = format!("{}.nl", labels.join("."));
        assert_eq!(domain.len(), len, "{domain}");
        domain
    }

    /// RFC 5321 allows 254 characters for the whole address
    /// (docs/RULES.md#addresses): 64 before the @, the @, 189 after it is
    /// exactly the limit.
    #[test]
    fn an_address_of_254_characters_is_accepted_and_one_of_255_refused() {
        let local = "a".repeat(64);
        let at_limit = format!("{local}@{}", domain_of(189));
        assert_eq!(at_limit.len(), 254);
        assert_eq!(ok(&at_limit), at_limit);
        let over = format!("{local}@{}", domain_of(190));
        assert_eq!(over.len(), 255);
        assert_eq!(refused(&over), EmailError::TooLong);
        assert_eq!(refused(&over).code(), "email_too_long");
        assert!(refused(&over).message().contains("254"));
    }

    #[test]
    fn the_address_limit_counts_the_stored_form_not_what_was_typed() {
        let local = "a".repeat(64);
        // Spaces around it and the domain's trailing dot are not stored.
        let at_limit = format!("{local}@{}", domain_of(189));
        assert_eq!(ok(&format!("  {at_limit}.  ")), at_limit);
        // `bücher` is stored as `xn--bcher-kva`: seven characters more.
        let typed = format!("{local}@bücher.{}", domain_of(182));
        assert_eq!(typed.chars().count(), 254);
        assert_eq!(refused(&typed), EmailError::TooLong);
        let shorter = format!("{local}@bücher.{}", domain_of(175));
        assert_eq!(ok(&shorter).len(), 254);
    }

    #[test]
    fn a_local_part_of_64_characters_is_accepted_and_one_of_65_refused() {
        let at_limit = format!("{}@example.nl", "a".repeat(64));
        assert_eq!(ok(&at_limit), at_limit);
        // Counted after lower-casing.
        assert_eq!(ok(&format!("{}@example.nl", "A".repeat(64))), at_limit);
        let over = refused(&format!("{}@example.nl", "a".repeat(65)));
        assert_eq!(over, EmailError::LocalPartTooLong);
        assert_eq!(over.code(), "email_local_part_too_long");
        assert!(over.message().contains("64"));
    }

    /// The limit is RFC 5321's 64 octets, which RFC 6531 keeps for UTF-8:
    /// a letter such as ö takes two of them.
    #[test]
    fn the_local_part_limit_counts_bytes_so_non_ascii_letters_count_double() {
        let at_limit = format!("{}@example.de", "ö".repeat(32));
        assert_eq!(ok(&at_limit), at_limit);
        assert_eq!(
            refused(&format!("{}@example.de", "ö".repeat(33))),
            EmailError::LocalPartTooLong
        );
        assert_eq!(
            refused(&format!("{}@example.de", "Ö".repeat(33))),
            EmailError::LocalPartTooLong
        );
    }

    #[test]
    fn a_domain_label_of_63_characters_is_accepted_and_one_of_64_refused() {
        let at_limit = format!("jan@{}.nl", "a".repeat(63));
        assert_eq!(ok(&at_limit), at_limit);
        assert_eq!(
            ok(&format!("jan@{}.example.nl", "b".repeat(63))).len(),
            4 + 63 + 11
        );
        let over = refused(&format!("jan@{}.nl", "a".repeat(64)));
        assert_eq!(
            over,
            EmailError::DomainInvalid("one of its parts is longer than 63 characters".into())
        );
        assert_eq!(over.code(), "email_domain_invalid");
        assert_eq!(
            refused(&format!("jan@example.{}", "n".repeat(64))).code(),
            "email_domain_invalid",
            "the last label too"
        );
    }

    /// A domain holds at most 253 characters. No address with one that
    /// long fits in 254, so the domain's own limit shows where domains are
    /// read alone (e-mail domains an environment claims).
    #[test]
    fn a_domain_of_253_characters_is_accepted_and_one_of_254_refused() {
        let at_limit = domain_of(253);
        assert_eq!(parse_domain(&at_limit), Ok(at_limit.clone()));
        assert_eq!(
            parse_domain(&domain_of(254)),
            Err(EmailError::DomainInvalid(
                "it is longer than 253 characters".into()
            ))
        );
        assert_eq!(refused(&format!("j@{at_limit}")), EmailError::TooLong);
    }

    #[test]
    fn a_name_or_a_single_angle_bracket_is_refused_as_a_display_name() {
        assert_eq!(refused("<jan@example.nl"), EmailError::DisplayName);
        assert_eq!(refused("jan@example.nl>"), EmailError::DisplayName);
        assert_eq!(refused("<jan@example.nl>").code(), "email_display_name");
    }

    #[test]
    fn a_local_part_may_not_end_with_a_dot_but_may_hold_one_inside() {
        assert_eq!(refused("jan.@example.nl"), EmailError::LocalPartDots);
        assert_eq!(refused("jan.@example.nl").code(), "email_local_part_dots");
        assert_eq!(refused(".@example.nl"), EmailError::LocalPartDots);
        assert_eq!(ok("jan.j.jansen@example.nl"), "jan.j.jansen@example.nl");
    }

    #[test]
    fn every_special_character_rfc_5322_allows_unquoted_is_kept() {
        let local = "a!#$%&'*+-/=?^_`{|}~.b";
        assert_eq!(
            ok(&format!("{local}@example.nl")),
            format!("{local}@example.nl")
        );
        for bad in ['(', ')', ',', ':', ';', '[', ']', '\\'] {
            assert_eq!(
                refused(&format!("jan{bad}j@example.nl")),
                EmailError::LocalPartCharacter(bad),
                "{bad}"
            );
        }
    }

    /// RFC 6531: a local part may be written in any alphabet, letters and
    /// digits only, and is lower-cased like an ASCII one
    /// (docs/RULES.md#addresses).
    #[test]
    fn non_ascii_letters_before_the_at_are_accepted_and_lower_cased() {
        assert_eq!(ok("JÖRG.Müller@example.de"), "jörg.müller@example.de");
        assert_eq!(ok("ИВАН@example.ru"), "иван@example.ru");
        assert_eq!(ok("张伟@example.cn"), "张伟@example.cn");
        assert_eq!(ok("nguyễn@example.vn"), "nguyễn@example.vn");
        let e = Email::parse("Ελένη@example.gr").unwrap();
        assert_eq!(e.local_part(), "ελένη");
    }

    #[test]
    fn non_ascii_symbols_and_combining_marks_before_the_at_are_refused() {
        assert_eq!(
            refused("jan€@example.nl"),
            EmailError::LocalPartCharacter('€')
        );
        assert_eq!(refused("jan€@example.nl").code(), "email_character");
        assert_eq!(
            refused("jan→@example.nl"),
            EmailError::LocalPartCharacter('→')
        );
        // ö typed as o and a combining diaeresis: the mark is no letter.
        assert_eq!(
            refused("jo\u{0308}rg@example.de"),
            EmailError::LocalPartCharacter('\u{0308}')
        );
    }

    /// docs/RULES.md#addresses: a local part that NFKC would change is
    /// refused, whatever else it holds; one it leaves alone is accepted.
    #[test]
    fn only_local_parts_that_compatibility_folding_changes_are_look_alikes() {
        // The Kelvin sign folds to K, the letter ǅ to D and ž.
        assert_eq!(
            refused("\u{212A}elvin@example.nl"),
            EmailError::LocalPartLookAlike
        );
        assert_eq!(
            refused("\u{01C5}ana@example.nl"),
            EmailError::LocalPartLookAlike
        );
        assert_eq!(refused("ｊａｎ@example.nl").code(), "email_look_alike");
        // Already in their folded form: accepted.
        assert_eq!(ok("jörg@example.de"), "jörg@example.de");
        assert_eq!(ok("\u{0436}@example.ru"), "\u{0436}@example.ru");
    }

    #[test]
    fn letters_of_two_alphabets_are_noticed_and_one_alphabet_is_not() {
        let mixes = |raw: &str| Email::parse(raw).unwrap().mixes_scripts();
        assert!(
            mixes("j\u{03B1}n@example.nl"),
            "a Greek α among Latin letters"
        );
        assert!(mixes("\u{0430}bc@example.nl"), "a Cyrillic а first");
        assert!(mixes("\u{05D3}\u{0645}@example.nl"), "Hebrew beside Arabic");
        assert!(mixes("jan\u{4F1F}@example.nl"), "Latin beside Chinese");
        for one in [
            "nguyễn@example.vn",
            "\u{03B1}\u{1F00}@example.gr",
            "\u{0430}\u{0500}@example.ru",
            "\u{0645}\u{062D}\u{0645}\u{062F}@example.eg",
            // Yán Lì: two ideographs of one block of the table.
            "\u{4E25}\u{4E3D}@example.cn",
            "jan.2-b@example.nl",
            "1234@example.nl",
            "\u{0438}\u{0432}\u{0430}\u{043D}.2@example.ru",
        ] {
            assert!(!mixes(one), "{one}");
        }
    }

    #[test]
    fn domains_with_hyphens_inside_and_digits_are_accepted() {
        assert_eq!(ok("jan@my-practice.nl"), "jan@my-practice.nl");
        assert_eq!(ok("jan@123.nl"), "jan@123.nl");
        assert_eq!(ok("jan@example.a1"), "jan@example.a1");
        assert_eq!(ok("jan@mail.example.co.uk"), "jan@mail.example.co.uk");
        assert_eq!(
            refused("jan@example-.nl"),
            EmailError::DomainInvalid("\"example-\" starts or ends with a hyphen".into())
        );
        assert_eq!(
            refused("jan@exa/mple.nl"),
            EmailError::DomainInvalid(
                "\"exa/mple\" contains a character a domain cannot hold".into()
            )
        );
        assert_eq!(refused("jan@example.123"), EmailError::DomainLiteral);
    }

    #[test]
    fn a_domain_that_idna_refuses_or_empties_is_refused() {
        assert_eq!(
            refused("jan@xn--zz.nl"),
            EmailError::DomainInvalid("it contains characters a domain cannot hold".into())
        );
        // A soft hyphen alone maps to nothing.
        assert_eq!(refused("jan@\u{00AD}"), EmailError::EmptyDomain);
        assert_eq!(refused("jan@."), EmailError::EmptyDomain);
        assert_eq!(refused("jan@.example.nl").code(), "email_domain_invalid");
    }

    #[test]
    fn an_address_reads_back_as_its_parts() {
        let e = Email::parse("Jan.Jansen@Bücher.de").unwrap();
        assert_eq!(e.local_part(), "jan.jansen");
        assert_eq!(e.domain(), "xn--bcher-kva.de");
        assert_eq!(e.as_str(), "jan.jansen@xn--bcher-kva.de");
        assert_eq!(e.to_string(), "jan.jansen@xn--bcher-kva.de");
        assert_eq!(format!("{e:?}"), "Email(jan.jansen@xn--bcher-kva.de)");
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            "\"jan.jansen@xn--bcher-kva.de\""
        );
        assert_eq!(e.clone().into_string(), "jan.jansen@xn--bcher-kva.de");
    }

    /// The codes are the contract's (docs/RULES.md#errors): each refusal has
    /// its own, and a message that is also what it prints.
    #[test]
    fn every_refusal_has_its_own_code_and_a_message() {
        let all = [
            (EmailError::Empty, "email_empty"),
            (EmailError::TooLong, "email_too_long"),
            (EmailError::InnerWhitespace, "email_whitespace"),
            (EmailError::DisplayName, "email_display_name"),
            (EmailError::MissingAt, "email_missing_at"),
            (EmailError::SeveralAts, "email_several_at"),
            (EmailError::EmptyLocalPart, "email_local_part_empty"),
            (EmailError::LocalPartTooLong, "email_local_part_too_long"),
            (EmailError::QuotedLocalPart, "email_quoted"),
            (EmailError::LocalPartDots, "email_local_part_dots"),
            (EmailError::LocalPartCharacter(','), "email_character"),
            (EmailError::LocalPartLookAlike, "email_look_alike"),
            (EmailError::EmptyDomain, "email_domain_empty"),
            (EmailError::DomainLiteral, "email_domain_literal"),
            (EmailError::DomainWithoutDot, "email_domain_without_dot"),
            (
                EmailError::DomainInvalid("why".into()),
                "email_domain_invalid",
            ),
        ];
        let mut messages = std::collections::BTreeSet::new();
        for (e, code) in &all {
            assert_eq!(e.code(), *code);
            assert_eq!(e.to_string(), e.message());
            assert!(e.message().len() > 20, "{code}: {}", e.message());
            assert!(messages.insert(e.message()), "{code} repeats a message");
            let f = e.in_field("person.email");
            assert_eq!((f.field.as_str(), f.code), ("person.email", *code));
            assert_eq!(f.message, e.message());
        }
        assert!(
            EmailError::LocalPartCharacter(',')
                .message()
                .contains("\",\"")
        );
        assert!(
            EmailError::DomainInvalid("why".into())
                .message()
                .ends_with(": why")
        );
    }

    fn local_part() -> impl Strategy<Value = String> {
        "[A-Za-z0-9_+-]{1,20}(\\.[A-Za-z0-9_+-]{1,10}){0,2}"
    }

    fn domain() -> impl Strategy<Value = String> {
        "([A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?\\.){1,3}[A-Za-z]{2,6}"
    }

    proptest! {
        #[test]
        fn normalization_is_idempotent(raw in "\\PC{0,40}") {
            if let Ok(e) = Email::parse(&raw) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }

        #[test]
        fn case_and_surrounding_space_never_make_a_second_account(
            local in local_part(), domain in domain(), pre in "[ \t]{0,3}", post in "[ \t\n]{0,3}"
        ) {
            // A label with hyphens in its third and fourth places is
            // reserved (`xn--` begins punycode, which "xn--a" is not): such a
            // domain is refused, which is another test's business.
            prop_assume!(!domain.split('.').any(|l| l.get(2..4) == Some("--")));
            let plain = Email::parse(&format!("{local}@{domain}")).unwrap();
            let messy = Email::parse(&format!("{pre}{}@{}{post}", local.to_uppercase(), domain.to_uppercase())).unwrap();
            prop_assert_eq!(plain, messy);
        }

        #[test]
        fn a_normalized_address_is_lower_case_without_spaces(raw in "\\PC{0,60}") {
            if let Ok(e) = Email::parse(&raw) {
                let s = e.as_str();
                prop_assert!(!s.chars().any(char::is_whitespace));
                prop_assert_eq!(s.to_lowercase(), s);
                prop_assert!(s.len() <= 254);
                prop_assert_eq!(s.matches('@').count(), 1);
                prop_assert!(e.domain().is_ascii());
            }
        }
    }
}
