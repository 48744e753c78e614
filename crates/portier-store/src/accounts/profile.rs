//! The person's own profile: filled in on activation, and changed under My account.

#[allow(unused_imports)]
use super::*;

/// Profile fields a person fills in at activation; each only where still empty.
#[derive(Debug, Clone, Default)]
pub struct ProfileFill {
    pub salutation: Option<String>,
    pub given_name: Option<String>,
    pub infix: Option<String>,
    pub family_name: Option<String>,
    pub phone: Option<String>,
    pub mobile: Option<String>,
    pub locale: Option<portier_core::locale::Locale>,
}

/// Activates the account behind an activation token: uses the token (once,
/// also under concurrent calls), sets the password hash, completes the empty
/// profile fields and records it, in one transaction. `Ok(false)` when the
/// token was used or replaced in the meantime.
pub async fn activate(
    store: &Store,
    token: &crate::links::TokenInfo,
    password_hash: &str,
    fill: &ProfileFill,
    origin: &crate::audit::Origin,
) -> Result<bool> {
    let mut tx = store.begin().await?;
    if !crate::links::consume(&mut tx, token.id, origin.now).await? {
        return Ok(false);
    }
    let account = &token.account;
    // The links other organizations sent stop working: the account is
    // activated, and a password is set once this way.
    crate::links::replace_all(
        &mut tx,
        account.id,
        Some(portier_core::secrets::TokenKind::Activation),
        origin.now,
    )
    .await?;
    let name = &account.name;
    let pick =
        |have: &Option<String>, given: &Option<String>| have.clone().or_else(|| given.clone());
    let next = portier_core::accounts::PersonName {
        salutation: pick(&name.salutation, &fill.salutation),
        given_name: pick(&name.given_name, &fill.given_name),
        infix: pick(&name.infix, &fill.infix),
        family_name: pick(&name.family_name, &fill.family_name),
    };
    let activated = in_tx!(&mut tx, |c| {
        sqlx::query(
            "UPDATE accounts SET status = 'active', activated_at = $1, updated_at = $1,
                salutation = $2, given_name = $3, infix = $4, family_name = $5, sort_key = $6,
                phone = $7, mobile = $8, locale = $9
             WHERE id = $10 AND status = 'invited'",
        )
        .bind(origin.now)
        .bind(&next.salutation)
        .bind(&next.given_name)
        .bind(&next.infix)
        .bind(&next.family_name)
        .bind(next.sort_key(&account.email))
        .bind(pick(&account.phone, &fill.phone))
        .bind(pick(&account.mobile, &fill.mobile))
        .bind(account.locale.or(fill.locale).map(|l| l.as_str()))
        .bind(account.id.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if activated == 0 {
        // Activated already, through a link that was used at the same
        // moment: this one sets no second password.
        return Ok(false);
    }
    // Only what the person typed reaches their memberships.
    if fill.phone.is_some() && account.phone.is_none() {
        share_number(
            &mut tx,
            account.id,
            Number::Phone,
            &fill.phone,
            origin.now,
            true,
        )
        .await?;
    }
    if fill.mobile.is_some() && account.mobile.is_none() {
        share_number(
            &mut tx,
            account.id,
            Number::Mobile,
            &fill.mobile,
            origin.now,
            true,
        )
        .await?;
    }
    if next != *name {
        crate::search::reindex_account(&mut tx, account.id, &next, &account.email).await?;
    }
    set_password(&mut tx, account.id, password_hash, origin.now).await?;
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account.id },
        action: "account.activated",
        organization_id: token.organization.as_ref().map(|o| o.id),
        target_type: "account",
        target_id: account.id.to_string(),
        // Never the password or its hash.
        changes: serde_json::json!({"status": {"before": "invited", "after": "active"}}),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(&mut tx, account.id, None, event, origin.now).await?;
    tx.commit().await?;
    Ok(true)
}

/// A number the person gave themselves, given to their memberships: to
/// every one, or with `only_missing` to those that have none of their own
/// (at activation).
pub(crate) async fn share_number(
    tx: &mut Tx,
    account: AccountId,
    which: Number,
    value: &Option<String>,
    now: DateTime<Utc>,
    only_missing: bool,
) -> Result<()> {
    let sql = match which {
        Number::Phone => {
            "UPDATE memberships SET phone = CASE WHEN $3 THEN COALESCE(phone, $2) ELSE $2 END,
                updated_at = $4 WHERE account_id = $1"
        }
        Number::Mobile => {
            "UPDATE memberships SET mobile = CASE WHEN $3 THEN COALESCE(mobile, $2) ELSE $2 END,
                updated_at = $4 WHERE account_id = $1"
        }
    };
    in_tx!(tx, |c| {
        sqlx::query(sql)
            .bind(account.0)
            .bind(value)
            .bind(only_missing)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(())
}

/// A person's change to their own profile; `None` keeps a field, `Some(None)`
/// empties it.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub salutation: Option<Option<String>>,
    pub given_name: Option<Option<String>>,
    pub infix: Option<Option<String>>,
    pub family_name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub mobile: Option<Option<String>>,
    pub locale: Option<Option<Locale>>,
}

/// A new password the person chose, with the session that stays signed
/// in (their others end).
#[derive(Debug, Clone, Copy)]
pub struct NewPassword<'a> {
    pub hash: &'a str,
    pub keep_session: Option<&'a str>,
}

/// Applies the person's own profile change, recording before and after,
/// and with it a new password when one is given: both or neither.
pub async fn update_profile(
    store: &Store,
    account: &Account,
    patch: ProfilePatch,
    password: Option<NewPassword<'_>>,
    origin: &crate::audit::Origin,
) -> Result<Account> {
    let mut tx = store.begin().await?;
    let next = update_profile_in(&mut tx, account, patch, origin).await?;
    if let Some(p) = password {
        super::change_password_in(&mut tx, account.id, p.hash, p.keep_session, origin).await?;
    }
    tx.commit().await?;
    Ok(next)
}

async fn update_profile_in(
    tx: &mut Tx,
    account: &Account,
    patch: ProfilePatch,
    origin: &crate::audit::Origin,
) -> Result<Account> {
    let mut next = account.clone();
    let set = |field: &mut Option<String>, v: Option<Option<String>>| {
        if let Some(v) = v {
            *field = v;
        }
    };
    set(&mut next.name.salutation, patch.salutation);
    set(&mut next.name.given_name, patch.given_name);
    set(&mut next.name.infix, patch.infix);
    set(&mut next.name.family_name, patch.family_name);
    set(&mut next.phone, patch.phone);
    set(&mut next.mobile, patch.mobile);
    if let Some(l) = patch.locale {
        next.locale = l;
    }
    let mut changes = serde_json::Map::new();
    portier_core::organizations::diff(
        "",
        &serde_json::to_value(account).unwrap_or_default(),
        &serde_json::to_value(&next).unwrap_or_default(),
        &mut changes,
    );
    if changes.is_empty() {
        return Ok(next);
    }
    in_tx!(&mut *tx, |c| {
        sqlx::query(
            "UPDATE accounts SET salutation = $1, given_name = $2, infix = $3, family_name = $4, sort_key = $5,
                phone = $6, mobile = $7, locale = $8, updated_at = $9 WHERE id = $10",
        )
        .bind(&next.name.salutation)
        .bind(&next.name.given_name)
        .bind(&next.name.infix)
        .bind(&next.name.family_name)
        .bind(next.name.sort_key(&next.email))
        .bind(&next.phone)
        .bind(&next.mobile)
        .bind(next.locale.map(|l| l.as_str()))
        .bind(origin.now)
        .bind(next.id.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    if next.name != account.name {
        crate::search::reindex_account(tx, account.id, &next.name, &next.email).await?;
    }
    // The person's own numbers reach every organization they belong to:
    // each number they changed, and only that one.
    if next.phone != account.phone {
        share_number(
            tx,
            account.id,
            Number::Phone,
            &next.phone,
            origin.now,
            false,
        )
        .await?;
    }
    if next.mobile != account.mobile {
        share_number(
            tx,
            account.id,
            Number::Mobile,
            &next.mobile,
            origin.now,
            false,
        )
        .await?;
    }
    let event = portier_core::audit::NewAuditEvent {
        actor: portier_core::audit::Actor::Account { id: account.id },
        action: "account.updated",
        organization_id: None,
        target_type: "account",
        target_id: account.id.to_string(),
        changes: serde_json::Value::Object(changes),
        client_addr: origin.client_addr.clone(),
    };
    crate::audit::record_for_account(tx, account.id, None, event, origin.now).await?;
    Ok(next)
}

/// One of a person's numbers.
#[derive(Clone, Copy)]
pub(crate) enum Number {
    Phone,
    Mobile,
}
