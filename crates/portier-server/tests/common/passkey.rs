//! A device with a passkey for the tests: webauthn-rs's own software
//! authenticator (`SoftPasskey`), which makes and signs as a device would.

#![allow(dead_code)]

use portier_core::passkeys::RelyingParty;
use serde_json::{Value, json};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse, Url};

/// The address passkeys are made for in these tests (browsers refuse them
/// on an IP address; the requests themselves go to 127.0.0.1).
pub const ORIGIN: &str = "http://localhost:8080";

pub fn with_passkeys(config: &mut portier_server::ServerConfig) {
    config.passkeys = RelyingParty::for_public_url(ORIGIN);
}

/// A device with a passkey authenticator that verifies its user.
pub fn device() -> SoftPasskey {
    SoftPasskey::new(true)
}

pub fn create(device: &mut SoftPasskey, options: &Value) -> Value {
    let options: CreationChallengeResponse = serde_json::from_value(options.clone()).unwrap();
    let made = device
        .do_registration(Url::parse(ORIGIN).unwrap(), options)
        .expect("the device makes a passkey");
    serde_json::to_value(made).unwrap()
}

pub fn get(device: &mut SoftPasskey, options: &Value) -> Value {
    let options: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
    let signed = device
        .do_authentication(Url::parse(ORIGIN).unwrap(), options)
        .expect("the device signs");
    serde_json::to_value(signed).unwrap()
}

/// A passkey a device holds: its credential id and the user handle it was
/// made with (both as the browser writes them).
#[derive(Clone)]
pub struct Held {
    pub credential_id: String,
    pub user_handle: Value,
}

/// The device answers a sign-in that names nobody, as a browser does with a
/// discoverable passkey: it picks `held` and returns the user handle stored
/// with it. (`SoftPasskey` keeps no discoverable credentials, so the test
/// names the one to use; the handle is not signed, the browser passes it on.)
pub fn get_discoverable(device: &mut SoftPasskey, options: &Value, held: &Held) -> Value {
    let mut options = options.clone();
    options["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": held.credential_id}]);
    let mut answer = get(device, &options);
    answer["response"]["userHandle"] = held.user_handle.clone();
    answer
}
