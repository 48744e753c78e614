//! What this node remembers about rights, so that the check API and API-token
//! requests run no SQL (docs/RULES.md#the-check-api): each account's compiled
//! rights per environment, API tokens by their hash, and organizations'
//! places in the tree.
//!
//! How an answer stays right when rights change:
//! - on this node, the transaction that changes them makes this cache forget
//!   that environment as soon as it commits (`portier_store::rights`);
//! - on other nodes (PostgreSQL), its commit notifies every node listening
//!   (`LISTEN portier_rights`), which forgets at once; while that link is
//!   down, a node forgets everything it knew when it comes back;
//! - whatever else happens (a `portier` command changing an SQLite file the
//!   server has open, a lost notification), nothing is used longer than
//!   [`MAX_AGE`] after it was read: no grant outlives its removal by more.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use portier_core::ids::{AccountId, ApiTokenId, OrganizationId};
use portier_core::organizations::OrgPath;
use portier_core::rights::{CompiledRights, Principal};
use portier_store::Store;
use portier_store::rights::Change;

/// The longest anything read from the database is used without reading it
/// again, by default: the bound on a stale answer when no notification
/// arrives (`ServerConfig::rights_max_age`).
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// How often a token's last-used time is written at most.
const TOUCH_EVERY_SECONDS: i64 = 60;

/// Entries kept before old ones are swept out.
const MAX_ENTRIES: usize = 100_000;

/// What one token stands for, and when it was last written as used.
pub struct TokenEntry {
    pub id: ApiTokenId,
    pub principal: Principal,
    pub expires_at: Option<DateTime<Utc>>,
    touched: AtomicI64,
}

struct Entry<T> {
    value: T,
    loaded: Instant,
    stamp: Stamp,
}

/// The generation of the environment (and of "everything") an entry was read
/// in; a change moves it on, and entries of an older one are not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    everything: u64,
    environment: u64,
}

#[derive(Default)]
struct State {
    /// Moves on with every change, wherever it was.
    changes: u64,
    everything: u64,
    environments: HashMap<OrganizationId, u64>,
    accounts: HashMap<(AccountId, OrganizationId), Entry<Arc<CompiledRights>>>,
    tokens: HashMap<String, Entry<Arc<TokenEntry>>>,
    /// An organization's path never changes once made.
    organizations: HashMap<OrganizationId, OrgPath>,
}

impl State {
    fn stamp(&self, environment: OrganizationId) -> Stamp {
        Stamp {
            everything: self.everything,
            environment: self.environments.get(&environment).copied().unwrap_or(0),
        }
    }

    fn fresh<T>(&self, entry: &Entry<T>, environment: OrganizationId, max_age: Duration) -> bool {
        entry.loaded.elapsed() < max_age && entry.stamp == self.stamp(environment)
    }

    /// Keeps the maps bounded: past the limit, what is too old to use goes.
    fn sweep(&mut self, max_age: Duration) {
        if self.accounts.len() > MAX_ENTRIES {
            self.accounts.retain(|_, e| e.loaded.elapsed() < max_age);
        }
        if self.tokens.len() > MAX_ENTRIES {
            self.tokens.retain(|_, e| e.loaded.elapsed() < max_age);
        }
        if self.organizations.len() > MAX_ENTRIES {
            self.organizations.clear();
        }
    }
}

pub struct RightsCache {
    state: RwLock<State>,
    max_age: Duration,
}

impl RightsCache {
    /// A cache that forgets what `store`'s changes touch, and anything older
    /// than `max_age`.
    pub fn for_store(store: &Store, max_age: Duration) -> Arc<RightsCache> {
        let cache = Arc::new(RightsCache {
            state: RwLock::default(),
            max_age,
        });
        let weak = Arc::downgrade(&cache);
        store.rights_feed().subscribe(move |change| {
            if let Some(cache) = weak.upgrade() {
                cache.forget(change);
            }
        });
        cache
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn forget(&self, change: Change) {
        let mut state = self.write();
        state.changes += 1;
        match change {
            Change::Environment(env) => *state.environments.entry(env).or_default() += 1,
            Change::Everything => state.everything += 1,
        }
    }

    /// What `account` holds in `environment`.
    pub async fn account_rights(
        &self,
        store: &Store,
        account: AccountId,
        environment: OrganizationId,
    ) -> portier_store::Result<Arc<CompiledRights>> {
        let stamp = {
            let state = self.read();
            if let Some(e) = state.accounts.get(&(account, environment))
                && state.fresh(e, environment, self.max_age)
            {
                return Ok(Arc::clone(&e.value));
            }
            state.stamp(environment)
        };
        let loaded = Instant::now();
        let rights = Arc::new(portier_store::rights::compile(store, account, environment).await?);
        let mut state = self.write();
        // A change that committed while this was read makes it old news.
        if state.stamp(environment) == stamp {
            state.sweep(self.max_age);
            state.accounts.insert(
                (account, environment),
                Entry {
                    value: Arc::clone(&rights),
                    loaded,
                    stamp,
                },
            );
        }
        Ok(rights)
    }

    /// Where an organization stands in the tree, or `None` when there is no
    /// such organization.
    pub async fn organization(
        &self,
        store: &Store,
        id: OrganizationId,
    ) -> portier_store::Result<Option<OrgPath>> {
        if let Some(path) = self.read().organizations.get(&id) {
            return Ok(Some(path.clone()));
        }
        let Some(org) = portier_store::organizations::get(store, id).await? else {
            return Ok(None);
        };
        let mut state = self.write();
        state.sweep(self.max_age);
        state.organizations.insert(id, org.path.clone());
        Ok(Some(org.path))
    }

    /// The principal a presented API token stands for, or `None` when it is
    /// unknown, revoked or expired. Its last-used time is written at most
    /// once a minute, after the answer.
    pub async fn token(
        &self,
        store: &Store,
        presented: &str,
        now: DateTime<Utc>,
    ) -> portier_store::Result<Option<Principal>> {
        let hash = portier_store::api_tokens::hash_of(presented);
        let cached = {
            let state = self.read();
            state.tokens.get(&hash).and_then(|e| {
                let env = token_environment(&e.value.principal)?;
                state
                    .fresh(e, env, self.max_age)
                    .then(|| Arc::clone(&e.value))
            })
        };
        let entry = match cached {
            Some(entry) => entry,
            None => {
                // Which environment the token belongs to is known only
                // after the read: any change meanwhile makes it old news.
                let before = self.read().changes;
                let loaded = Instant::now();
                let Some(found) =
                    portier_store::api_tokens::authenticate(store, presented, now).await?
                else {
                    return Ok(None);
                };
                let entry = Arc::new(TokenEntry {
                    id: found.id,
                    principal: found.principal,
                    expires_at: found.expires_at,
                    // From the stored time: a fresh read (every max age)
                    // does not write again within the minute.
                    touched: AtomicI64::new(found.last_used_at.map_or(i64::MIN, |t| t.timestamp())),
                });
                if let Some(env) = token_environment(&entry.principal) {
                    let mut state = self.write();
                    if state.changes == before {
                        let stamp = state.stamp(env);
                        state.sweep(self.max_age);
                        state.tokens.insert(
                            hash,
                            Entry {
                                value: Arc::clone(&entry),
                                loaded,
                                stamp,
                            },
                        );
                    }
                }
                entry
            }
        };
        if entry.expires_at.is_some_and(|e| e <= now) {
            return Ok(None);
        }
        let second = now.timestamp();
        let last = entry.touched.load(Ordering::Relaxed);
        if second.saturating_sub(last) >= TOUCH_EVERY_SECONDS
            && entry
                .touched
                .compare_exchange(last, second, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let (store, id) = (store.clone(), entry.id);
            tokio::spawn(async move {
                if let Err(e) = portier_store::api_tokens::touch(&store, id, now).await {
                    tracing::warn!(error = %e, "cannot write a token's last use");
                }
            });
        }
        Ok(Some(entry.principal.clone()))
    }
}

fn token_environment(principal: &Principal) -> Option<OrganizationId> {
    principal
        .grants
        .first()
        .and_then(|g| g.path.environment_id())
}
