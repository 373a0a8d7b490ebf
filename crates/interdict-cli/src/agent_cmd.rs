//! `interdict agent`: the device-side client (inventory, check-ins, removal).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use device_agent::{Event, Mode, Outcome, Source};

use crate::init_cmd::runtime;

/// Arguments of `interdict agent`.
#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Server base URL: https://HOST[:PORT] (TLS, the certificate verified against Mozilla's
    /// roots, the system's trust store and any --ca-cert), or http://HOST:PORT (plain: a
    /// warning unless the server is on loopback, as device tokens would cross the network
    /// unencrypted).
    #[arg(long)]
    server: String,
    /// PEM file of CA certificates (one or more) to trust in addition to the built-in roots,
    /// for a server whose certificate comes from a private CA; repeatable. Certificate
    /// verification cannot be turned off.
    #[arg(long = "ca-cert", value_name = "FILE")]
    ca_certs: Vec<PathBuf>,
    /// Enrollment secret, needed until every device is enrolled (default: the
    /// INTERDICT_ENROLL_SECRET environment variable).
    #[arg(long)]
    enroll_secret: Option<String>,
    /// State file holding the device identities (mode 0600). Default:
    /// /var/lib/interdict-agent/state.json as root, else
    /// $XDG_STATE_HOME/interdict/agent.json (~/.local/state/interdict/agent.json).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Queue directory for undelivered check-ins (default: next to the state file,
    /// `<state name>.queue/`).
    #[arg(long)]
    queue_dir: Option<PathBuf>,
    /// Inventory source, repeatable: dpkg, dpkg:PATH, rpm, flatpak, snap, adb (every
    /// attached device), adb:SERIAL, file:PATH (normalized inventory JSON). Default: dpkg if
    /// /var/lib/dpkg/status exists, else rpm.
    #[arg(long = "source", value_name = "SOURCE")]
    sources: Vec<Source>,
    /// Name of this machine at enrollment (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Group to enroll the devices in, repeatable.
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<String>,
    /// Ownership at enrollment: corporate, personal or unknown (default: corporate, or a
    /// file source's own).
    #[arg(long)]
    ownership: Option<String>,
    /// One cycle (collect, check in, act, deliver the results), then exit:
    /// 0 compliant, 1 non-compliant, 2 error or server unreachable.
    #[arg(long)]
    once: bool,
    /// Time between cycles: 30s, 15m, 1h, 1h30m (±10% jitter).
    #[arg(long, default_value = "15m", value_parser = device_agent::parse_interval)]
    interval: Duration,
    /// Longest wait between delivery attempts while the server is unavailable.
    #[arg(long, default_value = "5m", value_parser = device_agent::parse_interval)]
    max_backoff: Duration,
    /// Most undelivered check-ins kept per device (older inventory-only ones are dropped
    /// first; action results never).
    #[arg(long, default_value_t = 1000)]
    max_pending: usize,
    /// Carry out the server's actions (uninstall). Without it the agent only reports.
    #[arg(long)]
    enforce: bool,
    /// Print and report the exact command each action would run, and run nothing.
    /// Implies --enforce's decisions without its effects.
    #[arg(long)]
    dry_run: bool,
    /// One JSON line per device and cycle: {device, device_id, compliant, policy_version,
    /// actions, results, queued}.
    #[arg(long)]
    json: bool,
}

/// The default state file for this user.
fn default_state() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if root {
        return PathBuf::from("/var/lib/interdict-agent/state.json");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("interdict").join("agent.json")
}

fn default_queue_dir(state: &Path) -> PathBuf {
    let stem = state
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "agent".into());
    state.with_file_name(format!("{stem}.queue"))
}

/// Replaces control characters: every string from the server or an inventory is data.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect()
}

fn text_report(r: &device_agent::CycleReport) -> String {
    let mut line = clean(&r.device);
    if let Some(id) = &r.device_id {
        line.push_str(&format!(" ({})", clean(id)));
    }
    line.push_str(": ");
    line.push_str(match r.compliant {
        Some(true) => "compliant",
        Some(false) => "NON-COMPLIANT",
        None => "no answer",
    });
    if let Some(v) = r.policy_version {
        line.push_str(&format!(", policy v{v}"));
    }
    for a in &r.actions {
        line.push_str(&format!(
            "; {} {} (rule {})",
            clean(&a.kind),
            clean(&a.app_id),
            clean(&a.rule)
        ));
    }
    for x in &r.results {
        line.push_str(&format!(
            "; {} {}: {}",
            clean(&x.app_id),
            clean(&x.status),
            clean(&x.detail)
        ));
    }
    if r.queued > 0 {
        line.push_str(&format!("; {} check-in(s) queued", r.queued));
    }
    if let Some(e) = &r.error {
        line.push_str(&format!(" [{}]", clean(e)));
    }
    line
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<ExitCode> {
    let state_path = args.state.clone().unwrap_or_else(default_state);
    let queue_dir = args
        .queue_dir
        .clone()
        .unwrap_or_else(|| default_queue_dir(&state_path));
    let sources = if args.sources.is_empty() {
        device_agent::default_sources()
    } else {
        args.sources.clone()
    };
    if let Some(o) = &args.ownership {
        anyhow::ensure!(
            ["corporate", "personal", "unknown"].contains(&o.as_str()),
            "--ownership must be corporate, personal or unknown, not {o:?}"
        );
    }
    let mode = if args.dry_run {
        Mode::DryRun
    } else if args.enforce {
        Mode::Enforce
    } else {
        Mode::Report
    };
    let cfg = device_agent::Config {
        server: args.server.clone(),
        ca_certs: args.ca_certs.clone(),
        enroll_secret: args
            .enroll_secret
            .clone()
            .or_else(|| std::env::var("INTERDICT_ENROLL_SECRET").ok())
            .filter(|s| !s.is_empty()),
        state_path,
        queue_dir,
        sources,
        name: args.name.clone(),
        groups: args.groups.clone(),
        ownership: args.ownership.clone(),
        interval: args.interval,
        once: args.once,
        mode,
        max_backoff: args.max_backoff,
        max_pending: args.max_pending,
    };
    let json = args.json;
    let mut io_error: Option<std::io::Error> = None;
    let mut on_event = |e: Event<'_>| {
        let r = match e {
            Event::Cycle(r) => {
                let line = if json {
                    serde_json::to_string(r).unwrap_or_default()
                } else {
                    text_report(r)
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|()| out.flush())
            }
            Event::WouldRun { device, command } => {
                let line = format!("would run: {}", clean(command));
                if json {
                    eprintln!("interdict agent: {}: {line}", clean(device));
                    Ok(())
                } else {
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{line}").and_then(|()| out.flush())
                }
            }
            Event::Warning(m) => {
                eprintln!("interdict agent: warning: {}", clean(&m));
                Ok(())
            }
        };
        if let Err(err) = r {
            io_error.get_or_insert(err);
        }
    };
    let outcome = runtime()?
        .block_on(device_agent::run(
            cfg,
            crate::serve_cmd::shutdown_signal(),
            &mut on_event,
        ))
        .context("agent")?;
    if let Some(e) = io_error {
        return Err(e).context("writing the report");
    }
    Ok(match outcome {
        Outcome::Compliant => ExitCode::SUCCESS,
        Outcome::NonCompliant => ExitCode::from(1),
        Outcome::Incomplete => {
            eprintln!(
                "interdict agent: incomplete: a source failed or the server was not reached; \
                 undelivered check-ins stay queued for the next run"
            );
            ExitCode::from(2)
        }
    })
}
