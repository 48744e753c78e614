//! Professional registrations (docs/RULES.md#professional-registrations): one
//! number per person in a register, given by an administrator when adding or
//! promoting someone to a role that needs it, changed afterwards only by a
//! platform operator, and checked against the register in the background.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::Account;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::registrations::{
    Register, RegisterEntry, RegistrationNumber, RegistrationState, retry_after, state_of,
};
use sqlx::types::Json;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::db::On;
use crate::{Backend, Error, Result, Store, Tx, in_tx, on, reader, writer};

/// A person's registration and what the register said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub account_id: AccountId,
    pub number: RegistrationNumber,
    pub state: RegistrationState,
    /// What the register listed for the number at the last check.
    pub entries: Vec<RegisterEntry>,
    /// Why the last check could not be made, while `pending`.
    pub last_error: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The `details` column.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct Details {
    #[serde(default)]
    entries: Vec<RegisterEntry>,
    #[serde(default)]
    last_error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    account_id: Uuid,
    register: String,
    number: String,
    state: String,
    details: Json<Details>,
    checked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<Row> for Registration {
    type Error = Error;
    fn try_from(r: Row) -> Result<Registration> {
        Ok(Registration {
            account_id: r.account_id.into(),
            number: RegistrationNumber::parse("registration", &r.register, &r.number)
                .map_err(|e| Error::Corrupt(e.message))?,
            state: RegistrationState::parse(&r.state)
                .ok_or_else(|| Error::Corrupt(format!("registration state {:?}", r.state)))?,
            entries: r.details.0.entries,
            last_error: r.details.0.last_error,
            checked_at: r.checked_at,
            created_at: r.created_at,
        })
    }
}

/// How often a number the register has answered for is asked about again.
const RECHECK_DAYS: i64 = 30;

const SELECT: &str = "SELECT account_id, register, number, state, details, checked_at, created_at
                      FROM registrations WHERE account_id = $1";

/// The person's registration, read on the store or inside a transaction.
pub async fn of_account(on: impl Into<On<'_>>, account: AccountId) -> Result<Option<Registration>> {
    let row: Option<Row> = on!(on.into(), |c| {
        sqlx::query_as(SELECT)
            .bind(account.0)
            .fetch_optional(c)
            .await
    })?;
    row.map(TryInto::try_into).transpose()
}

/// The state a new number starts in: `pending` until the background check
/// has asked the register, `unchecked` when no register is configured.
fn first_state(checking: bool) -> RegistrationState {
    if checking {
        RegistrationState::Pending
    } else {
        RegistrationState::Unchecked
    }
}

async fn insert(
    tx: &mut Tx,
    account: AccountId,
    number: &RegistrationNumber,
    checking: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO registrations (account_id, register, number, state, details, attempts,
                next_check_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $6)
             ON CONFLICT (account_id) DO UPDATE SET register = excluded.register,
                number = excluded.number, state = excluded.state, details = excluded.details,
                attempts = 0, checked_at = NULL, next_check_at = excluded.next_check_at,
                updated_at = excluded.updated_at",
        )
        .bind(account.0)
        .bind(number.register.as_str())
        .bind(&number.number)
        .bind(first_state(checking).as_str())
        .bind(Json(Details::default()))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// How many other accounts carry the same number: a clash for the operator
/// to settle (`portier registration` shows it; the platform trail records it).
pub async fn others_with(
    store: &Store,
    number: &RegistrationNumber,
    account: AccountId,
) -> Result<i64> {
    Ok(reader!(store, |c| {
        sqlx::query_scalar(OTHERS_WITH)
            .bind(number.register.as_str())
            .bind(&number.number)
            .bind(account.0)
            .fetch_one(c)
            .await
    })?)
}

const OTHERS_WITH: &str =
    "SELECT COUNT(*) FROM registrations WHERE register = $1 AND number = $2 AND account_id <> $3";

/// Tells the operator, in the platform trail, that a number is on more than
/// one account.
async fn note_clash(
    tx: &mut Tx,
    number: &RegistrationNumber,
    account: AccountId,
    actor: &Actor,
    origin: &Origin,
) -> Result<()> {
    let others: i64 = in_tx!(tx, |c| {
        sqlx::query_scalar(OTHERS_WITH)
            .bind(number.register.as_str())
            .bind(&number.number)
            .bind(account.0)
            .fetch_one(c)
            .await
    })?;
    if others == 0 {
        return Ok(());
    }
    let event = NewAuditEvent {
        actor: actor.clone(),
        action: "registration.shared",
        organization_id: None,
        target_type: "account",
        target_id: account.to_string(),
        changes: serde_json::json!({"register": number.register.as_str(), "number": number.number, "other_accounts": others}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(tx, OrganizationId(Uuid::nil()), event, origin.now).await
}

/// A registration number is the person's in every organization they
/// belong to, and is recorded once: recording one for an account that
/// belongs to organizations `caller` does not manage (`members.update`)
/// would let one environment fix a number on another's person. Then only
/// an operator records it (`portier registration`), or someone who manages
/// all of them (docs/RULES.md#registrations). A number the account already
/// has, or none given, needs nothing.
pub(crate) async fn may_record(
    tx: &mut Tx,
    caller: &portier_core::rights::Principal,
    account: &Account,
    given: Option<&RegistrationNumber>,
) -> Result<()> {
    if given.is_none() || of_account(&mut *tx, account.id).await?.is_some() {
        return Ok(());
    }
    let seats = crate::members::seats_of(tx, account.id).await?;
    let update = portier_core::permissions::MEMBERS_UPDATE;
    if seats.iter().any(|s| !caller.holds(&update, &s.path)) {
        return Err(DomainError::MemberElsewhere.into());
    }
    Ok(())
}

/// Settles the registration of someone being added to, or given, roles
/// inside that change's transaction. A number given is recorded when the
/// person has none yet; one that differs from the person's is refused
/// (not by the person themselves, nor by another organization's
/// administrator: a platform operator does it,
/// docs/RULES.md#professional-registrations). Roles that need a register
/// the person has no number in are refused on `registration`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn settle(
    tx: &mut Tx,
    account: &Account,
    given: Option<&RegistrationNumber>,
    needed: Option<(Register, &str)>,
    checking: bool,
    actor: &Actor,
    organization: OrganizationId,
    environment: OrganizationId,
    origin: &Origin,
) -> Result<bool> {
    let existing = of_account(&mut *tx, account.id).await?;
    match (&existing, given) {
        // The stored number is not repeated: the caller may not know it.
        (Some(e), Some(g)) if e.number != *g => Err(DomainError::Conflict {
            code: "registration_locked",
            field: Some("registration.number".into()),
            message: format!(
                "{} already has another {} number; only a platform operator can change it",
                account.email,
                e.number.register.as_str()
            ),
        }
        .into()),
        (Some(_), _) => Ok(false),
        (None, Some(g)) => {
            insert(tx, account.id, g, checking, origin.now).await?;
            note_clash(tx, g, account.id, actor, origin).await?;
            let event = NewAuditEvent {
                actor: actor.clone(),
                action: "registration.added",
                organization_id: Some(organization),
                target_type: "account",
                target_id: account.id.to_string(),
                changes: serde_json::json!({"register": g.register.as_str(), "number": g.number, "state": first_state(checking).as_str()}),
                client_addr: origin.client_addr.clone(),
            };
            audit::record(tx, environment, event, origin.now).await?;
            Ok(true)
        }
        (None, None) => match needed {
            None => Ok(false),
            Some((register, role)) => Err(portier_core::FieldError::new(
                "registration",
                "registration_required",
                format!(
                    "the role {role} needs a {} number: give it as registration {{register, number}}",
                    register.as_str()
                ),
            )
            .into()),
        },
    }
}

/// A platform operator's change (`portier registration`): records or
/// replaces a person's number, to be checked again.
pub async fn set_by_operator(
    store: &Store,
    account: &Account,
    number: &RegistrationNumber,
    checking: bool,
    origin: &Origin,
) -> Result<Registration> {
    let mut tx = store.begin().await?;
    let before = of_account(&mut tx, account.id).await?;
    insert(&mut tx, account.id, number, checking, origin.now).await?;
    note_clash(&mut tx, number, account.id, &Actor::Cli, origin).await?;
    let event = NewAuditEvent {
        actor: Actor::Cli,
        action: "registration.set",
        organization_id: None,
        target_type: "account",
        target_id: account.id.to_string(),
        changes: serde_json::json!({
            "register": number.register.as_str(),
            "number": {"before": before.map(|b| b.number.number), "after": number.number},
        }),
        client_addr: origin.client_addr.clone(),
    };
    // Platform events chain under the nil environment.
    audit::record(&mut tx, OrganizationId(Uuid::nil()), event, origin.now).await?;
    let after = of_account(&mut tx, account.id)
        .await?
        .ok_or_else(|| Error::Corrupt("a registration vanished".into()))?;
    tx.commit().await?;
    Ok(after)
}

/// A registration to ask the register about.
#[derive(Debug, Clone)]
pub struct DueCheck {
    pub account_id: AccountId,
    pub number: RegistrationNumber,
    pub attempts: i32,
}

/// Claims up to `limit` registrations whose check is due (pending, or never
/// checked), for `lease`: another node does not take them meanwhile.
pub async fn claim_due(
    store: &Store,
    now: DateTime<Utc>,
    lease: std::time::Duration,
    limit: i64,
) -> Result<Vec<DueCheck>> {
    let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    macro_rules! claim {
        ($lock:literal) => {
            writer!(store, |c| {
                sqlx::query_as::<_, (Uuid, String, String, i32)>(concat!(
                    "UPDATE registrations SET next_check_at = $1
                     WHERE account_id IN (SELECT account_id FROM registrations
                                          WHERE next_check_at IS NOT NULL AND next_check_at <= $2
                                          ORDER BY next_check_at LIMIT $3 ",
                    $lock,
                    ") RETURNING account_id, register, number, attempts"
                ))
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(c)
                .await
            })
        };
    }
    let rows = match store.backend() {
        Backend::Sqlite => claim!("")?,
        Backend::Postgres => claim!("FOR UPDATE SKIP LOCKED")?,
    };
    rows.into_iter()
        .map(|(account, register, number, attempts)| {
            Ok(DueCheck {
                account_id: account.into(),
                number: RegistrationNumber::parse("registration", &register, &number)
                    .map_err(|e| Error::Corrupt(e.message))?,
                attempts,
            })
        })
        .collect()
}

/// Records what the register answered (or that it could not be asked), if
/// the number is still the one that was checked. Returns the new state.
pub async fn record_check(
    store: &Store,
    due: &DueCheck,
    answer: std::result::Result<Vec<RegisterEntry>, String>,
    now: DateTime<Utc>,
) -> Result<Option<RegistrationState>> {
    let (state, details, attempts, next) = match answer {
        Ok(entries) => {
            let state = state_of(&entries, now.date_naive());
            let details = Details {
                entries,
                last_error: None,
            };
            // A registration can end or be struck off later: asked again
            // every month.
            (
                state,
                details,
                0,
                Some(now + chrono::Duration::days(RECHECK_DAYS)),
            )
        }
        Err(error) => {
            let attempts = due.attempts.saturating_add(1);
            let wait = retry_after(attempts.max(0) as u32);
            let next = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(6));
            let details = Details {
                entries: Vec::new(),
                last_error: Some(error),
            };
            (RegistrationState::Pending, details, attempts, Some(next))
        }
    };
    let mut tx = store.begin().await?;
    let changed = in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE registrations SET state = $1, details = $2, attempts = $3, next_check_at = $4,
                checked_at = CASE WHEN $5 THEN $6 ELSE checked_at END, updated_at = $6
             WHERE account_id = $7 AND register = $8 AND number = $9",
        )
        .bind(state.as_str())
        .bind(Json(&details))
        .bind(attempts)
        .bind(next)
        .bind(attempts == 0)
        .bind(now)
        .bind(due.account_id.0)
        .bind(due.number.register.as_str())
        .bind(&due.number.number)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if changed == 0 {
        // The operator changed the number meanwhile; its own check follows.
        return Ok(None);
    }
    let event = NewAuditEvent {
        actor: Actor::System,
        action: "registration.checked",
        organization_id: None,
        target_type: "account",
        target_id: due.account_id.to_string(),
        changes: serde_json::json!({
            "register": due.number.register.as_str(),
            "number": due.number.number,
            "state": state.as_str(),
            "error": details.last_error,
        }),
        client_addr: None,
    };
    audit::record(&mut tx, OrganizationId(Uuid::nil()), event, now).await?;
    tx.commit().await?;
    Ok(Some(state))
}
