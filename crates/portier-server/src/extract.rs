//! Extractors that turn malformed requests into the contract's errors: JSON
//! bodies whose refusal names the offending field, path ids, and the client's
//! address for the audit trail.

use std::net::{IpAddr, SocketAddr};

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

/// A body that may be left out: none at all is `None`, anything else must
/// be JSON as for [`ApiJson`].
impl<T: DeserializeOwned, S: Send + Sync> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|e: BytesRejection| {
                ApiError::new(e.status(), "body_unreadable", e.body_text())
            })?;
        if bytes.is_empty() {
            return Ok(None);
        }
        let req = Request::from_parts(parts, axum::body::Body::from(bytes));
        <ApiJson<T> as FromRequest<S>>::from_request(req, state)
            .await
            .map(Some)
    }
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = nul_in_json(bytes) {
        return Err(nul_refused(field));
    }
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

/// The path (`labels[2]`) of a string in a JSON body that holds a NUL
/// character (`\u0000`), if one does. No text Portier keeps may hold one
/// (PostgreSQL refuses it in text), so it is refused at the door, naming
/// the field, instead of wherever it would reach. Bodies without the
/// escape are not parsed twice.
fn nul_in_json(bytes: &[u8]) -> Option<String> {
    let escaped = bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].eq_ignore_ascii_case(b"0000"));
    if !escaped {
        return None;
    }
    fn find(value: &serde_json::Value, path: &str) -> Option<String> {
        match value {
            serde_json::Value::String(s) if s.contains('\0') => Some(path.to_owned()),
            serde_json::Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, v)| find(v, &format!("{path}[{i}]"))),
            serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
                if k.contains('\0') {
                    return Some(if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    });
                }
                let at = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                find(v, &at)
            }),
            _ => None,
        }
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    find(&value, "")
}

/// A value that holds a NUL character is well-formed but not a value any
/// text may have: 422, naming the field.
fn nul_refused(field: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "nul_character",
        "a value holds a NUL character (U+0000), which no text may hold",
    )
    .with_field(field)
}

/// Refuses, before any handler runs, a request whose path, query or form
/// body Portier could not read faithfully: percent-escapes that do not
/// decode to UTF-8 (400 `unreadable`), or a NUL character (422
/// `nul_character`: no text Portier keeps may hold one, and PostgreSQL
/// refuses it). The API's answer names the query or form field (or
/// `path`); the console's is its page saying the address or form could not
/// be read.
pub async fn refuse_unreadable(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (mut parts, body) = req.into_parts();
    let mut problem = match decode(parts.uri.path(), false) {
        Err(why) => Some((why, "path".to_owned())),
        Ok(_) => pairs_unreadable(parts.uri.query().unwrap_or("").as_bytes()),
    };
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body = if problem.is_none() && is_form {
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(bytes) => {
                problem = pairs_unreadable(&bytes);
                axum::body::Body::from(bytes)
            }
            Err(e) => {
                return ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    e.to_string(),
                )
                .into_response();
            }
        }
    } else {
        body
    };
    let Some((why, field)) = problem else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    if parts.uri.path().starts_with("/api/") || parts.uri.path() == "/api" {
        let e = match why {
            Unreadable::NotUtf8 => ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable",
                "the address or a value is not valid UTF-8",
            )
            .with_field(field),
            Unreadable::Nul => nul_refused(field),
        };
        return e.into_response();
    }
    let status = match why {
        Unreadable::NotUtf8 => StatusCode::BAD_REQUEST,
        Unreadable::Nul => StatusCode::UNPROCESSABLE_ENTITY,
    };
    match crate::console::Viewer::from_request_parts(&mut parts, &state).await {
        Ok(viewer) => crate::console::error_page(&viewer, status, "error-unreadable"),
        Err(page) => page,
    }
}

/// Why a value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unreadable {
    NotUtf8,
    Nul,
}

/// `raw` percent-decoded (`+` as a space in a query or form), or why it
/// cannot be.
fn decode(raw: &str, plus_is_space: bool) -> Result<String, Unreadable> {
    let bytes = raw.as_bytes();
    let hex = |i: usize| bytes.get(i).and_then(|b| (*b as char).to_digit(16));
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], hex(i + 1), hex(i + 2)) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
            (b'+', _, _) if plus_is_space => out.push(b' '),
            (b, _, _) => out.push(b),
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|_| Unreadable::NotUtf8)?;
    if text.contains('\0') {
        return Err(Unreadable::Nul);
    }
    Ok(text)
}

/// The first key of `key=value&…` pairs whose key or value does not
/// [`decode`], with why, as far as the key reads.
fn pairs_unreadable(raw: &[u8]) -> Option<(Unreadable, String)> {
    let raw = String::from_utf8_lossy(raw);
    raw.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (decode(key, true), decode(value, true)) {
            (Ok(_), Ok(_)) => None,
            (Ok(name), Err(why)) => Some((why, name)),
            (Err(why), _) => Some((why, key.replace("%00", ""))),
        }
    })
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

/// For `#[serde(default, deserialize_with = "some_object")]` on an optional
/// nested struct that may be left out but not sent as `null` (the schema
/// then says plainly "an object, or nothing").
pub fn some_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Some(Object::<T>::deserialize(d)?.0))
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

/// The client's address, for the audit trail and the throttles: the
/// connection's, or, when that is one of the [`TrustedProxies`], what they
/// say in `X-Forwarded-For`.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Option<String>);

impl FromRequestParts<crate::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Ok(ClientAddr(peer.map(|peer| {
            state
                .config
                .trusted_proxies
                .client(peer, forwarded)
                .to_string()
        })))
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed
/// (`PORTIER_TRUSTED_PROXIES`: addresses and networks such as `10.0.0.0/8`).
/// Without them every client behind a proxy would share the proxy's address:
/// in the audit trail, and in the per-client sign-in limit, where one
/// guesser would then lock out everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses a comma-separated list; the message names the bad entry.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut out = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (entry, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry:?} is not an IP address or network"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits =
                match bits {
                    None => max,
                    Some(b) => b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| {
                        format!("{entry:?}: the prefix length must be 0 to {max}")
                    })?,
                };
            out.push((addr, bits));
        }
        Ok(TrustedProxies(out))
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client over an IPv6 socket arrives as ::ffff:a.b.c.d.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.0.iter().any(|(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                same_prefix(n.to_bits().into(), a.to_bits().into(), *bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => same_prefix(n.to_bits(), a.to_bits(), *bits, 128),
            _ => false,
        })
    }

    /// The client behind `peer`: from the right of `X-Forwarded-For`, the
    /// first address that is not a trusted proxy (those to its left could be
    /// anything the client wrote). `peer` itself when it is not trusted or
    /// the header says nothing usable.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                // Garbage where an address should be: stop at the last
                // address a trusted proxy vouched for.
                break;
            };
            client = ip;
            if !self.contains(ip) {
                break;
            }
        }
        client
    }
}

fn same_prefix(net: u128, addr: u128, bits: u8, width: u32) -> bool {
    let bits = u32::from(bits);
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (net >> shift) == (addr >> shift)
}

/// A `true`/`false` query parameter, `default` when absent.
pub(crate) fn flag(
    q: &std::collections::HashMap<String, String>,
    name: &str,
    default: bool,
) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None => Ok(default),
        Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(portier_core::FieldError::new(name, "invalid", "true or false").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks_and_name_a_bad_entry() {
        let t = TrustedProxies::parse(" 10.0.0.0/8, 192.168.1.5 ,fd00::/8").unwrap();
        assert!(t.contains(ip("10.200.3.4")));
        assert!(t.contains(ip("192.168.1.5")));
        assert!(!t.contains(ip("192.168.1.6")));
        assert!(t.contains(ip("fd12::1")));
        assert!(
            t.contains(ip("::ffff:10.1.2.3")),
            "IPv4 over an IPv6 socket"
        );
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert_eq!(
            TrustedProxies::parse("").unwrap(),
            TrustedProxies::default()
        );
        assert!(
            TrustedProxies::parse("10.0.0.0/33")
                .unwrap_err()
                .contains("10.0.0.0/33")
        );
        assert!(
            TrustedProxies::parse("proxy.local")
                .unwrap_err()
                .contains("proxy.local")
        );
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let t = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let client = |peer: &str, headers: &[&str]| t.client(ip(peer), headers.iter().copied());
        // Not from a trusted proxy: the header is the client's own words.
        assert_eq!(client("203.0.113.9", &["1.2.3.4"]), ip("203.0.113.9"));
        assert_eq!(client("10.0.0.2", &["203.0.113.7"]), ip("203.0.113.7"));
        // What the client wrote itself stands to the left; the proxies append.
        assert_eq!(
            client("10.0.0.2", &["6.6.6.6, 203.0.113.7, 10.0.0.3"]),
            ip("203.0.113.7")
        );
        assert_eq!(
            client("10.0.0.2", &["6.6.6.6", "203.0.113.7"]),
            ip("203.0.113.7")
        );
        assert_eq!(client("10.0.0.2", &[]), ip("10.0.0.2"));
        assert_eq!(client("10.0.0.2", &["nonsense"]), ip("10.0.0.2"));
        assert_eq!(
            client("10.0.0.2", &["10.0.0.4"]),
            ip("10.0.0.4"),
            "only proxies: the farthest one"
        );
    }

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
