//! The transactional outbox. Every email is a row written in the same
//! transaction as the fact that caused it, so nothing is lost. The sender
//! claims due rows, sends them, and marks them sent; failures are retried
//! with exponential backoff and, after the last attempt, marked failed for an
//! admin to see and resend. A crash between "sent" and "marked sent" lets the
//! claim expire and the row go out once more with the same Message-ID: at
//! most one duplicate, never a loss.

use chrono::{DateTime, Duration, Utc};
use entity::outbox_message;
use futures::StreamExt;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::Mailer;
use crate::{AppError, AppResult};

/// After this many failed attempts a message is marked failed.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claim lasts before another sender may take the row over.
pub const CLAIM: Duration = Duration::minutes(5);

/// Outbox statuses.
pub mod status {
    /// Waiting to be sent (or retried).
    pub const PENDING: &str = "pending";
    /// Delivered to the transport.
    pub const SENT: &str = "sent";
    /// Gave up after [`super::MAX_ATTEMPTS`]; an admin may resend.
    pub const FAILED: &str = "failed";
}

/// How a row leaves.
pub mod channel {
    /// An email, through the mailer.
    pub const EMAIL: &str = "email";
    /// A webhook delivery, an HTTP POST to an endpoint.
    pub const WEBHOOK: &str = "webhook";
}

/// An email to enqueue.
#[derive(Debug, Clone)]
pub struct NewEmail {
    /// Identifies the email among all others ever sent, e.g.
    /// `survey:12:initial`; enqueueing the same key twice sends once.
    pub dedupe_key: String,
    /// What kind of email, e.g. `survey`.
    pub kind: &'static str,
    /// The recipient, e.g. `Ann Smit <ann@example.com>`.
    pub recipient: String,
    /// Where replies go.
    pub reply_to: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text part, complete on its own.
    pub text_body: String,
    /// The HTML part.
    pub html_body: String,
    /// The one-click unsubscribe URL, if the email offers one.
    pub list_unsubscribe: Option<String>,
}

/// A stable Message-ID for a dedupe key: resends carry the same one.
pub fn message_id(dedupe_key: &str, base_url: &str) -> String {
    let host = url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let digest = hex::encode(&Sha256::digest(dedupe_key.as_bytes())[..16]);
    format!("<{digest}@{host}>")
}

/// Writes an email to the outbox inside the caller's transaction. Returns
/// `false` when an email with this dedupe key already exists.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    email: NewEmail,
    base_url: &str,
    now: DateTime<Utc>,
) -> AppResult<bool> {
    let row = outbox_message::ActiveModel {
        message_id: Set(message_id(&email.dedupe_key, base_url)),
        dedupe_key: Set(email.dedupe_key),
        kind: Set(email.kind.to_owned()),
        recipient: Set(email.recipient),
        reply_to: Set(email.reply_to),
        subject: Set(email.subject),
        text_body: Set(email.text_body),
        html_body: Set(email.html_body),
        list_unsubscribe: Set(email.list_unsubscribe),
        channel: Set(channel::EMAIL.to_owned()),
        endpoint_id: Set(None),
        ..pending(now)
    };
    insert(db, row).await
}

/// A webhook delivery to enqueue.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook:{endpoint}:{event id}`.
    pub dedupe_key: String,
    /// The endpoint.
    pub endpoint_id: i32,
    /// Where it is posted.
    pub url: String,
    /// The event's type, e.g. `deal.live`.
    pub event: String,
    /// The event's id.
    pub event_id: String,
    /// The JSON body.
    pub payload: String,
}

/// Writes a webhook delivery to the outbox inside the caller's
/// transaction; `false` when it was already queued.
pub async fn enqueue_delivery(db: &impl ConnectionTrait, delivery: Delivery, now: DateTime<Utc>) -> AppResult<bool> {
    let row = outbox_message::ActiveModel {
        // Not sent (HTTP has no Message-ID); kept unique-looking for the list.
        message_id: Set(message_id(&delivery.dedupe_key, "http://webhook.invalid")),
        dedupe_key: Set(delivery.dedupe_key),
        kind: Set("webhook".to_owned()),
        recipient: Set(delivery.url),
        reply_to: Set(None),
        subject: Set(delivery.event),
        text_body: Set(delivery.payload),
        html_body: Set(String::new()),
        list_unsubscribe: Set(None),
        channel: Set(channel::WEBHOOK.to_owned()),
        endpoint_id: Set(Some(delivery.endpoint_id)),
        ..pending(now)
    };
    insert(db, row).await
}

/// The bookkeeping columns of a row waiting for its first attempt.
fn pending(now: DateTime<Utc>) -> outbox_message::ActiveModel {
    outbox_message::ActiveModel {
        id: NotSet,
        status: Set(status::PENDING.to_owned()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_until: Set(None),
        locked_by: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    }
}

async fn insert(db: &impl ConnectionTrait, row: outbox_message::ActiveModel) -> AppResult<bool> {
    let inserted = outbox_message::Entity::insert(row)
        .on_conflict(OnConflict::column(outbox_message::Column::DedupeKey).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

/// Which of `keys` are already in the outbox.
pub async fn existing_keys(db: &impl ConnectionTrait, keys: &[String]) -> AppResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in keys.chunks(crate::db::IN_LIST) {
        let rows: Vec<String> = outbox_message::Entity::find()
            .select_only()
            .column(outbox_message::Column::DedupeKey)
            .filter(outbox_message::Column::DedupeKey.is_in(chunk.iter().cloned()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// What one sender run did.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct SendReport {
    /// Delivered.
    pub sent: usize,
    /// Failed, to be retried later.
    pub retrying: usize,
    /// Failed for the last time.
    pub failed: usize,
}

/// The pause after `attempts` failed attempts: 2 minutes after the first,
/// doubling, at most 6 hours.
pub fn backoff(attempts: i32) -> Duration {
    let minutes = 1i64 << attempts.clamp(0, 9);
    Duration::minutes(minutes.min(360))
}

/// Claims up to `batch` due messages for `instance`, sends them (a few at
/// a time) and records each outcome.
pub async fn send_due(
    db: &DatabaseConnection,
    mailer: &Mailer,
    instance: &str,
    batch: u64,
    now: DateTime<Utc>,
) -> AppResult<SendReport> {
    let claimable = || {
        Condition::all()
            .add(outbox_message::Column::Status.eq(status::PENDING))
            .add(outbox_message::Column::NextAttemptAt.lte(now))
            .add(
                Condition::any()
                    .add(outbox_message::Column::LockedUntil.is_null())
                    .add(outbox_message::Column::LockedUntil.lt(now)),
            )
    };
    let candidates: Vec<i32> = outbox_message::Entity::find()
        .select_only()
        .column(outbox_message::Column::Id)
        .filter(claimable())
        .order_by_asc(outbox_message::Column::Id)
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    let mut claimed = Vec::new();
    for id in candidates {
        // A conditional update is the claim: of several senders, one wins.
        let result = outbox_message::Entity::update_many()
            .col_expr(outbox_message::Column::LockedUntil, Expr::value(now + CLAIM))
            .col_expr(outbox_message::Column::LockedBy, Expr::value(instance))
            .filter(outbox_message::Column::Id.eq(id))
            .filter(claimable())
            .exec(db)
            .await?;
        if result.rows_affected == 1
            && let Some(row) = outbox_message::Entity::find_by_id(id).one(db).await?
        {
            claimed.push(row);
        }
    }
    let secrets = webhook_secrets(db, &claimed).await?;
    let secrets = &secrets;
    // Each row is marked as soon as its own send finishes, so a crash
    // re-sends only what was in flight, never the batch's earlier rows.
    let recorded: Vec<AppResult<Delivered>> = futures::stream::iter(claimed)
        .map(|row| async move {
            let outcome = if row.channel == channel::WEBHOOK {
                let secret = row.endpoint_id.and_then(|id| secrets.get(&id)).map(String::as_str);
                crate::webhooks::outbound::deliver(&mailer.http, &row, secret, Utc::now()).await
            } else {
                mailer.send(&row).await
            };
            record(db, instance, &row, outcome, now).await
        })
        .buffer_unordered(mailer.concurrency)
        .collect()
        .await;
    let mut report = SendReport::default();
    for delivered in recorded {
        match delivered? {
            Delivered::Sent => report.sent += 1,
            Delivered::Retrying => report.retrying += 1,
            Delivered::Failed => report.failed += 1,
        }
    }
    Ok(report)
}

/// What became of one claimed row.
enum Delivered {
    Sent,
    Retrying,
    Failed,
}

/// Records the outcome of sending `row` (sent, or a retry with backoff, or
/// failed for good after [`MAX_ATTEMPTS`]).
async fn record(
    db: &DatabaseConnection,
    instance: &str,
    row: &outbox_message::Model,
    outcome: Result<(), String>,
    now: DateTime<Utc>,
) -> AppResult<Delivered> {
    let attempts = row.attempts + 1;
    match outcome {
        Ok(()) => {
            mark(db, row.id, instance, |update| {
                update
                    .col_expr(outbox_message::Column::Status, Expr::value(status::SENT))
                    .col_expr(outbox_message::Column::SentAt, Expr::value(now))
                    .col_expr(outbox_message::Column::Attempts, Expr::value(attempts))
            })
            .await?;
            Ok(Delivered::Sent)
        }
        Err(error) => {
            tracing::warn!(id = row.id, channel = %row.channel, attempt = attempts, %error, "delivery failed");
            let give_up = attempts >= MAX_ATTEMPTS;
            let next_status = if give_up { status::FAILED } else { status::PENDING };
            mark(db, row.id, instance, |update| {
                update
                    .col_expr(outbox_message::Column::Status, Expr::value(next_status))
                    .col_expr(outbox_message::Column::Attempts, Expr::value(attempts))
                    .col_expr(outbox_message::Column::NextAttemptAt, Expr::value(now + backoff(attempts)))
                    .col_expr(outbox_message::Column::LastError, Expr::value(error))
            })
            .await?;
            Ok(if give_up { Delivered::Failed } else { Delivered::Retrying })
        }
    }
}

/// The signing secrets of the endpoints `rows` go to.
async fn webhook_secrets(
    db: &DatabaseConnection,
    rows: &[outbox_message::Model],
) -> AppResult<std::collections::HashMap<i32, String>> {
    let ids: Vec<i32> = rows.iter().filter_map(|r| r.endpoint_id).collect();
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    Ok(entity::webhook_endpoint::Entity::find()
        .filter(entity::webhook_endpoint::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|e| (e.id, e.secret))
        .collect())
}

/// Records an outcome and releases the claim, only if we still hold it.
async fn mark(
    db: &DatabaseConnection,
    id: i32,
    instance: &str,
    set: impl FnOnce(sea_orm::UpdateMany<outbox_message::Entity>) -> sea_orm::UpdateMany<outbox_message::Entity>,
) -> AppResult<()> {
    let update = outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(outbox_message::Column::LockedBy, Expr::value(Option::<String>::None))
        .filter(outbox_message::Column::Id.eq(id))
        .filter(outbox_message::Column::LockedBy.eq(instance));
    set(update).exec(db).await?;
    Ok(())
}

/// Puts a failed message back in the queue, on an admin's request.
pub async fn resend(db: &DatabaseConnection, id: i32, actor: i32, now: DateTime<Utc>) -> AppResult<()> {
    let txn = crate::db::begin_write(db).await?;
    let result = outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value(status::PENDING))
        .col_expr(outbox_message::Column::Attempts, Expr::value(0))
        .col_expr(outbox_message::Column::NextAttemptAt, Expr::value(now))
        .filter(outbox_message::Column::Id.eq(id))
        .filter(outbox_message::Column::Status.eq(status::FAILED))
        .exec(&txn)
        .await?;
    if result.rows_affected == 0 {
        return Err(AppError::conflict("not_failed", "only failed emails can be resent"));
    }
    crate::audit::record(&txn, Some(actor), "outbox.resend", &format!("outbox:{id}"), "", now).await?;
    txn.commit().await?;
    Ok(())
}

/// Messages for the admin page: newest first, optionally by status.
pub async fn list(
    db: &impl ConnectionTrait,
    status: Option<&str>,
    limit: u64,
) -> AppResult<Vec<outbox_message::Model>> {
    let mut query = outbox_message::Entity::find().order_by_desc(outbox_message::Column::Id).limit(limit);
    if let Some(status) = status {
        query = query.filter(outbox_message::Column::Status.eq(status));
    }
    Ok(query.all(db).await?)
}
