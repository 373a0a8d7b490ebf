//! `interdict serve`: the fleet server.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Args;

use crate::init_cmd::{runtime, StoreArgs};

/// Arguments of `interdict serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on (port 0: any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Per-token requests per second (0: unlimited).
    #[arg(long, default_value_t = 200)]
    rate_limit: u32,
    /// Enrollment attempts per minute per client address (an IPv6 client's /64; 0:
    /// unlimited). Behind a reverse proxy every client has the proxy's address: raise it.
    #[arg(long, default_value_t = api_server::Config::default().enroll_per_minute)]
    enroll_rate_limit: u32,
    /// Check-ins with a changed inventory one device may send per hour (0: unlimited). Past
    /// it, and past the two quotas below, a check-in is refused whole with 429 and
    /// Retry-After until the next hour; check-ins that change nothing are always answered.
    #[arg(long, default_value_t = api_server::Config::default().device_quotas.inventories_per_hour)]
    device_inventories_per_hour: u32,
    /// Action results one device may report per hour (0: unlimited).
    #[arg(long, default_value_t = api_server::Config::default().device_quotas.results_per_hour)]
    device_results_per_hour: u32,
    /// Events one device's check-ins may write per hour (0: unlimited).
    #[arg(long, default_value_t = api_server::Config::default().device_quotas.events_per_hour)]
    device_events_per_hour: u32,
    /// Seconds a client has to send a complete request head (slowloris defence); it also
    /// closes a keep-alive connection waiting that long for its next request.
    #[arg(long, default_value_t = api_server::Config::default().header_timeout.as_secs())]
    header_timeout_secs: u64,
    /// Seconds after which a connection on which nothing moved, with no request being
    /// handled, is closed.
    #[arg(long, default_value_t = api_server::Config::default().idle_timeout.as_secs())]
    idle_timeout_secs: u64,
    /// Most connections open at once; those beyond are closed as soon as accepted.
    #[arg(long, default_value_t = api_server::Config::default().max_connections)]
    max_connections: u32,
    /// Time zone of the read models' calendar: the day a deadline passes and the day each
    /// burn-down point stands for (the state at the end of that day). An IANA name
    /// (America/Toronto), UTC, or a fixed offset (-05:00).
    #[arg(long, default_value = "UTC", value_parser = parse_zone)]
    time_zone: storage::Zone,
    /// Log format on stderr: `human` (one readable line per event) or `json` (one JSON object
    /// per line, for log collectors). Which events: the `RUST_LOG` environment variable, e.g.
    /// `RUST_LOG=info` (default), `RUST_LOG=debug` (a line per request) or
    /// `RUST_LOG=warn,api_server=debug`.
    #[arg(long, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    /// Largest policy accepted by `PUT /api/v1/policy`, bytes.
    #[arg(long, default_value_t = api_server::Config::default().max_policy_bytes)]
    max_policy_bytes: usize,
    /// Largest APK or IPA accepted by `POST /api/v1/assessments`, bytes (streamed to a
    /// temporary file under $TMPDIR, never held in memory while it arrives).
    #[arg(long, default_value_t = api_server::Config::default().max_upload_bytes)]
    max_upload_bytes: usize,
    /// Uploads received at once; one more is answered 503 with Retry-After.
    #[arg(long, default_value_t = api_server::Config::default().max_concurrent_uploads)]
    max_concurrent_uploads: usize,
    /// Memory for uploaded files under analysis at once, MiB: peak memory stays near this
    /// figure (plus the largest file) however many uploads arrive.
    #[arg(long, default_value_t = api_server::Config::default().analysis_memory_bytes >> 20)]
    analysis_memory_mib: usize,
    /// Most rules in a published policy.
    #[arg(long, default_value_t = api_server::Config::default().max_policy_rules)]
    max_policy_rules: usize,
    /// Latest expiry of an exception requested through the API, in days from today.
    #[arg(long, default_value_t = api_server::Config::default().max_exception_days)]
    max_exception_days: u32,
    /// Server configuration file (TOML): `[sso]` single sign-on with OpenID Connect (see
    /// docs/operations.md) and `[[connector]]` MDM connectors (see docs/connectors.md).
    #[arg(long, value_name = "server.toml")]
    config: Option<std::path::PathBuf>,
    /// Also write every signed audit checkpoint to this directory (e.g. a git work tree or a
    /// mount outside the server's control).
    #[arg(long)]
    checkpoint_dir: Option<std::path::PathBuf>,
    /// Sign an audit checkpoint after this many new events.
    #[arg(long, default_value_t = 10_000)]
    checkpoint_every_events: u64,
    /// Sign an audit checkpoint at most this many seconds after a new event.
    #[arg(long, default_value_t = 60)]
    checkpoint_every_secs: u64,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Installs the log subscriber: stderr, `RUST_LOG` filter (default `info`), human or JSON.
fn init_logs(format: LogFormat) -> anyhow::Result<()> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true);
    let r = match format {
        LogFormat::Human => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    r.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))
}

fn parse_zone(s: &str) -> Result<storage::Zone, String> {
    storage::Zone::named(s)
}

/// `server.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerToml {
    #[serde(default)]
    sso: Option<api_server::OidcConfig>,
    /// Connectors to MDMs (issue 17); see docs/connectors.md.
    #[serde(default)]
    connector: Vec<api_server::ConnectorConfig>,
    /// Notifications (issue 17): e-mail and webhooks; see docs/connectors.md.
    #[serde(default)]
    notifications: Option<api_server::NotificationsConfig>,
}

/// Reads `[notifications]` of `server.toml`, with the webhook secrets.
pub(crate) fn read_notifications(
    path: &std::path::Path,
) -> anyhow::Result<Option<api_server::NotificationsConfig>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: ServerToml = toml::from_str(&text)
        .with_context(|| format!("{}: invalid server configuration", path.display()))?;
    let Some(mut n) = cfg.notifications else {
        return Ok(None);
    };
    n.load_secrets()
        .map_err(|e| anyhow::anyhow!("{}: [notifications] {e}", path.display()))?;
    Ok(Some(n))
}

/// Reads the `[[connector]]` sections of `server.toml`, checked (names unique).
pub(crate) fn read_connectors(
    path: &std::path::Path,
) -> anyhow::Result<Vec<api_server::ConnectorConfig>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: ServerToml = toml::from_str(&text)
        .with_context(|| format!("{}: invalid server configuration", path.display()))?;
    let mut names = std::collections::BTreeSet::new();
    for c in &cfg.connector {
        c.validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if !names.insert(c.name().to_string()) {
            anyhow::bail!(
                "{}: two [[connector]] sections are named {:?}",
                path.display(),
                c.name()
            );
        }
    }
    Ok(cfg.connector)
}

/// Reads `server.toml` and the SSO client secret (from its file or environment variable).
fn read_config(path: &std::path::Path) -> anyhow::Result<Option<api_server::OidcConfig>> {
    use anyhow::Context;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: ServerToml = toml::from_str(&text)
        .with_context(|| format!("{}: invalid server configuration", path.display()))?;
    let Some(mut sso) = cfg.sso else {
        return Ok(None);
    };
    sso.client_secret = match (&sso.client_secret_file, &sso.client_secret_env) {
        (Some(f), None) => std::fs::read_to_string(f)
            .with_context(|| format!("[sso] client_secret_file {}", f.display()))?
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        (None, Some(v)) => std::env::var(v).with_context(|| {
            format!("[sso] client_secret_env: environment variable {v} is not set")
        })?,
        _ => anyhow::bail!(
            "{}: [sso] needs exactly one of client_secret_file or client_secret_env \
             (the secret itself never goes in server.toml)",
            path.display()
        ),
    };
    if sso.client_secret.is_empty() {
        anyhow::bail!("{}: [sso] the client secret is empty", path.display());
    }
    Ok(Some(sso))
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Exit status of a start-up failure (see `interdict serve --help`).
fn start_failure_code(e: &api_server::StartError) -> u8 {
    match e {
        api_server::StartError::Sso(_) => 2,
        api_server::StartError::Listen { .. } => 3,
        api_server::StartError::Storage(_) | api_server::StartError::Policy(_) => 4,
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logs(args.log_format)?;
    runtime()?.block_on(async {
        let sso = match &args.config {
            Some(p) => read_config(p)?,
            None => None,
        };
        let connectors = match &args.config {
            Some(p) => read_connectors(p)?,
            None => Vec::new(),
        };
        let notifications = match &args.config {
            Some(p) => read_notifications(p)?,
            None => None,
        };
        let store = args.store.open().await?;
        if std::env::var_os("INTERDICT_BENCH_NO_LEDGER").is_some_and(|v| v == "1") {
            // Benchmarks only (bench/serve.sh ledger-onoff): events without leaves until the
            // next start, which adds them.
            eprintln!(
                "interdict: warning: INTERDICT_BENCH_NO_LEDGER=1: events are written without their audit-ledger leaves until the next start (benchmarks only)"
            );
            tracing::warn!("ledger leaves off for benchmarking (INTERDICT_BENCH_NO_LEDGER=1)");
            storage::bench_skip_leaves(true);
        }
        let backend = store.backend();
        let key_path = args.store.data_dir.join(crate::audit_cmd::KEY_FILE);
        let ledger = if key_path.exists() {
            let mut l = api_server::LedgerConfig::new(crate::audit_cmd::load_signer(&args.store.data_dir)?);
            l.every_events = args.checkpoint_every_events.max(1);
            l.every = std::time::Duration::from_secs(args.checkpoint_every_secs.max(1));
            l.checkpoint_dir = args.checkpoint_dir.clone();
            Some(l)
        } else {
            eprintln!(
                "interdict: warning: no {} in {}: audit checkpoints will not be signed (run `interdict init`)",
                crate::audit_cmd::KEY_FILE,
                args.store.data_dir.display()
            );
            None
        };
        let config = api_server::Config {
            rate_per_token: args.rate_limit,
            enroll_per_minute: args.enroll_rate_limit,
            device_quotas: api_server::DeviceQuotaLimits {
                inventories_per_hour: args.device_inventories_per_hour,
                results_per_hour: args.device_results_per_hour,
                events_per_hour: args.device_events_per_hour,
            },
            header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
            idle_timeout: std::time::Duration::from_secs(args.idle_timeout_secs.max(1)),
            max_connections: args.max_connections.max(1),
            time_zone: args.time_zone,
            max_policy_bytes: args.max_policy_bytes,
            max_upload_bytes: args.max_upload_bytes,
            max_concurrent_uploads: args.max_concurrent_uploads,
            analysis_memory_bytes: args.analysis_memory_mib.saturating_mul(1 << 20),
            max_policy_rules: args.max_policy_rules,
            max_exception_days: args.max_exception_days,
            sso,
            ledger,
            pages: Some(web_dashboard::router),
            connectors,
            notifications,
            ..api_server::Config::default()
        };
        let server =
            match api_server::Server::start(store.clone(), config, args.listen, shutdown_signal())
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("interdict: error: {e}");
                    store.close().await;
                    return Ok(ExitCode::from(start_failure_code(&e)));
                }
            };
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "interdict: listening on http://{} ({backend:?})",
                server.addr()
            )?;
            out.flush()?;
        }
        tracing::info!(addr = %server.addr(), ?backend, "listening");
        server.wait().await?;
        store.close().await;
        eprintln!("interdict: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
