//! Users in this organization: the list with search, filters and pages.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

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
pub(crate) fn status_text(i18n: &I18n, status: MemberStatus) -> String {
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
pub(crate) const PAGE: usize = 50;

pub(crate) async fn list(
    State(state): State<AppState>,
    access: OrgAccess<MembersRead, Console>,
    Query(q): Query<ListQuery>,
) -> Response {
    let (person, ctx) = access.page();
    let cursor = q
        .cursor
        .as_deref()
        .and_then(crate::service::members::decode_cursor);
    let listed = portier_store::members::list(
        &state.store,
        &ctx.auth,
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
    let undelivered =
        match portier_store::mail::undelivered_invitations(&state.store, &ctx.auth, &invited).await
        {
            Ok(u) => u,
            Err(e) => return ApiError::from(e).into_response(),
        };
    let (roles, groups) = match (
        portier_store::roles::list(&state.store, &ctx.auth).await,
        portier_store::groups::list(&state.store, &ctx.auth).await,
    ) {
        (Ok(r), Ok(g)) => (r, g),
        (Err(e), _) | (_, Err(e)) => return ApiError::from(e).into_response(),
    };
    let i18n = person.viewer.i18n;
    // How many of the members use two-step verification, above the whole
    // list (docs/RULES.md#two-step-verification).
    let share = if q.pairs().is_empty() && q.cursor.is_none() {
        match portier_store::members::two_factor_share(&state.store, &ctx.auth).await {
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
                portier_store::signups::awaiting_approval(&state.store, &ctx.auth).await?,
                portier_store::signups::joined_since(&state.store, &ctx.auth, since).await?,
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
                staff_code: v.membership.details.staff_code.clone().unwrap_or_default(),
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
