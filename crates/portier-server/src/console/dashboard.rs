//! The dashboard, where a person starts and goes on to user management: the
//! organizations the person belongs to, with their roles there.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use portier_core::rights::{MembersRead, MembersUpdate, PortfoliosManage, Right};

use super::{Page, Person};
use crate::{ApiError, AppState};

pub struct OrganizationCard {
    pub id: String,
    pub name: String,
    /// The person may see its users: the way into User Management.
    pub manages: bool,
    pub active: bool,
    /// The role keys held there, for reading.
    pub roles: String,
    /// Portfolio transfers waiting for this organization's answer, for
    /// those who manage its portfolios.
    pub transfers_waiting: i64,
    /// People waiting for approval to join
    /// (docs/RULES.md#self-sign-up-and-e-mail-domains), for those who may
    /// approve them.
    pub approvals_waiting: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub page: Page,
    pub organizations: Vec<OrganizationCard>,
}

pub async fn show(State(state): State<AppState>, person: Person) -> Response {
    let memberships =
        match portier_store::members::memberships_of(&state.store, person.account.id).await {
            Ok(m) => m,
            Err(e) => return ApiError::from(e).into_response(),
        };
    let principal = match portier_store::members::principal_for_account(
        &state.store,
        person.account.id,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let holds = |org: portier_core::ids::OrganizationId,
                 permission: &portier_core::permissions::Permission| {
        principal
            .grants
            .iter()
            .find(|g| g.organization_id == org)
            .is_some_and(|g| principal.holds(permission, &g.path))
    };
    let mut organizations = Vec::new();
    for m in memberships {
        let (transfers_waiting, approvals_waiting) =
            match waiting(&state, &m, &principal, &holds).await {
                Ok(counts) => counts,
                Err(e) => return ApiError::from(e).into_response(),
            };
        organizations.push(OrganizationCard {
            id: m.organization_id.to_string(),
            manages: m.active && holds(m.organization_id, &MembersRead::PERMISSION),
            name: m.organization,
            active: m.active,
            roles: m.roles.join(", "),
            transfers_waiting,
            approvals_waiting,
        });
    }
    DashboardPage {
        page: person.viewer.page(),
        organizations,
    }
    .into_response()
}

/// What waits for the person's answer in the organization of membership
/// `m`: portfolio transfers (for those who manage its portfolios) and people
/// who joined by its domain (for those who may approve them).
async fn waiting(
    state: &AppState,
    m: &portier_store::members::OwnMembership,
    principal: &portier_core::rights::Principal,
    holds: &impl Fn(portier_core::ids::OrganizationId, &portier_core::permissions::Permission) -> bool,
) -> portier_store::Result<(i64, i64)> {
    let wanted = [PortfoliosManage::PERMISSION, MembersUpdate::PERMISSION];
    if !m.active || !wanted.iter().any(|p| holds(m.organization_id, p)) {
        return Ok((0, 0));
    }
    let Some(org) = portier_store::organizations::get(&state.store, m.organization_id).await?
    else {
        return Ok((0, 0));
    };
    let t = match principal.authorize::<PortfoliosManage>(&org) {
        Ok(auth) => portier_store::portfolios::awaiting(&state.store, &auth).await?,
        Err(_) => 0,
    };
    let a = match principal.authorize::<MembersUpdate>(&org) {
        Ok(auth) => portier_store::signups::awaiting_count(&state.store, &auth).await?,
        Err(_) => 0,
    };
    Ok((t, a))
}
