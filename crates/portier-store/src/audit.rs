//! Writing and reading the audit trail. [`record`] appends an event to its
//! environment's hash chain inside the caller's transaction, so the change and
//! its record commit together or not at all.

use chrono::{DateTime, SubsecRound, Utc};
use portier_core::audit::{AuditEvent, ChainBroken, GENESIS, NewAuditEvent};
use portier_core::ids::OrganizationId;
use sqlx::types::Json;
use uuid::Uuid;

use crate::db::Arg;
use crate::{Result, Store, Tx, bind_all, in_tx, reader};

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
    record_many(tx, environment_id, vec![event], now).await
}

/// Records a change to a person's account, which they share between every
/// organization they belong to (address, name, password, second factors,
/// sessions; docs/RULES.md#shared-accounts), in each of those
/// organizations (in its environment's chain), so that every
/// organization's log shows what happened to its member, whoever did it.
/// `except` is an organization that records the change its own way (with
/// its membership's fields beside it). An account that belongs nowhere has
/// it in the platform's chain.
pub(crate) async fn record_for_account(
    tx: &mut Tx,
    account: portier_core::ids::AccountId,
    except: Option<OrganizationId>,
    event: NewAuditEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    let seats: Vec<(Uuid, Uuid)> = in_tx!(tx, |c| {
        sqlx::query_as(
            "SELECT o.id, o.environment_id FROM memberships m
             JOIN organizations o ON o.id = m.organization_id
             WHERE m.account_id = $1 ORDER BY o.environment_id, o.id",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    if seats.is_empty() {
        let event = NewAuditEvent {
            organization_id: None,
            ..event
        };
        return record(tx, PLATFORM_CHAIN, event, now).await;
    }
    let mut by_environment: Vec<(OrganizationId, Vec<NewAuditEvent>)> = Vec::new();
    for (org, environment) in seats {
        let (org, environment) = (OrganizationId(org), OrganizationId(environment));
        if Some(org) == except {
            continue;
        }
        let one = NewAuditEvent {
            organization_id: Some(org),
            ..event.clone()
        };
        match by_environment.last_mut() {
            Some((env, events)) if *env == environment => events.push(one),
            _ => by_environment.push((environment, vec![one])),
        }
    }
    for (environment, events) in by_environment {
        record_many(tx, environment, events, now).await?;
    }
    Ok(())
}

/// Appends `events`, in order, to one lane of the environment's chain: the
/// lane's head moves once and the events go in with as few statements as
/// the bind limits allow (an import writes thousands).
pub async fn record_many(
    tx: &mut Tx,
    environment_id: OrganizationId,
    events: Vec<NewAuditEvent>,
    now: DateTime<Utc>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    for event in &events {
        debug_assert!(
            portier_core::audit::ACTIONS.contains(&event.action)
                || event.action.starts_with("test."),
            "the audit action {} is not in portier_core::audit::ACTIONS",
            event.action
        );
    }
    let lane = tx.audit_lane;
    let n = events.len() as i64;
    let (last, mut prev_hash): (i64, String) = in_tx!(tx, |c| {
        sqlx::query_as(
            "INSERT INTO audit_heads (environment_id, lane, seq, hash) VALUES ($1, $2, $4, $3)
             ON CONFLICT (environment_id, lane) DO UPDATE SET seq = audit_heads.seq + $4
             RETURNING seq, hash",
        )
        .bind(environment_id.0)
        .bind(lane)
        .bind(GENESIS)
        .bind(n)
        .fetch_one(c)
        .await
    })?;
    let mut args = Vec::with_capacity(events.len() * 15);
    for (i, new) in events.into_iter().enumerate() {
        let seq = last - n + 1 + i as i64;
        let event = AuditEvent::chained(new, environment_id, lane, seq, prev_hash, now);
        let hash = event.hash();
        args.extend([
            Arg::Id(event.id.0),
            Arg::Id(event.environment_id.0),
            Arg::Int(i64::from(lane)),
            Arg::Int(event.seq),
            Arg::Time(event.at),
            Arg::Json(
                serde_json::to_value(&event.actor)
                    .map_err(|e| crate::Error::Corrupt(e.to_string()))?,
            ),
            Arg::OptId(event.actor.account_id().map(|a| a.0)),
            Arg::Text(event.action),
            Arg::OptId(event.organization_id.map(|o| o.0)),
            Arg::Text(event.target_type),
            Arg::Text(event.target_id),
            Arg::Json(event.changes),
            Arg::OptText(event.client_addr),
            Arg::Text(event.prev_hash),
            Arg::Text(hash.clone()),
        ]);
        prev_hash = hash;
    }
    crate::db::insert_many(
        tx,
        "INSERT INTO audit_events (id, environment_id, lane, seq, at, actor, actor_account_id, action,
            organization_id, target_type, target_id, changes, client_addr, prev_hash, hash)",
        15,
        "",
        args,
    )
    .await?;
    in_tx!(tx, |c| {
        sqlx::query("UPDATE audit_heads SET hash = $1 WHERE environment_id = $2 AND lane = $3")
            .bind(&prev_hash)
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
pub async fn list<R: portier_core::rights::Right>(
    store: &Store,
    auth: &portier_core::rights::Authorized<R>,
    filter: &AuditFilter,
    before: Option<uuid::Uuid>,
    limit: i64,
) -> Result<Vec<AuditEvent>> {
    let root = &auth.organization().path;
    let (low, high) = crate::organizations::prefix_range(root);
    let orgs: Vec<Uuid> = reader!(store, |c| {
        sqlx::query_scalar("SELECT id FROM organizations WHERE path >= $1 AND path < $2 LIMIT $3")
            .bind(&low)
            .bind(&high)
            .bind(FEW_ORGANIZATIONS + 1)
            .fetch_all(c)
            .await
    })?;
    if orgs.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![Arg::Int(limit)];
    let next = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    let mut conditions = Vec::new();
    if let Some(actor) = filter.actor {
        conditions.push(format!(
            "e.actor_account_id = {}",
            next(&mut args, Arg::Id(actor))
        ));
    }
    if let Some(action) = &filter.action {
        conditions.push(format!(
            "e.action = {}",
            next(&mut args, Arg::Text(action.clone()))
        ));
    }
    if let Some(target) = &filter.target {
        conditions.push(format!(
            "e.target_id = {}",
            next(&mut args, Arg::Text(target.clone()))
        ));
    }
    if let Some(before) = before {
        conditions.push(format!("e.id < {}", next(&mut args, Arg::Id(before))));
    }
    let and = |conditions: &[String]| {
        conditions
            .iter()
            .map(|c| format!(" AND {c}"))
            .collect::<String>()
    };
    let sql = if orgs.len() as i64 > FEW_ORGANIZATIONS {
        // Many organizations: the log in time order, kept to the subtree.
        let range = format!(
            "o.path >= {} AND o.path < {}",
            next(&mut args, Arg::Text(low)),
            next(&mut args, Arg::Text(high))
        );
        format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events e JOIN organizations o ON o.id = e.organization_id
             WHERE {range}{} ORDER BY e.id DESC LIMIT $1",
            and(&conditions)
        )
    } else if filter.actor.is_some() || filter.target.is_some() {
        // One person's doings or one thing's history: few, by their index.
        let ids: Vec<String> = orgs.iter().map(|o| next(&mut args, Arg::Id(*o))).collect();
        format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events e
             WHERE e.organization_id IN ({}){} ORDER BY e.id DESC LIMIT $1",
            ids.join(", "),
            and(&conditions)
        )
    } else {
        // Each organization's newest (by action, if asked) from its own
        // index, merged.
        let branches: Vec<String> = orgs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let id = next(&mut args, Arg::Id(*o));
                format!(
                    "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM audit_events e
                     WHERE e.organization_id = {id}{} ORDER BY e.id DESC LIMIT $1) AS o{i}",
                    and(&conditions)
                )
            })
            .collect();
        format!(
            "SELECT * FROM ({}) AS newest ORDER BY id DESC LIMIT $1",
            branches.join(" UNION ALL ")
        )
    };
    let rows: Vec<EventRow> = reader!(store, |c| {
        // Fixed text and placeholders only; the values are bound.
        bind_all!(
            sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql.as_str())),
            &args
        )
        .fetch_all(c)
        .await
    })?;
    Ok(rows.into_iter().map(|r| r.into_event().0).collect())
}

/// Up to this many organizations under the root, the log is read from each
/// one's own index and merged; past it, as one stretch in time order.
const FEW_ORGANIZATIONS: i64 = 64;

const EVENT_COLUMNS: &str =
    "e.id, e.environment_id, e.lane, e.seq, e.at, e.actor, e.action, e.organization_id,
     e.target_type, e.target_id, e.changes, e.client_addr, e.prev_hash, e.hash";
