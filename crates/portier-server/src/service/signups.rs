//! Self sign-up (`PORTIER_SIGNUP`): a person asks for an account and an
//! organization of their own, and confirms it from the mail.

use super::throttles::{count, enforce};
use crate::{ApiError, AppState};
use axum::http::StatusCode;
use portier_core::domains::{DomainName, SignupMode};
use portier_core::email::Email;
use portier_core::passwords::{Password, PasswordPolicy};
use portier_core::secrets::{SecretToken, digest};
use portier_core::throttles;
use portier_store::audit::Origin;
use portier_store::signups::{Confirmed, NewSignup};

/// What a form sends, for the API and the console alike.
pub struct SignupInput {
    pub email: String,
    pub given_name: String,
    pub family_name: String,
    pub password: String,
    pub organization_name: Option<String>,
    pub locale: Option<portier_core::locale::Locale>,
}

fn closed() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "signup_closed",
        "self sign-up is not open on this platform: ask an organization to invite you",
    )
}

/// Checks a sign-up and answers at once; the lookup, the hashing and the
/// mail happen after the answer, so its timing says nothing about whether
/// the address has an account. Limited per client and per address.
pub(crate) async fn start_signup(
    state: &AppState,
    client: Option<String>,
    input: SignupInput,
) -> Result<(), ApiError> {
    let rules = &state.config.signup;
    if rules.mode == SignupMode::Off {
        return Err(closed());
    }
    let email = Email::parse(&input.email).map_err(|e| ApiError::from(e.in_field("email")))?;
    let line = |field: &str, v: &str, max: usize| -> Result<String, ApiError> {
        let v = v.trim();
        if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            return Err(portier_core::FieldError::new(
                field,
                "invalid",
                format!("give one line of 1 to {max} characters"),
            )
            .into());
        }
        Ok(v.to_owned())
    };
    let given = line("given_name", &input.given_name, 100)?;
    let family = line("family_name", &input.family_name, 100)?;
    let org_name = input
        .organization_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .map(|n| line("organization_name", n, 200))
        .transpose()?;
    // The policy of the environment the address would join, else the
    // default one: a domain's environment is no secret of any account.
    let domain = DomainName::of(&email);
    let env = if domain.is_public(&rules.public_domains) {
        None
    } else {
        portier_store::domains::environment_of(&state.store, &domain).await?
    };
    let policy = env.map_or_else(PasswordPolicy::default, |e| e.settings.password_policy);
    let personal = [email.as_str(), given.as_str(), family.as_str()];
    let locale = input.locale.unwrap_or_default();
    let password = Password::new(input.password, &policy, &personal)
        .map_err(|e| ApiError::from(e.into_field_error_in("password", locale)))?;
    let client_limit = [(
        format!("signup:client:{}", client.clone().unwrap_or_default()),
        throttles::SIGNUP_PER_CLIENT,
    )];
    enforce(state, &client_limit).await?;
    count(state, &client_limit).await?;
    let task_state = state.clone();
    tokio::spawn(async move {
        let state = task_state;
        let per_address = [(
            format!("signup:address:{}", digest(email.as_str())),
            throttles::SIGNUP_PER_ADDRESS,
        )];
        if enforce(&state, &per_address).await.is_err() {
            return;
        }
        let _ = count(&state, &per_address).await;
        let new = NewSignup {
            email,
            given_name: given,
            family_name: family,
            password_hash: state.hasher.hash(password).await,
            organization_name: org_name,
            locale: input.locale,
        };
        if new.password_hash.is_empty() {
            tracing::warn!("sign-up: the password could not be hashed");
            return;
        }
        let origin = Origin::now(client);
        let lifecycle = &state.config.lifecycle;
        if let Err(e) = portier_store::signups::request(
            &state.store,
            &new,
            &state.config.signup,
            lifecycle,
            &origin,
        )
        .await
        {
            tracing::warn!(error = %e, "sign-up request failed");
        }
    });
    Ok(())
}

/// Follows a sign-up's link, for the API and the console alike: a link
/// used or older than 24 hours is 410, one never sent 404.
pub(crate) async fn finish_signup(
    state: &AppState,
    client: Option<String>,
    token: &str,
) -> Result<Confirmed, ApiError> {
    if state.config.signup.mode == SignupMode::Off {
        return Err(closed());
    }
    let token = SecretToken::presented(token);
    let origin = Origin::now(client);
    let lifecycle = &state.config.lifecycle;
    portier_store::signups::confirm(
        &state.store,
        &token,
        &state.config.signup,
        lifecycle,
        &origin,
    )
    .await
    .map_err(|e| ApiError::from(e).gone_when_unusable())
}
