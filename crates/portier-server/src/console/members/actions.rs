//! The changes an administrator makes on a member's page: details, roles,
//! groups, invitation, active or not, second factors, sessions, removal.

#[allow(unused_imports)]
use super::*;

/// The organization, the proof of `R` there and the member's account id of a
/// change route, or the page that says why not.
pub(crate) async fn change_route<R: Right>(
    state: &AppState,
    person: &Person,
    org: &str,
    account: &str,
) -> Result<
    (
        OrgContext<R>,
        portier_core::rights::Authorized<R>,
        AccountId,
    ),
    Response,
> {
    let ctx = org_context::<R>(state, person, org).await?;
    let auth = ctx.auth.clone();
    let account = account
        .parse()
        .map_err(|_| error_page(&person.viewer, StatusCode::NOT_FOUND, "error-not-found"))?;
    Ok((ctx, auth, account))
}

/// A form that changes a member's details: the page's details form, or
/// its two-step verification form. A field it left out stays.
#[derive(Deserialize, Clone, Default)]
#[serde(default)]
pub struct DetailsForm {
    #[serde(deserialize_with = "sent")]
    email: Option<String>,
    /// "1" or "0", from the two-step verification form of the member page.
    #[serde(deserialize_with = "sent")]
    require_two_factor: Option<String>,
    #[serde(deserialize_with = "sent")]
    labels: Option<String>,
    /// The profile fields the form sent, by key (`portier_core::profile`).
    #[serde(flatten)]
    profile: ProfileValues,
}

pub(crate) async fn change_details(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Posted(form): Posted<DetailsForm>,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let profile = form.profile;
    let sent = Details {
        email: text(&form.email),
        profile: profile.clone(),
        labels: text(&form.labels),
        ..Details::default()
    };
    // A field left out of the form stays; one emptied is emptied.
    let patch = MemberPatch::parse(MemberPatchInput {
        email: form
            .email
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty()),
        salutation: profile.name_patch("salutation"),
        given_name: profile.name_patch("given_name"),
        infix: profile.name_patch("infix"),
        family_name: profile.name_patch("family_name"),
        details: profile.details_patch(),
        labels: form.labels.map(|l| labels(&l)),
        require_two_factor: form.require_two_factor.map(|v| v == "1"),
    });
    let outcome = match patch {
        Err(e) => Err(ApiError::from(e)),
        Ok(patch) => {
            crate::service::members::update(&state, &auth, account, patch, &Origin::now(client))
                .await
        }
    };
    // A corrected address that had an account took the membership along.
    let account = outcome.as_ref().map_or(account, |u| u.account_id);
    let outcome = outcome.map(|_| ());
    after(
        &state,
        &person,
        &org,
        account,
        "details",
        outcome,
        Some(sent),
    )
    .await
}

/// The roles form of a member's page: the roles ticked, and a BIG number
/// when one of them asks for it.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RolesForm {
    #[serde(deserialize_with = "many")]
    roles: Vec<String>,
    big: String,
}

pub(crate) async fn change_roles(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Posted(form): Posted<RolesForm>,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<RolesAssign>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let keys: Result<Vec<RoleKey>, _> = form
        .roles
        .iter()
        .enumerate()
        .map(|(i, k)| RoleKey::parse(&format!("roles[{i}]"), k))
        .collect();
    let big = optional(&form.big);
    let outcome = match keys {
        Err(e) => Err(e.into()),
        Ok(keys) => crate::service::members::set_roles(
            &state,
            &ctx.principal,
            &auth,
            account,
            keys,
            big.map(|n| ("BIG".to_owned(), n)),
            client,
        )
        .await
        .map(|_| ()),
    };
    after(&state, &person, &org, account, "roles", outcome, None).await
}

/// The groups form of a member's page: the groups ticked, by id.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GroupsForm {
    #[serde(deserialize_with = "many")]
    groups: Vec<String>,
}

pub(crate) async fn change_groups(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Posted(form): Posted<GroupsForm>,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<GroupsManage>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let wanted: Result<Vec<portier_core::ids::GroupId>, _> =
        form.groups.iter().map(|v| v.parse()).collect();
    let outcome = match wanted {
        Err(_) => Err(ApiError::from(portier_core::Error::NotFound {
            what: "group",
        })),
        Ok(wanted) => portier_store::groups::set_groups_of(
            &state.store,
            &ctx.principal,
            &auth,
            account,
            &wanted,
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
    };
    after(&state, &person, &org, account, "groups", outcome, None).await
}

pub(crate) async fn resend(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersInvite>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let outcome =
        crate::service::members::resend_invitation(&state, &auth, account, &Origin::now(client))
            .await;
    after(&state, &person, &org, account, "resend", outcome, None).await
}

pub(crate) async fn set_active(
    state: AppState,
    person: Person,
    client: Option<String>,
    org: String,
    account: String,
    active: bool,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let outcome =
        crate::service::members::set_active(&state, &auth, account, active, &Origin::now(client))
            .await
            .map(|_| ());
    let done = if active { "reactivate" } else { "deactivate" };
    after(&state, &person, &org, account, done, outcome, None).await
}

/// What an administrator does to a member's sign-in, which is the
/// person's everywhere (the API's rules: rights over each of their
/// organizations).
#[derive(Clone, Copy)]
pub(crate) enum SignInAction {
    /// Take their two-step verification away (a lost phone).
    ResetTwoFactor,
    /// Sign them out everywhere.
    EndSessions,
}

pub(crate) async fn sign_in_action(
    state: AppState,
    person: Person,
    client: Option<String>,
    org: String,
    account: String,
    action: SignInAction,
) -> Response {
    let (_, auth, account) =
        match change_route::<MembersUpdate>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let (outcome, done) = match action {
        SignInAction::ResetTwoFactor => (
            crate::service::two_factor::reset_member(&state, &auth, account, client)
                .await
                .map(|_| ()),
            "reset-two-factor",
        ),
        SignInAction::EndSessions => (
            crate::service::sessions::end_member_sessions(&state, &auth, account, client)
                .await
                .map(|_| ()),
            "sessions-ended-member",
        ),
    };
    after(&state, &person, &org, account, done, outcome, None).await
}

pub(crate) async fn reset_two_factor(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let action = SignInAction::ResetTwoFactor;
    sign_in_action(state, person, client, org, account, action).await
}

pub(crate) async fn end_sessions(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    let action = SignInAction::EndSessions;
    sign_in_action(state, person, client, org, account, action).await
}

pub(crate) async fn deactivate(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    set_active(state, person, client, org, account, false).await
}

pub(crate) async fn reactivate(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
) -> Response {
    set_active(state, person, client, org, account, true).await
}

/// The removal form: what becomes of the member's portfolios here
/// (docs/PORTFOLIOS.md#when-a-member-leaves): nothing chosen, `complete`,
/// `transfer` (to the organization `to`) or deactivate.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RemoveForm {
    portfolio: String,
    to: String,
}

pub(crate) async fn remove(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Posted(form): Posted<RemoveForm>,
) -> Response {
    let (ctx, auth, account) =
        match change_route::<MembersRemove>(&state, &person, &org, &account).await {
            Ok(r) => r,
            Err(page) => return page,
        };
    let manages = |o: &Organization| ctx.principal.authorize::<PortfoliosManage>(o).is_ok();
    let removed = async {
        use portier_store::portfolios::OnRemoval;
        let then = match form.portfolio.as_str() {
            "" => None,
            then => {
                ctx.auth.and::<PortfoliosManage>()?;
                Some(match then {
                    "complete" => OnRemoval::Complete,
                    "transfer" => OnRemoval::Transfer {
                        to: crate::extract::path_id("to_organization_id", &form.to)?,
                        manages: &manages,
                    },
                    _ => OnRemoval::Deactivate,
                })
            }
        };
        crate::service::members::remove(&state, &auth, account, then, &Origin::now(client)).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match removed {
        Ok(()) => Redirect::to(&format!("/orgs/{org}/members?done=removed")).into_response(),
        Err(e) => after(&state, &person, &org, account, "remove", Err(e), None).await,
    }
}
