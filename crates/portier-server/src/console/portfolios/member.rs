//! A member's portfolios on their page: giving one, and taking one over.

use super::*;
#[allow(unused_imports)]
use crate::console::org::Console;
use crate::service::access::OrgAccess;

/// A member's portfolios, on their page.
pub struct MemberPortfolio {
    pub id: String,
    pub type_name: String,
    pub state: &'static str,
    pub state_text: String,
    pub start: String,
    pub organization: String,
    /// Managed here or below: its page can be opened.
    pub here: bool,
    /// Managed by another organization of the environment, not completed:
    /// this one can take it over.
    pub take_over: bool,
}

/// What the member page shows and offers about portfolios.
pub struct MemberPortfolios {
    pub items: Vec<MemberPortfolio>,
    pub types: Vec<(String, String)>,
    /// Where an active portfolio can go when the member leaves: (id, name).
    pub destinations: Vec<(String, String)>,
    /// An active portfolio managed by this very organization: removing the
    /// member asks what becomes of it.
    pub active_here: bool,
    /// The earliest start date, `YYYY-MM-DD`.
    pub today: String,
}

/// The member page's portfolio card, for those who manage portfolios here.
pub async fn for_member(
    state: &AppState,
    ctx: &OrgContext<impl portier_core::rights::Right>,
    i18n: &I18n,
    account: AccountId,
) -> Result<Option<MemberPortfolios>, ApiError> {
    if !ctx.may::<PortfoliosManage>() {
        return Ok(None);
    }
    let types = type_names(state, &ctx.auth, i18n).await?;
    let mut items = Vec::new();
    let mut active_here = false;
    for p in portier_store::portfolios::of_member(
        &state.store,
        &ctx.and::<portier_core::rights::PortfoliosManage>()?,
        account,
    )
    .await?
    {
        let manager = portier_store::organizations::get(&state.store, p.organization_id.into())
            .await?
            .ok_or(portier_core::Error::NotFound {
                what: "organization",
            })?;
        active_here |= manager.id == ctx.org.id && p.state == PortfolioState::Active;
        let here = within(&ctx.org, &manager);
        items.push(MemberPortfolio {
            id: p.id.to_string(),
            type_name: type_name(&types, &p.type_key),
            state: p.state.as_str(),
            state_text: state_text(i18n, p.state),
            start: i18n.day(p.start_date),
            organization: manager.name,
            here,
            take_over: !here && p.state != PortfolioState::Completed,
        });
    }
    Ok(Some(MemberPortfolios {
        items,
        types,
        destinations: destinations(state, &ctx.org, account, ctx.org.id.0).await?,
        active_here,
        today: today().to_string(),
    }))
}

/// Give a member a portfolio, from their page.
pub(crate) async fn give(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((org, account)): Path<(String, String)>,
    Posted(fields): Posted<PortfolioForm>,
) -> Response {
    let (person, ctx) = access.page();
    let Ok(account) = account.parse::<AccountId>() else {
        return not_found(&person);
    };
    let origin = Origin::now(client);
    let start = optional(&fields.start_date);
    let given = async {
        let auth = ctx.auth.and::<PortfoliosManage>()?;
        let start =
            portier_core::portfolios::start_date(start.as_deref(), origin.now.date_naive())?;
        if let Some(w) = unconfirmed(&fields, start, &ctx.org) {
            return Ok(Err((w, start)));
        }
        crate::service::portfolios::create(
            &state,
            &auth,
            account,
            fields.kind.trim(),
            start,
            &origin,
        )
        .await?;
        Ok::<_, ApiError>(Ok(()))
    }
    .await;
    let page = format!("/orgs/{}/members/{account}", ctx.org.id);
    match given {
        Ok(Err((w, day))) => confirm(
            &person,
            &ctx,
            Section::Members,
            Confirm {
                warning: &w,
                day,
                action: format!("{page}/portfolios"),
                fields: &fields,
                dated: true,
                back: page,
            },
        ),
        Ok(Ok(())) => {
            crate::console::members::after(
                &state,
                &person,
                &org,
                account,
                "portfolio-given",
                Ok(()),
                None,
            )
            .await
        }
        Err(e) => {
            crate::console::members::after(&state, &person, &org, account, "", Err(e), None).await
        }
    }
}

/// Take over a member's portfolio that another organization manages.
pub(crate) async fn take_over(
    State(state): State<AppState>,
    access: OrgAccess<PortfoliosManage, Console>,
    ClientAddr(client): ClientAddr,
    Path((org, account, id)): Path<(String, String, String)>,
    Posted(fields): Posted<PortfolioForm>,
) -> Response {
    let (person, ctx) = access.page();
    let (Ok(account), Ok(id)) = (account.parse::<AccountId>(), id.parse::<Uuid>()) else {
        return not_found(&person);
    };
    let origin = Origin::now(client);
    let manages = |o: &Organization| ctx.principal.authorize::<PortfoliosManage>(o).is_ok();
    let done = async {
        let auth = ctx.auth.and::<PortfoliosManage>()?;
        let today = origin.now.date_naive();
        let theirs = portier_store::portfolios::of_member(&state.store, &ctx.auth, account)
            .await?
            .into_iter()
            .find(|p| p.id == id);
        if let Some(p) = theirs.filter(|p| p.state == PortfolioState::Active) {
            let manager =
                portier_store::organizations::get(&state.store, p.organization_id.into()).await?;
            let day = today.max(p.start_date);
            if manager.is_some_and(|m| manages(&m))
                && let Some(w) = unconfirmed(&fields, day, &ctx.org)
            {
                return Ok(Err((w, day)));
            }
        }
        let moved = portier_store::portfolios::take_over(
            &state.store,
            &auth,
            account,
            id,
            &manages,
            today,
            &origin,
        )
        .await?;
        Ok::<_, ApiError>(Ok(match moved {
            Transferred::Done(..) => "portfolio-taken-over",
            Transferred::Asked(_) => "take-over-asked",
        }))
    }
    .await;
    let page = format!("/orgs/{}/members/{account}", ctx.org.id);
    match done {
        Ok(Err((w, day))) => confirm(
            &person,
            &ctx,
            Section::Members,
            Confirm {
                warning: &w,
                day,
                action: format!("{page}/portfolios/{id}/take-over"),
                fields: &fields,
                dated: false,
                back: page,
            },
        ),
        Ok(Ok(key)) => {
            crate::console::members::after(&state, &person, &org, account, key, Ok(()), None).await
        }
        Err(e) => {
            crate::console::members::after(&state, &person, &org, account, "", Err(e), None).await
        }
    }
}
