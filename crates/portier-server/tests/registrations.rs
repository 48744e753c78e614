//! Professional registration (docs/RULES.md#professional-registrations):
//! roles that need a BIG number, the number's checks against the register (a
//! local server answering with the register's own envelopes), and who may
//! change it; on both backends.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::{Value, json};

const CURRENT: &str = "19061234501";
const ENDED: &str = "19061234502";
const UNKNOWN: &str = "19061234503";
const FLAKY: &str = "19061234504";

fn person(number: &str, end: &str) -> String {
    format!(
        "<ListHcpApprox4><BirthSurname>Berg</BirthSurname><MailingName>J. van der Berg</MailingName>\
         <Prefix>van der</Prefix><Initial>J.</Initial><Gender>M</Gender><ArticleRegistration><ArticleRegistrationExtApp>\
         <ArticleRegistrationNumber>{number}</ArticleRegistrationNumber>\
         <ArticleRegistrationStartDate>2010-05-01T00:00:00</ArticleRegistrationStartDate>\
         <ArticleRegistrationEndDate>{end}</ArticleRegistrationEndDate>\
         <ProfessionalGroupCode>01</ProfessionalGroupCode></ArticleRegistrationExtApp></ArticleRegistration>\
         </ListHcpApprox4>"
    )
}

fn answer(people: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\
         <soap:Body><ListHcpApprox4Response xmlns=\"http://services.cibg.nl/ExternalUser\"><ListHcpApprox4Result>\
         <ListHcpApprox>{people}</ListHcpApprox></ListHcpApprox4Result></ListHcpApprox4Response></soap:Body></soap:Envelope>"
    )
}

/// A stand-in for CIBG's PublicV4 service on 127.0.0.1: it answers only
/// requests shaped as the real one expects, and is down for FLAKY while
/// `down` is set. Returns its URL.
async fn register(down: Arc<AtomicBool>) -> String {
    use axum::http::{HeaderMap, StatusCode};
    let app = axum::Router::new().route(
        "/Ribiz/OpenbaarV4.asmx",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let down = Arc::clone(&down);
            async move {
                let action = headers.get("soapaction").and_then(|v| v.to_str().ok()).unwrap_or("");
                if action != "\"http://services.cibg.nl/ExternalUser/ListHcpApprox4\""
                    || !body.contains("<WebSite>Ribiz</WebSite>")
                {
                    return (StatusCode::BAD_REQUEST, "not a ListHcpApprox4 request".to_owned());
                }
                let number = body.split("<RegistrationNumber>").nth(1).and_then(|s| s.split('<').next()).unwrap_or("");
                let people = match number {
                    CURRENT => person(CURRENT, "0001-01-01T00:00:00"),
                    ENDED => person(ENDED, "2020-01-01T00:00:00"),
                    FLAKY if down.load(Ordering::SeqCst) => {
                        let fault = "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault>\
                                     <faultcode>soap:Server</faultcode><faultstring>Service unavailable</faultstring></soap:Fault></soap:Body></soap:Envelope>";
                        return (StatusCode::INTERNAL_SERVER_ERROR, fault.to_owned());
                    }
                    FLAKY => person(FLAKY, "0001-01-01T00:00:00"),
                    _ => String::new(),
                };
                (StatusCode::OK, answer(&people))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/Ribiz/OpenbaarV4.asmx",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn specialist_role(app: &TestApp) {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{}/roles", app.org_id),
            Some(&app.token.clone()),
            Some(json!({"key": "specialist", "name": {"en": "Specialist", "nl": "Medisch specialist"}, "kind": "content", "permissions": ["portfolio.write"], "requires_registration": "BIG"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

fn big(number: &str) -> Value {
    json!({"register": "BIG", "number": number})
}

/// The member's registration once its state is no longer `pending`.
async fn settled(app: &TestApp, account: &str) -> Value {
    let path = format!("/api/v1/organizations/{}/members/{account}", app.org_id);
    for _ in 0..200 {
        let r = app.get(&path).await.body["registration"].clone();
        if r["state"] != "pending" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the registration of {account} stayed pending");
}

both_backends! {
    async fn a_role_that_needs_a_big_number_refuses_members_without_a_well_formed_one(db) {
        let app = TestApp::start(db).await;
        specialist_role(&app).await;
        let members = format!("/api/v1/organizations/{}/members", app.org_id);
        let token = app.token.clone();
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "dr@example.nl", "roles": ["specialist"]}))).await;
        assert_eq!(r.error(422), ("registration_required", Some("registration")));
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "dr@example.nl", "roles": ["specialist"], "registration": big("1906123450")}))).await;
        assert_eq!(r.error(422), ("registration_number_invalid", Some("registration.number")));
        let r = app.call("POST", &members, Some(&token), Some(json!({"email": "dr@example.nl", "roles": ["specialist"], "registration": {"register": "SKJ", "number": CURRENT}}))).await;
        assert_eq!(r.error(422).1, Some("registration.register"));
        let dr = app.add_member(json!({"email": "dr@example.nl", "roles": ["specialist"], "registration": big("1906 1234 501")})).await;
        let detail = app.get(&format!("{members}/{dr}")).await;
        let reg = &detail.body["registration"];
        assert_eq!((reg["number"].as_str(), reg["state"].as_str()), (Some(CURRENT), Some("unchecked")), "no register configured: {reg}");
        assert_eq!(reg["lookup_url"], "https://zoeken.bigregister.nl/");
        // Promoting someone without a number to the role needs one too.
        let nurse = app.add_member(json!({"email": "nurse@example.nl"})).await;
        let roles = format!("{members}/{nurse}/roles");
        assert_eq!(app.call("PUT", &roles, Some(&token), Some(json!({"roles": ["specialist"]}))).await.error(422), ("registration_required", Some("registration")));
        let r = app.call("PUT", &roles, Some(&token), Some(json!({"roles": ["specialist"], "registration": big(ENDED)}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let events = portier_store::audit::for_organization(&app.db.store, app.org_id.parse().unwrap(), 20).await.unwrap();
        assert_eq!(events.iter().filter(|e| e.action == "registration.added").count(), 2);
    }

    async fn the_register_is_asked_in_the_background_and_administrators_see_its_answer(db) {
        let down = Arc::new(AtomicBool::new(false));
        let url = register(Arc::clone(&down)).await;
        let app = TestApp::start_with(db, |c| c.big_register_url = Some(url)).await;
        specialist_role(&app).await;
        let current = app.add_member(json!({"email": "a@example.nl", "roles": ["specialist"], "registration": big(CURRENT)})).await;
        let ended = app.add_member(json!({"email": "b@example.nl", "roles": ["specialist"], "registration": big(ENDED)})).await;
        let unknown = app.add_member(json!({"email": "c@example.nl", "roles": ["specialist"], "registration": big(UNKNOWN)})).await;
        let reg = settled(&app, &current).await;
        assert_eq!((reg["state"].as_str(), reg["register_name"].as_str()), (Some("verified"), Some("J. van der Berg")), "{reg}");
        assert!(!reg["checked_at"].is_null());
        assert_eq!(settled(&app, &ended).await["state"], "expired");
        assert_eq!(settled(&app, &unknown).await["state"], "not_found");
    }

    async fn an_unreachable_register_leaves_the_member_added_and_pending_until_it_answers(db) {
        let down = Arc::new(AtomicBool::new(true));
        let url = register(Arc::clone(&down)).await;
        let app = TestApp::start_with(db, |c| c.big_register_url = Some(url)).await;
        specialist_role(&app).await;
        let dr = app.add_member(json!({"email": "dr@example.nl", "roles": ["specialist"], "registration": big(FLAKY)})).await;
        let path = format!("/api/v1/organizations/{}/members/{dr}", app.org_id);
        // The first check fails and is recorded; the member is there all along.
        let mut attempts = 0;
        for _ in 0..200 {
            attempts = portier_store::testing::strings(&app.db.store, "SELECT CAST(attempts AS TEXT) FROM registrations").await[0].parse::<i32>().unwrap();
            if attempts > 0 { break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(attempts, 1, "one failed try recorded");
        assert_eq!(app.get(&path).await.body["registration"]["state"], "pending");
        down.store(false, Ordering::SeqCst);
        // Its retry comes due (brought forward here instead of waiting minutes).
        portier_store::testing::execute(&app.db.store, "UPDATE registrations SET next_check_at = created_at").await;
        let reg = settled(&app, &dr).await;
        assert_eq!(reg["state"], "verified", "{reg}");
    }

    async fn nobody_but_a_platform_operator_changes_a_number(db) {
        let app = TestApp::start(db).await;
        specialist_role(&app).await;
        let token = app.token.clone();
        app.add_member(json!({"email": "dr@example.nl", "roles": ["specialist"], "registration": big(CURRENT)})).await;
        let link = app.mail_link("dr@example.nl", "/activate/").await;
        assert_eq!(app.call("POST", &format!("/api/v1/activations/{link}"), None, Some(json!({"password": GOOD}))).await.status, 200);
        let (_, cookie) = app.login("dr@example.nl", GOOD).await;
        let r = app.with_cookie("PATCH", "/api/v1/me", &cookie.unwrap(), Some(json!({"registration": big(ENDED)}))).await;
        assert_eq!(r.error(403), ("registration_locked", Some("registration")), "not yourself");
        // Another organization adding the same person cannot change it either.
        let (globex, globex_token) = TestApp::environment(&app.db, "Globex").await;
        let other = format!("/api/v1/organizations/{globex}/members");
        let r = app.call("POST", &other, Some(&globex_token), Some(json!({"email": "dr@example.nl", "registration": big(ENDED)}))).await;
        assert_eq!(r.error(409), ("registration_locked", Some("registration.number")));
        assert!(!r.body.to_string().contains(CURRENT), "the stored number is not told: {}", r.body);
        let r = app.call("POST", &other, Some(&globex_token), Some(json!({"email": "dr@example.nl", "registration": big(CURRENT)}))).await;
        assert_eq!(r.status, 201, "the same number again is fine: {}", r.body);
        // A number already on another account is not refused (whoever typed
        // it first could lock the real holder out, and the answer would tell
        // which numbers are in use); the operator is told in the platform trail.
        let r = app.call("POST", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&token), Some(json!({"email": "twin@example.nl", "roles": ["specialist"], "registration": big(CURRENT)}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let shared = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action = 'registration.shared'").await;
        assert_eq!(shared.len(), 1);
        // The operator can.
        let account = portier_store::accounts::find_by_email(&app.db.store, &portier_core::email::Email::parse("dr@example.nl").unwrap()).await.unwrap().unwrap();
        let number = portier_core::registrations::RegistrationNumber::parse("registration", "BIG", ENDED).unwrap();
        let r = portier_store::registrations::set_by_operator(&app.db.store, &account, &number, false, &portier_store::audit::Origin::now(None)).await.unwrap();
        assert_eq!(r.number.number, ENDED);
    }
}
