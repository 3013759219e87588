//! `GET /metrics`: Prometheus metrics for operators running one or many
//! instances.
//!
//! - `aftercare_http_request_duration_seconds{method,route,status}`: a
//!   histogram of every request's latency, by route template (`/deals/{id}`,
//!   not the id), measured by [`track`] around the whole router;
//! - `aftercare_outbox_messages{channel,status}`, and
//!   `aftercare_outbox_oldest_pending_age_seconds`: the outbox's depth and how
//!   long the oldest waiting message has waited (email and webhooks);
//! - `aftercare_job_runs{job,outcome}` and
//!   `aftercare_job_last_run_timestamp_seconds{job}`: job runs recorded in
//!   the database (so every instance reports the same totals), failures
//!   being `outcome="failed"`.
//!
//! The outbox and job figures are read from the database at scrape time.
//! Expose `/metrics` on the internal network only (it needs no sign-in).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use entity::{job_run, outbox_message};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use crate::{AppResult, AppState};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    channel: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    job: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobName {
    job: String,
}

/// This process's metrics registry.
pub struct Telemetry {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    outbox: Family<OutboxLabels, Gauge>,
    oldest_pending: Gauge<f64, std::sync::atomic::AtomicU64>,
    job_runs: Family<JobLabels, Gauge>,
    job_last_run: Family<JobName, Gauge>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

impl Telemetry {
    /// A registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aftercare");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 1 ms to about 16 s.
            Histogram::new(exponential_buckets(0.001, 2.0, 15))
        });
        registry.register("http_request_duration_seconds", "HTTP request latency by route", requests.clone());
        let outbox = Family::<OutboxLabels, Gauge>::default();
        registry.register("outbox_messages", "Outbox messages by channel and status", outbox.clone());
        let oldest_pending = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbox message has waited",
            oldest_pending.clone(),
        );
        let job_runs = Family::<JobLabels, Gauge>::default();
        registry.register("job_runs", "Job runs recorded in the database, by outcome", job_runs.clone());
        let job_last_run = Family::<JobName, Gauge>::default();
        registry.register("job_last_run_timestamp_seconds", "When each job last started", job_last_run.clone());
        Self { registry, requests, outbox, oldest_pending, job_runs, job_last_run }
    }

    /// Records one request.
    fn observe(&self, method: &str, route: &str, status: StatusCode, seconds: f64) {
        let labels = RequestLabels { method: method.to_owned(), route: route.to_owned(), status: status.as_u16() };
        self.requests.get_or_create(&labels).observe(seconds);
    }

    /// Reads the outbox and job figures from the database, then renders
    /// everything in the Prometheus text format.
    pub async fn render(&self, db: &impl ConnectionTrait, now: DateTime<Utc>) -> AppResult<String> {
        let depth: Vec<(String, String, i64)> = outbox_message::Entity::find()
            .select_only()
            .column(outbox_message::Column::Channel)
            .column(outbox_message::Column::Status)
            .column_as(outbox_message::Column::Id.count(), "n")
            .group_by(outbox_message::Column::Channel)
            .group_by(outbox_message::Column::Status)
            .into_tuple()
            .all(db)
            .await?;
        self.outbox.clear();
        for (channel, status, n) in depth {
            self.outbox.get_or_create(&OutboxLabels { channel, status }).set(n);
        }
        let oldest: Option<DateTime<Utc>> = outbox_message::Entity::find()
            .select_only()
            .column(outbox_message::Column::CreatedAt)
            .filter(outbox_message::Column::Status.eq(crate::mail::outbox::status::PENDING))
            .order_by_asc(outbox_message::Column::CreatedAt)
            .into_tuple()
            .one(db)
            .await?;
        let age = oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
        self.oldest_pending.set(age);
        let runs: Vec<(String, String, i64)> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::Job)
            .column(job_run::Column::Outcome)
            .column_as(job_run::Column::Id.count(), "n")
            .group_by(job_run::Column::Job)
            .group_by(job_run::Column::Outcome)
            .into_tuple()
            .all(db)
            .await?;
        self.job_runs.clear();
        for (job, outcome, n) in runs {
            self.job_runs.get_or_create(&JobLabels { job, outcome }).set(n);
        }
        let last: Vec<(String, Option<DateTime<Utc>>)> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::Job)
            .column_as(job_run::Column::StartedAt.max(), "last")
            .filter(job_run::Column::Outcome.ne("skipped"))
            .group_by(job_run::Column::Job)
            .into_tuple()
            .all(db)
            .await?;
        for (job, at) in last {
            if let Some(at) = at {
                self.job_last_run.get_or_create(&JobName { job }).set(at.timestamp());
            }
        }
        let mut text = String::new();
        encode(&mut text, &self.registry).map_err(|e| crate::AppError::Internal(e.into()))?;
        Ok(text)
    }
}

/// Middleware: times every request and records it by route template.
pub async fn track(State(telemetry): State<Arc<Telemetry>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let response = next.run(request).await;
    telemetry.observe(&method, &route, response.status(), started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    match state.telemetry.render(&state.db, state.now()).await {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering /metrics failed");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics are unavailable: the database did not answer").into_response()
        }
    }
}
