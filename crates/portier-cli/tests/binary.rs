//! The `portier` binary as a newcomer and an operator use it: `serve` on a fresh
//! data directory, `bootstrap`, the API with the printed token, PostgreSQL via
//! `PORTIER_DATABASE_URL`, two nodes on one database, SIGTERM.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_portier");

/// A scratch directory, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("portier-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `portier` with a clean environment: no PORTIER_* setting leaks in from the
/// machine running the tests.
fn portier(cwd: &Path, db_url: Option<&str>) -> Command {
    let mut cmd = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("PORTIER_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(cwd);
    if let Some(url) = db_url {
        cmd.env("PORTIER_DATABASE_URL", url);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `portier serve`; killed when dropped.
struct Node {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Node {
    fn start(cwd: &Path, db_url: Option<&str>) -> Node {
        Self::start_with(cwd, db_url, &[])
    }

    fn start_with(cwd: &Path, db_url: Option<&str>, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let mut cmd = portier(cwd, db_url);
        cmd.envs(env.iter().copied());
        cmd.arg("serve")
            .env("PORTIER_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The server stops with the test even if the test runner is killed.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("start portier serve");
        let output = Arc::new(Mutex::new(String::new()));
        for stream in [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let output = output.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            });
        }
        Node {
            child,
            base: format!("http://127.0.0.1:{port}"),
            output,
        }
    }

    async fn ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("portier serve exited with {status}:\n{}", self.output());
            }
            if let Ok(r) = client.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "portier serve did not become ready:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// SIGTERM, then the exit status within ten seconds.
    fn terminate(&mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "portier did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds a person through a running node's API with the bootstrap token;
/// returns the answer.
async fn add_member(node: &Node, boot: &Value, body: Value) -> Value {
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/organizations/{}/members",
            node.base,
            boot["organization_id"].as_str().unwrap()
        ))
        .bearer_auth(boot["api_token"].as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn bootstrap(cwd: &Path, db_url: Option<&str>, org: &str, email: &str) -> Value {
    let out = portier(cwd, db_url)
        .args(["bootstrap", "--org", org, "--email", email])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bootstrap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("bootstrap prints one JSON object")
}

async fn get(base: &str, path: &str, token: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// From a fresh install to a first API call, walked through as a new user
/// would (README.md#set-up).
async fn a_newcomer_serves_bootstraps_and_calls_the_api(db_url: Option<&str>) {
    let dir = Scratch::new();
    let mut node = Node::start(&dir.0, db_url);
    node.ready().await;
    let welcome = node.output();
    assert!(
        welcome.contains("bootstrap --org"),
        "serve must say how to get in:\n{welcome}"
    );
    let client = reqwest::Client::new();
    assert_eq!(
        client
            .get(format!("{}/healthz", node.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let metrics = client
        .get(format!("{}/metrics", node.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE http_requests_total counter"),
        "{metrics}"
    );
    if db_url.is_none() {
        assert!(
            dir.0.join("portier-data/portier.db").is_file(),
            "the data directory holds the SQLite file"
        );
    }

    let boot = bootstrap(
        &dir.0,
        db_url,
        "Ziekenhuis Oost",
        "  Beheer@Ziekenhuis-Oost.NL ",
    );
    for key in [
        "organization_id",
        "account_id",
        "activation_url",
        "api_token",
    ] {
        assert!(boot[key].is_string(), "{key} missing in {boot}");
    }
    let activation = boot["activation_url"].as_str().unwrap();
    assert!(
        activation.starts_with("http://localhost:8080/activate/"),
        "{activation}"
    );
    let (org, token) = (
        boot["organization_id"].as_str().unwrap(),
        boot["api_token"].as_str().unwrap(),
    );
    let (status, body) = get(&node.base, &format!("/api/v1/organizations/{org}"), token).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (200, Some("Ziekenhuis Oost"))
    );
    let (status, body) = get(
        &node.base,
        &format!("/api/v1/organizations/{org}"),
        "ptk_wrong",
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_token");

    let other = bootstrap(
        &dir.0,
        db_url,
        "Huisartsen Noord",
        "beheer@huisartsen-noord.nl",
    );
    assert_ne!(other["organization_id"], boot["organization_id"]);
    let (status, _) = get(
        &node.base,
        &format!(
            "/api/v1/organizations/{}",
            other["organization_id"].as_str().unwrap()
        ),
        token,
    )
    .await;
    assert_eq!(status, 404, "another environment stays invisible");

    assert!(
        node.terminate().success(),
        "SIGTERM ends serve cleanly:\n{}",
        node.output()
    );
    assert!(node.output().contains("Portier stopped"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_in_on_the_embedded_sqlite() {
    a_newcomer_serves_bootstraps_and_calls_the_api(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_gets_in_on_postgresql() {
    let pg = portier_store::testing::PgDatabase::create().await;
    let url = pg.url.clone();
    a_newcomer_serves_bootstraps_and_calls_the_api(Some(&url)).await;
}

/// Two nodes started at the same moment on one empty PostgreSQL database: both
/// migrate safely, both serve, and a change made through one is seen by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_side_by_side_on_one_postgresql_database() {
    let pg = portier_store::testing::PgDatabase::create().await;
    let url = pg.url.clone();
    let dir = Scratch::new();
    let mut a = Node::start(&dir.0, Some(&url));
    let mut b = Node::start(&dir.0, Some(&url));
    a.ready().await;
    b.ready().await;
    let boot = bootstrap(&dir.0, Some(&url), "Gedeeld", "beheer@gedeeld.nl");
    let (org, token) = (
        boot["organization_id"].as_str().unwrap(),
        boot["api_token"].as_str().unwrap(),
    );
    let r = reqwest::Client::new()
        .patch(format!("{}/api/v1/organizations/{org}", a.base))
        .bearer_auth(token)
        .json(&serde_json::json!({"name": "Gedeeld via A"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, body) = get(&b.base, &format!("/api/v1/organizations/{org}"), token).await;
    assert_eq!(
        (status, body["name"].as_str()),
        (200, Some("Gedeeld via A"))
    );
    // Rights changed through A are answered by B's check API, which answers
    // from memory: B hears of the change through PostgreSQL's notification.
    let client = reqwest::Client::new();
    let call = |base: &str, method: reqwest::Method, path: String, body: Value| {
        client
            .request(method, format!("{base}/api/v1{path}"))
            .bearer_auth(token)
            .json(&body)
    };
    let role = serde_json::json!({"key": "arts", "name": {"en": "Doctor"}, "kind": "content", "permissions": ["dossiers.read"]});
    let r = call(
        &a.base,
        reqwest::Method::POST,
        format!("/organizations/{org}/roles"),
        role,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let member = add_member(
        &a,
        &boot,
        serde_json::json!({"email": "arts@gedeeld.nl", "roles": ["arts"]}),
    )
    .await;
    let account = member["account_id"].as_str().unwrap();
    let question = serde_json::json!({"account_id": account, "permission": "dossiers.read", "organization_id": org});
    let ask = |base: String| {
        let req = call(
            &base,
            reqwest::Method::POST,
            "/check".into(),
            question.clone(),
        );
        async move {
            req.send().await.unwrap().json::<Value>().await.unwrap()["allowed"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(ask(b.base.clone()).await, "B answers what A wrote");
    let r = call(
        &a.base,
        reqwest::Method::PUT,
        format!("/organizations/{org}/members/{account}/roles"),
        serde_json::json!({"roles": ["member"]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ask(b.base.clone()).await {
        assert!(
            Instant::now() < deadline,
            "B kept answering from before the change"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.terminate().success());
    let (status, _) = get(&b.base, &format!("/api/v1/organizations/{org}"), token).await;
    assert_eq!(status, 200, "B serves on when A stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_per_line() {
    let dir = Scratch::new();
    let mut node = Node::start_with(&dir.0, None, &[("PORTIER_LOG_FORMAT", "json")]);
    node.ready().await;
    assert!(node.terminate().success());
    let output = node.output();
    let logs: Vec<Value> = output
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect();
    let ready = logs
        .iter()
        .find(|l| l["fields"]["message"] == "Portier is ready")
        .expect("a ready line");
    assert_eq!(ready["level"], "INFO");
    assert!(ready["fields"]["ready_ms"].is_u64(), "{ready}");
    assert!(
        logs.iter()
            .any(|l| l["fields"]["message"] == "Portier stopped")
    );
}

#[test]
fn help_explains_every_command_and_setting() {
    let dir = Scratch::new();
    let out = portier(&dir.0, None).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for word in [
        "serve",
        "migrate",
        "bootstrap",
        "PORTIER_LISTEN",
        "PORTIER_DATA_DIR",
        "PORTIER_DATABASE_URL",
        "PORTIER_PUBLIC_URL",
        "PORTIER_SMTP_URL",
        "PORTIER_SMTP_FROM",
        "PORTIER_ACTIVATION_TTL",
        "PORTIER_RESET_TTL",
        "PORTIER_SESSION_IDLE_TTL",
        "PORTIER_SESSION_TTL",
        "PORTIER_IMPORT_MAX_BYTES",
        "PORTIER_LOG_FORMAT",
        "portier.toml",
        "mail",
        "billing",
    ] {
        assert!(
            help.contains(word),
            "--help does not mention {word}:\n{help}"
        );
    }
    let out = portier(&dir.0, None)
        .args(["bootstrap", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--org") && help.contains("--email"), "{help}");
}

#[test]
fn bad_settings_stop_the_start_with_a_message_naming_them() {
    let dir = Scratch::new();
    let out = portier(&dir.0, None)
        .arg("serve")
        .env("PORTIER_ACTIVATION_TTL", "7 days")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORTIER_ACTIVATION_TTL"));
    std::fs::write(dir.0.join("portier.toml"), "lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = portier(&dir.0, None).arg("migrate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lisen"));
}

#[test]
fn bootstrap_refuses_a_bad_address_or_name_and_writes_nothing() {
    let dir = Scratch::new();
    let out = portier(&dir.0, None)
        .args(["bootstrap", "--org", "Acme", "--email", "jan.example.nl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--email") && err.contains('@'), "{err}");
    let out = portier(&dir.0, None)
        .args(["bootstrap", "--org", "  ", "--email", "jan@example.nl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--org"));
    // Nothing half-written: a good bootstrap afterwards is the first environment.
    let boot = bootstrap(&dir.0, None, "Acme", "jan@example.nl");
    assert_eq!(boot["account_reused"], false);
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = Scratch::new();
    let out = portier(&dir.0, None).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.0.join("portier-data/portier.db").is_file());
    let out = portier(&dir.0, None).arg("migrate").output().unwrap();
    assert!(out.status.success(), "migrating twice is harmless");
}

/// Only a platform operator changes a person's registration number, with
/// `portier registration` (docs/RULES.md#professional-registrations); a bad
/// number names its flag.
#[test]
fn an_operator_sets_and_shows_a_registration_number() {
    let dir = Scratch::new();
    bootstrap(&dir.0, None, "Acme", "dr@example.nl");
    let run = |args: &[&str]| {
        portier(&dir.0, None)
            .arg("registration")
            .args(args)
            .output()
            .unwrap()
    };
    let shown = run(&["--email", "dr@example.nl"]);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let v: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert!(v["registration"].is_null(), "{v}");
    let set = run(&["--email", "dr@example.nl", "--number", "1906 1234 501"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let v: Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(
        (v["number"].as_str(), v["state"].as_str()),
        (Some("19061234501"), Some("unchecked")),
        "{v}"
    );
    let bad = run(&["--email", "dr@example.nl", "--number", "123"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--number"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let nobody = run(&["--email", "nobody@example.nl"]);
    assert!(!nobody.status.success());
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("has no account"));
}

/// Invitation through the real binary: add a person, the running server's
/// worker delivers the mail to a real SMTP server, the link activates.
async fn an_invitation_travels_by_smtp_and_activates(db_url: Option<&str>) {
    let sink = portier_server::testing::SmtpSink::start(false).await;
    let dir = Scratch::new();
    let boot = bootstrap(
        &dir.0,
        db_url,
        "Ziekenhuis Oost",
        "beheer@ziekenhuis-oost.nl",
    );
    let smtp = sink.url();
    let mut node = Node::start_with(
        &dir.0,
        db_url,
        &[
            ("PORTIER_SMTP_URL", &smtp),
            ("PORTIER_SMTP_FROM", "portier@ziekenhuis-oost.nl"),
        ],
    );
    node.ready().await;
    let (org, token) = (
        boot["organization_id"].as_str().unwrap(),
        boot["api_token"].as_str().unwrap(),
    );
    let client = reqwest::Client::new();
    let account = add_member(
        &node,
        &boot,
        serde_json::json!({"email": "nieuw@ziekenhuis-oost.nl", "given_name": "Noor", "roles": ["member"]}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        if let Some(m) = sink
            .messages()
            .into_iter()
            .find(|m| m.to == vec!["<nieuw@ziekenhuis-oost.nl>"])
        {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no mail arrived:\n{}",
            node.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Quoted-printable may wrap the link; unwrap soft line breaks first.
    let data = message.data.replace("=\n", "");
    let at = data.find("/activate/").expect("an activation link") + "/activate/".len();
    let link_token = &data[at..at + 64];
    let r = client
        .post(format!("{}/api/v1/activations/{link_token}", node.base))
        .json(&serde_json::json!({"password": "Kw8!vLp2#rTq"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (status, member) = get(
        &node.base,
        &format!(
            "/api/v1/organizations/{org}/members/{}",
            account["account_id"].as_str().unwrap()
        ),
        token,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(member["status"], "active");
    assert_eq!(member["invitation"]["status"], "sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_travels_by_smtp_and_activates_on_sqlite() {
    an_invitation_travels_by_smtp_and_activates(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invitation_travels_by_smtp_and_activates_on_postgresql() {
    let pg = portier_store::testing::PgDatabase::create().await;
    an_invitation_travels_by_smtp_and_activates(Some(&pg.url.clone())).await;
}

/// Without SMTP the mail waits in the development mailbox, which
/// `portier mail list` shows with its link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_development_mailbox_holds_the_invitation() {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, None, "Acme", "admin@acme.nl");
    let mut node = Node::start(&dir.0, None);
    node.ready().await;
    add_member(&node, &boot, serde_json::json!({"email": "eva@acme.nl"})).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = portier(&dir.0, None)
            .args(["mail", "list", "--to", "eva@acme.nl", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .map(str::to_owned);
        if let Some(line) = line {
            let mail: Value = serde_json::from_str(&line).unwrap();
            if mail["status"] == "dev_mailbox" {
                assert!(
                    mail["body_text"]
                        .as_str()
                        .unwrap()
                        // The default public URL names a loopback address localhost.
                        .contains(&format!(
                            "{}/activate/",
                            node.base.replace("127.0.0.1", "localhost")
                        )),
                    "{mail}"
                );
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the worker never moved the mail to the development mailbox"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = portier(&dir.0, None)
        .args(["mail", "list"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("dev_mailbox · to eva@acme.nl · Activate your account at Acme"),
        "{text}"
    );
    // The bootstrapped administrator was invited by mail too, with the very
    // link bootstrap printed.
    let link = boot["activation_url"].as_str().unwrap();
    let out = portier(&dir.0, None)
        .args(["mail", "list", "--to", "admin@acme.nl", "--json"])
        .output()
        .unwrap();
    let mail: Value = serde_json::from_str(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("the administrator's invitation"),
    )
    .unwrap();
    let token = link.rsplit('/').next().unwrap();
    assert!(
        mail["body_text"].as_str().unwrap().contains(token),
        "{mail}"
    );
}

/// An operator replaces a mail template by dropping a file in the data
/// directory; a broken one stops the start and names itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_replace_mail_templates_in_the_data_directory() {
    let dir = Scratch::new();
    let templates = dir.0.join("portier-data/templates/mail");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("invitation.en.subject"),
        "Welkom bij {{ organization }}, {{ email }}",
    )
    .unwrap();
    let boot = bootstrap(&dir.0, None, "Acme", "admin@acme.nl");
    let mut node = Node::start(&dir.0, None);
    node.ready().await;
    add_member(&node, &boot, serde_json::json!({"email": "eva@acme.nl"})).await;
    let out = portier(&dir.0, None)
        .args(["mail", "list", "--to", "eva@acme.nl", "--json"])
        .output()
        .unwrap();
    let mail: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(mail["subject"], "Welkom bij Acme, eva@acme.nl");
    drop(node);
    std::fs::write(templates.join("invitation.en.txt"), "{% if %}").unwrap();
    let out = portier(&dir.0, None)
        .arg("serve")
        .env("PORTIER_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invitation.en.txt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The billing report for finance (docs/PORTFOLIOS.md#billing) through the
/// real binary: a portfolio given through a running node's API, then
/// `portier billing` in text and CSV.
#[tokio::test]
async fn an_operator_prints_the_billing_report_for_finance() {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, None, "Ziekenhuis Oost", "beheer@example.nl");
    let mut node = Node::start(&dir.0, None);
    node.ready().await;
    let org = boot["organization_id"].as_str().unwrap().to_owned();
    let token = boot["api_token"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let post = |path: String, body: Value| {
        let req = client
            .post(format!("{}/api/v1/organizations/{org}/{path}", node.base))
            .bearer_auth(&token)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            assert_eq!(status, 201, "{v}");
            v
        }
    };
    post(
        "portfolio-types".into(),
        serde_json::json!({"key": "surgery", "name": {"en": "Surgery"}}),
    )
    .await;
    post(
        "roles".into(),
        serde_json::json!({"key": "resident", "name": {"en": "Resident"}, "kind": "content", "portfolio_types": ["surgery"]}),
    )
    .await;
    let added = add_member(
        &node,
        &boot,
        serde_json::json!({"email": "eva@example.nl", "roles": ["resident"],
            "portfolio": {"type": "surgery", "start_date": "2099-12-31"}}),
    )
    .await;
    let portfolio = added["portfolio"]["id"].as_str().unwrap().to_owned();
    let account = added["account_id"].as_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        portier(&dir.0, None)
            .arg("billing")
            .args(args)
            .output()
            .unwrap()
    };
    let csv = run(&[
        "--org", &org, "--month", "2099-11", "--to", "2100-01", "--csv",
    ]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout),
        format!(
            "month,reference_date,billed,portfolio_id,account_id,type,organization_id\n\
             2099-11,2099-11-30,0,,,,\n\
             2099-12,2099-12-31,1,{portfolio},{account},surgery,{org}\n\
             2100-01,2100-01-31,1,{portfolio},{account},surgery,{org}\n"
        )
    );
    let text = run(&["--org", &org, "--month", "2099-12"]);
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(
        out.contains("Ziekenhuis Oost")
            && out.contains("2099-12  reference date 2099-12-31  billed: 1"),
        "{out}"
    );
    let bad = run(&["--org", &org, "--month", "2099-13"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--month"));
    let unknown = run(&["--org", "nope", "--month", "2099-12"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("--org"));
}

/// The export (docs/RULES.md#export) through the real binary: members added
/// through a running node's API, then `portier export` as CSV to a file and
/// as JSON.
#[tokio::test]
async fn an_operator_exports_the_members() {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, None, "Ziekenhuis Oost", "beheer@example.nl");
    let mut node = Node::start(&dir.0, None);
    node.ready().await;
    let org = boot["organization_id"].as_str().unwrap().to_owned();
    add_member(
        &node,
        &boot,
        serde_json::json!({"email": "eva@example.nl", "given_name": "Eva", "labels": ["Oost"], "staff_code": "P-1"}),
    )
    .await;
    let file = dir.0.join("members.csv");
    let out = portier(&dir.0, None)
        .args(["export", "--org", &org, "--bom", "--output"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 members exported"));
    let csv = std::fs::read_to_string(&file).unwrap();
    assert!(
        csv.starts_with("\u{FEFF}email,salutation,given_name,"),
        "{csv}"
    );
    assert!(
        csv.contains("eva@example.nl,,Eva,,,,,,,P-1,Oost,member,"),
        "{csv}"
    );
    let json = portier(&dir.0, None)
        .args(["export", "--org", &org, "--format", "json"])
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    let bad = portier(&dir.0, None)
        .args(["export", "--org", &org, "--format", "xml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--format"));
    drop(node);
}

/// A CSV of `n` new people.
fn people_csv(n: usize) -> String {
    let mut csv = String::from("E-mail,Voornaam,Achternaam,Rol\r\n");
    for i in 0..n {
        csv.push_str(&format!("p{i}@example.nl,Per,Soon {i},member\r\n"));
    }
    csv
}

async fn count(store: &portier_store::Store, sql: &'static str) -> i64 {
    portier_store::testing::strings(store, sql).await[0]
        .parse()
        .unwrap()
}

/// The server killed (SIGKILL) in the middle of an import job leaves whole
/// chunks, each with its memberships, roles, search terms, audit events and
/// report lines, never half a member; a node started again resumes the job
/// where the last commit stopped (docs/IMPORTS.md#writing).
async fn an_import_killed_half_way_leaves_whole_chunks_and_resumes(db_url: Option<&str>) {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, db_url, "Ziekenhuis West", "beheer@example.nl");
    let org = boot["organization_id"].as_str().unwrap().to_owned();
    let token = boot["api_token"].as_str().unwrap().to_owned();
    let settings = [
        ("PORTIER_IMPORT_SYNC_ROWS", "10"),
        ("PORTIER_IMPORT_CHUNK_ROWS", "250"),
    ];
    let mut node = Node::start_with(&dir.0, db_url, &settings);
    node.ready().await;
    const ROWS: i64 = 30_000;
    let r = reqwest::Client::new()
        .post(format!(
            "{}/api/v1/organizations/{org}/members/import?dry_run=false&invite=false",
            node.base
        ))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(people_csv(ROWS as usize))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.unwrap();
    let path = format!(
        "/api/v1/organizations/{org}/imports/{}?limit=1",
        job["job_id"].as_str().unwrap()
    );
    loop {
        let (_, state) = get(&node.base, &path, &token).await;
        assert_eq!(
            state["state"], "running",
            "it ended before the kill: {state}"
        );
        if state["done_rows"].as_i64().unwrap() >= 500 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    node.child.kill().unwrap();
    node.child.wait().unwrap();
    let url = db_url
        .map(str::to_owned)
        .unwrap_or_else(|| format!("sqlite://{}/portier-data/portier.db", dir.0.display()));
    let store = portier_store::Store::connect(&url).await.unwrap();
    let done = count(&store, "SELECT CAST(done_rows AS TEXT) FROM imports").await;
    assert!(done > 0 && done < ROWS && done % 250 == 0, "{done}");
    // The administrator, and one member per row of the committed chunks.
    let members = count(&store, "SELECT CAST(COUNT(*) AS TEXT) FROM memberships").await;
    assert_eq!(members, done + 1);
    let accounts = count(&store, "SELECT CAST(COUNT(*) AS TEXT) FROM accounts").await;
    assert_eq!(accounts, done + 1);
    let half = count(
        &store,
        "SELECT CAST(COUNT(*) AS TEXT) FROM memberships m
         WHERE NOT EXISTS (SELECT 1 FROM membership_roles r WHERE r.membership_id = m.id)
            OR NOT EXISTS (SELECT 1 FROM member_terms t WHERE t.membership_id = m.id)",
    )
    .await;
    assert_eq!(half, 0, "a member without roles or search terms");
    let events = count(
        &store,
        "SELECT CAST(COUNT(*) AS TEXT) FROM audit_events WHERE action = 'member.added'",
    )
    .await;
    assert_eq!(events, done + 1);
    let lines = count(&store, "SELECT CAST(COUNT(*) AS TEXT) FROM import_rows").await;
    assert_eq!(lines, done);
    store.close().await;
    // Started again, a node takes the job over once its lease lapses.
    let mut node = Node::start_with(&dir.0, db_url, &settings);
    node.ready().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let state = loop {
        let (_, state) = get(&node.base, &path, &token).await;
        if state["state"] != "running" {
            break state;
        }
        assert!(Instant::now() < deadline, "not resumed: {state}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(state["state"], "done", "{state}");
    assert_eq!(state["counts"]["new"], ROWS, "{state}");
    let store = portier_store::Store::connect(&url).await.unwrap();
    let members = count(
        &store,
        "SELECT CAST(COUNT(DISTINCT account_id) AS TEXT) FROM memberships",
    )
    .await;
    assert_eq!(members, ROWS + 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_half_way_on_sqlite() {
    an_import_killed_half_way_leaves_whole_chunks_and_resumes(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_killed_half_way_on_postgresql() {
    let pg = portier_store::testing::PgDatabase::create().await;
    let url = pg.url.clone();
    an_import_killed_half_way_leaves_whole_chunks_and_resumes(Some(&url)).await;
}

/// Imports at the command line (docs/IMPORTS.md#reports): `portier import`
/// reports a dry run, then imports with --apply.
#[tokio::test]
async fn an_operator_imports_a_file() {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, None, "Ziekenhuis Noord", "beheer@example.nl");
    let org = boot["organization_id"].as_str().unwrap().to_owned();
    let file = dir.0.join("mensen.csv");
    let mut csv = people_csv(3);
    csv.push_str("geen-adres,Bad,Row,member\r\n");
    std::fs::write(&file, csv).unwrap();
    let dry = portier(&dir.0, None)
        .args(["import", "--org", &org])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(stdout.contains("row 5: invalid [E-mail]"), "{stdout}");
    assert!(
        stdout.contains("3 new, 0 reused, 0 already members, 1 invalid"),
        "{stdout}"
    );
    // All or nothing: refused while a row is invalid.
    let refused = portier(&dir.0, None)
        .args(["import", "--apply", "--org", &org])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("nothing was imported"));
    let done = portier(&dir.0, None)
        .args([
            "import",
            "--apply",
            "--skip-invalid",
            "--no-invite",
            "--org",
            &org,
        ])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "done — 3 new, 0 reused, 0 already members, 1 invalid; invitations held back"
        ),
        "{stderr}"
    );
    let export = portier(&dir.0, None)
        .args(["export", "--org", &org, "--format", "json"])
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 4, "{rows}");
}

/// The resident memory of a process, in MiB (Linux).
fn resident_mib(pid: u32) -> u64 {
    memory_mib(pid, "VmRSS")
}

/// A figure of `/proc/{pid}/status` in MiB: VmRSS (resident now), VmHWM
/// (resident at most, since the start), RssAnon (the process's own pages).
fn memory_mib(pid: u32, figure: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(figure)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024
}

/// The answer to a request whose head alone is sent, as text: its status
/// line, headers and body (as long as it says).
async fn answer_without_body(base: &str, head: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        answer.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&answer).into_owned();
        if let Some((headers, body)) = text.split_once("\r\n\r\n") {
            let length = headers.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap())
            });
            if n == 0 || length.is_some_and(|l| body.len() >= l) {
                return text;
            }
        }
        assert!(n > 0, "the connection closed: {text}");
    }
}

/// An answer's status and JSON body, without keeping its rows: a report of
/// half a million of them would take the test's own memory.
#[derive(serde::Deserialize)]
struct ReportHead {
    counts: Value,
    rows: serde::de::IgnoredAny,
}

/// A file of 20 MiB (the default limit) of short rows, almost half a
/// million people: the server reads and checks it a chunk at a time,
/// writes the dry run's report out as it sends it, and the job writes it
/// chunk by chunk. The server stays under 300 MiB throughout (it took
/// 1.2 GiB for the dry run alone, 2.3 GiB with the import, when the file
/// was read whole) and small after; a file a byte larger is refused
/// (docs/IMPORTS.md).
async fn a_20_mb_import_keeps_the_server_small(db_url: Option<&str>) {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, db_url, "Ziekenhuis Oost", "beheer@example.nl");
    let org = boot["organization_id"].as_str().unwrap().to_owned();
    let token = boot["api_token"].as_str().unwrap().to_owned();
    let mut node = Node::start_with(&dir.0, db_url, &[("PORTIER_IMPORT_CHUNK_ROWS", "5000")]);
    node.ready().await;
    let pid = node.child.id();
    const LIMIT: usize = 20 * 1024 * 1024;
    let mut csv = String::from("E-mail,Voornaam,Achternaam,Rol\r\n");
    let mut rows: u64 = 0;
    loop {
        let line = format!("p{rows}@example.nl,Per,Soon {rows},member\r\n");
        if csv.len() + line.len() > LIMIT {
            break;
        }
        csv.push_str(&line);
        rows += 1;
    }
    let csv = csv.into_bytes();
    let import = |query: &'static str, body: Vec<u8>| {
        let url = format!(
            "{}/api/v1/organizations/{org}/members/import{query}",
            node.base
        );
        let token = token.clone();
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.bytes().await.unwrap())
        }
    };
    let (status, body) = import("", csv.clone()).await;
    assert_eq!(
        status,
        200,
        "{}",
        String::from_utf8_lossy(&body[..body.len().min(500)])
    );
    let report: ReportHead = serde_json::from_slice(&body).unwrap();
    let _ = report.rows;
    assert_eq!(
        report.counts["new"].as_u64(),
        Some(rows),
        "{}",
        report.counts
    );
    drop(body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (dry_peak, dry_after) = (memory_mib(pid, "VmHWM"), resident_mib(pid));
    let (status, body) = import("?dry_run=false&skip_invalid=true&invite=false", csv.clone()).await;
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let job: Value = serde_json::from_slice(&body).unwrap();
    let path = format!(
        "/api/v1/organizations/{org}/imports/{}?limit=1",
        job["job_id"].as_str().unwrap()
    );
    let deadline = Instant::now() + Duration::from_secs(1200);
    let state = loop {
        let (_, state) = get(&node.base, &path, &token).await;
        if state["state"] != "running" {
            break state;
        }
        assert!(Instant::now() < deadline, "not done: {state}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        (state["state"].as_str(), state["counts"]["new"].as_u64()),
        (Some("done"), Some(rows)),
        "{state}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (peak, after) = (memory_mib(pid, "VmHWM"), resident_mib(pid));
    let figures = format!(
        "dry run: {dry_peak} MiB at most, {dry_after} MiB after; with the import: {peak} MiB at most, {after} MiB after"
    );
    eprintln!("{figures}");
    assert!(peak < 300, "{figures}");
    assert!(dry_after < 150, "{figures}");
    assert!(after < 220, "{figures}");
    // One byte more than the limit: refused by what the request says, before
    // its body is read (sent by hand: a client that goes on sending a body
    // the server will not read finds the connection closed).
    let refused = answer_without_body(
        &node.base,
        &format!(
            "POST /api/v1/organizations/{org}/members/import HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
            LIMIT + 1
        ),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 413"), "{refused}");
    let refused: Value = serde_json::from_str(refused.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        (
            refused["error"]["code"].as_str(),
            refused["error"]["field"].as_str()
        ),
        (Some("file_too_large"), Some("file")),
        "{refused}"
    );
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_import_keeps_the_server_small_on_sqlite() {
    a_20_mb_import_keeps_the_server_small(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_20_mb_import_keeps_the_server_small_on_postgresql() {
    let pg = portier_store::testing::PgDatabase::create().await;
    let url = pg.url.clone();
    a_20_mb_import_keeps_the_server_small(Some(&url)).await;
}

/// The activation link mailed to `email` (the newest), once queued.
async fn activation_token(store: &portier_store::Store, email: &str) -> String {
    let address = portier_core::email::Email::parse(email).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails = portier_store::mail::recent(store, Some(&address), 1)
            .await
            .unwrap();
        if let Some(at) = mails.first().and_then(|m| m.body_text.find("/activate/")) {
            let start = at + "/activate/".len();
            return mails[0].body_text[start..start + 64].to_owned();
        }
        assert!(Instant::now() < deadline, "no invitation to {email}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn activate(base: String, token: String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/activations/{token}"))
        .json(&serde_json::json!({"password": "Kw8!vLp2#rTq"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

/// Every password set costs an Argon2 computation with 19 MiB of memory.
/// The hashing threads share at most one buffer each, and a buffer nobody
/// used for a moment goes back to the system: forty activations one after
/// another, then a burst of twenty at once, leave the server small
/// (docs/RULES.md#password-hashing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_activations_in_a_row_leave_the_server_small() {
    let dir = Scratch::new();
    let boot = bootstrap(&dir.0, None, "Acme", "admin@acme.nl");
    let mut node = Node::start(&dir.0, None);
    node.ready().await;
    let url = format!("sqlite://{}/portier-data/portier.db", dir.0.display());
    let store = portier_store::Store::connect(&url).await.unwrap();
    let pid = node.child.id();
    let before = resident_mib(pid);
    for i in 0..40 {
        let email = format!("p{i}@acme.nl");
        add_member(&node, &boot, serde_json::json!({"email": email})).await;
        activate(node.base.clone(), activation_token(&store, &email).await).await;
    }
    let mut tokens = Vec::new();
    for i in 0..20 {
        let email = format!("burst{i}@acme.nl");
        add_member(&node, &boot, serde_json::json!({"email": email})).await;
        tokens.push(activation_token(&store, &email).await);
    }
    let burst: Vec<_> = tokens
        .into_iter()
        .map(|t| tokio::spawn(activate(node.base.clone(), t)))
        .collect();
    for activation in burst {
        activation.await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = resident_mib(pid);
    assert!(
        after < 100,
        "{before} MiB at the start, {after} MiB after 60 activations"
    );
    store.close().await;
}
