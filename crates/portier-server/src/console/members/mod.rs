//! User management: "Users in this organization" with search, filters and
//! pages; "Add user" in the order of docs/RULES.md#adding-members (role,
//! e-mail, BIG number, then the rest); a member's page with their details,
//! roles and permissions, groups, registration, invitation and audit trail,
//! and the changes an administrator makes there. Every change goes through
//! the same store functions, rules and rights as the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::accounts::AccountStatus;
use portier_core::ids::AccountId;
use portier_core::members::{MemberInput, MemberPatch, MemberPatchInput, MemberStatus, NewMember};
use portier_core::organizations::Organization;
use portier_core::rights::{
    GroupsManage, MembersInvite, MembersRead, MembersRemove, MembersUpdate, PortfoliosManage,
    Right, RolesAssign,
};
use portier_core::roles::RoleKey;
use portier_store::audit::{AuditFilter, Origin};
use portier_store::members::{MemberFilter, MemberView};
use serde::Deserialize;

use super::form::{Posted, many, sent, ticked};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, labels, optional, org_context};
use super::roles::{RoleChoice, choices, role_name};
use super::{I18n, Page, Person, error_page, url_encode};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

mod actions;
mod add;
mod list;
mod profile;
mod show;

pub(crate) use actions::*;
pub(crate) use add::*;
pub(crate) use list::*;
pub(crate) use profile::*;
pub(crate) use show::*;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/members", get(list))
        .route("/orgs/{org}/members/new", get(new_form).post(add))
        .route("/orgs/{org}/members/{account}", get(show))
        .route(
            "/orgs/{org}/members/{account}/details",
            post(change_details),
        )
        .route("/orgs/{org}/members/{account}/roles", post(change_roles))
        .route("/orgs/{org}/members/{account}/groups", post(change_groups))
        .route("/orgs/{org}/members/{account}/resend", post(resend))
        .route("/orgs/{org}/members/{account}/deactivate", post(deactivate))
        .route(
            "/orgs/{org}/members/{account}/reset-two-factor",
            post(reset_two_factor),
        )
        .route(
            "/orgs/{org}/members/{account}/end-sessions",
            post(end_sessions),
        )
        .route("/orgs/{org}/members/{account}/reactivate", post(reactivate))
        .route("/orgs/{org}/members/{account}/remove", post(remove))
}
