//! interdict HTTP API (axum): the only crate that knows HTTP.
//!
//! * Every route is declared once in [`route_table`], with the access it needs
//!   ([`Access`]). The router is built from that table and the authorization layer reads it,
//!   so authorization is checked in one place, before any handler (and any storage call) runs,
//!   and the test matrix built from [`route_list`] covers every route.
//! * Check-ins go through a single writer task ([`writer`]) that batches every check-in waiting
//!   into one transaction (group commit). A check-in is answered only after its commit.
//! * The active policy is compiled once and swapped atomically when a version is published or
//!   an exception is decided.

#![forbid(unsafe_code)]

mod accounts;
mod assessments;
mod audit;
mod auth;
mod cache;
mod checkin;
mod compliance;
mod conn;
mod device_quota;
mod fields;
mod follow;
mod governance;
mod handlers;
mod intel;
mod mdm_intune;
pub mod mdm_sync;
pub mod nanomdm;
pub mod notifier;
pub mod oidc;
mod policy_job;
mod report;
mod request_id;
mod session;
pub mod web;
mod writer;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use storage::{Role, StorageError, Store};

pub use assessments::VERDICTS;
pub use audit::LedgerConfig;
pub use checkin::{inventory_hash, load_active, ActivePolicy};
pub use connectors::ConnectorConfig;
pub use device_quota::DeviceQuotaLimits;
pub use notifier::NotificationsConfig;
pub use oidc::{Oidc, OidcConfig};
pub use session::{SessionConfig, MAX_COOKIE_HEADER, SESSION_COOKIE};
pub use storage;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Access {
    /// Anyone (no secret data).
    Public,
    /// Anyone holding a valid enrollment secret (checked by the handler against the body).
    EnrollSecret,
    /// A device token; the device can reach only its own data.
    Device,
    /// An admin token with at least this role.
    Role(Role),
    /// A connector's webhook: the handler checks the body's HMAC signature with the
    /// connector's shared secret (NanoMDM `X-Hmac-Signature`).
    WebhookSignature,
}

/// One route: method, path (axum syntax) and access.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteInfo {
    /// HTTP method.
    #[serde(serialize_with = "ser_method")]
    pub method: Method,
    /// Path, with `{param}` placeholders.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

fn ser_method<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// Server limits and tuning.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Largest APK accepted by `POST /api/v1/assessments`, bytes (the only route whose body
    /// may exceed `max_body_bytes`).
    pub max_upload_bytes: usize,
    /// Uploads (`POST /api/v1/assessments`) received at once; one more is answered 503 with
    /// `Retry-After`. Each streams to an unlinked temporary file (`$TMPDIR`), not to memory.
    pub max_concurrent_uploads: usize,
    /// Bytes of uploaded files analysed at once (each is read back into memory for the
    /// analysis): a file takes its size from this budget (at most all of it) while it is
    /// analysed, so peak memory stays near this figure however many arrive.
    pub analysis_memory_bytes: usize,
    /// Largest policy accepted by `PUT /api/v1/policy`, bytes (its own body limit).
    pub max_policy_bytes: usize,
    /// Most rules in a published policy.
    pub max_policy_rules: usize,
    /// Latest expiry of an exception requested through `POST /api/v1/exceptions`, in days
    /// from today (default [`app_policy::LONG_EXCEPTION_DAYS`], the year past which
    /// `policy check` warns `long-exception`).
    pub max_exception_days: u32,
    /// Time limit per request (it fires while a policy is checked on the blocking pool).
    pub request_timeout: Duration,
    /// Most check-ins committed in one transaction.
    pub max_batch: usize,
    /// Seconds a device should wait before its next check-in.
    pub next_checkin_s: u64,
    /// Per-token requests per second (burst: twice this). 0: unlimited.
    pub rate_per_token: u32,
    /// Enrollment attempts (`POST /api/v1/enroll`) per minute per client address (an IPv6
    /// client's /64), burst: the same number. 0: unlimited. Behind a proxy every client has the
    /// proxy's address: raise it there.
    pub enroll_per_minute: u32,
    /// What one device may make the server store per hour (changed inventories, action
    /// results, events); past it a check-in is refused with 429 and `Retry-After`.
    pub device_quotas: DeviceQuotaLimits,
    /// How long a device credential read from the database is trusted at most without
    /// reading it again. Revocations and changes reach the cache sooner, through the event
    /// follower. Zero: read on every request.
    pub device_cache_ttl: Duration,
    /// How often the server reads new events to follow changes made by other servers on the
    /// same database (revocations, policy versions, exception decisions).
    pub follow_interval: Duration,
    /// The calendar of the read models: the day a deadline passes and the day a burn-down
    /// point stands for (the state at the end of that day).
    pub time_zone: storage::Zone,
    /// Sign-in and browser sessions.
    pub session: SessionConfig,
    /// Single sign-on (OpenID Connect); none: local sign-in only.
    pub sso: Option<OidcConfig>,
    /// Checkpoint signing for the audit ledger (none: checkpoints are not signed).
    pub ledger: Option<LedgerConfig>,
    /// Time a client has to send a complete request head once the server waits for one
    /// (slowloris defence). hyper runs this timer while a keep-alive connection waits for its
    /// next request too, so an idle connection is closed after the shorter of this and
    /// `idle_timeout`.
    pub header_timeout: Duration,
    /// A connection on which no byte moved either way for this long, with no request being
    /// handled, is closed (half-open and stalled connections).
    pub idle_timeout: Duration,
    /// Most connections open at once; a connection accepted beyond it is closed at once,
    /// before any byte is read.
    pub max_connections: u32,
    /// The web dashboard's pages, merged under `/` beside the API (none: API only).
    pub pages: Option<web::PagesFn>,
    /// Connectors to MDMs (`[[connector]]` in server.toml), each synced on its schedule.
    pub connectors: Vec<ConnectorConfig>,
    /// Notifications (`[notifications]` in server.toml): e-mail and webhooks.
    pub notifications: Option<NotificationsConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body_bytes: 2 * 1024 * 1024,
            max_upload_bytes: 256 * 1024 * 1024,
            max_concurrent_uploads: 8,
            analysis_memory_bytes: 256 * 1024 * 1024,
            max_policy_bytes: 16 * 1024 * 1024,
            max_policy_rules: 100_000,
            max_exception_days: app_policy::LONG_EXCEPTION_DAYS,
            request_timeout: Duration::from_secs(30),
            max_batch: 1024,
            next_checkin_s: 900,
            rate_per_token: 200,
            enroll_per_minute: 60,
            device_quotas: DeviceQuotaLimits::default(),
            device_cache_ttl: Duration::from_secs(600),
            follow_interval: Duration::from_secs(1),
            time_zone: storage::Zone::utc(),
            session: SessionConfig::default(),
            sso: None,
            ledger: None,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            pages: None,
            connectors: Vec::new(),
            notifications: None,
        }
    }
}

/// Counters exported on `/metrics`.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Check-ins acknowledged.
    pub checkins: AtomicU64,
    /// Write transactions committed by the writer.
    pub batches: AtomicU64,
    /// Requests refused by the rate limiter.
    pub rate_limited: AtomicU64,
    /// Requests refused by authentication or authorization.
    pub auth_failures: AtomicU64,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    config: Arc<Config>,
    policy: Arc<RwLock<Option<Arc<ActivePolicy>>>>,
    writer: tokio::sync::mpsc::Sender<writer::WriteReq>,
    metrics: Arc<Metrics>,
    limiter: Arc<auth::RateLimiter>,
    enroll_limiter: Arc<auth::RateLimiter>,
    quotas: Arc<device_quota::DeviceQuotas>,
    devices: Arc<cache::DeviceCache>,
    own_events: writer::OwnEvents,
    policy_jobs: Arc<policy_job::PolicyJobs>,
    accounts: Arc<session::Accounts>,
    oidc: Option<Arc<oidc::Oidc>>,
    uploads: Arc<assessments::UploadLimits>,
    webhook_refusals: Arc<auth::RateLimiter>,
}

impl AppState {
    fn active_policy(&self) -> Option<Arc<ActivePolicy>> {
        self.policy.read().ok().and_then(|p| p.clone())
    }

    /// Recompiles the active policy (latest version plus approved exceptions) and swaps it in.
    async fn reload_policy(&self) -> Result<(), ApiError> {
        let active = checkin::load_active(&self.store).await?;
        if let Ok(mut slot) = self.policy.write() {
            *slot = active.map(Arc::new);
        }
        Ok(())
    }
}

/// Every route with its access and handler. The router and the authorization matrix are
/// both built from this table.
pub fn route_table() -> Vec<(RouteInfo, MethodRouter<AppState>)> {
    use handlers as h;
    use Access::{Device, EnrollSecret, Public};
    use Role::{Admin, Analyst, Approver, Auditor, Viewer};
    let r = |method: Method, path: &'static str, access: Access, mr: MethodRouter<AppState>| {
        (
            RouteInfo {
                method,
                path,
                access,
            },
            mr,
        )
    };
    vec![
        r(
            Method::POST,
            intel::PATH,
            Access::Role(Analyst),
            post(intel::import),
        ),
        r(
            Method::GET,
            "/api/v1/intel/matches",
            Access::Role(Viewer),
            get(intel::matches),
        ),
        r(
            Method::GET,
            "/api/v1/export/network/{format}",
            Access::Role(Viewer),
            get(intel::export),
        ),
        r(
            Method::GET,
            "/api/v1/connectors",
            Access::Role(Viewer),
            get(h::connectors),
        ),
        r(
            Method::POST,
            "/api/v1/connectors/{name}/webhook",
            Access::WebhookSignature,
            post(nanomdm::webhook),
        ),
        r(
            Method::GET,
            "/api/v1/notifications",
            Access::Role(Viewer),
            get(h::notifications),
        ),
        r(Method::GET, "/healthz", Public, get(h::healthz)),
        r(Method::GET, "/api/v1/noop", Public, get(h::noop)),
        r(
            Method::GET,
            "/metrics",
            Access::Role(Viewer),
            get(h::metrics),
        ),
        r(
            Method::POST,
            "/api/v1/enroll",
            EnrollSecret,
            post(h::enroll),
        ),
        r(
            Method::POST,
            "/api/v1/checkin",
            Device,
            post(checkin::checkin),
        ),
        r(
            Method::PUT,
            "/api/v1/policy",
            Access::Role(Approver),
            put(h::put_policy),
        ),
        r(
            Method::GET,
            "/api/v1/policy/versions",
            Access::Role(Viewer),
            get(h::policy_versions),
        ),
        r(
            Method::GET,
            "/api/v1/policy/proposals",
            Access::Role(Viewer),
            get(h::policy_proposals),
        ),
        r(
            Method::GET,
            "/api/v1/policy/proposals/{id}",
            Access::Role(Viewer),
            get(h::policy_proposal),
        ),
        r(
            Method::POST,
            "/api/v1/policy/proposals/{id}/approve",
            Access::Role(Approver),
            post(h::approve_proposal),
        ),
        r(
            Method::POST,
            "/api/v1/policy/proposals/{id}/reject",
            Access::Role(Approver),
            post(h::reject_proposal),
        ),
        r(
            Method::GET,
            "/api/v1/policy/versions/{version}",
            Access::Role(Viewer),
            get(h::policy_version),
        ),
        r(
            Method::GET,
            "/api/v1/policy/diff",
            Access::Role(Viewer),
            get(h::policy_diff),
        ),
        r(Method::GET, "/api/v1/openapi.json", Public, get(h::openapi)),
        r(
            Method::GET,
            "/api/v1/devices",
            Access::Role(Viewer),
            get(h::list_devices),
        ),
        r(
            Method::GET,
            "/api/v1/export/devices.csv",
            Access::Role(Viewer),
            get(h::devices_csv),
        ),
        r(
            Method::GET,
            "/api/v1/devices/{id}",
            Access::Role(Viewer),
            get(h::device_detail),
        ),
        r(
            Method::POST,
            "/api/v1/devices/{id}/revoke",
            Access::Role(Admin),
            post(h::revoke_device),
        ),
        r(
            Method::PATCH,
            "/api/v1/devices/{id}",
            Access::Role(Admin),
            patch(governance::patch_device),
        ),
        r(
            Method::POST,
            "/api/v1/enroll-secrets",
            Access::Role(Admin),
            post(governance::create_enroll_secret),
        ),
        r(
            Method::POST,
            "/api/v1/rules/{rule}/reviews",
            Access::Role(Analyst),
            post(governance::open_review),
        ),
        r(
            Method::GET,
            "/api/v1/rules/{rule}/reviews",
            Access::Role(Viewer),
            get(governance::list_reviews),
        ),
        r(
            Method::POST,
            "/api/v1/reviews/{id}/decide",
            Access::Role(Approver),
            post(governance::decide_review),
        ),
        r(
            Method::GET,
            "/api/v1/compliance",
            Access::Role(Viewer),
            get(compliance::summary),
        ),
        r(
            Method::GET,
            "/api/v1/compliance/rules",
            Access::Role(Viewer),
            get(compliance::rules),
        ),
        r(
            Method::GET,
            "/api/v1/export/compliance.csv",
            Access::Role(Viewer),
            get(compliance::rules_csv),
        ),
        r(
            Method::GET,
            "/api/v1/rules/{rule}/exposure",
            Access::Role(Viewer),
            get(compliance::exposure),
        ),
        r(
            Method::GET,
            "/api/v1/export/rules/{rule}/exposure.csv",
            Access::Role(Viewer),
            get(compliance::exposure_csv),
        ),
        r(
            Method::GET,
            "/api/v1/rules/{rule}/series",
            Access::Role(Viewer),
            get(compliance::series),
        ),
        r(
            Method::GET,
            "/api/v1/export/rules/{rule}/series.csv",
            Access::Role(Viewer),
            get(compliance::series_csv),
        ),
        r(
            Method::GET,
            "/api/v1/exposure/{app_id}",
            Access::Role(Viewer),
            get(h::exposure),
        ),
        r(
            Method::GET,
            "/api/v1/exceptions",
            Access::Role(Viewer),
            get(h::list_exceptions),
        ),
        r(
            Method::POST,
            "/api/v1/exceptions",
            Access::Role(Analyst),
            post(h::request_exception),
        ),
        r(
            Method::POST,
            "/api/v1/exceptions/{id}/approve",
            Access::Role(Approver),
            post(h::approve_exception),
        ),
        r(
            Method::POST,
            "/api/v1/exceptions/{id}/deny",
            Access::Role(Approver),
            post(h::deny_exception),
        ),
        r(
            Method::POST,
            "/api/v1/exceptions/{id}/revoke",
            Access::Role(Approver),
            post(h::revoke_exception),
        ),
        r(
            Method::GET,
            "/api/v1/events",
            Access::Role(Viewer),
            get(h::events),
        ),
        r(
            Method::POST,
            "/api/v1/tokens",
            Access::Role(Admin),
            post(h::create_token),
        ),
        r(
            Method::GET,
            "/api/v1/tokens",
            Access::Role(Admin),
            get(accounts::list_tokens),
        ),
        r(
            Method::POST,
            "/api/v1/tokens/{id}/revoke",
            Access::Role(Admin),
            post(accounts::revoke_token),
        ),
        r(
            Method::GET,
            "/api/v1/users",
            Access::Role(Admin),
            get(accounts::list_users),
        ),
        r(
            Method::POST,
            "/api/v1/users",
            Access::Role(Admin),
            post(accounts::create_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/disable",
            Access::Role(Admin),
            post(accounts::disable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/enable",
            Access::Role(Admin),
            post(accounts::enable_user),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/role",
            Access::Role(Admin),
            post(accounts::set_role),
        ),
        r(
            Method::POST,
            "/api/v1/users/{id}/sign-out-everywhere",
            Access::Role(Admin),
            post(accounts::sign_out_user),
        ),
        r(
            Method::POST,
            "/api/v1/sign-in",
            Public,
            post(session::sign_in),
        ),
        r(
            Method::POST,
            "/api/v1/sign-out",
            Access::Role(Viewer),
            post(session::sign_out),
        ),
        r(
            Method::POST,
            "/api/v1/sign-out-everywhere",
            Access::Role(Viewer),
            post(session::sign_out_everywhere),
        ),
        r(
            Method::GET,
            "/api/v1/me",
            Access::Role(Viewer),
            get(session::me),
        ),
        r(Method::GET, "/api/v1/sso/login", Public, get(oidc::login)),
        r(
            Method::GET,
            "/api/v1/sso/callback",
            Public,
            get(oidc::callback),
        ),
        r(
            Method::POST,
            "/api/v1/enroll-secrets/rotate",
            Access::Role(Admin),
            post(h::rotate_enroll_secret),
        ),
        r(
            Method::POST,
            assessments::PATH,
            Access::Role(Analyst),
            post(assessments::upload),
        ),
        r(
            Method::GET,
            assessments::PATH,
            Access::Role(Viewer),
            get(assessments::list),
        ),
        r(
            Method::GET,
            "/api/v1/assessments/{id}",
            Access::Role(Viewer),
            get(assessments::get_one),
        ),
        r(
            Method::GET,
            "/api/v1/audit/checkpoint",
            Access::Role(Auditor),
            get(audit::latest),
        ),
        r(
            Method::POST,
            "/api/v1/audit/checkpoint",
            Access::Role(Admin),
            post(audit::sign),
        ),
        r(
            Method::GET,
            "/api/v1/audit/checkpoints",
            Access::Role(Auditor),
            get(audit::list),
        ),
        r(
            Method::GET,
            "/api/v1/audit/entries",
            Access::Role(Auditor),
            get(audit::entries),
        ),
        r(
            Method::GET,
            "/api/v1/audit/proof/inclusion",
            Access::Role(Auditor),
            get(audit::inclusion),
        ),
        r(
            Method::GET,
            "/api/v1/audit/proof/consistency",
            Access::Role(Auditor),
            get(audit::consistency),
        ),
        r(
            Method::GET,
            "/api/v1/reports/compliance",
            Access::Role(Auditor),
            get(report::compliance),
        ),
    ]
}

/// The routes, without handlers.
pub fn route_list() -> Vec<RouteInfo> {
    route_table().into_iter().map(|(info, _)| info).collect()
}

/// Builds the router over `state`.
pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    // Every route has its own body limit: `max_body_bytes`, except the APK upload.
    let max_upload = state.config.max_upload_bytes.max(max_body);
    let max_policy = state.config.max_policy_bytes.max(max_body);
    let mut app = Router::new();
    for (info, mr) in route_table() {
        let access = info.access;
        let limit = if assessments::is_upload(&info) || intel::is_upload(&info) {
            max_upload
        } else if info.method == Method::PUT && info.path == "/api/v1/policy" {
            max_policy
        } else {
            max_body
        };
        let authorized = mr.route_layer(axum::middleware::from_fn_with_state(
            (state.clone(), access),
            auth::authorize,
        ));
        // The APK upload streams its body to a temporary file and enforces its limit itself
        // (same JSON 413 for a Content-Length or a chunked body over it).
        let layered = if assessments::is_upload(&info) {
            authorized
                .layer::<_, std::convert::Infallible>(axum::extract::DefaultBodyLimit::disable())
        } else {
            authorized
                .layer::<_, std::convert::Infallible>(axum::extract::DefaultBodyLimit::max(limit))
                .layer(tower_http::limit::RequestBodyLimitLayer::new(limit))
        };
        let layered = layered.layer(axum::middleware::from_fn_with_state(limit, json_413));
        app = app.route(info.path, layered);
    }
    let timeout = state.config.request_timeout;
    let pages = state.config.pages.map(|f| f(state.clone()));
    let mut app = app.with_state(state);
    if let Some(pages) = pages {
        app = app.merge(pages);
    }
    app.layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            max_upload.max(max_policy),
        ))
        .layer(axum::middleware::from_fn_with_state(
            max_upload.max(max_policy),
            json_413,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// Every 413 is the API's JSON error naming the route's limit, whoever produced it (the body
/// limit layers answer plain text).
async fn json_413(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::TooLarge(limit).into_response();
    }
    res
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Binds `listen` (port 0 picks one), starts the writer and serves until
    /// [`Server::shutdown`] or `stop` resolves.
    pub async fn start(
        store: Store,
        config: Config,
        listen: SocketAddr,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<Server, StartError> {
        // Listen first: a busy port is the commonest start-up failure, and nothing should
        // have started when it is reported.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
        let (tx, rx) = tokio::sync::mpsc::channel(config.max_batch.saturating_mul(8).max(64));
        let own_events = writer::OwnEvents::default();
        let writer_task = tokio::spawn(writer::run(
            store.clone(),
            rx,
            config.max_batch,
            own_events.clone(),
        ));
        let state = AppState {
            store,
            limiter: Arc::new(auth::RateLimiter::new(config.rate_per_token)),
            enroll_limiter: Arc::new(auth::RateLimiter::per_minute(config.enroll_per_minute)),
            quotas: Arc::new(device_quota::DeviceQuotas::new(config.device_quotas)),
            uploads: Arc::new(assessments::UploadLimits::new(&config)),
            webhook_refusals: Arc::new(auth::RateLimiter::per_minute(60)),
            devices: Arc::new(cache::DeviceCache::new(config.device_cache_ttl)),
            accounts: Arc::new(session::Accounts::new(&config.session, listen)),
            oidc: match &config.sso {
                Some(c) => Some(Arc::new(
                    oidc::Oidc::new(c.clone()).map_err(|e| StartError::Sso(e.to_string()))?,
                )),
                None => None,
            },
            config: Arc::new(config),
            policy: Arc::new(RwLock::new(None)),
            writer: tx,
            metrics: Arc::new(Metrics::default()),
            own_events,
            policy_jobs: Arc::default(),
        };
        // Follow from the last event committed before the policy is loaded, so no change made
        // after the load is missed.
        let last_seq = state
            .store
            .last_event_seq()
            .await
            .map_err(StartError::Storage)?;
        state.reload_policy().await.map_err(|e| {
            StartError::Policy(match e {
                ApiError::Internal(m) => m,
                other => other.to_string(),
            })
        })?;
        let follower = tokio::spawn(follow::run(
            state.clone(),
            last_seq,
            state.config.follow_interval,
        ));
        let checkpointer = state
            .config
            .ledger
            .clone()
            .map(|cfg| tokio::spawn(audit::checkpointer(state.store.clone(), cfg)));
        let connector_tasks: Vec<_> = state
            .config
            .connectors
            .iter()
            .map(|c| {
                tokio::spawn(mdm_sync::scheduler(
                    state.store.clone(),
                    Arc::new(c.clone()),
                ))
            })
            .collect();
        let notifier_task = state
            .config
            .notifications
            .clone()
            .map(|cfg| tokio::spawn(notifier::task(state.store.clone(), cfg)));
        let (stx, srx) = tokio::sync::oneshot::channel::<()>();
        let limits = conn::Limits::from(&*state.config);
        let app = router(state);
        let task = tokio::spawn(async move {
            let res = conn::serve(listener, app, limits, async move {
                tokio::select! {
                    _ = srx => {}
                    () = stop => {}
                }
            })
            .await;
            // The router (and every writer handle but the follower's) is gone: stop the
            // follower, and the writer drains and exits.
            follower.abort();
            let _ = follower.await;
            if let Some(c) = checkpointer {
                c.abort();
                let _ = c.await;
            }
            if let Some(n) = notifier_task {
                n.abort();
                let _ = n.await;
            }
            for c in connector_tasks {
                c.abort();
                let _ = c.await;
            }
            let _ = writer_task.await;
            res
        });
        Ok(Server {
            addr,
            shutdown: Some(stx),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, finishes in-flight requests and pending writes.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        self.wait().await
    }

    /// Waits until the server stops.
    pub async fn wait(self) -> std::io::Result<()> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    }
}

/// Why the server could not start; each kind has its own exit status in `interdict serve`.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listening address could not be bound.
    #[error("{}", listen_message(*.addr, .source))]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The database could not be read at start-up.
    #[error("database: {0}")]
    Storage(StorageError),
    /// The stored policy could not be loaded.
    #[error("active policy: {0}")]
    Policy(String),
    /// The `[sso]` configuration is invalid.
    #[error("{0}")]
    Sso(String),
}

fn listen_message(addr: SocketAddr, e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "address {addr} is already in use: stop the program listening there or choose \
             another address with --listen"
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "not allowed to listen on {addr} (ports below 1024 need privileges): choose \
             another port with --listen"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "address {addr} is not an address of this machine: choose another with --listen"
        ),
        _ => format!("cannot listen on {addr}: {e}"),
    }
}

/// API errors, mapped to HTTP in one place. Internal details are logged, not returned.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401.
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 409.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 422.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// 429.
    #[error("rate limit exceeded")]
    RateLimited(u64),
    /// 429 with `Retry-After` (seconds): a per-device hourly quota.
    #[error("device quota exceeded: {1}")]
    QuotaExceeded(u64, String),
    /// 503: the write could not be made durable.
    #[error("storage unavailable")]
    Unavailable,
    /// 413: the body is over this route's limit (bytes), whether announced by
    /// `Content-Length` or found while a chunked body was read.
    #[error("request body too large: this route takes at most {0} bytes")]
    TooLarge(usize),
    /// 503 with `Retry-After` (seconds): too many of this kind of request in progress.
    #[error("busy: {1}; retry in {0} s")]
    Busy(u64, &'static str),
    /// 500.
    #[error("internal error")]
    Internal(String),
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => ApiError::NotFound,
            StorageError::Conflict(m) => ApiError::Conflict(m),
            StorageError::Invalid(m) => ApiError::Invalid(m),
            StorageError::Forbidden(m) => ApiError::Forbidden(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) | ApiError::QuotaExceeded(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable | ApiError::Busy(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut res =
            (status, Json(serde_json::json!({"error": self.to_string()}))).into_response();
        if let ApiError::RateLimited(secs)
        | ApiError::Busy(secs, _)
        | ApiError::QuotaExceeded(secs, _) = self
        {
            res.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        res
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What a route's OpenAPI operation says beyond its access: a description and extra
/// responses.
fn route_note(r: &RouteInfo) -> Option<(&'static str, &'static [(&'static str, &'static str)])> {
    Some(match (r.method.as_str(), r.path) {
        ("PUT", "/api/v1/policy") => (
            "Body: the policy TOML. Query: `reason` (recorded in the events; required when the \
             version weakens the ban). Identical to the active version: 200 with \
             `unchanged: true`, nothing written. Every answer carries the semantic diff. A \
             version that only tightens is published at once (200); one that weakens the ban \
             becomes a pending proposal (202) that another approver or admin approves.",
            &[
                ("202", "weakens the ban: stored as a pending proposal"),
                ("409", "[policy] version not greater than the active one"),
            ],
        ),
        ("POST", "/api/v1/policy/proposals/{id}/approve") => (
            "Body optional: {\"comment\": \"...\"}. Two-person rule: the proposer cannot \
             approve (403). 409 if the proposal is not pending or another version became \
             active since it was proposed.",
            &[("409", "not pending, or the active version changed")],
        ),
        ("POST", "/api/v1/enroll") => (
            "Header `Idempotency-Key` optional (1 to 255 bytes of printable ASCII, scoped to the \
             enrollment secret): a retry with the same key and the same device answers the same \
             device_id with a fresh device_token, and the token answered before stops working; \
             the same key with a different device is a 409. Rate-limited per client address \
             (429 with Retry-After).",
            &[("409", "Idempotency-Key reused with a different device")],
        ),
        ("POST", "/api/v1/connectors/{name}/webhook") => (
            "NanoMDM's MicroMDM-compatible webhook (`-webhook-url`) for a `kind = \"nanomdm\"` \
             connector. Header `X-Hmac-Signature`: base64 HMAC-SHA256 of the body under the \
             connector's webhook secret (`-webhook-hmac-key`); a bad or missing signature, or \
             an unknown connector, is 401 and a `connector.webhook_refused` event. A body \
             already taken, an answer to a command already answered, or a `created_at` outside \
             the window is 409; a malformed body or device answer 422. An \
             `InstalledApplicationList` answer becomes the device's inventory (the check-in \
             evaluation); a `RemoveApplication` answer an action result.",
            &[
                ("409", "replayed or stale webhook"),
                ("413", "body over the route's limit"),
            ],
        ),
        ("POST", "/api/v1/policy/proposals/{id}/reject") => {
            ("Body optional: {\"comment\": \"...\"}.", &[])
        }
        ("POST", "/api/v1/exceptions") => (
            "Body: device_id, rule (of the active policy), app_id (optional), basis \
             (law_enforcement, national_security, security_research or other; absent means \
             other, for clients older than the field), justification (required, non-empty), \
             expires (YYYY-MM-DD, after today, at most max_exception_days away).",
            &[],
        ),
        ("POST", "/api/v1/exceptions/{id}/approve" | "/api/v1/exceptions/{id}/deny") => (
            "Body optional: {\"comment\": \"...\"}, stored in the decision's event. The \
             requester cannot decide their own request (409).",
            &[],
        ),
        ("PATCH", "/api/v1/devices/{id}") => (
            "Body: reason (required), groups (replacing the device's groups; each must exist: \
             granted by a live enrollment secret, held by a device, or named by the active \
             policy's scopes) and/or ownership (corporate, personal, unknown). Recorded as a \
             device.scope_changed event with before, after and reason; the device's scope_source \
             becomes admin.",
            &[("404", "no such active device")],
        ),
        ("POST", "/api/v1/enroll-secrets") => (
            "Body: groups (granted to every device enrolled with the secret; the device may \
             claim no other) and ownership (optional: the one ownership its devices get). The \
             answer holds the secret once.",
            &[],
        ),
        ("POST", "/api/v1/rules/{rule}/reviews") => (
            "A vendor's appeal against a rule of the active policy. Body: appellant, summary \
             (at most 16 KiB), received (YYYY-MM-DD), documents [{name, sha256}] (the SHA-256 of \
             each submitted document, 64 lowercase hex digits).",
            &[],
        ),
        ("GET", "/api/v1/rules/{rule}/reviews") => (
            "The rule's reviews, oldest first, each with its decision.",
            &[],
        ),
        ("POST", "/api/v1/reviews/{id}/decide") => (
            "Body: outcome (upheld, amended, reversed), reasons, and for amended or reversed \
             policy_version: a published version later than the one the review was opened \
             under whose diff changes (amended) or removes (reversed) the rule.",
            &[("409", "already decided")],
        ),
        ("POST", "/api/v1/exceptions/{id}/revoke") => (
            "Body optional: {\"comment\": \"...\"}. Takes effect at once in every read model.",
            &[],
        ),
        _ => return None,
    })
}

/// The OpenAPI 3.1 document, generated from [`route_table`]: it cannot miss a route.
pub fn openapi() -> serde_json::Value {
    use serde_json::json;
    let mut paths = serde_json::Map::new();
    for r in route_list() {
        let (security, role) = match r.access {
            Access::Public | Access::EnrollSecret | Access::WebhookSignature => (json!([]), None),
            Access::Device => (json!([{"deviceToken": []}]), None),
            Access::Role(role) => (json!([{"apiToken": []}]), Some(role.as_str())),
        };
        let params: Vec<serde_json::Value> = r
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        let mut op = json!({
            "operationId": format!("{} {}", r.method, r.path),
            "security": security,
            "parameters": params,
            "responses": {
                "200": {"description": "success"},
                "401": {"description": "missing or invalid credentials"},
                "403": {"description": "role too weak"},
                "422": {"description": "invalid request"},
                "429": {"description": "rate limit exceeded"}
            }
        });
        if let (Some(role), Some(obj)) = (role, op.as_object_mut()) {
            obj.insert("x-min-role".into(), json!(role));
        }
        if let (Some((note, extra)), Some(obj)) = (route_note(&r), op.as_object_mut()) {
            obj.insert("description".into(), json!(note));
            if let Some(responses) = obj.get_mut("responses").and_then(|v| v.as_object_mut()) {
                for (code, what) in extra {
                    responses.insert((*code).into(), json!({"description": what}));
                }
            }
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(r.method.as_str().to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "interdict", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {
            "apiToken": {"type": "http", "scheme": "bearer", "description": "admin token (interdict token create)"},
            "deviceToken": {"type": "http", "scheme": "bearer", "description": "device token (from /api/v1/enroll)"}
        }},
        "paths": paths
    })
}
