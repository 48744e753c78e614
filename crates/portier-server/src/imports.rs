//! The imports of this node: whose turn it is to read and check a large
//! file ([`Turns`]), and the jobs: takes a queued import, or one a stopped
//! node left behind once its lease lapsed, and runs it chunk by chunk
//! (`portier_store::import::run_job`) (docs/IMPORTS.md).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use portier_core::ids::OrganizationId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::{ApiError, AppState};

/// A file of more than this many bytes is a large import
/// (docs/IMPORTS.md#limits): an organization has one large import at a
/// time, counting a job that runs (or waits to resume) whatever its size,
/// and this node reads and checks [`CHECKED_AT_ONCE`] large files at once.
/// Smaller files cost at most a few megabytes and always go ahead.
pub const LARGE_IMPORT_BYTES: usize = 1024 * 1024;

/// Large files this node reads and checks at once (besides the one job its
/// worker runs); more wait for their turn, within the request's time.
pub const CHECKED_AT_ONCE: usize = 2;

/// Whose turn it is to read and check a large file.
pub struct Turns {
    /// The organizations with a large upload under way on this node.
    busy: Arc<Mutex<HashSet<OrganizationId>>>,
    checking: Arc<Semaphore>,
}

impl Default for Turns {
    fn default() -> Turns {
        Turns {
            busy: Arc::default(),
            checking: Arc::new(Semaphore::new(CHECKED_AT_ONCE)),
        }
    }
}

/// A large import's turn: no other large import of its organization
/// starts until it is dropped, and while it holds a place among the
/// [`CHECKED_AT_ONCE`] it reads and checks its file.
pub struct Turn {
    organization: OrganizationId,
    busy: Arc<Mutex<HashSet<OrganizationId>>>,
    checking: Option<OwnedSemaphorePermit>,
}

impl Turn {
    /// The file has been read and checked (and written): another may be.
    pub fn checked(&mut self) {
        self.checking = None;
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut busy = self.busy.lock().unwrap_or_else(|e| e.into_inner());
        busy.remove(&self.organization);
    }
}

impl Turns {
    /// A turn for a file of `bytes` bytes to import into `org`: none is
    /// needed for a small file; a large one is refused (409
    /// `import_running`, on the field `file`) while the organization has
    /// another large import under way, and otherwise waits for a place
    /// among the files this node checks.
    pub async fn take(
        &self,
        store: &portier_store::Store,
        org: OrganizationId,
        bytes: usize,
    ) -> Result<Option<Turn>, ApiError> {
        if bytes <= LARGE_IMPORT_BYTES {
            return Ok(None);
        }
        let busy = || {
            ApiError::new(
                StatusCode::CONFLICT,
                "import_running",
                "another large import of this organization is under way; send this file when it is done",
            )
            .with_field("file")
        };
        {
            let mut organizations = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            if !organizations.insert(org) {
                return Err(busy());
            }
        }
        let mut turn = Turn {
            organization: org,
            busy: Arc::clone(&self.busy),
            checking: None,
        };
        if portier_store::import::running(store, org).await? {
            return Err(busy());
        }
        // Never closed: waiting ends with a place, or with the request.
        turn.checking = Arc::clone(&self.checking).acquire_owned().await.ok();
        Ok(Some(turn))
    }
}

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
        false,
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
