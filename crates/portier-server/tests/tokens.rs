//! API tokens: created with a chosen set of permissions (never more than the
//! creator holds), shown once, revocable at once, expiring, last use
//! recorded, every use attributable in the audit trail; on both backends.

mod common;

use std::time::Duration;

use common::TestApp;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::json;

fn tokens_path(org: &str) -> String {
    format!("/api/v1/organizations/{org}/tokens")
}

both_backends! {
    async fn a_token_is_shown_once_works_within_its_permissions_and_is_revoked_at_once(db) {
        let app = TestApp::start(db).await;
        let admin = app.token.clone();
        let path = tokens_path(&app.org_id);
        let r = app.call("POST", &path, Some(&admin), Some(json!({"name": "Rostering app", "permissions": ["members.read"]}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.headers["cache-control"], "no-store");
        let secret = r.body["token"].as_str().unwrap().to_owned();
        let id = r.body["id"].as_str().unwrap().to_owned();
        assert!(secret.starts_with("ptk_"));
        let members = format!("/api/v1/organizations/{}/members", app.org_id);
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.status, 200);
        let r = app.call("POST", &members, Some(&secret), Some(json!({"email": "x@example.nl"}))).await;
        assert_eq!(r.error(403).0, "forbidden", "only what it was given");
        // Listed, without its secret, with its last use (written after the answer).
        let mut listed = serde_json::Value::Null;
        for _ in 0..100 {
            listed = app.get(&path).await.body["items"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
            if !listed["last_used_at"].is_null() { break; }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!listed["last_used_at"].is_null(), "{listed}");
        assert!(listed.get("token").is_none() && !listed.to_string().contains(&secret));
        assert_eq!(listed["permissions"], json!(["members.read"]));
        assert_eq!(app.call("DELETE", &format!("{path}/{id}"), Some(&admin), None).await.status, 204);
        let r = app.call("GET", &members, Some(&secret), None).await;
        assert_eq!(r.error(401).0, "invalid_token", "revoked: stops at once");
        let listed = app.get(&path).await;
        assert!(!listed.body["items"].as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap()["revoked_at"].is_null());
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 20).await.unwrap();
        assert!(events.iter().any(|e| e.action == "api_token.revoked"));
    }

    async fn a_token_never_holds_more_than_its_creator_holds_now(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let path = tokens_path(&org);
        app.person("other@example.nl", &["administrator"]).await;
        let pat = app.session_in(&org, "pat@example.nl", &["administrator"]).await;
        let r = app.with_cookie("POST", &path, &pat, Some(json!({"name": "Pat's script", "permissions": ["members.read", "tokens.manage"]}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let secret = r.body["token"].as_str().unwrap().to_owned();
        let members = format!("/api/v1/organizations/{org}/members");
        let mint = json!({"name": "Minted", "permissions": ["members.read"]});
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.status, 200);
        let pat_id = app.get(&format!("{members}?q=pat")).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let roles = format!("{members}/{pat_id}/roles");
        let admin = app.token.clone();
        // Pat becomes a user manager: no tokens.manage any more, members.read still.
        assert_eq!(app.call("PUT", &roles, Some(&admin), Some(json!({"roles": ["user-manager"]}))).await.status, 200);
        assert_eq!(app.call("POST", &path, Some(&secret), Some(mint.clone())).await.error(403).0, "forbidden");
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.status, 200);
        // A plain member: nothing.
        assert_eq!(app.call("PUT", &roles, Some(&admin), Some(json!({"roles": ["member"]}))).await.status, 200);
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.error(403).0, "forbidden");
        // Given back, the token has its permissions again (never more than it was given).
        assert_eq!(app.call("PUT", &roles, Some(&admin), Some(json!({"roles": ["administrator"]}))).await.status, 200);
        assert_eq!(app.call("POST", &path, Some(&secret), Some(mint.clone())).await.status, 201);
        let r = app.call("POST", &members, Some(&secret), Some(json!({"email": "x@example.nl"}))).await;
        assert_eq!(r.error(403).0, "forbidden", "only what it was given");
        // Deactivated or removed, Pat's token stops working.
        assert_eq!(app.call("POST", &format!("{members}/{pat_id}/deactivate"), Some(&admin), None).await.status, 200);
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.error(401).0, "invalid_token");
        assert_eq!(app.call("POST", &format!("{members}/{pat_id}/reactivate"), Some(&admin), None).await.status, 200);
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.status, 200);
        assert_eq!(app.call("DELETE", &format!("{members}/{pat_id}"), Some(&admin), None).await.status, 204);
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.error(401).0, "invalid_token");
        assert_eq!(app.call("POST", &path, Some(&secret), Some(mint)).await.error(401).0, "invalid_token");
        // The bootstrap token, made at the command line, has no creator to follow.
        assert_eq!(app.call("GET", &members, Some(&admin), None).await.status, 200);
    }

    async fn nobody_hands_out_more_than_they_hold_and_bad_requests_name_their_field(db) {
        let app = TestApp::start(db).await;
        let path = tokens_path(&app.org_id);
        let issuer = app.restricted_token(&app.org_id, [p::TOKENS_MANAGE, p::MEMBERS_READ].into_iter().collect()).await;
        let r = app.call("POST", &path, Some(&issuer), Some(json!({"name": "X", "permissions": ["members.read", "members.invite"]}))).await;
        assert_eq!(r.error(422), ("permission_not_held", Some("permissions")));
        let r = app.call("POST", &path, Some(&issuer), Some(json!({"name": "X", "permissions": ["members.read", "documents.read"]}))).await;
        assert_eq!(r.error(422), ("permission_not_held", Some("permissions")), "not even the product's");
        assert_eq!(app.call("POST", &path, Some(&issuer), Some(json!({"name": "X", "permissions": ["members.read"]}))).await.status, 201);
        let admin = app.token.clone();
        let cases = [
            (json!({"name": "X", "permissions": []}), "permissions"),
            (json!({"name": "X", "permissions": ["read"]}), "permissions[0]"),
            (json!({"name": " ", "permissions": ["members.read"]}), "name"),
            (json!({"name": "X", "permissions": ["members.read"], "expires_at": "2020-01-01T00:00:00Z"}), "expires_at"),
            (json!({"name": "X", "permissions": ["members.read"], "expires_at": "soon"}), "expires_at"),
        ];
        for (body, field) in cases {
            assert_eq!(app.call("POST", &path, Some(&admin), Some(body.clone())).await.error(422).1, Some(field), "{body}");
        }
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("GET", &path, Some(&reader), None).await.error(403).0, "forbidden");
        let unknown = "01a20436-0000-7000-8000-000000000000";
        assert_eq!(app.call("DELETE", &format!("{path}/{unknown}"), Some(&admin), None).await.error(404).0, "not_found");
        let (other, other_token) = TestApp::environment(&app.db, "Globex").await;
        let theirs = app.call("GET", &tokens_path(&other), Some(&other_token), None).await;
        let their_id = theirs.body["items"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("DELETE", &format!("{path}/{their_id}"), Some(&admin), None).await.error(404).0, "not_found", "another organization's token");
        assert_eq!(app.call("DELETE", &format!("{}/{their_id}", tokens_path(&other)), Some(&admin), None).await.error(404).0, "not_found");
    }

    async fn a_token_stops_at_its_expiry_and_its_changes_are_attributed_to_it(db) {
        let app = TestApp::start(db).await;
        let path = tokens_path(&app.org_id);
        let expires = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
        let r = app.call("POST", &path, Some(&app.token.clone()), Some(json!({"name": "Import", "permissions": ["members.invite", "members.read"], "expires_at": expires}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let (secret, id) = (r.body["token"].as_str().unwrap().to_owned(), r.body["id"].as_str().unwrap().to_owned());
        let members = format!("/api/v1/organizations/{}/members", app.org_id);
        let r = app.call("POST", &members, Some(&secret), Some(json!({"email": "anna@example.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 5).await.unwrap();
        let added = events.iter().find(|e| e.action == "member.added").unwrap();
        assert_eq!(added.actor.kind(), "api_token");
        assert_eq!(added.actor.id().map(|u| u.to_string()), Some(id.clone()), "the change names the token");
        tokio::time::sleep(Duration::from_millis(1600)).await;
        assert_eq!(app.call("GET", &members, Some(&secret), None).await.error(401).0, "invalid_token", "expired");
    }
}
