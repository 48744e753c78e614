//! Portfolios and billing (docs/PORTFOLIOS.md) on both backends: portfolio
//! types, a member's portfolio and the rules for giving one (the type, the
//! role, one active at a time), deactivating, completing and reactivating,
//! the last-day warning, and the billing report, also for a hand-computed
//! scenario whose dates are injected (no clock).

mod common;

use chrono::NaiveDate;
use common::TestApp;
use portier_core::ids::AccountId;
use portier_core::portfolios::{BillingCycle, Month, billed};
use portier_core::rights::PortfoliosManage;
use portier_store::audit::Origin;
use portier_store::both_backends;
use portier_store::portfolios::Change;
use serde_json::{Value, json};

/// The environment gets a type "surgery" and a role "resident" that allows
/// it; returns the account id of a resident and of a plain member.
async fn residents(app: &TestApp) -> (String, String) {
    app.resident_role().await;
    let resident = app
        .add_member(json!({"email": "eva@example.nl", "roles": ["resident"]}))
        .await;
    let member = app
        .add_member(json!({"email": "piet@example.nl", "roles": ["member"]}))
        .await;
    (resident, member)
}

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

both_backends! {
    async fn portfolio_types_belong_to_the_environment(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let path = format!("/api/v1/organizations/{org}/portfolio-types");
        let token = app.token.clone();
        let r = app.call("POST", &path, Some(&token), Some(json!({"key": "onboarding-nurse", "name": {"en": "Onboarding nurse"}}))).await;
        assert_eq!((r.status, &r.body["name"]), (201, &json!({"en": "Onboarding nurse", "nl": "Onboarding nurse"})), "{}", r.body);
        let r = app.call("POST", &path, Some(&token), Some(json!({"key": "onboarding-nurse", "name": {"en": "Again"}}))).await;
        assert_eq!(r.error(409), ("portfolio_type_exists", Some("key")));
        let r = app.call("POST", &path, Some(&token), Some(json!({"key": "Surgery!", "name": {"en": "x"}}))).await;
        assert_eq!(r.status, 422, "{}", r.body);
        // A department below sees the environment's types.
        let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Ward 3", "parent_id": org}))).await;
        let ward = r.body["id"].as_str().unwrap().to_owned();
        let r = app.call("GET", &format!("/api/v1/organizations/{ward}/portfolio-types"), Some(&token), None).await;
        assert_eq!(r.body["items"][0]["key"], "onboarding-nurse", "{}", r.body);
        // The ward's own administrator manages portfolios there, but a type
        // holds in the whole environment: not theirs to add.
        let chief = app.session_in(&ward, "chief@example.nl", &["administrator"]).await;
        let r = app.with_cookie("POST", &format!("/api/v1/organizations/{ward}/portfolio-types"), &chief, Some(json!({"key": "ward-only", "name": {"en": "Ward only"}}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        assert!(r.body["error"]["message"].as_str().unwrap().contains("portfolios.manage"));
        let r = app.call("POST", &format!("/api/v1/organizations/{ward}/portfolio-types"), Some(&token), Some(json!({"key": "from-above", "name": {"en": "From above"}}))).await;
        assert_eq!(r.status, 201, "the environment's administrators may, through any organization: {}", r.body);
    }

    async fn a_member_gets_a_portfolio_their_role_allows_one_at_a_time(db) {
        let app = TestApp::start(db).await;
        let (eva, piet) = residents(&app).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let give = |who: &str| format!("/api/v1/organizations/{org}/members/{who}/portfolios");
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "cardiology"}))).await;
        assert_eq!(r.error(422), ("unknown_portfolio_type", Some("type")));
        let r = app.call("POST", &give(&piet), Some(&token), Some(json!({"type": "surgery"}))).await;
        assert_eq!(r.error(422), ("not_allowed_by_role", Some("type")), "only roles that allow the type");
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "surgery", "start_date": "2020-01-01"}))).await;
        assert_eq!(r.error(422), ("in_the_past", Some("start_date")));
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "surgery", "start_date": "2099-13-01"}))).await;
        assert_eq!(r.error(422), ("invalid", Some("start_date")));
        let stranger = uuid::Uuid::now_v7();
        let r = app.call("POST", &give(&stranger.to_string()), Some(&token), Some(json!({"type": "surgery"}))).await;
        assert_eq!(r.error(404).0, "not_found");

        // On the last day of a month: billed for it, and told so with the way out.
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "surgery", "start_date": "2099-12-31"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!((&r.body["state"], &r.body["type"], &r.body["start_date"]), (&json!("active"), &json!("surgery"), &json!("2099-12-31")));
        assert_eq!(r.body["organization_id"], json!(org));
        assert_eq!(r.body["warnings"][0]["code"], "billed_for_this_month");
        assert_eq!(r.body["warnings"][0]["month"], "2099-12");
        assert_eq!(r.body["warnings"][0]["avoid_by_starting_on"], "2100-01-01");
        let id = r.body["id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "surgery", "start_date": "2100-01-01"}))).await;
        assert_eq!(r.error(409).0, "active_portfolio_exists", "generally one active at a time");

        let list = app.call("GET", &format!("/api/v1/organizations/{org}/portfolios?state=active"), Some(&token), None).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{}", list.body);
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/portfolios?state=paused"), Some(&token), None).await;
        assert_eq!(r.error(422).1, Some("state"));

        // Deactivated (it had not begun: no day of it is billed), back, completed.
        let act = |what: &str| format!("/api/v1/organizations/{org}/portfolios/{id}/{what}");
        let r = app.call("POST", &act("deactivate"), Some(&token), None).await;
        assert_eq!((r.status, &r.body["state"]), (200, &json!("deactivated")), "{}", r.body);
        assert_eq!(app.call("POST", &act("deactivate"), Some(&token), None).await.error(409).0, "portfolio_state");
        let r = app.call("POST", &act("reactivate"), Some(&token), None).await;
        assert_eq!((r.status, &r.body["state"]), (200, &json!("active")), "{}", r.body);
        assert_eq!(r.body["warnings"][0]["month"], "2099-12", "back from its start date, the last day of a month");
        let r = app.call("POST", &act("complete"), Some(&token), None).await;
        assert_eq!((r.status, &r.body["state"]), (200, &json!("completed")));
        assert_eq!(app.call("POST", &act("reactivate"), Some(&token), None).await.error(409).0, "portfolio_state", "completed is final");
        // A new one may follow (several consecutively), and no warning on a first day.
        let r = app.call("POST", &give(&eva), Some(&token), Some(json!({"type": "surgery", "start_date": "2100-01-01"}))).await;
        assert_eq!((r.status, &r.body["warnings"]), (201, &json!([])), "{}", r.body);

        let mut trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action LIKE 'portfolio%'").await;
        trail.sort();
        assert_eq!(trail, ["portfolio.completed", "portfolio.created", "portfolio.created", "portfolio.deactivated", "portfolio.reactivated", "portfolio_type.created"]);
    }

    async fn a_portfolio_comes_last_when_adding_a_user_and_removal_asks_about_it(db) {
        let app = TestApp::start(db).await;
        residents(&app).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let members = format!("/api/v1/organizations/{org}/members");
        // Refused on the portfolio: nothing of the member is kept.
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "sam@example.nl", "roles": ["member"], "portfolio": {"type": "surgery"}}))).await;
        assert_eq!(r.error(422), ("not_allowed_by_role", Some("portfolio.type")));
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "sam@example.nl", "roles": ["resident"], "portfolio": {"type": "surgery", "start_date": "yesterday"}}))).await;
        assert_eq!(r.error(422), ("invalid", Some("portfolio.start_date")));
        assert_eq!(app.get(&format!("{members}?q=sam")).await.body["items"].as_array().unwrap().len(), 0, "nothing half-written");
        // Without the right to give portfolios.
        let mut set = portier_core::permissions::PermissionSet::new();
        set.insert(portier_core::permissions::MEMBERS_INVITE);
        set.insert(portier_core::permissions::ROLES_ASSIGN);
        let limited = app.restricted_token(&org, set).await;
        let r = app.call("POST", &members, Some(&limited), Some(json!({"email": "sam@example.nl", "roles": ["resident"], "portfolio": {"type": "surgery"}}))).await;
        assert_eq!(r.error(403).0, "forbidden");
        // Role first, then e-mail, then portfolio (docs/RULES.md#adding-members),
        // with the last-day warning.
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "sam@example.nl", "roles": ["resident"], "portfolio": {"type": "surgery", "start_date": "2099-12-31"}}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!((&r.body["portfolio"]["state"], &r.body["portfolio"]["type"]), (&json!("active"), &json!("surgery")));
        assert_eq!(r.body["warnings"][0]["code"], "billed_for_this_month", "{}", r.body);
        let sam = r.body["account_id"].as_str().unwrap().to_owned();
        let portfolio = r.body["portfolio"]["id"].as_str().unwrap().to_owned();

        // docs/PORTFOLIOS.md#when-a-member-leaves: removing asks what becomes
        // of the active portfolio.
        let member = format!("{members}/{sam}");
        assert_eq!(app.call("DELETE", &member, Some(&token), None).await.error(409), ("active_portfolio", Some("portfolio")));
        assert_eq!(app.call("DELETE", &format!("{member}?portfolio=keep"), Some(&token), None).await.error(422).1, Some("portfolio"));
        let r = app.call("DELETE", &format!("{member}?portfolio=complete"), Some(&token), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let list = app.call("GET", &format!("/api/v1/organizations/{org}/portfolios"), Some(&token), None).await;
        let item = list.body["items"].as_array().unwrap().iter().find(|p| p["id"] == json!(portfolio)).unwrap().clone();
        assert_eq!(item["state"], "completed");
    }

    async fn a_portfolio_moves_to_another_organization_which_pays_from_today(db) {
        let app = TestApp::start(db).await;
        let (eva, _) = residents(&app).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let r = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Ward 3", "parent_id": org}))).await;
        let ward = r.body["id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members/{eva}/portfolios"), Some(&token), Some(json!({"type": "surgery"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();
        let move_to = |to: &str| (format!("/api/v1/organizations/{org}/portfolios/{id}/transfer"), json!({"to_organization_id": to}));
        let (path, body) = move_to(&ward);
        assert_eq!(app.call("POST", &path, Some(&token), Some(body.clone())).await.error(422), ("not_a_member_there", Some("to_organization_id")));
        let (_, same) = move_to(&org);
        assert_eq!(app.call("POST", &path, Some(&token), Some(same)).await.error(422), ("same_organization", Some("to_organization_id")));
        let (_, nowhere) = move_to(&uuid::Uuid::now_v7().to_string());
        assert_eq!(app.call("POST", &path, Some(&token), Some(nowhere)).await.error(422), ("unknown_organization", Some("to_organization_id")));
        // Another environment's organization answers as one that does not exist.
        let (other, _) = TestApp::environment(&app.db, "Elders").await;
        let (_, foreign) = move_to(&other);
        assert_eq!(app.call("POST", &path, Some(&token), Some(foreign)).await.error(422), ("unknown_organization", Some("to_organization_id")));

        app.add_member_to(&ward, json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        let r = app.call("POST", &path, Some(&token), Some(body)).await;
        assert_eq!((r.status, &r.body["organization_id"], &r.body["state"]), (200, &json!(ward), &json!("active")), "{}", r.body);
        // From today the ward pays: this month is the ward's, not the environment's own.
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        let bill = |at: &str| format!("/api/v1/organizations/{at}/billing?from={month}&to={month}");
        let r = app.call("GET", &bill(&ward), Some(&token), None).await;
        assert_eq!(r.body["months"][0]["billed"], 1, "{}", r.body);
        assert_eq!(r.body["months"][0]["portfolios"][0]["organization_id"], json!(ward));
        let r = app.call("GET", &bill(&org), Some(&token), None).await;
        assert_eq!(r.body["months"][0]["portfolios"].as_array().unwrap().len(), 1, "the environment's report includes those below it");
        // The history says who pays for which months.
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/portfolios/{id}"), Some(&token), None).await;
        assert_eq!(r.body["history"].as_array().unwrap().len(), 1, "the environment's own stretch began and ended today: {}", r.body);
        assert_eq!((&r.body["history"][0]["organization_id"], &r.body["history"][0]["months"]), (&json!(ward), &json!([month])));
        assert_eq!(app.call("GET", &format!("/api/v1/organizations/{other}/portfolios/{id}"), Some(&token), None).await.status, 404);
        let trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action = 'portfolio.transferred'").await;
        assert_eq!(trail.len(), 1);
        // Completed: stays where it is.
        app.call("POST", &format!("/api/v1/organizations/{ward}/portfolios/{id}/complete"), Some(&token), None).await;
        let (path, back) = (format!("/api/v1/organizations/{ward}/portfolios/{id}/transfer"), json!({"to_organization_id": org}));
        assert_eq!(app.call("POST", &path, Some(&token), Some(back)).await.error(409).0, "portfolio_state");
    }

    async fn a_transfer_between_two_administrations_waits_for_the_other_sides_consent(db) {
        let app = TestApp::start(db).await;
        let (eva, _) = residents(&app).await;
        let (a, b, token_a, token_b) = two_wards(&app).await;
        for ward in [&a, &b] {
            app.add_member_to(ward, json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        }
        let r = app.call("POST", &format!("/api/v1/organizations/{a}/members/{eva}/portfolios"), Some(&token_a), Some(json!({"type": "surgery"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let id = r.body["id"].as_str().unwrap().to_owned();

        // Offered by A: B is asked; nothing moves yet.
        let offer = format!("/api/v1/organizations/{a}/portfolios/{id}/transfer");
        let r = app.call("POST", &offer, Some(&token_a), Some(json!({"to_organization_id": b}))).await;
        assert_eq!((r.status, &r.body["state"], &r.body["asked_by"], &r.body["awaiting_organization_id"]), (202, &json!("pending"), &json!("from"), &json!(b)), "{}", r.body);
        let request = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("POST", &offer, Some(&token_a), Some(json!({"to_organization_id": b}))).await.error(409).0, "transfer_pending");
        let answer = |at: &str, what: &str| format!("/api/v1/organizations/{at}/portfolio-transfers/{request}/{what}");
        assert_eq!(app.call("POST", &answer(&a, "accept"), Some(&token_a), None).await.error(409).0, "awaiting_other_side", "no consent to oneself");
        assert_eq!(app.call("POST", &answer(&b, "accept"), Some(&token_a), None).await.status, 404, "A cannot act for B");
        let pending = |at: &str| format!("/api/v1/organizations/{at}/portfolio-transfers?state=pending");
        let r = app.call("GET", &pending(&b), Some(&token_b), None).await;
        assert_eq!((r.body["items"].as_array().unwrap().len(), &r.body["items"][0]["portfolio_id"]), (1, &json!(id)), "{}", r.body);
        assert_eq!(app.call("GET", &pending(&a), Some(&token_a), None).await.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(app.call("GET", &format!("/api/v1/organizations/{a}/portfolio-transfers?state=open"), Some(&token_a), None).await.error(422).1, Some("state"));
        // B declines; A asks again and withdraws.
        let r = app.call("POST", &answer(&b, "decline"), Some(&token_b), None).await;
        assert_eq!((r.status, &r.body["request"]["state"], &r.body["portfolio"]), (200, &json!("declined"), &Value::Null), "{}", r.body);
        assert_eq!(app.call("POST", &answer(&b, "accept"), Some(&token_b), None).await.error(409).0, "transfer_state", "answered once");
        let r = app.call("POST", &offer, Some(&token_a), Some(json!({"to_organization_id": b}))).await;
        let request2 = r.body["id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &format!("/api/v1/organizations/{a}/portfolio-transfers/{request2}/decline"), Some(&token_a), None).await;
        assert_eq!(r.body["request"]["state"], "withdrawn", "{}", r.body);

        // B, which has Eva as a member, sees her portfolio at A and asks to take it over; A consents.
        let r = app.call("GET", &format!("/api/v1/organizations/{b}/members/{eva}/portfolios"), Some(&token_b), None).await;
        assert_eq!((&r.body["items"][0]["id"], &r.body["items"][0]["organization_id"]), (&json!(id), &json!(a)), "{}", r.body);
        let take = format!("/api/v1/organizations/{b}/members/{eva}/portfolios/{id}/take-over");
        let r = app.call("POST", &take, Some(&token_b), None).await;
        assert_eq!((r.status, &r.body["asked_by"], &r.body["awaiting_organization_id"]), (202, &json!("to"), &json!(a)), "{}", r.body);
        let request3 = r.body["id"].as_str().unwrap().to_owned();
        let accept = format!("/api/v1/organizations/{a}/portfolio-transfers/{request3}/accept");
        let r = app.call("POST", &accept, Some(&token_a), None).await;
        assert_eq!((r.status, &r.body["request"]["state"], &r.body["portfolio"]["organization_id"]), (200, &json!("accepted"), &json!(b)), "{}", r.body);
        let month = chrono::Utc::now().format("%Y-%m").to_string();
        let r = app.call("GET", &format!("/api/v1/organizations/{b}/billing?from={month}&to={month}"), Some(&token_b), None).await;
        assert_eq!(r.body["months"][0]["portfolios"][0]["id"], json!(id), "B pays from today: {}", r.body);
        // A no longer manages it, and another environment sees none of this.
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{a}/portfolios/{id}/complete"), Some(&token_a), None).await.status, 404);
        let (other, other_token) = TestApp::environment(&app.db, "Elders").await;
        assert_eq!(app.call("GET", &format!("/api/v1/organizations/{other}/members/{eva}/portfolios"), Some(&other_token), None).await.status, 404);
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{other}/portfolio-transfers/{request3}/decline"), Some(&other_token), None).await.status, 404);
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{other}/members/{eva}/portfolios/{id}/take-over"), Some(&other_token), None).await.status, 404);

        let mut trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action LIKE 'portfolio.transfer%'").await;
        trail.sort();
        assert_eq!(trail, ["portfolio.transfer_accepted", "portfolio.transfer_declined", "portfolio.transfer_requested", "portfolio.transfer_requested", "portfolio.transfer_requested", "portfolio.transfer_withdrawn", "portfolio.transferred"]);
    }

    async fn removing_a_member_can_hand_the_portfolio_to_another_organization(db) {
        let app = TestApp::start(db).await;
        let (eva, _) = residents(&app).await;
        let (a, b, token_a, token_b) = two_wards(&app).await;
        app.add_member_to(&a, json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        let r = app.call("POST", &format!("/api/v1/organizations/{a}/members/{eva}/portfolios"), Some(&token_a), Some(json!({"type": "surgery"}))).await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        let leave = format!("/api/v1/organizations/{a}/members/{eva}");
        assert_eq!(app.call("DELETE", &format!("{leave}?portfolio=transfer"), Some(&token_a), None).await.error(422).1, Some("to_organization_id"));
        let r = app.call("DELETE", &format!("{leave}?portfolio=transfer&to_organization_id={b}"), Some(&token_a), None).await;
        assert_eq!(r.error(422), ("not_a_member_there", Some("to_organization_id")), "nothing removed yet");
        app.add_member_to(&b, json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        // A cannot act for B: A stops paying now, B is asked and, accepting, resumes it.
        let r = app.call("DELETE", &format!("{leave}?portfolio=transfer&to_organization_id={b}"), Some(&token_a), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = app.call("GET", &format!("/api/v1/organizations/{b}/members/{eva}/portfolios"), Some(&token_b), None).await;
        assert_eq!((&r.body["items"][0]["state"], &r.body["items"][0]["organization_id"]), (&json!("deactivated"), &json!(a)), "{}", r.body);
        let r = app.call("GET", &format!("/api/v1/organizations/{b}/portfolio-transfers?state=pending"), Some(&token_b), None).await;
        assert_eq!(r.body["items"][0]["resume"], true, "{}", r.body);
        let request = r.body["items"][0]["id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &format!("/api/v1/organizations/{b}/portfolio-transfers/{request}/accept"), Some(&token_b), None).await;
        assert_eq!((r.status, &r.body["portfolio"]["state"], &r.body["portfolio"]["organization_id"]), (200, &json!("active"), &json!(b)), "{}", r.body);
        // With the right on both sides it moves at once.
        let c = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": "Ward C", "parent_id": app.org_id}))).await.body["id"].as_str().unwrap().to_owned();
        app.add_member_to(&c, json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        let r = app.call("DELETE", &format!("/api/v1/organizations/{b}/members/{eva}?portfolio=transfer&to_organization_id={c}"), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        let r = app.call("GET", &format!("/api/v1/organizations/{}/portfolios/{id}", app.org_id), Some(&app.token.clone()), None).await;
        assert_eq!((&r.body["state"], &r.body["organization_id"]), (&json!("active"), &json!(c)), "{}", r.body);
        let payers: Vec<&Value> = r.body["history"].as_array().unwrap().iter().map(|s| &s["organization_id"]).collect();
        assert_eq!(payers, [&json!(c)], "each stretch began and ended today but the last: {}", r.body);
    }

    async fn an_organization_may_allow_parallel_portfolios(db) {
        let app = TestApp::start(db).await;
        let (eva, _) = residents(&app).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let give = format!("/api/v1/organizations/{org}/members/{eva}/portfolios");
        let first = app.call("POST", &give, Some(&token), Some(json!({"type": "surgery"}))).await;
        assert_eq!(first.status, 201);
        assert_eq!(app.call("POST", &give, Some(&token), Some(json!({"type": "surgery"}))).await.error(409).0, "active_portfolio_exists");
        let r = app.call("PATCH", &format!("/api/v1/organizations/{org}"), Some(&token), Some(json!({"settings": {"allow_parallel_portfolios": true}}))).await;
        assert_eq!(r.body["settings"]["allow_parallel_portfolios"], true, "{}", r.body);
        assert_eq!(app.call("POST", &give, Some(&token), Some(json!({"type": "surgery"}))).await.status, 201, "side by side now");
        let list = app.call("GET", &format!("/api/v1/organizations/{org}/portfolios?state=active"), Some(&token), None).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 2);
    }

    async fn the_billing_report_counts_the_last_day_of_each_month(db) {
        let app = TestApp::start(db).await;
        let (eva, _) = residents(&app).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members/{eva}/portfolios"), Some(&token), Some(json!({"type": "surgery", "start_date": "2099-12-31"}))).await;
        let id = r.body["id"].clone();
        let bill = |from: &str, to: &str| format!("/api/v1/organizations/{org}/billing?from={from}&to={to}");
        let r = app.call("GET", &bill("2099-11", "2100-02"), Some(&token), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let counts: Vec<(String, u64)> = r.body["months"].as_array().unwrap().iter()
            .map(|m| (m["month"].as_str().unwrap().to_owned(), m["billed"].as_u64().unwrap())).collect();
        assert_eq!(counts, [("2099-11".into(), 0), ("2099-12".into(), 1), ("2100-01".into(), 1), ("2100-02".into(), 1)]);
        assert_eq!(r.body["months"][1]["reference_date"], "2099-12-31");
        assert_eq!(r.body["months"][1]["portfolios"][0], json!({"id": id, "account_id": eva, "type": "surgery", "organization_id": org}));
        assert_eq!(r.body["billing_cycle"], "monthly");
        let counts = app.call("GET", &format!("{}&detail=false", bill("2099-12", "2099-12")), Some(&token), None).await;
        assert_eq!((&counts.body["months"][0]["billed"], &counts.body["months"][0]["portfolios"]), (&json!(1), &json!([])), "counts only");
        let r = app.call("GET", &format!("{}&detail=maybe", bill("2099-12", "2099-12")), Some(&token), None).await;
        assert_eq!(r.error(422).1, Some("detail"));
        for (q, field) in [("from=2026-1&to=2026-02", "from"), ("from=2026-03&to=2026-02", "to"), ("from=2026-01", "to"), ("from=2000-01&to=2026-01", "to")] {
            let r = app.call("GET", &format!("/api/v1/organizations/{org}/billing?{q}"), Some(&token), None).await;
            assert_eq!(r.error(422).1, Some(field), "{q}");
        }
        // Quarterly: counted per month all the same; annually: not counted monthly.
        let path = format!("/api/v1/organizations/{org}");
        app.call("PATCH", &path, Some(&token), Some(json!({"settings": {"billing_cycle": "quarterly"}}))).await;
        let r = app.call("GET", &bill("2099-12", "2099-12"), Some(&token), None).await;
        assert_eq!((&r.body["billing_cycle"], &r.body["months"][0]["billed"]), (&json!("quarterly"), &json!(1)));
        app.call("PATCH", &path, Some(&token), Some(json!({"settings": {"billing_cycle": "annual"}}))).await;
        let r = app.call("GET", &bill("2099-12", "2099-12"), Some(&token), None).await;
        assert_eq!((&r.body["billing_cycle"], &r.body["months"][0]["billed"]), (&json!("annual"), &json!(0)));
        assert!(r.body["note"].as_str().unwrap().contains("annually"));
        // And no last-day warning for an annual payer
        // (docs/PORTFOLIOS.md#the-reference-date).
        let piet = app.add_member(json!({"email": "sam@example.nl", "roles": ["resident"]})).await;
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members/{piet}/portfolios"), Some(&token), Some(json!({"type": "surgery", "start_date": "2099-12-31"}))).await;
        assert_eq!((r.status, &r.body["warnings"]), (201, &json!([])), "{}", r.body);
    }

    async fn a_stored_history_bills_as_computed_by_hand(db) {
        // A table computed by hand with the rule of docs/PORTFOLIOS.md#billing,
        // stored and read back: changes
        // made on injected dates (a deactivation on a leap day, another on a
        // last day), read by the report's query and counted by the rule.
        //
        // | portfolio | history                                      |
        // |-----------|----------------------------------------------|
        // | A         | from 2027-12-31                              |
        // | B         | from 2028-01-10, deactivated 2028-02-29      |
        // | C         | from 2027-11-05, deactivated 2028-01-31      |
        // | D         | from 2028-02-29, completed 2028-03-15        |
        //
        // | month   | billed     |
        // |---------|------------|
        // | 2027-11 | C          |
        // | 2027-12 | A, C       |
        // | 2028-01 | A, B       |
        // | 2028-02 | A, D       |
        // | 2028-03 | A          |
        let app = TestApp::start(db).await;
        residents(&app).await;
        let store = &app.db.store;
        let org = portier_store::organizations::get(store, app.org_id.parse().unwrap()).await.unwrap().unwrap();
        let principal = portier_store::members::principal_for_account(store, admin_of(&app).await).await.unwrap();
        let auth = principal.authorize::<PortfoliosManage>(&org).unwrap();
        let origin = Origin::now(None);
        let mut ids = Vec::new();
        for (n, start) in ["2027-12-31", "2028-01-10", "2027-11-05", "2028-02-29"].iter().enumerate() {
            let who = app.add_member(json!({"email": format!("p{n}@example.nl"), "roles": ["resident"]})).await;
            let account = AccountId(who.parse().unwrap());
            let (p, _) = portier_store::portfolios::create(store, &auth, account, "surgery", d(start), &origin).await.unwrap();
            ids.push(p.id);
        }
        for (i, c, on) in [(1, Change::Deactivate, "2028-02-29"), (2, Change::Deactivate, "2028-01-31"), (3, Change::Complete, "2028-03-15")] {
            portier_store::portfolios::change(store, &auth, ids[i], c, d(on), &origin).await.unwrap();
        }
        let months = Month::range(Month::parse("from", "2027-11").unwrap(), Month::parse("to", "2028-03").unwrap()).unwrap();
        let periods = portier_store::portfolios::billing_periods(store, &org, months[0].first_day(), months[4].last_day()).await.unwrap();
        let name = |id| ["A", "B", "C", "D"][ids.iter().position(|x| *x == id).unwrap()];
        let table: Vec<(String, Vec<&str>)> = billed(&months, &periods, BillingCycle::Monthly)
            .into_iter()
            .map(|b| {
                let mut names: Vec<&str> = b.portfolios.iter().map(|p| name(p.portfolio)).collect();
                names.sort();
                (b.month.to_string(), names)
            })
            .collect();
        let expect: Vec<(String, Vec<&str>)> = vec![
            ("2027-11".into(), vec!["C"]),
            ("2027-12".into(), vec!["A", "C"]),
            ("2028-01".into(), vec!["A", "B"]),
            ("2028-02".into(), vec!["A", "D"]),
            ("2028-03".into(), vec!["A"]),
        ];
        assert_eq!(table, expect);
    }
}

/// Two wards under the environment, each with a token that manages its
/// members and portfolios there and nowhere else: (a, b, token a, token b).
async fn two_wards(app: &TestApp) -> (String, String, String, String) {
    use portier_core::permissions as p;
    let mut ids = Vec::new();
    for name in ["Ward A", "Ward B"] {
        let r = app
            .call(
                "POST",
                "/api/v1/organizations",
                Some(&app.token.clone()),
                Some(json!({"name": name, "parent_id": app.org_id})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let mut tokens = Vec::new();
    for ward in &ids {
        let mut set = p::PermissionSet::new();
        for perm in [
            p::PORTFOLIOS_MANAGE,
            p::MEMBERS_READ,
            p::MEMBERS_REMOVE,
            p::BILLING_READ,
        ] {
            set.insert(perm);
        }
        tokens.push(app.restricted_token(ward, set).await);
    }
    let (b, a) = (ids.pop().unwrap(), ids.pop().unwrap());
    let (tb, ta) = (tokens.pop().unwrap(), tokens.pop().unwrap());
    (a, b, ta, tb)
}

/// The bootstrapped administrator's account id.
async fn admin_of(app: &TestApp) -> AccountId {
    let list = app
        .get(&format!(
            "/api/v1/organizations/{}/members?q=admin",
            app.org_id
        ))
        .await;
    let id: &Value = &list.body["items"][0]["account_id"];
    AccountId(id.as_str().unwrap().parse().unwrap())
}
