//! Roles: named sets of permissions of one of two kinds that are granted apart
//! (docs/RULES.md#roles-and-permissions): administrator roles manage the
//! organization, content roles say what a member does in the product. The
//! built-ins are defined here, once; storage writes them from this
//! definition.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::accounts::profile_text;
use crate::ids::{OrganizationId, RoleId};
use crate::permissions::{self as p, Permission, PermissionSet};
use crate::registrations::Register;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
        // The limit reads what was sent, spaces included, as the API documents it.
        let ok = raw.len() <= 64
            && !s.is_empty()
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// The built-in roles (docs/RULES.md#roles-and-permissions), with fixed ids
/// so every database agrees.
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
    // The "key user" adds and manages people, but does not touch
    // administrators' rights or the organization's settings
    // (docs/RULES.md#roles-and-permissions).
    let user_manager: PermissionSet = [
        p::MEMBERS_READ,
        p::MEMBERS_INVITE,
        p::MEMBERS_UPDATE,
        p::MEMBERS_REMOVE,
        p::ROLES_ASSIGN,
        p::GROUPS_MANAGE,
        // The key user adds people to the mailboxes and administrations
        // they need (docs/RULES.md#resources).
        p::RESOURCES_MANAGE,
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
        // No rights: the default role, also of someone who joined by their
        // domain (docs/RULES.md#self-sign-up-and-e-mail-domains).
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

/// The register the first of `roles` that needs one needs, with that role's
/// key (docs/RULES.md#professional-registrations).
pub fn needed_register(roles: &[Role]) -> Option<(Register, &str)> {
    roles.iter().find_map(|r| {
        let register =
            Register::parse("requires_registration", r.requires_registration.as_deref()?).ok()?;
        Some((register, r.key.as_str()))
    })
}

/// True for the keys of the built-in roles, which no organization may take.
pub fn is_builtin_key(key: &RoleKey) -> bool {
    [ADMINISTRATOR, USER_MANAGER, MEMBER].contains(&key.as_str())
}

/// A role as an organization defines it (`POST …/roles`), as sent.
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    pub key: String,
    pub name_en: Option<String>,
    pub name_nl: Option<String>,
    pub kind: String,
    pub permissions: Vec<String>,
    pub requires_registration: Option<String>,
    pub portfolio_types: Vec<String>,
}

/// A custom role that passed every rule, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    pub key: RoleKey,
    pub name: LocalizedName,
    pub kind: RoleKind,
    pub permissions: PermissionSet,
    pub requires_registration: Option<Register>,
    pub portfolio_types: Vec<String>,
}

/// At most this many permissions in one role: a role is a job's rights, not a
/// catalogue.
pub const MAX_ROLE_PERMISSIONS: usize = 100;
const MAX_PORTFOLIO_TYPES: usize = 20;

impl RoleDefinition {
    pub fn parse(input: RoleInput) -> Result<RoleDefinition, FieldError> {
        let key = RoleKey::parse("key", &input.key)?;
        let name = parse_name(input.name_en.as_deref(), input.name_nl.as_deref())?;
        let kind = RoleKind::parse("kind", input.kind.trim())?;
        let permissions = parse_permissions(kind, &input.permissions)?;
        let requires_registration = parse_register(input.requires_registration.as_deref())?;
        let portfolio_types = parse_portfolio_types(&input.portfolio_types)?;
        Ok(RoleDefinition {
            key,
            name,
            kind,
            permissions,
            requires_registration,
            portfolio_types,
        })
    }
}

/// A change to a custom role; a field left `None` stays as it is. The key and
/// the kind never change: turning a content role into an administrator role
/// would make administrators of everyone holding it without anyone granting
/// it (docs/RULES.md#roles-and-permissions keeps the two apart).
#[derive(Debug, Clone, Default)]
pub struct RolePatchInput {
    pub name_en: Option<String>,
    pub name_nl: Option<String>,
    pub permissions: Option<Vec<String>>,
    /// `Some(None)` removes the requirement.
    pub requires_registration: Option<Option<String>>,
    pub portfolio_types: Option<Vec<String>>,
}

impl RolePatchInput {
    /// The role as it will be after the change.
    pub fn apply(self, role: &Role) -> Result<Role, FieldError> {
        let mut next = role.clone();
        if self.name_en.is_some() || self.name_nl.is_some() {
            next.name = parse_name(
                self.name_en.as_deref().or(Some(role.name.en.as_str())),
                self.name_nl.as_deref().or(Some(role.name.nl.as_str())),
            )?;
        }
        if let Some(permissions) = self.permissions {
            next.permissions = parse_permissions(role.kind, &permissions)?;
        }
        if let Some(register) = self.requires_registration {
            next.requires_registration =
                parse_register(register.as_deref())?.map(|r| r.as_str().to_owned());
        }
        if let Some(types) = self.portfolio_types {
            next.portfolio_types = parse_portfolio_types(&types)?;
        }
        Ok(next)
    }
}

fn parse_name(en: Option<&str>, nl: Option<&str>) -> Result<LocalizedName, FieldError> {
    localized_name(en, nl, "role")
}

/// A name in English and Dutch, 1 to 100 characters each, for a `what`
/// ("role", "portfolio type").
pub fn localized_name(
    en: Option<&str>,
    nl: Option<&str>,
    what: &str,
) -> Result<LocalizedName, FieldError> {
    let en = profile_text("name.en", en, 100)?.ok_or_else(|| {
        FieldError::new(
            "name.en",
            "required",
            format!("give the {what} a name in English"),
        )
    })?;
    // Without a Dutch name, Dutch readers see the English one; a blank one
    // sent is a mistake, not a wish for none.
    let nl = match nl {
        None => en.clone(),
        Some(raw) => profile_text("name.nl", Some(raw), 100)?.ok_or_else(|| {
            FieldError::new(
                "name.nl",
                "required",
                "give the Dutch name, or leave it out",
            )
        })?,
    };
    Ok(LocalizedName { en, nl })
}

/// Administrator rights and content rights are granted apart
/// (docs/RULES.md#roles-and-permissions). A content role carries only the
/// product's permissions: one carrying Portier's (`members.invite`,
/// `admins.manage` …) would let whoever may give content roles hand out
/// administrator rights.
fn parse_permissions(kind: RoleKind, raw: &[String]) -> Result<PermissionSet, FieldError> {
    if raw.len() > MAX_ROLE_PERMISSIONS {
        return Err(FieldError::new(
            "permissions",
            "too_many",
            format!("a role carries at most {MAX_ROLE_PERMISSIONS} permissions"),
        ));
    }
    let set = p::parse_list("permissions", raw)?;
    if kind == RoleKind::Content
        && let Some((i, portier)) = raw
            .iter()
            .enumerate()
            .find(|(_, r)| Permission::parse("permissions", r).is_ok_and(|p| p.is_portier()))
    {
        return Err(FieldError::new(
            format!("permissions[{i}]"),
            "administrator_permission",
            format!(
                "{} is an administrator's right; a content role carries only the product's permissions (make it an admin role)",
                portier.trim()
            ),
        ));
    }
    Ok(set)
}

fn parse_register(raw: Option<&str>) -> Result<Option<Register>, FieldError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => Register::parse("requires_registration", r).map(Some),
    }
}

fn parse_portfolio_types(raw: &[String]) -> Result<Vec<String>, FieldError> {
    if raw.len() > MAX_PORTFOLIO_TYPES {
        return Err(FieldError::new(
            "portfolio_types",
            "too_many",
            format!("a role allows at most {MAX_PORTFOLIO_TYPES} portfolio types"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let key = RoleKey::parse(&format!("portfolio_types[{i}]"), t).map_err(|e| {
            FieldError::new(
                e.field,
                "portfolio_type_invalid",
                "a portfolio type is a key: 1 to 64 lower-case letters, digits and hyphens",
            )
        })?;
        if !out.iter().any(|o| o == key.as_str()) {
            out.push(key.as_str().to_owned());
        }
    }
    Ok(out)
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

    fn input(kind: &str, permissions: &[&str]) -> RoleInput {
        RoleInput {
            key: "aios".into(),
            name_en: Some("Resident".into()),
            name_nl: Some("AIOS".into()),
            kind: kind.into(),
            permissions: permissions.iter().map(|p| p.to_string()).collect(),
            ..RoleInput::default()
        }
    }

    #[test]
    fn a_role_carries_at_most_100_permissions_and_20_portfolio_types() {
        let permissions: Vec<String> = (0..=MAX_ROLE_PERMISSIONS)
            .map(|i| format!("documents.p{i}"))
            .collect();
        let refs: Vec<&str> = permissions.iter().map(String::as_str).collect();
        let at_limit = input("content", &refs[..MAX_ROLE_PERMISSIONS]);
        assert_eq!(
            RoleDefinition::parse(at_limit).unwrap().permissions.len(),
            MAX_ROLE_PERMISSIONS
        );
        let e = RoleDefinition::parse(input("content", &refs)).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("permissions", "too_many"));
        let types: Vec<String> = (0..=MAX_PORTFOLIO_TYPES).map(|i| format!("t{i}")).collect();
        let mut i = input("content", &["documents.read"]);
        i.portfolio_types = types[..MAX_PORTFOLIO_TYPES].to_vec();
        assert_eq!(
            RoleDefinition::parse(i.clone())
                .unwrap()
                .portfolio_types
                .len(),
            MAX_PORTFOLIO_TYPES
        );
        i.portfolio_types = types;
        let e = RoleDefinition::parse(i).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("portfolio_types", "too_many"));
    }

    #[test]
    fn the_builtin_roles_have_fixed_distinct_ids() {
        let ids: Vec<uuid::Uuid> = builtins().iter().map(|r| r.id.0).collect();
        for (i, id) in ids.iter().enumerate() {
            assert!(!ids[..i].contains(id), "{id} twice");
            assert_eq!(id.get_version_num(), 7, "{id}");
            assert_eq!(id.as_u128() >> 64, 0x0000_0000_0000_7000, "{id}");
        }
    }

    #[test]
    fn the_register_needed_is_the_first_roles_that_needs_one() {
        let mut roles = builtins();
        assert_eq!(needed_register(&roles), None);
        let mut doctor = roles[0].clone();
        doctor.key = RoleKey::parse("key", "doctor").unwrap();
        doctor.requires_registration = Some("BIG".into());
        roles.push(doctor);
        assert_eq!(
            needed_register(&roles).map(|(r, key)| (r.as_str(), key)),
            Some(("BIG", "doctor"))
        );
    }

    #[test]
    fn a_custom_role_carries_the_products_permissions() {
        let mut i = input("content", &["documents.read", "documents.send"]);
        i.requires_registration = Some("BIG".into());
        i.portfolio_types = vec!["surgery".into(), "surgery".into()];
        let def = RoleDefinition::parse(i).unwrap();
        assert_eq!(def.permissions.len(), 2);
        assert_eq!(def.requires_registration, Some(Register::Big));
        assert_eq!(def.portfolio_types, vec!["surgery"]);
        assert_eq!(def.name.nl, "AIOS");
    }

    #[test]
    fn a_content_role_cannot_carry_an_administrators_right() {
        let e = RoleDefinition::parse(input("content", &["documents.read", "members.invite"]))
            .unwrap_err();
        assert_eq!(e.field, "permissions[1]");
        assert_eq!(e.code, "administrator_permission");
        assert!(
            RoleDefinition::parse(input("admin", &["members.invite", "documents.read"])).is_ok()
        );
    }

    #[test]
    fn built_in_keys_are_reserved_and_names_required() {
        assert!(is_builtin_key(
            &RoleKey::parse("key", "administrator").unwrap()
        ));
        assert!(!is_builtin_key(&RoleKey::parse("key", "aios").unwrap()));
        let mut i = input("content", &[]);
        i.name_en = Some("  ".into());
        assert_eq!(RoleDefinition::parse(i).unwrap_err().field, "name.en");
        let mut i = input("content", &[]);
        i.name_nl = None;
        assert_eq!(RoleDefinition::parse(i).unwrap().name.nl, "Resident");
        let mut i = input("content", &[]);
        i.name_nl = Some(String::new());
        assert_eq!(RoleDefinition::parse(i).unwrap_err().field, "name.nl");
        let mut i = input("content", &[]);
        i.requires_registration = Some("SKJ".into());
        assert_eq!(
            RoleDefinition::parse(i).unwrap_err().field,
            "requires_registration"
        );
    }

    #[test]
    fn a_patch_keeps_the_kind_and_checks_what_changes() {
        let def = RoleDefinition::parse(input("content", &["documents.read"])).unwrap();
        let role = Role {
            id: RoleId::new(),
            organization_id: None,
            key: def.key,
            name: def.name,
            kind: def.kind,
            permissions: def.permissions,
            requires_registration: None,
            portfolio_types: vec![],
        };
        let bad = RolePatchInput {
            permissions: Some(vec!["admins.manage".into()]),
            ..RolePatchInput::default()
        };
        assert_eq!(bad.apply(&role).unwrap_err().field, "permissions[0]");
        let rename = RolePatchInput {
            name_nl: Some("Arts in opleiding".into()),
            requires_registration: Some(Some("BIG".into())),
            ..RolePatchInput::default()
        };
        let next = rename.apply(&role).unwrap();
        assert_eq!(
            (next.name.en.as_str(), next.name.nl.as_str()),
            ("Resident", "Arts in opleiding")
        );
        assert_eq!(next.requires_registration.as_deref(), Some("BIG"));
        assert_eq!(next.kind, RoleKind::Content);
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

    #[test]
    fn every_role_kind_reads_back_from_its_name() {
        let all = [RoleKind::Admin, RoleKind::Content];
        for kind in all {
            // A new kind fails to compile here until it is listed above.
            match kind {
                RoleKind::Admin | RoleKind::Content => {}
            }
            assert_eq!(RoleKind::parse("kind", kind.as_str()), Ok(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(all.map(RoleKind::as_str), ["admin", "content"]);
        let e = RoleKind::parse("kind", "administrator").unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("kind", "role_kind_invalid"));
        assert_eq!(
            RoleKind::parse("kind", "Admin").unwrap_err().code,
            "role_kind_invalid"
        );
    }
}
