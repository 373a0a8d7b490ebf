//! `interdict token create --role R`: a new admin token, straight in the database.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use storage::Role;

use crate::init_cmd::{runtime, StoreArgs};

/// `interdict token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Create an API token with a role (viewer, analyst, approver, admin); printed once.
    Create(CreateArgs),
}

/// Arguments of `interdict token create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// viewer, analyst, approver or admin.
    #[arg(long)]
    role: Role,
    /// A label for the token (e.g. who holds it).
    #[arg(long, default_value = "")]
    name: String,
    /// Print {"id", "role", "token"} as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cmd: TokenCmd) -> anyhow::Result<ExitCode> {
    let TokenCmd::Create(args) = cmd;
    runtime()?.block_on(async {
        let store = args.store.open().await?;
        let (id, token) = store.create_api_token(args.role, &args.name, "cli").await?;
        store.close().await;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"id": id, "role": args.role, "token": token})
            );
        } else {
            println!("{token}");
        }
        Ok(ExitCode::SUCCESS)
    })
}
