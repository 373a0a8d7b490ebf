//! `interdict connector`: run a connector's sync once, as the server's schedule does.

use std::io::Write;
use std::process::ExitCode;

use clap::Subcommand;

use crate::init_cmd::{runtime, StoreArgs};

/// `interdict connector ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConnectorCmd {
    /// Pull, push (as configured: off, dry_run or apply) and record one sync of NAME.
    /// Exit status 0 when the sync ended `ok` or `partial` (items refused: listed), 1 when it
    /// `failed`.
    Sync {
        /// The connector's `name` in server.toml.
        name: String,
        /// The server configuration with the `[[connector]]` sections.
        #[arg(long, value_name = "server.toml")]
        config: std::path::PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Print the whole report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run the notifier once, as `serve` does every `[notifications] interval_secs`: queue
    /// what is new (removals due, exceptions requested, decided or ending), send what is due,
    /// and print the counts as JSON.
    Notify {
        /// The server configuration with `[notifications]`.
        #[arg(long, value_name = "server.toml")]
        config: std::path::PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(crate) fn run(cmd: ConnectorCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ConnectorCmd::Notify { config, store } => {
            let Some(cfg) = crate::serve_cmd::read_notifications(&config)? else {
                anyhow::bail!("{}: no [notifications] section", config.display());
            };
            runtime()?.block_on(async {
                let store = store.open().await?;
                let run = api_server::notifier::run_once(&store, &cfg)
                    .await
                    .map_err(|e| anyhow::anyhow!("notifier: {e}"))?;
                store.close().await;
                let mut out = std::io::stdout().lock();
                serde_json::to_writer(&mut out, &run)?;
                writeln!(out)?;
                Ok(ExitCode::SUCCESS)
            })
        }
        ConnectorCmd::Sync {
            name,
            config,
            store,
            json,
        } => {
            let all = crate::serve_cmd::read_connectors(&config)?;
            let Some(cfg) = all.into_iter().find(|c| c.name() == name) else {
                anyhow::bail!("{}: no [[connector]] named {name:?}", config.display());
            };
            runtime()?.block_on(async {
                let store = store.open().await?;
                let report = api_server::mdm_sync::sync(&store, &cfg)
                    .await
                    .map_err(|e| anyhow::anyhow!("recording the sync: {e}"))?;
                store.close().await;
                let mut out = std::io::stdout().lock();
                if json {
                    serde_json::to_writer_pretty(&mut out, &report)?;
                    writeln!(out)?;
                } else {
                    writeln!(
                        out,
                        "connector {}: {} ({} pages{}), {} devices ({} new, {} non-compliant), {} removals confirmed, {} pending",
                        report.connector,
                        report.state,
                        report.pages,
                        if report.complete { ", complete" } else { ", incomplete" },
                        report.devices,
                        report.new_devices,
                        report.non_compliant,
                        report.removals_confirmed,
                        report.removals_pending
                    )?;
                    for e in &report.item_errors {
                        writeln!(out, "  refused: {e}")?;
                    }
                    if let Some(p) = &report.push {
                        let verb = if p.outcome.applied { "applied to" } else if p.outcome.plan.is_noop() { "nothing to change in" } else { "dry run for" };
                        writeln!(out, "push ({verb} {}):", p.outcome.policy)?;
                        write!(out, "{}", p.diff)?;
                        for w in &p.outcome.plan.warnings {
                            writeln!(out, "  warning: {w}")?;
                        }
                    }
                    if let Some(p) = &report.intune_push {
                        let verb = if p.outcome.applied { "applied" } else { "dry run" };
                        writeln!(out, "push to Intune ({verb}):")?;
                        write!(out, "{}", p.diff)?;
                        for w in &p.outcome.warnings {
                            writeln!(out, "  warning: {w}")?;
                        }
                    }
                    for w in &report.warnings {
                        writeln!(out, "  note: {w}")?;
                    }
                    if let Some(n) = &report.nanomdm {
                        writeln!(
                            out,
                            "nanomdm: InstalledApplicationList to {} of {} devices ({} still owe the last one); RemoveApplication: {} enqueued, {} planned ({:?}), {} waiting",
                            n.inventory_enqueued,
                            n.enrollment_ids,
                            n.inventory_waiting,
                            n.removals_enqueued.len(),
                            n.removals_planned.len(),
                            n.remove,
                            n.removals_waiting
                        )?;
                        for r in n.removals_enqueued.iter().chain(&n.removals_planned) {
                            writeln!(out, "  remove {} from {}", r.app_id, r.enrollment_id)?;
                        }
                        writeln!(out, "  note: {}", n.note)?;
                    }
                    if let Some(e) = &report.push_error {
                        writeln!(out, "push failed: {e}")?;
                    }
                    if let Some(e) = &report.error {
                        writeln!(out, "error: {e}")?;
                    }
                }
                Ok(if report.state == "failed" {
                    ExitCode::from(1)
                } else {
                    ExitCode::SUCCESS
                })
            })
        }
    }
}
