//! The audit trail: every change records who did it, what, to what, in which
//! organization, the values before and after, when and from where, so that
//! every change can be traced to a person (docs/RULES.md#audit-trail). Events
//! are append-only and hash-chained: each event's hash covers the previous
//! hash, so editing or deleting a stored event breaks every hash after it.
//!
//! An environment has [`LANES`] chains side by side. A transaction appends to
//! one of them, and holds that chain's head until it commits; with a single
//! chain every audited change of an environment would wait for the one before
//! it to reach the disk, on every node. Each lane is a complete chain.

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
    /// Which of the environment's chains the event is in.
    pub lane: i16,
    /// The event's place in its lane, from 1.
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

/// The number of chains (lanes) per environment: enough that concurrent
/// writers of one environment rarely meet at a head. Lanes run `0..LANES`;
/// changing the number keeps every stored chain valid.
pub const LANES: i16 = 8;

impl AuditEvent {
    /// Places a new event after `prev_hash` as number `seq` of chain `lane`.
    /// Time is kept to the microsecond, the precision both databases store, so
    /// the hash computed now matches the one recomputed from storage.
    pub fn chained(
        new: NewAuditEvent,
        environment_id: OrganizationId,
        lane: i16,
        seq: i64,
        prev_hash: String,
        now: DateTime<Utc>,
    ) -> AuditEvent {
        AuditEvent {
            id: AuditEventId::new(),
            environment_id,
            lane,
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

    /// SHA-256 over the previous hash and a canonical rendering of every field
    /// but the lane (moving an event to another lane breaks both chains).
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
    #[error("event {seq} of lane {lane} does not follow the event before it")]
    Link { lane: i16, seq: i64 },
    #[error("event {seq} of lane {lane} was altered after it was written")]
    Altered { lane: i16, seq: i64 },
    #[error("event {seq} of lane {lane} is missing")]
    Gap { lane: i16, seq: i64 },
}

/// Checks the chain of `lane`, given in order with each event's stored hash.
pub fn verify_chain<'a>(
    lane: i16,
    events: impl IntoIterator<Item = (&'a AuditEvent, &'a str)>,
) -> Result<(), ChainBroken> {
    let mut prev = GENESIS.to_owned();
    for (expected_seq, (event, stored_hash)) in (1..).zip(events) {
        if event.seq != expected_seq || event.lane != lane {
            return Err(ChainBroken::Gap {
                lane,
                seq: expected_seq,
            });
        }
        let seq = event.seq;
        if event.prev_hash != prev {
            return Err(ChainBroken::Link { lane, seq });
        }
        if event.hash() != stored_hash {
            return Err(ChainBroken::Altered { lane, seq });
        }
        prev = stored_hash.to_owned();
    }
    Ok(())
}

/// Every action an audit event names, in the order the audit log's filter
/// offers them. Recording any other is a mistake the debug build stops at.
pub const ACTIONS: &[&str] = &[
    "member.added",
    "member.updated",
    "member.roles_changed",
    "member.deactivated",
    "member.reactivated",
    "member.removed",
    "member.invitation_resent",
    "member.sessions_ended",
    "member.two_factor_reset",
    "member.joined_by_domain",
    "member.approved",
    "members.exported",
    "members.imported",
    "members.import_invited",
    "account.created",
    "account.activated",
    "account.updated",
    "account.password_changed",
    "account.password_reset",
    "account.signed_up",
    "account.two_factor_enabled",
    "account.two_factor_disabled",
    "account.recovery_code_used",
    "account.recovery_codes_renewed",
    "account.passkey_added",
    "account.passkey_renamed",
    "account.passkey_removed",
    "account.sessions_ended",
    "registration.added",
    "registration.set",
    "registration.checked",
    "registration.shared",
    "group.created",
    "group.updated",
    "group.deleted",
    "group.member_added",
    "group.member_removed",
    "role.created",
    "role.updated",
    "role.deleted",
    "resource.created",
    "resource.deleted",
    "resource.granted",
    "resource.revoked",
    "organization.created",
    "organization.updated",
    "api_token.created",
    "api_token.revoked",
    "portfolio_type.created",
    "portfolio.created",
    "portfolio.deactivated",
    "portfolio.completed",
    "portfolio.reactivated",
    "portfolio.transferred",
    "portfolio.transfer_requested",
    "portfolio.transfer_accepted",
    "portfolio.transfer_declined",
    "portfolio.transfer_withdrawn",
    "domain.claimed",
    "domain.verified",
    "domain.proof_mailed",
    "domain.removed",
];

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
                3,
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
        verify_chain(3, c.iter().map(|(e, h)| (e, h.as_str())))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn editing_an_event_is_detected() {
        let mut c = chain(5);
        c[2].0.changes = serde_json::json!({"name": {"before": "x", "after": "y"}});
        assert_eq!(verify(&c), Err(ChainBroken::Altered { lane: 3, seq: 3 }));
    }

    #[test]
    fn deleting_an_event_is_detected() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(ChainBroken::Gap { lane: 3, seq: 2 }));
    }

    #[test]
    fn an_event_moved_to_another_lane_is_missing_from_its_own() {
        let mut c = chain(3);
        c[1].0.lane = 4;
        assert_eq!(verify(&c), Err(ChainBroken::Gap { lane: 3, seq: 2 }));
    }

    #[test]
    fn rewriting_a_hash_breaks_the_next_link() {
        let mut c = chain(3);
        c[0].0.action = "organization.deleted".into();
        c[0].1 = c[0].0.hash();
        assert_eq!(verify(&c), Err(ChainBroken::Link { lane: 3, seq: 2 }));
    }
}
