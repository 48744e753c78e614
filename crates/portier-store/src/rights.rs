//! The news that rights changed. Every transaction that changes who holds
//! what in an environment (memberships, their roles, role definitions,
//! groups, resource grants, API tokens) says so with [`changed`]; once it
//! commits, this node's listeners hear it at once, and on PostgreSQL every
//! other node hears it too (`NOTIFY portier_rights`, sent by the commit).
//! Caches of rights (the check API's, DESIGN §7) forget that environment.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use portier_core::ids::OrganizationId;

use crate::{Backend, Result, Tx, in_tx};

/// The PostgreSQL channel on which commits announce changed environments.
pub const CHANNEL: &str = "portier_rights";

type Listener = Box<dyn Fn(OrganizationId) + Send + Sync>;

/// Who is told when rights in an environment changed; shared by a store and
/// its clones.
#[derive(Default)]
pub struct RightsFeed {
    listeners: Mutex<Vec<Listener>>,
}

impl std::fmt::Debug for RightsFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RightsFeed")
    }
}

impl RightsFeed {
    /// Calls `listener` with the environment's id after every change there
    /// (on this node: right after the commit; from other nodes: when their
    /// notification arrives).
    pub fn subscribe(&self, listener: impl Fn(OrganizationId) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(listener));
    }

    /// Tells every listener that rights in `environment` changed.
    pub fn publish(&self, environment: OrganizationId) {
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            listener(environment);
        }
    }
}

/// Environments whose rights a transaction changed, announced when it commits.
#[derive(Debug, Default)]
pub(crate) struct Changed {
    pub environments: BTreeSet<OrganizationId>,
    pub feed: Arc<RightsFeed>,
}

/// Marks `environment`'s rights as changed by this transaction. On
/// PostgreSQL the notification is queued in the transaction itself, so other
/// nodes hear of it exactly when (and only if) it commits.
pub(crate) async fn changed(tx: &mut Tx, environment: OrganizationId) -> Result<()> {
    if !tx.changed.environments.insert(environment) {
        return Ok(());
    }
    if tx.backend() == Backend::Postgres {
        in_tx!(tx, |c| {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(environment.to_string())
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}
