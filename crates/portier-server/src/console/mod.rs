//! The web console: pages rendered on the server (askama), in English and
//! Dutch (fluent), that work without JavaScript; a small script of our own
//! makes some of them livelier. Every page is sent with a strict content
//! security policy (no inline script, no framing) and forms are protected by
//! the same Origin / Sec-Fetch-Site check as the API (`lib.rs`).

pub mod account;
pub mod admins;
pub mod api_tokens;
pub mod audit;
pub mod auth;
pub mod dashboard;
pub mod devmail;
pub mod domains;
pub mod form;
pub mod groups;
pub mod import;
pub mod members;
pub mod org;
pub mod portfolios;
pub mod resources;
pub mod roles;
pub mod settings;
pub mod signups;
pub mod two_factor;

use std::borrow::Cow;
use std::collections::HashMap;

use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::header::{ACCEPT_LANGUAGE, CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use fluent_templates::fluent_bundle::FluentValue;
use fluent_templates::{LanguageIdentifier, Loader, langid, static_loader};
use portier_core::accounts::Account;
use portier_core::locale::Locale;
use portier_store::sessions::{Session, Stage};
use serde::Deserialize;

use crate::{ApiError, AppState};

static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "en",
        // No Unicode isolation marks around arguments: they would show as
        // stray characters in titles and form values.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static EN: LanguageIdentifier = langid!("en");
static NL: LanguageIdentifier = langid!("nl");

/// The cookie that remembers a language chosen with the switch.
const LANGUAGE_COOKIE: &str = "portier_lang";

/// Translations for one page.
#[derive(Debug, Clone, Copy)]
pub struct I18n {
    pub locale: Locale,
}

impl I18n {
    fn id(&self) -> &'static LanguageIdentifier {
        match self.locale {
            Locale::En => &EN,
            Locale::Nl => &NL,
        }
    }

    /// The text of `key`.
    pub fn t(&self, key: &str) -> String {
        LOCALES.lookup(self.id(), key)
    }

    /// The text of `key` with one argument.
    pub fn t1(&self, key: &str, name: &'static str, value: &str) -> String {
        self.tn(key, &[(name, value)])
    }

    /// The text of `key` with arguments.
    pub fn tn(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        let args: HashMap<Cow<'static, str>, FluentValue> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.to_string())))
            .collect();
        LOCALES.lookup_with_args(self.id(), key, &args)
    }

    /// What a page says after a change, from its `?done=` key (`done-<key>`
    /// in the texts); nothing for a key without a text.
    pub fn done(&self, done: Option<&str>) -> Option<String> {
        done.map(|d| self.or(&format!("done-{d}"), ""))
            .filter(|n| !n.is_empty())
    }

    /// The text of `key`, or `fallback` where there is none.
    pub fn or(&self, key: &str, fallback: &str) -> String {
        LOCALES
            .try_lookup(self.id(), key)
            .unwrap_or_else(|| fallback.to_owned())
    }

    /// A refusal or warning by its code (`err-<code>`), or `fallback` (the
    /// domain's English sentence) where no text of ours exists yet.
    pub fn error(&self, code: &str, fallback: &str) -> String {
        self.or(&format!("err-{code}"), fallback)
    }

    /// `lang` of the page's `<html>`.
    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }

    /// The language the switch on every page offers.
    pub fn other(&self) -> &'static str {
        match self.locale {
            Locale::En => "nl",
            Locale::Nl => "en",
        }
    }

    /// A moment, to the second, in UTC (said so, as the viewer may be
    /// anywhere): `29 Nov 2026 14:05:09 UTC`.
    pub fn moment(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        let month = match self.locale {
            Locale::En => at.format("%b").to_string(),
            Locale::Nl => DUTCH_MONTHS[month_index(at)].1.to_owned(),
        };
        format!(
            "{} {month} {} UTC",
            at.format("%-d"),
            at.format("%Y %H:%M:%S")
        )
    }

    /// A date as people of the language write it: `29 November 2026`,
    /// `29 november 2026`.
    pub fn date(&self, at: chrono::DateTime<chrono::Utc>) -> String {
        match self.locale {
            Locale::En => at.format("%-d %B %Y").to_string(),
            Locale::Nl => {
                let month = DUTCH_MONTHS[month_index(at)].0;
                format!("{} {month} {}", at.format("%-d"), at.format("%Y"))
            }
        }
    }
}

impl I18n {
    /// A calendar day as people of the language write it.
    pub fn day(&self, day: chrono::NaiveDate) -> String {
        self.date(day.and_time(chrono::NaiveTime::MIN).and_utc())
    }

    /// A month: `November 2026`, `november 2026`.
    pub fn month(&self, month: portier_core::portfolios::Month) -> String {
        let name = match self.locale {
            Locale::En => month.first_day().format("%B").to_string(),
            Locale::Nl => DUTCH_MONTHS[(month.month as usize + 11) % 12].0.to_owned(),
        };
        format!("{name} {}", month.year)
    }

    /// A month in few letters, for a chart: `Nov 2026`, `nov 2026`.
    pub fn month_short(&self, month: portier_core::portfolios::Month) -> String {
        let name = match self.locale {
            Locale::En => month.first_day().format("%b").to_string(),
            Locale::Nl => DUTCH_MONTHS[(month.month as usize + 11) % 12].1.to_owned(),
        };
        format!("{name} {}", month.year)
    }
}

/// The months in Dutch, in full and short.
const DUTCH_MONTHS: [(&str, &str); 12] = [
    ("januari", "jan"),
    ("februari", "feb"),
    ("maart", "mrt"),
    ("april", "apr"),
    ("mei", "mei"),
    ("juni", "jun"),
    ("juli", "jul"),
    ("augustus", "aug"),
    ("september", "sep"),
    ("oktober", "okt"),
    ("november", "nov"),
    ("december", "dec"),
];

fn month_index(at: chrono::DateTime<chrono::Utc>) -> usize {
    use chrono::Datelike;
    at.month0() as usize % 12
}

/// The query of a page that a change redirects to: `?done=<key>`.
#[derive(Deserialize, Default)]
pub struct Done {
    pub done: Option<String>,
}

/// What every page shows around its content.
pub struct Page {
    pub i18n: I18n,
    /// The signed-in person's name, for the header.
    pub person: Option<String>,
    /// This page's path and query, for the language switch to come back to.
    pub here: String,
}

/// Who is looking at a page, and in which language. A session is optional
/// here; [`Person`] requires one.
pub struct Viewer {
    pub i18n: I18n,
    pub session: Option<Session>,
    pub account: Option<Account>,
    pub here: String,
}

impl Viewer {
    pub fn page(&self) -> Page {
        Page {
            i18n: self.i18n,
            person: self.account.as_ref().map(Account::display_name),
            here: self.here.clone(),
        }
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The language of a page: the one chosen with the switch, else the
/// account's, else the browser's (`Accept-Language`), else English.
fn language(headers: &HeaderMap, account: Option<&Account>) -> Locale {
    let chosen = cookie(headers, LANGUAGE_COOKIE).and_then(|v| Locale::parse("lang", v).ok());
    let browser = || {
        headers
            .get(ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',')
                    .map(|part| part.split(';').next().unwrap_or("").trim())
                    .find_map(|tag| Locale::parse("lang", tag).ok())
            })
    };
    chosen
        .or(account.and_then(|a| a.locale))
        .or_else(browser)
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let session = crate::auth::session_of(state, &parts.headers)
            .await
            .ok()
            .flatten();
        let account = match &session {
            Some(s) => portier_store::accounts::get(&state.store, s.account_id)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let i18n = I18n {
            locale: language(&parts.headers, account.as_ref()),
        };
        Ok(Viewer {
            i18n,
            session,
            account,
            here,
        })
    }
}

/// A signed-in person looking at a page; anyone else is sent to sign in and
/// brought back afterwards.
pub struct Person {
    pub viewer: Viewer,
    pub session: Session,
    pub account: Account,
}

impl FromRequestParts<AppState> for Person {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let viewer = Viewer::from_request_parts(parts, state).await?;
        match (viewer.session.clone(), viewer.account.clone()) {
            (Some(session), Some(account)) => Ok(Person {
                viewer,
                session,
                account,
            }),
            _ => {
                // Signed in, but made to set up two-step verification first.
                let enrolling = crate::auth::session_at(state, &parts.headers, Stage::Enrol).await;
                let next = url_encode(&viewer.here);
                if let Ok(Some(_)) = enrolling {
                    return Err(
                        Redirect::to(&format!("/account/two-factor?next={next}")).into_response()
                    );
                }
                Err(Redirect::to(&format!("/login?next={next}")).into_response())
            }
        }
    }
}

/// A person at My account → Two-step verification: signed in, or signed in
/// but made to set it up before anything else (an organization of theirs
/// requires it).
pub struct Enrollee {
    pub person: Person,
    pub enrolling: bool,
}

impl FromRequestParts<AppState> for Enrollee {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let mut viewer = Viewer::from_request_parts(parts, state).await?;
        if let (Some(session), Some(account)) = (viewer.session.clone(), viewer.account.clone()) {
            return Ok(Enrollee {
                person: Person {
                    viewer,
                    session,
                    account,
                },
                enrolling: false,
            });
        }
        let found = crate::auth::session_at(state, &parts.headers, Stage::Enrol)
            .await
            .map_err(IntoResponse::into_response)?;
        let account = match &found {
            Some(s) => portier_store::accounts::get(&state.store, s.account_id)
                .await
                .map_err(|e| ApiError::from(e).into_response())?,
            None => None,
        };
        match (found, account) {
            (Some(session), Some(account)) => {
                viewer.i18n = I18n {
                    locale: language(&parts.headers, Some(&account)),
                };
                viewer.account = Some(account.clone());
                Ok(Enrollee {
                    person: Person {
                        viewer,
                        session,
                        account,
                    },
                    enrolling: true,
                })
            }
            _ => {
                let next = url_encode(&viewer.here);
                Err(Redirect::to(&format!("/login?next={next}")).into_response())
            }
        }
    }
}

/// Percent-encodes a query value.
pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A path on this site to go on to, from a form or a query: anything else
/// (another site, a scheme, `//host`) is the dashboard.
pub fn local_path(next: Option<&str>) -> String {
    // Visible ASCII only: browsers drop tabs and line breaks from a URL, so
    // "/\t/evil.example" would become "//evil.example", and a line break
    // cannot go into a Location header at all.
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[derive(Deserialize)]
struct Switch {
    to: String,
    back: Option<String>,
}

/// The language switch on every page: remembers the choice and goes back.
async fn switch_language(Query(q): Query<Switch>) -> Response {
    let locale = Locale::parse("to", &q.to).unwrap_or_default();
    let back = local_path(q.back.as_deref());
    let cookie = format!(
        "{LANGUAGE_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax",
        locale.as_str()
    );
    let mut response = Redirect::to(&back).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(SET_COOKIE, v);
    }
    response
}

const CSS: &str = include_str!("../../static/portier.css");
const JS: &str = include_str!("../../static/portier.js");

async fn stylesheet() -> Response {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn script() -> Response {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}

/// Headers every console answer carries: no inline script or style, no
/// framing, no sniffing, pages not cached.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "same-origin");
    if !h.contains_key(CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    response
}

/// An error page in the viewer's language.
#[derive(askama::Template, askama_web::WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub page: Page,
    pub message: String,
}

pub fn error_page(viewer: &Viewer, status: StatusCode, key: &str) -> Response {
    let page = ErrorPage {
        message: viewer.i18n.t(key),
        page: viewer.page(),
    };
    (status, page).into_response()
}

/// The console's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(dashboard::show))
        .merge(auth::router())
        .merge(members::router())
        .merge(import::router())
        .merge(portfolios::router())
        .merge(domains::router())
        .merge(signups::router())
        .merge(audit::router())
        .merge(roles::router())
        .merge(admins::router())
        .merge(groups::router())
        .merge(resources::router())
        .merge(api_tokens::router())
        .merge(settings::router())
        .merge(account::router())
        .merge(two_factor::router())
        .merge(devmail::router())
        .route("/language", get(switch_language))
        .route("/static/portier.css", get(stylesheet))
        .route("/static/portier.js", get(script))
        .layer(axum::middleware::from_fn(security_headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> std::collections::BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next())
            .map(|k| k.trim().to_owned())
            .collect()
    }

    #[test]
    fn english_and_dutch_have_the_same_texts() {
        let en = keys(include_str!("../../locales/en/console.ftl"));
        let nl = keys(include_str!("../../locales/nl/console.ftl"));
        assert_eq!(
            en.symmetric_difference(&nl).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
        let t = I18n { locale: Locale::Nl };
        assert_eq!(t.t("login-title"), "Aanmelden");
        assert_eq!(t.t1("rule-length", "count", "8"), "minstens 8 tekens");
    }

    #[test]
    fn dates_read_as_each_language_writes_them() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-05T08:04:09Z")
            .unwrap()
            .to_utc();
        let (en, nl) = (I18n { locale: Locale::En }, I18n { locale: Locale::Nl });
        assert_eq!(en.date(at), "5 March 2026");
        assert_eq!(nl.date(at), "5 maart 2026");
        assert_eq!(en.moment(at), "5 Mar 2026 08:04:09 UTC");
        assert_eq!(nl.moment(at), "5 mrt 2026 08:04:09 UTC");
    }

    #[test]
    fn the_language_is_the_chosen_one_else_the_accounts_else_the_browsers() {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr-FR, nl;q=0.8, en;q=0.5"),
        );
        assert_eq!(language(&h, None), Locale::Nl);
        h.insert(COOKIE, HeaderValue::from_static("portier_lang=en"));
        assert_eq!(language(&h, None), Locale::En);
        assert_eq!(language(&HeaderMap::new(), None), Locale::En);
    }

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(
            local_path(Some("/orgs/1/members?q=a")),
            "/orgs/1/members?q=a"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "/\n/evil.example",
            "/ /x",
            "/caf\u{e9}",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
