//! Every `docs/…md#section` that the code, the templates, the scripts or the
//! documents themselves cite exists: a comment that explains a rule by
//! pointing at its section keeps pointing at it when the section is renamed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files that may cite a section.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["target", "vendor", "node_modules", ".git", "migrations"].contains(&name.as_str())
            {
                sources(&path, out);
            }
        } else if [".rs", ".html", ".md", ".sh", ".mjs", ".ftl"]
            .iter()
            .any(|ext| name.ends_with(ext))
            || path.parent().is_some_and(|p| p.ends_with("scripts"))
        {
            out.push(path);
        }
    }
}

/// A heading's anchor as GitHub makes it: lower case, letters, digits,
/// spaces and hyphens kept, spaces made hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a document's headings.
fn anchors(doc: &Path) -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string(doc).ok()?;
    let mut fenced = false;
    Some(
        text.lines()
            .filter(|l| {
                if l.starts_with("```") {
                    fenced = !fenced;
                }
                !fenced && l.starts_with('#')
            })
            .map(|l| slug(l.trim_start_matches('#')))
            .collect(),
    )
}

/// The citations of a section (`docs/<NAME>.md#<section>`) in `text`.
fn citations(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("docs/") {
        rest = &rest[at + 5..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        let after = &rest[name.len()..];
        let Some(after) = after.strip_prefix(".md#") else {
            continue;
        };
        let anchor: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !anchor.is_empty() {
            out.push((format!("{name}.md"), anchor));
        }
    }
    out
}

#[test]
fn every_cited_section_of_the_docs_exists() {
    let root = root();
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 100, "the sources were not found");
    let mut docs: BTreeMap<String, Option<BTreeSet<String>>> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut cited = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for (doc, anchor) in citations(&text) {
            cited += 1;
            let known = docs
                .entry(doc.clone())
                .or_insert_with(|| anchors(&root.join("docs").join(&doc)));
            if !known.as_ref().is_some_and(|a| a.contains(&anchor)) {
                let shown = file.strip_prefix(&root).unwrap_or(file).display();
                missing.push(format!("{shown}: docs/{doc}#{anchor}"));
            }
        }
    }
    assert!(cited > 100, "only {cited} citations were found");
    assert!(
        missing.is_empty(),
        "cited sections that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    assert_eq!(
        slug(" Use cases (service layer)"),
        "use-cases-service-layer"
    );
    assert_eq!(
        slug("One request, from route to SQL and back"),
        "one-request-from-route-to-sql-and-back"
    );
    assert_eq!(slug("How to add…"), "how-to-add");
    assert_eq!(
        citations("see docs/RULES.md#shared-accounts, and docs/A.md."),
        vec![("RULES.md".to_owned(), "shared-accounts".to_owned())]
    );
}
