//! An export of one organization of more than a [`PAGE`] of members, read
//! in pages on [`READERS`] connections at once, each in a transaction on
//! the same snapshot; PostgreSQL's rows are handed on as [`Member`]s that
//! borrow the text of the rows they were read from.

#[allow(unused_imports)]
use super::*;

/// Members read by one query of an export in pages.
pub(super) const PAGE: i64 = 2048;

/// Connections an export in pages reads on at once: on two cores, three
/// keep both busy while one waits for its page to be taken.
pub const READERS: usize = 3;

/// Where a page of the users list begins or ends: (sort key, account).
type Key = (String, Uuid);

/// The first member's key of the second page of `$1`'s members: the one
/// [`PAGE`] members on in the listing index.
const SECOND_PAGE: &str = "SELECT sort_key, account_id FROM memberships
     WHERE organization_id = $1
     ORDER BY sort_key, account_id LIMIT 1 OFFSET $2";

/// The first key of the page after the one that begins at `($2, $3)`.
const NEXT_PAGE: &str = "SELECT sort_key, account_id FROM memberships
     WHERE organization_id = $1 AND (sort_key, account_id) >= ($2, $3)
     ORDER BY sort_key, account_id LIMIT 1 OFFSET $4";

/// Where each page of `$org`'s members after the first begins, stepping
/// [`PAGE`] members at a time through the listing index on `$conn`.
macro_rules! page_keys {
    ($conn:expr, $org:expr) => {{
        let mut keys: Vec<Key> = Vec::new();
        loop {
            let next: Option<Key> = crate::use_conn!($conn, |c| match keys.last() {
                None => {
                    sqlx::query_as(SECOND_PAGE)
                        .bind($org)
                        .bind(PAGE)
                        .fetch_optional(c)
                        .await
                }
                Some((sort_key, account)) => {
                    sqlx::query_as(NEXT_PAGE)
                        .bind($org)
                        .bind(sort_key.as_str())
                        .bind(*account)
                        .bind(PAGE)
                        .fetch_optional(c)
                        .await
                }
            })?;
            match next {
                Some(key) => keys.push(key),
                None => break,
            }
        }
        keys
    }};
}

/// The query of one page of `$1`'s members: `columns` (with the tables
/// they come from) of the [`PAGE`] members from key `($2, $3)` on (when
/// `from`; else from the first). Within the snapshot the page keys were
/// read in, that is exactly the page; and a `LIMIT` keeps the planner on
/// the listing index.
pub(super) fn page_sql(columns: &str, from: bool) -> String {
    format!(
        "{columns} WHERE m.organization_id = $1{} ORDER BY m.sort_key, m.account_id LIMIT {}",
        if from {
            " AND (m.sort_key, m.account_id) >= ($2, $3)"
        } else {
            ""
        },
        PAGE
    )
}

/// A SQLite member as [`SQLITE_SQL`] packs it.
pub(super) fn unpack(packed: &str) -> std::result::Result<ExportRow, sqlx::Error> {
    serde_json::from_str(packed).map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

/// The keys of roles and names of groups a PostgreSQL reader has met,
/// looked up (on its snapshot) the first time each comes by: a few dozen
/// for a whole export.
#[derive(Default)]
struct Names {
    roles: std::collections::HashMap<Uuid, String>,
    groups: std::collections::HashMap<Uuid, String>,
}

impl Names {
    /// Looks up with `sql` on `conn` the `ids` not yet `known`.
    async fn learn(
        conn: &mut crate::pool::Conn<sqlx::Postgres>,
        sql: &'static str,
        known: &mut std::collections::HashMap<Uuid, String>,
        ids: impl Iterator<Item = Uuid>,
    ) -> std::result::Result<(), sqlx::Error> {
        let mut missing: Vec<Uuid> = ids.filter(|id| !known.contains_key(id)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        missing.sort_unstable();
        missing.dedup();
        let found: Vec<(Uuid, String)> = crate::use_conn!(conn, |c| {
            sqlx::query_as(sql).bind(&missing).fetch_all(c).await
        })?;
        known.extend(found);
        Ok(())
    }

    /// Adds the page's members (rows of [`page_columns`], read by the
    /// positions of their columns' names, found once a page: by name each
    /// would be looked up in a map, 22 a row) to `batch`, with their roles and groups named, in order, and their
    /// registrations and two-step verification: asked for all of the
    /// page's accounts at once.
    async fn add<B: Batch>(
        &mut self,
        conn: &mut crate::pool::Conn<sqlx::Postgres>,
        rows: &[sqlx::postgres::PgRow],
        batch: &mut B,
    ) -> std::result::Result<(), sqlx::Error> {
        use sqlx::Row;
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let at = PageColumns::of(first)?;
        let mut ids: Vec<(Uuid, Vec<Uuid>, Vec<Uuid>)> = Vec::with_capacity(rows.len());
        for r in rows {
            ids.push((
                r.try_get_unchecked(at.account_id)?,
                r.try_get_unchecked(at.roles)?,
                r.try_get_unchecked(at.groups)?,
            ));
        }
        let roles = ids.iter().flat_map(|(_, roles, _)| roles.iter().copied());
        Self::learn(
            conn,
            "SELECT id, key FROM roles WHERE id = ANY($1)",
            &mut self.roles,
            roles,
        )
        .await?;
        let groups = ids.iter().flat_map(|(_, _, groups)| groups.iter().copied());
        Self::learn(
            conn,
            "SELECT id, name FROM groups WHERE id = ANY($1)",
            &mut self.groups,
            groups,
        )
        .await?;
        let accounts: Vec<Uuid> = ids.iter().map(|(account, _, _)| *account).collect();
        let (registrations, two_factor) = crate::use_conn!(conn, |c| async {
            let registrations: Vec<(Uuid, String, String, String)> = sqlx::query_as(
                "SELECT account_id, register, number, state FROM registrations
                  WHERE account_id = ANY($1)",
            )
            .bind(&accounts)
            .fetch_all(&mut *c)
            .await?;
            let two_factor: Vec<Uuid> = sqlx::query_scalar(
                "SELECT DISTINCT account_id FROM credentials
                  WHERE account_id = ANY($1) AND kind IN ('totp', 'webauthn')",
            )
            .bind(&accounts)
            .fetch_all(&mut *c)
            .await?;
            Ok::<_, sqlx::Error>((registrations, two_factor))
        }
        .await)?;
        let two_factor: std::collections::HashSet<Uuid> = two_factor.into_iter().collect();
        let registrations: std::collections::HashMap<Uuid, (String, String, String)> =
            registrations
                .into_iter()
                .map(|(account, register, number, state)| (account, (register, number, state)))
                .collect();
        for (r, (account, roles, groups)) in rows.iter().zip(&ids) {
            let registration = registrations.get(account);
            let mut details = [None; DETAILS];
            for (value, i) in details.iter_mut().zip(at.details) {
                *value = r.try_get_unchecked(i)?;
            }
            batch.add(&Member {
                account_id: *account,
                organization: r.try_get_unchecked(at.organization)?,
                email: r.try_get_unchecked(at.email)?,
                salutation: r.try_get_unchecked(at.salutation)?,
                given_name: r.try_get_unchecked(at.given_name)?,
                infix: r.try_get_unchecked(at.infix)?,
                family_name: r.try_get_unchecked(at.family_name)?,
                details,
                labels: labels(r.try_get_raw(at.labels)?)?,
                roles: named(&self.roles, roles)?,
                groups: named(&self.groups, groups)?,
                register: registration.map(|g| g.0.as_str()),
                registration_number: registration.map(|g| g.1.as_str()),
                registration_state: registration.map(|g| g.2.as_str()),
                portfolio: r.try_get_unchecked(at.portfolio)?,
                two_factor: two_factor.contains(account),
                active: r.try_get_unchecked(at.active)?,
                account_status: r.try_get_unchecked(at.account_status)?,
                disabled: r.try_get_unchecked(at.disabled)?,
                awaiting_approval: r.try_get_unchecked(at.awaiting_approval)?,
                created_at: r.try_get_unchecked(at.created_at)?,
                activated_at: r.try_get_unchecked(at.activated_at)?,
            });
        }
        Ok(())
    }
}

/// Where each column of [`page_columns`] is in a page's rows, found by
/// its name.
struct PageColumns {
    account_id: usize,
    organization: usize,
    email: usize,
    salutation: usize,
    given_name: usize,
    infix: usize,
    family_name: usize,
    details: [usize; DETAILS],
    labels: usize,
    roles: usize,
    groups: usize,
    portfolio: usize,
    active: usize,
    account_status: usize,
    disabled: usize,
    awaiting_approval: usize,
    created_at: usize,
    activated_at: usize,
}

impl PageColumns {
    fn of(row: &sqlx::postgres::PgRow) -> std::result::Result<PageColumns, sqlx::Error> {
        use sqlx::{Column, Row};
        let at = |name: &str| row.try_column(name).map(Column::ordinal);
        let mut details = [0; DETAILS];
        for (i, f) in details.iter_mut().zip(&DETAIL_FIELDS) {
            *i = at(f.key)?;
        }
        Ok(PageColumns {
            account_id: at("account_id")?,
            organization: at("organization")?,
            email: at("email")?,
            salutation: at("salutation")?,
            given_name: at("given_name")?,
            infix: at("infix")?,
            family_name: at("family_name")?,
            details,
            labels: at("labels")?,
            roles: at("roles")?,
            groups: at("groups")?,
            portfolio: at("portfolio")?,
            active: at("active")?,
            account_status: at("account_status")?,
            disabled: at("disabled")?,
            awaiting_approval: at("awaiting_approval")?,
            created_at: at("created_at")?,
            activated_at: at("activated_at")?,
        })
    }
}

/// The names of `ids`, in order.
pub(super) fn named<'a>(
    known: &'a std::collections::HashMap<Uuid, String>,
    ids: &[Uuid],
) -> std::result::Result<Vec<&'a str>, sqlx::Error> {
    let mut names = Vec::with_capacity(ids.len());
    for id in ids {
        // The lookup ran on the page's own snapshot, where the row that
        // refers to it holds a key to it.
        names.push(known.get(id).ok_or(sqlx::Error::RowNotFound)?.as_str());
    }
    names.sort_unstable();
    Ok(names)
}

/// A member's labels from its JSON array, borrowed unless one holds an
/// escape.
pub(super) fn labels(
    value: sqlx::postgres::PgValueRef<'_>,
) -> std::result::Result<Vec<std::borrow::Cow<'_, str>>, sqlx::Error> {
    let decode = |e: Box<dyn std::error::Error + Send + Sync>| sqlx::Error::Decode(e);
    let bytes = value.as_bytes().map_err(decode)?;
    // JSONB in binary: a version byte (1), then the text.
    let text = match value.format() {
        sqlx::postgres::PgValueFormat::Binary => bytes
            .strip_prefix(&[1])
            .ok_or_else(|| decode("an unknown JSONB version in a member's labels".into()))?,
        sqlx::postgres::PgValueFormat::Text => bytes,
    };
    match serde_json::from_slice::<Vec<&str>>(text) {
        Ok(labels) => Ok(labels.into_iter().map(std::borrow::Cow::Borrowed).collect()),
        Err(_) => serde_json::from_slice::<Vec<String>>(text)
            .map(|labels| labels.into_iter().map(std::borrow::Cow::Owned).collect())
            .map_err(|e| decode(Box::new(e))),
    }
}

/// Reads page `p` of `keys`'s pages of `$org` on `$conn` (a pool
/// connection) with the query of `$columns`: its rows.
macro_rules! read_page {
    ($conn:expr, $columns:expr, $org:expr, $keys:expr, $p:expr) => {{
        let from = $p.checked_sub(1).map(|i| &$keys[i]);
        let sql = page_sql($columns, from.is_some());
        crate::use_conn!($conn, |c| {
            // Placeholders only; the keys are bound.
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str())).bind($org);
            if let Some((sort_key, account)) = from {
                q = q.bind(sort_key.as_str()).bind(*account);
            }
            q.fetch_all(c).await
        })
    }};
}

/// Runs the pages of `$keys` on `$conns` (one task each; of `n`
/// connections, connection `j` reads pages `j`, `j + n`, …), each page a
/// batch (of `$make`, cloned for each task) that `|$conn, $p, $state:
/// $ty_state| $read` gives (`$state` the task's own, as its type makes it
/// by default), and hands them to `$out` in order. Each reader is at most
/// one page ahead, so memory holds a few pages whatever the size of the
/// organization.
macro_rules! run_pages {
    ($conns:expr, $keys:ident, $make:ident, $out:expr, |$conn:ident, $p:ident, $state:ident: $ty_state:ty| $read:expr) => {{
        let $keys = std::sync::Arc::new($keys);
        let pages = $keys.len() + 1;
        let conns = $conns;
        let n = conns.len();
        let mut readers = Vec::new();
        for (j, conn) in conns.into_iter().enumerate() {
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            readers.push(rx);
            let $keys = std::sync::Arc::clone(&$keys);
            let $make = $make.clone();
            tokio::spawn(async move {
                let mut $conn = conn;
                #[allow(
                    unused_mut,
                    clippy::let_unit_value,
                    clippy::default_constructed_unit_structs
                )]
                let mut $state = <$ty_state>::default();
                for $p in (j..pages).step_by(n) {
                    let page: std::result::Result<_, sqlx::Error> = $read;
                    let failed = page.is_err();
                    if tx.send(page).await.is_err() || failed {
                        return;
                    }
                }
                // Only read: the end of the snapshot.
                let _ = $conn.commit().await;
            });
        }
        let mut sent = 0u64;
        for p in 0..pages {
            let page = match readers[p % n].recv().await {
                Some(page) => page?,
                None => {
                    return Err(crate::Error::Corrupt("an export's reader stopped".into()));
                }
            };
            let members = Batch::members(&page) as u64;
            if $out.send(page).await.is_err() {
                break;
            }
            sent += members;
        }
        Ok(Some(sent))
    }};
}

/// Reads `$org`'s members in pages on `$conns` (in transactions on one
/// snapshot) with the query of `$columns`, each page made a batch (of
/// `$make`) by `|$conn, $rows, $state: $ty_state| $finish`, and hands them
/// to `$out` in order; `None` (from the enclosing function) with fewer
/// than two connections, or a single page.
macro_rules! export_pages {
    ($conns:ident, $org:expr, $make:ident, $out:expr, $columns:expr,
     |$conn:ident, $rows:ident, $state:ident: $ty_state:ty| $finish:expr) => {{
        if $conns.len() < 2 {
            return Ok(None);
        }
        let keys = page_keys!(&mut $conns[0], $org);
        if keys.is_empty() {
            return Ok(None);
        }
        run_pages!($conns, keys, $make, $out, |$conn, p, $state: $ty_state| {
            match read_page!(&mut $conn, $columns, $org, keys, p) {
                Ok($rows) => $finish,
                Err(e) => Err(e),
            }
        })
    }};
}

/// The `j`th connection of an export in pages: the first waits for one,
/// the others are taken only when free (an export can do with fewer).
async fn take<DB: sqlx::Database>(
    pool: &crate::pool::Pool<DB>,
    j: usize,
) -> Result<Option<crate::pool::Conn<DB>>> {
    Ok(match j {
        0 => Some(pool.acquire().await?),
        _ => pool.try_acquire().await.transpose()?,
    })
}

/// [`members`] in pages, for one organization of more than a page of
/// members; `None` for a smaller one, or when SQLite's readers could not
/// be given the same snapshot (a change came in between), to read in one
/// query instead.
pub(super) async fn in_pages<B: Batch>(
    store: &Store,
    org: &Organization,
    batch: &(impl Fn() -> B + Clone + Send + Sync + 'static),
    out: &Sender<B>,
) -> Result<Option<u64>> {
    let org_id = org.id.0;
    match &store.db {
        crate::db::Db::Sqlite { read, .. } => {
            let mut conns = Vec::with_capacity(READERS);
            let mut heads = Vec::with_capacity(READERS);
            for j in 0..READERS {
                let Some(mut conn) = take(read, j).await? else {
                    break;
                };
                conn.begin(None).await?;
                // The first read fixes a connection's snapshot; every change
                // to members moves the audit heads in its transaction.
                let head: Option<String> = crate::use_conn!(&mut conn, |c| {
                    sqlx::query_scalar(
                        "SELECT group_concat(hex(hash), ',') FROM
                           (SELECT hash FROM audit_heads ORDER BY environment_id, lane)",
                    )
                    .fetch_one(c)
                    .await
                })?;
                heads.push(head);
                conns.push(conn);
            }
            if heads.windows(2).any(|w| w[0] != w[1]) {
                return Ok(None);
            }
            export_pages!(
                conns,
                org_id,
                batch,
                out,
                concat!(sqlite_columns!(), joins!()),
                |conn, rows, _none: ()| {
                    use sqlx::Row;
                    let mut page = batch();
                    rows.iter()
                        .try_for_each(|r| {
                            page.add(&unpack(r.try_get(0)?)?.member());
                            Ok(())
                        })
                        .map(|()| page)
                }
            )
        }
        crate::db::Db::Postgres { pool, .. } => {
            let mut conns = Vec::with_capacity(READERS);
            let mut snapshot = String::new();
            for j in 0..READERS {
                let Some(mut conn) = take(pool, j).await? else {
                    break;
                };
                conn.begin(Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
                    .await?;
                if j == 0 {
                    snapshot = crate::use_conn!(&mut conn, |c| {
                        sqlx::query_scalar("SELECT pg_export_snapshot()")
                            .fetch_one(c)
                            .await
                    })?;
                    if !snapshot
                        .chars()
                        .all(|ch| ch.is_ascii_hexdigit() || ch == '-')
                    {
                        return Err(crate::Error::Corrupt(format!(
                            "an unexpected snapshot name: {snapshot}"
                        )));
                    }
                } else {
                    // The name, checked above, is the server's own.
                    let sql = format!("SET TRANSACTION SNAPSHOT '{snapshot}'");
                    crate::use_conn!(&mut conn, |c| {
                        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                            .execute(c)
                            .await
                    })?;
                }
                // Pages and their keys are read in the listing index's order,
                // never by sorting what a bitmap scan found, a page's accounts'
                // registrations and credentials by their index, and a page is
                // not compiled: statistics that lag behind a large import (a
                // thousand members where there are a million) would
                // otherwise have each page sort the organization's members,
                // scan every registration, or spend longer compiling its
                // query (JIT) than running it.
                crate::use_conn!(&mut conn, |c| {
                    sqlx::query(
                        "SELECT set_config('enable_sort', 'off', true),
                                set_config('enable_bitmapscan', 'off', true),
                                set_config('enable_seqscan', 'off', true),
                                set_config('jit', 'off', true)",
                    )
                    .execute(c)
                    .await
                })?;
                conns.push(conn);
            }
            // What the organization has, on the pages' snapshot: a lookup per
            // member of groups or portfolios it has none of finds nothing,
            // at a fifth of the page's cost.
            let (groups, portfolios): (bool, bool) = match conns.first_mut() {
                None => return Ok(None),
                Some(conn) => crate::use_conn!(conn, |c| {
                    sqlx::query_as(
                        "SELECT EXISTS (SELECT 1 FROM groups WHERE organization_id = $1),
                                EXISTS (SELECT 1 FROM portfolios
                                         WHERE organization_id = $1 AND state = 'active')",
                    )
                    .bind(org_id)
                    .fetch_one(c)
                    .await
                })?,
            };
            let columns =
                POSTGRES_PAGE_COLUMNS[usize::from(groups)][usize::from(portfolios)].as_str();
            export_pages!(
                conns,
                org_id,
                batch,
                out,
                columns,
                |conn, rows, names: Names| {
                    let mut page = batch();
                    names.add(&mut conn, &rows, &mut page).await.map(|()| page)
                }
            )
        }
    }
}
