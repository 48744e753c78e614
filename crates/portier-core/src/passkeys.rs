//! Passkeys (WebAuthn, docs/RULES.md#two-step-verification): a key pair kept by
//! the person's device, unlocked there with a fingerprint, a face or a PIN.
//! Portier is the relying party; webauthn-rs checks every ceremony. A passkey
//! is a second factor after a password, and on its own a whole sign-in (the
//! device verified the person, so it is two factors in one).
//!
//! A ceremony takes two requests: the options go to the browser, its answer
//! comes back. What the second request must check against (the challenge) is
//! the ceremony's state, kept by the caller in the database between the two,
//! so the answer may land on any node.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;
pub use webauthn_rs::prelude::Passkey;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use crate::FieldError;

/// How long a ceremony waits for the browser's answer: the browser's own
/// timeout (five minutes) and a little more.
pub const CEREMONY_TTL: Duration = Duration::from_secs(6 * 60);

/// The longest name a person may give a passkey.
pub const NAME_MAX: usize = 64;

/// The party passkeys are made for: the host of Portier's public address.
#[derive(Clone)]
pub struct RelyingParty {
    webauthn: Option<Webauthn>,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("available", &self.webauthn.is_some())
            .finish()
    }
}

/// Passkeys cannot be used here: browsers bind them to a host name, never to
/// an IP address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "passkeys need Portier's public address (PORTIER_PUBLIC_URL) to have a host name, such as localhost or id.example.nl: browsers refuse them on an IP address"
)]
pub struct Unavailable;

/// A ceremony's answer that does not hold: the browser's answer is not for
/// this challenge, not from a known passkey, or not a valid signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the passkey's answer was not accepted: try again")]
pub struct Refused;

impl Refused {
    /// As the 422 of the field the answer came in.
    pub fn in_field(self, field: &str) -> FieldError {
        FieldError::new(field, "passkey_refused", self.to_string())
    }
}

/// What a ceremony's start hands out: the options for the browser
/// (`navigator.credentials.create` or `.get`, under `publicKey`) and the state
/// to keep until its answer comes back.
pub struct Started {
    pub options: serde_json::Value,
    pub state: String,
}

/// A passkey as stored: webauthn-rs's record (public key, counter), with the
/// id the browser names it by.
pub struct Registered {
    pub credential_id: String,
    pub record: String,
}

/// A passkey that signed in: its stored record, updated when its counter
/// moved (to store back).
pub struct Asserted {
    pub credential_id: String,
    pub updated_record: Option<String>,
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, Refused> {
    serde_json::from_str(text).map_err(|_| Refused)
}

/// The credential id as the browser gives it (base64url, no padding).
fn credential_id_text(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Reads a stored passkey record.
pub fn record_of(text: &str) -> Option<Passkey> {
    serde_json::from_str(text).ok()
}

/// The browser's id of a stored record.
pub fn credential_id_of(record: &Passkey) -> String {
    credential_id_text(record.cred_id().as_ref())
}

impl RelyingParty {
    /// The relying party of `public_url`; unavailable when its host is an IP
    /// address or the address does not parse.
    pub fn for_public_url(public_url: &str) -> RelyingParty {
        let webauthn = Url::parse(public_url).ok().and_then(|url| {
            let host = url.domain()?.to_owned();
            WebauthnBuilder::new(&host, &url)
                .ok()?
                .rp_name(crate::two_factor::ISSUER)
                .build()
                .ok()
        });
        RelyingParty { webauthn }
    }

    pub fn available(&self) -> bool {
        self.webauthn.is_some()
    }

    fn webauthn(&self) -> Result<&Webauthn, Unavailable> {
        self.webauthn.as_ref().ok_or(Unavailable)
    }

    /// Starts registering a passkey for the person `user` (their account id,
    /// which the device keeps as the user handle), excluding the ones they
    /// have. The passkey is asked to be discoverable, so it can sign in
    /// without an address being typed.
    pub fn start_registration(
        &self,
        user: Uuid,
        email: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> Result<Started, Unavailable> {
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (options, state) = self
            .webauthn()?
            .start_passkey_registration(user, email, display_name, Some(exclude))
            .map_err(|_| Unavailable)?;
        let mut options = serde_json::to_value(options).unwrap_or_default();
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "preferred".into();
            selection["requireResidentKey"] = false.into();
        }
        Ok(Started {
            options,
            state: to_json(&state),
        })
    }

    /// Checks the browser's answer to a registration (JSON of the
    /// `PublicKeyCredential`) against its state.
    pub fn finish_registration(
        &self,
        state: &str,
        answer: &serde_json::Value,
    ) -> Result<Registered, Refused> {
        let state: PasskeyRegistration = from_json(state)?;
        let answer: RegisterPublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| Refused)?;
        let passkey = self
            .webauthn()
            .map_err(|_| Refused)?
            .finish_passkey_registration(&answer, &state)
            .map_err(|_| Refused)?;
        Ok(Registered {
            credential_id: credential_id_of(&passkey),
            record: to_json(&passkey),
        })
    }

    /// Starts a sign-in with one of `passkeys` (a known person's).
    pub fn start_authentication(&self, passkeys: &[Passkey]) -> Result<Started, Unavailable> {
        let (options, state) = self
            .webauthn()?
            .start_passkey_authentication(passkeys)
            .map_err(|_| Unavailable)?;
        Ok(Started {
            options: serde_json::to_value(options).unwrap_or_default(),
            state: to_json(&state),
        })
    }

    /// Checks the answer to [`RelyingParty::start_authentication`].
    pub fn finish_authentication(
        &self,
        state: &str,
        answer: &serde_json::Value,
        passkeys: &[Passkey],
    ) -> Result<Asserted, Refused> {
        let state: PasskeyAuthentication = from_json(state)?;
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| Refused)?;
        let result = self
            .webauthn()
            .map_err(|_| Refused)?
            .finish_passkey_authentication(&answer, &state)
            .map_err(|_| Refused)?;
        asserted(&result, passkeys)
    }

    /// Starts a sign-in by whoever's passkey the browser offers (nobody
    /// named yet).
    pub fn start_discoverable(&self) -> Result<Started, Unavailable> {
        let (options, state) = self
            .webauthn()?
            .start_discoverable_authentication()
            .map_err(|_| Unavailable)?;
        Ok(Started {
            options: serde_json::to_value(options).unwrap_or_default(),
            state: to_json(&state),
        })
    }

    /// Who the answer to a discoverable sign-in says it is: the user handle
    /// (an account id) and the passkey's id. Not yet proof of anything.
    pub fn identify(&self, answer: &serde_json::Value) -> Result<(Uuid, String), Refused> {
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| Refused)?;
        let (user, id) = self
            .webauthn()
            .map_err(|_| Refused)?
            .identify_discoverable_authentication(&answer)
            .map_err(|_| Refused)?;
        Ok((user, credential_id_text(id)))
    }

    /// Checks the answer to [`RelyingParty::start_discoverable`] against the
    /// passkey it named.
    pub fn finish_discoverable(
        &self,
        state: &str,
        answer: &serde_json::Value,
        passkey: &Passkey,
    ) -> Result<Asserted, Refused> {
        let state: DiscoverableAuthentication = from_json(state)?;
        let answer: PublicKeyCredential =
            serde_json::from_value(answer.clone()).map_err(|_| Refused)?;
        let result = self
            .webauthn()
            .map_err(|_| Refused)?
            .finish_discoverable_authentication_v2(&answer, state, passkey)
            .map_err(|_| Refused)?;
        asserted(&result, std::slice::from_ref(passkey))
    }
}

/// The passkey among `passkeys` that signed, with its record updated when
/// the ceremony moved its counter. A counter that went back (a cloned
/// authenticator) is refused by webauthn-rs before this. The device must
/// have verified its user (fingerprint, face, PIN): that is what makes a
/// passkey two factors in one, so it is checked here too, not left to the
/// crate's policy.
fn asserted(
    result: &webauthn_rs::prelude::AuthenticationResult,
    passkeys: &[Passkey],
) -> Result<Asserted, Refused> {
    if !result.user_verified() {
        return Err(Refused);
    }
    let mut passkey = passkeys
        .iter()
        .find(|p| p.cred_id() == result.cred_id())
        .cloned()
        .ok_or(Refused)?;
    let changed = passkey.update_credential(result).unwrap_or(false);
    Ok(Asserted {
        credential_id: credential_id_of(&passkey),
        updated_record: changed.then(|| to_json(&passkey)),
    })
}

/// A passkey's name as given: trimmed, at most [`NAME_MAX`] characters, no
/// control characters; empty means "name it after the device".
pub fn name(given: &str) -> Result<Option<String>, FieldError> {
    let trimmed = given.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            "name",
            "invalid",
            "a name cannot hold line breaks or other control characters",
        ));
    }
    if trimmed.chars().count() > NAME_MAX {
        return Err(FieldError::new(
            "name",
            "too_long",
            format!("at most {NAME_MAX} characters"),
        ));
    }
    Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_ids_are_base64url_without_padding() {
        assert_eq!(credential_id_text(b""), "");
        assert_eq!(credential_id_text(b"f"), "Zg");
        assert_eq!(credential_id_text(b"fo"), "Zm8");
        assert_eq!(credential_id_text(b"foo"), "Zm9v");
        assert_eq!(credential_id_text(b"foob"), "Zm9vYg");
        assert_eq!(credential_id_text(&[0xfb, 0xff, 0xfe]), "-__-");
    }

    #[test]
    fn only_a_host_name_makes_a_relying_party() {
        assert!(RelyingParty::for_public_url("http://localhost:8080").available());
        assert!(RelyingParty::for_public_url("https://id.example.nl").available());
        assert!(!RelyingParty::for_public_url("http://127.0.0.1:8080").available());
        assert!(!RelyingParty::for_public_url("http://[::1]:8080").available());
        assert!(!RelyingParty::for_public_url("not a url").available());
    }

    #[test]
    fn registration_asks_for_a_discoverable_passkey() {
        let rp = RelyingParty::for_public_url("https://id.example.nl");
        let started = rp
            .start_registration(Uuid::nil(), "a@example.nl", "A", &[])
            .unwrap();
        let selection = &started.options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "preferred");
        assert_eq!(started.options["publicKey"]["rp"]["id"], "id.example.nl");
        assert!(!started.state.is_empty());
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(name("  Laptop ").unwrap().as_deref(), Some("Laptop"));
        assert_eq!(name("   ").unwrap(), None);
        assert!(name("a\nb").is_err());
        assert!(name(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(name(&"é".repeat(NAME_MAX)).is_ok());
    }

    #[test]
    fn a_foreign_state_or_answer_is_refused_not_a_panic() {
        let rp = RelyingParty::for_public_url("https://id.example.nl");
        let answer = serde_json::json!({"id": "x"});
        assert!(rp.finish_registration("{}", &answer).is_err());
        assert!(rp.identify(&answer).is_err());
        let started = rp.start_discoverable().unwrap();
        assert!(rp.finish_registration(&started.state, &answer).is_err());
    }
}
