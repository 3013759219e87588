//! Scheduled jobs: in-process async functions, each safe to re-run.
//!
//! Several `aftercare serve` processes may share one database. A run is
//! recorded in `job_runs`, unique per job and scheduled slot, so of several
//! instances ticking at the same moment exactly one runs; a lease row in
//! `job_leases` also keeps two runs of one job from overlapping.

pub mod scheduler;

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use entity::{job_lease, job_run};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, SqlErr,
};

use crate::{AppError, AppResult, AppState, digests, mail, surveys, web};

/// The jobs, by name.
pub const JOBS: [&str; 7] = [
    "survey-planner",
    "outbox-sender",
    "survey-reminders",
    "survey-expiry",
    "dashboard-snapshot",
    "weekly-digest",
    "webhook-events",
];

/// How long a lease lasts unless its holder renews it. A running job renews
/// its lease every third of this, so a crashed holder's lease runs out at
/// most this long after its last sign of life.
pub const LEASE: Duration = Duration::seconds(90);

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunReport {
    /// The job ran; its counts, as `key=value` pairs.
    Ran(String),
    /// Another instance ran (or is running) this slot or holds the lease.
    Skipped(String),
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunReport::Ran(detail) => write!(f, "done ({detail})"),
            RunReport::Skipped(why) => write!(f, "skipped ({why})"),
        }
    }
}

/// Runs a job for the scheduled `slot`, once across all instances.
/// `now` is the business time the job works as of.
pub async fn run(state: &AppState, name: &str, slot: &str, now: DateTime<Utc>) -> AppResult<RunReport> {
    if !JOBS.contains(&name) {
        return Err(AppError::field("name", format!("there is no job {name:?}; the jobs are {}", JOBS.join(", "))));
    }
    let db = &state.db;
    let started = Utc::now();
    let record = job_run::ActiveModel {
        job: Set(name.to_owned()),
        slot: Set(slot.to_owned()),
        instance: Set(state.instance.clone()),
        as_of: Set(now.date_naive()),
        started_at: Set(started),
        outcome: Set("running".to_owned()),
        detail: Set(String::new()),
        ..Default::default()
    }
    .insert(db)
    .await;
    let record = match record {
        Ok(record) => record,
        Err(error) if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(RunReport::Skipped(format!("slot {slot} already taken by another instance")));
        }
        Err(error) => return Err(error.into()),
    };
    let Some(lease) = Lease::take(db, name, &state.instance, LEASE).await? else {
        finish(db, record, "skipped", "another instance holds the lease".to_owned()).await?;
        return Ok(RunReport::Skipped("another instance holds the lease".to_owned()));
    };
    let outcome = execute(state, name, slot, now).await;
    lease.release().await?;
    match outcome {
        Ok(detail) => {
            finish(db, record, "ok", detail.clone()).await?;
            Ok(RunReport::Ran(detail))
        }
        Err(error) => {
            let message = match &error {
                AppError::Internal(cause) => format!("{cause:#}"),
                other => other.to_string(),
            };
            tracing::error!(job = name, error = %message, "job failed");
            finish(db, record, "failed", message).await?;
            Err(error)
        }
    }
}

/// Runs a job once on request (CLI, admin page), whatever the schedule.
pub async fn run_manually(state: &AppState, name: &str, now: DateTime<Utc>) -> AppResult<RunReport> {
    let slot = format!("{MANUAL}{}-{}", Utc::now().format("%Y%m%dT%H%M%S%.6f"), &state.instance);
    run(state, name, &slot, now).await
}

/// The slot prefix of runs by hand.
const MANUAL: &str = "manual-";

async fn execute(state: &AppState, name: &str, slot: &str, now: DateTime<Utc>) -> AppResult<String> {
    let db = &state.db;
    let config = &state.config;
    Ok(match name {
        "survey-planner" => surveys::planner::plan(db, &config.surveys, &config.base_url, now).await?.to_string(),
        "outbox-sender" => {
            let mut total = mail::outbox::SendReport::default();
            // Drain in bounded batches so one run never holds too much.
            for _ in 0..20 {
                let report = mail::outbox::send_due(db, &state.mailer, &state.instance, 200, now).await?;
                let done = report.sent + report.retrying + report.failed == 0;
                total.sent += report.sent;
                total.retrying += report.retrying;
                total.failed += report.failed;
                if done {
                    break;
                }
            }
            format!("sent={} retrying={} failed={}", total.sent, total.retrying, total.failed)
        }
        "survey-reminders" => surveys::reminders::remind(db, &config.surveys, &config.base_url, now).await?.to_string(),
        "survey-expiry" => surveys::reminders::expire(db, now).await?.to_string(),
        "weekly-digest" => {
            let trigger = if slot.starts_with(MANUAL) { digests::Trigger::Manual } else { digests::Trigger::Scheduled };
            digests::run(state, now, trigger).await?.to_string()
        }
        "webhook-events" => crate::webhooks::outbound::watch(db, &config.advocacy, now).await?.to_string(),
        "dashboard-snapshot" => {
            let snapshot = web::dashboard::refresh(state, now).await?;
            format!("took_ms={}", snapshot.took_ms)
        }
        other => return Err(AppError::field("name", format!("there is no job {other:?}"))),
    })
}

/// A job's lease, renewed in the background while it is held.
pub struct Lease {
    db: DatabaseConnection,
    name: String,
    holder: String,
    renewal: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Takes the lease on `name` for `length`, if nobody holds it or its
    /// holder let it run out (crashed). A run the dead holder left
    /// `running` is then recorded as `abandoned`.
    pub async fn take(db: &DatabaseConnection, name: &str, holder: &str, length: Duration) -> AppResult<Option<Self>> {
        let now = Utc::now();
        let inserted = job_lease::Entity::insert(job_lease::ActiveModel {
            name: Set(name.to_owned()),
            holder: Set(holder.to_owned()),
            leased_until: Set(now + length),
        })
        .on_conflict(OnConflict::column(job_lease::Column::Name).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
        if inserted == 0 {
            let Some(dead) =
                job_lease::Entity::find_by_id(name).filter(job_lease::Column::LeasedUntil.lt(now)).one(db).await?
            else {
                return Ok(None);
            };
            // Of instances racing for it, the first update wins: the
            // others find the lease live again.
            let taken = job_lease::Entity::update_many()
                .col_expr(job_lease::Column::Holder, Expr::value(holder))
                .col_expr(job_lease::Column::LeasedUntil, Expr::value(now + length))
                .filter(job_lease::Column::Name.eq(name))
                .filter(job_lease::Column::Holder.eq(dead.holder.as_str()))
                .filter(job_lease::Column::LeasedUntil.lt(now))
                .exec(db)
                .await?;
            if taken.rows_affected != 1 {
                return Ok(None);
            }
            tracing::warn!(job = name, dead = %dead.holder, "took over a lease its holder let run out");
            job_run::Entity::update_many()
                .col_expr(job_run::Column::Outcome, Expr::value("abandoned"))
                .col_expr(job_run::Column::FinishedAt, Expr::value(now))
                .col_expr(
                    job_run::Column::Detail,
                    Expr::value(format!("{} stopped renewing its lease; {holder} took over", dead.holder)),
                )
                .filter(job_run::Column::Job.eq(name))
                .filter(job_run::Column::Instance.eq(dead.holder.as_str()))
                .filter(job_run::Column::Outcome.eq("running"))
                .exec(db)
                .await?;
        }
        let renewal = tokio::spawn(renew(db.clone(), name.to_owned(), holder.to_owned(), length));
        Ok(Some(Self { db: db.clone(), name: name.to_owned(), holder: holder.to_owned(), renewal }))
    }

    /// Stops renewing and gives the lease up.
    pub async fn release(self) -> AppResult<()> {
        self.renewal.abort();
        job_lease::Entity::delete_many()
            .filter(job_lease::Column::Name.eq(self.name.as_str()))
            .filter(job_lease::Column::Holder.eq(self.holder.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Released or not, a dropped lease is no longer renewed.
        self.renewal.abort();
    }
}

/// Extends the lease every third of its length while the holder lives.
async fn renew(db: DatabaseConnection, name: String, holder: String, length: Duration) {
    let every = (length / 3).to_std().unwrap_or(std::time::Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        let renewed = job_lease::Entity::update_many()
            .col_expr(job_lease::Column::LeasedUntil, Expr::value(Utc::now() + length))
            .filter(job_lease::Column::Name.eq(name.as_str()))
            .filter(job_lease::Column::Holder.eq(holder.as_str()))
            .exec(&db)
            .await;
        match renewed {
            Ok(done) if done.rows_affected == 1 => {}
            Ok(_) => {
                tracing::error!(job = %name, "lost the job's lease to another instance");
                return;
            }
            // The next attempt may succeed (the database restarting).
            Err(error) => tracing::warn!(job = %name, %error, "renewing the job's lease failed"),
        }
    }
}

async fn finish(db: &impl ConnectionTrait, record: job_run::Model, outcome: &str, detail: String) -> AppResult<()> {
    let mut active: job_run::ActiveModel = record.into();
    active.finished_at = Set(Some(Utc::now()));
    active.outcome = Set(outcome.to_owned());
    active.detail = Set(detail);
    active.update(db).await?;
    Ok(())
}

/// The latest run of a job.
pub async fn last_run(db: &impl ConnectionTrait, name: &str) -> AppResult<Option<job_run::Model>> {
    Ok(job_run::Entity::find()
        .filter(job_run::Column::Job.eq(name))
        .filter(job_run::Column::Outcome.ne("skipped"))
        .order_by_desc(job_run::Column::Id)
        .one(db)
        .await?)
}

/// The latest runs of every job, newest first.
pub async fn recent_runs(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<job_run::Model>> {
    Ok(job_run::Entity::find().order_by_desc(job_run::Column::Id).limit(limit).all(db).await?)
}
