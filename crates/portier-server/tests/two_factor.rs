//! Two-step verification (docs/RULES.md#two-step-verification): setting up
//! an authenticator app (codes computed by `oathtool` from Debian, as a
//! phone would), the sign-in's second step, replayed and wrong codes,
//! recovery codes, turning it off, an administrator's reset, and the member
//! list's `two_factor`, on both backends.

mod common;

use common::{GOOD, TestApp, oathtool};
use portier_core::email::Email;
use portier_core::two_factor::TotpSecret;
use portier_store::both_backends;
use serde_json::{Value, json};

/// The same code computed by Portier's own TOTP.
fn own_code(secret: &str, offset: i64) -> String {
    let at = chrono::Utc::now().timestamp() + 30 * offset;
    TotpSecret::from_base32(secret).unwrap().code_at(at as u64)
}

/// A code that is none of the codes within reach now.
fn wrong_code(secret: &str) -> String {
    let near: Vec<String> = (-2..=2).map(|o| own_code(secret, o)).collect();
    (0..10)
        .map(|d| format!("{d}{d}{d}{d}{d}{d}"))
        .find(|c| !near.contains(c))
        .unwrap()
}

/// A person with an authenticator app set up: (session cookie, secret,
/// recovery codes). The confirming code used the current step.
async fn enrolled(app: &TestApp, email: &str, roles: &[&str]) -> (String, String, Vec<String>) {
    let cookie = app.session_in(&app.org_id.clone(), email, roles).await;
    let r = app
        .with_cookie("POST", "/api/v1/me/totp", &cookie, None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let r = app
        .with_cookie(
            "POST",
            "/api/v1/me/totp/confirm",
            &cookie,
            Some(json!({"code": oathtool(&secret, 0)})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (cookie, secret, codes)
}

async fn mfa(app: &TestApp, cookie: &str, body: Value) -> (common::Answer, Option<String>) {
    let r = app
        .client
        .post(format!("{}/api/v1/auth/mfa", app.base))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (TestApp::answer(r).await, set)
}

both_backends! {
    async fn an_authenticator_app_is_set_up_with_a_code_and_then_asked_for_at_every_sign_in(db) {
        let app = TestApp::start(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        let url = r.body["otpauth_url"].as_str().unwrap();
        assert!(url.starts_with("otpauth://totp/Portier:eva%40example.nl?") && url.contains(&format!("secret={secret}")), "{url}");
        assert_eq!(oathtool(&secret, 0), own_code(&secret, 0), "Portier and oathtool agree");
        // Not in force before it is confirmed.
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["mfa_required"], false);
        let me = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(me.body, json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0}));
        // A wrong code does not confirm it; the app's code does.
        let r = app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": wrong_code(&secret)}))).await;
        assert_eq!(r.error(422), ("wrong_code", Some("code")));
        let now = oathtool(&secret, 0);
        let r = app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": now}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let codes: Vec<&str> = r.body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        assert_eq!(codes.len(), 10);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 10);
        // Stored as digests only, never as the codes or the secret shown.
        let stored = portier_store::testing::strings(&app.db.store, "SELECT secret FROM credentials WHERE kind = 'recovery'").await;
        assert!(stored.iter().all(|s| !codes.iter().any(|c| s.contains(c))), "{stored:?}");
        let r = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await;
        assert_eq!(r.error(409).0, "two_factor_active");
        let me = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(me.body, json!({"totp": true, "recovery_codes_left": 10, "passkeys": 0}));
        let list = app.get(&format!("/api/v1/organizations/{}/members?q=eva", app.org_id)).await;
        assert_eq!(list.body["items"][0]["two_factor"], true, "administrators see it");

        // Signing in now stops halfway: the session opens nothing else.
        let (r, half) = app.login("eva@example.nl", GOOD).await;
        assert_eq!((r.status, &r.body["mfa_required"]), (200, &json!(true)));
        let half = half.unwrap();
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &half, None).await.status, 401);
        assert_eq!(app.with_cookie("POST", "/api/v1/me/totp", &half, None).await.status, 401);
        // The code that confirmed the app was used: refused as a replay.
        let (r, _) = mfa(&app, &half, json!({"code": now})).await;
        assert_eq!(r.error(422), ("code_used", Some("code")));
        let (r, full) = mfa(&app, &half, json!({"code": oathtool(&secret, 1)})).await;
        assert_eq!((r.status, &r.body["mfa_required"]), (200, &json!(false)), "{}", r.body);
        let full = full.unwrap();
        assert_ne!(full, half, "a new session id for the signed-in session");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &full, None).await.status, 200);
        // The half session is gone; its step cannot be taken twice.
        let (r, _) = mfa(&app, &half, json!({"code": oathtool(&secret, 1)})).await;
        assert_eq!(r.error(401).0, "no_sign_in_started");
        let (r, _) = mfa(&app, &full, json!({"code": oathtool(&secret, 1)})).await;
        assert_eq!(r.status, 401, "a signed-in session has no second step to take");
        let (r, _) = mfa(&app, &half, json!({"code": "123456", "recovery_code": "x"})).await;
        assert_eq!(r.error(401).0, "no_sign_in_started", "who first, then what was sent");
        let (_, again) = app.login("eva@example.nl", GOOD).await;
        let (r, _) = mfa(&app, again.as_ref().unwrap(), json!({"code": "123456", "recovery_code": "x"})).await;
        assert_eq!(r.error(422).1, Some("code"), "one of the two");
    }

    async fn wrong_codes_are_limited_like_passwords_and_a_reset_does_not_skip_the_second_step(db) {
        let app = TestApp::start(db).await;
        let (_, secret, _) = enrolled(&app, "eva@example.nl", &["member"]).await;
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let half = half.unwrap();
        let right = oathtool(&secret, 1);
        let wrong = wrong_code(&secret);
        for _ in 0..5 {
            let (r, _) = mfa(&app, &half, json!({"code": wrong})).await;
            assert_eq!(r.error(422), ("wrong_code", Some("code")));
        }
        let (r, _) = mfa(&app, &half, json!({"code": right})).await;
        assert_eq!(r.status, 429, "five wrong codes: even the right one waits");
        assert!(r.headers.get("retry-after").is_some());
        portier_store::testing::execute(&app.db.store, "DELETE FROM throttles").await;
        // Guesses sent all at once count all the same: five are checked.
        let guesses = (0..20).map(|_| mfa(&app, &half, json!({"code": wrong.clone()})));
        let answers = common::all_at_once(guesses).await;
        let checked = answers.iter().filter(|(r, _)| r.status == 422).count();
        let refused = answers.iter().filter(|(r, _)| r.status == 429).count();
        assert_eq!((checked, refused), (5, 15));
        portier_store::testing::execute(&app.db.store, "DELETE FROM throttles").await;

        // A new password by mail still leads to the second step.
        let r = app.call("POST", "/api/v1/auth/password-reset", None, Some(json!({"email": "eva@example.nl"}))).await;
        assert_eq!(r.status, 202);
        let token = app.mail_link("eva@example.nl", "/reset/").await;
        let r = app.call("POST", &format!("/api/v1/auth/password-reset/{token}"), None, Some(json!({"password": "Nw9!qPz4#sLm"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(r.headers.get("set-cookie").is_none(), "a reset signs nobody in");
        let (r, _) = app.login("eva@example.nl", "Nw9!qPz4#sLm").await;
        assert_eq!(r.body["mfa_required"], true);
    }

    async fn a_recovery_code_works_once_is_audited_and_mailed(db) {
        let app = TestApp::start(db).await;
        let (_, _, codes) = enrolled(&app, "eva@example.nl", &["member"]).await;
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let half = half.unwrap();
        // As typed from paper: upper case, spaces for dashes.
        let typed = codes[3].to_uppercase().replace('-', " ");
        let (r, full) = mfa(&app, &half, json!({"recovery_code": typed})).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let full = full.unwrap();
        let me = app.with_cookie("GET", "/api/v1/me/two-factor", &full, None).await;
        assert_eq!(me.body["recovery_codes_left"], 9);
        let mails = portier_store::mail::recent(&app.db.store, Some(&Email::parse("eva@example.nl").unwrap()), 5).await.unwrap();
        assert_eq!(mails[0].kind, "recovery_code_used");
        assert!(mails[0].body_text.contains("/account/two-factor"), "{}", mails[0].body_text);
        let actions = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events ORDER BY seq").await;
        assert!(actions.contains(&"account.recovery_code_used".to_owned()) && actions.contains(&"account.two_factor_enabled".to_owned()), "{actions:?}");
        // Used up.
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let half = half.unwrap();
        let (r, _) = mfa(&app, &half, json!({"recovery_code": codes[3]})).await;
        assert_eq!(r.error(422), ("wrong_code", Some("recovery_code")));
        let (r, _) = mfa(&app, &half, json!({"recovery_code": codes[4]})).await;
        assert_eq!(r.status, 200);
    }

    async fn new_recovery_codes_and_turning_it_off_ask_for_a_current_code(db) {
        let app = TestApp::start(db).await;
        let (cookie, secret, old) = enrolled(&app, "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(json!({"code": "12"}))).await;
        assert_eq!(r.error(422), ("wrong_code", Some("code")));
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(json!({"code": oathtool(&secret, 1)}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let new: Vec<String> = r.body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
        assert!(new.iter().all(|c| !old.contains(c)));
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let (r, _) = mfa(&app, half.as_ref().unwrap(), json!({"recovery_code": old[0]})).await;
        assert_eq!(r.status, 422, "the old codes stopped working");
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &cookie, Some(json!({"code": oathtool(&secret, 1)}))).await;
        assert_eq!(r.error(422).0, "code_used");
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &cookie, Some(json!({}))).await;
        assert_eq!(r.error(422).1, Some("code"), "the code is required");
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &cookie, Some(json!({"code": oathtool(&secret, -1)}))).await;
        assert_eq!(r.error(422).0, "code_used", "an older step after a newer one");
        // Half a minute on, as far as the app is concerned.
        portier_store::testing::execute(&app.db.store, "UPDATE credentials SET last_step = NULL").await;
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &cookie, Some(json!({"code": oathtool(&secret, 0)}))).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["mfa_required"], false);
        let left = portier_store::testing::strings(&app.db.store, "SELECT kind FROM credentials WHERE kind <> 'password'").await;
        assert!(app.with_cookie("GET", "/api/v1/me", &cookie, None).await.status == 200, "the session stays");
        assert!(left.is_empty(), "{left:?}");
    }

    async fn an_administrator_resets_a_members_second_factor_but_never_sees_it(db) {
        let app = TestApp::start(db).await;
        let (_, _, _) = enrolled(&app, "eva@example.nl", &["member"]).await;
        let eva = app.get(&format!("/api/v1/organizations/{}/members?q=eva", app.org_id)).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let (_, _, _) = enrolled(&app, "boss@example.nl", &["administrator"]).await;
        let boss = app.get(&format!("/api/v1/organizations/{}/members?q=boss", app.org_id)).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        let reset = |who: &str| format!("/api/v1/organizations/{}/members/{who}/reset-two-factor", app.org_id);
        let member = app.session_in(&app.org_id.clone(), "m@example.nl", &["member"]).await;
        assert_eq!(app.with_cookie("POST", &reset(&eva), &member, None).await.status, 403);
        // An administrator's is administrators' business
        // (docs/RULES.md#administrators).
        let r = app.with_cookie("POST", &reset(&boss), &manager, None).await;
        assert_eq!(r.error(403).0, "forbidden");
        let r = app.with_cookie("POST", &reset(&eva), &manager, None).await;
        assert_eq!((r.status, &r.body), (200, &json!({"reset": true})));
        let r = app.with_cookie("POST", &reset(&eva), &manager, None).await;
        assert_eq!(r.body, json!({"reset": false}), "nothing left to reset");
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["mfa_required"], false);
        let mails = portier_store::mail::recent(&app.db.store, Some(&Email::parse("eva@example.nl").unwrap()), 1).await.unwrap();
        assert_eq!(mails[0].kind, "two_factor_reset");
        assert!(mails[0].body_text.contains("Acme"), "{}", mails[0].body_text);
        let audit = app.get(&format!("/api/v1/organizations/{}/audit?action=member.two_factor_reset", app.org_id)).await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 1, "{}", audit.body);
        assert_eq!(app.call("POST", &reset(&boss), Some(&app.token.clone()), None).await.body, json!({"reset": true}));
        // Another environment's administrator learns nothing.
        let (elders, other) = TestApp::environment(&app.db, "Elders").await;
        assert_eq!(app.call("POST", &reset(&eva), Some(&other), None).await.status, 404);
        // Eva set it up again and belongs to Elders too: Acme's administrators
        // no longer reach all of her sign-in, and Elders' cannot through
        // their own organization either.
        let cookie = app.login("eva@example.nl", GOOD).await.1.unwrap();
        let secret = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await.body["secret"].as_str().unwrap().to_owned();
        assert_eq!(app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": oathtool(&secret, 0)}))).await.status, 200);
        let r = app.call("POST", &format!("/api/v1/organizations/{elders}/members"), Some(&other), Some(json!({"email": "eva@example.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(app.call("POST", &reset(&eva), Some(&app.token.clone()), None).await.error(403).0, "member_elsewhere");
        let theirs = format!("/api/v1/organizations/{elders}/members/{eva}/reset-two-factor");
        assert_eq!(app.call("POST", &theirs, Some(&other), None).await.error(403).0, "member_elsewhere");
        let end = format!("/api/v1/organizations/{}/members/{eva}/end-sessions", app.org_id);
        assert_eq!(app.call("POST", &end, Some(&app.token.clone()), None).await.error(403).0, "member_elsewhere");
        assert_eq!(app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await.body["totp"], true, "nothing changed");
    }

    async fn an_organization_that_requires_it_makes_members_set_it_up_before_anything_else(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let r = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": "Ward 3", "parent_id": org}))).await;
        let ward = r.body["id"].as_str().unwrap().to_owned();
        app.person_in(&ward, "eva@example.nl", &["member"]).await;
        let (r, before) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], false);
        let before = before.unwrap();
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &before, None).await.status, 200);
        let path = format!("/api/v1/organizations/{org}");
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true, "settings": {"require_two_factor": false}}))).await;
        assert_eq!(r.error(422).1, Some("require_two_factor"));
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true}))).await;
        assert_eq!((r.status, &r.body["settings"]["require_two_factor"]), (200, &json!(true)), "{}", r.body);

        // A session open when it was switched on must set it up first too.
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &before, None).await.error(403).0, "two_factor_setup_required");
        assert_eq!(app.with_cookie("GET", "/api/v1/me/two-factor", &before, None).await.status, 200);
        // Eva belongs to the ward below: the environment's rule holds there.
        let (r, enrol) = app.login("eva@example.nl", GOOD).await;
        assert_eq!((&r.body["mfa_required"], &r.body["two_factor_setup_required"]), (&json!(false), &json!(true)));
        let enrol = enrol.unwrap();
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &enrol, None).await.error(403).0, "two_factor_setup_required", "nothing else works");
        assert_eq!(app.with_cookie("GET", &format!("/api/v1/organizations/{ward}/members"), &enrol, None).await.error(403).0, "two_factor_setup_required");
        assert_eq!(app.with_cookie("GET", "/api/v1/me/two-factor", &enrol, None).await.body["totp"], false);
        let r = app.with_cookie("POST", "/api/v1/me/totp", &enrol, None).await;
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        let r = app
            .client
            .post(format!("{}/api/v1/me/totp/confirm", app.base))
            .header("cookie", &enrol)
            .json(&json!({"code": oathtool(&secret, 0)}))
            .send()
            .await
            .unwrap();
        let full = r.headers().get("set-cookie").map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned()).expect("signed in now");
        assert_eq!(TestApp::answer(r).await.body["recovery_codes"].as_array().unwrap().len(), 10);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &full, None).await.status, 200);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &enrol, None).await.status, 401, "the old id is gone");
        // It cannot be turned off while required; the next sign-in asks for a code.
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &full, Some(json!({"code": oathtool(&secret, 1)}))).await;
        assert_eq!(r.error(409).0, "two_factor_required");
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!((&r.body["mfa_required"], &r.body["two_factor_setup_required"]), (&json!(true), &json!(false)));
        // Another environment that does not require it changes nothing; the
        // strictest applies.
        let (other, token) = TestApp::environment(&app.db, "Elders").await;
        app.call("POST", &format!("/api/v1/organizations/{other}/members"), Some(&token), Some(json!({"email": "eva@example.nl"}))).await;
        assert!(portier_store::two_factor::required(&app.db.store, portier_core::ids::AccountId(uuid::Uuid::parse_str(r.body["account_id"].as_str().unwrap()).unwrap())).await.unwrap());
        // Leaving the requiring organization lifts it.
        let eva = r.body["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{ward}/members/{eva}/deactivate"), Some(&app.token.clone()), None).await.status, 200);
        assert!(!portier_store::two_factor::required(&app.db.store, portier_core::ids::AccountId(uuid::Uuid::parse_str(&eva).unwrap())).await.unwrap());
    }

    async fn an_administrator_requires_it_of_one_member(db) {
        let app = TestApp::start(db).await;
        let eva = app.person("eva@example.nl", &["member"]).await;
        let path = format!("/api/v1/organizations/{}/members/{eva}", app.org_id);
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": "yes"}))).await;
        assert_eq!(r.error(422).1, Some("require_two_factor"));
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["member"]["require_two_factor"], true);
        let audit = app.get(&format!("/api/v1/organizations/{}/audit?action=member.updated", app.org_id)).await;
        assert!(audit.body["items"][0]["changes"].to_string().contains("require_two_factor"), "{}", audit.body);
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], true);
        // Others in the organization are not asked.
        app.person("sam@example.nl", &["member"]).await;
        let (r, _) = app.login("sam@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], false);
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": false}))).await;
        assert_eq!(r.body["member"]["require_two_factor"], false);
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], false);
    }

    async fn the_overview_shows_who_has_it_and_the_share(db) {
        let app = TestApp::start(db).await;
        enrolled(&app, "eva@example.nl", &["member"]).await;
        app.person("sam@example.nl", &["member"]).await;
        app.add_member(json!({"email": "new@example.nl"})).await;
        let base = format!("/api/v1/organizations/{}/members", app.org_id);
        let emails = |body: &Value| -> Vec<String> { body["items"].as_array().unwrap().iter().map(|i| i["email"].as_str().unwrap().to_owned()).collect() };
        assert_eq!(emails(&app.get(&format!("{base}?two_factor=true")).await.body), vec!["eva@example.nl"]);
        let without = emails(&app.get(&format!("{base}?two_factor=false")).await.body);
        assert_eq!(without.len(), 3, "{without:?}");
        assert!(!without.contains(&"eva@example.nl".to_owned()));
        assert_eq!(app.get(&format!("{base}?two_factor=maybe")).await.error(422).1, Some("two_factor"));
        let stats = app.get(&format!("/api/v1/organizations/{}/statistics", app.org_id)).await;
        // The bootstrap administrator (invited), Eva and Sam (active), new (invited).
        assert_eq!(stats.body, json!({"members": 4, "invited": 2, "active": 2, "deactivated": 0, "two_factor": 1, "two_factor_share": 0.25}));
        let (_, other) = TestApp::environment(&app.db, "Elders").await;
        assert_eq!(app.call("GET", &format!("/api/v1/organizations/{}/statistics", app.org_id), Some(&other), None).await.status, 404);
    }
}
