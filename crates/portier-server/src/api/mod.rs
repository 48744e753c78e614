//! The REST API under `/api/v1`, with its OpenAPI description generated from
//! the handlers (`GET /api/v1/openapi.json`).

pub mod activations;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod check;
pub mod domains;
pub mod export;
pub mod groups;
pub mod import;
pub mod me;
pub mod members;
pub mod organizations;
pub mod passkeys;
pub mod portfolios;
pub mod resources;
pub mod roles;
pub mod sessions;
pub mod signups;
pub mod two_factor;

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ErrorBody;
use crate::{ApiError, AppState};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portier",
        description = "User and organization management: organizations, members, roles and rights.\n\n\
            Authenticate with `Authorization: Bearer <token>`. Every error is \
            `{\"error\": {\"code\", \"message\", \"field\"?}}`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody)),
    tags(
        (name = "organizations", description = "The organization tree: environments and the organizations below them"),
        (name = "members", description = "Who belongs to an organization, in which role"),
        (name = "roles", description = "Roles and the permissions they carry"),
        (name = "groups", description = "Teams of members that carry roles"),
        (name = "portfolios", description = "Portfolios, the billable unit, and what an organization is billed for"),
        (name = "signup", description = "Self sign-up: join your organization's environment by its proven domain, or start your own"),
        (name = "domains", description = "The e-mail domains an environment proves, and the people waiting for approval"),
        (name = "resources", description = "Mailboxes, administrations and other things members are granted access to"),
        (name = "tokens", description = "API tokens for the products that call Portier"),
        (name = "check", description = "May this person do this here? The question integrating products ask"),
        (name = "activations", description = "The link a new person follows to choose a password"),
        (name = "auth", description = "Sign-in, sign-out, password reset"),
        (name = "audit", description = "Who changed what, when, from where"),
        (name = "me", description = "The signed-in person's own account"),
    ),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "session",
                SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                    utoipa::openapi::security::ApiKeyValue::new("portier_session"),
                )),
            );
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("ptk_…")
                        .build(),
                ),
            );
        }
    }
}

/// The API's routes with their description, already below `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(organizations::list, organizations::create))
        .routes(routes!(organizations::get_one, organizations::update))
        .routes(routes!(organizations::statistics))
        .routes(routes!(members::add, members::list))
        .routes(routes!(members::get_one, members::update, members::remove))
        .routes(routes!(members::resend_activation))
        .routes(routes!(members::deactivate))
        .routes(routes!(members::reactivate))
        .routes(routes!(two_factor::reset))
        .routes(routes!(sessions::end_of_member))
        .routes(routes!(portfolios::list_types, portfolios::create_type))
        .routes(routes!(portfolios::create, portfolios::of_member))
        .routes(routes!(portfolios::list))
        .routes(routes!(portfolios::get_one))
        .routes(routes!(portfolios::deactivate))
        .routes(routes!(portfolios::complete))
        .routes(routes!(portfolios::reactivate))
        .routes(routes!(portfolios::transfer))
        .routes(routes!(portfolios::take_over))
        .routes(routes!(portfolios::transfer_requests))
        .routes(routes!(portfolios::accept_transfer))
        .routes(routes!(portfolios::decline_transfer))
        .routes(routes!(portfolios::billing))
        .routes(routes!(export::export))
        .routes(routes!(import::import))
        .routes(routes!(import::list))
        .routes(routes!(import::get_one))
        .routes(routes!(import::send_invitations))
        .routes(routes!(signups::signup))
        .routes(routes!(signups::confirm))
        .routes(routes!(domains::list, domains::claim))
        .routes(routes!(domains::get_one, domains::remove))
        .routes(routes!(domains::verify))
        .routes(routes!(domains::confirm))
        .routes(routes!(domains::approvals))
        .routes(routes!(domains::approve))
        .routes(routes!(roles::set_member_roles))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::get_one, roles::update, roles::delete))
        .routes(routes!(roles::administrators))
        .routes(routes!(groups::list, groups::create))
        .routes(routes!(groups::get_one, groups::update, groups::delete))
        .routes(routes!(groups::members))
        .routes(routes!(groups::add_member, groups::remove_member))
        .routes(routes!(resources::list, resources::create))
        .routes(routes!(resources::get_one, resources::delete))
        .routes(routes!(resources::grant))
        .routes(routes!(resources::revoke))
        .routes(routes!(api_tokens::list, api_tokens::create))
        .routes(routes!(api_tokens::revoke))
        .routes(routes!(check::check))
        .routes(routes!(check::batch))
        .routes(routes!(activations::show, activations::activate))
        .routes(routes!(audit::list))
        .routes(routes!(auth::login))
        .routes(routes!(auth::mfa))
        .routes(routes!(passkeys::start_second_factor))
        .routes(routes!(passkeys::start_sign_in))
        .routes(routes!(passkeys::finish_sign_in))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::request_reset))
        .routes(routes!(auth::complete_reset))
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(two_factor::status))
        .routes(routes!(two_factor::start, two_factor::remove))
        .routes(routes!(two_factor::confirm))
        .routes(routes!(two_factor::renew_recovery_codes))
        .routes(routes!(passkeys::list, passkeys::start))
        .routes(routes!(passkeys::confirm))
        .routes(routes!(passkeys::start_confirmation))
        .routes(routes!(passkeys::rename, passkeys::remove))
        .routes(routes!(sessions::list, sessions::end_others))
        .routes(routes!(sessions::end))
        .route("/openapi.json", get(openapi_json));
    OpenApiRouter::new().nest("/api/v1", v1)
}

/// The OpenAPI document, rendered once.
pub fn openapi() -> &'static str {
    static SPEC: OnceLock<String> = OnceLock::new();
    SPEC.get_or_init(|| {
        let mut spec = router().split_for_parts().1;
        spec.info.version = env!("CARGO_PKG_VERSION").to_owned();
        spec.to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
    })
}

async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], openapi())
}

/// An e-mail address as sent: spaces around it are removed and it is stored
/// lower-cased. International addresses (RFC 6531 local parts, IDNA domains)
/// are accepted as well; the pattern describes the common ASCII form.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct EmailAddress(pub String);

const EMAIL_PATTERN: &str = r#"^[ ]*(?=[^@]{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?[ ]*$"#;

/// The rule of `portier_core::members::parse_phone`: digits with `+`, spaces,
/// `-`, `.`, `/`, `(` and `)`; 6 to 20 digits; blank means none.
const PHONE_PATTERN: &str = r#"^(?:[ ]*|(?=(?:[^0-9]*[0-9]){6,20}[^0-9]*$)[0-9 +\-./()]*)$"#;

fn string_schema(
    max_length: usize,
    pattern: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    string_schema_from(0, max_length, pattern, description)
}

fn string_schema_from(
    min_length: usize,
    max_length: usize,
    pattern: &str,
    description: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .min_length((min_length > 0).then_some(min_length))
        .schema_type(utoipa::openapi::schema::Type::String)
        .max_length(Some(max_length))
        .pattern(Some(pattern))
        .description(Some(description))
        .into()
}

impl utoipa::PartialSchema for EmailAddress {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            254,
            EMAIL_PATTERN,
            "An e-mail address; spaces around it are removed.",
        )
    }
}

impl utoipa::ToSchema for EmailAddress {}

/// A telephone number as sent (see `PHONE_PATTERN`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct PhoneNumber(pub String);

impl utoipa::PartialSchema for PhoneNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            32,
            PHONE_PATTERN,
            "A telephone number: digits with + - . / ( ) and spaces; 6 to 20 digits.",
        )
    }
}

impl utoipa::ToSchema for PhoneNumber {}

/// One line of text of at most `MAX` characters; blank means none. The
/// schema says what `portier_core::accounts::profile_text` accepts.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Text<const MAX: usize>(pub String);

const TEXT_PATTERN: &str = r#"^[^\u0000-\u001F\u007F-\u009F]*$"#;

impl<const MAX: usize> utoipa::PartialSchema for Text<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            MAX,
            TEXT_PATTERN,
            &format!("One line of text, at most {MAX} characters; blank means none."),
        )
    }
}

impl<const MAX: usize> utoipa::ToSchema for Text<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Text{MAX}").into()
    }
}

/// Text that may span lines (a description), at most `MAX` characters.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Paragraphs<const MAX: usize>(pub String);

const PARAGRAPHS_PATTERN: &str = r#"^[^\u0000-\u0009\u000B\u000C\u000E-\u001F\u007F-\u009F]*$"#;

impl<const MAX: usize> utoipa::PartialSchema for Paragraphs<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(
            MAX,
            PARAGRAPHS_PATTERN,
            &format!("Text that may span lines, at most {MAX} characters."),
        )
    }
}

impl<const MAX: usize> utoipa::ToSchema for Paragraphs<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Paragraphs{MAX}").into()
    }
}

/// Unwraps an optional field of a wrapper type.
pub fn inner<T: Into<String>>(v: Option<T>) -> Option<String> {
    v.map(Into::into)
}

/// Unwraps a nullable optional field of a wrapper type.
pub fn inner2<T: Into<String>>(v: Option<Option<T>>) -> Option<Option<String>> {
    v.map(|o| o.map(Into::into))
}

impl<const MAX: usize> From<Text<MAX>> for String {
    fn from(t: Text<MAX>) -> String {
        t.0
    }
}

impl<const MAX: usize> From<Paragraphs<MAX>> for String {
    fn from(t: Paragraphs<MAX>) -> String {
        t.0
    }
}

impl From<PhoneNumber> for String {
    fn from(t: PhoneNumber) -> String {
        t.0
    }
}

/// One line with at least one visible character (names, labels).
const LINE_PATTERN: &str = r#"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"#;

/// One line of 1 to `MAX` characters, not only spaces (organization names,
/// labels); spaces around it are removed.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Line<const MAX: usize>(pub String);

impl<const MAX: usize> utoipa::PartialSchema for Line<MAX> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let description = format!("One line of 1 to {MAX} characters, not only spaces.");
        string_schema_from(1, MAX, LINE_PATTERN, &description)
    }
}

impl<const MAX: usize> utoipa::ToSchema for Line<MAX> {
    fn name() -> std::borrow::Cow<'static, str> {
        format!("Line{MAX}").into()
    }
}

/// Loads an organization the caller may see; anything else is 404, so nobody
/// learns what exists outside their rights (`service::access`).
pub(crate) async fn visible(
    state: &AppState,
    caller: &crate::auth::Caller,
    id: portier_core::ids::OrganizationId,
) -> Result<portier_core::organizations::Organization, ApiError> {
    crate::service::access::organization(state, &caller.0, id).await
}

/// Keyset pagination parameters shared by list routes: `limit` (1–500, default
/// 100) and `cursor` (the last id of the previous page).
pub struct Page {
    pub limit: i64,
    pub cursor: Option<uuid::Uuid>,
}

impl Page {
    pub fn from_query(q: &HashMap<String, String>) -> Result<Page, ApiError> {
        let limit = Page::limit(q)?;
        let cursor = match q.get("cursor") {
            None => None,
            Some(raw) => Some(raw.parse().map_err(|_| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_cursor",
                    "cursor must be a next_cursor value from a previous page",
                )
                .with_field("cursor")
            })?),
        };
        Ok(Page { limit, cursor })
    }

    /// `limit`: 1 to 500, default 100.
    pub fn limit(q: &HashMap<String, String>) -> Result<i64, ApiError> {
        match q.get("limit") {
            None => Ok(100),
            Some(raw) => match raw.parse::<i64>() {
                Ok(n) if (1..=500).contains(&n) => Ok(n),
                _ => Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_limit",
                    "limit must be a whole number from 1 to 500",
                )
                .with_field("limit")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every parameter an operation says is in its path is in its path
    /// (a query's `limit` declared as a path parameter misleads clients and
    /// generators), and every `{name}` of a path is declared.
    #[test]
    fn path_parameters_are_exactly_the_paths_own() {
        let spec: serde_json::Value = serde_json::from_str(super::openapi()).unwrap();
        let mut wrong = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                let in_path: Vec<&str> = params
                    .iter()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for name in &in_path {
                    if !path.contains(&format!("{{{name}}}")) {
                        wrong.push(format!("{method} {path}: {name} is no part of the path"));
                    }
                }
                for part in path.split('/').filter(|p| p.starts_with('{')) {
                    let name = part.trim_matches(['{', '}']);
                    if !in_path.contains(&name) {
                        wrong.push(format!("{method} {path}: {name} is not declared"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }
}
