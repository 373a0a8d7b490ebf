//! `interdict user add|list|disable|enable|set-role|sign-out|set-password`: accounts, managed
//! on the server host straight in the database (each change an event, actor `cli`).

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use storage::{Audit, NewUser, Role, Store};

use crate::init_cmd::{runtime, StoreArgs};

/// `interdict user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    /// Create a person (email, local password and/or single sign-on) or a service account.
    ///
    /// Examples:
    ///   echo 'a long passphrase' | interdict user add --email ana@example.org --name "Ana" --role admin --password-stdin
    ///   interdict user add --email bo@example.org --name "Bo" --role approver --sso-only
    ///   interdict user add --service --name "MDM sync" --role analyst
    #[command(verbatim_doc_comment)]
    Add(AddArgs),
    /// List accounts (never passwords).
    List(ListArgs),
    /// Disable an account: its sessions end and its tokens stop working at once.
    Disable(IdArgs),
    /// Re-enable a disabled account.
    Enable(IdArgs),
    /// Change an account's role (viewer, analyst, approver, admin).
    SetRole(SetRoleArgs),
    /// Set a person's local password (from stdin or a file); ends their sessions.
    SetPassword(SetPasswordArgs),
    /// End every browser session of an account.
    SignOut(IdArgs),
}

/// Arguments of `interdict user add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The person's email (their sign-in name, and the link to their single sign-on identity).
    #[arg(long, required_unless_present = "service")]
    email: Option<String>,
    /// Display name shown in events and listings.
    #[arg(long)]
    name: String,
    /// viewer, analyst, approver or admin.
    #[arg(long)]
    role: Role,
    /// Read the initial password from the first line of standard input (at least 12
    /// characters, not a common password).
    #[arg(long, conflicts_with_all = ["password_file", "sso_only", "service"])]
    password_stdin: bool,
    /// Read the initial password from the first line of this file.
    #[arg(long, conflicts_with_all = ["sso_only", "service"])]
    password_file: Option<PathBuf>,
    /// No local password: the person signs in only through single sign-on.
    #[arg(long, conflicts_with = "service")]
    sso_only: bool,
    /// A service account (no email, no password): it acts through API tokens
    /// (`interdict token create --user ID`).
    #[arg(long)]
    service: bool,
    /// Print the account as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments naming one account.
#[derive(Debug, Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Account id (usr_...) or a person's email.
    user: String,
}

/// Arguments of `interdict user set-role`.
#[derive(Debug, Args)]
pub(crate) struct SetRoleArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Account id (usr_...) or a person's email.
    user: String,
    /// viewer, analyst, approver or admin.
    role: Role,
}

/// Arguments of `interdict user set-password`.
#[derive(Debug, Args)]
pub(crate) struct SetPasswordArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Account id (usr_...) or a person's email.
    user: String,
    /// Read the password from this file's first line instead of standard input.
    #[arg(long)]
    password_file: Option<PathBuf>,
}

/// Arguments of `interdict user list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

fn first_line(file: Option<&PathBuf>) -> anyhow::Result<String> {
    let mut line = String::new();
    match file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading the password from {}", p.display()))?;
            line = text.lines().next().unwrap_or("").to_string();
        }
        None => {
            if std::io::stdin().is_terminal() {
                eprintln!("Password (at least 12 characters; input is visible), then Enter:");
            }
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
        }
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn hash(password: &str) -> anyhow::Result<String> {
    storage::hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Finds an account by id or email.
async fn resolve(store: &Store, user: &str) -> anyhow::Result<String> {
    if user.starts_with("usr_") {
        return Ok(store
            .user(user)
            .await
            .with_context(|| format!("no account {user}"))?
            .id);
    }
    store
        .user_for_sign_in(user)
        .await?
        .map(|(u, _)| u.id)
        .ok_or_else(|| anyhow::anyhow!("no person with email {user} (see `interdict user list`)"))
}

pub(crate) fn run(cmd: UserCmd) -> anyhow::Result<ExitCode> {
    let audit = Audit::local("cli");
    runtime()?.block_on(async {
        match cmd {
            UserCmd::Add(a) => {
                let password_hash = if a.password_stdin || a.password_file.is_some() {
                    Some(hash(&first_line(a.password_file.as_ref())?)?)
                } else {
                    if !a.sso_only && !a.service {
                        anyhow::bail!(
                            "say how this person signs in: --password-stdin, --password-file FILE, or --sso-only"
                        );
                    }
                    None
                };
                let store = a.store.open().await?;
                let user = store
                    .create_user(
                        &NewUser {
                            service: a.service,
                            email: a.email,
                            display_name: a.name,
                            role: a.role,
                            password_hash,
                        },
                        &audit,
                    )
                    .await?;
                store.close().await;
                if a.json {
                    println!("{}", serde_json::to_string(&user)?);
                } else {
                    println!(
                        "Created {} {} ({}, {}).",
                        user.kind,
                        user.id,
                        user.email.as_deref().unwrap_or(&user.display_name),
                        user.role.as_str()
                    );
                    if a.service {
                        println!(
                            "Give it a token: interdict token create --user {} --role {}",
                            user.id,
                            user.role.as_str()
                        );
                    }
                }
            }
            UserCmd::List(a) => {
                let store = a.store.open().await?;
                let users = store.users().await?;
                store.close().await;
                if a.json {
                    println!("{}", serde_json::to_string(&users)?);
                } else {
                    println!("{:<28} {:<8} {:<9} {:<8} EMAIL / NAME", "ID", "KIND", "ROLE", "STATUS");
                    for u in users {
                        println!(
                            "{:<28} {:<8} {:<9} {:<8} {} ({})",
                            u.id,
                            u.kind,
                            u.role.as_str(),
                            u.status,
                            u.email.as_deref().unwrap_or("-"),
                            u.display_name.replace(char::is_control, "?")
                        );
                    }
                }
            }
            UserCmd::Disable(a) => {
                let store = a.store.open().await?;
                let id = resolve(&store, &a.user).await?;
                let u = store.set_user_active(&id, false, &audit).await?;
                store.close().await;
                println!("Disabled {}; its sessions ended and its tokens no longer work.", u.id);
            }
            UserCmd::Enable(a) => {
                let store = a.store.open().await?;
                let id = resolve(&store, &a.user).await?;
                let u = store.set_user_active(&id, true, &audit).await?;
                store.close().await;
                println!("Enabled {}.", u.id);
            }
            UserCmd::SignOut(a) => {
                let store = a.store.open().await?;
                let id = resolve(&store, &a.user).await?;
                let n = store.end_all_sessions(&id, &audit).await?;
                store.close().await;
                println!("Ended {n} session(s) of {id}.");
            }
            UserCmd::SetRole(a) => {
                let store = a.store.open().await?;
                let id = resolve(&store, &a.user).await?;
                let u = store.set_user_role(&id, a.role, &audit).await?;
                store.close().await;
                println!("{} is now {}.", u.id, u.role.as_str());
            }
            UserCmd::SetPassword(a) => {
                let phc = hash(&first_line(a.password_file.as_ref())?)?;
                let store = a.store.open().await?;
                let id = resolve(&store, &a.user).await?;
                store.set_user_password(&id, &phc, &audit).await?;
                store.close().await;
                println!("Password set for {id}; its sessions ended.");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
