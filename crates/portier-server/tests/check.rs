//! The check API (`POST /check`, `/check/batch`) and resources with grants:
//! answers from roles, groups, inheritance and grants; who may ask; and how
//! soon a change is answered, on this node and on another, on both backends.

mod common;

use std::time::Duration;

use common::TestApp;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::{Value, json};

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app
        .call("POST", path, Some(&app.token.clone()), Some(body))
        .await;
    assert!(r.status == 201 || r.status == 200, "{path}: {}", r.body);
    r.body
}

async fn child(app: &TestApp, parent: &str, name: &str) -> String {
    post(
        app,
        "/api/v1/organizations",
        json!({"name": name, "parent_id": parent}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn role(app: &TestApp, key: &str, permissions: &[&str]) {
    let path = format!("/api/v1/organizations/{}/roles", app.org_id);
    post(
        app,
        &path,
        json!({"key": key, "name": {"en": key}, "kind": "content", "permissions": permissions}),
    )
    .await;
}

/// The environment Acme with Ward 3 below it and Night team below that; Anna
/// holds `resident` in Acme, `nurse` in Ward 3 and, through a group of Night
/// team, `night`; she manages the administration fin-01 of Acme and her
/// group uses the mailbox sales of Ward 3. Returns (ward, team, anna, bob).
async fn hospital(app: &TestApp) -> (String, String, String, String) {
    let env = app.org_id.clone();
    let ward = child(app, &env, "Ward 3").await;
    let team = child(app, &ward, "Night team").await;
    role(app, "resident", &["documents.read"]).await;
    role(app, "nurse", &["charts.write", "mailbox.use"]).await;
    role(app, "night", &["rota.read"]).await;
    let anna = app
        .add_member(json!({"email": "anna@example.nl", "roles": ["resident"]}))
        .await;
    app.add_member_to(
        &ward,
        json!({"email": "anna@example.nl", "roles": ["nurse"]}),
    )
    .await;
    let group = post(
        app,
        &format!("/api/v1/organizations/{team}/groups"),
        json!({"name": "Night shift", "roles": ["night"]}),
    )
    .await;
    let group = group["id"].as_str().unwrap().to_owned();
    app.add_member_to(
        &team,
        json!({"email": "anna@example.nl", "groups": [group]}),
    )
    .await;
    let bob = app.add_member(json!({"email": "bob@example.nl"})).await;
    post(
        app,
        &format!("/api/v1/organizations/{env}/resources"),
        json!({"type": "administration", "id": "fin-01", "name": "Finance"}),
    )
    .await;
    post(
        app,
        &format!("/api/v1/organizations/{env}/resources/administration/fin-01/grants"),
        json!({"relation": "manage", "account_id": anna}),
    )
    .await;
    post(
        app,
        &format!("/api/v1/organizations/{ward}/resources"),
        json!({"type": "mailbox", "id": "sales@acme.nl", "name": "Sales"}),
    )
    .await;
    let ward_group = post(
        app,
        &format!("/api/v1/organizations/{ward}/groups"),
        json!({"name": "Front desk"}),
    )
    .await;
    let ward_group = ward_group["id"].as_str().unwrap().to_owned();
    app.add_member_to(
        &ward,
        json!({"email": "bob@example.nl", "groups": [ward_group]}),
    )
    .await;
    post(
        app,
        &format!("/api/v1/organizations/{ward}/resources/mailbox/sales@acme.nl/grants"),
        json!({"relation": "send", "group_id": ward_group}),
    )
    .await;
    (ward, team, anna, bob)
}

fn q(account: &str, permission: &str, org: &str) -> Value {
    json!({"account_id": account, "permission": permission, "organization_id": org})
}

fn qr(account: &str, permission: &str, org: &str, kind: &str, id: &str) -> Value {
    json!({"account_id": account, "permission": permission, "organization_id": org, "resource": {"type": kind, "id": id}})
}

async fn allowed(app: &TestApp, base: &str, question: Value) -> bool {
    let r = app
        .call_at(
            base,
            "POST",
            "/api/v1/check",
            Some(&app.token.clone()),
            Some(question.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{question}: {}", r.body);
    r.body["allowed"].as_bool().unwrap()
}

/// Asks until the answer is `expected`, for at most `within`; returns
/// whether it came.
async fn becomes(
    app: &TestApp,
    base: &str,
    question: Value,
    expected: bool,
    within: Duration,
) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if allowed(app, base, question.clone()).await == expected {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_backends! {
    async fn answers_come_from_roles_groups_inheritance_and_grants(db) {
        let app = TestApp::start(db).await;
        let (ward, team, anna, bob) = hospital(&app).await;
        let env = app.org_id.clone();
        let cases = [
            (q(&anna, "documents.read", &env), true),
            (q(&anna, "documents.read", &team), true),
            (q(&anna, "charts.write", &env), false),
            (q(&anna, "charts.write", &ward), true),
            (q(&anna, "charts.write", &team), true),
            (q(&anna, "rota.read", &team), true),
            (q(&anna, "rota.read", &ward), false),
            (q(&anna, "documents.delete", &team), false),
            (q(&anna, "members.invite", &env), false),
            (q(&bob, "documents.read", &env), false),
            (qr(&anna, "administration.manage", &team, "administration", "fin-01"), true),
            (qr(&anna, "administration.use", &team, "administration", "fin-01"), false),
            (qr(&anna, "administration.manage", &team, "administration", "fin-02"), false),
            (qr(&anna, "mailbox.use", &ward, "mailbox", "anything@acme.nl"), true),
            (qr(&anna, "mailbox.use", &env, "mailbox", "anything@acme.nl"), false),
            (qr(&bob, "mailbox.send", &ward, "mailbox", "sales@acme.nl"), true),
            (qr(&bob, "mailbox.send", &env, "mailbox", "sales@acme.nl"), false),
            (qr(&anna, "mailbox.send", &ward, "mailbox", "sales@acme.nl"), false),
        ];
        for (question, expected) in &cases {
            assert_eq!(allowed(&app, &app.base, question.clone()).await, *expected, "{question}");
        }
        let checks: Vec<Value> = cases.iter().map(|(q, _)| q.clone()).collect();
        let r = app.call("POST", "/api/v1/check/batch", Some(&app.token.clone()), Some(json!({"checks": checks}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let answers: Vec<bool> = r.body["results"].as_array().unwrap().iter().map(|a| a["allowed"].as_bool().unwrap()).collect();
        assert_eq!(answers, cases.iter().map(|(_, e)| *e).collect::<Vec<_>>());
    }

    async fn a_change_is_answered_at_once_on_the_node_that_made_it(db) {
        let app = TestApp::start(db).await;
        let (ward, team, anna, bob) = hospital(&app).await;
        let token = app.token.clone();
        let base = app.base.clone();
        assert!(allowed(&app, &base, q(&anna, "charts.write", &team)).await);
        let r = app.call("PUT", &format!("/api/v1/organizations/{ward}/members/{anna}/roles"), Some(&token), Some(json!({"roles": []}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!allowed(&app, &base, q(&anna, "charts.write", &team)).await, "a role taken away");
        assert!(allowed(&app, &base, q(&anna, "documents.read", &team)).await);
        let r = app.call("PATCH", &format!("/api/v1/organizations/{}/roles/resident", app.org_id), Some(&token), Some(json!({"permissions": ["documents.list"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(!allowed(&app, &base, q(&anna, "documents.read", &team)).await, "a role's permission taken away");
        assert!(allowed(&app, &base, q(&anna, "documents.list", &team)).await);
        assert!(allowed(&app, &base, q(&anna, "rota.read", &team)).await);
        let groups = app.get(&format!("/api/v1/organizations/{team}/groups")).await;
        let night = groups.body["items"][0]["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("DELETE", &format!("/api/v1/organizations/{team}/groups/{night}/members/{anna}"), Some(&token), None).await.status, 204);
        assert!(!allowed(&app, &base, q(&anna, "rota.read", &team)).await, "out of the group");
        let mailbox = qr(&bob, "mailbox.send", &ward, "mailbox", "sales@acme.nl");
        assert!(allowed(&app, &base, mailbox.clone()).await);
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{ward}/members/{bob}/deactivate"), Some(&token), None).await.status, 200);
        assert!(!allowed(&app, &base, mailbox.clone()).await, "a deactivated member holds nothing there");
        let admin = qr(&anna, "administration.manage", &team, "administration", "fin-01");
        assert!(allowed(&app, &base, admin.clone()).await);
        let fin = app.get(&format!("/api/v1/organizations/{}/resources/administration/fin-01", app.org_id)).await;
        let grant = fin.body["grants"][0]["id"].as_str().unwrap().to_owned();
        let r = app.call("DELETE", &format!("/api/v1/organizations/{}/resources/administration/fin-01/grants/{grant}", app.org_id), Some(&token), None).await;
        assert_eq!(r.status, 204);
        assert!(!allowed(&app, &base, admin).await, "a grant taken away");
        assert_eq!(app.call("DELETE", &format!("/api/v1/organizations/{}/members/{anna}", app.org_id), Some(&token), None).await.status, 204);
        assert!(!allowed(&app, &base, q(&anna, "documents.list", &app.org_id)).await, "a removed member holds nothing");
    }

    async fn another_node_hears_of_a_change_and_never_answers_from_older_than_the_bound(db) {
        let app = TestApp::start(db).await;
        let (ward, _team, anna, _bob) = hospital(&app).await;
        let token = app.token.clone();
        let question = q(&anna, "charts.write", &ward);
        let postgres = app.db.store.backend() == portier_store::Backend::Postgres;
        // On PostgreSQL the other node is told at once: its own bound is set
        // far away, so only the notification can make it forget. On SQLite
        // (one process in production; here a second store on the same file)
        // nothing tells it, and the bound is what holds.
        let bound = if postgres { Duration::from_secs(3600) } else { Duration::from_millis(300) };
        let other = app.second_node(|c| c.rights_max_age = bound).await;
        assert!(becomes(&app, &other, question.clone(), true, Duration::from_secs(5)).await);
        // Its listener is connected by now (and forgot everything once when
        // it was); the answer is in its cache again.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(allowed(&app, &other, question.clone()).await);
        let r = app.call("PUT", &format!("/api/v1/organizations/{ward}/members/{anna}/roles"), Some(&token), Some(json!({"roles": ["member"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if postgres {
            assert!(becomes(&app, &other, question.clone(), false, Duration::from_secs(5)).await, "the notification reached the other node");
        } else {
            tokio::time::sleep(bound).await;
            assert!(!allowed(&app, &other, question.clone()).await, "nothing older than the bound is used");
        }
        let r = app.call("PUT", &format!("/api/v1/organizations/{ward}/members/{anna}/roles"), Some(&token), Some(json!({"roles": ["nurse"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(becomes(&app, &other, question, true, Duration::from_secs(5)).await);
    }

    async fn only_those_with_a_right_on_the_organization_may_ask(db) {
        let app = TestApp::start(db).await;
        let anna = app.add_member(json!({"email": "anna@example.nl"})).await;
        let org = app.org_id.clone();
        let question = q(&anna, "documents.read", &org);
        let (_, foreign) = TestApp::environment(&app.db, "Globex").await;
        let r = app.call("POST", "/api/v1/check", Some(&foreign), Some(question.clone())).await;
        assert_eq!(r.error(404).0, "not_found", "another environment learns nothing");
        let no_read = app.restricted_token(&org, [p::TOKENS_MANAGE].into_iter().collect()).await;
        assert_eq!(app.call("POST", "/api/v1/check", Some(&no_read), Some(question.clone())).await.error(403).0, "forbidden");
        let reader = app.restricted_token(&org, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("POST", "/api/v1/check", Some(&reader), Some(question.clone())).await.status, 200);
        assert_eq!(app.call("POST", "/api/v1/check", None, Some(question.clone())).await.error(401).0, "unauthenticated");
        let unknown = q(&anna, "documents.read", "01a20436-0000-7000-8000-000000000000");
        assert_eq!(app.call("POST", "/api/v1/check", Some(&reader), Some(unknown)).await.error(404).0, "not_found");
        let bad = q(&anna, "documents", &org);
        assert_eq!(app.call("POST", "/api/v1/check", Some(&reader), Some(bad.clone())).await.error(422), ("permission_invalid", Some("permission")));
        let r = app.call("POST", "/api/v1/check/batch", Some(&reader), Some(json!({"checks": [question.clone(), bad]}))).await;
        assert_eq!(r.error(422).1, Some("checks[1].permission"));
        assert_eq!(app.call("POST", "/api/v1/check/batch", Some(&reader), Some(json!({"checks": []}))).await.error(422).1, Some("checks"));
        let r = app.call("POST", "/api/v1/check", Some(&reader), Some(json!({"account_id": "nope", "permission": "a.b", "organization_id": org}))).await;
        assert_eq!(r.error(422).1, Some("account_id"));
    }

    async fn resources_are_registered_once_and_granted_to_members_and_groups_only(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let org = app.org_id.clone();
        let path = format!("/api/v1/organizations/{org}/resources");
        let body = json!({"type": "administration", "id": "fin/01", "name": "Finance"});
        let r = app.call("POST", &path, Some(&token), Some(body.clone())).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.headers["location"], format!("/api/v1/organizations/{org}/resources/administration/fin%2F01").as_str());
        assert_eq!(app.call("POST", &path, Some(&token), Some(body)).await.error(409), ("resource_taken", Some("id")));
        let one = format!("{path}/administration/fin%2F01");
        assert_eq!(app.get(&one).await.body["name"], "Finance");
        let (_, foreign_token) = TestApp::environment(&app.db, "Globex").await;
        let stranger = "01a20436-0000-7000-8000-000000000000";
        let r = app.call("POST", &format!("{one}/grants"), Some(&token), Some(json!({"relation": "manage", "account_id": stranger}))).await;
        assert_eq!(r.error(422), ("not_a_member", Some("account_id")));
        let r = app.call("POST", &format!("{one}/grants"), Some(&token), Some(json!({"relation": "manage"}))).await;
        assert_eq!(r.error(422), ("one_holder", Some("account_id")));
        let anna = app.add_member(json!({"email": "anna@example.nl"})).await;
        let first = app.call("POST", &format!("{one}/grants"), Some(&token), Some(json!({"relation": "manage", "account_id": anna}))).await;
        assert_eq!(first.status, 201, "{}", first.body);
        let again = app.call("POST", &format!("{one}/grants"), Some(&token), Some(json!({"relation": "manage", "account_id": anna}))).await;
        assert_eq!(again.body["id"], first.body["id"], "granting again changes nothing");
        assert_eq!(app.get(&one).await.body["grants"].as_array().unwrap().len(), 1);
        assert_eq!(app.call("GET", &one, Some(&foreign_token), None).await.error(404).0, "not_found");
        let plain = app.restricted_token(&org, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("POST", &path, Some(&plain), Some(json!({"type": "mailbox", "id": "x", "name": "X"}))).await.error(403).0, "forbidden");
        assert_eq!(app.call("DELETE", &one, Some(&token), None).await.status, 204);
        assert_eq!(app.call("GET", &one, Some(&token), None).await.error(404).0, "not_found");
        let events = portier_store::audit::for_organization(&app.db.store, org.parse().unwrap(), 20).await.unwrap();
        for action in ["resource.created", "resource.granted", "resource.deleted"] {
            assert!(events.iter().any(|e| e.action == action), "{action}");
        }
    }
}
