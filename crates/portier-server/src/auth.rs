//! Who is calling: an API token (`Authorization: Bearer ptk_…`) or a person's
//! session cookie. A missing or wrong credential is 401 with the contract's
//! error body. Sessions store only a hash of the cookie's value; the cookie is
//! HttpOnly, SameSite=Lax, and `__Host-` + Secure when Portier is served over
//! https.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use chrono::Utc;
use portier_core::rights::Principal;
use portier_store::sessions::{Session, Stage};

use crate::{ApiError, AppState};

/// How the caller proved who it is.
#[derive(Debug, Clone)]
pub enum Via {
    ApiToken,
    Session(Session),
}

/// The authenticated caller and everything it holds.
pub struct Caller(pub Principal, pub Via);

/// A person signed in with a session (the `/me` routes).
pub struct Person(pub Session);

/// The session cookie's name and attributes, from the public URL.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub name: &'static str,
    pub secure: bool,
}

impl CookieSettings {
    pub fn for_public_url(public_url: &str) -> CookieSettings {
        let secure = public_url.starts_with("https://");
        // `__Host-` binds the cookie to this host and path /, and requires Secure.
        CookieSettings {
            name: if secure {
                "__Host-portier_session"
            } else {
                "portier_session"
            },
            secure,
        }
    }

    pub fn set(&self, value: &str) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            self.name
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn clear(&self) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
            self.name
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The cookie's value in a request, if sent.
    pub fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == self.name)
            .map(|(_, v)| v)
    }
}

/// The live, signed-in session behind the request's cookie, if any. A
/// session still waiting for its second factor is not one.
pub async fn session_of(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ApiError> {
    session_at(state, headers, Stage::Full).await
}

/// The live session behind the request's cookie at `stage`, if any.
pub async fn session_at(
    state: &AppState,
    headers: &HeaderMap,
    stage: Stage,
) -> Result<Option<Session>, ApiError> {
    let Some(value) = state.config.cookie.read(headers) else {
        return Ok(None);
    };
    Ok(portier_store::sessions::find(
        &state.store,
        value,
        &state.config.sessions,
        stage,
        Utc::now(),
    )
    .await?)
}

/// Why a request without a signed-in session is refused: 403
/// `two_factor_setup_required` for a person who signed in but must set up
/// two-step verification first, else 401.
async fn refused(state: &AppState, headers: &HeaderMap) -> ApiError {
    match session_at(state, headers, Stage::Enrol).await {
        Ok(Some(_)) => ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "two_factor_setup_required",
            "an organization you belong to requires two-step verification: set it up first (POST /me/totp, then POST /me/totp/confirm; or a passkey: POST /me/passkeys, then POST /me/passkeys/confirm)",
        ),
        Ok(None) => not_signed_in(),
        Err(e) => e,
    }
}

fn not_signed_in() -> ApiError {
    ApiError::unauthenticated(
        "unauthenticated",
        "sign in, or send an API token as Authorization: Bearer <token>",
    )
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(header) = parts.headers.get(AUTHORIZATION) else {
            let Some(session) = session_of(state, &parts.headers).await? else {
                return Err(refused(state, &parts.headers).await);
            };
            let principal =
                portier_store::members::principal_for_account(&state.store, session.account_id)
                    .await?;
            return Ok(Caller(principal, Via::Session(session)));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthenticated(
                    "invalid_authorization",
                    "the Authorization header must read Bearer <token>",
                )
            })?;
        match state.rights.token(&state.store, token, Utc::now()).await? {
            Some(principal) => Ok(Caller(principal, Via::ApiToken)),
            None => Err(ApiError::unauthenticated(
                "invalid_token",
                "this token is not valid: it is unknown, revoked or expired",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(AUTHORIZATION) {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "person_required",
                "this route is for a signed-in person; API tokens act for organizations",
            ));
        }
        match session_of(state, &parts.headers).await? {
            Some(session) => Ok(Person(session)),
            None => Err(refused(state, &parts.headers).await),
        }
    }
}

/// Changes to how a person signs in (adding a second factor, removing a
/// passkey) are open only shortly after signing in: someone who takes over
/// an older session cannot add a way in of their own. 403
/// `recent_sign_in_required` otherwise.
pub fn recent_sign_in(state: &AppState, session: &Session) -> Result<(), ApiError> {
    let window =
        chrono::Duration::from_std(state.config.recent_sign_in).unwrap_or(chrono::Duration::zero());
    if Utc::now() - session.created_at <= window {
        return Ok(());
    }
    Err(ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "recent_sign_in_required",
        format!(
            "for your safety, sign in again first: this change needs a sign-in of the last {} minutes",
            state.config.recent_sign_in.as_secs().div_ceil(60)
        ),
    ))
}

/// A signed-in person, or one who must set up two-step verification before
/// anything else (an organization of theirs requires it): the routes that
/// set it up.
pub struct Enrollee {
    pub session: Session,
    /// The session is at [`Stage::Enrol`]; setting up makes it a full one.
    pub enrolling: bool,
}

impl FromRequestParts<AppState> for Enrollee {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Person::from_request_parts(parts, state).await {
            Ok(Person(session)) => Ok(Enrollee {
                session,
                enrolling: false,
            }),
            Err(e) if e.body.error.code == "two_factor_setup_required" => {
                session_at(state, &parts.headers, Stage::Enrol)
                    .await?
                    .map(|session| Enrollee {
                        session,
                        enrolling: true,
                    })
                    .ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_gets_a_host_bound_secure_cookie() {
        let c = CookieSettings::for_public_url("https://id.example.nl");
        let v = c.set("abc");
        assert_eq!(
            v.to_str().unwrap(),
            "__Host-portier_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let plain = CookieSettings::for_public_url("http://127.0.0.1:8080");
        assert_eq!(
            plain.set("abc").to_str().unwrap(),
            "portier_session=abc; Path=/; HttpOnly; SameSite=Lax"
        );
        assert!(plain.clear().to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let c = CookieSettings::for_public_url("http://x");
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; portier_session=secret; b=2"),
        );
        assert_eq!(c.read(&h), Some("secret"));
        h.insert(COOKIE, HeaderValue::from_static("xportier_session=no"));
        assert_eq!(c.read(&h), None);
    }
}
