//! Adding and listing members through real HTTP, on SQLite and PostgreSQL.

mod common;

use common::TestApp;
use portier_core::email::Email;
use portier_core::permissions as p;
use portier_store::both_backends;
use serde_json::{Value, json};

async fn add(app: &TestApp, org: &str, body: Value) -> common::Answer {
    app.call(
        "POST",
        &format!("/api/v1/organizations/{org}/members"),
        Some(&app.token.clone()),
        Some(body),
    )
    .await
}

async fn mails_to(app: &TestApp, address: &str) -> Vec<portier_store::mail::OutboxMail> {
    let email = Email::parse(address).unwrap();
    portier_store::mail::recent(&app.db.store, Some(&email), 50)
        .await
        .unwrap()
}

both_backends! {
    async fn adding_a_person_creates_an_invited_member_and_queues_the_activation_mail(db) {
        let app = TestApp::start(db).await;
        let r = add(&app, &app.org_id.clone(), json!({
            "email": "  Jan.vanderBerg@Ziekenhuis.NL ", "roles": ["member"], "salutation": "dhr.",
            "given_name": "Jan", "infix": "van der", "family_name": "Berg", "phone": "020 123 4567",
            "job_title": "AIOS chirurgie", "staff_code": "P-0042", "labels": ["Oost"], "description": "Bereikbaar op dinsdag"
        })).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["account_reused"], false);
        assert_eq!(r.body["invitation_sent"], true);
        assert_eq!(r.body["warnings"], json!([]));
        let m = &r.body["member"];
        assert_eq!(m["email"], "jan.vanderberg@ziekenhuis.nl");
        assert_eq!(m["display_name"], "Jan van der Berg");
        assert_eq!(m["status"], "invited");
        assert_eq!(m["roles"], json!(["member"]));
        assert_eq!(m["two_factor"], false);
        assert_eq!(m["staff_code"], "P-0042");
        assert_eq!(m["labels"], json!(["Oost"]));
        let id = r.body["account_id"].as_str().unwrap();
        assert_eq!(r.headers["location"], format!("/api/v1/organizations/{}/members/{id}", app.org_id).as_str());

        // The answer is built from what was written, not read back: it must
        // say what the list says.
        let listed = app.get(&format!("/api/v1/organizations/{}/members?q=jan.vanderberg", app.org_id)).await;
        assert_eq!(&listed.body["items"][0], m);

        let detail = app.get(&format!("/api/v1/organizations/{}/members/{id}", app.org_id)).await;
        assert_eq!(detail.status, 200);
        assert_eq!(detail.body["infix"], "van der");
        assert_eq!(detail.body["job_title"], "AIOS chirurgie");
        assert_eq!(detail.body["account_status"], "invited");
        assert!(detail.body["invited_by"].is_string(), "attributable to the administrator behind the token");

        let mails = mails_to(&app, "jan.vanderberg@ziekenhuis.nl").await;
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].kind, "invitation");
        assert_eq!(mails[0].subject, "Activate your account at Acme");
        assert!(mails[0].body_text.contains(&format!("{}/activate/", app.base)), "{}", mails[0].body_text);
        assert!(mails[0].body_text.starts_with("Hello Jan van der Berg,"));

        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 1).await.unwrap();
        assert_eq!(events[0].action, "member.added");
        assert_eq!(events[0].changes["email"], "jan.vanderberg@ziekenhuis.nl");
        assert_eq!(events[0].changes["account_created"], true);
    }

    async fn the_same_address_in_a_second_organization_keeps_its_one_account(db) {
        let app = TestApp::start(db).await;
        let first = add(&app, &app.org_id.clone(), json!({"email": "anna@example.nl"})).await;
        let (other, other_token) = TestApp::environment(&app.db, "Globex").await;
        let second = app.call("POST", &format!("/api/v1/organizations/{other}/members"), Some(&other_token), Some(json!({"email": "ANNA@example.nl "}))).await;
        assert_eq!(second.status, 201, "{}", second.body);
        assert_eq!(second.body["account_reused"], true);
        assert_eq!(second.body["account_id"], first.body["account_id"]);
        let listed = app.call("GET", &format!("/api/v1/organizations/{other}/members?q=anna"), Some(&other_token), None).await;
        assert_eq!(listed.body["items"][0], second.body["member"]);
        let again = add(&app, &app.org_id.clone(), json!({"email": "anna@example.nl"})).await;
        assert_eq!(again.error(409), ("already_member", Some("email")));
    }

    async fn bad_input_is_refused_on_its_field(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let cases = [
            (json!({"email": "jan@"}), 422, "email"),
            (json!({"email": "jan example.nl"}), 422, "email"),
            (json!({"email": ""}), 422, "email"),
            (json!({}), 422, "email"),
            (json!({"email": "x@example.nl", "roles": ["astronaut"]}), 422, "roles[0]"),
            (json!({"email": "x@example.nl", "roles": ["Not A Key"]}), 422, "roles[0]"),
            (json!({"email": "x@example.nl", "phone": "call me"}), 422, "phone"),
            (json!({"email": "x@example.nl", "family_name": "x".repeat(101)}), 422, "family_name"),
            (json!({"email": "x@example.nl", "labels": [""]}), 422, "labels[0]"),
            (json!({"email": "x@example.nl", "groups": ["a"]}), 422, "groups[0]"),
            (json!({"email": "x@example.nl", "active": "yes"}), 422, "active"),
        ];
        for (body, status, field) in cases {
            let r = add(&app, &org, body.clone()).await;
            assert_eq!(r.error(status).1, Some(field), "{body}");
        }
        let r = add(&app, &org, json!({"email": "jan@"})).await;
        assert!(r.body["error"]["message"].as_str().unwrap().contains("domain"), "the message says what is wrong: {}", r.body);
        assert!(mails_to(&app, "x@example.nl").await.is_empty(), "nothing was sent for refused input");
        let list = app.get(&format!("/api/v1/organizations/{org}/members")).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "only the bootstrap administrator: {}", list.body);
    }

    async fn staff_codes_are_unique_within_an_organization(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        assert_eq!(add(&app, &org, json!({"email": "a@example.nl", "staff_code": "P-1"})).await.status, 201);
        let r = add(&app, &org, json!({"email": "b@example.nl", "staff_code": " P-1 "})).await;
        assert_eq!(r.error(409), ("staff_code_taken", Some("staff_code")));
        assert!(mails_to(&app, "b@example.nl").await.is_empty(), "the refused add left nothing behind");
        let (other, token) = TestApp::environment(&app.db, "Globex").await;
        let r = app.call("POST", &format!("/api/v1/organizations/{other}/members"), Some(&token), Some(json!({"email": "b@example.nl", "staff_code": "P-1"}))).await;
        assert_eq!(r.status, 201, "another organization may use the same code");
    }

    async fn shared_mailboxes_are_accepted_with_a_warning(db) {
        let app = TestApp::start(db).await;
        let r = add(&app, &app.org_id.clone(), json!({"email": "info@huisartsen-noord.nl"})).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["warnings"][0]["code"], "shared_mailbox");
    }

    async fn an_inactive_member_gets_no_mail_and_shows_as_deactivated(db) {
        let app = TestApp::start(db).await;
        let r = add(&app, &app.org_id.clone(), json!({"email": "later@example.nl", "active": false})).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.body["invitation_sent"], false);
        assert_eq!(r.body["member"]["status"], "deactivated");
        assert!(mails_to(&app, "later@example.nl").await.is_empty());
    }

    async fn a_user_manager_cannot_hand_out_administrator_roles(db) {
        let app = TestApp::start(db).await;
        let key_user = app.restricted_token(&app.org_id, [p::MEMBERS_READ, p::MEMBERS_INVITE, p::ROLES_ASSIGN].into_iter().collect()).await;
        let path = format!("/api/v1/organizations/{}/members", app.org_id);
        let r = app.call("POST", &path, Some(&key_user), Some(json!({"email": "boss@example.nl", "roles": ["administrator"]}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("admins.manage"));
        let r = app.call("POST", &path, Some(&key_user), Some(json!({"email": "colleague@example.nl", "roles": ["member"]}))).await;
        assert_eq!(r.status, 201);
        let reader = app.restricted_token(&app.org_id, [p::MEMBERS_READ].into_iter().collect()).await;
        let r = app.call("POST", &path, Some(&reader), Some(json!({"email": "x@example.nl"}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        let (other, _) = TestApp::environment(&app.db, "Globex").await;
        let r = add(&app, &other, json!({"email": "x@example.nl"})).await;
        assert_eq!(r.error(404).0, "not_found", "another environment's members are out of reach");
    }

    async fn two_administrators_adding_one_new_address_at_once_make_one_account(db) {
        let app = TestApp::start(db).await;
        let mut children = Vec::new();
        for i in 0..4 {
            let r = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": format!("Afdeling {i}"), "parent_id": app.org_id}))).await;
            children.push(r.body["id"].as_str().unwrap().to_owned());
        }
        let calls = children.iter().map(|org| {
            let client = app.client.clone();
            let url = format!("{}/api/v1/organizations/{org}/members", app.base);
            let token = app.token.clone();
            async move {
                let r = client.post(url).bearer_auth(token).json(&json!({"email": "nieuw@example.nl"})).send().await.unwrap();
                TestApp::answer(r).await
            }
        });
        let answers = futures_join_all(calls).await;
        let ids: std::collections::BTreeSet<String> = answers.iter().map(|a| {
            assert_eq!(a.status, 201, "{}", a.body);
            a.body["account_id"].as_str().unwrap().to_owned()
        }).collect();
        assert_eq!(ids.len(), 1, "one account for one address");
        assert_eq!(answers.iter().filter(|a| a.body["account_reused"] == false).count(), 1);
    }

    async fn racing_adds_of_one_person_or_one_staff_code_end_in_409_never_500(db) {
        let app = TestApp::start(db).await;
        let url = format!("{}/api/v1/organizations/{}/members", app.base, app.org_id);
        for bodies in [
            vec![json!({"email": "same@example.nl"}); 6],
            (0..6).map(|i| json!({"email": format!("p{i}@example.nl"), "staff_code": "RACE"})).collect::<Vec<_>>(),
        ] {
            let calls = bodies.into_iter().map(|body| {
                let (client, url, token) = (app.client.clone(), url.clone(), app.token.clone());
                async move { client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status().as_u16() }
            });
            let mut statuses = futures_join_all(calls).await;
            statuses.sort();
            assert_eq!(statuses, vec![201, 409, 409, 409, 409, 409]);
        }
    }

    async fn the_list_sorts_by_family_name_ignoring_the_infix_and_searches(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        for (email, given, infix, family, code, role) in [
            ("jan@example.nl", "Jan", Some("van der"), "Berg", "S-3", "member"),
            ("anna@example.nl", "Anna", None, "Aalders", "S-1", "user-manager"),
            ("piet@example.nl", "Piet", Some("de"), "Vries", "S-2", "member"),
            ("bob@zorg.nl", "Bob", None, "Bakker", "X-9", "member"),
        ] {
            let r = add(&app, &org, json!({"email": email, "given_name": given, "infix": infix, "family_name": family, "staff_code": code, "roles": [role], "labels": [if role == "member" { "Oost" } else { "West" }]})).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let names = |body: &Value| -> Vec<String> { body["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_owned()).collect() };
        let base = format!("/api/v1/organizations/{org}/members");
        let all = app.get(&base).await;
        // The bootstrap administrator has no name yet and sorts by address.
        assert_eq!(names(&all.body), vec!["Anna Aalders", "admin@acme.example", "Bob Bakker", "Jan van der Berg", "Piet de Vries"]);
        assert_eq!(names(&app.get(&format!("{base}?q=berg")).await.body), vec!["Jan van der Berg"]);
        assert_eq!(names(&app.get(&format!("{base}?q=PIET@")).await.body), vec!["Piet de Vries"]);
        assert_eq!(names(&app.get(&format!("{base}?q=s-")).await.body), vec!["Anna Aalders", "Jan van der Berg", "Piet de Vries"]);
        assert_eq!(names(&app.get(&format!("{base}?q=%25")).await.body), Vec::<String>::new(), "wildcards match literally");
        assert_eq!(names(&app.get(&format!("{base}?role=user-manager")).await.body), vec!["Anna Aalders"]);
        assert_eq!(names(&app.get(&format!("{base}?label=West")).await.body), vec!["Anna Aalders"]);
        // A member's labels changed: the filter follows.
        let bob = app.get(&format!("{base}?q=bob")).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let r = app.call("PATCH", &format!("{base}/{bob}"), Some(&app.token.clone()), Some(json!({"labels": ["West", "Nacht"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(names(&app.get(&format!("{base}?label=West")).await.body), vec!["Anna Aalders", "Bob Bakker"]);
        assert_eq!(names(&app.get(&format!("{base}?label=Nacht")).await.body), vec!["Bob Bakker"]);
        assert_eq!(names(&app.get(&format!("{base}?label=Oost")).await.body), vec!["Jan van der Berg", "Piet de Vries"]);
        assert_eq!(names(&app.get(&format!("{base}?label=%25")).await.body), Vec::<String>::new(), "a label matches literally");
        assert_eq!(names(&app.get(&format!("{base}?status=active")).await.body), Vec::<String>::new());
        assert_eq!(app.get(&format!("{base}?status=invited")).await.body["items"].as_array().unwrap().len(), 5);
        assert_eq!(app.get(&format!("{base}?status=sleeping")).await.error(422).1, Some("status"));
        assert_eq!(app.get(&format!("{base}?cursor=nope")).await.error(422).1, Some("cursor"));

        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor { Some(c) => format!("{base}?limit=2&cursor={c}"), None => format!("{base}?limit=2") };
            let page = app.get(&url).await;
            seen.extend(names(&page.body));
            match page.body["next_cursor"].as_str() { Some(c) => cursor = Some(c.to_owned()), None => break }
        }
        assert_eq!(seen, names(&all.body), "pages join up without gaps or repeats");
    }

    async fn search_ignores_case_and_accents_and_follows_every_change(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let base = format!("/api/v1/organizations/{org}/members");
        let names = |body: &Value| -> Vec<String> { body["items"].as_array().unwrap().iter().map(|i| i["display_name"].as_str().unwrap().to_owned()).collect() };
        let zoe = add(&app, &org, json!({"email": "zoe@example.nl", "given_name": "Zoë", "family_name": "Çelik", "staff_code": "EMP-7"})).await;
        add(&app, &org, json!({"email": "jan@example.nl", "given_name": "Jan", "infix": "van der", "family_name": "Berg"})).await;
        add(&app, &org, json!({"email": "cees@example.nl", "given_name": "Cees", "family_name": "Dijk"})).await;
        let search = |q: &str| { let url = format!("{base}?q={q}"); let app = &app; async move { names(&app.get(&url).await.body) } };
        assert_eq!(search("celik").await, vec!["Zoë Çelik"]);
        assert_eq!(search("ZOE%20C").await, vec!["Zoë Çelik"]);
        assert_eq!(search("van%20der%20b").await, vec!["Jan van der Berg"]);
        assert_eq!(search("berg,%20jan").await, vec!["Jan van der Berg"]);
        assert_eq!(search("der").await, Vec::<String>::new(), "only beginnings of terms");
        assert_eq!(search("%20%20").await.len(), 4, "a blank search is no search");
        // Accents do not move a name in the list either: Çelik stands under C.
        assert_eq!(names(&app.get(&base).await.body), vec!["admin@acme.example", "Jan van der Berg", "Zoë Çelik", "Cees Dijk"]);

        let id = zoe.body["account_id"].as_str().unwrap();
        let r = app.call("PATCH", &format!("{base}/{id}"), Some(&app.token.clone()), Some(json!({"family_name": "Yilmaz", "staff_code": "EMP-8", "email": "zoe.y@example.nl"}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(search("celik").await, Vec::<String>::new(), "the old name is gone");
        assert_eq!(search("emp-7").await, Vec::<String>::new(), "the old code is gone");
        assert_eq!(search("zoe@").await, Vec::<String>::new(), "the old address is gone");
        for q in ["yilmaz", "emp-8", "zoe.y@"] {
            assert_eq!(search(q).await, vec!["Zoë Yilmaz"], "{q}");
        }
        assert_eq!(names(&app.get(&base).await.body).last().map(String::as_str), Some("Zoë Yilmaz"), "and she moved in the list");

        // The same person in a second organization is found there too, and
        // a removed member is found nowhere.
        let (other, token) = TestApp::environment(&app.db, "Globex").await;
        let r = app.call("POST", &format!("/api/v1/organizations/{other}/members"), Some(&token), Some(json!({"email": "jan@example.nl", "staff_code": "G-1"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let there = app.call("GET", &format!("/api/v1/organizations/{other}/members?q=g-1"), Some(&token), None).await;
        assert_eq!(names(&there.body), vec!["Jan van der Berg"]);
        assert_eq!(search("g-1").await, Vec::<String>::new(), "a code of another organization");
        let jan = r.body["account_id"].as_str().unwrap();
        assert_eq!(app.call("DELETE", &format!("{base}/{jan}"), Some(&app.token.clone()), None).await.status, 204);
        assert_eq!(search("jan").await, Vec::<String>::new());
        let terms = portier_store::testing::strings(&app.db.store, "SELECT term FROM member_terms ORDER BY term").await;
        assert!(terms.contains(&"g-1".to_owned()) && !terms.iter().any(|t| t.contains("emp-7")), "{terms:?}");
    }

    async fn a_member_of_another_organization_is_not_found(db) {
        let app = TestApp::start(db).await;
        let (other, token) = TestApp::environment(&app.db, "Globex").await;
        let r = app.call("POST", &format!("/api/v1/organizations/{other}/members"), Some(&token), Some(json!({"email": "elders@example.nl"}))).await;
        let id = r.body["account_id"].as_str().unwrap();
        assert_eq!(app.get(&format!("/api/v1/organizations/{}/members/{id}", app.org_id)).await.error(404).0, "not_found");
        assert_eq!(app.get(&format!("/api/v1/organizations/{}/members/nope", app.org_id)).await.error(400).1, Some("account_id"));
    }
}

/// Runs futures concurrently on the runtime and collects their outputs in order.
async fn futures_join_all<
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
