//! Extractors that turn malformed requests into the contract's errors: JSON
//! bodies whose refusal names the offending field, path ids, and the client's
//! address for the audit trail.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON body. Syntax errors are 400, a wrong content type 415, and a value
/// of the wrong shape 422 with `field` set to its path (`settings.locale`).
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m.eq_ignore_ascii_case("application/json")
                    || m.to_ascii_lowercase().ends_with("+json")
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e: BytesRejection| {
                ApiError::new(e.status(), "body_unreadable", e.body_text())
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, Object<T>>(de) {
        Ok(Object(v)) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            use serde_json::error::Category;
            match inner.classify() {
                Category::Syntax | Category::Eof | Category::Io => Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the body is not valid JSON: {inner}"),
                )),
                Category::Data => {
                    let message = strip_position(&inner.to_string());
                    let field = field_of(&path, &message);
                    let err =
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message);
                    Err(match field {
                        Some(f) => err.with_field(f),
                        None => err,
                    })
                }
            }
        }
    }
}

/// A struct read only from a JSON object. serde's derived structs also accept
/// arrays (`[null, null]` would read as an empty patch); the contract does not.
/// Reading through the same map access keeps error paths intact.
pub struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectVisitor<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(ObjectVisitor(std::marker::PhantomData))
            .map(Object)
    }
}

/// For `#[serde(default, deserialize_with = "object")]` on an optional nested
/// struct: `null` or absent is `None`, an object is read, anything else refused.
pub fn object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Object<T>>::deserialize(d)?.map(|o| o.0))
}

/// For `#[serde(default, deserialize_with = "present")]` on an
/// `Option<Option<T>>`: absent is `None` (keep), `null` is `Some(None)`
/// (empty it), a value is `Some(Some(v))`.
pub fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// serde reports a missing field at its parent's path and names it only in the
/// message; the field itself is the more useful answer. (An unknown field's
/// path already ends in its name.)
fn field_of(path: &str, message: &str) -> Option<String> {
    let path = if path == "." { "" } else { path };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match missing {
        Some(name) if path.is_empty() => Some(name.to_owned()),
        Some(name) => Some(format!("{path}.{name}")),
        None if path.is_empty() => None,
        None => Some(path.to_owned()),
    }
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Parses a path id, answering 400 with the parameter's name when it is not a
/// UUID.
pub fn path_id<T: std::str::FromStr>(name: &str, raw: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_id",
            format!("\"{raw}\" is not a valid id"),
        )
        .with_field(name)
    })
}

/// The client's address as the connection shows it, for the audit trail.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        #[serde(default, deserialize_with = "object")]
        settings: Option<Settings>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        locale: Option<String>,
    }

    fn refused(json: &str) -> ApiError {
        parse_json::<Body>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn structs_are_read_only_from_objects() {
        let e = refused(r#"["x", null]"#);
        assert_eq!(
            (e.status, e.body.error.field.as_deref()),
            (StatusCode::UNPROCESSABLE_ENTITY, None)
        );
        assert_eq!(
            refused(r#"{"name": "x", "settings": [null]}"#)
                .body
                .error
                .field
                .as_deref(),
            Some("settings")
        );
        let ok: Body = parse_json(br#"{"name": "x", "settings": null}"#).unwrap();
        assert!(ok.settings.is_none());
        let ok: Body = parse_json(br#"{"name": "x", "settings": {"locale": "nl"}}"#).unwrap();
        assert_eq!(ok.settings.unwrap().locale.as_deref(), Some("nl"));
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert_eq!(refused("{").status, StatusCode::BAD_REQUEST);
        assert_eq!(refused("{").body.error.code, "malformed_json");
    }

    #[test]
    fn a_wrong_value_names_its_field() {
        let e = refused(r#"{"name": 5}"#);
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body.error.field.as_deref(), Some("name"));
        let e = refused(r#"{"name": "x", "settings": {"locale": 1}}"#);
        assert_eq!(e.body.error.field.as_deref(), Some("settings.locale"));
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        assert_eq!(refused("{}").body.error.field.as_deref(), Some("name"));
        assert_eq!(
            refused(r#"{"name": "x", "colour": 1}"#)
                .body
                .error
                .field
                .as_deref(),
            Some("colour")
        );
        assert_eq!(
            refused(r#"{"name": "x", "settings": {"x": 1}}"#)
                .body
                .error
                .field
                .as_deref(),
            Some("settings.x")
        );
    }
}
