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
    /// Time zone of the read models' calendar: the day a deadline passes and the day each
    /// burn-down point stands for (the state at the end of that day). An IANA name
    /// (America/Toronto), UTC, or a fixed offset (-05:00).
    #[arg(long, default_value = "UTC", value_parser = parse_zone)]
    time_zone: storage::Zone,
}

fn parse_zone(s: &str) -> Result<storage::Zone, String> {
    storage::Zone::named(s)
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
        api_server::StartError::Listen { .. } => 3,
        api_server::StartError::Storage(_) | api_server::StartError::Policy(_) => 4,
    }
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = args.store.open().await?;
        let backend = store.backend();
        let config = api_server::Config {
            rate_per_token: args.rate_limit,
            time_zone: args.time_zone,
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
        server.wait().await?;
        store.close().await;
        eprintln!("interdict: stopped");
        Ok(ExitCode::SUCCESS)
    })
}
