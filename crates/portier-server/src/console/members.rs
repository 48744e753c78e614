//! User management: "Users in this organization" with search, filters and
//! pages; "Add user" in the order of docs/RULES.md#adding-members (role,
//! e-mail, BIG number, then the rest); a member's page with their details,
//! roles and permissions, groups, registration, invitation and audit trail,
//! and the changes an administrator makes there. Every change goes through
//! the same store functions, rules and rights as the API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Form, Path, Query, RawForm, State};
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

use super::org::{
    FormFields, NavLink, OrgContext, Problem, Refusal, Section, labels, optional, org_context,
};
use super::roles::{RoleChoice, choices, role_name};
use super::{I18n, Page, Person, error_page, url_encode};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

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

/// One member's line in the list.
pub struct Row {
    pub account_id: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub created: String,
    pub two_factor: bool,
    pub status: MemberStatus,
    pub status_text: String,
    /// Their latest invitation could not be delivered.
    pub undelivered: bool,
    pub staff_code: String,
}

/// A member's state in the viewer's language.
fn status_text(i18n: &I18n, status: MemberStatus) -> String {
    i18n.t(&format!("status-{}", status.as_str()))
}

#[derive(Template, WebTemplate)]
#[template(path = "members/list.html")]
pub struct ListPage {
    pub page: Page,
    /// "40 members; 12 (30%) use two-step verification", above the whole list.
    pub share: Option<String>,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub rows: Vec<Row>,
    pub filter: ListQuery,
    /// The roles and groups to filter by: (value, name).
    pub roles: Vec<(String, String)>,
    pub groups: Vec<(String, String)>,
    /// The query of the next page, when there is one.
    pub next: Option<String>,
    pub may_add: bool,
    /// People who joined by the environment's domain and wait for approval
    /// (docs/RULES.md#self-sign-up-and-e-mail-domains), for those who may
    /// approve: (account id, name, e-mail, since).
    pub waiting: Vec<(String, String, String, String)>,
    /// Who joined by the domain in the last [`JOINED_DAYS`] days, for the
    /// same people: (account id, name, e-mail, when).
    pub joined: Vec<(String, String, String, String)>,
    pub notice: Option<String>,
}

/// How far back the users list shows who joined by the domain.
pub const JOINED_DAYS: i64 = 14;

impl ListPage {
    /// The states to filter by: (name, text).
    pub fn states(&self) -> Vec<(&'static str, String)> {
        MemberStatus::ALL
            .into_iter()
            .map(|s| (s.as_str(), status_text(&self.page.i18n, s)))
            .collect()
    }

    /// Whether the list is narrowed or paged, so "all members" makes sense.
    pub fn narrowed(&self) -> bool {
        !self.filter.pairs().is_empty() || self.filter.cursor.is_some()
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    pub q: Option<String>,
    pub role: Option<String>,
    pub group: Option<String>,
    pub label: Option<String>,
    pub status: Option<String>,
    /// `yes` or `no`: with or without two-step verification.
    pub two_factor: Option<String>,
    pub cursor: Option<String>,
    pub done: Option<String>,
}

impl ListQuery {
    /// The filters given, as query pairs.
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", &self.q),
            ("role", &self.role),
            ("group", &self.group),
            ("label", &self.label),
            ("status", &self.status),
            ("two_factor", &self.two_factor),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| (k, v))
        })
        .collect()
    }

    /// The value given for a filter, or "".
    pub fn text(&self, name: &str) -> &str {
        self.pairs()
            .into_iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
            .unwrap_or("")
    }

    /// Whether the filter `name` is set to `value`.
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.text(name) == value
    }

    fn filter(&self) -> MemberFilter {
        let status = self.status.as_deref().and_then(MemberStatus::from_name);
        let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
        MemberFilter {
            q: given(&self.q),
            role: given(&self.role),
            // A group that is no group of ours narrows to nobody.
            group: given(&self.group).map(|g| {
                g.parse()
                    .unwrap_or(portier_core::ids::GroupId(uuid::Uuid::nil()))
            }),
            label: given(&self.label).map(|l| l.trim().to_owned()),
            status,
            two_factor: match self.two_factor.as_deref() {
                Some("yes") => Some(true),
                Some("no") => Some(false),
                _ => None,
            },
        }
    }
}

/// Members shown per page of the list.
const PAGE: usize = 50;

async fn list(
    State(state): State<AppState>,
    person: Person,
    Path(org): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let ctx = match org_context::<MembersRead>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let cursor = q
        .cursor
        .as_deref()
        .and_then(crate::service::members::decode_cursor);
    let listed = portier_store::members::list(
        &state.store,
        ctx.org.id,
        &q.filter(),
        cursor.as_ref(),
        PAGE as i64 + 1,
    )
    .await;
    let mut views = match listed {
        Ok(v) => v,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let more = views.len() > PAGE;
    views.truncate(PAGE);
    let next = views.last().filter(|_| more).map(|v| {
        let mut query = format!(
            "?cursor={}",
            url_encode(&crate::service::members::encode_cursor(v))
        );
        for (k, v) in q.pairs() {
            query.push_str(&format!("&{k}={}", url_encode(v)));
        }
        query
    });
    let invited: Vec<AccountId> = views
        .iter()
        .filter(|v| v.status() == MemberStatus::Invited)
        .map(|v| v.account.id)
        .collect();
    let undelivered = match portier_store::mail::undelivered_invitations(
        &state.store,
        ctx.org.id,
        &invited,
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let (roles, groups) = match (
        portier_store::roles::list(&state.store, &ctx.org).await,
        portier_store::groups::list(&state.store, ctx.org.id).await,
    ) {
        (Ok(r), Ok(g)) => (r, g),
        (Err(e), _) | (_, Err(e)) => return ApiError::from(e).into_response(),
    };
    let i18n = person.viewer.i18n;
    // How many of the members use two-step verification, above the whole
    // list (docs/RULES.md#two-step-verification).
    let share = if q.pairs().is_empty() && q.cursor.is_none() {
        match portier_store::members::two_factor_share(&state.store, ctx.org.id).await {
            Ok((members, with)) => {
                let percent = crate::service::organizations::share(with, members) * 100.0;
                Some(i18n.tn(
                    "members-two-factor-share",
                    &[
                        ("members", &members.to_string()),
                        ("with", &with.to_string()),
                        ("share", &format!("{percent:.0}")),
                    ],
                ))
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        None
    };
    let name_of = |key: &String| {
        roles
            .iter()
            .find(|r| r.key.as_str() == key)
            .map(|r| role_name(&i18n, r))
            .unwrap_or_else(|| key.clone())
    };
    let (waiting, joined) = if ctx.may::<MembersUpdate>() && ctx.may::<MembersRemove>() {
        let since = chrono::Utc::now() - chrono::Duration::days(JOINED_DAYS);
        let lists = async {
            Ok::<_, portier_store::Error>((
                portier_store::signups::awaiting_approval(&state.store, &ctx.org).await?,
                portier_store::signups::joined_since(&state.store, &ctx.org, since).await?,
            ))
        }
        .await;
        let rows =
            |list: Vec<portier_store::signups::Waiting>| -> Vec<(String, String, String, String)> {
                list.into_iter()
                    .map(|w| {
                        (
                            w.account.id.to_string(),
                            w.account.display_name(),
                            w.account.email.to_string(),
                            i18n.moment(w.since),
                        )
                    })
                    .collect()
            };
        match lists {
            Ok((w, j)) => (rows(w), rows(j)),
            Err(e) => return ApiError::from(e).into_response(),
        }
    } else {
        (Vec::new(), Vec::new())
    };
    ListPage {
        share,
        waiting,
        joined,
        may_add: ctx.may::<MembersInvite>(),
        nav: ctx.nav(&i18n, Section::Members),
        rows: views
            .iter()
            .map(|v| Row {
                account_id: v.account.id.to_string(),
                name: v.account.display_name(),
                email: v.account.email.to_string(),
                roles: v.roles.iter().map(name_of).collect::<Vec<_>>().join(", "),
                created: i18n.date(v.membership.created_at),
                two_factor: v.two_factor,
                status: v.status(),
                status_text: status_text(&i18n, v.status()),
                undelivered: undelivered.contains(&v.account.id),
                staff_code: v.membership.staff_code.clone().unwrap_or_default(),
            })
            .collect(),
        roles: roles
            .iter()
            .map(|r| (r.key.as_str().to_owned(), role_name(&i18n, r)))
            .collect(),
        groups: groups
            .into_iter()
            .map(|g| (g.id.to_string(), g.name))
            .collect(),
        notice: i18n.done(q.done.as_deref()),
        filter: q,
        next,
        org: ctx.org,
        page: person.viewer.page(),
    }
    .into_response()
}

/// What the add form was filled with.
#[derive(Default, Clone)]
pub struct AddValues {
    pub roles: Vec<String>,
    pub email: String,
    pub big: String,
    pub salutation: String,
    pub given_name: String,
    pub infix: String,
    pub family_name: String,
    pub phone: String,
    pub mobile: String,
    pub job_title: String,
    pub staff_code: String,
    pub labels: String,
    pub groups: Vec<String>,
    pub active: bool,
    /// The address a warning (shared mailbox) was shown and confirmed for.
    pub confirmed: String,
    /// A portfolio, asked for last (docs/RULES.md#adding-members): its type
    /// (none when empty) and start.
    pub portfolio_type: String,
    pub portfolio_start: String,
    /// The start date whose billing warning was shown and confirmed.
    pub billing_confirmed: String,
}

impl AddValues {
    fn from_form(fields: &FormFields) -> AddValues {
        let (one, all) = (|k: &str| fields.one(k), |k: &str| fields.all(k));
        AddValues {
            roles: all("roles"),
            email: one("email"),
            big: one("big"),
            salutation: one("salutation"),
            given_name: one("given_name"),
            infix: one("infix"),
            family_name: one("family_name"),
            phone: one("phone"),
            mobile: one("mobile"),
            job_title: one("job_title"),
            staff_code: one("staff_code"),
            labels: one("labels"),
            groups: all("groups"),
            active: fields.has("active"),
            confirmed: one("confirmed"),
            portfolio_type: one("portfolio_type"),
            portfolio_start: one("portfolio_start"),
            billing_confirmed: one("billing_confirmed"),
        }
    }

    fn has_group(&self, id: &str) -> bool {
        self.groups.iter().any(|g| g == id)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "members/new.html")]
pub struct NewPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub roles: Vec<RoleChoice>,
    pub groups: Vec<(String, String)>,
    pub values: AddValues,
    pub problem: Option<Problem>,
    /// A warning to confirm before saving (a shared mailbox)…
    pub warning: Option<String>,
    /// … for this address.
    pub confirm: Option<String>,
    /// The portfolio types the person may give here (none without
    /// `portfolios.manage`): (key, name).
    pub types: Vec<(String, String)>,
    /// The portfolio would bill the month it starts in
    /// (docs/PORTFOLIOS.md#the-reference-date), said before saving, for this
    /// start date.
    pub billing_warning: Option<(String, String)>,
}

impl Refusal for NewPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl NewPage {
    fn big_value(&self) -> &str {
        &self.values.big
    }

    fn in_group(&self, id: &str) -> bool {
        self.values.has_group(id)
    }

    /// A refusal that concerns no field of the form.
    fn general(&self) -> String {
        self.general_error(&[
            "roles",
            "email",
            "registration",
            "salutation",
            "given_name",
            "infix",
            "family_name",
            "phone",
            "mobile",
            "job_title",
            "staff_code",
            "labels",
            "groups",
            "portfolio",
        ])
    }
}

async fn new_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext,
    values: AddValues,
    problem: Option<Problem>,
    warning: Option<(String, String)>,
) -> Result<NewPage, ApiError> {
    let i18n = person.viewer.i18n;
    let roles = portier_store::roles::list(&state.store, &ctx.org).await?;
    let groups = portier_store::groups::list(&state.store, ctx.org.id).await?;
    let (warning, confirm) = warning.unzip();
    let types = if ctx.may::<PortfoliosManage>() {
        super::portfolios::type_names(state, &ctx.org, &i18n).await?
    } else {
        Vec::new()
    };
    Ok(NewPage {
        types,
        billing_warning: None,
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Members),
        org: ctx.org.clone(),
        roles: choices(&i18n, &roles, &values.roles),
        groups: groups
            .into_iter()
            .map(|g| (g.id.to_string(), g.name))
            .collect(),
        values,
        problem,
        warning,
        confirm,
    })
}

async fn new_form(
    State(state): State<AppState>,
    person: Person,
    Path(org): Path<String>,
) -> Response {
    let ctx = match org_context::<MembersInvite>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let values = AddValues {
        active: true,
        ..AddValues::default()
    };
    new_page(&state, &person, &ctx, values, None, None)
        .await
        .into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "members/added.html")]
pub struct AddedPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub account_id: String,
    pub outcome: String,
    pub warnings: Vec<String>,
}

async fn add(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path(org): Path<String>,
    RawForm(raw): RawForm,
) -> Response {
    let ctx = match org_context::<MembersInvite>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let values = AddValues::from_form(&FormFields::of(&raw));
    let i18n = person.viewer.i18n;
    let refuse = |e: ApiError| async {
        if e.status.is_server_error() {
            return e.into_response();
        }
        let problem = Problem::of(&i18n, &e);
        match new_page(&state, &person, &ctx, values.clone(), Some(problem), None).await {
            Ok(page) => (e.status, page).into_response(),
            Err(e) => e.into_response(),
        }
    };
    let parsed = NewMember::parse(MemberInput {
        email: values.email.clone(),
        roles: values.roles.clone(),
        salutation: optional(&values.salutation),
        given_name: optional(&values.given_name),
        infix: optional(&values.infix),
        family_name: optional(&values.family_name),
        phone: optional(&values.phone),
        mobile: optional(&values.mobile),
        job_title: optional(&values.job_title),
        staff_code: optional(&values.staff_code),
        description: None,
        labels: labels(&values.labels),
        groups: values
            .groups
            .iter()
            .filter_map(|g| g.parse().ok())
            .collect(),
        registration: optional(&values.big).map(|n| ("BIG".to_owned(), n)),
        active: values.active,
    });
    let mut new = match parsed {
        Ok(n) => n,
        Err(e) => return refuse(e.into()).await,
    };
    // docs/RULES.md#adding-members: a shared mailbox is worth a second look
    // before saving. The warning holds for the address it was shown for.
    if let Some(w) = new.warnings.first()
        && values.confirmed != new.email.as_str()
    {
        let warning = (i18n.error(w.code, &w.message), new.email.to_string());
        return new_page(&state, &person, &ctx, values, None, Some(warning))
            .await
            .into_response();
    }
    if let Some(type_key) = optional(&values.portfolio_type) {
        let today = chrono::Utc::now().date_naive();
        let asked = optional(&values.portfolio_start);
        let start = ctx
            .principal
            .authorize::<PortfoliosManage>(&ctx.org)
            .map_err(ApiError::from)
            .and_then(|_| {
                portier_core::portfolios::start_date(asked.as_deref(), today)
                    .map_err(|e| e.in_field("portfolio.start_date").into())
            });
        let start = match start {
            Ok(s) => s,
            Err(e) => return refuse(e).await,
        };
        // docs/PORTFOLIOS.md#the-reference-date: starting on a month's last
        // day bills that month; said before saving, for the date it was
        // shown for.
        let cycle = ctx.org.settings.billing_cycle;
        if let Some(w) = portier_core::portfolios::start_warning(start, cycle)
            && values.billing_confirmed != start.to_string()
        {
            let text = super::portfolios::warning_text(&i18n, &w, start);
            return match new_page(&state, &person, &ctx, values.clone(), None, None).await {
                Ok(mut page) => {
                    page.billing_warning = Some((text, start.to_string()));
                    page.into_response()
                }
                Err(e) => e.into_response(),
            };
        }
        new.portfolio = Some(portier_core::portfolios::NewPortfolio { type_key, start });
    }
    let auth = match ctx.principal.authorize::<MembersInvite>(&ctx.org) {
        Ok(a) => a,
        Err(e) => return refuse(e.into()).await,
    };
    match crate::service::members::add(&state, &ctx.principal, &auth, new, client).await {
        Ok(added) => {
            let email = added.account.email.to_string();
            let outcome = if added.invitation_sent {
                i18n.t1("added-invited", "email", &email)
            } else if added.account_reused {
                i18n.t1("added-existing", "email", &email)
            } else {
                i18n.t1("added-inactive", "email", &email)
            };
            AddedPage {
                page: person.viewer.page(),
                nav: ctx.nav(&i18n, Section::Members),
                org: ctx.org,
                account_id: added.account.id.to_string(),
                outcome,
                warnings: added
                    .warnings
                    .iter()
                    .map(|w| i18n.error(w.code, &w.message))
                    .collect(),
            }
            .into_response()
        }
        Err(e) => refuse(e).await,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "members/show.html")]
pub struct MemberPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub member: MemberView,
    pub details: Details,
    /// What the change-details form holds: the details, or what was sent
    /// and refused.
    pub form: Details,
    pub status: MemberStatus,
    pub held: Vec<RoleChoice>,
    pub roles: Vec<RoleChoice>,
    pub registration: Option<crate::service::members::RegistrationView>,
    pub invitation: Option<crate::service::members::InvitationView>,
    pub trail: Vec<super::audit::Entry>,
    /// The member's portfolios, for those who manage portfolios here.
    pub portfolios: Option<super::portfolios::MemberPortfolios>,
    /// The organization's groups: (id, name, the member is in it).
    pub groups: Vec<(String, String, bool)>,
    pub may_manage_groups: bool,
    pub may_update: bool,
    pub may_assign: bool,
    pub may_invite: bool,
    pub may_remove: bool,
    /// The person has activated: only they change their name and address.
    pub owns_profile: bool,
    pub notice: Option<String>,
    pub problem: Option<Problem>,
}

impl Refusal for MemberPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl MemberPage {
    pub fn status_text(&self) -> String {
        status_text(&self.page.i18n, self.status)
    }

    pub fn registration_state(&self) -> String {
        self.registration
            .as_ref()
            .map(|r| {
                self.page
                    .i18n
                    .t(&format!("registration-{}", r.state.as_str()))
            })
            .unwrap_or_default()
    }

    /// The role change asks for a number only when none is known yet.
    fn big_value(&self) -> &str {
        ""
    }

    fn registration_checked(&self) -> String {
        self.registration
            .as_ref()
            .and_then(|r| r.checked_at)
            .map(|at| self.page.i18n.date(at))
            .unwrap_or_default()
    }

    /// Where the latest invitation is: sent (when), on its way, or not
    /// delivered (why).
    fn invitation_text(&self) -> String {
        let i18n = &self.page.i18n;
        match &self.invitation {
            None => String::new(),
            Some(i) if i.status == "failed" => match &i.last_error {
                Some(why) => format!("{}: {why}", i18n.t("invitation-undelivered")),
                None => i18n.t("invitation-undelivered"),
            },
            Some(i) if i.status == "sent" => i18n.t1(
                "invitation-sent",
                "date",
                &i18n.date(i.sent_at.unwrap_or(i.queued_at)),
            ),
            Some(_) => i18n.t("invitation-pending"),
        }
    }

    /// A refusal that concerns no field shown.
    fn general(&self) -> String {
        // The personal fields are in the form only before activation.
        let personal = if self.owns_profile { 7 } else { 0 };
        let mut shown = DETAIL_FIELDS[personal..].to_vec();
        shown.extend([
            "roles",
            "registration",
            "type",
            "start_date",
            "portfolio",
            "to_organization_id",
        ]);
        self.general_error(&shown)
    }

    fn details_refused(&self) -> bool {
        DETAIL_FIELDS.iter().any(|f| !self.error_for(f).is_empty())
    }

    fn roles_refused(&self) -> bool {
        !self.error_for("roles").is_empty() || !self.error_for("registration").is_empty()
    }
}

/// The fields of the change-details form: first the personal ones, which
/// only the person changes once they have activated.
const DETAIL_FIELDS: [&str; 10] = [
    "email",
    "salutation",
    "given_name",
    "infix",
    "family_name",
    "phone",
    "mobile",
    "job_title",
    "staff_code",
    "labels",
];

/// A member's details as the page shows and the form holds them.
#[derive(Default, Clone)]
pub struct Details {
    pub email: String,
    pub full_name: String,
    pub salutation: String,
    pub given_name: String,
    pub infix: String,
    pub family_name: String,
    pub phone: String,
    pub mobile: String,
    pub job_title: String,
    pub staff_code: String,
    pub labels: String,
    pub groups: String,
    pub created: String,
}

impl Details {
    fn of(i18n: &I18n, m: &MemberView) -> Details {
        let a = &m.account;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Details {
            email: a.email.to_string(),
            full_name: [
                &a.name.salutation,
                &a.name.given_name,
                &a.name.infix,
                &a.name.family_name,
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
            salutation: text(&a.name.salutation),
            given_name: text(&a.name.given_name),
            infix: text(&a.name.infix),
            family_name: text(&a.name.family_name),
            phone: text(&m.membership.phone),
            mobile: text(&m.membership.mobile),
            job_title: text(&m.membership.job_title),
            staff_code: text(&m.membership.staff_code),
            labels: m.membership.labels.join(", "),
            groups: m.groups.join(", "),
            created: i18n.date(m.membership.created_at),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    done: Option<String>,
}

async fn member_page(
    state: &AppState,
    person: &Person,
    ctx: OrgContext,
    account: AccountId,
    notice: Option<String>,
    problem: Option<Problem>,
    sent: Option<Details>,
) -> Result<Response, ApiError> {
    let i18n = person.viewer.i18n;
    let Some(member) = portier_store::members::get(&state.store, ctx.org.id, account).await? else {
        return Ok(error_page(
            &person.viewer,
            StatusCode::NOT_FOUND,
            "error-not-found",
        ));
    };
    let held = portier_store::roles::of_member(&state.store, ctx.org.id, account).await?;
    let all = portier_store::roles::list(&state.store, &ctx.org).await?;
    let keys: Vec<String> = held.iter().map(|r| r.key.as_str().to_owned()).collect();
    let registration = portier_store::registrations::of_account(&state.store, account)
        .await?
        .as_ref()
        .map(Into::into);
    let invitation = portier_store::mail::latest_invitation(&state.store, account, ctx.org.id)
        .await?
        .map(Into::into);
    let filter = AuditFilter {
        target: Some(account.to_string()),
        ..AuditFilter::default()
    };
    let events =
        portier_store::audit::list(&state.store, &ctx.org.path, &filter, None, TRAIL).await?;
    let trail = super::audit::entries(state, &i18n, events, &Default::default()).await?;
    let groups = portier_store::groups::list(&state.store, ctx.org.id)
        .await?
        .into_iter()
        .map(|g| {
            let member_of = member.groups.contains(&g.name);
            (g.id.to_string(), g.name, member_of)
        })
        .collect();
    let status = member.status();
    let details = Details::of(&i18n, &member);
    let portfolios = super::portfolios::for_member(state, &ctx, &i18n, account).await?;
    Ok(MemberPage {
        portfolios,
        form: sent.unwrap_or_else(|| details.clone()),
        details,
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Members),
        groups,
        may_manage_groups: ctx.may::<GroupsManage>(),
        may_update: ctx.may::<MembersUpdate>(),
        may_assign: ctx.may::<RolesAssign>(),
        may_invite: ctx.may::<MembersInvite>(),
        may_remove: ctx.may::<MembersRemove>(),
        owns_profile: member.account.status == AccountStatus::Active,
        held: choices(&i18n, &held, &keys),
        roles: choices(&i18n, &all, &keys),
        status,
        member,
        registration,
        invitation,
        trail,
        org: ctx.org,
        notice,
        problem,
    }
    .into_response())
}

/// Events shown in a member's audit trail, newest first.
const TRAIL: i64 = 50;

async fn show(
    State(state): State<AppState>,
    person: Person,
    Path((org, account)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let ctx = match org_context::<MembersRead>(&state, &person, &org).await {
        Ok(c) => c,
        Err(page) => return page,
    };
    let Ok(account) = account.parse() else {
        return error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found");
    };
    let notice = person.viewer.i18n.done(q.done.as_deref());
    member_page(&state, &person, ctx, account, notice, None, None)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// After a change: back to the member's page saying what was done, or the
/// page again with the refusal.
pub(super) async fn after(
    state: &AppState,
    person: &Person,
    org: &str,
    account: AccountId,
    done: &str,
    outcome: Result<(), ApiError>,
    sent: Option<Details>,
) -> Response {
    match outcome {
        Ok(()) => {
            Redirect::to(&format!("/orgs/{org}/members/{account}?done={done}")).into_response()
        }
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) if e.status == StatusCode::NOT_FOUND && e.body.error.code == "not_found" => {
            error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found")
        }
        Err(e) => {
            let problem = Problem::of(&person.viewer.i18n, &e);
            let ctx = match org_context::<MembersRead>(state, person, org).await {
                Ok(c) => c,
                Err(page) => return page,
            };
            match member_page(state, person, ctx, account, None, Some(problem), sent).await {
                Ok(mut page) => {
                    *page.status_mut() = e.status;
                    page
                }
                Err(e) => e.into_response(),
            }
        }
    }
}

/// The organization, the proof of `R` there and the member's account id of a
/// change route, or the page that says why not.
async fn change_route<R: Right>(
    state: &AppState,
    person: &Person,
    org: &str,
    account: &str,
) -> Result<(OrgContext, portier_core::rights::Authorized<R>, AccountId), Response> {
    let ctx = org_context::<R>(state, person, org).await?;
    let auth = ctx
        .principal
        .authorize::<R>(&ctx.org)
        .map_err(|e| ApiError::from(e).into_response())?;
    let account = account
        .parse()
        .map_err(|_| error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found"))?;
    Ok((ctx, auth, account))
}

#[derive(Deserialize, Clone)]
pub struct DetailsForm {
    email: Option<String>,
    /// "1" or "0", from the two-step verification form of the member page.
    require_two_factor: Option<String>,
    salutation: Option<String>,
    given_name: Option<String>,
    infix: Option<String>,
    family_name: Option<String>,
    phone: Option<String>,
    mobile: Option<String>,
    job_title: Option<String>,
    staff_code: Option<String>,
    labels: Option<String>,
}

async fn change_details(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Form(form): Form<DetailsForm>,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let sent = Details {
        email: text(&form.email),
        salutation: text(&form.salutation),
        given_name: text(&form.given_name),
        infix: text(&form.infix),
        family_name: text(&form.family_name),
        phone: text(&form.phone),
        mobile: text(&form.mobile),
        job_title: text(&form.job_title),
        staff_code: text(&form.staff_code),
        labels: text(&form.labels),
        ..Details::default()
    };
    // A field left out of the form stays; one emptied is emptied.
    let field = |v: Option<String>| v.map(|v| optional(&v));
    let patch = MemberPatch::parse(MemberPatchInput {
        email: form
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty()),
        salutation: field(form.salutation),
        given_name: field(form.given_name),
        infix: field(form.infix),
        family_name: field(form.family_name),
        phone: field(form.phone),
        mobile: field(form.mobile),
        job_title: field(form.job_title),
        staff_code: field(form.staff_code),
        description: None,
        labels: form.labels.map(|l| labels(&l)),
        require_two_factor: form.require_two_factor.map(|v| v == "1"),
    });
    let outcome = match patch {
        Err(e) => Err(ApiError::from(e)),
        Ok(patch) => portier_store::members::update(
            &state.store,
            &auth,
            account,
            patch,
            &state.config.lifecycle,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    // A corrected address that had an account took the membership along.
    let account = outcome.as_ref().map_or(account, |u| u.account_id);
    let outcome = outcome.map(|_| ());
    after(
        &state,
        &person,
        &org,
        account,
        "details",
        outcome,
        Some(sent),
    )
    .await
}

async fn change_roles(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<RolesAssign>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let fields = FormFields::of(&raw);
    let keys: Result<Vec<RoleKey>, _> = fields
        .all("roles")
        .iter()
        .enumerate()
        .map(|(i, k)| RoleKey::parse(&format!("roles[{i}]"), k))
        .collect();
    let big = optional(&fields.one("big"));
    let outcome = match keys {
        Err(e) => Err(e.into()),
        Ok(keys) => crate::service::members::set_roles(
            &state,
            &ctx.principal,
            &auth,
            account,
            keys,
            big.map(|n| ("BIG".to_owned(), n)),
            client,
        )
        .await
        .map(|_| ()),
    };
    after(&state, &person, &org, account, "roles", outcome, None).await
}

async fn change_groups(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<GroupsManage>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let wanted: Result<Vec<portier_core::ids::GroupId>, _> = FormFields::of(&raw)
        .all("groups")
        .iter()
        .map(|v| v.parse())
        .collect();
    let outcome = match wanted {
        Err(_) => Err(ApiError::from(portier_core::Error::NotFound {
            what: "group",
        })),
        Ok(wanted) => portier_store::groups::set_groups_of(
            &state.store,
            &ctx.principal,
            &auth,
            account,
            &wanted,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    after(&state, &person, &org, account, "groups", outcome, None).await
}

async fn resend(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersInvite>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let outcome = portier_store::members::resend_invitation(
        &state.store,
        &auth,
        account,
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await
    .map_err(ApiError::from);
    after(&state, &person, &org, account, "resend", outcome, None).await
}

async fn set_active(
    state: AppState,
    person: Person,
    client: Option<String>,
    org: String,
    account: String,
    active: bool,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let outcome = portier_store::members::set_active(
        &state.store,
        &auth,
        account,
        active,
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await
    .map(|_| ())
    .map_err(ApiError::from);
    let done = if active { "reactivate" } else { "deactivate" };
    after(&state, &person, &org, account, done, outcome, None).await
}

/// What an administrator does to a member's sign-in, which is the
/// person's everywhere (the API's rules: rights over each of their
/// organizations).
#[derive(Clone, Copy)]
enum SignInAction {
    /// Take their two-step verification away (a lost phone).
    ResetTwoFactor,
    /// Sign them out everywhere.
    EndSessions,
}

async fn sign_in_action(
    state: AppState,
    person: Person,
    client: Option<String>,
    org: String,
    account: String,
    action: SignInAction,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let (outcome, done) = match action {
        SignInAction::ResetTwoFactor => (
            crate::service::two_factor::reset_member(&state, &auth, account, client)
                .await
                .map(|_| ()),
            "reset-two-factor",
        ),
        SignInAction::EndSessions => (
            crate::service::sessions::end_member_sessions(&state, &auth, account, client)
                .await
                .map(|_| ()),
            "sessions-ended-member",
        ),
    };
    after(&state, &person, &org, account, done, outcome, None).await
}

async fn reset_two_factor(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let action = SignInAction::ResetTwoFactor;
    sign_in_action(state, person, client, org, account, action).await
}

async fn end_sessions(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let action = SignInAction::EndSessions;
    sign_in_action(state, person, client, org, account, action).await
}

async fn deactivate(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    set_active(state, person, client, org, account, false).await
}

async fn reactivate(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    set_active(state, person, client, org, account, true).await
}

async fn remove(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    RawForm(raw): RawForm,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<MembersRemove>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let fields = FormFields::of(&raw);
    let manages = |o: &Organization| ctx.principal.authorize::<PortfoliosManage>(o).is_ok();
    let removed = async {
        use portier_store::portfolios::OnRemoval;
        let then = match fields.one("portfolio").as_str() {
            "" => None,
            then => {
                ctx.principal.authorize::<PortfoliosManage>(&ctx.org)?;
                Some(match then {
                    "complete" => OnRemoval::Complete,
                    "transfer" => OnRemoval::Transfer {
                        to: crate::extract::path_id("to_organization_id", &fields.one("to"))?,
                        manages: &manages,
                    },
                    _ => OnRemoval::Deactivate,
                })
            }
        };
        portier_store::members::remove(&state.store, &auth, account, then, &Origin::now(client))
            .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match removed {
        Ok(()) => Redirect::to(&format!("/orgs/{org}/members?done=removed")).into_response(),
        Err(e) => after(&state, &person, &org, account, "remove", Err(e), None).await,
    }
}
