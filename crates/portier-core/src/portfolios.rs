//! Portfolios and their billing (docs/PORTFOLIOS.md). A portfolio is a dated
//! file for a person's training, managed and paid for by one organization at
//! a time. What an organization is billed for a month is the number of its
//! portfolios active on the **last day of that month** (the reference date),
//! also when it is invoiced quarterly; an organization billed annually is not
//! counted monthly (docs/PORTFOLIOS.md#billing).
//!
//! Dates are whole days (the organization's calendar). A change takes effect
//! from its date: a portfolio started on D is active on D, one deactivated,
//! completed or transferred away on D is not active (for the old
//! organization) on D. So starting on the last day of a month bills that
//! month (start on the first of the next one instead,
//! docs/PORTFOLIOS.md#the-reference-date), and deactivating on the last day
//! does not.

use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;
use uuid::Uuid;

use crate::FieldError;
pub use crate::organizations::BillingCycle;

/// The states of a portfolio (docs/PORTFOLIOS.md#states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortfolioState {
    Active,
    /// Temporarily deactivated: it can be reactivated.
    Deactivated,
    /// Completed: final.
    Completed,
}

impl PortfolioState {
    /// Every state, for lists and texts that must name each one.
    pub const ALL: [PortfolioState; 3] = [
        PortfolioState::Active,
        PortfolioState::Deactivated,
        PortfolioState::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PortfolioState::Active => "active",
            PortfolioState::Deactivated => "deactivated",
            PortfolioState::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<PortfolioState> {
        match s {
            "active" => Some(PortfolioState::Active),
            "deactivated" => Some(PortfolioState::Deactivated),
            "completed" => Some(PortfolioState::Completed),
            _ => None,
        }
    }
}

/// A kind of portfolio an environment offers (docs/PORTFOLIOS.md#types): a
/// key the roles name in `portfolio_types`, and its name in English and
/// Dutch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioType {
    pub key: String,
    pub name: crate::roles::LocalizedName,
}

impl PortfolioType {
    pub fn parse(
        key: &str,
        en: Option<&str>,
        nl: Option<&str>,
    ) -> Result<PortfolioType, FieldError> {
        let key = crate::roles::RoleKey::parse("key", key).map_err(|_| {
            FieldError::new(
                "key",
                "portfolio_type_invalid",
                "a portfolio type is a key: 1 to 64 lower-case letters, digits and hyphens",
            )
        })?;
        Ok(PortfolioType {
            key: key.as_str().to_owned(),
            name: crate::roles::localized_name(en, nl, "portfolio type")?,
        })
    }
}

/// A portfolio asked for with a new member (the last step of adding a
/// person, docs/RULES.md#adding-members), checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPortfolio {
    pub type_key: String,
    pub start: NaiveDate,
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    pub year: i32,
    /// 1 to 12.
    pub month: u32,
}

/// The longest range a billing report covers at once.
pub const MAX_MONTHS: usize = 120;

impl Month {
    pub fn of(day: NaiveDate) -> Month {
        Month {
            year: day.year(),
            month: day.month(),
        }
    }

    /// Reads `YYYY-MM`.
    pub fn parse(field: &str, s: &str) -> Result<Month, FieldError> {
        let bad = || FieldError::new(field, "invalid", "a month is written YYYY-MM, e.g. 2026-01");
        let (y, m) = s.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(bad());
        }
        let year: i32 = y.parse().map_err(|_| bad())?;
        let month: u32 = m.parse().map_err(|_| bad())?;
        if !(1..=12).contains(&month) || !(1900..=9999).contains(&year) {
            return Err(bad());
        }
        Ok(Month { year, month })
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or_default()
    }

    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The reference date: the month's last day.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or_default()
    }

    /// `from` to `to`, both included; refused when backwards or longer than
    /// [`MAX_MONTHS`].
    pub fn range(from: Month, to: Month) -> Result<Vec<Month>, FieldError> {
        if to < from {
            return Err(FieldError::new(
                "to",
                "before_from",
                "the last month comes before the first",
            ));
        }
        let mut months = vec![from];
        while let Some(&last) = months.last()
            && last < to
        {
            if months.len() == MAX_MONTHS {
                return Err(FieldError::new(
                    "to",
                    "too_long",
                    format!("a report covers at most {MAX_MONTHS} months"),
                ));
            }
            months.push(last.next());
        }
        Ok(months)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A stretch of days in which a portfolio was active and paid for by one
/// organization: from `from` (included) until `until` (excluded; `None`:
/// still so). A portfolio's history is a row of these, one per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivePeriod {
    pub portfolio: Uuid,
    pub account: Uuid,
    pub type_key: String,
    pub organization: Uuid,
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl ActivePeriod {
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.from <= day && self.until.is_none_or(|u| day < u)
    }
}

/// One month of a billing report: the portfolios counted (active on its
/// last day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthBill<'a> {
    pub month: Month,
    pub portfolios: Vec<&'a ActivePeriod>,
}

/// The months `months` of an organization billed per `cycle`, from the
/// active periods of the portfolios it paid for: per month those covering
/// its last day. An annually billed organization has none counted.
pub fn billed<'a>(
    months: &[Month],
    periods: &'a [ActivePeriod],
    cycle: BillingCycle,
) -> Vec<MonthBill<'a>> {
    months
        .iter()
        .map(|&month| MonthBill {
            month,
            portfolios: if cycle.counted_monthly() {
                let day = month.last_day();
                periods.iter().filter(|p| p.covers(day)).collect()
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// [`billed`] for counts only: `groups` holds stretches of equal dates
/// with how many there are of each (`from`, `until`, count).
pub fn counted(
    months: &[Month],
    groups: &[(NaiveDate, Option<NaiveDate>, i64)],
    cycle: BillingCycle,
) -> Vec<(Month, i64)> {
    months
        .iter()
        .map(|&month| {
            let day = month.last_day();
            let n = if cycle.counted_monthly() {
                groups
                    .iter()
                    .filter(|(from, until, _)| *from <= day && until.is_none_or(|u| day < u))
                    .map(|(_, _, n)| n)
                    .sum()
            } else {
                0
            };
            (month, n)
        })
        .collect()
}

/// A heads-up an action answers with (contract: `warnings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
    /// The month that will be billed because of it.
    pub month: String,
    /// The date to choose instead to avoid it.
    pub avoid_by_starting_on: NaiveDate,
}

/// The warning for a portfolio that starts (or is reactivated, or taken
/// over) on `start`, when that bills a month it barely belongs to: `start`
/// is the last day of its month, the reference date
/// (docs/PORTFOLIOS.md#the-reference-date). None for an annually billed
/// organization, or any other day.
pub fn start_warning(start: NaiveDate, cycle: BillingCycle) -> Option<Warning> {
    let month = Month::of(start);
    if !cycle.counted_monthly() || start != month.last_day() {
        return None;
    }
    let tomorrow = start.checked_add_days(Days::new(1))?;
    Some(Warning {
        code: "billed_for_this_month",
        message: format!(
            "{start} is the last day of {month}, the reference date of billing: this portfolio will be billed for {month} too. To begin billing with {next}, start it on {tomorrow}.",
            next = month.next(),
        ),
        month: month.to_string(),
        avoid_by_starting_on: tomorrow,
    })
}

/// A start date as given: `YYYY-MM-DD`, or `today` when absent. In the past
/// only as far as today (history is not rewritten); in the future as far as
/// wanted.
pub fn start_date(given: Option<&str>, today: NaiveDate) -> Result<NaiveDate, FieldError> {
    let Some(text) = given else {
        return Ok(today);
    };
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        FieldError::new(
            "start_date",
            "invalid",
            "a date is written YYYY-MM-DD, e.g. 2026-01-01",
        )
    })?;
    if day < today {
        return Err(FieldError::new(
            "start_date",
            "in_the_past",
            "a portfolio starts today or later",
        ));
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_state_reads_back_from_its_name() {
        for state in super::PortfolioState::ALL {
            assert_eq!(super::PortfolioState::parse(state.as_str()), Some(state));
        }
        assert_eq!(super::PortfolioState::parse("Active"), None);
        assert_eq!(super::PortfolioState::parse(""), None);
    }

    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn m(s: &str) -> Month {
        Month::parse("month", s).unwrap()
    }

    fn period(n: u128, org: u128, from: &str, until: Option<&str>) -> ActivePeriod {
        ActivePeriod {
            portfolio: Uuid::from_u128(n),
            account: Uuid::from_u128(100 + n),
            type_key: "surgery".into(),
            organization: Uuid::from_u128(org),
            from: d(from),
            until: until.map(d),
        }
    }

    #[test]
    fn months_parse_step_and_end_on_their_last_day() {
        assert_eq!(m("2026-01").to_string(), "2026-01");
        assert_eq!(m("2028-02").last_day(), d("2028-02-29"), "a leap year");
        assert_eq!(m("2026-02").last_day(), d("2026-02-28"));
        assert_eq!(m("2100-02").last_day(), d("2100-02-28"), "no leap year");
        assert_eq!(m("2026-12").last_day(), d("2026-12-31"));
        assert_eq!(m("2026-12").next(), m("2027-01"));
        for bad in [
            "2026-1", "2026-13", "26-01", "2026/01", "", "2026-00", "abcd-ef",
        ] {
            assert!(Month::parse("from", bad).is_err(), "{bad}");
        }
        assert_eq!(Month::range(m("2026-11"), m("2027-02")).unwrap().len(), 4);
        assert_eq!(
            Month::range(m("2026-03"), m("2026-02")).unwrap_err().code,
            "before_from"
        );
        assert_eq!(
            Month::range(m("2000-01"), m("2010-01")).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            Month::range(m("2000-01"), m("2009-12")).unwrap().len(),
            MAX_MONTHS
        );
    }

    /// A table computed by hand (docs/PORTFOLIOS.md#billing): months crossing a
    /// year end, a leap-year February, a transfer in the middle of a month and
    /// a start on a last day. Organization 1 pays monthly; 2 takes one over on
    /// 2028-02-15.
    ///
    /// | portfolio | history                                              |
    /// |-----------|------------------------------------------------------|
    /// | 1         | org 1 from 2027-12-31 (the last day: December billed) |
    /// | 2         | org 1 from 2028-01-01, to org 2 on 2028-02-15         |
    /// | 3         | org 1 from 2028-01-10, deactivated 2028-02-29         |
    /// | 4         | org 1 from 2028-02-29 (leap day, the last day)        |
    /// | 5         | org 1 2027-11-05 to 2028-01-31 (deactivated on the last day) |
    ///
    /// | month   | org 1 billed | org 2 billed |
    /// |---------|--------------|--------------|
    /// | 2027-11 | 5            | -            |
    /// | 2027-12 | 1, 5         | -            |
    /// | 2028-01 | 1, 2, 3      | -            |
    /// | 2028-02 | 1, 4         | 2            |
    /// | 2028-03 | 1, 4         | 2            |
    #[test]
    fn the_last_day_of_each_month_decides_what_is_billed() {
        let periods = [
            period(1, 1, "2027-12-31", None),
            period(2, 1, "2028-01-01", Some("2028-02-15")),
            period(2, 2, "2028-02-15", None),
            period(3, 1, "2028-01-10", Some("2028-02-29")),
            period(4, 1, "2028-02-29", None),
            period(5, 1, "2027-11-05", Some("2028-01-31")),
        ];
        let months = Month::range(m("2027-11"), m("2028-03")).unwrap();
        let of = |org: u128| -> Vec<ActivePeriod> {
            periods
                .iter()
                .filter(|p| p.organization == Uuid::from_u128(org))
                .cloned()
                .collect()
        };
        let table = |org: u128, cycle: BillingCycle| -> Vec<(String, Vec<u128>)> {
            let mine = of(org);
            billed(&months, &mine, cycle)
                .into_iter()
                .map(|b| {
                    let mut ids: Vec<u128> =
                        b.portfolios.iter().map(|p| p.portfolio.as_u128()).collect();
                    ids.sort();
                    (b.month.to_string(), ids)
                })
                .collect()
        };
        let expect = |rows: &[(&str, &[u128])]| -> Vec<(String, Vec<u128>)> {
            rows.iter()
                .map(|(m, ids)| (m.to_string(), ids.to_vec()))
                .collect()
        };
        assert_eq!(
            table(1, BillingCycle::Monthly),
            expect(&[
                ("2027-11", &[5]),
                ("2027-12", &[1, 5]),
                ("2028-01", &[1, 2, 3]),
                ("2028-02", &[1, 4]),
                ("2028-03", &[1, 4]),
            ])
        );
        assert_eq!(
            table(1, BillingCycle::Quarterly),
            table(1, BillingCycle::Monthly),
            "invoiced per quarter, counted per month all the same"
        );
        assert_eq!(
            table(2, BillingCycle::Monthly),
            expect(&[
                ("2027-11", &[]),
                ("2027-12", &[]),
                ("2028-01", &[]),
                ("2028-02", &[2]),
                ("2028-03", &[2]),
            ])
        );
        assert!(
            table(1, BillingCycle::Annual)
                .iter()
                .all(|(_, ids)| ids.is_empty()),
            "an annually billed organization is not counted monthly"
        );
    }

    #[test]
    fn starting_on_the_last_day_of_a_month_warns_and_names_the_way_out() {
        let w = start_warning(d("2026-12-31"), BillingCycle::Monthly).unwrap();
        assert_eq!(
            (w.code, w.month.as_str()),
            ("billed_for_this_month", "2026-12")
        );
        assert_eq!(w.avoid_by_starting_on, d("2027-01-01"));
        assert!(w.message.contains("2027-01-01"), "{}", w.message);
        let leap = start_warning(d("2028-02-29"), BillingCycle::Quarterly).unwrap();
        assert_eq!(leap.avoid_by_starting_on, d("2028-03-01"));
        assert!(start_warning(d("2026-02-28"), BillingCycle::Monthly).is_some());
        assert_eq!(
            start_warning(d("2028-02-28"), BillingCycle::Monthly),
            None,
            "not the last day in a leap year"
        );
        assert_eq!(start_warning(d("2027-01-01"), BillingCycle::Monthly), None);
        assert_eq!(start_warning(d("2026-12-30"), BillingCycle::Monthly), None);
        assert_eq!(
            start_warning(d("2026-12-31"), BillingCycle::Annual),
            None,
            "not for annual payers"
        );
    }

    #[test]
    fn start_dates_are_today_or_later() {
        let today = d("2026-11-29");
        assert_eq!(start_date(None, today).unwrap(), today);
        assert_eq!(
            start_date(Some("2027-01-01"), today).unwrap(),
            d("2027-01-01")
        );
        assert_eq!(
            start_date(Some("2026-11-28"), today).unwrap_err().code,
            "in_the_past"
        );
        assert_eq!(
            start_date(Some("2026-02-30"), today).unwrap_err().code,
            "invalid"
        );
        assert_eq!(
            start_date(Some("tomorrow"), today).unwrap_err().field,
            "start_date"
        );
    }

    type Group = (NaiveDate, Option<NaiveDate>, i64);

    fn group(from: &str, until: Option<&str>, n: i64) -> Group {
        (d(from), until.map(d), n)
    }

    /// The stretches of [`counted_by_hand`], worked out by hand
    /// (docs/PORTFOLIOS.md#billing: what counts is being active on the
    /// month's last day; a stretch's `until` is the day it stopped). The
    /// counts are chosen so that every month's total has one reading.
    ///
    /// | stretch | from       | until      | n  | counted in             |
    /// |---------|------------|------------|----|------------------------|
    /// | A       | 2027-12-31 | open       | 2  | Dec, Jan, Feb, Mar     |
    /// | B       | 2028-01-01 | 2028-02-15 | 3  | Jan                    |
    /// | C       | 2028-01-10 | 2028-02-29 | 6  | Jan (stopped on Feb's last day) |
    /// | D       | 2028-02-29 | open       | 5  | Feb, Mar (started on leap day) |
    /// | E       | 2027-11-05 | 2028-01-31 | 7  | Nov, Dec (stopped on Jan's last day) |
    /// | F       | 2028-03-01 | 2028-04-01 | 11 | Mar (exactly one month) |
    /// | G       | 2028-02-01 | 2028-03-01 | 13 | Feb (exactly one month) |
    /// | H       | 2027-11-30 | 2027-12-01 | 17 | Nov (one day: the last) |
    /// | I       | 2028-01-30 | 2028-01-31 | 19 | never (the day before the last) |
    /// | J       | 2028-04-01 | open       | 23 | never (starts after)   |
    /// | K       | 2027-01-01 | 2027-06-01 | 29 | never (ended before)   |
    ///
    /// | month   | reference date | stretches | billed |
    /// |---------|----------------|-----------|--------|
    /// | 2027-11 | 2027-11-30     | E, H      | 24     |
    /// | 2027-12 | 2027-12-31     | A, E      | 9      |
    /// | 2028-01 | 2028-01-31     | A, B, C   | 11     |
    /// | 2028-02 | 2028-02-29     | A, D, G   | 20     |
    /// | 2028-03 | 2028-03-31     | A, D, F   | 18     |
    fn counted_by_hand() -> Vec<Group> {
        vec![
            group("2027-12-31", None, 2),
            group("2028-01-01", Some("2028-02-15"), 3),
            group("2028-01-10", Some("2028-02-29"), 6),
            group("2028-02-29", None, 5),
            group("2027-11-05", Some("2028-01-31"), 7),
            group("2028-03-01", Some("2028-04-01"), 11),
            group("2028-02-01", Some("2028-03-01"), 13),
            group("2027-11-30", Some("2027-12-01"), 17),
            group("2028-01-30", Some("2028-01-31"), 19),
            group("2028-04-01", None, 23),
            group("2027-01-01", Some("2027-06-01"), 29),
        ]
    }

    fn counts(months: &[Month], groups: &[Group], cycle: BillingCycle) -> Vec<(String, i64)> {
        counted(months, groups, cycle)
            .into_iter()
            .map(|(month, n)| (month.to_string(), n))
            .collect()
    }

    fn rows(expected: &[(&str, i64)]) -> Vec<(String, i64)> {
        expected.iter().map(|(m, n)| (m.to_string(), *n)).collect()
    }

    #[test]
    fn each_month_counts_the_portfolios_active_on_its_last_day() {
        let months = Month::range(m("2027-11"), m("2028-03")).unwrap();
        assert_eq!(
            counts(&months, &counted_by_hand(), BillingCycle::Monthly),
            rows(&[
                ("2027-11", 24),
                ("2027-12", 9),
                ("2028-01", 11),
                ("2028-02", 20),
                ("2028-03", 18),
            ])
        );
    }

    /// docs/PORTFOLIOS.md#billing: invoiced per quarter, counted per month
    /// all the same; invoiced per year, not counted per month (0), but
    /// every month asked for is still there.
    #[test]
    fn quarterly_payers_are_counted_like_monthly_ones_and_annual_ones_not_at_all() {
        let months = Month::range(m("2027-11"), m("2028-03")).unwrap();
        let groups = counted_by_hand();
        assert_eq!(
            counts(&months, &groups, BillingCycle::Quarterly),
            counts(&months, &groups, BillingCycle::Monthly)
        );
        assert_eq!(
            counts(&months, &groups, BillingCycle::Annual),
            rows(&[
                ("2027-11", 0),
                ("2027-12", 0),
                ("2028-01", 0),
                ("2028-02", 0),
                ("2028-03", 0),
            ])
        );
    }

    #[test]
    fn counting_nothing_gives_nothing_and_no_portfolios_give_zeros() {
        for cycle in BillingCycle::ALL {
            assert_eq!(counted(&[], &counted_by_hand(), cycle), vec![], "{cycle:?}");
            assert_eq!(counted(&[], &[], cycle), vec![], "{cycle:?}");
            assert_eq!(
                counts(&[m("2026-01"), m("2026-02")], &[], cycle),
                rows(&[("2026-01", 0), ("2026-02", 0)]),
                "{cycle:?}"
            );
        }
    }

    #[test]
    fn the_months_are_counted_as_asked_in_order_and_with_gaps() {
        let groups = counted_by_hand();
        assert_eq!(
            counts(
                &[m("2028-03"), m("2027-11"), m("2028-03")],
                &groups,
                BillingCycle::Monthly
            ),
            rows(&[("2028-03", 18), ("2027-11", 24), ("2028-03", 18)])
        );
    }

    /// The counts-only report and the detailed one must never disagree:
    /// the same stretches, one row per portfolio, give the same figures.
    #[test]
    fn counts_agree_with_the_detailed_report() {
        let months = Month::range(m("2027-10"), m("2028-05")).unwrap();
        let groups = counted_by_hand();
        let mut periods = Vec::new();
        for (i, (from, until, n)) in groups.iter().enumerate() {
            for k in 0..*n {
                periods.push(ActivePeriod {
                    from: *from,
                    until: *until,
                    ..period(1000 * i as u128 + k as u128, 1, "2000-01-01", None)
                });
            }
        }
        for cycle in BillingCycle::ALL {
            let detailed: Vec<(Month, i64)> = billed(&months, &periods, cycle)
                .iter()
                .map(|b| (b.month, b.portfolios.len() as i64))
                .collect();
            assert_eq!(counted(&months, &groups, cycle), detailed, "{cycle:?}");
        }
    }

    /// docs/PORTFOLIOS.md#the-reference-date, in a month without a 29th
    /// February: the 28th is the last day.
    #[test]
    fn in_a_common_year_february_ends_on_the_28th() {
        let months = [m("2027-02"), m("2027-03")];
        assert_eq!(
            counts(
                &months,
                &[
                    group("2027-02-28", None, 1),
                    group("2027-02-01", Some("2027-02-28"), 10),
                    group("2027-02-01", Some("2027-03-01"), 100),
                ],
                BillingCycle::Monthly
            ),
            rows(&[("2027-02", 101), ("2027-03", 1)])
        );
    }

    #[test]
    fn a_portfolio_of_exactly_one_month_is_billed_for_that_month_only() {
        let months = Month::range(m("2026-03"), m("2026-06")).unwrap();
        let billed_for = |from: &str, until: &str| -> Vec<String> {
            counts(
                &months,
                &[group(from, Some(until), 1)],
                BillingCycle::Monthly,
            )
            .into_iter()
            .filter(|(_, n)| *n == 1)
            .map(|(month, _)| month)
            .collect()
        };
        assert_eq!(billed_for("2026-04-01", "2026-05-01"), ["2026-04"]);
        assert_eq!(
            billed_for("2026-04-30", "2026-05-30"),
            ["2026-04"],
            "started on April's last day: April, and May not though it ran most of it"
        );
        assert_eq!(
            billed_for("2026-04-30", "2026-05-31"),
            ["2026-04"],
            "stopped on May's last day"
        );
        assert_eq!(
            billed_for("2026-04-30", "2026-06-01"),
            ["2026-04", "2026-05"]
        );
        assert_eq!(
            billed_for("2026-04-01", "2026-04-30"),
            Vec::<String>::new(),
            "stopped on April's last day: never billed"
        );
        assert_eq!(
            billed_for("2026-05-31", "2026-06-01"),
            ["2026-05"],
            "a single day, the last of a 31-day month"
        );
    }

    /// docs/PORTFOLIOS.md#states: deactivated (or completed) from a day, a
    /// portfolio is not billed from that day; reactivated, it is again.
    #[test]
    fn a_deactivated_then_reactivated_portfolio_is_billed_while_active() {
        let months = Month::range(m("2026-01"), m("2026-04")).unwrap();
        let history = [
            group("2026-01-10", Some("2026-02-10"), 1),
            group("2026-03-05", Some("2026-04-30"), 1),
        ];
        assert_eq!(
            counts(&months, &history, BillingCycle::Monthly),
            rows(&[
                ("2026-01", 1),
                ("2026-02", 0),
                ("2026-03", 1),
                ("2026-04", 0),
            ])
        );
    }

    #[test]
    fn a_stretch_covers_its_first_day_and_not_the_day_it_stopped() {
        let closed = period(1, 1, "2026-04-10", Some("2026-04-20"));
        assert!(!closed.covers(d("2026-04-09")));
        assert!(closed.covers(d("2026-04-10")));
        assert!(closed.covers(d("2026-04-19")));
        assert!(!closed.covers(d("2026-04-20")));
        assert!(!closed.covers(d("2026-05-01")));
        let open = period(1, 1, "2026-04-10", None);
        assert!(!open.covers(d("2026-04-09")));
        assert!(open.covers(d("2026-04-10")));
        assert!(open.covers(d("2099-12-31")));
    }

    #[test]
    fn billed_keeps_every_month_asked_for() {
        let periods = [period(1, 1, "2026-01-31", None)];
        assert!(billed(&[], &periods, BillingCycle::Monthly).is_empty());
        for cycle in BillingCycle::ALL {
            let bills = billed(&[m("2025-12"), m("2026-01")], &periods, cycle);
            let months: Vec<String> = bills.iter().map(|b| b.month.to_string()).collect();
            assert_eq!(months, ["2025-12", "2026-01"], "{cycle:?}");
            assert!(bills[0].portfolios.is_empty());
            assert_eq!(
                bills[1].portfolios.len(),
                usize::from(cycle.counted_monthly()),
                "{cycle:?}"
            );
        }
    }

    #[test]
    fn a_report_of_one_month_is_that_month() {
        assert_eq!(
            Month::range(m("2026-02"), m("2026-02")).unwrap(),
            [m("2026-02")]
        );
        assert_eq!(
            Month::range(m("2026-12"), m("2027-01")).unwrap(),
            [m("2026-12"), m("2027-01")]
        );
        assert_eq!(
            Month::range(m("2027-01"), m("2026-12")).unwrap_err().code,
            "before_from"
        );
        let e = Month::range(m("2000-01"), m("2010-01")).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.message.as_str()),
            ("to", "a report covers at most 120 months")
        );
    }

    #[test]
    fn months_step_over_every_month_end() {
        assert_eq!(m("2026-01").next(), m("2026-02"));
        assert_eq!(m("2026-11").next(), m("2026-12"));
        assert_eq!(m("2026-12").next(), m("2027-01"));
        assert_eq!(Month::of(d("2028-02-29")), m("2028-02"));
        assert_eq!(Month::of(d("2027-01-01")), m("2027-01"));
        assert_eq!(m("2028-02").first_day(), d("2028-02-01"));
        let ends = [
            ("2026-01", "2026-01-31"),
            ("2026-04", "2026-04-30"),
            ("2026-06", "2026-06-30"),
            ("2026-07", "2026-07-31"),
            ("2026-08", "2026-08-31"),
            ("2026-09", "2026-09-30"),
            ("2026-11", "2026-11-30"),
            ("2000-02", "2000-02-29"),
            ("2027-02", "2027-02-28"),
        ];
        for (month, last) in ends {
            assert_eq!(m(month).last_day(), d(last), "{month}");
        }
        let mut steps = vec![m("2027-01")];
        while steps.len() < 13 {
            steps.push(steps.last().unwrap().next());
        }
        assert_eq!(steps[12], m("2028-01"));
        assert!(steps.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            Month {
                year: 999,
                month: 3
            }
            .to_string(),
            "0999-03"
        );
    }

    #[test]
    fn months_are_years_1900_to_9999_written_in_full() {
        assert_eq!(
            m("1900-01"),
            Month {
                year: 1900,
                month: 1
            }
        );
        assert_eq!(
            m("9999-12"),
            Month {
                year: 9999,
                month: 12
            }
        );
        for bad in [
            "1899-12", "+999-01", "2026-01-", "-2026-01", "2026--1", "02026-01",
        ] {
            assert!(Month::parse("from", bad).is_err(), "{bad}");
        }
        let e = Month::parse("to", "January").unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("to", "invalid"));
        assert!(e.message.contains("YYYY-MM"));
    }

    /// docs/PORTFOLIOS.md#giving-a-portfolio: today or later, never in the
    /// past; today itself is fine.
    #[test]
    fn a_portfolio_may_start_today_or_tomorrow_but_not_yesterday() {
        let today = d("2026-11-29");
        assert_eq!(start_date(Some("2026-11-29"), today), Ok(today));
        assert_eq!(start_date(Some("2026-11-30"), today), Ok(d("2026-11-30")));
        let yesterday = start_date(Some("2026-11-28"), today).unwrap_err();
        assert_eq!(
            (yesterday.field.as_str(), yesterday.code),
            ("start_date", "in_the_past")
        );
        // Across a year end.
        let new_year = d("2027-01-01");
        assert_eq!(start_date(Some("2027-01-01"), new_year), Ok(new_year));
        assert_eq!(
            start_date(Some("2027-01-02"), new_year),
            Ok(d("2027-01-02"))
        );
        assert_eq!(
            start_date(Some("2026-12-31"), new_year).unwrap_err().code,
            "in_the_past"
        );
        // A leap day exists only in a leap year.
        assert_eq!(start_date(Some("2028-02-29"), today), Ok(d("2028-02-29")));
        assert_eq!(
            start_date(Some("2027-02-29"), today).unwrap_err().code,
            "invalid"
        );
    }

    #[test]
    fn a_warning_names_the_month_it_bills_and_the_day_to_start_on_instead() {
        let w = start_warning(d("2026-12-31"), BillingCycle::Monthly).unwrap();
        assert_eq!(
            w.message,
            "2026-12-31 is the last day of 2026-12, the reference date of billing: \
             this portfolio will be billed for 2026-12 too. \
             To begin billing with 2027-01, start it on 2027-01-01."
        );
        let april = start_warning(d("2026-04-30"), BillingCycle::Quarterly).unwrap();
        assert_eq!(
            (april.month.as_str(), april.avoid_by_starting_on),
            ("2026-04", d("2026-05-01"))
        );
        assert_eq!(start_warning(d("2026-04-29"), BillingCycle::Monthly), None);
        assert_eq!(start_warning(d("2026-05-01"), BillingCycle::Monthly), None);
        for cycle in [BillingCycle::Monthly, BillingCycle::Quarterly] {
            assert!(start_warning(d("2027-02-28"), cycle).is_some(), "{cycle:?}");
        }
        assert_eq!(start_warning(d("2028-02-29"), BillingCycle::Annual), None);
        assert_eq!(start_warning(d("2026-04-29"), BillingCycle::Annual), None);
    }

    /// docs/PORTFOLIOS.md#types: a key of 1 to 64 lower-case letters,
    /// digits and hyphens, with an English and a Dutch name.
    #[test]
    fn a_portfolio_type_is_a_key_with_a_name_in_each_language() {
        let t = PortfolioType::parse("surgery", Some("Surgery"), Some("Chirurgie")).unwrap();
        assert_eq!(t.key, "surgery");
        assert_eq!(
            (t.name.en.as_str(), t.name.nl.as_str()),
            ("Surgery", "Chirurgie")
        );
        let english_only = PortfolioType::parse("gp-2", Some("GP"), None).unwrap();
        assert_eq!(english_only.name.nl, "GP");
        let longest = "a".repeat(64);
        assert_eq!(
            PortfolioType::parse(&longest, Some("A"), None).unwrap().key,
            longest
        );
        for bad in ["Surgery", "", "-gp", "a b", &"a".repeat(65)] {
            let e = PortfolioType::parse(bad, Some("A"), None).unwrap_err();
            assert_eq!(
                (e.field.as_str(), e.code),
                ("key", "portfolio_type_invalid"),
                "{bad:?}"
            );
        }
        let e = PortfolioType::parse("surgery", None, Some("Chirurgie")).unwrap_err();
        assert_eq!((e.field.as_str(), e.code), ("name.en", "required"));
        assert!(e.message.contains("portfolio type"));
    }

    #[test]
    fn every_state_is_written_by_its_name() {
        for state in PortfolioState::ALL {
            // A new state fails to compile here until ALL lists it.
            match state {
                PortfolioState::Active
                | PortfolioState::Deactivated
                | PortfolioState::Completed => {}
            }
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert_eq!(
            PortfolioState::ALL.map(PortfolioState::as_str),
            ["active", "deactivated", "completed"]
        );
    }
}
