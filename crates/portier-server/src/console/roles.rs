//! Roles and permissions (docs/RULES.md#roles-and-permissions): a matrix of
//! the organization's roles against the permissions they carry, and the
//! custom roles defined here, editable by holders of `roles.manage`
//! (administrator roles also need `admins.manage`, as in the API).

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::organizations::Organization;
use portier_core::permissions::{CATALOGUE, Permission};
use portier_core::rights::{MembersRead, RolesManage};
use portier_core::roles::{Role, RoleDefinition, RoleInput, RoleKey, RoleKind, RolePatchInput};
use portier_store::audit::Origin;

use super::form::{Posted, many, ticked};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, labels};
use super::{Done, I18n, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/roles", get(matrix))
        .route("/orgs/{org}/roles/new", get(new_form).post(create))
        .route("/orgs/{org}/roles/{key}", get(edit_form).post(update))
        .route("/orgs/{org}/roles/{key}/delete", post(delete))
}

/// A role's name in the viewer's language.
pub fn role_name(i18n: &I18n, r: &Role) -> String {
    name_in(i18n, &r.name)
}

/// A name given in English and Dutch, in the viewer's language.
pub fn name_in(i18n: &I18n, name: &portier_core::roles::LocalizedName) -> String {
    match i18n.locale {
        portier_core::locale::Locale::En => name.en.clone(),
        portier_core::locale::Locale::Nl => name.nl.clone(),
    }
}

/// What a permission of Portier's allows, in the viewer's language; the
/// product's own permissions are their name.
pub fn permission_text(i18n: &I18n, p: &Permission) -> String {
    match CATALOGUE.iter().find(|(c, _)| c == p) {
        Some((_, what)) => i18n.or(&format!("perm-{}", p.as_str().replace('.', "-")), what),
        None => String::new(),
    }
}

/// A role as the add form and the role change show it: name, kind, what it
/// allows, whether it needs a BIG number.
pub struct RoleChoice {
    pub key: String,
    pub name: String,
    pub admin: bool,
    pub permissions: String,
    pub needs_big: bool,
    pub chosen: bool,
}

pub fn choices(i18n: &I18n, roles: &[Role], chosen: &[String]) -> Vec<RoleChoice> {
    roles
        .iter()
        .map(|r| RoleChoice {
            key: r.key.as_str().to_owned(),
            name: role_name(i18n, r),
            admin: r.kind == portier_core::roles::RoleKind::Admin,
            permissions: r
                .permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            needs_big: r.requires_registration.is_some(),
            chosen: chosen.iter().any(|c| c == r.key.as_str()),
        })
        .collect()
}

/// A column of the matrix.
pub struct Column {
    pub key: String,
    pub name: String,
    pub admin: bool,
    pub needs_big: bool,
    /// Defined on this organization, so changed here.
    pub editable: bool,
}

/// A row of the matrix: a permission and, per column, whether the role
/// carries it.
pub struct Line {
    pub permission: String,
    pub what: String,
    pub held: Vec<bool>,
}

#[derive(Template, WebTemplate)]
#[template(path = "roles/matrix.html")]
pub struct MatrixPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub columns: Vec<Column>,
    pub lines: Vec<Line>,
    pub may_manage: bool,
    pub notice: Option<String>,
}

async fn matrix(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let roles = match portier_store::roles::list(&state.store, &ctx.auth).await {
        Ok(r) => r,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let i18n = person.viewer.i18n;
    // Portier's permissions in the catalogue's order, then the product's.
    let mut permissions: Vec<Permission> = CATALOGUE.iter().map(|(p, _)| p.clone()).collect();
    let mut product: Vec<Permission> = roles
        .iter()
        .flat_map(|r| r.permissions.iter())
        .filter(|p| !p.is_portier())
        .cloned()
        .collect();
    product.sort();
    product.dedup();
    permissions.extend(product);
    MatrixPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Roles),
        lines: permissions
            .iter()
            .map(|p| Line {
                permission: p.as_str().to_owned(),
                what: permission_text(&i18n, p),
                held: roles.iter().map(|r| r.permissions.contains(p)).collect(),
            })
            .collect(),
        columns: roles
            .iter()
            .map(|r| Column {
                key: r.key.as_str().to_owned(),
                name: role_name(&i18n, r),
                admin: r.kind == RoleKind::Admin,
                needs_big: r.requires_registration.is_some(),
                editable: r.organization_id == Some(ctx.org.id),
            })
            .collect(),
        may_manage: ctx.may::<RolesManage>(),
        notice: i18n.done(q.done.as_deref()),
        org: ctx.org,
    }
    .into_response()
}

/// What the role form was filled with.
#[derive(Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct RoleValues {
    pub key: String,
    #[serde(rename = "name.en")]
    pub name_en: String,
    #[serde(rename = "name.nl")]
    pub name_nl: String,
    pub kind: String,
    /// Portier's permissions ticked.
    #[serde(rename = "permissions", deserialize_with = "many")]
    pub portier: Vec<String>,
    /// The product's permissions, separated by commas or lines.
    pub product: String,
    #[serde(deserialize_with = "ticked")]
    pub big: bool,
    /// The portfolio types the role allows (docs/PORTFOLIOS.md#types), by key.
    #[serde(deserialize_with = "many")]
    pub portfolio_types: Vec<String>,
}

impl RoleValues {
    fn of(role: &Role) -> RoleValues {
        let (portier, product): (Vec<_>, Vec<_>) =
            role.permissions.iter().partition(|p| p.is_portier());
        RoleValues {
            key: role.key.as_str().to_owned(),
            name_en: role.name.en.clone(),
            name_nl: role.name.nl.clone(),
            kind: role.kind.as_str().to_owned(),
            portier: portier.iter().map(|p| p.as_str().to_owned()).collect(),
            product: product
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            big: role.requires_registration.is_some(),
            portfolio_types: role.portfolio_types.clone(),
        }
    }

    /// Every permission given: the ticked ones, then the typed ones.
    fn permissions(&self) -> Vec<String> {
        let mut all = self.portier.clone();
        all.extend(labels(&self.product.replace('\n', ",")));
        all
    }
}

/// One of Portier's permissions on the form.
pub struct Choice {
    pub permission: String,
    pub what: String,
    pub chosen: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "roles/form.html")]
pub struct RolePage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    /// `None` for a new role.
    pub editing: Option<String>,
    pub values: RoleValues,
    pub choices: Vec<Choice>,
    /// The environment's portfolio types: (key, name, allowed).
    pub types: Vec<(String, String, bool)>,
    pub problem: Option<Problem>,
}

impl Refusal for RolePage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl RolePage {
    fn general(&self) -> String {
        self.general_error(&[
            "key",
            "name",
            "kind",
            "permissions",
            "requires_registration",
            "portfolio_types",
        ])
    }

    fn is_admin(&self) -> bool {
        self.values.kind == RoleKind::Admin.as_str()
    }
}

async fn role_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    editing: Option<String>,
    values: RoleValues,
    problem: Option<Problem>,
) -> Result<RolePage, ApiError> {
    let i18n = person.viewer.i18n;
    let types = portier_store::portfolios::types(&state.store, &ctx.auth)
        .await?
        .into_iter()
        .map(|t| {
            let allowed = values.portfolio_types.contains(&t.key);
            (t.key, name_in(&i18n, &t.name), allowed)
        })
        .collect();
    Ok(RolePage {
        types,
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Roles),
        org: ctx.org.clone(),
        choices: CATALOGUE
            .iter()
            .map(|(p, _)| Choice {
                permission: p.as_str().to_owned(),
                what: permission_text(&i18n, p),
                chosen: values.portier.iter().any(|c| c == p.as_str()),
            })
            .collect(),
        editing,
        values,
        problem,
    })
}

/// The form again with the refusal, or the error page when it is ours.
async fn refused(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    editing: Option<String>,
    values: RoleValues,
    e: ApiError,
) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let problem = Problem::of(&person.viewer.i18n, &e);
    match role_page(state, person, ctx, editing, values, Some(problem)).await {
        Ok(page) => (e.status, page).into_response(),
        Err(e) => e.into_response(),
    }
}

fn to_matrix(org: &Organization, done: &str) -> Response {
    Redirect::to(&format!("/orgs/{}/roles?done={done}", org.id)).into_response()
}

async fn new_form(
    State(state): State<AppState>,
    access: OrgAccess<RolesManage, Console>,
) -> Response {
    let (person, ctx) = access.page();
    let values = RoleValues {
        kind: RoleKind::Content.as_str().to_owned(),
        ..RoleValues::default()
    };
    role_page(&state, &person, &ctx, None, values, None)
        .await
        .into_response()
}

async fn create(
    State(state): State<AppState>,
    access: OrgAccess<RolesManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(values): Posted<RoleValues>,
) -> Response {
    let (person, ctx) = access.page();
    let def = RoleDefinition::parse(RoleInput {
        key: values.key.trim().to_owned(),
        name_en: Some(values.name_en.clone()),
        name_nl: Some(values.name_nl.clone()).filter(|n| !n.trim().is_empty()),
        kind: values.kind.clone(),
        permissions: values.permissions(),
        requires_registration: values.big.then(|| "BIG".to_owned()),
        portfolio_types: values.portfolio_types.clone(),
    });
    let created = match (def, ctx.auth.and::<RolesManage>()) {
        (Err(e), _) => Err(ApiError::from(e)),
        (_, Err(e)) => Err(ApiError::from(e)),
        (Ok(def), Ok(auth)) => portier_store::roles::create(
            &state.store,
            &ctx.principal,
            &auth,
            def,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    match created {
        Ok(_) => to_matrix(&ctx.org, "role-created"),
        Err(e) => refused(&state, &person, &ctx, None, values, e).await,
    }
}

/// The custom role `key` defined on this organization, for its form.
async fn defined_here(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    key: &str,
) -> Result<Role, Response> {
    let not_found = || error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    let key = RoleKey::parse("key", key).map_err(|_| not_found())?;
    portier_store::roles::get(&state.store, &ctx.auth, &key)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .filter(|r| r.organization_id == Some(ctx.org.id))
        .ok_or_else(not_found)
}

async fn edit_form(
    State(state): State<AppState>,
    access: OrgAccess<RolesManage, Console>,
    Path((_, key)): Path<(String, String)>,
) -> Response {
    let (person, ctx) = access.page();
    match defined_here(&state, &person, &ctx, &key).await {
        Ok(role) => role_page(
            &state,
            &person,
            &ctx,
            Some(key),
            RoleValues::of(&role),
            None,
        )
        .await
        .into_response(),
        Err(page) => page,
    }
}

async fn update(
    State(state): State<AppState>,
    access: OrgAccess<RolesManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, key)): Path<(String, String)>,
    Posted(sent): Posted<RoleValues>,
) -> Response {
    let (person, ctx) = access.page();
    let role = match defined_here(&state, &person, &ctx, &key).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    // The key and the kind never change (see RolePatchInput).
    let values = RoleValues {
        key: key.clone(),
        kind: role.kind.as_str().to_owned(),
        ..sent
    };
    let patch = RolePatchInput {
        name_en: Some(values.name_en.clone()),
        name_nl: Some(values.name_nl.clone()),
        permissions: Some(values.permissions()),
        requires_registration: Some(values.big.then(|| "BIG".to_owned())),
        portfolio_types: Some(values.portfolio_types.clone()),
    };
    let updated = match ctx.auth.and::<RolesManage>() {
        Err(e) => Err(ApiError::from(e)),
        Ok(auth) => portier_store::roles::update(
            &state.store,
            &ctx.principal,
            &auth,
            &role.key,
            patch,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    match updated {
        Ok(_) => to_matrix(&ctx.org, "role-updated"),
        Err(e) => refused(&state, &person, &ctx, Some(key), values, e).await,
    }
}

async fn delete(
    State(state): State<AppState>,
    access: OrgAccess<RolesManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((_, key)): Path<(String, String)>,
) -> Response {
    let (person, ctx) = access.page();
    let role = match defined_here(&state, &person, &ctx, &key).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let deleted = match ctx.auth.and::<RolesManage>() {
        Err(e) => Err(ApiError::from(e)),
        Ok(auth) => portier_store::roles::delete(
            &state.store,
            &ctx.principal,
            &auth,
            &role.key,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    match deleted {
        Ok(()) => to_matrix(&ctx.org, "role-deleted"),
        Err(e) => refused(&state, &person, &ctx, Some(key), RoleValues::of(&role), e).await,
    }
}
