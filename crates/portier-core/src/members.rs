//! Memberships: one account's place in one organization (DESIGN §1). Deactivation
//! is per membership (seed 002), so one organization cannot lock a person out of
//! another.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::accounts::{AccountStatus, profile_text};
use crate::ids::{AccountId, MembershipId, OrganizationId};

/// What the members list shows (seed 001: invited / active / deactivated).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    Invited,
    Active,
    Deactivated,
}

impl MemberStatus {
    /// A deactivated membership reads as deactivated whatever the account's
    /// state; otherwise the account's state shows.
    pub fn of(account: AccountStatus, membership_active: bool) -> MemberStatus {
        match (membership_active, account) {
            (false, _) => MemberStatus::Deactivated,
            (true, AccountStatus::Invited) => MemberStatus::Invited,
            (true, AccountStatus::Active) => MemberStatus::Active,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub id: MembershipId,
    pub account_id: AccountId,
    pub organization_id: OrganizationId,
    pub active: bool,
    /// seed 002: a unique (staff) identification code, searchable and exported.
    pub staff_code: Option<String>,
    /// seed 002: visible to the member's contacts; the member may edit it too.
    pub description: Option<String>,
    pub job_title: Option<String>,
    /// seed 002: labels tell institutions apart and are included in exports.
    pub labels: Vec<String>,
    pub invited_by: Option<AccountId>,
    pub created_at: DateTime<Utc>,
}

/// A staff identification code: one line, at most 64 characters.
pub fn parse_staff_code(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    profile_text("staff_code", raw, 64)
}

/// Labels: each trimmed, 1 to 64 characters, no duplicates; order kept.
pub fn parse_labels(raw: &[String]) -> Result<Vec<String>, FieldError> {
    let mut out: Vec<String> = Vec::new();
    for (i, l) in raw.iter().enumerate() {
        let field = format!("labels[{i}]");
        let label = profile_text(&field, Some(l), 64)?
            .ok_or_else(|| FieldError::new(&field, "required", "a label cannot be empty"))?;
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&label)) {
            out.push(label);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deactivation_shows_whatever_the_account_state() {
        assert_eq!(
            MemberStatus::of(AccountStatus::Active, false),
            MemberStatus::Deactivated
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Invited, false),
            MemberStatus::Deactivated
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Invited, true),
            MemberStatus::Invited
        );
        assert_eq!(
            MemberStatus::of(AccountStatus::Active, true),
            MemberStatus::Active
        );
    }

    #[test]
    fn labels_are_trimmed_and_deduplicated() {
        let l = parse_labels(&[
            "  Huisartsen Noord ".into(),
            "huisartsen noord".into(),
            "GGZ".into(),
        ])
        .unwrap();
        assert_eq!(l, vec!["Huisartsen Noord", "GGZ"]);
        assert_eq!(
            parse_labels(&["ok".into(), " ".into()]).unwrap_err().field,
            "labels[1]"
        );
    }
}
