//! Passkeys (docs/RULES.md#two-step-verification) with a software
//! authenticator (webauthn-rs's own `SoftPasskey`, which signs as a device
//! would): adding, naming, listing, removing; the second step of a sign-in;
//! signing in with a passkey alone; a ceremony started on one node and
//! answered on another; replayed, foreign and forged answers; the
//! requirement; an administrator's reset. On both backends.

mod common;

use common::passkey::{Held, create, device, get, get_discoverable, with_passkeys};
use common::{GOOD, TestApp};
use portier_core::email::Email;
use portier_store::both_backends;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

async fn app(db: portier_store::testing::TestDb) -> TestApp {
    TestApp::start_with(db, with_passkeys).await
}

/// Adds a passkey made by `device` to the person of `cookie`; the answer.
async fn add(app: &TestApp, cookie: &str, device: &mut SoftPasskey, name: Option<&str>) -> Value {
    add_held(app, cookie, device, name).await.0
}

/// [`add`], and what the device now holds.
async fn add_held(
    app: &TestApp,
    cookie: &str,
    device: &mut SoftPasskey,
    name: Option<&str>,
) -> (Value, Held) {
    let r = app
        .with_cookie("POST", "/api/v1/me/passkeys", cookie, None)
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let credential = create(device, &r.body["options"]);
    let held = Held {
        credential_id: credential["id"].as_str().unwrap().to_owned(),
        user_handle: r.body["options"]["publicKey"]["user"]["id"].clone(),
    };
    let mut body = json!({"ceremony_id": r.body["ceremony_id"], "credential": credential});
    if let Some(n) = name {
        body["name"] = n.into();
    }
    let r = app
        .with_cookie("POST", "/api/v1/me/passkeys/confirm", cookie, Some(body))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    (r.body, held)
}

/// POST with a cookie, returning the answer and the cookie it set.
async fn post(
    app: &TestApp,
    base: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> (common::Answer, Option<String>) {
    let mut req = app.client.post(format!("{base}{path}"));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let set = r
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (TestApp::answer(r).await, set)
}

/// Signs in with the password and completes the second step with `device`;
/// the full session's cookie.
async fn sign_in_with_second_step(app: &TestApp, email: &str, device: &mut SoftPasskey) -> String {
    let (r, half) = app.login(email, GOOD).await;
    assert_eq!(r.body["mfa_required"], true, "{}", r.body);
    let half = half.unwrap();
    let (r, _) = post(
        app,
        &app.base,
        "/api/v1/auth/mfa/passkey",
        Some(&half),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let answer = get(device, &r.body["options"]);
    let (r, full) = post(
        app,
        &app.base,
        "/api/v1/auth/mfa",
        Some(&half),
        Some(json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": answer}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    full.unwrap()
}

/// An account id as a user handle (its 16 bytes in base64url).
fn base64url_uuid(id: &str) -> String {
    use base64::Engine;
    let id: uuid::Uuid = id.parse().unwrap();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn items(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

both_backends! {
    async fn passkeys_are_added_named_listed_renamed_and_removed(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        let key = &r.body["options"]["publicKey"];
        assert_eq!(key["rp"]["id"], "localhost");
        assert_eq!(key["user"]["name"], "eva@example.nl");
        assert_eq!(key["authenticatorSelection"]["residentKey"], "preferred");

        let mut laptop = device();
        let first = add(&app, &cookie, &mut laptop, Some("  Work laptop ")).await;
        assert_eq!(first["passkey"]["name"], "Work laptop");
        assert_eq!(first["recovery_codes"].as_array().unwrap().len(), 10, "the first second factor comes with recovery codes");
        let mails = portier_store::mail::recent(&app.db.store, Some(&Email::parse("eva@example.nl").unwrap()), 1).await.unwrap();
        assert_eq!(mails[0].kind, "passkey_added", "someone else's passkey must not go unnoticed");
        let mut phone = device();
        let second = add(&app, &cookie, &mut phone, None).await;
        assert_eq!(second["recovery_codes"], Value::Null, "codes are not renewed behind the person's back");
        assert_eq!(second["passkey"]["name"], "Passkey", "no name and no user agent: a plain one");

        let list = app.with_cookie("GET", "/api/v1/me/passkeys", &cookie, None).await;
        assert_eq!(items(&list.body), ["Work laptop", "Passkey"]);
        let status = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(status.body, json!({"totp": false, "recovery_codes_left": 10, "passkeys": 2}));
        let members = app.get(&format!("/api/v1/organizations/{}/members?q=eva", app.org_id)).await;
        assert_eq!(members.body["items"][0]["two_factor"], true, "a passkey is a second factor");
        // Only the public key is kept.
        let stored = portier_store::testing::strings(&app.db.store, "SELECT secret FROM credentials WHERE kind = 'webauthn'").await;
        assert!(stored.iter().all(|s| !s.contains("private")), "{stored:?}");

        // The same device cannot register twice (the browser is told to
        // exclude it; a forged answer meets the unique credential id).
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let excluded = r.body["options"]["publicKey"]["excludeCredentials"].as_array().unwrap().len();
        assert_eq!(excluded, 2);

        let id = second["passkey"]["id"].as_str().unwrap().to_owned();
        let path = format!("/api/v1/me/passkeys/{id}");
        let r = app.with_cookie("PATCH", &path, &cookie, Some(json!({"name": "Phone"}))).await;
        assert_eq!((r.status, &r.body["name"]), (200, &json!("Phone")), "{}", r.body);
        let r = app.with_cookie("PATCH", &path, &cookie, Some(json!({"name": "  "}))).await;
        assert_eq!(r.error(422), ("required", Some("name")));
        let r = app.with_cookie("PATCH", &path, &cookie, Some(json!({"name": "x".repeat(65)}))).await;
        assert_eq!(r.error(422), ("too_long", Some("name")));
        let r = app.with_cookie("PATCH", "/api/v1/me/passkeys/nope", &cookie, Some(json!({"name": "a"}))).await;
        assert_eq!(r.error(400).1, Some("id"));

        // Another person cannot see, rename or remove them.
        let other = app.session_in(&app.org_id.clone(), "piet@example.nl", &["member"]).await;
        assert_eq!(items(&app.with_cookie("GET", "/api/v1/me/passkeys", &other, None).await.body), Vec::<String>::new());
        assert_eq!(app.with_cookie("PATCH", &path, &other, Some(json!({"name": "Mine"}))).await.error(404).0, "not_found");
        assert_eq!(app.with_cookie("DELETE", &path, &other, None).await.error(404).0, "not_found");
        // API tokens act for organizations, not people.
        assert_eq!(app.call("GET", "/api/v1/me/passkeys", Some(&app.token.clone()), None).await.error(403).0, "person_required");

        assert_eq!(app.with_cookie("DELETE", &path, &cookie, None).await.status, 204);
        assert_eq!(items(&app.with_cookie("GET", "/api/v1/me/passkeys", &cookie, None).await.body), ["Work laptop"]);
        // The last one takes the recovery codes along.
        let last = first["passkey"]["id"].as_str().unwrap();
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/me/passkeys/{last}"), &cookie, None).await.status, 204);
        let status = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(status.body, json!({"totp": false, "recovery_codes_left": 0, "passkeys": 0}));
        let members = app.get(&format!("/api/v1/organizations/{}/members?q=eva", app.org_id)).await;
        assert_eq!(members.body["items"][0]["two_factor"], false);
        // Each step is audited (the trail's lanes order events per lane only).
        let mut actions = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action LIKE 'account.passkey%'").await;
        actions.sort();
        assert_eq!(actions, ["account.passkey_added", "account.passkey_added", "account.passkey_removed", "account.passkey_removed", "account.passkey_renamed"]);
    }

    async fn a_ceremony_works_once_for_its_own_person_and_refuses_forged_answers(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let other = app.session_in(&app.org_id.clone(), "piet@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let ceremony = r.body["ceremony_id"].clone();
        let credential = create(&mut device(), &r.body["options"]);
        // Piet cannot finish Eva's ceremony (and so uses it up for nobody).
        let body = json!({"ceremony_id": ceremony, "credential": credential});
        let r = app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &other, Some(body.clone())).await;
        assert_eq!(r.error(422), ("ceremony_unknown", Some("ceremony_id")));
        let r = app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await;
        assert_eq!(r.error(422).0, "ceremony_unknown", "taken once, even by the wrong person");

        // A forged answer: the challenge signed is not this ceremony's.
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let mut forged = create(&mut device(), &r.body["options"]);
        let stale = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let body = json!({"ceremony_id": stale.body["ceremony_id"], "credential": forged.clone()});
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await.error(422), ("passkey_refused", Some("credential")));
        // Only the newest start of a person's is open (one row, not one each).
        let body = json!({"ceremony_id": r.body["ceremony_id"], "credential": forged.clone()});
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await.error(422).0, "ceremony_unknown");
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        forged["response"]["clientDataJSON"] = json!("e30");
        let body = json!({"ceremony_id": r.body["ceremony_id"], "credential": forged});
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await.error(422), ("passkey_refused", Some("credential")));
        let body = json!({"ceremony_id": "x".repeat(200), "credential": {}});
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await.error(422), ("too_long", Some("ceremony_id")));
        let body = json!({"ceremony_id": "abc", "credential": {}, "extra": 1});
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(body)).await.status, 422);
        assert_eq!(items(&app.with_cookie("GET", "/api/v1/me/passkeys", &cookie, None).await.body), Vec::<String>::new(), "nothing half-added");
        // Ceremony ids are stored as digests only.
        let open = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let ids = portier_store::testing::strings(&app.db.store, "SELECT id_hash FROM webauthn_ceremonies").await;
        assert!(!ids.iter().any(|h| h == open.body["ceremony_id"].as_str().unwrap()));
    }

    async fn a_passkey_is_the_second_step_of_a_sign_in_on_any_node(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        add(&app, &cookie, &mut laptop, Some("Laptop")).await;
        let full = sign_in_with_second_step(&app, "eva@example.nl", &mut laptop).await;
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &full, None).await.status, 200);
        let list = app.with_cookie("GET", "/api/v1/me/passkeys", &full, None).await;
        assert!(list.body["items"][0]["last_used_at"].is_string(), "{}", list.body);

        // Started on one node, answered on another: the state is in the database.
        let other_node = app.second_node(with_passkeys).await;
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let half = half.unwrap();
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", Some(&half), None).await;
        let allowed = r.body["options"]["publicKey"]["allowCredentials"].as_array().unwrap().len();
        assert_eq!(allowed, 1, "only Eva's passkeys are asked for");
        let answer = get(&mut laptop, &r.body["options"]);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": answer}});
        let (r, full) = post(&app, &other_node, "/api/v1/auth/mfa", Some(&half), Some(body.clone())).await;
        assert_eq!((r.status, &r.body["mfa_required"]), (200, &json!(false)), "{}", r.body);
        assert!(full.is_some());
        // The same answer again, in a new sign-in: the ceremony is gone.
        let (_, half2) = app.login("eva@example.nl", GOOD).await;
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", half2.as_deref(), Some(body)).await;
        assert_eq!(r.error(422), ("ceremony_unknown", Some("ceremony_id")));
        // Another device's passkey is not Eva's.
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", half2.as_deref(), None).await;
        let mut stranger = device();
        let piet = app.session_in(&app.org_id.clone(), "piet@example.nl", &["member"]).await;
        let (_, piets) = add_held(&app, &piet, &mut stranger, None).await;
        let foreign = get_discoverable(&mut stranger, &r.body["options"], &piets);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": foreign}});
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", half2.as_deref(), Some(body)).await;
        assert_eq!(r.error(422), ("passkey_refused", Some("credential")));
        // Without a sign-in under way there is nothing to start or finish.
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", None, None).await;
        assert_eq!(r.error(401).0, "no_sign_in_started");
        // Someone with a password but no passkey is told so.
        let (_, piet_half) = app.login("piet@example.nl", GOOD).await;
        let r = app.with_cookie("DELETE", &format!("/api/v1/me/passkeys/{}", app.with_cookie("GET", "/api/v1/me/passkeys", &piet, None).await.body["items"][0]["id"].as_str().unwrap()), &piet, None).await;
        assert_eq!(r.status, 204);
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", piet_half.as_deref(), None).await;
        assert_eq!(r.error(409).0, "no_passkey");
    }

    async fn wrong_passkey_answers_count_like_wrong_codes(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        add(&app, &cookie, &mut laptop, None).await;
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let half = half.unwrap();
        let mut refused = 0;
        for _ in 0..5 {
            let body = json!({"passkey": {"ceremony_id": "0".repeat(64), "credential": {}}});
            let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", Some(&half), Some(body)).await;
            assert_eq!(r.status, 422, "{}", r.body);
            refused += 1;
        }
        assert_eq!(refused, 5);
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", Some(&half), None).await;
        let answer = get(&mut laptop, &r.body["options"]);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": answer}});
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", Some(&half), Some(body)).await;
        assert_eq!(r.error(429).0, "throttled", "even a right one waits out the window");
        assert!(r.headers.contains_key("retry-after"));
    }

    async fn a_passkey_alone_signs_in_while_the_account_may(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        let (_, held) = add_held(&app, &cookie, &mut laptop, None).await;
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        assert!(r.body["options"]["publicKey"]["allowCredentials"].as_array().is_none_or(Vec::is_empty), "nobody is named: {}", r.body);
        let answer = get_discoverable(&mut laptop, &r.body["options"], &held);
        // Whoever the handle names must own the passkey that signed.
        let mut lying = answer.clone();
        let piet = app.person("piet@example.nl", &["member"]).await;
        lying["response"]["userHandle"] = json!(base64url_uuid(&piet));
        let body = json!({"ceremony_id": r.body["ceremony_id"], "credential": lying});
        let (r2, set) = post(&app, &app.base, "/api/v1/auth/passkey/finish", None, Some(body)).await;
        assert_eq!(r2.error(422), ("passkey_refused", Some("credential")));
        assert!(set.is_none());
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        let answer = get_discoverable(&mut laptop, &r.body["options"], &held);
        let body = json!({"ceremony_id": r.body["ceremony_id"], "credential": answer});
        let (r, full) = post(&app, &app.base, "/api/v1/auth/passkey/finish", None, Some(body.clone())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!((&r.body["mfa_required"], &r.body["two_factor_setup_required"]), (&json!(false), &json!(false)), "two factors in one");
        let me = app.with_cookie("GET", "/api/v1/me", &full.unwrap(), None).await;
        assert_eq!(me.body["email"], "eva@example.nl");
        // Once only.
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey/finish", None, Some(body)).await;
        assert_eq!(r.error(422).0, "ceremony_unknown");

        // A deactivated member's passkey opens nothing.
        let eva = me.body["account_id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members/{eva}/deactivate", app.org_id), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        let answer = get_discoverable(&mut laptop, &r.body["options"], &held);
        let (r, set) = post(&app, &app.base, "/api/v1/auth/passkey/finish", None, Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": answer}))).await;
        assert_eq!(r.error(401).0, "account_inactive");
        assert!(set.is_none());
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members/{eva}/reactivate", app.org_id), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 200, "{}", r.body);

        // An administrator's reset takes passkeys away too.
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members/{eva}/reset-two-factor", app.org_id), Some(&app.token.clone()), None).await;
        assert_eq!(r.body["reset"], true, "{}", r.body);
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        let answer = get_discoverable(&mut laptop, &r.body["options"], &held);
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey/finish", None, Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": answer}))).await;
        assert_eq!(r.error(422), ("passkey_refused", Some("credential")));
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["mfa_required"], false);
    }

    async fn a_required_second_factor_can_be_a_passkey_and_the_last_one_stays(db) {
        let app = app(db).await;
        app.person("eva@example.nl", &["member"]).await;
        let path = format!("/api/v1/organizations/{}", app.org_id);
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (r, enrol) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], true);
        let enrol = enrol.unwrap();
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &enrol, None).await;
        assert_eq!(r.status, 201, "setting up a passkey is open while enrolling: {}", r.body);
        let mut laptop = device();
        let credential = create(&mut laptop, &r.body["options"]);
        let (r, full) = post(&app, &app.base, "/api/v1/me/passkeys/confirm", Some(&enrol), Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": credential}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let full = full.expect("set up as required: signed in now");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &full, None).await.status, 200);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &enrol, None).await.status, 401, "the old id is gone");
        let id = r.body["passkey"]["id"].as_str().unwrap();
        let r = app.with_cookie("DELETE", &format!("/api/v1/me/passkeys/{id}"), &full, None).await;
        assert_eq!(r.error(409).0, "two_factor_required");
        // With a second passkey, either may go.
        let mut phone = device();
        add(&app, &full, &mut phone, Some("Phone")).await;
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/me/passkeys/{id}"), &full, None).await.status, 204);
        let next = sign_in_with_second_step(&app, "eva@example.nl", &mut phone).await;
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &next, None).await.status, 200);
    }

    async fn recovery_codes_are_renewed_with_a_passkey_in_the_same_session_only(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        let first = add(&app, &cookie, &mut laptop, None).await;
        let old = first["recovery_codes"][0].as_str().unwrap().to_owned();
        // No app: no code to give.
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(json!({"code": "123456"}))).await;
        assert_eq!(r.error(409).0, "two_factor_inactive");
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(json!({}))).await;
        assert_eq!(r.error(422), ("one_of", Some("code")));
        // A challenge of another session of hers does not count here.
        let (_, other) = {
            let (r, half) = app.login("eva@example.nl", GOOD).await;
            assert_eq!(r.body["mfa_required"], true);
            (r, half.unwrap())
        };
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", Some(&other), None).await;
        let elsewhere = get(&mut laptop, &r.body["options"]);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": elsewhere}});
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(body)).await;
        assert_eq!(r.error(422), ("ceremony_unknown", Some("ceremony_id")), "a sign-in's challenge is not a confirmation");

        let (r, _) = post(&app, &app.base, "/api/v1/me/passkeys/verify", Some(&cookie), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let answer = get(&mut laptop, &r.body["options"]);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": answer}});
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(body.clone())).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        let new = r.body["recovery_codes"].as_array().unwrap();
        assert_eq!(new.len(), 10);
        assert!(!new.iter().any(|c| c == &json!(old)));
        let r = app.with_cookie("POST", "/api/v1/me/recovery-codes", &cookie, Some(body)).await;
        assert_eq!(r.error(422).0, "ceremony_unknown", "once only");
        // The old codes are gone: the new ones sign in.
        let (_, half) = app.login("eva@example.nl", GOOD).await;
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", half.as_deref(), Some(json!({"recovery_code": old}))).await;
        assert_eq!(r.error(422).0, "wrong_code");
        let fresh = new[0].as_str().unwrap();
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa", half.as_deref(), Some(json!({"recovery_code": fresh}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Someone without a passkey has nothing to start.
        let piet = app.session_in(&app.org_id.clone(), "piet@example.nl", &["member"]).await;
        let (r, _) = post(&app, &app.base, "/api/v1/me/passkeys/verify", Some(&piet), None).await;
        assert_eq!(r.error(409).0, "no_passkey");
    }

    async fn changing_second_factors_needs_a_recent_sign_in(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        let added = add(&app, &cookie, &mut laptop, None).await;
        // The same session, on a node that counts its sign-in as too long ago.
        let later = app.second_node(|c| { with_passkeys(c); c.recent_sign_in = std::time::Duration::ZERO; }).await;
        let call = |method: &'static str, path: String, body: Option<Value>| {
            let mut req = app.client.request(method.parse().unwrap(), format!("{later}{path}")).header("cookie", &cookie);
            if let Some(b) = body { req = req.json(&b); }
            async move { TestApp::answer(req.send().await.unwrap()).await }
        };
        let r = call("POST", "/api/v1/me/passkeys".into(), None).await;
        assert_eq!(r.error(403).0, "recent_sign_in_required");
        let r = call("POST", "/api/v1/me/totp".into(), None).await;
        assert_eq!(r.error(403).0, "recent_sign_in_required");
        let id = added["passkey"]["id"].as_str().unwrap();
        let r = call("DELETE", format!("/api/v1/me/passkeys/{id}"), None).await;
        assert_eq!(r.error(403).0, "recent_sign_in_required");
        // A started ceremony cannot be finished there either.
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let made = create(&mut device(), &r.body["options"]);
        let r = call("POST", "/api/v1/me/passkeys/confirm".into(), Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": made}))).await;
        assert_eq!(r.error(403).0, "recent_sign_in_required");
        // Reading and renaming stay open.
        assert_eq!(call("GET", "/api/v1/me/passkeys".into(), None).await.status, 200);
        assert_eq!(call("PATCH", format!("/api/v1/me/passkeys/{id}"), Some(json!({"name": "Old laptop"}))).await.status, 200);
    }

    async fn a_sign_in_still_setting_up_ends_when_a_factor_is_added_elsewhere(db) {
        let app = app(db).await;
        app.person("eva@example.nl", &["member"]).await;
        let path = format!("/api/v1/organizations/{}", app.org_id);
        app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true}))).await;
        // Someone else who knows the password signs in too, before Eva sets up.
        let (_, theirs) = app.login("eva@example.nl", GOOD).await;
        let theirs = theirs.unwrap();
        let (_, hers) = app.login("eva@example.nl", GOOD).await;
        let hers = hers.unwrap();
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &hers, None).await;
        let made = create(&mut device(), &r.body["options"]);
        let (r, full) = post(&app, &app.base, "/api/v1/me/passkeys/confirm", Some(&hers), Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": made}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert!(full.is_some());
        // The other half-way sign-in cannot add a factor of its own now.
        assert_eq!(app.with_cookie("POST", "/api/v1/me/passkeys", &theirs, None).await.status, 401);
        assert_eq!(app.with_cookie("POST", "/api/v1/me/totp", &theirs, None).await.status, 401);
    }

    async fn a_device_that_does_not_verify_its_user_makes_no_passkey(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        // A device that cannot verify its user refuses what Portier asks; a
        // client that tells it not to bother gets a passkey without the
        // "user verified" flag, which Portier refuses.
        let mut careless = SoftPasskey::new(false);
        let mut options = r.body["options"].clone();
        options["publicKey"]["authenticatorSelection"]["userVerification"] = json!("discouraged");
        let made = create(&mut careless, &options);
        let r = app.with_cookie("POST", "/api/v1/me/passkeys/confirm", &cookie, Some(json!({"ceremony_id": r.body["ceremony_id"], "credential": made}))).await;
        assert_eq!(r.error(422), ("passkey_refused", Some("credential")));
    }

    async fn a_second_step_challenge_belongs_to_its_own_sign_in(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let mut laptop = device();
        add(&app, &cookie, &mut laptop, None).await;
        let (_, first) = app.login("eva@example.nl", GOOD).await;
        let (_, second) = app.login("eva@example.nl", GOOD).await;
        let (r, _) = post(&app, &app.base, "/api/v1/auth/mfa/passkey", first.as_deref(), None).await;
        let answer = get(&mut laptop, &r.body["options"]);
        let body = json!({"passkey": {"ceremony_id": r.body["ceremony_id"], "credential": answer}});
        let (r, set) = post(&app, &app.base, "/api/v1/auth/mfa", second.as_deref(), Some(body)).await;
        assert_eq!(r.error(422), ("ceremony_unknown", Some("ceremony_id")), "another sign-in's challenge");
        assert!(set.is_none());
    }

    async fn passkey_sign_ins_started_are_limited_per_client(db) {
        let app = app(db).await;
        for _ in 0..60 {
            let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        assert_eq!(r.error(429).0, "throttled");
        let open = portier_store::testing::strings(&app.db.store, "SELECT purpose FROM webauthn_ceremonies").await;
        assert_eq!(open.len(), 60, "no row for the refused one");
    }

    async fn with_both_an_app_and_a_passkey_either_goes_and_the_codes_stay(db) {
        let app = app(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await;
        let secret = portier_core::two_factor::TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let code = |steps: i64| secret.code_at((chrono::Utc::now().timestamp() + 30 * steps) as u64);
        let r = app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": code(0)}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let mut laptop = device();
        let added = add(&app, &cookie, &mut laptop, None).await;
        assert_eq!(added["recovery_codes"], Value::Null);
        // The organization requires it: the app may go while a passkey stays.
        let path = format!("/api/v1/organizations/{}", app.org_id);
        app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"require_two_factor": true}))).await;
        let r = app.with_cookie("DELETE", "/api/v1/me/totp", &cookie, Some(json!({"code": code(1)}))).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let status = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(status.body, json!({"totp": false, "recovery_codes_left": 10, "passkeys": 1}), "the codes stand in for the passkey now");
        // And the other way round: a passkey may go while the app stays.
        let r = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await;
        let secret = portier_core::two_factor::TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let code = |steps: i64| secret.code_at((chrono::Utc::now().timestamp() + 30 * steps) as u64);
        assert_eq!(app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": code(0)}))).await.status, 200);
        let id = added["passkey"]["id"].as_str().unwrap();
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/me/passkeys/{id}"), &cookie, None).await.status, 204);
        let status = app.with_cookie("GET", "/api/v1/me/two-factor", &cookie, None).await;
        assert_eq!(status.body, json!({"totp": true, "recovery_codes_left": 10, "passkeys": 0}));
    }

    async fn passkeys_need_a_host_name(db) {
        let app = TestApp::start(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        assert_eq!(r.error(409).0, "passkeys_unavailable");
        let (r, _) = post(&app, &app.base, "/api/v1/auth/passkey", None, None).await;
        assert_eq!(r.error(409).0, "passkeys_unavailable");
    }
}
