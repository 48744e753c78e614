//! Self sign-up and e-mail domains (docs/RULES.md#self-sign-up-and-e-mail-domains)
//! on both backends, with a real DNS server on 127.0.0.1: an unconfirmed
//! address joins nothing; a confirmed one at a proven domain joins that
//! environment as `member`, without rights; one at gmail.com or an unclaimed
//! domain starts its own environment as administrator; a domain is claimed
//! once and not proven by a wrong TXT record; approval holds members until
//! accepted.

mod common;

use common::dns::TestDns;
use common::{GOOD, TestApp};
use portier_core::domains::SignupMode;
use portier_store::both_backends;
use portier_store::signups::SignupRules;
use serde_json::{Value, json};

async fn open_app(db: portier_store::testing::TestDb, dns: &TestDns, mode: SignupMode) -> TestApp {
    let addr = dns.addr;
    TestApp::start_with(db, move |c| {
        c.signup = SignupRules {
            mode,
            public_domains: vec!["kliniekmail.nl".into()],
        };
        c.dns_server = Some(addr);
    })
    .await
}

fn person(email: &str) -> Value {
    json!({"email": email, "given_name": "Eva", "family_name": "Visser", "password": GOOD})
}

/// The kinds of the mails to `email`, newest first.
async fn mail_kinds(app: &TestApp, email: &str) -> Vec<String> {
    let address = portier_core::email::Email::parse(email).unwrap();
    portier_store::mail::recent(&app.db.store, Some(&address), 20)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.kind)
        .collect()
}

/// Waits for the first mail to `email` (sign-ups are mailed after the answer).
async fn first_mail_kind(app: &TestApp, email: &str) -> String {
    for _ in 0..200 {
        if let Some(kind) = mail_kinds(app, email).await.pop() {
            return kind;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail to {email}");
}

/// Claims example.test for the app's environment and proves it by DNS.
async fn proven(app: &TestApp, dns: &TestDns) -> String {
    let domains = format!("/api/v1/organizations/{}/domains", app.org_id);
    let r = app
        .call(
            "POST",
            &domains,
            Some(&app.token.clone()),
            Some(json!({"domain": "Example.TEST"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["id"].as_str().unwrap().to_owned();
    dns.set_txt(
        r.body["txt_name"].as_str().unwrap(),
        &[r.body["txt_value"].as_str().unwrap()],
    )
    .await;
    let r = app
        .call(
            "POST",
            &format!("{domains}/{id}/verify"),
            Some(&app.token.clone()),
            None,
        )
        .await;
    assert_eq!(
        (r.status, &r.body["verified"]),
        (200, &json!(true)),
        "{}",
        r.body
    );
    id
}

/// A console page: (status, location, html).
async fn page(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut req = client
        .request(method.parse().unwrap(), format!("{}{path}", app.base))
        .header("origin", app.base.clone());
    if method == "POST" {
        req = req.form(form);
    }
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), location, r.text().await.unwrap())
}

both_backends! {
    async fn a_domain_is_proven_by_its_txt_record_and_claimed_once(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        let token = app.token.clone();
        let domains = format!("/api/v1/organizations/{}/domains", app.org_id);
        let r = app.call("POST", &domains, Some(&token), Some(json!({"domain": "example.test"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!((&r.body["domain"], &r.body["verified"], &r.body["txt_name"]), (&json!("example.test"), &json!(false), &json!("_portier-challenge.example.test")));
        let id = r.body["id"].as_str().unwrap().to_owned();
        let value = r.body["txt_value"].as_str().unwrap().to_owned();
        assert!(value.len() > 40, "{value}");
        let verify = format!("{domains}/{id}/verify");
        // Nothing published, then a wrong value: not proven.
        assert_eq!(app.call("POST", &verify, Some(&token), None).await.error(422).0, "txt_not_found");
        dns.set_txt("_portier-challenge.example.test", &["portier-someone-else"]).await;
        assert_eq!(app.call("POST", &verify, Some(&token), Some(json!({"method": "dns"}))).await.error(422).0, "txt_not_found");
        let r = app.get(&format!("{domains}/{id}")).await;
        assert_eq!((&r.body["verified"], r.body["last_checked_at"].is_string()), (&json!(false), true), "{}", r.body);
        // The right one, among others.
        dns.set_txt("_portier-challenge.example.test", &["v=spf1 -all", &value]).await;
        let r = app.call("POST", &verify, Some(&token), None).await;
        assert_eq!((r.status, &r.body["verified"], &r.body["proof"]), (200, &json!(true), &json!("dns")), "{}", r.body);

        // Claimed once per environment, proven for one environment only.
        assert_eq!(app.call("POST", &domains, Some(&token), Some(json!({"domain": "EXAMPLE.test."}))).await.error(409), ("domain_claimed", Some("domain")));
        let (other, other_token) = TestApp::environment(&app.db, "Elders").await;
        let theirs = format!("/api/v1/organizations/{other}/domains");
        assert_eq!(app.call("POST", &theirs, Some(&other_token), Some(json!({"domain": "example.test"}))).await.error(409), ("domain_taken", Some("domain")));
        // Shared providers, built in or the operator's, are nobody's.
        for public in ["gmail.com", "ziggo.nl", "gmx.de", "kliniekmail.nl"] {
            assert_eq!(app.call("POST", &domains, Some(&token), Some(json!({"domain": public}))).await.error(422), ("public_domain", Some("domain")), "{public}");
        }
        assert_eq!(app.call("POST", &domains, Some(&token), Some(json!({"domain": "not a domain"}))).await.error(422).1, Some("domain"));
        // Another environment's claim of a domain nobody proved is its own business.
        let r = app.call("POST", &theirs, Some(&other_token), Some(json!({"domain": "other.example.test"}))).await;
        assert_eq!(r.status, 201);
        let their_id = r.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("GET", &format!("{domains}/{their_id}"), Some(&token), None).await.status, 404, "not ours to see");
        assert_eq!(app.call("POST", &format!("{domains}/{their_id}/verify"), Some(&token), None).await.status, 404);
        // A department below is no environment.
        let ward = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Ward 3", "parent_id": app.org_id}))).await.body["id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("POST", &format!("/api/v1/organizations/{ward}/domains"), Some(&token), Some(json!({"domain": "ward.example.test"}))).await.error(409).0, "not_an_environment");
        let list = app.get(&domains).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 1, "{}", list.body);
        let mut trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action LIKE 'domain.%'").await;
        trail.sort();
        assert_eq!(trail, ["domain.claimed", "domain.claimed", "domain.verified"]);
    }

    async fn a_confirmed_address_at_a_proven_domain_joins_as_a_member_without_rights(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        proven(&app, &dns).await;
        app.person("boss@example.nl", &["administrator"]).await;
        let r = app.call("POST", "/api/v1/signup", None, Some(person("eva@example.test"))).await;
        assert_eq!(r.status, 202, "{}", r.body);
        // Unconfirmed: no account, no membership, no sign-in.
        let link = app.mail_link("eva@example.test", "/signup/").await;
        assert!(!app.get(&format!("/api/v1/organizations/{}/members", app.org_id)).await.body.to_string().contains("eva@example.test"));
        assert_eq!(app.login("eva@example.test", GOOD).await.0.status, 401);
        let r = app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!((&r.body["outcome"], &r.body["roles"], &r.body["organization_id"]), (&json!("joined"), &json!(["member"]), &json!(app.org_id)), "{}", r.body);
        assert_eq!(app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await.error(410).0, "link_unusable", "once");
        // In, without rights.
        let (r, cookie) = app.login("eva@example.test", GOOD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let cookie = cookie.unwrap();
        assert_eq!(app.with_cookie("GET", &format!("/api/v1/organizations/{}/members", app.org_id), &cookie, None).await.status, 403);
        let me = app.with_cookie("GET", "/api/v1/me", &cookie, None).await;
        assert!(me.body.to_string().contains("Visser"), "{}", me.body);
        // The administrators who can sign in are told.
        assert!(mail_kinds(&app, "boss@example.nl").await.contains(&"member_joined".to_owned()));
        let mut trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action IN ('account.signed_up', 'member.joined_by_domain')").await;
        trail.sort();
        assert_eq!(trail, ["account.signed_up", "member.joined_by_domain"]);

        // Asking again with an address that has an account says nothing new:
        // 202, and its owner gets a mail instead of a link.
        let r = app.call("POST", "/api/v1/signup", None, Some(person("eva@example.test"))).await;
        assert_eq!(r.status, 202);
        for _ in 0..100 {
            if mail_kinds(&app, "eva@example.test").await.first().map(String::as_str) == Some("signup_exists") { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(mail_kinds(&app, "eva@example.test").await.first().map(String::as_str), Some("signup_exists"));
        // Bad input is refused before anything is sent.
        let weak = json!({"email": "piet@example.test", "given_name": "Piet", "family_name": "Smit", "password": "short"});
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(weak)).await.error(422).1, Some("password"));
        let nameless = json!({"email": "piet@example.test", "given_name": " ", "family_name": "Smit", "password": GOOD});
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(nameless)).await.error(422).1, Some("given_name"));
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(json!({"email": "no", "given_name": "P", "family_name": "S", "password": GOOD}))).await.error(422).1, Some("email"));
        assert_eq!(app.call("POST", "/api/v1/signup/not-a-token", None, None).await.error(404).0, "not_found");
    }

    async fn gmail_and_unclaimed_domains_start_an_environment_of_their_own(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        proven(&app, &dns).await;
        for (email, name) in [("sam@gmail.com", Some("Praktijk Sam")), ("ruud@unclaimed.example.test", None)] {
            let mut body = person(email);
            if let Some(n) = name {
                body["organization_name"] = json!(n);
            }
            assert_eq!(app.call("POST", "/api/v1/signup", None, Some(body)).await.status, 202);
            let link = app.mail_link(email, "/signup/").await;
            let r = app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await;
            assert_eq!((&r.body["outcome"], &r.body["roles"]), (&json!("created"), &json!(["administrator"])), "{}", r.body);
            let env = r.body["organization_id"].as_str().unwrap().to_owned();
            assert_ne!(env, app.org_id, "never the environment of another's domain");
            let (_, cookie) = app.login(email, GOOD).await;
            let org = app.with_cookie("GET", &format!("/api/v1/organizations/{env}"), &cookie.clone().unwrap(), None).await;
            assert_eq!((org.status, &org.body["name"]), (200, &json!(name.unwrap_or("Eva Visser"))), "{}", org.body);
            let members = app.with_cookie("GET", &format!("/api/v1/organizations/{env}/members"), &cookie.unwrap(), None).await;
            assert_eq!(members.body["items"][0]["roles"], json!(["administrator"]), "{}", members.body);
        }
        let trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action = 'member.joined_by_domain'").await;
        assert!(trail.is_empty(), "nobody joined the proven domain's environment");
    }

    async fn signing_up_with_an_address_whose_account_belongs_nowhere_starts_afresh(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        // Sam had an account with an authenticator app, then left the
        // only organization he belonged to.
        let sam = app.person("sam@gmail.com", &["member"]).await;
        let cookie = app.login("sam@gmail.com", GOOD).await.1.unwrap();
        let secret = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await.body["secret"].as_str().unwrap().to_owned();
        let r = app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": common::oathtool(&secret, 0)}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let r = app.call("DELETE", &format!("/api/v1/organizations/{}/members/{sam}", app.org_id), Some(&app.token.clone()), None).await;
        assert_eq!(r.status, 204, "{}", r.body);
        // Whoever holds the address now signs up: the earlier app, and
        // whatever else the earlier holder set up, no longer sign anyone in.
        let mut body = person("sam@gmail.com");
        body["password"] = json!("Nw7#pLq9!vRt2");
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(body)).await.status, 202);
        let link = app.mail_link("sam@gmail.com", "/signup/").await;
        let r = app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let left = portier_store::testing::strings(&app.db.store, "SELECT kind FROM credentials WHERE kind <> 'password'").await;
        assert!(left.is_empty(), "{left:?}");
        let (r, _) = app.login("sam@gmail.com", "Nw7#pLq9!vRt2").await;
        assert_eq!((r.status, r.body["mfa_required"].as_bool()), (200, Some(false)), "{}", r.body);
    }

    async fn approval_holds_members_until_an_administrator_accepts_and_a_mailbox_proves_a_domain(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::DomainsOnly).await;
        let token = app.token.clone();
        let domains = format!("/api/v1/organizations/{}/domains", app.org_id);
        let r = app.call("POST", &domains, Some(&token), Some(json!({"domain": "example.test"}))).await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        let verify = format!("{domains}/{id}/verify");
        assert_eq!(app.call("POST", &verify, Some(&token), Some(json!({"method": "mail", "mailbox": "eva"}))).await.error(422).1, Some("mailbox"));
        let r = app.call("POST", &verify, Some(&token), Some(json!({"method": "mail", "mailbox": "postmaster"}))).await;
        assert_eq!((r.status, &r.body["verified"], &r.body["mail_address"]), (202, &json!(false), &json!("postmaster@example.test")), "{}", r.body);
        let link = app.mail_link("postmaster@example.test", "/domains/confirm/").await;
        let r = app.call("POST", &format!("/api/v1/domains/confirm/{link}"), None, None).await;
        assert_eq!((r.status, &r.body["domain"]), (200, &json!("example.test")), "{}", r.body);
        assert_eq!(app.call("POST", &format!("/api/v1/domains/confirm/{link}"), None, None).await.error(410).0, "link_unusable");
        assert_eq!(app.get(&format!("{domains}/{id}")).await.body["proof"], "mail");

        // Domains only: a gmail address is told by mail, and nothing is made.
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(person("sam@gmail.com"))).await.status, 202);
        assert_eq!(first_mail_kind(&app, "sam@gmail.com").await, "signup_unavailable");

        // Approval first.
        let r = app.call("PATCH", &format!("/api/v1/organizations/{}", app.org_id), Some(&token), Some(json!({"settings": {"signup_approval": true}}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(person("eva@example.test"))).await.status, 202);
        let link = app.mail_link("eva@example.test", "/signup/").await;
        let r = app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await;
        assert_eq!(r.body["outcome"], "pending_approval", "{}", r.body);
        let eva = r.body["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.login("eva@example.test", GOOD).await.0.status, 401, "held until approved");
        let reactivate = format!("/api/v1/organizations/{}/members/{eva}/reactivate", app.org_id);
        assert_eq!(app.call("POST", &reactivate, Some(&token), None).await.error(409).0, "awaiting_approval", "not let in by the back door");
        let approvals = format!("/api/v1/organizations/{}/approvals", app.org_id);
        let r = app.get(&approvals).await;
        assert_eq!((r.body["items"].as_array().unwrap().len(), &r.body["items"][0]["email"]), (1, &json!("eva@example.test")), "{}", r.body);
        assert_eq!(app.call("POST", &format!("{approvals}/{}", uuid::Uuid::now_v7()), Some(&token), None).await.status, 404);
        assert_eq!(app.call("POST", &format!("{approvals}/{eva}"), Some(&token), None).await.status, 204);
        assert_eq!(app.call("POST", &format!("{approvals}/{eva}"), Some(&token), None).await.status, 404, "approved once");
        assert_eq!(app.login("eva@example.test", GOOD).await.0.status, 200);
        assert_eq!(app.get(&approvals).await.body["items"], json!([]));
        assert_eq!(mail_kinds(&app, "eva@example.test").await.first().map(String::as_str), Some("added"));

        // Someone refused (removed while waiting) belongs nowhere, and may sign up again.
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(person("ruud@example.test"))).await.status, 202);
        let link = app.mail_link("ruud@example.test", "/signup/").await;
        let ruud = app.call("POST", &format!("/api/v1/signup/{link}"), None, None).await.body["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.call("DELETE", &format!("/api/v1/organizations/{}/members/{ruud}", app.org_id), Some(&token), None).await.status, 204);
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(person("ruud@example.test"))).await.status, 202);
        let again = loop {
            let l = app.mail_link("ruud@example.test", "/signup/").await;
            if l != link { break l; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let r = app.call("POST", &format!("/api/v1/signup/{again}"), None, None).await;
        assert_eq!((&r.body["outcome"], &r.body["account_id"]), (&json!("pending_approval"), &json!(ruud)), "the same account, waiting again: {}", r.body);
        let stored: i64 = portier_store::testing::strings(&app.db.store, "SELECT CAST(COUNT(*) AS TEXT) FROM signups WHERE password_hash <> ''").await[0].parse().unwrap();
        assert_eq!(stored, 0, "a confirmed sign-up keeps no password hash");
    }

    async fn a_department_speaks_for_no_domain(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        let id = proven(&app, &dns).await;
        let token = app.token.clone();
        let ward = app.call("POST", "/api/v1/organizations", Some(&token), Some(json!({"name": "Ward 3", "parent_id": app.org_id}))).await.body["id"].as_str().unwrap().to_owned();
        // An administrator of the ward only, with every right there.
        let ward_admin = app.restricted_token(&ward, portier_core::permissions::all_portier()).await;
        let theirs = format!("/api/v1/organizations/{ward}/domains");
        assert_eq!(app.call("GET", &theirs, Some(&ward_admin), None).await.error(409).0, "not_an_environment");
        assert_eq!(app.call("DELETE", &format!("{theirs}/{id}"), Some(&ward_admin), None).await.error(409).0, "not_an_environment");
        assert_eq!(app.call("POST", &format!("{theirs}/{id}/verify"), Some(&ward_admin), None).await.error(409).0, "not_an_environment");
        let r = app.call("PATCH", &format!("/api/v1/organizations/{ward}"), Some(&ward_admin), Some(json!({"settings": {"signup_approval": true}}))).await;
        assert_eq!(r.error(422), ("not_an_environment", Some("settings.signup_approval")));
        assert_eq!(app.get(&format!("/api/v1/organizations/{}/domains/{id}", app.org_id)).await.body["verified"], true, "still there");
    }

    async fn a_nameserver_that_does_not_answer_is_a_502_and_proves_nothing(db) {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let app = TestApp::start_with(db, move |c| c.dns_server = Some(closed)).await;
        let domains = format!("/api/v1/organizations/{}/domains", app.org_id);
        let r = app.call("POST", &domains, Some(&app.token.clone()), Some(json!({"domain": "example.test"}))).await;
        let id = r.body["id"].as_str().unwrap().to_owned();
        let r = app.call("POST", &format!("{domains}/{id}/verify"), Some(&app.token.clone()), None).await;
        assert_eq!(r.error(502).0, "dns_failed");
        assert_eq!(app.get(&format!("{domains}/{id}")).await.body["verified"], false);
    }

    async fn without_sign_up_the_routes_say_so(db) {
        let app = TestApp::start(db).await;
        assert_eq!(app.call("POST", "/api/v1/signup", None, Some(person("eva@example.test"))).await.error(404).0, "signup_closed");
        assert_eq!(app.call("POST", "/api/v1/signup/abc", None, None).await.error(404).0, "signup_closed");
    }
    async fn the_console_signs_up_proves_domains_and_approves(db) {
        let dns = TestDns::start().await;
        let app = open_app(db, &dns, SignupMode::Open).await;
        let org = app.org_id.clone();
        let boss = app.session_in(&org, "boss@example.nl", &["administrator"]).await;
        let domains = format!("/orgs/{org}/domains");
        let (status, _, html) = page(&app, "GET", &domains, Some(&boss), &[]).await;
        assert!(status == 200 && html.contains("E-mail domains") && html.contains("No domain claimed yet."), "{html}");
        let (status, location, _) = page(&app, "POST", &domains, Some(&boss), &[("domain", "example.test")]).await;
        assert_eq!((status, location.as_str()), (303, format!("{domains}?done=domain-claimed").as_str()));
        let (_, _, html) = page(&app, "GET", &domains, Some(&boss), &[]).await;
        assert!(html.contains("<code>_portier-challenge.example.test</code>"), "{html}");
        let claim = app.get(&format!("/api/v1/organizations/{org}/domains")).await.body["items"][0].clone();
        let id = claim["id"].as_str().unwrap().to_owned();
        assert!(html.contains(claim["txt_value"].as_str().unwrap()));
        let check = format!("{domains}/{id}/verify");
        let (status, _, html) = page(&app, "POST", &check, Some(&boss), &[("method", "dns")]).await;
        assert!(status == 422 && html.contains("The record was not found (yet)."), "{html}");
        dns.set_txt("_portier-challenge.example.test", &[claim["txt_value"].as_str().unwrap()]).await;
        let (status, location, _) = page(&app, "POST", &check, Some(&boss), &[("method", "dns")]).await;
        assert_eq!((status, location.as_str()), (303, format!("{domains}?done=domain-verified").as_str()));
        let (status, _, html) = page(&app, "POST", &domains, Some(&boss), &[("domain", "gmail.com")]).await;
        assert!(status == 422 && html.contains("shared mail provider"), "{html}");
        assert_eq!(page(&app, "POST", &format!("{domains}/settings"), Some(&boss), &[("signup_approval", "1")]).await.0, 303);

        // Signing up: the link opens a page whose button confirms.
        let (_, _, html) = page(&app, "GET", "/login", None, &[]).await;
        assert!(html.contains("href=\"/signup\""), "{html}");
        let form = [("email", "eva@example.test"), ("given_name", "Eva"), ("family_name", "Visser"), ("password", "weak")];
        let (status, _, html) = page(&app, "POST", "/signup", None, &form).await;
        assert!(status == 422 && html.contains("id=\"signup-error\"") && html.contains("value=\"eva@example.test\""), "{html}");
        let form = [("email", "eva@example.test"), ("given_name", "Eva"), ("family_name", "Visser"), ("password", GOOD)];
        let (status, _, html) = page(&app, "POST", "/signup", None, &form).await;
        assert!(status == 200 && html.contains("id=\"signup-sent\""), "{html}");
        let link = app.mail_link("eva@example.test", "/signup/").await;
        let (status, _, html) = page(&app, "GET", &format!("/signup/{link}"), None, &[]).await;
        assert!(status == 200 && html.contains("Confirm and create my account"), "{html}");
        assert_eq!(app.login("eva@example.test", GOOD).await.0.status, 401, "opening the link changed nothing");
        let (status, _, html) = page(&app, "POST", &format!("/signup/{link}"), None, &[]).await;
        assert!(status == 200 && html.contains("You asked to join Acme"), "{html}");
        let (status, _, html) = page(&app, "POST", &format!("/signup/{link}"), None, &[]).await;
        assert!(status == 410 && html.contains("This link does not work (any more)."), "{html}");

        // The administrator sees who waits, on the dashboard and in Users, and approves.
        let (_, _, html) = page(&app, "GET", "/", Some(&boss), &[]).await;
        assert!(html.contains("People waiting for your approval: 1"), "{html}");
        let (_, _, html) = page(&app, "GET", &format!("/orgs/{org}/members"), Some(&boss), &[]).await;
        assert!(html.contains("id=\"waiting\"") && html.contains("Approve Eva Visser"), "{html}");
        let eva = app.get(&format!("/api/v1/organizations/{org}/approvals")).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let (status, location, _) = page(&app, "POST", &format!("/orgs/{org}/approvals/{eva}"), Some(&boss), &[]).await;
        assert_eq!((status, location.as_str()), (303, format!("/orgs/{org}/members?done=approved").as_str()));
        assert_eq!(app.login("eva@example.test", GOOD).await.0.status, 200);
        let (_, _, html) = page(&app, "GET", &format!("/orgs/{org}/members"), Some(&boss), &[]).await;
        assert!(html.contains("id=\"joined\"") && html.contains(&format!("href=\"/orgs/{org}/members/{eva}\">Eva Visser")) && !html.contains("id=\"waiting\""), "{html}");

        // A domain proven by a mailed link.
        page(&app, "POST", &domains, Some(&boss), &[("domain", "other.example.test")]).await;
        let other = app.get(&format!("/api/v1/organizations/{org}/domains")).await.body["items"].as_array().unwrap().iter().find(|d| d["domain"] == "other.example.test").unwrap()["id"].as_str().unwrap().to_owned();
        let (status, location, _) = page(&app, "POST", &format!("{domains}/{other}/verify"), Some(&boss), &[("method", "mail"), ("mailbox", "hostmaster")]).await;
        assert_eq!((status, location.as_str()), (303, format!("{domains}?done=domain-proof-mailed").as_str()));
        let link = app.mail_link("hostmaster@other.example.test", "/domains/confirm/").await;
        let (status, _, html) = page(&app, "GET", &format!("/domains/confirm/{link}"), None, &[]).await;
        assert!(status == 200 && html.contains("Confirm the domain"), "{html}");
        let (status, _, html) = page(&app, "POST", &format!("/domains/confirm/{link}"), None, &[]).await;
        assert!(status == 200 && html.contains("other.example.test is confirmed for Acme"), "{html}");
        // Someone without domains.manage sees no such page.
        let manager = app.session_in(&org, "km@example.nl", &["user-manager"]).await;
        assert_eq!(page(&app, "GET", &domains, Some(&manager), &[]).await.0, 403);
    }

    async fn without_sign_up_the_console_offers_none(db) {
        let app = TestApp::start(db).await;
        assert_eq!(page(&app, "GET", "/signup", None, &[]).await.0, 404);
        assert!(!page(&app, "GET", "/login", None, &[]).await.2.contains("/signup"));
    }
}
