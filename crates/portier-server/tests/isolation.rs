//! Tenant isolation, proven route by route: every operation of the API is
//! called as an administrator of the organization, a user-manager, a plain
//! member, a signed-out client and an administrator of another environment,
//! and each answer's status is the one listed here. The administrator of the
//! other environment gets 404 for everything of ours and never sees any of
//! our ids or names. A route added to the API without a row here fails the
//! test. On both backends.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::people::{PERSONAS, Reach, TARGETS, Verdict, targets, verdict};
use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::{Value, json};

/// One operation: its method and path as the OpenAPI document names it,
/// the path and body to send (with placeholders, see `Fixtures::fill`) and
/// the status each persona must get.
struct Row {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    expect: [u16; 5],
}

fn row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    expect: [u16; 5],
) -> Row {
    Row {
        method,
        route,
        path,
        body,
        expect,
    }
}

/// The answers to the placeholders; `victim`-style ones are one per
/// persona, so that what one caller deletes another still finds.
struct Fixtures {
    shared: BTreeMap<&'static str, String>,
    per_persona: Vec<BTreeMap<&'static str, String>>,
}

impl Fixtures {
    fn fill(&self, persona: usize, text: &str) -> String {
        let mut out = text.to_owned();
        for (k, v) in self.per_persona[persona].iter().chain(self.shared.iter()) {
            out = out.replace(&format!("{{{k}}}"), v);
        }
        out = out.replace("{n}", &persona.to_string());
        assert!(
            !out.contains('{') || out.starts_with('{'),
            "unfilled placeholder in {out}"
        );
        out
    }
}

fn table() -> Vec<Row> {
    vec![
        row(
            "GET",
            "/api/v1/organizations",
            "/api/v1/organizations",
            None,
            [200, 200, 200, 401, 200],
        ),
        row(
            "POST",
            "/api/v1/organizations",
            "/api/v1/organizations",
            Some(json!({"name": "Unit {n}", "parent_id": "{org}"})),
            [201, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}",
            "/api/v1/organizations/{org}",
            None,
            [200, 200, 200, 401, 404],
        ),
        row(
            "PATCH",
            "/api/v1/organizations/{org}",
            "/api/v1/organizations/{org}",
            Some(json!({"name": "Acme"})),
            [200, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/audit",
            "/api/v1/organizations/{org}/audit",
            None,
            [200, 403, 403, 401, 404],
        ),
        // Members.
        row(
            "POST",
            "/api/v1/organizations/{org}/members",
            "/api/v1/organizations/{org}/members",
            Some(json!({"email": "new{n}@example.nl"})),
            [201, 201, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/members",
            "/api/v1/organizations/{org}/members",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/members/{account_id}",
            "/api/v1/organizations/{org}/members/{member}",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "PATCH",
            "/api/v1/organizations/{org}/members/{account_id}",
            "/api/v1/organizations/{org}/members/{member}",
            Some(json!({"job_title": "Nurse"})),
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/resend-activation",
            "/api/v1/organizations/{org}/members/{member}/resend-activation",
            None,
            [202, 202, 403, 401, 404],
        ),
        row(
            "PUT",
            "/api/v1/organizations/{org}/members/{account_id}/roles",
            "/api/v1/organizations/{org}/members/{member}/roles",
            Some(json!({"roles": ["resident"]})),
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/deactivate",
            "/api/v1/organizations/{org}/members/{victim}/deactivate",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/reactivate",
            "/api/v1/organizations/{org}/members/{victim}/reactivate",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/reset-two-factor",
            "/api/v1/organizations/{org}/members/{victim}/reset-two-factor",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/end-sessions",
            "/api/v1/organizations/{org}/members/{victim}/end-sessions",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/members/{account_id}",
            "/api/v1/organizations/{org}/members/{victim}",
            None,
            [204, 204, 403, 401, 404],
        ),
        // Roles.
        row(
            "GET",
            "/api/v1/organizations/{org}/roles",
            "/api/v1/organizations/{org}/roles",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/roles",
            "/api/v1/organizations/{org}/roles",
            Some(json!({"key": "made-{n}", "name": {"en": "Made"}, "kind": "content"})),
            [201, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/roles/{key}",
            "/api/v1/organizations/{org}/roles/resident",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "PATCH",
            "/api/v1/organizations/{org}/roles/{key}",
            "/api/v1/organizations/{org}/roles/resident",
            Some(json!({"name": {"en": "Resident"}})),
            [200, 403, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/roles/{key}",
            "/api/v1/organizations/{org}/roles/{role_victim}",
            None,
            [204, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/administrators",
            "/api/v1/organizations/{org}/administrators",
            None,
            [200, 200, 403, 401, 404],
        ),
        // Groups.
        // Portfolios and billing: portfolios.manage and billing.read are the
        // administrator's, not the user-manager's.
        row(
            "GET",
            "/api/v1/organizations/{org}/portfolio-types",
            "/api/v1/organizations/{org}/portfolio-types",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolio-types",
            "/api/v1/organizations/{org}/portfolio-types",
            Some(json!({"key": "type-{n}", "name": {"en": "Type {n}"}})),
            [201, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios",
            "/api/v1/organizations/{org}/members/{member}/portfolios",
            Some(json!({"type": "nope"})),
            [422, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/portfolios",
            "/api/v1/organizations/{org}/portfolios",
            None,
            [200, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/portfolios/{id}",
            "/api/v1/organizations/{org}/portfolios/{unknown_id}",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolios/{id}/deactivate",
            "/api/v1/organizations/{org}/portfolios/{unknown_id}/deactivate",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolios/{id}/complete",
            "/api/v1/organizations/{org}/portfolios/{unknown_id}/complete",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolios/{id}/reactivate",
            "/api/v1/organizations/{org}/portfolios/{unknown_id}/reactivate",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolios/{id}/transfer",
            "/api/v1/organizations/{org}/portfolios/{unknown_id}/transfer",
            Some(json!({"to_organization_id": "{org}"})),
            [404, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios",
            "/api/v1/organizations/{org}/members/{member}/portfolios",
            None,
            [200, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios/{id}/take-over",
            "/api/v1/organizations/{org}/members/{member}/portfolios/{unknown_id}/take-over",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/portfolio-transfers",
            "/api/v1/organizations/{org}/portfolio-transfers?state=pending",
            None,
            [200, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolio-transfers/{id}/accept",
            "/api/v1/organizations/{org}/portfolio-transfers/{unknown_id}/accept",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/portfolio-transfers/{id}/decline",
            "/api/v1/organizations/{org}/portfolio-transfers/{unknown_id}/decline",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/billing",
            "/api/v1/organizations/{org}/billing?from=2026-01&to=2026-03",
            None,
            [200, 403, 403, 401, 404],
        ),
        // E-mail domains and approvals (docs/RULES.md#self-sign-up-and-e-mail-domains):
        // domains.manage is the administrator's; approving is members.update.
        row(
            "GET",
            "/api/v1/organizations/{org}/members/export",
            "/api/v1/organizations/{org}/members/export?format=json",
            None,
            [200, 200, 403, 401, 404],
        ),
        // Imports (docs/IMPORTS.md): a JSON body is no file (415) once the
        // caller may import at all.
        row(
            "POST",
            "/api/v1/organizations/{org}/members/import",
            "/api/v1/organizations/{org}/members/import",
            Some(json!({"email": "x@example.nl"})),
            [415, 415, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/imports",
            "/api/v1/organizations/{org}/imports",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/imports/{id}",
            "/api/v1/organizations/{org}/imports/{unknown_id}",
            None,
            [404, 404, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/imports/{id}/invitations",
            "/api/v1/organizations/{org}/imports/{unknown_id}/invitations",
            None,
            [404, 404, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/domains",
            "/api/v1/organizations/{org}/domains",
            None,
            [200, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/domains",
            "/api/v1/organizations/{org}/domains",
            Some(json!({"domain": "iso-{n}.example.nl"})),
            [201, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/domains/{id}",
            "/api/v1/organizations/{org}/domains/{unknown_id}",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/domains/{id}",
            "/api/v1/organizations/{org}/domains/{unknown_id}",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/domains/{id}/verify",
            "/api/v1/organizations/{org}/domains/{unknown_id}/verify",
            None,
            [404, 403, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/approvals",
            "/api/v1/organizations/{org}/approvals",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/approvals/{account_id}",
            "/api/v1/organizations/{org}/approvals/{member}",
            None,
            [404, 404, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/domains/confirm/{token}",
            "/api/v1/domains/confirm/{unknown_link}",
            None,
            [404, 404, 404, 404, 404],
        ),
        // Self sign-up is off unless the platform opens it.
        row(
            "POST",
            "/api/v1/signup",
            "/api/v1/signup",
            Some(
                json!({"email": "new@example.nl", "given_name": "N", "family_name": "N", "password": GOOD}),
            ),
            [404, 404, 404, 404, 404],
        ),
        row(
            "POST",
            "/api/v1/signup/{token}",
            "/api/v1/signup/{unknown_link}",
            None,
            [404, 404, 404, 404, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/groups",
            "/api/v1/organizations/{org}/groups",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/groups",
            "/api/v1/organizations/{org}/groups",
            Some(json!({"name": "Team {n}"})),
            [201, 201, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/groups/{group_id}",
            "/api/v1/organizations/{org}/groups/{group}",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "PATCH",
            "/api/v1/organizations/{org}/groups/{group_id}",
            "/api/v1/organizations/{org}/groups/{group}",
            Some(json!({"description": "Nights"})),
            [200, 200, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/groups/{group_id}/members",
            "/api/v1/organizations/{org}/groups/{group}/members",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "PUT",
            "/api/v1/organizations/{org}/groups/{group_id}/members/{account_id}",
            "/api/v1/organizations/{org}/groups/{group}/members/{member}",
            None,
            [204, 204, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/groups/{group_id}/members/{account_id}",
            "/api/v1/organizations/{org}/groups/{group}/members/{member}",
            None,
            [204, 204, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/groups/{group_id}",
            "/api/v1/organizations/{org}/groups/{group_victim}",
            None,
            [204, 204, 403, 401, 404],
        ),
        // Resources.
        row(
            "GET",
            "/api/v1/organizations/{org}/resources",
            "/api/v1/organizations/{org}/resources",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/resources",
            "/api/v1/organizations/{org}/resources",
            Some(json!({"type": "mailbox", "id": "box-{n}", "name": "Box"})),
            [201, 201, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/resources/{type}/{id}",
            "/api/v1/organizations/{org}/resources/mailbox/sales",
            None,
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/resources/{type}/{id}/grants",
            "/api/v1/organizations/{org}/resources/mailbox/sales/grants",
            Some(json!({"relation": "use", "account_id": "{member}"})),
            [201, 201, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/resources/{type}/{id}/grants/{grant_id}",
            "/api/v1/organizations/{org}/resources/mailbox/sales/grants/{grant_victim}",
            None,
            [204, 204, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/resources/{type}/{id}",
            "/api/v1/organizations/{org}/resources/mailbox/{resource_victim}",
            None,
            [204, 204, 403, 401, 404],
        ),
        // Tokens.
        row(
            "GET",
            "/api/v1/organizations/{org}/tokens",
            "/api/v1/organizations/{org}/tokens",
            None,
            [200, 403, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/organizations/{org}/tokens",
            "/api/v1/organizations/{org}/tokens",
            Some(json!({"name": "App {n}", "permissions": ["members.read"]})),
            [201, 403, 403, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/organizations/{org}/tokens/{token_id}",
            "/api/v1/organizations/{org}/tokens/{token_victim}",
            None,
            [204, 403, 403, 401, 404],
        ),
        // The check API.
        row(
            "POST",
            "/api/v1/check",
            "/api/v1/check",
            Some(
                json!({"account_id": "{member}", "permission": "documents.read", "organization_id": "{org}"}),
            ),
            [200, 200, 403, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/check/batch",
            "/api/v1/check/batch",
            Some(
                json!({"checks": [{"account_id": "{member}", "permission": "documents.read", "organization_id": "{org}"}]}),
            ),
            [200, 200, 403, 401, 404],
        ),
        row(
            "GET",
            "/api/v1/organizations/{org}/statistics",
            "/api/v1/organizations/{org}/statistics",
            None,
            [200, 200, 403, 401, 404],
        ),
        // Links from mail: the link is the credential, whoever follows it.
        row(
            "GET",
            "/api/v1/activations/{token}",
            "/api/v1/activations/{activation}",
            None,
            [200, 200, 200, 200, 200],
        ),
        row(
            "POST",
            "/api/v1/activations/{token}",
            "/api/v1/activations/{activation}",
            Some(json!({"password": GOOD})),
            [200, 200, 200, 200, 200],
        ),
        row(
            "POST",
            "/api/v1/auth/password-reset/{token}",
            "/api/v1/auth/password-reset/{unknown_link}",
            Some(json!({"password": GOOD})),
            [404, 404, 404, 404, 404],
        ),
        // Signing in and one's own account.
        row(
            "POST",
            "/api/v1/auth/login",
            "/api/v1/auth/login",
            Some(json!({"email": "nobody@example.nl", "password": "Wrong-password-1"})),
            [401, 401, 401, 401, 401],
        ),
        row(
            "POST",
            "/api/v1/auth/password-reset",
            "/api/v1/auth/password-reset",
            Some(json!({"email": "nobody@example.nl"})),
            [202, 202, 202, 202, 202],
        ),
        row(
            "GET",
            "/api/v1/me",
            "/api/v1/me",
            None,
            [200, 200, 200, 401, 200],
        ),
        row(
            "PATCH",
            "/api/v1/me",
            "/api/v1/me",
            Some(json!({"given_name": "Sam"})),
            [200, 200, 200, 401, 200],
        ),
        // Two-step verification: one's own (nobody here has set it up).
        row(
            "GET",
            "/api/v1/me/two-factor",
            "/api/v1/me/two-factor",
            None,
            [200, 200, 200, 401, 200],
        ),
        row(
            "POST",
            "/api/v1/me/totp",
            "/api/v1/me/totp",
            None,
            [201, 201, 201, 401, 201],
        ),
        row(
            "POST",
            "/api/v1/me/totp/confirm",
            "/api/v1/me/totp/confirm",
            Some(json!({"code": "12345"})),
            [422, 422, 422, 401, 422],
        ),
        row(
            "POST",
            "/api/v1/me/recovery-codes",
            "/api/v1/me/recovery-codes",
            Some(json!({"code": "123456"})),
            [409, 409, 409, 401, 409],
        ),
        row(
            "DELETE",
            "/api/v1/me/totp",
            "/api/v1/me/totp",
            Some(json!({"code": "123456"})),
            [409, 409, 409, 401, 409],
        ),
        // Sessions: one's own.
        row(
            "GET",
            "/api/v1/me/sessions",
            "/api/v1/me/sessions",
            None,
            [200, 200, 200, 401, 200],
        ),
        row(
            "DELETE",
            "/api/v1/me/sessions/{id}",
            "/api/v1/me/sessions/00000000000000000000000000000000",
            None,
            [404, 404, 404, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/me/sessions",
            "/api/v1/me/sessions",
            None,
            [200, 200, 200, 401, 200],
        ),
        // Signed in already: no second step waits.
        row(
            "POST",
            "/api/v1/auth/mfa",
            "/api/v1/auth/mfa",
            Some(json!({"code": "123456"})),
            [401, 401, 401, 401, 401],
        ),
        row(
            "POST",
            "/api/v1/auth/mfa/passkey",
            "/api/v1/auth/mfa/passkey",
            None,
            [401, 401, 401, 401, 401],
        ),
        // Passkeys: one's own (another's is 404, tests/passkeys.rs).
        row(
            "GET",
            "/api/v1/me/passkeys",
            "/api/v1/me/passkeys",
            None,
            [200, 200, 200, 401, 200],
        ),
        row(
            "POST",
            "/api/v1/me/passkeys",
            "/api/v1/me/passkeys",
            None,
            [201, 201, 201, 401, 201],
        ),
        row(
            "POST",
            "/api/v1/me/passkeys/confirm",
            "/api/v1/me/passkeys/confirm",
            Some(json!({"ceremony_id": "unknown", "credential": {}})),
            [422, 422, 422, 401, 422],
        ),
        row(
            "POST",
            "/api/v1/me/passkeys/verify",
            "/api/v1/me/passkeys/verify",
            None,
            [409, 409, 409, 401, 409],
        ),
        row(
            "PATCH",
            "/api/v1/me/passkeys/{id}",
            "/api/v1/me/passkeys/{unknown_id}",
            Some(json!({"name": "Laptop"})),
            [404, 404, 404, 401, 404],
        ),
        row(
            "DELETE",
            "/api/v1/me/passkeys/{id}",
            "/api/v1/me/passkeys/{unknown_id}",
            None,
            [404, 404, 404, 401, 404],
        ),
        row(
            "POST",
            "/api/v1/auth/passkey",
            "/api/v1/auth/passkey",
            None,
            [200, 200, 200, 200, 200],
        ),
        row(
            "POST",
            "/api/v1/auth/passkey/finish",
            "/api/v1/auth/passkey/finish",
            Some(json!({"ceremony_id": "unknown", "credential": {}})),
            [422, 422, 422, 422, 422],
        ),
        // Last: it ends each persona's session.
        row(
            "POST",
            "/api/v1/auth/logout",
            "/api/v1/auth/logout",
            None,
            [204, 204, 204, 204, 204],
        ),
    ]
}

async fn created_id(app: &TestApp, path: &str, body: Value) -> String {
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

async fn fixtures(app: &TestApp) -> Fixtures {
    let org = app.org_id.clone();
    let o = format!("/api/v1/organizations/{org}");
    let token = app.token.clone();
    let resident = json!({"key": "resident", "name": {"en": "Resident"}, "kind": "content", "permissions": ["documents.read"]});
    created_id(app, &format!("{o}/roles"), resident).await;
    let member = app
        .add_member(json!({"email": "target@example.nl", "family_name": "Target"}))
        .await;
    let group = created_id(
        app,
        &format!("{o}/groups"),
        json!({"name": "Night shift", "roles": ["resident"]}),
    )
    .await;
    let r = app
        .call(
            "POST",
            &format!("{o}/resources"),
            Some(&token),
            Some(json!({"type": "mailbox", "id": "sales", "name": "Sales"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut per_persona = Vec::new();
    for i in 0..PERSONAS.len() {
        let mut m = BTreeMap::new();
        m.insert(
            "victim",
            app.add_member(json!({"email": format!("victim{i}@example.nl")}))
                .await,
        );
        m.insert(
            "role_victim",
            created_id(
                app,
                &format!("{o}/roles"),
                json!({"key": format!("gone-{i}"), "name": {"en": "Gone"}, "kind": "content"}),
            )
            .await,
        );
        m.insert(
            "group_victim",
            created_id(
                app,
                &format!("{o}/groups"),
                json!({"name": format!("Gone {i}")}),
            )
            .await,
        );
        let r = app
            .call(
                "POST",
                &format!("{o}/resources"),
                Some(&token),
                Some(json!({"type": "mailbox", "id": format!("gone-{i}"), "name": "Gone"})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        m.insert("resource_victim", format!("gone-{i}"));
        let grant = app
            .call(
                "POST",
                &format!("{o}/resources/mailbox/sales/grants"),
                Some(&token),
                Some(json!({"relation": format!("read{i}"), "account_id": member})),
            )
            .await;
        m.insert(
            "grant_victim",
            grant.body["id"].as_str().unwrap().to_owned(),
        );
        m.insert(
            "token_victim",
            created_id(
                app,
                &format!("{o}/tokens"),
                json!({"name": format!("Gone {i}"), "permissions": ["members.read"]}),
            )
            .await,
        );
        let email = format!("link{i}@example.nl");
        app.add_member(json!({"email": email})).await;
        m.insert("activation", app.mail_link(&email, "/activate/").await);
        per_persona.push(m);
    }
    let mut shared = BTreeMap::new();
    shared.insert("org", org);
    shared.insert("member", member);
    shared.insert("group", group);
    shared.insert("unknown_link", "a".repeat(64));
    shared.insert("unknown_id", uuid::Uuid::now_v7().to_string());
    Fixtures {
        shared,
        per_persona,
    }
}

both_backends! {
    async fn every_route_answers_each_kind_of_caller_exactly_as_listed(db) {
        // Passkeys need a host name (the requests still go to 127.0.0.1).
        let app = TestApp::start_with(db, common::passkey::with_passkeys).await;
        let org = app.org_id.clone();
        let fx = fixtures(&app).await;
        let sessions = [
            Some(app.session_in(&org, "admin2@example.nl", &["administrator"]).await),
            Some(app.session_in(&org, "manager@example.nl", &["user-manager"]).await),
            Some(app.session_in(&org, "plain@example.nl", &["member"]).await),
            None,
            Some(app.foreign().await.cookie),
        ];
        // What the foreign administrator must never see.
        let ours: Vec<String> = [fx.shared["org"].clone(), fx.shared["member"].clone(), fx.shared["group"].clone(), "Acme".into(), "target@example.nl".into()].into();
        let rows = table();
        let mut failures = Vec::new();
        for r in &rows {
            for (i, persona) in PERSONAS.iter().enumerate() {
                let path = fx.fill(i, r.path);
                let body = r.body.as_ref().map(|b| serde_json::from_str::<Value>(&fx.fill(i, &b.to_string())).unwrap());
                let answer = match &sessions[i] {
                    Some(cookie) => app.with_cookie(r.method, &path, cookie, body).await,
                    None => app.call(r.method, &path, None, body).await,
                };
                if answer.status != r.expect[i] {
                    failures.push(format!("{} {} as {persona}: {} (expected {}): {}", r.method, path, answer.status, r.expect[i], answer.body));
                }
                // An activation link tells its holder the organization it
                // invites to (the contract): the link is the credential.
                if *persona == "foreign admin" && !r.route.starts_with("/api/v1/activations/") {
                    let text = answer.body.to_string();
                    if let Some(leak) = ours.iter().find(|o| text.contains(o.as_str())) {
                        failures.push(format!("{} {} as {persona} shows {leak}: {text}", r.method, path));
                    }
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        // Every route of the API has its row.
        let spec: Value = serde_json::from_str(portier_server::api::openapi()).unwrap();
        let listed: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
        let mut missing = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let key = (method.to_uppercase(), path.clone());
                if !listed.contains(&key) {
                    missing.push(format!("{} {}", key.0, key.1));
                }
            }
        }
        assert!(missing.is_empty(), "routes without a row in the isolation table: {missing:?}");
        assert_eq!(listed.len(), rows.len(), "a route listed twice");
    }
}

/// A route that acts on one person (`{person}` in its path or body).
struct PersonRow {
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    reach: Reach,
    /// Whether a user manager holds the route's permission at all.
    user_manager: bool,
    /// The answer to whoever may: on an invited person, on an active one.
    ok: [u16; 2],
}

fn person_row(
    method: &'static str,
    route: &'static str,
    path: &'static str,
    body: Option<Value>,
    reach: Reach,
    user_manager: bool,
    ok: [u16; 2],
) -> PersonRow {
    PersonRow {
        method,
        route,
        path,
        body,
        reach,
        user_manager,
        ok,
    }
}

/// The answer (status, error code) `persona` must get on `target`.
fn expected(row: &PersonRow, persona: &str, target: &str) -> (u16, Option<&'static str>) {
    match verdict(row.reach, row.user_manager, persona, target) {
        Verdict::SignedOut => (401, Some("unauthenticated")),
        Verdict::Forbidden => (403, Some("forbidden")),
        Verdict::NotFound => (404, Some("not_found")),
        Verdict::Elsewhere => (403, Some("member_elsewhere")),
        Verdict::Allowed if target == "shared invited" => (row.ok[0], None),
        Verdict::Allowed => (row.ok[1], None),
    }
}

fn person_table() -> Vec<PersonRow> {
    use Reach::{Account, Membership, Read};
    let m = "/api/v1/organizations/{org}/members/{person}";
    vec![
        person_row(
            "GET",
            "/api/v1/organizations/{org}/members/{account_id}",
            m,
            None,
            Read,
            true,
            [200, 200],
        ),
        person_row(
            "PATCH",
            "/api/v1/organizations/{org}/members/{account_id}",
            m,
            Some(json!({"job_title": "Nurse {n}"})),
            Membership,
            true,
            [200, 200],
        ),
        person_row(
            "PATCH",
            "/api/v1/organizations/{org}/members/{account_id}",
            m,
            Some(json!({"family_name": "Other {n}"})),
            Account,
            true,
            [200, 409],
        ),
        person_row(
            "PATCH",
            "/api/v1/organizations/{org}/members/{account_id}",
            m,
            Some(json!({"email": "moved{n}{t}@evil.example"})),
            Account,
            true,
            [200, 409],
        ),
        person_row(
            "PUT",
            "/api/v1/organizations/{org}/members/{account_id}/roles",
            "/api/v1/organizations/{org}/members/{person}/roles",
            Some(json!({"roles": ["{role}"]})),
            Membership,
            true,
            [200, 200],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/resend-activation",
            "/api/v1/organizations/{org}/members/{person}/resend-activation",
            None,
            Membership,
            true,
            [202, 409],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/reset-two-factor",
            "/api/v1/organizations/{org}/members/{person}/reset-two-factor",
            None,
            Account,
            true,
            [200, 200],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/end-sessions",
            "/api/v1/organizations/{org}/members/{person}/end-sessions",
            None,
            Account,
            true,
            [200, 200],
        ),
        person_row(
            "PUT",
            "/api/v1/organizations/{org}/groups/{group_id}/members/{account_id}",
            "/api/v1/organizations/{org}/groups/{group}/members/{person}",
            None,
            Membership,
            true,
            [204, 204],
        ),
        person_row(
            "DELETE",
            "/api/v1/organizations/{org}/groups/{group_id}/members/{account_id}",
            "/api/v1/organizations/{org}/groups/{group}/members/{person}",
            None,
            Membership,
            true,
            [204, 204],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/resources/{type}/{id}/grants",
            "/api/v1/organizations/{org}/resources/mailbox/sales/grants",
            Some(json!({"relation": "use{n}{t}", "account_id": "{person}"})),
            Membership,
            true,
            [201, 201],
        ),
        person_row(
            "POST",
            "/api/v1/check",
            "/api/v1/check",
            Some(
                json!({"account_id": "{person}", "permission": "documents.read", "organization_id": "{org}"}),
            ),
            Read,
            true,
            [200, 200],
        ),
        person_row(
            "POST",
            "/api/v1/check/batch",
            "/api/v1/check/batch",
            Some(
                json!({"checks": [{"account_id": "{person}", "permission": "documents.read", "organization_id": "{org}"}]}),
            ),
            Read,
            true,
            [200, 200],
        ),
        person_row(
            "GET",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios",
            "/api/v1/organizations/{org}/members/{person}/portfolios",
            None,
            Read,
            false,
            [200, 200],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios",
            "/api/v1/organizations/{org}/members/{person}/portfolios",
            Some(json!({"type": "nope"})),
            Membership,
            false,
            [422, 422],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/portfolios/{id}/take-over",
            "/api/v1/organizations/{org}/members/{person}/portfolios/{unknown_id}/take-over",
            None,
            Read,
            false,
            [404, 404],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/approvals/{account_id}",
            "/api/v1/organizations/{org}/approvals/{person}",
            None,
            Read,
            true,
            [404, 404],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/deactivate",
            "/api/v1/organizations/{org}/members/{person}/deactivate",
            None,
            Membership,
            true,
            [200, 200],
        ),
        person_row(
            "POST",
            "/api/v1/organizations/{org}/members/{account_id}/reactivate",
            "/api/v1/organizations/{org}/members/{person}/reactivate",
            None,
            Membership,
            true,
            [200, 200],
        ),
        // Last: it removes them.
        person_row(
            "DELETE",
            "/api/v1/organizations/{org}/members/{account_id}",
            m,
            None,
            Membership,
            true,
            [204, 204],
        ),
    ]
}

both_backends! {
    async fn every_route_on_a_person_answers_for_shared_people_and_administrators_exactly_as_the_rules_say(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let token = app.token.clone();
        let other = app.foreign().await;
        // The same fixtures on both sides: a group and a mailbox.
        let mut groups = Vec::new();
        for (o, t) in [(&org, &token), (&other.org, &other.token)] {
            let r = app.call("POST", &format!("/api/v1/organizations/{o}/groups"), Some(t), Some(json!({"name": "Night shift"}))).await;
            assert_eq!(r.status, 201, "{}", r.body);
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
        let people = targets(&app, &other, PERSONAS.len(), "").await;
        let ours: Vec<String> = [org.clone(), groups[0].clone(), "Acme".into()].into();
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
                            .replace("{role}", if t == 0 { "administrator" } else { "member" })
                            .replace("{unknown_id}", &uuid::Uuid::now_v7().to_string())
                            .replace("{n}", &i.to_string())
                            .replace("{t}", &t.to_string())
                    };
                    let path = fill(r.path);
                    let body = r.body.as_ref().map(|b| serde_json::from_str::<Value>(&fill(&b.to_string())).unwrap());
                    let answer = match &sessions[i] {
                        Some(cookie) => app.with_cookie(r.method, &path, cookie, body).await,
                        None => app.call(r.method, &path, None, body).await,
                    };
                    let (status, code) = expected(r, persona, target);
                    let got = answer.body["error"]["code"].as_str();
                    if answer.status != status || (code.is_some() && got != code) {
                        failures.push(format!("{} {path} as {persona} on the {target}: {} {got:?} (expected {status} {code:?}): {}", r.method, answer.status, answer.body));
                    }
                    if *persona == "foreign admin" {
                        let text = answer.body.to_string();
                        if let Some(leak) = ours.iter().find(|o| text.contains(o.as_str())) {
                            failures.push(format!("{} {path} as {persona} shows {leak}: {text}", r.method));
                        }
                    }
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
        // Every route of the API that names a person has its row.
        let spec: Value = serde_json::from_str(portier_server::api::openapi()).unwrap();
        let listed: BTreeSet<(String, String)> = rows.iter().map(|r| (r.method.to_owned(), r.route.to_owned())).collect();
        let mut missing = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let key = (method.to_uppercase(), path.clone());
                if path.contains("{account_id}") && !listed.contains(&key) {
                    missing.push(format!("{} {}", key.0, key.1));
                }
            }
        }
        assert!(missing.is_empty(), "routes on a person without a row in the person table: {missing:?}");
        // Nobody outside the rules moved an address: no mail went to one.
        let moved = portier_store::testing::strings(&app.db.store, "SELECT to_address FROM mail_outbox WHERE to_address LIKE '%evil.example'").await;
        assert!(moved.is_empty(), "{moved:?}");
    }
}
