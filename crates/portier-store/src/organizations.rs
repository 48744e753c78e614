//! Organizations: rows, the tree queries, and the changes that create and update
//! them (each with its audit event, in one transaction).

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::OrganizationId;
use portier_core::locale::Locale;
use portier_core::organizations::{
    BillingCycle, OrgPath, Organization, OrganizationPatch, OrganizationSettings, new_organization,
};
use portier_core::passwords::PasswordPolicy;
use portier_core::rights::{Authorized, OrgCreate, OrgUpdate};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::{Backend, Error, Result, Store, Tx, in_tx, reader};

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    environment_id: Uuid,
    path: String,
    name: String,
    require_two_factor: bool,
    billing_cycle: String,
    allow_parallel_portfolios: bool,
    signup_approval: bool,
    locale: String,
    password_policy: Json<PasswordPolicy>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<OrgRow> for Organization {
    type Error = Error;
    fn try_from(r: OrgRow) -> Result<Organization> {
        Ok(Organization {
            id: r.id.into(),
            parent_id: r.parent_id.map(Into::into),
            environment_id: r.environment_id.into(),
            path: OrgPath::from_stored(r.path),
            name: r.name,
            settings: OrganizationSettings {
                require_two_factor: r.require_two_factor,
                billing_cycle: BillingCycle::parse("billing_cycle", &r.billing_cycle)
                    .map_err(|e| Error::Corrupt(e.message))?,
                allow_parallel_portfolios: r.allow_parallel_portfolios,
                signup_approval: r.signup_approval,
                locale: Locale::parse("locale", &r.locale)
                    .map_err(|e| Error::Corrupt(e.message))?,
                password_policy: r.password_policy.0,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

macro_rules! select_orgs {
    ($rest:literal) => {
        concat!(
            "SELECT id, parent_id, environment_id, path, name, require_two_factor, billing_cycle,
                    allow_parallel_portfolios, signup_approval, locale, password_policy, created_at,
                    updated_at FROM organizations ",
            $rest
        )
    };
}

pub async fn get(store: &Store, id: OrganizationId) -> Result<Option<Organization>> {
    let row: Option<OrgRow> = reader!(store, |c| {
        sqlx::query_as(select_orgs!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(TryInto::try_into).transpose()
}

/// Reads an organization inside a write transaction, locking its row on
/// PostgreSQL (SQLite's `BEGIN IMMEDIATE` already excludes other writers).
/// A missing one is the domain's 404.
pub async fn get_for_update(tx: &mut Tx, id: OrganizationId) -> Result<Organization> {
    let row: Option<OrgRow> = match tx.backend() {
        Backend::Sqlite => in_tx!(tx, |c| {
            sqlx::query_as(select_orgs!("WHERE id = $1"))
                .bind(id.0)
                .fetch_optional(c)
                .await
        })?,
        Backend::Postgres => in_tx!(tx, |c| {
            sqlx::query_as(select_orgs!("WHERE id = $1 FOR UPDATE"))
                .bind(id.0)
                .fetch_optional(c)
                .await
        })?,
    };
    row.ok_or(DomainError::NotFound {
        what: "organization",
    })?
    .try_into()
}

/// Reads an organization inside a transaction without locking it, for
/// changes that only need it to exist (adding a member); a missing one is the
/// domain's 404.
pub async fn get_in_tx(tx: &mut Tx, id: OrganizationId) -> Result<Organization> {
    let row: Option<OrgRow> = in_tx!(tx, |c| {
        sqlx::query_as(select_orgs!("WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(c)
            .await
    })?;
    row.ok_or(DomainError::NotFound {
        what: "organization",
    })?
    .try_into()
}

/// The organizations at or below any of `roots`, in creation order, after
/// `after` (keyset pagination), at most `limit`.
pub async fn list_within(
    store: &Store,
    roots: &[OrgPath],
    after: Option<OrganizationId>,
    limit: i64,
) -> Result<Vec<Organization>> {
    // A root inside another root adds nothing; the rest are disjoint ranges.
    let mut disjoint: Vec<&OrgPath> = Vec::new();
    for r in roots {
        if !roots.iter().any(|o| o != r && r.is_within(o)) && !disjoint.contains(&r) {
            disjoint.push(r);
        }
    }
    let after = after.map(|a| a.0).unwrap_or(Uuid::nil());
    let mut out = Vec::new();
    for root in disjoint {
        let (low, high) = prefix_range(root);
        let rows: Vec<OrgRow> = reader!(store, |c| {
            sqlx::query_as(select_orgs!(
                "WHERE path >= $1 AND path < $2 AND id > $3 ORDER BY id LIMIT $4"
            ))
            .bind(&low)
            .bind(&high)
            .bind(after)
            .bind(limit)
            .fetch_all(c)
            .await
        })?;
        for r in rows {
            out.push(Organization::try_from(r)?);
        }
    }
    out.sort_by_key(|o| o.id);
    out.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(out)
}

/// The byte range holding every path that starts with `prefix`: paths end in
/// `/`, and `0` is the byte after `/`, so `[prefix, prefix-with-0)` is exact.
pub(crate) fn prefix_range(prefix: &OrgPath) -> (String, String) {
    let low = prefix.as_str().to_owned();
    let high = format!("{}0", low.strip_suffix('/').unwrap_or(&low));
    (low, high)
}

pub async fn any_exists(store: &Store) -> Result<bool> {
    let n: Option<i32> = reader!(store, |c| {
        sqlx::query_scalar("SELECT 1 FROM organizations LIMIT 1")
            .fetch_optional(c)
            .await
    })?;
    Ok(n.is_some())
}

pub(crate) async fn insert(tx: &mut Tx, org: &Organization) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO organizations (id, parent_id, environment_id, path, name, require_two_factor,
                billing_cycle, locale, password_policy, created_at, updated_at, allow_parallel_portfolios,
                signup_approval)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(org.id.0)
        .bind(org.parent_id.map(|p| p.0))
        .bind(org.environment_id.0)
        .bind(org.path.as_str())
        .bind(&org.name)
        .bind(org.settings.require_two_factor)
        .bind(org.settings.billing_cycle.as_str())
        .bind(org.settings.locale.as_str())
        .bind(Json(&org.settings.password_policy))
        .bind(org.created_at)
        .bind(org.updated_at)
        .bind(org.settings.allow_parallel_portfolios)
        .bind(org.settings.signup_approval)
        .execute(c)
        .await.map(|r| r.rows_affected())
    })?;
    Ok(())
}

fn created_event(org: &Organization, actor: Actor, origin: &Origin) -> NewAuditEvent {
    NewAuditEvent {
        actor,
        action: "organization.created",
        organization_id: Some(org.id),
        target_type: "organization",
        target_id: org.id.to_string(),
        changes: serde_json::to_value(org).unwrap_or_default(),
        client_addr: origin.client_addr.clone(),
    }
}

/// A new environment (a root organization), within the caller's transaction.
pub(crate) async fn create_root(
    tx: &mut Tx,
    name: &str,
    actor: Actor,
    origin: &Origin,
) -> Result<Organization> {
    let org = new_organization(name, None, None, origin.now)?;
    insert(tx, &org).await?;
    audit::record(
        tx,
        org.environment_id,
        created_event(&org, actor, origin),
        origin.now,
    )
    .await?;
    Ok(org)
}

/// A new organization below the one the proof is for.
pub async fn create_child(
    store: &Store,
    auth: &Authorized<OrgCreate>,
    name: &str,
    settings: Option<OrganizationSettings>,
    origin: &Origin,
) -> Result<Organization> {
    let mut tx = store.begin().await?;
    let parent = get_for_update(&mut tx, auth.organization_id()).await?;
    let org = new_organization(name, Some(&parent), settings, origin.now)?;
    insert(&mut tx, &org).await?;
    audit::record(
        &mut tx,
        org.environment_id,
        created_event(&org, auth.actor().clone(), origin),
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(org)
}

/// Applies a patch to the organization the proof is for. A patch that changes
/// nothing writes nothing and records nothing.
pub async fn update(
    store: &Store,
    auth: &Authorized<OrgUpdate>,
    patch: OrganizationPatch,
    origin: &Origin,
) -> Result<Organization> {
    let mut tx = store.begin().await?;
    let current = get_for_update(&mut tx, auth.organization_id()).await?;
    let (next, changes) = current.apply(patch, origin.now)?;
    if changes.is_empty() {
        return Ok(current);
    }
    in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE organizations SET name = $1, require_two_factor = $2, billing_cycle = $3,
                locale = $4, password_policy = $5, updated_at = $6, allow_parallel_portfolios = $8,
                signup_approval = $9
             WHERE id = $7",
        )
        .bind(&next.name)
        .bind(next.settings.require_two_factor)
        .bind(next.settings.billing_cycle.as_str())
        .bind(next.settings.locale.as_str())
        .bind(Json(&next.settings.password_policy))
        .bind(next.updated_at)
        .bind(next.id.0)
        .bind(next.settings.allow_parallel_portfolios)
        .bind(next.settings.signup_approval)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if next.settings.require_two_factor && !current.settings.require_two_factor {
        // Required from now on, not from the next sign-in only.
        crate::two_factor::require_now(&mut tx, Some(next.path.as_str()), None, origin.now).await?;
    }
    let event = NewAuditEvent {
        actor: auth.actor().clone(),
        action: "organization.updated",
        organization_id: Some(next.id),
        target_type: "organization",
        target_id: next.id.to_string(),
        changes: serde_json::Value::Object(changes),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, next.environment_id, event, origin.now).await?;
    tx.commit().await?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_range_holds_descendants_and_nothing_else() {
        let root = OrgPath::root(OrganizationId::new());
        let (low, high) = prefix_range(&root);
        let child = root.child(OrganizationId::new()).unwrap();
        assert!(low.as_str() <= child.as_str() && child.as_str() < high.as_str());
        assert!(low.as_str() <= root.as_str() && root.as_str() < high.as_str());
        let other = OrgPath::root(OrganizationId::new());
        assert!(!(low.as_str() <= other.as_str() && other.as_str() < high.as_str()));
    }
}
