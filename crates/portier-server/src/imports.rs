//! The import jobs of this node (issue 9): takes a queued import, or one a
//! stopped node left behind once its lease lapsed, and runs it chunk by
//! chunk (`portier_store::import::run_job`).

use std::time::Duration;

use crate::AppState;

/// How often a node looks for jobs nobody runs, besides being woken.
const POLL: Duration = Duration::from_secs(5);

/// How often a node removes the planned imports nobody confirmed.
const EXPIRE_EVERY: Duration = Duration::from_secs(3600);

/// Runs jobs for as long as the server runs, and now and then removes the
/// planned imports that can no longer be confirmed.
pub async fn run(state: AppState) {
    let mut expired_at: Option<tokio::time::Instant> = None;
    loop {
        if expired_at.is_none_or(|at| at.elapsed() >= EXPIRE_EVERY) {
            let now = portier_store::audit::Origin::now(None).now;
            match portier_store::import::expire_planned(&state.store, now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(imports = n, "unconfirmed planned imports removed"),
                Err(e) => tracing::warn!(error = %e, "removing unconfirmed planned imports failed"),
            }
            expired_at = Some(tokio::time::Instant::now());
        }
        loop {
            match run_one(&state).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "an import job stopped; it resumes later");
                    break;
                }
            }
        }
        let _ = tokio::time::timeout(POLL, state.import_wake.notified()).await;
    }
}

/// Runs one job if there is one free; false when there was none.
pub async fn run_one(state: &AppState) -> portier_store::Result<bool> {
    let now = portier_store::audit::Origin::now(None).now;
    let Some(job) = portier_store::import::claim(&state.store, None, now).await? else {
        return Ok(false);
    };
    let id = job.import.id;
    let result = portier_store::import::run_job(
        &state.store,
        job,
        None,
        state.config.import_chunk_rows,
        &state.config.lifecycle,
        |_, _| {},
    )
    .await;
    match result {
        Ok(import) => {
            tracing::info!(import = %id, state = %import.state, rows = import.done_rows, "import job ended");
            Ok(true)
        }
        // The file or the organization is wrong: retrying will not help.
        Err(portier_store::Error::Domain(e)) => {
            let now = portier_store::audit::Origin::now(None).now;
            portier_store::import::give_up(&state.store, id, &e.to_string(), now).await?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}
