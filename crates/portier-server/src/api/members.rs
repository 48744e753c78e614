//! `/organizations/{org}/members`: adding people (docs/RULES.md#adding-members),
//! the member list, and changing, deactivating and removing members
//! (docs/RULES.md#changing-a-members-details,
//! docs/RULES.md#deactivating-and-removing-members).

use crate::service::access::{Api, OrgAccess};
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::AccountStatus;
use portier_core::ids::AccountId;
use portier_core::members::{DetailsPatch, MemberDetails, MemberPatch, MemberPatchInput};
use portier_core::members::{MemberInput, MemberStatus, NewMember, Warning};
use portier_core::rights::{Authorized, MembersInvite, MembersRead, MembersRemove, MembersUpdate};
use portier_store::audit::Origin;
use portier_store::members::{MemberFilter, MemberView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{EmailAddress, Page, Paragraphs, Text, inner, inner2};
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ClientAddr, path_id};
use crate::service::members::{InvitationView, RegistrationView, decode_cursor, encode_cursor};
use crate::{ApiError, AppState};

/// A member as the list shows it: name, roles, when they joined, whether a
/// second factor is set up, and the activation state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberItem {
    pub account_id: Uuid,
    pub email: String,
    /// "Jan van der Berg"; the e-mail address while no name is known.
    pub display_name: String,
    /// Role keys.
    pub roles: Vec<String>,
    pub status: MemberStatus,
    /// True when a second factor is set up.
    pub two_factor: bool,
    /// When the person joined this organization.
    pub created_at: DateTime<Utc>,
    pub labels: Vec<String>,
    pub staff_code: Option<String>,
    pub groups: Vec<String>,
}

/// One member with every field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberDetail {
    #[serde(flatten)]
    pub item: MemberItem,
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub job_title: Option<String>,
    /// Meant for the member's contacts in the product.
    pub description: Option<String>,
    /// `invited` until the person has activated the account.
    pub account_status: AccountStatus,
    /// This member must use two-step verification, whatever the organization
    /// requires of everyone.
    pub require_two_factor: bool,
    pub invited_by: Option<Uuid>,
    /// The latest invitation mail from this organization, if any.
    pub invitation: Option<InvitationView>,
    /// Each role held, with the permissions it carries.
    pub role_details: Vec<super::roles::RoleView>,
    /// The professional registration (a BIG number) and its verification state.
    pub registration: Option<RegistrationView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberItem>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A person to add, read as an administrator thinks of them: the roles first,
/// then the e-mail address, then the rest, the portfolio last.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    pub email: EmailAddress,
    /// Role keys; `["member"]` (no rights) when empty.
    #[serde(default)]
    pub roles: Vec<String>,
    pub salutation: Option<Text<32>>,
    pub given_name: Option<Text<100>>,
    /// "van der"
    pub infix: Option<Text<32>>,
    pub family_name: Option<Text<100>>,
    pub phone: Option<super::PhoneNumber>,
    pub mobile: Option<super::PhoneNumber>,
    pub job_title: Option<Text<100>>,
    /// Unique within the organization.
    pub staff_code: Option<Text<64>>,
    /// Meant for the member's contacts in the product.
    pub description: Option<Paragraphs<1000>>,
    #[serde(default)]
    pub labels: Vec<super::Line<64>>,
    /// Ids of the organization's groups to put the person in; the caller must
    /// be allowed to give the roles they carry.
    #[serde(default)]
    pub groups: Vec<Uuid>,
    /// The person's number in a professional register; required
    /// when a role needs one. Recorded once: afterwards only a platform
    /// operator changes it.
    #[serde(default, deserialize_with = "crate::extract::some_object")]
    #[schema(nullable = false)]
    pub registration: Option<RegistrationInput>,
    /// `false` creates a membership that cannot be used until reactivated, and
    /// sends nothing.
    #[serde(default = "yes")]
    pub active: bool,
    /// A portfolio, read last, when a role given allows its type. Needs
    /// `portfolios.manage`. A start on a month's last day answers a warning.
    #[serde(default, deserialize_with = "crate::extract::some_object")]
    #[schema(nullable = false)]
    pub portfolio: Option<super::portfolios::CreatePortfolio>,
}

fn yes() -> bool {
    true
}

/// A number in a professional register.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrationInput {
    pub register: portier_core::registrations::Register,
    /// For BIG: 11 digits (spaces, dots and hyphens between them are taken out).
    pub number: RegistrationDigits,
}

impl RegistrationInput {
    pub fn pair(self) -> (String, String) {
        (self.register.as_str().to_owned(), self.number.0)
    }
}

/// A registration number as people copy it.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RegistrationDigits(pub String);

impl utoipa::PartialSchema for RegistrationDigits {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // The canonical form. Spaces, dots and hyphens between the digits,
        // as people copy numbers, are also accepted and taken out; a pattern
        // saying so made schema-driven generators discard most examples.
        super::string_schema(
            21,
            r"^[0-9]{11}$",
            "A BIG number: 11 digits (spaces, dots or hyphens between them are also accepted and taken out).",
        )
    }
}

impl utoipa::ToSchema for RegistrationDigits {}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AddedMember {
    pub account_id: Uuid,
    /// The address already had an account, which gained this membership.
    pub account_reused: bool,
    /// An activation mail was queued.
    pub invitation_sent: bool,
    pub member: MemberItem,
    pub warnings: Vec<Warning>,
    /// The portfolio given with the membership, if one was asked for.
    pub portfolio: Option<super::portfolios::PortfolioView>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    /// The beginning of the e-mail address, the name as read ("jan van d"),
    /// the name as sorted ("berg, j"), the family name with its infix ("van
    /// der berg") or the staff code. Case and accents do not matter ("celik"
    /// finds Çelik).
    q: Option<String>,
    /// A role key.
    role: Option<String>,
    /// A group's id: its members only.
    group: Option<Uuid>,
    label: Option<String>,
    status: Option<MemberStatus>,
    /// Members with (`true`) or without (`false`) two-step verification.
    two_factor: Option<bool>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

impl From<&MemberView> for MemberItem {
    fn from(v: &MemberView) -> Self {
        MemberItem {
            account_id: v.account.id.0,
            email: v.account.email.to_string(),
            display_name: v.account.display_name(),
            roles: v.roles.clone(),
            status: v.status(),
            two_factor: v.two_factor,
            created_at: v.membership.created_at,
            labels: v.membership.labels.clone(),
            staff_code: v.membership.details.staff_code.clone(),
            groups: v.groups.clone(),
        }
    }
}

impl From<&MemberView> for MemberDetail {
    fn from(v: &MemberView) -> Self {
        let n = &v.account.name;
        MemberDetail {
            item: v.into(),
            salutation: n.salutation.clone(),
            given_name: n.given_name.clone(),
            infix: n.infix.clone(),
            family_name: n.family_name.clone(),
            phone: v.membership.details.phone.clone(),
            mobile: v.membership.details.mobile.clone(),
            job_title: v.membership.details.job_title.clone(),
            description: v.membership.details.description.clone(),
            account_status: v.account.status,
            require_two_factor: v.membership.require_two_factor,
            invited_by: v.membership.invited_by.map(|a| a.0),
            invitation: None,
            role_details: Vec::new(),
            registration: None,
        }
    }
}

/// The member a `/members/{account_id}` route acts on (400 when the path
/// holds no account id); `OrgAccess` has decided on the organization.
fn member_in_path(account: &str) -> Result<AccountId, ApiError> {
    path_id("account_id", account)
}

/// Add a person to the organization.
///
/// The address is normalized; an address that already has an account keeps it
/// and gains a membership: a person has one account, whichever organizations
/// they belong to. New accounts get an activation mail.
/// *Permissions*: `members.invite`; `roles.assign` for roles beyond `member`;
/// `admins.manage` for administrator roles.
#[utoipa::path(post, operation_id = "members_add", path = "/organizations/{org}/members", tag = "members", request_body = AddMember,
    params(("org" = Uuid, Path, description = "The organization's id")),
    responses(
        (status = 201, body = AddedMember),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<MembersInvite, Api>,
    ClientAddr(client): ClientAddr,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<impl IntoResponse, ApiError> {
    let org = auth.organization();
    let mut new = NewMember::parse(MemberInput {
        email: body.email.0,
        roles: body.roles,
        salutation: inner(body.salutation),
        given_name: inner(body.given_name),
        infix: inner(body.infix),
        family_name: inner(body.family_name),
        details: MemberDetails {
            phone: inner(body.phone),
            mobile: inner(body.mobile),
            job_title: inner(body.job_title),
            staff_code: inner(body.staff_code),
            description: inner(body.description),
        },
        labels: body.labels.into_iter().map(|l| l.0).collect(),
        groups: body.groups.into_iter().map(Into::into).collect(),
        registration: body.registration.map(RegistrationInput::pair),
        active: body.active,
    })?;
    if let Some(p) = body.portfolio {
        caller
            .0
            .authorize::<portier_core::rights::PortfoliosManage>(org)?;
        let today = chrono::Utc::now().date_naive();
        new.portfolio = Some(portier_core::portfolios::NewPortfolio {
            type_key: p.type_key.0.trim().to_owned(),
            start: portier_core::portfolios::start_date(p.start_date.as_deref(), today)
                .map_err(|e| e.in_field("portfolio.start_date"))?,
        });
    }
    let added = crate::service::members::add(&state, &caller.0, &auth, new, client).await?;
    let view = added.view();
    let location = format!(
        "/api/v1/organizations/{}/members/{}",
        org.id, added.account.id
    );
    let answer = AddedMember {
        account_id: added.account.id.0,
        account_reused: added.account_reused,
        invitation_sent: added.invitation_sent,
        member: (&view).into(),
        warnings: added.warnings,
        portfolio: added
            .portfolio
            .as_ref()
            .map(|p| super::portfolios::PortfolioView::of(p, None)),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(answer),
    ))
}

/// The organization's members, sorted by family name (ignoring the infix).
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "members_list", path = "/organizations/{org}/members", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ListQuery),
    responses(
        (status = 200, body = MemberList),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<MemberList>, ApiError> {
    let limit = Page::limit(&q)?;
    let invalid = |field: &str, message: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid_{field}"),
            message,
        )
        .with_field(field)
    };
    let status =
        match q.get("status") {
            None => None,
            Some(name) => Some(MemberStatus::from_name(name).ok_or_else(|| {
                invalid("status", "status must be invited, active or deactivated")
            })?),
        };
    let two_factor = match q.get("two_factor").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(invalid("two_factor", "two_factor must be true or false")),
    };
    let cursor = match q.get("cursor") {
        None => None,
        Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
            invalid(
                "cursor",
                "cursor must be a next_cursor value from a previous page",
            )
        })?),
    };
    let group = match q.get("group") {
        None => None,
        Some(raw) => Some(raw.trim().parse().map_err(|_| {
            invalid(
                "group",
                "group must be the id of one of the organization's groups",
            )
        })?),
    };
    let filter = MemberFilter {
        q: q.get("q").filter(|s| !s.trim().is_empty()).cloned(),
        role: q.get("role").cloned(),
        group,
        label: q.get("label").cloned(),
        status,
        two_factor,
    };
    let views =
        portier_store::members::list(&state.store, &auth, &filter, cursor.as_ref(), limit + 1)
            .await?;
    let more = views.len() as i64 > limit;
    let page = &views[..views.len().min(limit as usize)];
    Ok(Json(MemberList {
        items: page.iter().map(Into::into).collect(),
        next_cursor: if more {
            page.last().map(encode_cursor)
        } else {
            None
        },
    }))
}

/// One member.
///
/// *Permissions*: `members.read`.
#[utoipa::path(get, operation_id = "members_get_one", path = "/organizations/{org}/members/{account_id}", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 200, body = MemberDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get_one(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersRead, Api>,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<MemberDetail>, ApiError> {
    let account = member_in_path(&account)?;
    Ok(Json(detail(&state, &auth, account).await?))
}

/// A change to a member. Absent fields stay; `null` empties a field. Name,
/// e-mail address and telephone numbers change only until the person has
/// activated the account; a corrected address gets a new invitation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    pub email: Option<EmailAddress>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<32>>)]
    pub salutation: Option<Option<Text<32>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<100>>)]
    pub given_name: Option<Option<Text<100>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<32>>)]
    pub infix: Option<Option<Text<32>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<100>>)]
    pub family_name: Option<Option<Text<100>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::PhoneNumber>)]
    pub phone: Option<Option<super::PhoneNumber>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<super::PhoneNumber>)]
    pub mobile: Option<Option<super::PhoneNumber>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<100>>)]
    pub job_title: Option<Option<Text<100>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Text<64>>)]
    pub staff_code: Option<Option<Text<64>>>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    #[schema(value_type = Option<Paragraphs<1000>>)]
    pub description: Option<Option<Paragraphs<1000>>>,
    pub labels: Option<Vec<super::Line<64>>>,
    /// Require two-step verification of this member: they set it
    /// up at their next sign-in, before anything else.
    pub require_two_factor: Option<bool>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MemberChanged {
    /// An activation mail was queued (after a corrected address or a
    /// reactivation of someone who never activated).
    pub invitation_sent: bool,
    pub member: MemberDetail,
}

async fn detail(
    state: &AppState,
    auth: &Authorized<impl portier_core::rights::OnMembers>,
    account: AccountId,
) -> Result<MemberDetail, ApiError> {
    let view = portier_store::members::get(&state.store, auth, account)
        .await?
        .ok_or(DomainError::NotFound { what: "member" })?;
    let mut detail = MemberDetail::from(&view);
    detail.invitation = portier_store::mail::latest_invitation(&state.store, account, auth)
        .await?
        .map(Into::into);
    detail.registration = portier_store::registrations::of_account(&state.store, account)
        .await?
        .as_ref()
        .map(Into::into);
    detail.role_details = portier_store::roles::of_member(&state.store, auth, account)
        .await?
        .iter()
        .map(Into::into)
        .collect();
    Ok(detail)
}

/// Change a member's details.
///
/// *Permissions*: `members.update`.
#[utoipa::path(patch, operation_id = "members_update", path = "/organizations/{org}/members/{account_id}", tag = "members", request_body = UpdateMember,
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 200, body = MemberChanged),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Result<Json<MemberChanged>, ApiError> {
    let account = member_in_path(&account)?;
    let patch = MemberPatch::parse(MemberPatchInput {
        email: body.email.map(|e| e.0),
        salutation: inner2(body.salutation),
        given_name: inner2(body.given_name),
        infix: inner2(body.infix),
        family_name: inner2(body.family_name),
        details: DetailsPatch {
            phone: inner2(body.phone),
            mobile: inner2(body.mobile),
            job_title: inner2(body.job_title),
            staff_code: inner2(body.staff_code),
            description: inner2(body.description),
        },
        labels: body.labels.map(|l| l.into_iter().map(|l| l.0).collect()),
        require_two_factor: body.require_two_factor,
    })?;
    let updated =
        crate::service::members::update(&state, &auth, account, patch, &Origin::now(client))
            .await?;
    Ok(Json(MemberChanged {
        invitation_sent: updated.invitation_sent,
        member: detail(&state, &auth, updated.account_id).await?,
    }))
}

/// What becomes of a removed member's active portfolio.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum OnRemoval {
    /// Temporarily deactivated: it can come back.
    Deactivate,
    /// Completed: final.
    Complete,
    /// Moved to `to_organization_id`, where the person is a member: at once
    /// when the caller may manage portfolios there, else deactivated here
    /// and offered to it (reactivated there when it accepts).
    Transfer,
}

/// Remove a member from the organization: the membership and its rights end;
/// the account and the audit trail stay. The last administrator of an
/// environment who can sign in cannot be removed (409 `last_administrator`).
/// A member with an active portfolio here is removed only when the call
/// says what becomes of it: `portfolio=deactivate`,
/// `portfolio=complete` or `portfolio=transfer&to_organization_id=…` (which
/// need `portfolios.manage`); else 409 `active_portfolio`.
///
/// *Permissions*: `members.remove`.
#[utoipa::path(delete, operation_id = "members_remove", path = "/organizations/{org}/members/{account_id}", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id"),
        ("portfolio" = inline(Option<OnRemoval>), Query, description = "What becomes of an active portfolio here"),
        ("to_organization_id" = Option<Uuid>, Query, description = "Where it goes, with portfolio=transfer")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    OrgAccess { caller, auth }: OrgAccess<MembersRemove, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let org = auth.organization().clone();
    let account = member_in_path(&account)?;
    use portier_store::portfolios::OnRemoval as Then;
    let manages = super::portfolios::manages(&caller);
    let portfolio = match q.get("portfolio").map(String::as_str) {
        None => None,
        Some(then) => {
            caller
                .0
                .authorize::<portier_core::rights::PortfoliosManage>(&org)?;
            Some(match then {
                "deactivate" => Then::Deactivate,
                "complete" => Then::Complete,
                "transfer" => {
                    let to = q.get("to_organization_id").ok_or_else(|| {
                        portier_core::FieldError::new(
                            "to_organization_id",
                            "required",
                            "say which organization takes the portfolio over",
                        )
                    })?;
                    Then::Transfer {
                        to: path_id("to_organization_id", to)?,
                        manages: &manages,
                    }
                }
                _ => {
                    return Err(portier_core::FieldError::new(
                        "portfolio",
                        "invalid",
                        "say deactivate, complete or transfer",
                    )
                    .into());
                }
            })
        }
    };
    let origin = Origin::now(client);
    crate::service::members::remove(&state, &auth, account, portfolio, &origin).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a new activation mail; the previous link stops working.
///
/// *Permissions*: `members.invite`.
#[utoipa::path(post, operation_id = "members_resend_activation", path = "/organizations/{org}/members/{account_id}/resend-activation", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 202, description = "A new activation mail is queued"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn resend_activation(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersInvite, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let account = member_in_path(&account)?;
    crate::service::members::resend_invitation(&state, &auth, account, &Origin::now(client))
        .await?;
    Ok(StatusCode::ACCEPTED)
}

async fn set_active(
    state: AppState,
    auth: Authorized<MembersUpdate>,
    client: Option<String>,
    account: String,
    active: bool,
) -> Result<Json<MemberChanged>, ApiError> {
    let account = member_in_path(&account)?;
    let sent =
        crate::service::members::set_active(&state, &auth, account, active, &Origin::now(client))
            .await?;
    Ok(Json(MemberChanged {
        invitation_sent: sent,
        member: detail(&state, &auth, account).await?,
    }))
}

/// Deactivate a member: no rights here any more, nothing deleted.
/// Someone left with no active membership anywhere cannot sign in. The last
/// administrator of an environment who can sign in cannot be deactivated
/// (409 `last_administrator`).
///
/// *Permissions*: `members.update`.
#[utoipa::path(post, operation_id = "members_deactivate", path = "/organizations/{org}/members/{account_id}/deactivate", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 200, body = MemberChanged),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ))]
pub async fn deactivate(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<MemberChanged>, ApiError> {
    set_active(state, auth, client, account, false).await
}

/// Reactivate a member; someone who never activated gets a new invitation.
///
/// *Permissions*: `members.update`.
#[utoipa::path(post, operation_id = "members_reactivate", path = "/organizations/{org}/members/{account_id}/reactivate", tag = "members",
    params(("org" = Uuid, Path, description = "The organization's id"), ("account_id" = Uuid, Path, description = "The member's account id")),
    responses(
        (status = 200, body = MemberChanged),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn reactivate(
    State(state): State<AppState>,
    OrgAccess { caller: _, auth }: OrgAccess<MembersUpdate, Api>,
    ClientAddr(client): ClientAddr,
    Path((_, account)): Path<(String, String)>,
) -> Result<Json<MemberChanged>, ApiError> {
    set_active(state, auth, client, account, true).await
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The properties of a schema, through `allOf` and references.
    fn properties(doc: &Value, schema: &Value) -> serde_json::Map<String, Value> {
        let schema = resolve(doc, schema);
        let mut out = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for part in schema["allOf"].as_array().into_iter().flatten() {
            out.extend(properties(doc, part));
        }
        out
    }

    fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
        match v["$ref"].as_str() {
            Some(r) => {
                let name = r.rsplit('/').next().unwrap_or_default();
                &doc["components"]["schemas"][name]
            }
            None => v,
        }
    }

    /// The `maxLength` a property's schema states, wherever it sits.
    fn max_length(doc: &Value, v: &Value) -> Option<u64> {
        let v = resolve(doc, v);
        if let Some(max) = v["maxLength"].as_u64() {
            return Some(max);
        }
        ["oneOf", "anyOf", "allOf"]
            .iter()
            .flat_map(|k| v[*k].as_array().into_iter().flatten())
            .find_map(|part| max_length(doc, part))
    }

    /// A profile field added in core and not here fails this test: the API
    /// takes and answers every one, with core's limit in its schema.
    #[test]
    fn every_profile_field_is_in_the_api_with_its_limit() {
        let doc: Value = serde_json::from_str(crate::api::openapi()).unwrap();
        let schema = |name: &str| {
            let s = &doc["components"]["schemas"][name];
            assert!(s.is_object(), "no schema {name}");
            properties(&doc, s)
        };
        let (add, update, detail) = (
            schema("AddMember"),
            schema("UpdateMember"),
            schema("MemberDetail"),
        );
        for f in &portier_core::profile::FIELDS {
            for (name, props) in [("AddMember", &add), ("UpdateMember", &update)] {
                let prop = props
                    .get(f.key)
                    .unwrap_or_else(|| panic!("{name} has no {}", f.key));
                assert_eq!(
                    max_length(&doc, prop),
                    Some(f.max as u64),
                    "{name}.{}",
                    f.key
                );
            }
            assert!(detail.contains_key(f.key), "MemberDetail has no {}", f.key);
        }
    }
}
