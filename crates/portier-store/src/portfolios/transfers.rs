//! Moving a portfolio to another organization: at once where the caller
//! manages both, else by a request the other side answers
//! (docs/PORTFOLIOS.md#transfers).

use super::*;
#[allow(unused_imports)]
use portier_core::rights::{Authorized, PortfoliosManage};

/// Whether the caller may manage portfolios in an organization: a transfer
/// happens at once when they may on both sides, and waits for the other
/// side's consent otherwise (docs/PORTFOLIOS.md#transfers).
pub type ManagesThere<'a> = &'a (dyn Fn(&Organization) -> bool + Sync);

/// Which side of a transfer asked for it; the other one answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The managing organization offers it.
    From,
    /// The receiving organization asks to take it over.
    To,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::From => "from",
            Side::To => "to",
        }
    }
}

/// A transfer waiting for, or given, the other side's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub id: Uuid,
    pub portfolio_id: Uuid,
    pub account_id: AccountId,
    pub type_key: String,
    pub from_organization_id: Uuid,
    pub to_organization_id: Uuid,
    pub asked_by: Side,
    /// Reactivated when accepted (deactivated when its member left).
    pub resume: bool,
    /// `pending`, `accepted`, `declined` or `withdrawn`.
    pub state: String,
    pub requested_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl TransferRequest {
    /// The organization whose answer it waits for.
    pub fn awaiting(&self) -> Uuid {
        match self.asked_by {
            Side::From => self.to_organization_id,
            Side::To => self.from_organization_id,
        }
    }
}

pub(crate) const SELECT_TRANSFER: &str =
    "SELECT t.id, t.portfolio_id, p.account_id, p.type_key, t.from_organization_id,
            t.to_organization_id, t.asked_by, t.resume, t.state, t.requested_at, t.decided_at
     FROM portfolio_transfers t JOIN portfolios p ON p.id = t.portfolio_id";

pub(crate) fn transfer_view(
    (
        id,
        portfolio_id,
        account,
        type_key,
        from,
        to,
        asked_by,
        resume,
        state,
        requested_at,
        decided_at,
    ): TransferRow,
) -> Result<TransferRequest> {
    let asked_by = match asked_by.as_str() {
        "from" => Side::From,
        "to" => Side::To,
        other => return Err(Error::Corrupt(format!("transfer {id}: asked_by {other:?}"))),
    };
    Ok(TransferRequest {
        id,
        portfolio_id,
        account_id: AccountId(account),
        type_key,
        from_organization_id: from,
        to_organization_id: to,
        asked_by,
        resume,
        state,
        requested_at,
        decided_at,
    })
}

/// What a transfer call did: moved it, or asked the other side.
#[derive(Debug, Clone)]
pub enum Transferred {
    /// Moved at once; with the warning of a move on a month's last day.
    Done(PortfolioView, Option<Warning>),
    /// Waits for the other organization's consent.
    Asked(TransferRequest),
}

/// Refuses a move of `current` (managed by `manager`) to `dest`, naming
/// `field`, unless `dest` is another organization of the same environment
/// that has the person as a member, and it is not completed.
pub(crate) async fn check_destination(
    tx: &mut Tx,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    field: &str,
) -> Result<()> {
    if dest.environment_id != manager.environment_id {
        return Err(unknown_organization(field));
    }
    if dest.id == manager.id {
        return Err(FieldError::new(
            field,
            "same_organization",
            "this organization manages the portfolio already",
        )
        .into());
    }
    if current.state == PortfolioState::Completed {
        return Err(Error::Domain(DomainError::Conflict {
            code: "portfolio_state",
            field: None,
            message: "a completed portfolio is not transferred".into(),
        }));
    }
    let member: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar(
            "SELECT 1 FROM memberships WHERE organization_id = $1 AND account_id = $2",
        )
        .bind(dest.id.0)
        .bind(current.account_id.0)
        .fetch_optional(c)
        .await
    })?;
    if member.is_none() {
        return Err(FieldError::new(
            field,
            "not_a_member_there",
            "the person is not a member of that organization: add them there first",
        )
        .into());
    }
    Ok(())
}

pub(crate) fn unknown_organization(field: &str) -> Error {
    FieldError::new(
        field,
        "unknown_organization",
        "no organization of this environment has that id",
    )
    .into()
}

/// Moves `current` from `manager` to `dest` as of `today` (the new
/// organization pays from then on), with its audit event; other open
/// requests for it lapse. The warning of a move on a month's last day.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn move_to(
    tx: &mut Tx,
    actor: &Actor,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    today: NaiveDate,
    request: Option<Uuid>,
    origin: &Origin,
) -> Result<Option<Warning>> {
    let id = current.id;
    let warning = if current.state == PortfolioState::Active {
        let from_day = today.max(current.start_date);
        close_period(tx, id, from_day).await?;
        open_period(tx, id, dest.id.0, from_day).await?;
        portier_core::portfolios::start_warning(from_day, dest.settings.billing_cycle)
    } else {
        None
    };
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolios SET organization_id = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(dest.id.0)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    lapse_requests(tx, id, origin).await?;
    let changes = serde_json::json!({
        "organization_id": {"before": manager.id, "after": dest.id},
        "on": today,
        "transfer_request": request,
    });
    let e = event(
        actor,
        "portfolio.transferred",
        dest,
        "portfolio",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, dest.environment_id, e, origin.now).await?;
    Ok(warning)
}

/// Open requests for portfolio `id` are withdrawn: it moved or ended.
pub(crate) async fn lapse_requests(tx: &mut Tx, id: Uuid, origin: &Origin) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE portfolio_transfers SET state = 'withdrawn', decided_at = $2
             WHERE portfolio_id = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Opens a request to move `current` from `manager` to `dest`, asked by
/// `side`, with its audit event in the asking organization. 409 when one is
/// open already.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ask(
    tx: &mut Tx,
    actor: &Actor,
    current: &PortfolioView,
    manager: &Organization,
    dest: &Organization,
    side: Side,
    resume: bool,
    origin: &Origin,
) -> Result<TransferRequest> {
    let id = Uuid::now_v7();
    let inserted = in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO portfolio_transfers (id, portfolio_id, from_organization_id, to_organization_id,
                                              asked_by, resume, state, requested_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7)",
        )
        .bind(id)
        .bind(current.id)
        .bind(manager.id.0)
        .bind(dest.id.0)
        .bind(side.as_str())
        .bind(resume)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    });
    inserted.map_err(|e| {
        Error::from(e).unique_as(|| {
            Error::Domain(DomainError::Conflict {
                code: "transfer_pending",
                field: None,
                message: "a transfer of this portfolio waits for an answer already".into(),
            })
        })
    })?;
    let asking = match side {
        Side::From => manager,
        Side::To => dest,
    };
    let changes = serde_json::json!({
        "portfolio_id": current.id,
        "from_organization_id": manager.id,
        "to_organization_id": dest.id,
        "asked_by": side.as_str(),
    });
    let e = event(
        actor,
        "portfolio.transfer_requested",
        asking,
        "portfolio_transfer",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(tx, asking.environment_id, e, origin.now).await?;
    transfer_tx(tx, id).await
}

/// Transfer request `id`, whichever organizations it concerns (the caller
/// checks that it may see one of them).
pub(crate) async fn transfer_request(
    on: impl Into<On<'_>>,
    id: Uuid,
) -> Result<Option<TransferRequest>> {
    let sql = format!("{SELECT_TRANSFER} WHERE t.id = $1");
    let row: Option<TransferRow> = on!(on.into(), |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(id)
            .fetch_optional(c)
            .await
    })?;
    row.map(transfer_view).transpose()
}

/// Moves `current` from `manager` to `dest` now when the caller may act
/// for the other side (`consented`), else asks it, as `side`.
pub(crate) async fn move_or_ask(
    tx: &mut Tx,
    actor: &Actor,
    (current, manager, dest): (&PortfolioView, &Organization, &Organization),
    side: Side,
    consented: bool,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    if consented {
        let warning = move_to(tx, actor, current, manager, dest, today, None, origin).await?;
        Ok(Transferred::Done(get_tx(tx, current.id).await?, warning))
    } else {
        let asked = ask(tx, actor, current, manager, dest, side, false, origin).await?;
        Ok(Transferred::Asked(asked))
    }
}

/// Moves portfolio `id`, managed by the organization `from` was given for
/// or one below it, to `to` (so that its costs are billed to the right
/// place, docs/PORTFOLIOS.md#transfers) as of `today`: the new organization
/// pays from then on.
/// The person must be a member there, and it must lie in the same
/// environment (the portfolio's type is the environment's); a completed
/// portfolio stays where it is. When the caller may not manage portfolios
/// in `to` (`manages`), a request waits for its consent instead.
pub async fn transfer(
    store: &Store,
    from: &Authorized<PortfoliosManage>,
    to: portier_core::ids::OrganizationId,
    manages: ManagesThere<'_>,
    id: Uuid,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    let mut tx = store.begin().await?;
    let (current, manager) = managed_within(&mut tx, from, id).await?;
    let dest = organizations::get_in_tx(&mut tx, to)
        .await
        .map_err(|e| match e {
            Error::Domain(DomainError::NotFound { .. }) => {
                unknown_organization("to_organization_id")
            }
            e => e,
        })?;
    check_destination(&mut tx, &current, &manager, &dest, "to_organization_id").await?;
    let done = move_or_ask(
        &mut tx,
        from.actor(),
        (&current, &manager, &dest),
        Side::From,
        manages(&dest),
        today,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// The organization `to` was given for takes over portfolio `id` of its
/// member `account`, managed by another organization of the environment,
/// as of `today`: at once when the caller may manage portfolios there too
/// (`manages`), else by a request that waits for that organization's
/// consent.
pub async fn take_over(
    store: &Store,
    to: &Authorized<PortfoliosManage>,
    account: AccountId,
    id: Uuid,
    manages: ManagesThere<'_>,
    today: NaiveDate,
    origin: &Origin,
) -> Result<Transferred> {
    let mut tx = store.begin().await?;
    let dest = organizations::get_in_tx(&mut tx, to.organization_id()).await?;
    let current = get_tx(&mut tx, id).await?;
    if current.account_id != account || current.organization_id == dest.id.0 {
        return Err(DomainError::NotFound { what: "portfolio" }.into());
    }
    let manager = organizations::get_in_tx(&mut tx, current.organization_id.into()).await?;
    if manager.environment_id != dest.environment_id {
        return Err(DomainError::NotFound { what: "portfolio" }.into());
    }
    check_destination(&mut tx, &current, &manager, &dest, "id").await?;
    let done = move_or_ask(
        &mut tx,
        to.actor(),
        (&current, &manager, &dest),
        Side::To,
        manages(&manager),
        today,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// The transfer requests to or from `org` and the organizations below it,
/// in `state` when given (`pending`, …), newest first.
pub async fn transfer_requests(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    state: Option<&str>,
) -> Result<Vec<TransferRequest>> {
    let org = auth.organization();
    let sql = format!(
        "{SELECT_TRANSFER}
         WHERE ($2 IS NULL OR t.state = $2)
           AND (t.from_organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
             OR t.to_organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1))
         ORDER BY t.id DESC LIMIT 500"
    );
    let rows: Vec<TransferRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(org.path.as_str())
            .bind(state)
            .fetch_all(c)
            .await
    })?;
    rows.into_iter().map(transfer_view).collect()
}

/// How many open transfer requests wait for the answer of `org` or an
/// organization below it.
pub async fn awaiting(store: &Store, auth: &Authorized<PortfoliosManage>) -> Result<i64> {
    let org = auth.organization();
    reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM portfolio_transfers t
               JOIN organizations o
                 ON o.id = CASE t.asked_by WHEN 'from' THEN t.to_organization_id ELSE t.from_organization_id END
             WHERE t.state = 'pending' AND substr(o.path, 1, length($1)) = $1",
        )
        .bind(org.path.as_str())
        .fetch_one(c)
        .await
    })
    .map_err(Into::into)
}

/// How a transfer request was answered.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The side asked consents: it moves now.
    Accept,
    /// The side asked refuses, or the asking side withdraws it.
    Decline,
}

/// The answer to request `id` by the organization `auth` was given for (or
/// one above the side it names). Accepting is for the side asked, and moves
/// the portfolio as of `today` (reactivating it when the request says so);
/// declining is for either side (the asking side withdraws). Returns the
/// request as answered, and the portfolio with its warning when it moved.
pub async fn answer(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    id: Uuid,
    answer: Answer,
    today: NaiveDate,
    origin: &Origin,
) -> Result<(TransferRequest, Option<(PortfolioView, Option<Warning>)>)> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let request = transfer_tx(&mut tx, id).await?;
    let from = organizations::get_in_tx(&mut tx, request.from_organization_id.into()).await?;
    let dest = organizations::get_in_tx(&mut tx, request.to_organization_id.into()).await?;
    let within = |o: &Organization| o.path.as_str().starts_with(org.path.as_str());
    let (asked, asking) = match request.asked_by {
        Side::From => (&dest, &from),
        Side::To => (&from, &dest),
    };
    if !within(asked) && !within(asking) {
        return Err(DomainError::NotFound {
            what: "transfer request",
        }
        .into());
    }
    if request.state != "pending" {
        return Err(Error::Domain(DomainError::Conflict {
            code: "transfer_state",
            field: None,
            message: format!("this transfer request is {} already", request.state),
        }));
    }
    let (state, moved) = match answer {
        Answer::Accept if !within(asked) => {
            return Err(Error::Domain(DomainError::Conflict {
                code: "awaiting_other_side",
                field: None,
                message: "the other organization answers this request: it waits for their consent"
                    .into(),
            }));
        }
        Answer::Accept => {
            let current = get_tx(&mut tx, request.portfolio_id).await?;
            if current.organization_id != from.id.0 {
                return Err(Error::Domain(DomainError::Conflict {
                    code: "transfer_state",
                    field: None,
                    message: "the portfolio has moved since this was asked".into(),
                }));
            }
            check_destination(&mut tx, &current, &from, &dest, "id").await?;
            set_answer(&mut tx, id, "accepted", origin).await?;
            let mut warning = move_to(
                &mut tx,
                auth.actor(),
                &current,
                &from,
                &dest,
                today,
                Some(id),
                origin,
            )
            .await?;
            if request.resume && current.state == PortfolioState::Deactivated {
                let moved = get_tx(&mut tx, current.id).await?;
                warning = apply(
                    &mut tx,
                    auth.actor(),
                    &dest,
                    &moved,
                    Change::Reactivate,
                    today,
                    origin,
                )
                .await?;
            }
            let view = get_tx(&mut tx, current.id).await?;
            ("accepted", Some((view, warning)))
        }
        Answer::Decline => {
            let state = if within(asked) {
                "declined"
            } else {
                "withdrawn"
            };
            set_answer(&mut tx, id, state, origin).await?;
            (state, None)
        }
    };
    let answering = if state == "withdrawn" { asking } else { asked };
    let changes = serde_json::json!({"portfolio_id": request.portfolio_id, "state": state});
    let e = event(
        auth.actor(),
        match state {
            "accepted" => "portfolio.transfer_accepted",
            "declined" => "portfolio.transfer_declined",
            _ => "portfolio.transfer_withdrawn",
        },
        answering,
        "portfolio_transfer",
        id.to_string(),
        changes,
        origin,
    );
    audit::record(&mut tx, answering.environment_id, e, origin.now).await?;
    let answered = transfer_tx(&mut tx, id).await?;
    tx.commit().await?;
    Ok((answered, moved))
}

pub(crate) async fn set_answer(tx: &mut Tx, id: Uuid, state: &str, origin: &Origin) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("UPDATE portfolio_transfers SET state = $2, decided_at = $3 WHERE id = $1")
            .bind(id)
            .bind(state)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

pub(crate) type TransferRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    Uuid,
    Uuid,
    String,
    bool,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

/// The portfolios of `account` (a member of `org`) in its environment: those
/// managed here and elsewhere (so that an organization that adds a person
/// can take over the one they bring, docs/PORTFOLIOS.md#transfers). Newest
/// first.
pub async fn of_member(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    account: AccountId,
) -> Result<Vec<PortfolioView>> {
    let org = auth.organization();
    let sql =
        format!("{SELECT} WHERE p.account_id = $1 AND p.environment_id = $2 ORDER BY p.id DESC");
    let rows: Vec<PortfolioRow> = reader!(store, |c| {
        sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(account.0)
            .bind(org.environment_id.0)
            .fetch_all(c)
            .await
    })?;
    rows.into_iter().map(view).collect()
}

/// Transfer request `id` inside a transaction; 404 when there is none.
pub(crate) async fn transfer_tx(tx: &mut Tx, id: Uuid) -> Result<TransferRequest> {
    transfer_request(tx, id).await?.ok_or_else(|| {
        DomainError::NotFound {
            what: "transfer request",
        }
        .into()
    })
}
