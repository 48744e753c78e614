//! Memberships and the roles they hold, and the grants an account derives from
//! them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::{Account, AccountStatus};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, MembershipId, OrganizationId, RoleId};
use portier_core::mail::{MailContext, MailKind};
use portier_core::members::{Membership, NewMember, Warning};
use portier_core::organizations::{OrgPath, Organization};
use portier_core::permissions::{Permission, PermissionSet};
use portier_core::rights::{Authorized, Grant, MembersInvite, Principal};
use portier_core::roles::Role;
use portier_core::secrets::TokenKind;
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::db::Arg;
use crate::lifecycle::Lifecycle;
use crate::{
    Error, Result, Store, Tx, accounts, bind_all, in_tx, links, mail, organizations, reader, roles,
};

/// The credentials that count as a second factor: written once for the
/// member query and for [`has_second_factor`].
macro_rules! second_factor {
    ($account:literal) => {
        concat!(
            "EXISTS (SELECT 1 FROM credentials cr WHERE cr.account_id = ",
            $account,
            " AND cr.kind IN ('totp', 'webauthn'))"
        )
    };
}

/// The member query, written once; only the function that joins the role keys
/// differs between the dialects.
macro_rules! select_members {
    ($agg:literal, $rest:literal) => {
        concat!(
            "SELECT a.id AS account_id, a.email, a.salutation, a.given_name, a.infix, a.family_name,
                    m.sort_key, a.locale, a.status, a.disabled,
                    a.created_at AS account_created_at, m.id AS membership_id, m.organization_id,
                    m.active, ", portier_core::detail_columns!("m"), ", m.labels, m.invited_by,
                    m.created_at, m.require_two_factor,
                    ", second_factor!("a.id"), " AS two_factor,
                    (SELECT ", $agg, " FROM membership_roles mr JOIN roles r ON r.id = mr.role_id
                     WHERE mr.membership_id = m.id) AS role_keys
             FROM memberships m JOIN accounts a ON a.id = m.account_id ",
            $rest
        )
    };
}

/// A membership's profile fields, in
/// [`portier_core::profile::DETAIL_FIELDS`] order: read from a row by their
/// names (`#[sqlx(flatten)]`), or from a JSON array of their own (the
/// export's packed SQLite row).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct RowDetails(pub [Option<String>; portier_core::profile::DETAIL_FIELDS.len()]);

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for RowDetails
where
    &'static str: sqlx::ColumnIndex<R>,
    Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> std::result::Result<Self, sqlx::Error> {
        let mut values: [Option<String>; portier_core::profile::DETAIL_FIELDS.len()] =
            Default::default();
        for (value, f) in values.iter_mut().zip(&portier_core::profile::DETAIL_FIELDS) {
            *value = row.try_get(f.key)?;
        }
        Ok(RowDetails(values))
    }
}

impl From<RowDetails> for portier_core::members::MemberDetails {
    fn from(row: RowDetails) -> Self {
        let mut details = portier_core::members::MemberDetails::default();
        for (value, f) in row.0.into_iter().zip(&portier_core::profile::DETAIL_FIELDS) {
            if let Some(slot) = details.slot(f.key) {
                *slot = value;
            }
        }
        details
    }
}

mod add;
mod change;
mod principal;
mod query;

pub use add::*;
pub use change::*;
pub use principal::*;
pub use query::*;
