//! Signing in, for every front end: the password (one Argon2id verification
//! also for an unknown address, so that answers say nothing about which
//! addresses have accounts), the second step, a new session at each step,
//! and asking for a reset link.

use crate::service::throttles::{check_limits, count, enforce, second_factor_guarded};
use crate::{ApiError, AppState};
use axum::http::{HeaderMap, header};
use chrono::Utc;
use portier_core::email::Email;
use portier_core::secrets::digest;
use portier_core::throttles::{self};
use portier_store::audit::Origin;
use portier_store::sessions::Stage;
use portier_store::two_factor::Proof;

/// A person who just signed in, and the cookie of their new session.
pub(crate) struct SignIn {
    pub account_id: portier_core::ids::AccountId,
    pub cookie: header::HeaderValue,
    /// How far the sign-in has come: `SecondFactor` waits for
    /// `POST /auth/mfa`, `Enrol` for two-step verification to be set up.
    pub stage: Stage,
}

/// Signs a person in, for the API and the console alike: the throttles, one
/// Argon2id verification (also for an unknown address), a new session.
pub(crate) async fn sign_in(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    address: &str,
    password: String,
) -> Result<SignIn, ApiError> {
    let email = Email::parse(address).map_err(|e| ApiError::from(e.in_field("email")))?;
    let client_key = client.clone().unwrap_or_else(|| "unknown".into());
    let who = digest(email.as_str());
    let pair = (
        format!("login:pair:{who}:{client_key}"),
        throttles::LOGIN_PER_ACCOUNT_AND_CLIENT,
    );
    let account_limit = (format!("login:account:{who}"), throttles::LOGIN_PER_ACCOUNT);
    let client_limit = (
        format!("login:client:{client_key}"),
        throttles::LOGIN_PER_CLIENT,
    );
    let limits = [pair, account_limit, client_limit];
    let read = portier_store::accounts::login_candidate(
        &state.store,
        &email,
        [&limits[0].0, &limits[1].0, &limits[2].0],
    )
    .await?;
    check_limits(&limits, &read.counters)?;
    // This attempt counts against the person before the password is
    // checked, each count one atomic step: guesses sent in parallel all
    // count, and those past the limit are refused unchecked.
    let now = Utc::now();
    let person = [limits[0].0.as_str(), limits[1].0.as_str()];
    // Both limits count over the same window (one statement for both).
    let window = limits[0].1.window.max(limits[1].1.window);
    let counts = portier_store::throttles::hit_all(&state.store, &person, window, now).await?;
    for ((_, limit), (n, start)) in limits[..2].iter().zip(counts) {
        if let Some(wait) = limit.retry_after(n - 1, start, now) {
            return Err(ApiError::throttled(wait));
        }
    }
    let candidate = read.candidate;
    let hash = candidate.as_ref().and_then(|c| c.password_hash.clone());
    let verified = state.hasher.verify(hash, password).await;
    let Some(candidate) = candidate.filter(|_| verified) else {
        count(state, &limits[2..]).await?;
        return Err(ApiError::unauthenticated(
            "invalid_credentials",
            "the e-mail address or the password is not right",
        ));
    };
    if !candidate.may_sign_in {
        // Only someone who knows the password learns this.
        return Err(ApiError::unauthenticated(
            "account_inactive",
            "this account cannot sign in: it is deactivated, or no organization it belongs to has it active",
        ));
    }
    // A success forgets this person's failures (not the client's: spraying
    // across accounts stays counted).
    portier_store::throttles::clear_all(&state.store, &[&limits[0].0, &limits[1].0]).await?;
    let stage = if candidate.second_factor {
        Stage::SecondFactor
    } else if candidate.two_factor_required {
        Stage::Enrol
    } else {
        Stage::Full
    };
    start_session(state, headers, candidate.account.id, client, stage).await
}

/// A new session for `account` at `stage`, ending the one the request came
/// with: a new id at every step, so a session fixed before is worthless.
pub(crate) async fn start_session(
    state: &AppState,
    headers: &HeaderMap,
    account: portier_core::ids::AccountId,
    client: Option<String>,
    stage: Stage,
) -> Result<SignIn, ApiError> {
    for old_stage in Stage::ALL {
        if let Some(old) = crate::auth::session_at(state, headers, old_stage).await? {
            portier_store::sessions::end(&state.store, &old.id_hash).await?;
        }
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let secret = portier_store::sessions::create(
        &state.store,
        account,
        user_agent,
        client.as_deref(),
        &state.config.sessions,
        stage,
        Utc::now(),
    )
    .await?;
    Ok(SignIn {
        account_id: account,
        cookie: state.config.cookie.set(secret.expose()),
        stage,
    })
}

/// A second factor as given.
pub(crate) enum SecondProof {
    /// A code, or a recovery code.
    Code(Proof),
    /// A passkey's answer.
    Passkey(crate::service::passkeys::PasskeyAnswer),
}

/// The second step, for the API and the console alike: the half-signed-in
/// session, the throttles, the proof used up, a new signed-in session.
pub(crate) async fn second_step(
    state: &AppState,
    client: Option<String>,
    headers: &HeaderMap,
    proof: Result<SecondProof, ApiError>,
) -> Result<SignIn, ApiError> {
    // Who first: without a sign-in under way, what was sent does not matter.
    let pending = pending_sign_in(state, headers).await?;
    let proof = &proof?;
    let account = portier_store::accounts::get(&state.store, pending.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("no_sign_in_started", "sign in again"))?;
    let origin = Origin::now(client.clone());
    match proof {
        SecondProof::Code(proof) => {
            second_factor_guarded(
                state,
                account.id,
                client.as_deref(),
                portier_store::two_factor::verify(
                    &state.store,
                    &account,
                    proof,
                    &state.config.lifecycle,
                    &origin,
                ),
            )
            .await?;
        }
        SecondProof::Passkey(answer) => {
            second_factor_guarded(
                state,
                account.id,
                client.as_deref(),
                crate::service::passkeys::verify_in_session(
                    state,
                    &pending,
                    portier_store::passkeys::Purpose::SecondFactor,
                    answer,
                ),
            )
            .await?;
        }
    }
    start_session(state, headers, account.id, client, Stage::Full).await
}

/// The half-signed-in session of the request: the password was right, the
/// second step is due.
pub(crate) async fn pending_sign_in(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<portier_store::sessions::Session, ApiError> {
    crate::auth::session_at(state, headers, Stage::SecondFactor)
        .await?
        .ok_or_else(|| {
            ApiError::unauthenticated(
                "no_sign_in_started",
                "sign in with your password first; the second step must follow within 10 minutes",
            )
        })
}

/// Asks for a reset link, for the API and the console alike: limited per
/// client at once, and per address after the answer, where the lookup and
/// the mail happen too, so the answer's timing says nothing about whether
/// the address has an account.
pub(crate) async fn start_reset(
    state: &AppState,
    client: Option<String>,
    address: &str,
) -> Result<(), ApiError> {
    let email = Email::parse(address).map_err(|e| ApiError::from(e.in_field("email")))?;
    let client_limit = [(
        format!("reset:client:{}", client.clone().unwrap_or_default()),
        throttles::RESET_PER_CLIENT,
    )];
    enforce(state, &client_limit).await?;
    count(state, &client_limit).await?;
    let task_state = state.clone();
    tokio::spawn(async move {
        let state = task_state;
        let account_limit = [(
            format!("reset:account:{}", digest(email.as_str())),
            throttles::RESET_PER_ACCOUNT,
        )];
        if enforce(&state, &account_limit).await.is_err() {
            return;
        }
        let _ = count(&state, &account_limit).await;
        let origin = Origin::now(client);
        if let Err(e) = portier_store::accounts::request_reset(
            &state.store,
            &email,
            &state.config.lifecycle,
            &origin,
        )
        .await
        {
            tracing::warn!(error = %e, "password reset request failed");
        }
    });
    Ok(())
}
