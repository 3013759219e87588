//! Importing closed-won deals, contacts, promises and account economics from
//! CRM exports (HubSpot, Salesforce, or any CSV through a column mapping).
//!
//! Where each rule lives:
//! - [`text`]: **which bytes are accepted**: UTF-8 (a BOM is dropped), or
//!   Windows-1252 when asked for; anything else is refused, naming the line;
//! - [`table`]: **reading the CSV**: the delimiter (`,`, `;` or tab, guessed
//!   from the header line), line numbers (the header is line 1), rows whose
//!   number of values does not match the header;
//! - [`columns`]: **which column holds which field**: the HubSpot and
//!   Salesforce headers, Aftercare's own field names, and the mapping file;
//! - [`values`]: **what a date, an amount, a percentage, a closed-won stage
//!   and an owner look like** in an export;
//! - [`deals`]: closed-won deals: only won rows, idempotent by the CRM's
//!   record id, a changed row updates the CRM fields only; written in bulk;
//! - [`contacts`], [`promises`], [`economics`]: the other imports, with the
//!   same checks as the web forms;
//! - [`report`]: what happened to each row (created, updated, unchanged,
//!   skipped, error) and the errors with line, column and reason;
//! - [`stored`]: the `imports` table: a previewed upload, applied or
//!   discarded later, and the record of every applied import.
//!
//! The rules every import shares ([`run`]): the whole file is checked before
//! anything is written; by default a file with any bad row imports nothing,
//! and with [`Options::skip_invalid`] the good rows are imported; a dry run
//! writes nothing; all writes of one import happen in one transaction, so a
//! failure half-way leaves the database as it was. An import that changes
//! no row writes nothing at all (no audit entry either), so importing the
//! same file twice changes nothing.

pub mod columns;
pub mod contacts;
pub mod deals;
pub mod economics;
pub mod promises;
pub mod report;
pub mod stored;
pub mod table;
pub mod text;
pub mod values;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde::{Deserialize, Serialize};

pub use report::{Outcome, Report, RowError, RowOutcome};

use crate::{AppError, AppResult};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Closed-won deals.
    Deals,
    /// People at customer accounts.
    Contacts,
    /// Promises of value on deals.
    Promises,
    /// ARR, gross margin and CAC of accounts.
    Economics,
}

impl Kind {
    /// Every kind, in the order forms list them.
    pub const ALL: [Kind; 4] = [Kind::Deals, Kind::Contacts, Kind::Promises, Kind::Economics];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Deals => "deals",
            Kind::Contacts => "contacts",
            Kind::Promises => "promises",
            Kind::Economics => "economics",
        }
    }

    /// Parses a stored or typed name.
    pub fn parse(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == value.trim().to_lowercase())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a file is read and applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Options {
    /// Check and report, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Import the good rows of a file that has bad ones.
    #[serde(default)]
    pub skip_invalid: bool,
    /// The stage values that mean closed-won (deals); empty means the
    /// default, which matches HubSpot's and Salesforce's "Closed Won".
    #[serde(default)]
    pub won_stages: Vec<String>,
    /// Read `1/2/2026` as 1 February (day first) instead of the US 2 January.
    #[serde(default)]
    pub day_first: bool,
    /// A column mapping (`field = Column Name` lines), see [`columns`].
    #[serde(default)]
    pub mapping: Option<String>,
}

/// How far an import has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// What is being done: `checking` (bytes read) or `writing` (rows).
    pub phase: &'static str,
    /// How much is done.
    pub done: u64,
    /// Out of how much.
    pub total: u64,
}

/// Receives progress; `&|_| {}` ignores it.
pub type Progress<'a> = &'a (dyn Fn(Step) + Sync);

/// Imports `text` (a decoded CSV file, see [`text::decode`]) as `kind`.
/// Checks every row first; writes in one transaction unless this is a dry
/// run, or the file has bad rows and `skip_invalid` is off. `actor` is the
/// user who imports (`None`: the command line).
pub async fn run(
    db: &DatabaseConnection,
    kind: Kind,
    text: &str,
    options: &Options,
    actor: Option<i32>,
    now: DateTime<Utc>,
    progress: Progress<'_>,
) -> AppResult<Report> {
    let table = match table::Table::read(text) {
        Ok(table) => table,
        Err(error) => return Ok(Report::refused_file(kind, "unknown", error)),
    };
    let columns = match columns::resolve(kind, table.headers(), options.mapping.as_deref()) {
        Ok(columns) => columns,
        Err(errors) => return Ok(Report::refused_file(kind, "unknown", errors)),
    };
    let context = Context { options, actor, now, progress };
    if options.dry_run {
        return plan_and_apply(db, kind, &table, &columns, &context, false).await;
    }
    let txn = crate::db::begin_write(db).await?;
    let report = plan_and_apply(&txn, kind, &table, &columns, &context, true).await?;
    if report.applied {
        txn.commit().await?;
    }
    Ok(report)
}

/// What every kind's import reads besides the file.
pub(crate) struct Context<'a> {
    /// How the file is read and applied.
    pub options: &'a Options,
    /// Who imports.
    pub actor: Option<i32>,
    /// The import's instant.
    pub now: DateTime<Utc>,
    /// Where progress goes.
    pub progress: Progress<'a>,
}

impl Context<'_> {
    /// Whether the checked rows may be written: not a dry run, and either no
    /// row is bad or bad rows are to be skipped.
    pub fn may_write(&self, report: &Report, writable: bool) -> bool {
        writable && !self.options.dry_run && (report.error_rows == 0 || self.options.skip_invalid)
    }
}

/// Checks the file with `kind`'s rules through `db` (the pool for a dry run,
/// else the import's transaction) and writes it when it may.
async fn plan_and_apply(
    db: &impl ConnectionTrait,
    kind: Kind,
    table: &table::Table<'_>,
    columns: &columns::Columns,
    context: &Context<'_>,
    writable: bool,
) -> AppResult<Report> {
    match kind {
        Kind::Deals => deals::import(db, table, columns, context, writable).await,
        Kind::Contacts => contacts::import(db, table, columns, context, writable).await,
        Kind::Promises => promises::import(db, table, columns, context, writable).await,
        Kind::Economics => economics::import(db, table, columns, context, writable).await,
    }
}

/// Turns a unique violation while writing (another change wrote the same CRM
/// id or account name meanwhile) into a conflict the user can act on.
pub(crate) fn write_error(error: sea_orm::DbErr) -> AppError {
    if matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) {
        AppError::conflict(
            "import_conflict",
            "another change wrote some of these records while the import ran; nothing was imported, run it again",
        )
    } else {
        error.into()
    }
}
