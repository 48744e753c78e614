//! Which organization a request names, and the caller's proof of a right
//! there: one decision for every front end. An organization the caller
//! holds nothing on (on it or above it) does not exist for them (404, so
//! nothing leaks about what exists elsewhere); one they see but lack the
//! right on is 403; otherwise the proof, `Authorized<R>`, which the store's
//! functions demand (docs/ARCHITECTURE.md#one-request-from-route-to-sql-and-back).

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
