//! Self sign-up (docs/RULES.md#self-sign-up-and-e-mail-domains). A sign-up
//! waits, with only its password's hash, until the link mailed to the address
//! is followed; then the account is made and either joins the environment that
//! proved the address's domain (as `member`, without rights, or held for
//! approval) or starts an environment of its own that it administers. Answers
//! never say whether an address has an account: the owner of one gets a mail
//! instead.

use chrono::{DateTime, Utc};
use portier_core::Error as DomainError;
use portier_core::accounts::{Account, AccountStatus, PersonName};
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::domains::{DomainName, SignupMode};
use portier_core::email::Email;
use portier_core::ids::AccountId;
use portier_core::locale::Locale;
use portier_core::mail::{MailContext, MailKind};
use portier_core::organizations::Organization;
use portier_core::rights::{Authorized, MembersRead, MembersUpdate};
use portier_core::roles::{ADMINISTRATOR, MEMBER};
use portier_core::secrets::SecretToken;
use uuid::Uuid;

use crate::audit::{self, Origin};
use crate::lifecycle::Lifecycle;
use crate::{Error, Result, Store, Tx, accounts, in_tx, members, organizations, roles};

/// How long a sign-up's link works.
pub const CONFIRM_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A sign-up as filled in.
#[derive(Debug, Clone)]
pub struct NewSignup {
    pub email: Email,
    pub given_name: String,
    pub family_name: String,
    /// Argon2id, never the password.
    pub password_hash: String,
    /// The environment to start, when no proven domain takes the person in.
    pub organization_name: Option<String>,
    /// The language of the form, for the mails and the account.
    pub locale: Option<Locale>,
}

/// What the platform allows and counts as shared, for sign-ups.
#[derive(Debug, Clone, Default)]
pub struct SignupRules {
    pub mode: SignupMode,
    /// The operator's shared mail domains, besides the built-in ones.
    pub public_domains: Vec<String>,
}

impl SignupRules {
    /// The environment whose proven domain `email` is at, unless the domain
    /// is a shared one.
    async fn environment_for(&self, tx: &mut Tx, email: &Email) -> Result<Option<Organization>> {
        let domain = DomainName::of(email);
        if domain.is_public(&self.public_domains) {
            return Ok(None);
        }
        crate::domains::proven_environment(tx, &domain).await
    }
}

/// What a sign-up request led to; the caller answers 202 in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    /// A confirmation link went to the address.
    Confirm,
    /// The address has an account: its owner is told so.
    Exists,
    /// Only proven domains may sign up here, and this one is not: told so.
    Unavailable,
}

/// Records a sign-up and mails the address: its confirmation link, or why
/// not (an account exists; sign-up is for proven domains only).
pub async fn request(
    store: &Store,
    new: &NewSignup,
    rules: &SignupRules,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Requested> {
    let mut tx = store.begin().await?;
    let name = Some(format!(
        "{} {}",
        new.given_name.trim(),
        new.family_name.trim()
    ))
    .map(|n| n.trim().to_owned())
    .filter(|n| !n.is_empty());
    // Every answer is a mail to the address, in the form's language unless
    // the account chose one.
    let tell = |kind: MailKind,
                name: Option<String>,
                link: String,
                expires_at: Option<DateTime<Utc>>,
                locale: Option<Locale>| {
        let ctx = MailContext {
            name,
            email: new.email.to_string(),
            organization: String::new(),
            link,
            expires_at,
        };
        (kind, locale, ctx)
    };
    let holder = match accounts::find_by_email(&mut tx, &new.email).await? {
        Some(a) if a.disabled || belongs_somewhere(&mut tx, a.id).await? => Some(a),
        // An account that belongs nowhere (refused, or removed everywhere)
        // may sign up again: the confirmed address is the proof.
        _ => None,
    };
    let (requested, mail) = if let Some(account) = holder {
        let locale = account.locale.or(new.locale);
        let link = format!("{}/login", lifecycle.public_url);
        (
            Requested::Exists,
            tell(
                MailKind::SignupExists,
                account.name.display_name(),
                link,
                None,
                locale,
            ),
        )
    } else if rules.mode == SignupMode::DomainsOnly
        && rules.environment_for(&mut tx, &new.email).await?.is_none()
    {
        let link = lifecycle.public_url.clone();
        (
            Requested::Unavailable,
            tell(MailKind::SignupUnavailable, name, link, None, new.locale),
        )
    } else {
        // Sign-ups a week past their end go: a link that old answers as one
        // never sent.
        let stale = origin.now - chrono::Duration::days(7);
        in_tx!(&mut tx, |c| {
            sqlx::query("DELETE FROM signups WHERE expires_at < $1")
                .bind(stale)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
        let token = SecretToken::from_random(rand::random(), "");
        let expires = portier_core::secrets::expires_at(origin.now, CONFIRM_TTL);
        in_tx!(&mut tx, |c| {
            sqlx::query(
                "INSERT INTO signups (id, token_hash, email, given_name, family_name, password_hash,
                                      organization_name, locale, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(Uuid::now_v7())
            .bind(token.hash())
            .bind(new.email.as_str())
            .bind(new.given_name.trim())
            .bind(new.family_name.trim())
            .bind(&new.password_hash)
            .bind(new.organization_name.as_deref())
            .bind(new.locale.map(Locale::as_str))
            .bind(origin.now)
            .bind(expires)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
        let link = format!("{}/signup/{}", lifecycle.public_url, token.expose());
        (
            Requested::Confirm,
            tell(
                MailKind::SignupConfirm,
                name,
                link,
                Some(expires),
                new.locale,
            ),
        )
    };
    let (kind, locale, ctx) = mail;
    crate::mail::enqueue_in(
        &mut tx, lifecycle, kind, &new.email, None, locale, &ctx, origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(requested)
}

/// How a confirmed sign-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Joined the environment of the address's proven domain, without rights.
    Joined,
    /// Started an environment of its own, as its administrator.
    Created,
    /// Joined, but inactive until an administrator approves.
    PendingApproval,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Joined => "joined",
            Outcome::Created => "created",
            Outcome::PendingApproval => "pending_approval",
        }
    }
}

/// A confirmed sign-up.
#[derive(Debug, Clone)]
pub struct Confirmed {
    pub account: Account,
    pub organization: Organization,
    pub outcome: Outcome,
    pub roles: Vec<String>,
}

type SignupRow = (
    Uuid,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);

fn unusable() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "link_unusable",
        field: None,
        message: "this link does not work (any more): sign up again for a new one".into(),
    })
}

/// Follows a sign-up's link: once, within 24 hours. Makes the account and
/// joins it to the environment of its proven domain (whose administrators
/// are mailed about the newcomer in the same transaction), or starts one.
pub async fn confirm(
    store: &Store,
    token: &SecretToken,
    rules: &SignupRules,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Confirmed> {
    let mut tx = store.begin().await?;
    let row: Option<SignupRow> = in_tx!(&mut tx, |c| {
        sqlx::query_as(
            "SELECT id, email, given_name, family_name, password_hash, organization_name, locale,
                    expires_at, used_at
             FROM signups WHERE token_hash = $1",
        )
        .bind(token.hash())
        .fetch_optional(c)
        .await
    })?;
    let Some((id, email, given, family, hash, org_name, locale, expires, used)) = row else {
        return Err(DomainError::NotFound { what: "link" }.into());
    };
    if used.is_some() || expires <= origin.now {
        return Err(unusable());
    }
    // Once, also when two requests race: only one of them marks it used.
    let marked = in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE signups SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(origin.now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    if marked != 1 {
        return Err(unusable());
    }
    let email = Email::parse(&email)
        .map_err(|e| Error::Corrupt(format!("signup {id}: {}", e.message())))?;
    let earlier = accounts::find_by_email(&mut tx, &email).await?;
    if let Some(a) = &earlier
        && (a.disabled || belongs_somewhere(&mut tx, a.id).await?)
    {
        return Err(account_exists());
    }
    let nonempty = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let account = Account {
        id: earlier.as_ref().map_or_else(AccountId::new, |a| a.id),
        email: email.clone(),
        name: PersonName {
            salutation: None,
            given_name: nonempty(given),
            infix: None,
            family_name: nonempty(family),
        },
        phone: None,
        mobile: None,
        locale: locale
            .as_deref()
            .and_then(|l| Locale::parse("locale", l).ok()),
        status: AccountStatus::Active,
        disabled: false,
        created_at: origin.now,
    };
    match &earlier {
        None => insert_active(&mut tx, &account, origin.now).await?,
        Some(_) => reactivate(&mut tx, &account, origin.now).await?,
    }
    accounts::set_password(&mut tx, account.id, &hash, origin.now).await?;
    // The hash did its work: the sign-up row keeps no password any more.
    in_tx!(&mut tx, |c| {
        sqlx::query("UPDATE signups SET password_hash = '' WHERE id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    let me = Actor::Account { id: account.id };
    let joined = rules.environment_for(&mut tx, &email).await?;
    let (org, outcome, role) = match joined {
        Some(env) => {
            let held = env.settings.signup_approval;
            let outcome = if held {
                Outcome::PendingApproval
            } else {
                Outcome::Joined
            };
            (env, outcome, MEMBER)
        }
        None if rules.mode == SignupMode::DomainsOnly => {
            return Err(Error::Domain(DomainError::Conflict {
                code: "signup_closed",
                field: None,
                message: "sign-up is open only for addresses at an organization's proven domain"
                    .into(),
            }));
        }
        None => {
            let name = nonempty(org_name).unwrap_or_else(|| {
                portier_core::domains::default_environment_name(
                    account.name.given_name.as_deref().unwrap_or(""),
                    account.name.family_name.as_deref().unwrap_or(""),
                    &email,
                )
            });
            let env = organizations::create_root(&mut tx, &name, me.clone(), origin).await?;
            (env, Outcome::Created, ADMINISTRATOR)
        }
    };
    account_created(&mut tx, &account, &org, &me, origin).await?;
    let role_id = roles::builtin_id(role)
        .ok_or_else(|| Error::Corrupt(format!("the {role} role is not defined")))?;
    let m = members::insert(&mut tx, &account, org.id, &[role_id], None, origin.now).await?;
    if outcome != Outcome::Created {
        let held = outcome == Outcome::PendingApproval;
        in_tx!(&mut tx, |c| {
            sqlx::query(
                "UPDATE memberships SET joined_by_domain = TRUE, active = $2, awaiting_approval = $3
                 WHERE id = $1",
            )
            .bind(m.id.0)
            .bind(!held)
            .bind(held)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
        })?;
    }
    crate::rights::changed(&mut tx, org.environment_id).await?;
    let event = NewAuditEvent {
        actor: me.clone(),
        action: match outcome {
            Outcome::Created => "member.added",
            _ => "member.joined_by_domain",
        },
        organization_id: Some(org.id),
        target_type: "membership",
        target_id: m.id.to_string(),
        changes: serde_json::json!({
            "account_id": account.id, "email": account.email, "roles": [role],
            "outcome": outcome.as_str(),
        }),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    if outcome != Outcome::Created {
        let held = outcome == Outcome::PendingApproval;
        tell_administrators(store, &mut tx, &org, &account, held, lifecycle, origin.now).await?;
    }
    tx.commit().await?;
    Ok(Confirmed {
        account,
        organization: org,
        outcome,
        roles: vec![role.to_owned()],
    })
}

fn account_exists() -> Error {
    Error::Domain(DomainError::Conflict {
        code: "account_exists",
        field: None,
        message: "this address has an account already: sign in, or choose a new password".into(),
    })
}

/// Whether the account is a member of any organization (active or not).
async fn belongs_somewhere(tx: &mut Tx, account: AccountId) -> Result<bool> {
    let found: Option<i32> = in_tx!(tx, |c| {
        sqlx::query_scalar("SELECT 1 FROM memberships WHERE account_id = $1 LIMIT 1")
            .bind(account.0)
            .fetch_optional(c)
            .await
    })?;
    Ok(found.is_some())
}

/// An account that belonged nowhere, signed up afresh: the names and
/// language of the sign-up, active from now. Whoever signs up controls the
/// address now, and may not be who held it before: nothing of the earlier
/// sign-in stays (second factors, passkeys, recovery codes, sessions,
/// links), nor the earlier numbers and registration.
async fn reactivate(tx: &mut Tx, a: &Account, now: DateTime<Utc>) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query("DELETE FROM credentials WHERE account_id = $1")
            .bind(a.id.0)
            .execute(&mut *c)
            .await?;
        sqlx::query("DELETE FROM registrations WHERE account_id = $1")
            .bind(a.id.0)
            .execute(&mut *c)
            .await
            .map(|r| r.rows_affected())
    })?;
    crate::sessions::end_all_in(tx, a.id, None).await?;
    crate::links::replace_all(tx, a.id, None, now).await?;
    in_tx!(tx, |c| {
        sqlx::query(
            "UPDATE accounts SET salutation = NULL, given_name = $2, infix = NULL, family_name = $3,
                sort_key = $4, locale = $5, phone = NULL, mobile = NULL,
                status = 'active', activated_at = COALESCE(activated_at, $6), updated_at = $6
             WHERE id = $1",
        )
        .bind(a.id.0)
        .bind(&a.name.given_name)
        .bind(&a.name.family_name)
        .bind(a.name.sort_key(&a.email))
        .bind(a.locale.map(Locale::as_str))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(())
}

async fn insert_active(tx: &mut Tx, a: &Account, now: DateTime<Utc>) -> Result<()> {
    in_tx!(tx, |c| {
        sqlx::query(
            "INSERT INTO accounts (id, email, given_name, family_name, sort_key, locale, status, disabled,
                                   created_at, updated_at, activated_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'active', FALSE, $7, $7, $7)",
        )
        .bind(a.id.0)
        .bind(a.email.as_str())
        .bind(&a.name.given_name)
        .bind(&a.name.family_name)
        .bind(a.name.sort_key(&a.email))
        .bind(a.locale.map(Locale::as_str))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })
    .map_err(|e| {
        Error::from(e).unique_as(|| {
            account_exists()
        })
    })?;
    Ok(())
}

async fn account_created(
    tx: &mut Tx,
    a: &Account,
    org: &Organization,
    me: &Actor,
    origin: &Origin,
) -> Result<()> {
    let event = NewAuditEvent {
        actor: me.clone(),
        action: "account.signed_up",
        organization_id: Some(org.id),
        target_type: "account",
        target_id: a.id.to_string(),
        changes: serde_json::json!({"email": a.email, "status": a.status}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(tx, org.environment_id, event, origin.now).await
}

/// Mails the administrators of `env` (those of the environment itself)
/// that `newcomer` joined by their domain, in the same transaction.
async fn tell_administrators(
    store: &Store,
    tx: &mut Tx,
    env: &Organization,
    newcomer: &Account,
    held: bool,
    lifecycle: &Lifecycle,
    now: DateTime<Utc>,
) -> Result<()> {
    let admins = members::administrators_in(store, env).await?;
    for admin in admins
        .iter()
        .filter(|a| a.membership_active && a.account.status == AccountStatus::Active)
    {
        let ctx = MailContext {
            name: admin.account.name.display_name(),
            email: newcomer.email.to_string(),
            organization: env.name.clone(),
            link: format!(
                "{}/orgs/{}/members#{}",
                lifecycle.public_url,
                env.id,
                if held { "waiting" } else { "joined" }
            ),
            expires_at: None,
        };
        crate::mail::enqueue_rendered(
            tx,
            lifecycle,
            MailKind::MemberJoined,
            &admin.account,
            Some(env),
            &ctx,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Someone who joined by their domain and waits for approval.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub account: Account,
    pub since: DateTime<Utc>,
}

/// The people waiting for approval to join `env`, oldest first.
pub async fn awaiting_approval(
    store: &Store,
    auth: &Authorized<MembersRead>,
) -> Result<Vec<Waiting>> {
    let env = auth.organization();
    joined(store, env, true, None).await
}

/// How many people wait for approval to join `org`.
pub async fn awaiting_count(store: &Store, auth: &Authorized<MembersUpdate>) -> Result<i64> {
    let org = auth.organization();
    Ok(crate::reader!(store, |c| {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM memberships WHERE organization_id = $1 AND awaiting_approval = TRUE",
        )
        .bind(org.id.0)
        .fetch_one(c)
        .await
    })?)
}

/// The people who joined `env` by its domain since `since` (and were not
/// held for approval), newest first: its administrators see who came in.
pub async fn joined_since(
    store: &Store,
    auth: &Authorized<MembersRead>,
    since: DateTime<Utc>,
) -> Result<Vec<Waiting>> {
    let env = auth.organization();
    joined(store, env, false, Some(since)).await
}

/// Who joined `env` by its domain: those waiting (oldest first, all of
/// them) or those let in since `since` (newest first, at most 200).
async fn joined(
    store: &Store,
    env: &Organization,
    waiting: bool,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<Waiting>> {
    let sql = if waiting {
        "SELECT account_id, created_at FROM memberships
         WHERE organization_id = $1 AND joined_by_domain = TRUE AND awaiting_approval = $2
           AND ($3 IS NULL OR created_at >= $3)
         ORDER BY created_at, id"
    } else {
        "SELECT account_id, created_at FROM memberships
         WHERE organization_id = $1 AND joined_by_domain = TRUE AND awaiting_approval = $2
           AND ($3 IS NULL OR created_at >= $3)
         ORDER BY created_at DESC, id DESC LIMIT 200"
    };
    let rows: Vec<(Uuid, DateTime<Utc>)> = crate::reader!(store, |c| {
        sqlx::query_as(sql)
            .bind(env.id.0)
            .bind(waiting)
            .bind(since)
            .fetch_all(c)
            .await
    })?;
    let mut out = Vec::new();
    for (account, since) in rows {
        if let Some(a) = accounts::get(store, AccountId(account)).await? {
            out.push(Waiting { account: a, since });
        }
    }
    Ok(out)
}

/// An administrator approves `account`'s membership of `org`, waiting since
/// its sign-up: it becomes active (still as `member`, without rights), and
/// the person is told they can sign in.
pub async fn approve(
    store: &Store,
    auth: &portier_core::rights::Authorized<portier_core::rights::MembersUpdate>,
    account: AccountId,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<()> {
    let mut tx = store.begin().await?;
    let org = organizations::get_in_tx(&mut tx, auth.organization_id()).await?;
    let changed = in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE memberships SET active = TRUE, awaiting_approval = FALSE, updated_at = $3
             WHERE organization_id = $1 AND account_id = $2 AND awaiting_approval = TRUE",
        )
        .bind(org.id.0)
        .bind(account.0)
        .bind(origin.now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if changed == 0 {
        return Err(DomainError::NotFound { what: "approval" }.into());
    }
    crate::rights::changed(&mut tx, org.environment_id).await?;
    let person = accounts::get(&mut tx, account)
        .await?
        .ok_or(DomainError::NotFound { what: "account" })?;
    let event = NewAuditEvent {
        actor: auth.actor().clone(),
        action: "member.approved",
        organization_id: Some(org.id),
        target_type: "account",
        target_id: account.to_string(),
        changes: serde_json::json!({"email": person.email, "active": {"before": false, "after": true}}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    let ctx = MailContext {
        name: person.name.display_name(),
        email: person.email.to_string(),
        organization: org.name.clone(),
        link: format!("{}/login", lifecycle.public_url),
        expires_at: None,
    };
    crate::mail::enqueue_rendered(
        &mut tx,
        lifecycle,
        MailKind::Added,
        &person,
        Some(&org),
        &ctx,
        origin.now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
