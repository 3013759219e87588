//! Typed settings, resolved once at start-up from flags and environment.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The default embedded database: a SQLite file under `data/`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/aftercare.db";

/// Settings that the running server needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the database lives (`sqlite://...` or `postgres://...`).
    pub database_url: String,
    /// The address `serve` listens on.
    pub listen: SocketAddr,
    /// The public base URL, for absolute links (no trailing slash).
    pub base_url: String,
    /// Whether session cookies carry the `Secure` attribute.
    pub secure_cookies: bool,
    /// How email leaves.
    pub mail: MailConfig,
    /// Who gets a survey when.
    pub surveys: SurveyPolicy,
    /// When digests arrive.
    pub digests: DigestPolicy,
    /// Who is an advocacy candidate, how often contacts may be asked, and
    /// the churn rate profitability falls back on.
    pub advocacy: crate::advocacy::candidates::Rules,
    /// When the scheduled jobs run (cron, with seconds), by job name.
    pub schedules: Vec<(String, String)>,
}

/// How email leaves Aftercare.
#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://` or `smtps://` URL with optional credentials; `None` writes
    /// `.eml` files to [`MailConfig::outbox_dir`] instead.
    pub smtp_url: Option<String>,
    /// Where emails are written when there is no SMTP server.
    pub outbox_dir: PathBuf,
    /// The From address.
    pub from: String,
    /// At most this many messages are sent at once, so at most this many
    /// are in flight (and re-sent) when the instance dies.
    pub concurrency: usize,
}

impl std::fmt::Debug for MailConfig {
    // The SMTP URL may carry a password; never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<set>"))
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from)
            .field("concurrency", &self.concurrency)
            .finish()
    }
}

/// What a survey wave is anchored on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// The date the deal was won.
    ClosedWon,
    /// The date the deal went live (deals not live yet get no waves).
    GoLive,
}

/// The survey schedule.
#[derive(Debug, Clone)]
pub struct SurveyPolicy {
    /// Months after the anchor at which waves fall due, e.g. 6, 9, 12.
    pub waves: Vec<u32>,
    /// What the waves count from.
    pub anchor: Anchor,
    /// A wave first seen more than this many days overdue is skipped.
    pub late_days: i64,
    /// A contact never gets two surveys within this many days.
    pub cooldown_days: i64,
    /// Days after the first send on which non-respondents are reminded.
    pub reminder_days: Vec<i64>,
    /// Days after the first send when an unanswered survey expires.
    pub expiry_days: i64,
}

impl Default for SurveyPolicy {
    fn default() -> Self {
        Self {
            waves: vec![6, 9, 12],
            anchor: Anchor::ClosedWon,
            late_days: 30,
            cooldown_days: 60,
            reminder_days: vec![3, 7, 14],
            expiry_days: 30,
        }
    }
}

/// When the account managers' digests arrive, in each user's own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestPolicy {
    /// The weekday weekly digests arrive on.
    pub weekday: chrono::Weekday,
    /// The local hour (0-23) digests arrive at.
    pub hour: u32,
}

impl Default for DigestPolicy {
    fn default() -> Self {
        Self { weekday: chrono::Weekday::Mon, hour: 7 }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_url: None,
            outbox_dir: PathBuf::from("data/outbox"),
            from: "Aftercare <aftercare@localhost>".to_owned(),
            concurrency: 1,
        }
    }
}

/// The default schedule of every job (cron with seconds, UTC).
pub fn default_schedules() -> Vec<(String, String)> {
    [
        ("survey-planner", "0 0 6 * * *"),
        ("outbox-sender", "*/20 * * * * *"),
        ("survey-reminders", "0 15 6 * * *"),
        ("survey-expiry", "0 30 6 * * *"),
        ("dashboard-snapshot", "0 */5 * * * *"),
        // Every quarter of an hour, so each user's local hour is met in every
        // time zone (some are offset by 30 or 45 minutes).
        ("weekly-digest", "0 */15 * * * *"),
        ("webhook-events", "0 5/15 * * * *"),
    ]
    .into_iter()
    .map(|(job, cron)| (job.to_owned(), cron.to_owned()))
    .collect()
}

impl Config {
    /// Settings for tests and tools: a database, everything else default.
    pub fn for_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            base_url: "http://127.0.0.1:3000".to_owned(),
            secure_cookies: false,
            mail: MailConfig::default(),
            surveys: SurveyPolicy::default(),
            digests: DigestPolicy::default(),
            advocacy: crate::advocacy::candidates::Rules::default(),
            schedules: default_schedules(),
        }
    }
}

/// Parses a comma-separated list of whole numbers, e.g. `6,9,12`.
pub fn parse_list<T: std::str::FromStr>(value: &str) -> Result<Vec<T>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.parse().map_err(|_| format!("{v:?} is not a whole number")))
        .collect()
}
