//! Roles (docs/RULES.md#roles-and-permissions): built-in and custom roles,
//! what each may grant, changing a member's roles, the administrators
//! overview, on both backends.

mod common;

use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::{Value, json};

fn roles_path(org: &str) -> String {
    format!("/api/v1/organizations/{org}/roles")
}

fn member_roles_path(org: &str, account: &str) -> String {
    format!("/api/v1/organizations/{org}/members/{account}/roles")
}

async fn child(app: &TestApp, name: &str) -> String {
    let r = app
        .call(
            "POST",
            "/api/v1/organizations",
            Some(&app.token.clone()),
            Some(json!({"name": name, "parent_id": app.org_id})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    r.body["id"].as_str().unwrap().to_owned()
}

fn resident() -> Value {
    json!({
        "key": "resident",
        "name": {"en": "Resident", "nl": "AIOS"},
        "kind": "content",
        "permissions": ["documents.read", "documents.send"],
        "requires_registration": null,
        "portfolio_types": ["surgery"],
    })
}

fn keys(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect()
}

both_backends! {
    async fn a_custom_role_with_the_products_permissions_is_defined_granted_shown_and_changed(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let org = app.org_id.clone();
        let r = app.call("POST", &roles_path(&org), Some(&token), Some(resident())).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["permissions"], json!(["documents.read", "documents.send"]));
        assert_eq!(r.body["builtin"], false);
        assert_eq!(r.body["defined_by"], org.as_str());
        let list = app.get(&roles_path(&org)).await;
        assert_eq!(keys(&list.body), vec!["administrator", "member", "user-manager", "resident"], "built-ins first");
        let anna = app.add_member_to(&org, json!({"email": "anna@example.nl", "roles": &["member"]})).await;
        let r = app.call("PUT", &member_roles_path(&org, &anna), Some(&token), Some(json!({"roles": ["resident"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["roles"][0]["key"], "resident");
        assert_eq!(r.body["roles"][0]["permissions"], json!(["documents.read", "documents.send"]));
        // The member's page shows the roles with their permissions
        // (docs/RULES.md#roles-and-permissions).
        let member = app.get(&format!("/api/v1/organizations/{org}/members/{anna}")).await;
        assert_eq!(member.body["roles"], json!(["resident"]));
        assert_eq!(member.body["role_details"][0]["name"], json!({"en": "Resident", "nl": "AIOS"}));
        let r = app.call("PATCH", &format!("{}/resident", roles_path(&org)), Some(&token), Some(json!({"permissions": ["documents.read"], "name": {"nl": "Arts in opleiding"}}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let member = app.get(&format!("/api/v1/organizations/{org}/members/{anna}")).await;
        assert_eq!(member.body["role_details"][0]["permissions"], json!(["documents.read"]), "holders hold the new permissions");
        assert_eq!(member.body["role_details"][0]["name"]["nl"], "Arts in opleiding");
        let events = portier_store::audit::for_organization(&app.db.store, org.parse().unwrap(), 10).await.unwrap();
        let updated = events.iter().find(|e| e.action == "role.updated").unwrap();
        assert_eq!(updated.changes["permissions"], json!({"before": ["documents.read", "documents.send"], "after": ["documents.read"]}));
        assert!(events.iter().any(|e| e.action == "member.roles_changed"));
    }

    async fn a_role_in_use_is_not_deleted_and_the_answer_says_where(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let org = app.org_id.clone();
        assert_eq!(app.call("POST", &roles_path(&org), Some(&token), Some(resident())).await.status, 201);
        let anna = app.add_member_to(&org, json!({"email": "anna@example.nl", "roles": &["resident"]})).await;
        let path = format!("{}/resident", roles_path(&org));
        let r = app.call("DELETE", &path, Some(&token), None).await;
        assert_eq!(r.error(409).0, "role_in_use");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("1 member of Acme"), "{}", r.body);
        let r = app.call("PUT", &member_roles_path(&org, &anna), Some(&token), Some(json!({"roles": []}))).await;
        assert_eq!(r.body["roles"][0]["key"], "member", "no roles is the member role");
        assert_eq!(app.call("DELETE", &path, Some(&token), None).await.status, 204);
        assert_eq!(app.call("GET", &path, Some(&token), None).await.error(404).0, "not_found");
    }

    async fn bad_role_definitions_are_refused_by_field(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let path = roles_path(&app.org_id);
        let cases = [
            (json!({"key": "x", "name": {"en": "X"}, "kind": "content", "permissions": ["documents.read", "members.invite"]}), 422, "administrator_permission", "permissions[1]"),
            (json!({"key": "administrator", "name": {"en": "X"}, "kind": "admin"}), 409, "role_key_taken", "key"),
            (json!({"key": "Head Nurse", "name": {"en": "X"}, "kind": "content"}), 422, "role_key_invalid", "key"),
            (json!({"key": "x", "name": {"en": "X"}, "kind": "boss"}), 422, "invalid_value", "kind"),
            (json!({"key": "x", "name": {"en": "X"}, "kind": "content", "permissions": ["read"]}), 422, "permission_invalid", "permissions[0]"),
            (json!({"key": "x", "name": {"en": "X"}, "kind": "content", "requires_registration": "SKJ"}), 422, "invalid_value", "requires_registration"),
            (json!({"key": "x", "kind": "content"}), 422, "invalid_value", "name"),
        ];
        for (body, status, code, field) in cases {
            let r = app.call("POST", &path, Some(&token), Some(body.clone())).await;
            let (c, f) = r.error(status);
            assert_eq!((c, f), (code, Some(field)), "{body}");
        }
        assert_eq!(app.call("POST", &path, Some(&token), Some(resident())).await.status, 201);
        assert_eq!(app.call("POST", &path, Some(&token), Some(resident())).await.error(409), ("role_key_taken", Some("key")));
        let builtin = app.call("PATCH", &format!("{path}/administrator"), Some(&token), Some(json!({"permissions": []}))).await;
        assert_eq!(builtin.error(409).0, "builtin_role");
        assert_eq!(app.call("DELETE", &format!("{path}/member"), Some(&token), None).await.error(409).0, "builtin_role");
        let unknown = app.call("PUT", &member_roles_path(&app.org_id, "01a20436-0000-7000-8000-000000000000"), Some(&token), Some(json!({"roles": ["nope"]}))).await;
        assert_eq!(unknown.error(404).0, "not_found");
        let kind = app.call("PATCH", &format!("{path}/resident"), Some(&token), Some(json!({"kind": "admin"}))).await;
        assert_eq!(kind.error(422).1, Some("kind"), "the kind never changes");
    }

    async fn roles_reach_down_the_tree_and_never_up(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let env = app.org_id.clone();
        let ward = child(&app, "Ward 3").await;
        assert_eq!(app.call("POST", &roles_path(&env), Some(&token), Some(resident())).await.status, 201);
        let local = json!({"key": "ward-nurse", "name": {"en": "Ward nurse"}, "kind": "content", "permissions": ["charts.write"]});
        assert_eq!(app.call("POST", &roles_path(&ward), Some(&token), Some(local)).await.status, 201);
        assert_eq!(keys(&app.get(&roles_path(&ward)).await.body), vec!["administrator", "member", "user-manager", "resident", "ward-nurse"]);
        assert_eq!(keys(&app.get(&roles_path(&env)).await.body), vec!["administrator", "member", "user-manager", "resident"]);
        app.add_member_to(&ward, json!({"email": "piet@example.nl", "roles": &["resident", "ward-nurse"]})).await;
        let r = app.call("POST", &format!("/api/v1/organizations/{env}/members"), Some(&token), Some(json!({"email": "kees@example.nl", "roles": ["ward-nurse"]}))).await;
        assert_eq!(r.error(422), ("role_unknown", Some("roles[0]")), "a child's role is not the parent's");
        let r = app.call("PATCH", &format!("{}/resident", roles_path(&ward)), Some(&token), Some(json!({"permissions": []}))).await;
        assert_eq!(r.error(409).0, "role_defined_elsewhere");
        // One key names one role in the environment.
        let again = json!({"key": "ward-nurse", "name": {"en": "Other"}, "kind": "content"});
        assert_eq!(app.call("POST", &roles_path(&env), Some(&token), Some(again)).await.error(409).0, "role_key_taken");
    }

    async fn a_user_manager_adds_members_and_gives_content_roles_but_never_administrator(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        assert_eq!(app.call("POST", &roles_path(&org), Some(&app.token.clone()), Some(resident())).await.status, 201);
        let manager = app.session_in(&org, "key.user@example.nl", &["user-manager"]).await;
        let add_path = format!("/api/v1/organizations/{org}/members");
        let r = app.with_cookie("POST", &add_path, &manager, Some(json!({"email": "new@example.nl", "roles": ["resident"]}))).await;
        assert_eq!(r.status, 201, "the key user adds people: {}", r.body);
        let new = r.body["account_id"].as_str().unwrap().to_owned();
        let r = app.with_cookie("POST", &add_path, &manager, Some(json!({"email": "boss@example.nl", "roles": ["administrator"]}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        let r = app.with_cookie("PUT", &member_roles_path(&org, &new), &manager, Some(json!({"roles": ["administrator"]}))).await;
        assert_eq!(r.error(403).0, "forbidden", "no administrator by the back door");
        let r = app.with_cookie("PUT", &member_roles_path(&org, &new), &manager, Some(json!({"roles": ["member"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Taking an administrator role away is administrators' business too.
        let admin = app.add_member_to(&org, json!({"email": "second.admin@example.nl", "roles": &["administrator"]})).await;
        let r = app.with_cookie("PUT", &member_roles_path(&org, &admin), &manager, Some(json!({"roles": ["member"]}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        let r = app.with_cookie("POST", &roles_path(&org), &manager, Some(json!({"key": "x", "name": {"en": "X"}, "kind": "content"}))).await;
        assert_eq!(r.error(403).0, "forbidden", "defining roles is for administrators");
        // A plain member does nothing administrative.
        let plain = app.session_in(&org, "plain@example.nl", &["member"]).await;
        assert_eq!(app.with_cookie("GET", &roles_path(&org), &plain, None).await.error(403).0, "forbidden");
        assert_eq!(app.with_cookie("POST", &add_path, &plain, Some(json!({"email": "x@example.nl"}))).await.error(403).0, "forbidden");
        assert_eq!(app.with_cookie("PUT", &member_roles_path(&org, &new), &plain, Some(json!({"roles": ["resident"]}))).await.error(403).0, "forbidden");
    }

    async fn only_holders_of_admins_manage_define_administrator_roles_and_only_with_rights_they_hold(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let auditor = json!({"key": "auditor", "name": {"en": "Auditor"}, "kind": "admin", "permissions": ["audit.read", "members.read"]});
        assert_eq!(app.call("POST", &roles_path(&org), Some(&app.token.clone()), Some(auditor)).await.status, 201);
        let limited = app.restricted_token(&org, [portier_core::permissions::ROLES_MANAGE].into_iter().collect()).await;
        let r = app.call("POST", &roles_path(&org), Some(&limited), Some(json!({"key": "helper", "name": {"en": "Helper"}, "kind": "admin", "permissions": ["members.read"]}))).await;
        assert_eq!(r.error(403).0, "forbidden", "an admin role needs admins.manage");
        let both = app.restricted_token(&org, [portier_core::permissions::ROLES_MANAGE, portier_core::permissions::ADMINS_MANAGE].into_iter().collect()).await;
        let r = app.call("POST", &roles_path(&org), Some(&both), Some(json!({"key": "helper", "name": {"en": "Helper"}, "kind": "admin", "permissions": ["members.invite"]}))).await;
        assert_eq!(r.error(422), ("permission_not_held", Some("permissions")), "nobody writes themselves more rights");
        let r = app.call("POST", &roles_path(&org), Some(&limited), Some(json!({"key": "reader", "name": {"en": "Reader"}, "kind": "content", "permissions": ["documents.read"]}))).await;
        assert_eq!(r.status, 201, "the product's permissions are the organization's to give: {}", r.body);
    }

    async fn the_last_administrator_keeps_the_role_until_another_has_activated(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let org = app.org_id.clone();
        let first = app.person("first@example.nl", &["administrator"]).await;
        let boot = app.call("GET", &format!("/api/v1/organizations/{org}/administrators"), Some(&token), None).await;
        assert_eq!(boot.status, 200, "{}", boot.body);
        let bootstrap_admin = boot.body["items"].as_array().unwrap().iter().find(|a| a["email"] == "admin@acme.example").unwrap()["account_id"].as_str().unwrap().to_owned();
        // Two administrators: either may step down, not both.
        let r = app.call("PUT", &member_roles_path(&org, &bootstrap_admin), Some(&token), Some(json!({"roles": ["member"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // The bootstrap token was the administrator who stepped down: the
        // other one goes on (docs/RULES.md#api-tokens).
        let first_session = app.login("first@example.nl", GOOD).await.1.unwrap();
        let r = app.with_cookie("PUT", &member_roles_path(&org, &first), &first_session, Some(json!({"roles": ["user-manager"]}))).await;
        assert_eq!(r.error(409).0, "last_administrator");
        let r = app.with_cookie("POST", &format!("/api/v1/organizations/{org}/members"), &first_session, Some(json!({"email": "pending@example.nl", "roles": &["administrator"]}))).await;
        let pending = r.body["account_id"].as_str().unwrap().to_owned();
        let r = app.with_cookie("PUT", &member_roles_path(&org, &first), &first_session, Some(json!({"roles": ["user-manager"]}))).await;
        assert_eq!(r.error(409).0, "last_administrator", "an administrator who never activated does not count");
        let list = app.with_cookie("GET", &format!("/api/v1/organizations/{org}/administrators"), &first_session, None).await;
        let emails: Vec<&str> = list.body["items"].as_array().unwrap().iter().map(|a| a["email"].as_str().unwrap()).collect();
        assert!(emails.contains(&"first@example.nl") && emails.contains(&"pending@example.nl"), "{emails:?}");
        assert!(!emails.contains(&"admin@acme.example"), "stepped down");
        let p = list.body["items"].as_array().unwrap().iter().find(|a| a["account_id"] == pending.as_str()).unwrap();
        assert_eq!(p["status"], "invited");
    }

    async fn the_administrators_of_a_child_include_those_above_it(db) {
        let app = TestApp::start(db).await;
        let ward = child(&app, "Ward 3").await;
        app.add_member_to(&ward, json!({"email": "head@example.nl", "roles": &["user-manager"]})).await;
        app.add_member_to(&ward, json!({"email": "nurse@example.nl", "roles": &["member"]})).await;
        let list = app.get(&format!("/api/v1/organizations/{ward}/administrators")).await;
        let items = list.body["items"].as_array().unwrap();
        let head = items.iter().find(|a| a["email"] == "head@example.nl").unwrap();
        assert_eq!((head["inherited"].as_bool(), head["roles"].clone()), (Some(false), json!(["user-manager"])));
        let env_admin = items.iter().find(|a| a["email"] == "admin@acme.example").unwrap();
        assert_eq!(env_admin["inherited"], true);
        assert!(!items.iter().any(|a| a["email"] == "nurse@example.nl"), "content roles are not administrators");
        let env_list = app.get(&format!("/api/v1/organizations/{}/administrators", app.org_id)).await;
        assert!(!env_list.body["items"].as_array().unwrap().iter().any(|a| a["email"] == "head@example.nl"), "rights never reach up");
    }

    async fn taking_admins_manage_out_of_the_role_the_last_administrators_hold_is_refused(db) {
        let app = TestApp::start(db).await;
        let token = app.token.clone();
        let org = app.org_id.clone();
        let chief = json!({"key": "chief", "name": {"en": "Chief"}, "kind": "admin", "permissions": ["admins.manage", "members.read", "roles.manage"]});
        assert_eq!(app.call("POST", &roles_path(&org), Some(&token), Some(chief)).await.status, 201);
        app.person("boss@example.nl", &["chief"]).await;
        // Deleting an administrator role, like defining one, needs admins.manage.
        let spare = json!({"key": "spare", "name": {"en": "Spare"}, "kind": "admin", "permissions": ["members.read"]});
        assert_eq!(app.call("POST", &roles_path(&org), Some(&token), Some(spare)).await.status, 201);
        let limited = app.restricted_token(&org, [portier_core::permissions::ROLES_MANAGE, portier_core::permissions::MEMBERS_READ].into_iter().collect()).await;
        assert_eq!(app.call("DELETE", &format!("{}/spare", roles_path(&org)), Some(&limited), None).await.error(403).0, "forbidden");
        let admins = app.get(&format!("/api/v1/organizations/{org}/administrators")).await;
        let bootstrap_admin = admins.body["items"].as_array().unwrap().iter().find(|a| a["email"] == "admin@acme.example").unwrap()["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("PUT", &member_roles_path(&org, &bootstrap_admin), Some(&token), Some(json!({"roles": ["member"]}))).await.status, 200);
        // Boss is the last administrator now (and the bootstrap token, the
        // stepped-down administrator's, holds nothing).
        let boss = app.login("boss@example.nl", GOOD).await.1.unwrap();
        let r = app.with_cookie("PATCH", &format!("{}/chief", roles_path(&org)), &boss, Some(json!({"permissions": ["members.read", "roles.manage"]}))).await;
        assert_eq!(r.error(409).0, "last_administrator");
        let r = app.with_cookie("PATCH", &format!("{}/chief", roles_path(&org)), &boss, Some(json!({"permissions": ["admins.manage", "members.read"]}))).await;
        assert_eq!(r.status, 200, "other changes stay possible: {}", r.body);
    }
}
