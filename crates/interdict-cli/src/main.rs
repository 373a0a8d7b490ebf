//! `interdict`: assess untrusted apps, decide a ban list, enforce it, prove it.
//!
//! This crate is the only one that knows clap and the terminal.
//! Each subcommand parses its arguments, does the file I/O and calls a library crate.

mod agent_cmd;
mod assess_cmd;
mod assess_ipa;
mod audit_cmd;
mod connector_cmd;
mod html;
mod init_cmd;
mod intel_cmd;
mod inventory_cmd;
mod net_cmd;
mod policy_cmd;
mod serve_cmd;
mod simulate_cmd;
mod taxii;
mod token_cmd;
mod trackers_cmd;
mod user_cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Enforce a prohibited-applications directive on the devices your organization issues:
/// from evidence (assess), to decision (policy), to removal and proof.
#[derive(Debug, Parser)]
#[command(name = "interdict", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Statically analyse untrusted APKs and IPAs without running or extracting them.
    ///
    /// Reads each APK the way Android does (central directory first, attributes
    /// by resource id, DEX files in ART's load order) and reports identity,
    /// permissions, components, code and every structural anomaly. Reads each
    /// IPA (iOS) from Payload/<Name>.app/: Info.plist, extensions, Mach-O load
    /// commands, code signature, entitlements, provisioning profile and privacy
    /// manifests, and lists every bundle id iOS MDM can block.
    ///
    /// Examples:
    ///   interdict assess app.apk
    ///   interdict assess --concern CN,RU app.ipa
    ///   interdict assess --format json --output report.json apks/
    ///   interdict assess --format jsonl --jobs 2 a.apk b.apk
    ///
    /// Exit status: 0 when every input was assessed, 2 when any input was
    /// unreadable or not an APK (its error object is still reported).
    #[command(verbatim_doc_comment)]
    Assess(assess_cmd::AssessArgs),
    /// Check, diff, evaluate, export and import prohibited-app policies.
    ///
    /// A policy is a TOML file (see docs/policy.md): rules with matchers, scope,
    /// effective date, grace period, rationale and authority, plus exceptions.
    ///
    /// Examples:
    ///   interdict policy check examples/canada-gc-mobile-v2.toml
    ///   interdict policy eval --policy examples/canada-gc-mobile-v2.toml --inventory devices.json
    ///   interdict policy diff examples/canada-gc-mobile-v1.toml examples/canada-gc-mobile-v2.toml
    ///   interdict policy export --policy examples/canada-gc-mobile-v2.toml --to apple
    #[command(verbatim_doc_comment)]
    Policy {
        #[command(subcommand)]
        cmd: policy_cmd::PolicyCmd,
    },
    /// Normalize MDM inventories (Android Management API, Apple MDM, osquery) into interdict inventory JSON.
    Inventory {
        #[command(subcommand)]
        cmd: inventory_cmd::InventoryCmd,
    },
    /// Manage the tracker database `assess` uses (built-in: Exodus Privacy, ODbL).
    ///
    /// Examples:
    ///   interdict trackers import trackers.json
    ///   interdict trackers list
    #[command(verbatim_doc_comment)]
    Trackers(trackers_cmd::TrackersArgs),
    /// Create the server's data store, the first admin token and an enrollment secret.
    ///
    /// Examples:
    ///   interdict init
    ///   interdict init --data-dir /var/lib/interdict --json
    #[command(verbatim_doc_comment)]
    Init(init_cmd::InitArgs),
    /// Run the fleet server: enrollment, check-ins, compliance, exceptions, policy versions.
    ///
    /// SQLite in --data-dir by default (WAL, synchronous=FULL); --database postgres://...
    /// lets several servers share one PostgreSQL database.
    ///
    /// Examples:
    ///   interdict serve
    ///   interdict serve --listen 0.0.0.0:8080 --database postgres://interdict@db/interdict
    ///   interdict serve --time-zone America/Toronto
    ///
    /// Exit status: 0 stopped by SIGTERM or Ctrl-C; 2 bad arguments, invalid server.toml or
    /// data store not opened; 3 cannot listen (address in use, not allowed, not this machine's);
    /// 4 the database cannot be read at start-up.
    #[command(verbatim_doc_comment)]
    Serve(serve_cmd::ServeArgs),
    /// Manage API tokens (roles: auditor < viewer < analyst < approver < admin; auditor reads
    /// only the audit ledger and reports).
    ///
    /// Examples:
    ///   interdict token create --user usr_... --role viewer --name dashboard
    ///   interdict token list
    ///   interdict token revoke tok_...
    #[command(verbatim_doc_comment)]
    Token {
        #[command(subcommand)]
        cmd: token_cmd::TokenCmd,
    },
    /// Manage accounts: people (local password and/or single sign-on) and service accounts.
    ///
    /// Every decision names the account that made it; two-person rules compare accounts,
    /// so one person holding two tokens or a token and a session is still one person.
    ///
    /// Examples:
    ///   interdict user add --email ana@example.org --name "Ana" --role admin --password-stdin
    ///   interdict user list
    ///   interdict user set-role bo@example.org approver
    ///   interdict user disable bo@example.org
    #[command(verbatim_doc_comment)]
    User {
        #[command(subcommand)]
        cmd: user_cmd::UserCmd,
    },
    /// Enroll simulated devices and drive check-ins against a server (load test).
    ///
    /// All devices enroll from this one address: start the server with
    /// `--enroll-rate-limit 0` (and `--rate-limit 0`), or enrollments beyond its per-address
    /// limit (60 a minute by default) are refused with 429.
    ///
    /// Examples:
    ///   interdict simulate --server http://127.0.0.1:8080 --enroll-secret S --devices 1000 --apps-per-device 50 --duration 10
    #[command(verbatim_doc_comment)]
    Simulate(simulate_cmd::SimulateArgs),
    /// Run on a device (or a workstation with Android devices over ADB): report installed
    /// apps to the server and carry out its removals, surviving restarts and outages.
    ///
    /// Sources: dpkg, rpm, flatpak and snap make one device (this machine, platform linux);
    /// each ADB device is its own device; a file source reports the devices of a normalized
    /// inventory JSON. Report-only by default: --enforce removes (apt-get, dnf, flatpak,
    /// snap, `pm uninstall --user 0` over ADB); --dry-run prints and reports the exact
    /// command instead. Check-ins wait in an on-disk queue while the server is unavailable.
    ///
    /// Examples:
    ///   interdict agent --server https://interdict.example.org --enroll-secret S --once
    ///   interdict agent --server https://10.0.0.5:8443 --ca-cert /etc/interdict/ca.pem --once
    ///   interdict agent --server URL --state /var/lib/interdict-agent/state.json --enforce
    ///   interdict agent --server URL --enroll-secret S --source adb --dry-run --once
    ///   interdict agent --server URL --enroll-secret S --source dpkg --source flatpak --json
    ///
    /// Exit status (--once): 0 compliant, 1 non-compliant, 2 error or server unreachable.
    /// Without --once it runs until SIGTERM or Ctrl-C, then exits 0.
    #[command(verbatim_doc_comment)]
    Agent(agent_cmd::AgentArgs),
    /// Threat intelligence (STIX 2.1, MISP, TAXII 2.1) that `assess --intel DIR` matches
    /// apps' endpoints, package and signer digests against.
    ///
    /// Examples:
    ///   interdict intel import feed-bundle.json misp-event.json
    ///   interdict intel pull --taxii http://127.0.0.1:5000/api1/ --collection ID
    ///   interdict assess --intel intel app.apk
    #[command(verbatim_doc_comment)]
    Intel {
        #[command(subcommand)]
        cmd: intel_cmd::IntelCmd,
    },
    /// Prove what happened: export the Merkle audit ledger, verify it offline, prove one event,
    /// issue the point-in-time compliance report.
    ///
    /// Every event is a leaf of an RFC 9162 Merkle tree; the server signs checkpoints
    /// (C2SP signed notes, Ed25519) with the key `interdict init` created.
    ///
    /// Examples:
    ///   interdict audit export --data-dir interdict-data --out bundle/
    ///   interdict audit verify bundle/ --trusted earlier.checkpoint
    ///   interdict audit prove --index 41 --out event-41.tlog-proof
    ///   interdict audit check-proof event-41.tlog-proof --key interdict-data/ledger.pub
    ///   interdict audit report --at 2026-12-03T12:00:00Z --format html --out report.html
    #[command(verbatim_doc_comment)]
    Audit {
        #[command(subcommand)]
        cmd: audit_cmd::AuditCmd,
    },
    /// Connectors to MDMs (`[[connector]]` in server.toml): run one sync now.
    ///
    ///   interdict connector sync android --config server.toml --data-dir interdict-data
    ///
    /// `interdict serve --config server.toml` runs each connector on its schedule; see
    /// docs/connectors.md.
    #[command(verbatim_doc_comment)]
    Connector {
        #[command(subcommand)]
        cmd: connector_cmd::ConnectorCmd,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Assess(args) => assess_cmd::run(args),
        Command::Policy { cmd } => policy_cmd::run(cmd),
        Command::Inventory { cmd } => inventory_cmd::run(cmd),
        Command::Trackers(args) => trackers_cmd::run(args).map(|()| ExitCode::SUCCESS),
        Command::Init(args) => init_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Token { cmd } => token_cmd::run(cmd),
        Command::User { cmd } => user_cmd::run(cmd),
        Command::Simulate(args) => simulate_cmd::run(args),
        Command::Agent(args) => agent_cmd::run(args),
        Command::Intel { cmd } => intel_cmd::run(cmd),
        Command::Audit { cmd } => audit_cmd::run(cmd),
        Command::Connector { cmd } => connector_cmd::run(cmd),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("interdict: error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
