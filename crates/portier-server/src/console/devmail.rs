//! The development mailbox: with no SMTP server configured, mail stays in
//! the database, and this page shows it, with its links, to whoever sits at
//! the machine Portier runs on, so a newcomer can follow an invitation end to
//! end. Anyone else (another machine, or a request through a proxy) finds
//! nothing here, and nothing at all is here once SMTP is configured.

use std::net::SocketAddr;

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portier_core::email::Email;
use serde::Deserialize;

use super::{Page, Viewer, error_page};
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/dev/mail", get(mailbox))
}

/// Whether the request comes straight from this machine: a loopback peer,
/// and no proxy in between (a proxy on this machine would make every
/// client look local).
fn from_this_machine(peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
    let proxied = ["forwarded", "x-forwarded-for", "x-real-ip"]
        .iter()
        .any(|h| headers.contains_key(*h));
    peer.is_some_and(|p| p.ip().is_loopback()) && !proxied
}

pub struct Mail {
    pub at: String,
    pub to: String,
    pub subject: String,
    pub status: String,
    /// The links in the text, to open.
    pub links: Vec<String>,
    pub text: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "devmail.html")]
pub struct MailboxPage {
    pub page: Page,
    pub to: String,
    pub mails: Vec<Mail>,
}

#[derive(Deserialize, Default)]
pub struct MailQuery {
    to: Option<String>,
}

/// The links of a mail's text.
fn links(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.trim_start_matches(['(', '<']))
        .filter(|w| w.starts_with("http://") || w.starts_with("https://"))
        .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_owned())
        .collect()
}

async fn mailbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<MailQuery>,
    parts: axum::http::request::Parts,
) -> Response {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if !state.config.dev_mailbox || !from_this_machine(peer, &parts.headers) {
        return error_page(&viewer, StatusCode::NOT_FOUND, "error-not-found");
    }
    let to_typed = q.to.unwrap_or_default();
    let to = Email::parse(&to_typed).ok();
    let recent = portier_store::mail::recent(&state.store, to.as_ref(), 50).await;
    let mails = match recent {
        Ok(m) => m,
        Err(e) => return ApiError::from(e).into_response(),
    };
    MailboxPage {
        mails: mails
            .into_iter()
            .map(|m| Mail {
                at: viewer.i18n.moment(m.created_at),
                links: links(&m.body_text),
                to: m.to_address,
                subject: m.subject,
                status: m.status,
                text: m.body_text,
            })
            .collect(),
        to: to_typed,
        page: viewer.page(),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_machine_without_a_proxy_sees_the_mailbox() {
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let local6: SocketAddr = "[::1]:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let none = HeaderMap::new();
        assert!(from_this_machine(Some(local), &none));
        assert!(from_this_machine(Some(local6), &none));
        assert!(!from_this_machine(Some(remote), &none));
        assert!(!from_this_machine(None, &none));
        let mut proxied = HeaderMap::new();
        proxied.insert("x-forwarded-for", "192.0.2.7".parse().unwrap());
        assert!(!from_this_machine(Some(local), &proxied));
    }

    #[test]
    fn the_links_of_a_mail_are_found() {
        let text = "Choose a password: https://portier.example/activate/abc.\nOr see (http://x.example/y).";
        assert_eq!(
            links(text),
            vec!["https://portier.example/activate/abc", "http://x.example/y"]
        );
    }
}
