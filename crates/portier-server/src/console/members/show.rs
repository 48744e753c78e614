//! A member's page: details, roles and permissions, groups, registration,
//! invitation and audit trail, and the forms on it.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

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
    pub trail: Vec<crate::console::audit::Entry>,
    /// The member's portfolios, for those who manage portfolios here.
    pub portfolios: Option<crate::console::portfolios::MemberPortfolios>,
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
        let mut shown: Vec<&str> = form_fields()
            .filter(|f| !self.owns_profile || !is_personal(f))
            .collect();
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
        form_fields().any(|f| !self.error_for(f).is_empty())
    }

    fn roles_refused(&self) -> bool {
        !self.error_for("roles").is_empty() || !self.error_for("registration").is_empty()
    }
}

/// The fields of the change-details form: the address, every profile
/// field and the labels.
pub(crate) fn form_fields() -> impl Iterator<Item = &'static str> {
    std::iter::once("email")
        .chain(profile_keys())
        .chain(["labels"])
}

/// Only the person changes it once they have activated: the address, the
/// name and their numbers.
fn is_personal(field: &str) -> bool {
    field == "email" || portier_core::profile::Field::of(field).is_some_and(|f| f.personal)
}

impl MemberPage {
    /// The membership's fields with their values.
    fn shown_fields(&self) -> Vec<FieldInput> {
        self.details.profile.shown(&self.page.i18n)
    }

    /// The person's own fields in the change form (before activation).
    fn personal_fields(&self) -> Vec<FieldInput> {
        self.form.profile.personal(&self.page.i18n)
    }

    /// The organization's own fields in the change form.
    fn organization_fields(&self) -> Vec<FieldInput> {
        self.form.profile.organizational(&self.page.i18n)
    }
}

/// A member's details as the page shows and the form holds them.
#[derive(Default, Clone)]
pub struct Details {
    pub email: String,
    pub full_name: String,
    pub profile: ProfileValues,
    pub labels: String,
    pub groups: String,
    pub created: String,
}

impl Details {
    fn of(i18n: &I18n, m: &MemberView) -> Details {
        let a = &m.account;
        Details {
            email: a.email.to_string(),
            full_name: a
                .name
                .parts()
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            profile: ProfileValues::of(a, &m.membership),
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

pub(crate) async fn member_page(
    state: &AppState,
    person: &Person,
    ctx: OrgContext<impl portier_core::rights::OnMembers>,
    account: AccountId,
    notice: Option<String>,
    problem: Option<Problem>,
    sent: Option<Details>,
) -> Result<Response, ApiError> {
    let i18n = person.viewer.i18n;
    let Some(member) = portier_store::members::get(&state.store, &ctx.auth, account).await? else {
        return Ok(error_page(
            &person.viewer,
            StatusCode::NOT_FOUND,
            "error-not-found",
        ));
    };
    let held = portier_store::roles::of_member(&state.store, &ctx.auth, account).await?;
    let all = portier_store::roles::list(&state.store, &ctx.auth).await?;
    let keys: Vec<String> = held.iter().map(|r| r.key.as_str().to_owned()).collect();
    let registration = portier_store::registrations::of_account(&state.store, account)
        .await?
        .as_ref()
        .map(Into::into);
    let invitation = portier_store::mail::latest_invitation(&state.store, account, &ctx.auth)
        .await?
        .map(Into::into);
    let filter = AuditFilter {
        target: Some(account.to_string()),
        ..AuditFilter::default()
    };
    let events = portier_store::audit::list(&state.store, &ctx.auth, &filter, None, TRAIL).await?;
    let trail = crate::console::audit::entries(state, &i18n, events, &Default::default()).await?;
    let groups = portier_store::groups::list(&state.store, &ctx.auth)
        .await?
        .into_iter()
        .map(|g| {
            let member_of = member.groups.contains(&g.name);
            (g.id.to_string(), g.name, member_of)
        })
        .collect();
    let status = member.status();
    let details = Details::of(&i18n, &member);
    let portfolios = crate::console::portfolios::for_member(state, &ctx, &i18n, account).await?;
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
pub(crate) const TRAIL: i64 = 50;

pub(crate) async fn show(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Path((_, account)): Path<(String, String)>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let (person, ctx) = access.page();
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
pub(crate) async fn after(
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
