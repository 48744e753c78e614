//! Groups (docs/RULES.md#groups): teams that carry content roles, their
//! members, and the member list's group column and filter, on both backends.

mod common;

use common::TestApp;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::{Value, json};

fn groups_path(org: &str) -> String {
    format!("/api/v1/organizations/{org}/groups")
}

async fn resident_role(app: &TestApp) {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{}/roles", app.org_id),
            Some(&app.token.clone()),
            Some(json!({"key": "resident", "name": {"en": "Resident"}, "kind": "content", "permissions": ["documents.read"]})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

async fn group(app: &TestApp, body: Value) -> String {
    let r = app
        .call(
            "POST",
            &groups_path(&app.org_id),
            Some(&app.token.clone()),
            Some(body),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

both_backends! {
    async fn a_team_carries_roles_and_the_member_list_shows_and_filters_it(db) {
        let app = TestApp::start(db).await;
        resident_role(&app).await;
        let token = app.token.clone();
        let oost = group(&app, json!({"name": "Team Oost", "description": "Wijkteam", "roles": ["resident"]})).await;
        let anna = app.add_member(json!({"email": "anna@example.nl", "family_name": "Aalders", "groups": [oost]})).await;
        let bob = app.add_member(json!({"email": "bob@example.nl", "family_name": "Bakker"})).await;
        let path = format!("{}/{oost}/members/{bob}", groups_path(&app.org_id));
        assert_eq!(app.call("PUT", &path, Some(&token), None).await.status, 204);
        assert_eq!(app.call("PUT", &path, Some(&token), None).await.status, 204, "putting in twice changes nothing");
        app.add_member(json!({"email": "carla@example.nl", "family_name": "Claes"})).await;
        let list = app.get(&format!("/api/v1/organizations/{}/members", app.org_id)).await;
        let by_email = |e: &str| list.body["items"].as_array().unwrap().iter().find(|m| m["email"] == e).unwrap()["groups"].clone();
        assert_eq!(by_email("anna@example.nl"), json!(["Team Oost"]));
        assert_eq!(by_email("carla@example.nl"), json!([]));
        let filtered = app.get(&format!("/api/v1/organizations/{}/members?group={oost}", app.org_id)).await;
        let emails: Vec<&str> = filtered.body["items"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap()).collect();
        assert_eq!(emails, vec!["anna@example.nl", "bob@example.nl"]);
        let g = app.get(&format!("{}/{oost}", groups_path(&app.org_id))).await;
        assert_eq!((g.body["member_count"].as_i64(), g.body["roles"].clone()), (Some(2), json!(["resident"])));
        let members = app.get(&format!("{}/{oost}/members", groups_path(&app.org_id))).await;
        assert_eq!(members.body["items"][0]["account_id"], anna.as_str());
        assert_eq!(app.call("DELETE", &path, Some(&token), None).await.status, 204);
        let detail = app.get(&format!("/api/v1/organizations/{}/members/{bob}", app.org_id)).await;
        assert_eq!(detail.body["groups"], json!([]));
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 20).await.unwrap();
        for action in ["group.created", "group.member_added", "group.member_removed"] {
            assert!(events.iter().any(|e| e.action == action), "{action}");
        }
    }

    async fn groups_refuse_administrator_roles_duplicate_names_and_unknown_ids(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let path = groups_path(&app.org_id);
        let r = app.call("POST", &path, Some(&token), Some(json!({"name": "Bosses", "roles": ["member", "administrator"]}))).await;
        assert_eq!(r.error(422), ("administrator_role_in_group", Some("roles[1]")));
        group(&app, json!({"name": "Team Oost"})).await;
        assert_eq!(app.call("POST", &path, Some(&token), Some(json!({"name": "Team Oost"}))).await.error(409), ("group_name_taken", Some("name")));
        assert_eq!(app.call("POST", &path, Some(&token), Some(json!({"name": " "}))).await.error(422).1, Some("name"));
        let unknown = "01a20436-0000-7000-8000-000000000000";
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&token), Some(json!({"email": "x@example.nl", "groups": [unknown]}))).await;
        assert_eq!(r.error(422), ("group_unknown", Some("groups[0]")));
        assert_eq!(app.call("GET", &format!("{path}/{unknown}"), Some(&token), None).await.error(404).0, "not_found");
        assert_eq!(app.call("GET", &format!("{path}/not-an-id"), Some(&token), None).await.error(400).1, Some("group_id"));
        assert_eq!(app.call("GET", &format!("/api/v1/organizations/{}/members?group=nope", app.org_id), Some(&token), None).await.error(422).1, Some("group"));
    }

    async fn putting_someone_in_a_team_needs_the_right_to_give_its_roles(db) {
        let app = TestApp::start(db).await;
        resident_role(&app).await;
        let residents = group(&app, json!({"name": "Residents", "roles": ["resident"]})).await;
        let plain = group(&app, json!({"name": "Coffee club"})).await;
        let anna = app.add_member(json!({"email": "anna@example.nl"})).await;
        let organizer = app.restricted_token(&app.org_id, [p::GROUPS_MANAGE, p::MEMBERS_READ].into_iter().collect()).await;
        let into = |g: &str| format!("{}/{g}/members/{anna}", groups_path(&app.org_id));
        assert_eq!(app.call("PUT", &into(&residents), Some(&organizer), None).await.error(403).0, "forbidden");
        assert_eq!(app.call("PUT", &into(&plain), Some(&organizer), None).await.status, 204);
        let r = app.call("PATCH", &format!("{}/{plain}", groups_path(&app.org_id)), Some(&organizer), Some(json!({"roles": ["resident"]}))).await;
        assert_eq!(r.error(403).0, "forbidden", "nor give a team roles");
        let r = app.call("PATCH", &format!("{}/{plain}", groups_path(&app.org_id)), Some(&organizer), Some(json!({"name": "Koffieclub", "description": null}))).await;
        assert_eq!((r.status, r.body["name"].clone()), (200, json!("Koffieclub")));
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("POST", &groups_path(&app.org_id), Some(&reader), Some(json!({"name": "X"}))).await.error(403).0, "forbidden");
        assert_eq!(app.call("GET", &groups_path(&app.org_id), Some(&reader), None).await.status, 200);
    }

    async fn a_deleted_team_takes_its_roles_from_its_members_and_a_role_in_a_team_is_in_use(db) {
        let app = TestApp::start(db).await;
        resident_role(&app).await;
        let token = app.token.clone();
        let residents = group(&app, json!({"name": "Residents", "roles": ["resident"]})).await;
        app.add_member(json!({"email": "anna@example.nl", "groups": [residents]})).await;
        let r = app.call("DELETE", &format!("/api/v1/organizations/{}/roles/resident", app.org_id), Some(&token), None).await;
        assert_eq!(r.error(409).0, "role_in_use");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("the group Residents of Acme"), "{}", r.body);
        assert_eq!(app.call("DELETE", &format!("{}/{residents}", groups_path(&app.org_id)), Some(&token), None).await.status, 204);
        assert_eq!(app.get(&groups_path(&app.org_id)).await.body["items"], json!([]));
        assert_eq!(app.call("DELETE", &format!("/api/v1/organizations/{}/roles/resident", app.org_id), Some(&token), None).await.status, 204);
    }

    async fn a_team_of_one_organization_is_unknown_to_another(db) {
        let app = TestApp::start(db).await;
        let team = group(&app, json!({"name": "Team Oost"})).await;
        let (other, other_token) = TestApp::environment(&app.db, "Globex").await;
        let r = app.call("GET", &format!("{}/{team}", groups_path(&other)), Some(&other_token), None).await;
        assert_eq!(r.error(404).0, "not_found");
        let r = app.call("GET", &format!("{}/{team}", groups_path(&app.org_id)), Some(&other_token), None).await;
        assert_eq!(r.error(404).0, "not_found", "another environment's administrator learns nothing");
    }

    async fn joining_a_group_is_for_those_who_manage_groups_and_what_the_group_holds(db) {
        let app = TestApp::start(db).await;
        let team = group(&app, json!({"name": "Front desk"})).await;
        let inviter = app.restricted_token(&app.org_id, [p::MEMBERS_INVITE, p::MEMBERS_READ, p::ROLES_ASSIGN].into_iter().collect()).await;
        let members = format!("/api/v1/organizations/{}/members", app.org_id);
        let r = app.call("POST", &members, Some(&inviter), Some(json!({"email": "x@example.nl", "groups": [team]}))).await;
        assert_eq!(r.error(403).0, "forbidden", "members.invite is not groups.manage");
        // A group holding a grant on a resource passes it on to its members.
        let token = app.token.clone();
        let o = format!("/api/v1/organizations/{}", app.org_id);
        assert_eq!(app.call("POST", &format!("{o}/resources"), Some(&token), Some(json!({"type": "mailbox", "id": "sales", "name": "Sales"}))).await.status, 201);
        assert_eq!(app.call("POST", &format!("{o}/resources/mailbox/sales/grants"), Some(&token), Some(json!({"relation": "send", "group_id": team}))).await.status, 201);
        let anna = app.add_member(json!({"email": "anna@example.nl"})).await;
        let organizer = app.restricted_token(&app.org_id, [p::GROUPS_MANAGE, p::MEMBERS_READ].into_iter().collect()).await;
        let into = format!("{o}/groups/{team}/members/{anna}");
        assert_eq!(app.call("PUT", &into, Some(&organizer), None).await.error(403).0, "forbidden", "resources.manage is needed too");
        let both = app.restricted_token(&app.org_id, [p::GROUPS_MANAGE, p::RESOURCES_MANAGE, p::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("PUT", &into, Some(&both), None).await.status, 204);
    }
}
