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

/// How long a lease lasts; a crashed holder's lease runs out after this.
pub const LEASE: Duration = Duration::minutes(10);

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
    if !take_lease(db, name, &state.instance, started).await? {
        finish(db, record, "skipped", "another instance holds the lease".to_owned()).await?;
        return Ok(RunReport::Skipped("another instance holds the lease".to_owned()));
    }
    let outcome = execute(state, name, slot, now).await;
    release_lease(db, name, &state.instance).await?;
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

async fn take_lease(db: &DatabaseConnection, name: &str, holder: &str, now: DateTime<Utc>) -> AppResult<bool> {
    let inserted = job_lease::Entity::insert(job_lease::ActiveModel {
        name: Set(name.to_owned()),
        holder: Set(holder.to_owned()),
        leased_until: Set(now + LEASE),
    })
    .on_conflict(OnConflict::column(job_lease::Column::Name).do_nothing().to_owned())
    .exec_without_returning(db)
    .await?;
    if inserted > 0 {
        return Ok(true);
    }
    // Take over a lease that ran out (its holder crashed).
    let taken = job_lease::Entity::update_many()
        .col_expr(job_lease::Column::Holder, Expr::value(holder))
        .col_expr(job_lease::Column::LeasedUntil, Expr::value(now + LEASE))
        .filter(job_lease::Column::Name.eq(name))
        .filter(job_lease::Column::LeasedUntil.lt(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

async fn release_lease(db: &impl ConnectionTrait, name: &str, holder: &str) -> AppResult<()> {
    job_lease::Entity::delete_many()
        .filter(job_lease::Column::Name.eq(name))
        .filter(job_lease::Column::Holder.eq(holder))
        .exec(db)
        .await?;
    Ok(())
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
