//! Roles: named sets of permissions of one of two kinds that are granted apart
//! (seed 001): administrator roles manage the organization, content roles say what
//! a member does in the product. The built-ins are defined here, once; storage
//! writes them from this definition.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::ids::{OrganizationId, RoleId};
use crate::permissions::{self as p, Permission, PermissionSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleKind {
    Admin,
    Content,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Admin => "admin",
            RoleKind::Content => "content",
        }
    }

    pub fn parse(field: &str, s: &str) -> Result<Self, FieldError> {
        match s {
            "admin" => Ok(RoleKind::Admin),
            "content" => Ok(RoleKind::Content),
            other => Err(FieldError::new(
                field,
                "role_kind_invalid",
                format!("\"{other}\" is not a role kind; use \"admin\" or \"content\""),
            )),
        }
    }
}

/// A role's key: lower-case letters, digits and hyphens, 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RoleKey(String);

impl RoleKey {
    pub fn parse(field: &str, raw: &str) -> Result<RoleKey, FieldError> {
        let s = raw.trim();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-');
        if ok {
            Ok(RoleKey(s.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "role_key_invalid",
                format!(
                    "\"{s}\" is not a role key: use 1 to 64 lower-case letters, digits and hyphens"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name in each of Portier's languages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalizedName {
    pub en: String,
    pub nl: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub id: RoleId,
    /// `None` for the built-ins, which exist in every organization.
    pub organization_id: Option<OrganizationId>,
    pub key: RoleKey,
    pub name: LocalizedName,
    pub kind: RoleKind,
    pub permissions: PermissionSet,
    /// The professional register this role requires a number in (`"BIG"`).
    pub requires_registration: Option<String>,
    pub portfolio_types: Vec<String>,
}

pub const ADMINISTRATOR: &str = "administrator";
pub const USER_MANAGER: &str = "user-manager";
pub const MEMBER: &str = "member";

/// The built-in roles of DESIGN §1, with fixed ids so every database agrees.
pub fn builtins() -> Vec<Role> {
    let role = |n: u128, key: &str, en: &str, nl: &str, kind, permissions: PermissionSet| Role {
        id: RoleId(uuid::Uuid::from_u128(
            0x0000_0000_0000_7000_8000_0000_0000_0000 | n,
        )),
        organization_id: None,
        key: RoleKey(key.to_owned()),
        name: LocalizedName {
            en: en.to_owned(),
            nl: nl.to_owned(),
        },
        kind,
        permissions,
        requires_registration: None,
        portfolio_types: Vec::new(),
    };
    // seed 004: the "key user" adds and manages people, but does not touch
    // administrators' rights or the organization's settings.
    let user_manager: PermissionSet = [
        p::MEMBERS_READ,
        p::MEMBERS_INVITE,
        p::MEMBERS_UPDATE,
        p::MEMBERS_REMOVE,
        p::ROLES_ASSIGN,
        p::GROUPS_MANAGE,
    ]
    .into_iter()
    .collect();
    vec![
        role(
            1,
            ADMINISTRATOR,
            "Administrator",
            "Beheerder",
            RoleKind::Admin,
            p::all_portier(),
        ),
        role(
            2,
            USER_MANAGER,
            "User manager",
            "Gebruikersbeheerder",
            RoleKind::Admin,
            user_manager,
        ),
        // seed 003: someone who joined by their domain "still has no rights".
        role(
            3,
            MEMBER,
            "Member",
            "Lid",
            RoleKind::Content,
            PermissionSet::new(),
        ),
    ]
}

impl Role {
    pub fn grants(&self, permission: &Permission) -> bool {
        self.permissions.contains(permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_administrator_holds_every_portier_permission_and_the_member_none() {
        let roles = builtins();
        let admin = roles
            .iter()
            .find(|r| r.key.as_str() == ADMINISTRATOR)
            .unwrap();
        assert_eq!(admin.permissions, p::all_portier());
        let member = roles.iter().find(|r| r.key.as_str() == MEMBER).unwrap();
        assert!(member.permissions.is_empty());
        assert_eq!(member.kind, RoleKind::Content);
    }

    #[test]
    fn the_user_manager_cannot_manage_administrators() {
        let roles = builtins();
        let um = roles
            .iter()
            .find(|r| r.key.as_str() == USER_MANAGER)
            .unwrap();
        assert!(um.grants(&p::MEMBERS_INVITE));
        assert!(!um.grants(&p::ADMINS_MANAGE));
        assert!(!um.grants(&p::ORG_UPDATE));
    }

    #[test]
    fn role_keys_are_lower_case_slugs() {
        assert!(RoleKey::parse("key", "aios-chirurgie").is_ok());
        assert_eq!(
            RoleKey::parse("key", "Head Nurse").unwrap_err().field,
            "key"
        );
        assert!(RoleKey::parse("key", "").is_err());
    }
}
