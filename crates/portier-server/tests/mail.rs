//! The outbox worker against a real SMTP server, on both backends.

mod common;

use common::TestApp;
use portier_server::mail::{Delivery, deliver_due};
use portier_server::testing::SmtpSink;
use portier_store::both_backends;
use serde_json::json;

async fn stored_mail(app: &TestApp, email: &str) -> portier_store::mail::OutboxMail {
    let to = portier_core::email::Email::parse(email).unwrap();
    portier_store::mail::recent(&app.db.store, Some(&to), 1)
        .await
        .unwrap()
        .remove(0)
}

both_backends! {
    async fn the_invitation_is_delivered_over_smtp_as_text_and_html(db) {
        let app = TestApp::start(db).await;
        let sink = SmtpSink::start(false).await;
        let id = app.add_member(json!({"email": "eva@example.nl", "given_name": "Eva"})).await;
        let delivery = Delivery::from_config(Some(&sink.url()), "Portier <portier@acme.example>").unwrap();
        assert!(deliver_due(&app.db.store, &delivery).await >= 1);
        let messages = sink.messages();
        let invitation = messages.iter().find(|m| m.to == vec!["<eva@example.nl>"]).expect("delivered to eva");
        assert_eq!(invitation.from, "<portier@acme.example>");
        assert!(invitation.data.contains("Subject: Activate your account at Acme"), "{}", invitation.data);
        assert!(invitation.data.contains("text/plain") && invitation.data.contains("text/html"), "{}", invitation.data);
        assert!(invitation.data.contains("/activate/"));
        assert_eq!(deliver_due(&app.db.store, &delivery).await, 0, "nothing is sent twice");
        let member = app.get(&format!("/api/v1/organizations/{}/members/{id}", app.org_id)).await;
        assert_eq!(member.body["invitation"]["status"], "sent");
        // The link left with the mail; no copy of it stays in the database.
        let stored = stored_mail(&app, "eva@example.nl").await;
        assert_eq!(stored.body_text, portier_store::mail::ERASED_BODY);
        assert_eq!(stored.subject, "Activate your account at Acme", "what was sent, when and to whom stays");
    }

    async fn a_refusing_server_is_retried_with_back_off_and_the_failure_shows(db) {
        let app = TestApp::start(db).await;
        let sink = SmtpSink::start(true).await;
        let id = app.add_member(json!({"email": "eva@example.nl", "given_name": "Eva"})).await;
        let delivery = Delivery::from_config(Some(&sink.url()), "portier@acme.example").unwrap();
        deliver_due(&app.db.store, &delivery).await;
        let path = format!("/api/v1/organizations/{}/members/{id}", app.org_id);
        let member = app.get(&path).await;
        assert_eq!(member.body["invitation"]["status"], "pending", "{}", member.body);
        assert_eq!(member.body["invitation"]["attempts"], 1);
        assert!(member.body["invitation"]["last_error"].as_str().unwrap().contains("451"));
        assert!(stored_mail(&app, "eva@example.nl").await.body_text.contains("/activate/"), "kept for the next attempt");
        assert_eq!(deliver_due(&app.db.store, &delivery).await, 0, "not again before its back-off");
        // Jump to the last attempt.
        portier_store::testing::execute(&app.db.store, "UPDATE mail_outbox SET attempts = 7, next_attempt_at = created_at").await;
        deliver_due(&app.db.store, &delivery).await;
        let member = app.get(&path).await;
        assert_eq!(member.body["invitation"]["status"], "failed", "invitation not delivered: {}", member.body);
        assert_eq!(member.body["invitation"]["attempts"], 8);
        assert_eq!(stored_mail(&app, "eva@example.nl").await.body_text, portier_store::mail::ERASED_BODY, "given up on: erased too");
        portier_store::testing::execute(&app.db.store, "UPDATE mail_outbox SET next_attempt_at = created_at").await;
        assert_eq!(deliver_due(&app.db.store, &delivery).await, 0, "a failed mail stays failed");
        assert!(sink.messages().is_empty());
    }

    async fn a_backlog_does_not_hold_up_the_shutdown(db) {
        let app = TestApp::start(db).await;
        for i in 0..30 {
            app.add_member(json!({"email": format!("eva{i}@example.nl"), "given_name": "Eva"})).await;
        }
        // Asked to stop before it starts: one round at most, then it returns.
        portier_server::mail::run_worker(app.db.store.clone(), Delivery::DevMailbox, std::time::Duration::from_secs(3600), std::future::ready(())).await;
        let left = portier_store::testing::strings(&app.db.store, "SELECT status FROM mail_outbox WHERE status = 'pending'").await;
        assert!(!left.is_empty() && left.len() < 31, "stopped after one batch: {} left", left.len());
    }

    async fn without_smtp_mail_stays_in_the_development_mailbox(db) {
        let app = TestApp::start(db).await;
        app.add_member(json!({"email": "eva@example.nl", "given_name": "Eva"})).await;
        assert!(deliver_due(&app.db.store, &Delivery::DevMailbox).await >= 1);
        let mails = portier_store::mail::recent(&app.db.store, Some(&portier_core::email::Email::parse("eva@example.nl").unwrap()), 5).await.unwrap();
        assert_eq!(mails[0].status, "dev_mailbox");
        assert!(mails[0].body_text.contains("/activate/"));
    }
}

#[test]
fn bad_mail_settings_are_refused_by_name() {
    assert!(
        Delivery::from_config(Some("smtp://127.0.0.1:2525"), "not an address")
            .err()
            .unwrap()
            .contains("PORTIER_SMTP_FROM")
    );
    assert!(
        Delivery::from_config(Some("ftp://x"), "a@b.nl")
            .err()
            .unwrap()
            .contains("PORTIER_SMTP_URL")
    );
    assert!(matches!(
        Delivery::from_config(None, "a@b.nl"),
        Ok(Delivery::DevMailbox)
    ));
}
