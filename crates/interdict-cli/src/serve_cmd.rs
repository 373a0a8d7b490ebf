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
    /// Server configuration file (TOML): `[sso]` single sign-on with OpenID Connect, see
    /// docs/operations.md.
    #[arg(long, value_name = "server.toml")]
    config: Option<std::path::PathBuf>,
}

/// `server.toml`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerToml {
    #[serde(default)]
    sso: Option<api_server::OidcConfig>,
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

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let sso = match &args.config {
            Some(p) => read_config(p)?,
            None => None,
        };
        let store = args.store.open().await?;
        let backend = store.backend();
        let config = api_server::Config {
            rate_per_token: args.rate_limit,
            sso,
            ..api_server::Config::default()
        };
        let server =
            api_server::Server::start(store.clone(), config, args.listen, shutdown_signal())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "interdict: listening on http://{} ({backend:?})",
                server.addr()
            )?;
            out.flush()?;
        }
        server.wait().await?;
        store.close().await;
        eprintln!("interdict: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
