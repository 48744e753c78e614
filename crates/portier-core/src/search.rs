//! Finding members by what an administrator types (their name, address or staff
//! code, docs/RULES.md#adding-members): every member has a few search terms,
//! and a query matches a member when it is the beginning of one of them. Terms
//! and queries are folded the same way, so neither case nor accents matter
//! ("celik" finds Çelik) and "van der berg", "berg" and "jan van der" all find
//! Jan van der Berg.
//!
//! The store keeps the terms in an index ordered by byte value; a prefix is
//! then a contiguous range of it, from the prefix itself up to [`range_end`].

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::accounts::PersonName;
use crate::email::Email;

/// Lower case, accents taken off (compatibility decomposition, combining marks
/// dropped: "Ĳsselmeer" → "ijsselmeer"), inner white space one space, outer
/// none.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(
            word.nfkd()
                .filter(|c| !is_combining_mark(*c))
                .flat_map(char::to_lowercase),
        );
    }
    out
}

/// The terms a member is found by: the address, the name as read ("jan van der
/// berg"), the name as sorted ("berg, jan van der"), the family name with its
/// infix ("van der berg") and the staff code. Folded, without repeats.
pub fn terms(name: &PersonName, email: &Email, staff_code: Option<&str>) -> Vec<String> {
    let family_with_infix = match (&name.infix, &name.family_name) {
        (Some(infix), Some(family)) => Some(format!("{infix} {family}")),
        _ => None,
    };
    let mut terms: Vec<String> = [
        Some(email.as_str().to_owned()),
        name.display_name(),
        Some(name.sort_key(email)),
        family_with_infix,
        staff_code.map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    .map(|t| fold(&t))
    .filter(|t| !t.is_empty())
    .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// What a query searches for: its folded form, or `None` when nothing is left
/// to search for (blank).
pub fn query(q: &str) -> Option<String> {
    Some(fold(q)).filter(|q| !q.is_empty())
}

/// The first string after every string that begins with `prefix`, in byte
/// (= code point) order: terms `t` with `prefix <= t < range_end(prefix)` are
/// exactly those beginning with it. `None` when no string comes after them
/// all (a prefix of nothing but U+10FFFF): then every `t >= prefix` begins
/// with it.
pub fn range_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jan() -> (PersonName, Email) {
        (
            PersonName {
                salutation: Some("Dhr.".into()),
                given_name: Some("Jan".into()),
                infix: Some("van der".into()),
                family_name: Some("Berg".into()),
            },
            Email::parse("J.vdBerg@Example.nl").unwrap(),
        )
    }

    fn finds(terms: &[String], q: &str) -> bool {
        let Some(q) = query(q) else { return false };
        let end = range_end(&q);
        terms
            .iter()
            .any(|t| *t >= q && end.as_ref().is_none_or(|e| t < e))
    }

    #[test]
    fn a_member_is_found_by_every_way_an_administrator_would_type_them() {
        let (name, email) = jan();
        let terms = terms(&name, &email, Some("EMP-0042"));
        for q in [
            "jan",
            "Jan van",
            "jan van der berg",
            "berg",
            "Berg, Jan",
            "van der b",
            "j.vdberg@",
            "emp-00",
            "  JAN   VAN ",
        ] {
            assert!(finds(&terms, q), "{q:?} should find Jan van der Berg");
        }
        for q in ["der berg", "example.nl", "0042", "bergen", "dhr"] {
            assert!(!finds(&terms, q), "{q:?} should not find Jan van der Berg");
        }
    }

    #[test]
    fn case_and_accents_do_not_matter_on_either_side() {
        let name = PersonName {
            given_name: Some("Zoë".into()),
            family_name: Some("Çelik".into()),
            ..PersonName::default()
        };
        let email = Email::parse("zoe@example.nl").unwrap();
        let terms = terms(&name, &email, None);
        for q in ["celik", "ÇELIK", "zoe c", "Zoë Çe", "çelik, zoë"] {
            assert!(finds(&terms, q), "{q:?}");
        }
        assert_eq!(fold("Ĳsselmeer"), "ijsselmeer");
    }

    #[test]
    fn without_a_name_the_address_is_the_only_term() {
        let email = Email::parse("info@example.nl").unwrap();
        assert_eq!(
            terms(&PersonName::default(), &email, None),
            vec!["info@example.nl".to_owned()]
        );
    }

    #[test]
    fn a_blank_query_searches_for_nothing() {
        assert_eq!(query(" \t "), None);
    }

    proptest::proptest! {
        #[test]
        fn the_range_holds_exactly_the_continuations(prefix in "\\PC{1,6}", rest in "\\PC{0,6}", other in "\\PC{1,8}") {
            let q = fold(&prefix);
            proptest::prop_assume!(!q.is_empty());
            let end = range_end(&q);
            let within = |t: &String| *t >= q && end.as_ref().is_none_or(|e| t < e);
            let inside = format!("{q}{}", fold(&rest));
            proptest::prop_assert!(within(&inside));
            let other = fold(&other);
            proptest::prop_assert_eq!(within(&other), other.starts_with(&q));
        }
    }

    #[test]
    fn the_range_ends_right_after_the_greatest_characters() {
        assert_eq!(range_end("ab").as_deref(), Some("ac"));
        assert_eq!(range_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(range_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(range_end("\u{10FFFF}"), None);
    }
}
