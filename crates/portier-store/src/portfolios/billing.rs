//! What is billed: the portfolios active on each month's reference date,
//! the periods behind them, and the report (docs/PORTFOLIOS.md#billing).

use super::*;
#[allow(unused_imports)]
use portier_core::rights::{Authorized, BillingRead, PortfoliosManage};

/// One stretch of a portfolio's history: who paid from `from` (included)
/// until `until` (excluded; `None`: still).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stretch {
    pub organization_id: Uuid,
    pub from_date: NaiveDate,
    pub until_date: Option<NaiveDate>,
}

impl Stretch {
    /// The months it pays for: those whose last day it covers, up to
    /// `this_month` while it is still open.
    pub fn months(&self, this_month: Month) -> Vec<Month> {
        let last = self
            .until_date
            .and_then(|u| u.pred_opt())
            .map_or(this_month, Month::of);
        let mut months = Vec::new();
        let mut m = Month::of(self.from_date);
        while m <= last {
            if self.until_date.is_none_or(|u| m.last_day() < u) {
                months.push(m);
            }
            m = m.next();
        }
        months
    }
}

/// A portfolio in a list, with whose it is and who manages it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub portfolio: PortfolioView,
    /// The person's name, or their e-mail address when none is known.
    pub person: String,
    pub email: String,
    pub organization_name: String,
}

/// The portfolios managed by `org` and the organizations below it, in
/// `state` and of type `type_key` when given, newest first (at most
/// `limit`).
pub async fn list(
    store: &Store,
    auth: &Authorized<PortfoliosManage>,
    state: Option<PortfolioState>,
    type_key: Option<&str>,
    limit: i64,
) -> Result<Vec<Listed>> {
    let org = auth.organization();
    type Row = (
        Uuid,
        Uuid,
        String,
        String,
        NaiveDate,
        Uuid,
        DateTime<Utc>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        String,
    );
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT p.id, p.account_id, p.type_key, p.state, p.start_date, p.organization_id, p.created_at,
                    a.email, a.given_name, a.infix, a.family_name, o.name
             FROM portfolios p
               JOIN organizations o ON o.id = p.organization_id
               JOIN accounts a ON a.id = p.account_id
             WHERE substr(o.path, 1, length($1)) = $1 AND ($2 IS NULL OR p.state = $2)
               AND ($3 IS NULL OR p.type_key = $3)
             ORDER BY p.id DESC LIMIT $4",
        )
        .bind(org.path.as_str())
        .bind(state.map(PortfolioState::as_str))
        .bind(type_key)
        .bind(limit)
        .fetch_all(c)
        .await
    })?;
    rows.into_iter()
        .map(
            |(
                id,
                account,
                type_key,
                state,
                start,
                manager,
                created,
                email,
                given,
                infix,
                family,
                org_name,
            )| {
                let name: Vec<String> = [given, infix, family].into_iter().flatten().collect();
                Ok(Listed {
                    portfolio: view((id, account, type_key, state, start, manager, created))?,
                    person: if name.is_empty() {
                        email.clone()
                    } else {
                        name.join(" ")
                    },
                    email,
                    organization_name: org_name,
                })
            },
        )
        .collect()
}

/// The active stretches paid for by `org` or an organization below it that
/// touch `first` to `last` (both included), for the billing report.
pub async fn billing_periods(
    store: &Store,
    org: &Organization,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<ActivePeriod>> {
    type Row = (Uuid, Uuid, String, Uuid, NaiveDate, Option<NaiveDate>);
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT p.id, p.account_id, p.type_key, pp.organization_id, pp.from_date, pp.until_date
             FROM portfolio_periods pp JOIN portfolios p ON p.id = pp.portfolio_id
             WHERE pp.organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
               AND pp.from_date <= $3 AND (pp.until_date IS NULL OR pp.until_date > $2)",
        )
        .bind(org.path.as_str())
        .bind(first)
        .bind(last)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(portfolio, account, type_key, organization, from, until)| ActivePeriod {
                portfolio,
                account,
                type_key,
                organization,
                from,
                until,
            },
        )
        .collect())
}

/// What `org` is billed for in `months` (in order, at least one): per
/// month the stretches of its portfolios (and those below it) active on the
/// month's last day; none for an annually billed organization.
pub async fn report(
    store: &Store,
    auth: &Authorized<BillingRead>,
    months: &[portier_core::portfolios::Month],
) -> Result<Vec<(portier_core::portfolios::Month, Vec<ActivePeriod>)>> {
    let org = auth.organization();
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let periods = billing_periods(store, org, first.first_day(), last.last_day()).await?;
    let cycle = org.settings.billing_cycle;
    Ok(portier_core::portfolios::billed(months, &periods, cycle)
        .into_iter()
        .map(|b| (b.month, b.portfolios.into_iter().cloned().collect()))
        .collect())
}

/// The counts of [`report`] without the portfolios: per month of `months`
/// (in order, at least one) how many were billed. The database counts the
/// stretches in groups of equal dates, so a large organization costs a few
/// thousand groups, not a row per portfolio.
pub async fn counts(
    store: &Store,
    auth: &Authorized<BillingRead>,
    months: &[portier_core::portfolios::Month],
) -> Result<Vec<(portier_core::portfolios::Month, i64)>> {
    let org = auth.organization();
    let (Some(first), Some(last)) = (months.first(), months.last()) else {
        return Ok(Vec::new());
    };
    let groups: Vec<(NaiveDate, Option<NaiveDate>, i64)> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT pp.from_date, pp.until_date, COUNT(*) FROM portfolio_periods pp
             WHERE pp.organization_id IN (SELECT id FROM organizations WHERE substr(path, 1, length($1)) = $1)
               AND pp.from_date <= $3 AND (pp.until_date IS NULL OR pp.until_date > $2)
             GROUP BY pp.from_date, pp.until_date",
        )
        .bind(org.path.as_str())
        .bind(first.first_day())
        .bind(last.last_day())
        .fetch_all(c)
        .await
    })?;
    Ok(portier_core::portfolios::counted(
        months,
        &groups,
        org.settings.billing_cycle,
    ))
}
