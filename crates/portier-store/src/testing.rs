//! Fresh databases for tests. Every storage and API test runs on SQLite and on
//! PostgreSQL (docs/ARCHITECTURE.md#tests), each in a database of its own that
//! is removed afterwards. PostgreSQL comes from `PORTIER_TEST_POSTGRES_URL`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`); when it cannot be
//! reached the PostgreSQL half fails loudly rather than skipping.

use std::path::PathBuf;

use sqlx::{Connection, PgConnection};

use crate::Store;

pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestDb {
    pub store: Store,
    /// The URL a `portier` process would be given to open this database.
    pub url: String,
    _guard: Guard,
}

/// Held only for what its `Drop` removes.
enum Guard {
    Sqlite(PathBuf),
    Postgres(#[allow(dead_code)] PgDatabase),
}

/// An empty PostgreSQL database of its own, dropped when this is dropped.
pub struct PgDatabase {
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let db = Self::sqlite_unmigrated().await;
        db.store.migrate().await.expect("migrate SQLite");
        db
    }

    pub async fn postgres() -> TestDb {
        let db = Self::postgres_unmigrated().await;
        db.store.migrate().await.expect("migrate PostgreSQL");
        db
    }

    pub async fn unmigrated(backend: crate::Backend) -> TestDb {
        match backend {
            crate::Backend::Sqlite => Self::sqlite_unmigrated().await,
            crate::Backend::Postgres => Self::postgres_unmigrated().await,
        }
    }

    pub async fn sqlite_unmigrated() -> TestDb {
        let dir =
            std::env::temp_dir().join(format!("portier-test-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite://{}/portier.db", dir.display());
        let store = Store::connect(&url).await.expect("open SQLite");
        TestDb {
            store,
            url,
            _guard: Guard::Sqlite(dir),
        }
    }

    pub async fn postgres_unmigrated() -> TestDb {
        let pg = PgDatabase::create().await;
        let store = Store::connect(&pg.url)
            .await
            .expect("open the test database");
        TestDb {
            store,
            url: pg.url.clone(),
            _guard: Guard::Postgres(pg),
        }
    }
}

impl PgDatabase {
    /// Panics, naming the URL and what to do, when PostgreSQL is unreachable.
    pub async fn create() -> PgDatabase {
        let admin_url = std::env::var("PORTIER_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!(
            "\n\n*** PostgreSQL is unreachable at {admin_url}: {e}\n*** The PostgreSQL half of the test suite cannot run. \
             Start PostgreSQL (scripts/test does) or set PORTIER_TEST_POSTGRES_URL.\n\n"
        )
    });
        let name = format!("portier_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        let _ = admin.close().await;
        let url = with_database(&admin_url, &name);
        PgDatabase {
            url,
            admin_url,
            name,
        }
    }
}

/// `admin_url` with its database name replaced.
fn with_database(admin_url: &str, name: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Sqlite(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a thread with its own runtime
        // can block on the clean-up without starving it.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut c) = PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

/// Runs a statement of a test's own (to age a token, say); returns the rows
/// it changed.
pub async fn execute(store: &Store, sql: &'static str) -> u64 {
    let mut tx = store.begin().await.expect("begin");
    let n = crate::in_tx!(&mut tx, |c| sqlx::query(sql)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
    .expect(sql);
    tx.commit().await.expect("commit");
    n
}

/// Applies the schema migrations up to and including `version` only: a
/// database as an older Portier left it.
pub async fn migrate_schema_to(store: &Store, version: i64) {
    store
        .migrate_schema(Some(version))
        .await
        .expect("migrate to the version asked");
}

/// The first column of a query's rows, as text.
pub async fn strings(store: &Store, sql: &'static str) -> Vec<String> {
    crate::reader!(store, |c| sqlx::query_scalar(sql).fetch_all(c).await).expect(sql)
}

/// The memberships whose role ids on their own row (`role_ids`) are not
/// those of their rows in `membership_roles`, sorted: there must be none.
pub async fn role_ids_out_of_step(store: &Store) -> Vec<String> {
    let sql = match store.backend() {
        crate::Backend::Postgres => {
            "SELECT m.id::text FROM memberships m
             WHERE m.role_ids <> ARRAY(SELECT mr.role_id FROM membership_roles mr
                                        WHERE mr.membership_id = m.id ORDER BY mr.role_id)"
        }
        crate::Backend::Sqlite => {
            "SELECT lower(hex(m.id)) FROM memberships m
             WHERE m.role_ids <> coalesce(unhex((SELECT group_concat(h, '') FROM (
                     SELECT hex(mr.role_id) AS h FROM membership_roles mr
                      WHERE mr.membership_id = m.id ORDER BY mr.role_id))), x'')"
        }
    };
    strings(store, sql).await
}

/// Writes each test once and runs it on both backends, as `name::sqlite` and
/// `name::postgres`. Exported, the one macro of the crate that is: the
/// server's and the command line's tests use it.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($db:ident) $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($db: $crate::testing::TestDb) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::testing::TestDb::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::testing::TestDb::postgres().await).await
            }
        }
    )*};
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_name_is_replaced_and_options_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u:p@h/db?sslmode=disable", "t1"),
            "postgres://u:p@h/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "t1"),
            "postgres://h:5432/t1"
        );
    }
}
