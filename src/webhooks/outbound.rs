//! Events out: each event is written to the outbox once per subscribed,
//! active endpoint, in the same transaction as the fact it reports, under
//! the dedupe key `webhook:{endpoint}:{event id}`. The outbox sender posts
//! it (see [`deliver`]) with the same retries, backoff, failure marking and
//! resend button as email. The event id is derived from the fact (e.g.
//! `deal.stage_changed:42` for stage transition 42), so an event is never
//! queued twice and receivers can drop a repeat delivery by its id.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use entity::{outbox_message, webhook_endpoint};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::AppResult;
use crate::advocacy::candidates;
use crate::mail::outbox;
use crate::pipeline::deals::{self, DealFilter};

/// How long a receiver may take to answer.
pub const TIMEOUT: StdDuration = StdDuration::from_secs(10);

/// The active endpoints subscribed to `event`.
pub async fn subscribers(db: &impl ConnectionTrait, event: &str) -> AppResult<Vec<webhook_endpoint::Model>> {
    let active = webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::Active.eq(true)).all(db).await?;
    Ok(active.into_iter().filter(|e| e.events.split(',').any(|name| name == event)).collect())
}

/// Queues `event` (with `data`) for every subscribed endpoint; returns how
/// many deliveries were queued (none when nobody subscribes).
pub async fn emit(
    db: &impl ConnectionTrait,
    event: &str,
    event_id: &str,
    data: Value,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let endpoints = subscribers(db, event).await?;
    if endpoints.is_empty() {
        return Ok(0);
    }
    let payload = json!({"id": event_id, "type": event, "created_at": now.to_rfc3339(), "data": data}).to_string();
    let mut queued = 0;
    for endpoint in endpoints {
        let delivery = outbox::Delivery {
            dedupe_key: format!("webhook:{}:{event_id}", endpoint.id),
            endpoint_id: endpoint.id,
            url: endpoint.url.clone(),
            event: event.to_owned(),
            event_id: event_id.to_owned(),
            payload: payload.clone(),
        };
        if outbox::enqueue_delivery(db, delivery, now).await? {
            queued += 1;
        }
    }
    Ok(queued)
}

/// Posts one queued delivery, signed with its endpoint's `secret`; any
/// answer but 2xx is a failure the outbox retries.
pub async fn deliver(
    http: &reqwest::Client,
    row: &outbox_message::Model,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let secret = secret.ok_or("the webhook endpoint no longer exists")?;
    let timestamp = now.timestamp();
    let body = row.text_body.clone().into_bytes();
    let signature = super::sign(secret, timestamp, &body);
    let event_id = serde_json::from_str::<Value>(&row.text_body)
        .ok()
        .and_then(|payload| payload["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let response = http
        .post(&row.recipient)
        .timeout(TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(super::EVENT_HEADER, &row.subject)
        .header(super::EVENT_ID_HEADER, event_id)
        .header(super::TIMESTAMP_HEADER, timestamp.to_string())
        .header(super::SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST {}: {e}", row.recipient))?;
    let status = response.status();
    if status.is_success() { Ok(()) } else { Err(format!("POST {}: the receiver answered {status}", row.recipient)) }
}

/// What [`watch`] queued.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WatchReport {
    /// `deal.stuck` deliveries.
    pub stuck: usize,
    /// `advocacy.candidate` deliveries.
    pub candidates: usize,
}

impl std::fmt::Display for WatchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stuck={} candidates={}", self.stuck, self.candidates)
    }
}

/// Queues the events that are states rather than actions, for subscribed
/// endpoints only: a deal over its stage's target (once per stay in a
/// stage) and a contact becoming an advocacy candidate (once per answered
/// survey). Run by the `webhook-events` job.
pub async fn watch(
    db: &impl ConnectionTrait,
    rules: &crate::advocacy::candidates::Rules,
    now: DateTime<Utc>,
) -> AppResult<WatchReport> {
    let mut report = WatchReport::default();
    if !subscribers(db, "deal.stuck").await?.is_empty() {
        let filter = DealFilter { stuck: Some("true".to_owned()), ..DealFilter::default() };
        for deal in deals::list(db, &filter, now).await? {
            let id = format!("deal.stuck:{}:{}", deal.id, deal.stage_entered_at.timestamp());
            let data = json!({
                "deal_id": deal.id,
                "deal_name": deal.name,
                "external_id": deal.external_id,
                "account": deal.account.name,
                "stage": {"key": deal.stage, "name": deal.stage_name},
                "sla_days": deal.sla_days,
                "days_over_sla": deal.days_over_sla,
            });
            report.stuck += emit(db, "deal.stuck", &id, data, now).await?;
        }
    }
    if !subscribers(db, "advocacy.candidate").await?.is_empty() {
        for candidate in candidates::list(db, rules, now).await? {
            let id = format!("advocacy.candidate:{}:{}", candidate.contact_id, candidate.survey_id);
            let data = json!({
                "contact_id": candidate.contact_id,
                "contact_name": candidate.contact_name,
                "contact_email": candidate.contact_email,
                "account": candidate.account,
                "deal_id": candidate.deal_id,
                "score": candidate.score,
                "reasons": candidate.reasons,
                "asks_left_this_quarter": candidate.asks_left_this_quarter,
            });
            report.candidates += emit(db, "advocacy.candidate", &id, data, now).await?;
        }
    }
    Ok(report)
}
