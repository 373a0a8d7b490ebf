//! `interdict init`: create the data store, the first admin token and an enrollment secret.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use storage::{Role, Store};

/// Where the server keeps its data.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreArgs {
    /// Data directory (SQLite database `interdict.db` inside).
    #[arg(long, default_value = "interdict-data")]
    pub(crate) data_dir: PathBuf,
    /// Database URL instead of the data directory's SQLite file (postgres://... or sqlite://...).
    #[arg(long)]
    pub(crate) database: Option<String>,
}

impl StoreArgs {
    pub(crate) async fn open(&self) -> anyhow::Result<Store> {
        let url = match &self.database {
            Some(u) => u.clone(),
            None => {
                storage::create_data_dir(&self.data_dir)
                    .with_context(|| format!("creating {}", self.data_dir.display()))?;
                Store::sqlite_url(&self.data_dir)
            }
        };
        Store::connect(&url)
            .await
            .with_context(|| "opening the database".to_string())
    }
}

/// Arguments of `interdict init`.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Print {"admin_token", "enroll_secret"} as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub(crate) fn run(args: InitArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = args.store.open().await?;
        if store.meta("initialized_at").await?.is_some() {
            anyhow::bail!(
                "the data store is already initialized (create more tokens with `interdict token create`)"
            );
        }
        let (_, admin) = store.create_api_token(Role::Admin, "init", "init").await?;
        let secret = store.create_enroll_secret(&[], "init").await?;
        store
            .set_meta("initialized_at", &storage::now_ms().to_string())
            .await?;
        store.close().await;
        // The checkpoint signing key lives in the data directory (with --database, only if
        // that directory exists: it is then the server's key directory).
        let vkey = if args.store.database.is_none() || args.store.data_dir.is_dir() {
            Some(crate::audit_cmd::ensure_key(&args.store.data_dir)?)
        } else {
            None
        };
        if args.json {
            println!(
                "{}",
                serde_json::json!({"admin_token": admin, "enroll_secret": secret, "ledger_verifier_key": vkey})
            );
        } else {
            println!("Initialized the data store.");
            println!();
            println!("Admin token (shown once; keep it secret):\n  {admin}");
            println!("Enrollment secret (give it to your devices):\n  {secret}");
            match &vkey {
                Some(vkey) => {
                    println!(
                        "Audit ledger verifier key (publish it; auditors check checkpoints with it):\n  {vkey}"
                    );
                    println!(
                        "  (signing key: {}, mode 0600)",
                        args.store.data_dir.join(crate::audit_cmd::KEY_FILE).display()
                    );
                }
                None => println!(
                    "No audit checkpoint key: create --data-dir DIR and run init with it to have one."
                ),
            }
            println!();
            println!("Create the first admin user (a person who signs in; the admin token above is");
            println!("for scripts, and can be revoked with `interdict token revoke` once you have one):");
            println!("  interdict user add --email you@example.org --name \"Your Name\" --role admin --password-stdin");
            println!("  (then type a passphrase of at least 12 characters; or --sso-only with single sign-on,");
            println!("   see docs/operations.md)");
            println!();
            println!("Next:");
            println!("  interdict serve --listen 127.0.0.1:8080");
            println!("  curl -c cookies -H 'Content-Type: application/json' \\");
            println!("       -d '{{\"email\":\"you@example.org\",\"password\":\"...\"}}' http://127.0.0.1:8080/api/v1/sign-in");
            println!("  curl -X PUT -H 'Authorization: Bearer {admin}' \\");
            println!("       --data-binary @examples/canada-gc-mobile-v2.toml http://127.0.0.1:8080/api/v1/policy");
        }
        Ok(ExitCode::SUCCESS)
    })
}
