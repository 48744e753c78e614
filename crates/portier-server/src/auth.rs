//! Who is calling. For now a bearer API token (`Authorization: Bearer ptk_…`);
//! the console's session cookie joins in the lifecycle issue. A missing token
//! and a wrong one are both 401, with the contract's error body.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::Utc;
use portier_core::rights::Principal;

use crate::{ApiError, AppState};

/// The authenticated caller and everything it holds.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthenticated(
                "unauthenticated",
                "send an API token as Authorization: Bearer <token>",
            ));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "invalid_authorization",
                    "the Authorization header must read Bearer <token>",
                )
            })?;
        match portier_store::api_tokens::authenticate(&state.store, token, Utc::now()).await? {
            Some(principal) => Ok(Caller(principal)),
            None => Err(ApiError::unauthenticated(
                "invalid_token",
                "this token is not valid: it is unknown, revoked or expired",
            )),
        }
    }
}
