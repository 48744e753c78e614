//! Reading members: the users list with its search, filters and pages, one
//! member, and an organization's statistics.

use super::*;
#[allow(unused_imports)]
use portier_core::rights::{Authorized, MembersRead, OnMembers};

/// One member as lists and detail pages show it.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub account: Account,
    pub membership: Membership,
    pub roles: Vec<String>,
    /// Names of the groups the member belongs to in this organization.
    pub groups: Vec<String>,
    pub two_factor: bool,
    pub sort_key: String,
}

impl MemberView {
    pub fn status(&self) -> portier_core::members::MemberStatus {
        portier_core::members::MemberStatus::of(self.account.status, self.membership.active)
    }
}

/// What a member list is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// The beginning of a search term: e-mail address, name (as read, as
    /// sorted, family name with infix) or staff code (portier_core::search).
    pub q: Option<String>,
    pub role: Option<String>,
    /// Members of this group.
    pub group: Option<portier_core::ids::GroupId>,
    pub label: Option<String>,
    pub status: Option<portier_core::members::MemberStatus>,
    /// Members with (true) or without (false) two-step verification set up.
    pub two_factor: Option<bool>,
}

/// Where a page starts: after this sort key and account id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCursor {
    pub sort_key: String,
    pub account_id: AccountId,
}

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    account_id: Uuid,
    email: String,
    salutation: Option<String>,
    given_name: Option<String>,
    infix: Option<String>,
    family_name: Option<String>,
    sort_key: String,
    locale: Option<String>,
    status: String,
    disabled: bool,
    account_created_at: DateTime<Utc>,
    membership_id: Uuid,
    organization_id: Uuid,
    active: bool,
    #[sqlx(flatten)]
    details: RowDetails,
    labels: Json<Vec<String>>,
    invited_by: Option<Uuid>,
    created_at: DateTime<Utc>,
    require_two_factor: bool,
    two_factor: bool,
    role_keys: Option<String>,
}

impl MemberRow {
    fn into_view(self) -> Result<MemberView> {
        use portier_core::accounts::PersonName;
        let email = portier_core::email::Email::parse(&self.email)
            .map_err(|e| Error::Corrupt(format!("e-mail: {e}")))?;
        let mut roles: Vec<String> = self
            .role_keys
            .map(|k| {
                k.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        Ok(MemberView {
            account: Account {
                id: self.account_id.into(),
                email,
                name: PersonName {
                    salutation: self.salutation,
                    given_name: self.given_name,
                    infix: self.infix,
                    family_name: self.family_name,
                },
                // The person's own numbers are theirs; this organization
                // sees the membership's.
                phone: None,
                mobile: None,
                locale: self
                    .locale
                    .as_deref()
                    .and_then(|l| portier_core::locale::Locale::parse("locale", l).ok()),
                status: AccountStatus::parse(&self.status)
                    .ok_or_else(|| Error::Corrupt(format!("account status {:?}", self.status)))?,
                disabled: self.disabled,
                created_at: self.account_created_at,
            },
            membership: Membership {
                id: self.membership_id.into(),
                account_id: self.account_id.into(),
                organization_id: self.organization_id.into(),
                active: self.active,
                details: self.details.into(),
                labels: self.labels.0,
                invited_by: self.invited_by.map(Into::into),
                created_at: self.created_at,
                require_two_factor: self.require_two_factor,
            },
            roles,
            groups: Vec::new(),
            two_factor: self.two_factor,
            sort_key: self.sort_key,
        })
    }
}

/// A search reads the members whose sort key begins with it as one stretch of
/// the listing index, in order. Of the other terms that match (names as read,
/// addresses, staff codes), below this many it reads them all and sorts them;
/// from it on they are dense enough among the terms that begin with the same
/// character that walking those in the members' order fills a page soon
/// (docs/BENCHMARKS.md).
pub(crate) const FEW_MATCHES: i64 = 5_000;

/// [`FEW_MATCHES`] for a search of one character: every term the walk passes
/// then matches but the members' own sort keys, so the walk is short from far
/// fewer matches on (reading and sorting 2,500 took 3-9 ms at 100,000
/// members; the walk under 1 ms).
pub(crate) const FEW_MATCHES_OF_ONE: i64 = 500;

/// A filter as a way into the members: the ids it matches, as a subquery of
/// the list (its value at the list's placeholder) and of a count (at `$2`).
pub(crate) struct Driver {
    list: String,
    count: String,
    value: Arg,
}

impl Driver {
    fn new(list: String, count: String, value: Arg) -> Driver {
        Driver { list, count, value }
    }
}

/// Below this many matches a filter's members are read by its index and
/// sorted; above it, the listing index is walked, where they are dense
/// enough to fill a page soon.
pub(crate) const FEW_FILTERED: i64 = 2_000;

/// The subquery of the first filter that matches few, if any.
pub(crate) async fn few_by(
    store: &Store,
    org: OrganizationId,
    drivers: Vec<Driver>,
) -> Result<Option<String>> {
    for d in drivers {
        let sql = format!(
            "SELECT COUNT(*) FROM ({} LIMIT {FEW_FILTERED}) AS matches",
            d.count
        );
        let args = [Arg::Id(org.0), d.value];
        let n: i64 = reader!(store, |c| {
            // Fixed text and placeholders only; the values are bound.
            bind_all!(
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())),
                &args
            )
            .fetch_one(c)
            .await
        })?;
        if n < FEW_FILTERED {
            return Ok(Some(d.list));
        }
    }
    Ok(None)
}

/// How many terms of the organization other than sort keys begin with the
/// search, counted up to `few` (index entries only).
pub(crate) async fn count_matches(
    store: &Store,
    args: &[Arg],
    range: &str,
    few: i64,
) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM member_terms t
                               WHERE t.organization_id = $1 AND {range} AND t.term <> t.sort_key
                               LIMIT {few}) AS matches"
    );
    Ok(reader!(store, |c| {
        // Fixed text and placeholders only; the values are bound.
        bind_all!(
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.as_str())),
            args
        )
        .fetch_one(c)
        .await
    })?)
}

/// A page of an organization's members, sorted by family name ignoring the
/// infix (Jan van der Berg under B), then by account id.
///
/// Two steps, so that 100,000 members cost little more than fifty: the page's
/// memberships are picked from indexes (the listing index in order, or the
/// search terms as a range), then only those are read in full. The SQL holds
/// only the conditions asked for, so each combination gets its own plan.
pub async fn list(
    store: &Store,
    auth: &Authorized<MembersRead>,
    filter: &MemberFilter,
    after: Option<&MemberCursor>,
    limit: i64,
) -> Result<Vec<MemberView>> {
    let organization_id = auth.organization_id();
    list_by(store, organization_id, filter, after, limit, None).await
}

/// How a search picks its page from the terms: by reading every match and
/// sorting (`Sorted`), or by walking the terms that begin with the search's
/// first character in the members' order (`Walk`, index
/// `member_terms_initial`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strategy {
    Sorted,
    Walk,
}

/// [`list`], with the strategy chosen by the count of matches unless given.
pub(crate) async fn list_by(
    store: &Store,
    organization_id: OrganizationId,
    filter: &MemberFilter,
    after: Option<&MemberCursor>,
    limit: i64,
    strategy: Option<Strategy>,
) -> Result<Vec<MemberView>> {
    let mut args = vec![Arg::Id(organization_id.0)];
    let next = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    // The search first: its placeholders come right after the organization,
    // so the count below binds a prefix of the same arguments.
    // `{col} >= $2 AND {col} < $3`, for the terms and for the sort key.
    let query = filter.q.as_deref().and_then(portier_core::search::query);
    let initial = query
        .as_ref()
        .and_then(|q| q.chars().next())
        .map(String::from);
    let one_character = query.as_ref().is_some_and(|q| q.chars().count() == 1);
    let bounds = match query {
        None => None,
        Some(q) => {
            let end = portier_core::search::range_end(&q);
            let from = next(&mut args, Arg::Text(q));
            let to = end.map(|end| next(&mut args, Arg::Text(end)));
            Some((from, to))
        }
    };
    let range = |col: &str| {
        bounds.as_ref().map(|(from, to)| match to {
            Some(to) => format!("{col} >= {from} AND {col} < {to}"),
            None => format!("{col} >= {from}"),
        })
    };
    let (range_t, range_m) = (range("t.term"), range("m.sort_key"));
    // The same range, in a form no index answers: walking the terms of one
    // initial in order, it filters them, and PostgreSQL must not trade the
    // walk for reading the whole range and sorting it.
    let range_t_filter = range("(t.term || '')");
    let few = if one_character {
        FEW_MATCHES_OF_ONE
    } else {
        FEW_MATCHES
    };
    let forced = strategy;
    let strategy = match (&range_t, forced) {
        (None, _) => Strategy::Walk,
        (Some(_), Some(s)) => s,
        (Some(range), None) if count_matches(store, &args, range, few).await? < few => {
            Strategy::Sorted
        }
        (Some(_), None) => Strategy::Walk,
    };
    let mut joins = String::new();
    let mut conditions = Vec::new();
    // Each narrowing filter is also a way in: the members it matches, read
    // by its index, when they are few (below).
    let mut drivers: Vec<Driver> = Vec::new();
    if let Some(role) = &filter.role {
        let p = next(&mut args, Arg::Text(role.clone()));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM membership_roles fr JOIN roles f ON f.id = fr.role_id
                     WHERE fr.membership_id = m.id AND f.key = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fr.membership_id AS id FROM roles f
                 JOIN membership_roles fr ON fr.role_id = f.id
                 JOIN memberships fm ON fm.id = fr.membership_id
                 WHERE fm.organization_id = $1 AND f.key = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text(role.clone())));
    }
    if let Some(group) = &filter.group {
        let p = next(&mut args, Arg::Id(group.0));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM group_members fg WHERE fg.membership_id = m.id AND fg.group_id = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fg.membership_id AS id FROM groups g
                 JOIN group_members fg ON fg.group_id = g.id
                 WHERE g.organization_id = $1 AND g.id = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Id(group.0)));
    }
    if let Some(label) = &filter.label {
        let p = next(&mut args, Arg::Text(label.clone()));
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM membership_labels fl WHERE fl.membership_id = m.id AND fl.label = {p})"
        ));
        let sub = |p: &str| {
            format!(
                "SELECT fl.membership_id AS id FROM membership_labels fl
                 WHERE fl.organization_id = $1 AND fl.label = {p}"
            )
        };
        drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text(label.clone())));
    }
    match filter.two_factor {
        None => {}
        Some(false) => conditions.push(concat!("NOT ", second_factor!("m.account_id")).into()),
        Some(true) => {
            // Few have it, as a rule: read by the credentials' kind. (The
            // kind is bound, so the list and the count share the text.)
            let p = next(&mut args, Arg::Text("totp".into()));
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM credentials cr WHERE cr.account_id = m.account_id
                         AND cr.kind IN ({p}, 'webauthn'))"
            ));
            let sub = |p: &str| {
                format!(
                    "SELECT fm.id FROM credentials cr JOIN memberships fm ON fm.account_id = cr.account_id
                     WHERE fm.organization_id = $1 AND cr.kind IN ({p}, 'webauthn')
                     GROUP BY fm.id"
                )
            };
            drivers.push(Driver::new(sub(&p), sub("$2"), Arg::Text("totp".into())));
        }
    }
    match filter.status {
        None => {}
        Some(portier_core::members::MemberStatus::Deactivated) => {
            conditions.push("m.active = FALSE".into());
        }
        Some(status) => {
            joins += " JOIN accounts a ON a.id = m.account_id";
            let status = match status {
                portier_core::members::MemberStatus::Invited => AccountStatus::Invited,
                _ => AccountStatus::Active,
            };
            conditions.push(format!(
                "m.active = TRUE AND a.status = {}",
                next(&mut args, Arg::Text(status.as_str().into()))
            ));
        }
    }
    let keyset = after.map(|c| {
        let key = next(&mut args, Arg::Text(c.sort_key.clone()));
        let id = next(&mut args, Arg::Id(c.account_id.0));
        move |alias: &str| format!("({alias}.sort_key, {alias}.account_id) > ({key}, {id})")
    });
    let limit = next(&mut args, Arg::Int(limit));
    let all = |mut parts: Vec<String>| {
        parts.extend(conditions.iter().cloned());
        parts.join(" AND ")
    };
    let page = match (&range_t, &range_m) {
        (Some(range_t), Some(range_m)) => {
            // The members whose sort key begins with the search are one
            // stretch of the listing index, already in order. Those matched
            // by another term: when few, read in full and sorted; when many,
            // found by walking the terms with the search's first character
            // in the members' order, where they are dense. The page is the
            // first of both together.
            let mut by_key = vec!["m.organization_id = $1".to_owned(), range_m.clone()];
            let mut by_term = vec!["t.organization_id = $1".to_owned()];
            let mut terms = "member_terms t".to_owned();
            match (strategy, &initial, &range_t_filter) {
                (Strategy::Walk, Some(initial), Some(filter)) => {
                    by_term.push(format!(
                        "substr(t.term, 1, 1) = {}",
                        next(&mut args, Arg::Text(initial.clone()))
                    ));
                    if !one_character {
                        by_term.push(filter.clone());
                    }
                    if store.backend() == crate::Backend::Sqlite {
                        // Its planner would rather read the range and sort.
                        terms += " INDEXED BY member_terms_initial";
                    }
                }
                _ => by_term.push(range_t.clone()),
            }
            by_term.push("t.term <> t.sort_key".to_owned());
            if let Some(k) = &keyset {
                by_key.push(k("m"));
                by_term.push(k("t"));
            }
            let term_joins = if conditions.is_empty() {
                String::new()
            } else {
                format!(" JOIN memberships m ON m.id = t.membership_id{joins}")
            };
            format!(
                "SELECT id FROM (
                   SELECT * FROM (SELECT m.id, m.sort_key, m.account_id FROM memberships m{joins}
                                  WHERE {} ORDER BY m.sort_key, m.account_id LIMIT {limit}) AS by_key
                   UNION
                   SELECT * FROM (SELECT t.membership_id AS id, t.sort_key, t.account_id
                                  FROM {terms}{term_joins} WHERE {}
                                  GROUP BY t.sort_key, t.account_id, t.membership_id
                                  ORDER BY t.sort_key, t.account_id, t.membership_id LIMIT {limit}) AS by_term
                 ) AS matches ORDER BY sort_key, account_id LIMIT {limit}",
                all(by_key),
                all(by_term),
            )
        }
        _ => {
            // No search: the list in order; when a filter matches few, those
            // few read by its index and sorted, else the listing index walked.
            let mut wher = vec!["m.organization_id = $1".to_owned()];
            if let Some(k) = &keyset {
                wher.push(k("m"));
            }
            // Tests force the walk to compare both ways.
            let driven = match forced {
                Some(Strategy::Walk) => None,
                _ => few_by(store, organization_id, drivers).await?,
            };
            match driven {
                Some(sub) => format!(
                    "SELECT m.id FROM ({sub}) AS f CROSS JOIN memberships m{joins}
                     WHERE m.id = f.id AND {}
                     ORDER BY m.sort_key, m.account_id LIMIT {limit}",
                    all(wher)
                ),
                None => format!(
                    "SELECT m.id FROM memberships m{joins} WHERE {}
                     ORDER BY m.sort_key, m.account_id LIMIT {limit}",
                    all(wher)
                ),
            }
        }
    };
    let page = format!("WHERE m.id IN ({page}) ORDER BY m.sort_key, m.account_id");
    macro_rules! run {
        ($agg:literal, $c:ident) => {{
            let sql = format!("{}{page}", select_members!($agg, ""));
            // Only fixed text and placeholders are put together; every
            // value the caller gave is bound.
            bind_all!(
                sqlx::query_as::<_, MemberRow>(sqlx::AssertSqlSafe(sql)),
                &args
            )
            .fetch_all($c)
            .await
        }};
    }
    let rows: Vec<MemberRow> = match &store.db {
        crate::db::Db::Sqlite { read, .. } => {
            crate::with_conn!(read, |c| run!("group_concat(r.key, ',')", c))?
        }
        crate::db::Db::Postgres { pool, .. } => {
            crate::with_conn!(pool, |c| run!("string_agg(r.key, ',')", c))?
        }
    };
    let mut views = rows
        .into_iter()
        .map(MemberRow::into_view)
        .collect::<Result<Vec<_>>>()?;
    with_groups(store, &mut views).await?;
    Ok(views)
}

/// Fills in the groups of each member of a page, in one read.
pub(crate) async fn with_groups(store: &Store, views: &mut [MemberView]) -> Result<()> {
    let ids: Vec<MembershipId> = views.iter().map(|v| v.membership.id).collect();
    let mut names = crate::groups::names_of(store, &ids).await?;
    for v in views {
        v.groups = names.remove(&v.membership.id).unwrap_or_default();
    }
    Ok(())
}

/// One member of an organization, or `None`.
pub async fn get(
    store: &Store,
    auth: &Authorized<impl OnMembers>,
    account_id: AccountId,
) -> Result<Option<MemberView>> {
    let organization_id = auth.organization_id();
    macro_rules! run {
        ($sql:expr, $c:ident) => {
            sqlx::query_as::<_, MemberRow>($sql)
                .bind(organization_id.0)
                .bind(account_id.0)
                .fetch_optional($c)
                .await
        };
    }
    let row: Option<MemberRow> = match &store.db {
        crate::db::Db::Sqlite { read, .. } => crate::with_conn!(read, |c| run!(
            select_members!(
                "group_concat(r.key, ',')",
                "WHERE m.organization_id = $1 AND m.account_id = $2"
            ),
            c
        ))?,
        crate::db::Db::Postgres { pool, .. } => crate::with_conn!(pool, |c| run!(
            select_members!(
                "string_agg(r.key, ',')",
                "WHERE m.organization_id = $1 AND m.account_id = $2"
            ),
            c
        ))?,
    };
    let mut views = row
        .map(MemberRow::into_view)
        .transpose()?
        .into_iter()
        .collect::<Vec<_>>();
    with_groups(store, &mut views).await?;
    Ok(views.pop())
}

/// How many members an organization has, by state, and how many of them
/// have two-step verification set up (docs/RULES.md#two-step-verification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Statistics {
    pub members: i64,
    pub invited: i64,
    pub active: i64,
    pub deactivated: i64,
    pub two_factor: i64,
}

pub async fn statistics(store: &Store, auth: &Authorized<MembersRead>) -> Result<Statistics> {
    let org = auth.organization_id();
    let (members, two_factor) = two_factor_share_in(store, org).await?;
    let (deactivated, invited): (i64, i64) = reader!(store, |c| {
        sqlx::query_as(
            "SELECT
               (SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND active = FALSE),
               (SELECT COUNT(*) FROM memberships m JOIN accounts a ON a.id = m.account_id
                WHERE m.organization_id = $1 AND m.active = TRUE AND a.status = 'invited')",
        )
        .bind(org.0)
        .fetch_one(c)
        .await
    })?;
    Ok(Statistics {
        members,
        invited,
        active: members - deactivated - invited,
        deactivated,
        two_factor,
    })
}

/// The members of an organization, and how many of them have two-step
/// verification set up: counted from indexes (the listing index, then the
/// credentials by kind), cheap enough for every view of the users list.
pub async fn two_factor_share(store: &Store, auth: &Authorized<MembersRead>) -> Result<(i64, i64)> {
    two_factor_share_in(store, auth.organization_id()).await
}

/// [`two_factor_share`] for the store's own callers, which have checked the caller's
/// right themselves or act for nobody.
pub(crate) async fn two_factor_share_in(store: &Store, org: OrganizationId) -> Result<(i64, i64)> {
    Ok(reader!(store, |c| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM memberships WHERE organization_id = $1),
                    (SELECT COUNT(DISTINCT m.id) FROM credentials cr
                     JOIN memberships m ON m.account_id = cr.account_id
                     WHERE m.organization_id = $1 AND cr.kind IN ('totp', 'webauthn'))",
        )
        .bind(org.0)
        .fetch_one(c)
        .await
    })?)
}
