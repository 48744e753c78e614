//! Every text the console asks for exists, in English and in Dutch: the keys
//! its code and templates name (`t("…")`, `t1("…", …)`, `tn("…", …)`), the
//! notices after a change (`?done=…` reads `done-…`), and every member of a
//! family of keys made from a value (`status-{…}`, `portfolio-state-{…}`…).
//! A missing text shows the key itself to the reader, so this fails instead.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The keys an `.ftl` file defines (messages, not their attributes).
fn defined(locale: &str) -> BTreeSet<String> {
    let path = root().join("locales").join(locale).join("console.ftl");
    std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && l.contains(" = "))
        .filter_map(|l| l.split(" = ").next())
        .map(|k| k.trim().to_owned())
        .collect()
}

/// The files under `dir` whose names end with `ext`, recursively.
fn files(dir: &Path, ext: &str, out: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The console's code and its templates.
fn sources() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    files(&root().join("src").join("console"), "rs", &mut out);
    files(&root().join("templates"), "html", &mut out);
    assert!(out.len() > 20, "the console's sources were not found");
    out
}

/// Every text after one of `openings` up to the closing quote: the literal
/// keys of calls like `t("key")`.
fn after(text: &str, openings: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for opening in openings {
        for (at, _) in text.match_indices(opening) {
            // `t(` must be the call itself, not the end of `.get(` or `alert(`.
            let before = text[..at].chars().next_back();
            if opening.starts_with(|c: char| c.is_ascii_alphabetic())
                && before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = &text[at + opening.len()..];
            if let Some(end) =
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            {
                out.push(rest[..end].to_owned());
            }
        }
    }
    out
}

/// The families of keys made from a value, each with every value it can
/// be made from. A family the console starts using must be added here.
fn families() -> Vec<(&'static str, Vec<String>)> {
    use portier_core::members::MemberStatus;
    use portier_core::organizations::BillingCycle;
    use portier_core::portfolios::PortfolioState;
    use portier_core::registrations::RegistrationState;
    let names = |v: Vec<&str>| v.into_iter().map(|s| s.replace('_', "-")).collect();
    vec![
        (
            "export-column-",
            // A profile field is labelled by its own definition.
            names(
                portier_core::export::COLUMNS
                    .into_iter()
                    .filter(|c| portier_core::profile::Field::of(c).is_none())
                    .collect(),
            ),
        ),
        (
            "portfolio-state-",
            names(PortfolioState::ALL.map(PortfolioState::as_str).to_vec()),
        ),
        (
            "registration-",
            RegistrationState::ALL
                .map(|s| s.as_str().to_owned())
                .to_vec(),
        ),
        (
            "status-",
            MemberStatus::ALL.map(|s| s.as_str().to_owned()).to_vec(),
        ),
        (
            "settings-cycle-",
            BillingCycle::ALL.map(|c| c.as_str().to_owned()).to_vec(),
        ),
        // The console's list of API tokens names these three states.
        ("tokens-", names(vec!["active", "expired", "revoked"])),
    ]
}

#[test]
fn every_text_the_console_asks_for_exists_in_english_and_dutch() {
    let (en, nl) = (defined("en"), defined("nl"));
    assert!(en.len() > 100, "the English texts were not read");
    let mut wanted: BTreeSet<(String, String)> = BTreeSet::new();
    let mut made: BTreeSet<(String, String)> = BTreeSet::new();
    for (path, text) in sources() {
        let file = path.strip_prefix(root()).unwrap().display().to_string();
        for key in after(&text, &["t(\"", "t1(\"", "tn(\""]) {
            wanted.insert((key, file.clone()));
        }
        for key in after(&text, &["done="]) {
            if !key.is_empty() && !key.ends_with('-') {
                wanted.insert((format!("done-{key}"), file.clone()));
            }
        }
        for prefix in after(&text, &["t(&format!(\"", "t(format!(\""]) {
            made.insert((prefix, file.clone()));
        }
    }
    assert!(wanted.len() > 200, "too few keys found: {}", wanted.len());
    let families = families();
    for (prefix, file) in &made {
        let Some((_, values)) = families.iter().find(|(p, _)| p == prefix) else {
            panic!("{file} makes keys `{prefix}…` from a value: list the family in families()");
        };
        for value in values {
            wanted.insert((format!("{prefix}{value}"), file.clone()));
        }
    }
    let missing: Vec<String> = wanted
        .iter()
        .flat_map(|(key, file)| {
            [("en", &en), ("nl", &nl)]
                .into_iter()
                .filter(|(_, texts)| !texts.contains(key))
                .map(move |(locale, _)| format!("{key} ({locale}, asked for in {file})"))
        })
        .collect();
    assert!(missing.is_empty(), "texts missing:\n{}", missing.join("\n"));
}

#[test]
fn the_scan_finds_calls_and_not_lookalikes() {
    let text = r#"i18n.t("a-b") x.get("c") page.i18n.t1("d-e", "n", v) alert("f") ?done=g-h&"#;
    assert_eq!(after(text, &["t(\"", "t1(\""]), ["a-b", "d-e"]);
    assert_eq!(after(text, &["done="]), ["g-h"]);
}
