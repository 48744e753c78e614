//! The audit trail through real HTTP, on both backends.

mod common;

use common::TestApp;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::json;

both_backends! {
    async fn every_change_is_in_the_trail_with_its_actor_and_filters_narrow_it(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let members = format!("/api/v1/organizations/{}/members", app.org_id);
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "jan@example.nl"}))).await;
        let jan = r.body["account_id"].as_str().unwrap().to_owned();
        app.call("PATCH", &format!("{members}/{jan}"), Some(&token), Some(json!({"job_title": "Arts"}))).await;
        app.call("POST", &format!("{members}/{jan}/deactivate"), Some(&token), None).await;
        let child = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Chirurgie", "parent_id": app.org_id}))).await;
        let child = child.body["id"].as_str().unwrap().to_owned();

        let base = format!("/api/v1/organizations/{}/audit", app.org_id);
        let all = app.get(&base).await;
        assert_eq!(all.status, 200, "{}", all.body);
        let actions: Vec<&str> = all.body["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
        assert_eq!(&actions[..4], &["organization.created", "member.deactivated", "member.updated", "member.added"], "newest first, children included");
        let first = &all.body["items"][3];
        assert_eq!(first["actor"]["type"], "api_token");
        assert!(first["actor"]["account_id"].is_string(), "attributable to a person");
        assert_eq!(first["target"], json!({"type": "account", "id": jan}));
        assert_eq!(first["client_addr"], "127.0.0.1");
        assert_eq!(app.get(&format!("{base}?action=member.updated")).await.body["items"][0]["changes"]["membership.job_title"], json!({"before": null, "after": "Arts"}));
        assert_eq!(app.get(&format!("{base}?target={jan}")).await.body["items"].as_array().unwrap().len(), 3);
        let actor = first["actor"]["account_id"].as_str().unwrap();
        assert!(app.get(&format!("{base}?actor={actor}")).await.body["items"].as_array().unwrap().len() >= 4);
        assert_eq!(app.get(&format!("{base}?actor=nope")).await.error(422).1, Some("actor"));

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor { Some(c) => format!("{base}?limit=2&cursor={c}"), None => format!("{base}?limit=2") };
            let page = app.get(&url).await;
            seen.extend(page.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()));
            match page.body["next_cursor"].as_str() { Some(c) => cursor = Some(c.to_owned()), None => break }
        }
        let ids: Vec<String> = all.body["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect();
        assert_eq!(seen, ids);

        // A child's trail holds only the child's events.
        let child_trail = app.get(&format!("/api/v1/organizations/{child}/audit")).await;
        assert_eq!(child_trail.body["items"].as_array().unwrap().len(), 1);
        // audit.read is needed, and other environments stay out of reach.
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("GET", &base, Some(&reader), None).await.error(403).0, "forbidden");
        let (other, _) = TestApp::environment(&app.db, "Globex").await;
        assert_eq!(app.get(&format!("/api/v1/organizations/{other}/audit")).await.error(404).0, "not_found");
    }

    async fn behind_a_trusted_proxy_the_client_it_names_is_recorded_and_nobody_else_can_choose_theirs(db) {
        use portier_server::extract::TrustedProxies;
        let trusting = TestApp::start_with(db, |c| c.trusted_proxies = TrustedProxies::parse("127.0.0.1").unwrap()).await;
        let add = |app: &TestApp, email: &'static str, forwarded: &'static str| {
            app.client.post(format!("{}/api/v1/organizations/{}/members", app.base, app.org_id))
                .bearer_auth(&app.token).header("x-forwarded-for", forwarded)
                .json(&json!({"email": email})).send()
        };
        // The client wrote the first address itself; the proxy appended the second.
        assert_eq!(add(&trusting, "jan@example.nl", "6.6.6.6, 203.0.113.7").await.unwrap().status(), 201);
        let events = portier_store::audit::for_organization(&trusting.db.store, trusting.org_id.parse().unwrap(), 1).await.unwrap();
        assert_eq!(events[0].client_addr.as_deref(), Some("203.0.113.7"));

        // Without trusted proxies the header is only the client's own words.
        let db = match trusting.db.store.backend() {
            portier_store::Backend::Sqlite => portier_store::testing::TestDb::sqlite().await,
            portier_store::Backend::Postgres => portier_store::testing::TestDb::postgres().await,
        };
        let plain = TestApp::start(db).await;
        assert_eq!(add(&plain, "anna@example.nl", "203.0.113.7").await.unwrap().status(), 201);
        let events = portier_store::audit::for_organization(&plain.db.store, plain.org_id.parse().unwrap(), 1).await.unwrap();
        assert_eq!(events[0].client_addr.as_deref(), Some("127.0.0.1"));
    }
}
