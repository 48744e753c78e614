//! The e-mail domains of an environment
//! (docs/RULES.md#self-sign-up-and-e-mail-domains): claimed by an
//! administrator, proven by a DNS TXT record or by a link mailed to one of
//! the domain's administrative mailboxes; only a proven domain lets people
//! who sign up join. And the people who joined so and wait for approval.

use crate::service::access::{Api, OrgAccess};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use portier_core::rights::{DomainsManage, MembersRead, MembersUpdate};
use portier_store::audit::Origin;
use portier_store::domains::Claim;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id};
use crate::service::domains::{
    VerifyDomain, approve_member, claim_domain, confirm_domain, verify_domain,
};
use crate::{ApiError, AppState};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainView {
    pub id: Uuid,
    /// Lower case, in its ASCII (IDNA) form.
    pub domain: String,
    pub verified: bool,
    pub verified_at: Option<DateTime<Utc>>,
    /// `dns` or `mail`, once proven.
    pub proof: Option<String>,
    /// The TXT record to publish: its name …
    pub txt_name: String,
    /// … and its value.
    pub txt_value: String,
    /// Where the last proof by mail went.
    pub mail_address: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
}

impl From<Claim> for DomainView {
    fn from(c: Claim) -> Self {
        DomainView {
            id: c.id,
            txt_name: c.domain.challenge_name(),
            domain: c.domain.to_string(),
            verified: c.verified_at.is_some(),
            verified_at: c.verified_at,
            proof: c.proof,
            txt_value: c.txt_value,
            mail_address: c.mail_address,
            last_checked_at: c.last_checked_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainList {
    pub items: Vec<DomainView>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimDomain {
    /// `example.nl`; an internationalized domain is stored in its ASCII form.
    #[schema(min_length = 1, max_length = 253)]
    pub domain: String,
}

/// The domains this environment claimed.
///
/// Needs `domains.manage`.
#[utoipa::path(get, operation_id = "domains_list", path = "/organizations/{org}/domains", tag = "domains",
    params(("org" = Uuid, Path, description = "The environment's id")),
    responses((status = 200, body = DomainList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<DomainsManage, Api>,
) -> Result<Json<DomainList>, ApiError> {
    let items = portier_store::domains::list(&state.store, &auth).await?;
    Ok(Json(DomainList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Claim a domain for this environment.
///
/// Needs `domains.manage` on the environment (its top organization; 409
/// `not_an_environment` below it). Answers the TXT record to publish; the
/// domain acts once proven. A shared mail provider's domain (gmail.com,
/// ziggo.nl, …) is 422 `public_domain`; 409 `domain_claimed` when this
/// environment claimed it already, `domain_taken` when another proved it.
#[utoipa::path(post, operation_id = "domains_claim", path = "/organizations/{org}/domains", tag = "domains", request_body = ClaimDomain,
    params(("org" = Uuid, Path, description = "The environment's id")),
    responses((status = 201, body = DomainView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn claim(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<DomainsManage, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<ClaimDomain>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    let claimed = claim_domain(&state, &auth, &body.domain, client).await?;
    Ok((StatusCode::CREATED, Json(claimed.into())))
}

/// One of this environment's domains.
///
/// Needs `domains.manage`.
#[utoipa::path(get, operation_id = "domains_get", path = "/organizations/{org}/domains/{id}", tag = "domains",
    params(("org" = Uuid, Path, description = "The environment's id"), ("id" = Uuid, Path, description = "Domain id")),
    responses((status = 200, body = DomainView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<DomainsManage, Api>,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<DomainView>, ApiError> {
    let id: Uuid = path_id("id", &id)?;
    Ok(Json(
        portier_store::domains::get(&state.store, &auth, id)
            .await?
            .into(),
    ))
}

/// Give up a domain: from now on it lets nobody join.
///
/// Needs `domains.manage`. Those who joined by it stay members.
#[utoipa::path(delete, operation_id = "domains_remove", path = "/organizations/{org}/domains/{id}", tag = "domains",
    params(("org" = Uuid, Path, description = "The environment's id"), ("id" = Uuid, Path, description = "Domain id")),
    responses((status = 204, description = "Removed"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<DomainsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: Uuid = path_id("id", &id)?;
    portier_store::domains::remove(&state.store, &auth, id, &Origin::now(client)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Prove a domain.
///
/// Needs `domains.manage`. `dns` (the default) looks the TXT record
/// `_portier-challenge.<domain>` up now: 200 with `verified: true` when it
/// holds the claim's value, else 422 `txt_not_found` (publish it, then
/// check again); 502 `dns_failed` when the lookup got no answer. `mail`
/// sends a link to `mailbox@<domain>`, 202: whoever follows it proves the
/// domain. 409 `domain_taken` when another environment proved it first.
#[utoipa::path(post, operation_id = "domains_verify", path = "/organizations/{org}/domains/{id}/verify", tag = "domains", request_body = VerifyDomain,
    params(("org" = Uuid, Path, description = "The environment's id"), ("id" = Uuid, Path, description = "Domain id")),
    responses((status = 200, body = DomainView), (status = 202, body = DomainView, description = "The proof is mailed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn verify(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<DomainsManage, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, id)): Path<(String, String)>,
    body: Option<ApiJson<VerifyDomain>>,
) -> Result<(StatusCode, Json<DomainView>), ApiError> {
    let id: Uuid = path_id("id", &id)?;
    let body = body.map(|b| b.0).unwrap_or_default();
    let (status, claim) = verify_domain(&state, &auth, id, &body, client).await?;
    Ok((status, Json(claim.into())))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainConfirmed {
    pub domain: String,
    /// The environment's name.
    pub organization: String,
}

/// Confirm a domain with the token of the link mailed to one of its
/// administrative mailboxes.
///
/// Needs no account: reading that mailbox is the proof. Works once, for 24
/// hours (410 after; 404 for a link never sent); 409 `domain_taken` when
/// another environment proved the domain meanwhile.
#[utoipa::path(post, operation_id = "domains_confirm", path = "/domains/confirm/{token}", tag = "domains", security(()),
    params(("token" = String, Path, description = "The token of the mailed link")),
    responses((status = 200, body = DomainConfirmed), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 410, body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    Path(token): Path<String>,
) -> Result<Json<DomainConfirmed>, ApiError> {
    let (claim, env) = confirm_domain(&state, &token, client).await?;
    Ok(Json(DomainConfirmed {
        domain: claim.domain.to_string(),
        organization: env.name,
    }))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitingView {
    pub account_id: Uuid,
    pub email: String,
    pub display_name: String,
    /// When they signed up.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitingList {
    pub items: Vec<WaitingView>,
}

/// The people who joined by the environment's domain and wait for approval
/// (the environment's setting `signup_approval`).
///
/// Needs `members.read`.
#[utoipa::path(get, operation_id = "approvals_list", path = "/organizations/{org}/approvals", tag = "domains",
    params(("org" = Uuid, Path, description = "The environment's id")),
    responses((status = 200, body = WaitingList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approvals(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
) -> Result<Json<WaitingList>, ApiError> {
    let waiting = portier_store::signups::awaiting_approval(&state.store, &auth).await?;
    Ok(Json(WaitingList {
        items: waiting
            .into_iter()
            .map(|w| WaitingView {
                account_id: w.account.id.0,
                display_name: w.account.display_name(),
                email: w.account.email.to_string(),
                since: w.since,
            })
            .collect(),
    }))
}

/// Approve someone who waits: their membership becomes active (as
/// `member`, without rights) and they are told they can sign in. To refuse,
/// remove the member.
///
/// Needs `members.update`; 404 unless they wait here.
#[utoipa::path(post, operation_id = "approvals_approve", path = "/organizations/{org}/approvals/{account_id}", tag = "domains",
    params(("org" = Uuid, Path, description = "The environment's id"), ("account_id" = Uuid, Path, description = "The person's account id")),
    responses((status = 204, description = "Approved"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = path_id("account_id", &account)?;
    approve_member(&state, &auth, account, client).await?;
    Ok(StatusCode::NO_CONTENT)
}
