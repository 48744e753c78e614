//! Connections and transactions. SQLite runs in WAL mode with one writer
//! connection and several readers, so that reads never wait for a write;
//! PostgreSQL uses one pool, and a small second one for writes that are not
//! worth waiting for the disk (see `relaxed!`). Connections come from
//! Portier's own pool (`crate::pool`). The `reader!`, `writer!` and
//! `in_tx!` macros run one query body against whichever backend is
//! configured, so the SQL and its bindings are written once.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Postgres, Sqlite};

use crate::pool::{Conn, Pool, Settings};
use crate::rights::RightsFeed;
use crate::{Error, Result};

pub(crate) static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/sqlite");
pub(crate) static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("./migrations/postgres");

/// A PostgreSQL connection idle this long is pinged before it is used again.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub(crate) enum Db {
    Sqlite {
        read: Pool<Sqlite>,
        write: Pool<Sqlite>,
    },
    Postgres {
        pool: Pool<Postgres>,
        /// Connections whose commits do not wait for the disk
        /// (`synchronous_commit = off`), for [`relaxed!`] writes only.
        relaxed: Pool<Postgres>,
        /// For the connection that listens for other nodes' changes.
        options: Box<PgConnectOptions>,
    },
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
    /// Told when a transaction that changed rights commits.
    pub(crate) feed: Arc<RightsFeed>,
}

/// One transaction on either backend.
pub struct Tx {
    pub(crate) conn: TxConn,
    /// The audit lane this transaction appends to, drawn at its start: one
    /// per transaction, so two transactions never wait for each other's
    /// heads in opposite order (`portier_core::audit::LANES`).
    pub(crate) audit_lane: i16,
    /// What to do once this transaction has committed, and only then.
    pub(crate) after_commit: AfterCommit,
    /// The store's listeners, for the hooks that tell them something.
    pub(crate) feed: Arc<RightsFeed>,
}

/// The work a transaction leaves for after its commit (telling this node's
/// caches what changed, for one), each piece once per key; none of it runs
/// when the transaction rolls back.
#[derive(Default)]
pub(crate) struct AfterCommit {
    keys: std::collections::BTreeSet<(&'static str, uuid::Uuid)>,
    hooks: Vec<Box<dyn FnOnce() + Send>>,
}

impl AfterCommit {
    /// Leaves `hook` for after the commit, unless one of the same `kind`
    /// and `key` was left already; whether it was new.
    pub(crate) fn once(
        &mut self,
        kind: &'static str,
        key: uuid::Uuid,
        hook: impl FnOnce() + Send + 'static,
    ) -> bool {
        if !self.keys.insert((kind, key)) {
            return false;
        }
        self.hooks.push(Box::new(hook));
        true
    }
}

pub(crate) enum TxConn {
    Sqlite(Conn<Sqlite>),
    Postgres(Conn<Postgres>),
}

/// Connection counts for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub size: u32,
    pub idle: usize,
}

/// Runs `$body` with `$c` bound to the connection of `$conn` (a
/// [`crate::pool::Conn`]), and tells the connection how the use ended.
macro_rules! use_conn {
    ($conn:expr, |$c:ident| $body:expr) => {{
        let conn = $conn;
        match conn.get() {
            None => Err(sqlx::Error::PoolClosed),
            Some($c) => {
                let outcome = $body;
                conn.settle(&outcome);
                outcome
            }
        }
    }};
}
pub(crate) use use_conn;

/// Runs `$body` with `$c` bound to a connection taken from `$pool` (a
/// [`crate::pool::Pool`]) for this one use.
macro_rules! with_conn {
    ($pool:expr, |$c:ident| $body:expr) => {
        match $pool.acquire().await {
            Err(e) => Err(e),
            Ok(mut conn) => $crate::use_conn!(&mut conn, |$c| $body),
        }
    };
}
pub(crate) use with_conn;

/// Runs `$body` with `$c` bound to a connection of the configured backend's
/// pool named for it: `$sqlite` on SQLite, `$postgres` on PostgreSQL.
macro_rules! on_pool {
    ($store:expr, $sqlite:ident, $postgres:ident, |$c:ident| $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite { $sqlite: pool, .. } => $crate::with_conn!(pool, |$c| $body),
            $crate::db::Db::Postgres {
                $postgres: pool, ..
            } => {
                $crate::with_conn!(pool, |$c| $body)
            }
        }
    };
}
pub(crate) use on_pool;

/// A value bound to a query put together at run time ([`bind_all!`]).
pub(crate) enum Arg {
    Id(uuid::Uuid),
    Text(String),
    Int(i64),
    Bool(bool),
    OptId(Option<uuid::Uuid>),
    OptText(Option<String>),
    Time(chrono::DateTime<chrono::Utc>),
    Json(serde_json::Value),
    /// Bound as [`IdList`].
    Ids(Vec<uuid::Uuid>),
}

/// Ids kept together in one column: a `UUID[]` on PostgreSQL, their 16
/// bytes each end to end in a `BLOB` on SQLite, which has no arrays. One
/// type for both, so a statement that writes such a column is written once.
pub(crate) struct IdList<'a>(pub &'a [uuid::Uuid]);

impl sqlx::Type<Postgres> for IdList<'_> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <Vec<uuid::Uuid> as sqlx::Type<Postgres>>::type_info()
    }
}

impl sqlx::Encode<'_, Postgres> for IdList<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&[uuid::Uuid] as sqlx::Encode<Postgres>>::encode(self.0, buf)
    }
}

impl sqlx::Type<Sqlite> for IdList<'_> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <Vec<u8> as sqlx::Type<Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, Sqlite> for IdList<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> std::result::Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        let bytes: Vec<u8> = self.0.iter().flat_map(|id| *id.as_bytes()).collect();
        <Vec<u8> as sqlx::Encode<Sqlite>>::encode(bytes, buf)
    }
}

/// Binds each of `$args` (a sequence of [`Arg`]) to `$query`, in order.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for a in $args {
            query = match a {
                $crate::db::Arg::Id(v) => query.bind(*v),
                $crate::db::Arg::Text(v) => query.bind(v.as_str()),
                $crate::db::Arg::Int(v) => query.bind(*v),
                $crate::db::Arg::Bool(v) => query.bind(*v),
                $crate::db::Arg::OptId(v) => query.bind(*v),
                $crate::db::Arg::OptText(v) => query.bind(v.as_deref()),
                $crate::db::Arg::Time(v) => query.bind(*v),
                $crate::db::Arg::Json(v) => query.bind(sqlx::types::Json(v)),
                $crate::db::Arg::Ids(v) => query.bind($crate::db::IdList(v)),
            };
        }
        query
    }};
}
pub(crate) use bind_all;

/// Runs `$body` with `$c` bound to a reader connection of the configured backend.
macro_rules! reader {
    ($store:expr, |$c:ident| $body:expr) => {
        $crate::on_pool!($store, read, pool, |$c| $body)
    };
}
pub(crate) use reader;

/// Runs `$body` with `$c` bound to a writer connection: for one statement
/// that is a whole change by itself (its own implicit transaction), saving
/// the round trips of `BEGIN` and `COMMIT`.
macro_rules! writer {
    ($store:expr, |$c:ident| $body:expr) => {
        $crate::on_pool!($store, write, pool, |$c| $body)
    };
}
pub(crate) use writer;

/// Like [`writer!`], for a write whose loss in a database crash costs
/// nothing worth a disk flush: a new session (its holder signs in again), a
/// session's last-seen time, a throttle counter. On PostgreSQL its commit
/// does not wait for the write-ahead log to reach the disk
/// (`synchronous_commit = off`): it is visible at once, durable a fraction
/// of a second later, and a crash in between loses it (never half of it, and
/// never a later ordinary commit). SQLite in WAL mode with
/// `synchronous = NORMAL` commits every write this way already.
macro_rules! relaxed {
    ($store:expr, |$c:ident| $body:expr) => {
        $crate::on_pool!($store, write, relaxed, |$c| $body)
    };
}
pub(crate) use relaxed;

/// Where a read runs: on one of the store's reader connections, or inside a
/// transaction, where it sees the transaction's own writes and holds its
/// locks. A read written once with [`on!`] serves both: pass `&store` or
/// `&mut tx`.
pub enum On<'a> {
    Store(&'a Store),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Store> for On<'a> {
    fn from(store: &'a Store) -> Self {
        On::Store(store)
    }
}

impl<'a> From<&'a mut Tx> for On<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        On::Tx(tx)
    }
}

impl On<'_> {
    /// The same place again, for the next statement of a read.
    pub fn again(&mut self) -> On<'_> {
        match self {
            On::Store(store) => On::Store(store),
            On::Tx(tx) => On::Tx(tx),
        }
    }
}

/// Runs `$body` with `$c` bound to a connection of `$on` (an [`On`]): a
/// reader connection of the store, or the transaction's.
macro_rules! on {
    ($on:expr, |$c:ident| $body:expr) => {
        match $on {
            $crate::db::On::Store(store) => $crate::reader!(store, |$c| $body),
            $crate::db::On::Tx(tx) => $crate::in_tx!(tx, |$c| $body),
        }
    };
}
pub(crate) use on;

/// Runs `$body` with `$c` bound to the connection of transaction `$tx`.
macro_rules! in_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut ($tx).conn {
            $crate::db::TxConn::Sqlite(conn) => $crate::use_conn!(conn, |$c| $body),
            $crate::db::TxConn::Postgres(conn) => $crate::use_conn!(conn, |$c| $body),
        }
    };
}
pub(crate) use in_tx;

impl Store {
    /// Opens `sqlite://PATH` (creating the file and its folder) or
    /// `postgres://…`. Does not migrate.
    pub async fn connect(url: &str) -> Result<Store> {
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Self::connect_sqlite(Path::new(path)).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            Err(Error::UnsupportedUrl(url.to_owned()))
        }
    }

    async fn connect_sqlite(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Database(sqlx::Error::Configuration(
                    format!("cannot create {}: {e}", dir.display()).into(),
                ))
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // Pages are read through a memory map rather than copied in
            // by a system call each: a search at 100,000 members touches
            // a few thousand index pages, more than the default 2 MB page
            // cache holds. The map is address space; only pages read count
            // as memory, and the kernel may drop them again.
            .pragma("mmap_size", "1073741824");
        // One writer: SQLite serializes writes anyway, and a single connection
        // turns lock contention into an orderly queue. A connection to a
        // local file cannot go stale, so none is pinged. The writer reads
        // without the memory map: a large import touches nearly every page
        // of the database, and every page mapped in counted as the server's
        // resident memory (432 MiB after half a million members), at no
        // gain in speed (docs/IMPORTS.md#memory).
        let write =
            Pool::connect(options.clone().pragma("mmap_size", "0"), Settings::new(1)).await?;
        // Rows cross from SQLite's thread to the reader in a channel: a
        // large one lets a long read (an export) hand them over in bursts
        // rather than one wake-up per row. Six readers: an export of a large
        // organization reads on three at once (`export::READERS`), and the
        // other requests keep three.
        let read = Pool::connect(
            options.read_only(true).row_buffer_size(1024),
            Settings::new(6),
        )
        .await?;
        Ok(Store {
            db: Db::Sqlite { read, write },
            feed: Arc::default(),
        })
    }

    async fn connect_postgres(url: &str) -> Result<Store> {
        let options = PgConnectOptions::from_str(url)?.application_name("portier");
        // A connection used in the last few seconds is not pinged before its
        // next use; one idle longer might have been cut by a restart or a
        // proxy, and is checked first.
        let settings = Settings {
            ping_when_idle_for: Some(PING_WHEN_IDLE_FOR),
            ..Settings::new(16)
        };
        let pool = Pool::connect(options.clone(), settings.clone()).await?;
        let relaxed = Pool::new(
            options.clone().options([("synchronous_commit", "off")]),
            Settings { max: 4, ..settings },
        );
        Ok(Store {
            db: Db::Postgres {
                pool,
                relaxed,
                options: Box::new(options),
            },
            feed: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres { .. } => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.db {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres { .. } => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations, refreshes the built-in roles and does the
    /// work a migration left for the binary (`maintenance`). On
    /// PostgreSQL the migrator holds an advisory lock, so nodes starting
    /// together migrate one after the other.
    pub async fn migrate(&self) -> Result<()> {
        self.migrate_schema(None).await?;
        let mut tx = self.begin().await?;
        crate::roles::sync_builtins(&mut tx).await?;
        crate::search::run_pending(&mut tx).await?;
        tx.commit().await
    }

    /// Applies the schema migrations, all or up to and including `upto`.
    pub(crate) async fn migrate_schema(&self, upto: Option<i64>) -> Result<()> {
        macro_rules! run {
            ($migrator:expr, $pool:expr) => {{
                let mut conn = $pool.acquire().await?;
                let c = conn.get().ok_or(sqlx::Error::PoolClosed)?;
                match upto {
                    None => $migrator.run(c).await?,
                    Some(version) => $migrator.run_to(version, c).await?,
                }
            }};
        }
        match &self.db {
            Db::Sqlite { write, .. } => run!(SQLITE_MIGRATIONS, write),
            Db::Postgres { pool, .. } => run!(POSTGRES_MIGRATIONS, pool),
        }
        Ok(())
    }

    /// True when the database answers and every migration this binary knows
    /// has been applied successfully (`/readyz`).
    pub async fn is_ready(&self) -> Result<bool> {
        let applied: Vec<(i64, bool)> = reader!(self, |c| {
            sqlx::query_as("SELECT version, success FROM _sqlx_migrations")
                .fetch_all(c)
                .await
        })
        .or_else(|e| match e {
            // No migration table yet: reachable, not ready.
            sqlx::Error::Database(_) => Ok(Vec::new()),
            other => Err(other),
        })?;
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .all(|m| applied.iter().any(|(v, ok)| *v == m.version && *ok)))
    }

    /// Starts a transaction that only reads: on SQLite on a reader
    /// connection, so that a long read (an import's dry run) keeps no writer
    /// waiting; it sees one snapshot. Dropped, it rolls back.
    pub async fn begin_read(&self) -> Result<Tx> {
        let conn = match &self.db {
            Db::Sqlite { read, .. } => {
                let mut conn = read.acquire().await?;
                conn.begin(None).await?;
                TxConn::Sqlite(conn)
            }
            Db::Postgres { .. } => return self.begin().await,
        };
        Ok(Tx {
            conn,
            audit_lane: 0,
            after_commit: AfterCommit::default(),
            feed: Arc::clone(&self.feed),
        })
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes cannot
    /// fail half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx> {
        let conn = match &self.db {
            Db::Sqlite { write, .. } => {
                let mut conn = write.acquire().await?;
                conn.begin(Some("BEGIN IMMEDIATE")).await?;
                TxConn::Sqlite(conn)
            }
            Db::Postgres { pool, .. } => {
                let mut conn = pool.acquire().await?;
                conn.begin(None).await?;
                TxConn::Postgres(conn)
            }
        };
        Ok(Tx {
            conn,
            audit_lane: rand::random_range(0..portier_core::audit::LANES),
            after_commit: AfterCommit::default(),
            feed: Arc::clone(&self.feed),
        })
    }

    /// Where to hear that rights changed (see [`crate::rights`]).
    pub fn rights_feed(&self) -> &RightsFeed {
        &self.feed
    }

    pub fn pool_state(&self) -> PoolState {
        match &self.db {
            Db::Sqlite { read, write } => PoolState {
                size: read.size() + write.size(),
                idle: read.num_idle() + write.num_idle(),
            },
            Db::Postgres { pool, relaxed, .. } => PoolState {
                size: pool.size() + relaxed.size(),
                idle: pool.num_idle() + relaxed.num_idle(),
            },
        }
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres { pool, relaxed, .. } => {
                pool.close().await;
                relaxed.close().await;
            }
        }
    }
}

impl Tx {
    /// Commits, then runs what the transaction left for after its commit
    /// ([`AfterCommit`]).
    pub async fn commit(self) -> Result<()> {
        match self.conn {
            TxConn::Sqlite(mut conn) => conn.commit().await?,
            TxConn::Postgres(mut conn) => conn.commit().await?,
        }
        for hook in self.after_commit.hooks {
            hook();
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self.conn {
            TxConn::Sqlite(_) => Backend::Sqlite,
            TxConn::Postgres(_) => Backend::Postgres,
        }
    }
}

/// At most this many values are bound to one statement of [`insert_many`]
/// (SQLite allows 32,766, PostgreSQL 65,535).
const MAX_BINDS: usize = 30_000;

/// Inserts rows of `width` values each (`args`, row after row) with as few
/// statements as the bind limits allow: `head` is `INSERT INTO t (a, b)`,
/// `tail` what follows the values (`ON CONFLICT … DO NOTHING RETURNING id`).
/// With a `RETURNING` of one id column, the ids written come back.
pub(crate) async fn insert_many(
    tx: &mut Tx,
    head: &str,
    width: usize,
    tail: &str,
    args: Vec<Arg>,
) -> Result<Vec<uuid::Uuid>> {
    debug_assert!(width > 0 && args.len().is_multiple_of(width));
    let returning = tail.contains("RETURNING");
    // SQLite looks a `$N` parameter up by a walk through the statement's
    // list of names, once per value bound: a statement of thousands of
    // values would take quadratic time. Its anonymous `?` are bound by
    // position.
    let anonymous = matches!(tx.conn, TxConn::Sqlite(_));
    let per_statement = (MAX_BINDS / width).max(1) * width;
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    while args.peek().is_some() {
        let chunk: Vec<Arg> = args.by_ref().take(per_statement).collect();
        let rows = chunk.len() / width;
        let mut sql = String::with_capacity(head.len() + tail.len() + rows * width * 7);
        sql.push_str(head);
        sql.push_str(" VALUES ");
        for r in 0..rows {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..width {
                if c > 0 {
                    sql.push_str(", ");
                }
                if anonymous {
                    sql.push('?');
                } else {
                    sql.push('$');
                    sql.push_str(&(r * width + c + 1).to_string());
                }
            }
            sql.push(')');
        }
        sql.push(' ');
        sql.push_str(tail);
        let ids: Vec<uuid::Uuid> = crate::in_tx!(tx, |c| {
            // Placeholders only; every value is bound.
            let sql = sqlx::AssertSqlSafe(sql.as_str());
            if returning {
                crate::bind_all!(sqlx::query_scalar(sql), &chunk)
                    .fetch_all(c)
                    .await
            } else {
                crate::bind_all!(sqlx::query(sql), &chunk)
                    .execute(c)
                    .await
                    .map(|_| Vec::new())
            }
        })?;
        out.extend(ids);
    }
    Ok(out)
}
