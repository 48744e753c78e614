//! The dashboard (seed 000: "From the dashboard, go to User Management"): the
//! organizations the person belongs to, with their roles there.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use portier_core::rights::{MembersRead, Right};

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
    let manages = |org: portier_core::ids::OrganizationId| {
        principal
            .grants
            .iter()
            .find(|g| g.organization_id == org)
            .is_some_and(|g| principal.holds(&MembersRead::PERMISSION, &g.path))
    };
    DashboardPage {
        page: person.viewer.page(),
        organizations: memberships
            .into_iter()
            .map(|m| OrganizationCard {
                id: m.organization_id.to_string(),
                manages: m.active && manages(m.organization_id),
                name: m.organization,
                active: m.active,
                roles: m.roles.join(", "),
            })
            .collect(),
    }
    .into_response()
}
