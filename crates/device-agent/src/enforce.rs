//! Carrying out the server's actions: from an action and the package manager that reported
//! the app, to the exact command that removes it, and its result.
//!
//! | origin | `uninstall` |
//! |---|---|
//! | dpkg | `apt-get remove -y -- PKG` (`dpkg --remove -- PKG` without apt-get) |
//! | rpm | `dnf remove -y PKG` (`yum remove -y PKG`, then `rpm -e PKG`) |
//! | flatpak | `flatpak uninstall -y --noninteractive ID` |
//! | snap | `snap remove NAME` |
//! | adb | `adb -s SERIAL shell pm uninstall --user 0 PKG` |
//! | file | not possible (the inventory describes another system) → `failed` |
//!
//! `block` has no package-manager equivalent on Linux or over ADB (blocking is an MDM
//! feature): it is reported `failed` with that reason and not retried. `notify` has no
//! channel to the device's user here: it is reported `skipped` and logged.
//!
//! Idempotent: an app that is no longer installed is reported `done`, `already absent`,
//! and no command runs. Nothing goes through a shell; the app id must look like a package
//! name (no leading `-`, no whitespace or control characters; `[A-Za-z0-9._]` over ADB,
//! whose arguments the device's shell reads).

use std::time::Duration;

use crate::client::ServerAction;
use crate::queue::ActionResult;
use crate::source::{command_line, find_program, parse::is_android_package, run_command, Origin};

/// Longest a removal command may run.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(600);

/// What the agent does with the server's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Print them; change nothing and send no results (the default).
    Report,
    /// Work out the exact command, print it, and report it as `dry_run`.
    DryRun,
    /// Run the command and report `done` or `failed`.
    Enforce,
}

/// A command to run: program and arguments (never a shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Command {
    fn new(program: &str, args: &[&str]) -> Self {
        Command {
            program: program.to_string(),
            args: args.iter().map(|a| (*a).to_string()).collect(),
            env: Vec::new(),
        }
    }

    /// The command line as printed and reported.
    pub fn line(&self) -> String {
        command_line(&self.program, &self.args)
    }
}

fn plausible_package(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 512
        && !id.starts_with('-')
        && !id.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The command that removes `app_id`, found by `origin`, given which programs exist.
/// `Err` is why it cannot be removed from here.
pub fn removal_command(
    origin: &Origin,
    app_id: &str,
    has_program: &dyn Fn(&str) -> bool,
) -> Result<Command, String> {
    if !plausible_package(app_id) {
        return Err(format!("refusing to pass {app_id:?} to a package manager"));
    }
    match origin {
        Origin::Dpkg => {
            if has_program("apt-get") {
                let mut c = Command::new("apt-get", &["remove", "-y", "--", app_id]);
                c.env
                    .push(("DEBIAN_FRONTEND".into(), "noninteractive".into()));
                Ok(c)
            } else {
                Ok(Command::new("dpkg", &["--remove", "--", app_id]))
            }
        }
        Origin::Rpm => {
            if has_program("dnf") {
                Ok(Command::new("dnf", &["remove", "-y", app_id]))
            } else if has_program("yum") {
                Ok(Command::new("yum", &["remove", "-y", app_id]))
            } else {
                Ok(Command::new("rpm", &["-e", app_id]))
            }
        }
        Origin::Flatpak => Ok(Command::new(
            "flatpak",
            &["uninstall", "-y", "--noninteractive", app_id],
        )),
        Origin::Snap => Ok(Command::new("snap", &["remove", app_id])),
        Origin::Adb { serial } => {
            if !is_android_package(app_id) {
                return Err(format!("{app_id:?} is not an Android package name"));
            }
            if serial.is_empty() || serial.starts_with('-') || serial.contains(char::is_whitespace)
            {
                return Err(format!("bad ADB serial {serial:?}"));
            }
            Ok(Command::new(
                "adb",
                &[
                    "-s",
                    serial,
                    "shell",
                    "pm",
                    "uninstall",
                    "--user",
                    "0",
                    app_id,
                ],
            ))
        }
        Origin::File => Err(
            "the app was reported by an inventory file: the agent cannot remove it from here"
                .into(),
        ),
    }
}

/// What carrying out one action produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The result for the server.
    pub result: ActionResult,
    /// Whether a later cycle may carry out the same action again.
    pub retry: bool,
    /// Whether a command was (or, in a dry run, would have been) run.
    pub ran: bool,
}

fn result(
    a: &ServerAction,
    status: &str,
    detail: String,
    command: Option<String>,
    at_ms: i64,
) -> ActionResult {
    ActionResult {
        id: a.id.clone(),
        app_id: a.app_id.clone(),
        kind: a.kind.clone(),
        status: status.to_string(),
        detail,
        command,
        at_ms,
    }
    .clamp()
}

/// Carries out `action` on an app found by `origin` (`None`: not installed any more).
/// Call it only in [`Mode::DryRun`] or [`Mode::Enforce`].
pub async fn carry_out(
    action: &ServerAction,
    origin: Option<&Origin>,
    mode: Mode,
    now_ms: i64,
) -> Outcome {
    let out =
        |status: &str, detail: String, command: Option<String>, retry: bool, ran: bool| Outcome {
            result: result(action, status, detail, command, now_ms),
            retry,
            ran,
        };
    if action.kind == "notify" {
        return out(
            "skipped",
            format!(
                "notify: the agent has no channel to the device's user; logged only (rule {})",
                action.rule
            ),
            None,
            false,
            false,
        );
    }
    let Some(origin) = origin else {
        return out("done", "already absent".into(), None, true, false);
    };
    if action.kind != "uninstall" {
        return out(
            "failed",
            format!(
                "{}: not supported by this agent (no package manager can block an app; use an \
                 MDM, or a rule with remedy = \"uninstall\")",
                action.kind
            ),
            None,
            false,
            false,
        );
    }
    let cmd = match removal_command(origin, &action.app_id, &|p| find_program(p).is_some()) {
        Ok(c) => c,
        Err(reason) => return out("failed", reason, None, false, false),
    };
    let line = cmd.line();
    match mode {
        Mode::Report | Mode::DryRun => out(
            "dry_run",
            format!("dry run: would run {line}"),
            Some(line),
            false,
            true,
        ),
        Mode::Enforce => {
            let r = run_with_env(&cmd).await;
            match r {
                Ok(o) if o.success && !adb_failure(origin, &o.stdout) => {
                    out("done", "removed".into(), Some(line), true, true)
                }
                Ok(o) => {
                    let code = o
                        .code
                        .map_or_else(|| "killed by a signal".to_string(), |c| format!("exit {c}"));
                    let why = if o.stderr.trim().is_empty() {
                        &o.stdout
                    } else {
                        &o.stderr
                    };
                    out(
                        "failed",
                        format!("{code}: {}", tail(why, 1500)),
                        Some(line),
                        true,
                        true,
                    )
                }
                Err(e) => out("failed", e, Some(line), true, true),
            }
        }
    }
}

/// `pm uninstall` exits 0 on some Android versions even when it prints `Failure [...]`.
fn adb_failure(origin: &Origin, stdout: &str) -> bool {
    matches!(origin, Origin::Adb { .. }) && !stdout.contains("Success")
}

fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(max)).collect()
}

async fn run_with_env(cmd: &Command) -> Result<crate::source::CommandOutput, String> {
    run_command(&cmd.program, &cmd.args, &cmd.env, REMOVAL_TIMEOUT).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(_: &str) -> bool {
        true
    }
    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn commands_per_origin() {
        let line = |o: &Origin, id: &str, has: &dyn Fn(&str) -> bool| {
            removal_command(o, id, has).map(|c| c.line())
        };
        assert_eq!(
            line(&Origin::Dpkg, "libstdc++6", &all).unwrap(),
            "apt-get remove -y -- libstdc++6"
        );
        assert_eq!(
            line(&Origin::Dpkg, "kav", &none).unwrap(),
            "dpkg --remove -- kav"
        );
        assert_eq!(
            line(&Origin::Rpm, "kesl", &all).unwrap(),
            "dnf remove -y kesl"
        );
        assert_eq!(
            line(&Origin::Rpm, "kesl", &|p| p == "yum").unwrap(),
            "yum remove -y kesl"
        );
        assert_eq!(line(&Origin::Rpm, "kesl", &none).unwrap(), "rpm -e kesl");
        assert_eq!(
            line(&Origin::Flatpak, "com.tencent.WeChat", &all).unwrap(),
            "flatpak uninstall -y --noninteractive com.tencent.WeChat"
        );
        assert_eq!(
            line(&Origin::Snap, "wechat", &all).unwrap(),
            "snap remove wechat"
        );
        let adb = Origin::Adb {
            serial: "R58N123".into(),
        };
        assert_eq!(
            line(&adb, "com.tencent.mm", &all).unwrap(),
            "adb -s R58N123 shell pm uninstall --user 0 com.tencent.mm"
        );
        assert!(line(&adb, "com.x;reboot", &all).is_err());
        assert!(line(&Origin::Dpkg, "-oDir=/tmp", &all).is_err());
        assert!(line(&Origin::Dpkg, "a b", &all).is_err());
        assert!(line(&Origin::File, "x", &all).is_err());
    }

    fn action(kind: &str) -> ServerAction {
        ServerAction {
            id: "a1".into(),
            kind: kind.into(),
            app_id: "kav".into(),
            rule: "r".into(),
            deadline: None,
        }
    }

    #[tokio::test]
    async fn absent_block_notify_and_dry_run() {
        let o = carry_out(&action("uninstall"), None, Mode::Enforce, 5).await;
        assert_eq!(
            (o.result.status.as_str(), o.result.detail.as_str()),
            ("done", "already absent")
        );
        assert!(!o.ran && o.result.command.is_none());
        let o = carry_out(&action("block"), Some(&Origin::Dpkg), Mode::Enforce, 5).await;
        assert_eq!(o.result.status, "failed");
        assert!(!o.retry && !o.ran);
        let o = carry_out(&action("notify"), Some(&Origin::Dpkg), Mode::Enforce, 5).await;
        assert_eq!(o.result.status, "skipped");
        let o = carry_out(&action("uninstall"), Some(&Origin::Snap), Mode::DryRun, 5).await;
        assert_eq!(o.result.status, "dry_run");
        assert_eq!(o.result.command.as_deref(), Some("snap remove kav"));
        assert_eq!(o.result.at_ms, 5);
        let o = carry_out(&action("uninstall"), Some(&Origin::File), Mode::Enforce, 5).await;
        assert_eq!(o.result.status, "failed");
        assert!(o.result.command.is_none());
    }

    #[tokio::test]
    async fn a_failing_command_is_failed_with_its_reason() {
        // Run for real: `adb` is missing here, or has no such device; either way it fails
        // and changes nothing.
        let o = carry_out(
            &ServerAction {
                app_id: "com.example.nosuch".into(),
                ..action("uninstall")
            },
            Some(&Origin::Adb {
                serial: "interdict-no-such-device".into(),
            }),
            Mode::Enforce,
            5,
        )
        .await;
        assert_eq!(o.result.status, "failed", "{o:?}");
        assert!(!o.result.detail.is_empty());
    }
}
