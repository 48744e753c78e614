//! Resources (docs/RULES.md#resources): named things of an organization
//! (mailboxes, administrations), of any type the product uses, that members
//! or groups are granted a relation on (`use`, `manage`). The check API
//! answers `<type>.<relation>` for them.

use crate::FieldError;
use crate::accounts::profile_text;
use crate::roles::RoleKey;

/// A resource to register, as sent.
#[derive(Debug, Clone, Default)]
pub struct ResourceInput {
    pub kind: String,
    pub key: String,
    pub name: String,
}

/// A resource that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewResource {
    /// A key (`mailbox`): the first part of the permissions that name it.
    pub kind: String,
    /// The product's own id for it.
    pub key: String,
    pub name: String,
}

impl NewResource {
    pub fn parse(input: ResourceInput) -> Result<NewResource, FieldError> {
        Ok(NewResource {
            kind: parse_type("type", &input.kind)?,
            key: parse_key("id", &input.key)?,
            name: profile_text("name", Some(&input.name), 200)?
                .ok_or_else(|| FieldError::new("name", "required", "give the resource a name"))?,
        })
    }
}

/// A resource type: a key, as role keys are (`mailbox`, `administration`).
pub fn parse_type(field: &str, raw: &str) -> Result<String, FieldError> {
    Ok(RoleKey::parse(field, raw)?.as_str().to_owned())
}

/// The product's id of a resource: 1 to 200 characters on one line.
pub fn parse_key(field: &str, raw: &str) -> Result<String, FieldError> {
    profile_text(field, Some(raw), 200)?
        .ok_or_else(|| FieldError::new(field, "required", "give the resource's id"))
}

/// A relation (`use`, `manage`): a key, as role keys are.
pub fn parse_relation(field: &str, raw: &str) -> Result<String, FieldError> {
    Ok(RoleKey::parse(field, raw)?.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resource_has_a_type_key_an_id_and_a_name() {
        let r = NewResource::parse(ResourceInput {
            kind: "mailbox".into(),
            key: " sales@acme.nl ".into(),
            name: "Sales".into(),
        })
        .unwrap();
        assert_eq!(
            (r.kind.as_str(), r.key.as_str()),
            ("mailbox", "sales@acme.nl")
        );
        let e = NewResource::parse(ResourceInput {
            kind: "Mail Box".into(),
            ..ResourceInput::default()
        })
        .unwrap_err();
        assert_eq!(e.field, "type");
        assert_eq!(parse_relation("relation", "use").unwrap(), "use");
        assert!(parse_key("id", "a\nb").is_err());
    }
}
