//! Self sign-up (docs/RULES.md#self-sign-up-and-e-mail-domains): ask with an
//! address, name and password (always 202), then confirm with the mailed
//! link. Only then is the account made: it joins the environment that proved
//! the address's domain (as `member`, without rights, or held for approval)
//! or starts its own.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{EmailAddress, Line};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr};
use crate::service::signups::{SignupInput, finish_signup, start_signup};
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

/// Sign up.
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
