//! A minimal migration runner: one ordered list of SQL files per backend, applied once each,
//! recorded in `schema_migrations`. Applied migrations are never edited; add a new file.

use sqlx::{AnyPool, Row};

use crate::{Backend, Result, StorageError};

const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "findings_actions_assessments",
        include_str!("../migrations/sqlite/0002_findings_actions_assessments.sql"),
    ),
    (
        4,
        "users_sessions",
        include_str!("../migrations/sqlite/0004_users_sessions.sql"),
    ),
    (
        5,
        "ledger",
        include_str!("../migrations/sqlite/0005_ledger.sql"),
    ),
    (
        6,
        "intel",
        include_str!("../migrations/sqlite/0006_intel.sql"),
    ),
    (
        8,
        "governance",
        include_str!("../migrations/sqlite/0008_governance.sql"),
    ),
    (
        9,
        "enroll_idempotency",
        include_str!("../migrations/sqlite/0009_enroll_idempotency.sql"),
    ),
    (
        10,
        "dashboard",
        include_str!("../migrations/sqlite/0010_dashboard.sql"),
    ),
    (
        11,
        "connectors",
        include_str!("../migrations/sqlite/0011_connectors.sql"),
    ),
    (
        12,
        "scope_reviews",
        include_str!("../migrations/sqlite/0012_scope_reviews.sql"),
    ),
    (
        14,
        "nanomdm",
        include_str!("../migrations/sqlite/0014_nanomdm.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "findings_actions_assessments",
        include_str!("../migrations/postgres/0002_findings_actions_assessments.sql"),
    ),
    (
        4,
        "users_sessions",
        include_str!("../migrations/postgres/0004_users_sessions.sql"),
    ),
    (
        5,
        "ledger",
        include_str!("../migrations/postgres/0005_ledger.sql"),
    ),
    (
        6,
        "intel",
        include_str!("../migrations/postgres/0006_intel.sql"),
    ),
    (
        8,
        "governance",
        include_str!("../migrations/postgres/0008_governance.sql"),
    ),
    (
        9,
        "enroll_idempotency",
        include_str!("../migrations/postgres/0009_enroll_idempotency.sql"),
    ),
    (
        10,
        "dashboard",
        include_str!("../migrations/postgres/0010_dashboard.sql"),
    ),
    (
        11,
        "connectors",
        include_str!("../migrations/postgres/0011_connectors.sql"),
    ),
    (
        12,
        "scope_reviews",
        include_str!("../migrations/postgres/0012_scope_reviews.sql"),
    ),
    (
        14,
        "nanomdm",
        include_str!("../migrations/postgres/0014_nanomdm.sql"),
    ),
];

pub(crate) async fn run(pool: &AnyPool, backend: Backend) -> Result<()> {
    let list = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let mut tx = pool.begin().await?;
    if backend == Backend::Postgres {
        // Several servers may start at once on one database: migrate one at a time.
        sqlx::query("SELECT pg_advisory_xact_lock(7361626)")
            .execute(&mut *tx)
            .await?;
    }
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version BIGINT PRIMARY KEY, name TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let rows = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(&mut *tx)
        .await?;
    let mut applied = Vec::new();
    for r in &rows {
        applied.push(r.try_get::<i64, _>(0)?);
    }
    if let Some(max) = applied.iter().max() {
        if list.iter().all(|(v, _, _)| v < max) {
            return Err(StorageError::Check(format!(
                "database schema version {max} is newer than this server knows"
            )));
        }
    }
    for (version, name, sql) in list {
        if applied.contains(version) {
            continue;
        }
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(*version)
            .bind(*name)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
