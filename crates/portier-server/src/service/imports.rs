//! What the API and the console say alike about files to import
//! (docs/IMPORTS.md#limits).

use crate::ApiError;
use axum::http::StatusCode;

/// A size as people read it.
fn size(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The 413 of a file above the configured limit, for the API and the
/// console alike.
pub fn file_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        format!("a file to import holds at most {}", size(limit)),
    )
    .with_field("file")
}
