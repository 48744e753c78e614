//! Console sessions. The cookie carries 256 random bits; the database keeps
//! only their SHA-256, so a leaked table signs nobody in.

use chrono::{DateTime, Utc};
use portier_core::ids::AccountId;
use portier_core::rights::{Authorized, MembersUpdate};
use portier_core::secrets::SecretToken;
use portier_core::sessions::SessionPolicy;
use uuid::Uuid;

use crate::{Result, Store, in_tx, reader, relaxed, writer};

/// How far a sign-in has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Signed in: the session opens what the person may do.
    Full,
    /// The password was right; a second factor is still to be given. Such a
    /// session opens nothing but that step, and only for a few minutes.
    SecondFactor,
    /// Signed in, but an organization of the person's requires two-step
    /// verification they have not set up: the session opens nothing but
    /// setting it up, which makes it a full one.
    Enrol,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Full, Stage::SecondFactor, Stage::Enrol];

    fn as_str(self) -> &'static str {
        match self {
            Stage::Full => "full",
            Stage::SecondFactor => "second_factor",
            Stage::Enrol => "enrol",
        }
    }
}

/// How long the second step of a sign-in may take.
pub const SECOND_FACTOR_WITHIN: chrono::Duration = chrono::Duration::minutes(10);
/// How long setting up a required second factor may take (installing an
/// app included).
pub const ENROL_WITHIN: chrono::Duration = chrono::Duration::minutes(30);

/// A live session, found from its cookie.
#[derive(Debug, Clone)]
pub struct Session {
    pub id_hash: String,
    pub account_id: AccountId,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// Starts a session; the secret goes into the cookie and nowhere else.
pub async fn create(
    store: &Store,
    account: AccountId,
    user_agent: Option<&str>,
    client_addr: Option<&str>,
    policy: &SessionPolicy,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<SecretToken> {
    let secret = SecretToken::from_random(rand::random(), "");
    let expires = match stage {
        Stage::Full => {
            now + chrono::Duration::from_std(policy.absolute).unwrap_or(chrono::Duration::days(1))
        }
        Stage::SecondFactor => now + SECOND_FACTOR_WITHIN,
        Stage::Enrol => now + ENROL_WITHIN,
    };
    let user_agent = user_agent.map(|u| u.chars().take(300).collect::<String>());
    relaxed!(store, |c| {
        sqlx::query(
            "INSERT INTO sessions (id_hash, account_id, user_agent, client_addr, created_at, last_seen_at, expires_at, stage)
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
        )
        .bind(secret.hash())
        .bind(account.0)
        .bind(user_agent)
        .bind(client_addr)
        .bind(now)
        .bind(expires)
        .bind(stage.as_str())
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(secret)
}

/// The live session a cookie stands for at `stage`, touching its last-seen
/// time at most once a minute. Expired sessions are removed when met.
pub async fn find(
    store: &Store,
    presented: &str,
    policy: &SessionPolicy,
    stage: Stage,
    now: DateTime<Utc>,
) -> Result<Option<Session>> {
    if presented.len() != 64 || !presented.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = SecretToken::presented(presented).hash();
    // The account, when it started, when last seen, when it ends.
    type Row = (Option<Uuid>, DateTime<Utc>, DateTime<Utc>, DateTime<Utc>);
    let row: Option<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT account_id, created_at, last_seen_at, expires_at FROM sessions
                 WHERE id_hash = $1 AND stage = $2",
        )
        .bind(&hash)
        .bind(stage.as_str())
        .fetch_optional(c)
        .await
    })?;
    let Some((Some(account), created_at, last_seen_at, expires_at)) = row else {
        return Ok(None);
    };
    if !policy.is_alive(now, created_at, last_seen_at) || now >= expires_at {
        end(store, &hash).await?;
        return Ok(None);
    }
    if SessionPolicy::should_touch(now, last_seen_at) {
        relaxed!(store, |c| {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(&hash)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(Some(Session {
        id_hash: hash,
        account_id: account.into(),
        created_at,
        last_seen_at,
    }))
}

/// Ends one session (sign-out).
pub async fn end(store: &Store, id_hash: &str) -> Result<()> {
    writer!(store, |c| {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// Ends every session of an account, but `keep` (after a password change, a
/// reset, a deactivation).
pub(crate) async fn end_all_in(
    tx: &mut crate::Tx,
    account: AccountId,
    keep: Option<&str>,
) -> Result<u64> {
    Ok(in_tx!(tx, |c| {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND ($2 IS NULL OR id_hash <> $2)")
            .bind(account.0)
            .bind(keep)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

/// A session as its owner sees it in their list.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// A public name for the session: derived from its hash, never the
    /// cookie's value nor the key it is stored under.
    pub id: String,
    pub user_agent: Option<String>,
    pub client_addr: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// The public id of the session stored under `id_hash`.
pub fn public_id(id_hash: &str) -> String {
    portier_core::secrets::digest(&format!("session:{id_hash}"))[..32].to_owned()
}

/// The person's live, signed-in sessions, the most recently used first.
pub async fn list(
    store: &Store,
    account: AccountId,
    policy: &SessionPolicy,
    now: DateTime<Utc>,
) -> Result<Vec<SessionInfo>> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        DateTime<Utc>,
        DateTime<Utc>,
        DateTime<Utc>,
    );
    let rows: Vec<Row> = reader!(store, |c| {
        sqlx::query_as(
            "SELECT id_hash, user_agent, client_addr, created_at, last_seen_at, expires_at FROM sessions
             WHERE account_id = $1 AND stage = 'full' ORDER BY last_seen_at DESC",
        )
        .bind(account.0)
        .fetch_all(c)
        .await
    })?;
    Ok(rows
        .into_iter()
        .filter(|r| policy.is_alive(now, r.3, r.4) && now < r.5)
        .map(
            |(hash, user_agent, client_addr, created_at, last_seen_at, _)| SessionInfo {
                id: public_id(&hash),
                user_agent,
                client_addr,
                created_at,
                last_seen_at,
            },
        )
        .collect())
}

/// The person ends their own sessions: the one with public id `only`, or
/// with `None` every one but `keep`. Returns how many ended.
pub async fn end_of_account(
    store: &Store,
    account: AccountId,
    only: Option<&str>,
    keep: Option<&str>,
    origin: &crate::audit::Origin,
) -> Result<u64> {
    let mut tx = store.begin().await?;
    let ended = match only {
        Some(id) => {
            let hashes: Vec<String> = in_tx!(&mut tx, |c| {
                sqlx::query_scalar("SELECT id_hash FROM sessions WHERE account_id = $1")
                    .bind(account.0)
                    .fetch_all(c)
                    .await
            })?;
            match hashes.into_iter().find(|h| public_id(h) == id) {
                None => return Ok(0),
                Some(hash) => in_tx!(&mut tx, |c| {
                    sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
                        .bind(&hash)
                        .execute(c)
                        .await
                        .map(|r| r.rows_affected())
                })?,
            }
        }
        None => end_all_in(&mut tx, account, keep).await?,
    };
    let changes = serde_json::json!({"sessions_ended": ended});
    let actor = portier_core::audit::Actor::Account { id: account };
    crate::two_factor::record(
        &mut tx,
        actor,
        "account.sessions_ended",
        account,
        changes,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// An administrator signs a member out everywhere. Sessions are the
/// person's in every organization they belong to, so this needs the right
/// in all of them (`Authorized::over_account`), checked in the transaction
/// that ends them. Returns how many ended.
pub async fn end_of_member(
    store: &Store,
    auth: &Authorized<MembersUpdate>,
    account: AccountId,
    origin: &crate::audit::Origin,
) -> Result<u64> {
    let mut tx = store.begin().await?;
    crate::accounts::lock(&mut tx, account).await?;
    let account = crate::members::member_account(&mut tx, auth.organization_id(), account).await?;
    auth.over_account(&crate::members::seats_of(&mut tx, account.id).await?)?;
    let ended = end_all_in(&mut tx, account.id, None).await?;
    let changes = serde_json::json!({"sessions_ended": ended});
    let actor = auth.actor().clone();
    crate::two_factor::record(
        &mut tx,
        actor,
        "member.sessions_ended",
        account.id,
        changes,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}
