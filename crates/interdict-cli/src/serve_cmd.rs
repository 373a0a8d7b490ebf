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
        let store = args.store.open().await?;
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
            ledger,
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
