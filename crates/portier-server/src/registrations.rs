//! Checks registration numbers against the Dutch BIG register's public SOAP
//! service (docs/RULES.md#the-big-registers-web-service), in the background:
//! a number is `pending` until the register has answered, and an unreachable
//! register is asked again later, so that the people who hold roles needing
//! a number are known to be registered professionals
//! (docs/RULES.md#professional-registrations).

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use portier_core::registrations::RegisterEntry;
use portier_store::Store;
use portier_store::registrations::{claim_due, record_check};
use tokio::sync::Notify;

const NAMESPACE: &str = "http://services.cibg.nl/ExternalUser";
const SOAP_ACTION: &str = "\"http://services.cibg.nl/ExternalUser/ListHcpApprox4\"";

/// The register's service at a configured address (`PORTIER_BIG_REGISTER_URL`).
#[derive(Debug, Clone)]
pub struct BigRegister {
    url: String,
    client: reqwest::Client,
}

impl BigRegister {
    pub fn new(url: &str) -> Result<BigRegister, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
        Ok(BigRegister {
            url: url.to_owned(),
            client,
        })
    }

    /// What the register lists for `number`, or why it could not be asked.
    pub async fn look_up(&self, number: &str) -> Result<Vec<RegisterEntry>, String> {
        let answer = self
            .client
            .post(&self.url)
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("SOAPAction", SOAP_ACTION)
            .body(envelope(number))
            .send()
            .await
            .map_err(|e| format!("the register did not answer: {e}"))?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| format!("the register's answer broke off: {e}"))?;
        if !status.is_success() {
            let fault = fault_of(&text).unwrap_or_default();
            return Err(format!("the register answered {status} {fault}")
                .trim()
                .to_owned());
        }
        parse_answer(&text, number)
    }
}

/// The request for one number (SOAP 1.1, document/literal).
fn envelope(number: &str) -> String {
    // Only digits reach here (RegistrationNumber), so nothing needs escaping.
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <listHcpApproxRequest xmlns="{NAMESPACE}">
      <WebSite>Ribiz</WebSite>
      <RegistrationNumber>{number}</RegistrationNumber>
    </listHcpApproxRequest>
  </soap:Body>
</soap:Envelope>"#
    )
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children().find(|c| c.tag_name().name() == name)
}

fn text_of(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name)
        .and_then(|c| c.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A `dateTime` of the register; `0001-01-01T00:00:00` means none.
fn date_of(node: roxmltree::Node<'_, '_>, name: &str) -> Option<NaiveDate> {
    let raw = text_of(node, name)?;
    let date = NaiveDate::parse_from_str(raw.get(..10)?, "%Y-%m-%d").ok()?;
    (date.format("%Y").to_string() != "0001").then_some(date)
}

/// The `faultstring` of a SOAP fault, if the text is one.
fn fault_of(xml: &str) -> Option<String> {
    let doc = roxmltree::Document::parse(xml).ok()?;
    doc.descendants()
        .find(|n| n.tag_name().name() == "faultstring" || n.tag_name().name() == "Text")
        .and_then(|n| n.text())
        .map(|t| format!("({})", t.trim()))
}

/// Reads `ListHcpApprox4Result`: one entry per person listed with a
/// registration that carries `number`, with its dates and the public notes.
/// A person listed without it says nothing about this number.
pub fn parse_answer(xml: &str, number: &str) -> Result<Vec<RegisterEntry>, String> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| format!("the register's answer is not XML: {e}"))?;
    if let Some(fault) = doc.descendants().find(|n| n.tag_name().name() == "Fault") {
        let why = fault
            .descendants()
            .find(|n| n.tag_name().name() == "faultstring" || n.tag_name().name() == "Text")
            .and_then(|n| n.text())
            .unwrap_or("a SOAP fault");
        return Err(format!("the register refused the question: {}", why.trim()));
    }
    if !doc
        .descendants()
        .any(|n| n.tag_name().name() == "ListHcpApprox4Result")
    {
        return Err("the register's answer has no ListHcpApprox4Result".into());
    }
    let entries = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "ListHcpApprox4")
        .filter_map(|person| {
            let registrations: Vec<roxmltree::Node<'_, '_>> = person
                .descendants()
                .filter(|n| n.tag_name().name() == "ArticleRegistrationExtApp")
                .collect();
            let registration = registrations
                .iter()
                .find(|r| {
                    text_of(**r, "ArticleRegistrationNumber").is_some_and(|n| {
                        n.trim_start_matches('0') == number.trim_start_matches('0')
                    })
                })
                .copied()?;
            let name = text_of(person, "MailingName").unwrap_or_else(|| {
                [
                    text_of(person, "Initial"),
                    text_of(person, "Prefix"),
                    text_of(person, "BirthSurname"),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ")
            });
            let mut notes = Vec::new();
            // Each judgment provision (directly, or in its ExtApp element)
            // with its public description, unless marked not public.
            for description in person
                .descendants()
                .filter(|n| n.tag_name().name() == "PublicDescription")
                .filter(|n| {
                    n.ancestors()
                        .any(|a| a.tag_name().name() == "JudgmentProvision")
                })
            {
                let public = description
                    .parent()
                    .and_then(|p| text_of(p, "Public"))
                    .is_none_or(|p| p.eq_ignore_ascii_case("true"));
                if let Some(d) = description
                    .text()
                    .map(str::trim)
                    .filter(|d| public && !d.is_empty())
                {
                    notes.push(d.to_owned());
                }
            }
            for limitation in person
                .descendants()
                .filter(|n| n.tag_name().name() == "Limitation")
            {
                let text: Vec<&str> = limitation
                    .descendants()
                    .filter_map(|n| n.text())
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect();
                if !text.is_empty() {
                    notes.push(format!("Limitation: {}", text.join(" ")));
                }
            }
            Some(RegisterEntry {
                name,
                profession: text_of(registration, "ProfessionalGroupCode"),
                start: date_of(registration, "ArticleRegistrationStartDate"),
                end: date_of(registration, "ArticleRegistrationEndDate"),
                notes,
            })
        })
        .collect();
    Ok(entries)
}

/// Checks due registrations until the process ends: those just given (woken
/// by `wake`), and those whose retry time has come (every few seconds).
pub async fn run(store: Store, register: BigRegister, wake: Arc<Notify>) {
    loop {
        let now = Utc::now();
        let due = match claim_due(&store, now, Duration::from_secs(300), 20).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the registrations to check");
                Vec::new()
            }
        };
        for check in &due {
            let answer = register.look_up(&check.number.number).await;
            if let Err(e) = &answer {
                tracing::warn!(error = %e, "the BIG register could not be asked; retrying later");
            }
            if let Err(e) = record_check(&store, check, answer, Utc::now()).await {
                tracing::warn!(error = %e, "cannot record a registration check");
            }
        }
        if due.is_empty() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wake.notified()).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOUND: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<ListHcpApprox4Response xmlns="http://services.cibg.nl/ExternalUser"><ListHcpApprox4Result><ListHcpApprox>
<ListHcpApprox4><BirthSurname>Berg</BirthSurname><MailingName>J. van der Berg</MailingName><Prefix>van der</Prefix><Initial>J.</Initial>
<ArticleRegistration><ArticleRegistrationExtApp><ArticleRegistrationNumber>19061234501</ArticleRegistrationNumber>
<ArticleRegistrationStartDate>2010-05-01T00:00:00</ArticleRegistrationStartDate><ArticleRegistrationEndDate>0001-01-01T00:00:00</ArticleRegistrationEndDate>
<ProfessionalGroupCode>01</ProfessionalGroupCode></ArticleRegistrationExtApp></ArticleRegistration>
<JudgmentProvision><JudgmentProvisionExtApp><PublicDescription>Berisping</PublicDescription><Public>true</Public></JudgmentProvisionExtApp></JudgmentProvision>
</ListHcpApprox4></ListHcpApprox></ListHcpApprox4Result></ListHcpApprox4Response></soap:Body></soap:Envelope>"#;

    #[test]
    fn a_listed_number_reads_with_its_name_dates_and_notes() {
        let entries = parse_answer(FOUND, "19061234501").unwrap();
        assert_eq!(entries.len(), 1);
        let e = &entries[0];
        assert_eq!(e.name, "J. van der Berg");
        assert_eq!(e.profession.as_deref(), Some("01"));
        assert_eq!(e.start, NaiveDate::from_ymd_opt(2010, 5, 1));
        assert_eq!(e.end, None, "0001-01-01 is no end date");
        assert_eq!(e.notes, vec!["Berisping"]);
    }

    #[test]
    fn an_empty_list_is_nobody_and_a_fault_or_garbage_is_no_answer() {
        let empty = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><ListHcpApprox4Response xmlns="http://services.cibg.nl/ExternalUser"><ListHcpApprox4Result><ListHcpApprox/></ListHcpApprox4Result></ListHcpApprox4Response></s:Body></s:Envelope>"#;
        assert_eq!(parse_answer(empty, "1").unwrap(), vec![]);
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>Busy</faultstring></s:Fault></s:Body></s:Envelope>"#;
        assert!(parse_answer(fault, "1").unwrap_err().contains("Busy"));
        assert!(parse_answer("<html>down</html>", "1").is_err());
        assert!(parse_answer("not xml", "1").is_err());
    }

    #[test]
    fn the_request_asks_the_ribiz_website_for_the_number() {
        let e = envelope("19061234501");
        assert!(e.contains("<WebSite>Ribiz</WebSite>"));
        assert!(e.contains("<RegistrationNumber>19061234501</RegistrationNumber>"));
        assert!(roxmltree::Document::parse(&e).is_ok());
    }
}
