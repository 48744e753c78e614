//! Self sign-up (issue 8, seed 003): ask with an address, name and password
//! (always 202), then confirm with the mailed link. Only then is the
//! account made: it joins the environment that proved the address's domain
//! (as `member`, without rights, or held for approval) or starts its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use portier_core::domains::{DomainName, SignupMode};
use portier_core::email::Email;
use portier_core::passwords::{Password, PasswordPolicy};
use portier_core::throttle;
use portier_core::tokens::{SecretToken, digest};
use portier_store::audit::Origin;
use portier_store::signups::{Confirmed, NewSignup};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::auth::{count, enforce};
use super::{EmailAddress, Line};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signup {
    pub email: EmailAddress,
    pub given_name: Line<100>,
    pub family_name: Line<100>,
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\u0000]*$")]
    pub password: String,
    /// The environment to start when no organization's proven domain takes
    /// the address in; the person's name when absent.
    pub organization_name: Option<Line<200>>,
    /// `en` or `nl`: the language of the mails and the account.
    pub locale: Option<portier_core::locale::Locale>,
}

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
        throttle::SIGNUP_PER_CLIENT,
    )];
    enforce(state, &client_limit).await?;
    count(state, &client_limit).await?;
    let task_state = state.clone();
    tokio::spawn(async move {
        let state = task_state;
        let per_address = [(
            format!("signup:address:{}", digest(email.as_str())),
            throttle::SIGNUP_PER_ADDRESS,
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

/// Sign up (seed 003).
///
/// Always 202 when the input is well formed, whether or not the address has
/// an account: the address gets a mail with a link that works once, for 24
/// hours (or, when it has an account, a mail saying so; when the platform
/// takes only addresses at proven domains and this is none, a mail saying
/// that). Nothing is created before the link is followed. 404
/// `signup_closed` when the platform has no self sign-up
/// (`PORTIER_SIGNUP=off`, the default). Limited per client and per address.
#[utoipa::path(post, operation_id = "signup", path = "/signup", tag = "signup", security(()), request_body = Signup,
    responses(
        (status = 202, description = "A mail is on its way to the address"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<Signup>,
) -> Result<StatusCode, ApiError> {
    let input = SignupInput {
        email: body.email.0,
        given_name: body.given_name.0,
        family_name: body.family_name.0,
        password: body.password,
        organization_name: body.organization_name.map(|n| n.0),
        locale: body.locale,
    };
    start_signup(&state, client, input).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignedUp {
    pub account_id: Uuid,
    /// The environment joined or started.
    pub organization_id: Uuid,
    /// `joined` (a proven domain's environment, as `member`), `created` (an
    /// environment of one's own, as `administrator`) or `pending_approval`
    /// (joined, inactive until an administrator approves).
    pub outcome: String,
    pub roles: Vec<String>,
}

/// Confirm a sign-up with the token of the mailed link.
///
/// Makes the account and joins the environment that proved the address's
/// domain, without rights (its administrators are told), or starts the
/// person's own environment, which they administer. 404 for a link never
/// sent, 410 for one used or older than 24 hours; 409 `account_exists`
/// when the address got an account meanwhile.
#[utoipa::path(post, operation_id = "signup_confirm", path = "/signup/{token}", tag = "signup", security(()),
    params(("token" = String, Path, description = "The token of the mailed link")),
    responses(
        (status = 201, body = SignedUp),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 410, body = ErrorBody),
    ))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
) -> Result<(StatusCode, Json<SignedUp>), ApiError> {
    let done = finish_signup(&state, client, &token).await?;
    Ok((
        StatusCode::CREATED,
        Json(SignedUp {
            account_id: done.account.id.0,
            organization_id: done.organization.id.0,
            outcome: done.outcome.as_str().to_owned(),
            roles: done.roles,
        }),
    ))
}
