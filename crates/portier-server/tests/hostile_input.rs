//! Input nobody should send still gets a clear 4xx naming what is wrong,
//! never a 500, on both backends: NUL characters and broken UTF-8 in
//! addresses, queries, forms and JSON; more labels than a member can carry;
//! addresses that imitate another person's.

mod common;

use common::TestApp;
use common::browser::{get, post};
use portier_store::both_backends;
use serde_json::json;

both_backends! {
    async fn nul_characters_and_broken_utf8_are_refused_naming_the_field(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        for (query, status, code, field) in [
            ("members?q=ab%00c", 422, "nul_character", "q"),
            ("members?role=%00", 422, "nul_character", "role"),
            ("members?label=x%00", 422, "nul_character", "label"),
            ("members?q=%FF%FE", 400, "unreadable", "q"),
            ("audit?action=member.added%00", 422, "nul_character", "action"),
            ("audit?target=%00", 422, "nul_character", "target"),
            ("portfolios?type=a%00b", 422, "nul_character", "type"),
            ("billing?from=%00&to=2026-02", 422, "nul_character", "from"),
            ("members/export?format=csv&q=%00", 422, "nul_character", "q"),
        ] {
            let r = app.call("GET", &format!("/api/v1/organizations/{org}/{query}"), Some(&token), None).await;
            assert_eq!(r.error(status), (code, Some(field)), "{query}");
        }
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/roles/a%FFb"), Some(&token), None).await;
        assert_eq!(r.error(400), ("unreadable", Some("path")));
        assert_eq!(r.headers["content-type"], "application/json");
        let r = app.call("PATCH", &format!("/api/v1/organizations/{org}"), Some(&token), Some(json!({"name": "Acme\u{0}"}))).await;
        assert_eq!(r.error(422), ("nul_character", Some("name")));
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members"), Some(&token), Some(json!({"email": "a@example.nl", "labels": ["ok", "n\u{0}ul"]}))).await;
        assert_eq!(r.error(422), ("nul_character", Some("labels[1]")));
        // The console says so on a page of its own, in the reader's language.
        let admin = app.session_in(&org, "admin@example.nl", &["administrator"]).await;
        let page = get(&app, &format!("/orgs/{org}/members?q=%00"), Some(&admin), Some("nl")).await;
        assert_eq!(page.status, 422);
        assert!(page.html.contains("kon niet worden gelezen"), "{}", page.html);
        let page = post(&app, "/account", Some(&admin), &[("given_name", "Sam\u{0}")]).await;
        assert_eq!(page.status, 422, "{}", page.html);
        let page = get(&app, &format!("/orgs/{org}/members?q=%C3"), Some(&admin), None).await;
        assert_eq!(page.status, 400, "{}", page.html);
        // Nothing of it reached the database.
        let r = app.get(&format!("/api/v1/organizations/{org}")).await;
        assert_eq!(r.body["name"], "Acme");
    }

    async fn a_member_carries_at_most_fifty_labels(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let labels: Vec<String> = (0..51).map(|i| format!("L{i}")).collect();
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members"), Some(&app.token.clone()), Some(json!({"email": "a@example.nl", "labels": labels}))).await;
        assert_eq!(r.error(422), ("too_many", Some("labels")));
        let id = app.add_member(json!({"email": "a@example.nl", "labels": &labels[..50]})).await;
        let r = app.call("PATCH", &format!("/api/v1/organizations/{org}/members/{id}"), Some(&app.token.clone()), Some(json!({"labels": labels}))).await;
        assert_eq!(r.error(422), ("too_many", Some("labels")));
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/members/export?format=xlsx"), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 200);
    }

    async fn an_address_that_imitates_another_makes_no_second_account(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let members = format!("/api/v1/organizations/{org}/members");
        let token = app.token.clone();
        app.add_member(json!({"email": "jan@example.nl"})).await;
        // Full-width letters fold to ordinary ones: refused.
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "ｊａｎ@example.nl"}))).await;
        assert_eq!(r.error(422), ("email_look_alike", Some("email")));
        // A Cyrillic а among Latin letters: accepted, with a warning.
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "j\u{0430}n@example.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let warnings: Vec<&str> = r.body["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert_eq!(warnings, ["mixed_scripts"]);
        // The console asks before it adds one.
        let admin = app.session_in(&org, "admin@example.nl", &["administrator"]).await;
        let page = post(&app, &format!("/orgs/{org}/members/new"), Some(&admin), &[("email", "p\u{0430}ul@example.nl"), ("roles", "member")]).await;
        assert_eq!(page.status, 200, "{}", page.html);
        assert!(page.html.contains("different alphabets"), "{}", page.html);
    }
}
