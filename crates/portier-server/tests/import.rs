//! Importing members on both backends: the dry run's report on a
//! 10,000-row file with every kind of row, all or nothing, the valid rows
//! only as a job in chunks, held invitations sent later, XLSX, an export
//! imported into an empty organization giving the same export, and the
//! limits of docs/IMPORTS.md (the file's size, one large import per
//! organization, cells no database stores, a report in pages).

mod common;

use std::time::Duration;

use common::TestApp;
use portier_store::both_backends;
use serde_json::{Value, json};

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn upload(app: &TestApp, org: &str, query: &str, kind: &str, body: Vec<u8>) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/organizations/{org}/members/import{query}",
            app.base
        ))
        .bearer_auth(&app.token)
        .header("content-type", kind)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn members(app: &TestApp, org: &str) -> i64 {
    let auth = common::proof(&app.db.store, org).await;
    portier_store::members::statistics(&app.db.store, &auth)
        .await
        .unwrap()
        .members
}

/// The doctor role (needs a BIG number), someone with an account elsewhere
/// and a member already here.
async fn setting(app: &TestApp) {
    let org = app.org_id.clone();
    let r = app.call("POST", &format!("/api/v1/organizations/{org}/roles"), Some(&app.token),
        Some(json!({"key": "doctor", "name": {"en": "Doctor", "nl": "Arts"}, "kind": "content", "requires_registration": "BIG"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (other, token) = TestApp::environment(&app.db, "Elders").await;
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{other}/members"),
            Some(&token),
            Some(json!({"email": "elders@example.nl", "given_name": "Els"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    app.add_member(json!({"email": "here@example.nl"})).await;
    for name in ["Avond", "Zorg"] {
        let r = app
            .call(
                "POST",
                &format!("/api/v1/organizations/{org}/groups"),
                Some(&app.token),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }
}

/// The text of an export of `org` with `query`.
async fn export_text(app: &TestApp, org: &str, query: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/organizations/{org}/members/export?{query}",
            app.base
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// A file of `n` rows: eight special ones first, then new people.
fn file(n: usize) -> String {
    let mut f = String::from(
        "E-mail;Voornaam;Tussenvoegsel;Achternaam;Rol;BIG-nummer;Labels;Notitie;Groepen\r\n",
    );
    f.push_str("elders@example.nl;Els;;Elders;Lid;;;;\r\n"); // 2: reused
    f.push_str("here@example.nl;;;;;;;;\r\n"); // 3: already a member
    f.push_str("twice@example.nl;Tw;;Ice;;;;;\r\n"); // 4: new
    f.push_str("TWICE@example.nl;Tw;;Ice;;;;;\r\n"); // 5: duplicate of row 4
    f.push_str("not-an-address;Bad;;Mail;;;;;\r\n"); // 6: bad e-mail
    f.push_str("astro@example.nl;Ann;;Stro;Astronaut;;;;\r\n"); // 7: unknown role
    f.push_str("arts@example.nl;Anna;;Arts;Arts;;;;\r\n"); // 8: BIG number missing
    f.push_str("evil@example.nl;=cmd|' /C calc'!A0;;Evil;;;;;\r\n"); // 9: formula
    f.push_str("dokter@example.nl;Dirk;van;Dam;doctor;19061234501;Oost, Nacht;x;\r\n"); // 10: new
    for i in 9..n {
        // Some with two roles or groups, given out of order.
        let roles = if i % 3 == 0 {
            "user-manager, member"
        } else {
            "member"
        };
        let groups = ["Zorg, Avond", "Avond", "", ""][i % 4];
        f.push_str(&format!(
            "p{i}@example.nl;Per;van der;Soon {i};{roles};;Import;;{groups}\r\n"
        ));
    }
    f
}

/// A CSV of `n` new people, `prefix` telling files apart: above a
/// megabyte (a large import) from about 45,000.
fn people(prefix: &str, n: usize) -> Vec<u8> {
    let mut f = String::from("email,given_name\r\n");
    for i in 0..n {
        f.push_str(&format!("{prefix}{i}@example.nl,Per\r\n"));
    }
    f.into_bytes()
}

fn outcome(report: &Value, row: u64) -> (&str, Option<&str>) {
    let r = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["row"] == row)
        .unwrap();
    (r["outcome"].as_str().unwrap(), r["field"].as_str())
}

/// A value for profile field `f`, the `n`th.
fn sample(f: &portier_core::profile::Field, n: u32) -> String {
    match f.kind {
        portier_core::profile::Kind::Phone => format!("020 555 010{n}"),
        _ => format!("{} {n}", f.nl),
    }
}

both_backends! {
    async fn every_profile_field_goes_through_the_api_the_export_and_the_import(db) {
        use portier_core::profile::FIELDS;
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        // The API takes and answers every field, and changes each.
        let mut body = json!({"email": "velden@example.nl"});
        for f in &FIELDS {
            body[f.key] = json!(sample(f, 1));
        }
        let account = app.add_member(body).await;
        let member = format!("/api/v1/organizations/{org}/members/{account}");
        let got = app.get(&member).await.body;
        for f in &FIELDS {
            assert_eq!(got[f.key], sample(f, 1), "{}", f.key);
        }
        let mut patch = json!({});
        for f in &FIELDS {
            patch[f.key] = json!(sample(f, 2));
        }
        let r = app.call("PATCH", &member, Some(&app.token.clone()), Some(patch)).await;
        assert_eq!(r.status, 200, "{}", r.body);
        for f in &FIELDS {
            assert_eq!(r.body["member"][f.key], sample(f, 2), "{}", f.key);
        }
        // The export writes each in the column of its key.
        let csv = export_text(&app, &org, "format=csv").await;
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        let row: Vec<&str> = csv.lines().find(|l| l.starts_with("velden@")).unwrap().split(',').collect();
        for f in &FIELDS {
            let at = header.iter().position(|h| *h == f.key).unwrap_or_else(|| panic!("no column {}", f.key));
            assert_eq!(row[at], sample(f, 2), "{}", f.key);
        }
        // The import reads each from a column headed with its Dutch label.
        let labels: Vec<&str> = FIELDS.iter().map(|f| f.nl).collect();
        let values: Vec<String> = FIELDS.iter().map(|f| sample(f, 3)).collect();
        let file = format!("E-mail;{}\r\ngeimporteerd@example.nl;{}\r\n", labels.join(";"), values.join(";"));
        let (status, report) = upload(&app, &org, "?dry_run=false", "text/csv", file.into_bytes()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["counts"]["new"], 1, "{report}");
        let found = app.get(&format!("/api/v1/organizations/{org}/members?q=geimporteerd")).await.body;
        let id = found["items"][0]["account_id"].as_str().unwrap().to_owned();
        let got = app.get(&format!("/api/v1/organizations/{org}/members/{id}")).await.body;
        for f in &FIELDS {
            assert_eq!(got[f.key], sample(f, 3), "{}", f.key);
        }
    }

    async fn a_dry_run_reports_every_row_and_an_invalid_row_stops_all(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        let before = members(&app, &org).await;
        let (status, report) = upload(&app, &org, "", "text/csv", file(10_000).into_bytes()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["dry_run"], true);
        assert_eq!(report["counts"], json!({"new": 9993, "reused": 1, "already_member": 1, "invalid": 5}));
        assert_eq!(report["rows"].as_array().unwrap().len(), 10_000);
        assert_eq!(report["ignored_columns"], json!(["Notitie"]));
        assert_eq!(outcome(&report, 2), ("reused", None));
        assert_eq!(outcome(&report, 3), ("already_member", Some("E-mail")));
        assert_eq!(outcome(&report, 4), ("new", None));
        assert_eq!(outcome(&report, 5), ("invalid", Some("E-mail")));
        assert_eq!(outcome(&report, 6), ("invalid", Some("E-mail")));
        assert_eq!(outcome(&report, 7), ("invalid", Some("Rol")));
        assert_eq!(outcome(&report, 8), ("invalid", Some("BIG-nummer")));
        assert_eq!(outcome(&report, 9), ("invalid", Some("Voornaam")));
        assert_eq!(outcome(&report, 10), ("new", None));
        // Nothing was written.
        assert_eq!(members(&app, &org).await, before);
        // All or nothing: the real run of the same file writes nothing.
        let (status, refused) = upload(&app, &org, "?dry_run=false", "text/csv", file(10_000).into_bytes()).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (422, Some("import_invalid")), "{refused}");
        assert_eq!(refused["counts"]["invalid"], 5);
        assert_eq!(members(&app, &org).await, before);
        let (status, bad) = upload(&app, &org, "", "text/csv", b"Naam;Rol\r\nJan;Lid\r\n".to_vec()).await;
        assert_eq!((status, bad["error"]["code"].as_str(), bad["error"]["field"].as_str()), (422, Some("email_column_missing"), Some("file")));
        let (status, _) = upload(&app, &org, "", "image/png", b"x".to_vec()).await;
        assert_eq!(status, 415);
        // A sheet that declares a vast range costs only its cells, and is
        // refused for its far column, not read into memory.
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "email").unwrap();
        sheet.write_string(1_048_575, 16_383, "far").unwrap();
        let (status, bad) = upload(&app, &org, "", XLSX, book.save_to_buffer().unwrap()).await;
        assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("too_many_columns")), "{bad}");
        let (status, bad) = upload(&app, &org, "", XLSX, b"PK\x03\x04 not a workbook".to_vec()).await;
        assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("file")), "{bad}");
        let (status, bad) = upload(&app, &org, "?dry_run=maybe", "text/csv", file(10).into_bytes()).await;
        assert_eq!((status, bad["error"]["field"].as_str()), (422, Some("dry_run")));
    }

    async fn the_valid_rows_import_as_a_job_in_chunks(db) {
        let app = TestApp::start_with(db, |c| {
            c.import_sync_rows = 1_000;
            c.import_chunk_rows = 700;
        })
        .await;
        setting(&app).await;
        let org = app.org_id.clone();
        // One member with a portfolio: the pages read portfolios only in an
        // organization that has one.
        app.resident_role().await;
        let eva = app.add_member(json!({"email": "eva@example.nl", "roles": ["resident"]})).await;
        let r = app.call("POST", &format!("/api/v1/organizations/{org}/members/{eva}/portfolios"), Some(&app.token), Some(json!({"type": "surgery"}))).await;
        assert_eq!(r.status, 201, "{}", r.body);
        let before = members(&app, &org).await;
        let (status, queued) = upload(&app, &org, "?dry_run=false&skip_invalid=true&invite=false&file_name=staff.csv", "text/csv", file(10_000).into_bytes()).await;
        assert_eq!(status, 202, "{queued}");
        let id = queued["job_id"].as_str().unwrap().to_owned();
        let mut job = Value::Null;
        for _ in 0..600 {
            let r = app.call("GET", &format!("/api/v1/organizations/{org}/imports/{id}"), Some(&app.token), None).await;
            assert_eq!(r.status, 200, "{}", r.body);
            job = r.body;
            if job["state"] != "running" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(job["state"], "done", "{job}");
        assert_eq!(job["counts"], json!({"new": 9993, "reused": 1, "already_member": 1, "invalid": 5}));
        assert_eq!((job["done_rows"].as_i64(), job["progress"].as_f64()), (Some(10_000), Some(1.0)));
        assert_eq!(job["file_name"], "staff.csv");
        assert_eq!(members(&app, &org).await, before + 9994);
        // Two-step verification for one member (its credential's id is its
        // account's): the pages ask for it once a page.
        let totp = portier_store::testing::execute(&app.db.store, "INSERT INTO credentials (id, account_id, kind, secret, created_at)
             SELECT id, id, 'totp', 'test', created_at FROM accounts WHERE email = 'p12@example.nl'").await;
        assert_eq!(totp, 1);
        // The role ids each membership keeps on its own row (read by the
        // pages) agree with its roles, as imported and as changed after.
        let list = app.call("GET", &format!("/api/v1/organizations/{org}/members?q=p13@example.nl"), Some(&app.token), None).await;
        let p13 = list.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        let r = app.call("PUT", &format!("/api/v1/organizations/{org}/members/{p13}/roles"), Some(&app.token), Some(json!({"roles": ["user-manager"]}))).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert!(portier_store::testing::role_ids_out_of_step(&app.db.store).await.is_empty());
        // An organization this large exports in pages read side by side;
        // with children=true it is one query. The same members, in the
        // same order, each once.
        let paged = export_text(&app, &org, "format=csv").await;
        let whole = export_text(&app, &org, "format=csv&children=true").await;
        assert!(paged == whole, "the pages differ from the one query ({} and {} bytes)", paged.len(), whole.len());
        let lines: Vec<&str> = paged.split("\r\n").filter(|l| !l.is_empty()).skip(1).collect();
        assert_eq!(lines.len() as i64, before + 9994);
        let distinct: std::collections::HashSet<&str> = lines.iter().map(|l| l.split(',').next().unwrap()).collect();
        assert_eq!(distinct.len(), lines.len());
        // Roles and groups named and sorted (p12@: user-manager, member;
        // Zorg, Avond).
        let p12 = lines.iter().find(|l| l.starts_with("p12@")).unwrap();
        assert!(p12.contains(",\"member, user-manager\",\"Avond, Zorg\","), "{p12}");
        // The registration and two-step verification, asked for a page at once.
        assert!(p12.contains(",,,,,true,"), "{p12}");
        let dokter = lines.iter().find(|l| l.starts_with("dokter@")).unwrap();
        assert!(dokter.contains(",BIG,19061234501,unchecked,,false,"), "{dokter}");
        let p13 = lines.iter().find(|l| l.starts_with("p13@")).unwrap();
        assert!(p13.contains(",user-manager,Avond,"), "{p13}");
        let eva = lines.iter().find(|l| l.starts_with("eva@")).unwrap();
        assert!(eva.contains(",surgery,"), "{eva}");
        let paged_json = export_text(&app, &org, "format=json").await;
        assert!(paged_json == export_text(&app, &org, "format=json&children=true").await, "JSON in pages");
        let parsed: Value = serde_json::from_str(&paged_json).expect("JSON in pages is JSON");
        assert_eq!(parsed.as_array().unwrap().len() as i64, before + 9994);
        let invalid = app.call("GET", &format!("/api/v1/organizations/{org}/imports/{id}?outcome=invalid"), Some(&app.token), None).await;
        assert_eq!(invalid.body["rows"].as_array().unwrap().len(), 5);
        // Every field of a row, and the role that needs the number.
        let list = app.call("GET", &format!("/api/v1/organizations/{org}/members?q=dokter"), Some(&app.token), None).await;
        let dokter = &list.body["items"][0];
        assert_eq!((dokter["display_name"].as_str(), &dokter["roles"]), (Some("Dirk van Dam"), &json!(["doctor"])), "{}", list.body);
        // Held back: no invitation yet, then each new person's, once.
        let invitations = portier_store::testing::strings(&app.db.store, "SELECT to_address FROM mail_outbox WHERE kind = 'invitation'").await;
        assert!(!invitations.iter().any(|a| a.starts_with('p')), "held back");
        let sent = app.call("POST", &format!("/api/v1/organizations/{org}/imports/{id}/invitations"), Some(&app.token), None).await;
        assert_eq!(sent.body["sent"], 9994, "{}", sent.body);
        let again = app.call("POST", &format!("/api/v1/organizations/{org}/imports/{id}/invitations"), Some(&app.token), None).await;
        assert_eq!(again.status, 409);
        let trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action LIKE 'members.import%'").await;
        assert_eq!(trail.len(), 2, "{trail:?}");
        let list = app.call("GET", &format!("/api/v1/organizations/{org}/imports"), Some(&app.token), None).await;
        assert_eq!(list.body.as_array().unwrap().len(), 1);
    }

    async fn a_small_file_imports_at_once_with_invitations(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        let before = members(&app, &org).await;
        let csv = "email,given_name,family_name,roles,status,phone\r\nnew1@example.nl,Nina,Nieuw,member,,020 555 0101\r\nnew2@example.nl,Noor,Nieuw,,deactivated,\r\nelders@example.nl,,,,,\r\n";
        let (status, report) = upload(&app, &org, "?dry_run=false", "text/csv", csv.as_bytes().to_vec()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["counts"], json!({"new": 2, "reused": 1, "already_member": 0, "invalid": 0}));
        assert_eq!(members(&app, &org).await, before + 3);
        // The number typed is the membership's, never the new account's own.
        let nina = app.get(&format!("/api/v1/organizations/{org}/members?q=nina")).await.body["items"][0]["account_id"].as_str().unwrap().to_owned();
        assert_eq!(app.get(&format!("/api/v1/organizations/{org}/members/{nina}")).await.body["phone"], "020 555 0101");
        let own = portier_store::testing::strings(&app.db.store, "SELECT email FROM accounts WHERE phone IS NOT NULL").await;
        assert!(own.is_empty(), "{own:?}");
        let invited = portier_store::testing::strings(&app.db.store, "SELECT to_address FROM mail_outbox WHERE kind = 'invitation' ORDER BY to_address").await;
        assert!(invited.contains(&"new1@example.nl".to_owned()) && !invited.contains(&"new2@example.nl".to_owned()), "{invited:?}");
        // The same file again: everyone is a member already.
        let (status, report) = upload(&app, &org, "?dry_run=false", "text/csv", csv.as_bytes().to_vec()).await;
        assert_eq!((status, &report["counts"]["already_member"]), (200, &json!(3)), "{report}");
    }

    async fn a_failed_job_still_sends_the_invitations_it_held(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        let csv = "email,given_name\r\nheld1@example.nl,Hanna\r\nheld2@example.nl,Henk\r\n";
        let (status, report) = upload(&app, &org, "?dry_run=false&invite=false", "text/csv", csv.as_bytes().to_vec()).await;
        assert_eq!(status, 200, "{report}");
        let id = report["import_id"].as_str().unwrap().to_owned();
        // As a job that stopped on an error after its first chunks leaves
        // it: those members are in, their invitations held.
        portier_store::testing::execute(&app.db.store, "UPDATE imports SET state = 'failed', error = 'the organization changed'").await;
        let sent = app.call("POST", &format!("/api/v1/organizations/{org}/imports/{id}/invitations"), Some(&app.token), None).await;
        assert_eq!((sent.status, &sent.body["sent"]), (200, &json!(2)), "{}", sent.body);
        let invited = portier_store::testing::strings(&app.db.store, "SELECT to_address FROM mail_outbox WHERE kind = 'invitation' AND to_address LIKE 'held%' ORDER BY to_address").await;
        assert_eq!(invited, ["held1@example.nl", "held2@example.nl"]);
        let again = app.call("POST", &format!("/api/v1/organizations/{org}/imports/{id}/invitations"), Some(&app.token), None).await;
        assert_eq!(again.status, 409);
    }

    async fn a_row_that_clashes_with_what_is_stored_is_refused_by_its_column(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        app.add_member(json!({"email": "eva@example.nl", "roles": ["doctor"], "staff_code": "P-0042",
            "registration": {"register": "BIG", "number": "19061234501"}})).await;
        // Each value is looked up by itself (staff codes in the organization,
        // members among the accounts, the accounts' registrations).
        let csv = "E-mail;Personeelsnummer\r\nnieuw@example.nl;P-0042\r\nvrij@example.nl;P-0043\r\neva@example.nl;\r\n";
        let (status, report) = upload(&app, &org, "", "text/csv", csv.into()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(outcome(&report, 2), ("invalid", Some("Personeelsnummer")), "{report}");
        assert_eq!(outcome(&report, 3), ("new", None));
        assert_eq!(outcome(&report, 4), ("already_member", Some("E-mail")));
        let child = app.call("POST", "/api/v1/organizations", Some(&app.token), Some(json!({"name": "Kind", "parent_id": org}))).await;
        let child = child.body["id"].as_str().unwrap().to_owned();
        let csv = "E-mail;BIG-nummer;Personeelsnummer\r\neva@example.nl;19061234999;\r\n";
        let (status, report) = upload(&app, &child, "", "text/csv", csv.into()).await;
        assert_eq!((status, outcome(&report, 2)), (200, ("invalid", Some("BIG-nummer"))), "{report}");
        // The same number, and a code taken only in another organization.
        let csv = "E-mail;BIG-nummer;Personeelsnummer\r\nEVA@example.nl;19061234501;P-0042\r\n";
        let (status, report) = upload(&app, &child, "", "text/csv", csv.into()).await;
        assert_eq!((status, outcome(&report, 2)), (200, ("reused", None)), "{report}");
        // An account without a number gets none from a file: the number is
        // the person's everywhere (docs/RULES.md#registrations).
        app.add_member(json!({"email": "jan@example.nl"})).await;
        let csv = "E-mail;BIG-nummer\r\njan@example.nl;19061234501\r\nnieuw@example.nl;19061234501\r\n";
        let (status, report) = upload(&app, &child, "", "text/csv", csv.into()).await;
        assert_eq!((status, outcome(&report, 2)), (200, ("invalid", Some("BIG-nummer"))), "{report}");
        assert_eq!(outcome(&report, 3), ("new", None), "a new account's number is recorded: {report}");
    }

    async fn an_export_imported_into_an_empty_organization_exports_the_same(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        let group = app.call("POST", &format!("/api/v1/organizations/{org}/groups"), Some(&app.token), Some(json!({"name": "Team Oost"}))).await;
        let group = group.body["id"].as_str().unwrap().to_owned();
        app.add_member(json!({"email": "eva@example.nl", "roles": ["doctor", "member"], "salutation": "Dr.", "given_name": "Eva", "infix": "de",
            "family_name": "Vries, van", "phone": "+31 20 1234567", "mobile": "06-12345678", "job_title": "Arts", "description": "Nachtdienst\nOost",
            "staff_code": "P-0042", "labels": ["Oost", "Nacht"], "groups": [group], "registration": {"register": "BIG", "number": "19061234501"}})).await;
        app.add_member(json!({"email": "rust@example.nl", "given_name": "Ruud", "active": false})).await;
        let empty = app.call("POST", "/api/v1/organizations", Some(&app.token), Some(json!({"name": "Nieuw", "parent_id": org}))).await;
        let empty = empty.body["id"].as_str().unwrap().to_owned();
        app.call("POST", &format!("/api/v1/organizations/{empty}/groups"), Some(&app.token), Some(json!({"name": "Team Oost"}))).await;
        let export = |org: String, format: &'static str| {
            let (base, token) = (app.base.clone(), app.token.clone());
            async move {
                reqwest::Client::new()
                    .get(format!("{base}/api/v1/organizations/{org}/members/export?format={format}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .to_vec()
            }
        };
        let before = export(org.clone(), "csv").await;
        let (status, report) = upload(&app, &empty, "?dry_run=false", "text/csv", before.clone()).await;
        assert_eq!(status, 200, "{report}");
        let everyone = members(&app, &org).await;
        assert_eq!(report["counts"], json!({"new": 0, "reused": everyone, "already_member": 0, "invalid": 0}), "{report}");
        let after = export(empty.clone(), "csv").await;
        // Every column but the organization's name and the membership's date.
        let columns = portier_core::export::COLUMNS;
        let comparable = |csv: &[u8]| -> Vec<Vec<String>> {
            let mut r = csv::ReaderBuilder::new().from_reader(csv);
            r.records()
                .map(|rec| {
                    rec.unwrap()
                        .iter()
                        .zip(columns)
                        .filter(|(_, c)| !["organization", "created_at"].contains(c))
                        .map(|(v, _)| v.to_owned())
                        .collect()
                })
                .collect()
        };
        assert_eq!(comparable(&after), comparable(&before));
        // XLSX out and back in: the same.
        let xlsx = export(org.clone(), "xlsx").await;
        assert!(xlsx.starts_with(b"PK"));
        let (status, report) = upload(&app, &empty, "", XLSX, xlsx).await;
        assert_eq!((status, &report["counts"]["already_member"]), (200, &json!(everyone)), "{report}");
    }

    async fn a_file_above_the_limit_is_refused_by_its_size(db) {
        let app = TestApp::start_with(db, |c| c.import_max_bytes = 1_000).await;
        let org = app.org_id.clone();
        let mut csv = b"email\r\n".to_vec();
        while csv.len() < 1_000 {
            csv.extend_from_slice(format!("p{}@example.nl\r\n", csv.len()).as_bytes());
        }
        csv.truncate(1_000);
        let (status, _) = upload(&app, &org, "", "text/csv", csv.clone()).await;
        assert_eq!(status, 200, "exactly the limit");
        csv.push(b'x');
        let (status, refused) = upload(&app, &org, "", "text/csv", csv).await;
        assert_eq!((status, refused["error"]["code"].as_str(), refused["error"]["field"].as_str()),
            (413, Some("file_too_large"), Some("file")), "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().contains("1000 bytes"), "{refused}");
    }

    async fn an_organization_has_one_large_import_at_a_time(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let large = people("p", 60_000);
        assert!(large.len() > 1024 * 1024);
        // Two large files at once: one is read and checked, the other is
        // refused, naming the file.
        let (first, second) = tokio::join!(
            upload(&app, &org, "", "text/csv", large.clone()),
            upload(&app, &org, "", "text/csv", large.clone()),
        );
        let (checked, refused) = if first.0 == 200 { (first, second) } else { (second, first) };
        assert_eq!(checked.0, 200, "{}", checked.1["error"]);
        assert_eq!(checked.1["counts"]["new"], 60_000);
        assert_eq!((refused.0, refused.1["error"]["code"].as_str(), refused.1["error"]["field"].as_str()),
            (409, Some("import_running"), Some("file")), "{}", refused.1);
        // Once it is done, the next may come; another organization's meanwhile too.
        let (status, _) = upload(&app, &org, "", "text/csv", large.clone()).await;
        assert_eq!(status, 200);
        // A job that runs (or waits to resume) is a large import under way,
        // whatever its size: as one a restart left, leased far ahead.
        let (status, done) = upload(&app, &org, "?dry_run=false&invite=false", "text/csv", people("q", 2)).await;
        assert_eq!(status, 200, "{done}");
        portier_store::testing::execute(&app.db.store, "UPDATE imports SET state = 'running', lease_until = '2100-01-01T00:00:00+00:00'").await;
        let (status, refused) = upload(&app, &org, "", "text/csv", large.clone()).await;
        assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("import_running")), "{refused}");
        let (status, small) = upload(&app, &org, "", "text/csv", people("r", 10)).await;
        assert_eq!(status, 200, "a small file goes ahead: {small}");
        let (other, token) = TestApp::environment(&app.db, "Elders").await;
        let r = reqwest::Client::new()
            .post(format!("{}/api/v1/organizations/{other}/members/import", app.base))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(large.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "another organization's large import");
        portier_store::testing::execute(&app.db.store, "UPDATE imports SET state = 'done', lease_until = NULL").await;
        let (status, _) = upload(&app, &org, "", "text/csv", large).await;
        assert_eq!(status, 200);
    }

    async fn a_nul_character_in_a_cell_makes_its_row_invalid_not_an_error(db) {
        let app = TestApp::start(db).await;
        setting(&app).await;
        let org = app.org_id.clone();
        // PostgreSQL stores no NUL in text: not in a member's field, nor in
        // a report line that repeats the cell.
        let rows = [
            ["nul1@example.nl", "Lid\0", "", "", ""],
            ["nul2@example.nl", "", "Zorg\0", "", ""],
            ["nul3@example.nl", "", "", "Nacht\0dienst", ""],
            ["nu\0l4@example.nl", "", "", "", ""],
            ["ok@example.nl", "", "", "", "not read \0"],
        ];
        let header = ["E-mail", "Rol", "Groepen", "Omschrijving", "Notitie"];
        let mut csv = header.join(";");
        csv.push_str("\r\n");
        for r in &rows {
            csv.push_str(&r.join(";"));
            csv.push_str("\r\n");
        }
        let expected = [("invalid", Some("Rol")), ("invalid", Some("Groepen")), ("invalid", Some("Omschrijving")),
            ("invalid", Some("E-mail")), ("new", None)];
        let (status, report) = upload(&app, &org, "", "text/csv", csv.clone().into_bytes()).await;
        assert_eq!(status, 200, "{report}");
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(outcome(&report, i as u64 + 2), *e, "{report}");
        }
        // Imported, the valid row is written and the report stored.
        let (status, report) = upload(&app, &org, "?dry_run=false&skip_invalid=true&invite=false", "text/csv", csv.into_bytes()).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(report["counts"], json!({"new": 1, "reused": 0, "already_member": 0, "invalid": 4}));
        let id = report["import_id"].as_str().unwrap();
        let stored = app.call("GET", &format!("/api/v1/organizations/{org}/imports/{id}?outcome=invalid"), Some(&app.token), None).await;
        assert_eq!(stored.body["rows"].as_array().unwrap().len(), 4, "{}", stored.body);
        assert!(!stored.body.to_string().contains("\\u0000"), "{}", stored.body);
        // The same in a workbook (which writes the character as _x0000_).
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (c, h) in header.iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                let cell = cell.replace("@example", "@xlsx.example");
                if !cell.is_empty() {
                    sheet.write_string(r as u32 + 1, c as u16, cell).unwrap();
                }
            }
        }
        let (status, report) = upload(&app, &org, "?dry_run=false&skip_invalid=true&invite=false", XLSX, book.save_to_buffer().unwrap()).await;
        assert_eq!(status, 200, "{report}");
        for (i, e) in expected.iter().enumerate() {
            assert_eq!(outcome(&report, i as u64 + 2), *e, "{report}");
        }
    }

    async fn a_stored_report_comes_in_pages(db) {
        let app = TestApp::start(db).await;
        let org = app.org_id.clone();
        let (status, report) = upload(&app, &org, "?dry_run=false&invite=false", "text/csv", people("s", 5)).await;
        assert_eq!(status, 200, "{report}");
        let id = report["import_id"].as_str().unwrap();
        let app = &app;
        let page = |query: &'static str| {
            let path = format!("/api/v1/organizations/{org}/imports/{id}{query}");
            async move { app.call("GET", &path, Some(&app.token), None).await.body }
        };
        let rows = |page: &Value| page["rows"].as_array().unwrap().iter().map(|r| r["row"].as_u64().unwrap()).collect::<Vec<_>>();
        let first = page("?limit=2").await;
        assert_eq!((rows(&first), &first["next_cursor"]), (vec![2, 3], &json!(3)), "{first}");
        let second = page("?limit=2&cursor=3").await;
        assert_eq!((rows(&second), &second["next_cursor"]), (vec![4, 5], &json!(5)), "{second}");
        let last = page("?limit=2&cursor=5").await;
        assert_eq!((rows(&last), &last["next_cursor"]), (vec![6], &Value::Null), "{last}");
        let all = page("").await;
        assert_eq!((rows(&all).len(), &all["next_cursor"]), (5, &Value::Null));
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/imports/{id}?limit=100001"), Some(&app.token), None).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (422, Some("limit")));
        let r = app.call("GET", &format!("/api/v1/organizations/{org}/imports/{id}?cursor=x"), Some(&app.token), None).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (422, Some("cursor")));
    }
}
