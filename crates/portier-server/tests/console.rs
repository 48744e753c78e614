//! The console's pages over real HTTP, on both backends: signing in and out,
//! activating from the invitation mail, a new password from a reset link,
//! the dashboard, the language, and the headers every page carries. (The
//! browser tests in `e2e/` walk the same flows in Chromium.)

mod common;

use common::browser::{Page, browser, get, post, session_cookie};
use common::{GOOD, TestApp};
use portier_store::both_backends;
use serde_json::json;

/// A browser session of the bootstrapped environment's administrator.
async fn admin_session(app: &TestApp) -> String {
    app.session_in(&app.org_id.clone(), "admin@example.nl", &["administrator"])
        .await
}

/// A content role that needs a BIG number
/// (docs/RULES.md#professional-registrations).
async fn doctor_role(app: &TestApp) {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{}/roles", app.org_id),
            Some(&app.token.clone()),
            Some(
                json!({"key": "doctor", "name": {"en": "Doctor", "nl": "Arts"}, "kind": "content",
                        "permissions": ["documents.read"], "requires_registration": "BIG"}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
}

/// The environment gets the portfolio type "surgery" and a role "resident"
/// that allows it; returns the account id of Eva, a resident.
async fn resident_role(app: &TestApp) -> String {
    app.resident_role().await;
    app.add_member(json!({"email": "eva@example.nl", "roles": ["resident"]}))
        .await
}

/// The member's account id from the link to their page in `html`.
fn member_link(app: &TestApp, html: &str) -> String {
    let marker = format!("/orgs/{}/members/", app.org_id);
    let at = html.find(&format!("{marker}0")).or_else(|| {
        html.match_indices(&marker).map(|(i, _)| i).find(|i| {
            html[i + marker.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_hexdigit())
        })
    });
    let start = at.unwrap() + marker.len();
    html[start..start + 36].to_owned()
}

both_backends! {
    async fn an_invited_person_activates_in_the_console_and_lands_on_the_dashboard(db) {
        let app = TestApp::start(db).await;
        app.add_member(json!({"email": "anna@example.nl", "given_name": "Anna", "family_name": "Jansen"})).await;
        let token = app.mail_link("anna@example.nl", "/activate/").await;
        let form = get(&app, &format!("/activate/{token}"), None, Some("nl-NL,nl;q=0.9")).await;
        assert_eq!(form.status, 200);
        assert!(form.html.contains("<html lang=\"nl\">"), "Dutch from Accept-Language");
        assert!(form.html.contains("Acme heeft anna@example.nl uitgenodigd"), "{}", form.html);
        assert!(form.html.contains("minstens 8 tekens"));
        let weak = post(&app, &format!("/activate/{token}"), None, &[("password", "anna")]).await;
        assert_eq!(weak.status, 422);
        assert!(weak.html.contains("role=\"alert\""), "every unmet rule is explained");
        assert!(weak.html.contains("at least 8"), "{}", weak.html);
        let done = post(&app, &format!("/activate/{token}"), None, &[("password", GOOD)]).await;
        assert_eq!((done.status, done.headers["location"].to_str().unwrap()), (303, "/"));
        let cookie = session_cookie(&done);
        let dashboard = get(&app, "/", Some(&cookie), None).await;
        assert_eq!(dashboard.status, 200);
        assert!(dashboard.html.contains("Acme") && dashboard.html.contains("Anna Jansen"), "{}", dashboard.html);
        let again = get(&app, &format!("/activate/{token}"), None, None).await;
        assert_eq!(again.status, 410);
        assert!(again.html.contains("already been used"), "a used link says what happened and what to do");
    }

    async fn signing_in_and_out_in_the_console(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &["member"]).await;
        let signed_out = get(&app, "/", None, None).await;
        assert_eq!((signed_out.status, signed_out.headers["location"].to_str().unwrap()), (303, "/login?next=/"));
        let wrong = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", "wrong"), ("next", "/")]).await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.html.contains("The e-mail address or the password is not right."));
        let unknown = post(&app, "/login", None, &[("email", "nobody@example.nl"), ("password", "wrong"), ("next", "/")]).await;
        assert_eq!(unknown.status, 401);
        assert_eq!(unknown.html.replace("nobody@example.nl", "X"), wrong.html.replace("sam@example.nl", "X"), "an unknown address answers alike");
        let ok = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", GOOD), ("next", "https://evil.example/")]).await;
        assert_eq!((ok.status, ok.headers["location"].to_str().unwrap()), (303, "/"), "never off to another site");
        let cookie = session_cookie(&ok);
        assert!(ok.headers["set-cookie"].to_str().unwrap().contains("HttpOnly"));
        assert_eq!(get(&app, "/", Some(&cookie), None).await.status, 200);
        let out = post(&app, "/logout", Some(&cookie), &[]).await;
        assert_eq!((out.status, out.headers["location"].to_str().unwrap()), (303, "/login?signed_out=1"));
        assert_eq!(get(&app, "/", Some(&cookie), None).await.status, 303, "the session ended");
        let page = get(&app, "/login?signed_out=1", None, None).await;
        assert!(page.html.contains("You are signed out."));
    }

    async fn a_reset_link_sets_a_new_password_once_and_the_request_reveals_nothing(db) {
        let app = TestApp::start(db).await;
        app.person("sam@example.nl", &["member"]).await;
        let known = post(&app, "/reset", None, &[("email", "sam@example.nl")]).await;
        let unknown = post(&app, "/reset", None, &[("email", "nobody@example.nl")]).await;
        assert_eq!((known.status, unknown.status), (200, 200));
        assert_eq!(known.html.replace("sam@example.nl", "X"), unknown.html.replace("nobody@example.nl", "X"), "the same answer either way");
        let token = app.mail_link("sam@example.nl", "/reset/").await;
        let form = get(&app, &format!("/reset/{token}"), None, None).await;
        assert!(form.html.contains("sam@example.nl"));
        let done = post(&app, &format!("/reset/{token}"), None, &[("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(done.status, 200);
        assert!(done.html.contains("Your password is changed"));
        let used = post(&app, &format!("/reset/{token}"), None, &[("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(used.status, 410);
        assert!(used.html.contains("href=\"/reset\""), "a used reset link offers a new one");
        let signed = post(&app, "/login", None, &[("email", "sam@example.nl"), ("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(signed.status, 303);
    }

    async fn every_page_carries_strict_headers_and_forms_from_other_sites_are_refused(db) {
        let app = TestApp::start(db).await;
        let page = get(&app, "/login", None, None).await;
        assert_eq!(page.status, 200);
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["cache-control"], "no-store");
        assert!(!page.html.contains("<script>") && !page.html.contains("style="), "no inline script or style");
        let css = get(&app, "/static/portier.css", None, None).await;
        assert!(css.headers["content-type"].to_str().unwrap().starts_with("text/css"));
        let forged = browser()
            .post(format!("{}/login", app.base))
            .header("origin", "https://evil.example")
            .form(&[("email", "a@example.nl"), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status().as_u16(), 403);
        let switch = get(&app, "/language?to=nl&back=/login", None, None).await;
        assert_eq!((switch.status, switch.headers["location"].to_str().unwrap()), (303, "/login"));
        let cookie = switch.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let dutch = get(&app, "/login", Some(&cookie), Some("en")).await;
        assert!(dutch.html.contains("Aanmelden"), "the switch wins over the browser's language");
        let away = get(&app, "/language?to=nl&back=https://evil.example", None, None).await;
        assert_eq!(away.headers["location"], "/");
    }

    async fn an_administrator_adds_a_user_in_seed_000s_order_and_errors_stand_next_to_their_field(db) {
        let app = TestApp::start(db).await;
        doctor_role(&app).await;
        let admin = admin_session(&app).await;
        let dashboard = get(&app, "/", Some(&admin), None).await;
        let users = format!("/orgs/{}/members", app.org_id);
        assert!(dashboard.html.contains(&format!("href=\"{users}\"")), "the way into User Management: {}", dashboard.html);
        let form = get(&app, &format!("{users}/new"), Some(&admin), None).await;
        assert_eq!(form.status, 200);
        let (role, email, big) = (form.html.find("name=\"roles\"").unwrap(), form.html.find("name=\"email\"").unwrap(), form.html.find("name=\"big\"").unwrap());
        assert!(role < email && email < big, "role, then e-mail, then BIG number");
        assert!(form.html.contains("documents.read"), "a role shows what it allows");
        assert!(form.html.contains("https://zoeken.bigregister.nl/"));
        let new = format!("{users}/new");
        // Without the number: refused, next to the BIG field, nothing added.
        let refused = post(&app, &new, Some(&admin), &[("roles", "doctor"), ("email", " Dr.Visser@Example.nl "), ("active", "1")]).await;
        assert_eq!(refused.status, 422);
        assert!(refused.html.contains("id=\"registration-error\">The chosen role needs a BIG number."), "{}", refused.html);
        assert!(refused.html.contains("value=\" Dr.Visser@Example.nl \""), "what was typed stays");
        let list = get(&app, &users, Some(&admin), None).await;
        assert!(!list.html.contains("dr.visser@example.nl"), "nothing was added");
        let bad = post(&app, &new, Some(&admin), &[("roles", "doctor"), ("email", "dr.visser@example"), ("big", "19061234501"), ("active", "1")]).await;
        assert_eq!(bad.status, 422);
        assert!(bad.html.contains("id=\"email-error\">The domain after the @ needs a dot"), "{}", bad.html);
        // With it: added, and the page says who got the mail.
        let added = post(&app, &new, Some(&admin), &[("roles", "doctor"), ("email", " Dr.Visser@Example.nl "), ("big", "1906 1234 501"),
            ("given_name", "Eva"), ("family_name", "Visser"), ("staff_code", "E-17"), ("labels", "Oost, Nacht"),
            ("job_title", "Huisarts"), ("description", "Nachtdienst\r\nregio Oost"), ("active", "1")]).await;
        assert_eq!(added.status, 200, "{}", added.html);
        assert!(added.html.contains("dr.visser@example.nl received a mail to activate their account."), "{}", added.html);
        app.mail_link("dr.visser@example.nl", "/activate/").await;
        let account = member_link(&app, &added.html);
        let member = get(&app, &format!("{users}/{account}"), Some(&admin), None).await;
        assert_eq!(member.status, 200);
        for shown in ["Eva Visser", "19061234501", "Doctor", "documents.read", "E-17", "Oost, Nacht", "Invited", "Added to the organization",
            "<dt>Job title</dt><dd>Huisarts</dd>", "<dt>Description</dt><dd>Nachtdienst\nregio Oost</dd>"] {
            assert!(member.html.contains(shown), "{shown}: {}", member.html);
        }
        // The same address again: refused as already a member.
        let again = post(&app, &new, Some(&admin), &[("roles", "member"), ("email", "dr.visser@example.nl"), ("active", "1")]).await;
        assert_eq!(again.status, 409);
        assert!(again.html.contains("id=\"email-error\">This person is already a member"), "{}", again.html);
    }

    async fn a_shared_mailbox_is_warned_about_before_saving_and_added_once_confirmed(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let new = format!("/orgs/{}/members/new", app.org_id);
        let warned = post(&app, &new, Some(&admin), &[("roles", "member"), ("email", "info@praktijk.nl"), ("active", "1")]).await;
        assert_eq!(warned.status, 200);
        assert!(warned.html.contains("shared mailbox") && warned.html.contains("name=\"confirmed\" value=\"info@praktijk.nl\""), "{}", warned.html);
        let list = get(&app, &format!("/orgs/{}/members?q=info", app.org_id), Some(&admin), None).await;
        assert!(!list.html.contains("info@praktijk.nl"), "not saved before confirming");
        // Confirmed for another address: that one is warned about afresh.
        let other = post(&app, &new, Some(&admin), &[("roles", "member"), ("email", "office@praktijk.nl"), ("confirmed", "info@praktijk.nl"), ("active", "1")]).await;
        assert!(other.html.contains("name=\"confirmed\" value=\"office@praktijk.nl\""));
        let added = post(&app, &new, Some(&admin), &[("roles", "member"), ("email", "info@praktijk.nl"), ("confirmed", "info@praktijk.nl"), ("active", "1")]).await;
        assert_eq!(added.status, 200);
        assert!(added.html.contains("info@praktijk.nl received a mail"), "{}", added.html);
    }

    async fn the_users_list_searches_filters_and_pages_in_dutch(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        for i in 0..55 {
            app.add_member(json!({"email": format!("p{i:02}@example.nl"), "family_name": format!("Bakker{i:02}"), "labels": if i % 2 == 0 { vec!["Oost"] } else { vec!["West"] }})).await;
        }
        app.add_member(json!({"email": "inactive@example.nl", "family_name": "Zomer", "active": false})).await;
        let users = format!("/orgs/{}/members", app.org_id);
        let first = get(&app, &users, Some(&admin), Some("nl")).await;
        assert_eq!(first.status, 200);
        assert!(first.html.contains("Gebruikers in deze organisatie") && first.html.contains("Uitgenodigd"), "{}", first.html);
        assert_eq!(first.html.matches("<tr>").count() - 1, 50, "a page of fifty");
        let next = first.html.split("rel=\"next\"").next().unwrap().rsplit("href=\"").next().unwrap().split('"').next().unwrap().replace("&amp;", "&");
        let second = get(&app, &next, Some(&admin), Some("nl")).await;
        assert_eq!(second.html.matches("<tr>").count() - 1, 58 - 50, "the rest, the two administrators included");
        assert!(!second.html.contains("rel=\"next\""));
        let found = get(&app, &format!("{users}?q=bakker07"), Some(&admin), None).await;
        assert_eq!(found.html.matches("<tr>").count() - 1, 1, "{}", found.html);
        let west = get(&app, &format!("{users}?label=West&status=invited"), Some(&admin), None).await;
        assert_eq!(west.html.matches("<tr>").count() - 1, 27);
        let deactivated = get(&app, &format!("{users}?status=deactivated"), Some(&admin), None).await;
        assert!(deactivated.html.contains("inactive@example.nl") && deactivated.html.matches("<tr>").count() == 2, "{}", deactivated.html);
        let admins = get(&app, &format!("{users}?role=administrator"), Some(&admin), None).await;
        assert!(admins.html.contains("admin@example.nl") && admins.html.contains("admin@acme.example") && admins.html.matches("<tr>").count() == 3, "{}", admins.html);
    }

    async fn an_administrator_changes_roles_deactivates_reactivates_and_removes_and_the_trail_shows_it(db) {
        let app = TestApp::start(db).await;
        doctor_role(&app).await;
        let admin = admin_session(&app).await;
        let account = app.person("eva@example.nl", &["member"]).await;
        let page = format!("/orgs/{}/members/{account}", app.org_id);
        let details = post(&app, &format!("{page}/details"), Some(&admin), &[("family_name", "Visser"), ("job_title", "Arts")]).await;
        assert_eq!(details.status, 409, "an activated person owns their name");
        assert!(details.html.contains("role=\"alert\">This person has activated their account: only they can change"), "{}", details.html);
        let details = post(&app, &format!("{page}/details"), Some(&admin), &[("job_title", "Arts"), ("staff_code", "E-1"), ("labels", "Oost"), ("description", "Dagdienst")]).await;
        assert_eq!(details.status, 303);
        let changed = get(&app, &page, Some(&admin), Some("nl")).await;
        for shown in ["<dt>Functie</dt><dd>Arts</dd>", "<dt>Omschrijving</dt><dd>Dagdienst</dd>", "<dt>Personeelsnummer</dt><dd>E-1</dd>"] {
            assert!(changed.html.contains(shown), "{shown}: {}", changed.html);
        }
        let no_big = post(&app, &format!("{page}/roles"), Some(&admin), &[("roles", "doctor")]).await;
        assert_eq!(no_big.status, 422);
        assert!(no_big.html.contains("id=\"registration-error\""), "{}", no_big.html);
        let roles = post(&app, &format!("{page}/roles"), Some(&admin), &[("roles", "doctor"), ("big", "19061234501")]).await;
        assert_eq!((roles.status, roles.headers["location"].to_str().unwrap()), (303, format!("{page}?done=roles").as_str()));
        let shown = get(&app, &format!("{page}?done=roles"), Some(&admin), None).await;
        assert!(shown.html.contains("The roles are changed.") && shown.html.contains("documents.read"), "{}", shown.html);
        for action in ["deactivate", "reactivate"] {
            let r = post(&app, &format!("{page}/{action}"), Some(&admin), &[]).await;
            assert_eq!(r.status, 303, "{action}");
        }
        let (_, eva) = app.login("eva@example.nl", GOOD).await;
        assert!(eva.is_some(), "reactivated: she signs in again");
        let trail = get(&app, &page, Some(&admin), None).await;
        for step in ["Details changed", "Roles changed", "Deactivated", "Reactivated", "Account activated"] {
            assert!(trail.html.contains(step), "{step}: {}", trail.html);
        }
        let removed = post(&app, &format!("{page}/remove"), Some(&admin), &[]).await;
        assert_eq!((removed.status, removed.headers["location"].to_str().unwrap()), (303, format!("/orgs/{}/members?done=removed", app.org_id).as_str()));
        assert_eq!(get(&app, &page, Some(&admin), None).await.status, 404);
        // The audit log keeps every step, also after the removal.
        let audit = format!("/orgs/{}/audit", app.org_id);
        let log = get(&app, &format!("{audit}?about=eva@example.nl"), Some(&admin), Some("nl")).await;
        assert_eq!(log.status, 200);
        for step in ["Uit de organisatie verwijderd", "Geheractiveerd", "Gedeactiveerd", "Rollen gewijzigd", "Aan de organisatie toegevoegd"] {
            assert!(log.html.contains(step), "{step}: {}", log.html);
        }
        assert!(log.html.contains("admin@example.nl"), "who did it");
        let removals = get(&app, &format!("{audit}?action=member.removed"), Some(&admin), None).await;
        assert_eq!(removals.html.matches("<tr>").count() - 1, 1, "{}", removals.html);
        let nobody = get(&app, &format!("{audit}?who=nobody@example.nl"), Some(&admin), None).await;
        assert!(nobody.html.contains("No account has that e-mail address.") && !nobody.html.contains("<tbody>"));
    }

    async fn the_console_answers_only_to_those_with_the_right(db) {
        let app = TestApp::start(db).await;
        let account = app.add_member(json!({"email": "eva@example.nl"})).await;
        let users = format!("/orgs/{}/members", app.org_id);
        let signed_out = get(&app, &users, None, None).await;
        assert_eq!(signed_out.headers["location"].to_str().unwrap(), format!("/login?next={users}"));
        let member = app.session_in(&app.org_id.clone(), "m@example.nl", &["member"]).await;
        assert_eq!(get(&app, &users, Some(&member), None).await.status, 403, "a member without rights");
        assert_eq!(post(&app, &format!("{users}/{account}/remove"), Some(&member), &[]).await.status, 403);
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        assert_eq!(get(&app, &users, Some(&manager), None).await.status, 200);
        let promote = post(&app, &format!("{users}/{account}/roles"), Some(&manager), &[("roles", "administrator")]).await;
        assert_eq!(promote.status, 403, "administrator rights apart");
        assert!(promote.html.contains("You do not have the right to do this here."), "{}", promote.html);
        // Another environment's administrator sees nothing of this one.
        let (other_org, other_token) = TestApp::environment(&app.db, "Elders").await;
        let r = app.call("POST", &format!("/api/v1/organizations/{other_org}/members"), Some(&other_token),
            Some(json!({"email": "x@elders.nl", "roles": ["administrator"]}))).await;
        assert_eq!(r.status, 201);
        let token = app.mail_link("x@elders.nl", "/activate/").await;
        let activated = post(&app, &format!("/activate/{token}"), None, &[("password", GOOD)]).await;
        let stranger = session_cookie(&activated);
        assert_eq!(get(&app, &users, Some(&stranger), None).await.status, 404);
        assert_eq!(get(&app, &format!("{users}/{account}"), Some(&stranger), None).await.status, 404);
        assert_eq!(post(&app, &format!("{users}/{account}/deactivate"), Some(&stranger), &[]).await.status, 404);
        let forged = browser().post(format!("{}{users}/{account}/remove", app.base)).header("origin", "https://evil.example").header("cookie", admin_session(&app).await).send().await.unwrap();
        assert_eq!(forged.status().as_u16(), 403, "a form from another site");
        assert!(app.get(&format!("/api/v1/organizations/{}/members/{account}", app.org_id)).await.status == 200, "still a member");
    }

    async fn roles_and_permissions_a_matrix_and_custom_roles_edited_in_the_console(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let roles = format!("/orgs/{}/roles", app.org_id);
        let matrix = get(&app, &roles, Some(&admin), Some("nl")).await;
        assert_eq!(matrix.status, 200);
        assert!(matrix.html.contains("Gebruikersbeheerder") && matrix.html.contains("de leden van de organisatie zien"), "{}", matrix.html);
        let new = format!("{roles}/new");
        let content_with_admin_rights = post(&app, &new, Some(&admin), &[("key", "doctor"), ("name.en", "Doctor"), ("name.nl", "Arts"), ("kind", "content"), ("permissions", "members.read")]).await;
        assert_eq!(content_with_admin_rights.status, 422);
        assert!(content_with_admin_rights.html.contains("id=\"permissions-error\""), "{}", content_with_admin_rights.html);
        let bad_key = post(&app, &new, Some(&admin), &[("key", "Dokter X"), ("name.en", "Doctor"), ("kind", "content")]).await;
        assert!(bad_key.status == 422 && bad_key.html.contains("id=\"key-error\""), "{}", bad_key.html);
        let created = post(&app, &new, Some(&admin), &[("key", "doctor"), ("name.en", "Doctor"), ("name.nl", "Arts"), ("kind", "content"), ("product", "documents.read, documents.sign"), ("big", "1")]).await;
        assert_eq!((created.status, created.headers["location"].to_str().unwrap()), (303, format!("{roles}?done=role-created").as_str()));
        let matrix = get(&app, &format!("{roles}?done=role-created"), Some(&admin), None).await;
        assert!(matrix.html.contains("The role is created.") && matrix.html.contains("documents.sign") && matrix.html.contains(&format!("href=\"{roles}/doctor\"")), "{}", matrix.html);
        let r = app.get(&format!("/api/v1/organizations/{}/roles/doctor", app.org_id)).await;
        assert_eq!((r.body["requires_registration"].as_str(), r.body["name"]["nl"].as_str()), (Some("BIG"), Some("Arts")), "{}", r.body);
        let again = post(&app, &new, Some(&admin), &[("key", "doctor"), ("name.en", "Doctor"), ("kind", "content")]).await;
        assert!(again.status == 409 && again.html.contains("id=\"key-error\""), "{}", again.html);
        // Changed: the name and permissions; the key and kind stay.
        let changed = post(&app, &format!("{roles}/doctor"), Some(&admin), &[("name.en", "Physician"), ("name.nl", "Arts"), ("product", "documents.read"), ("big", "1")]).await;
        assert_eq!(changed.status, 303);
        let r = app.get(&format!("/api/v1/organizations/{}/roles/doctor", app.org_id)).await;
        assert_eq!((r.body["name"]["en"].as_str(), r.body["permissions"].as_array().map(Vec::len)), (Some("Physician"), Some(1)));
        // In use: not deleted, and said why.
        app.add_member(json!({"email": "dr@example.nl", "roles": ["doctor"], "registration": {"register": "BIG", "number": "19061234501"}})).await;
        let in_use = post(&app, &format!("{roles}/doctor/delete"), Some(&admin), &[]).await;
        assert_eq!(in_use.status, 409);
        assert!(in_use.html.contains("Members or groups still hold this role"), "{}", in_use.html);
        assert_eq!(get(&app, &format!("{roles}/administrator"), Some(&admin), None).await.status, 404, "built-ins are not edited");
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        assert_eq!(get(&app, &roles, Some(&manager), None).await.status, 200, "a key user reads the matrix");
        assert_eq!(get(&app, &new, Some(&manager), None).await.status, 403);
        assert_eq!(post(&app, &new, Some(&manager), &[("key", "x"), ("name.en", "X"), ("kind", "content")]).await.status, 403);
    }

    async fn administrators_here_and_inherited_from_above(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        app.person("km@example.nl", &["user-manager"]).await;
        app.person("m@example.nl", &["member"]).await;
        let page = get(&app, &format!("/orgs/{}/administrators", app.org_id), Some(&admin), None).await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains("admin@example.nl") && page.html.contains("km@example.nl") && page.html.contains("User manager"), "{}", page.html);
        assert!(!page.html.contains(">m@example.nl<"), "a member without administrator roles is not listed");
        let r = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": "Ward 3", "parent_id": app.org_id}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let ward = r.body["id"].as_str().unwrap().to_owned();
        let below = get(&app, &format!("/orgs/{ward}/administrators"), Some(&admin), Some("nl")).await;
        assert!(below.html.contains("Geërfd van Acme") && below.html.contains("admin@example.nl"), "{}", below.html);
    }

    async fn groups_carry_roles_and_take_members_by_address(db) {
        let app = TestApp::start(db).await;
        doctor_role(&app).await;
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        let eva = app.person("eva@example.nl", &["member"]).await;
        let groups = format!("/orgs/{}/groups", app.org_id);
        assert!(get(&app, &groups, Some(&manager), None).await.html.contains("There are no groups yet."));
        let admin_role = post(&app, &groups, Some(&manager), &[("name", "Night team"), ("roles", "administrator")]).await;
        assert_eq!(admin_role.status, 422);
        assert!(admin_role.html.contains("id=\"roles-error\""), "{}", admin_role.html);
        let created = post(&app, &groups, Some(&manager), &[("name", "Night team"), ("description", "Ward 3 at night"), ("roles", "member")]).await;
        assert_eq!(created.status, 303);
        let page = created.headers["location"].to_str().unwrap().split('?').next().unwrap().to_owned();
        let taken = post(&app, &groups, Some(&manager), &[("name", "Night team")]).await;
        assert!(taken.status == 409 && taken.html.contains("id=\"name-error\""), "{}", taken.html);
        let stranger = post(&app, &format!("{page}/members"), Some(&manager), &[("email", "nobody@example.nl")]).await;
        assert_eq!(stranger.status, 422);
        assert!(stranger.html.contains("id=\"email-error\">Only members of this organization"), "{}", stranger.html);
        let added = post(&app, &format!("{page}/members"), Some(&manager), &[("email", " Eva@Example.nl ")]).await;
        assert_eq!(added.status, 303, "{}", added.html);
        let shown = get(&app, &page, Some(&manager), Some("nl")).await;
        assert!(shown.html.contains("eva@example.nl") && shown.html.contains("Ward 3 at night"), "{}", shown.html);
        let member = app.get(&format!("/api/v1/organizations/{}/members/{eva}", app.org_id)).await;
        assert_eq!(member.body["groups"], json!(["Night team"]), "{}", member.body);
        let renamed = post(&app, &page, Some(&manager), &[("name", "Nachtdienst"), ("description", ""), ("roles", "member")]).await;
        assert_eq!(renamed.status, 303);
        let removed = post(&app, &format!("{page}/members/{eva}/remove"), Some(&manager), &[]).await;
        assert_eq!(removed.status, 303);
        // From the member's page: the groups ticked, all in one change.
        let group_id = page.rsplit('/').next().unwrap().to_owned();
        let member_page = format!("/orgs/{}/members/{eva}", app.org_id);
        let joined = post(&app, &format!("{member_page}/groups"), Some(&manager), &[("groups", group_id.as_str())]).await;
        assert_eq!(joined.status, 303);
        let member = app.get(&format!("/api/v1/organizations/{}/members/{eva}", app.org_id)).await;
        assert_eq!(member.body["groups"], json!(["Nachtdienst"]));
        let left = post(&app, &format!("{member_page}/groups"), Some(&manager), &[]).await;
        assert_eq!(left.status, 303);
        let member = app.get(&format!("/api/v1/organizations/{}/members/{eva}", app.org_id)).await;
        assert_eq!(member.body["groups"], json!([]));
        let list = get(&app, &groups, Some(&manager), None).await;
        assert!(list.html.contains("Nachtdienst") && list.html.contains("<td>0</td>"), "{}", list.html);
        let deleted = post(&app, &format!("{page}/delete"), Some(&manager), &[]).await;
        assert_eq!(deleted.headers["location"].to_str().unwrap(), format!("{groups}?done=group-deleted"));
        let member = app.session_in(&app.org_id.clone(), "m@example.nl", &["member"]).await;
        assert_eq!(post(&app, &groups, Some(&member), &[("name", "X")]).await.status, 403);
    }

    async fn resources_are_registered_and_access_given_to_members_and_groups(db) {
        let app = TestApp::start(db).await;
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        let eva = app.person("eva@example.nl", &["member"]).await;
        let resources = format!("/orgs/{}/resources", app.org_id);
        let bad = post(&app, &resources, Some(&manager), &[("type", "Mail Box"), ("id", "info"), ("name", "Info")]).await;
        assert!(bad.status == 422 && bad.html.contains("id=\"type-error\""), "{}", bad.html);
        let created = post(&app, &resources, Some(&manager), &[("type", "mailbox"), ("id", "info/praktijk"), ("name", "Info mailbox")]).await;
        assert_eq!(created.status, 303);
        let page = created.headers["location"].to_str().unwrap().split('?').next().unwrap().to_owned();
        assert!(page.ends_with("/mailbox/info%2Fpraktijk"), "{page}");
        let stranger = post(&app, &format!("{page}/grants"), Some(&manager), &[("relation", "use"), ("email", "nobody@example.nl")]).await;
        assert!(stranger.status == 422 && stranger.html.contains("id=\"account_id-error\""), "{}", stranger.html);
        let granted = post(&app, &format!("{page}/grants"), Some(&manager), &[("relation", "use"), ("email", "eva@example.nl")]).await;
        assert_eq!(granted.status, 303, "{}", granted.html);
        let shown = get(&app, &page, Some(&manager), None).await;
        assert!(shown.html.contains("eva@example.nl") && shown.html.contains("mailbox.use"), "{}", shown.html);
        // The check API agrees.
        let check = app.call("POST", "/api/v1/check", Some(&app.token.clone()), Some(json!({"account_id": eva, "organization_id": app.org_id, "permission": "mailbox.use", "resource": {"type": "mailbox", "id": "info/praktijk"}}))).await;
        assert_eq!(check.body["allowed"], json!(true), "{}", check.body);
        let grant = shown.html.split("/grants/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        let revoked = post(&app, &format!("{page}/grants/{grant}/revoke"), Some(&manager), &[]).await;
        assert_eq!(revoked.status, 303);
        let check = app.call("POST", "/api/v1/check", Some(&app.token.clone()), Some(json!({"account_id": eva, "organization_id": app.org_id, "permission": "mailbox.use", "resource": {"type": "mailbox", "id": "info/praktijk"}}))).await;
        assert_eq!(check.body["allowed"], json!(false));
        let deleted = post(&app, &format!("{page}/delete"), Some(&manager), &[]).await;
        assert_eq!(deleted.headers["location"].to_str().unwrap(), format!("{resources}?done=resource-deleted"));
        let member = app.session_in(&app.org_id.clone(), "m@example.nl", &["member"]).await;
        assert_eq!(post(&app, &resources, Some(&member), &[("type", "mailbox"), ("id", "x"), ("name", "X")]).await.status, 403);
    }

    async fn api_tokens_are_shown_once_carry_only_held_rights_and_can_be_revoked(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let tokens = format!("/orgs/{}/tokens", app.org_id);
        let none = post(&app, &tokens, Some(&admin), &[("name", "Rooster")]).await;
        assert!(none.status == 422 && none.html.contains("id=\"permissions-error\""), "{}", none.html);
        let past = post(&app, &tokens, Some(&admin), &[("name", "Rooster"), ("permissions", "members.read"), ("expires", "2020-01-01")]).await;
        assert!(past.status == 422 && past.html.contains("id=\"expires_at-error\">This date has passed."), "{}", past.html);
        let more = post(&app, &tokens, Some(&admin), &[("name", "Rooster"), ("permissions", "members.read"), ("product", "documents.read")]).await;
        assert!(more.status == 422 && more.html.contains("You cannot hand out a permission you do not hold yourself."), "{}", more.html);
        let made = post(&app, &tokens, Some(&admin), &[("name", "Rooster"), ("permissions", "members.read"), ("expires", "2099-12-31")]).await;
        assert_eq!(made.status, 200);
        assert_eq!(made.headers["cache-control"], "no-store", "the secret is never cached");
        let secret = made.html.split("id=\"secret\" readonly value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
        assert!(made.html.contains("31 December 2099"), "{}", made.html);
        let r = app.call("GET", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&secret), None).await;
        assert_eq!(r.status, 200, "the token works");
        let again = get(&app, &tokens, Some(&admin), None).await;
        assert!(again.html.contains("Rooster") && !again.html.contains(&secret), "shown once only");
        let id = again.html.split("/tokens/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        let revoked = post(&app, &format!("{tokens}/{id}/revoke"), Some(&admin), &[]).await;
        assert_eq!(revoked.status, 303);
        let r = app.call("GET", &format!("/api/v1/organizations/{}/members", app.org_id), Some(&secret), None).await;
        assert_eq!(r.status, 401, "revoked");
        // A key user holds no tokens.manage; nor can anyone hand out more than they hold.
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        assert_eq!(get(&app, &tokens, Some(&manager), None).await.status, 403);
    }

    async fn organization_settings_name_language_password_policy_and_child_organizations(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let manager = app.session_in(&app.org_id.clone(), "km@example.nl", &["user-manager"]).await;
        let settings = format!("/orgs/{}/settings", app.org_id);
        let page = get(&app, &settings, Some(&admin), None).await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains("value=\"standard\" checked"), "{}", page.html);
        let short = post(&app, &settings, Some(&admin), &[("name", "Acme Zorg"), ("locale", "nl"), ("preset", "custom"), ("min_length", "6"), ("digit", "1")]).await;
        assert_eq!(short.status, 422);
        assert!(short.html.contains("id=\"min_length-error\">The minimum length must be between 8 and 128."), "{}", short.html);
        assert!(short.html.contains("value=\"Acme Zorg\""), "what was typed stays");
        let nameless = post(&app, &settings, Some(&admin), &[("name", " "), ("locale", "nl"), ("preset", "nist")]).await;
        assert!(nameless.status == 422 && nameless.html.contains("id=\"name-error\""), "{}", nameless.html);
        // A form is read into its type: a field sent twice is refused,
        // naming it, and nothing is saved.
        let twice = post(&app, &settings, Some(&admin), &[("name", "Een"), ("name", "Twee"), ("locale", "nl"), ("preset", "nist")]).await;
        assert!(twice.status == 400 && twice.html.contains("the field `name` was sent more than once"), "{} {}", twice.status, twice.html);
        let nul = post(&app, &settings, Some(&admin), &[("name", "Acme\0Zorg"), ("locale", "nl"), ("preset", "nist")]).await;
        assert_eq!(nul.status, 422, "{}", nul.html);
        let saved = post(&app, &settings, Some(&admin), &[("name", "Acme Zorg"), ("locale", "nl"), ("preset", "nist")]).await;
        assert_eq!(saved.status, 303);
        let org = app.get(&format!("/api/v1/organizations/{}", app.org_id)).await;
        assert_eq!((org.body["name"].as_str(), org.body["settings"]["locale"].as_str(), org.body["settings"]["password_policy"]["min_length"].as_u64()), (Some("Acme Zorg"), Some("nl"), Some(15)), "{}", org.body);
        let child = post(&app, &format!("{settings}/children"), Some(&admin), &[("child_name", "Ward 3")]).await;
        assert_eq!(child.status, 303);
        let ward = child.headers["location"].to_str().unwrap().to_owned();
        assert!(get(&app, &ward, Some(&admin), None).await.html.contains("Ward 3"), "an administrator above manages it");
        let listed = get(&app, &settings, Some(&admin), None).await;
        assert!(listed.html.contains(">Ward 3</a>"), "{}", listed.html);
        let empty = post(&app, &format!("{settings}/children"), Some(&admin), &[("child_name", "")]).await;
        assert!(empty.status == 422 && empty.html.contains("id=\"child_name-error\""), "{}", empty.html);
        assert_eq!(get(&app, &settings, Some(&manager), None).await.status, 403);
        assert_eq!(post(&app, &format!("{settings}/children"), Some(&manager), &[("child_name", "X")]).await.status, 403);
    }

    async fn my_account_profile_language_and_a_new_password(db) {
        let app = TestApp::start(db).await;
        let me = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let (_, other) = app.login("eva@example.nl", GOOD).await;
        let other = other.unwrap();
        let page = get(&app, "/account", Some(&me), None).await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains("eva@example.nl") && page.html.contains("href=\"/account\""));
        let bad = post(&app, "/account", Some(&me), &[("given_name", "Eva"), ("family_name", "Visser"), ("phone", "06-abc"), ("locale", "nl")]).await;
        assert!(bad.status == 422 && bad.html.contains("id=\"phone-error\""), "{}", bad.html);
        assert!(bad.html.contains("value=\"Visser\""), "what was typed stays");
        let saved = post(&app, "/account", Some(&me), &[("given_name", "Eva"), ("infix", "van"), ("family_name", "Dijk"), ("phone", "020 123 4567"), ("locale", "nl")]).await;
        assert_eq!((saved.status, saved.headers["location"].to_str().unwrap()), (303, "/account?done=profile"));
        let dutch = get(&app, "/account?done=profile", Some(&me), Some("en")).await;
        assert!(dutch.html.contains("Je profiel is opgeslagen.") && dutch.html.contains("Eva van Dijk"), "the account's language wins over the browser's: {}", dutch.html);
        let wrong = post(&app, "/account/password", Some(&me), &[("current_password", "nope"), ("password", "Another-Str0ng-Pass!")]).await;
        assert!(wrong.status == 422 && wrong.html.contains("id=\"current_password-error\""), "{}", wrong.html);
        let weak = post(&app, "/account/password", Some(&me), &[("current_password", GOOD), ("password", "dijk")]).await;
        assert_eq!(weak.status, 422);
        assert!(weak.html.contains("minstens 8 tekens"), "every unmet rule: {}", weak.html);
        let changed = post(&app, "/account/password", Some(&me), &[("current_password", GOOD), ("password", "Another-Str0ng-Pass!")]).await;
        assert_eq!(changed.status, 303);
        assert_eq!(get(&app, "/account", Some(&me), None).await.status, 200, "this session stays");
        assert_eq!(get(&app, "/account", Some(&other), None).await.status, 303, "the other one is signed out");
        let (r, _) = app.login("eva@example.nl", "Another-Str0ng-Pass!").await;
        assert_eq!(r.status, 200);
    }

    async fn the_development_mailbox_shows_mail_with_its_links_on_this_machine_only(db) {
        let app = TestApp::start_with(db, |c| c.dev_mailbox = true).await;
        app.add_member(json!({"email": "eva@example.nl"})).await;
        let token = app.mail_link("eva@example.nl", "/activate/").await;
        let page = get(&app, "/dev/mail?to=eva@example.nl", None, None).await;
        assert_eq!(page.status, 200);
        assert!(page.html.contains(&format!("href=\"{}/activate/{token}\"", app.base)), "{}", page.html);
        let proxied = browser().get(format!("{}/dev/mail", app.base)).header("x-forwarded-for", "192.0.2.7").send().await.unwrap();
        assert_eq!(proxied.status().as_u16(), 404, "a request through a proxy is not this machine");
    }

    async fn without_a_development_mailbox_there_is_no_mail_page(db) {
        let app = TestApp::start(db).await;
        app.add_member(json!({"email": "eva@example.nl"})).await;
        let page = get(&app, "/dev/mail", None, None).await;
        assert_eq!(page.status, 404);
        assert!(!page.html.contains("eva@example.nl"));
    }

    async fn signing_in_with_two_step_verification_asks_for_the_code_or_a_recovery_code(db) {
        let app = TestApp::start(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let r = app.with_cookie("POST", "/api/v1/me/totp", &cookie, None).await;
        let secret = portier_core::two_factor::TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let at = |steps: i64| secret.code_at((chrono::Utc::now().timestamp() + 30 * steps) as u64);
        // The code that confirms is the one used again below: a fresh
        // at(0) would be another code once the 30 s step has turned.
        let confirmed = at(0);
        let r = app.with_cookie("POST", "/api/v1/me/totp/confirm", &cookie, Some(json!({"code": confirmed}))).await;
        let recovery = r.body["recovery_codes"][0].as_str().unwrap().to_owned();
        let signed = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD), ("next", "/account")]).await;
        assert_eq!(signed.status, 303);
        assert_eq!(signed.headers["location"], "/login/second-step?next=%2Faccount");
        let half = session_cookie(&signed);
        assert_eq!(get(&app, "/account", Some(&half), None).await.status, 303, "nothing opens halfway");
        let step = get(&app, "/login/second-step?next=%2Faccount", Some(&half), Some("nl")).await;
        assert!(step.html.contains("Code uit je authenticator-app") && step.html.contains("autocomplete=\"one-time-code\""), "{}", step.html);
        let wrong = post(&app, "/login/second-step", Some(&half), &[("code", "12345"), ("next", "/account")]).await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.html.contains("This code is not right."), "{}", wrong.html);
        let used = post(&app, "/login/second-step", Some(&half), &[("code", &confirmed), ("next", "/account")]).await;
        assert!(used.html.contains("This code has just been used."), "{}", used.html);
        let done = post(&app, "/login/second-step", Some(&half), &[("code", &at(1)), ("next", "/account")]).await;
        assert_eq!((done.status, done.headers["location"].to_str().unwrap()), (303, "/account"));
        assert_eq!(get(&app, "/account", Some(&session_cookie(&done)), None).await.status, 200);
        // Without a sign-in under way the step sends back to the start.
        assert_eq!(get(&app, "/login/second-step", None, None).await.headers["location"], "/login");
        // A recovery code instead.
        let signed = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD)]).await;
        let half = session_cookie(&signed);
        let form = get(&app, "/login/second-step?recovery=1", Some(&half), None).await;
        assert!(form.html.contains("name=\"recovery_code\""), "{}", form.html);
        let done = post(&app, "/login/second-step", Some(&half), &[("recovery_code", &recovery), ("next", "/")]).await;
        assert_eq!(done.status, 303);
        let again = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD)]).await;
        let refused = post(&app, "/login/second-step", Some(&session_cookie(&again)), &[("recovery_code", &recovery)]).await;
        assert!(refused.html.contains("This recovery code is not right, or it has been used."), "{}", refused.html);
    }

    async fn two_step_verification_is_set_up_and_turned_off_in_my_account(db) {
        let app = TestApp::start(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let account = get(&app, "/account", Some(&cookie), None).await;
        assert!(account.html.contains("href=\"/account/two-factor\""));
        let off = get(&app, "/account/two-factor", Some(&cookie), None).await;
        assert!(off.html.contains("Two-step verification is off"), "{}", off.html);
        let enrol = post(&app, "/account/two-factor/start", Some(&cookie), &[]).await;
        assert_eq!(enrol.status, 200);
        assert!(enrol.html.contains("<svg role=\"img\" aria-label=\"QR code to scan with your authenticator app\""), "{}", enrol.html);
        assert!(!enrol.html.contains("<?xml") && !enrol.html.contains("style="), "inline SVG without style");
        let start = enrol.html.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
        let key: String = enrol.html[start..].split('<').next().unwrap().replace(' ', "");
        let secret = portier_core::two_factor::TotpSecret::from_base32(&key).unwrap();
        let at = |steps: i64| secret.code_at((chrono::Utc::now().timestamp() + 30 * steps) as u64);
        // A wrong code: the same QR code again, with the reason.
        let wrong = post(&app, "/account/two-factor/confirm", Some(&cookie), &[("code", "12345")]).await;
        assert_eq!(wrong.status, 422);
        assert!(wrong.html.contains("This code is not right.") && wrong.html.contains(&key[..4]), "{}", wrong.html);
        let on = post(&app, "/account/two-factor/confirm", Some(&cookie), &[("code", &at(0))]).await;
        assert_eq!(on.status, 200, "{}", on.html);
        assert_eq!(on.html.matches("<li><code>").count(), 10, "{}", on.html);
        let admin = admin_session(&app).await;
        let users = get(&app, &format!("/orgs/{}/members", app.org_id), Some(&admin), None).await;
        assert!(users.html.contains("3 members; 1 (33%) use two-step verification."), "{}", users.html);
        let with = get(&app, &format!("/orgs/{}/members?two_factor=yes", app.org_id), Some(&admin), None).await;
        assert_eq!(with.html.matches("<tr>").count() - 1, 1, "{}", with.html);
        let shown = get(&app, "/account/two-factor", Some(&cookie), Some("nl")).await;
        assert!(shown.html.contains("Tweestapsverificatie staat aan") && shown.html.contains("Herstelcodes over: 10."), "{}", shown.html);
        let list = app.get(&format!("/api/v1/organizations/{}/members?q=eva", app.org_id)).await;
        assert_eq!(list.body["items"][0]["two_factor"], true);
        let renewed = post(&app, "/account/two-factor/recovery-codes", Some(&cookie), &[("code", &at(1))]).await;
        assert_eq!(renewed.html.matches("<li><code>").count(), 10);
        let used = post(&app, "/account/two-factor/off", Some(&cookie), &[("code", &at(1))]).await;
        assert_eq!(used.status, 422);
        assert!(used.html.contains("This code has just been used."), "{}", used.html);
        portier_store::testing::execute(&app.db.store, "UPDATE credentials SET last_step = NULL").await;
        let turned = post(&app, "/account/two-factor/off", Some(&cookie), &[("code", &at(0))]).await;
        assert!(turned.html.contains("Two-step verification is off."), "{}", turned.html);

        // Set up again, then reset by an administrator from the member's page.
        post(&app, "/account/two-factor/start", Some(&cookie), &[]).await;
        let secret = portier_store::two_factor::pending(&app.db.store, portier_core::ids::AccountId(uuid::Uuid::parse_str(list.body["items"][0]["account_id"].as_str().unwrap()).unwrap())).await.unwrap().unwrap();
        portier_store::testing::execute(&app.db.store, "UPDATE credentials SET last_step = NULL").await;
        let code = secret.code_at(chrono::Utc::now().timestamp() as u64);
        assert_eq!(post(&app, "/account/two-factor/confirm", Some(&cookie), &[("code", &code)]).await.status, 200);
        let eva = list.body["items"][0]["account_id"].as_str().unwrap();
        let page = format!("/orgs/{}/members/{eva}", app.org_id);
        let shown = get(&app, &page, Some(&admin), None).await;
        assert!(shown.html.contains("Reset two-step verification"), "{}", shown.html);
        let done = post(&app, &format!("{page}/reset-two-factor"), Some(&admin), &[]).await;
        assert_eq!(done.headers["location"].to_str().unwrap(), format!("{page}?done=reset-two-factor"));
        let after = get(&app, &format!("{page}?done=reset-two-factor"), Some(&admin), None).await;
        assert!(after.html.contains("Two-step verification is reset") && !after.html.contains("<summary>Reset two-step verification"), "{}", after.html);
    }

    async fn passkeys_are_added_used_renamed_and_removed_in_the_console(db) {
        use common::passkey::{Held, create, device, get as sign, get_discoverable, with_passkeys};
        let app = TestApp::start_with(db, with_passkeys).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let page = get(&app, "/account/two-factor", Some(&cookie), None).await;
        assert!(page.html.contains("You have no passkeys yet.") && page.html.contains("data-passkey=\"create\" data-passkey-start=\"/api/v1/me/passkeys\""), "{}", page.html);
        // The page's script starts the ceremony at the API and posts the
        // device's answer with the form.
        let mut laptop = device();
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let made = create(&mut laptop, &r.body["options"]);
        let held = Held { credential_id: made["id"].as_str().unwrap().to_owned(), user_handle: r.body["options"]["publicKey"]["user"]["id"].clone() };
        let broken = post(&app, "/account/passkeys", Some(&cookie), &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", "not json"), ("name", "Laptop")]).await;
        assert_eq!(broken.status, 422);
        assert!(broken.html.contains("Your device&#39;s answer was not accepted.") || broken.html.contains("Your device&#x27;s answer was not accepted."), "{}", broken.html);
        let r = app.with_cookie("POST", "/api/v1/me/passkeys", &cookie, None).await;
        let made = create(&mut laptop, &r.body["options"]);
        let held = Held { credential_id: made["id"].as_str().unwrap().to_owned(), ..held };
        let added = post(&app, "/account/passkeys", Some(&cookie), &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &made.to_string()), ("name", "Laptop")]).await;
        assert_eq!(added.status, 200, "{}", added.html);
        assert!(added.html.contains("The passkey is added.") && added.html.matches("<li><code>").count() == 10, "the first second factor's recovery codes, once: {}", added.html);
        let page = get(&app, "/account/two-factor", Some(&cookie), Some("nl")).await;
        assert!(page.html.contains("value=\"Laptop\"") && page.html.contains("Tweestapsverificatie staat aan") && page.html.contains("Nooit"), "{}", page.html);
        let id = page.html.split("/account/passkeys/").nth(1).unwrap()[..36].to_owned();
        let renamed = post(&app, &format!("/account/passkeys/{id}/rename"), Some(&cookie), &[("name", "Work laptop")]).await;
        assert!(renamed.html.contains("The passkey is renamed.") && renamed.html.contains("value=\"Work laptop\""), "{}", renamed.html);
        let refused = post(&app, &format!("/account/passkeys/{id}/rename"), Some(&cookie), &[("name", "")]).await;
        assert_eq!(refused.status, 422);

        // The sign-in's second step offers the passkey, and no app code (there is no app).
        let signed = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD), ("next", "/account")]).await;
        let half = session_cookie(&signed);
        let step = get(&app, "/login/second-step?next=%2Faccount", Some(&half), None).await;
        assert!(step.html.contains("data-passkey-start=\"/api/v1/auth/mfa/passkey\"") && !step.html.contains("one-time-code"), "{}", step.html);
        let r = app.with_cookie("POST", "/api/v1/auth/mfa/passkey", &half, None).await;
        let answer = sign(&mut laptop, &r.body["options"]);
        let done = post(&app, "/login/second-step/passkey", Some(&half), &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &answer.to_string()), ("next", "/account")]).await;
        assert_eq!((done.status, done.headers["location"].to_str().unwrap()), (303, "/account"));
        assert_eq!(get(&app, "/account", Some(&session_cookie(&done)), None).await.status, 200);

        // Without a password at all, from the sign-in page.
        let login = get(&app, "/login", None, None).await;
        assert!(login.html.contains("data-passkey-start=\"/api/v1/auth/passkey\""), "{}", login.html);
        let r = app.with_cookie("POST", "/api/v1/auth/passkey", "x=y", None).await;
        let answer = get_discoverable(&mut laptop, &r.body["options"], &held);
        let done = post(&app, "/login/passkey", None, &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &answer.to_string()), ("next", "/account")]).await;
        assert_eq!((done.status, done.headers["location"].to_str().unwrap()), (303, "/account"));
        let again = post(&app, "/login/passkey", None, &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &answer.to_string())]).await;
        assert!(again.html.contains("The passkey could not be made or used here."), "used once: {}", again.html);

        // New recovery codes with the passkey (there is no app to give a code).
        let page = get(&app, "/account/two-factor", Some(&cookie), None).await;
        assert!(page.html.contains("data-passkey-start=\"/api/v1/me/passkeys/verify\"") && !page.html.contains("id=\"renew-code\""), "{}", page.html);
        let r = app.with_cookie("POST", "/api/v1/me/passkeys/verify", &cookie, None).await;
        let answer = sign(&mut laptop, &r.body["options"]);
        let renewed = post(&app, "/account/two-factor/recovery-codes", Some(&cookie), &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &answer.to_string())]).await;
        assert!(renewed.html.contains("New recovery codes are made") && renewed.html.matches("<li><code>").count() == 10, "{}", renewed.html);
        let again = post(&app, "/account/two-factor/recovery-codes", Some(&cookie), &[("ceremony_id", r.body["ceremony_id"].as_str().unwrap()), ("credential", &answer.to_string())]).await;
        assert_eq!(again.status, 422);
        assert!(again.html.contains("The passkey could not be made or used here."), "{}", again.html);

        let removed = post(&app, &format!("/account/passkeys/{id}/remove"), Some(&cookie), &[]).await;
        assert!(removed.html.contains("The passkey is removed.") && removed.html.contains("You have no passkeys yet."), "{}", removed.html);
    }

    async fn passkeys_are_not_offered_on_an_ip_address(db) {
        let app = TestApp::start(db).await;
        let cookie = app.session_in(&app.org_id.clone(), "eva@example.nl", &["member"]).await;
        let page = get(&app, "/account/two-factor", Some(&cookie), None).await;
        assert!(page.html.contains("Passkeys cannot be used at this address") && !page.html.contains("data-passkey="), "{}", page.html);
        assert!(!get(&app, "/login", None, None).await.html.contains("data-passkey="));
    }

    async fn a_required_second_factor_is_set_up_right_after_signing_in(db) {
        let app = TestApp::start(db).await;
        app.person("eva@example.nl", &["member"]).await;
        let admin = admin_session(&app).await;
        let settings = format!("/orgs/{}/settings", app.org_id);
        let form = get(&app, &settings, Some(&admin), None).await;
        assert!(form.html.contains("name=\"require_two_factor\""), "{}", form.html);
        // One member first, from their page.
        let sam = app.person("sam@example.nl", &["member"]).await;
        let page = format!("/orgs/{}/members/{sam}", app.org_id);
        assert!(get(&app, &page, Some(&admin), None).await.html.contains("Require two-step verification of this person"));
        let required = post(&app, &format!("{page}/details"), Some(&admin), &[("require_two_factor", "1")]).await;
        assert_eq!(required.status, 303, "{}", required.html);
        assert!(get(&app, &page, Some(&admin), None).await.html.contains("required of this person"));
        let (r, _) = app.login("sam@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], true);
        let (r, _) = app.login("eva@example.nl", GOOD).await;
        assert_eq!(r.body["two_factor_setup_required"], false, "only of that one");
        let saved = post(&app, &settings, Some(&admin), &[("name", "Acme"), ("locale", "en"), ("preset", "standard"), ("require_two_factor", "1")]).await;
        assert_eq!(saved.status, 303, "{}", saved.html);
        let signed = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD), ("next", "/account")]).await;
        assert_eq!(signed.headers["location"], "/account/two-factor?next=%2Faccount");
        let enrol = session_cookie(&signed);
        let elsewhere = get(&app, "/", Some(&enrol), None).await;
        assert_eq!(elsewhere.headers["location"], "/account/two-factor?next=/", "nothing else first");
        // Signing out ends a sign-in at this stage too.
        let out = post(&app, "/logout", Some(&enrol), &[]).await;
        assert_eq!(out.status, 303);
        assert_eq!(app.with_cookie("GET", "/api/v1/me/two-factor", &enrol, None).await.status, 401);
        let signed = post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD), ("next", "/account")]).await;
        let enrol = session_cookie(&signed);
        let page = get(&app, "/account/two-factor?next=%2Faccount", Some(&enrol), None).await;
        assert!(page.html.contains("requires two-step verification. Set it up to continue.") && !page.html.contains("Back to my account"), "{}", page.html);
        let started = post(&app, "/account/two-factor/start?next=%2Faccount", Some(&enrol), &[]).await;
        let start = started.html.find("<code class=\"secret\">").unwrap() + "<code class=\"secret\">".len();
        let key: String = started.html[start..].split('<').next().unwrap().replace(' ', "");
        let secret = portier_core::two_factor::TotpSecret::from_base32(&key).unwrap();
        let code = secret.code_at(chrono::Utc::now().timestamp() as u64);
        let done = post(&app, "/account/two-factor/confirm?next=%2Faccount", Some(&enrol), &[("code", &code)]).await;
        assert_eq!(done.status, 200, "{}", done.html);
        assert!(done.html.contains("href=\"/account\">I have saved them"), "{}", done.html);
        let full = session_cookie(&done);
        assert_eq!(get(&app, "/account", Some(&full), None).await.status, 200);
        assert_eq!(get(&app, "/account", Some(&enrol), None).await.status, 303, "the enrolment session is gone");
    }

    async fn sessions_are_listed_and_ended_in_my_account_and_by_an_administrator(db) {
        let app = TestApp::start(db).await;
        let eva = app.person("eva@example.nl", &["member"]).await;
        let here = session_cookie(&post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD)]).await);
        let (_, there) = app.login("eva@example.nl", GOOD).await;
        let there = there.unwrap();
        let (_, third) = app.login("eva@example.nl", GOOD).await;
        let third = third.unwrap();
        let page = get(&app, "/account", Some(&here), None).await;
        assert_eq!(page.html.matches("/end\"><button").count(), 3, "{}", page.html);
        assert!(page.html.contains("this one") && page.html.contains("Sign out everywhere else"));
        // End one other session by its form.
        let list = app.with_cookie("GET", "/api/v1/me/sessions", &here, None).await;
        let other = list.body["items"].as_array().unwrap().iter().find(|i| i["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
        let ended = post(&app, &format!("/account/sessions/{other}/end"), Some(&here), &[]).await;
        assert_eq!(ended.headers["location"], "/account?done=session-ended");
        let left = app.with_cookie("GET", "/api/v1/me/sessions", &here, None).await;
        assert_eq!(left.body["items"].as_array().unwrap().len(), 2);
        let all = post(&app, "/account/sessions/end-others", Some(&here), &[]).await;
        assert_eq!(all.headers["location"], "/account?done=sessions-ended");
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &there, None).await.status, 401);
        assert_eq!(app.with_cookie("GET", "/api/v1/me", &third, None).await.status, 401);
        assert_eq!(get(&app, "/account", Some(&here), None).await.status, 200);
        // An administrator signs her out everywhere from her page.
        let admin = admin_session(&app).await;
        let member = format!("/orgs/{}/members/{eva}", app.org_id);
        assert!(get(&app, &member, Some(&admin), None).await.html.contains("Sign out everywhere"));
        let done = post(&app, &format!("{member}/end-sessions"), Some(&admin), &[]).await;
        assert_eq!(done.headers["location"].to_str().unwrap(), format!("{member}?done=sessions-ended-member"));
        assert_eq!(get(&app, "/account", Some(&here), None).await.status, 303, "signed out");
        // Her own current session, ended from the list, signs her out.
        let mine = session_cookie(&post(&app, "/login", None, &[("email", "eva@example.nl"), ("password", GOOD)]).await);
        let id = app.with_cookie("GET", "/api/v1/me/sessions", &mine, None).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        let out = post(&app, &format!("/account/sessions/{id}/end"), Some(&mine), &[]).await;
        assert_eq!(out.headers["location"], "/login?signed_out=1");
    }
    async fn portfolios_are_given_changed_and_overviewed_with_the_billing_warning_before_saving(db) {
        let app = TestApp::start(db).await;
        let eva = resident_role(&app).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let member = format!("/orgs/{org}/members/{eva}");
        let page = get(&app, &member, Some(&admin), None).await;
        assert!(page.html.contains("Give a portfolio") && page.html.contains("<option value=\"surgery\">Specialty training surgery</option>"), "{}", page.html);
        // The last day of a month: said before saving, with the way out.
        let give = format!("{member}/portfolios");
        let asked = post(&app, &give, Some(&admin), &[("type", "surgery"), ("start_date", "2099-12-31")]).await;
        assert_eq!(asked.status, 200);
        assert!(asked.html.contains("31 December 2099 is the last day of December 2099") && asked.html.contains("Start on 1 January 2100 instead"), "{}", asked.html);
        assert!(asked.html.contains("name=\"start_date\" value=\"2100-01-01\""), "{}", asked.html);
        let list = format!("/api/v1/organizations/{org}/portfolios");
        assert_eq!(app.get(&list).await.body["items"].as_array().unwrap().len(), 0, "nothing saved before confirming");
        let bad = post(&app, &give, Some(&admin), &[("type", "surgery"), ("start_date", "2001-01-01")]).await;
        assert!(bad.status == 422 && bad.html.contains("id=\"start_date-error\">This date has passed."), "{}", bad.html);
        let given = post(&app, &give, Some(&admin), &[("type", "surgery"), ("start_date", "2099-12-31"), ("billing_ok", "1")]).await;
        assert_eq!((given.status, given.headers["location"].to_str().unwrap()), (303, format!("{member}?done=portfolio-given").as_str()));
        let id = app.get(&list).await.body["items"][0]["id"].as_str().unwrap().to_owned();

        // The overview: the list, the chart of the last 24 months, the types; in Dutch too.
        let overview = format!("/orgs/{org}/portfolios");
        let page = get(&app, &overview, Some(&admin), None).await;
        assert!(page.html.contains(&format!("href=\"/orgs/{org}/portfolios/{id}\"")) && page.html.contains("Specialty training surgery"), "{}", page.html);
        assert_eq!(page.html.matches("<rect class=\"bar\"").count(), 24, "{}", page.html);
        assert!(page.html.contains("Billed portfolios per month") && page.html.contains("id=\"billed-months\""));
        let dutch = get(&app, &overview, Some(&admin), Some("nl")).await;
        assert!(dutch.html.contains("Gefactureerde portfolio&#39;s per maand"), "{}", dutch.html);
        assert!(dutch.html.contains("Opleiding chirurgie"));
        let none = get(&app, &format!("{overview}?state=completed"), Some(&admin), None).await;
        assert!(none.html.contains("No portfolio matches."), "{}", none.html);

        // Its page: deactivate, reactivate (from its start, the last day: asked first), complete.
        let show = format!("{overview}/{id}");
        let page = get(&app, &show, Some(&admin), None).await;
        assert!(page.html.contains("Who paid for which months") && page.html.contains(">Active</span>"), "{}", page.html);
        assert_eq!(post(&app, &format!("{show}/deactivate"), Some(&admin), &[]).await.status, 303);
        let asked = post(&app, &format!("{show}/reactivate"), Some(&admin), &[]).await;
        assert!(asked.status == 200 && asked.html.contains("To avoid it, do this tomorrow."), "{}", asked.html);
        assert_eq!(app.get(&format!("{list}/{id}")).await.body["state"], "deactivated");
        assert_eq!(post(&app, &format!("{show}/reactivate"), Some(&admin), &[("billing_ok", "1")]).await.status, 303);
        assert_eq!(post(&app, &format!("{show}/complete"), Some(&admin), &[]).await.status, 303);
        let again = post(&app, &format!("{show}/complete"), Some(&admin), &[]).await;
        assert!(again.status == 409 && again.html.contains("That cannot happen to the portfolio in its present state."), "{}", again.html);
        let done = get(&app, &format!("{overview}?state=completed"), Some(&admin), None).await;
        assert!(done.html.contains(">Completed</span>"), "{}", done.html);

        // A role lists the types it allows.
        let made = post(&app, &format!("/orgs/{org}/roles/new"), Some(&admin), &[("key", "nurse"), ("name.en", "Nurse"), ("kind", "content"), ("portfolio_types", "surgery")]).await;
        assert_eq!(made.status, 303, "{}", made.html);
        let roles = app.get(&format!("/api/v1/organizations/{org}/roles")).await.body;
        let nurse = roles["items"].as_array().unwrap().iter().find(|r| r["key"] == "nurse").unwrap();
        assert_eq!(nurse["portfolio_types"], json!(["surgery"]), "{roles}");
        let form = get(&app, &format!("/orgs/{org}/roles/nurse"), Some(&admin), None).await;
        assert!(form.html.contains(r#"name="portfolio_types" value="surgery" checked"#), "{}", form.html);

        // Types: refused next to the field, added; the billing settings.
        let bad = post(&app, &format!("{overview}/types"), Some(&admin), &[("key", "Bad Key!"), ("name_en", "x")]).await;
        assert!(bad.status == 422 && bad.html.contains("id=\"key-error\""), "{}", bad.html);
        assert_eq!(post(&app, &format!("{overview}/types"), Some(&admin), &[("key", "onboarding"), ("name_en", "Onboarding nurse"), ("name_nl", "Inwerken verpleegkundige")]).await.status, 303);
        assert!(get(&app, &overview, Some(&admin), Some("nl")).await.html.contains("Inwerken verpleegkundige"));
        let settings = format!("/orgs/{org}/settings");
        let saved = post(&app, &settings, Some(&admin), &[("name", "Acme"), ("locale", "nl"), ("preset", "standard"), ("billing_cycle", "annual"), ("allow_parallel_portfolios", "1")]).await;
        assert_eq!(saved.status, 303);
        let body = app.get(&format!("/api/v1/organizations/{org}")).await.body;
        assert_eq!((&body["settings"]["billing_cycle"], &body["settings"]["allow_parallel_portfolios"]), (&json!("annual"), &json!(true)), "{body}");
        let annual = get(&app, &overview, Some(&admin), None).await;
        assert!(annual.html.contains("billed annually") && !annual.html.contains("<svg"), "{}", annual.html);
        // Those without portfolios.manage see neither the page nor the card.
        let manager = app.session_in(&org, "km@example.nl", &["user-manager"]).await;
        assert_eq!(get(&app, &overview, Some(&manager), None).await.status, 403);
        assert!(!get(&app, &member, Some(&manager), None).await.html.contains("Give a portfolio"));
    }

    async fn a_user_is_added_with_a_portfolio_which_another_organization_takes_over_and_removal_asks(db) {
        let app = TestApp::start(db).await;
        resident_role(&app).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let new = format!("/orgs/{org}/members/new");
        let form = [("roles", "resident"), ("email", "sam@example.nl"), ("portfolio_type", "surgery"), ("portfolio_start", "2099-12-31"), ("active", "1")];
        let page = get(&app, &new, Some(&admin), None).await;
        assert!(page.html.contains("4. Portfolio") && page.html.contains("5. Profile"), "the steps: role, e-mail, BIG, portfolio");
        let warned = post(&app, &new, Some(&admin), &form).await;
        assert!(warned.status == 200 && warned.html.contains("id=\"billing-warning\"") && warned.html.contains("name=\"billing_confirmed\" value=\"2099-12-31\""), "{}", warned.html);
        assert!(!app.get(&format!("/api/v1/organizations/{org}/members")).await.body.to_string().contains("sam@example.nl"), "not saved before confirming");
        let mut confirmed = form.to_vec();
        confirmed.push(("billing_confirmed", "2099-12-31"));
        let added = post(&app, &new, Some(&admin), &confirmed).await;
        assert!(added.status == 200 && added.html.contains("sam@example.nl"), "{}", added.html);
        let sam = member_link(&app, &added.html);
        let id = app.get(&format!("/api/v1/organizations/{org}/portfolios")).await.body["items"][0]["id"].as_str().unwrap().to_owned();

        // A ward that has Sam too asks to take it over; the environment's administrator accepts.
        let ward = app.call("POST", "/api/v1/organizations", Some(&app.token.clone()), Some(json!({"name": "Ward 3", "parent_id": org}))).await.body["id"].as_str().unwrap().to_owned();
        app.add_member_to(&ward, json!({"email": "sam@example.nl", "roles": ["resident"]})).await;
        let ward_admin = app.session_in(&ward, "ward.admin@example.nl", &["administrator"]).await;
        let theirs = format!("/orgs/{ward}/members/{sam}");
        let page = get(&app, &theirs, Some(&ward_admin), None).await;
        assert!(page.html.contains("managed by Acme") || page.html.contains("managed by"), "{}", page.html);
        let asked = post(&app, &format!("{theirs}/portfolios/{id}/take-over"), Some(&ward_admin), &[]).await;
        assert_eq!(asked.headers["location"].to_str().unwrap(), format!("{theirs}?done=take-over-asked"));
        let dashboard = get(&app, "/", Some(&admin), None).await;
        assert!(dashboard.html.contains("Portfolio transfers waiting for your answer: 1"), "{}", dashboard.html);
        assert!(!get(&app, "/", Some(&ward_admin), None).await.html.contains("Portfolio transfers waiting"), "the ward asked; it does not answer");
        let overview = get(&app, &format!("/orgs/{org}/portfolios"), Some(&admin), None).await;
        assert!(overview.html.contains("Transfers waiting for an answer") && overview.html.contains("Accept: we manage and pay for it from today"), "the managing side is asked: {}", overview.html);
        let request = app.get(&format!("/api/v1/organizations/{org}/portfolio-transfers?state=pending")).await.body["items"][0]["id"].as_str().unwrap().to_owned();
        let waiting = get(&app, &format!("/orgs/{ward}/portfolios"), Some(&ward_admin), None).await;
        assert!(waiting.html.contains("Waiting for the other organization."), "{}", waiting.html);
        let accept = format!("/orgs/{org}/portfolio-transfers/{request}/accept");
        let asked = post(&app, &accept, Some(&admin), &[]).await;
        assert!(asked.status == 200 && asked.html.contains("31 December 2099 is the last day of December 2099"), "it starts on a month's last day: asked first: {}", asked.html);
        let accepted = post(&app, &accept, Some(&admin), &[("billing_ok", "1")]).await;
        assert_eq!(accepted.headers["location"].to_str().unwrap(), format!("/orgs/{org}/portfolios?done=transfer-accepted"));
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/portfolios/{id}")).await.body["organization_id"], json!(ward));

        // Removing Sam from the ward asks what becomes of the portfolio.
        let page = get(&app, &theirs, Some(&ward_admin), None).await;
        assert!(page.html.contains("id=\"remove-portfolio\""), "{}", page.html);
        let refused = post(&app, &format!("{theirs}/remove"), Some(&ward_admin), &[]).await;
        assert!(refused.status == 409 && refused.html.contains("Say what becomes of the active portfolio."), "{}", refused.html);
        let removed = post(&app, &format!("{theirs}/remove"), Some(&ward_admin), &[("portfolio", "transfer"), ("to", org.as_str())]).await;
        assert_eq!(removed.status, 303, "{}", removed.html);
        let p = app.get(&format!("/api/v1/organizations/{org}/portfolios/{id}")).await.body;
        assert_eq!((&p["state"], &p["organization_id"]), (&json!("deactivated"), &json!(ward)), "the ward cannot act for the environment: deactivated and offered: {p}");
        let overview = get(&app, &format!("/orgs/{org}/portfolios"), Some(&admin), None).await;
        assert!(overview.html.contains("accepting resumes it"), "{}", overview.html);
    }
}

/// Sends a file as the import form does (multipart/form-data), with the
/// form's checkboxes `checked`.
async fn upload(app: &TestApp, path: &str, cookie: &str, file: &str, checked: &[&str]) -> Page {
    let boundary = "----portier-test-boundary";
    let mut body = String::new();
    for name in checked {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n1\r\n"
        ));
    }
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"people.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
    ));
    let r = browser()
        .post(format!("{}{path}", app.base))
        .header("origin", app.base.clone())
        .header("cookie", cookie)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        html: r.text().await.unwrap(),
    }
}

const PEOPLE: &str = "E-mail;Voornaam;Achternaam;Rol\r\npiet@example.nl;Piet;Pieters;member\r\nkees@example.nl;Kees;Keesman;member\r\nnot-an-address;Fout;Adres;member\r\n";

both_backends! {
    async fn an_administrator_imports_members_from_a_file_after_reading_its_report(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let list = get(&app, &format!("/orgs/{org}/members"), Some(&admin), None).await;
        assert!(list.html.contains(&format!("/orgs/{org}/members/import")), "the members list links to the import");
        let form = get(&app, &format!("/orgs/{org}/members/import"), Some(&admin), None).await;
        assert_eq!(form.status, 200, "{}", form.html);
        assert!(form.html.contains("enctype=\"multipart/form-data\"") && form.html.contains("Send the invitations"), "{}", form.html);
        let dutch = get(&app, &format!("/orgs/{org}/members/import"), Some(&admin), Some("nl")).await;
        assert!(dutch.html.contains("Gebruikers importeren"), "{}", dutch.html);

        let sent = upload(&app, &format!("/orgs/{org}/members/import"), &admin, PEOPLE, &["invite", "skip_invalid"]).await;
        assert_eq!(sent.status, 303, "{}", sent.html);
        let at = sent.headers["location"].to_str().unwrap().to_owned();
        assert!(at.starts_with(&format!("/orgs/{org}/imports/")), "{at}");
        let report = get(&app, &at, Some(&admin), None).await;
        assert_eq!(report.status, 200, "{}", report.html);
        assert!(report.html.contains("Waiting for confirmation") && report.html.contains("Confirm import"), "{}", report.html);
        assert!(report.html.contains("<tr class=\"outcome-invalid\">\n    <td>4</td>"), "the bad row is reported, first: {}", report.html);
        assert_eq!(report.html.matches("<tr class=\"outcome-new\">").count(), 2, "{}", report.html);
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members?q=piet")).await.body["items"].as_array().unwrap().len(), 0, "nothing is written before confirming");
        let recent = get(&app, &format!("/orgs/{org}/members/import"), Some(&admin), None).await;
        assert!(recent.html.contains(&at) && recent.html.contains("people.csv"), "{}", recent.html);

        let confirmed = post(&app, &format!("{at}/confirm"), Some(&admin), &[]).await;
        assert_eq!((confirmed.status, confirmed.headers["location"].to_str().unwrap()), (303, at.as_str()));
        let mut page = get(&app, &at, Some(&admin), None).await;
        for _ in 0..100 {
            if page.html.contains("state-done") || page.html.contains("state-failed") {
                break;
            }
            assert!(page.html.contains("<meta http-equiv=\"refresh\" content=\"2\">") && page.html.contains("<progress"), "a running import follows itself: {}", page.html);
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            page = get(&app, &at, Some(&admin), None).await;
        }
        assert!(page.html.contains("id=\"import-state\">Done"), "{}", page.html);
        assert!(!page.html.contains("http-equiv=\"refresh\""), "a finished import stays put");
        for who in ["piet", "kees"] {
            let found = app.get(&format!("/api/v1/organizations/{org}/members?q={who}")).await;
            assert_eq!(found.body["items"].as_array().unwrap().len(), 1, "{who}: {}", found.body);
        }
    }

    async fn a_planned_import_runs_with_the_rights_of_who_confirms_it(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        // The administrator plans to make someone an administrator...
        let sent = upload(&app, &format!("/orgs/{org}/members/import"), &admin, "E-mail;Rol\r\nboss@example.nl;administrator\r\n", &[]).await;
        assert_eq!(sent.status, 303, "{}", sent.html);
        let at = sent.headers["location"].to_str().unwrap().to_owned();
        // ...and a user manager, who may not give that role, confirms it.
        let manager = app.session_in(&org, "um@example.nl", &["user-manager"]).await;
        let confirmed = post(&app, &format!("{at}/confirm"), Some(&manager), &[]).await;
        assert_eq!(confirmed.status, 303, "{}", confirmed.html);
        let mut page = get(&app, &at, Some(&admin), None).await;
        for _ in 0..100 {
            if page.html.contains("state-done") || page.html.contains("state-failed") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            page = get(&app, &at, Some(&admin), None).await;
        }
        assert!(page.html.contains("state-failed"), "planned again with the manager's rights: {}", page.html);
        let found = app.get(&format!("/api/v1/organizations/{org}/members?q=boss")).await;
        assert_eq!(found.body["items"].as_array().unwrap().len(), 0, "{}", found.body);
    }

    async fn a_planned_import_nobody_confirms_goes_after_a_day(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let sent = upload(&app, &format!("/orgs/{org}/members/import"), &admin, PEOPLE, &[]).await;
        let at = sent.headers["location"].to_str().unwrap().to_owned();
        let later = upload(&app, &format!("/orgs/{org}/members/import"), &admin, PEOPLE, &[]).await;
        let later = later.headers["location"].to_str().unwrap().to_owned();
        let store = &app.db.store;
        let now = portier_store::audit::Origin::now(None).now;
        let hours = chrono::Duration::hours;
        assert_eq!(portier_store::import::expire_planned(store, now + hours(23)).await.unwrap(), 0, "a plan waits a day");
        assert_eq!(portier_store::testing::strings(store, "SELECT CAST(COUNT(*) AS TEXT) FROM import_rows").await, ["6"]);
        assert_eq!(portier_store::import::expire_planned(store, now + hours(24) + chrono::Duration::minutes(1)).await.unwrap(), 2, "then it goes");
        let gone = get(&app, &at, Some(&admin), None).await;
        assert_eq!(gone.status, 404, "{}", gone.html);
        assert_eq!(get(&app, &later, Some(&admin), None).await.status, 404);
        let rows = portier_store::testing::strings(store, "SELECT CAST(COUNT(*) AS TEXT) FROM import_rows").await;
        assert_eq!(rows, ["0"], "the report goes with the file");
        let confirmed = post(&app, &format!("{at}/confirm"), Some(&admin), &[]).await;
        assert!(confirmed.status == 404 || confirmed.status == 303, "{}", confirmed.status);
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members?q=piet")).await.body["items"].as_array().unwrap().len(), 0);
    }

    async fn a_node_whose_lease_was_taken_over_writes_nothing_more(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let sent = upload(&app, &format!("/orgs/{org}/members/import"), &admin, PEOPLE, &["skip_invalid"]).await;
        let at = sent.headers["location"].to_str().unwrap().to_owned();
        let id: uuid::Uuid = at.rsplit('/').next().unwrap().parse().unwrap();
        // Running, leased far ahead, so that this server's own worker
        // leaves it to the two "nodes" below.
        // (As a confirmation leaves it, without the dry run's report.)
        portier_store::testing::execute(&app.db.store, "UPDATE imports SET state = 'running', lease_until = '2100-01-01T00:00:00+00:00', new_count = 0, reused_count = 0, member_count = 0, invalid_count = 0").await;
        portier_store::testing::execute(&app.db.store, "DELETE FROM import_rows").await;
        let store = &app.db.store;
        let far: chrono::DateTime<chrono::Utc> = "2100-01-01T00:00:01Z".parse().unwrap();
        let first = portier_store::import::claim(store, Some(id), far).await.unwrap().expect("the first node takes it");
        assert!(portier_store::import::claim(store, Some(id), far).await.unwrap().is_none(), "leased");
        // Its lease lapses (a long chunk, a pause) and a second node takes over.
        let second = portier_store::import::claim(store, Some(id), first.lease + chrono::Duration::seconds(1)).await.unwrap().expect("the second node takes it");
        let lifecycle = portier_store::lifecycle::Lifecycle::new("http://127.0.0.1");
        let stale = portier_store::import::run_job(store, first, false, 1, &lifecycle, |_, _| {}).await.unwrap();
        assert_eq!((stale.state.as_str(), stale.done_rows), ("running", 0), "the first node stops without writing");
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members?q=piet")).await.body["items"].as_array().unwrap().len(), 0);
        let done = portier_store::import::run_job(store, second, false, 1, &lifecycle, |_, _| {}).await.unwrap();
        assert_eq!((done.state.as_str(), done.done_rows, done.counts.new), ("done", 3, 2));
        for who in ["piet", "kees"] {
            assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members?q={who}")).await.body["items"].as_array().unwrap().len(), 1, "{who}");
        }
    }

    async fn importing_needs_the_right_to_invite_members(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let member = app.session_in(&org, "m@example.nl", &["member"]).await;
        let form = get(&app, &format!("/orgs/{org}/members/import"), Some(&member), None).await;
        assert!(form.status == 403 || form.status == 404, "{}", form.status);
        let sent = upload(&app, &format!("/orgs/{org}/members/import"), &member, PEOPLE, &["invite", "skip_invalid"]).await;
        assert!(sent.status == 403 || sent.status == 404, "{} {}", sent.status, sent.html);
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members?q=piet")).await.body["items"].as_array().unwrap().len(), 0);
    }

    async fn the_export_page_downloads_the_members_as_csv_or_json(db) {
        let app = TestApp::start(db).await;
        let admin = admin_session(&app).await;
        let org = app.org_id.clone();
        let form = get(&app, &format!("/orgs/{org}/members/export"), Some(&admin), None).await;
        assert_eq!(form.status, 200, "{}", form.html);
        assert!(form.html.contains(&format!("action=\"/orgs/{org}/members/export/download\"")) && form.html.contains("name=\"bom\""), "{}", form.html);
        let csv = get(&app, &format!("/orgs/{org}/members/export/download?format=csv&bom=true"), Some(&admin), None).await;
        assert_eq!(csv.status, 200, "{}", csv.html);
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(csv.html.starts_with('\u{feff}') && csv.html.contains("admin@example.nl"), "{}", csv.html);
        let json = get(&app, &format!("/orgs/{org}/members/export/download?format=json&children=true"), Some(&admin), None).await;
        assert_eq!(json.status, 200);
        assert!(json.html.starts_with('[') && json.html.contains("admin@example.nl"), "{}", json.html);
        let member = app.session_in(&org, "m@example.nl", &["member"]).await;
        let refused = get(&app, &format!("/orgs/{org}/members/export/download?format=csv"), Some(&member), None).await;
        assert!(refused.status == 403 || refused.status == 404, "{}", refused.status);
    }
}
