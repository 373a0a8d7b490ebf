//! `interdict token create|list|revoke`: API tokens, straight in the database. Each change is
//! an event (actor `cli`); a revoked token is refused at once by every server, since servers
//! check tokens against the database on every request.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use storage::{Audit, Role};

use crate::init_cmd::{runtime, StoreArgs};

/// `interdict token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Create an API token with a role (viewer, analyst, approver, admin); printed once.
    ///
    /// With --user the token acts for that account (a person or a service account): events
    /// name the account, and the token never has more than the account's role.
    #[command(verbatim_doc_comment)]
    Create(CreateArgs),
    /// List tokens (id, name, role, owner, created, revoked); never their secrets.
    List(ListArgs),
    /// Revoke a token by id (tok_...); every server refuses it from the next request on.
    Revoke(RevokeArgs),
}

/// Arguments of `interdict token create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// viewer, analyst, approver or admin.
    #[arg(long)]
    role: Role,
    /// A label for the token (e.g. what uses it).
    #[arg(long, default_value = "")]
    name: String,
    /// The account (usr_... id) the token acts for.
    #[arg(long)]
    user: Option<String>,
    /// Print {"id", "role", "token", "user_id"} as JSON.
    #[arg(long)]
    json: bool,
}

/// Arguments of `interdict token list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Only this account's tokens.
    #[arg(long)]
    user: Option<String>,
    /// Print a JSON array.
    #[arg(long)]
    json: bool,
}

/// Arguments of `interdict token revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Token id (tok_..., from `interdict token list`).
    id: String,
}

pub(crate) fn run(cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let audit = Audit::local("cli");
    runtime()?.block_on(async {
        match cmd {
            TokenCmd::Create(args) => {
                let store = args.store.open().await?;
                let (id, token) = match &args.user {
                    Some(u) => {
                        store
                            .create_user_token(u, args.role, &args.name, &audit)
                            .await?
                    }
                    None => store.create_api_token(args.role, &args.name, "cli").await?,
                };
                store.close().await;
                if args.json {
                    println!(
                        "{}",
                        serde_json::json!({"id": id, "role": args.role, "token": token, "user_id": args.user})
                    );
                } else {
                    println!("{token}");
                }
            }
            TokenCmd::List(args) => {
                let store = args.store.open().await?;
                let tokens = store.api_tokens(args.user.as_deref()).await?;
                store.close().await;
                if args.json {
                    println!("{}", serde_json::to_string(&tokens)?);
                } else {
                    println!(
                        "{:<28} {:<9} {:<28} {:<8} NAME",
                        "ID", "ROLE", "OWNER", "STATE"
                    );
                    for t in tokens {
                        println!(
                            "{:<28} {:<9} {:<28} {:<8} {}",
                            t.id,
                            t.role.as_str(),
                            t.user_id.as_deref().unwrap_or("-"),
                            if t.revoked_at.is_some() { "revoked" } else { "active" },
                            t.name.replace(char::is_control, "?")
                        );
                    }
                }
            }
            TokenCmd::Revoke(args) => {
                let store = args.store.open().await?;
                let res = store.revoke_token(&args.id, &audit).await;
                store.close().await;
                match res {
                    Ok(()) => println!("Revoked {}.", args.id),
                    Err(storage::StorageError::NotFound) => anyhow::bail!(
                        "no token {} (see `interdict token list`)",
                        args.id
                    ),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
