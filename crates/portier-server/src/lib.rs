//! Portier's HTTP layer: the REST API under `/api/v1` (described by
//! `/api/v1/openapi.json`), health and readiness, Prometheus metrics, and the
//! cross-cutting concerns every request passes through (request ids, tracing,
//! timeouts, body limits, panics turned into JSON errors).

pub mod api;
pub mod auth;
pub mod console;
pub mod dns;
pub mod error;
pub mod extract;
pub mod health;
pub mod imports;
pub mod mail;
pub mod metrics;
pub mod passwords;
pub mod registrations;
pub mod rights_cache;
pub mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use portier_store::Store;
use portier_store::lifecycle::Lifecycle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use error::ApiError;

/// The largest file an import accepts unless configured otherwise: 20 MiB,
/// so that a "20 MB" file fits (docs/IMPORTS.md#limits).
pub const DEFAULT_IMPORT_MAX_BYTES: usize = 20 * 1024 * 1024;

/// What the server needs to know beyond the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where links point, how long they work, the mail templates.
    pub lifecycle: Lifecycle,
    /// The longest a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// The largest request body accepted (413 beyond).
    pub body_limit: usize,
    /// Idle and absolute session timeouts.
    pub sessions: portier_core::sessions::SessionPolicy,
    /// The session cookie's name and attributes.
    pub cookie: auth::CookieSettings,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: extract::TrustedProxies,
    /// The longest rights, tokens and organizations read from the database
    /// are used before being read again (`rights_cache::MAX_AGE`).
    pub rights_max_age: Duration,
    /// The BIG register's SOAP service (`PORTIER_BIG_REGISTER_URL`); without
    /// it registration numbers stay `unchecked`.
    pub big_register_url: Option<String>,
    /// No SMTP server is configured: mail stays in the database, and the
    /// console shows it at `/dev/mail` to whoever sits at this machine.
    pub dev_mailbox: bool,
    /// The relying party passkeys are made for: the public URL's host.
    pub passkeys: portier_core::passkeys::RelyingParty,
    /// How long after signing in a person may change their second factors
    /// (`auth::recent_sign_in`).
    pub recent_sign_in: Duration,
    /// Self sign-up (`PORTIER_SIGNUP`, off by default) and the shared mail
    /// domains besides the built-in ones (`PORTIER_PUBLIC_MAIL_DOMAINS`).
    pub signup: portier_store::signups::SignupRules,
    /// The nameserver domain proofs ask (`PORTIER_DNS_SERVER`); the
    /// system's resolver when absent.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Imports: files up to this many rows run at once, all or nothing, in
    /// one transaction; larger ones run as a job.
    pub import_sync_rows: usize,
    /// A job commits this many rows per transaction.
    pub import_chunk_rows: usize,
    /// The largest file an import accepts (`PORTIER_IMPORT_MAX_BYTES`; 413
    /// beyond) (docs/IMPORTS.md#limits).
    pub import_max_bytes: usize,
}

impl ServerConfig {
    pub fn new(public_url: &str) -> ServerConfig {
        ServerConfig {
            lifecycle: Lifecycle::new(public_url),
            sessions: portier_core::sessions::SessionPolicy::default(),
            cookie: auth::CookieSettings::for_public_url(public_url),
            request_timeout: Duration::from_secs(30),
            body_limit: 1024 * 1024,
            trusted_proxies: extract::TrustedProxies::default(),
            rights_max_age: rights_cache::MAX_AGE,
            dev_mailbox: false,
            big_register_url: None,
            passkeys: portier_core::passkeys::RelyingParty::for_public_url(public_url),
            recent_sign_in: Duration::from_secs(15 * 60),
            signup: portier_store::signups::SignupRules::default(),
            dns_server: None,
            import_sync_rows: 5_000,
            import_chunk_rows: 1_000,
            import_max_bytes: DEFAULT_IMPORT_MAX_BYTES,
        }
    }
}

pub struct Inner {
    pub store: Store,
    pub config: ServerConfig,
    pub hasher: passwords::Hasher,
    /// Rights, tokens and organizations this node remembers
    /// (docs/RULES.md#the-check-api).
    pub rights: Arc<rights_cache::RightsCache>,
    /// Wakes the registration checks when a number was just given.
    pub register_wake: Arc<tokio::sync::Notify>,
    /// Wakes the import worker when a job was just queued.
    pub import_wake: Arc<tokio::sync::Notify>,
    /// Whose turn it is to read and check a large file to import.
    pub import_turns: imports::Turns,
}

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, mut config: ServerConfig) -> AppState {
        config.lifecycle.register_checks = config.big_register_url.is_some();
        AppState(Arc::new(Inner {
            register_wake: Arc::default(),
            import_wake: Arc::default(),
            import_turns: imports::Turns::default(),
            rights: rights_cache::RightsCache::for_store(&store, config.rights_max_age),
            store,
            config,
            hasher: passwords::Hasher::new(),
        }))
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole application: every route with every layer.
pub fn router(state: AppState) -> Router {
    // Before the first request, so no figure is recorded into the void.
    metrics::handle();
    let (api, _) = api::router().split_for_parts();
    Router::new()
        .merge(health::router())
        .merge(metrics::router())
        .merge(api)
        .merge(console::router())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "there is nothing at this address") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this address does not accept that method")
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), extract::refuse_unreadable))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::debug_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(CatchPanicLayer::custom(error::panic_response))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout))
                .layer(axum::middleware::from_fn_with_state(
                    (state.config.body_limit, state.config.import_max_bytes),
                    limit_body,
                )),
        )
        .layer(csrf_layer(&state.config.lifecycle.public_url))
        .with_state(state)
}

/// Request bodies beyond the configured limit are refused (413); an
/// import's upload (a path ending in `/members/import`, the API's or the
/// console's) may reach `import_max_bytes`, with room for a form's fields
/// (docs/IMPORTS.md#limits). The API's upload that says it is larger is
/// refused here as its handler would refuse it; the console's handler
/// answers with its page.
async fn limit_body(
    axum::extract::State((limit, import_limit)): axum::extract::State<(usize, usize)>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    let import = path.ends_with("/members/import");
    let limit = if import {
        import_limit.saturating_add(64 * 1024)
    } else {
        limit
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if import && path.starts_with("/api/") && declared.is_some_and(|n| n > import_limit) {
        return service::imports::file_too_large(import_limit).into_response();
    }
    if declared.is_some_and(|n| n > limit) && !import {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
        .into_response();
    }
    next.run(req.map(|b| axum::body::Body::new(http_body_util::Limited::new(b, limit))))
        .await
}

/// Cookie-authenticated requests are protected from cross-site forgery by their
/// `Origin` / `Sec-Fetch-Site` headers (docs/RULES.md#requests-from-other-sites);
/// a non-browser client that sends neither passes, as with Go's
/// CrossOriginProtection.
fn csrf_layer(
    public_url: &str,
) -> tower_http::csrf::CsrfLayer<
    impl Fn(tower_http::csrf::ProtectionError) -> axum::response::Response + Clone + use<>,
> {
    let rejection = |_: tower_http::csrf::ProtectionError| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "this request came from another site and was refused",
        )
        .into_response()
    };
    // The public URL's origin: scheme and authority, as a browser sends it.
    let origin: String = public_url
        .splitn(4, '/')
        .take(3)
        .collect::<Vec<_>>()
        .join("/");
    let layer = tower_http::csrf::CsrfLayer::new();
    let layer = layer.clone().add_trusted_origin(&origin).unwrap_or(layer);
    layer.with_rejection_response(rejection)
}

/// Serves until `shutdown` resolves, then lets requests under way finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Other nodes' changes of rights, for as long as this server runs.
    let store = state.store.clone();
    let news = tokio::spawn(async move { portier_store::rights::listen(&store).await });
    let checks = match &state.config.big_register_url {
        None => None,
        Some(url) => {
            let register = registrations::BigRegister::new(url).map_err(std::io::Error::other)?;
            let (store, wake) = (state.store.clone(), Arc::clone(&state.register_wake));
            Some(tokio::spawn(registrations::run(store, register, wake)))
        }
    };
    let jobs = tokio::spawn(imports::run(state.clone()));
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    news.abort();
    jobs.abort();
    if let Some(checks) = checks {
        checks.abort();
    }
    served
}
