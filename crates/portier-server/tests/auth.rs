//! Sign-in, sessions, `/me`, password reset and throttling through real HTTP,
//! on both backends.

mod common;

use std::time::Duration;

use common::{GOOD, TestApp};
use portier_core::email::Email;
use portier_store::both_backends;
use serde_json::json;

both_backends! {
    async fn a_person_signs_in_sees_themselves_and_signs_out(db) {
        let app = TestApp::start(db).await;
        let id = app.person("sam@example.nl", &["user-manager"]).await;
        let (r, cookie) = app.login(" SAM@example.nl ", GOOD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["account_id"], id.as_str());
        assert_eq!(r.body["mfa_required"], false);
        assert_eq!(r.headers["cache-control"], "no-store");
        let set = r.headers["set-cookie"].to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/"), "{set}");
        let cookie = cookie.unwrap();
        let me = app.with_cookie("GET", "/api/v1/me", &cookie, None).await;
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.body["email"], "sam@example.nl");
        assert_eq!(me.body["organizations"], json!([{"id": app.org_id, "name": "Acme", "active": true, "roles": ["user-manager"]}]));
        // The session works on the organization routes with the person's rights.
        let members = app.with_cookie("GET", &format!("/api/v1/organizations/{}/members", app.org_id), &cookie, None).await;
        assert_eq!(members.status, 200);
        let patch = app.with_cookie("PATCH", &format!("/api/v1/organizations/{}", app.org_id), &cookie, Some(json!({"name": "X"}))).await;
        assert_eq!(patch.error(403).0, "forbidden", "a user manager may not rename the organization");
        let out = app.with_cookie("POST", "/api/v1/auth/logout", &cookie, None).await;
        assert_eq!(out.status, 204);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &cookie, None).await.error(401).0, "unauthenticated");
        assert_eq!(app.call("GET", "/api/v1/me", Some(&app.token.clone()), None).await.error(403).0, "person_required");
    }

    async fn an_unknown_address_and_a_wrong_password_answer_alike(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        let (wrong, c1) = app.login("sam@example.nl", "Wrong-password-1").await;
        let (unknown, c2) = app.login("nobody@example.nl", "Wrong-password-1").await;
        assert_eq!((wrong.status, unknown.status), (401, 401));
        assert_eq!(wrong.body, unknown.body);
        assert!(c1.is_none() && c2.is_none());
        let (invited, _) = app.login("admin@acme.example", "anything").await;
        assert_eq!(invited.body, unknown.body, "a not yet activated account answers like an unknown one");
        let (bad, _) = app.login("not an address", "x").await;
        assert_eq!(bad.error(422).1, Some("email"));
    }

    async fn repeated_failures_are_throttled_with_retry_after(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        for _ in 0..5 {
            assert_eq!(app.login("sam@example.nl", "Wrong-password-1").await.0.status, 401);
        }
        let (r, cookie) = app.login("sam@example.nl", GOOD).await;
        assert_eq!(r.error(429).0, "throttled", "even the right password waits out the window");
        assert!(cookie.is_none());
        let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(wait > 0 && wait <= 15 * 60, "{wait}");
        // The window passes: the owner gets in again.
        portier_store::testing::execute(&app.db.store, "UPDATE throttles SET window_start = '2000-01-01T00:00:00Z'").await;
        assert_eq!(app.login("sam@example.nl", GOOD).await.0.status, 200);
        // Guesses sent all at once count all the same: five are checked,
        // the rest refused unchecked.
        let guesses = (0..20).map(|_| app.login("sam@example.nl", "Wrong-password-1"));
        let answers = common::all_at_once(guesses).await;
        let checked = answers.iter().filter(|(r, _)| r.status == 401).count();
        let refused = answers.iter().filter(|(r, _)| r.status == 429).count();
        assert_eq!((checked, refused), (5, 15));
    }

    async fn a_reset_link_sets_a_new_password_once_and_ends_every_session(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        let (_, cookie) = app.login("sam@example.nl", GOOD).await;
        let cookie = cookie.unwrap();
        let r = app.call("POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "nobody@example.nl"}))).await;
        assert_eq!(r.status, 202);
        let r = app.call("POST", "/api/v1/auth/password-reset", None, Some(json!({"email": " Sam@Example.nl"}))).await;
        assert_eq!(r.status, 202);
        let token = app.mail_link("sam@example.nl", "/reset/").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(portier_store::mail::recent(&app.db.store, Some(&Email::parse("nobody@example.nl").unwrap()), 5).await.unwrap().is_empty(), "nothing goes to unknown addresses");
        let path = format!("/api/v1/auth/password-reset/{token}");
        assert_eq!(app.call("POST", &path, None, Some(json!({"password": "short"}))).await.error(422).1, Some("password"));
        let r = app.call("POST", &path, None, Some(json!({"password": "Nw7#pLq9!vRt2"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(app.call("POST", &path, None, Some(json!({"password": "Nw7#pLq9!vRt2"}))).await.error(410).0, "link_used");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &cookie, None).await.status, 401, "the old session ended");
        assert_eq!(app.login("sam@example.nl", GOOD).await.0.status, 401);
        assert_eq!(app.login("sam@example.nl", "Nw7#pLq9!vRt2").await.0.status, 200);
    }

    async fn a_deactivated_member_cannot_sign_in_even_with_the_right_password(db) {
        let app = TestApp::start(db).await;
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&app.token.clone()), Some(json!({"email": "off@example.nl", "active": false}))).await;
        assert_eq!(r.status, 201);
        // No invitation; the person uses "Forgot password" to set one.
        app.call("POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "off@example.nl"}))).await;
        let token = app.mail_link("off@example.nl", "/reset/").await;
        assert_eq!(app.call("POST", &format!("/api/v1/auth/password-reset/{token}"), None, Some(json!({"password": GOOD}))).await.status, 200);
        let (r, cookie) = app.login("off@example.nl", GOOD).await;
        assert_eq!(r.error(401).0, "account_inactive");
        assert!(cookie.is_none());
    }

    async fn the_person_changes_their_profile_and_password(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        let (_, a) = app.login("sam@example.nl", GOOD).await;
        let (_, b) = app.login("sam@example.nl", GOOD).await;
        let (a, b) = (a.unwrap(), b.unwrap());
        let r = app.with_cookie("PATCH", "/api/v1/me", &a, Some(json!({"family_name": "de Wit", "infix": null, "locale": "nl"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["display_name"], "Sam de Wit");
        assert_eq!(r.body["locale"], "nl");
        let found = app.get(&format!("/api/v1/organizations/{}/members?q=de%20wit", app.org_id)).await;
        assert_eq!(found.body["items"][0]["display_name"], "Sam de Wit", "the list finds the new name at once");
        let r = app.with_cookie("PATCH", "/api/v1/me", &a, Some(json!({"new_password": "Nw7#pLq9!vRt2"}))).await;
        assert_eq!(r.error(422).1, Some("current_password"));
        let r = app.with_cookie("PATCH", "/api/v1/me", &a, Some(json!({"new_password": "Nw7#pLq9!vRt2", "current_password": "nope"}))).await;
        assert_eq!(r.error(422), ("current_password_wrong", Some("current_password")));
        let r = app.with_cookie("PATCH", "/api/v1/me", &a, Some(json!({"new_password": "abc", "current_password": GOOD}))).await;
        let (code, field) = r.error(422);
        assert_eq!((code, field), ("password_too_short", Some("new_password")));
        assert!(r.body["error"]["message"].as_str().unwrap().contains("gebruik minstens"), "in the person's language");
        let r = app.with_cookie("PATCH", "/api/v1/me", &a, Some(json!({"new_password": "Nw7#pLq9!vRt2", "current_password": GOOD}))).await;
        assert_eq!(r.status, 200);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &a, None).await.status, 200, "this session stays");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &b, None).await.status, 401, "the other one ends");
    }

    async fn guesses_at_the_current_password_are_limited_like_sign_ins(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        let (_, cookie) = app.login("sam@example.nl", GOOD).await;
        let cookie = cookie.unwrap();
        let guess = |current: &str| json!({"new_password": "Nw7#pLq9!vRt2", "current_password": current});
        for i in 0..5 {
            let r = app.with_cookie("PATCH", "/api/v1/me", &cookie, Some(guess(&format!("Guess-{i}-x9")))).await;
            assert_eq!(r.error(422).0, "current_password_wrong", "guess {i}");
        }
        // Then even the right one waits: a stolen session cannot guess on.
        let r = app.with_cookie("PATCH", "/api/v1/me", &cookie, Some(guess(GOOD))).await;
        assert_eq!(r.error(429).0, "throttled");
        assert!(r.headers.contains_key("retry-after"));
        // The console's form counts against the same limit.
        let page = common::browser::post(&app, "/account/password", Some(&cookie), &[("current_password", GOOD), ("password", "Nw7#pLq9!vRt2")]).await;
        assert_eq!(page.status, 429, "{}", page.html);
    }

    async fn cross_site_requests_with_the_cookie_are_refused(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &[]).await;
        let (_, cookie) = app.login("sam@example.nl", GOOD).await;
        let cookie = cookie.unwrap();
        let url = format!("{}/api/v1/me", app.base);
        let r = app.client.patch(&url).header("cookie", &cookie).header("origin", "https://evil.example").json(&json!({"given_name": "Pwned"})).send().await.unwrap();
        let r = TestApp::answer(r).await;
        assert_eq!(r.error(403).0, "cross_site_request");
        let r = app.client.patch(&url).header("cookie", &cookie).header("sec-fetch-site", "cross-site").json(&json!({"given_name": "Pwned"})).send().await.unwrap();
        assert_eq!(r.status(), 403);
        let r = app.client.patch(&url).header("cookie", &cookie).header("origin", &app.base).json(&json!({"given_name": "Ok"})).send().await.unwrap();
        assert_eq!(r.status(), 200, "same origin passes");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &cookie, None).await.body["given_name"], "Ok");
    }
}
