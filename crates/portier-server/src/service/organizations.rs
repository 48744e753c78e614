//! What organizations' pages and answers compute alike.

/// `part` of `whole`, 0 to 1.
pub(crate) fn share(part: i64, whole: i64) -> f64 {
    if whole <= 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}
