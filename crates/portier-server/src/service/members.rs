//! What the API and the console both do to add a member or change their
//! roles: the store's change, then a nudge to the register worker when a
//! registration number came with it.

use crate::{ApiError, AppState};
use chrono::{DateTime, Utc};
use portier_core::ids::AccountId;
use portier_core::members::NewMember;
use portier_core::registrations::RegistrationNumber;
use portier_core::rights::{Authorized, MembersInvite, MembersRemove, MembersUpdate};
use portier_core::rights::{Principal, RolesAssign};
use portier_core::roles::{MEMBER, Role, RoleKey};
use portier_store::audit::Origin;
use portier_store::members::Added;
use portier_store::members::{MemberCursor, MemberView};
use serde::Serialize;
use utoipa::ToSchema;

/// Adds a member (docs/RULES.md#adding-members); a BIG number given is checked
/// in the background.
pub(crate) async fn add(
    state: &AppState,
    caller: &Principal,
    auth: &Authorized<MembersInvite>,
    new: NewMember,
    client: Option<String>,
) -> Result<Added, ApiError> {
    let registered = new.registration.is_some();
    let added = portier_store::members::add(
        &state.store,
        caller,
        auth,
        new,
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await?;
    if registered {
        state.register_wake.notify_one();
    }
    Ok(added)
}

/// Gives a member exactly `keys` (none: `member`, which carries no rights;
/// docs/RULES.md#roles-and-permissions), with a registration number for
/// roles that need one.
pub(crate) async fn set_roles(
    state: &AppState,
    caller: &Principal,
    auth: &Authorized<RolesAssign>,
    account: AccountId,
    mut keys: Vec<RoleKey>,
    registration: Option<(String, String)>,
    client: Option<String>,
) -> Result<Vec<Role>, ApiError> {
    if keys.is_empty() {
        keys.push(RoleKey::parse("roles", MEMBER)?);
    }
    keys.sort();
    keys.dedup();
    let registration = registration
        .map(|(register, number)| RegistrationNumber::parse("registration", &register, &number))
        .transpose()?;
    let roles = portier_store::members::set_roles(
        &state.store,
        caller,
        auth,
        account,
        &keys,
        registration.as_ref(),
        &state.config.lifecycle,
        &Origin::now(client),
    )
    .await?;
    if registration.is_some() {
        state.register_wake.notify_one();
    }
    Ok(roles)
}

/// Changes a member's details (docs/RULES.md#changing-a-members-details): what the
/// account shares changes only with the right wherever the person belongs.
pub(crate) async fn update(
    state: &AppState,
    auth: &Authorized<MembersUpdate>,
    account: AccountId,
    patch: portier_core::members::MemberPatch,
    origin: &Origin,
) -> Result<portier_store::members::Updated, ApiError> {
    Ok(portier_store::members::update(
        &state.store,
        auth,
        account,
        patch,
        &state.config.lifecycle,
        origin,
    )
    .await?)
}

/// Deactivates a member, or activates them again
/// (docs/RULES.md#deactivating-and-removing-members); whether an invitation
/// held back while they were deactivated was sent.
pub(crate) async fn set_active(
    state: &AppState,
    auth: &Authorized<MembersUpdate>,
    account: AccountId,
    active: bool,
    origin: &Origin,
) -> Result<bool, ApiError> {
    Ok(portier_store::members::set_active(
        &state.store,
        auth,
        account,
        active,
        &state.config.lifecycle,
        origin,
    )
    .await?)
}

/// Removes a member from the organization, settling their active portfolio
/// as `portfolio` says (docs/PORTFOLIOS.md#when-a-member-leaves).
pub(crate) async fn remove(
    state: &AppState,
    auth: &Authorized<MembersRemove>,
    account: AccountId,
    portfolio: Option<portier_store::portfolios::OnRemoval<'_>>,
    origin: &Origin,
) -> Result<(), ApiError> {
    Ok(portier_store::members::remove(&state.store, auth, account, portfolio, origin).await?)
}

/// Sends an invited member's invitation again, with a new link.
pub(crate) async fn resend_invitation(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    account: AccountId,
    origin: &Origin,
) -> Result<(), ApiError> {
    Ok(portier_store::members::resend_invitation(
        &state.store,
        auth,
        account,
        &state.config.lifecycle,
        origin,
    )
    .await?)
}

/// Whether the invitation reached the person's mail server.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvitationView {
    /// `pending` (queued or being retried), `sent`, or `failed` ("invitation
    /// not delivered": every attempt failed).
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub queued_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<portier_store::mail::OutboxMail> for InvitationView {
    fn from(m: portier_store::mail::OutboxMail) -> Self {
        let status = match m.status.as_str() {
            "sent" | "dev_mailbox" => "sent",
            "failed" => "failed",
            _ => "pending",
        };
        InvitationView {
            status: status.to_owned(),
            attempts: m.attempts,
            last_error: m.last_error,
            queued_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

/// A person's registration and what the register said about it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistrationView {
    pub register: portier_core::registrations::Register,
    pub number: String,
    /// `verified`, `not_found`, `expired`, `pending` (the register could not
    /// be asked yet) or `unchecked` (no register service configured).
    pub state: portier_core::registrations::RegistrationState,
    /// The name the register knows for the number, once found.
    pub register_name: Option<String>,
    /// Public notes the register shows (judgments, limitations).
    pub register_notes: Vec<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// Where to look the person up by hand.
    pub lookup_url: String,
}

impl From<&portier_store::registrations::Registration> for RegistrationView {
    fn from(r: &portier_store::registrations::Registration) -> Self {
        RegistrationView {
            register: r.number.register,
            number: r.number.number.clone(),
            state: r.state,
            register_name: r.entries.first().map(|e| e.name.clone()),
            register_notes: r
                .entries
                .iter()
                .flat_map(|e| e.notes.iter().cloned())
                .collect(),
            checked_at: r.checked_at,
            lookup_url: r.number.register.lookup_url().to_owned(),
        }
    }
}

pub(crate) fn encode_cursor(v: &MemberView) -> String {
    let key: String = v.sort_key.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{key}.{}", v.account.id)
}

pub(crate) fn decode_cursor(raw: &str) -> Option<MemberCursor> {
    let (key, id) = raw.split_once('.')?;
    if key.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect();
    Some(MemberCursor {
        sort_key: String::from_utf8(bytes?).ok()?,
        account_id: id.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_nonsense_is_refused() {
        let c = MemberCursor {
            sort_key: "berg, jan van der".into(),
            account_id: AccountId::new(),
        };
        let key: String = c.sort_key.bytes().map(|b| format!("{b:02x}")).collect();
        assert_eq!(decode_cursor(&format!("{key}.{}", c.account_id)), Some(c));
        for bad in [
            "",
            "zz.x",
            "abc.",
            "6a.not-a-uuid",
            "6.01a20436-0000-7000-8000-000000000000",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
