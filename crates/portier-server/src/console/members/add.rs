//! Add user, in the order of docs/RULES.md#adding-members: role, e-mail,
//! BIG number, then the rest.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

/// What the add form was filled with.
#[derive(Default, Clone, Deserialize)]
#[serde(default)]
pub struct AddValues {
    #[serde(deserialize_with = "many")]
    pub roles: Vec<String>,
    pub email: String,
    pub big: String,
    /// The profile fields, by key (the form's other fields).
    #[serde(flatten)]
    pub profile: ProfileValues,
    pub labels: String,
    #[serde(deserialize_with = "many")]
    pub groups: Vec<String>,
    #[serde(deserialize_with = "ticked")]
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

    /// The person's own fields: the profile step.
    fn personal_fields(&self) -> Vec<FieldInput> {
        self.values.profile.personal(&self.page.i18n)
    }

    /// The organization's own fields: the organization step.
    fn organization_fields(&self) -> Vec<FieldInput> {
        self.values.profile.organizational(&self.page.i18n)
    }

    /// A refusal that concerns no field of the form.
    fn general(&self) -> String {
        let mut shown = vec!["roles", "email", "registration"];
        shown.extend(profile_keys());
        shown.extend(["labels", "groups", "portfolio"]);
        self.general_error(&shown)
    }
}

pub(crate) async fn new_page(
    state: &AppState,
    person: &Person,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    values: AddValues,
    problem: Option<Problem>,
    warning: Option<(String, String)>,
) -> Result<NewPage, ApiError> {
    let i18n = person.viewer.i18n;
    let roles = portier_store::roles::list(&state.store, &ctx.auth).await?;
    let groups = portier_store::groups::list(&state.store, &ctx.auth).await?;
    let (warning, confirm) = warning.unzip();
    let types = if ctx.may::<PortfoliosManage>() {
        crate::console::portfolios::type_names(state, &ctx.auth, &i18n).await?
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

pub(crate) async fn new_form(
    State(state): State<AppState>,
    access: OrgAccess<MembersInvite, Console>,
) -> Response {
    let (person, ctx) = access.page();
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

pub(crate) async fn add(
    State(state): State<AppState>,
    access: OrgAccess<MembersInvite, Console>,
    ClientAddr(client): ClientAddr,
    Posted(values): Posted<AddValues>,
) -> Response {
    let (person, ctx) = access.page();
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
    let [salutation, given_name, infix, family_name] = values.profile.name();
    let parsed = NewMember::parse(MemberInput {
        email: values.email.clone(),
        roles: values.roles.clone(),
        salutation,
        given_name,
        infix,
        family_name,
        details: values.profile.details(),
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
        let start = ctx.and::<PortfoliosManage>().and_then(|_| {
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
            let text = crate::console::portfolios::warning_text(&i18n, &w, start);
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
    let auth = match ctx.auth.and::<MembersInvite>() {
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
