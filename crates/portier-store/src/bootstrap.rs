//! The first environment and its administrator (`portier bootstrap`): one
//! transaction creates the environment, finds or creates the account (an
//! address that has an account keeps it, docs/RULES.md#shared-accounts), makes
//! it administrator, issues its activation link and an API token carrying every
//! permission on the environment.

use portier_core::accounts::AccountStatus;
use portier_core::audit::{Actor, NewAuditEvent};
use portier_core::email::Email;
use portier_core::ids::{AccountId, OrganizationId};
use portier_core::permissions;
use portier_core::roles::ADMINISTRATOR;
use portier_core::secrets::SecretToken;

use crate::audit::{self, Origin};
use crate::lifecycle::Lifecycle;
use crate::{Error, Result, Store, accounts, api_tokens, members, organizations, roles};

pub struct Bootstrapped {
    pub organization_id: OrganizationId,
    pub account_id: AccountId,
    pub account_reused: bool,
    /// `None` when the account was already active and needs no activation.
    pub activation_token: Option<SecretToken>,
    pub api_token: SecretToken,
}

/// Creates the environment and its administrator; an administrator who has
/// not activated yet gets the invitation mail (through the outbox, as every
/// invitation) as well as the link printed.
pub async fn bootstrap(
    store: &Store,
    org_name: &str,
    email: &Email,
    lifecycle: &Lifecycle,
    origin: &Origin,
) -> Result<Bootstrapped> {
    let actor = Actor::Cli;
    let mut tx = store.begin().await?;
    let org = organizations::create_root(&mut tx, org_name, actor.clone(), origin).await?;
    let (account, reused) = match accounts::find_by_email(&mut tx, email).await? {
        Some(a) => (a, true),
        None => {
            let a = accounts::insert_invited(&mut tx, email, origin.now).await?;
            let event = NewAuditEvent {
                actor: actor.clone(),
                action: "account.created",
                organization_id: Some(org.id),
                target_type: "account",
                target_id: a.id.to_string(),
                changes: serde_json::json!({"email": a.email, "status": a.status}),
                client_addr: origin.client_addr.clone(),
            };
            audit::record(&mut tx, org.environment_id, event, origin.now).await?;
            (a, false)
        }
    };
    let admin = roles::builtin_id(ADMINISTRATOR)
        .ok_or_else(|| Error::Corrupt("the administrator role is not defined".into()))?;
    let membership = members::insert(&mut tx, &account, org.id, &[admin], None, origin.now).await?;
    let event = NewAuditEvent {
        actor: actor.clone(),
        action: "member.added",
        organization_id: Some(org.id),
        target_type: "membership",
        target_id: membership.id.to_string(),
        changes: serde_json::json!({"account_id": account.id, "roles": [ADMINISTRATOR]}),
        client_addr: origin.client_addr.clone(),
    };
    audit::record(&mut tx, org.environment_id, event, origin.now).await?;
    let activation_token = if account.status == AccountStatus::Invited {
        Some(members::send_invitation(&mut tx, &account, &org, lifecycle, origin, false).await?)
    } else {
        None
    };
    let api = api_tokens::create(
        &mut tx,
        &org,
        Some(account.id),
        "bootstrap",
        &permissions::all_portier(),
        None,
        actor,
        origin,
    )
    .await?;
    tx.commit().await?;
    Ok(Bootstrapped {
        organization_id: org.id,
        account_id: account.id,
        account_reused: reused,
        activation_token,
        api_token: api.secret,
    })
}
