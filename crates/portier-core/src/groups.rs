//! Groups (docs/RULES.md#groups): members of one organization gathered under
//! a name (a team), carrying roles that every member of the group holds in
//! that organization.

use crate::FieldError;
use crate::accounts::{multiline_text, profile_text};
use crate::roles::{Role, RoleKey, RoleKind};

/// A group as sent.
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    pub name: String,
    pub description: Option<String>,
    pub roles: Vec<String>,
}

/// A group that passed every rule, its roles still to be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroup {
    pub name: String,
    pub description: Option<String>,
    pub roles: Vec<RoleKey>,
}

impl NewGroup {
    pub fn parse(input: GroupInput) -> Result<NewGroup, FieldError> {
        Ok(NewGroup {
            name: parse_name(&input.name)?,
            description: multiline_text("description", input.description.as_deref(), 1000)?,
            roles: parse_role_keys(&input.roles)?,
        })
    }
}

/// A change to a group; `None` keeps a field. `description: Some(None)`
/// empties it; `roles` replaces them all.
#[derive(Debug, Clone, Default)]
pub struct GroupPatchInput {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub roles: Option<Vec<String>>,
}

/// The parsed change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupPatch {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub roles: Option<Vec<RoleKey>>,
}

impl GroupPatch {
    pub fn parse(input: GroupPatchInput) -> Result<GroupPatch, FieldError> {
        Ok(GroupPatch {
            name: input.name.as_deref().map(parse_name).transpose()?,
            description: input
                .description
                .map(|d| multiline_text("description", d.as_deref(), 1000))
                .transpose()?,
            roles: input.roles.as_deref().map(parse_role_keys).transpose()?,
        })
    }
}

pub fn parse_name(raw: &str) -> Result<String, FieldError> {
    profile_text("name", Some(raw), 100)?
        .ok_or_else(|| FieldError::new("name", "required", "give the group a name"))
}

fn parse_role_keys(raw: &[String]) -> Result<Vec<RoleKey>, FieldError> {
    let mut keys: Vec<RoleKey> = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let key = RoleKey::parse(&format!("roles[{i}]"), k)?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

/// A group carries content roles only. Administrator rights are given to
/// people one by one, so that the overview of administrators shows everyone
/// who holds them and they never arrive unseen through a team
/// (docs/RULES.md#groups).
pub fn check_roles(roles: &[Role]) -> Result<(), FieldError> {
    match roles.iter().position(|r| r.kind == RoleKind::Admin) {
        None => Ok(()),
        Some(i) => Err(FieldError::new(
            format!("roles[{i}]"),
            "administrator_role_in_group",
            format!(
                "{} is an administrator role; give it to people one by one, not to a group",
                roles[i].key.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::builtins;

    #[test]
    fn a_group_needs_a_name_and_takes_each_role_once() {
        let g = NewGroup::parse(GroupInput {
            name: "  Team Oost ".into(),
            description: Some("Wijkteam\nOost".into()),
            roles: vec!["member".into(), "member".into()],
        })
        .unwrap();
        assert_eq!(g.name, "Team Oost");
        assert_eq!(g.roles.len(), 1);
        assert_eq!(g.description.as_deref(), Some("Wijkteam\nOost"));
        let e = NewGroup::parse(GroupInput::default()).unwrap_err();
        assert_eq!(e.field, "name");
        let e = NewGroup::parse(GroupInput {
            name: "x".into(),
            roles: vec!["Bad Key".into()],
            ..GroupInput::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "roles[0]");
    }

    #[test]
    fn a_group_never_carries_an_administrator_role() {
        let roles = builtins();
        let member: Vec<Role> = roles
            .iter()
            .filter(|r| r.kind == RoleKind::Content)
            .cloned()
            .collect();
        assert!(check_roles(&member).is_ok());
        let e = check_roles(&roles).unwrap_err();
        assert_eq!(e.code, "administrator_role_in_group");
        assert_eq!(e.field, "roles[0]");
    }

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let p = GroupPatch::parse(GroupPatchInput {
            description: Some(None),
            ..GroupPatchInput::default()
        })
        .unwrap();
        assert_eq!(p.name, None);
        assert_eq!(p.description, Some(None));
        assert!(
            GroupPatch::parse(GroupPatchInput {
                name: Some(" ".into()),
                ..GroupPatchInput::default()
            })
            .is_err()
        );
    }
}
