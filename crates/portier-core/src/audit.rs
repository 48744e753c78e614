//! The audit trail: every change records who did it, what, to what, in which
//! organization, the values before and after, when and from where (DESIGN §1;
//! seed 004: changes must be attributable to a person). Events are append-only
//! and hash-chained per environment: each event's hash covers the previous
//! hash, so editing or deleting a stored event breaks every hash after it.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{AccountId, ApiTokenId, AuditEventId, OrganizationId};

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A person, signed in.
    Account { id: AccountId },
    /// An API token; `account_id` is the person who created it, if any.
    ApiToken {
        id: ApiTokenId,
        account_id: Option<AccountId>,
    },
    /// An operator at the command line of the server (`portier bootstrap`).
    Cli,
    /// Portier itself (workers, scheduled jobs).
    System,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Account { .. } => "account",
            Actor::ApiToken { .. } => "api_token",
            Actor::Cli => "cli",
            Actor::System => "system",
        }
    }

    /// The id recorded beside the kind, if the actor has one.
    pub fn id(&self) -> Option<uuid::Uuid> {
        match self {
            Actor::Account { id } => Some(id.0),
            Actor::ApiToken { id, .. } => Some(id.0),
            Actor::Cli | Actor::System => None,
        }
    }

    /// The person behind the change, when there is one.
    pub fn account_id(&self) -> Option<AccountId> {
        match self {
            Actor::Account { id } => Some(*id),
            Actor::ApiToken { account_id, .. } => *account_id,
            Actor::Cli | Actor::System => None,
        }
    }
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub id: AuditEventId,
    /// The chain this event belongs to: its environment, or the nil id for
    /// platform-wide events.
    pub environment_id: OrganizationId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: Actor,
    /// `organization.created`, `member.invited`, … : `<target>.<past tense>`.
    pub action: String,
    pub organization_id: Option<OrganizationId>,
    pub target_type: String,
    pub target_id: String,
    /// `{field: {before, after}}` for changes; the new state for creations.
    pub changes: serde_json::Value,
    pub client_addr: Option<String>,
    pub prev_hash: String,
}

/// An event as a change describes it, before it takes its place in a chain.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub actor: Actor,
    pub action: &'static str,
    pub organization_id: Option<OrganizationId>,
    pub target_type: &'static str,
    pub target_id: String,
    pub changes: serde_json::Value,
    pub client_addr: Option<String>,
}

/// The hash of the empty chain.
pub const GENESIS: &str = "";

impl AuditEvent {
    /// Places a new event after `prev_hash` as number `seq` of its chain.
    /// Time is kept to the microsecond, the precision both databases store, so
    /// the hash computed now matches the one recomputed from storage.
    pub fn chained(
        new: NewAuditEvent,
        environment_id: OrganizationId,
        seq: i64,
        prev_hash: String,
        now: DateTime<Utc>,
    ) -> AuditEvent {
        AuditEvent {
            id: AuditEventId::new(),
            environment_id,
            seq,
            at: now.trunc_subsecs(6),
            actor: new.actor,
            action: new.action.to_owned(),
            organization_id: new.organization_id,
            target_type: new.target_type.to_owned(),
            target_id: new.target_id,
            changes: new.changes,
            client_addr: new.client_addr,
            prev_hash,
        }
    }

    /// SHA-256 over the previous hash and a canonical rendering of every field.
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!({
            "id": self.id,
            "environment_id": self.environment_id,
            "seq": self.seq,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": self.actor,
            "action": self.action,
            "organization_id": self.organization_id,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "changes": self.changes,
            "client_addr": self.client_addr,
        });
        let mut h = Sha256::new();
        h.update(self.prev_hash.as_bytes());
        h.update(b"\n");
        h.update(canonical.to_string().as_bytes());
        hex::encode(h.finalize())
    }
}

/// Where a stored chain stops being trustworthy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBroken {
    #[error("event {seq} does not follow the event before it")]
    Link { seq: i64 },
    #[error("event {seq} was altered after it was written")]
    Altered { seq: i64 },
    #[error("event {seq} is missing")]
    Gap { seq: i64 },
}

/// Checks a chain given in order with each event's stored hash.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = (&'a AuditEvent, &'a str)>,
) -> Result<(), ChainBroken> {
    let mut prev = GENESIS.to_owned();
    for (expected_seq, (event, stored_hash)) in (1..).zip(events) {
        if event.seq != expected_seq {
            return Err(ChainBroken::Gap { seq: expected_seq });
        }
        if event.prev_hash != prev {
            return Err(ChainBroken::Link { seq: event.seq });
        }
        if event.hash() != stored_hash {
            return Err(ChainBroken::Altered { seq: event.seq });
        }
        prev = stored_hash.to_owned();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<(AuditEvent, String)> {
        let env = OrganizationId::new();
        let mut prev = GENESIS.to_owned();
        let mut out = Vec::new();
        for i in 0..n {
            let e = AuditEvent::chained(
                NewAuditEvent {
                    actor: Actor::Cli,
                    action: "organization.updated",
                    organization_id: Some(env),
                    target_type: "organization",
                    target_id: env.to_string(),
                    changes: serde_json::json!({"name": {"before": i, "after": i + 1}}),
                    client_addr: None,
                },
                env,
                i as i64 + 1,
                prev.clone(),
                Utc::now(),
            );
            prev = e.hash();
            out.push((e, prev.clone()));
        }
        out
    }

    fn verify(c: &[(AuditEvent, String)]) -> Result<(), ChainBroken> {
        verify_chain(c.iter().map(|(e, h)| (e, h.as_str())))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn editing_an_event_is_detected() {
        let mut c = chain(5);
        c[2].0.changes = serde_json::json!({"name": {"before": "x", "after": "y"}});
        assert_eq!(verify(&c), Err(ChainBroken::Altered { seq: 3 }));
    }

    #[test]
    fn deleting_an_event_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(ChainBroken::Gap { seq: 2 }));
    }

    #[test]
    fn rewriting_a_hash_breaks_the_next_link() {
        let mut c = chain(3);
        c[0].0.action = "organization.deleted".into();
        c[0].1 = c[0].0.hash();
        assert_eq!(verify(&c), Err(ChainBroken::Link { seq: 2 }));
    }
}
