//! Reading JSON the way JSON Schema describes it, so that what the API documents
//! and what it accepts agree.

use serde::{Deserialize, Deserializer};

/// Reads a whole number that JSON may write as `12` or `12.0` (JSON Schema
/// counts both as integers), refusing fractions and values out of range. For
/// `#[serde(deserialize_with = "whole_number")]`.
pub fn whole_number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let n = serde_json::Number::deserialize(d)?;
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, got {n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Count {
        #[serde(deserialize_with = "whole_number")]
        n: u16,
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats_but_fractions_are_refused() {
        assert_eq!(
            serde_json::from_str::<Count>(r#"{"n": 12.0}"#).unwrap().n,
            12
        );
        assert_eq!(serde_json::from_str::<Count>(r#"{"n": 12}"#).unwrap().n, 12);
        for bad in [
            r#"{"n": 12.5}"#,
            r#"{"n": -1}"#,
            r#"{"n": 70000}"#,
            r#"{"n": "12"}"#,
        ] {
            assert!(serde_json::from_str::<Count>(bad).is_err(), "{bad}");
        }
    }
}
