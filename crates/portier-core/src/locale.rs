//! The languages Portier speaks: English and Dutch.

use serde::{Deserialize, Serialize};

use crate::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Nl,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Nl];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Nl => "nl",
        }
    }

    /// Reads a language tag (`nl`, `nl-NL`, `EN_gb`) by its primary subtag.
    pub fn parse(field: &str, raw: &str) -> Result<Locale, FieldError> {
        let primary = raw
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "en" => Ok(Locale::En),
            "nl" => Ok(Locale::Nl),
            _ => Err(FieldError::new(
                field,
                "locale_unsupported",
                format!(
                    "\"{}\" is not a supported language; use \"en\" or \"nl\"",
                    raw.trim()
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_tags_resolve_to_their_language() {
        assert_eq!(Locale::parse("locale", "nl-NL").unwrap(), Locale::Nl);
        assert_eq!(Locale::parse("locale", " EN_gb ").unwrap(), Locale::En);
    }

    #[test]
    fn unknown_languages_are_refused_by_name() {
        let e = Locale::parse("locale", "fr").unwrap_err();
        assert_eq!(e.field, "locale");
        assert!(e.message.contains("\"fr\""));
    }

    #[test]
    fn every_language_reads_back_from_its_name() {
        for locale in Locale::ALL {
            // A new language fails to compile here until ALL lists it.
            match locale {
                Locale::En | Locale::Nl => {}
            }
            assert_eq!(Locale::parse("locale", locale.as_str()), Ok(locale));
            assert_eq!(serde_json::to_value(locale).unwrap(), locale.as_str());
        }
        assert_eq!(Locale::ALL.map(Locale::as_str), ["en", "nl"]);
        let e = Locale::parse("locale", "de").unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("locale", "locale_unsupported"));
        assert_eq!(
            Locale::parse("locale", "").unwrap_err().code,
            "locale_unsupported"
        );
        assert_eq!(
            Locale::parse("locale", "eng").unwrap_err().code,
            "locale_unsupported"
        );
    }
}
