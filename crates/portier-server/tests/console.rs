//! The console's pages over real HTTP, on both backends: signing in and out,
//! activating from the invitation mail, a new password from a reset link,
//! the dashboard, the language, and the headers every page carries. (The
//! browser tests in `e2e/` walk the same flows in Chromium.)

mod common;

use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::json;

/// A client that does not follow redirects and keeps no cookies.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    html: String,
}

async fn get(app: &TestApp, path: &str, cookie: Option<&str>, lang: Option<&str>) -> Page {
    let mut req = browser().get(format!("{}{path}", app.base));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(l) = lang {
        req = req.header("accept-language", l);
    }
    let r = req.send().await.unwrap();
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.unwrap(),
    }
}

async fn post(app: &TestApp, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
    let mut req = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.unwrap(),
    }
}

fn session_cookie(p: &Page) -> String {
    p.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

both_backends! {
    async fn an_invited_person_activates_in_the_console_and_lands_on_the_dashboard(db) {
        let app = TestApp::start(db).await;
        app.add_member(json!({"email": "anna@example.nl", "given_name": "Anna", "family_name": "Jansen"})).await;
        let token = app.mail_link("anna@example.nl", "/activate/").await;
        let form = get(&app, &format!("/activate/{token}"), None, Some("nl-NL,nl;q=0.9")).await;
        assert_eq!(form.status, 200);
        assert!(form.html.contains("<html lang=\"nl\">"), "Dutch from Accept-Language");
        assert!(form.html.contains("Acme heeft anna@example.nl uitgenodigd"), "{}", form.html);
        assert!(form.html.contains("minstens 8 tekens"));
        let weak = post(&app, &format!("/activate/{token}"), None, &[("password", "anna")]).await;
        assert_eq!(weak.status, 422);
        assert!(weak.html.contains("role=\"alert\""), "every unmet rule is explained");
        assert!(weak.html.contains("at least 8"), "{}", weak.html);
        let done = post(&app, &format!("/activate/{token}"), None, &[("password", GOOD)]).await;
        assert_eq!((done.status, done.headers["location"].to_str().unwrap()), (303, "/"));
        let cookie = session_cookie(&done);
        let dashboard = get(&app, "/", Some(&cookie), None).await;
        assert_eq!(dashboard.status, 200);
        assert!(dashboard.html.contains("Acme") && dashboard.html.contains("Anna Jansen"), "{}", dashboard.html);
        let again = get(&app, &format!("/activate/{token}"), None, None).await;
        assert_eq!(again.status, 410);
        assert!(again.html.contains("already been used"), "a used link says what happened and what to do");
    }

    async fn signing_in_and_out_in_the_console(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &["member"]).await;
        let signed_out = get(&app, "/", None, None).await;
        assert_eq!((signed_out.status, signed_out.headers["location"].to_str().unwrap()), (303, "/login?next=/"));
        let wrong = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", "wrong"), ("next", "/")]).await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.html.contains("The e-mail address or the password is not right."));
        let unknown = post(&app, "/login", None, &[("email", "nobody@example.nl"), ("password", "wrong"), ("next", "/")]).await;
        assert_eq!(unknown.status, 401);
        assert_eq!(unknown.html.replace("nobody@example.nl", "X"), wrong.html.replace("sam@example.nl", "X"), "an unknown address answers alike");
        let ok = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", GOOD), ("next", "https://evil.example/")]).await;
        assert_eq!((ok.status, ok.headers["location"].to_str().unwrap()), (303, "/"), "never off to another site");
        let cookie = session_cookie(&ok);
        assert!(ok.headers["set-cookie"].to_str().unwrap().contains("HttpOnly"));
        assert_eq!(get(&app, "/", Some(&cookie), None).await.status, 200);
        let out = post(&app, "/logout", Some(&cookie), &[]).await;
        assert_eq!((out.status, out.headers["location"].to_str().unwrap()), (303, "/login?signed_out=1"));
        assert_eq!(get(&app, "/", Some(&cookie), None).await.status, 303, "the session ended");
        let page = get(&app, "/login?signed_out=1", None, None).await;
        assert!(page.html.contains("You are signed out."));
    }

    async fn a_reset_link_sets_a_new_password_once_and_the_request_reveals_nothing(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &["member"]).await;
        let known = post(&app, "/reset", None, &[("email", "sam@example.nl")]).await;
        let unknown = post(&app, "/reset", None, &[("email", "nobody@example.nl")]).await;
        assert_eq!((known.status, unknown.status), (200, 200));
        assert_eq!(known.html.replace("sam@example.nl", "X"), unknown.html.replace("nobody@example.nl", "X"), "the same answer either way");
        let token = app.mail_link("sam@example.nl", "/reset/").await;
        let form = get(&app, &format!("/reset/{token}"), None, None).await;
        assert!(form.html.contains("sam@example.nl"));
        let done = post(&app, &format!("/reset/{token}"), None, &[("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(done.status, 200);
        assert!(done.html.contains("Your password is changed"));
        let used = post(&app, &format!("/reset/{token}"), None, &[("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(used.status, 410);
        assert!(used.html.contains("href=\"/reset\""), "a used reset link offers a new one");
        let signed = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(signed.status, 303);
    }

    async fn every_page_carries_strict_headers_and_forms_from_other_sites_are_refused(db) {
        let app = TestApp::start(db).await;
        let page = get(&app, "/login", None, None).await;
        assert_eq!(page.status, 200);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(!page.html.contains("<script>") && !page.html.contains("style="), "no inline script or style");
        let css = get(&app, "/static/portier.css", None, None).await;
        assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
        let forged = browser()
            .post(format!("{}/login", app.base))
            .header("origin", "https://evil.example")
            .form(&[("email", "a@example.nl"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
        let switch = get(&app, "/language?to=nl&back=/login", None, None).await;
        assert_eq!((switch.status, switch.headers["location"].to_str().unwrap()), (303, "/login"));
        let cookie = switch.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let dutch = get(&app, "/login", Some(&cookie), Some("en")).await;
        assert!(dutch.html.contains("Aanmelden"), "the switch wins over the browser's language");
        let away = get(&app, "/language?to=nl&back=https://evil.example", None, None).await;
        assert_eq!(away.headers["location"], "/");
    }
}
