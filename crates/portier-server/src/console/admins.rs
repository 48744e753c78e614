//! Administrators (docs/RULES.md#administrators): who holds an administrator
//! role here, on this organization or inherited from one above it.
//! Administrator rights are given and taken on a member's page, by holders
//! of `admins.manage`.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portier_core::members::MemberStatus;
use portier_core::organizations::Organization;
use portier_core::rights::{AdminsManage, MembersRead};

use super::org::{NavLink, OrgContext, Section};
use super::roles::role_name;
use super::{Page, Person};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/orgs/{org}/administrators", get(list))
}

pub struct AdminRow {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub status: &'static str,
    pub status_text: String,
    /// The organization above this one where the rights are held, if so.
    pub inherited_from: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "admins.html")]
pub struct AdminsPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub rows: Vec<AdminRow>,
    pub may_manage: bool,
}

async fn list(State(state): State<AppState>, access: OrgAccess<MembersRead, Console>) -> Response {
    let (person, ctx) = access.page();
    match page(&state, &person, ctx).await {
        Ok(p) => p.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn page(
    state: &AppState,
    person: &Person,
    ctx: OrgContext<MembersRead>,
) -> Result<AdminsPage, ApiError> {
    let i18n = person.viewer.i18n;
    let admins = portier_store::members::administrators(&state.store, &ctx.auth).await?;
    let roles = portier_store::roles::list(&state.store, &ctx.auth).await?;
    let names: HashMap<&str, String> = roles
        .iter()
        .map(|r| (r.key.as_str(), role_name(&i18n, r)))
        .collect();
    let mut above = HashMap::new();
    for a in &admins {
        if a.organization_id != ctx.org.id && !above.contains_key(&a.organization_id) {
            let name = portier_store::organizations::get(&state.store, a.organization_id)
                .await?
                .map(|o| o.name)
                .unwrap_or_default();
            above.insert(a.organization_id, name);
        }
    }
    let rows = admins
        .iter()
        .map(|a| {
            let status = MemberStatus::of(a.account.status, a.membership_active);
            AdminRow {
                account_id: a.account.id.to_string(),
                name: a.account.display_name(),
                email: a.account.email.to_string(),
                roles: a
                    .roles
                    .iter()
                    .map(|k| names.get(k.as_str()).cloned().unwrap_or_else(|| k.clone()))
                    .collect::<Vec<_>>()
                    .join(", "),
                status: status.as_str(),
                status_text: i18n.t(&format!("status-{}", status.as_str())),
                inherited_from: above.get(&a.organization_id).cloned(),
            }
        })
        .collect();
    Ok(AdminsPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Administrators),
        may_manage: ctx.may::<AdminsManage>(),
        rows,
        org: ctx.org,
    })
}
