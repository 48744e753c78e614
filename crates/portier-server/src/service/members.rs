//! What the API and the console both do to add a member or change their
//! roles: the store's change, then a nudge to the register worker when a
//! registration number came with it.

use portier_core::ids::AccountId;
use portier_core::members::NewMember;
use portier_core::registrations::RegistrationNumber;
use portier_core::rights::Authorized;
use portier_core::rights::{MembersInvite, Principal, RolesAssign};
use portier_core::roles::{MEMBER, Role, RoleKey};
use portier_store::audit::Origin;
use portier_store::members::Added;

use crate::{ApiError, AppState};

/// Adds a member (seed 000); a BIG number given is checked in the background.
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

/// Gives a member exactly `keys` (none: `member`, seed 003's "no rights
/// yet"), with a registration number for roles that need one.
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
