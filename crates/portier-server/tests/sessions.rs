//! Sessions (docs/RULES.md#signing-in-and-sessions): a person lists their own
//! (device, address, started, last seen) and ends any or all others; an
//! administrator ends every session of a member; on both backends.

mod common;

use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::json;

async fn login_as(app: &TestApp, email: &str, agent: &str) -> String {
    let r = app
        .client
        .post(format!("{}/api/v1/auth/login", app.base))
        .header("user-agent", agent)
        .json(&json!({"email": email, "password": GOOD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

both_backends! {
    async fn a_person_sees_their_sessions_and_ends_one_or_all_others(db) {
        let app = TestApp::start(db).await;
        app.person("eva@example.nl", &["member"]).await;
        let laptop = login_as(&app, "eva@example.nl", FIREFOX).await;
        let phone = login_as(&app, "eva@example.nl", IPHONE).await;
        let tablet = login_as(&app, "eva@example.nl", "curl/8").await;
        let list = app.with_cookie("GET", "/api/v1/me/sessions", &laptop, None).await;
        let items = list.body["items"].as_array().unwrap().clone();
        assert_eq!(items.len(), 3, "{}", list.body);
        let mine: Vec<_> = items.iter().filter(|i| i["current"] == true).collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0]["device"], "Firefox on Linux");
        assert_eq!(mine[0]["client_addr"], "127.0.0.1");
        assert!(items.iter().any(|i| i["device"] == "Safari on iPhone"));
        assert!(items.iter().all(|i| i["id"].as_str().unwrap().len() == 32 && i["started_at"].is_string() && i["last_seen_at"].is_string()));
        let stored = portier_store::testing::strings(&app.db.store, "SELECT id_hash FROM sessions").await;
        assert!(items.iter().all(|i| !stored.iter().any(|h| h.contains(i["id"].as_str().unwrap()))), "the id is not the stored key");
        // Another person's session id is not found through mine.
        app.person("sam@example.nl", &["member"]).await;
        let sam = login_as(&app, "sam@example.nl", FIREFOX).await;
        let sams = app.with_cookie("GET", "/api/v1/me/sessions", &sam, None).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/me/sessions/{sams}"), &laptop, None).await.error(404).0, "not_found");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &sam, None).await.status, 200);
        // One ended: the phone is signed out.
        let phone_id = items.iter().find(|i| i["device"] == "Safari on iPhone").unwrap()["id"].as_str().unwrap().to_owned();
        assert_eq!(app.with_cookie("DELETE", &format!("/api/v1/me/sessions/{phone_id}"), &laptop, None).await.status, 204);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &phone, None).await.status, 401);
        // All others: only this one stays.
        let r = app.with_cookie("DELETE", "/api/v1/me/sessions", &laptop, None).await;
        assert_eq!(r.body, json!({"ended": 1}));
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &tablet, None).await.status, 401);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &laptop, None).await.status, 200);
        let actions = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action = 'account.sessions_ended'").await;
        assert_eq!(actions.len(), 2);
    }

    async fn an_administrator_signs_a_member_out_everywhere(db) {
        let app = TestApp::start(db).await;
        let eva = app.person("eva@example.nl", &["member"]).await;
        let boss = app.person("boss@example.nl", &["administrator"]).await;
        let one = login_as(&app, "eva@example.nl", FIREFOX).await;
        let two = login_as(&app, "eva@example.nl", IPHONE).await;
        let boss_session = login_as(&app, "boss@example.nl", FIREFOX).await;
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        let end = |who: &str| format!("/api/v1/organizations/{}/members/{who}/end-sessions", app.org_id);
        let r = app.with_cookie("POST", &end(&eva), &manager, None).await;
        assert_eq!(r.body, json!({"ended": 2}), "{}", r.body);
        for s in [&one, &two] {
            assert_eq!(app.with_cookie("GET", "/api/v1/me", s, None).await.status, 401);
        }
        assert_eq!(app.with_cookie("POST", &end(&boss), &manager, None).await.error(403).0, "forbidden", "an administrator's: admins.manage");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &boss_session, None).await.status, 200);
        let audit = app.get(&format!("/api/v1/organizations/{}/audit?action=member.sessions_ended", app.org_id)).await;
        assert_eq!(audit.body["items"].as_array().unwrap().len(), 1);
        let (_, other) = TestApp::environment(&app.db, "Elders").await;
        assert_eq!(app.call("POST", &end(&eva), Some(&other), None).await.status, 404);
    }
}
