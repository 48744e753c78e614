//! A person's signed-in sessions, and an administrator ending all of a
//! member's (docs/RULES.md#shared-accounts).

use crate::{ApiError, AppState};
use chrono::{DateTime, Utc};
use portier_core::rights::MembersUpdate;
use portier_store::audit::Origin;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionView {
    /// Names the session in `DELETE /me/sessions/{id}`.
    pub id: String,
    /// The browser and system, e.g. "Firefox on Linux", when recognized.
    pub device: Option<String>,
    pub user_agent: Option<String>,
    /// The address the session started from.
    pub client_addr: Option<String>,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The session this request came with.
    pub current: bool,
}

/// The person's sessions, for the API and the console.
pub(crate) async fn of(
    state: &AppState,
    session: &portier_store::sessions::Session,
) -> Result<Vec<SessionView>, ApiError> {
    let current = portier_store::sessions::public_id(&session.id_hash);
    let list = portier_store::sessions::list(
        &state.store,
        session.account_id,
        &state.config.sessions,
        Utc::now(),
    )
    .await?;
    Ok(list
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current,
            device: s
                .user_agent
                .as_deref()
                .and_then(portier_core::sessions::device),
            id: s.id,
            user_agent: s.user_agent,
            client_addr: s.client_addr,
            started_at: s.created_at,
            last_seen_at: s.last_seen_at,
        })
        .collect())
}

/// Ends a member's sessions, for the API and the console.
pub(crate) async fn end_member_sessions(
    state: &AppState,
    auth: &portier_core::rights::Authorized<MembersUpdate>,
    account: portier_core::ids::AccountId,
    client: Option<String>,
) -> Result<u64, ApiError> {
    Ok(
        portier_store::sessions::end_of_member(&state.store, auth, account, &Origin::now(client))
            .await?,
    )
}
