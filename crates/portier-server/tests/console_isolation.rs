//! Tenant isolation of the console, proven route by route as the API's is
//! (tests/isolation.rs): every page and form of the console is opened or
//! sent as an administrator of the organization, a user manager, a plain
//! member, a signed-out browser and an administrator of another
//! environment, and each answer's status is the one listed here. The other
//! environment's administrator never gets past "not found" on our pages,
//! and never sees our names. Every route the console's routers declare
//! (read from their source) must have a row. Then every form that acts on
//! one person is sent on an administrator and on people shared with the
//! other environment (invited and active), as the rules say
//! (docs/RULES.md#shared-accounts). On both backends.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::browser::{Page, browser};
use common::people::{PERSONAS, Reach, TARGETS, Verdict, email_of, targets, verdict};
use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::json;

/// One page or form: its method and route as its router declares it, the
/// path and form fields to send (with placeholders), and the status each
/// persona gets.
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    expect: [u16; 5],
}

const fn row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    expect: [u16; 5],
) -> Row {
    Row {
        method,
        route,
        path,
        form,
        expect,
    }
}

/// A route whose path is the route itself.
const fn at(
    method: &'static str,
    route: &'static str,
    form: &'static [(&'static str, &'static str)],
    expect: [u16; 5],
) -> Row {
    row(method, route, route, form, expect)
}

const NONE: &[(&str, &str)] = &[];
/// Signed in as a member of ours: redirected to sign in when signed out.
const MINE: [u16; 5] = [200, 200, 200, 303, 200];

fn table() -> Vec<Row> {
    vec![
        // Pages anyone may open.
        at("GET", "/", NONE, MINE),
        at("GET", "/login", NONE, [303, 303, 303, 200, 303]),
        at(
            "POST",
            "/login",
            &[
                ("email", "nobody@example.nl"),
                ("password", "Wrong-password-1"),
            ],
            [401, 401, 401, 401, 401],
        ),
        at("GET", "/login/second-step", NONE, [303, 303, 303, 303, 303]),
        at(
            "POST",
            "/login/second-step",
            &[("code", "123456")],
            [303, 303, 303, 303, 303],
        ),
        at(
            "POST",
            "/login/second-step/passkey",
            NONE,
            [303, 303, 303, 303, 303],
        ),
        at("POST", "/login/passkey", NONE, [422, 422, 422, 422, 422]),
        row(
            "GET",
            "/activate/{token}",
            "/activate/{activation}",
            NONE,
            [200, 200, 200, 200, 200],
        ),
        at("GET", "/reset", NONE, [200, 200, 200, 200, 200]),
        at(
            "POST",
            "/reset",
            &[("email", "nobody@example.nl")],
            [200, 200, 200, 200, 200],
        ),
        row(
            "GET",
            "/reset/{token}",
            "/reset/{unknown_link}",
            NONE,
            [404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/reset/{token}",
            "/reset/{unknown_link}",
            &[("password", GOOD)],
            [404, 404, 404, 404, 404],
        ),
        // The development mailbox exists only without SMTP and for this machine.
        at("GET", "/dev/mail", NONE, [404, 404, 404, 404, 404]),
        row(
            "GET",
            "/language",
            "/language?to=nl&back=/",
            NONE,
            [303, 303, 303, 303, 303],
        ),
        at(
            "GET",
            "/static/portier.css",
            NONE,
            [200, 200, 200, 200, 200],
        ),
        at("GET", "/static/portier.js", NONE, [200, 200, 200, 200, 200]),
        // Self sign-up is off unless the platform opens it.
        at("GET", "/signup", NONE, [404, 404, 404, 404, 404]),
        at(
            "POST",
            "/signup",
            &[("email", "new@example.nl")],
            [404, 404, 404, 404, 404],
        ),
        row(
            "GET",
            "/signup/{token}",
            "/signup/{unknown_link}",
            NONE,
            [404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/signup/{token}",
            "/signup/{unknown_link}",
            NONE,
            [404, 404, 404, 404, 404],
        ),
        // The form asks before it uses the link (mail scanners follow links).
        row(
            "GET",
            "/domains/confirm/{token}",
            "/domains/confirm/{unknown_link}",
            NONE,
            [200, 200, 200, 200, 200],
        ),
        row(
            "POST",
            "/domains/confirm/{token}",
            "/domains/confirm/{unknown_link}",
            NONE,
            [404, 404, 404, 404, 404],
        ),
        // One's own account.
        at("GET", "/account", NONE, MINE),
        at(
            "POST",
            "/account",
            &[("given_name", "Sam")],
            [303, 303, 303, 303, 303],
        ),
        at(
            "POST",
            "/account/password",
            &[
                ("current_password", "Wrong-password-1"),
                ("password", "Nw7#pLq9!vRt2"),
            ],
            [422, 422, 422, 303, 422],
        ),
        row(
            "POST",
            "/account/sessions/{id}/end",
            "/account/sessions/00000000000000000000000000000000/end",
            NONE,
            [303, 303, 303, 303, 303],
        ),
        at("GET", "/account/two-factor", NONE, MINE),
        at(
            "POST",
            "/account/two-factor/start",
            NONE,
            [200, 200, 200, 303, 200],
        ),
        at(
            "POST",
            "/account/two-factor/confirm",
            &[("code", "12345")],
            [422, 422, 422, 303, 422],
        ),
        at(
            "POST",
            "/account/two-factor/recovery-codes",
            &[("code", "123456")],
            [409, 409, 409, 303, 409],
        ),
        at(
            "POST",
            "/account/two-factor/off",
            &[("code", "123456")],
            [409, 409, 409, 303, 409],
        ),
        at("POST", "/account/passkeys", NONE, [422, 422, 422, 303, 422]),
        row(
            "POST",
            "/account/passkeys/{id}/rename",
            "/account/passkeys/{unknown_id}/rename",
            &[("name", "Laptop")],
            [404, 404, 404, 303, 404],
        ),
        row(
            "POST",
            "/account/passkeys/{id}/remove",
            "/account/passkeys/{unknown_id}/remove",
            NONE,
            [404, 404, 404, 303, 404],
        ),
        // An organization's pages.
        row(
            "GET",
            "/orgs/{org}/members",
            "/orgs/{org}/members",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/members/new",
            "/orgs/{org}/members/new",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/new",
            "/orgs/{org}/members/new",
            &[("email", "new{n}@example.nl"), ("roles", "member")],
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/members/{account}",
            "/orgs/{org}/members/{member}",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/details",
            "/orgs/{org}/members/{member}/details",
            &[("job_title", "Nurse {n}")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/roles",
            "/orgs/{org}/members/{member}/roles",
            &[("roles", "resident")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/groups",
            "/orgs/{org}/members/{member}/groups",
            &[("groups", "{group}")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/resend",
            "/orgs/{org}/members/{member}/resend",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/reset-two-factor",
            "/orgs/{org}/members/{victim}/reset-two-factor",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/end-sessions",
            "/orgs/{org}/members/{victim}/end-sessions",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/deactivate",
            "/orgs/{org}/members/{victim}/deactivate",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/reactivate",
            "/orgs/{org}/members/{victim}/reactivate",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/portfolios",
            "/orgs/{org}/members/{member}/portfolios",
            &[("type", "nope")],
            [422, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/portfolios/{id}/take-over",
            "/orgs/{org}/members/{member}/portfolios/{unknown_id}/take-over",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/members/{account}/remove",
            "/orgs/{org}/members/{victim}/remove",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/members/import",
            "/orgs/{org}/members/import",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        // A file comes as multipart/form-data; anything else is refused
        // (400) for those who may upload. The organization and the right
        // are decided first, before the body is read, as on every page.
        row(
            "POST",
            "/orgs/{org}/members/import",
            "/orgs/{org}/members/import",
            &[("nothing", "")],
            [400, 400, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/members/export",
            "/orgs/{org}/members/export",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/members/export/download",
            "/orgs/{org}/members/export/download?format=csv",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/imports/{id}",
            "/orgs/{org}/imports/{unknown_id}",
            NONE,
            [404, 404, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/imports/{id}/confirm",
            "/orgs/{org}/imports/{unknown_id}/confirm",
            NONE,
            [404, 404, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/imports/{id}/invitations",
            "/orgs/{org}/imports/{unknown_id}/invitations",
            NONE,
            [404, 404, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/administrators",
            "/orgs/{org}/administrators",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/audit",
            "/orgs/{org}/audit",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/roles",
            "/orgs/{org}/roles",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/roles/new",
            "/orgs/{org}/roles/new",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/roles/new",
            "/orgs/{org}/roles/new",
            &[
                ("key", "made-{n}"),
                ("name.en", "Made"),
                ("kind", "content"),
            ],
            [303, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/roles/{key}",
            "/orgs/{org}/roles/resident",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/roles/{key}",
            "/orgs/{org}/roles/resident",
            &[
                ("name.en", "Resident"),
                ("name.nl", "AIOS"),
                ("kind", "content"),
                ("permissions", "documents.read"),
            ],
            [303, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/roles/{key}/delete",
            "/orgs/{org}/roles/{role_victim}/delete",
            NONE,
            [303, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/groups",
            "/orgs/{org}/groups",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/groups",
            "/orgs/{org}/groups",
            &[("name", "Team {n}")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/groups/{group}",
            "/orgs/{org}/groups/{group}",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/groups/{group}",
            "/orgs/{org}/groups/{group}",
            &[("name", "Night shift"), ("description", "Nights")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/groups/{group}/members",
            "/orgs/{org}/groups/{group}/members",
            &[("email", "target@example.nl")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/groups/{group}/members/{account}/remove",
            "/orgs/{org}/groups/{group}/members/{member}/remove",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/groups/{group}/delete",
            "/orgs/{org}/groups/{group_victim}/delete",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/resources",
            "/orgs/{org}/resources",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/resources",
            "/orgs/{org}/resources",
            &[("type", "mailbox"), ("id", "box-{n}"), ("name", "Box")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/resources/{kind}/{key}",
            "/orgs/{org}/resources/mailbox/sales",
            NONE,
            [200, 200, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/resources/{kind}/{key}/grants",
            "/orgs/{org}/resources/mailbox/sales/grants",
            &[("relation", "read{n}"), ("email", "target@example.nl")],
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/resources/{kind}/{key}/grants/{grant}/revoke",
            "/orgs/{org}/resources/mailbox/sales/grants/{grant_victim}/revoke",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/resources/{kind}/{key}/delete",
            "/orgs/{org}/resources/mailbox/{resource_victim}/delete",
            NONE,
            [303, 303, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/tokens",
            "/orgs/{org}/tokens",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/tokens",
            "/orgs/{org}/tokens",
            &[("name", "App {n}"), ("permissions", "members.read")],
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/tokens/{token}/revoke",
            "/orgs/{org}/tokens/{token_victim}/revoke",
            NONE,
            [303, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/settings",
            "/orgs/{org}/settings",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/settings",
            "/orgs/{org}/settings",
            &[
                ("name", "Acme"),
                ("locale", "en"),
                ("preset", "default"),
                ("min_length", "8"),
                ("digit", "on"),
                ("lower", "on"),
                ("upper", "on"),
                ("billing_cycle", "monthly"),
            ],
            [303, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/settings/children",
            "/orgs/{org}/settings/children",
            &[("child_name", "Unit {n}")],
            [303, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/domains",
            "/orgs/{org}/domains",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/domains",
            "/orgs/{org}/domains",
            &[("domain", "iso-{n}.example.nl")],
            [303, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/domains/settings",
            "/orgs/{org}/domains/settings",
            NONE,
            [303, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/domains/{id}/verify",
            "/orgs/{org}/domains/{unknown_id}/verify",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/domains/{id}/remove",
            "/orgs/{org}/domains/{unknown_id}/remove",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/approvals/{account}",
            "/orgs/{org}/approvals/{member}",
            NONE,
            [404, 404, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/portfolios",
            "/orgs/{org}/portfolios",
            NONE,
            [200, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/portfolios/types",
            "/orgs/{org}/portfolios/types",
            &[("key", "type-{n}"), ("name_en", "Type {n}")],
            [303, 403, 403, 303, 404],
        ),
        row(
            "GET",
            "/orgs/{org}/portfolios/{id}",
            "/orgs/{org}/portfolios/{unknown_id}",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/portfolios/{id}/{action}",
            "/orgs/{org}/portfolios/{unknown_id}/complete",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        row(
            "POST",
            "/orgs/{org}/portfolio-transfers/{id}/{answer}",
            "/orgs/{org}/portfolio-transfers/{unknown_id}/accept",
            NONE,
            [404, 403, 403, 303, 404],
        ),
        // Last: they end each persona's session. Following an activation
        // link signs the browser in as the person it activates.
        row(
            "POST",
            "/activate/{token}",
            "/activate/{activation}",
            &[("password", GOOD)],
            [303, 303, 303, 303, 303],
        ),
        at(
            "POST",
            "/account/sessions/end-others",
            NONE,
            [303, 303, 303, 303, 303],
        ),
        at("POST", "/logout", NONE, [303, 303, 303, 303, 303]),
    ]
}

/// The `(method, route)` pairs the console's routers declare, read from
/// their source: `.route("…", get(…).post(…))`.
fn declared_routes() -> BTreeSet<(String, String)> {
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/console"
    ))];
    let mut files = Vec::new();
    // The console's modules and the modules within them.
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    let mut out = BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        for (at, _) in text.match_indices(".route(") {
            let rest = &text[at + ".route(".len()..];
            // The call's text, to its closing parenthesis.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map(|(i, _)| i)
                .unwrap();
            let call = &rest[..end];
            let route = call.split('"').nth(1).unwrap().to_owned();
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0
                        || !call.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && call.as_bytes()[i - 1] != b'_'
                });
                if called {
                    out.insert((method.to_uppercase(), route.clone()));
                }
            }
        }
    }
    out
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(String, String)],
) -> Page {
    let url = format!("{}{path}", app.base);
    let mut req = match method {
        "GET" => browser().get(url),
        _ => browser()
            .post(url)
            .header("origin", app.base.clone())
            .form(form),
    };
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.unwrap(),
    }
}

async fn created(app: &TestApp, path: &str, body: serde_json::Value) -> String {
    let r = app
        .call("POST", path, Some(&app.token.clone()), Some(body))
        .await;
    assert_eq!(r.status, 201, "{path}: {}", r.body);
    r.body["id"]
        .as_str()
        .or(r.body["key"].as_str())
        .unwrap()
        .to_owned()
}

both_backends! {
    async fn every_console_route_answers_each_kind_of_caller_exactly_as_listed(db) {
        let app = TestApp::start_with(db, common::passkey::with_passkeys).await;
        let org = app.org_id.clone();
        let o = format!("/api/v1/organizations/{org}");
        created(&app, &format!("{o}/roles"), json!({"key": "resident", "name": {"en": "Resident"}, "kind": "content", "permissions": ["documents.read"]})).await;
        let member = app.add_member(json!({"email": "target@example.nl", "family_name": "Target"})).await;
        let group = created(&app, &format!("{o}/groups"), json!({"name": "Night shift", "roles": ["resident"]})).await;
        created(&app, &format!("{o}/resources"), json!({"type": "mailbox", "id": "sales", "name": "Sales"})).await;
        let mut per_persona: Vec<BTreeMap<&str, String>> = Vec::new();
        for i in 0..PERSONAS.len() {
            let mut m = BTreeMap::new();
            m.insert("victim", app.add_member(json!({"email": format!("victim{i}@example.nl")})).await);
            m.insert("role_victim", created(&app, &format!("{o}/roles"), json!({"key": format!("gone-{i}"), "name": {"en": "Gone"}, "kind": "content"})).await);
            m.insert("group_victim", created(&app, &format!("{o}/groups"), json!({"name": format!("Gone {i}")})).await);
            created(&app, &format!("{o}/resources"), json!({"type": "mailbox", "id": format!("gone-{i}"), "name": "Gone"})).await;
            m.insert("resource_victim", format!("gone-{i}"));
            m.insert("grant_victim", created(&app, &format!("{o}/resources/mailbox/sales/grants"), json!({"relation": format!("read{i}"), "account_id": member})).await);
            m.insert("token_victim", created(&app, &format!("{o}/tokens"), json!({"name": format!("Gone {i}"), "permissions": ["members.read"]})).await);
            let email = format!("link{i}@example.nl");
            app.add_member(json!({"email": email})).await;
            m.insert("activation", app.mail_link(&email, "/activate/").await);
            per_persona.push(m);
        }
        let shared: BTreeMap<&str, String> = [
            ("org", org.clone()),
            ("member", member.clone()),
            ("group", group.clone()),
            ("unknown_link", "a".repeat(64)),
            ("unknown_id", uuid::Uuid::now_v7().to_string()),
        ]
        .into();
        let fill = |i: usize, text: &str| {
            let mut out = text.to_owned();
            for (k, v) in per_persona[i].iter().chain(shared.iter()) {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out.replace("{n}", &i.to_string())
        };
        let sessions = [
            Some(app.session_in(&org, "admin2@example.nl", &["administrator"]).await),
            Some(app.session_in(&org, "manager@example.nl", &["user-manager"]).await),
            Some(app.session_in(&org, "plain@example.nl", &["member"]).await),
            None,
            Some(app.foreign().await.cookie),
        ];
        // Ids the foreign administrator sends in the address come back in
        // the page's own links; names never do.
        let ours = ["Acme", "target@example.nl", "Target", "Night shift", "Resident", "Sales"];
        let rows = table();
        let mut failures = Vec::new();
        for r in &rows {
            for (i, persona) in PERSONAS.iter().enumerate() {
                let path = fill(i, r.path);
                let form: Vec<(String, String)> = r.form.iter().map(|(k, v)| ((*k).to_owned(), fill(i, v))).collect();
                let page = send(&app, r.method, &path, sessions[i].as_deref(), &form).await;
                if page.status != r.expect[i] {
                    let location = page.headers.get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
                    failures.push(format!("{} {path} as {persona}: {} {location} (expected {})", r.method, page.status, r.expect[i]));
                }
                if *persona == "foreign admin"
                    && r.route.starts_with("/orgs/")
                    && let Some(leak) = ours.iter().find(|o| page.html.contains(*o))
                {
                    failures.push(format!("{} {path} as {persona} shows {leak}", r.method));
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        let listed: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
        let declared = declared_routes();
        let missing: Vec<_> = declared.difference(&listed).cloned().collect();
        assert!(missing.is_empty(), "console routes without a row: {missing:?}");
        let stale: Vec<_> = listed.difference(&declared).cloned().collect();
        assert!(stale.is_empty(), "rows for routes the console does not declare: {stale:?}");
    }

    async fn every_console_form_on_a_person_answers_for_shared_people_and_administrators_as_the_rules_say(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let other = app.foreign().await;
        let mut groups = Vec::new();
        for (o, t) in [(&org, &app.token), (&other.org, &other.token)] {
            let r = app.call("POST", &format!("/api/v1/organizations/{o}/groups"), Some(t), Some(json!({"name": "Night shift"}))).await;
            groups.push(r.body["id"].as_str().unwrap().to_owned());
            let r = app.call("POST", &format!("/api/v1/organizations/{o}/resources"), Some(t), Some(json!({"type": "mailbox", "id": "sales", "name": "Sales"}))).await;
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let sessions = [
            Some(app.session_in(&org, "admin2@example.nl", &["administrator"]).await),
            Some(app.session_in(&org, "manager@example.nl", &["user-manager"]).await),
            Some(app.session_in(&org, "plain@example.nl", &["member"]).await),
            None,
            Some(other.cookie.clone()),
        ];
        let people = targets(&app, &other, PERSONAS.len(), "c").await;
        let rows = person_table();
        let mut failures = Vec::new();
        for r in &rows {
            for (i, persona) in PERSONAS.iter().enumerate() {
                for (t, target) in TARGETS.iter().enumerate() {
                    let foreign = *persona == "foreign admin" && t > 0;
                    let fill = |text: &str| {
                        text.replace("{org}", if foreign { &other.org } else { &org })
                            .replace("{group}", if foreign { &groups[1] } else { &groups[0] })
                            .replace("{person}", &people[i][t])
                            .replace("{email}", &email_of("c", i, t))
                            .replace("{role}", if t == 0 { "administrator" } else { "member" })
                            .replace("{unknown_id}", &uuid::Uuid::now_v7().to_string())
                            .replace("{n}", &i.to_string())
                            .replace("{t}", &t.to_string())
                    };
                    let path = fill(r.path);
                    let form: Vec<(String, String)> = r.form.iter().map(|(k, v)| ((*k).to_owned(), fill(v))).collect();
                    let page = send(&app, r.method, &path, sessions[i].as_deref(), &form).await;
                    let verdict = verdict(r.reach, r.user_manager, persona, target);
                    let status = match verdict {
                        Verdict::SignedOut => 303,
                        Verdict::Forbidden | Verdict::Elsewhere => 403,
                        Verdict::NotFound => 404,
                        Verdict::Allowed if t == 1 => r.ok[0],
                        Verdict::Allowed => r.ok[1],
                    };
                    let said = verdict != Verdict::Elsewhere || page.html.contains("also belongs to organizations you do not manage");
                    if page.status != status || !said {
                        failures.push(format!("{} {path} as {persona} on the {target}: {} (expected {status}, {verdict:?})", r.method, page.status));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        // Every console route on one person has its row.
        let listed: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
        let missing: Vec<_> = declared_routes()
            .into_iter()
            .filter(|(_, route)| route.contains("{account}"))
            .filter(|key| !listed.contains(key))
            .collect();
        assert!(missing.is_empty(), "console routes on a person without a row: {missing:?}");
        let moved = portier_store::testing::strings(&app.db.store, "SELECT to_address FROM mail_outbox WHERE to_address LIKE '%evil.example'").await;
        assert!(moved.is_empty(), "{moved:?}");
    }
}

/// A console form that acts on one person (`{person}` in its path, or
/// `{email}` in its fields).
struct PersonRow {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    reach: Reach,
    /// Whether a user manager holds the route's permission at all.
    user_manager: bool,
    /// The answer to whoever may: on an invited person, on an active one.
    ok: [u16; 2],
}

const fn person_row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    form: &'static [(&'static str, &'static str)],
    reach: Reach,
    user_manager: bool,
    ok: [u16; 2],
) -> PersonRow {
    PersonRow {
        method,
        route,
        path,
        form,
        reach,
        user_manager,
        ok,
    }
}

fn person_table() -> Vec<PersonRow> {
    use Reach::{Account, Membership, Read};
    let m = "/orgs/{org}/members/{person}";
    vec![
        person_row(
            "GET",
            "/orgs/{org}/members/{account}",
            m,
            NONE,
            Read,
            true,
            [200, 200],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/details",
            "/orgs/{org}/members/{person}/details",
            &[("job_title", "Nurse {n}")],
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/details",
            "/orgs/{org}/members/{person}/details",
            &[("family_name", "Other {n}")],
            Account,
            true,
            [303, 409],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/details",
            "/orgs/{org}/members/{person}/details",
            &[("email", "moved{n}{t}@evil.example")],
            Account,
            true,
            [303, 409],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/roles",
            "/orgs/{org}/members/{person}/roles",
            &[("roles", "{role}")],
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/groups",
            "/orgs/{org}/members/{person}/groups",
            &[("groups", "{group}")],
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/resend",
            "/orgs/{org}/members/{person}/resend",
            NONE,
            Membership,
            true,
            [303, 409],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/reset-two-factor",
            "/orgs/{org}/members/{person}/reset-two-factor",
            NONE,
            Account,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/end-sessions",
            "/orgs/{org}/members/{person}/end-sessions",
            NONE,
            Account,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/groups/{group}/members/{account}/remove",
            "/orgs/{org}/groups/{group}/members/{person}/remove",
            NONE,
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/groups/{group}/members",
            "/orgs/{org}/groups/{group}/members",
            &[("email", "{email}")],
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/resources/{kind}/{key}/grants",
            "/orgs/{org}/resources/mailbox/sales/grants",
            &[("relation", "use{n}{t}"), ("email", "{email}")],
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/portfolios",
            "/orgs/{org}/members/{person}/portfolios",
            &[("type", "nope")],
            Membership,
            false,
            [422, 422],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/portfolios/{id}/take-over",
            "/orgs/{org}/members/{person}/portfolios/{unknown_id}/take-over",
            NONE,
            Read,
            false,
            [404, 404],
        ),
        person_row(
            "POST",
            "/orgs/{org}/approvals/{account}",
            "/orgs/{org}/approvals/{person}",
            NONE,
            Read,
            true,
            [404, 404],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/deactivate",
            "/orgs/{org}/members/{person}/deactivate",
            NONE,
            Membership,
            true,
            [303, 303],
        ),
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/reactivate",
            "/orgs/{org}/members/{person}/reactivate",
            NONE,
            Membership,
            true,
            [303, 303],
        ),
        // Last: it removes them.
        person_row(
            "POST",
            "/orgs/{org}/members/{account}/remove",
            "/orgs/{org}/members/{person}/remove",
            NONE,
            Membership,
            true,
            [303, 303],
        ),
    ]
}
