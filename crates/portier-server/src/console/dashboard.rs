//! The dashboard (seed 000: "From the dashboard, go to User Management"): the
//! organizations the person belongs to, with their roles there.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::{Page, Person};
use crate::{ApiError, AppState};

pub struct OrganizationCard {
    pub name: String,
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
    DashboardPage {
        page: person.viewer.page(),
        organizations: memberships
            .into_iter()
            .map(|m| OrganizationCard {
                name: m.organization,
                active: m.active,
                roles: m.roles.join(", "),
            })
            .collect(),
    }
    .into_response()
}
