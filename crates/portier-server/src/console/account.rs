//! My account: the person's own profile (the fields they may change), the
//! language of the console and their mails, and a new password. The
//! registration number is shown, never changed here
//! (docs/RULES.md#professional-registrations).

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portier_core::locale::Locale;
use portier_store::accounts::ProfilePatch;
use portier_store::audit::Origin;

use super::auth::{Rules, refused};
use super::form::Posted;
use super::org::{Problem, Refusal, optional};
use super::{Done, Page, Person};
use crate::extract::ClientAddr;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(show).post(update_profile))
        .route("/account/password", post(change_password))
        .route("/account/sessions/end-others", post(end_other_sessions))
        .route("/account/sessions/{id}/end", post(end_session))
}

/// The profile as the form holds it.
#[derive(Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct Profile {
    pub salutation: String,
    pub given_name: String,
    pub infix: String,
    pub family_name: String,
    pub phone: String,
    pub mobile: String,
    /// `nl`, `en`, or empty: the browser's.
    pub locale: String,
}

impl Profile {
    fn of(a: &portier_core::accounts::Account) -> Profile {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Profile {
            salutation: text(&a.name.salutation),
            given_name: text(&a.name.given_name),
            infix: text(&a.name.infix),
            family_name: text(&a.name.family_name),
            phone: text(&a.phone),
            mobile: text(&a.mobile),
            locale: a.locale.map(|l| l.as_str().to_owned()).unwrap_or_default(),
        }
    }

    fn patch(&self) -> Result<ProfilePatch, ApiError> {
        let locale = match self.locale.as_str() {
            "" => None,
            other => Some(Locale::parse("locale", other)?),
        };
        crate::service::accounts::profile_patch(ProfilePatch {
            salutation: Some(optional(&self.salutation)),
            given_name: Some(optional(&self.given_name)),
            infix: Some(optional(&self.infix)),
            family_name: Some(optional(&self.family_name)),
            phone: Some(optional(&self.phone)),
            mobile: Some(optional(&self.mobile)),
            locale: Some(locale),
        })
    }

    pub fn is_locale(&self, name: &str) -> bool {
        self.locale == name
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "account.html")]
pub struct AccountPage {
    pub page: Page,
    pub email: String,
    pub profile: Profile,
    /// The registration number and its state, when there is one.
    pub registration: Option<(String, String)>,
    pub rules: Rules,
    /// The person's sessions, this one among them.
    pub sessions: Vec<crate::service::sessions::SessionView>,
    /// The new password's unmet rules.
    pub refused: Vec<String>,
    pub problem: Option<Problem>,
    pub notice: Option<String>,
}

impl Refusal for AccountPage {
    fn problem(&self) -> Option<&Problem> {
        self.problem.as_ref()
    }
}

impl AccountPage {
    /// "Firefox on Linux" in the page's language, else the raw user agent.
    pub fn device(&self, s: &crate::service::sessions::SessionView) -> String {
        let agent = s.user_agent.as_deref().unwrap_or("");
        match portier_core::sessions::device_parts(agent) {
            (Some(b), Some(system)) => self
                .page
                .i18n
                .tn("sessions-device-on", &[("browser", b), ("system", system)]),
            (Some(one), None) | (None, Some(one)) => one.to_owned(),
            (None, None) if agent.is_empty() => "?".to_owned(),
            (None, None) => agent.chars().take(60).collect(),
        }
    }

    fn general(&self) -> String {
        self.general_error(&[
            "salutation",
            "given_name",
            "infix",
            "family_name",
            "phone",
            "mobile",
            "locale",
            "current_password",
            "new_password",
        ])
    }
}

/// What the page says besides the account: a refusal, unmet password rules,
/// what was done, and the profile as sent.
#[derive(Default)]
struct Said {
    problem: Option<Problem>,
    refused: Vec<String>,
    notice: Option<String>,
    profile: Option<Profile>,
}

async fn account_page(state: &AppState, person: &Person, said: Said) -> Result<Response, ApiError> {
    let i18n = person.viewer.i18n;
    let policies =
        portier_store::accounts::password_policies(&state.store, person.account.id).await?;
    let registration = portier_store::registrations::of_account(&state.store, person.account.id)
        .await?
        .as_ref()
        .map(|r| {
            let view = crate::service::members::RegistrationView::from(r);
            (
                view.number,
                i18n.t(&format!("registration-{}", view.state.as_str())),
            )
        });
    let sessions = crate::service::sessions::of(state, &person.session).await?;
    Ok(AccountPage {
        sessions,
        page: person.viewer.page(),
        email: person.account.email.to_string(),
        profile: said.profile.unwrap_or_else(|| Profile::of(&person.account)),
        registration,
        rules: Rules::of(&policies),
        refused: said.refused,
        problem: said.problem,
        notice: said.notice,
    }
    .into_response())
}

async fn show(State(state): State<AppState>, person: Person, Query(q): Query<Done>) -> Response {
    let said = Said {
        notice: person.viewer.i18n.done(q.done.as_deref()),
        ..Said::default()
    };
    account_page(&state, &person, said)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// The page again with what was refused.
async fn again(state: &AppState, person: &Person, status: StatusCode, said: Said) -> Response {
    match account_page(state, person, said).await {
        Ok(mut page) => {
            *page.status_mut() = status;
            page
        }
        Err(e) => e.into_response(),
    }
}

async fn update_profile(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Posted(profile): Posted<Profile>,
) -> Response {
    let updated = async {
        let patch = profile.patch()?;
        portier_store::accounts::update_profile(
            &state.store,
            &person.account,
            patch,
            None,
            &Origin::now(client),
        )
        .await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match updated {
        Ok(()) => Redirect::to("/account?done=profile").into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let said = Said {
                problem: Some(Problem::of(&person.viewer.i18n, &e)),
                profile: Some(profile),
                ..Said::default()
            };
            again(&state, &person, e.status, said).await
        }
    }
}

/// The form of a new password while signed in.
#[derive(Default, serde::Deserialize)]
#[serde(default)]
struct PasswordChange {
    current_password: String,
    password: String,
}

async fn change_password(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    Posted(form): Posted<PasswordChange>,
) -> Response {
    let checked = crate::service::accounts::password_change(
        &state,
        &person.account,
        client.as_deref(),
        form.current_password,
        form.password,
    )
    .await;
    let outcome = match checked {
        Ok(Ok(hash)) => portier_store::accounts::change_password(
            &state.store,
            person.account.id,
            &hash,
            Some(&person.session.id_hash),
            &Origin::now(client),
        )
        .await
        .map_err(ApiError::from),
        Ok(Err(rejected)) => {
            let said = Said {
                refused: refused(&person.viewer.i18n, &rejected),
                ..Said::default()
            };
            return again(&state, &person, StatusCode::UNPROCESSABLE_ENTITY, said).await;
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(()) => Redirect::to("/account?done=password").into_response(),
        Err(e) if e.status.is_server_error() => e.into_response(),
        Err(e) => {
            let said = Said {
                problem: Some(Problem::of(&person.viewer.i18n, &e)),
                ..Said::default()
            };
            again(&state, &person, e.status, said).await
        }
    }
}

/// Ends one of the person's sessions; this one signs them out.
async fn end_session(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let this = portier_store::sessions::public_id(&person.session.id_hash) == id;
    let ended = portier_store::sessions::end_of_account(
        &state.store,
        person.account.id,
        Some(&id),
        None,
        &Origin::now(client),
    )
    .await;
    match ended {
        Err(e) => ApiError::from(e).into_response(),
        Ok(_) if this => Redirect::to("/login?signed_out=1").into_response(),
        Ok(_) => Redirect::to("/account?done=session-ended").into_response(),
    }
}

/// Ends every session of the person's but this one.
async fn end_other_sessions(
    State(state): State<AppState>,
    person: Person,
    ClientAddr(client): ClientAddr,
) -> Response {
    let ended = portier_store::sessions::end_of_account(
        &state.store,
        person.account.id,
        None,
        Some(&person.session.id_hash),
        &Origin::now(client),
    )
    .await;
    match ended {
        Err(e) => ApiError::from(e).into_response(),
        Ok(_) => Redirect::to("/account?done=sessions-ended").into_response(),
    }
}
