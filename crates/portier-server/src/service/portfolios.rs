//! What the API and the console both do with portfolios
//! (docs/PORTFOLIOS.md): define a type, give a member a portfolio, change
//! one, transfer one to another organization.

use chrono::NaiveDate;
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::portfolios::{PortfolioType, Warning};
use portier_core::rights::{Authorized, PortfoliosManage};
use portier_store::audit::Origin;
use portier_store::portfolios::{Change, ManagesThere, PortfolioView, Transferred};
use uuid::Uuid;

use crate::{ApiError, AppState};

/// Defines a portfolio type for the whole environment.
pub(crate) async fn create_type(
    state: &AppState,
    auth: &Authorized<PortfoliosManage>,
    new: PortfolioType,
    origin: &Origin,
) -> Result<PortfolioType, ApiError> {
    Ok(portier_store::portfolios::create_type(&state.store, auth, new, origin).await?)
}

/// Gives a member a portfolio of type `type_key` from `start`, with the
/// warning of a start on a month's last day.
pub(crate) async fn create(
    state: &AppState,
    auth: &Authorized<PortfoliosManage>,
    account: AccountId,
    type_key: &str,
    start: NaiveDate,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>), ApiError> {
    Ok(
        portier_store::portfolios::create(&state.store, auth, account, type_key, start, origin)
            .await?,
    )
}

/// Changes a portfolio's state or dates.
pub(crate) async fn change(
    state: &AppState,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
    change: Change,
    today: NaiveDate,
    origin: &Origin,
) -> Result<(PortfolioView, Option<Warning>), ApiError> {
    Ok(portier_store::portfolios::change(&state.store, auth, id, change, today, origin).await?)
}

/// Moves a portfolio to organization `to` now, when the caller manages
/// portfolios there too (`manages`), or asks that organization first.
pub(crate) async fn transfer(
    state: &AppState,
    from: &Authorized<PortfoliosManage>,
    to: OrganizationId,
    manages: ManagesThere<'_>,
    id: Uuid,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred, ApiError> {
    Ok(
        portier_store::portfolios::transfer(&state.store, from, to, manages, id, today, origin)
            .await?,
    )
}
