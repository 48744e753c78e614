//! What the API and the console both do with a person's own account: a new
//! password behind a link from a mail (checked against the person's
//! policies and details, then the account activated or the reset done), a
//! change to their own profile, and a new password while signed in.

use axum::http::StatusCode;
use chrono::Utc;
use portier_core::locale::Locale;
use portier_core::passwords::{Password, PasswordPolicy, PasswordRejected};
use portier_core::secrets::{TokenKind, TokenUnusable};
use portier_store::accounts::{ProfileFill, ProfilePatch};
use portier_store::audit::Origin;
use portier_store::links::{LinkProblem, TokenInfo};

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

/// A person's change to their own profile, each field checked as the
/// profile's rules say (`None` leaves a field as it is).
pub(crate) fn profile_patch(raw: ProfilePatch) -> Result<ProfilePatch, ApiError> {
    use portier_core::accounts::profile_text;
    use portier_core::members::parse_phone;
    let text = |field: &str, v: Option<Option<String>>, max| match v {
        None => Ok(None),
        Some(v) => profile_text(field, v.as_deref(), max).map(Some),
    };
    let phone = |field: &str, v: Option<Option<String>>| match v {
        None => Ok(None),
        Some(v) => parse_phone(field, v.as_deref()).map(Some),
    };
    Ok(ProfilePatch {
        salutation: text("salutation", raw.salutation, 32)?,
        given_name: text("given_name", raw.given_name, 100)?,
        infix: text("infix", raw.infix, 32)?,
        family_name: text("family_name", raw.family_name, 100)?,
        phone: phone("phone", raw.phone)?,
        mobile: phone("mobile", raw.mobile)?,
        locale: raw.locale,
    })
}

/// A signed-in person's new password: the current one must be right, and
/// the new one meet the strictest policy of their organizations and not be
/// their name or address. The hash to store, or every rule it breaks.
pub(crate) async fn password_change(
    state: &AppState,
    account: &portier_core::accounts::Account,
    client: Option<&str>,
    current: String,
    new: String,
) -> Result<Result<String, PasswordRejected>, ApiError> {
    let limits = crate::service::throttles::current_password_limits(account.id, client);
    crate::service::throttles::guarded(state, &limits, async {
        let hash = portier_store::accounts::password_hash(&state.store, account.id).await?;
        if state.hasher.verify(hash, current).await {
            Ok(())
        } else {
            Err(ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "current_password_wrong",
                "the current password is not right",
            )
            .with_field("current_password"))
        }
    })
    .await?;
    let policies = portier_store::accounts::password_policies(&state.store, account.id).await?;
    let personal: Vec<&str> = [
        Some(account.email.as_str()),
        account.name.given_name.as_deref(),
        account.name.family_name.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    Ok(
        match Password::new(new, &PasswordPolicy::strictest(&policies), &personal) {
            Ok(password) => Ok(state.hasher.hash(password).await),
            Err(rejected) => Err(rejected),
        },
    )
}

/// Turns a link problem into the contract's answer.
pub(crate) fn link_error(problem: LinkProblem, kind: TokenKind) -> ApiError {
    let again = match kind {
        TokenKind::Activation => "ask the organization to send a new invitation",
        TokenKind::PasswordReset => "request a new link with \"Forgot password\"",
    };
    match problem {
        LinkProblem::Unknown => ApiError::new(
            StatusCode::NOT_FOUND,
            "link_unknown",
            format!("this link is not valid; {again}"),
        ),
        LinkProblem::Gone(TokenUnusable::Used) => ApiError::new(
            StatusCode::GONE,
            "link_used",
            format!("this link has already been used or was replaced by a newer one; {again}"),
        ),
        LinkProblem::Gone(TokenUnusable::Expired) => ApiError::new(
            StatusCode::GONE,
            "link_expired",
            format!("this link has expired; {again}"),
        ),
    }
}

pub(crate) async fn open(
    state: &AppState,
    kind: TokenKind,
    token: &str,
) -> Result<TokenInfo, ApiError> {
    portier_store::links::lookup(&state.store, kind, token, Utc::now())
        .await?
        .map_err(|p| link_error(p, kind))
}

/// The person's language: what they chose, else their account's, else the
/// organization's.
pub(crate) fn locale_of(info: &TokenInfo, chosen: Option<Locale>) -> Locale {
    chosen
        .or(info.account.locale)
        .or(info.organization.as_ref().map(|o| o.settings.locale))
        .unwrap_or_default()
}
