//! What the API and the console both do with a link from a mail: check the
//! new password against the person's policies and details, then activate the
//! account or complete the reset.

use portier_core::passwords::{Password, PasswordPolicy, PasswordRejected};
use portier_core::tokens::{TokenKind, TokenUnusable};
use portier_store::accounts::ProfileFill;
use portier_store::audit::Origin;
use portier_store::tokens::{LinkProblem, TokenInfo};

use crate::api::activations::link_error;
use crate::{ApiError, AppState};

/// A new password for the person behind a link: the strictest policy of
/// their organizations, not easy to guess, not their own name or address
/// (the names given with it count, when they fill the account's empty ones).
pub(crate) fn new_password(
    info: &TokenInfo,
    candidate: String,
    given_name: Option<&str>,
    family_name: Option<&str>,
) -> Result<Password, PasswordRejected> {
    let a = &info.account;
    let personal: Vec<&str> = [
        Some(a.email.as_str()),
        a.name.given_name.as_deref().or(given_name),
        a.name.family_name.as_deref().or(family_name),
    ]
    .into_iter()
    .flatten()
    .collect();
    Password::new(
        candidate,
        &PasswordPolicy::strictest(&info.policies),
        &personal,
    )
}

/// Activates the account behind an activation link (once: a link used
/// meanwhile is 410).
pub(crate) async fn finish_activation(
    state: &AppState,
    info: &TokenInfo,
    password: Password,
    fill: &ProfileFill,
    client: Option<String>,
) -> Result<(), ApiError> {
    let hash = state.hasher.hash(password).await;
    let origin = Origin::now(client);
    if !portier_store::accounts::activate(&state.store, info, &hash, fill, &origin).await? {
        return Err(link_error(
            LinkProblem::Gone(TokenUnusable::Used),
            TokenKind::Activation,
        ));
    }
    Ok(())
}

/// Sets the new password behind a reset link (once); every session of the
/// account ends.
pub(crate) async fn finish_reset(
    state: &AppState,
    info: &TokenInfo,
    password: Password,
    client: Option<String>,
) -> Result<(), ApiError> {
    let hash = state.hasher.hash(password).await;
    if !portier_store::accounts::complete_reset(&state.store, info, &hash, &Origin::now(client))
        .await?
    {
        return Err(link_error(
            LinkProblem::Gone(TokenUnusable::Used),
            TokenKind::PasswordReset,
        ));
    }
    Ok(())
}
