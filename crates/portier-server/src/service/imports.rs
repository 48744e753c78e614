//! Importing members from a file, for the API, the console and the worker
//! alike: a file checked in its turn, a dry run kept for a confirmation, a
//! checked file imported at once or as a job, the invitations an import
//! held back (docs/IMPORTS.md); and what the front ends say alike about
//! files to import (docs/IMPORTS.md#limits).

use axum::http::StatusCode;
use portier_core::import::FileKind;
use portier_core::rights::{Authorized, MembersInvite};
use portier_store::audit::Origin;
use portier_store::import::{Checked, Import, Report, Request, RowReport, Waiting};
use uuid::Uuid;

use crate::imports::Turn;
use crate::{ApiError, AppState};

/// Checks a file to import into the proof's organization, writing
/// nothing: a large file takes its turn first (refused while the
/// organization has another large import under way,
/// docs/IMPORTS.md#limits), then every row is checked, each line of the
/// report going to `line`. The caller keeps the turn until it has answered
/// (and calls [`Turn::checked`] once the file is read).
pub async fn check(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    kind: FileKind,
    source: &[u8],
    line: impl FnMut(&RowReport),
) -> Result<(Option<Turn>, Checked), ApiError> {
    let turn = state
        .import_turns
        .take(&state.store, auth.organization_id(), source.len())
        .await?;
    let checked = portier_store::import::check(&state.store, auth, kind, source, line).await?;
    Ok((turn, checked))
}

/// A dry run that waits for its confirmation (the console's): the file is
/// checked and kept, with its report, for a day (docs/IMPORTS.md#reports).
/// Returns the planned import's id.
pub async fn plan(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    request: &Request,
    origin: &Origin,
) -> Result<Uuid, ApiError> {
    let mut report = Report::default();
    let (_turn, checked) = check(state, auth, request.kind, &request.source, |line| {
        report.push(line)
    })
    .await?;
    let waiting = Waiting::ForConfirmation(&report);
    let id = portier_store::import::enqueue(
        &state.store,
        auth,
        request,
        checked.rows(),
        waiting,
        origin,
    )
    .await?;
    Ok(id)
}

/// Confirms a planned import: it runs as a job, with the rights of the one
/// who confirms, and this node's worker is woken. False when it was not
/// waiting (confirmed already, or planned more than a day ago).
pub async fn confirm(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    id: Uuid,
) -> Result<bool, ApiError> {
    let confirmed =
        portier_store::import::confirm(&state.store, auth, id, Origin::now(None).now).await?;
    if confirmed {
        state.import_wake.notify_one();
    }
    Ok(confirmed)
}

/// What importing a checked file did.
pub enum Started {
    /// A large file: queued as a job, which this node's worker was woken
    /// for.
    Queued(Uuid),
    /// Done at once, in one transaction.
    Done(Import),
}

/// Imports a file [`check`] has checked (its `rows`; no invalid row unless
/// the request skips them): above the configured number of rows as a job
/// that commits in chunks, otherwise at once, all or nothing, each line of
/// the report going to `line` (docs/IMPORTS.md#writing).
pub async fn start(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    request: &Request,
    rows: u64,
    origin: &Origin,
    line: impl FnMut(&RowReport),
) -> Result<Started, ApiError> {
    let store = &state.store;
    if rows > state.config.import_sync_rows as u64 {
        let id = portier_store::import::enqueue(store, auth, request, rows, Waiting::ToRun, origin)
            .await?;
        state.import_wake.notify_one();
        return Ok(Started::Queued(id));
    }
    let lifecycle = &state.config.lifecycle;
    let import =
        portier_store::import::run_now(store, auth, request, rows, lifecycle, origin, line).await?;
    Ok(Started::Done(import))
}

/// Sends the invitations an import held back. Returns how many went out.
pub async fn send_held_invitations(
    state: &AppState,
    auth: &Authorized<MembersInvite>,
    id: Uuid,
    origin: &Origin,
) -> Result<i64, ApiError> {
    let lifecycle = &state.config.lifecycle;
    Ok(
        portier_store::import::send_held_invitations(&state.store, auth, id, lifecycle, origin)
            .await?,
    )
}

/// A size as people read it.
fn size(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB && bytes.is_multiple_of(MB) {
        format!("{} MB", bytes / MB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The 413 of a file above the configured limit, for the API and the
/// console alike.
pub fn file_too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "file_too_large",
        format!("a file to import holds at most {}", size(limit)),
    )
    .with_field("file")
}
