//! Writing and reading the audit trail. [`record`] appends an event to its
//! environment's hash chain inside the caller's transaction, so the change and
//! its record commit together or not at all.

use chrono::{DateTime, SubsecRound, Utc};
use portier_core::audit::{AuditEvent, ChainBroken, GENESIS, NewAuditEvent};
use portier_core::ids::OrganizationId;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Result, Store, Tx, in_tx, reader};

/// Where a change comes from: the client's address and the moment, passed in
/// so that tests choose the time.
#[derive(Debug, Clone)]
pub struct Origin {
    pub client_addr: Option<String>,
    pub now: DateTime<Utc>,
}

impl Origin {
    /// The current moment, to the microsecond: the precision both databases
    /// keep, so what a change returns equals what is read back later.
    pub fn now(client_addr: Option<String>) -> Origin {
        Origin::at(client_addr, Utc::now())
    }

    pub fn at(client_addr: Option<String>, now: DateTime<Utc>) -> Origin {
        Origin {
            client_addr,
            now: now.trunc_subsecs(6),
        }
    }
}

/// The chain of platform-wide events, which belong to no environment.
pub const PLATFORM_CHAIN: OrganizationId = OrganizationId(Uuid::nil());

/// Appends `event` to the transaction's lane of `environment_id`'s chains.
/// Taking the lane's head row with an upsert locks it until commit, so
/// concurrent writers of one lane (on any node) line up instead of forking
/// it; writers in other lanes go on.
pub async fn record(
    tx: &mut Tx,
    environment_id: OrganizationId,
    event: NewAuditEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    let lane = tx.audit_lane;
    let (seq, prev_hash): (i64, String) = in_tx!(tx, |c| {
        sqlx::query_as(
            "INSERT INTO audit_heads (environment_id, lane, seq, hash) VALUES ($1, $2, 1, $3)
             ON CONFLICT (environment_id, lane) DO UPDATE SET seq = audit_heads.seq + 1
             RETURNING seq, hash",
        )
        .bind(environment_id.0)
        .bind(lane)
        .bind(GENESIS)
        .fetch_one(c)
        .await
    })?;
    let event = AuditEvent::chained(event, environment_id, lane, seq, prev_hash, now);
    let hash = event.hash();
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO audit_events (id, environment_id, lane, seq, at, actor, actor_account_id, action,
                organization_id, target_type, target_id, changes, client_addr, prev_hash, hash)
             VALUES ($1, $2, $15, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(event.id.0)
        .bind(event.environment_id.0)
        .bind(event.seq)
        .bind(event.at)
        .bind(Json(&event.actor))
        .bind(event.actor.account_id().map(|a| a.0))
        .bind(&event.action)
        .bind(event.organization_id.map(|o| o.0))
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(Json(&event.changes))
        .bind(&event.client_addr)
        .bind(&event.prev_hash)
        .bind(&hash)
        .bind(lane)
        .execute(&mut *c)
        .await?;
        sqlx::query("UPDATE audit_heads SET hash = $1 WHERE environment_id = $2 AND lane = $3")
            .bind(&hash)
            .bind(environment_id.0)
            .bind(lane)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    environment_id: Uuid,
    lane: i16,
    seq: i64,
    at: DateTime<Utc>,
    actor: Json<portier_core::audit::Actor>,
    action: String,
    organization_id: Option<Uuid>,
    target_type: String,
    target_id: String,
    changes: Json<serde_json::Value>,
    client_addr: Option<String>,
    prev_hash: String,
    hash: String,
}

impl EventRow {
    fn into_event(self) -> (AuditEvent, String) {
        (
            AuditEvent {
                id: self.id.into(),
                environment_id: self.environment_id.into(),
                lane: self.lane,
                seq: self.seq,
                at: self.at,
                actor: self.actor.0,
                action: self.action,
                organization_id: self.organization_id.map(Into::into),
                target_type: self.target_type,
                target_id: self.target_id,
                changes: self.changes.0,
                client_addr: self.client_addr,
                prev_hash: self.prev_hash,
            },
            self.hash,
        )
    }
}

macro_rules! select_events {
    ($rest:literal) => {
        concat!(
            "SELECT id, environment_id, lane, seq, at, actor, action, organization_id, target_type,
                    target_id, changes, client_addr, prev_hash, hash FROM audit_events ",
            $rest
        )
    };
}

/// The events about one organization, newest first.
pub async fn for_organization(
    store: &Store,
    organization_id: OrganizationId,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let rows: Vec<EventRow> = reader!(store, |c| {
        sqlx::query_as(select_events!(
            "WHERE organization_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
        ))
        .bind(organization_id.0)
        .bind(limit)
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().map(|r| r.into_event().0).collect())
}

/// Recomputes every lane of an environment's chains, and checks each ends
/// where its head says; `Ok(Ok(n))` counts the events, `Ok(Err(_))` says
/// where a lane breaks.
pub async fn verify(
    store: &Store,
    environment_id: OrganizationId,
) -> Result<Result<u64, ChainBroken>> {
    let rows: Vec<EventRow> = reader!(store, |c| {
        sqlx::query_as(select_events!(
            "WHERE environment_id = $1 ORDER BY lane, seq"
        ))
        .bind(environment_id.0)
        .fetch_all(c)
        .await
    })?;
    let heads: Vec<(i16, i64, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT lane, seq, hash FROM audit_heads WHERE environment_id = $1 ORDER BY lane",
        )
        .bind(environment_id.0)
        .fetch_all(c)
        .await
    })?;
    let events: Vec<(AuditEvent, String)> = rows.into_iter().map(EventRow::into_event).collect();
    // Events in a lane without a head were written around the chain.
    if let Some((e, _)) = events
        .iter()
        .find(|(e, _)| !heads.iter().any(|(lane, _, _)| *lane == e.lane))
    {
        return Ok(Err(ChainBroken::Link {
            lane: e.lane,
            seq: e.seq,
        }));
    }
    for (lane, head_seq, head_hash) in &heads {
        let chain: Vec<(&AuditEvent, &str)> = events
            .iter()
            .filter(|(e, _)| e.lane == *lane)
            .map(|(e, h)| (e, h.as_str()))
            .collect();
        if let Err(broken) = portier_core::audit::verify_chain(*lane, chain.iter().copied()) {
            return Ok(Err(broken));
        }
        // The head tells where the lane ends: its last events cannot go
        // unnoticed either.
        let len = chain.len() as i64;
        if len < *head_seq {
            return Ok(Err(ChainBroken::Gap {
                lane: *lane,
                seq: len + 1,
            }));
        }
        if chain.last().map(|(e, h)| (e.seq, *h)) != Some((*head_seq, head_hash.as_str())) {
            return Ok(Err(ChainBroken::Link {
                lane: *lane,
                seq: len,
            }));
        }
    }
    Ok(Ok(events.len() as u64))
}

/// What an audit list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The person behind the change (directly or through their API token).
    pub actor: Option<uuid::Uuid>,
    /// `member.added`, `organization.updated`, …
    pub action: Option<String>,
    /// The id of the changed thing (an account, an organization, …).
    pub target: Option<String>,
}

/// The events of an organization and everything below it, newest first,
/// before the event `before` (keyset pagination on the time-ordered ids).
pub async fn list(
    store: &Store,
    root: &portier_core::organizations::OrgPath,
    filter: &AuditFilter,
    before: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let (low, high) = crate::organizations::prefix_range(root);
    let rows: Vec<EventRow> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT e.id, e.environment_id, e.lane, e.seq, e.at, e.actor, e.action, e.organization_id, e.target_type,
                    e.target_id, e.changes, e.client_addr, e.prev_hash, e.hash
             FROM audit_events e JOIN organizations o ON o.id = e.organization_id
             WHERE o.path >= $1 AND o.path < $2
               AND ($3 IS NULL OR e.actor_account_id = $3)
               AND ($4 IS NULL OR e.action = $4)
               AND ($5 IS NULL OR e.target_id = $5)
               AND ($6 IS NULL OR e.id < $6)
             ORDER BY e.id DESC LIMIT $7",
        )
        .bind(&low)
        .bind(&high)
        .bind(filter.actor)
        .bind(&filter.action)
        .bind(&filter.target)
        .bind(before)
        .bind(limit)
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().map(|r| r.into_event().0).collect())
}
