//! The outbox worker: claims due messages and delivers them over SMTP, with
//! exponential back-off and a final `failed` state administrators see. With no
//! SMTP configured, messages stay in the database as the development mailbox
//! (`portier mail list` shows them), so a fresh machine still works end to end.

use std::time::Duration;

use chrono::Utc;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use portier_store::Store;
use portier_store::mail::{Claimed, Outcome};

/// Where mail goes.
#[derive(Clone)]
pub enum Delivery {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    },
    DevMailbox,
}

impl Delivery {
    /// `smtp://host:port` (STARTTLS when offered is not attempted; add
    /// `?tls=required` to insist), `smtps://user:pass@host` (TLS), or `None`
    /// for the development mailbox.
    pub fn from_config(smtp_url: Option<&str>, from: &str) -> Result<Delivery, String> {
        let Some(url) = smtp_url else {
            return Ok(Delivery::DevMailbox);
        };
        let from: Mailbox = from
            .parse()
            .map_err(|e| format!("PORTIER_SMTP_FROM {from:?}: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("PORTIER_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        Ok(Delivery::Smtp { transport, from })
    }

    async fn deliver(&self, mail: &Claimed) -> Result<Outcome, String> {
        let Delivery::Smtp { transport, from } = self else {
            return Ok(Outcome::DevMailbox);
        };
        let to: Mailbox = mail
            .to_address
            .parse()
            .map_err(|e| format!("recipient: {e}"))?;
        let body = match &mail.body_html {
            Some(html) => MultiPart::alternative_plain_html(mail.body_text.clone(), html.clone()),
            None => MultiPart::alternative_plain_html(mail.body_text.clone(), String::new()),
        };
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(&mail.subject)
            .multipart(body)
            .map_err(|e| format!("message: {e}"))?;
        transport
            .send(message)
            .await
            .map(|_| Outcome::Sent)
            .map_err(|e| e.to_string())
    }
}

/// Delivers due messages until `shutdown` resolves. A backlog does not hold
/// the shutdown up: the worker stops after the round it is in (at most a
/// batch), and what is left waits for the next start.
pub async fn run_worker(
    store: Store,
    delivery: Delivery,
    poll: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let delivered = deliver_due(&store, &delivery).await;
        let pause = if delivered > 0 { Duration::ZERO } else { poll };
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// One round: claims what is due and delivers it; returns how many were handled.
pub async fn deliver_due(store: &Store, delivery: &Delivery) -> usize {
    let claimed =
        match portier_store::mail::claim_due(store, Utc::now(), Duration::from_secs(300), 20).await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim mail");
                return 0;
            }
        };
    for mail in &claimed {
        let outcome = match delivery.deliver(mail).await {
            Ok(o) => o,
            Err(error) => {
                let retry_at = portier_core::mail::retry_delay(mail.attempts)
                    .and_then(|d| chrono::Duration::from_std(d).ok())
                    .map(|d| Utc::now() + d);
                tracing::warn!(mail = %mail.id, attempt = mail.attempts, %error, final = retry_at.is_none(), "mail not delivered");
                metrics::counter!("portier_mail_failures_total").increment(1);
                Outcome::Failed { error, retry_at }
            }
        };
        if matches!(outcome, Outcome::Sent) {
            metrics::counter!("portier_mail_sent_total").increment(1);
        }
        if let Err(e) =
            portier_store::mail::record_outcome(store, mail.id, &outcome, Utc::now()).await
        {
            tracing::warn!(error = %e, mail = %mail.id, "cannot record mail outcome");
        }
    }
    claimed.len()
}
