//! `TestApp`: the real router on 127.0.0.1 over a fresh database, with a client
//! and a bootstrapped environment.

#![allow(dead_code)]

pub mod browser;
pub mod dns;
pub mod passkey;
pub mod people;

use std::time::Duration;

use portier_core::email::Email;
use portier_core::permissions::PermissionSet;
use portier_core::rights::TokensManage;
use portier_store::audit::Origin;
use portier_store::testing::TestDb;
use serde_json::Value;

/// A password every policy accepts.
pub const GOOD: &str = "Kw8!vLp2#rTq";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: TestDb,
    pub token: String,
    pub org_id: String,
    _server: tokio::task::JoinHandle<()>,
}

/// Another environment and a session of its administrator.
pub struct Foreign {
    pub org: String,
    pub token: String,
    pub cookie: String,
}

pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn start(db: TestDb) -> TestApp {
        Self::start_with(db, |_| {}).await
    }

    /// [`TestApp::start`] with settings of the test's own.
    pub async fn start_with(
        db: TestDb,
        configure: impl FnOnce(&mut portier_server::ServerConfig),
    ) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = portier_server::ServerConfig::new(&base);
        configure(&mut config);
        let state = portier_server::AppState::new(db.store.clone(), config);
        let server = tokio::spawn(async move {
            portier_server::serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
        let (org_id, token) = Self::environment(&db, "Acme").await;
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            token,
            org_id,
            _server: server,
        }
    }

    /// Another node on the same database (its own store, cache and
    /// connections, as a second `portier serve` would have); returns its
    /// base URL.
    pub async fn second_node(
        &self,
        configure: impl FnOnce(&mut portier_server::ServerConfig),
    ) -> String {
        let store = portier_store::Store::connect(&self.db.url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut config = portier_server::ServerConfig::new(&base);
        configure(&mut config);
        let state = portier_server::AppState::new(store, config);
        tokio::spawn(async move {
            portier_server::serve(listener, state, std::future::pending())
                .await
                .unwrap();
        });
        base
    }

    /// Like [`TestApp::call`], against another node's base URL.
    pub async fn call_at(
        &self,
        base: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{base}{path}"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    /// Bootstraps another environment; returns its id and API token.
    pub async fn environment(db: &TestDb, name: &str) -> (String, String) {
        let email = Email::parse(&format!(
            "admin@{}.example",
            name.to_lowercase().replace(' ', "")
        ))
        .unwrap();
        let b = portier_store::bootstrap::bootstrap(
            &db.store,
            name,
            &email,
            &portier_store::lifecycle::Lifecycle {
                activation_ttl: Duration::from_secs(3600),
                ..portier_store::lifecycle::Lifecycle::new("http://localhost")
            },
            &Origin::now(None),
        )
        .await
        .unwrap();
        (
            b.organization_id.to_string(),
            b.api_token.expose().to_owned(),
        )
    }

    /// Another environment, "Globex", and a session of an administrator of
    /// it (boss@globex.example), for the isolation tests.
    pub async fn foreign(&self) -> Foreign {
        let (org, token) = Self::environment(&self.db, "Globex").await;
        let r = self
            .call(
                "POST",
                &format!("/api/v1/organizations/{org}/members"),
                Some(&token),
                Some(
                    serde_json::json!({"email": "boss@globex.example", "roles": ["administrator"]}),
                ),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let link = self.mail_link("boss@globex.example", "/activate/").await;
        let r = self
            .call(
                "POST",
                &format!("/api/v1/activations/{link}"),
                None,
                Some(serde_json::json!({"password": GOOD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let (r, cookie) = self.login("boss@globex.example", GOOD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        Foreign {
            org,
            token,
            cookie: cookie.unwrap(),
        }
    }

    /// A token on `org` carrying only `permissions`, issued by the bootstrap token.
    pub async fn restricted_token(&self, org: &str, permissions: PermissionSet) -> String {
        let issuer = portier_store::api_tokens::authenticate(
            &self.db.store,
            &self.token,
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap()
        .principal;
        let org = portier_store::organizations::get(&self.db.store, org.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        let auth = issuer.authorize::<TokensManage>(&org).unwrap();
        portier_store::api_tokens::issue(
            &self.db.store,
            &issuer,
            &auth,
            "restricted",
            &permissions,
            None,
            &Origin::now(None),
        )
        .await
        .unwrap()
        .secret
        .expose()
        .to_owned()
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.call_at(&self.base, method, path, token, body).await
    }

    /// Adds a member to `org` with the bootstrap token (`body` as the API
    /// takes it); returns the account id.
    /// The environment gets the portfolio type "surgery" ("Specialty
    /// training surgery", "Opleiding chirurgie") and a content role
    /// "resident" that allows it.
    pub async fn resident_role(&self) {
        let org = self.org_id.clone();
        let token = self.token.clone();
        let r = self
            .call(
                "POST",
                &format!("/api/v1/organizations/{org}/portfolio-types"),
                Some(&token),
                Some(serde_json::json!({"key": "surgery", "name": {"en": "Specialty training surgery", "nl": "Opleiding chirurgie"}})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        let r = self
            .call(
                "POST",
                &format!("/api/v1/organizations/{org}/roles"),
                Some(&token),
                Some(serde_json::json!({"key": "resident", "name": {"en": "Resident", "nl": "AIOS"}, "kind": "content", "portfolio_types": ["surgery"]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
    }

    pub async fn add_member_to(&self, org: &str, body: Value) -> String {
        let r = self
            .call(
                "POST",
                &format!("/api/v1/organizations/{org}/members"),
                Some(&self.token.clone()),
                Some(body),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body["account_id"].as_str().unwrap().to_owned()
    }

    /// [`TestApp::add_member_to`] the bootstrapped environment.
    pub async fn add_member(&self, body: Value) -> String {
        self.add_member_to(&self.org_id.clone(), body).await
    }

    /// Adds `email` to `org` with `roles` and activates the account with
    /// [`GOOD`]; returns its account id.
    pub async fn person_in(&self, org: &str, email: &str, roles: &[&str]) -> String {
        let body = serde_json::json!({"email": email, "roles": roles, "given_name": "Sam"});
        self.add_member_to(org, body).await;
        let token = self.mail_link(email, "/activate/").await;
        let r = self
            .call(
                "POST",
                &format!("/api/v1/activations/{token}"),
                None,
                Some(serde_json::json!({"password": GOOD})),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["account_id"].as_str().unwrap().to_owned()
    }

    /// [`TestApp::person_in`] the bootstrapped environment.
    pub async fn person(&self, email: &str, roles: &[&str]) -> String {
        self.person_in(&self.org_id.clone(), email, roles).await
    }

    /// Signs in; the answer and the session cookie (`name=value`) it set.
    pub async fn login(&self, email: &str, password: &str) -> (Answer, Option<String>) {
        let r = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        let cookie = r
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (Self::answer(r).await, cookie)
    }

    /// A session of a new person in `org` holding `roles`.
    pub async fn session_in(&self, org: &str, email: &str, roles: &[&str]) -> String {
        self.person_in(org, email, roles).await;
        let (r, cookie) = self.login(email, GOOD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        cookie.unwrap()
    }

    pub async fn with_cookie(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("cookie", cookie);
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, Some(&self.token.clone()), None)
            .await
    }

    /// The 64-hex token of the link after `marker` (`/activate/`, `/reset/`) in
    /// the newest mail to `email`, waiting up to ten seconds for it to be queued.
    pub async fn mail_link(&self, email: &str, marker: &str) -> String {
        let address = Email::parse(email).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let mails = portier_store::mail::recent(&self.db.store, Some(&address), 1)
                .await
                .unwrap();
            if let Some(at) = mails.first().and_then(|m| m.body_text.find(marker)) {
                let start = at + marker.len();
                return mails[0].body_text[start..start + 64].to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no mail with {marker} to {email}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn answer(res: reqwest::Response) -> Answer {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer {
            status,
            headers,
            body,
        }
    }
}

impl Answer {
    /// Asserts the contract's error body and returns its code.
    pub fn error(&self, status: u16) -> (&str, Option<&str>) {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        let e = &self.body["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message in {}",
            self.body
        );
        (e["code"].as_str().expect("error code"), e["field"].as_str())
    }
}

/// Runs the futures at once and waits for all.
/// A proof of `R` on organization `org`, for a test that reads the store
/// directly: made for an operator holding every right there.
#[allow(dead_code)]
pub async fn proof<R: portier_core::rights::Right>(
    store: &portier_store::Store,
    org: &str,
) -> portier_core::rights::Authorized<R> {
    let id: uuid::Uuid = org.parse().unwrap();
    let org = portier_store::organizations::get(store, id.into())
        .await
        .unwrap()
        .unwrap();
    portier_core::rights::Principal::operator(&org)
        .authorize::<R>(&org)
        .unwrap()
}

pub async fn all_at_once<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    let mut out = Vec::new();
    // Polled together: each request is on the wire before any answer.
    let joined = async {
        let mut pinned: Vec<_> = set.into_iter().map(Box::pin).collect();
        let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (i, f) in pinned.iter_mut().enumerate() {
                if results[i].is_none() {
                    match f.as_mut().poll(cx) {
                        std::task::Poll::Ready(v) => results[i] = Some(v),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        results.into_iter().map(Option::unwrap).collect::<Vec<_>>()
    };
    out.extend(joined.await);
    out
}

/// The code `oathtool` computes for `secret` at `offset` steps from now.
pub fn oathtool(secret: &str, offset: i64) -> String {
    let at = chrono::Utc::now() + chrono::Duration::seconds(30 * offset);
    let out = std::process::Command::new("oathtool")
        .args([
            "--totp",
            "-b",
            "--now",
            &at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            secret,
        ])
        .output()
        .expect("oathtool (Debian package oathtool) is needed: scripts/test installs it");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}
