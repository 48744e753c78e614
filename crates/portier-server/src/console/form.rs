//! The console's forms, read into types: each form is a struct with one
//! field per input, read with `serde_html_form`. A field the form did not
//! send takes its default (`#[serde(default)]` on the struct); a name sent
//! more than once (ticked checkboxes, a multiple select) fills a
//! `Vec<String>` read with [`many`]; a checkbox is a `bool` read with
//! [`ticked`]. A member's profile fields, which come from the one list in
//! core, are the form's other fields (`#[serde(flatten)]` into
//! [`Others`]), read by key (console/members/profile.rs).

use axum::extract::{FromRequest, RawForm, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, IgnoredAny};

use crate::ApiError;

/// A form body read into `T`. A body that does not read as `T` (a single
/// field sent twice, which no page of the console does) is a 400
/// `invalid_form` naming the field.
pub struct Posted<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let RawForm(raw) = RawForm::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        read(&raw).map(Posted).map_err(IntoResponse::into_response)
    }
}

/// Reads a form body into `T`.
pub fn read<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    serde_html_form::from_bytes(raw).map_err(|e| {
        // Every field is text, so what does not read is a name sent twice
        // that takes one value: named, as every refusal names its field.
        let mut seen = std::collections::HashSet::new();
        let twice = form_urlencoded::parse(raw)
            .map(|(name, _)| name)
            .find(|name| !seen.insert(name.clone()));
        match twice {
            Some(name) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_form",
                format!("the field `{name}` was sent more than once"),
            )
            .with_field(name.into_owned()),
            None => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_form",
                format!("the form could not be read: {e}"),
            ),
        }
    })
}

/// A checkbox: ticked when sent, whatever its value.
pub fn ticked<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// A text field that may be left out of the form: `Some` when sent (even
/// empty: the field was emptied), `None` (the default) when not.
pub fn sent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    String::deserialize(d).map(Some)
}

/// Every value of a name, in the form's order: none, one or more (also
/// inside a struct with a flattened field, where one value reads as a
/// string).
pub fn many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => vec![v],
        OneOrMany::Many(v) => v,
    })
}

/// The fields of a form that its struct does not name, by name (the first
/// value of each): a member's profile fields.
#[derive(Debug, Default, Clone)]
pub struct Others(std::collections::HashMap<String, String>);

impl Others {
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

impl<'de> Deserialize<'de> for Others {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Others, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Value {
            One(String),
            Many(Vec<String>),
            // A value we do not read (the CSRF layer's, a button's).
            Other(IgnoredAny),
        }
        let all = std::collections::HashMap::<String, Value>::deserialize(d)?;
        Ok(Others(
            all.into_iter()
                .filter_map(|(k, v)| match v {
                    Value::One(v) => Some((k, v)),
                    Value::Many(v) => v.into_iter().next().map(|v| (k, v)),
                    Value::Other(_) => None,
                })
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Default, Debug)]
    #[serde(default)]
    struct Add {
        email: String,
        #[serde(deserialize_with = "many")]
        roles: Vec<String>,
        #[serde(deserialize_with = "ticked")]
        active: bool,
        #[serde(flatten)]
        profile: Others,
    }

    #[test]
    fn a_form_reads_into_its_struct_with_lists_checkboxes_and_the_other_fields() {
        let one: Add = read(b"email=a%40b.nl&roles=admin&active=on&given_name=Jan").unwrap();
        assert_eq!(one.email, "a@b.nl");
        assert_eq!(one.roles, vec!["admin"]);
        assert!(one.active);
        assert_eq!(one.profile.get("given_name").as_deref(), Some("Jan"));
        let two: Add = read(b"roles=admin&roles=member&infix=van+der").unwrap();
        assert_eq!(two.roles, vec!["admin", "member"]);
        assert!(!two.active, "an unticked checkbox is not sent");
        assert_eq!(two.email, "", "a field not sent is empty");
        assert_eq!(two.profile.get("infix").as_deref(), Some("van der"));
        let none: Add = read(b"").unwrap();
        assert!(none.roles.is_empty());
    }

    #[test]
    fn a_single_field_sent_twice_is_refused_naming_it() {
        #[derive(Deserialize, Default, Debug)]
        #[serde(default)]
        #[allow(dead_code)]
        struct One {
            name: String,
        }
        let e = read::<One>(b"name=a&name=b").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.body.error.field.as_deref(), Some("name"));
    }
}
