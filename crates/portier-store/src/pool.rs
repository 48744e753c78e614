//! Portier's own connection pool, for both backends.
//!
//! sqlx's pool checks every connection it gets back with a ping before anyone
//! may use it again: a `Sync` round trip on PostgreSQL, a hop through the
//! connection's thread on SQLite. That doubles the round trips of a
//! one-statement read or write (a sign-in is two statements, so four round
//! trips). Here a connection whose last use ran to its end goes straight back
//! to the idle list; one left inside a transaction (an error path that never
//! committed) is rolled back and checked in the background first, as sqlx
//! does for every one; and one cut off mid-use (a request cancelled during a
//! statement, a broken link) is closed, never reused.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Connection, Database};
use sqlx_core::transaction::TransactionManager;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long the rollback of an abandoned transaction may take before its
/// connection is given up (a link that went silent would hold it forever).
const ROLLBACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How a pool behaves.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Connections open at most, idle and in use together.
    pub max: u32,
    /// How long `acquire` waits for a connection before giving up.
    pub acquire_timeout: Duration,
    /// A connection idle at least this long is pinged before it serves
    /// again: a restarted server or a proxy may have cut it meanwhile.
    /// `None` for a local file, which cannot go stale.
    pub ping_when_idle_for: Option<Duration>,
    /// An idle connection unused this long is closed rather than reused.
    pub idle_timeout: Duration,
    /// A connection is closed once it is this old, so server-side state
    /// (caches, memory) never grows without bound.
    pub max_lifetime: Duration,
}

impl Settings {
    pub(crate) fn new(max: u32) -> Settings {
        Settings {
            max,
            acquire_timeout: Duration::from_secs(10),
            ping_when_idle_for: None,
            idle_timeout: Duration::from_secs(10 * 60),
            max_lifetime: Duration::from_secs(30 * 60),
        }
    }
}

/// A pool of connections to one database; cheap to clone.
pub(crate) struct Pool<DB: Database> {
    inner: Arc<Inner<DB>>,
}

impl<DB: Database> Clone for Pool<DB> {
    fn clone(&self) -> Self {
        Pool {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Pool<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("idle", &self.num_idle())
            .field("settings", &self.inner.settings)
            .finish()
    }
}

struct Inner<DB: Database> {
    options: <DB::Connection as Connection>::Options,
    settings: Settings,
    /// Most recently returned last: the next use takes the warmest one.
    idle: Mutex<Vec<Idle<DB>>>,
    /// One permit per connection that may be in use.
    permits: Arc<Semaphore>,
    /// Connections open; each `Live` counts itself out when it is dropped.
    open: Arc<AtomicU32>,
    closed: AtomicBool,
}

impl<DB: Database> Inner<DB> {
    fn idle(&self) -> MutexGuard<'_, Vec<Idle<DB>>> {
        // Nothing panics while holding the lock (a push or a pop), so a
        // poisoned lock still guards a sound list.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a connection that is between statements on the idle list, or
    /// closes it when it is too old or the pool is closing.
    fn put_back(&self, live: Live<DB>) {
        let mut idle = self.idle();
        // Under the lock, so a connection never lands on the list of a pool
        // that `close` has already emptied.
        if self.closed.load(Ordering::Acquire) || live.born.elapsed() >= self.settings.max_lifetime
        {
            drop(idle);
            live.close_in_background();
            return;
        }
        // The list is last in, first out: the oldest idle connection is at
        // the bottom and would never be looked at again; it goes when its
        // time is up.
        let stale = idle.first().is_some_and(|oldest| {
            oldest.since.elapsed() >= self.settings.idle_timeout
                || oldest.live.born.elapsed() >= self.settings.max_lifetime
        });
        let expired = stale.then(|| idle.remove(0));
        idle.push(Idle {
            live,
            since: Instant::now(),
        });
        drop(idle);
        if let Some(Idle { live, .. }) = expired {
            live.close_in_background();
        }
    }
}

/// An open connection, counted while it exists.
struct Live<DB: Database> {
    conn: DB::Connection,
    born: Instant,
    _counted: Counted,
}

impl<DB: Database> Live<DB> {
    /// Says goodbye to the server (a `Terminate` message on PostgreSQL)
    /// without making anyone wait for it.
    fn close_in_background(self) {
        let Live { conn, _counted, .. } = self;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = conn.close().await;
                drop(_counted);
            });
        }
    }
}

/// Counts a connection out of the pool's total when it goes, however it goes.
struct Counted(Arc<AtomicU32>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

struct Idle<DB: Database> {
    live: Live<DB>,
    since: Instant,
}

impl<DB: Database> Pool<DB> {
    /// A pool that opens connections with `options` when it needs them.
    pub(crate) fn new(
        options: <DB::Connection as Connection>::Options,
        settings: Settings,
    ) -> Self {
        Pool {
            inner: Arc::new(Inner {
                options,
                permits: Arc::new(Semaphore::new(settings.max as usize)),
                settings,
                idle: Mutex::new(Vec::new()),
                open: Arc::new(AtomicU32::new(0)),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// A pool with one connection opened at once, so a wrong address or
    /// password is reported when the store is opened, not at first use.
    pub(crate) async fn connect(
        options: <DB::Connection as Connection>::Options,
        settings: Settings,
    ) -> Result<Self, sqlx::Error> {
        let pool = Pool::new(options, settings);
        pool.acquire().await?;
        Ok(pool)
    }

    /// A connection for one use or one transaction; waits while all are in
    /// use, up to the acquire timeout.
    pub(crate) async fn acquire(&self) -> Result<Conn<DB>, sqlx::Error> {
        match tokio::time::timeout(self.inner.settings.acquire_timeout, self.acquire_now()).await {
            Ok(conn) => conn,
            Err(_) => Err(sqlx::Error::PoolTimedOut),
        }
    }

    /// A connection if one is free now, without waiting: for work that can
    /// do with fewer connections (and must not hold some while it waits for
    /// more, which two such works would do for ever).
    pub(crate) async fn try_acquire(&self) -> Option<Result<Conn<DB>, sqlx::Error>> {
        let permit = Arc::clone(&self.inner.permits).try_acquire_owned().ok()?;
        Some(self.acquire_with(permit).await)
    }

    async fn acquire_now(&self) -> Result<Conn<DB>, sqlx::Error> {
        let permit = Arc::clone(&self.inner.permits)
            .acquire_owned()
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        self.acquire_with(permit).await
    }

    /// A connection for `permit`: an idle one, or a new one.
    async fn acquire_with(&self, permit: OwnedSemaphorePermit) -> Result<Conn<DB>, sqlx::Error> {
        let inner = &self.inner;
        loop {
            let next = inner.idle().pop();
            let Some(Idle { mut live, since }) = next else {
                break;
            };
            let idle_for = since.elapsed();
            if idle_for >= inner.settings.idle_timeout
                || live.born.elapsed() >= inner.settings.max_lifetime
            {
                live.close_in_background();
                continue;
            }
            if inner
                .settings
                .ping_when_idle_for
                .is_some_and(|after| idle_for >= after)
                && live.conn.ping().await.is_err()
            {
                // Gone while idle: dropping it closes what is left.
                continue;
            }
            return Ok(self.hand_out(live, permit));
        }
        let conn = inner.options.connect().await?;
        inner.open.fetch_add(1, Ordering::AcqRel);
        let live = Live {
            conn,
            born: Instant::now(),
            _counted: Counted(Arc::clone(&inner.open)),
        };
        Ok(self.hand_out(live, permit))
    }

    fn hand_out(&self, live: Live<DB>, permit: OwnedSemaphorePermit) -> Conn<DB> {
        Conn {
            live: Some(live),
            permit: Some(permit),
            pool: Arc::clone(&self.inner),
            settled: true,
        }
    }

    /// Connections open, idle and in use.
    pub(crate) fn size(&self) -> u32 {
        self.inner.open.load(Ordering::Acquire)
    }

    pub(crate) fn num_idle(&self) -> usize {
        self.inner.idle().len()
    }

    /// Closes the idle connections and every one handed back from now on;
    /// `acquire` fails from now on.
    pub(crate) async fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.permits.close();
        let idle = std::mem::take(&mut *self.inner.idle());
        for Idle { live, .. } in idle {
            let Live { conn, _counted, .. } = live;
            let _ = conn.close().await;
        }
    }
}

/// A connection taken from the pool; it goes back when dropped.
pub(crate) struct Conn<DB: Database> {
    /// Present from `acquire` until the drop.
    live: Option<Live<DB>>,
    /// Released after the connection is back (or, for one that needs a
    /// check, after the check), so the pool never opens more than `max`.
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<Inner<DB>>,
    /// The last use ran to its end as the server answered: the connection
    /// is between statements.
    settled: bool,
}

impl<DB: Database> Conn<DB> {
    /// The connection, for one use that [`Conn::settle`] ends. `None` never
    /// happens while the `Conn` is held; callers answer it as a closed pool.
    pub(crate) fn get(&mut self) -> Option<&mut DB::Connection> {
        self.settled = false;
        self.live.as_mut().map(|l| &mut l.conn)
    }

    /// Ends a use begun with [`Conn::get`]: the connection is between
    /// statements when the use ended with an answer from the server (rows,
    /// none, or an error the server reported), not when the link failed.
    pub(crate) fn settle<T>(&mut self, outcome: &Result<T, sqlx::Error>) {
        self.settled = match outcome {
            Ok(_) => true,
            Err(e) => answered_by_server(e),
        };
    }

    /// Runs `BEGIN` (or `statement`, e.g. SQLite's `BEGIN IMMEDIATE`).
    pub(crate) async fn begin(
        &mut self,
        statement: Option<&'static str>,
    ) -> Result<(), sqlx::Error> {
        let Some(conn) = self.get() else {
            return Err(sqlx::Error::PoolClosed);
        };
        let statement = statement.map(sqlx::SqlSafeStr::into_sql_str);
        let outcome = DB::TransactionManager::begin(conn, statement).await;
        self.settle(&outcome);
        outcome
    }

    pub(crate) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        let Some(conn) = self.get() else {
            return Err(sqlx::Error::PoolClosed);
        };
        let outcome = DB::TransactionManager::commit(conn).await;
        self.settle(&outcome);
        outcome
    }
}

/// Errors after which the connection is still in step with the server.
fn answered_by_server(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Database(_)
            | sqlx::Error::RowNotFound
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
    )
}

impl<DB: Database> Drop for Conn<DB> {
    fn drop(&mut self) {
        let Some(mut live) = self.live.take() else {
            return;
        };
        let permit = self.permit.take();
        if !self.settled {
            // Cut off mid-statement (a cancelled request) or after a broken
            // link: what the server thinks of it is unknown. A `BEGIN` cut
            // off, say, leaves the server in a transaction the client does
            // not know of (sqlx counts it only once answered). It is closed,
            // never reused; the next use opens a fresh one.
            live.close_in_background();
            drop(permit);
            return;
        }
        if !live.conn.is_in_transaction() {
            self.pool.put_back(live);
            drop(permit);
            return;
        }
        // A transaction that never committed (an error path's `?`): rolled
        // back now, so its locks do not wait for the connection's next use,
        // and checked before anyone else gets it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = Arc::clone(&self.pool);
        runtime.spawn(async move {
            DB::TransactionManager::start_rollback(&mut live.conn);
            let done = tokio::time::timeout(ROLLBACK_TIMEOUT, live.conn.ping()).await;
            if matches!(done, Ok(Ok(()))) && !live.conn.is_in_transaction() {
                pool.put_back(live);
            }
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::postgres::PgConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;

    use super::{Pool, Settings};
    use crate::{both_backends, relaxed, use_conn, with_conn};

    /// A pool of one connection on the test's database, beside the store's,
    /// with the statement that keeps the database busy for about a second.
    macro_rules! with_tiny_pool {
        ($db:expr, $settings:expr, |$pool:ident, $slow:ident| $body:block) => {
            match $db.store.backend() {
                crate::Backend::Sqlite => {
                    let path = $db.url.trim_start_matches("sqlite://");
                    let options = SqliteConnectOptions::new().filename(path);
                    let $pool = Pool::<sqlx::Sqlite>::new(options, $settings);
                    let $slow = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000000) SELECT COUNT(*) FROM n";
                    $body
                }
                crate::Backend::Postgres => {
                    let options = PgConnectOptions::from_str(&$db.url).unwrap();
                    let $pool = Pool::<sqlx::Postgres>::new(options, $settings);
                    let $slow = "SELECT CAST(1 AS BIGINT) FROM pg_sleep(1)";
                    $body
                }
            }
        };
    }

    both_backends! {
        async fn a_connection_that_ran_to_its_end_is_idle_again_at_once(db) {
            let store = &db.store;
            let one: i64 = crate::reader!(store, |c| sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(c).await).unwrap();
            assert_eq!(one, 1);
            // No check in the background first: back before anything else runs.
            let state = store.pool_state();
            assert_eq!(state.idle, state.size as usize, "{state:?}");
        }

        async fn a_statement_cut_off_midway_leaves_nothing_behind_for_the_next_use(db) {
            with_tiny_pool!(db, Settings::new(1), |pool, slow| {
                let cut = tokio::time::timeout(
                    Duration::from_millis(100),
                    async { with_conn!(pool, |c| sqlx::query_scalar::<_, i64>(slow).fetch_one(c).await) },
                )
                .await;
                assert!(cut.is_err(), "the slow statement was cut off");
                // The connection cut off is closed, not reused: the next use
                // gets a fresh one, which answers the new question.
                let answer: i64 = with_conn!(pool, |c| sqlx::query_scalar("SELECT CAST(42 AS BIGINT)").fetch_one(c).await).unwrap();
                assert_eq!(answer, 42);
                // (SQLite's closes once its thread has finished the statement.)
                for _ in 0..500 {
                    if pool.size() == 1 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(pool.size(), 1, "the old one is gone");
            })
        }

        async fn a_begin_cut_off_never_leaves_a_transaction_open_on_a_reused_connection(db) {
            if db.store.backend() == crate::Backend::Postgres {
                let options = PgConnectOptions::from_str(&db.url).unwrap();
                let pool = Pool::<sqlx::Postgres>::new(options, Settings::new(1));
                let pid = || async {
                    with_conn!(pool, |c| sqlx::query_scalar::<_, i32>("SELECT pg_backend_pid()").fetch_one(c).await).unwrap()
                };
                let before = pid().await;
                // A BEGIN whose answer is slow to come, cut off while waiting:
                // the server is in a transaction the client never counted.
                let cut = tokio::time::timeout(Duration::from_millis(100), async {
                    let mut conn = pool.acquire().await.unwrap();
                    conn.begin(Some("BEGIN; SELECT pg_sleep(1)")).await
                })
                .await;
                assert!(cut.is_err(), "cut off");
                assert_ne!(pid().await, before, "that connection is closed, not handed out again");
            }
        }

        async fn acquire_waits_for_a_free_connection_then_gives_up(db) {
            let settings = Settings { acquire_timeout: Duration::from_millis(200), ..Settings::new(1) };
            with_tiny_pool!(db, settings, |pool, _slow| {
                let held = pool.acquire().await.unwrap();
                assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolTimedOut)));
                drop(held);
                let mut again = pool.acquire().await.unwrap();
                let one: i64 = use_conn!(&mut again, |c| sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(c).await).unwrap();
                assert_eq!(one, 1);
                assert_eq!(pool.size(), 1, "never more than the maximum");
                drop(again);
                pool.close().await;
                assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)));
                assert_eq!(pool.size(), 0);
            })
        }

        async fn try_acquire_takes_only_a_free_connection(db) {
            with_tiny_pool!(db, Settings::new(2), |pool, _slow| {
                let first = pool.acquire().await.unwrap();
                let mut second = pool.try_acquire().await.expect("one is free").unwrap();
                assert!(pool.try_acquire().await.is_none(), "both in use: no waiting");
                let one: i64 = use_conn!(&mut second, |c| sqlx::query_scalar("SELECT CAST(1 AS BIGINT)").fetch_one(c).await).unwrap();
                assert_eq!(one, 1);
                drop(first);
                assert!(pool.try_acquire().await.is_some(), "free again");
                assert_eq!(pool.size(), 2);
            })
        }

        async fn a_connection_idle_past_its_time_is_closed_not_reused(db) {
            let settings = Settings { idle_timeout: Duration::ZERO, ..Settings::new(2) };
            with_tiny_pool!(db, settings, |pool, _slow| {
                drop(pool.acquire().await.unwrap());
                assert_eq!(pool.num_idle(), 1);
                let _fresh = pool.acquire().await.unwrap();
                assert_eq!(pool.num_idle(), 0);
                // The old one is closed in the background; the fresh one stays.
                for _ in 0..100 {
                    if pool.size() == 1 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(pool.size(), 1);
            })
        }

        async fn a_transaction_dropped_without_commit_is_rolled_back_and_lets_go_of_its_locks(db) {
            let store = &db.store;
            let insert = "INSERT INTO throttles (key, count, window_start) VALUES ('pool-test', 1, CURRENT_TIMESTAMP)";
            {
                let mut tx = store.begin().await.unwrap();
                crate::in_tx!(&mut tx, |c| sqlx::query(insert).execute(c).await.map(|r| r.rows_affected())).unwrap();
                // Dropped here, as an error path's `?` drops it.
            }
            // Another connection writes the same key: it would wait on the
            // first transaction's row (PostgreSQL) or write lock (SQLite)
            // for as long as that one stayed open.
            let written = tokio::time::timeout(
                Duration::from_secs(5),
                async { relaxed!(store, |c| sqlx::query(insert).execute(c).await.map(|r| r.rows_affected())) },
            )
            .await
            .expect("the dropped transaction no longer holds its locks")
            .expect("the key is free: the first insert was rolled back");
            assert_eq!(written, 1);
        }

        async fn relaxed_writes_do_not_wait_for_the_disk_on_postgresql(db) {
            let store = &db.store;
            if store.backend() == crate::Backend::Postgres {
                let setting = |relaxed: bool| async move {
                    let sql = "SELECT current_setting('synchronous_commit')";
                    if relaxed {
                        relaxed!(store, |c| sqlx::query_scalar::<_, String>(sql).fetch_one(c).await).unwrap()
                    } else {
                        crate::writer!(store, |c| sqlx::query_scalar::<_, String>(sql).fetch_one(c).await).unwrap()
                    }
                };
                assert_eq!(setting(true).await, "off");
                assert_eq!(setting(false).await, "on", "every other write waits for the disk");
            }
        }
    }
}
