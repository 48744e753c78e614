//! E-mail domains an environment claims and proves
//! (docs/RULES.md#self-sign-up-and-e-mail-domains): by a DNS TXT record, or by
//! a link mailed to one of the domain's administrative mailboxes. Only a proven
//! domain lets people who sign up join; a domain is proven for one environment
//! at most.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::FieldError;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::domains::{DomainName, PROOF_MAILBOXES, Proof};
use portier_core::email::Email;
use portier_core::mail::{MailContext, MailKind};
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, DomainsManage};
use portier_core::secrets::SecretToken;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::lifecycle::Lifecycle;
use crate::{Error, Result, Store, Tx, in_tx, organizations, reader};

/// How long the link mailed to prove a domain works.
pub const MAIL_PROOF_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A domain an environment claimed, proven or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: Uuid,
    pub environment_id: Uuid,
    pub domain: DomainName,
    /// What `_portier-challenge.<domain>` must hold.
    pub txt_value: String,
    pub verified_at: Option<DateTime<Utc>>,
    pub proof: Option<String>,
    /// Where the last proof by mail went.
    pub mail_address: Option<String>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

type ClaimRow = (
    Uuid,
    Uuid,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

const SELECT: &str =
    "SELECT id, environment_id, domain, txt_value, verified_at, proof, mail_address,
            last_checked_at, created_at FROM domains";

fn claim(
    (
        id,
        environment_id,
        domain,
        txt_value,
        verified_at,
        proof,
        mail_address,
        last_checked_at,
        created_at,
    ): ClaimRow,
) -> Claim {
    Claim {
        id,
        environment_id,
        domain: DomainName::from_stored(domain),
        txt_value,
        verified_at,
        proof,
        mail_address,
        last_checked_at,
        created_at,
    }
}

/// The domains the environment `env` claimed, by name.
pub async fn list(store: &Store, auth: &Authorized<DomainsManage>) -> Result<Vec<Claim>> {
    let env = auth.organization();
    environment_only(env)?;
    let sql = format!("{SELECT} WHERE environment_id = $1 ORDER BY domain");
    let rows: Vec<ClaimRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(env.environment_id.0)
            .fetch_all(c)
            .await
    })?;
    Ok(rows.into_iter().map(claim).collect())
}

async fn get_tx(tx: &mut Tx, env: &Organization, id: Uuid) -> Result<Claim> {
    let sql = format!("{SELECT} WHERE id = $1 AND environment_id = $2");
    let row: Option<ClaimRow> = in_tx!(tx, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(env.environment_id.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(claim)
        .ok_or_else(|| DomainError::NotFound { what: "domain" }.into())
}

/// Domain `id` of the environment `env`; 404 for another's.
pub async fn get(store: &Store, auth: &Authorized<DomainsManage>, id: Uuid) -> Result<Claim> {
    let env = auth.organization();
    environment_only(env)?;
    let sql = format!("{SELECT} WHERE id = $1 AND environment_id = $2");
    let row: Option<ClaimRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .bind(env.environment_id.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(claim)
        .ok_or_else(|| DomainError::NotFound { what: "domain" }.into())
}

fn event(
    actor: &Actor,
    action: &'static str,
    env: &Organization,
    c: &Claim,
    origin: &Origin,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.clone(),
        action,
        organization_id: Some(env.id),
        target_type: "domain",
        target_id: c.id.to_string(),
        changes: serde_json::json!({"domain": c.domain.as_str(), "proof": c.proof}),
        client_addr: origin.client_addr.clone(),
    }
}

/// Domains belong to an environment: its top organization. Refused for an
/// organization below it, whose administrators do not speak for the
/// environment's domains.
fn environment_only(org: &Organization) -> Result<()> {
    if org.parent_id.is_some() {
        return Err(Error::Domain(DomainError::Conflict {
            code: "not_an_environment",
            field: None,
            message: "domains belong to an environment: manage them on the top organization".into(),
        }));
    }
    Ok(())
}

fn taken() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "domain_taken",
        field: Some("domain".into()),
        message: "another environment has proven this domain already".into(),
    })
}

/// The environment `auth` was given for claims `domain`: it acts once
/// proven. Only an environment (a top organization) claims domains; a
/// shared mail provider's domain (`public`) can never be claimed.
pub async fn claim_domain(
    store: &Store,
    auth: &Authorized<DomainsManage>,
    domain: DomainName,
    public: bool,
    origin: &Origin,
) -> Result<Claim> {
    if public {
        return Err(FieldError::new(
            "domain",
            "public_domain",
            format!("{domain} is a shared mail provider's domain: many unrelated people use it, so no one can claim it"),
        )
        .into());
    }
    let mut tx = store.begin().await?;
    let env = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    environment_only(&env)?;
    let proven: Option<Uuid> = in_tx!(&mut tx, |c| {
        sqlx::query_scalar(
            "SELECT environment_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain.as_str())
        .fetch_optional(c)
        .await
    })?;
    if proven.is_some_and(|e| e != env.id.0) {
        return Err(taken());
    }
    let token = SecretToken::from_random(rand::random(), "portier-");
    let c = Claim {
        id: Uuid::now_v7(),
        environment_id: env.id.0,
        domain,
        txt_value: token.expose().to_owned(),
        verified_at: None,
        proof: None,
        mail_address: None,
        last_checked_at: None,
        created_at: origin.now,
    };
    let inserted = in_tx!(&mut tx, |c2| {
        sqlx::query(
            "INSERT INTO domains (id, environment_id, domain, txt_value, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(c.id)
        .bind(c.environment_id)
        .bind(c.domain.as_str())
        .bind(&c.txt_value)
        .bind(c.created_at)
        .execute(c2)
        .await
        .map(|r| r.rows_affected())
    });
    inserted.map_err(|e| {
        Error::from(e).unique_as(|| {
            Error::Domain(DomainError::Conflict {
                code: "domain_claimed",
                field: Some("domain".into()),
                message: "this environment has claimed this domain already".into(),
            })
        })
    })?;
    let e = event(auth.actor(), "domain.claimed", &env, &c, origin);
    audit::record(&mut tx, env.environment_id, e, origin.now).await?;
    tx.commit().await?;
    Ok(c)
}

/// Marks claim `c` of `env` proven by `proof`, with its audit event; 409 when
/// another environment proved the domain first.
async fn prove(
    tx: &mut Tx,
    actor: &Actor,
    env: &Organization,
    c: &Claim,
    proof: Proof,
    origin: &Origin,
) -> Result<Claim> {
    let proven = in_tx!(tx, |c2| {
        sqlx::query(
            "UPDATE domains SET verified_at = $2, proof = $3, last_checked_at = $2
             WHERE id = $1 AND verified_at IS NULL",
        )
        .bind(c.id)
        .bind(origin.now)
        .bind(proof.as_str())
        .execute(c2)
        .await
        .map(|r| r.rows_affected())
    });
    match proven {
        Err(e) => return Err(Error::from(e).unique_as(taken)),
        // Proven meanwhile (the link twice at once, or it and "check now"):
        // once is enough, and recorded once.
        Ok(0) => return Err(unusable()),
        Ok(_) => {}
    }
    let done = get_tx(tx, env, c.id).await?;
    let e = event(actor, "domain.verified", env, &done, origin);
    audit::record(tx, env.environment_id, e, origin.now).await?;
    Ok(done)
}

/// Records the outcome of looking up claim `id`'s TXT record: proven when
/// `found` (the caller's DNS answer holds the value), else only the time of
/// the check. Returns the claim as it stands.
pub async fn checked(
    store: &Store,
    auth: &Authorized<DomainsManage>,
    id: Uuid,
    found: bool,
    origin: &Origin,
) -> Result<Claim> {
    let mut tx = store.begin().await?;
    let env = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    environment_only(&env)?;
    let c = get_tx(&mut tx, &env, id).await?;
    if c.verified_at.is_some() {
        return Ok(c);
    }
    let done = if found {
        match prove(&mut tx, auth.actor(), &env, &c, Proof::Dns, origin).await {
            // Proven by its mailed link meanwhile: as it stands.
            Err(Error::Domain(DomainError::Conflict {
                code: "link_unusable",
                ..
            })) => get_tx(&mut tx, &env, id).await?,
            done => done?,
        }
    } else {
        in_tx!(&mut tx, |c2| {
            sqlx::query("UPDATE domains SET last_checked_at = $2 WHERE id = $1")
                .bind(id)
                .bind(origin.now)
                .execute(c2)
                .await
                .map(|r| r.rows_affected())
        })?;
        get_tx(&mut tx, &env, id).await?
    };
    tx.commit().await?;
    Ok(done)
}

/// Mails a link that proves claim `id` to `mailbox@<domain>`, one of the
/// domain's administrative mailboxes; an earlier link stops working.
pub async fn send_mail_proof(
    store: &Store,
    auth: &Authorized<DomainsManage>,
    id: Uuid,
    mailbox: &str,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Claim> {
    let mailbox = mailbox.trim().to_ascii_lowercase();
    if !PROOF_MAILBOXES.contains(&mailbox.as_str()) {
        return Err(FieldError::new(
            "mailbox",
            "invalid",
            format!("the proof goes to one of {}", PROOF_MAILBOXES.join(", ")),
        )
        .into());
    }
    let mut tx = store.begin().await?;
    let env = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    environment_only(&env)?;
    let c = get_tx(&mut tx, &env, id).await?;
    if c.verified_at.is_some() {
        return Err(Error::Domain(DomainError::Conflict {
            code: "domain_verified",
            field: None,
            message: "this domain is proven already".into(),
        }));
    }
    let elsewhere: Option<Uuid> = in_tx!(&mut tx, |c2| {
        sqlx::query_scalar(
            "SELECT environment_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(c.domain.as_str())
        .fetch_optional(c2)
        .await
    })?;
    if elsewhere.is_some() {
        return Err(taken());
    }
    let to = Email::parse(&format!("{mailbox}@{}", c.domain))
        .map_err(|e| Error::from(DomainError::from(e.in_field("domain"))))?;
    let token = SecretToken::from_random(rand::random(), "");
    let expires = portier_core::secrets::expires_at(origin.now, MAIL_PROOF_TTL);
    in_tx!(&mut tx, |c2| {
        sqlx::query(
            "UPDATE domains SET mail_token_hash = $2, mail_address = $3, mail_expires_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(token.hash())
        .bind(to.as_str())
        .bind(expires)
        .execute(c2)
        .await
        .map(|r| r.rows_affected())
    })?;
    let ctx = MailContext {
        name: None,
        email: to.to_string(),
        organization: env.name.clone(),
        link: format!(
            "{}/domains/confirm/{}",
            lifecycle.public_url,
            token.expose()
        ),
        expires_at: Some(expires),
    };
    crate::mail::enqueue_in(
        &mut tx,
        lifecycle,
        MailKind::DomainProof,
        &to,
        Some(&env),
        None,
        &ctx,
        origin.now,
    )
    .await?;
    let e = NewAuditEvent {
        changes: serde_json::json!({"domain": c.domain.as_str(), "to": to.as_str()}),
        ..event(auth.actor(), "domain.proof_mailed", &env, &c, origin)
    };
    audit::record(&mut tx, env.environment_id, e, origin.now).await?;
    let done = get_tx(&mut tx, &env, id).await?;
    tx.commit().await?;
    Ok(done)
}

/// Follows a link mailed to prove a domain: once, within its time (a link
/// nobody was sent is the domain's 404). Whoever reads the domain's
/// administrative mailbox consents; they need no account.
pub async fn confirm_mail_proof(
    store: &Store,
    token: &SecretToken,
    origin: &Origin,
) -> Result<(Claim, Organization)> {
    let mut tx = store.begin().await?;
    let found: Option<(Uuid, Uuid, Option<DateTime<Utc>>)> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT id, environment_id, mail_expires_at FROM domains WHERE mail_token_hash = $1",
        )
        .bind(token.hash())
        .fetch_optional(c)
        .await
    })?;
    let Some((id, env_id, expires)) = found else {
        return Err(DomainError::NotFound { what: "link" }.into());
    };
    if expires.is_none_or(|e| e <= origin.now) {
        return Err(unusable());
    }
    let env = organizations::get_in_tx(&mut tx, env_id.into()).await?;
    let c = get_tx(&mut tx, &env, id).await?;
    // Proven already (by this link, or by DNS): the link has done its work.
    if c.verified_at.is_some() {
        return Err(unusable());
    }
    let by = Actor::System;
    let done = prove(&mut tx, &by, &env, &c, Proof::Mail, origin).await?;
    tx.commit().await?;
    Ok((done, env))
}

fn unusable() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "link_unusable",
        field: None,
        message: "this link does not work (any more): ask for a new one".into(),
    })
}

/// Removes claim `id` of the environment `auth` was given for: from now on
/// its domain lets nobody join.
pub async fn remove(
    store: &Store,
    auth: &Authorized<DomainsManage>,
    id: Uuid,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let env = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    environment_only(&env)?;
    let c = get_tx(&mut tx, &env, id).await?;
    in_tx!(&mut tx, |c2| {
        sqlx::query("DELETE FROM domains WHERE id = $1")
            .bind(id)
            .execute(c2)
            .await
            .map(|r| r.rows_affected())
    })?;
    let e = event(auth.actor(), "domain.removed", &env, &c, origin);
    audit::record(&mut tx, env.environment_id, e, origin.now).await?;
    tx.commit().await?;
    Ok(())
}

/// The environment that proved `domain`, if any.
pub(crate) async fn proven_environment(
    tx: &mut Tx,
    domain: &DomainName,
) -> Result<Option<Organization>> {
    let env: Option<Uuid> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT environment_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain.as_str())
        .fetch_optional(c)
        .await
    })?;
    match env {
        Some(id) => Ok(Some(organizations::get_in_tx(tx, id.into()).await?)),
        None => Ok(None),
    }
}

/// [`proven_environment`] outside a transaction.
pub async fn environment_of(store: &Store, domain: &DomainName) -> Result<Option<Organization>> {
    let env: Option<Uuid> = reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT environment_id FROM domains WHERE domain = $1 AND verified_at IS NOT NULL",
        )
        .bind(domain.as_str())
        .fetch_optional(c)
        .await
    })?;
    match env {
        Some(id) => organizations::get(store, id.into()).await,
        None => Ok(None),
    }
}
