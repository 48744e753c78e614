//! From invitation mail to active account, through real HTTP on both backends.

mod common;

use common::TestApp;
use portier_store::both_backends;
use serde_json::json;

/// Adds `email` and returns the token from the activation link in its mail.
async fn invite(app: &TestApp, email: &str, extra: serde_json::Value) -> String {
    let mut body = json!({"email": email});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{}/members", app.org_id),
            Some(&app.token.clone()),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.mail_link(email, "/activate/").await
}

both_backends! {
    async fn a_new_person_activates_with_a_good_password_once(db) {
        let app = TestApp::start(db).await;
        let token = invite(&app, "jan@example.nl", json!({"family_name": "Jansen"})).await;
        let r = app.call("GET", &format!("/api/v1/activations/{token}"), None, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["email"], "jan@example.nl");
        assert_eq!(r.body["organization"], "Acme");
        assert_eq!(r.body["password_policy"]["min_length"], 8);
        assert!(r.body["missing_profile"].as_array().unwrap().contains(&json!("phone")));
        assert!(!r.body["missing_profile"].as_array().unwrap().contains(&json!("family_name")));

        let path = format!("/api/v1/activations/{token}");
        for (weak, code) in [("abc", "password_too_short"), ("Password1", "password_too_guessable"), ("Jansen#Lp29!vx", "password_personal")] {
            let r = app.call("POST", &path, None, Some(json!({"password": weak}))).await;
            assert_eq!(r.error(422), (code, Some("password")), "{weak}");
        }
        let r = app.call("POST", &path, None, Some(json!({"password": "abc", "locale": "nl"}))).await;
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("gebruik minstens 8 tekens") && message.contains("voeg een cijfer toe"), "every rule, in Dutch: {message}");

        let r = app.call("POST", &path, None, Some(json!({"password": "Kw8!vLp2#rTq", "phone": "06 1234 5678", "given_name": "Jan", "family_name": "Overwritten"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["status"], "active");
        let id = r.body["account_id"].as_str().unwrap();
        let member = app.get(&format!("/api/v1/organizations/{}/members/{id}", app.org_id)).await;
        assert_eq!(member.body["status"], "active");
        assert_eq!(member.body["phone"], "06 1234 5678", "empty fields are filled in");
        assert_eq!(member.body["family_name"], "Jansen", "fields the administrator set stay");
        assert_eq!(member.body["given_name"], "Jan", "empty name fields are filled in");
        let found = app.get(&format!("/api/v1/organizations/{}/members?q=jan%20jans", app.org_id)).await;
        assert_eq!(found.body["items"][0]["display_name"], "Jan Jansen", "found by the name given at activation");

        let again = app.call("POST", &path, None, Some(json!({"password": "Kw8!vLp2#rTq"}))).await;
        assert_eq!(again.error(410).0, "link_used");
        assert_eq!(app.call("GET", &path, None, None).await.error(410).0, "link_used");

        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 1).await.unwrap();
        assert_eq!(events[0].action, "account.activated");
        assert!(!events[0].changes.to_string().contains("argon2"), "no secret in the trail");
        let hashes = portier_store::testing::strings(&app.db.store, "SELECT secret FROM credentials WHERE kind = 'password'").await;
        assert_eq!(hashes.len(), 1);
        assert!(hashes[0].starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    async fn unknown_and_expired_links_explain_themselves(db) {
        let app = TestApp::start(db).await;
        assert_eq!(app.call("GET", "/api/v1/activations/nonsense", None, None).await.error(404).0, "link_unknown");
        let unknown = "0".repeat(64);
        assert_eq!(app.call("GET", &format!("/api/v1/activations/{unknown}"), None, None).await.error(404).0, "link_unknown");
        let token = invite(&app, "late@example.nl", json!({})).await;
        portier_store::testing::execute(&app.db.store, "UPDATE tokens SET expires_at = created_at").await;
        let r = app.call("POST", &format!("/api/v1/activations/{token}"), None, Some(json!({"password": "Kw8!vLp2#rTq"}))).await;
        let (code, _) = r.error(410);
        assert_eq!(code, "link_expired");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("new invitation"));
    }

    async fn two_activations_with_one_link_at_once_succeed_once(db) {
        let app = TestApp::start(db).await;
        let token = invite(&app, "race@example.nl", json!({})).await;
        let url = format!("{}/api/v1/activations/{token}", app.base);
        let tries: Vec<_> = (0..4).map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.post(url).json(&json!({"password": "Kw8!vLp2#rTq"})).send().await.unwrap().status().as_u16() })
        }).collect();
        let mut statuses = Vec::new();
        for t in tries {
            statuses.push(t.await.unwrap());
        }
        statuses.sort();
        assert_eq!(statuses, vec![200, 410, 410, 410]);
    }
}
