//! The database connection: SQLite (embedded default) or PostgreSQL.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::SqliteJournalMode;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};

/// Connects to `url`, creating the SQLite file and its folder when missing.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let url = if let Some(path) = sqlite_path(url) {
        if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating the database folder {}", parent.display()))?;
        }
        if url.contains('?') { url.to_owned() } else { format!("{url}?mode=rwc") }
    } else {
        url.to_owned()
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers and the writer proceed together; the busy timeout
        // makes writers queue instead of failing under contention.
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(SqliteJournalMode::Wal).busy_timeout(Duration::from_secs(10)).foreign_keys(true)
        });
    Database::connect(options).await.context("connecting to the database")
}

/// Begins a transaction that will write. On SQLite it takes the write lock
/// up front (`BEGIN IMMEDIATE`), so concurrent writers queue on the busy
/// timeout instead of failing when a read lock cannot be upgraded; on
/// PostgreSQL it is a plain `BEGIN`.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options =
        TransactionOptions { sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate), ..Default::default() };
    db.begin_with_options(options).await
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        // One process owns a SQLite file; several instances need PostgreSQL.
        return Migrator::up(db, None).await.context("applying migrations");
    }
    // Several instances may start at once: the first takes this advisory
    // lock (held by an open transaction, released when it ends) and
    // migrates; the others wait for it, then find nothing left to apply.
    let guard = db.begin().await.context("opening the migration lock's transaction")?;
    guard
        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await
        .context("taking the migration lock")?;
    let applied = Migrator::up(db, None).await.context("applying migrations");
    guard.commit().await.context("releasing the migration lock")?;
    applied
}

/// The PostgreSQL advisory lock key migrations run under ("AFTRCARE").
pub const MIGRATION_LOCK: i64 = 0x4146_5452_4341_5245;

fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The most ids one `IN (...)` list carries: far fewer statements than
/// row-by-row at scale, and well inside SQLite's 32 766 and PostgreSQL's
/// 65 535 bind parameters.
pub const IN_LIST: usize = 5_000;

/// Builds SQL with the right placeholders for the backend.
pub(crate) struct Sql {
    pub(crate) backend: DbBackend,
    pub(crate) text: String,
    pub(crate) values: Vec<Value>,
}

impl Sql {
    /// Starts an empty statement for `backend`.
    pub(crate) fn new(backend: DbBackend) -> Self {
        Self { backend, text: String::new(), values: Vec::new() }
    }

    /// Adds a parameter; returns its placeholder.
    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    /// The statement, ready to run.
    pub(crate) fn statement(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}
