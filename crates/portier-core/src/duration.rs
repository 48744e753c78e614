//! Durations as operators write them in configuration: `90s`, `15m`, `1h`, `7d`
//! (and `2w`). Used for the lifetimes of links and sessions set in the
//! configuration (`PORTIER_ACTIVATION_TTL`, `PORTIER_RESET_TTL`, …).

use std::time::Duration;

/// Why a duration was refused, in a sentence that shows the accepted form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "\"{input}\" is not a duration: {reason} (write a whole number and a unit: 90s, 15m, 1h, 7d, 2w)"
)]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

pub fn parse_duration(raw: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: raw.to_owned(),
        reason,
    };
    let s = raw.trim();
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| err("the unit is missing"))?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(err("the number is missing"));
    }
    let n: u64 = digits.parse().map_err(|_| err("the number is too large"))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(err("the unit must be s, m, h, d or w")),
    };
    if n == 0 {
        return Err(err("it must be longer than zero"));
    }
    let secs = n
        .checked_mul(seconds_per_unit)
        .ok_or_else(|| err("the number is too large"))?;
    // Ten years bounds every lifetime Portier has; beyond that is a typo.
    if secs > 10 * 366 * 86_400 {
        return Err(err("it is longer than ten years"));
    }
    Ok(Duration::from_secs(secs))
}

/// The inverse of [`parse_duration`] in the largest whole unit up to days, for messages and
/// `--help` defaults.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_forms_are_understood() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3_600));
        assert_eq!(
            parse_duration(" 7d ").unwrap(),
            Duration::from_secs(604_800)
        );
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        assert_eq!(parse_duration("").unwrap_err().reason, "it is empty");
        assert_eq!(
            parse_duration("10").unwrap_err().reason,
            "the unit is missing"
        );
        assert_eq!(
            parse_duration("h").unwrap_err().reason,
            "the number is missing"
        );
        assert_eq!(
            parse_duration("5y").unwrap_err().reason,
            "the unit must be s, m, h, d or w"
        );
        assert_eq!(
            parse_duration("-5m").unwrap_err().reason,
            "the number is missing"
        );
        assert_eq!(
            parse_duration("0s").unwrap_err().reason,
            "it must be longer than zero"
        );
        assert_eq!(
            parse_duration("1.5h").unwrap_err().reason,
            "the unit must be s, m, h, d or w"
        );
        assert_eq!(
            parse_duration("99999999999999999999d").unwrap_err().reason,
            "the number is too large"
        );
        assert_eq!(
            parse_duration("4000d").unwrap_err().reason,
            "it is longer than ten years"
        );
        assert!(
            parse_duration("7 d")
                .unwrap_err()
                .to_string()
                .contains("7d")
        );
    }

    proptest! {
        #[test]
        fn formatting_and_parsing_agree(secs in 1u64..(3650 * 86_400)) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }
}
