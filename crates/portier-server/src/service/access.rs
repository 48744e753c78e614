//! Which organization a request names, and the caller's proof of a right
//! there: one decision for every front end. An organization the caller
//! holds nothing on (on it or above it) does not exist for them (404, so
//! nothing leaks about what exists elsewhere); one they see but lack the
//! right on is 403; otherwise the proof, `Authorized<R>`, which the store's
//! functions demand (docs/ARCHITECTURE.md#one-request-from-route-to-sql-and-back).

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use portier_core::ids::OrganizationId;
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, Principal, Right};

use crate::{ApiError, AppState};

/// The organization `id`, when `caller` may know it exists; else 404.
pub async fn organization(
    state: &AppState,
    caller: &Principal,
    id: OrganizationId,
) -> Result<Organization, ApiError> {
    let org = portier_store::organizations::get(&state.store, id)
        .await?
        .ok_or(portier_core::Error::NotFound {
            what: "organization",
        })?;
    caller.can_see(&org)?;
    Ok(org)
}

/// The organization `id` (404 when `caller` cannot see it) and the caller's
/// proof of `R` there (403 without it).
pub async fn authorized<R: Right>(
    state: &AppState,
    caller: &Principal,
    id: OrganizationId,
) -> Result<(Organization, Authorized<R>), ApiError> {
    let org = organization(state, caller, id).await?;
    let auth = caller.authorize::<R>(&org)?;
    Ok((org, auth))
}

/// How a front end finds its caller and shows a refusal, for [`OrgAccess`].
pub trait Front: Send + Sync + 'static {
    /// Who is calling, as the front end knows them (the API's `Caller`, the
    /// console's signed-in person).
    type Caller: Send + Sync;
    /// What the front end answers instead of the page or the JSON.
    type Refusal: IntoResponse;

    fn caller(
        parts: &mut Parts,
        state: &AppState,
    ) -> impl Future<Output = Result<Self::Caller, Self::Refusal>> + Send;

    /// Everything the caller holds.
    fn principal(
        caller: &Self::Caller,
        state: &AppState,
    ) -> impl Future<Output = Result<Principal, ApiError>> + Send;

    /// The refusal for `e`: the organization's id unreadable (400 naming
    /// `org`), not found for the caller (404), the right missing (403), or
    /// a failure.
    fn refuse(caller: &Self::Caller, e: ApiError) -> Self::Refusal;
}

/// The organization a route names in `{org}`, and the caller's proof of `R`
/// there: one extractor for the REST API and the console, so that both
/// answer 404 for an organization the caller cannot see and 403 for a right
/// they lack, from [`authorized`]. A handler that takes it cannot reach
/// the store's reads or changes of that organization without the proof.
pub struct OrgAccess<R: Right, F: Front> {
    pub caller: F::Caller,
    pub auth: Authorized<R>,
}

impl<R: Right, F: Front> OrgAccess<R, F> {
    /// The organization, as read when the proof was made.
    pub fn org(&self) -> &Organization {
        self.auth.organization()
    }
}

impl<R: Right + Send + 'static, F: Front> FromRequestParts<AppState> for OrgAccess<R, F> {
    type Rejection = F::Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, F::Refusal> {
        let caller = F::caller(parts, state).await?;
        let decided = async {
            let params = RawPathParams::from_request_parts(parts, state)
                .await
                .map_err(|e| ApiError::new(e.status(), "invalid_path", e.body_text()))?;
            let raw = params
                .iter()
                .find_map(|(name, value)| (name == "org").then_some(value))
                .unwrap_or_default();
            let id = crate::extract::path_id("org", raw)?;
            let principal = F::principal(&caller, state).await?;
            let (_, auth) = authorized::<R>(state, &principal, id).await?;
            Ok::<_, ApiError>(auth)
        }
        .await;
        match decided {
            Ok(auth) => Ok(OrgAccess { caller, auth }),
            Err(e) => Err(F::refuse(&caller, e)),
        }
    }
}

/// The REST API: the caller of a token or a session; refusals as the
/// contract's JSON errors.
pub struct Api;

impl Front for Api {
    type Caller = crate::auth::Caller;
    type Refusal = ApiError;

    async fn caller(parts: &mut Parts, state: &AppState) -> Result<Self::Caller, ApiError> {
        crate::auth::Caller::from_request_parts(parts, state).await
    }

    async fn principal(caller: &Self::Caller, _: &AppState) -> Result<Principal, ApiError> {
        Ok(caller.0.clone())
    }

    fn refuse(_: &Self::Caller, e: ApiError) -> ApiError {
        e
    }
}
