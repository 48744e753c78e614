//! Domains an environment claims: proving it by DNS or by mail, and
//! approving the people who signed up with an address of it.

use crate::{ApiError, AppState};
use axum::http::StatusCode;
use portier_core::domains::DomainName;
use portier_core::rights::{DomainsManage, MembersUpdate};
use portier_core::secrets::SecretToken;
use portier_store::audit::Origin;
use portier_store::domains::Claim;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyDomain {
    /// `dns` (the default: look up the TXT record now) or `mail` (send a
    /// link to `mailbox@<domain>`).
    #[schema(max_length = 8)]
    pub method: Option<String>,
    /// With `mail`: `admin`, `postmaster`, `webmaster` or `hostmaster`.
    #[schema(max_length = 16)]
    pub mailbox: Option<String>,
}

/// Claims `raw` for the environment `auth` is for; the API and the console.
pub(crate) async fn claim_domain(
    state: &AppState,
    auth: &portier_core::rights::Authorized<DomainsManage>,
    raw: &str,
    client: Option<String>,
) -> Result<Claim, ApiError> {
    let domain = DomainName::parse("domain", raw)?;
    let public = domain.is_public(&state.config.signup.public_domains);
    Ok(portier_store::domains::claim_domain(
        &state.store,
        auth,
        domain,
        public,
        &Origin::now(client),
    )
    .await?)
}

/// Proves claim `id` as `how` says; the API and the console.
pub(crate) async fn verify_domain(
    state: &AppState,
    auth: &portier_core::rights::Authorized<DomainsManage>,
    id: Uuid,
    how: &VerifyDomain,
    client: Option<String>,
) -> Result<(StatusCode, Claim), ApiError> {
    let origin = Origin::now(client);
    let org = portier_store::organizations::get(&state.store, auth.organization_id())
        .await?
        .ok_or(portier_core::Error::NotFound {
            what: "organization",
        })?;
    let current = portier_store::domains::get(&state.store, auth, id).await?;
    match how.method.as_deref().unwrap_or("dns") {
        "dns" => {
            let limit = [(
                format!("domain-check:{}", org.environment_id),
                portier_core::throttles::DOMAIN_CHECKS,
            )];
            super::throttles::enforce(state, &limit).await?;
            super::throttles::count(state, &limit).await?;
            let found = crate::dns::txt(state.config.dns_server, &current.domain.challenge_name())
                .await
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, "dns_failed", e.to_string()))?;
            let proven = portier_core::domains::txt_proves(&found, &current.txt_value);
            let checked =
                portier_store::domains::checked(&state.store, auth, id, proven, &origin).await?;
            if checked.verified_at.is_none() {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "txt_not_found",
                    format!(
                        "no TXT record {} holds {}: publish it at your DNS provider, then check again (it may take a while to be seen)",
                        current.domain.challenge_name(),
                        current.txt_value
                    ),
                ));
            }
            Ok((StatusCode::OK, checked))
        }
        "mail" => {
            let limit = [(
                format!("domain-proof:{}", org.environment_id),
                portier_core::throttles::DOMAIN_PROOF_MAILS,
            )];
            super::throttles::enforce(state, &limit).await?;
            super::throttles::count(state, &limit).await?;
            let mailbox = how.mailbox.as_deref().unwrap_or("");
            let lifecycle = &state.config.lifecycle;
            let sent = portier_store::domains::send_mail_proof(
                &state.store,
                auth,
                id,
                mailbox,
                lifecycle,
                &origin,
            )
            .await?;
            Ok((StatusCode::ACCEPTED, sent))
        }
        _ => Err(portier_core::FieldError::new("method", "invalid", "say dns or mail").into()),
    }
}

/// Follows a domain's proof link; the API and the console.
pub(crate) async fn confirm_domain(
    state: &AppState,
    token: &str,
    client: Option<String>,
) -> Result<(Claim, portier_core::organizations::Organization), ApiError> {
    let token = SecretToken::presented(token);
    portier_store::domains::confirm_mail_proof(&state.store, &token, &Origin::now(client))
        .await
        .map_err(|e| ApiError::from(e).gone_when_unusable())
}

/// Approves `account`, waiting to join; the API and the console.
pub(crate) async fn approve_member(
    state: &AppState,
    auth: &portier_core::rights::Authorized<MembersUpdate>,
    account: portier_core::ids::AccountId,
    client: Option<String>,
) -> Result<(), ApiError> {
    let lifecycle = &state.config.lifecycle;
    let origin = Origin::now(client);
    Ok(portier_store::signups::approve(&state.store, auth, account, lifecycle, &origin).await?)
}
