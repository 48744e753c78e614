//! Resources and grants (docs/RULES.md#resources: people are let into the
//! mailboxes and administrations they need): the organization's named
//! resources, and who holds which relation on each, a member or a group.
//! Seen by those who see the members; changed by holders of
//! `resources.manage`.

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
use portier_core::organizations::Organization;
use portier_core::resources::{NewResource, ResourceInput, parse_relation};
use portier_core::rights::{MembersRead, ResourcesManage};
use portier_store::audit::Origin;
use portier_store::resources::{Holder, Resource};

use super::form::Posted;
use super::org::{NavLink, OrgContext, Problem, Refusal, Section, org_context};
use super::{Done, Page, Person, error_page};
use crate::extract::ClientAddr;
use crate::service::resources::{resource_in_path, url_segment};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/orgs/{org}/resources", get(list).post(create))
        .route("/orgs/{org}/resources/{kind}/{key}", get(show))
        .route("/orgs/{org}/resources/{kind}/{key}/grants", post(grant))
        .route(
            "/orgs/{org}/resources/{kind}/{key}/grants/{grant}/revoke",
            post(revoke),
        )
        .route("/orgs/{org}/resources/{kind}/{key}/delete", post(delete))
}

pub struct ResourceRow {
    pub kind: String,
    pub name: String,
    pub key: String,
    pub href: String,
}

fn href(org: &Organization, r: &Resource) -> String {
    format!(
        "/orgs/{}/resources/{}/{}",
        org.id,
        r.kind,
        url_segment(&r.key)
    )
}

#[derive(Template, WebTemplate)]
#[template(path = "resources/list.html")]
pub struct ListPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub resources: Vec<ResourceRow>,
    pub may_manage: bool,
    /// The new-resource form: type, id, name.
    pub kind: String,
    pub key: String,
    pub name: String,
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
        self.general_error(&["type", "id", "name"])
    }
}

/// The new-resource form.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct NewForm {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "id")]
    key: String,
    name: String,
}

async fn list_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    form: Option<&NewForm>,
    problem: Option<Problem>,
    notice: Option<String>,
) -> Result<ListPage, ApiError> {
    let resources = portier_store::resources::list(&state.store, &ctx.auth)
        .await?
        .iter()
        .map(|r| ResourceRow {
            kind: r.kind.clone(),
            name: r.name.clone(),
            key: r.key.clone(),
            href: href(&ctx.org, r),
        })
        .collect();
    let field = |f: fn(&NewForm) -> &String| form.map(f).cloned().unwrap_or_default();
    Ok(ListPage {
        page: person.viewer.page(),
        nav: ctx.nav(&person.viewer.i18n, Section::Resources),
        org: ctx.org.clone(),
        resources,
        may_manage: ctx.may::<ResourcesManage>(),
        kind: form.map_or_else(|| "mailbox".to_owned(), |f| f.kind.clone()),
        key: field(|f| &f.key),
        name: field(|f| &f.name),
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
    list_page(&state, &person, &ctx, None, None, notice)
        .await
        .into_response()
}

async fn create(
    State(state): State<AppState>,
    access: OrgAccess<ResourcesManage, Console>,
    ClientAddr(client): ClientAddr,
    Posted(form): Posted<NewForm>,
) -> Response {
    let (person, ctx) = access.page();
    let new = NewResource::parse(ResourceInput {
        kind: form.kind.trim().to_owned(),
        key: form.key.clone(),
        name: form.name.clone(),
    });
    let created = match (new, ctx.auth.and::<ResourcesManage>()) {
        (Err(e), _) => Err(ApiError::from(e)),
        (_, Err(e)) => Err(ApiError::from(e)),
        (Ok(new), Ok(auth)) => {
            portier_store::resources::create(&state.store, &auth, new, &Origin::now(client))
                .await
                .map_err(ApiError::from)
        }
    };
    match created {
        Ok(r) => {
            Redirect::to(&format!("{}?done=resource-created", href(&ctx.org, &r))).into_response()
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            match list_page(&state, &person, &ctx, Some(&form), Some(problem), None).await {
                Ok(page) => (e.status, page).into_response(),
                Err(e) => e.into_response(),
            }
        }
    }
}

pub struct GrantRow {
    pub id: String,
    pub relation: String,
    /// A member's address, or a group's name.
    pub holder: String,
    pub group: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "resources/show.html")]
pub struct ResourcePage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub resource: Resource,
    pub base: String,
    pub grants: Vec<GrantRow>,
    /// The organization's groups: (id, name).
    pub groups: Vec<(String, String)>,
    pub may_manage: bool,
    /// The grant form: relation, member's address, group.
    pub relation: String,
    pub email: String,
    pub group: String,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for ResourcePage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl ResourcePage {
    fn general(&self) -> String {
        self.general_error(&["relation", "account_id"])
    }

    fn is_group(&self, id: &str) -> bool {
        self.group == id
    }
}

/// The grant form: a relation, and a member's address or a group.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct GrantForm {
    relation: String,
    email: String,
    group: String,
}

/// What a resource page says besides the resource: what was refused, or
/// what was done.
#[derive(Default)]
struct Said {
    problem: Option<Problem>,
    notice: Option<String>,
}

async fn resource_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    (kind, key): (&str, &str),
    form: Option<&GrantForm>,
    said: Said,
) -> Result<Response, ApiError> {
    let found = match resource_in_path(kind, key) {
        Ok((kind, key)) => {
            portier_store::resources::get(&state.store, &ctx.auth, &kind, &key).await?
        }
        Err(_) => None,
    };
    let Some((resource, grants)) = found else {
        return Ok(error_page(
            &person.viewer,
            StatusCode::NOT_FOUND,
            "error-not-found",
        ));
    };
    let groups = portier_store::groups::list(&state.store, &ctx.auth).await?;
    let mut rows = Vec::new();
    for g in &grants {
        let (holder, group) = match &g.holder {
            Holder::Account(a) => (
                portier_store::accounts::get(&state.store, *a)
                    .await?
                    .map(|a| a.email.to_string())
                    .unwrap_or_default(),
                false,
            ),
            Holder::Group(id) => (
                groups
                    .iter()
                    .find(|x| x.id == *id)
                    .map(|x| x.name.clone())
                    .unwrap_or_default(),
                true,
            ),
        };
        rows.push(GrantRow {
            id: g.id.to_string(),
            relation: g.relation.clone(),
            holder,
            group,
        });
    }
    let field = |f: fn(&GrantForm) -> &String| form.map(f).cloned().unwrap_or_default();
    Ok(ResourcePage {
        page: person.viewer.page(),
        nav: ctx.nav(&person.viewer.i18n, Section::Resources),
        org: ctx.org.clone(),
        base: href(&ctx.org, &resource),
        resource,
        grants: rows,
        groups: groups
            .into_iter()
            .map(|g| (g.id.to_string(), g.name))
            .collect(),
        may_manage: ctx.may::<ResourcesManage>(),
        relation: form.map_or_else(|| "use".to_owned(), |f| f.relation.clone()),
        email: field(|f| &f.email),
        group: field(|f| &f.group),
        problem: said.problem,
        notice: said.notice,
    }
    .into_response())
}

async fn show(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Path((_, kind, key)): Path<(String, String, String)>,
    Query(q): Query<Done>,
) -> Response {
    let (person, ctx) = access.page();
    let said = Said {
        notice: person.viewer.i18n.done(q.done.as_deref()),
        problem: None,
    };
    resource_page(&state, &person, &ctx, (&kind, &key), None, said)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The organization, the proof of `resources.manage` and the resource's
/// type and id of a change.
async fn managed(
    state: &AppState,
    person: &Person,
    org: &str,
    kind: &str,
    key: &str,
) -> Result<
    (
        OrgContext<ResourcesManage>,
        portier_core::rights::Authorized<ResourcesManage>,
        String,
        String,
    ),
    Response,
> {
    let ctx = org_context::<ResourcesManage>(state, person, org).await?;
    let auth = ctx.auth.clone();
    let (kind, key) = resource_in_path(kind, key)
        .map_err(|_| error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found"))?;
    Ok((ctx, auth, kind, key))
}

/// After a change: the resource's page saying what was done, or again with
/// the refusal.
#[allow(clippy::too_many_arguments)]
async fn after(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    kind: &str,
    key: &str,
    done: &str,
    outcome: Result<(), ApiError>,
    form: Option<&GrantForm>,
) -> Response {
    let base = format!("/orgs/{}/resources/{kind}/{}", ctx.org.id, url_segment(key));
    match outcome {
        Ok(()) => Redirect::to(&format!("{base}?done={done}")).into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let said = Said {
                problem: Some(Problem::of(&person.viewer.i18n, &e)),
                notice: None,
            };
            match resource_page(state, person, ctx, (kind, key), form, said).await {
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

/// "Only members can be granted", for an address without an account too:
/// the two answer alike.
fn not_a_member() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "not_a_member",
        "only members of this organization can be granted its resources",
    )
    .with_field("account_id")
}

async fn grant(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, kind, key)): Path<(String, String, String)>,
    Posted(form): Posted<GrantForm>,
) -> Response {
    let (ctx, auth, kind, key) = match managed(&state, &person, &org, &kind, &key).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let holder = holder_of(&state, &form).await;
    let outcome = match (parse_relation("relation", form.relation.trim()), holder) {
        (Err(e), _) => Err(ApiError::from(e)),
        (_, Err(e)) => Err(e),
        (Ok(relation), Ok(holder)) => portier_store::resources::grant(
            &state.store,
            &auth,
            &kind,
            &key,
            &relation,
            &holder,
            &Origin::now(client),
        )
        .await
        .map(|_| ())
        .map_err(ApiError::from),
    };
    after(
        &state,
        &person,
        &ctx,
        &kind,
        &key,
        "granted",
        outcome,
        Some(&form),
    )
    .await
}

/// Whom a grant is for: the group chosen, else the member whose address was
/// typed.
async fn holder_of(state: &AppState, form: &GrantForm) -> Result<Holder, ApiError> {
    let group = &form.group;
    if !group.is_empty() {
        return group
            .parse()
            .map(Holder::Group)
            .map_err(|_| ApiError::from(portier_core::Error::NotFound { what: "group" }));
    }
    let email = Email::parse(&form.email).map_err(|e| e.in_field("account_id"))?;
    match portier_store::accounts::find_by_email(&state.store, &email).await? {
        Some(a) => Ok(Holder::Account(a.id)),
        None => Err(not_a_member()),
    }
}

async fn revoke(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, kind, key, grant)): Path<(String, String, String, String)>,
) -> Response {
    let (ctx, auth, kind, key) = match managed(&state, &person, &org, &kind, &key).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    let Ok(grant) = grant.parse() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let outcome = portier_store::resources::revoke(
        &state.store,
        &auth,
        &kind,
        &key,
        grant,
        &Origin::now(client),
    )
    .await
    .map_err(ApiError::from);
    after(&state, &person, &ctx, &kind, &key, "revoked", outcome, None).await
}

async fn delete(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, kind, key)): Path<(String, String, String)>,
) -> Response {
    let (ctx, auth, kind, key) = match managed(&state, &person, &org, &kind, &key).await {
        Ok(m) => m,
        Err(page) => return page,
    };
    match portier_store::resources::delete(&state.store, &auth, &kind, &key, &Origin::now(client))
        .await
    {
        Ok(()) => Redirect::to(&format!(
            "/orgs/{}/resources?done=resource-deleted",
            ctx.org.id
        ))
        .into_response(),
        Err(e) => {
            let e = ApiError::from(e);
            after(&state, &person, &ctx, &kind, &key, "", Err(e), None).await
        }
    }
}
