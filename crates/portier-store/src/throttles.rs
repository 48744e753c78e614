//! Throttle counters in the database, so a limit holds across nodes.

use chrono::{DateTime, Utc};
use portier_core::throttles::Limit;

use crate::{Result, Store, reader, relaxed};

/// The counters of `keys` (at most eight) in one read: for each key, its
/// count and window start when it has one.
pub async fn read(store: &Store, keys: &[&str]) -> Result<Vec<Option<(i64, DateTime<Utc>)>>> {
    let mut padded: Vec<Option<&str>> = keys.iter().map(|k| Some(*k)).collect();
    padded.resize(8, None);
    let rows: Vec<(String, i64, DateTime<Utc>)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT key, count, window_start FROM throttles WHERE key IN ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(padded[0])
        .bind(padded[1])
        .bind(padded[2])
        .bind(padded[3])
        .bind(padded[4])
        .bind(padded[5])
        .bind(padded[6])
        .bind(padded[7])
        .fetch_all(c)
        .await
    })?;
    Ok(keys
        .iter()
        .map(|k| {
            rows.iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, n, at)| (*n, *at))
        })
        .collect())
}

/// Counts one event against `key`, starting a new window when the last one
/// is over. One statement, so concurrent hits on any node all count; returns
/// the count and window start after this one.
pub async fn hit(
    store: &Store,
    key: &str,
    limit: &Limit,
    now: DateTime<Utc>,
) -> Result<(i64, DateTime<Utc>)> {
    let counted = hit_all(store, &[key], limit.window, now).await?;
    counted
        .first()
        .copied()
        .ok_or_else(|| crate::Error::Corrupt(format!("throttle {key}: no count returned")))
}

/// [`hit`] for several keys whose limits share `window`, in one statement;
/// the counts in the order of `keys`.
pub async fn hit_all(
    store: &Store,
    keys: &[&str],
    window: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<Vec<(i64, DateTime<Utc>)>> {
    let window_over =
        now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::hours(1));
    let values: Vec<String> = (0..keys.len())
        .map(|i| format!("(${}, 1, $1)", i + 3))
        .collect();
    let sql = format!(
        "INSERT INTO throttles (key, count, window_start) VALUES {}
         ON CONFLICT (key) DO UPDATE SET
            count = CASE WHEN throttles.window_start <= $2 THEN 1 ELSE throttles.count + 1 END,
            window_start = CASE WHEN throttles.window_start <= $2 THEN $1 ELSE throttles.window_start END
         RETURNING key, count, window_start",
        values.join(", ")
    );
    let rows: Vec<(String, i64, DateTime<Utc>)> = relaxed!(store, |c| {
        // Fixed text and placeholders only; the values are bound.
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(now)
            .bind(window_over);
        for k in keys {
            q = q.bind(*k);
        }
        q.fetch_all(c).await
    })?;
    keys.iter()
        .map(|k| {
            rows.iter()
                .find(|(key, _, _)| key == k)
                .map(|(_, n, at)| (*n, *at))
                .ok_or_else(|| crate::Error::Corrupt(format!("throttle {k}: no count returned")))
        })
        .collect()
}

/// Forgets `key` (a successful sign-in clears its failures).
pub async fn clear(store: &Store, key: &str) -> Result<()> {
    relaxed!(store, |c| {
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Forgets `keys` (at most two) in one statement.
pub async fn clear_all(store: &Store, keys: &[&str]) -> Result<()> {
    relaxed!(store, |c| {
        sqlx::query("DELETE FROM throttles WHERE key IN ($1, $2)")
            .bind(keys.first().copied())
            .bind(keys.get(1).copied())
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}
