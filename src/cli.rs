//! The `aftercare` command line. Every flag can also be set through an
//! environment variable (shown in `--help`).

use std::io::Read;
use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::advocacy::asks::AskBudget;
use crate::advocacy::candidates::Rules;
use crate::auth::{tokens, users};
use crate::config::{Anchor, Config, DEFAULT_DATABASE_URL, DigestPolicy, MailConfig, SurveyPolicy};
use crate::{AppState, db, demo};

/// Aftercare: carries every won deal from closed-won to live, gated by the
/// customer's evidence.
#[derive(Debug, Parser)]
#[command(name = "aftercare", version, about, long_about = None)]
pub struct Cli {
    /// The database: a SQLite file (`sqlite://data/aftercare.db`, created if
    /// missing) or PostgreSQL (`postgres://user:pass@host/db`).
    #[arg(long, env = "AFTERCARE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,

    /// The public URL of this instance, for absolute links in emails
    /// (default: http://<listen address>).
    #[arg(long, env = "AFTERCARE_BASE_URL", global = true)]
    pub base_url: Option<String>,

    /// Email delivery.
    #[command(flatten)]
    pub mail: MailArgs,

    /// The survey schedule.
    #[command(flatten)]
    pub surveys: SurveyArgs,

    /// When digests arrive.
    #[command(flatten)]
    pub digests: DigestArgs,

    /// Advocacy candidates and the ask budget.
    #[command(flatten)]
    pub advocacy: AdvocacyArgs,

    /// Web server options.
    #[command(flatten)]
    pub serve: ServeArgs,

    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// How email leaves.
#[derive(Debug, Args)]
pub struct MailArgs {
    /// SMTP server, e.g. smtp://user:pass@mail.example.com:587 (STARTTLS
    /// with ?tls=required) or smtps://...:465. Without it, emails are
    /// written as .eml files to --outbox-dir.
    #[arg(long, env = "AFTERCARE_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Where emails are written when no SMTP server is set.
    #[arg(long, env = "AFTERCARE_OUTBOX_DIR", default_value = "data/outbox", global = true)]
    pub outbox_dir: std::path::PathBuf,
    /// The From address of every email.
    #[arg(long, env = "AFTERCARE_MAIL_FROM", default_value = "Aftercare <aftercare@localhost>", global = true)]
    pub mail_from: String,
    /// How many emails are sent at once. An instance that dies mid-send
    /// re-sends at most this many on recovery (1: at most one duplicate).
    #[arg(long, env = "AFTERCARE_MAIL_CONCURRENCY", default_value_t = 1, global = true)]
    pub mail_concurrency: usize,
}

/// Who gets a survey when.
#[derive(Debug, Args)]
pub struct SurveyArgs {
    /// Months after the anchor date at which survey waves fall due.
    #[arg(long, env = "AFTERCARE_SURVEY_WAVES", default_value = "6,9,12", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=120), global = true)]
    pub survey_waves: Vec<u32>,
    /// What waves count from: the closed-won date or the go-live date.
    #[arg(long, env = "AFTERCARE_SURVEY_ANCHOR", value_enum, default_value_t = AnchorArg::ClosedWon, global = true)]
    pub survey_anchor: AnchorArg,
    /// A contact never gets two surveys (or advocacy asks) within this many days.
    #[arg(long, env = "AFTERCARE_SURVEY_COOLDOWN_DAYS", default_value_t = 60, global = true)]
    pub survey_cooldown_days: i64,
    /// Days after the first send on which non-respondents are reminded (at most 3).
    #[arg(long, env = "AFTERCARE_SURVEY_REMINDER_DAYS", default_value = "3,7,14", value_delimiter = ',', value_parser = clap::value_parser!(i64).range(1..=365), num_args = 0..=3, global = true)]
    pub survey_reminder_days: Vec<i64>,
    /// Days after the first send when an unanswered survey expires.
    #[arg(long, env = "AFTERCARE_SURVEY_EXPIRY_DAYS", default_value_t = 30, global = true)]
    pub survey_expiry_days: i64,
}

/// When the account managers' digests arrive.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// The weekday weekly digests arrive on (mon, tue, ... sun).
    #[arg(long, env = "AFTERCARE_DIGEST_WEEKDAY", default_value = "mon", value_parser = parse_weekday, global = true)]
    pub digest_weekday: chrono::Weekday,
    /// The hour (0-23, in each user's own time zone) digests arrive at.
    #[arg(long, env = "AFTERCARE_DIGEST_HOUR", default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=23), global = true)]
    pub digest_hour: u32,
}

/// Who is an advocacy candidate (defaults: the product's rules).
#[derive(Debug, Args)]
pub struct AdvocacyArgs {
    /// The lowest kept rate (percent) of a candidate's latest survey.
    #[arg(long, env = "AFTERCARE_ADVOCACY_MIN_KEPT_PCT", default_value_t = 80, value_parser = clap::value_parser!(u32).range(0..=100), global = true)]
    pub advocacy_min_kept_pct: u32,
    /// The lowest recommend score (0-10) of a candidate.
    #[arg(long, env = "AFTERCARE_ADVOCACY_MIN_NPS", default_value_t = 9, value_parser = clap::value_parser!(i32).range(0..=10), global = true)]
    pub advocacy_min_nps: i32,
    /// The lowest LTV:CAC where it is known; 0 ignores profitability.
    #[arg(long, env = "AFTERCARE_ADVOCACY_MIN_LTV_CAC", default_value_t = 3.0, global = true)]
    pub advocacy_min_ltv_cac: f64,
    /// Whether a candidate's deal must be live.
    #[arg(long, env = "AFTERCARE_ADVOCACY_REQUIRE_LIVE", default_value = "true", action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new(), global = true)]
    pub advocacy_require_live: bool,
    /// After an advocacy ask, the contact is not asked again for this many days.
    #[arg(long, env = "AFTERCARE_ADVOCACY_QUIET_DAYS", default_value_t = 90, value_parser = clap::value_parser!(i64).range(0..=730), global = true)]
    pub advocacy_quiet_days: i64,
    /// At most this many asks and surveys per contact per calendar quarter.
    #[arg(long, env = "AFTERCARE_ADVOCACY_ASKS_PER_QUARTER", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=20), global = true)]
    pub advocacy_asks_per_quarter: u32,
    /// The monthly churn rate (percent) LTV uses when the data is too thin.
    #[arg(long, env = "AFTERCARE_DEFAULT_MONTHLY_CHURN_PCT", default_value_t = 1.5, global = true)]
    pub default_monthly_churn_pct: f64,
}

fn parse_weekday(raw: &str) -> Result<chrono::Weekday, String> {
    raw.parse().map_err(|_| format!("{raw:?} is not a weekday: use mon, tue, wed, thu, fri, sat or sun"))
}

/// What survey waves count from.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum AnchorArg {
    /// The date the deal was won.
    ClosedWon,
    /// The date the deal went live.
    GoLive,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web UI, the JSON API and the scheduled jobs (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Load the demo team and deals into an empty database.
    Demo {
        /// Instead of the small hand-made demo, generate this many synthetic
        /// deals with promises, surveys and verdicts (for benchmarks).
        #[arg(long)]
        deals: Option<usize>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// List or run the scheduled jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Import closed-won deals, contacts, promises or account economics
    /// from a CSV file (a HubSpot or Salesforce export, or any CSV with a
    /// column mapping). See docs/IMPORT.md.
    #[command(subcommand)]
    Import(ImportCommand),
}

/// `aftercare jobs ...`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List the jobs, their schedules and their latest runs.
    List,
    /// Run one job once, now or as of a date (to back-fill).
    Run {
        /// The job: survey-planner, outbox-sender, survey-reminders, survey-expiry, dashboard-snapshot, weekly-digest, webhook-events.
        name: String,
        /// Run as if today were this date (YYYY-MM-DD).
        #[arg(long)]
        as_of: Option<chrono::NaiveDate>,
    },
}

/// Options of `serve` (also accepted without the subcommand).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "AFTERCARE_LISTEN", default_value = "127.0.0.1:3000", global = true)]
    pub listen: SocketAddr,
    /// Do not load demo data into an empty database.
    #[arg(long, env = "AFTERCARE_NO_DEMO", global = true, action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_demo: bool,
    /// Mark session cookies `Secure` (set this when served over HTTPS).
    #[arg(long, env = "AFTERCARE_SECURE_COOKIES", global = true, action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub secure_cookies: bool,
    /// Do not run the scheduled jobs in this process (e.g. on web-only instances).
    #[arg(long, env = "AFTERCARE_NO_JOBS", global = true, action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_jobs: bool,
}

/// `aftercare user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; prints a generated password unless --password-stdin is given.
    Add {
        /// Their email, which is also their login.
        #[arg(long)]
        email: String,
        /// Their display name.
        #[arg(long)]
        name: String,
        /// admin, manager, member or viewer.
        #[arg(long, default_value = "member")]
        role: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
}

/// `aftercare token ...`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token for a user; prints it alone on one line.
    Create {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// A label, e.g. "HubSpot workflow".
        #[arg(long)]
        name: Option<String>,
    },
    /// List API tokens (never their secrets).
    List,
    /// Revoke an API token by id.
    Revoke {
        /// The token's id, from `token list`.
        id: i32,
    },
}

/// Runs the parsed command line.
pub async fn run(mut cli: Cli) -> anyhow::Result<()> {
    init_tracing();
    let command = cli.command.take().unwrap_or(Command::Serve);
    let config = cli.config(cli.serve.listen);
    match command {
        Command::Serve => serve(config, &cli.serve).await,
        Command::Migrate => {
            let db = db::connect(&config.database_url).await?;
            db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo { deals } => {
            let state = AppState::with_system_clock(config).await?;
            if !demo::is_empty(&state.db).await? {
                anyhow::bail!("the database already has users or deals; the demo loads only into an empty database");
            }
            match deals {
                None => println!("{}", demo::load(&state.db, &state.config, state.now()).await?),
                Some(count) => {
                    demo::load_team(&state.db, state.now()).await?;
                    let started = std::time::Instant::now();
                    let summary = demo::scale::generate(&state.db, count, state.now()).await?;
                    println!("{summary} in {:.1} s", started.elapsed().as_secs_f64());
                }
            }
            Ok(())
        }
        Command::User(command) => user(config, command).await,
        Command::Token(command) => token(config, command).await,
        Command::Jobs(command) => jobs(config, command).await,
        Command::Import(command) => import(config, command).await,
    }
}

impl Cli {
    /// The settings these flags and variables describe.
    pub fn config(&self, listen: SocketAddr) -> Config {
        let base_url =
            self.base_url.clone().unwrap_or_else(|| format!("http://{listen}")).trim_end_matches('/').to_owned();
        let mut schedules = crate::config::default_schedules();
        for (job, cron) in &mut schedules {
            let variable = format!("AFTERCARE_SCHEDULE_{}", job.to_uppercase().replace('-', "_"));
            if let Ok(value) = std::env::var(variable) {
                *cron = value;
            }
        }
        Config {
            database_url: self.database_url.clone(),
            listen,
            base_url,
            secure_cookies: false,
            mail: MailConfig {
                smtp_url: self.mail.smtp_url.clone().filter(|u| !u.is_empty()),
                outbox_dir: self.mail.outbox_dir.clone(),
                from: self.mail.mail_from.clone(),
                concurrency: self.mail.mail_concurrency,
            },
            surveys: SurveyPolicy {
                waves: self.surveys.survey_waves.clone(),
                anchor: match self.surveys.survey_anchor {
                    AnchorArg::ClosedWon => Anchor::ClosedWon,
                    AnchorArg::GoLive => Anchor::GoLive,
                },
                cooldown_days: self.surveys.survey_cooldown_days,
                reminder_days: self.surveys.survey_reminder_days.clone(),
                expiry_days: self.surveys.survey_expiry_days,
                ..SurveyPolicy::default()
            },
            digests: DigestPolicy { weekday: self.digests.digest_weekday, hour: self.digests.digest_hour },
            advocacy: Rules {
                require_live: self.advocacy.advocacy_require_live,
                min_kept_pct: self.advocacy.advocacy_min_kept_pct,
                min_nps: self.advocacy.advocacy_min_nps,
                min_ltv_cac: (self.advocacy.advocacy_min_ltv_cac > 0.0).then_some(self.advocacy.advocacy_min_ltv_cac),
                budget: AskBudget {
                    quiet_days: self.advocacy.advocacy_quiet_days,
                    per_quarter: self.advocacy.advocacy_asks_per_quarter,
                },
                configured_churn: self.advocacy.default_monthly_churn_pct / 100.0,
                ..Rules::default()
            },
            schedules,
        }
    }
}

async fn serve(mut config: Config, args: &ServeArgs) -> anyhow::Result<()> {
    config.secure_cookies = args.secure_cookies;
    let listen = config.listen;
    let base_url = config.base_url.clone();
    let state = AppState::with_system_clock(config).await?;
    if !args.no_demo && demo::is_empty(&state.db).await? {
        let summary = demo::load(&state.db, &state.config, state.now()).await?;
        println!("{summary}");
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
    let scheduler = if args.no_jobs { None } else { Some(crate::jobs::scheduler::start(&state).await?) };
    println!("Aftercare is running at {base_url}/");
    if demo::demo_admin_exists(&state.db).await? {
        println!("Demo login: {} / {}", demo::DEMO_ADMIN_EMAIL, demo::DEMO_PASSWORD);
    }
    let served = crate::app::serve(state, listener).await;
    if let Some(scheduler) = scheduler {
        crate::jobs::scheduler::stop(scheduler).await;
    }
    served
}

async fn jobs(config: Config, command: JobsCommand) -> anyhow::Result<()> {
    let state = AppState::with_system_clock(config).await?;
    match command {
        JobsCommand::List => {
            for (name, schedule) in &state.config.schedules {
                let last = crate::jobs::last_run(&state.db, name).await?;
                let last = last.map_or("never run".to_owned(), |run| {
                    format!("last run {} ({}, {})", run.started_at.format("%Y-%m-%d %H:%M:%S"), run.outcome, run.detail)
                });
                println!("{name:<18} {schedule:<18} {last}");
            }
        }
        JobsCommand::Run { name, as_of } => {
            let now = match as_of {
                Some(date) => date.and_hms_opt(12, 0, 0).unwrap_or_default().and_utc(),
                None => state.now(),
            };
            let report = crate::jobs::run_manually(&state, &name, now).await?;
            println!("{name}: {report}");
        }
    }
    Ok(())
}

async fn user(config: Config, command: UserCommand) -> anyhow::Result<()> {
    let state = AppState::with_system_clock(config).await?;
    match command {
        UserCommand::Add { email, name, role, password_stdin } => {
            let password = if password_stdin {
                let mut buffer = String::new();
                std::io::stdin().read_to_string(&mut buffer).context("reading the password from stdin")?;
                Some(buffer.trim_end_matches(['\r', '\n']).to_owned())
            } else {
                None
            };
            let input = users::NewUser { email, name, role, password };
            let (created, generated) = users::add(&state.db, input, None, state.now()).await?;
            println!("added {} <{}> as {}", created.name, created.email, created.role);
            if let Some(generated) = generated {
                println!("password: {generated}");
            }
        }
        UserCommand::List => {
            for user in users::list(&state.db).await? {
                let status = if user.active { "" } else { " (deactivated)" };
                println!("{:>5}  {:<8} {} <{}>{status}", user.id, user.role, user.name, user.email);
            }
        }
    }
    Ok(())
}

async fn token(config: Config, command: TokenCommand) -> anyhow::Result<()> {
    let state = AppState::with_system_clock(config).await?;
    match command {
        TokenCommand::Create { email, name } => {
            let secret = tokens::create(&state.db, &email, name.as_deref(), None, state.now()).await?;
            println!("{secret}");
        }
        TokenCommand::List => {
            for token in tokens::list(&state.db).await? {
                let status = if token.revoked_at.is_some() { "revoked" } else { "active" };
                println!("{:>5}  {status:<8} {} ({})", token.id, token.name, token.user_email);
            }
        }
        TokenCommand::Revoke { id } => {
            tokens::revoke(&state.db, id, None, state.now()).await?;
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// `aftercare import ...`: what the file holds.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Closed-won deals: a HubSpot deals export, a Salesforce opportunities
    /// report, or any CSV with --mapping. Rows not closed-won are skipped;
    /// a known CRM id updates the deal's CRM fields only.
    Deals {
        /// The file and how to read it.
        #[command(flatten)]
        file: ImportArgs,
        /// A stage value that means closed-won; repeat for several
        /// (default: "Closed Won", which also matches HubSpot's "closedwon").
        #[arg(long = "won-stage", value_name = "VALUE")]
        won_stage: Vec<String>,
    },
    /// Contacts: account, name, email, role, language, survey_recipient.
    Contacts(ImportArgs),
    /// Promises: deal_external_id (or deal_id), text, category, target.
    Promises(ImportArgs),
    /// Account economics: account, arr, gross_margin_pct, cac.
    Economics(ImportArgs),
}

/// What every import takes.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file.
    pub file: std::path::PathBuf,
    /// Check the file and show what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Import the valid rows of a file that has invalid ones (by default a
    /// single invalid row stops the whole import).
    #[arg(long)]
    pub skip_invalid: bool,
    /// A column mapping: one `field = Column Name` per line.
    #[arg(long, value_name = "FILE")]
    pub mapping: Option<std::path::PathBuf>,
    /// Read dates such as 3/1/2026 day first (3 January) instead of US
    /// month first (1 March).
    #[arg(long)]
    pub day_first: bool,
    /// The file's encoding: utf-8 (with or without a BOM) or windows-1252.
    #[arg(long, default_value = "utf-8", value_parser = ["utf-8", "windows-1252"])]
    pub encoding: String,
}

async fn import(config: Config, command: ImportCommand) -> anyhow::Result<()> {
    use crate::import::{self, stored, text};
    let (kind, args, won_stages) = match command {
        ImportCommand::Deals { file, won_stage } => (import::Kind::Deals, file, won_stage),
        ImportCommand::Contacts(file) => (import::Kind::Contacts, file, Vec::new()),
        ImportCommand::Promises(file) => (import::Kind::Promises, file, Vec::new()),
        ImportCommand::Economics(file) => (import::Kind::Economics, file, Vec::new()),
    };
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mapping = match &args.mapping {
        Some(path) => Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?),
        None => None,
    };
    let options = import::Options {
        dry_run: args.dry_run,
        skip_invalid: args.skip_invalid,
        won_stages,
        day_first: args.day_first,
        mapping,
    };
    let filename = args.file.file_name().map_or_else(|| "file".to_owned(), |n| n.to_string_lossy().into_owned());
    let encoding = text::Encoding::parse(&args.encoding).unwrap_or_default();
    let state = AppState::with_system_clock(config).await?;
    let bar = import_progress_bar(bytes.len());
    let report = match text::decode(bytes, encoding) {
        Ok(text) => {
            let progress = |step: import::Step| {
                bar.set_message(step.phase);
                bar.set_length(step.total.max(1));
                bar.set_position(step.done);
            };
            let report = import::run(&state.db, kind, &text, &options, None, state.now(), &progress).await?;
            drop(text);
            stored::record_run(&state.db, kind, &filename, &options, &report, None, state.now()).await?;
            report
        }
        Err(error) => import::Report::refused_file(kind, "unknown", vec![error]),
    };
    bar.finish_and_clear();
    for line in report.summary_lines(&filename, &options) {
        println!("{line}");
    }
    if report.stopped(&options) {
        let hint = if report.error_rows > 0 { " (--skip-invalid imports the valid rows)" } else { "" };
        anyhow::bail!("{}{hint}", report.verdict(&options));
    }
    Ok(())
}

/// A progress bar on stderr for files of a megabyte or more, hidden when
/// stderr is not a terminal.
fn import_progress_bar(bytes: usize) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if bytes < 1_000_000 || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let style = indicatif::ProgressStyle::with_template("{msg:>9} [{wide_bar}] {percent:>3}% {elapsed}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::with_draw_target(Some(bytes as u64), indicatif::ProgressDrawTarget::stderr())
        .with_style(style)
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("AFTERCARE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn,tokio_cron_scheduler=warn")
    });
    // Logs go to stderr so that stdout carries only results (e.g. a token).
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from(std::iter::once("aftercare").chain(args.iter().copied())).expect("valid flags");
        cli.config(SocketAddr::from(([127, 0, 0, 1], 3000)))
    }

    #[test]
    fn advocacy_rules_default_to_the_products_and_each_flag_changes_one() {
        assert_eq!(config(&[]).advocacy, Rules::default());
        let rules = config(&[
            "--advocacy-min-kept-pct=90",
            "--advocacy-min-nps=8",
            "--advocacy-min-ltv-cac=0",
            "--advocacy-require-live=false",
            "--advocacy-quiet-days=30",
            "--advocacy-asks-per-quarter=3",
            "--default-monthly-churn-pct=2",
        ])
        .advocacy;
        assert_eq!(
            rules,
            Rules {
                min_kept_pct: 90,
                min_nps: 8,
                min_ltv_cac: None,
                require_live: false,
                budget: AskBudget { quiet_days: 30, per_quarter: 3 },
                configured_churn: 0.02,
                ..Rules::default()
            }
        );
        assert!(Cli::try_parse_from(["aftercare", "--advocacy-min-nps=11"]).is_err(), "scores are 0-10");
    }

    #[test]
    fn digests_default_to_monday_seven_and_take_a_weekday_and_hour() {
        let digests = config(&[]).digests;
        assert_eq!((digests.weekday, digests.hour), (chrono::Weekday::Mon, 7));
        let digests = config(&["--digest-weekday=fri", "--digest-hour=16"]).digests;
        assert_eq!((digests.weekday, digests.hour), (chrono::Weekday::Fri, 16));
        let error = Cli::try_parse_from(["aftercare", "--digest-weekday=someday"]).expect_err("not a weekday");
        assert!(error.to_string().contains("not a weekday"), "{error}");
        assert!(Cli::try_parse_from(["aftercare", "--digest-hour=24"]).is_err());
    }
}
