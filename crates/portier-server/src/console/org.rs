//! What every page about one organization shares: finding the organization
//! the person may see, their rights there, the organization's menu, and
//! showing a refusal next to the field it concerns.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portier_core::organizations::Organization;
use portier_core::rights::{
    AuditRead, Authorized, DomainsManage, MembersRead, OrgUpdate, PortfoliosManage, Principal,
    Right, TokensManage,
};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{I18n, Person, error_page};
use crate::service::access::{Front, OrgAccess};
use crate::{ApiError, AppState};

/// An organization page's organization and the person's rights there.
pub struct OrgContext<R: Right> {
    pub org: Organization,
    pub principal: Principal,
    /// The proof of `R` the page was opened with, which the store's reads
    /// and changes demand.
    pub auth: Authorized<R>,
}

impl<R: Right> OrgContext<R> {
    /// The proof of another right here; 403 without it.
    pub fn and<S: Right>(&self) -> Result<Authorized<S>, ApiError> {
        Ok(self.auth.and::<S>()?)
    }

    pub fn may<S: Right>(&self) -> bool {
        self.principal.holds(&S::PERMISSION, &self.org.path)
    }

    /// The organization's menu: the pages the person has the right to see,
    /// `current` marked.
    pub fn nav(&self, i18n: &I18n, current: Section) -> Vec<NavLink> {
        let id = self.org.id;
        Section::ALL
            .iter()
            .filter(|s| s.allowed(self))
            .map(|s| NavLink {
                href: format!("/orgs/{id}/{}", s.path()),
                label: i18n.t(s.label()),
                current: *s == current,
            })
            .collect()
    }
}

/// One entry of an organization's menu.
pub struct NavLink {
    pub href: String,
    pub label: String,
    pub current: bool,
}

/// The pages about an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Members,
    Administrators,
    Roles,
    Groups,
    Resources,
    Portfolios,
    Domains,
    Tokens,
    Audit,
    Settings,
}

impl Section {
    const ALL: &'static [Section] = &[
        Section::Members,
        Section::Administrators,
        Section::Roles,
        Section::Groups,
        Section::Resources,
        Section::Portfolios,
        Section::Domains,
        Section::Tokens,
        Section::Audit,
        Section::Settings,
    ];

    fn path(self) -> &'static str {
        match self {
            Section::Members => "members",
            Section::Administrators => "administrators",
            Section::Roles => "roles",
            Section::Groups => "groups",
            Section::Resources => "resources",
            Section::Portfolios => "portfolios",
            Section::Domains => "domains",
            Section::Tokens => "tokens",
            Section::Audit => "audit",
            Section::Settings => "settings",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Section::Members => "nav-members",
            Section::Administrators => "nav-admins",
            Section::Roles => "nav-roles",
            Section::Groups => "nav-groups",
            Section::Resources => "nav-resources",
            Section::Portfolios => "nav-portfolios",
            Section::Domains => "nav-domains",
            Section::Tokens => "nav-tokens",
            Section::Audit => "nav-audit",
            Section::Settings => "nav-settings",
        }
    }

    fn allowed(self, ctx: &OrgContext<impl Right>) -> bool {
        match self {
            Section::Members
            | Section::Administrators
            | Section::Roles
            | Section::Groups
            | Section::Resources => ctx.may::<MembersRead>(),
            Section::Portfolios => ctx.may::<PortfoliosManage>(),
            // Domains belong to an environment: its top organization.
            Section::Domains => ctx.org.parent_id.is_none() && ctx.may::<DomainsManage>(),
            Section::Tokens => ctx.may::<TokensManage>(),
            Section::Audit => ctx.may::<AuditRead>(),
            Section::Settings => ctx.may::<OrgUpdate>(),
        }
    }
}

/// The console as a front end of [`OrgAccess`]: the signed-in person (signed
/// out, the way to the sign-in page); an organization they cannot see (or an
/// id that is none) is the page that says "not found", nothing being told
/// about organizations elsewhere; a right they lack, the page that says
/// "forbidden".
pub struct Console;

impl Front for Console {
    type Caller = Person;
    type Refusal = Response;

    async fn caller(parts: &mut Parts, state: &AppState) -> Result<Person, Response> {
        Person::from_request_parts(parts, state).await
    }

    async fn principal(person: &Person, state: &AppState) -> Result<Principal, ApiError> {
        Ok(portier_store::members::principal_for_account(&state.store, person.account.id).await?)
    }

    fn refuse(person: &Person, e: ApiError) -> Response {
        match e.status {
            StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => {
                error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found")
            }
            StatusCode::FORBIDDEN => {
                error_page(&person.viewer, StatusCode::FORBIDDEN, "error-forbidden")
            }
            _ => e.into_response(),
        }
    }
}

impl<R: Right> OrgAccess<R, Console> {
    /// The person and the page's organization with their rights there.
    pub fn page(self) -> (Person, OrgContext<R>) {
        let ctx = OrgContext {
            org: self.auth.organization().clone(),
            principal: self.auth.principal().clone(),
            auth: self.auth,
        };
        (self.caller, ctx)
    }
}

/// The organization of a page (`org` from its path) when the person may see
/// it and holds `R` there; else the page that says "not found" or
/// "forbidden", as [`Console`] answers for [`OrgAccess`]. For the forms that
/// read their organization from a path they share with other values.
pub async fn org_context<R: Right>(
    state: &AppState,
    person: &Person,
    org: &str,
) -> Result<OrgContext<R>, Response> {
    let decided = async {
        let id = crate::extract::path_id("org", org)?;
        let principal = Console::principal(person, state).await?;
        crate::service::access::authorized::<R>(state, &principal, id).await
    }
    .await;
    match decided {
        Ok((org, auth)) => Ok(OrgContext {
            org,
            principal: auth.principal().clone(),
            auth,
        }),
        Err(e) => Err(Console::refuse(person, e)),
    }
}

/// A refusal shown next to the field it concerns (or above the form).
pub struct Problem {
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn of(i18n: &I18n, e: &ApiError) -> Problem {
        Problem {
            field: e.body.error.field.clone(),
            message: i18n.error(&e.body.error.code, &e.body.error.message),
        }
    }

    /// Whether the refusal concerns `field` (or a part of it: `roles[1]`,
    /// `registration.number`).
    fn concerns(&self, field: &str) -> bool {
        self.field.as_deref().is_some_and(|f| {
            f == field
                || f.strip_prefix(field)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }
}

/// A page with a form that may have been refused.
pub trait Refusal {
    fn problem(&self) -> Option<&Problem>;

    /// The message for `field`, when the refusal concerns it.
    fn error_for(&self, field: &str) -> String {
        self.problem()
            .filter(|p| p.concerns(field))
            .map(|p| p.message.clone())
            .unwrap_or_default()
    }

    /// The message when it concerns none of the fields `shown`.
    fn general_error(&self, shown: &[&str]) -> String {
        match self.problem() {
            Some(p) if !shown.iter().any(|s| p.concerns(s)) => p.message.clone(),
            _ => String::new(),
        }
    }
}

/// A text field: trimmed, and nothing when empty.
pub fn optional(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Comma-separated labels as a list.
pub fn labels(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_concerns_its_field_and_the_parts_of_it() {
        let p = Problem {
            field: Some("registration.number".into()),
            message: "x".into(),
        };
        assert!(p.concerns("registration"));
        assert!(!p.concerns("reg"));
        assert!(!p.concerns("email"));
        let p = Problem {
            field: Some("roles[2]".into()),
            message: "x".into(),
        };
        assert!(p.concerns("roles"));
        assert!(!p.concerns("role"));
    }
}
