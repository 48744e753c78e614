//! Limits on guessing: every secret a person types (a password, a code, a
//! current password) counts against the person and the client before it is
//! checked, and a right one clears the person's count
//! (docs/RULES.md#guessing-secrets).

use crate::{ApiError, AppState};
use axum::http::StatusCode;
use chrono::Utc;
use portier_core::throttles::{self, Limit};

/// Checks every limit in one read; the first one reached answers 429.
/// Returns which keys have a counter at all (those worth clearing later).
pub(crate) async fn enforce(
    state: &AppState,
    limits: &[(String, Limit)],
) -> Result<Vec<bool>, ApiError> {
    let keys: Vec<&str> = limits.iter().map(|(k, _)| k.as_str()).collect();
    let counters = portier_store::throttles::read(&state.store, &keys).await?;
    check_limits(limits, &counters)
}

/// The first limit reached among `counters` (one per limit) answers 429.
/// Returns which keys have a counter at all (those worth clearing later).
pub(crate) fn check_limits(
    limits: &[(String, Limit)],
    counters: &[Option<(i64, chrono::DateTime<Utc>)>],
) -> Result<Vec<bool>, ApiError> {
    let now = Utc::now();
    for ((_, limit), counter) in limits.iter().zip(counters) {
        if let Some(wait) = counter.and_then(|(n, start)| limit.retry_after(n, start, now)) {
            return Err(ApiError::throttled(wait));
        }
    }
    Ok(counters.iter().map(Option::is_some).collect())
}

pub(crate) async fn count(state: &AppState, limits: &[(String, Limit)]) -> Result<(), ApiError> {
    for (key, limit) in limits {
        portier_store::throttles::hit(&state.store, key, limit, Utc::now()).await?;
    }
    Ok(())
}

/// Runs a check of a person's second factor within its limits
/// ([`guarded`]).
pub(crate) async fn second_factor_guarded<T>(
    state: &AppState,
    account: portier_core::ids::AccountId,
    client: Option<&str>,
    check: impl std::future::Future<Output = portier_store::Result<T>>,
) -> Result<T, ApiError> {
    let limits = second_factor_limits(account, client);
    guarded(state, &limits, async {
        check.await.map_err(ApiError::from)
    })
    .await
}

/// Runs a check of one of a person's secrets (a code, their current
/// password) within `limits`, per account and per client. The attempt
/// counts against the account before the secret is checked, in one atomic
/// step, so that guesses sent in parallel all count; a right one clears the
/// count. A wrong one (a 422) also counts against the client (spraying
/// across accounts).
pub(crate) async fn guarded<T>(
    state: &AppState,
    [per_account, per_client]: &[(String, Limit); 2],
    check: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    enforce(state, std::slice::from_ref(per_client)).await?;
    let now = Utc::now();
    let (n, start) =
        portier_store::throttles::hit(&state.store, &per_account.0, &per_account.1, now).await?;
    if let Some(wait) = per_account.1.retry_after(n - 1, start, now) {
        return Err(ApiError::throttled(wait));
    }
    match check.await {
        Ok(v) => {
            portier_store::throttles::clear(&state.store, &per_account.0).await?;
            Ok(v)
        }
        Err(e) => {
            if e.status == StatusCode::UNPROCESSABLE_ENTITY {
                count(state, std::slice::from_ref(per_client)).await?;
            }
            Err(e)
        }
    }
}

/// The limits of checking a signed-in person's current password (before a
/// new one is chosen): a session that is not its owner's must not get to
/// guess it.
pub(crate) fn current_password_limits(
    account: portier_core::ids::AccountId,
    client: Option<&str>,
) -> [(String, Limit); 2] {
    [
        (
            format!("current_password:account:{account}"),
            throttles::CURRENT_PASSWORD_PER_ACCOUNT,
        ),
        (
            format!("current_password:client:{}", client.unwrap_or("unknown")),
            throttles::LOGIN_PER_CLIENT,
        ),
    ]
}

pub(crate) fn second_factor_limits(
    account: portier_core::ids::AccountId,
    client: Option<&str>,
) -> [(String, Limit); 2] {
    [
        (
            format!("second_factor:account:{account}"),
            throttles::SECOND_FACTOR_PER_ACCOUNT,
        ),
        (
            format!("second_factor:client:{}", client.unwrap_or("unknown")),
            throttles::LOGIN_PER_CLIENT,
        ),
    ]
}
