//! The audit log (every change attributable to a person:
//! docs/RULES.md#audit-trail), and audit events as people read them: when,
//! what (in their language), who, about whom, and what changed.

use crate::console::org::Console;
use crate::service::access::OrgAccess;
use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portier_core::audit::{Actor, AuditEvent};
use portier_core::email::Email;
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::organizations::Organization;
use portier_core::rights::AuditRead;
use portier_store::audit::AuditFilter;
use serde::Deserialize;
use serde_json::Value;

use super::org::{NavLink, Section};
use super::{I18n, Page, Person, url_encode};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/orgs/{org}/audit", get(log))
}

/// One event, ready to show.
pub struct Entry {
    pub at: String,
    pub action: String,
    pub actor: String,
    /// Whom or what it was about: a person's address, an organization.
    pub target: String,
    /// What changed, in short: `roles: member → doctor`.
    pub details: String,
    pub organization: String,
}

/// A value of `changes`, in short.
fn short(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(short).collect::<Vec<_>>().join(", "),
        Value::Object(o) => match (o.get("before"), o.get("after")) {
            (Some(b), Some(a)) => format!("{} → {}", short(b), short(a)),
            _ => o
                .iter()
                .map(|(k, v)| format!("{k}: {}", short(v)))
                .collect::<Vec<_>>()
                .join("; "),
        },
        other => other.to_string(),
    }
}

/// A value that says nothing: no value, an empty text or list.
fn blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// `changes` in one line, leaving out what is empty: `field: before → after; …`.
pub fn details(changes: &Value) -> String {
    match changes {
        Value::Object(o) => o
            .iter()
            .filter(|(_, v)| !blank(v))
            .map(|(k, v)| format!("{k}: {}", short(v)))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Null => String::new(),
        other => short(other),
    }
}

/// The events as people read them; the people behind them by e-mail
/// address, each looked up once.
pub async fn entries(
    state: &AppState,
    i18n: &I18n,
    events: Vec<AuditEvent>,
    organizations: &HashMap<OrganizationId, String>,
) -> Result<Vec<Entry>, ApiError> {
    // The people behind the events and those they were about, read at once.
    let mut ids: Vec<AccountId> = Vec::new();
    for e in &events {
        let actor = match &e.actor {
            Actor::Account { id } => Some(*id),
            Actor::ApiToken { account_id, .. } => *account_id,
            _ => None,
        };
        let target = (e.target_type == "account")
            .then(|| e.target_id.parse().ok())
            .flatten();
        ids.extend([actor, target].into_iter().flatten());
    }
    ids.sort();
    ids.dedup();
    let people = portier_store::accounts::emails_of(&state.store, &ids).await?;
    Ok(events
        .into_iter()
        .map(|e| {
            let actor = match &e.actor {
                Actor::Account { id } => people.get(id).cloned().unwrap_or_default(),
                Actor::ApiToken { account_id, .. } => {
                    let who = account_id
                        .and_then(|id| people.get(&id).cloned())
                        .unwrap_or_default();
                    i18n.t1("actor-token", "person", &who)
                }
                Actor::Cli => i18n.t("actor-cli"),
                Actor::System => i18n.t("actor-system"),
            };
            let target = match e.target_type.as_str() {
                "account" => e
                    .target_id
                    .parse()
                    .ok()
                    .and_then(|id| people.get(&id).cloned()),
                "organization" => e
                    .target_id
                    .parse()
                    .ok()
                    .and_then(|id| organizations.get(&id).cloned()),
                _ => None,
            }
            .unwrap_or_else(|| format!("{} {}", e.target_type, e.target_id));
            Entry {
                target,
                at: i18n.moment(e.at),
                action: action_text(i18n, &e.action),
                actor,
                details: details(&e.changes),
                organization: e
                    .organization_id
                    .and_then(|o| organizations.get(&o).cloned())
                    .unwrap_or_default(),
            }
        })
        .collect())
}

/// The actions the log can be narrowed to, in the order the filter offers
/// them.
const ACTIONS: &[&str] = portier_core::audit::ACTIONS;

/// An action's name in the viewer's language.
fn action_text(i18n: &I18n, action: &str) -> String {
    i18n.or(
        &format!("action-{}", action.replace(['.', '_'], "-")),
        action,
    )
}

#[derive(Deserialize, Default)]
pub struct LogQuery {
    /// An action of [`ACTIONS`].
    pub action: Option<String>,
    /// The e-mail address of the person who acted.
    pub who: Option<String>,
    /// The e-mail address of the person it was about.
    pub about: Option<String>,
    /// Events before this one (the next page).
    pub before: Option<String>,
}

impl LogQuery {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }

    pub fn text(&self, name: &str) -> &str {
        match name {
            "action" => Self::given(&self.action),
            "who" => Self::given(&self.who),
            "about" => Self::given(&self.about),
            _ => None,
        }
        .unwrap_or("")
    }

    pub fn is_action(&self, action: &str) -> bool {
        self.text("action") == action
    }

    /// The filters as a query, for the next page.
    fn query(&self) -> String {
        ["action", "who", "about"]
            .into_iter()
            .filter(|k| !self.text(k).is_empty())
            .map(|k| format!("&{k}={}", url_encode(self.text(k))))
            .collect()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/log.html")]
pub struct LogPage {
    pub page: Page,
    pub org: Organization,
    pub nav: Vec<NavLink>,
    pub filter: LogQuery,
    /// The actions to filter by: (action, text).
    pub actions: Vec<(&'static str, String)>,
    pub trail: Vec<Entry>,
    pub next: Option<String>,
    /// An address in the filter belongs to nobody.
    pub unknown: bool,
}

/// Events per page of the log.
const LOG_PAGE: usize = 50;

/// The account id of an address typed in a filter: `Ok(None)` when none was
/// typed, `Err(())` when it belongs to nobody.
async fn person_of(state: &AppState, typed: &str) -> Result<Option<uuid::Uuid>, ApiError> {
    if typed.is_empty() {
        return Ok(None);
    }
    let Ok(email) = Email::parse(typed) else {
        return Ok(Some(uuid::Uuid::nil()));
    };
    let found = portier_store::accounts::find_by_email(&state.store, &email).await?;
    Ok(Some(found.map(|a| a.id.0).unwrap_or(uuid::Uuid::nil())))
}

async fn log(
    State(state): State<AppState>,
    access: OrgAccess<AuditRead, Console>,
    Query(q): Query<LogQuery>,
) -> Response {
    let (person, ctx) = access.page();
    match log_page(&state, &person, ctx, q).await {
        Ok(page) => page.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn log_page(
    state: &AppState,
    person: &Person,
    ctx: super::org::OrgContext<impl portier_core::rights::Right>,
    q: LogQuery,
) -> Result<LogPage, ApiError> {
    let i18n = person.viewer.i18n;
    let actor = person_of(state, q.text("who")).await?;
    let about = person_of(state, q.text("about")).await?;
    let unknown = [actor, about].contains(&Some(uuid::Uuid::nil()));
    let filter = AuditFilter {
        actor,
        action: Some(q.text("action").to_owned()).filter(|a| !a.is_empty()),
        target: about.map(|a| a.to_string()),
    };
    let before = q.before.as_deref().and_then(|b| b.parse().ok());
    let mut events = if unknown {
        Vec::new()
    } else {
        portier_store::audit::list(
            &state.store,
            &ctx.auth,
            &filter,
            before,
            LOG_PAGE as i64 + 1,
        )
        .await?
    };
    let more = events.len() > LOG_PAGE;
    events.truncate(LOG_PAGE);
    let next = events
        .last()
        .filter(|_| more)
        .map(|e| format!("?before={}{}", e.id.0, q.query()));
    let organizations: HashMap<OrganizationId, String> = portier_store::organizations::list_within(
        &state.store,
        std::slice::from_ref(&ctx.org.path),
        None,
        1000,
    )
    .await?
    .into_iter()
    .map(|o| (o.id, o.name))
    .collect();
    let trail = entries(state, &i18n, events, &organizations).await?;
    Ok(LogPage {
        page: person.viewer.page(),
        nav: ctx.nav(&i18n, Section::Audit),
        actions: ACTIONS
            .iter()
            .map(|a| (*a, action_text(&i18n, a)))
            .collect(),
        org: ctx.org,
        filter: q,
        trail,
        next,
        unknown,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_name_in_english_and_dutch() {
        for locale in [
            portier_core::locale::Locale::En,
            portier_core::locale::Locale::Nl,
        ] {
            let i18n = I18n { locale };
            for action in ACTIONS {
                assert_ne!(
                    action_text(&i18n, action),
                    *action,
                    "{action} has no name in {locale:?}"
                );
            }
        }
    }

    #[test]
    fn every_action_the_filter_offers_has_its_text_in_both_languages() {
        for locale in [
            portier_core::locale::Locale::En,
            portier_core::locale::Locale::Nl,
        ] {
            let i18n = I18n { locale };
            for a in ACTIONS {
                assert_ne!(action_text(&i18n, a), *a, "{a} in {locale:?}");
            }
        }
    }

    #[test]
    fn changes_read_as_one_line() {
        let v = serde_json::json!({
            "roles": {"before": ["member"], "after": ["doctor", "user-manager"]},
            "active": {"before": true, "after": false},
            "email": "a@example.org",
            "labels": [],
            "staff_code": null
        });
        assert_eq!(
            details(&v),
            "active: true → false; email: a@example.org; roles: member → doctor, user-manager"
        );
        assert_eq!(details(&Value::Null), "");
    }
}
