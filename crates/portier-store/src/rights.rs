//! The news that rights changed. Every transaction that changes who holds
//! what in an environment (memberships, their roles, role definitions,
//! groups, resource grants, API tokens) says so with [`changed`]; once it
//! commits, this node's listeners hear it at once, and on PostgreSQL every
//! other node hears it too (`NOTIFY portier_rights`, sent by the commit).
//! Caches of rights (the check API's, docs/RULES.md#the-check-api) forget that
//! environment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portier_core::ids::{AccountId, OrganizationId};
use portier_core::organizations::OrgPath;
use portier_core::permissions::Permission;
use portier_core::rights::{CompiledRights, Relation};

use crate::{Backend, Result, Store, Tx, in_tx, reader};

/// The PostgreSQL channel on which commits announce changed environments.
pub const CHANNEL: &str = "portier_rights";

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Rights in this environment.
    Environment(OrganizationId),
    /// Possibly anything: the link that brings other nodes' news was down.
    Everything,
}

type Listener = Box<dyn Fn(Change) + Send + Sync>;

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
    /// Calls `listener` after every change (on this node: right after the
    /// commit; from other nodes: when their notification arrives).
    pub fn subscribe(&self, listener: impl Fn(Change) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(listener));
    }

    /// Tells every listener what changed.
    pub fn publish(&self, change: Change) {
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            listener(change);
        }
    }
}

/// Marks `environment`'s rights as changed by this transaction: once it
/// has committed, this node's listeners are told (an after-commit hook,
/// `db::AfterCommit`). On PostgreSQL the notification is also queued in the
/// transaction itself, so other nodes hear of it exactly when (and only if)
/// it commits.
pub(crate) async fn changed(tx: &mut Tx, environment: OrganizationId) -> Result<()> {
    let feed = Arc::clone(&tx.feed);
    let new = tx.after_commit.once("rights", environment.0, move || {
        feed.publish(Change::Environment(environment));
    });
    if !new {
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

/// Hears other nodes' changes for as long as the store lives (PostgreSQL's
/// `LISTEN portier_rights`) and tells this node's listeners. When the link
/// breaks, it says that everything may have changed (notifications sent
/// meanwhile are lost) and connects again. On SQLite there are no other
/// nodes: it returns at once.
pub async fn listen(store: &Store) {
    let crate::db::Db::Postgres { options, .. } = &store.db else {
        return;
    };
    let mut pause = Duration::from_millis(100);
    loop {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((**options).clone());
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(CHANNEL).await.is_ok() {
                    pause = Duration::from_millis(100);
                    // Anything may have changed while nobody listened.
                    store.feed.publish(Change::Everything);
                    // `try_recv` says when the link broke (and reconnects on
                    // the next call): what was sent meanwhile is lost.
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => match n.payload().parse::<OrganizationId>() {
                                Ok(env) => store.feed.publish(Change::Environment(env)),
                                Err(_) => store.feed.publish(Change::Everything),
                            },
                            Ok(None) => store.feed.publish(Change::Everything),
                            Err(_) => break,
                        }
                    }
                }
                store.feed.publish(Change::Everything);
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for rights changes; retrying"),
        }
        pool.close().await;
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// Compiles what `account` holds in `environment`: the permissions of its
/// active memberships' roles and their groups' roles, per organization, and
/// its relations on resources, directly and through groups. Nothing for a
/// deactivated membership or a disabled account.
pub async fn compile(
    store: &Store,
    account: AccountId,
    environment: OrganizationId,
) -> Result<CompiledRights> {
    let permissions: Vec<(String, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT o.path, rp.permission
             FROM memberships m JOIN accounts a ON a.id = m.account_id
             JOIN organizations o ON o.id = m.organization_id
             JOIN membership_roles mr ON mr.membership_id = m.id
             JOIN role_permissions rp ON rp.role_id = mr.role_id
             WHERE m.account_id = $1 AND o.environment_id = $2 AND m.active = TRUE AND a.disabled = FALSE
             UNION
             SELECT o.path, rp.permission
             FROM memberships m JOIN accounts a ON a.id = m.account_id
             JOIN organizations o ON o.id = m.organization_id
             JOIN group_members gm ON gm.membership_id = m.id
             JOIN group_roles gr ON gr.group_id = gm.group_id
             JOIN role_permissions rp ON rp.role_id = gr.role_id
             WHERE m.account_id = $1 AND o.environment_id = $2 AND m.active = TRUE AND a.disabled = FALSE",
        )
        .bind(account.0)
        .bind(environment.0)
        .fetch_all(c)
        .await
    })?;
    let relations: Vec<(String, String, String, String)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT ro.path, r.type, r.key, g.relation
             FROM resource_grants g JOIN resources r ON r.id = g.resource_id
             JOIN organizations ro ON ro.id = r.organization_id
             JOIN memberships m ON m.id = g.membership_id JOIN accounts a ON a.id = m.account_id
             WHERE m.account_id = $1 AND ro.environment_id = $2 AND m.active = TRUE AND a.disabled = FALSE
             UNION
             SELECT ro.path, r.type, r.key, g.relation
             FROM resource_grants g JOIN resources r ON r.id = g.resource_id
             JOIN organizations ro ON ro.id = r.organization_id
             JOIN group_members gm ON gm.group_id = g.group_id
             JOIN memberships m ON m.id = gm.membership_id JOIN accounts a ON a.id = m.account_id
             WHERE m.account_id = $1 AND ro.environment_id = $2 AND m.active = TRUE AND a.disabled = FALSE",
        )
        .bind(account.0)
        .bind(environment.0)
        .fetch_all(c)
        .await
    })?;
    let mut grants: BTreeMap<String, portier_core::permissions::PermissionSet> = BTreeMap::new();
    for (path, permission) in permissions {
        // A name that no longer parses grants nothing.
        if let Ok(p) = Permission::parse("permission", &permission) {
            grants.entry(path).or_default().insert(p);
        }
    }
    Ok(CompiledRights {
        grants: grants
            .into_iter()
            .map(|(path, set)| (OrgPath::from_stored(path), set))
            .collect(),
        relations: relations
            .into_iter()
            .map(|(path, resource_type, resource_key, relation)| Relation {
                path: OrgPath::from_stored(path),
                resource_type,
                resource_key,
                relation,
            })
            .collect(),
    })
}
