//! The REST API under `/api/v1`, with its OpenAPI description generated from
//! the handlers (`GET /api/v1/openapi.json`).

pub mod activations;
pub mod members;
pub mod organizations;

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
        (name = "activations", description = "The link a new person follows to choose a password"),
    ),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
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
        .routes(routes!(members::add, members::list))
        .routes(routes!(members::get_one))
        .routes(routes!(activations::show, activations::activate))
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

/// Loads an organization the caller may see; anything else is 404, so nobody
/// learns what exists outside their rights.
pub(crate) async fn visible(
    state: &AppState,
    caller: &crate::auth::Caller,
    id: portier_core::ids::OrganizationId,
) -> Result<portier_core::organizations::Organization, ApiError> {
    let org = portier_store::organizations::get(&state.store, id)
        .await?
        .ok_or(portier_core::Error::NotFound {
            what: "organization",
        })?;
    caller.0.can_see(&org)?;
    Ok(org)
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
