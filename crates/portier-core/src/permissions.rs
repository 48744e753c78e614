//! Permissions are dotted strings (`members.read`). Portier's own are listed in
//! [`CATALOGUE`]; an integrating product may use any other well-formed one
//! (`documents.send`), so the type accepts every dotted name and the catalogue
//! only describes ours.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::FieldError;

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission(Cow<'static, str>);

macro_rules! catalogue {
    ($($konst:ident = $name:literal: $what:literal;)*) => {
        $(pub const $konst: Permission = Permission(Cow::Borrowed($name));)*
        /// Portier's own permissions with what each allows
        /// (docs/RULES.md#roles-and-permissions).
        pub const CATALOGUE: &[(Permission, &str)] = &[$(($konst, $what)),*];
    };
}

catalogue! {
    MEMBERS_READ = "members.read": "see the members of the organization";
    MEMBERS_INVITE = "members.invite": "add people to the organization";
    MEMBERS_UPDATE = "members.update": "change members' details, deactivate and reactivate them";
    MEMBERS_REMOVE = "members.remove": "remove members from the organization";
    ROLES_ASSIGN = "roles.assign": "give and take content roles";
    ADMINS_MANAGE = "admins.manage": "give and take administrator roles";
    ROLES_MANAGE = "roles.manage": "define the organization's roles";
    GROUPS_MANAGE = "groups.manage": "define groups and their members";
    PORTFOLIOS_MANAGE = "portfolios.manage": "assign, pause, complete and transfer portfolios";
    BILLING_READ = "billing.read": "see what the organization is billed for";
    AUDIT_READ = "audit.read": "read the audit trail";
    ORG_UPDATE = "org.update": "change the organization's name and settings";
    ORG_CREATE = "org.create": "create organizations below this one";
    DOMAINS_MANAGE = "domains.manage": "claim and verify e-mail domains";
    TOKENS_MANAGE = "tokens.manage": "create and revoke API tokens";
    RESOURCES_MANAGE = "resources.manage": "register the organization's resources (mailboxes, administrations) and grant access to them";
}

impl Permission {
    /// Accepts `segment.segment[...]`: two to five segments of lower-case
    /// letters, digits, `_` or `-`.
    pub fn parse(field: &str, raw: &str) -> Result<Permission, FieldError> {
        let s = raw.trim();
        let bad = |why: &str| {
            FieldError::new(
                field,
                "permission_invalid",
                format!("\"{s}\" is not a permission: {why} (for example members.read)"),
            )
        };
        if s.is_empty() || raw.len() > 128 {
            return Err(bad("it must have 1 to 128 characters"));
        }
        let segments: Vec<&str> = s.split('.').collect();
        if !(2..=5).contains(&segments.len()) {
            return Err(bad("it must have two to five parts separated by dots"));
        }
        for seg in segments {
            if seg.is_empty()
                || !seg
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            {
                return Err(bad(
                    "each part uses only lower-case letters, digits, _ and -",
                ));
            }
        }
        Ok(Permission(Cow::Owned(s.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the permissions Portier itself defines.
    pub fn is_portier(&self) -> bool {
        CATALOGUE.iter().any(|(p, _)| p == self)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({})", self.0)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Permission::parse("permission", &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// A set of permissions, ordered for stable output.
pub type PermissionSet = BTreeSet<Permission>;

/// Every permission Portier defines.
pub fn all_portier() -> PermissionSet {
    CATALOGUE.iter().map(|(p, _)| p.clone()).collect()
}

/// Parses a list from a request, naming the offending entry by index
/// (`permissions[2]`).
pub fn parse_list(field: &str, raw: &[String]) -> Result<PermissionSet, FieldError> {
    raw.iter()
        .enumerate()
        .map(|(i, p)| Permission::parse(&format!("{field}[{i}]"), p))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permission_is_two_to_five_parts_of_a_few_characters() {
        let ok = |raw: &str| Permission::parse("p", raw).map(|p| p.as_str().to_owned());
        assert_eq!(ok(" members.read ").unwrap(), "members.read");
        assert_eq!(ok("a-b.c_d.e1").unwrap(), "a-b.c_d.e1");
        // At 128 characters and one over.
        let at_limit = format!("a.{}", "b".repeat(126));
        assert_eq!(ok(&at_limit).unwrap().len(), 128);
        assert!(ok(&format!("{at_limit}b")).is_err());
        for bad in [
            "",
            "   ",
            "members",
            "a.b.c.d.e.f",
            "members..read",
            "Members.read",
            "members.re ad",
            "members.lees!",
        ] {
            let e = Permission::parse("p", bad).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("p", "permission_invalid"),
                "{bad:?}"
            );
        }
        assert_eq!(ok("a.b.c.d.e").unwrap(), "a.b.c.d.e");
    }

    #[test]
    fn a_permission_shows_as_its_name() {
        let p = Permission::parse("p", "documents.read").unwrap();
        assert_eq!(p.to_string(), "documents.read");
        assert_eq!(format!("{p:?}"), "Permission(documents.read)");
    }

    #[test]
    fn products_may_bring_their_own_permissions() {
        let p = Permission::parse("permissions", "documents.send").unwrap();
        assert!(!p.is_portier());
        assert!(MEMBERS_READ.is_portier());
    }

    #[test]
    fn malformed_permissions_are_refused_by_position() {
        let e = parse_list(
            "permissions",
            &["members.read".into(), "Members Read".into()],
        )
        .unwrap_err();
        assert_eq!(e.field, "permissions[1]");
        assert!(Permission::parse("p", "members").is_err());
        assert!(Permission::parse("p", "members..read").is_err());
        assert!(Permission::parse("p", "a.b.c.d.e.f").is_err());
    }

    #[test]
    fn the_catalogue_holds_every_permission_design_names() {
        let names: Vec<&str> = CATALOGUE.iter().map(|(p, _)| p.as_str()).collect();
        for n in [
            "members.read",
            "members.invite",
            "members.update",
            "members.remove",
            "roles.assign",
            "admins.manage",
            "roles.manage",
            "groups.manage",
            "portfolios.manage",
            "billing.read",
            "audit.read",
            "org.update",
            "org.create",
            "domains.manage",
            "tokens.manage",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        for (p, _) in CATALOGUE {
            assert_eq!(Permission::parse("p", p.as_str()).unwrap(), *p);
        }
    }
}
