//! `interdict inventory …`: normalize what MDMs report into interdict's inventory JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

/// Inventory source format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Source {
    /// Android Management API `Device` JSON (applicationReports[]), one, an array, or a devices.list response.
    Amapi,
    /// Apple MDM `InstalledApplicationList` command response (XML or binary plist).
    Apple,
    /// osquery JSON results of the apps, programs, deb_packages or rpm_packages tables.
    Osquery,
}

/// Device ownership given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OwnershipArg {
    /// Organization-owned ("government-issued").
    Corporate,
    /// Personally owned.
    Personal,
}

/// Device platform given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PlatformArg {
    /// Android.
    Android,
    /// iOS / iPadOS.
    Ios,
    /// macOS.
    Macos,
    /// Windows.
    Windows,
    /// Linux.
    Linux,
}

/// Inventory subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum InventoryCmd {
    /// Convert an MDM's inventory into normalized inventory JSON for `interdict policy eval`:
    /// [{"device": {"id", "platform", "groups", "ownership"}, "apps": [{"id", "version",
    /// "version_code", "signers", "installer"}]}]. Notes on what the source lacks go to stderr.
    ///
    /// Examples:
    ///   interdict inventory import --from amapi device.json --group government-issued > inv.json
    ///   interdict inventory import --from apple response.plist --device-id ipad-42 --ownership corporate
    ///   osqueryi --json 'SELECT * FROM apps' > apps.json && interdict inventory import --from osquery apps.json --device-id mac-7
    ///
    /// Exit status: 0 on success, 2 on unreadable or malformed input.
    #[command(verbatim_doc_comment)]
    #[command(verbatim_doc_comment)]
    Import {
        /// Source format, e.g. `--from amapi`.
        #[arg(long, value_enum)]
        from: Source,
        /// The MDM's output, e.g. `device.json` or `response.plist`.
        file: PathBuf,
        /// Device id when the source has none (Apple without UDID, osquery), e.g. `--device-id mac-7`.
        #[arg(long)]
        device_id: Option<String>,
        /// Put the device(s) in this group (repeatable), e.g. `--group government-issued`.
        #[arg(long = "group", value_name = "GROUP")]
        groups: Vec<String>,
        /// Ownership when the source does not report it, e.g. `--ownership corporate`.
        #[arg(long, value_enum)]
        ownership: Option<OwnershipArg>,
        /// Platform override, e.g. `--platform macos` for an Apple response from a Mac.
        #[arg(long, value_enum)]
        platform: Option<PlatformArg>,
        /// Write here instead of stdout, e.g. `--output inv.json`.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub(crate) fn run(cmd: InventoryCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        InventoryCmd::Import {
            from,
            file,
            device_id,
            groups,
            ownership,
            platform,
            output,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let name = file.display().to_string();
            let opts = app_policy::ImportOptions {
                device_id,
                groups,
                ownership: ownership.map(|o| match o {
                    OwnershipArg::Corporate => app_policy::Ownership::Corporate,
                    OwnershipArg::Personal => app_policy::Ownership::Personal,
                }),
                platform: platform.map(|p| match p {
                    PlatformArg::Android => app_policy::Platform::Android,
                    PlatformArg::Ios => app_policy::Platform::Ios,
                    PlatformArg::Macos => app_policy::Platform::Macos,
                    PlatformArg::Windows => app_policy::Platform::Windows,
                    PlatformArg::Linux => app_policy::Platform::Linux,
                }),
            };
            let text = || {
                String::from_utf8(bytes.clone()).with_context(|| format!("{name}: not UTF-8 text"))
            };
            let imported = match from {
                Source::Amapi => app_policy::import_amapi(&text()?, &name, &opts)?,
                Source::Apple => app_policy::import_apple(&bytes, &name, &opts)?,
                Source::Osquery => app_policy::import_osquery(&text()?, &name, &opts)?,
            };
            for w in &imported.warnings {
                eprintln!("note: {w}");
            }
            let json = serde_json::to_string_pretty(&imported.devices)? + "\n";
            match output {
                Some(p) => std::fs::write(&p, json)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => {
                    use std::io::Write as _;
                    let mut out = std::io::stdout().lock();
                    out.write_all(json.as_bytes())?;
                    out.flush()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
