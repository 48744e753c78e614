//! Groups (docs/RULES.md#groups; teams): a group carries content roles, and its
//! members hold them in the organization. Seen by those who see the members;
//! changed by holders of `groups.manage`.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::email::Email;
use portier_core::groups::{GroupInput, GroupPatch, GroupPatchInput, NewGroup};
use portier_core::ids::{AccountId, GroupId};
use portier_core::organizations::Organization;
use portier_core::rights::{GroupsManage, MembersRead};
use portier_core::roles::RoleKind;
use portier_store::audit::Origin;
use portier_store::groups::GroupView;

use super::form::{Posted, many};
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, optional, org_context};
use super::roles::{RoleChoice, choices, role_name};
use super::{Done, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/groups", get(list).post(create))
        .route("/orgs/{org}/groups/{group}", get(show).post(update))
        .route("/orgs/{org}/groups/{group}/delete", post(delete))
        .route("/orgs/{org}/groups/{group}/members", post(add_member))
        .route(
            "/orgs/{org}/groups/{group}/members/{account}/remove",
            post(remove_member),
        )
}

/// What a group form was filled with.
#[derive(Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct GroupValues {
    pub name: String,
    pub description: String,
    #[serde(deserialize_with = "many")]
    pub roles: Vec<String>,
}

impl GroupValues {
    fn of(g: &GroupView) -> GroupValues {
        GroupValues {
            name: g.name.clone(),
            description: g.description.clone().unwrap_or_default(),
            roles: g.roles.clone(),
        }
    }
}

/// The form that adds a member to a group by their address.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct AddressForm {
    email: String,
}

/// The content roles a group may carry, `chosen` ticked.
async fn role_choices(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    chosen: &[String],
) -> Result<Vec<RoleChoice>, ApiError> {
    let roles: Vec<_> = portier_store::roles::list(&state.store, &ctx.auth)
        .await?
        .into_iter()
        .filter(|r| r.kind == RoleKind::Content)
        .collect();
    Ok(choices(&person.viewer.i18n, &roles, chosen))
}

pub struct GroupRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub roles: String,
    pub members: i64,
}

#[derive(Template, WebTemplate)]
#[template(path = "groups/list.html")]
pub struct ListPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub groups: Vec<GroupRow>,
    pub may_manage: bool,
    /// The form for a new group.
    pub values: GroupValues,
    pub roles: Vec<RoleChoice>,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for ListPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl ListPage {
    fn general(&self) -> String {
        self.general_error(&["name", "description", "roles"])
    }
}

async fn list_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    values: GroupValues,
    problem: Option<Problem>,
    notice: Option<String>,
) -> Result<ListPage, ApiError> {
    let i18n = person.viewer.i18n;
    let all_roles = portier_store::roles::list(&state.store, &ctx.auth).await?;
    let name_of = |key: &String| {
        all_roles
            .iter()
            .find(|r| r.key.as_str() == key)
            .map(|r| role_name(&i18n, r))
            .unwrap_or_else(|| key.clone())
    };
    let groups = portier_store::groups::list(&state.store, &ctx.auth)
        .await?
        .iter()
        .map(|g| GroupRow {
            id: g.id.to_string(),
            name: g.name.clone(),
            description: g.description.clone().unwrap_or_default(),
            roles: g.roles.iter().map(name_of).collect::<Vec<_>>().join(", "),
            members: g.member_count,
        })
        .collect();
    Ok(ListPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Groups),
        org: ctx.org.clone(),
        groups,
        may_manage: ctx.may::<GroupsManage>(),
        roles: role_choices(state, person, ctx, &values.roles).await?,
        values,
        problem,
        notice,
    })
}

async fn list(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let notice = person.viewer.i18n.done(q.done.as_deref());
    list_page(&state, &person, &ctx, GroupValues::default(), None, notice)
        .await
        .into_response()
}

async fn create(
    State(state): State<AppState>,
    access: OrgAccess<GroupsManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(values): Posted<GroupValues>,
) -> Response {
    let (person, ctx) = access.page();
    let new = NewGroup::parse(GroupInput {
        name: values.name.clone(),
        description: optional(&values.description),
        roles: values.roles.clone(),
    });
    let created = match (new, ctx.auth.and::<GroupsManage>()) {
        (Err(e), _) => Err(ApiError::from(e)),
        (_, Err(e)) => Err(ApiError::from(e)),
        (Ok(new), Ok(auth)) => portier_store::groups::create(
            &state.store,
            &ctx.principal,
            &auth,
            new,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    match created {
        Ok(g) => Redirect::to(&format!(
            "/orgs/{}/groups/{}?done=group-created",
            ctx.org.id, g.id
        ))
        .into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            match list_page(&state, &person, &ctx, values, Some(problem), None).await {
                Ok(page) => (e.status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}

pub struct MemberRow {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub status: &'static str,
    pub status_text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "groups/show.html")]
pub struct GroupPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub group: GroupView,
    pub members: Vec<MemberRow>,
    pub may_manage: bool,
    pub values: GroupValues,
    pub roles: Vec<RoleChoice>,
    /// The address typed to add someone.
    pub email: String,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for GroupPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl GroupPage {
    fn general(&self) -> String {
        self.general_error(&["name", "description", "roles", "email"])
    }

    fn edit_refused(&self) -> bool {
        ["name", "description", "roles"]
            .iter()
            .any(|f| !self.error_for(f).is_empty())
    }
}

/// What a group page shows besides the group: a refusal, a notice, and the
/// forms' values.
#[derive(Default)]
struct Shown {
    values: Option<GroupValues>,
    email: String,
    problem: Option<Problem>,
    notice: Option<String>,
}

async fn group_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    group: &str,
    shown: Shown,
) -> Result<Response, ApiError> {
    let i18n = person.viewer.i18n;
    let found = match group.parse::<GroupId>() {
        Ok(id) => portier_store::groups::get(&state.store, &ctx.auth, id).await?,
        Err(_) => None,
    };
    let Some(group) = found else {
        return Ok(error_page(
            &person.viewer,
            StatusCode::NOT_FOUND,
            "error-not-found",
        ));
    };
    let members = portier_store::groups::members(
        &state.store,
        &ctx.and::<portier_core::rights::MembersRead>()?,
        group.id,
    )
    .await?
    .into_iter()
    .map(|m| MemberRow {
        account_id: m.account.id.to_string(),
        name: m.account.display_name(),
        email: m.account.email.to_string(),
        status: m.status.as_str(),
        status_text: i18n.t(&format!("status-{}", m.status.as_str())),
    })
    .collect();
    let values = shown.values.unwrap_or_else(|| GroupValues::of(&group));
    Ok(GroupPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Groups),
        org: ctx.org.clone(),
        roles: role_choices(state, person, ctx, &values.roles).await?,
        may_manage: ctx.may::<GroupsManage>(),
        group,
        members,
        values,
        email: shown.email,
        problem: shown.problem,
        notice: shown.notice,
    }
    .into_response())
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Path((_, group)): Path<(String, String)>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let shown = Shown {
        notice: person.viewer.i18n.done(q.done.as_deref()),
        ..Shown::default()
    };
    group_page(&state, &person, &ctx, &group, shown)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// After a change to a group: its page saying what was done, or the page
/// again with the refusal.
async fn after(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    group: &str,
    done: &str,
    outcome: Result<(), ApiError>,
    shown: Shown,
) -> Response {
    match outcome {
        Ok(()) => Redirect::to(&format!("/orgs/{}/groups/{group}?done={done}", ctx.org.id))
            .into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let shown = Shown {
                problem: Some(Problem::of(&person.viewer.i18n, &e)),
                ..shown
            };
            match group_page(state, person, ctx, group, shown).await {
                Ok(mut page) => {
                    if page.status() == StatusCode::OK {
                        *page.status_mut() = e.status;
                    }
                    page
                }
                Err(e) => e.into_response(),
            }
        }
    }
}

/// The organization and the group of a change, when the person may manage
/// groups there.
async fn managed(
    state: &AppState,
    person: &Person,
    org: &str,
    group: &str,
) -> Result<
    (
        OrgContext<GroupsManage>,
        portier_core::rights::Authorized<GroupsManage>,
        GroupId,
    ),
    Response,
> {
    let ctx = org_context::<GroupsManage>(state, person, org).await?;
    let auth = ctx.auth.clone();
    let id = group
        .parse()
        .map_err(|_| error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found"))?;
    Ok((ctx, auth, id))
}

async fn update(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, group)): Path<(String, String)>,
    Posted(values): Posted<GroupValues>,
) -> Response {
    let (ctx, auth, id) = match managed(&state, &person, &org, &group).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let patch = GroupPatch::parse(GroupPatchInput {
        name: Some(values.name.clone()),
        description: Some(optional(&values.description)),
        roles: Some(values.roles.clone()),
    });
    let outcome = match patch {
        Err(e) => Err(ApiError::from(e)),
        Ok(patch) => portier_store::groups::update(
            &state.store,
            &ctx.principal,
            &auth,
            id,
            patch,
            &Origin::now(client),
        )
        .await
        .map(|_| ())
        .map_err(ApiError::from),
    };
    let shown = Shown {
        values: Some(values),
        ..Shown::default()
    };
    after(
        &state,
        &person,
        &ctx,
        &group,
        "group-updated",
        outcome,
        shown,
    )
    .await
}

async fn delete(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, group)): Path<(String, String)>,
) -> Response {
    let (ctx, auth, id) = match managed(&state, &person, &org, &group).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let deleted = portier_store::groups::delete(
        &state.store,
        &ctx.principal,
        &auth,
        id,
        &Origin::now(client),
    )
    .await;
    match deleted {
        Ok(()) => {
            Redirect::to(&format!("/orgs/{}/groups?done=group-deleted", ctx.org.id)).into_response()
        }
        Err(e) => {
            let e = ApiError::from(e);
            after(&state, &person, &ctx, &group, "", Err(e), Shown::default()).await
        }
    }
}

/// "This person is not a member here", for an address that has no account
/// or whose account is not a member: the two answer alike.
fn not_a_member() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_member",
        "only members of this organization can join its groups",
    )
    .with_field("email")
}

async fn add_member(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, group)): Path<(String, String)>,
    Posted(AddressForm { email: typed }): Posted<AddressForm>,
) -> Response {
    let (ctx, auth, id) = match managed(&state, &person, &org, &group).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let outcome = match Email::parse(&typed) {
        Err(e) => Err(ApiError::from(e.in_field("email"))),
        Ok(email) => match portier_store::accounts::find_by_email(&state.store, &email).await {
            Err(e) => Err(ApiError::from(e)),
            Ok(None) => Err(not_a_member()),
            Ok(Some(account)) => {
                set_member(&state, &ctx, &auth, id, account.id, true, client).await
            }
        },
    };
    let shown = Shown {
        email: typed,
        ..Shown::default()
    };
    after(
        &state,
        &person,
        &ctx,
        &group,
        "group-member-added",
        outcome,
        shown,
    )
    .await
}

async fn set_member(
    state: &AppState,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    auth: &portier_core::rights::Authorized<GroupsManage>,
    group: GroupId,
    account: AccountId,
    join: bool,
    client: Option<String>,
) -> Result<(), ApiError> {
    portier_store::groups::set_member(
        &state.store,
        &ctx.principal,
        auth,
        group,
        account,
        join,
        &Origin::now(client),
    )
    .await
    .map(|_| ())
    .map_err(|e| match e {
        portier_store::Error::Domain(portier_core::Error::NotFound { what: "member" }) => {
            not_a_member()
        }
        other => other.into(),
    })
}

async fn remove_member(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, group, account)): Path<(String, String, String)>,
) -> Response {
    let (ctx, auth, id) = match managed(&state, &person, &org, &group).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let Ok(account) = account.parse() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let outcome = set_member(&state, &ctx, &auth, id, account, false, client).await;
    after(
        &state,
        &person,
        &ctx,
        &group,
        "group-member-removed",
        outcome,
        Shown::default(),
    )
    .await
}
