//! Throttle counters in the database, so a limit holds across nodes.

use chrono::{DateTime, Utc};
use portier_core::throttle::Limit;

use crate::{Result, Store, in_tx, reader};

/// Seconds to wait when `key` has reached `limit`, else `None`.
pub async fn check(
    store: &Store,
    key: &str,
    limit: &Limit,
    now: DateTime<Utc>,
) -> Result<Option<u64>> {
    let row: Option<(i64, DateTime<Utc>)> = reader!(store, |c| {
        sqlx::query_as("SELECT count, window_start FROM throttles WHERE key = $1")
            .bind(key)
            .fetch_optional(c)
            .await
    })?;
    Ok(row.and_then(|(count, start)| limit.retry_after(count, start, now)))
}

/// Counts one event against `key`, starting a new window when the last one
/// is over. One statement, so concurrent hits on any node all count.
pub async fn hit(store: &Store, key: &str, limit: &Limit, now: DateTime<Utc>) -> Result<()> {
    let window_over =
        now - chrono::Duration::from_std(limit.window).unwrap_or(chrono::Duration::hours(1));
    let mut tx = store.begin().await?;
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "INSERT INTO throttles (key, count, window_start) VALUES ($1, 1, $2)
             ON CONFLICT (key) DO UPDATE SET
                count = CASE WHEN throttles.window_start <= $3 THEN 1 ELSE throttles.count + 1 END,
                window_start = CASE WHEN throttles.window_start <= $3 THEN $2 ELSE throttles.window_start END",
        )
        .bind(key)
        .bind(now)
        .bind(window_over)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    tx.commit().await
}

/// Forgets `key` (a successful sign-in clears its failures).
pub async fn clear(store: &Store, key: &str) -> Result<()> {
    let mut tx = store.begin().await?;
    in_tx!(&mut tx, |c| {
        sqlx::query("DELETE FROM throttles WHERE key = $1")
            .bind(key)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    tx.commit().await
}
