//! A person has one account, shared by every organization they belong to,
//! across environments. What that account shares (address, name, second
//! factors, sessions, the invitation links) changes only for a caller with
//! the right in every one of those organizations; a member who holds an
//! administrator role is acted on only with `admins.manage`
//! (docs/RULES.md#shared-accounts). Each test reproduces an attack that
//! worked before these rules, over real HTTP, on both backends.

mod common;

use common::browser::post;
use common::{GOOD, TestApp};
use portier_core::email::Email;
use portier_store::both_backends;
use serde_json::{Value, json};

/// Every activation link mailed to `email`, oldest first.
async fn activation_links(app: &TestApp, email: &str) -> Vec<String> {
    let address = Email::parse(email).unwrap();
    let mails = portier_store::mail::recent(&app.db.store, Some(&address), 50)
        .await
        .unwrap();
    let marker = "/activate/";
    mails
        .iter()
        .rev()
        .filter_map(|m| {
            let at = m.body_text.find(marker)? + marker.len();
            Some(m.body_text[at..at + 64].to_owned())
        })
        .collect()
}

async fn mails_to(app: &TestApp, email: &str) -> usize {
    let address = Email::parse(email).unwrap();
    portier_store::mail::recent(&app.db.store, Some(&address), 50)
        .await
        .unwrap()
        .len()
}

fn member(org: &str, account: &str) -> String {
    format!("/api/v1/organizations/{org}/members/{account}")
}

/// The actions `org`'s audit log records about `account` in `org` itself
/// (not below it), oldest first.
async fn audited(app: &TestApp, org: &str, token: &str, account: &str) -> Vec<String> {
    events(app, org, token, account)
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// The events of [`audited`], whole.
async fn events(app: &TestApp, org: &str, token: &str, account: &str) -> Vec<Value> {
    let path = format!("/api/v1/organizations/{org}/audit?target={account}&limit=200");
    let r = app.call("GET", &path, Some(token), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut items: Vec<Value> = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["organization_id"] == org)
        .cloned()
        .collect();
    items.reverse();
    items
}

fn activate(password: &str) -> Option<Value> {
    Some(json!({"password": password}))
}

both_backends! {
    async fn another_environment_cannot_take_over_an_invited_account(db) {
        let app = TestApp::start(db).await;
        let (alpha, alpha_token) = (app.org_id.clone(), app.token.clone());
        let (bravo, bravo_token) = TestApp::environment(&app.db, "Bravo").await;
        let victim = "newadmin@alpha.example";
        let id = app.add_member_to(&alpha, json!({"email": victim, "roles": ["administrator"], "given_name": "Nina", "family_name": "Alpha"})).await;
        let alpha_link = app.mail_link(victim, "/activate/").await;
        // Bravo adds the same address: one account per person.
        let r = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": victim}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!((r.body["account_reused"].as_bool(), r.body["account_id"].as_str()), (Some(true), Some(id.as_str())));
        // Bravo may not move the address, nor rename the person as Alpha sees them.
        for change in [json!({"email": "attacker@evil.example"}), json!({"family_name": "Evil"}), json!({"email": "attacker@evil.example", "job_title": "Spy"})] {
            let r = app.call("PATCH", &member(&bravo, &id), Some(&bravo_token), Some(change.clone())).await;
            assert_eq!(r.error(403).0, "member_elsewhere", "{change}");
        }
        // What is Bravo's own still changes.
        let r = app.call("PATCH", &member(&bravo, &id), Some(&bravo_token), Some(json!({"job_title": "Consultant"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(mails_to(&app, "attacker@evil.example").await, 0, "no link went to the attacker");
        let seen = app.call("GET", &member(&alpha, &id), Some(&alpha_token), None).await;
        assert_eq!((seen.body["email"].as_str(), seen.body["family_name"].as_str(), seen.body["job_title"].as_str()), (Some(victim), Some("Alpha"), None));
        // Bravo's invitation and its resend leave Alpha's link working.
        let r = app.call("POST", &format!("{}/resend-activation", member(&bravo, &id)), Some(&bravo_token), None).await;
        assert_eq!(r.status, 202, "{}", r.body);
        let bravo_link = activation_links(&app, victim).await.pop().unwrap();
        assert_ne!(bravo_link, alpha_link);
        assert_eq!(app.call("GET", &format!("/api/v1/activations/{alpha_link}"), None, None).await.status, 200);
        let r = app.call("POST", &format!("/api/v1/activations/{alpha_link}"), None, activate(GOOD)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Activated: every other link is used up, so nobody sets a second password.
        let r = app.call("POST", &format!("/api/v1/activations/{bravo_link}"), None, activate("Other-password-9")).await;
        assert_eq!(r.status, 410, "{}", r.body);
        assert_eq!(app.login(victim, GOOD).await.0.status, 200);
        // Alpha's log shows what happened to its member; none of Bravo's business.
        let log = audited(&app, &alpha, &alpha_token, &id).await;
        assert_eq!(log, ["member.added", "account.activated"], "Alpha's log");
        let log = audited(&app, &bravo, &bravo_token, &id).await;
        assert_eq!(log, ["member.added", "member.updated", "member.invitation_resent", "account.activated"], "Bravo's log");
    }

    async fn a_user_manager_cannot_become_administrator_through_a_pending_administrator(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let manager = app.session_in(&org, "km@example.nl", &["user-manager"]).await;
        let pending = app.add_member(json!({"email": "boss@example.nl", "roles": ["administrator"]})).await;
        for change in [json!({"email": "km2@example.nl"}), json!({"given_name": "Km"}), json!({"job_title": "Boss"})] {
            let r = app.with_cookie("PATCH", &member(&org, &pending), &manager, Some(change.clone())).await;
            assert_eq!(r.error(403), ("forbidden", None), "{change}");
            assert!(r.body["error"]["message"].as_str().unwrap().contains("admins.manage"));
        }
        assert_eq!(mails_to(&app, "km2@example.nl").await, 0);
        // The console's form goes the same way.
        let page = post(&app, &format!("/orgs/{org}/members/{pending}/details"), Some(&manager), &[("email", "km2@example.nl")]).await;
        assert_eq!(page.status, 403, "{}", page.html);
        assert_eq!(mails_to(&app, "km2@example.nl").await, 0);
        // A plain member's invitation they correct as before
        // (docs/RULES.md#changing-a-members-details).
        let plain = app.add_member(json!({"email": "jan@exmaple.nl"})).await;
        let r = app.with_cookie("PATCH", &member(&org, &plain), &manager, Some(json!({"email": "jan@example.nl"}))).await;
        assert_eq!((r.status, r.body["invitation_sent"].as_bool()), (200, Some(true)), "{}", r.body);
        // And an administrator corrects the administrator's.
        let r = app.call("PATCH", &member(&org, &pending), Some(&app.token.clone()), Some(json!({"email": "boss@example.com"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    async fn a_user_manager_cannot_deactivate_remove_or_reinvite_an_administrator(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let manager = app.session_in(&org, "km@example.nl", &["user-manager"]).await;
        let admin = app.person("second@example.nl", &["administrator"]).await;
        app.person("third@example.nl", &["administrator"]).await;
        let pending = app.add_member(json!({"email": "pending@example.nl", "roles": ["administrator"]})).await;
        let colleague = app.add_member(json!({"email": "um@example.nl", "roles": ["user-manager"]})).await;
        for target in [&admin, &pending, &colleague] {
            for (method, path) in [("POST", "/deactivate"), ("POST", "/reactivate"), ("DELETE", ""), ("PUT", "/roles")] {
                let body = (method == "PUT").then(|| json!({"roles": ["member"]}));
                let r = app.with_cookie(method, &format!("{}{path}", member(&org, target)), &manager, body).await;
                assert_eq!(r.error(403).0, "forbidden", "{method} {path}");
            }
        }
        let r = app.with_cookie("POST", &format!("{}/resend-activation", member(&org, &pending)), &manager, None).await;
        assert_eq!(r.error(403).0, "forbidden");
        // In the console too.
        for action in ["deactivate", "remove", "resend"] {
            let page = post(&app, &format!("/orgs/{org}/members/{admin}/{action}"), Some(&manager), &[]).await;
            assert_eq!(page.status, 403, "{action}: {}", page.html);
        }
        let r = app.get(&member(&org, &admin)).await;
        assert_eq!(r.body["status"], "active", "still there, still active");
        // Holders of admins.manage may.
        let r = app.call("POST", &format!("{}/deactivate", member(&org, &admin)), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.call("DELETE", &member(&org, &pending), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        // A plain member the user manager still manages.
        let plain = app.add_member(json!({"email": "plain@example.nl"})).await;
        let r = app.with_cookie("POST", &format!("{}/deactivate", member(&org, &plain)), &manager, None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        // Nor through a group an administrator is in: what it gives is
        // theirs too.
        let token = app.token.clone();
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/roles"), Some(&token), Some(json!({"key": "rota", "name": {"en": "Rota"}, "kind": "content", "permissions": ["documents.read"]}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let groups = format!("/api/v1/organizations/{org}/groups");
        let with_admin = app.call("POST", &groups, Some(&token), Some(json!({"name": "Board", "roles": ["rota"]}))).await.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("PUT", &format!("{groups}/{with_admin}/members/{admin}"), Some(&token), None).await.status, 204);
        let r = app.with_cookie("PATCH", &format!("{groups}/{with_admin}"), &manager, Some(json!({"roles": []}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        let r = app.with_cookie("DELETE", &format!("{groups}/{with_admin}"), &manager, None).await;
        assert_eq!(r.error(403).0, "forbidden");
        let without = app.call("POST", &groups, Some(&token), Some(json!({"name": "Kitchen", "roles": ["rota"]}))).await.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("PUT", &format!("{groups}/{without}/members/{plain}"), Some(&token), None).await.status, 204);
        assert_eq!(app.with_cookie("DELETE", &format!("{groups}/{without}"), &manager, None).await.status, 204);
    }

    async fn a_change_to_a_shared_account_is_audited_in_every_organization_of_the_person(db) {
        let app = TestApp::start(db).await;
        let (acme, token) = (app.org_id.clone(), app.token.clone());
        let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Ward 3", "parent_id": acme}))).await;
        let ward = r.body["id"].as_str().unwrap().to_owned();
        let id = app.add_member(json!({"email": "eva@example.nl"})).await;
        app.add_member_to(&ward, json!({"email": "eva@example.nl"})).await;
        // Acme's administrators manage the ward too: the name is theirs to correct.
        let r = app.call("PATCH", &member(&ward, &id), Some(&token), Some(json!({"family_name": "Jansen", "job_title": "Nurse"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let ward_log = events(&app, &ward, &token, &id).await;
        let updated = ward_log.iter().find(|e| e["action"] == "member.updated").unwrap();
        let changes = updated["changes"].to_string();
        assert!(changes.contains("Jansen") && changes.contains("Nurse"), "{changes}");
        let acme_log = events(&app, &acme, &token, &id).await;
        let updated = acme_log.iter().find(|e| e["action"] == "account.updated").expect("Acme's log");
        let changes = updated["changes"].to_string();
        assert!(changes.contains("Jansen") && !changes.contains("Nurse"), "only what is shared: {changes}");
        // The person's own changes too, in another environment as well.
        let (elders, elders_token) = TestApp::environment(&app.db, "Elders").await;
        let r = app.call("POST", &format!("/api/v1/organizations/{elders}/members"), Some(&elders_token), Some(json!({"email": "eva@example.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let link = app.mail_link("eva@example.nl", "/activate/").await;
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{link}"), None, activate(GOOD)).await.status, 200);
        let cookie = app.login("eva@example.nl", GOOD).await.1.unwrap();
        let r = app.with_cookie("PATCH", "/api/v1/me", &cookie, Some(json!({"current_password": GOOD, "new_password": "Zq3!mNp8#wXy"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for (org, token) in [(&acme, &token), (&ward, &token), (&elders, &elders_token)] {
            let log = audited(&app, org, token, &id).await;
            assert!(log.contains(&"account.password_changed".to_owned()) && log.contains(&"account.activated".to_owned()), "{org}: {log:?}");
        }
    }

    async fn another_environment_sees_only_the_address_and_the_name_of_a_shared_person(db) {
        let app = TestApp::start(db).await;
        let (acme, acme_token) = (app.org_id.clone(), app.token.clone());
        let (bravo, bravo_token) = TestApp::environment(&app.db, "Bravo").await;
        let acme_fields = json!({"email": "eva@example.nl", "given_name": "Eva", "family_name": "Jansen",
            "phone": "+31 20 555 0101", "mobile": "06 5555 0102", "job_title": "Oncologist",
            "description": "Ward 7, mornings", "staff_code": "ACME-77", "labels": ["Private label"]});
        let id = app.add_member_to(&acme, acme_fields).await;
        let secrets = ["555 0101", "5555 0102", "Oncologist", "Ward 7", "ACME-77", "Private label"];
        let leaks = |what: &Value| secrets.iter().filter(|s| what.to_string().contains(*s)).map(|s| s.to_string()).collect::<Vec<_>>();
        let r = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": "eva@example.nl", "phone": "+31 10 444 0000"}))).await;
        assert_eq!((r.status, r.body["account_reused"].as_bool()), (201, Some(true)), "{}", r.body);
        assert_eq!(leaks(&r.body), Vec::<String>::new(), "{}", r.body);
        let seen = app.call("GET", &member(&bravo, &id), Some(&bravo_token), None).await;
        assert_eq!(leaks(&seen.body), Vec::<String>::new(), "{}", seen.body);
        assert_eq!((seen.body["email"].as_str(), seen.body["display_name"].as_str()), (Some("eva@example.nl"), Some("Eva Jansen")));
        assert_eq!((seen.body["phone"].as_str(), seen.body["mobile"].as_str()), (Some("+31 10 444 0000"), None), "Bravo's own number");
        let list = app.call("GET", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), None).await;
        assert_eq!(leaks(&list.body), Vec::<String>::new());
        let export = app.call("GET", &format!("/api/v1/organizations/{bravo}/members/export?format=json"), Some(&bravo_token), None).await;
        assert_eq!(export.status, 200);
        assert_eq!(leaks(&export.body), Vec::<String>::new(), "{}", export.body);
        // Each organization changes its own numbers; the other's stay.
        let r = app.call("PATCH", &member(&bravo, &id), Some(&bravo_token), Some(json!({"mobile": "06 1111 2222"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let theirs = app.call("GET", &member(&acme, &id), Some(&acme_token), None).await;
        assert_eq!((theirs.body["phone"].as_str(), theirs.body["mobile"].as_str()), (Some("+31 20 555 0101"), Some("06 5555 0102")));
        // The person's own numbers, once they choose them, reach both.
        let link = app.mail_link("eva@example.nl", "/activate/").await;
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{link}"), None, activate(GOOD)).await.status, 200);
        let cookie = app.login("eva@example.nl", GOOD).await.1.unwrap();
        let r = app.with_cookie("PATCH", "/api/v1/me", &cookie, Some(json!({"mobile": "06 9999 0000"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for (org, token) in [(&acme, &acme_token), (&bravo, &bravo_token)] {
            let r = app.call("GET", &member(org, &id), Some(token), None).await;
            assert_eq!(r.body["mobile"], "06 9999 0000", "{org}");
        }
        // Only the number she changed: each keeps its own phone, and her
        // own account never held what an administrator typed.
        let r = app.call("GET", &member(&bravo, &id), Some(&bravo_token), None).await;
        assert_eq!(r.body["phone"], "+31 10 444 0000");
        let r = app.with_cookie("GET", "/api/v1/me", &cookie, None).await;
        assert_eq!((r.body["phone"].as_str(), r.body["mobile"].as_str()), (None, Some("06 9999 0000")), "{}", r.body);
        let log = events(&app, &bravo, &bravo_token, &id).await;
        assert_eq!(leaks(&serde_json::Value::Array(log)), Vec::<String>::new(), "Bravo's log");
    }

    async fn a_registration_number_is_recorded_only_by_who_manages_all_the_persons_organizations(db) {
        let app = TestApp::start(db).await;
        let (acme, acme_token) = (app.org_id.clone(), app.token.clone());
        let (bravo, bravo_token) = TestApp::environment(&app.db, "Bravo").await;
        let id = app.add_member(json!({"email": "eva@example.nl"})).await;
        for (o, t) in [(&acme, &acme_token), (&bravo, &bravo_token)] {
            let r = app.call("POST", &format!("/api/v1/organizations/{o}/roles"), Some(t), Some(json!({"key": "doctor", "name": {"en": "Doctor"}, "kind": "content", "requires_registration": "BIG"}))).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        // Bravo may not fix a number on Acme's person.
        let r = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": "eva@example.nl", "roles": ["doctor"], "registration": {"register": "BIG", "number": "19061234501"}}))).await;
        assert_eq!(r.error(403).0, "member_elsewhere");
        let r = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": "eva@example.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = app.call("PUT", &format!("{}/roles", member(&bravo, &id)), Some(&bravo_token), Some(json!({"roles": ["doctor"], "registration": {"register": "BIG", "number": "19061234501"}}))).await;
        assert_eq!(r.error(403).0, "member_elsewhere");
        assert!(app.get(&member(&acme, &id)).await.body["registration"].is_null(), "nothing recorded");
        // Once recorded (here by an operator), the number serves every organization's role.
        let account = portier_store::accounts::get(&app.db.store, id.parse().unwrap()).await.unwrap().unwrap();
        let number = portier_core::registrations::RegistrationNumber::parse("registration", "BIG", "19061234501").unwrap();
        portier_store::registrations::set_by_operator(&app.db.store, &account, &number, false, &portier_store::audit::Origin::now(None)).await.unwrap();
        let r = app.call("PUT", &format!("{}/roles", member(&bravo, &id)), Some(&bravo_token), Some(json!({"roles": ["doctor"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }

    async fn a_corrected_address_is_an_invitation_only_who_could_give_its_roles_may_redirect(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/roles"), Some(&app.token.clone()), Some(json!({"key": "auditor", "name": {"en": "Auditor"}, "kind": "content", "permissions": ["documents.read"]}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let pending = app.add_member(json!({"email": "aud@exmaple.nl", "roles": ["auditor"]})).await;
        let plain = app.add_member(json!({"email": "jan@exmaple.nl"})).await;
        // Someone who may change members but not give roles.
        let updater = app.restricted_token(&org, [portier_core::permissions::MEMBERS_UPDATE, portier_core::permissions::MEMBERS_READ].into_iter().collect()).await;
        let r = app.call("PATCH", &member(&org, &pending), Some(&updater), Some(json!({"email": "me@evil.example"}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("roles.assign"));
        let r = app.call("PATCH", &member(&org, &plain), Some(&updater), Some(json!({"email": "jan@example.nl"}))).await;
        assert_eq!(r.status, 200, "a member without rights they could not give: {}", r.body);
        assert_eq!(mails_to(&app, "me@evil.example").await, 0);
    }

    async fn a_corrected_address_takes_along_only_the_portfolios_of_the_organizations_it_moves(db) {
        let app = TestApp::start(db).await;
        let acme = app.org_id.clone();
        app.resident_role().await;
        let (bravo, bravo_token) = TestApp::environment(&app.db, "Bravo").await;
        // Acme had X with a portfolio, completed when X left.
        let x = app.add_member(json!({"email": "x@exmaple.nl", "roles": ["resident"], "portfolio": {"type": "surgery"}})).await;
        let r = app.call("DELETE", &format!("{}?portfolio=complete", member(&acme, &x)), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        // Bravo invited X too, and corrects the address to Y's.
        let r = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": "x@exmaple.nl"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let y = app.call("POST", &format!("/api/v1/organizations/{bravo}/members"), Some(&bravo_token), Some(json!({"email": "y@example.nl"}))).await;
        assert_eq!(y.status, 201);
        let r = app.call("DELETE", &member(&bravo, y.body["account_id"].as_str().unwrap()), Some(&bravo_token), None).await;
        assert_eq!(r.status, 204);
        let r = app.call("PATCH", &member(&bravo, &x), Some(&bravo_token), Some(json!({"email": "y@example.nl"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let listed = app.get(&format!("/api/v1/organizations/{acme}/portfolios?state=completed")).await;
        let owners: Vec<&str> = listed.body["items"].as_array().unwrap().iter().map(|p| p["account_id"].as_str().unwrap()).collect();
        assert_eq!(owners, [x.as_str()], "Acme's portfolio stays X's: {}", listed.body);
    }

    async fn correcting_an_address_to_one_that_has_an_account_does_not_say_so(db) {
        let app = TestApp::start(db).await;
        let (bravo, bravo_token) = TestApp::environment(&app.db, "Bravo").await;
        // Anna has an account, in Acme only.
        let anna = app.add_member(json!({"email": "anna@example.nl", "family_name": "Acme's"})).await;
        let members = format!("/api/v1/organizations/{bravo}/members");
        let add = |email: &str| app.call("POST", &members, Some(&bravo_token), Some(json!({"email": email, "job_title": "Nurse"})));
        let typo = add("anna@exmaple.nl").await.body["account_id"].as_str().unwrap().to_owned();
        let other_typo = add("bob@exmaple.nl").await.body["account_id"].as_str().unwrap().to_owned();
        let stale = app.mail_link("anna@exmaple.nl", "/activate/").await;
        // Free or taken, the correction answers alike: 200, a new invitation.
        let free = app.call("PATCH", &member(&bravo, &other_typo), Some(&bravo_token), Some(json!({"email": "bob@example.nl"}))).await;
        let taken = app.call("PATCH", &member(&bravo, &typo), Some(&bravo_token), Some(json!({"email": "anna@example.nl"}))).await;
        for r in [&free, &taken] {
            assert_eq!((r.status, r.body["invitation_sent"].as_bool()), (200, Some(true)), "{}", r.body);
            assert!(!r.body.to_string().contains("taken"), "{}", r.body);
        }
        // The membership went to Anna's account, with its own fields.
        assert_eq!(taken.body["member"]["account_id"], anna.as_str());
        assert_eq!(taken.body["member"]["job_title"], "Nurse");
        assert_eq!(app.call("GET", &member(&bravo, &typo), Some(&bravo_token), None).await.status, 404);
        let r = app.call("GET", &member(&bravo, &anna), Some(&bravo_token), None).await;
        assert_eq!(r.body["email"], "anna@example.nl");
        let found = app.call("GET", &format!("/api/v1/organizations/{bravo}/members?q=anna"), Some(&bravo_token), None).await;
        assert_eq!(found.body["items"].as_array().unwrap().len(), 1, "{}", found.body);
        // The link sent to the mistyped address no longer works; Anna's does.
        assert_eq!(app.call("GET", &format!("/api/v1/activations/{stale}"), None, None).await.status, 410);
        let link = app.mail_link("anna@example.nl", "/activate/").await;
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{link}"), None, activate(GOOD)).await.status, 200);
        // Acme keeps its member as it was.
        let r = app.get(&member(&app.org_id, &anna)).await;
        assert_eq!((r.body["family_name"].as_str(), r.body["job_title"].as_str()), (Some("Acme's"), None));
        // An address that is already a member here is Bravo's own business.
        let again = add("eva@exmaple.nl").await.body["account_id"].as_str().unwrap().to_owned();
        let r = app.call("PATCH", &member(&bravo, &again), Some(&bravo_token), Some(json!({"email": "anna@example.nl"}))).await;
        assert_eq!(r.error(409).0, "already_member");
    }
}
