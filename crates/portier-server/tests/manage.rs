//! Changing, resending, deactivating and removing members, on both backends.

mod common;

use common::{Answer, TestApp};
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::json;

const GOOD: &str = "Kw8!vLp2#rTq";

async fn activate(app: &TestApp, email: &str) {
    let token = app.mail_link(email, "/activate/").await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/activations/{token}"),
            None,
            Some(json!({"password": GOOD})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
}

async fn login(app: &TestApp, email: &str) -> Answer {
    app.call(
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"email": email, "password": GOOD})),
    )
    .await
}

fn member_path(app: &TestApp, id: &str) -> String {
    format!("/api/v1/organizations/{}/members/{id}", app.org_id)
}

both_backends! {
    async fn a_mistyped_address_is_corrected_before_activation_and_gets_the_invitation(db) {
        let app = TestApp::start(db).await;
        let id = app.add_member(json!({"email": "jan@exmaple.nl", "given_name": "Jna"})).await;
        let old = app.mail_link("jan@exmaple.nl", "/activate/").await;
        let r = app.call("PATCH", &member_path(&app, &id), Some(&app.token.clone()), Some(json!({"email": " Jan@Example.nl", "given_name": "Jan"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["invitation_sent"], true);
        assert_eq!(r.body["member"]["email"], "jan@example.nl");
        assert_eq!(r.body["member"]["given_name"], "Jan");
        assert_eq!(app.call("GET", &format!("/api/v1/activations/{old}"), None, None).await.error(410).0, "link_used", "the link to the wrong address stops working");
        activate(&app, "jan@example.nl").await;
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 5).await.unwrap();
        let updated = events.iter().find(|e| e.action == "member.updated").unwrap();
        assert_eq!(updated.changes["account.email"], json!({"before": "jan@exmaple.nl", "after": "jan@example.nl"}));
    }

    async fn after_activation_only_the_member_changes_their_name_and_address(db) {
        let app = TestApp::start(db).await;
        let id = app.add_member(json!({"email": "jan@example.nl", "family_name": "Jansen"})).await;
        activate(&app, "jan@example.nl").await;
        let path = member_path(&app, &id);
        for body in [json!({"family_name": "Pietersen"}), json!({"email": "other@example.nl"}), json!({"phone": null})] {
            let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(body.clone())).await;
            assert_eq!(r.error(409).0, "member_owns_profile", "{body}");
        }
        let r = app.call("PATCH", &path, Some(&app.token.clone()), Some(json!({"job_title": "Arts", "labels": ["Oost"], "staff_code": "P-9"}))).await;
        assert_eq!(r.status, 200, "the organization's own fields stay editable: {}", r.body);
        assert_eq!(r.body["member"]["job_title"], "Arts");
        assert_eq!(r.body["member"]["family_name"], "Jansen");
    }

    async fn conflicts_and_bad_values_are_refused_by_field(db) {
        let app = TestApp::start(db).await;
        let a = app.add_member(json!({"email": "a@example.nl", "staff_code": "S-1"})).await;
        app.add_member(json!({"email": "b@example.nl"})).await;
        let path = member_path(&app, &a);
        let token = app.token.clone();
        assert_eq!(app.call("PATCH", &path, Some(&token), Some(json!({"email": "b@example.nl"}))).await.error(409), ("already_member", Some("email")), "b is a member here already");
        let b = app.add_member(json!({"email": "c@example.nl"})).await;
        assert_eq!(app.call("PATCH", &member_path(&app, &b), Some(&token), Some(json!({"staff_code": "S-1"}))).await.error(409), ("staff_code_taken", Some("staff_code")));
        assert_eq!(app.call("PATCH", &path, Some(&token), Some(json!({"email": "nope"}))).await.error(422).1, Some("email"));
        assert_eq!(app.call("PATCH", &path, Some(&token), Some(json!({"mobile": "call me"}))).await.error(422).1, Some("mobile"));
        let unknown = "01a20436-0000-7000-8000-000000000000";
        assert_eq!(app.call("PATCH", &member_path(&app, unknown), Some(&token), Some(json!({"job_title": "x"}))).await.error(404).0, "not_found");
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("PATCH", &path, Some(&reader), Some(json!({"job_title": "x"}))).await.error(403).0, "forbidden");
        assert_eq!(app.call("DELETE", &path, Some(&reader), None).await.error(403).0, "forbidden");
    }

    async fn resending_makes_the_previous_link_stop_working(db) {
        let app = TestApp::start(db).await;
        let id = app.add_member(json!({"email": "jan@example.nl"})).await;
        let first = app.mail_link("jan@example.nl", "/activate/").await;
        let r = app.call("POST", &format!("{}/resend-activation", member_path(&app, &id)), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let second = app.mail_link("jan@example.nl", "/activate/").await;
        assert_ne!(first, second);
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{first}"), None, Some(json!({"password": GOOD}))).await.error(410).0, "link_used");
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{second}"), None, Some(json!({"password": GOOD}))).await.status, 200);
        let r = app.call("POST", &format!("{}/resend-activation", member_path(&app, &id)), Some(&app.token.clone()), None).await;
        assert_eq!(r.error(409).0, "already_active");
    }

    async fn a_deactivated_member_loses_access_at_once_and_regains_it(db) {
        let app = TestApp::start(db).await;
        let id = app.add_member(json!({"email": "jan@example.nl"})).await;
        activate(&app, "jan@example.nl").await;
        let signed = login(&app, "jan@example.nl").await;
        assert_eq!(signed.status, 200);
        let cookie = signed.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let r = app.call("POST", &format!("{}/deactivate", member_path(&app, &id)), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["member"]["status"], "deactivated");
        let me = app.client.get(format!("{}/api/v1/me", app.base)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(me.status(), 401, "the open session ended");
        assert_eq!(login(&app, "jan@example.nl").await.error(401).0, "account_inactive");
        let r = app.call("POST", &format!("{}/reactivate", member_path(&app, &id)), Some(&app.token.clone()), None).await;
        assert_eq!(r.body["member"]["status"], "active");
        assert_eq!(r.body["invitation_sent"], false);
        assert_eq!(login(&app, "jan@example.nl").await.status, 200);
        let actions: Vec<String> = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 10).await.unwrap().into_iter().map(|e| e.action).collect();
        assert!(actions.contains(&"member.deactivated".into()) && actions.contains(&"member.reactivated".into()), "{actions:?}");
    }

    async fn the_last_administrator_of_an_environment_cannot_be_removed_or_deactivated(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let list = app.get(&format!("/api/v1/organizations/{}/members?q=admin@acme.example", app.org_id)).await;
        let first = list.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let (first_path, deactivate) = (member_path(&app, &first), format!("{}/deactivate", member_path(&app, &first)));
        assert_eq!(app.call("DELETE", &first_path, Some(&token), None).await.error(409).0, "last_administrator");
        assert_eq!(app.call("POST", &deactivate, Some(&token), None).await.error(409).0, "last_administrator");
        // A second administrator counts once they can sign in.
        let second = app.add_member(json!({"email": "beheer@acme.example", "roles": ["administrator"]})).await;
        assert_eq!(app.call("DELETE", &first_path, Some(&token), None).await.error(409).0, "last_administrator", "not yet activated");
        activate(&app, "beheer@acme.example").await;
        // The second administrator goes on: the bootstrap token was the
        // first's, and holds nothing once they are gone (docs/RULES.md#api-tokens).
        let beheer = login(&app, "beheer@acme.example").await;
        let beheer = beheer.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        assert_eq!(app.with_cookie("POST", &deactivate, &beheer, None).await.status, 200);
        assert_eq!(app.with_cookie("DELETE", &first_path, &beheer, None).await.status, 204);
        assert_eq!(app.call("GET", &first_path, Some(&token), None).await.status, 401);
        let second_path = member_path(&app, &second);
        assert_eq!(app.with_cookie("DELETE", &second_path, &beheer, None).await.error(409).0, "last_administrator");
        assert_eq!(app.with_cookie("POST", &format!("{second_path}/deactivate"), &beheer, None).await.error(409).0, "last_administrator");
        assert_eq!(login(&app, "beheer@acme.example").await.status, 200, "still in");
        // A user manager or an administrator of a part of the environment is not its last administrator.
        let r = app.with_cookie("POST", &format!("/api/v1/organizations/{}/members", app.org_id), &beheer, Some(json!({"email": "sleutel@acme.example", "roles": ["user-manager"]}))).await;
        let manager = r.body["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.with_cookie("DELETE", &member_path(&app, &manager), &beheer, None).await.status, 204);
        let child = app.with_cookie("POST", "/api/v1/organizations", &beheer, Some(json!({"name": "Chirurgie", "parent_id": app.org_id}))).await;
        let child = child.body["id"].as_str().unwrap().to_owned();
        let r = app.with_cookie("POST", &format!("/api/v1/organizations/{child}/members"), &beheer,
            Some(json!({"email": "chef@acme.example", "roles": ["administrator"]}))).await;
        let chef = r.body["account_id"].as_str().unwrap();
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/organizations/{child}/members/{chef}"), &beheer, None).await.status, 204);
    }

    async fn a_removed_member_vanishes_but_the_account_and_history_stay(db) {
        let app = TestApp::start(db).await;
        let id = app.add_member(json!({"email": "jan@example.nl", "staff_code": "S-7"})).await;
        activate(&app, "jan@example.nl").await;
        let path = member_path(&app, &id);
        assert_eq!(app.call("DELETE", &path, Some(&app.token.clone()), None).await.status, 204);
        assert_eq!(app.get(&path).await.error(404).0, "not_found");
        let list = app.get(&format!("/api/v1/organizations/{}/members", app.org_id)).await;
        assert!(!list.body.to_string().contains("jan@example.nl"));
        assert_eq!(login(&app, "jan@example.nl").await.error(401).0, "account_inactive", "no organization has the person any more");
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 10).await.unwrap();
        assert!(events.iter().any(|e| e.action == "member.removed" && e.changes["email"] == "jan@example.nl"));
        assert!(events.iter().any(|e| e.action == "member.added"), "history stays");
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&app.token.clone()), Some(json!({"email": "jan@example.nl", "staff_code": "S-7"}))).await;
        assert_eq!(r.body["account_reused"], true, "the account stays");
        assert_eq!(r.body["invitation_sent"], false);
    }
}
