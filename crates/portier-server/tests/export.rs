//! Exporting members (docs/RULES.md#export) on both backends: CSV with every
//! field of the list (formula-looking cells defused, a byte-order mark when
//! asked), JSON, the organizations below when asked, refusals of bad
//! parameters, and the audit event.

mod common;

use common::TestApp;
use portier_store::both_backends;
use serde_json::{Value, json};

async fn export(app: &TestApp, query: &str) -> (u16, String, String) {
    let r = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/organizations/{}/members/export{query}",
            app.base, app.org_id
        ))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

/// The people: a doctor with a BIG number, labels, a staff code, a group and
/// a name that looks like a formula; a plain member in a ward below.
async fn people(app: &TestApp) -> String {
    let org = app.org_id.clone();
    let token = app.token.clone();
    let r = app.call("POST", &format!("/api/v1/organizations/{org}/roles"), Some(&token),
        Some(json!({"key": "doctor", "name": {"en": "Doctor", "nl": "Arts"}, "kind": "content", "requires_registration": "BIG"}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{org}/groups"),
            Some(&token),
            Some(json!({"name": "Team Oost"})),
        )
        .await;
    let group = r.body["id"].as_str().unwrap().to_owned();
    // A second group whose name holds a comma, given first: lists come out
    // in order, and a name stays whole.
    let r = app
        .call(
            "POST",
            &format!("/api/v1/organizations/{org}/groups"),
            Some(&token),
            Some(json!({"name": "Zorg, nacht"})),
        )
        .await;
    let night = r.body["id"].as_str().unwrap().to_owned();
    app.add_member(json!({"email": "eva@example.nl", "roles": ["member", "doctor"], "given_name": "Eva", "infix": "de",
        "family_name": "Vries, van", "staff_code": "P-0042", "labels": ["Oost", "Nacht"], "groups": [night, group],
        "registration": {"register": "BIG", "number": "19061234501"}})).await;
    app.add_member(json!({"email": "x@example.nl", "given_name": "=HYPERLINK(\"http://evil\")", "phone": "+31 6 12345678"})).await;
    let ward = app
        .call(
            "POST",
            "/api/v1/organizations",
            Some(&token),
            Some(json!({"name": "Ward 3", "parent_id": org})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member_to(
        &ward,
        json!({"email": "piet@example.nl", "given_name": "Piet"}),
    )
    .await;
    ward
}

both_backends! {
    async fn csv_holds_every_field_and_defuses_formulas(db) {
        let app = TestApp::start(db).await;
        people(&app).await;
        let (status, kind, body) = export(&app, "").await;
        assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
        let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], portier_core::export::COLUMNS.join(","));
        let eva = lines.iter().find(|l| l.starts_with("eva@example.nl")).unwrap();
        assert!(eva.contains(",Eva,de,\"Vries, van\","), "{eva}");
        assert!(eva.contains(",P-0042,"), "{eva}");
        assert!(eva.contains(",\"Oost, Nacht\",\"doctor, member\",\"Team Oost, Zorg, nacht\",BIG,19061234501,"), "{eva}");
        assert!(eva.contains(",false,invited,Acme,"), "{eva}");
        let x = lines.iter().find(|l| l.starts_with("x@example.nl")).unwrap();
        assert!(x.contains(",\"'=HYPERLINK(\"\"http://evil\"\")\","), "formula defused: {x}");
        assert!(x.contains(",'+31 6 12345678,"), "{x}");
        assert!(!body.contains("piet@example.nl"), "not the ward's without children=true");
        // Every row has every column.
        assert_eq!(lines.len(), 4, "{body}");
        let (_, _, bom) = export(&app, "?bom=true&format=csv").await;
        assert!(bom.starts_with('\u{FEFF}'));
        let trail = portier_store::testing::strings(&app.db.store, "SELECT action FROM audit_events WHERE action = 'members.exported'").await;
        assert_eq!(trail.len(), 2);
    }

    async fn json_and_the_organizations_below(db) {
        let app = TestApp::start(db).await;
        people(&app).await;
        let (status, kind, body) = export(&app, "?format=json&children=true").await;
        assert_eq!((status, kind.as_str()), (200, "application/json"));
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        assert_eq!(rows.len(), 4, "{body}");
        let eva = rows.iter().find(|r| r["email"] == "eva@example.nl").unwrap();
        assert_eq!((&eva["roles"], &eva["groups"], &eva["labels"]), (&json!(["doctor", "member"]), &json!(["Team Oost", "Zorg, nacht"]), &json!(["Oost", "Nacht"])));
        // CSV and JSON give the same instant (RFC 3339).
        let created = chrono::DateTime::parse_from_rfc3339(eva["created_at"].as_str().unwrap()).unwrap();
        let (_, _, csv) = export(&app, "?columns=email,created_at").await;
        let line = csv.lines().find(|l| l.starts_with("eva@example.nl,")).unwrap();
        assert_eq!(chrono::DateTime::parse_from_rfc3339(&line["eva@example.nl,".len()..]).unwrap(), created, "{line}");
        assert_eq!(eva["registration"]["number"], "19061234501");
        let piet = rows.iter().find(|r| r["email"] == "piet@example.nl").unwrap();
        assert_eq!(piet["organization"], "Ward 3");
        let (status, _, body) = export(&app, "?format=json").await;
        assert_eq!((status, serde_json::from_str::<Vec<Value>>(&body).unwrap().len()), (200, 3));
        // Chosen columns, written in the export's order.
        let (_, _, some) = export(&app, "?columns=staff_code,email").await;
        assert!(some.starts_with("email,staff_code\r\n"), "{some}");
        assert!(some.contains("eva@example.nl,P-0042\r\n"), "{some}");
        let (_, _, body) = export(&app, "?format=json&columns=email,registration_number").await;
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        let eva = rows.iter().find(|r| r["email"] == "eva@example.nl").unwrap();
        assert_eq!(eva.as_object().unwrap().len(), 3, "{eva}");
        assert_eq!(eva["registration"]["number"], "19061234501");
        for (query, field) in [("?format=xml", "format"), ("?children=maybe", "children"), ("?bom=1", "bom"), ("?columns=email,secret", "columns"), ("?columns=", "columns")] {
            let (status, _, body) = export(&app, query).await;
            let body: Value = serde_json::from_str(&body).unwrap();
            assert_eq!((status, body["error"]["field"].as_str()), (422, Some(field)), "{query}");
        }
    }
}
