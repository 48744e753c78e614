//! The REST API through real HTTP, on SQLite and PostgreSQL.

mod common;

use common::TestApp;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::json;

both_backends! {
    async fn health_readiness_and_metrics_answer(db) {
        let app = TestApp::start(db).await;
        let r = app.call("GET", "/healthz", None, None).await;
        assert_eq!(r.status, 200);
        let r = app.call("GET", "/readyz", None, None).await;
        assert_eq!((r.status, r.body["status"].as_str()), (200, Some("ready")));
        app.get(&format!("/api/v1/organizations/{}", app.org_id)).await;
        let m = app.call("GET", "/metrics", None, None).await;
        assert_eq!(m.status, 200);
        assert!(m.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = m.body.as_str().unwrap();
        assert!(text.contains(r#"http_requests_total{method="GET",route="/api/v1/organizations/{org}",status="200"}"#), "{text}");
        assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
        assert!(text.contains("portier_db_connections"), "{text}");
    }

    async fn the_bootstrap_token_reads_its_organization(db) {
        let app = TestApp::start(db).await;
        let r = app.get(&format!("/api/v1/organizations/{}", app.org_id)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["name"], "Acme");
        assert_eq!(r.body["parent_id"], json!(null));
        assert_eq!(r.body["environment_id"], json!(app.org_id));
        assert_eq!(r.body["settings"]["password_policy"]["min_length"], 8);
        assert_eq!(r.body["settings"]["billing_cycle"], "monthly");
    }

    async fn a_missing_or_wrong_token_is_401_with_the_error_body(db) {
        let app = TestApp::start(db).await;
        let path = format!("/api/v1/organizations/{}", app.org_id);
        let r = app.call("GET", &path, None, None).await;
        assert_eq!(r.error(401).0, "unauthenticated");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
        let r = app.call("GET", &path, Some("ptk_0000000000000000000000000000000000000000000000000000000000000000"), None).await;
        assert_eq!(r.error(401).0, "invalid_token");
        let r = app.call("GET", &path, Some("not-even-our-format"), None).await;
        assert_eq!(r.error(401).0, "invalid_token");
        let r = TestApp::answer(app.client.get(format!("{}{path}", app.base)).header("authorization", "Basic YTpi").send().await.unwrap()).await;
        assert_eq!(r.error(401).0, "invalid_authorization");
    }

    async fn another_environment_is_invisible(db) {
        let app = TestApp::start(db).await;
        let (other, other_token) = TestApp::environment(&app.db, "Globex").await;
        let r = app.get(&format!("/api/v1/organizations/{other}")).await;
        assert_eq!(r.error(404).0, "not_found");
        let r = app.call("PATCH", &format!("/api/v1/organizations/{other}"), Some(&app.token.clone()), Some(json!({"name": "Mine now"}))).await;
        assert_eq!(r.error(404).0, "not_found");
        let r = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": "Spy", "parent_id": other}))).await;
        assert_eq!(r.error(404), ("not_found", Some("parent_id")));
        let list = app.get("/api/v1/organizations").await;
        let ids: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec![app.org_id.as_str()]);
        // And the other way round.
        let r = app.call("GET", &format!("/api/v1/organizations/{}", app.org_id), Some(&other_token), None).await;
        assert_eq!(r.status, 404);
        // An id that exists nowhere answers exactly like one that exists elsewhere.
        let r = app.get("/api/v1/organizations/01a20436-0000-7000-8000-000000000000").await;
        assert_eq!(r.error(404).0, "not_found");
    }

    async fn children_are_created_below_and_listed_in_pages(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "  Chirurgie ", "parent_id": app.org_id, "settings": {"locale": "nl"}}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["name"], "Chirurgie");
        assert_eq!(r.body["parent_id"], json!(app.org_id));
        assert_eq!(r.body["settings"]["locale"], "nl");
        let child = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(r.headers["location"], format!("/api/v1/organizations/{child}").as_str());
        let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Team A", "parent_id": child}))).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["settings"]["locale"], "nl", "a child starts with its parent's settings");
        assert_eq!(r.body["environment_id"], json!(app.org_id));

        let page1 = app.get("/api/v1/organizations?limit=2").await;
        assert_eq!(page1.body["items"].as_array().unwrap().len(), 2);
        let cursor = page1.body["next_cursor"].as_str().expect("a next page").to_owned();
        let page2 = app.get(&format!("/api/v1/organizations?limit=2&cursor={cursor}")).await;
        assert_eq!(page2.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(page2.body["next_cursor"], json!(null));
        assert_eq!(app.get("/api/v1/organizations?limit=0").await.error(422), ("invalid_limit", Some("limit")));
        assert_eq!(app.get("/api/v1/organizations?limit=x").await.error(422).1, Some("limit"));
        assert_eq!(app.get("/api/v1/organizations?cursor=nope").await.error(422).1, Some("cursor"));

        // A token on the child sees the child and below, not the parent.
        let child_token = app.restricted_token(&child, [p::MEMBERS_READ].into_iter().collect()).await;
        let r = app.call("GET", "/api/v1/organizations", Some(&child_token), None).await;
        assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
        let r = app.call("GET", &format!("/api/v1/organizations/{}", app.org_id), Some(&child_token), None).await;
        assert_eq!(r.status, 404, "rights on a child give nothing on its parent");
    }

    async fn changes_need_the_permission(db) {
        let app = TestApp::start(db).await;
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        let r = app.call("PATCH", &format!("/api/v1/organizations/{}", app.org_id), Some(&reader), Some(json!({"name": "X"}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("org.update"));
        let r = app.call("POST", "/api/v1/organizations", Some(&reader), Some(json!({"name": "X", "parent_id": app.org_id}))).await;
        assert_eq!(r.error(403), ("forbidden", Some("parent_id")));
        let r = app.get(&format!("/api/v1/organizations/{}", app.org_id)).await;
        assert_eq!(r.body["name"], "Acme", "nothing changed");
    }

    async fn updates_apply_and_leave_an_attributable_audit_event(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let path = format!("/api/v1/organizations/{}", app.org_id);
        let r = app.call("PATCH", &path, Some(&token), Some(json!({"name": "Acme BV", "settings": {"require_two_factor": true, "billing_cycle": "annual",
            "password_policy": {"min_length": 12, "require_digit": true, "require_lower": true, "require_upper": true, "require_symbol": true}}}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["name"], "Acme BV");
        assert_eq!(r.body["settings"]["require_two_factor"], true);
        assert_eq!(r.body["settings"]["billing_cycle"], "annual");
        assert_eq!(r.body["settings"]["password_policy"]["min_length"], 12);
        assert_eq!(app.get(&path).await.body, r.body);
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 1).await.unwrap();
        let e = &events[0];
        assert_eq!(e.action, "organization.updated");
        assert_eq!(e.changes["name"], json!({"before": "Acme", "after": "Acme BV"}));
        assert_eq!(e.changes["settings.billing_cycle"], json!({"before": "monthly", "after": "annual"}));
        assert_eq!(e.client_addr.as_deref(), Some("127.0.0.1"));
        assert_eq!(e.actor.kind(), "api_token");
        assert!(e.actor.account_id().is_some(), "the bootstrap token is attributable to its administrator");
        // A named preset instead of the rules.
        let nist = app.call("PATCH", &path, Some(&token), Some(json!({"settings": {"password_preset": "nist"}}))).await;
        assert_eq!(nist.status, 200, "{}", nist.body);
        assert_eq!(nist.body["settings"]["password_policy"], json!({"min_length": 15, "require_digit": false,
            "require_lower": false, "require_upper": false, "require_symbol": false}));
        let standard = app.call("PATCH", &path, Some(&token), Some(json!({"settings": {"password_preset": "standard"}}))).await;
        assert_eq!(standard.body["settings"]["password_policy"], json!({"min_length": 8, "require_digit": true,
            "require_lower": true, "require_upper": true, "require_symbol": false}));
    }

    async fn bad_input_is_a_clear_4xx_naming_the_field(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let path = format!("/api/v1/organizations/{}", app.org_id);
        let cases = [
            (json!({"settings": {"locale": "fr"}}), 422, "settings.locale"),
            (json!({"settings": {"billing_cycle": "weekly"}}), 422, "settings.billing_cycle"),
            (json!({"name": "   "}), 422, "name"),
            (json!({"name": "x".repeat(201)}), 422, "name"),
            (json!({"name": 5}), 422, "name"),
            (json!({"parent_id": app.org_id}), 422, "parent_id"),
            (json!({"settings": {"password_policy": {"min_length": 4, "require_digit": true, "require_lower": true, "require_upper": true, "require_symbol": false}}}), 422, "settings.password_policy.min_length"),
            (json!({"settings": {"password_policy": {"min_length": 8}}}), 422, "settings.password_policy.require_digit"),
            (json!({"settings": {"password_preset": "strong"}}), 422, "settings.password_preset"),
            (json!({"settings": {"password_preset": "nist", "password_policy": {"min_length": 15, "require_digit": false,
                "require_lower": false, "require_upper": false, "require_symbol": false}}}), 422, "settings.password_preset"),
        ];
        for (body, status, field) in cases {
            let r = app.call("PATCH", &path, Some(&token), Some(body.clone())).await;
            assert_eq!(r.error(status).1, Some(field), "{body}");
        }
        let create = [
            (json!({"parent_id": app.org_id}), "name"),
            (json!({"name": "X"}), "parent_id"),
            (json!({"name": "X", "parent_id": "not-a-uuid"}), "parent_id"),
        ];
        for (body, field) in create {
            let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(body.clone())).await;
            assert_eq!(r.error(422).1, Some(field), "{body}");
        }
        let raw = |body: &'static str, content_type: &'static str| {
            app.client.patch(format!("{}{path}", app.base)).bearer_auth(&token).header("content-type", content_type).body(body).send()
        };
        assert_eq!(TestApp::answer(raw("{", "application/json").await.unwrap()).await.error(400).0, "malformed_json");
        assert_eq!(TestApp::answer(raw("name=x", "application/x-www-form-urlencoded").await.unwrap()).await.error(415).0, "unsupported_media_type");
        // A body over the limit is refused from its announced length, before it is read.
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 * 1024 * 1024
        );
        let mut socket = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut socket, head.as_bytes()).await.unwrap();
        let mut answer = vec![0u8; 12];
        tokio::io::AsyncReadExt::read_exact(&mut socket, &mut answer).await.unwrap();
        assert_eq!(String::from_utf8_lossy(&answer), "HTTP/1.1 413");
        assert_eq!(app.get("/api/v1/organizations/not-a-uuid").await.error(400), ("invalid_id", Some("org")));
        assert_eq!(app.get("/api/v1/nothing-here").await.error(404).0, "not_found");
        assert_eq!(app.call("DELETE", &path, Some(&token), None).await.error(405).0, "method_not_allowed");
        assert_eq!(app.get(&path).await.body["name"], "Acme", "no bad request changed anything");
    }

    async fn request_ids_are_issued_and_propagated(db) {
        let app = TestApp::start(db).await;
        let r = app.call("GET", "/healthz", None, None).await;
        assert_eq!(r.headers["x-request-id"].len(), 36);
        let r = app.client.get(format!("{}/healthz", app.base)).header("x-request-id", "trace-me-123").send().await.unwrap();
        assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    }
}

#[tokio::test]
async fn the_openapi_document_describes_the_routes_and_bearer_auth() {
    let spec: serde_json::Value = serde_json::from_str(portier_server::api::openapi()).unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/organizations", "/api/v1/organizations/{org}"] {
        assert!(spec["paths"][path].is_object(), "{path} missing");
    }
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(spec["components"]["schemas"]["ErrorBody"].is_object());
}

/// OpenAPI requires every operation's id to be unique; generated clients and
/// schemathesis' link inference mix up operations that share one.
#[tokio::test]
async fn every_operation_has_an_id_of_its_own() {
    let spec: serde_json::Value = serde_json::from_str(portier_server::api::openapi()).unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path} repeats the operationId {id}"
            );
        }
    }
}

/// Every `$ref` names a schema the document holds: a dangling one makes
/// clients and schemathesis skip that part of the operation.
#[tokio::test]
async fn every_reference_in_the_openapi_document_resolves() {
    fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r.to_owned()),
                        _ => refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let spec: serde_json::Value = serde_json::from_str(portier_server::api::openapi()).unwrap();
    let mut found = Vec::new();
    refs(&spec, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r}: not a schema reference"));
        assert!(
            spec["components"]["schemas"][name].is_object(),
            "{r} names no schema of the document"
        );
    }
}
