//! Organizations form a tree (docs/RULES.md#organizations-and-environments).
//! A root is an *environment*; below it are organizations, departments or
//! training groups. Each node stores its materialized path (`root/…/self/`),
//! so "is this inside that" is a prefix test and rights held on a node reach
//! all its descendants.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::accounts::profile_text;
use crate::ids::OrganizationId;
use crate::locale::Locale;
use crate::passwords::PasswordPolicy;

/// How deep the tree may grow: deep enough for environment → organization →
/// department → team → group and then some; shallow enough that a path stays a
/// short index key.
pub const MAX_DEPTH: usize = 8;

/// The ids from the root down to a node, each followed by `/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct OrgPath(String);

impl OrgPath {
    pub fn root(id: OrganizationId) -> OrgPath {
        OrgPath(format!("{id}/"))
    }

    /// The path of a new child, or an error when the tree would grow too deep.
    pub fn child(&self, id: OrganizationId) -> Result<OrgPath, FieldError> {
        if self.depth() >= MAX_DEPTH {
            return Err(FieldError::new(
                "parent_id",
                "organization_too_deep",
                format!("organizations can be nested at most {MAX_DEPTH} levels deep"),
            ));
        }
        Ok(OrgPath(format!("{}{id}/", self.0)))
    }

    /// Reads a stored path.
    pub fn from_stored(s: String) -> OrgPath {
        OrgPath(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn depth(&self) -> usize {
        self.0.matches('/').count()
    }

    /// True when `self` is `other` or lies below it.
    pub fn is_within(&self, other: &OrgPath) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The organizations on the path, the root first and this one last.
    pub fn ids(&self) -> impl Iterator<Item = OrganizationId> + '_ {
        self.0.split('/').filter_map(|s| s.parse().ok())
    }

    /// The environment (root) this path belongs to.
    pub fn environment_id(&self) -> Option<OrganizationId> {
        self.0.split('/').next().and_then(|s| s.parse().ok())
    }
}

/// How often an organization is invoiced (docs/PORTFOLIOS.md#billing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BillingCycle {
    #[default]
    Monthly,
    /// Invoiced per quarter, counted per month all the same.
    Quarterly,
    /// Organizations that pay annually are not counted monthly.
    Annual,
}

impl BillingCycle {
    /// Every cycle, for lists and texts that must name each one.
    pub const ALL: [BillingCycle; 3] = [
        BillingCycle::Monthly,
        BillingCycle::Quarterly,
        BillingCycle::Annual,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BillingCycle::Monthly => "monthly",
            BillingCycle::Quarterly => "quarterly",
            BillingCycle::Annual => "annual",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "monthly" => Ok(BillingCycle::Monthly),
            "quarterly" => Ok(BillingCycle::Quarterly),
            "annual" => Ok(BillingCycle::Annual),
            other => Err(FieldError::new(
                field,
                "billing_cycle_invalid",
                format!(
                    "\"{other}\" is not a billing cycle; use \"monthly\", \"quarterly\" or \"annual\""
                ),
            )),
        }
    }

    /// Whether portfolios are counted per month for this cycle.
    pub fn counted_monthly(self) -> bool {
        self != BillingCycle::Annual
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganizationSettings {
    /// Two-step verification is mandatory for the members of this
    /// organization and those below it (docs/RULES.md#two-step-verification).
    pub require_two_factor: bool,
    pub billing_cycle: BillingCycle,
    /// A person generally has one active portfolio at a time; an
    /// organization may allow several side by side
    /// (docs/PORTFOLIOS.md#one-active-portfolio-at-a-time).
    #[serde(default)]
    pub allow_parallel_portfolios: bool,
    /// People who join by signing up with an address at one of the
    /// environment's proven domains wait for an administrator's approval
    /// (docs/RULES.md#self-sign-up-and-e-mail-domains).
    #[serde(default)]
    pub signup_approval: bool,
    pub locale: Locale,
    pub password_policy: PasswordPolicy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub parent_id: Option<OrganizationId>,
    pub environment_id: OrganizationId,
    pub path: OrgPath,
    pub name: String,
    pub settings: OrganizationSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An organization's name: trimmed, 1 to 200 characters, one line.
pub fn parse_name(field: &str, raw: &str) -> Result<String, FieldError> {
    profile_text(field, Some(raw), 200)?
        .ok_or_else(|| FieldError::new(field, "required", "enter a name"))
}

/// A new organization, before it is stored: a root (environment) when it has
/// no parent.
pub fn new_organization(
    name: &str,
    parent: Option<&Organization>,
    settings: Option<OrganizationSettings>,
    now: DateTime<Utc>,
) -> Result<Organization, FieldError> {
    let id = OrganizationId::new();
    let name = parse_name("name", name)?;
    let (path, environment_id) = match parent {
        Some(p) => (p.path.child(id)?, p.environment_id),
        None => (OrgPath::root(id), id),
    };
    // A child starts with its parent's settings; it may then differ.
    let settings = settings
        .or_else(|| parent.map(|p| p.settings.clone()))
        .unwrap_or_default();
    settings
        .password_policy
        .validate("settings.password_policy")?;
    Ok(Organization {
        id,
        parent_id: parent.map(|p| p.id),
        environment_id,
        path,
        name,
        settings,
        created_at: now,
        updated_at: now,
    })
}

/// A requested change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub require_two_factor: Option<bool>,
    pub billing_cycle: Option<BillingCycle>,
    pub allow_parallel_portfolios: Option<bool>,
    pub signup_approval: Option<bool>,
    pub locale: Option<Locale>,
    pub password_policy: Option<PasswordPolicy>,
}

impl Organization {
    /// Applies a patch, returning the changed organization and, per changed
    /// field, its value before and after (for the audit trail). Unchanged
    /// fields do not appear.
    pub fn apply(
        &self,
        patch: OrganizationPatch,
        now: DateTime<Utc>,
    ) -> Result<(Organization, serde_json::Map<String, serde_json::Value>), FieldError> {
        let mut next = self.clone();
        if let Some(name) = patch.name {
            next.name = parse_name("name", &name)?;
        }
        let s = &mut next.settings;
        if let Some(v) = patch.require_two_factor {
            s.require_two_factor = v;
        }
        if let Some(v) = patch.billing_cycle {
            s.billing_cycle = v;
        }
        if let Some(v) = patch.allow_parallel_portfolios {
            s.allow_parallel_portfolios = v;
        }
        if let Some(v) = patch.signup_approval {
            if self.parent_id.is_some() {
                return Err(FieldError::new(
                    "settings.signup_approval",
                    "not_an_environment",
                    "approval of people who join by a domain is the environment's setting: change it on the top organization",
                ));
            }
            s.signup_approval = v;
        }
        if let Some(v) = patch.locale {
            s.locale = v;
        }
        if let Some(v) = patch.password_policy {
            s.password_policy = v.validate("settings.password_policy")?;
        }
        let mut changes = serde_json::Map::new();
        let before = serde_json::to_value(self).unwrap_or_default();
        let after = serde_json::to_value(&next).unwrap_or_default();
        diff("", &before, &after, &mut changes);
        if !changes.is_empty() {
            next.updated_at = now;
        }
        changes.remove("updated_at");
        Ok((next, changes))
    }
}

/// Records `{field: {before, after}}` for every leaf that differs, with dotted
/// names for nested fields (`settings.locale`).
pub fn diff(
    prefix: &str,
    before: &serde_json::Value,
    after: &serde_json::Value,
    out: &mut serde_json::Map<String, serde_json::Value>,
) {
    match (before, after) {
        (serde_json::Value::Object(b), serde_json::Value::Object(a)) => {
            for (k, av) in a {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let bv = b.get(k).unwrap_or(&serde_json::Value::Null);
                diff(&name, bv, av, out);
            }
        }
        (b, a) if b != a => {
            out.insert(
                prefix.to_owned(),
                serde_json::json!({"before": b, "after": a}),
            );
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_billing_cycle_reads_back_from_its_name() {
        for cycle in super::BillingCycle::ALL {
            assert_eq!(
                super::BillingCycle::parse("c", cycle.as_str()).ok(),
                Some(cycle)
            );
        }
        let refused = super::BillingCycle::parse("c", "yearly").unwrap_err();
        assert_eq!(
            (refused.field.as_str(), refused.code),
            ("c", "billing_cycle_invalid")
        );
    }

    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_child_lies_within_its_environment_but_not_the_other_way_round() {
        let env = new_organization("Ziekenhuis Oost", None, None, now()).unwrap();
        let dept = new_organization("Chirurgie", Some(&env), None, now()).unwrap();
        assert_eq!(env.environment_id, env.id);
        assert_eq!(dept.environment_id, env.id);
        assert_eq!(dept.parent_id, Some(env.id));
        assert!(dept.path.is_within(&env.path));
        assert!(!env.path.is_within(&dept.path));
        assert!(env.path.is_within(&env.path));
        assert_eq!(dept.path.environment_id(), Some(env.id));
        assert_eq!(dept.path.ids().collect::<Vec<_>>(), vec![env.id, dept.id]);
        assert_eq!(env.path.ids().collect::<Vec<_>>(), vec![env.id]);
    }

    #[test]
    fn siblings_do_not_contain_each_other() {
        let env = new_organization("Env", None, None, now()).unwrap();
        let a = new_organization("A", Some(&env), None, now()).unwrap();
        let b = new_organization("B", Some(&env), None, now()).unwrap();
        assert!(!a.path.is_within(&b.path));
    }

    #[test]
    fn the_tree_has_a_depth_limit() {
        let mut org = new_organization("L1", None, None, now()).unwrap();
        for level in 2..=MAX_DEPTH {
            org = new_organization(&format!("L{level}"), Some(&org), None, now()).unwrap();
        }
        let e = new_organization("too deep", Some(&org), None, now()).unwrap_err();
        assert_eq!(e.field, "parent_id");
    }

    #[test]
    fn children_inherit_settings_until_changed() {
        let mut env = new_organization("Env", None, None, now()).unwrap();
        env.settings.require_two_factor = true;
        let child = new_organization("Child", Some(&env), None, now()).unwrap();
        assert!(child.settings.require_two_factor);
    }

    #[test]
    fn names_are_required_and_trimmed() {
        assert_eq!(parse_name("name", "  Acme  ").unwrap(), "Acme");
        assert_eq!(parse_name("name", "   ").unwrap_err().code, "required");
        assert_eq!(
            parse_name("name", &"x".repeat(201)).unwrap_err().code,
            "too_long"
        );
    }

    #[test]
    fn a_patch_reports_exactly_what_changed() {
        let org = new_organization("Acme", None, None, now()).unwrap();
        let later: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().unwrap();
        let patch = OrganizationPatch {
            name: Some("Acme BV".into()),
            locale: Some(Locale::Nl),
            require_two_factor: Some(false),
            ..Default::default()
        };
        let (next, changes) = org.apply(patch, later).unwrap();
        assert_eq!(next.name, "Acme BV");
        assert_eq!(next.updated_at, later);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(
            changes["name"],
            serde_json::json!({"before": "Acme", "after": "Acme BV"})
        );
        assert_eq!(
            changes["settings.locale"],
            serde_json::json!({"before": "en", "after": "nl"})
        );
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let org = new_organization("Acme", None, None, now()).unwrap();
        let (next, changes) = org.apply(OrganizationPatch::default(), now()).unwrap();
        assert!(changes.is_empty());
        assert_eq!(next, org);
    }

    #[test]
    fn every_billing_cycle_is_written_by_its_name() {
        for cycle in super::BillingCycle::ALL {
            // A new cycle fails to compile here until ALL lists it.
            match cycle {
                super::BillingCycle::Monthly
                | super::BillingCycle::Quarterly
                | super::BillingCycle::Annual => {}
            }
            assert_eq!(serde_json::to_value(cycle).unwrap(), cycle.as_str());
        }
        assert_eq!(
            super::BillingCycle::ALL.map(super::BillingCycle::as_str),
            ["monthly", "quarterly", "annual"]
        );
        assert!(super::BillingCycle::Monthly.counted_monthly());
        assert!(super::BillingCycle::Quarterly.counted_monthly());
        assert!(!super::BillingCycle::Annual.counted_monthly());
    }
}
