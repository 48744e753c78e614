//! Connections and transactions. SQLite runs in WAL mode with one writer
//! connection and several readers (DESIGN §7); PostgreSQL uses one pool. The
//! [`reader!`] and [`in_tx!`] macros run one query body against whichever backend is
//! configured, so the SQL and its bindings are written once.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

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
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) db: Db,
}

/// One transaction on either backend.
pub struct Tx {
    pub(crate) conn: TxConn,
    /// The audit lane this transaction appends to, drawn at its start: one
    /// per transaction, so two transactions never wait for each other's
    /// heads in opposite order (`portier_core::audit::LANES`).
    pub(crate) audit_lane: i16,
}

pub(crate) enum TxConn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Connection counts for `/metrics`.
#[derive(Debug, Clone, Copy)]
pub struct PoolState {
    pub size: u32,
    pub idle: usize,
}

/// Runs `$body` with `$c` bound to a reader pool of the configured backend.
#[macro_export]
#[doc(hidden)]
macro_rules! reader {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite { read, .. } => {
                let $c = read;
                $body
            }
            $crate::db::Db::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the writer pool: for one statement that
/// is a whole change by itself (its own implicit transaction), saving the
/// round trips of `BEGIN` and `COMMIT`.
#[macro_export]
#[doc(hidden)]
macro_rules! writer {
    ($store:expr, |$c:ident| $body:expr) => {
        match &$store.db {
            $crate::db::Db::Sqlite { write, .. } => {
                let $c = write;
                $body
            }
            $crate::db::Db::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the connection of transaction `$tx`.
#[macro_export]
#[doc(hidden)]
macro_rules! in_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match &mut ($tx).conn {
            $crate::db::TxConn::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::db::TxConn::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

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
        // turns lock contention into an orderly queue.
        // No ping before each use (sqlx's default): a connection to a local
        // file cannot go stale, and the ping is a round trip through the
        // connection's thread, as costly as a statement.
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Store {
            db: Db::Sqlite { read, write },
        })
    }

    async fn connect_postgres(url: &str) -> Result<Store> {
        let options = PgConnectOptions::from_str(url)?.application_name("portier");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(10))
            // A connection used in the last few seconds is not pinged before
            // its next use (sqlx pings every time by default: a round trip,
            // as costly as a statement); one idle longer might have been cut
            // by a restart or a proxy, and is checked first.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        Ok(Store {
            db: Db::Postgres(pool),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.db {
            Db::Sqlite { .. } => &SQLITE_MIGRATIONS,
            Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations, refreshes the built-in roles and does the
    /// work a migration left for the binary (`maintenance`). On
    /// PostgreSQL the migrator holds an advisory lock, so nodes starting
    /// together migrate one after the other.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        let mut tx = self.begin().await?;
        crate::roles::sync_builtins(&mut tx).await?;
        crate::search::run_pending(&mut tx).await?;
        tx.commit().await
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

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes cannot
    /// fail half-way on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx> {
        let conn = match &self.db {
            Db::Sqlite { write, .. } => TxConn::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => TxConn::Postgres(pool.begin().await?),
        };
        Ok(Tx {
            conn,
            audit_lane: rand::random_range(0..portier_core::audit::LANES),
        })
    }

    pub fn pool_state(&self) -> PoolState {
        match &self.db {
            Db::Sqlite { read, write } => PoolState {
                size: read.size() + write.size(),
                idle: read.num_idle() + write.num_idle(),
            },
            Db::Postgres(pool) => PoolState {
                size: pool.size(),
                idle: pool.num_idle(),
            },
        }
    }

    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self.conn {
            TxConn::Sqlite(t) => t.commit().await?,
            TxConn::Postgres(t) => t.commit().await?,
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
