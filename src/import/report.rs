//! What an import did, row by row: each data row ends up created, updated,
//! unchanged, skipped (not closed-won) or in error, and every error names
//! its line (the header is line 1), its column and the reason.

use std::collections::HashMap;
use std::hash::Hash;

use serde::{Deserialize, Serialize};

use super::{Kind, Options};

/// How many row outcomes a report keeps (errors are all kept).
pub const SHOWN_OUTCOMES: usize = 200;

/// What happened to one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new record.
    Created,
    /// An existing record whose imported fields changed.
    Updated,
    /// An existing record, already as the file has it.
    Unchanged,
    /// Not imported, and not a mistake (e.g. a deal that is not closed-won).
    Skipped,
    /// The row has a problem; see the errors.
    Error,
}

impl Outcome {
    /// The word reports use.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Error => "error",
        }
    }
}

/// One row's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowOutcome {
    /// The row's line in the file (the header is line 1).
    pub line: u64,
    /// What happened.
    pub outcome: Outcome,
    /// What identifies the record: the CRM id, an email, an account.
    pub key: String,
    /// A name to recognise it by.
    pub label: String,
    /// Why it was skipped, or what changed.
    pub detail: String,
}

/// A problem with a row (or, on line 1, with the header; line 0 is the
/// mapping or the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The line (the header is line 1).
    pub line: u64,
    /// The column as the file names it.
    pub column: Option<String>,
    /// What is wrong, in words a user can act on.
    pub reason: String,
}

impl RowError {
    /// A problem on `line` in `column`.
    pub fn new(line: u64, column: Option<&str>, reason: impl Into<String>) -> Self {
        Self { line, column: column.map(str::to_owned), reason: reason.into() }
    }
}

impl std::fmt::Display for RowError {
    /// `line 7, column "Close Date": must be a date ...`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, &self.column) {
            (0, _) => f.write_str(&self.reason),
            (line, Some(column)) => write!(f, "line {line}, column \"{column}\": {}", self.reason),
            (line, None) => write!(f, "line {line}: {}", self.reason),
        }
    }
}

/// What an import did (or, in a dry run or when refused, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// What the file holds.
    pub kind: Kind,
    /// `hubspot`, `salesforce`, `mapped`, `aftercare` or `unknown`.
    pub format: String,
    /// Data rows read (blank lines aside).
    pub rows: u64,
    /// Rows that made a new record.
    pub created: u64,
    /// Rows that changed an existing record.
    pub updated: u64,
    /// Rows whose record was already as the file has it.
    pub unchanged: u64,
    /// Rows left out on purpose (e.g. not closed-won).
    pub skipped: u64,
    /// Rows with at least one error.
    pub error_rows: u64,
    /// The first [`SHOWN_OUTCOMES`] rows' outcomes, in file order.
    pub outcomes: Vec<RowOutcome>,
    /// Every error, in file order.
    pub errors: Vec<RowError>,
    /// Whether the file could not be read as a whole (encoding, header,
    /// mapping): then no row was looked at.
    pub file_refused: bool,
    /// Whether the rows were written.
    pub applied: bool,
}

impl Report {
    /// A report for a file refused as a whole.
    pub fn refused_file(kind: Kind, format: &str, errors: Vec<RowError>) -> Self {
        Self {
            kind,
            format: format.to_owned(),
            rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            skipped: 0,
            error_rows: 0,
            outcomes: Vec::new(),
            errors,
            file_refused: true,
            applied: false,
        }
    }

    /// How many records were (or would be) created or updated.
    pub fn changes(&self) -> u64 {
        self.created + self.updated
    }

    /// Whether errors stop this import: the file was refused, or rows are
    /// bad and bad rows are not to be skipped.
    pub fn stopped(&self, options: &Options) -> bool {
        self.file_refused || (self.error_rows > 0 && !options.skip_invalid)
    }

    /// The counts in one line: `3 created, 1 updated, ...`.
    pub fn counts(&self) -> String {
        format!(
            "{} created, {} updated, {} unchanged, {} skipped, {} with errors",
            self.created, self.updated, self.unchanged, self.skipped, self.error_rows
        )
    }

    /// The whole report as lines of text: the counts, each error, and what
    /// became of the import.
    pub fn summary_lines(&self, filename: &str, options: &Options) -> Vec<String> {
        if self.file_refused {
            let mut lines = vec![format!("{} from {filename}:", self.kind)];
            lines.extend(self.errors.iter().map(ToString::to_string));
            lines.push(self.verdict(options));
            return lines;
        }
        let mut lines = vec![format!("{} from {filename} ({} format): {} rows", self.kind, self.format, self.rows)];
        for (label, count) in [
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("errors", self.error_rows),
        ] {
            lines.push(format!("  {label:<10} {count:>7}"));
        }
        lines.extend(self.errors.iter().map(ToString::to_string));
        lines.push(self.verdict(options));
        lines
    }

    /// What became of the import, in a sentence.
    pub fn verdict(&self, options: &Options) -> String {
        let bad = match self.error_rows {
            1 => "1 row has errors".to_owned(),
            n => format!("{n} rows have errors"),
        };
        if self.file_refused {
            "Nothing was imported: the file cannot be read as it is.".to_owned()
        } else if options.dry_run && self.stopped(options) {
            format!("Dry run, nothing was changed. {bad}: as it is, the file would import nothing.")
        } else if options.dry_run {
            "Dry run, nothing was changed.".to_owned()
        } else if self.stopped(options) {
            format!("Nothing was imported: {bad}. Fix them, or skip the invalid rows to import the others.")
        } else if self.changes() == 0 && self.error_rows == 0 {
            "Nothing to change: the database already has every row as the file has it.".to_owned()
        } else if self.error_rows > 0 {
            format!(
                "Imported the valid rows; {bad} and {} left out.",
                if self.error_rows == 1 { "was" } else { "were" }
            )
        } else {
            "Imported.".to_owned()
        }
    }
}

/// Collects each row's outcome while an import checks a file. Every row's
/// line and outcome are kept; the words (key, label, detail) only for the
/// first [`SHOWN_OUTCOMES`] rows, so a large file costs a few bytes a row.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    lines: Vec<u64>,
    outcomes: Vec<Outcome>,
    shown: Vec<RowOutcome>,
    errors: Vec<RowError>,
}

impl Ledger {
    /// Starts the entry of the row on `line`; it counts as unchanged until
    /// told otherwise. Returns its index.
    pub fn row(&mut self, line: u64, key: &str, label: &str) -> usize {
        if self.shown.len() < SHOWN_OUTCOMES {
            self.shown.push(RowOutcome {
                line,
                outcome: Outcome::Unchanged,
                key: key.to_owned(),
                label: label.to_owned(),
                detail: String::new(),
            });
        }
        self.lines.push(line);
        self.outcomes.push(Outcome::Unchanged);
        self.lines.len() - 1
    }

    /// Sets what happened to row `index`.
    pub fn set(&mut self, index: usize, outcome: Outcome, detail: impl Into<String>) {
        if let Some(slot) = self.outcomes.get_mut(index) {
            *slot = outcome;
        }
        if let Some(row) = self.shown.get_mut(index) {
            row.outcome = outcome;
            row.detail = detail.into();
        }
    }

    /// Records a problem with row `index` in `column`.
    pub fn fail(&mut self, index: usize, column: Option<&str>, reason: impl Into<String>) {
        let Some(line) = self.lines.get(index).copied() else { return };
        let error = RowError::new(line, column, reason);
        // The row's detail names its first problem; the errors list has all.
        let first = self.outcomes.get(index) != Some(&Outcome::Error);
        let detail = match (&error.column, first) {
            (_, false) => self.shown.get(index).map(|row| row.detail.clone()).unwrap_or_default(),
            (Some(column), true) => format!("{column}: {}", error.reason),
            (None, true) => error.reason.clone(),
        };
        self.set(index, Outcome::Error, detail);
        self.errors.push(error);
    }

    /// Records a row that could not be read at all.
    pub fn unreadable(&mut self, error: RowError) {
        let index = self.row(error.line, "", "");
        self.fail(index, error.column.as_deref(), error.reason);
    }

    /// Fails every row whose `key` another row has too (each names the
    /// other lines), and returns the rest.
    pub fn reject_repeats<T, K: Eq + Hash>(
        &mut self,
        rows: Vec<T>,
        index: impl Fn(&T) -> usize,
        key: impl Fn(&T) -> K,
        column: Option<&str>,
        what: impl Fn(&T) -> String,
    ) -> Vec<T> {
        let mut lines: HashMap<K, Vec<u64>> = HashMap::new();
        for row in &rows {
            lines.entry(key(row)).or_default().push(self.line(index(row)));
        }
        rows.into_iter()
            .filter(|row| {
                let all = lines.get(&key(row)).map(Vec::as_slice).unwrap_or_default();
                if all.len() < 2 {
                    return true;
                }
                let line = self.line(index(row));
                let others: Vec<String> = all.iter().filter(|l| **l != line).map(u64::to_string).collect();
                let reason = format!("{} is also on line {}: each may appear once", what(row), others.join(", "));
                self.fail(index(row), column, reason);
                false
            })
            .collect()
    }

    /// The line of row `index`.
    pub fn line(&self, index: usize) -> u64 {
        self.lines.get(index).copied().unwrap_or_default()
    }

    /// Whether row `index` has an error.
    pub fn failed(&self, index: usize) -> bool {
        self.outcomes.get(index).is_some_and(|outcome| *outcome == Outcome::Error)
    }

    /// The report: counts, the first rows' outcomes and every error.
    pub fn report(self, kind: Kind, format: &str) -> Report {
        let count = |outcome: Outcome| self.outcomes.iter().filter(|o| **o == outcome).count() as u64;
        let mut errors = self.errors;
        errors.sort_by_key(|error| error.line);
        Report {
            kind,
            format: format.to_owned(),
            rows: self.outcomes.len() as u64,
            created: count(Outcome::Created),
            updated: count(Outcome::Updated),
            unchanged: count(Outcome::Unchanged),
            skipped: count(Outcome::Skipped),
            error_rows: count(Outcome::Error),
            outcomes: self.shown,
            errors,
            file_refused: false,
            applied: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_line_column_and_reason() {
        assert_eq!(RowError::new(7, Some("Close Date"), "bad").to_string(), "line 7, column \"Close Date\": bad");
        assert_eq!(RowError::new(3, None, "not UTF-8").to_string(), "line 3: not UTF-8");
        assert_eq!(RowError::new(0, None, "the mapping, line 2: no =").to_string(), "the mapping, line 2: no =");
    }

    #[test]
    fn a_row_with_two_errors_counts_once_and_errors_come_in_line_order() {
        let mut ledger = Ledger::default();
        let first = ledger.row(2, "1", "A");
        let second = ledger.row(3, "2", "B");
        ledger.fail(second, Some("Amount"), "bad amount");
        ledger.fail(second, Some("Close Date"), "bad date");
        ledger.fail(first, Some("Record ID"), "duplicate");
        let report = ledger.report(Kind::Deals, "hubspot");
        assert_eq!((report.rows, report.error_rows, report.unchanged), (2, 2, 0));
        let lines: Vec<u64> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 3]);
    }
}
