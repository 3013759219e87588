//! Runs the jobs on their schedules inside `aftercare serve`
//! (tokio-cron-scheduler). Every instance schedules every job; the slot
//! record in the database lets only one of them run each tick.

use anyhow::Context;
use chrono::Utc;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::AppState;

/// Slots are the tick time rounded down to this many seconds, so instances
/// whose clocks tick a few milliseconds apart agree on the slot. Schedules
/// must therefore fall on whole multiples of it.
pub const SLOT_SECONDS: i64 = 10;

/// Starts the scheduler with every job on its configured schedule.
pub async fn start(state: &AppState) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await.context("starting the job scheduler")?;
    for (name, cron) in state.config.schedules.clone() {
        let state = state.clone();
        let job_name = name.clone();
        let job = Job::new_async(cron.as_str(), move |_id, _scheduler| {
            let state = state.clone();
            let name = job_name.clone();
            Box::pin(async move {
                let tick = Utc::now();
                let slot = (tick.timestamp() / SLOT_SECONDS * SLOT_SECONDS).to_string();
                match super::run(&state, &name, &slot, state.now()).await {
                    Ok(report) => tracing::debug!(job = %name, %report, "job tick"),
                    Err(error) => tracing::warn!(job = %name, %error, "job run failed"),
                }
            })
        })
        .with_context(|| {
            format!("the schedule {cron:?} of {name} is not a valid cron expression (sec min hour day month weekday)")
        })?;
        scheduler.add(job).await.with_context(|| format!("scheduling {name}"))?;
    }
    scheduler.start().await.context("starting the job scheduler")?;
    Ok(scheduler)
}

/// Stops the scheduler.
pub async fn stop(mut scheduler: JobScheduler) {
    if let Err(error) = scheduler.shutdown().await {
        tracing::warn!(%error, "stopping the job scheduler");
    }
}
