//! Resources in paths, as the API and the console read and write them.

use crate::ApiError;
use portier_core::resources::{parse_key, parse_type};

/// The `{type}` and `{id}` of a resource route; a malformed one names nothing.
pub(crate) fn resource_in_path(kind: &str, key: &str) -> Result<(String, String), ApiError> {
    let missing = || ApiError::from(portier_core::Error::NotFound { what: "resource" });
    Ok((
        parse_type("type", kind).map_err(|_| missing())?,
        parse_key("id", key).map_err(|_| missing())?,
    ))
}

/// Percent-encodes what a path segment cannot carry as it is.
pub(crate) fn url_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
